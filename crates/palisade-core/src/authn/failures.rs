//! Failed-authentication limits, per source address and per username.
//!
//! A limit is checked *before* a credential is verified, so a limited flood costs no Argon2 and
//! no database read, yet only *failures* count: a user whose client authenticates on every
//! request (Hostway's Basic) must never be limited by its own successes. So an attempt takes a
//! reservation up front ([`Failures::charge`]) and gives it back when the credential proves good
//! ([`Charge::refund`]); an attempt that fails, or is abandoned mid-way, keeps it. That is also
//! what bounds the work of concurrent guesses: no more Argon2 runs than the limit allows can
//! start, however many arrive at once.
//!
//! The arithmetic is GCRA, as in `governor` (which counts Katapult's per-token requests in
//! `palisade-api`'s `rate`): `n` per minute means a burst of `n`, then one more every `60/n` s.
//! governor cannot reserve-then-refund or look without counting (boinkor-net/governor#15), hence
//! this small table of "theoretical arrival times". Keys that have fully recovered are swept out
//! as the table grows (amortised), so spraying usernames or addresses cannot grow it without
//! bound beyond the keys active within a minute.
//!
//! Counters are per node (like the request limits): with N nodes a guesser gets up to N× the
//! limit. Keys: the source address with IPv6 reduced to its /64 (one subscriber's allocation,
//! which an attacker could otherwise rotate through), IPv4-mapped IPv6 read as IPv4; usernames
//! as sent, cut to 64 characters (no longer username can exist).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::{Error, RateLimit};

/// The longest username `create_user` accepts; longer names are counted under their prefix.
const USERNAME_KEY_CHARS: usize = 64;
/// Tables are swept of recovered keys when they reach this size (or twice the last survivors).
const SWEEP_AT_LEAST: usize = 1024;

/// One GCRA limit over keys of type `K`.
#[derive(Debug)]
struct Gcra<K> {
    per_minute: u32,
    /// Time one failure costs (60 s / n).
    interval: Duration,
    /// How far ahead of now the theoretical arrival time may be: n intervals.
    horizon: Duration,
    table: Mutex<Table<K>>,
}

#[derive(Debug)]
struct Table<K> {
    /// Theoretical arrival time per key; absent, or in the past, means a full allowance.
    tat: HashMap<K, Instant>,
    sweep_at: usize,
}

impl<K: Hash + Eq + Clone> Gcra<K> {
    fn per_minute(n: u32) -> Self {
        let n = n.max(1);
        let interval = Duration::from_secs(60) / n;
        Self {
            per_minute: n,
            interval,
            horizon: interval * n,
            table: Mutex::new(Table { tat: HashMap::new(), sweep_at: SWEEP_AT_LEAST }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table<K>> {
        // The table holds plain instants: a panic elsewhere cannot leave it inconsistent.
        self.table.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Takes one unit for `key`, or says how long until one is available.
    fn charge(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let mut table = self.lock();
        let tat = table.tat.get(key).copied().map_or(now, |tat| tat.max(now));
        let next = tat + self.interval;
        if next > now + self.horizon {
            return Err(next - (now + self.horizon));
        }
        if table.tat.len() >= table.sweep_at {
            table.tat.retain(|_, tat| *tat > now);
            table.sweep_at = SWEEP_AT_LEAST.max(table.tat.len() * 2);
        }
        table.tat.insert(key.clone(), next);
        Ok(())
    }

    /// Gives back a unit taken by [`Gcra::charge`].
    fn refund(&self, key: &K) {
        let mut table = self.lock();
        if let Some(tat) = table.tat.get_mut(key) {
            match tat.checked_sub(self.interval) {
                Some(earlier) => *tat = earlier,
                None => {
                    table.tat.remove(key);
                }
            }
        }
    }
}

/// The source key: IPv6 by /64, IPv4-mapped addresses as IPv4.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(v6.to_bits() & !((1u128 << 64) - 1))),
        v4 => v4,
    }
}

fn user_key(username: &str) -> String {
    username.chars().take(USERNAME_KEY_CHARS).collect()
}

/// The failed-authentication limits of one node.
#[derive(Debug)]
pub struct Failures {
    per_source: Gcra<IpAddr>,
    per_user: Gcra<String>,
}

impl Failures {
    /// `per_source` and `per_user` failures per minute (each at least 1).
    pub fn per_minute(per_source: u32, per_user: u32) -> Self {
        Self { per_source: Gcra::per_minute(per_source), per_user: Gcra::per_minute(per_user) }
    }

    /// Reserves one failure for `source` (and `username`, if a username was sent), before the
    /// credential is checked. Refused (429) when either is spent; a refused attempt counts
    /// nothing.
    pub fn charge(self: &Arc<Self>, source: IpAddr, username: Option<&str>) -> Result<Charge, Error> {
        self.charge_at(source, username, Instant::now())
    }

    fn charge_at(
        self: &Arc<Self>,
        source: IpAddr,
        username: Option<&str>,
        now: Instant,
    ) -> Result<Charge, Error> {
        let limited = |limit: u32, wait: Duration| Error::RateLimited {
            what: RateLimit::FailedAuthentications,
            limit,
            retry_after: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
        };
        let source = source_key(source);
        self.per_source.charge(&source, now).map_err(|wait| limited(self.per_source.per_minute, wait))?;
        let user = username.map(user_key);
        if let Some(user) = &user {
            if let Err(wait) = self.per_user.charge(user, now) {
                self.per_source.refund(&source);
                return Err(limited(self.per_user.per_minute, wait));
            }
        }
        Ok(Charge { failures: Arc::clone(self), source, user })
    }
}

/// One attempt's reservation: kept (a failure counted) unless refunded.
#[derive(Debug)]
#[must_use = "a charge is kept as a failure unless refunded"]
pub struct Charge {
    failures: Arc<Failures>,
    source: IpAddr,
    user: Option<String>,
}

impl Charge {
    /// The attempt did not fail on its credentials (it succeeded, or the store was away).
    pub fn refund(self) {
        self.failures.per_source.refund(&self.source);
        if let Some(user) = &self.user {
            self.failures.per_user.refund(user);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn retry_after(e: Error) -> u64 {
        e.retry_after().unwrap()
    }

    #[test]
    fn a_burst_then_one_per_interval_and_refunds_give_back() {
        let f = Arc::new(Failures::per_minute(3, 100));
        let t0 = Instant::now();
        for _ in 0..3 {
            let _kept = f.charge_at(ip("192.0.2.1"), None, t0).unwrap();
        }
        // Spent: refused, with the wait until the next unit (60 s / 3 = 20 s).
        let e = f.charge_at(ip("192.0.2.1"), None, t0).unwrap_err();
        assert_eq!(
            e,
            Error::RateLimited { what: RateLimit::FailedAuthentications, limit: 3, retry_after: 20 }
        );
        // Refusals count nothing: still 20 s, not more.
        assert_eq!(retry_after(f.charge_at(ip("192.0.2.1"), None, t0).unwrap_err()), 20);
        // Another source is unaffected.
        f.charge_at(ip("192.0.2.2"), None, t0).unwrap().refund();
        // One unit is back after one interval, and only one.
        let t1 = t0 + Duration::from_secs(20);
        let _kept = f.charge_at(ip("192.0.2.1"), None, t1).unwrap();
        assert_eq!(retry_after(f.charge_at(ip("192.0.2.1"), None, t1).unwrap_err()), 20);
        // Successes (refunded charges) never spend the allowance.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..10 {
            f.charge_at(ip("192.0.2.1"), None, t2).unwrap().refund();
        }
        let _kept = f.charge_at(ip("192.0.2.1"), None, t2).unwrap();
    }

    #[test]
    fn usernames_have_their_own_limit_and_a_refused_user_does_not_charge_the_source() {
        let f = Arc::new(Failures::per_minute(100, 2));
        let t0 = Instant::now();
        let _a = f.charge_at(ip("192.0.2.1"), Some("alice"), t0).unwrap();
        let _b = f.charge_at(ip("198.51.100.7"), Some("alice"), t0).unwrap();
        // Spread over sources, alice is still limited (distributed guessing).
        let e = f.charge_at(ip("203.0.113.9"), Some("alice"), t0).unwrap_err();
        assert_eq!(retry_after(e), 30);
        f.charge_at(ip("203.0.113.9"), Some("bob"), t0).unwrap().refund();
        // Neither the refused nor the refunded attempt charged 203.0.113.9: 100 failures still
        // fit, then no more.
        for _ in 0..100 {
            let _kept = f.charge_at(ip("203.0.113.9"), None, t0).unwrap();
        }
        assert!(f.charge_at(ip("203.0.113.9"), None, t0).is_err());
    }

    #[test]
    fn ipv6_sources_are_keyed_by_their_64_and_mapped_ipv4_as_ipv4() {
        let f = Arc::new(Failures::per_minute(1, 100));
        let t0 = Instant::now();
        let _kept = f.charge_at(ip("2001:db8:1:2::1"), None, t0).unwrap();
        assert!(f.charge_at(ip("2001:db8:1:2:ffff::9"), None, t0).is_err(), "same /64");
        let _kept = f.charge_at(ip("2001:db8:1:3::1"), None, t0).unwrap();
        let _kept = f.charge_at(ip("192.0.2.1"), None, t0).unwrap();
        assert!(f.charge_at(ip("::ffff:192.0.2.1"), None, t0).is_err(), "mapped IPv4");
    }

    #[test]
    fn recovered_keys_are_swept_as_the_table_grows() {
        let f = Arc::new(Failures::per_minute(10, 10));
        let t0 = Instant::now();
        for i in 0..5000u32 {
            let _kept = f.charge_at(IpAddr::from(i.to_be_bytes()), None, t0).unwrap();
        }
        // A minute later every key has recovered; the next sweep (when the table has doubled)
        // drops them all, while keys charged since stay.
        let later = t0 + Duration::from_secs(61);
        for i in 0..4000u32 {
            let _kept = f.charge_at(IpAddr::from((i + 1_000_000).to_be_bytes()), None, later).unwrap();
        }
        assert_eq!(f.per_source.lock().tat.len(), 4000);
    }
}
