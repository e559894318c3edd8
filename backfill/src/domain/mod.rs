//! The pure core: manifest validation, names, progress math and report rendering.
//! Nothing here knows about the AWS SDK or the terminal.

pub mod format;
pub mod manifest;
pub mod naming;
pub mod progress;
pub mod report;
