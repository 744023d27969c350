//! A token bucket rate limiter, sans-IO: the caller passes the time in.
//! The gateway limits the ICMP errors it sends (frag-needed) with it.

use std::time::Instant;

/// Nanoseconds per second: the fixed-point scale of [`TokenBucket`]'s
/// tokens, so that refills are exact integer arithmetic.
const NANOS_PER_SEC: u128 = 1_000_000_000;

/// A token bucket rate limiter (for the ICMP errors the gateway sends):
/// holds up to `burst` tokens, starts full, refills at `rate_per_sec`
/// tokens a second, and each allowed event takes one token. Sans-IO: the
/// caller passes the time in. No allocation.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    /// Tokens added per second.
    rate_per_sec: u32,
    /// Most tokens held, in token-nanoseconds (tokens × 10⁹).
    capacity: u128,
    /// Tokens held, in token-nanoseconds.
    tokens: u128,
    /// When the bucket was last refilled; `None` before the first call.
    last: Option<Instant>,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens refilling at `rate_per_sec`.
    /// A `burst` of 0 allows nothing; a `rate_per_sec` of 0 allows `burst`
    /// events and then nothing.
    pub fn new(rate_per_sec: u32, burst: u32) -> Self {
        let capacity = u128::from(burst) * NANOS_PER_SEC;
        TokenBucket {
            rate_per_sec,
            capacity,
            tokens: capacity,
            last: None,
        }
    }

    /// Whether an event at `now` is allowed; if so it takes a token. The
    /// first call sets the reference time; a `now` earlier than an earlier
    /// call's adds nothing.
    pub fn allow(&mut self, now: Instant) -> bool {
        if let Some(last) = self.last {
            let elapsed = now.saturating_duration_since(last).as_nanos();
            let added = elapsed.saturating_mul(u128::from(self.rate_per_sec));
            self.tokens = self.tokens.saturating_add(added).min(self.capacity);
        }
        match self.last {
            Some(last) if last >= now => {}
            _ => self.last = Some(now),
        }
        if self.tokens >= NANOS_PER_SEC {
            self.tokens -= NANOS_PER_SEC;
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

    #[test]
    fn token_bucket_allows_a_burst_then_refills_at_the_rate() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::new(10, 3);
        assert!(bucket.allow(t0));
        assert!(bucket.allow(t0));
        assert!(bucket.allow(t0));
        assert!(!bucket.allow(t0));
        // 10 per second: one token every 100 ms.
        assert!(!bucket.allow(t0 + Duration::from_millis(50)));
        assert!(bucket.allow(t0 + Duration::from_millis(100)));
        assert!(!bucket.allow(t0 + Duration::from_millis(100)));
        // Fractions accumulate across calls.
        assert!(!bucket.allow(t0 + Duration::from_millis(160)));
        assert!(bucket.allow(t0 + Duration::from_millis(200)));
        // A long pause refills to the burst and no further.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(bucket.allow(later));
        }
        assert!(!bucket.allow(later));
    }

    #[test]
    fn token_bucket_does_not_refill_when_time_goes_back() {
        let t0 = Instant::now() + Duration::from_secs(10);
        let mut bucket = TokenBucket::new(1, 1);
        assert!(bucket.allow(t0));
        assert!(!bucket.allow(t0 - Duration::from_secs(5)));
        assert!(!bucket.allow(t0 + Duration::from_millis(999)));
        assert!(bucket.allow(t0 + Duration::from_secs(1)));
    }

    #[test]
    fn token_bucket_edge_rates() {
        let t0 = Instant::now();
        let mut empty = TokenBucket::new(1000, 0);
        assert!(!empty.allow(t0));
        assert!(!empty.allow(t0 + Duration::from_secs(100)));
        let mut no_refill = TokenBucket::new(0, 2);
        assert!(no_refill.allow(t0));
        assert!(no_refill.allow(t0));
        assert!(!no_refill.allow(t0 + Duration::from_secs(100)));
        let mut fast = TokenBucket::new(u32::MAX, u32::MAX);
        assert!(fast.allow(t0));
        assert!(fast.allow(t0 + Duration::from_secs(u64::from(u32::MAX))));
    }
}
