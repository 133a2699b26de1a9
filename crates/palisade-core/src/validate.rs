//! Field validation that collects every violation of a request at once.
//!
//! Faces such as Defined report all problems in one response, so validators never stop at the
//! first failure: they push onto a [`Violations`] list that turns into [`Error::Invalid`].
//!
//! Two exceptions keep the work of refusing bounded: a list longer than its limit
//! ([`Violations::count`]) is refused as a whole without looking at its items, and strings are
//! checked for characters no backend can store (NUL, [`Violations::free_text`]) or no name may
//! hold (control characters, [`Violations::text`]) before they reach a store.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::error::{Error, Result, Violation, ViolationCode};

const CONTROL_MESSAGE: &str = "must not contain control characters (such as NUL)";
const NUL_MESSAGE: &str = "must not contain NUL characters";

/// Whether a JSON document holds a NUL character in any key or string, at any depth. Walks
/// with an explicit stack, so a deeply nested document cannot exhaust the thread's stack.
pub fn json_has_nul(value: &serde_json::Value) -> bool {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            serde_json::Value::String(s) if s.contains('\0') => return true,
            serde_json::Value::Array(items) => stack.extend(items),
            serde_json::Value::Object(map) => {
                if map.keys().any(|k| k.contains('\0')) {
                    return true;
                }
                stack.extend(map.values());
            }
            _ => {}
        }
    }
    false
}

/// An error for a string that cannot name anything because it holds control characters:
/// `path` names the field.
pub fn invalid_characters(path: impl Into<String>) -> Error {
    Error::invalid(path, ViolationCode::InvalidCharacters, CONTROL_MESSAGE)
}

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

    /// `Err` with every violation so far, when there is any: used to stop before per-item work
    /// once a list was found too long (the violations are taken; `self` is left empty).
    pub fn checkpoint(&mut self) -> Result<()> {
        std::mem::take(self).finish()
    }

    /// A name: trimmed, between `min` and `max` characters, no control characters.
    pub fn text(&mut self, path: &str, value: &str, min: usize, max: usize) {
        let len = value.chars().count();
        if value.chars().any(char::is_control) {
            self.push(path, ViolationCode::InvalidCharacters, CONTROL_MESSAGE);
        } else if value.trim() != value {
            self.push(path, ViolationCode::InvalidValue, "must not start or end with whitespace");
        } else if len < min || len > max {
            self.push(
                path,
                ViolationCode::InvalidLength,
                format!("must have a length between {min} and {max}"),
            );
        }
    }

    /// Text kept as written (an annotation's value): at most `max` characters and no NUL, which
    /// PostgreSQL cannot store in text. Other control characters (tabs, newlines) are allowed.
    pub fn free_text(&mut self, path: &str, value: &str, max: usize) {
        if value.contains('\0') {
            self.push(path, ViolationCode::InvalidCharacters, NUL_MESSAGE);
        } else if value.chars().count() > max {
            self.push(path, ViolationCode::InvalidLength, format!("must have a length of at most {max}"));
        }
    }

    /// A value naming something (a sub-domain, a permalink, a username, an address to remove):
    /// refuses control characters, which nothing stored can hold. Returns whether the value is
    /// clean, so a lookup can be skipped.
    pub fn name_chars(&mut self, path: &str, value: &str) -> bool {
        let clean = !value.chars().any(char::is_control);
        if !clean {
            self.push(path, ViolationCode::InvalidCharacters, CONTROL_MESSAGE);
        }
        clean
    }

    /// A list of at most `max` items. Returns whether its items should be checked: a longer list
    /// is refused as a whole, before any per-item work (lookups, parsing, one violation per
    /// item), so refusing it costs the same however long it is.
    pub fn count(&mut self, path: &str, len: usize, max: usize) -> bool {
        if len > max {
            self.push(
                path,
                ViolationCode::InvalidLength,
                format!("must list at most {max} items (got {len})"),
            );
            false
        } else {
            true
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

    #[test]
    fn nul_and_control_characters() {
        let mut v = Violations::new();
        v.text("name", "a\0b", 1, 10);
        v.text("other", "a\nb", 1, 10);
        v.free_text("value", "a\0b", 10);
        v.free_text("ok", "tab\there\nnewline", 100);
        assert!(!v.name_chars("sub_domain", "a\u{1}"));
        let Err(Error::Invalid(list)) = v.finish() else { panic!("expected violations") };
        let found: Vec<_> = list.iter().map(|v| (v.path.as_str(), v.code)).collect();
        assert_eq!(
            found,
            [
                ("name", ViolationCode::InvalidCharacters),
                ("other", ViolationCode::InvalidCharacters),
                ("value", ViolationCode::InvalidCharacters),
                ("sub_domain", ViolationCode::InvalidCharacters),
            ]
        );
    }

    #[test]
    fn nul_found_at_any_depth() {
        use serde_json::json;
        assert!(!json_has_nul(&json!([{"key": "a", "value": {"b": ["c", 1, null]}}])));
        assert!(json_has_nul(&json!([{"key": "a", "value": {"b": ["c\u{0}"]}}])));
        assert!(json_has_nul(&json!([{"key": "a", "value": {"b\u{0}": 1}}])));
        let mut deep = json!("x\u{0}");
        for _ in 0..10_000 {
            deep = serde_json::Value::Array(vec![deep]);
        }
        assert!(json_has_nul(&deep), "no recursion, whatever the depth");
        // Dropping a deeply nested Value recurses in serde_json; leak it instead in the test.
        std::mem::forget(deep);
    }

    #[test]
    fn oversized_lists_are_refused_whole() {
        let mut v = Violations::new();
        assert!(v.count("tags", 3, 3));
        assert!(!v.count("interfaces", 36_000, 16));
        let Err(Error::Invalid(list)) = v.finish() else { panic!("expected violations") };
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].path, "interfaces");
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
