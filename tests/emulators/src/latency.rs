//! Time-shaping of responses beyond the fixed per-service latency (kept in the `World` and
//! applied by the server middleware): the token bucket that models Contact Lens' request quota.

use tokio::time::Instant;

/// A token bucket: `burst` tokens at most, refilled at `rate_per_sec`. It reads the tokio clock
/// so tests that pause time get exact, repeatable throttling.
pub(crate) struct TokenBucket {
    rate_per_sec: f64,
    burst: f64,
    tokens: f64,
    last_refill: Instant,
}

impl TokenBucket {
    pub fn new(rate_per_sec: f64, burst: u32) -> TokenBucket {
        TokenBucket {
            rate_per_sec,
            burst: f64::from(burst),
            tokens: f64::from(burst),
            last_refill: Instant::now(),
        }
    }

    /// Takes a token if one is available.
    pub fn try_acquire(&mut self) -> bool {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last_refill).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate_per_sec).min(self.burst);
        self.last_refill = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn bucket_allows_burst_then_rate() {
        let mut bucket = TokenBucket::new(2.0, 3);
        let first: Vec<bool> = (0..4).map(|_| bucket.try_acquire()).collect();
        assert_eq!(first, [true, true, true, false]);
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(bucket.try_acquire());
        assert!(!bucket.try_acquire());
        // A long pause refills only up to the burst.
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!((0..4).filter(|_| bucket.try_acquire()).count(), 3);
    }
}
