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

use std::sync::Arc;
use std::time::Duration;

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
        }
    }
}
