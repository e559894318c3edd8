//! The backfill CLI as a library: `domain` is pure (manifest validation, names, progress,
//! reports); `aws` is the SDK adapter; `app` runs the commands' flows; `cli` is the command line.

pub mod app;
pub mod aws;
pub mod cli;
pub mod domain;
