//! Field validation that collects every violation of a request at once.
//!
//! Faces such as Defined report all problems in one response, so validators never stop at the
//! first failure: they push onto a [`Violations`] list that turns into [`Error::Invalid`].

use std::net::IpAddr;

use ipnet::IpNet;

use crate::error::{Error, Result, Violation, ViolationCode};

#[derive(Debug, Default)]
pub struct Violations(Vec<Violation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, path: impl Into<String>, code: ViolationCode, message: impl Into<String>) {
        self.0.push(Violation::new(path, code, message));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was pushed, else every violation.
    pub fn finish(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self.0))
        }
    }

    /// A name: trimmed, between `min` and `max` characters, no control characters.
    pub fn text(&mut self, path: &str, value: &str, min: usize, max: usize) {
        let len = value.chars().count();
        if value.trim() != value {
            self.push(path, ViolationCode::InvalidValue, "must not start or end with whitespace");
        } else if len < min || len > max {
            self.push(
                path,
                ViolationCode::InvalidLength,
                format!("must have a length between {min} and {max}"),
            );
        } else if value.chars().any(char::is_control) {
            self.push(path, ViolationCode::InvalidValue, "must not contain control characters");
        }
    }

    /// A DNS-label-like slug: lower-case letters, digits and inner hyphens, 1..=63 characters.
    pub fn slug(&mut self, path: &str, value: &str) {
        let ok = !value.is_empty()
            && value.len() <= 63
            && value.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !value.starts_with('-')
            && !value.ends_with('-');
        if !ok {
            self.push(
                path,
                ViolationCode::InvalidValue,
                "must be 1 to 63 lower-case letters, digits or hyphens, not starting or ending with a hyphen",
            );
        }
    }

    /// A CIDR prefix with no host bits set; returns it when valid.
    pub fn prefix(&mut self, path: &str, value: &str) -> Option<IpNet> {
        match value.parse::<IpNet>() {
            Ok(net) if net.trunc() == net => Some(net),
            Ok(net) => {
                self.push(
                    path,
                    ViolationCode::InvalidValue,
                    format!("has host bits set; did you mean {}?", net.trunc()),
                );
                None
            }
            Err(_) => {
                self.push(
                    path,
                    ViolationCode::InvalidValue,
                    "must be a CIDR prefix such as 203.0.113.0/24 or 2001:db8::/64",
                );
                None
            }
        }
    }

    /// A CIDR prefix or a single address (taken as a host prefix).
    pub fn network_or_address(&mut self, path: &str, value: &str) -> Option<IpNet> {
        if let Ok(addr) = value.parse::<IpAddr>() {
            return Some(IpNet::from(addr));
        }
        self.prefix(path, value)
    }

    pub fn address(&mut self, path: &str, value: &str) -> Option<IpAddr> {
        match value.parse::<IpAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.push(path, ViolationCode::InvalidValue, "must be an IPv4 or IPv6 address");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn collects_every_violation() {
        let mut v = Violations::new();
        v.text("name", "", 1, 10);
        v.slug("sub_domain", "Bad_Slug");
        v.prefix("prefixes[0]", "203.0.113.5/24");
        v.prefix("prefixes[1]", "nonsense");
        let Err(Error::Invalid(list)) = v.finish() else { panic!("expected violations") };
        let paths: Vec<_> = list.iter().map(|v| v.path.as_str()).collect();
        assert_eq!(paths, ["name", "sub_domain", "prefixes[0]", "prefixes[1]"]);
    }

    proptest! {
        #[test]
        fn valid_prefixes_round_trip(a in any::<u32>(), len in 0u8..=32) {
            let net = ipnet::Ipv4Net::new(a.into(), len).map(|n| n.trunc()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let mut v = Violations::new();
            prop_assert_eq!(v.prefix("p", &net.to_string()), Some(IpNet::V4(net)));
            prop_assert!(v.is_empty());
        }

        #[test]
        fn prefixes_with_host_bits_are_refused(a in any::<u32>(), len in 0u8..32) {
            let net = ipnet::Ipv4Net::new(a.into(), len).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assume!(net.trunc() != net);
            let mut v = Violations::new();
            prop_assert_eq!(v.prefix("p", &net.to_string()), None);
            prop_assert!(!v.is_empty());
        }
    }
}
