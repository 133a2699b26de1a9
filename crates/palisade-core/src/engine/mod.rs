//! The policy evaluator: what a [`PolicySnapshot`] means for one flow, as a pure function.
//!
//! [`CompiledPolicy::compile`] turns a snapshot into an index once: address → interface, and per
//! interface and direction the rules that apply to it in evaluation order, each rule's remote a
//! shared [`IpSet`]. [`CompiledPolicy::check`] then decides a [`Flow`] by walking two short lists.
//! The meaning is the one `docs/policy-semantics.md` writes down:
//!
//! - a flow crosses the source interface's egress and the destination interface's ingress; an
//!   address no server of the organization holds has no policy of its own (that side is absent);
//! - an interface that no enabled group applies to is unfiltered (allowed, decided by nothing);
//! - a governed interface: the rules of the direction from every enabled group applying to it,
//!   lower priority first, rules without priority after all numbered ones; within one tier deny
//!   and reject before allow, then creation order; the first rule that matches decides. No
//!   match: allowed if an applying group allows that whole direction, else denied;
//! - a group applies to an interface through its server (and so a host's role), a tag the
//!   server carries, the server group the server is in, or the interface itself (a network
//!   member, ZStack's attached L3, only admits the network's NICs to the group);
//! - a rule matches when the protocol, the destination port (or ICMP type and code) and the
//!   remote match, and the flow's family is the group's, if the group has one. A remote is the
//!   addresses it names now; a reference to something that no longer exists, a disabled group's
//!   members, and a rule without remotes match nothing.

mod ipset;
pub mod lint;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

pub use ipset::IpSet;

use crate::id::{InterfaceId, RuleId, SecurityGroupId, ServerGroupId, ServerId};
use crate::policy::{Action, Direction, IcmpMatch, IpVersion, Member, PortRange, Protocol, Remote, Rule};
use crate::snapshot::{GroupPolicy, PolicySnapshot};

/// An IP protocol of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowProtocol {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    /// Another IP protocol, by number.
    Other(u8),
}

impl FlowProtocol {
    /// The protocol by number (6 is TCP, 17 UDP, 1 ICMP, 58 ICMPv6).
    pub fn from_number(n: u8) -> Self {
        match n {
            6 => Self::Tcp,
            17 => Self::Udp,
            1 => Self::Icmp,
            58 => Self::Icmpv6,
            other => Self::Other(other),
        }
    }
}

/// A packet's flow: its first packet decides it (replies of an allowed flow pass).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow {
    pub source: IpAddr,
    pub destination: IpAddr,
    pub protocol: FlowProtocol,
    /// The destination port (TCP, UDP).
    pub port: Option<u16>,
    /// ICMP type and code.
    pub icmp: Option<(u8, u8)>,
}

/// What is done with a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    Allow,
    Deny,
    Reject,
}

/// What decided one side of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// No enabled group applies to the interface: unfiltered.
    Ungoverned,
    /// This rule matched first.
    Rule { group: SecurityGroupId, rule: RuleId },
    /// No rule matched, and this group allows the whole direction (or, outbound, what no rule
    /// matches).
    AllowAll { group: SecurityGroupId },
    /// No rule matched and no applying group allows the whole direction.
    NoMatch,
}

/// The verdict of one side of a flow (the source's egress or the destination's ingress).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SideVerdict {
    pub server: ServerId,
    pub interface: InterfaceId,
    pub verdict: Verdict,
    pub decided_by: Decision,
}

/// The verdict of a flow: each side it crosses, and the overall one (the first side, in the
/// flow's path, that does not allow it; else allowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowVerdict {
    pub verdict: Verdict,
    pub egress: Option<SideVerdict>,
    pub ingress: Option<SideVerdict>,
}

/// One rule as evaluated.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub group: SecurityGroupId,
    pub rule: RuleId,
    pub action: Action,
    protocol: Protocol,
    /// Shared, so that a rule applied to many interfaces is copied cheaply (an interface's
    /// rules are kept inline, in order, for a scan that stays in cache).
    ports: Arc<[PortRange]>,
    icmp: Option<IcmpMatch>,
    /// The addresses the rule's remotes name, resolved when the policy was compiled.
    pub remote: Arc<IpSet>,
}

impl CompiledRule {
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The destination port ranges (empty: every port, or the protocol has none).
    pub fn ports(&self) -> &[PortRange] {
        &self.ports
    }

    pub fn icmp(&self) -> Option<IcmpMatch> {
        self.icmp
    }

    /// Whether the rule matches, once its [`Key`] admitted the flow (the family and the port
    /// span are the key's to check).
    fn matches(&self, flow: &Flow, remote: IpAddr) -> bool {
        protocol_matches(self.protocol, &self.ports, self.icmp, flow) && self.remote.contains(remote)
    }
}

fn is_v4(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(_) => true,
        IpAddr::V6(a) => a.to_ipv4_mapped().is_some(),
    }
}

/// Whether a rule's protocol, ports and ICMP type admit the flow (`any` with ports means TCP and
/// UDP on those ports).
fn protocol_matches(protocol: Protocol, ports: &[PortRange], icmp: Option<IcmpMatch>, flow: &Flow) -> bool {
    let port_ok =
        || ports.is_empty() || flow.port.is_some_and(|p| ports.iter().any(|r| r.from <= p && p <= r.to));
    let icmp_ok = || {
        icmp.is_none_or(|m| {
            flow.icmp.is_some_and(|(t, c)| t == m.icmp_type && m.code.is_none_or(|mc| mc == c))
        })
    };
    match (protocol, flow.protocol) {
        (Protocol::Any, FlowProtocol::Tcp | FlowProtocol::Udp) => port_ok(),
        (Protocol::Any, _) => ports.is_empty(),
        (Protocol::Tcp, FlowProtocol::Tcp) | (Protocol::Udp, FlowProtocol::Udp) => port_ok(),
        (Protocol::Icmp, FlowProtocol::Icmp) | (Protocol::Icmpv6, FlowProtocol::Icmpv6) => icmp_ok(),
        (Protocol::Number(n), p) => FlowProtocol::from_number(n) == p && (n != 6 && n != 17 || port_ok()),
        _ => false,
    }
}

/// What a flow is, as a bit of [`Key::protocols`].
fn protocol_bit(protocol: FlowProtocol) -> u8 {
    match protocol {
        FlowProtocol::Tcp => 1,
        FlowProtocol::Udp => 2,
        FlowProtocol::Icmp => 4,
        FlowProtocol::Icmpv6 => 8,
        FlowProtocol::Other(_) => 16,
    }
}

/// The few bytes of a rule that turn most flows away, kept apart from the rule so that a scan
/// of an interface's rules reads little memory: the flows' protocols it can match, its family,
/// and the span of its ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    protocols: u8,
    /// 0: both families; 4 or 6.
    family: u8,
    /// Whether `span` applies (TCP and UDP flows, rule with ports).
    ported: bool,
    span: (u16, u16),
}

impl Key {
    /// The key of `rule`, of a group restricted to `family`.
    fn of(rule: &Rule, family: Option<IpVersion>) -> Self {
        let with_ports = !rule.ports.is_empty();
        let protocols = match rule.protocol {
            Protocol::Any if with_ports => 1 | 2,
            Protocol::Any => 31,
            Protocol::Tcp => 1,
            Protocol::Udp => 2,
            Protocol::Icmp => 4,
            Protocol::Icmpv6 => 8,
            Protocol::Number(n) => protocol_bit(FlowProtocol::from_number(n)),
        };
        let span = (
            rule.ports.iter().map(|r| r.from).min().unwrap_or(0),
            rule.ports.iter().map(|r| r.to).max().unwrap_or(u16::MAX),
        );
        Key { protocols, family: family.map_or(0, IpVersion::number), ported: with_ports, span }
    }

    /// Whether the rule may match a flow of this protocol bit, family and port (the rule's own
    /// check decides).
    fn admits(&self, bit: u8, v4: bool, port: Option<u16>) -> bool {
        self.protocols & bit != 0
            && (self.family == 0 || (self.family == 4) == v4)
            && (!self.ported || bit > 2 || port.is_none_or(|p| self.span.0 <= p && p <= self.span.1))
    }
}

/// The rules of one direction of an interface, in evaluation order: their ranks in the compiled
/// policy's catalogue (four bytes each, so that a rule applying to thousands of interfaces costs
/// little; the catalogue holds the rule once).
#[derive(Debug, Clone, Default)]
pub struct RuleList {
    ranks: Vec<u32>,
}

impl RuleList {
    pub fn len(&self) -> usize {
        self.ranks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranks.is_empty()
    }
}

/// One interface's policy: the rules of each direction in evaluation order, and the groups
/// that allow what no rule of a direction matches (a whole direction, or ZStack's unmatched
/// egress).
#[derive(Debug, Clone)]
pub struct InterfacePolicy {
    pub server: ServerId,
    pub governed: bool,
    pub ingress: RuleList,
    pub egress: RuleList,
    pub allow_all_ingress: Option<SecurityGroupId>,
    pub allow_all_egress: Option<SecurityGroupId>,
}

/// A rule of the snapshot as compiled, whether or not its group applies anywhere (lint reads
/// rules that decide nothing yet).
#[derive(Debug, Clone)]
pub struct CatalogRule {
    pub direction: Direction,
    key: Key,
    pub rule: CompiledRule,
    /// Where the rule is written: its group's index in the snapshot and its own in the group.
    pub written: (usize, usize),
}

impl CatalogRule {
    /// The one address family the rule's group restricts it to, if any.
    pub fn family(&self) -> Option<IpVersion> {
        match self.key.family {
            4 => Some(IpVersion::V4),
            6 => Some(IpVersion::V6),
            _ => None,
        }
    }
}

/// A snapshot compiled for evaluation.
#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    pub revision: u64,
    /// Each address of a server's interface, to that interface (the first server in the
    /// snapshot's order holding it, if several do).
    by_address: HashMap<IpAddr, InterfaceId>,
    interfaces: HashMap<InterfaceId, InterfacePolicy>,
    /// The interfaces each group applies to, in the snapshot's order (none: disabled, or its
    /// members name nothing).
    applied: HashMap<SecurityGroupId, Vec<InterfaceId>>,
    /// Every rule once, in evaluation order (the order is a function of the rule alone, so one
    /// interface's rules are the catalogue's restricted to its groups), keys apart so a scan
    /// reads little memory.
    keys: Vec<Key>,
    catalog: Vec<CatalogRule>,
    rank: HashMap<RuleId, u32>,
}

/// Where an interface is: its server and addresses.
struct Place<'a> {
    server: ServerId,
    server_group: Option<ServerGroupId>,
    tags: &'a [String],
    addresses: &'a [IpAddr],
}

/// Evaluation order of the rules of one direction: numbered priorities first (lower first), then
/// the unnumbered tier; within a tier deny and reject before allow; then creation order.
fn order_key(rule: &Rule, position: usize) -> (bool, i32, bool, time::OffsetDateTime, usize) {
    (
        rule.priority.is_none(),
        rule.priority.unwrap_or(0),
        rule.action == Action::Allow,
        rule.created_at,
        position,
    )
}

impl CompiledPolicy {
    pub fn compile(snapshot: &PolicySnapshot) -> Self {
        let places: Vec<(InterfaceId, Place<'_>)> = snapshot
            .servers
            .iter()
            .flat_map(|s| {
                s.interfaces.iter().map(move |i| {
                    let place = Place {
                        server: s.id,
                        server_group: s.server_group,
                        tags: &s.tags,
                        addresses: &i.addresses,
                    };
                    (i.id, place)
                })
            })
            .collect();
        let mut by_address = HashMap::new();
        for (id, place) in &places {
            for address in place.addresses {
                by_address.entry(*address).or_insert(*id);
            }
        }
        let tag_names: HashMap<_, _> = snapshot.tags.iter().map(|t| (t.id, t.name.as_str())).collect();
        // Which interfaces (indices into `places`) each kind of member names.
        let mut by_server: HashMap<ServerId, Vec<usize>> = HashMap::new();
        let mut by_server_group: HashMap<ServerGroupId, Vec<usize>> = HashMap::new();
        let mut by_tag: HashMap<&str, Vec<usize>> = HashMap::new();
        let mut by_interface: HashMap<InterfaceId, usize> = HashMap::new();
        for (i, (id, place)) in places.iter().enumerate() {
            by_server.entry(place.server).or_default().push(i);
            if let Some(group) = place.server_group {
                by_server_group.entry(group).or_default().push(i);
            }
            for tag in place.tags {
                by_tag.entry(tag.as_str()).or_default().push(i);
            }
            by_interface.insert(*id, i);
        }
        // The interfaces each enabled group applies to, in `places` order.
        let applies = |group: &GroupPolicy| -> Vec<usize> {
            if !group.group.enabled {
                return Vec::new();
            }
            let mut found: Vec<usize> = Vec::new();
            for member in &group.group.members {
                let named = match member {
                    Member::Server(s) => by_server.get(s).map(Vec::as_slice),
                    Member::ServerGroup(g) => by_server_group.get(g).map(Vec::as_slice),
                    Member::Tag(t) => tag_names.get(t).and_then(|name| by_tag.get(name)).map(Vec::as_slice),
                    // An attached network (ZStack's L3) only admits its NICs to the group: the
                    // group applies to the NICs added to it, as ZStack's agents enforce it.
                    Member::Network(_) => None,
                    Member::Interface(i) => by_interface.get(i).map(std::slice::from_ref),
                };
                found.extend(named.unwrap_or_default());
            }
            found.sort_unstable();
            found.dedup();
            found
        };
        let members: HashMap<SecurityGroupId, Vec<usize>> =
            snapshot.groups.iter().map(|g| (g.group.id, applies(g))).collect();
        let addresses_of = |at: &[usize], set: &mut IpSet| {
            for place in at.iter().filter_map(|i| places.get(*i)) {
                place.1.addresses.iter().for_each(|a| set.insert_address(*a));
            }
        };
        let mut remotes: HashMap<Remote, Arc<IpSet>> = HashMap::new();
        let mut resolve = |remote: &Remote| -> Arc<IpSet> {
            if let Some(set) = remotes.get(remote) {
                return set.clone();
            }
            let mut set = IpSet::default();
            match remote {
                Remote::AnyIpv4 => set = IpSet::all(false),
                Remote::AnyIpv6 => set = IpSet::all(true),
                Remote::Cidr(_) => {
                    if let Some(net) = remote.network() {
                        set.insert_net(net);
                    }
                }
                Remote::Server(id) => {
                    addresses_of(by_server.get(id).map(Vec::as_slice).unwrap_or_default(), &mut set)
                }
                Remote::Group(id) => {
                    addresses_of(members.get(id).map(Vec::as_slice).unwrap_or_default(), &mut set)
                }
                Remote::ServerGroup(id) => {
                    addresses_of(by_server_group.get(id).map(Vec::as_slice).unwrap_or_default(), &mut set)
                }
                Remote::Tag(id) => {
                    let named = tag_names.get(id).and_then(|name| by_tag.get(name));
                    addresses_of(named.map(Vec::as_slice).unwrap_or_default(), &mut set);
                }
                Remote::AddressList(id) => {
                    let lists = snapshot.address_lists.iter().chain(&snapshot.global_address_lists);
                    for entry in lists.filter(|l| l.id == *id).flat_map(|l| &l.entries) {
                        if let Some(net) = Remote::Cidr(entry.address.clone()).network() {
                            set.insert_net(net);
                        }
                    }
                }
                Remote::Hosts { role, tags } => {
                    for host in &snapshot.hosts {
                        let Some(server) = snapshot.server(host.server_id) else { continue };
                        let role_ok = role.is_none_or(|r| host.role == Some(r));
                        let tags_ok = tags.iter().all(|t| server.tags.contains(t));
                        if role_ok && tags_ok {
                            server
                                .interfaces
                                .iter()
                                .flat_map(|i| &i.addresses)
                                .for_each(|a| set.insert_address(*a));
                        }
                    }
                }
            }
            let set = Arc::new(set.normalized());
            remotes.insert(remote.clone(), set.clone());
            set
        };

        let mut interfaces: HashMap<InterfaceId, InterfacePolicy> = places
            .iter()
            .map(|(id, p)| {
                let policy = InterfacePolicy {
                    server: p.server,
                    governed: false,
                    ingress: RuleList::default(),
                    egress: RuleList::default(),
                    allow_all_ingress: None,
                    allow_all_egress: None,
                };
                (*id, policy)
            })
            .collect();
        // Every rule with its evaluation order and the interfaces it applies to.
        type Ordered = ((bool, i32, bool, time::OffsetDateTime, usize), CatalogRule, usize);
        let mut ordered: Vec<Ordered> = Vec::with_capacity(snapshot.rule_count());
        let mut applied_to: Vec<Vec<InterfaceId>> = Vec::with_capacity(snapshot.groups.len());
        let mut position = 0;
        let mut merged: HashMap<&[Remote], Arc<IpSet>> = HashMap::new();
        for (g, group) in snapshot.groups.iter().enumerate() {
            let applied: Vec<InterfaceId> = members
                .get(&group.group.id)
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(|i| places.get(*i).map(|(id, _)| *id))
                .collect();
            for id in &applied {
                let Some(policy) = interfaces.get_mut(id) else { continue };
                policy.governed = true;
                if group.group.allow_all_inbound {
                    policy.allow_all_ingress.get_or_insert(group.group.id);
                }
                if group.group.allow_all_outbound || group.group.allow_unmatched_outbound {
                    policy.allow_all_egress.get_or_insert(group.group.id);
                }
            }
            for (r, rule) in group.rules.iter().enumerate() {
                position += 1;
                // One remote (the usual case) shares its resolved set; several are merged once
                // per list of remotes, which rules share as often (a tag and `all:ipv6`).
                let remote = match rule.remotes.as_slice() {
                    [one] => resolve(one),
                    many => match merged.get(many) {
                        Some(set) => set.clone(),
                        None => {
                            let mut set = IpSet::default();
                            for remote in many {
                                set.extend(&resolve(remote));
                            }
                            let set = Arc::new(set.normalized());
                            merged.insert(many, set.clone());
                            set
                        }
                    },
                };
                let compiled = CompiledRule {
                    group: group.group.id,
                    rule: rule.id,
                    action: rule.action,
                    protocol: rule.protocol,
                    ports: rule.ports.as_slice().into(),
                    icmp: rule.icmp,
                    remote,
                };
                let key = Key::of(rule, group.group.ip_version);
                let entry = CatalogRule { direction: rule.direction, key, rule: compiled, written: (g, r) };
                ordered.push((order_key(rule, position), entry, g));
            }
            applied_to.push(applied);
        }
        ordered.sort_by_key(|(order, _, _)| *order);
        // Walking the rules in evaluation order appends each to its interfaces' lists, which so
        // come out in order without a sort of their own.
        let mut lists: HashMap<(InterfaceId, Direction), Vec<u32>> = HashMap::new();
        let mut keys = Vec::with_capacity(ordered.len());
        let mut catalog = Vec::with_capacity(ordered.len());
        let mut rank = HashMap::with_capacity(ordered.len());
        for (r, (_, entry, g)) in ordered.into_iter().enumerate() {
            let r = u32::try_from(r).unwrap_or(u32::MAX);
            for id in applied_to.get(g).map(Vec::as_slice).unwrap_or_default() {
                lists.entry((*id, entry.direction)).or_default().push(r);
            }
            keys.push(entry.key);
            rank.insert(entry.rule.rule, r);
            catalog.push(entry);
        }
        for ((id, direction), ranks) in lists {
            let Some(policy) = interfaces.get_mut(&id) else { continue };
            match direction {
                Direction::Inbound => policy.ingress = RuleList { ranks },
                Direction::Outbound => policy.egress = RuleList { ranks },
            }
        }
        let applied = snapshot.groups.iter().map(|g| g.group.id).zip(applied_to).collect::<HashMap<_, _>>();
        Self { revision: snapshot.revision, by_address, interfaces, applied, keys, catalog, rank }
    }

    /// The rules of a list, in evaluation order.
    pub fn rules_in<'a>(&'a self, list: &'a RuleList) -> impl Iterator<Item = &'a CatalogRule> + 'a {
        list.ranks.iter().filter_map(|r| self.catalog.get(*r as usize))
    }

    /// The rules of a list, in evaluation order, each with its place in [`CompiledPolicy::catalog`].
    pub fn ranked<'a>(&'a self, list: &'a RuleList) -> impl Iterator<Item = (usize, &'a CatalogRule)> + 'a {
        list.ranks.iter().filter_map(|&r| Some((r as usize, self.catalog.get(r as usize)?)))
    }

    /// Every rule of the snapshot as compiled, once, in evaluation order.
    pub fn catalog(&self) -> &[CatalogRule] {
        &self.catalog
    }

    /// The first rule of `list` that matches `flow` with `remote` as the other end.
    fn first_match(&self, list: &RuleList, flow: &Flow, remote: IpAddr) -> Option<&CompiledRule> {
        let (bit, v4) = (protocol_bit(flow.protocol), is_v4(flow.destination));
        list.ranks.iter().find_map(|&r| {
            let r = r as usize;
            let admitted = self.keys.get(r).is_some_and(|key| key.admits(bit, v4, flow.port));
            let rule = &self.catalog.get(r)?.rule;
            (admitted && rule.matches(flow, remote)).then_some(rule)
        })
    }

    /// The policy of one interface.
    pub fn interface(&self, id: InterfaceId) -> Option<&InterfacePolicy> {
        self.interfaces.get(&id)
    }

    /// The interfaces `group` applies to, in the snapshot's order.
    pub fn applied(&self, group: SecurityGroupId) -> &[InterfaceId] {
        self.applied.get(&group).map(Vec::as_slice).unwrap_or_default()
    }

    /// A rule of the snapshot as compiled.
    pub fn rule(&self, id: RuleId) -> Option<&CatalogRule> {
        self.catalog.get(*self.rank.get(&id)? as usize)
    }

    /// One side of a flow at an interface.
    fn side(
        &self,
        interface: InterfaceId,
        policy: &InterfacePolicy,
        direction: Direction,
        flow: &Flow,
    ) -> SideVerdict {
        let decided =
            |verdict, decided_by| SideVerdict { server: policy.server, interface, verdict, decided_by };
        if !policy.governed {
            return decided(Verdict::Allow, Decision::Ungoverned);
        }
        let (rules, allow_all, remote) = match direction {
            Direction::Inbound => (&policy.ingress, policy.allow_all_ingress, flow.source),
            Direction::Outbound => (&policy.egress, policy.allow_all_egress, flow.destination),
        };
        if let Some(rule) = self.first_match(rules, flow, remote) {
            let verdict = match rule.action {
                Action::Allow => Verdict::Allow,
                Action::Deny => Verdict::Deny,
                Action::Reject => Verdict::Reject,
            };
            return decided(verdict, Decision::Rule { group: rule.group, rule: rule.rule });
        }
        match allow_all {
            Some(group) => decided(Verdict::Allow, Decision::AllowAll { group }),
            None => decided(Verdict::Deny, Decision::NoMatch),
        }
    }

    /// The policy of the interface holding `address`, if a server of the organization holds it.
    pub fn interface_of(&self, address: IpAddr) -> Option<(InterfaceId, &InterfacePolicy)> {
        let id = self.by_address.get(&address)?;
        Some((*id, self.interfaces.get(id)?))
    }

    /// The verdict of `flow`.
    pub fn check(&self, flow: &Flow) -> FlowVerdict {
        let egress =
            self.interface_of(flow.source).map(|(id, p)| self.side(id, p, Direction::Outbound, flow));
        let ingress =
            self.interface_of(flow.destination).map(|(id, p)| self.side(id, p, Direction::Inbound, flow));
        let verdict = [egress, ingress]
            .iter()
            .flatten()
            .map(|s| s.verdict)
            .find(|v| *v != Verdict::Allow)
            .unwrap_or(Verdict::Allow);
        FlowVerdict { verdict, egress, ingress }
    }
}

#[cfg(test)]
mod tests;
