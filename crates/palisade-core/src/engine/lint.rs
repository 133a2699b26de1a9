//! Policy lint: what in an organization's policy is probably wrong, read off the compiled policy
//! so that a finding means what the evaluator would do, not what the rules look like.
//!
//! Each finding names its kind, a severity and the objects concerned:
//!
//! - `world_open_admin_port` (error): an inbound allow rule, or a group allowing all inbound,
//!   that opens an administrative port (SSH, RDP, MySQL, PostgreSQL, Redis, MongoDB,
//!   Elasticsearch) to every address of a family;
//! - `shadowed_rule` (warning): a rule that can never decide anything, because on every
//!   interface it applies to (or, for a group applied nowhere, in its own group) an earlier rule
//!   in evaluation order matches every flow it matches;
//! - `duplicate_rule` (warning): a rule written exactly like an earlier one of its group;
//! - `dangling_reference` (warning): a remote or member naming a server, group, role, server
//!   group, tag or address list that no longer exists (it matches nothing);
//! - `rule_admits_nothing` (warning): a rule whose remotes name no address (none written, all
//!   dangling or empty, or only addresses of the other family than its group's);
//! - `unapplied_group` (info): an enabled group or role that applies to no server;
//! - `ungoverned_server` (info): a server that no enabled group governs, so unfiltered.
//!
//! Shadowing is checked per distinct rule list (interfaces governed by the same groups share
//! one), so the cost grows with the variety of policies, not the number of servers.

use std::collections::{HashMap, HashSet};

use super::{CatalogRule, CompiledPolicy, CompiledRule, IpSet};
use crate::id::{RuleId, SecurityGroupId, ServerId};
use crate::policy::{Action, Direction, IcmpMatch, Member, PortRange, Protocol, Remote};
use crate::snapshot::PolicySnapshot;

/// Administrative ports that must not be open to the whole internet, with their service.
pub const ADMIN_PORTS: &[(u16, &str)] = &[
    (22, "SSH"),
    (3389, "RDP"),
    (3306, "MySQL"),
    (5432, "PostgreSQL"),
    (6379, "Redis"),
    (27017, "MongoDB"),
    (9200, "Elasticsearch"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FindingKind {
    WorldOpenAdminPort,
    ShadowedRule,
    DuplicateRule,
    DanglingReference,
    RuleAdmitsNothing,
    UnappliedGroup,
    UngovernedServer,
}

impl FindingKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::WorldOpenAdminPort => "world_open_admin_port",
            Self::ShadowedRule => "shadowed_rule",
            Self::DuplicateRule => "duplicate_rule",
            Self::DanglingReference => "dangling_reference",
            Self::RuleAdmitsNothing => "rule_admits_nothing",
            Self::UnappliedGroup => "unapplied_group",
            Self::UngovernedServer => "ungoverned_server",
        }
    }

    pub const fn severity(self) -> Severity {
        match self {
            Self::WorldOpenAdminPort => Severity::Error,
            Self::ShadowedRule | Self::DuplicateRule | Self::DanglingReference | Self::RuleAdmitsNothing => {
                Severity::Warning
            }
            Self::UnappliedGroup | Self::UngovernedServer => Severity::Info,
        }
    }
}

/// One thing lint found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub kind: FindingKind,
    pub group: Option<SecurityGroupId>,
    pub rule: Option<RuleId>,
    pub server: Option<ServerId>,
    pub message: String,
}

impl Finding {
    pub fn severity(&self) -> Severity {
        self.kind.severity()
    }
}

/// Every finding of the organization's policy: by kind (the most severe first), then in the
/// snapshot's order.
pub fn lint(snapshot: &PolicySnapshot, compiled: &CompiledPolicy) -> Vec<Finding> {
    let names = Names::of(snapshot);
    let mut findings = Vec::new();
    world_open(snapshot, compiled, &names, &mut findings);
    shadowed(snapshot, compiled, &names, &mut findings);
    duplicates(snapshot, &names, &mut findings);
    dangling(snapshot, &names, &mut findings);
    admits_nothing(snapshot, compiled, &names, &mut findings);
    for group in snapshot.groups.iter().filter(|g| g.group.enabled) {
        if compiled.applied(group.group.id).is_empty() {
            findings.push(Finding {
                kind: FindingKind::UnappliedGroup,
                group: Some(group.group.id),
                rule: None,
                server: None,
                message: format!(
                    "{} applies to no server: its rules decide nothing.",
                    names.group(group.group.id)
                ),
            });
        }
    }
    for server in &snapshot.servers {
        let governed = server.interfaces.iter().any(|i| compiled.interface(i.id).is_some_and(|p| p.governed));
        if !server.interfaces.is_empty() && !governed {
            findings.push(Finding {
                kind: FindingKind::UngovernedServer,
                group: None,
                rule: None,
                server: Some(server.id),
                message: format!(
                    "Server '{}' is in no enabled group or role, so all its traffic is allowed in both directions.",
                    server.name
                ),
            });
        }
    }
    findings.sort_by_key(|f| f.kind);
    findings
}

/// Names for messages.
struct Names<'a> {
    groups: HashMap<SecurityGroupId, (&'a str, bool)>,
}

impl<'a> Names<'a> {
    fn of(snapshot: &'a PolicySnapshot) -> Self {
        let groups = snapshot
            .groups
            .iter()
            .map(|g| (g.group.id, (g.group.name.as_str(), g.group.kind == crate::policy::GroupKind::Role)))
            .collect();
        Self { groups }
    }

    /// `group 'web'` or `role 'db'`.
    fn group(&self, id: SecurityGroupId) -> String {
        match self.groups.get(&id) {
            Some((name, true)) => format!("Role '{name}'"),
            Some((name, false)) => format!("Group '{name}'"),
            None => format!("Group {id}"),
        }
    }

    /// `Rule 1234… of group 'web'`.
    fn rule(&self, group: SecurityGroupId, rule: RuleId) -> String {
        format!("Rule {rule} of {}", lowercase_first(&self.group(group)))
    }
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_lowercase().chain(chars).collect()).unwrap_or_default()
}

fn is_tcp(protocol: Protocol) -> bool {
    matches!(protocol, Protocol::Tcp | Protocol::Any | Protocol::Number(6))
}

fn holds_port(ports: &[PortRange], port: u16) -> bool {
    ports.is_empty() || ports.iter().any(|r| r.from <= port && port <= r.to)
}

/// The family a rule's group restricts it to narrows its remote: the addresses it can admit.
pub(super) fn admitted(entry: &CatalogRule) -> std::borrow::Cow<'_, IpSet> {
    let set = entry.rule.remote.as_ref();
    match entry.key.family {
        4 if set.families().1 => std::borrow::Cow::Owned(set.clone().only(false)),
        6 if set.families().0 => std::borrow::Cow::Owned(set.clone().only(true)),
        _ => std::borrow::Cow::Borrowed(set),
    }
}

fn world_open(snapshot: &PolicySnapshot, compiled: &CompiledPolicy, names: &Names, out: &mut Vec<Finding>) {
    let services = |ports: &[PortRange]| -> Vec<String> {
        ADMIN_PORTS.iter().filter(|(p, _)| holds_port(ports, *p)).map(|(p, s)| format!("{p} ({s})")).collect()
    };
    for group in &snapshot.groups {
        let id = group.group.id;
        if group.group.allow_all_inbound && group.group.enabled && !compiled.applied(id).is_empty() {
            out.push(Finding {
                kind: FindingKind::WorldOpenAdminPort,
                group: Some(id),
                rule: None,
                server: None,
                message: format!(
                    "{} allows all inbound traffic, so administrative ports such as {} are open to the internet on its servers.",
                    names.group(id),
                    services(&[]).join(", ")
                ),
            });
        }
        for rule in group.rules.iter() {
            let Some(entry) = compiled.rule(rule.id) else { continue };
            if rule.direction != Direction::Inbound || rule.action != Action::Allow || !is_tcp(rule.protocol)
            {
                continue;
            }
            let remote = admitted(entry);
            let open = [(false, "all IPv4 addresses"), (true, "all IPv6 addresses")]
                .into_iter()
                .filter(|(v6, _)| remote.holds_all(*v6))
                .map(|(_, what)| what)
                .collect::<Vec<_>>();
            let ports = services(&rule.ports);
            if open.is_empty() || ports.is_empty() {
                continue;
            }
            out.push(Finding {
                kind: FindingKind::WorldOpenAdminPort,
                group: Some(id),
                rule: Some(rule.id),
                server: None,
                message: format!(
                    "{} opens administrative port {} to {}.",
                    names.rule(id, rule.id),
                    ports.join(", "),
                    open.join(" and ")
                ),
            });
        }
    }
}

/// What one rule matches, reduced to what coverage compares: per kind of flow, the ports or
/// ICMP messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Matches<'a> {
    /// Every flow of every protocol (`any` without ports).
    Everything,
    /// TCP and/or UDP on these ports (empty: all).
    Ported { tcp: bool, udp: bool, ports: &'a [PortRange] },
    /// ICMP (v6 when `v6`) messages (`None`: all).
    Icmp { v6: bool, messages: Option<IcmpMatch> },
    /// Another IP protocol, by number.
    Number(u8),
}

fn matches_of(rule: &CompiledRule) -> Matches<'_> {
    let ports = rule.ports();
    match rule.protocol() {
        Protocol::Any if ports.is_empty() => Matches::Everything,
        Protocol::Any => Matches::Ported { tcp: true, udp: true, ports },
        Protocol::Tcp | Protocol::Number(6) => Matches::Ported { tcp: true, udp: false, ports },
        Protocol::Udp | Protocol::Number(17) => Matches::Ported { tcp: false, udp: true, ports },
        Protocol::Icmp => Matches::Icmp { v6: false, messages: rule.icmp() },
        Protocol::Icmpv6 => Matches::Icmp { v6: true, messages: rule.icmp() },
        Protocol::Number(1) => Matches::Icmp { v6: false, messages: None },
        Protocol::Number(58) => Matches::Icmp { v6: true, messages: None },
        Protocol::Number(n) => Matches::Number(n),
    }
}

fn ports_cover(outer: &[PortRange], inner: &[PortRange]) -> bool {
    if outer.is_empty() {
        return true;
    }
    if inner.is_empty() {
        return false;
    }
    // Each inner range lies within the union of the outer ranges.
    inner.iter().all(|r| {
        let mut sorted: Vec<&PortRange> = outer.iter().collect();
        sorted.sort_by_key(|o| o.from);
        let mut next = u32::from(r.from);
        for o in sorted {
            if u32::from(o.from) <= next && next <= u32::from(o.to) {
                next = u32::from(o.to) + 1;
            }
            if next > u32::from(r.to) {
                return true;
            }
        }
        false
    })
}

/// Whether `earlier` matches every flow `later` (which admits `remote`) matches.
pub(super) fn covers(earlier: &CatalogRule, later: &CatalogRule, remote: &IpSet) -> bool {
    // The key's protocols, family and port span turn most pairs away at once.
    let (e, l) = (&earlier.key, &later.key);
    if earlier.direction != later.direction
        || e.protocols & l.protocols != l.protocols
        || (e.ported && (!l.ported || e.span.0 > l.span.0 || e.span.1 < l.span.1))
    {
        return false;
    }
    let family_ok = match (e.family, l.family) {
        (0, _) => true,
        (a, b) if a == b => true,
        (a, _) => {
            let (v4, v6) = remote.families();
            (a == 4 && !v6) || (a == 6 && !v4)
        }
    };
    let protocols_ok = match (matches_of(&earlier.rule), matches_of(&later.rule)) {
        (Matches::Everything, _) => true,
        (_, Matches::Everything) => false,
        (Matches::Ported { tcp, udp, ports }, Matches::Ported { tcp: t, udp: u, ports: p }) => {
            (tcp || !t) && (udp || !u) && ports_cover(ports, p)
        }
        (Matches::Icmp { v6, messages }, Matches::Icmp { v6: w, messages: m }) => {
            v6 == w
                && match (messages, m) {
                    (None, _) => true,
                    (Some(_), None) => false,
                    (Some(a), Some(b)) => {
                        a.icmp_type == b.icmp_type && a.code.is_none_or(|c| b.code == Some(c))
                    }
                }
        }
        (Matches::Number(a), Matches::Number(b)) => a == b,
        _ => false,
    };
    family_ok && protocols_ok && earlier.rule.remote.is_superset_of(remote)
}

/// Rules shadowed on every interface they apply to. For each rule, the interfaces' lists are
/// walked up to the rule's own place, and a covering rule found on one interface is tried first
/// on the next (a binary search in its list): a rule no earlier rule covers on its first
/// interface costs one partial walk of one list, a rule covered everywhere by the same rule one
/// walk and a search per interface.
fn shadowed(snapshot: &PolicySnapshot, compiled: &CompiledPolicy, names: &Names, out: &mut Vec<Finding>) {
    let duplicates = duplicate_pairs(snapshot);
    // The rules of each group, in evaluation order: where a group applied nowhere is read.
    let mut own: HashMap<SecurityGroupId, Vec<u32>> = HashMap::new();
    for (rank, entry) in compiled.catalog.iter().enumerate() {
        own.entry(entry.rule.group).or_default().push(u32::try_from(rank).unwrap_or(u32::MAX));
    }
    for (rank, later) in compiled.catalog.iter().enumerate() {
        let id = later.rule.rule;
        let remote = admitted(later);
        if remote.is_empty() || duplicates.contains_key(&id) {
            continue;
        }
        let rank = u32::try_from(rank).unwrap_or(u32::MAX);
        // The first rule before `later` in `ranks` (a list in evaluation order) that covers it.
        let covering_in = |ranks: &[u32]| -> Option<u32> {
            let earlier = &ranks[..ranks.partition_point(|r| *r < rank)];
            earlier
                .iter()
                .copied()
                .find(|r| compiled.catalog.get(*r as usize).is_some_and(|e| covers(e, later, &remote)))
        };
        let group = later.rule.group;
        let applied = compiled.applied(group);
        let by = if applied.is_empty() {
            own.get(&group).and_then(|ranks| covering_in(ranks))
        } else {
            let mut found: Vec<u32> = Vec::new();
            let mut first = None;
            for interface in applied {
                let Some(policy) = compiled.interface(*interface) else { continue };
                let list = match later.direction {
                    Direction::Inbound => &policy.ingress,
                    Direction::Outbound => &policy.egress,
                };
                let hit = found.iter().copied().find(|r| list.ranks.binary_search(r).is_ok()).or_else(|| {
                    let r = covering_in(&list.ranks)?;
                    found.push(r);
                    Some(r)
                });
                match hit {
                    Some(r) => {
                        first.get_or_insert(r);
                    }
                    None => {
                        first = None;
                        break;
                    }
                }
            }
            first
        };
        let Some(by) = by.and_then(|r| compiled.catalog.get(r as usize)) else { continue };
        out.push(Finding {
            kind: FindingKind::ShadowedRule,
            group: Some(group),
            rule: Some(id),
            server: None,
            message: format!(
                "{} never decides anything: {} comes first in evaluation order and matches every flow it matches.",
                names.rule(group, id),
                lowercase_first(&names.rule(by.rule.group, by.rule.rule))
            ),
        });
    }
}

/// Each rule written exactly like an earlier rule of its group, to that earlier rule.
fn duplicate_pairs(snapshot: &PolicySnapshot) -> HashMap<RuleId, RuleId> {
    let mut pairs = HashMap::new();
    for group in &snapshot.groups {
        let mut firsts: Vec<(String, RuleId)> = Vec::new();
        for rule in group.rules.iter() {
            let mut remotes: Vec<String> = rule.remotes.iter().map(|r| format!("{r:?}")).collect();
            remotes.sort();
            remotes.dedup();
            let shape = format!(
                "{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{remotes:?}",
                rule.direction, rule.action, rule.protocol, rule.ports, rule.icmp, rule.priority
            );
            match firsts.iter().find(|(s, _)| *s == shape) {
                Some((_, first)) => {
                    pairs.insert(rule.id, *first);
                }
                None => firsts.push((shape, rule.id)),
            }
        }
    }
    pairs
}

fn duplicates(snapshot: &PolicySnapshot, names: &Names, out: &mut Vec<Finding>) {
    let pairs = duplicate_pairs(snapshot);
    for group in &snapshot.groups {
        for rule in group.rules.iter() {
            let Some(first) = pairs.get(&rule.id) else { continue };
            out.push(Finding {
                kind: FindingKind::DuplicateRule,
                group: Some(group.group.id),
                rule: Some(rule.id),
                server: None,
                message: format!(
                    "{} is written exactly like rule {first} of the same group.",
                    names.rule(group.group.id, rule.id)
                ),
            });
        }
    }
}

/// What a reference names, if it no longer exists: `server 1234…`.
fn missing(snapshot: &PolicySnapshot, groups: &HashSet<SecurityGroupId>, remote: &Remote) -> Option<String> {
    match remote {
        Remote::Server(id) if snapshot.server(*id).is_none() => Some(format!("server {id}")),
        Remote::Group(id) if !groups.contains(id) => Some(format!("group {id}")),
        Remote::ServerGroup(id) if !snapshot.server_groups.iter().any(|g| g.id == *id) => {
            Some(format!("server group {id}"))
        }
        Remote::Tag(id) if !snapshot.tags.iter().any(|t| t.id == *id) => Some(format!("tag {id}")),
        Remote::AddressList(id)
            if !snapshot.address_lists.iter().chain(&snapshot.global_address_lists).any(|l| l.id == *id) =>
        {
            Some(format!("address list {id}"))
        }
        Remote::Hosts { role: Some(id), .. } if !groups.contains(id) => Some(format!("role {id}")),
        _ => None,
    }
}

fn dangling(snapshot: &PolicySnapshot, names: &Names, out: &mut Vec<Finding>) {
    let groups: HashSet<SecurityGroupId> = snapshot.groups.iter().map(|g| g.group.id).collect();
    for group in &snapshot.groups {
        let id = group.group.id;
        for member in &group.group.members {
            let remote = match member {
                Member::Server(s) => Remote::Server(*s),
                Member::ServerGroup(g) => Remote::ServerGroup(*g),
                Member::Tag(t) => Remote::Tag(*t),
                Member::Network(_) | Member::Interface(_) => continue,
            };
            if let Some(what) = missing(snapshot, &groups, &remote) {
                out.push(Finding {
                    kind: FindingKind::DanglingReference,
                    group: Some(id),
                    rule: None,
                    server: None,
                    message: format!(
                        "{} has a member naming {what}, which no longer exists.",
                        names.group(id)
                    ),
                });
            }
        }
        for rule in group.rules.iter() {
            for what in rule.remotes.iter().filter_map(|r| missing(snapshot, &groups, r)) {
                out.push(Finding {
                    kind: FindingKind::DanglingReference,
                    group: Some(id),
                    rule: Some(rule.id),
                    server: None,
                    message: format!(
                        "{} refers to {what}, which no longer exists; that reference matches nothing.",
                        names.rule(id, rule.id)
                    ),
                });
            }
        }
    }
}

fn admits_nothing(
    snapshot: &PolicySnapshot,
    compiled: &CompiledPolicy,
    names: &Names,
    out: &mut Vec<Finding>,
) {
    for group in &snapshot.groups {
        for rule in group.rules.iter() {
            let Some(entry) = compiled.rule(rule.id) else { continue };
            if !admitted(entry).is_empty() {
                continue;
            }
            let why = if rule.remotes.is_empty() {
                "it has no remote"
            } else if !entry.rule.remote.is_empty() {
                "its remotes hold only addresses of the other family than its group's"
            } else {
                "its remotes name no address today"
            };
            out.push(Finding {
                kind: FindingKind::RuleAdmitsNothing,
                group: Some(group.group.id),
                rule: Some(rule.id),
                server: None,
                message: format!("{} admits nothing: {why}.", names.rule(group.group.id, rule.id)),
            });
        }
    }
}
