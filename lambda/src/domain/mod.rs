//! The pure core: validation, transcript mapping, batching and result accounting.
//! Nothing here knows about the AWS SDK, HTTP or Lambda.

pub mod analysis;
pub mod backfill;
pub mod batch;
pub mod call;
pub mod contact;
pub mod existing;
pub mod ids;
pub mod json;
pub mod org;
pub mod outcome;
pub mod paging;
pub mod repair;
pub mod request;
pub mod soql;
pub mod transcript;
pub mod usage;
