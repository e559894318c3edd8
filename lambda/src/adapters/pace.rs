//! One instance's share of a quota, spent evenly: a token bucket that holds one token and gets
//! the next after `interval`. With a burst of one, the shares of every instance add up to at
//! most the deployment's budget in any window, not only on average over it.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_request_goes_at_once_and_the_next_waits_for_the_interval() {
        let pace = Pace::every(Some(Duration::from_secs(3_600)));
        let limiter = pace.0.as_ref().unwrap();
        assert!(limiter.check().is_ok());
        assert!(limiter.check().is_err(), "a burst of one");
        assert!(Pace::every(None).0.is_none());
    }
}
