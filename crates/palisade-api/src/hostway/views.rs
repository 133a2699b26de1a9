//! What the group and rule handlers both render: a rule in a group view, the fields every rule
//! view shares (protocol, ports, source, action, priority, number), self links, and
//! single-key wrappers (the error renderer's faults too). Groups and rules import this module,
//! never each other.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use palisade_core::id::RuleId;
use palisade_core::policy::{Action, Direction, Protocol, Remote, Rule};
use palisade_core::service::GroupRules;
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

/// Hostway priority (higher first, 0 lowest) from the canonical one (lower first).
pub(super) fn priority(rule: &Rule) -> i64 {
    rule.priority.map_or(0, |p| -i64::from(p))
}

/// One Hostway rule as shown: a canonical rule shows as one or several
/// (`docs/policy-semantics.md`, "Projections").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Shown {
    pub protocol: String,
    pub from_port: u16,
    pub to_port: u16,
    pub cidr: String,
    pub action: &'static str,
    pub priority: i64,
    pub id: String,
}

/// What Hostway shows of a group: its rules, each canonical inbound rule as many Hostway
/// rules as it takes to say it (per protocol, port range and address), the allow-all default
/// as two `ACCEPT ALL` rules with id `0`; and the notes on what it cannot show (outbound rules,
/// ICMP messages), for the group's description.
pub(super) fn project(group: &GroupRules) -> (Vec<Shown>, Vec<String>) {
    let (mut shown, mut notes) = (Vec::new(), Vec::new());
    let outbound = group.rules.iter().filter(|r| r.direction == Direction::Outbound).count();
    if outbound > 0 {
        notes.push(format!("{outbound} outbound rule(s) not shown"));
    }
    for rule in group.rules.iter().filter(|r| r.direction == Direction::Inbound) {
        let id = number_of(&group.numbers, rule.id);
        let protocols: Vec<String> = match rule.protocol {
            Protocol::Any if !rule.ports.is_empty() => vec!["TCP".into(), "UDP".into()],
            other => vec![protocol_name(other)],
        };
        let ranges: Vec<(u16, u16)> = match (rule.protocol.has_ports(), rule.ports.as_slice()) {
            (true, []) if rule.protocol != Protocol::Any => vec![(1, 65535)],
            (true, ports) if !ports.is_empty() => ports.iter().map(|r| (r.from, r.to)).collect(),
            _ => vec![(0, 0)],
        };
        if let Some(icmp) = rule.icmp {
            let message = match icmp.code {
                Some(code) => format!("type {} code {code}", icmp.icmp_type),
                None => format!("type {}", icmp.icmp_type),
            };
            if rule.action != Action::Allow {
                notes.push(format!("rule {id} ({} ICMP {message}) not shown", action_name(rule.action)));
                continue;
            }
            notes.push(format!("rule {id} allows ICMP {message} only"));
        }
        for protocol in &protocols {
            for &(from_port, to_port) in &ranges {
                for cidr in cidrs(group, rule) {
                    shown.push(Shown {
                        protocol: protocol.clone(),
                        from_port,
                        to_port,
                        cidr,
                        action: action_name(rule.action),
                        priority: priority(rule),
                        id: id.clone(),
                    });
                }
            }
        }
    }
    if group.group.allow_all_inbound {
        for cidr in ["0.0.0.0/0", "::/0"] {
            let all = "ALL".to_owned();
            let action = action_name(Action::Allow);
            shown.push(Shown {
                protocol: all,
                from_port: 0,
                to_port: 0,
                cidr: cidr.into(),
                action,
                priority: 0,
                id: "0".into(),
            });
        }
    }
    (shown, notes)
}

/// The addresses of a rule's remotes as Hostway CIDRs: as written when they are addresses (so a
/// Hostway rule round-trips), else the addresses they name now.
fn cidrs(group: &GroupRules, rule: &Rule) -> Vec<String> {
    let written: Option<Vec<String>> = rule
        .remotes
        .iter()
        .map(|r| match r {
            Remote::Cidr(text) => Some(text.clone()),
            Remote::AnyIpv4 => Some("0.0.0.0/0".into()),
            Remote::AnyIpv6 => Some("::/0".into()),
            _ => None,
        })
        .collect();
    written.unwrap_or_else(|| {
        group
            .resolved
            .get(&rule.id)
            .map(|set| set.cidrs().iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    })
}

/// The group's description with the notes on what Hostway cannot show.
pub(super) fn described(description: Option<&str>, notes: &[String]) -> String {
    let description = description.unwrap_or_default();
    match (description.is_empty(), notes.is_empty()) {
        (_, true) => description.to_owned(),
        (true, false) => format!("[palisade: {}]", notes.join("; ")),
        (false, false) => format!("{description} [palisade: {}]", notes.join("; ")),
    }
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
    cidr: String,
    action: &'static str,
    priority: i64,
    id: String,
}

impl From<Shown> for RuleView {
    fn from(s: Shown) -> Self {
        RuleView {
            from_port: s.from_port,
            to_port: s.to_port,
            protocol: s.protocol,
            cidr: s.cidr,
            action: s.action,
            priority: s.priority,
            id: s.id,
        }
    }
}
