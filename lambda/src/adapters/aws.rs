//! What the AWS adapters share: one SDK configuration per cold start, and the mapping of SDK
//! errors onto the outcomes the pipeline acts on.

use std::fmt::Debug;
use std::time::Duration;

use aws_config::{BehaviorVersion, ConfigLoader};
use aws_sdk_connect::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;

use crate::config::RetrySettings;
use crate::ports::SourceError;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Endpoints, region and credentials come from the SDK's standard sources (environment,
/// `AWS_ENDPOINT_URL_*`, the Lambda role). Retries use the SDK's standard mode (exponential
/// backoff with jitter, retry quota). Adaptive mode was measured and rejected: after a few
/// throttles its client-side limiter falls toward 0.5 requests/second, and a 20-contact
/// throttling test took 119 s instead of 0.45 s.
pub fn sdk_config_loader(retry: RetrySettings) -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(retry.max_attempts)
                .with_initial_backoff(retry.base_delay),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(retry.aws_attempt_timeout)
                .build(),
        )
}

/// An S3 client for the SDK configuration. A custom endpoint (an emulator, a local S3) has no
/// bucket subdomains, so it is addressed path-style.
pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(
                std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
                    || std::env::var_os("AWS_ENDPOINT_URL").is_some(),
            )
            .build(),
    )
}

pub fn classify<E, R>(err: SdkError<E, R>) -> SourceError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: Debug + Send + Sync + 'static,
{
    let message = err
        .message()
        .map(str::to_owned)
        .unwrap_or_else(|| DisplayErrorContext(&err).to_string());
    let code = err.code().map(str::to_owned);
    let source = Box::new(err);
    match code.as_deref() {
        Some("ResourceNotFoundException") => SourceError::NotFound { message, source },
        Some("ThrottlingException" | "TooManyRequestsException" | "LimitExceededException") => {
            SourceError::Throttled { message, source }
        }
        // S3 names it AccessDenied.
        Some("AccessDeniedException" | "AccessDenied") => {
            SourceError::AccessDenied { message, source }
        }
        Some(code) => SourceError::Other {
            message: format!("{code}: {message}"),
            source,
        },
        None => SourceError::Other { message, source },
    }
}
