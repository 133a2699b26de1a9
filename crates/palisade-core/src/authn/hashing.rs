//! A bounded pool for Argon2id: password hashing and verification off the async workers.
//!
//! One verification costs ~40 ms of CPU and ~19 MiB. Run inline, a handful of concurrent ones
//! stall every request on the runtime's workers (issue 11: `/healthz` p99 1,255 ms under 32
//! clients sending wrong passwords). Here each runs on tokio's blocking threads
//! (`spawn_blocking`) after taking a permit of an async semaphore sized to the cores: a flood
//! waits on the semaphore, as parked futures costing no thread, and never occupies more than
//! `concurrency` threads, so the workers stay free for everyone else.
//!
//! The permit moves into the blocking task and is released when the computation ends, even if
//! the request that asked was dropped meanwhile, so abandoned requests cannot push the number
//! of running verifications past the bound.
//!
//! This is why the core depends on tokio (runtime and sync primitives only; it is not a web
//! framework or a driver): the alternative, a trait implemented outside the core, would hide
//! the same two calls behind an indirection every caller must wire.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::error::{Error, Result};
use crate::secret::PasswordDigest;

/// The bounded Argon2id pool. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
}

impl PasswordHasher {
    /// At most `concurrency` (at least 1) hashes or verifications at once.
    pub fn new(concurrency: usize) -> Self {
        Self { permits: Arc::new(Semaphore::new(concurrency.clamp(1, Semaphore::MAX_PERMITS))) }
    }

    /// A fresh Argon2id digest of `password`.
    pub async fn hash(&self, password: &str) -> Result<PasswordDigest> {
        let password = password.to_owned();
        self.run(move || PasswordDigest::new(&password)).await?
    }

    /// Whether `password` matches `digest`.
    pub async fn verify(&self, digest: &PasswordDigest, password: &str) -> Result<bool> {
        let (digest, password) = (digest.clone(), password.to_owned());
        self.run(move || digest.verify(&password)).await
    }

    /// The same work as [`PasswordHasher::verify`] against a digest of a random password, for
    /// unknown usernames, so timing does not tell which usernames exist.
    pub async fn verify_nothing(&self, password: &str) -> Result<()> {
        let password = password.to_owned();
        self.run(move || {
            let _ = dummy_digest().verify(&password);
        })
        .await
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let permit = Arc::clone(&self.permits).acquire_owned().await.map_err(Error::internal)?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(Error::internal)
    }
}

/// A digest of a random password (made once, on a blocking thread by the first caller).
fn dummy_digest() -> &'static PasswordDigest {
    static DUMMY: std::sync::OnceLock<PasswordDigest> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = data_encoding::HEXLOWER.encode(&crate::id::random_bytes::<16>());
        // Hashing fails only on invalid parameters; fall back to a well-formed fixed digest.
        PasswordDigest::new(&random).unwrap_or_else(|_| {
            PasswordDigest::from_phc(
                "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$ZHVtbXlkdW1teWR1bW15ZHVtbXlkdW1teWR1bW15ZHU"
                    .into(),
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn hashes_and_verifies_off_the_runtime() {
        let pool = PasswordHasher::new(2);
        let digest = pool.hash("correct horse").await.unwrap();
        assert!(pool.verify(&digest, "correct horse").await.unwrap());
        assert!(!pool.verify(&digest, "wrong horse").await.unwrap());
        pool.verify_nothing("anything").await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_runs_more_than_its_bound() {
        let pool = Arc::new(PasswordHasher::new(2));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..12)
            .map(|_| {
                let (pool, running, most) = (pool.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    pool.run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(5));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let most = most.load(Ordering::SeqCst);
        assert!((1..=2).contains(&most), "{most} ran at once");
    }
}
