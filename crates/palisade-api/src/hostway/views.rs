//! What the group and rule handlers both render: a rule in a group view, the fields every rule
//! view shares (protocol, ports, source, action, priority, number), self links, and
//! single-key wrappers (the error renderer's faults too). Groups and rules import this module,
//! never each other.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use palisade_core::id::RuleId;
use palisade_core::policy::{Action, Direction, Protocol, Remote, Rule};
use serde::Serialize;

/// Rule numbers by rule, for views.
pub type Numbers = HashMap<RuleId, u64>;

/// `{key: value}` with `value`'s fields in their declared order (a `serde_json::Value` would
/// sort them; Hostway documents an order).
pub fn one<T: Serialize>(key: &'static str, value: T) -> Json<BTreeMap<&'static str, T>> {
    Json(BTreeMap::from([(key, value)]))
}

/// An entry of `links` (Hostway's links end with a slash, and the routes accept it).
#[derive(Debug, Serialize)]
pub struct Link {
    pub href: String,
    pub rel: &'static str,
}

impl Link {
    pub fn to_self(href: String) -> Vec<Link> {
        vec![Link { href, rel: "self" }]
    }
}

/// IP protocol numbers Hostway names.
pub(super) const AH: u8 = 51;
pub(super) const ESP: u8 = 50;
pub(super) const GRE: u8 = 47;

pub(super) fn protocol_name(p: Protocol) -> String {
    match p {
        Protocol::Tcp => "TCP".into(),
        Protocol::Udp => "UDP".into(),
        Protocol::Any => "ALL".into(),
        Protocol::Icmp => "ICMP".into(),
        Protocol::Icmpv6 => "ICMPV6".into(),
        Protocol::Number(AH) => "AH".into(),
        Protocol::Number(ESP) => "ESP".into(),
        Protocol::Number(GRE) => "GRE".into(),
        Protocol::Number(n) => n.to_string(),
    }
}

pub(super) fn action_name(a: Action) -> &'static str {
    match a {
        Action::Allow => "ACCEPT",
        Action::Reject => "REJECT",
        Action::Deny => "DROP",
    }
}

/// `fromPort`/`toPort`: the rule's first range; all ports of TCP/UDP are 1-65535; `0`/`0` for
/// protocols without ports.
pub(super) fn ports(rule: &Rule) -> (u16, u16) {
    match rule.ports.first() {
        Some(range) => (range.from, range.to),
        None if matches!(rule.protocol, Protocol::Tcp | Protocol::Udp) => (1, 65535),
        None => (0, 0),
    }
}

/// The source CIDR: the first CIDR remote (or the "any" remotes as /0).
pub(super) fn cidr(rule: &Rule) -> Option<String> {
    rule.remotes.iter().find_map(|r| match r {
        Remote::Cidr(text) => Some(text.clone()),
        Remote::AnyIpv4 => Some("0.0.0.0/0".into()),
        Remote::AnyIpv6 => Some("::/0".into()),
        _ => None,
    })
}

/// Hostway priority (higher first, 0 lowest) from the canonical one (lower first).
pub(super) fn priority(rule: &Rule) -> i64 {
    rule.priority.map_or(0, |p| -i64::from(p))
}

pub(super) fn number_of(numbers: &Numbers, id: RuleId) -> String {
    numbers.get(&id).map(u64::to_string).unwrap_or_default()
}

/// A rule inside a group view.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RuleView {
    from_port: u16,
    to_port: u16,
    protocol: String,
    cidr: Option<String>,
    action: &'static str,
    priority: i64,
    id: String,
}

/// The inbound rules (Hostway has no direction) in creation order.
pub(super) fn rule_views(rules: &[Rule], numbers: &Numbers) -> Vec<RuleView> {
    rules
        .iter()
        .filter(|r| r.direction == Direction::Inbound)
        .map(|r| {
            let (from_port, to_port) = ports(r);
            RuleView {
                from_port,
                to_port,
                protocol: protocol_name(r.protocol),
                cidr: cidr(r),
                action: action_name(r.action),
                priority: priority(r),
                id: number_of(numbers, r.id),
            }
        })
        .collect()
}
