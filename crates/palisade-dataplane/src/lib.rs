//! The nftables compiler: one server's effective policy (as the native API's
//! `GET …/servers/{id}/policy` answers it) → one `inet palisade` table, as `nft -f` text.
//!
//! Pure: text in memory, no I/O, so the agent applies what the tests compared. The table means
//! what `docs/policy-semantics.md` says, for the flows that reach this host:
//!
//! - **Stateful.** `ct state established,related accept` first, `ct state invalid drop`: only a
//!   flow's first packet meets the rules.
//! - **Per interface.** The `input` chain dispatches a packet by its destination address, the
//!   `output` chain by its source, through verdict maps (`ifaces_in4`, `ifaces_out6`, …) to the
//!   interface's own chains: as many addresses as the server has, one lookup, no longer chain.
//!   An ungoverned interface has no chain: its packets fall through to `policy accept`.
//! - **Rules in evaluation order**, the first match decides; the chain ends in the direction's
//!   default (`accept` when a group allows all of it, else `drop`).
//! - **Remotes as named interval sets**, IPv4 and IPv6 apart (`set_<name>_4`, `set_<name>_6`), so
//!   the number of remote addresses never lengthens a chain; a rule is one nft rule per family
//!   its set (and its group's address family) has addresses of, and none if it has none.
//! - **Reject** is `reject with tcp reset` for TCP and `reject with icmpx type admin-prohibited`
//!   for the rest.
//!
//! Addresses of the other end are matched as the rule's direction says: the source on ingress,
//! the destination on egress. Ports are destination ports in both directions.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Deserialize;

/// The name of the table Palisade owns; nothing else on the host is touched.
pub const TABLE: &str = "palisade";

/// A server's effective policy, as the native API answers it (fields it has that the compiler
/// does not need are ignored).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EffectivePolicy {
    pub revision: u64,
    pub server_id: String,
    pub interfaces: Vec<Interface>,
    /// Address sets by name, as CIDRs.
    pub sets: BTreeMap<String, Vec<IpNet>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Interface {
    pub interface_id: String,
    pub addresses: Vec<IpAddr>,
    pub governed: bool,
    pub ingress: Vec<Rule>,
    pub egress: Vec<Rule>,
    pub defaults: Defaults,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Defaults {
    pub ingress: Verdict,
    pub egress: Verdict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Allow,
    Deny,
    Reject,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Rule {
    pub rule_id: String,
    pub action: Verdict,
    /// `any`, `tcp`, `udp`, `icmp`, `icmpv6` or a protocol number.
    pub protocol: String,
    pub ports: Vec<PortRange>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    /// The one address family the rule's group restricts it to (4 or 6), if any.
    #[serde(default)]
    pub ip_version: Option<u8>,
    pub remote_set: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct PortRange {
    pub from: u16,
    pub to: u16,
}

/// Why a policy cannot be compiled (the control plane sent something the compiler does not
/// know: a newer protocol name, a set it did not send).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompileError {
    UnknownProtocol { rule_id: String, protocol: String },
    UnknownSet { rule_id: String, set: String },
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownProtocol { rule_id, protocol } => {
                write!(f, "rule {rule_id}: unknown protocol {protocol}")
            }
            Self::UnknownSet { rule_id, set } => write!(f, "rule {rule_id}: no set named {set}"),
        }
    }
}

impl std::error::Error for CompileError {}

/// The whole `nft -f` script: it deletes Palisade's table if present and creates it anew, in
/// one transaction (`nft -f` applies a file atomically), so an apply replaces exactly that table.
pub fn script(policy: &EffectivePolicy) -> Result<String, CompileError> {
    let table = table(policy)?;
    Ok(format!("table inet {TABLE}\ndelete table inet {TABLE}\n{table}"))
}

/// The table alone, as `nft list table inet palisade` would show its content.
pub fn table(policy: &EffectivePolicy) -> Result<String, CompileError> {
    let mut out = String::new();
    let _ = writeln!(out, "table inet {TABLE} {{");
    // The sets rules use, each family apart; a family without addresses has no set.
    let mut used: Vec<&str> = Vec::new();
    for interface in policy.interfaces.iter().filter(|i| i.governed) {
        for rule in interface.ingress.iter().chain(&interface.egress) {
            if !policy.sets.contains_key(&rule.remote_set) {
                return Err(CompileError::UnknownSet {
                    rule_id: rule.rule_id.clone(),
                    set: rule.remote_set.clone(),
                });
            }
            if !used.contains(&rule.remote_set.as_str()) {
                used.push(&rule.remote_set);
            }
        }
    }
    used.sort_unstable();
    for name in &used {
        let nets = &policy.sets[*name];
        for (v6, kind) in [(false, "ipv4_addr"), (true, "ipv6_addr")] {
            let elements: Vec<String> = nets.iter().filter(|n| is_v6(n) == v6).map(element).collect();
            if !elements.is_empty() {
                let _ = writeln!(
                    out,
                    "  set {} {{\n    type {kind}\n    flags interval\n    elements = {{ {} }}\n  }}",
                    set_name(name, v6),
                    elements.join(", ")
                );
            }
        }
    }
    // Dispatch maps: an interface's addresses to its chains.
    let governed: Vec<(usize, &Interface)> =
        policy.interfaces.iter().enumerate().filter(|(_, i)| i.governed).collect();
    // An address two interfaces hold is the first one's, as the evaluator has it.
    let mut owners: Vec<(IpAddr, usize)> = Vec::new();
    for (n, interface) in &governed {
        for address in &interface.addresses {
            if !owners.iter().any(|(a, _)| a == address) {
                owners.push((*address, *n));
            }
        }
    }
    for way in ["in", "out"] {
        for (v6, kind) in [(false, "ipv4_addr"), (true, "ipv6_addr")] {
            let elements: Vec<String> = owners
                .iter()
                .filter(|(a, _)| a.is_ipv6() == v6)
                .map(|(a, n)| format!("{a} : jump if{n}_{way}"))
                .collect();
            if !elements.is_empty() {
                let _ = writeln!(
                    out,
                    "  map ifaces_{way}{} {{\n    type {kind} : verdict\n    elements = {{ {} }}\n  }}",
                    if v6 { 6 } else { 4 },
                    elements.join(", ")
                );
            }
        }
    }
    for (n, interface) in &governed {
        for (way, rules, default, side) in [
            ("in", &interface.ingress, interface.defaults.ingress, "saddr"),
            ("out", &interface.egress, interface.defaults.egress, "daddr"),
        ] {
            let _ = writeln!(out, "  chain if{n}_{way} {{");
            for rule in rules.iter() {
                for line in rule_lines(policy, rule, side)? {
                    let _ = writeln!(out, "    {line}");
                }
            }
            let _ = writeln!(out, "    {}", verdict_text(default, None).join(" "));
            let _ = writeln!(out, "  }}");
        }
    }
    for (chain, hook, side, way) in [("input", "input", "daddr", "in"), ("output", "output", "saddr", "out")]
    {
        let _ = writeln!(out, "  chain {chain} {{");
        let _ = writeln!(out, "    type filter hook {hook} priority filter; policy accept;");
        let _ = writeln!(out, "    ct state established,related accept");
        let _ = writeln!(out, "    ct state invalid drop");
        for (v6, family) in [(false, "ip"), (true, "ip6")] {
            let any = governed.iter().any(|(_, i)| i.addresses.iter().any(|a| a.is_ipv6() == v6));
            if any {
                let _ = writeln!(out, "    {family} {side} vmap @ifaces_{way}{}", if v6 { 6 } else { 4 });
            }
        }
        let _ = writeln!(out, "  }}");
    }
    let _ = writeln!(out, "}}");
    Ok(out)
}

fn is_v6(net: &IpNet) -> bool {
    matches!(net, IpNet::V6(_))
}

/// A set element: a host route as its address, a network as CIDR.
fn element(net: &IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.trunc().to_string()
    }
}

/// `set_<name>_4`: nft names are letters, digits and `_` (the API's set names are already so).
fn set_name(name: &str, v6: bool) -> String {
    let clean: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    format!("{clean}_{}", if v6 { 6 } else { 4 })
}

/// The statements of a verdict: a reject answers TCP with a reset when `tcp` says the match is
/// TCP only; otherwise with ICMP admin-prohibited (the caller adds the TCP line first).
fn verdict_text(verdict: Verdict, reject_tcp: Option<bool>) -> Vec<&'static str> {
    match (verdict, reject_tcp) {
        (Verdict::Allow, _) => vec!["accept"],
        (Verdict::Deny, _) => vec!["drop"],
        (Verdict::Reject, Some(true)) => vec!["reject with tcp reset"],
        (Verdict::Reject, _) => vec!["reject with icmpx type admin-prohibited"],
    }
}

/// The protocol and port or ICMP match of a rule: `None` when the rule matches every protocol.
fn protocol_match(rule: &Rule) -> Result<(Option<String>, bool), CompileError> {
    let ports = if rule.ports.is_empty() {
        String::new()
    } else {
        let ranges: Vec<String> = rule
            .ports
            .iter()
            .map(|p| if p.from == p.to { p.from.to_string() } else { format!("{}-{}", p.from, p.to) })
            .collect();
        format!(" th dport {{ {} }}", ranges.join(", "))
    };
    let icmp = |family: &str| {
        let mut text = String::new();
        if let Some(t) = rule.icmp_type {
            let _ = write!(text, " {family} type {t}");
            if let Some(c) = rule.icmp_code {
                let _ = write!(text, " {family} code {c}");
            }
        }
        text
    };
    let tcp_only = matches!(rule.protocol.as_str(), "tcp" | "6");
    let text = match rule.protocol.as_str() {
        "any" if rule.ports.is_empty() => None,
        "any" => Some(format!("meta l4proto {{ tcp, udp }}{ports}")),
        "tcp" | "6" => Some(format!("meta l4proto tcp{ports}")),
        "udp" | "17" => Some(format!("meta l4proto udp{ports}")),
        "icmp" => Some(format!("meta l4proto icmp{}", icmp("icmp"))),
        "icmpv6" => Some(format!("meta l4proto ipv6-icmp{}", icmp("icmpv6"))),
        number => match number.parse::<u8>() {
            Ok(n) => Some(format!("meta l4proto {n}")),
            Err(_) => {
                return Err(CompileError::UnknownProtocol {
                    rule_id: rule.rule_id.clone(),
                    protocol: rule.protocol.clone(),
                })
            }
        },
    };
    Ok((text, tcp_only))
}

/// The nft rules of one canonical rule: one per address family its remote (within its group's
/// family) holds addresses of; a reject that may meet TCP first answers TCP with a reset.
fn rule_lines(policy: &EffectivePolicy, rule: &Rule, side: &str) -> Result<Vec<String>, CompileError> {
    let nets = policy.sets.get(&rule.remote_set).ok_or_else(|| CompileError::UnknownSet {
        rule_id: rule.rule_id.clone(),
        set: rule.remote_set.clone(),
    })?;
    let (protocol, tcp_only) = protocol_match(rule)?;
    let mut lines = Vec::new();
    for (v6, family) in [(false, "ip"), (true, "ip6")] {
        // ICMP is IPv4's and ICMPv6 IPv6's: the other family's part could match nothing.
        let protocol_family = match rule.protocol.as_str() {
            "icmp" | "1" => Some(4),
            "icmpv6" | "58" => Some(6),
            _ => None,
        };
        let wanted = rule.ip_version.or(protocol_family).is_none_or(|v| (v == 6) == v6);
        if !wanted || !nets.iter().any(|n| is_v6(n) == v6) {
            continue;
        }
        let mut matches = format!("{family} {side} @{}", set_name(&rule.remote_set, v6));
        if let Some(protocol) = &protocol {
            let _ = write!(matches, " {protocol}");
        }
        let comment = format!("comment \"rule {}\"", rule.rule_id);
        if rule.action == Verdict::Reject
            && !tcp_only
            && rule.protocol != "udp"
            && !rule.protocol.starts_with("icmp")
        {
            // The match may meet TCP: reset TCP, ICMP-refuse the rest.
            lines.push(format!("{matches} meta l4proto tcp reject with tcp reset {comment}"));
        }
        let verdict = verdict_text(rule.action, Some(tcp_only)).join(" ");
        lines.push(format!("{matches} {verdict} {comment}"));
    }
    Ok(lines)
}
