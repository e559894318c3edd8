//! One instance's share of a quota, spent evenly: a token bucket that holds one token and gets
//! the next after `interval`. With a burst of one, the shares of every instance add up to at
//! most the deployment's budget in any window, not only on average over it.

use std::future::Future;
use std::num::NonZeroU32;
use std::time::Duration;

use backon::Retryable;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::config::RetrySettings;
use crate::ports::SourceError;

/// `None`: no share was set, and requests are not paced.
pub struct Pace(Option<DefaultDirectRateLimiter>);

impl Pace {
    /// One request per `interval` (at least 1 ns), or no pace without one.
    pub fn every(interval: Option<Duration>) -> Self {
        Self(interval.map(|interval| {
            let quota = Quota::with_period(interval.max(Duration::from_nanos(1)))
                .expect("the period is not zero")
                .allow_burst(NonZeroU32::MIN);
            RateLimiter::direct(quota)
        }))
    }

    /// Waits until the share allows one more request, and takes it.
    pub async fn ready(&self) {
        if let Some(limiter) = &self.0 {
            limiter.until_ready().await;
        }
    }
}

/// An AWS API spent from a share. Every try waits for a token: the first, and each one after a
/// throttle, which the SDK leaves to this ([`super::aws::ThrottlesRetriedByPace`]). Retried by
/// the SDK, a throttled request went out again beyond the share, and with many instances those
/// extra tries pushed the account's Contact Lens quota further into 429s.
pub struct PacedApi {
    pace: Pace,
    retry: RetrySettings,
}

impl PacedApi {
    pub fn new(pace: Pace, retry: RetrySettings) -> Self {
        Self { pace, retry }
    }

    /// `attempt` with the share's next token, tried again after a throttle with backoff (as
    /// many tries as the SDK would make) and another token.
    pub async fn call<T, F, Fut>(&self, attempt: F) -> Result<T, SourceError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SourceError>>,
    {
        (|| async {
            self.pace.ready().await;
            attempt().await
        })
        .retry(super::backoff(self.retry))
        .when(|e| matches!(e, SourceError::Throttled { .. }))
        .notify(|_, delay| {
            tracing::warn!(
                retry_in_ms = delay.as_millis() as u64,
                "throttled; trying again with the share's next token"
            );
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn one_request_goes_at_once_and_the_next_waits_for_the_interval() {
        let pace = Pace::every(Some(Duration::from_secs(3_600)));
        let limiter = pace.0.as_ref().unwrap();
        assert!(limiter.check().is_ok());
        assert!(limiter.check().is_err(), "a burst of one");
        assert!(Pace::every(None).0.is_none());
    }

    fn throttled() -> SourceError {
        SourceError::Throttled {
            message: "Rate exceeded".into(),
            source: "429".into(),
        }
    }

    fn paced(interval: Duration) -> PacedApi {
        let retry = RetrySettings {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            aws_attempt_timeout: Duration::from_secs(1),
        };
        PacedApi::new(Pace::every(Some(interval)), retry)
    }

    #[tokio::test]
    async fn a_throttled_try_is_tried_again_only_with_the_shares_next_token() {
        let tries = AtomicU32::new(0);
        let api = paced(Duration::from_secs(3_600));
        let call = api.call(|| async {
            tries.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(throttled())
        });
        // The backoff alone would allow all three tries within milliseconds; the next token is
        // an hour away.
        assert!(
            tokio::time::timeout(Duration::from_millis(300), call)
                .await
                .is_err()
        );
        assert_eq!(tries.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn throttles_are_tried_as_often_as_the_sdk_would_and_other_errors_once() {
        let api = paced(Duration::from_nanos(1));
        let tries = AtomicU32::new(0);
        let result = api
            .call(|| async {
                tries.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(throttled())
            })
            .await;
        assert!(matches!(result, Err(SourceError::Throttled { .. })));
        assert_eq!(tries.swap(0, Ordering::SeqCst), 3);

        let result = api
            .call(|| async {
                tries.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(SourceError::Other {
                    message: "InvalidParameterException".into(),
                    source: "400".into(),
                })
            })
            .await;
        assert!(matches!(result, Err(SourceError::Other { .. })));
        assert_eq!(tries.load(Ordering::SeqCst), 1);
    }
}
