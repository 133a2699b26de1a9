//! A short-lived memory of successful password verifications, so a client that sends HTTP Basic
//! on every request (Hostway's scheme) pays Argon2id once a minute rather than per request.
//!
//! The key is SHA-256 over a random per-process secret, the username, the password and the
//! stored PHC string (each length-prefixed); the clear password is never kept, and a key is
//! useless outside this process. Because the stored PHC string is part of the key and is read
//! from the store on every request anyway, a password change (new salt and hash) or a deleted
//! user can never hit an old entry; the organization's state is not cached at all, it is
//! checked on every request. Entries expire after the TTL (0 disables the cache) and the table
//! is bounded ([`CAPACITY`]): when full, expired entries go first, then the oldest.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::secret::PasswordDigest;

/// Most entries kept at once.
pub const CAPACITY: usize = 10_000;

/// A verification's cache key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VerifiedKey([u8; 32]);

#[derive(Debug)]
pub struct VerifiedCache {
    secret: [u8; 32],
    ttl: Duration,
    /// Expiry per key.
    entries: Mutex<HashMap<VerifiedKey, Instant>>,
}

impl VerifiedCache {
    pub fn new(ttl: Duration) -> Self {
        Self { secret: crate::id::random_bytes::<32>(), ttl, entries: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<VerifiedKey, Instant>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn key(&self, username: &str, password: &str, stored: &PasswordDigest) -> VerifiedKey {
        let mut h = Sha256::new();
        h.update(self.secret);
        for part in [username, password, stored.as_phc()] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        VerifiedKey(h.finalize().into())
    }

    /// Whether `key` was verified within the TTL.
    pub fn contains(&self, key: &VerifiedKey) -> bool {
        self.contains_at(key, Instant::now())
    }

    fn contains_at(&self, key: &VerifiedKey, now: Instant) -> bool {
        self.lock().get(key).is_some_and(|expires| *expires > now)
    }

    /// Remembers a successful verification.
    pub fn insert(&self, key: VerifiedKey) {
        self.insert_at(key, Instant::now());
    }

    fn insert_at(&self, key: VerifiedKey, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= CAPACITY && !entries.contains_key(&key) {
            entries.retain(|_, expires| *expires > now);
            if entries.len() >= CAPACITY {
                // Everything is live: drop the entry closest to expiry (the oldest).
                if let Some(oldest) = entries.iter().min_by_key(|(_, e)| **e).map(|(k, _)| *k) {
                    entries.remove(&oldest);
                }
            }
        }
        entries.insert(key, now + self.ttl);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(phc: &str) -> PasswordDigest {
        PasswordDigest::from_phc(phc.into())
    }

    #[test]
    fn keys_change_with_any_part_and_expire() {
        let cache = VerifiedCache::new(Duration::from_secs(60));
        let key = cache.key("alice", "pw", &digest("$a"));
        assert_ne!(key, cache.key("alice", "pw", &digest("$b")), "a new PHC string misses");
        assert_ne!(key, cache.key("alice", "pw2", &digest("$a")));
        assert_ne!(key, cache.key("alicep", "w", &digest("$a")), "parts are delimited");
        assert_ne!(key, VerifiedCache::new(Duration::from_secs(60)).key("alice", "pw", &digest("$a")));
        let t0 = Instant::now();
        assert!(!cache.contains_at(&key, t0));
        cache.insert_at(key, t0);
        assert!(cache.contains_at(&key, t0 + Duration::from_secs(59)));
        assert!(!cache.contains_at(&key, t0 + Duration::from_secs(60)));
    }

    #[test]
    fn bounded_and_zero_ttl_disables() {
        let cache = VerifiedCache::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let keys: Vec<_> = (0..=CAPACITY).map(|i| cache.key(&i.to_string(), "pw", &digest("$a"))).collect();
        for (i, key) in keys.iter().enumerate() {
            cache.insert_at(*key, t0 + Duration::from_millis(i as u64));
        }
        assert_eq!(cache.lock().len(), CAPACITY);
        assert!(!cache.contains_at(&keys[0], t0), "the oldest went");
        assert!(cache.contains_at(&keys[CAPACITY], t0));

        let off = VerifiedCache::new(Duration::ZERO);
        let key = off.key("alice", "pw", &digest("$a"));
        off.insert_at(key, t0);
        assert!(!off.contains_at(&key, t0));
    }
}
