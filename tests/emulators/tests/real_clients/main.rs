//! The emulators exercised with the real clients the function uses: the AWS SDK for Rust and
//! reqwest.

mod connect;
mod contact_lens;
mod s3;
mod salesforce;
mod salesforce_limits;
mod salesforce_query;
mod scv;
mod secrets_manager;
mod sqs;
mod ssm;
mod transfers;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_connect::config::Credentials;
use aws_sdk_connect::config::retry::RetryConfig;
use emulators::{TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY};

const INSTANCE_ID: &str = "8e7b2f4c-1d3a-4e5b-9c6d-0a1b2c3d4e5f";

/// SDK configuration aimed at one emulator. Retries are off so every error reaches the test
/// as it was sent.
async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            TEST_ACCESS_KEY_ID,
            TEST_SECRET_ACCESS_KEY,
            None,
            None,
            "emulator-tests",
        ))
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::disabled())
        .load()
        .await
}
