//! One adapter per external system, each implementing a trait from `ports`.

pub mod aws;
pub mod connect;
pub mod contact_lens;
pub mod pace;
pub mod s3;
pub mod salesforce;
pub mod secrets;
pub mod sqs;
pub mod ssm;
