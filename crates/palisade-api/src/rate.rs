//! Per-credential request rate limits (Katapult's `X-Ratelimit-*`, and 429 with `Retry-After`).
//!
//! The counters live in this process: with several nodes behind a load balancer, a client spread
//! over N nodes can make up to N times the limit. That trade is written down in
//! docs/ARCHITECTURE.md ("Per-node state").

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use palisade_core::error::RateLimit;
use palisade_core::Error;

/// The outcome of counting one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowance {
    pub permitted: u32,
    pub remaining: u32,
    pub allowed: bool,
    /// When refused: whole seconds until the next request would be allowed (at least 1).
    pub retry_after: u64,
}

impl Allowance {
    /// The refusal to answer when this request was not allowed.
    pub fn refusal(&self) -> Option<Error> {
        (!self.allowed).then_some(Error::RateLimited {
            what: RateLimit::Requests,
            limit: self.permitted,
            retry_after: self.retry_after,
        })
    }
}

pub struct RateLimits {
    per_minute: u32,
    limiter: RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").field("per_minute", &self.per_minute).finish()
    }
}

impl RateLimits {
    pub fn per_minute(limit: u32) -> Self {
        let n = NonZeroU32::new(limit.max(1)).unwrap_or(NonZeroU32::MIN);
        Self {
            per_minute: n.get(),
            limiter: RateLimiter::keyed(Quota::per_minute(n)).with_middleware::<StateInformationMiddleware>(),
        }
    }

    pub fn permitted(&self) -> u32 {
        self.per_minute
    }

    /// Counts one request of `key`.
    pub fn check(&self, key: &str) -> Allowance {
        match self.limiter.check_key(&key.to_owned()) {
            Ok(snapshot) => Allowance {
                permitted: self.per_minute,
                remaining: snapshot.remaining_burst_capacity(),
                allowed: true,
                retry_after: 0,
            },
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.limiter.clock().now());
                Allowance {
                    permitted: self.per_minute,
                    remaining: 0,
                    allowed: false,
                    retry_after: (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_down_then_refuses() {
        let limits = RateLimits::per_minute(3);
        let seen: Vec<_> = (0..4).map(|_| limits.check("t")).collect();
        assert_eq!(seen.iter().map(|a| a.remaining).collect::<Vec<_>>(), [2, 1, 0, 0]);
        assert_eq!(seen.iter().map(|a| a.allowed).collect::<Vec<_>>(), [true, true, true, false]);
        // One more request every 20 s: the refusal says to retry within that.
        let refusal = seen[3].refusal().unwrap();
        assert!((1..=20).contains(&refusal.retry_after().unwrap()), "{refusal:?}");
        assert!(limits.check("other").allowed, "keys are counted separately");
    }
}
