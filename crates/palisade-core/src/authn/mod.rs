//! What keeps authentication cheap for honest callers and costly to abuse: a bounded pool for
//! Argon2id ([`hashing`]), a brief memory of successful password checks ([`cache`]) and limits
//! on failed authentications per source address and per username ([`failures`]).
//!
//! They live in the core, beside `Core::authenticate` and `Core::authenticate_user`, so every
//! face (and any future one, such as ZStack's login) gets them by calling those methods; no face
//! can forget the limit or verify a password on the async workers.

pub mod cache;
pub mod failures;
pub mod hashing;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Result;

pub use cache::VerifiedCache;
pub use failures::{Charge, Failures};
pub use hashing::PasswordHasher;

/// Knobs of authentication (flags of `palisade serve`).
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Failed authentications (any face, any scheme) per minute from one source address (IPv6:
    /// one /64) before it is answered 429.
    pub failures_per_minute_per_source: u32,
    /// Failed password checks per minute for one username, whatever the source.
    pub failures_per_minute_per_user: u32,
    /// Argon2id computations at once (each on a blocking thread). Default: half the CPUs, at
    /// least 1, so a flood of password checks leaves the other half to everything else (with
    /// every CPU busy hashing, `/healthz` p99 under a flood was 9× idle on 2 CPUs; with half,
    /// 1.1×: `palisade-bench auth-flood`).
    pub password_hash_concurrency: usize,
    /// How long a caller over a failure limit waits for its 429 (at most its `Retry-After`).
    /// A client guessing in a loop then sends one request a pause instead of thousands a second:
    /// `palisade-bench auth-flood` measured 26,000 refusals per second from 32 clients without
    /// it, which kept the machine busy answering them.
    pub failure_tarpit: Duration,
    /// How long a successful password check is remembered (zero: never).
    pub verified_ttl: Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            failures_per_minute_per_source: 30,
            failures_per_minute_per_user: 10,
            password_hash_concurrency: std::thread::available_parallelism()
                .map_or(1, |n| (n.get() / 2).max(1)),
            failure_tarpit: Duration::from_secs(1),
            verified_ttl: Duration::from_secs(60),
        }
    }
}

/// The authentication machinery of one node.
#[derive(Debug)]
pub struct Authn {
    pub hasher: PasswordHasher,
    pub verified: VerifiedCache,
    pub failures: Arc<Failures>,
    tarpit: Duration,
}

impl Authn {
    pub fn new(settings: &AuthSettings) -> Self {
        Self {
            hasher: PasswordHasher::new(settings.password_hash_concurrency),
            verified: VerifiedCache::new(settings.verified_ttl),
            failures: Arc::new(Failures::per_minute(
                settings.failures_per_minute_per_source,
                settings.failures_per_minute_per_user,
            )),
            tarpit: settings.failure_tarpit,
        }
    }

    /// Counts an attempt against the failure limits of `source` (and `username`). Over a limit
    /// it is refused, but only after the tarpit's pause (at most the refusal's `Retry-After`):
    /// the pause costs a parked future, and it turns a client that retries as fast as it is
    /// answered into one that retries once a pause.
    pub async fn charge(&self, source: IpAddr, username: Option<&str>) -> Result<Charge> {
        match self.failures.charge(source, username) {
            Ok(charge) => Ok(charge),
            Err(refused) => {
                let retry_after = Duration::from_secs(refused.retry_after().unwrap_or(0));
                tokio::time::sleep(self.tarpit.min(retry_after)).await;
                Err(refused)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[tokio::test(start_paused = true)]
    async fn a_refusal_waits_for_the_tarpit_and_no_longer_than_retry_after() {
        let source: IpAddr = [192, 0, 2, 1].into();
        for (tarpit, expected) in [
            (Duration::from_millis(700), Duration::from_millis(700)),
            (Duration::from_secs(600), Duration::from_secs(60)),
        ] {
            let settings = AuthSettings {
                failures_per_minute_per_source: 1,
                failure_tarpit: tarpit,
                ..AuthSettings::default()
            };
            let authn = Authn::new(&settings);
            let started = tokio::time::Instant::now();
            let first = authn.charge(source, None).await;
            assert!(first.is_ok(), "the first attempt is counted, not refused");
            assert_eq!(started.elapsed(), Duration::ZERO, "an attempt within the limit never waits");
            drop(first);
            let refused = authn.charge(source, None).await;
            assert!(matches!(refused, Err(Error::RateLimited { .. })));
            assert_eq!(started.elapsed(), expected);
        }
    }
}
