//! What the AWS adapters share: one SDK configuration per cold start, and the mapping of SDK
//! errors onto the outcomes the pipeline acts on.

use std::fmt::Debug;
use std::time::Duration;

use aws_config::{BehaviorVersion, ConfigLoader};
use aws_sdk_connect::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction};
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;

use crate::config::RetrySettings;
use crate::ports::SourceError;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Endpoints, region and credentials come from the SDK's standard sources (environment,
/// `AWS_ENDPOINT_URL_*`, the Lambda role). Retries use the SDK's standard mode (exponential
/// backoff with jitter, retry quota), but for the throttles of paced clients
/// ([`ThrottlesRetriedByPace`]). Adaptive mode was measured and rejected: after a few
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

/// For the clients whose calls are paced ([`super::pace::PacedApi`]): a throttled request is not
/// retried by the SDK, which knows nothing of the share, but by the pace, with the share's next
/// token. Connect and Contact Lens answer ThrottlingException and LimitExceededException with
/// HTTP 429 (their API references' error lists), so the status says it.
#[derive(Debug)]
pub struct ThrottlesRetriedByPace;

impl ClassifyRetry for ThrottlesRetriedByPace {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        match ctx.response() {
            Some(response) if response.status().as_u16() == 429 => RetryAction::RetryForbidden,
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "throttles retried by the pace"
    }
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

#[cfg(test)]
mod tests {
    use aws_smithy_runtime_api::client::interceptors::context::Input;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;

    use super::*;

    fn answered(status: u16) -> InterceptorContext {
        let mut ctx = InterceptorContext::new(Input::erase(()));
        ctx.set_response(Response::new(
            StatusCode::try_from(status).unwrap(),
            SdkBody::empty(),
        ));
        ctx
    }

    #[test]
    fn the_sdk_leaves_a_throttle_to_the_pace_and_other_failures_to_its_own_classifiers() {
        let classifier = ThrottlesRetriedByPace;
        assert_eq!(
            classifier.classify_retry(&answered(429)),
            RetryAction::RetryForbidden
        );
        assert_eq!(
            classifier.classify_retry(&answered(503)),
            RetryAction::NoActionIndicated
        );
        assert_eq!(
            classifier.classify_retry(&InterceptorContext::new(Input::erase(()))),
            RetryAction::NoActionIndicated
        );
    }
}
