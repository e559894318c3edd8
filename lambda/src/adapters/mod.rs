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

use std::time::Duration;

use backon::ExponentialBuilder;

use crate::config::RetrySettings;

/// The SDK's own ceiling on one retry's delay.
const MAX_BACKOFF: Duration = Duration::from_secs(20);

/// The backoff between tries that the adapters retry themselves, shaped like the SDK's
/// standard one: from `base_delay`, growing up to 20 s, with jitter, `max_attempts` tries.
fn backoff(retry: RetrySettings) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(retry.base_delay)
        .with_max_delay(MAX_BACKOFF)
        .with_max_times(retry.max_attempts.saturating_sub(1) as usize)
        .with_jitter()
}
