//! The evaluator against a deliberately naive reference (every membership and remote decided
//! by scanning the snapshot for the one address at hand, rules sorted per check), on random
//! policies and flows; and the decisions of `docs/policy-semantics.md`, one example each.

use std::net::IpAddr;
use std::sync::Arc;

use proptest::prelude::*;
use time::OffsetDateTime;

use super::*;
use crate::id::{AddressListEntryId, AddressListId, NetworkId, OrganizationId, ServerGroupId, TagId};
use crate::model::{Interface, Overlay, Server};
use crate::policy::{AddressList, AddressListEntry, GroupKind, SecurityGroup, ServerGroup, Tag};
use crate::snapshot::HostPolicy;

fn id16(kind: u8, n: usize) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0] = kind;
    b[15] = u8::try_from(n).unwrap_or(u8::MAX);
    b
}
fn server_id(n: usize) -> ServerId {
    ServerId::from_bytes(id16(1, n))
}
fn interface_id(n: usize) -> InterfaceId {
    InterfaceId::from_bytes(id16(2, n))
}
fn group_id(n: usize) -> SecurityGroupId {
    SecurityGroupId::from_bytes(id16(3, n))
}
fn network_id(n: usize) -> NetworkId {
    NetworkId::from_bytes(id16(4, n))
}
fn tag_id(n: usize) -> TagId {
    TagId::from_bytes(id16(5, n))
}
fn server_group_id(n: usize) -> ServerGroupId {
    ServerGroupId::from_bytes(id16(10, n))
}
fn rule_id(group: usize, n: usize) -> RuleId {
    let mut b = id16(6, n);
    b[1] = u8::try_from(group).unwrap_or(u8::MAX);
    RuleId::from_bytes(b)
}
const LIST: AddressListId = AddressListId::from_bytes([7; 16]);
const TAGS: [&str; 2] = ["a", "b"];
const POOL: [&str; 8] =
    ["10.0.0.1", "10.0.0.2", "10.0.0.5", "10.0.0.6", "fd00::1", "fd00::2", "fd00::5", "10.0.1.1"];
const FLOW_POOL: [&str; 10] = [
    "10.0.0.1",
    "10.0.0.2",
    "10.0.0.5",
    "10.0.0.6",
    "fd00::1",
    "fd00::2",
    "fd00::5",
    "10.0.1.1",
    "::ffff:10.0.0.1",
    "192.0.2.9",
];
const CIDRS: [&str; 8] = [
    "10.0.0.0/30",
    "10.0.0.5/29",
    "10.0.0.2",
    "fd00::/126",
    "fd00::4/127",
    "0.0.0.0/0",
    "::/0",
    "10.0.0.0/8",
];

fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_700_000_000 + seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

fn addr(text: &str) -> IpAddr {
    text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

// ---------------------------------------------------------------------------------------------
// The naive reference.

/// An IPv4-mapped IPv6 address is its IPv4 address.
fn plain(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(a) => a.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(address),
        v4 => v4,
    }
}

fn applies(s: &PolicySnapshot, g: &SecurityGroup, server: &Server, interface: &Interface) -> bool {
    g.enabled
        && g.members.iter().any(|m| match m {
            Member::Server(id) => *id == server.id,
            Member::ServerGroup(g) => server.server_group == Some(*g),
            Member::Tag(t) => s.tags.iter().any(|tag| tag.id == *t && server.tags.contains(&tag.name)),
            Member::Network(_) => false,
            Member::Interface(i) => *i == interface.id,
        })
}

fn holds(server: &Server, address: IpAddr) -> bool {
    server.interfaces.iter().flat_map(|i| &i.addresses).any(|a| plain(*a) == plain(address))
}

fn remote_contains(s: &PolicySnapshot, remote: &Remote, address: IpAddr) -> bool {
    let address = plain(address);
    match remote {
        Remote::AnyIpv4 => address.is_ipv4(),
        Remote::AnyIpv6 => address.is_ipv6(),
        Remote::Cidr(_) => remote.network().is_some_and(|n| n.contains(&address)),
        Remote::Server(id) => s.servers.iter().any(|sv| sv.id == *id && holds(sv, address)),
        Remote::Group(id) => s.groups.iter().any(|g| {
            g.group.id == *id
                && s.servers.iter().any(|sv| {
                    sv.interfaces.iter().any(|i| {
                        applies(s, &g.group, sv, i) && i.addresses.iter().any(|a| plain(*a) == address)
                    })
                })
        }),
        Remote::ServerGroup(g) => {
            s.servers.iter().any(|sv| sv.server_group == Some(*g) && holds(sv, address))
        }
        Remote::Tag(id) => s.tags.iter().any(|t| {
            t.id == *id && s.servers.iter().any(|sv| sv.tags.contains(&t.name) && holds(sv, address))
        }),
        Remote::AddressList(id) => s
            .address_lists
            .iter()
            .chain(&s.global_address_lists)
            .filter(|l| l.id == *id)
            .flat_map(|l| &l.entries)
            .any(|e| Remote::Cidr(e.address.clone()).network().is_some_and(|n| n.contains(&address))),
        Remote::Hosts { role, tags } => s.hosts.iter().any(|h| {
            s.servers.iter().any(|sv| {
                sv.id == h.server_id
                    && role.is_none_or(|r| h.role == Some(r))
                    && tags.iter().all(|t| sv.tags.contains(t))
                    && holds(sv, address)
            })
        }),
    }
}

fn naive_protocol(rule: &Rule, flow: &Flow) -> bool {
    let port_ok = rule.ports.is_empty()
        || flow.port.is_some_and(|p| rule.ports.iter().any(|r| (r.from..=r.to).contains(&p)));
    let tcp_or_udp = matches!(flow.protocol, FlowProtocol::Tcp | FlowProtocol::Udp);
    match rule.protocol {
        Protocol::Any => {
            if tcp_or_udp {
                port_ok
            } else {
                rule.ports.is_empty()
            }
        }
        Protocol::Tcp => flow.protocol == FlowProtocol::Tcp && port_ok,
        Protocol::Udp => flow.protocol == FlowProtocol::Udp && port_ok,
        Protocol::Icmp | Protocol::Icmpv6 => {
            let wanted =
                if rule.protocol == Protocol::Icmp { FlowProtocol::Icmp } else { FlowProtocol::Icmpv6 };
            flow.protocol == wanted
                && match rule.icmp {
                    None => true,
                    Some(m) => match flow.icmp {
                        None => false,
                        Some((t, c)) => t == m.icmp_type && (m.code.is_none() || m.code == Some(c)),
                    },
                }
        }
        Protocol::Number(6) => flow.protocol == FlowProtocol::Tcp && port_ok,
        Protocol::Number(17) => flow.protocol == FlowProtocol::Udp && port_ok,
        Protocol::Number(1) => flow.protocol == FlowProtocol::Icmp,
        Protocol::Number(58) => flow.protocol == FlowProtocol::Icmpv6,
        Protocol::Number(n) => flow.protocol == FlowProtocol::Other(n),
    }
}

fn naive_side(s: &PolicySnapshot, address: IpAddr, direction: Direction, flow: &Flow) -> Option<SideVerdict> {
    let (server, interface) = s
        .servers
        .iter()
        .flat_map(|sv| sv.interfaces.iter().map(move |i| (sv, i)))
        .find(|(_, i)| i.addresses.contains(&address))?;
    let groups: Vec<&GroupPolicy> =
        s.groups.iter().filter(|g| applies(s, &g.group, server, interface)).collect();
    let verdict =
        |verdict, decided_by| SideVerdict { server: server.id, interface: interface.id, verdict, decided_by };
    if groups.is_empty() {
        return Some(verdict(Verdict::Allow, Decision::Ungoverned));
    }
    // Every rule of every group gets a creation position, as compiled ones do.
    let mut rules = Vec::new();
    let mut position = 0;
    for g in &s.groups {
        for r in g.rules.iter() {
            position += 1;
            if r.direction == direction && groups.iter().any(|a| a.group.id == g.group.id) {
                rules.push((g, r, position));
            }
        }
    }
    rules.sort_by_key(|(_, r, p)| {
        (r.priority.is_none(), r.priority.unwrap_or(0), r.action == Action::Allow, r.created_at, *p)
    });
    let remote = if direction == Direction::Inbound { flow.source } else { flow.destination };
    for (g, r, _) in rules {
        let family = match g.group.ip_version {
            None => true,
            Some(IpVersion::V4) => plain(flow.destination).is_ipv4(),
            Some(IpVersion::V6) => plain(flow.destination).is_ipv6(),
        };
        if family && naive_protocol(r, flow) && r.remotes.iter().any(|rm| remote_contains(s, rm, remote)) {
            let v = match r.action {
                Action::Allow => Verdict::Allow,
                Action::Deny => Verdict::Deny,
                Action::Reject => Verdict::Reject,
            };
            return Some(verdict(v, Decision::Rule { group: g.group.id, rule: r.id }));
        }
    }
    let allow_all = groups.iter().find(|g| match direction {
        Direction::Inbound => g.group.allow_all_inbound,
        Direction::Outbound => g.group.allow_all_outbound || g.group.allow_unmatched_outbound,
    });
    Some(match allow_all {
        Some(g) => verdict(Verdict::Allow, Decision::AllowAll { group: g.group.id }),
        None => verdict(Verdict::Deny, Decision::NoMatch),
    })
}

fn naive(s: &PolicySnapshot, flow: &Flow) -> FlowVerdict {
    let egress = naive_side(s, flow.source, Direction::Outbound, flow);
    let ingress = naive_side(s, flow.destination, Direction::Inbound, flow);
    let verdict = match (egress.map(|e| e.verdict), ingress.map(|i| i.verdict)) {
        (Some(v), _) if v != Verdict::Allow => v,
        (_, Some(v)) if v != Verdict::Allow => v,
        _ => Verdict::Allow,
    };
    FlowVerdict { verdict, egress, ingress }
}

// ---------------------------------------------------------------------------------------------
// Random policies.

/// A server: its interfaces (network, addresses from `POOL`), which `TAGS` it carries,
/// whether it is a host (with a role), and its server group.
type ServerPlan = (Vec<(usize, Vec<usize>)>, Vec<bool>, Option<Option<usize>>, Option<usize>);
/// A group: enabled, allow-all in and out, IP version, members (kind, index), rules.
type GroupPlan = (bool, bool, u8, u8, Vec<(u8, usize)>, Vec<RulePlan>);

#[derive(Debug, Clone)]
struct Plan {
    servers: Vec<ServerPlan>,
    groups: Vec<GroupPlan>,
}

#[derive(Debug, Clone)]
struct RulePlan {
    inbound: bool,
    action: u8,
    protocol: u8,
    ports: Vec<(u16, u16)>,
    icmp: Option<(u8, Option<u8>)>,
    priority: Option<i32>,
    remotes: Vec<(u8, usize)>,
    created: i64,
}

fn rule_plan() -> impl Strategy<Value = RulePlan> {
    (
        any::<bool>(),
        0u8..3,
        // Mostly any or TCP, so that rules often meet the (mostly TCP) flows.
        prop_oneof![3 => Just(0u8), 3 => Just(1u8), 4 => 2u8..7],
        prop::collection::vec((1u16..9, 0u16..3), 0..2),
        prop::option::of((0u8..3, prop::option::of(0u8..2))),
        prop::option::of(-1i32..2),
        prop::collection::vec(
            (prop_oneof![2 => Just(0u8), 3 => Just(2u8), 1 => Just(9u8), 5 => 0u8..10], 0usize..5),
            1..3,
        ),
        0i64..3,
    )
        .prop_map(|(inbound, action, protocol, ports, icmp, priority, remotes, created)| RulePlan {
            inbound,
            action,
            protocol,
            ports: ports.into_iter().map(|(from, len)| (from, from + len)).collect(),
            icmp,
            priority,
            remotes,
            created,
        })
}

fn plan() -> impl Strategy<Value = Plan> {
    let interface = (0usize..2, prop::collection::vec(0usize..POOL.len(), 0..3));
    let server = (
        prop::collection::vec(interface, 1..3),
        prop::collection::vec(any::<bool>(), TAGS.len()),
        prop::option::of(prop::option::of(0usize..4)),
        // Two server groups exist (a third is named by members and remotes, and holds nobody).
        prop::option::weighted(0.8, 0usize..2),
    );
    let group = (
        prop::bool::weighted(0.85),
        prop::bool::weighted(0.2),
        // Outbound when no rule matches: deny, allow all (no rule kept), allow what is unmatched.
        prop_oneof![6 => Just(0u8), 2 => Just(1u8), 2 => Just(2u8)],
        0u8..3,
        // Members: servers and tags most often (a network member applies to nothing), so that groups govern interfaces.
        prop::collection::vec((prop_oneof![3 => Just(0u8), 3 => Just(1u8), 4 => 0u8..6], 0usize..5), 1..4),
        prop::collection::vec(rule_plan(), 0..6),
    );
    (prop::collection::vec(server, 0..5), prop::collection::vec(group, 0..5))
        .prop_map(|(servers, groups)| Plan { servers, groups })
}

fn build(plan: &Plan) -> PolicySnapshot {
    let org = OrganizationId::from_bytes([9; 16]);
    let mut s = PolicySnapshot::empty(org);
    s.revision = 1;
    s.tags = TAGS
        .iter()
        .enumerate()
        .map(|(i, name)| Tag {
            id: tag_id(i),
            organization_id: org,
            name: (*name).into(),
            color: "red".into(),
            created_at: at(0),
        })
        .collect();
    s.server_groups = (0..2)
        .map(|n| ServerGroup {
            id: server_group_id(n),
            organization_id: org,
            name: format!("vmg{n}"),
            segregate: false,
            created_at: at(0),
        })
        .collect();
    s.address_lists = vec![AddressList {
        id: LIST,
        organization_id: Some(org),
        name: "l".into(),
        annotations: vec![],
        entries: ["10.0.0.6", "fd00::/127"]
            .iter()
            .enumerate()
            .map(|(i, a)| AddressListEntry {
                id: AddressListEntryId::from_bytes(id16(8, i)),
                list_id: LIST,
                address: (*a).into(),
                name: None,
            })
            .collect(),
        created_at: at(0),
    }];
    let mut next_interface = 0;
    for (n, (interfaces, tags, host, server_group)) in plan.servers.iter().enumerate() {
        let interfaces = interfaces
            .iter()
            .map(|(network, addresses)| {
                next_interface += 1;
                Interface {
                    id: interface_id(next_interface),
                    network_id: network_id(*network),
                    addresses: addresses.iter().map(|a| addr(POOL[*a])).collect(),
                }
            })
            .collect();
        let tags = TAGS.iter().zip(tags).filter(|(_, on)| **on).map(|(t, _)| (*t).to_owned()).collect();
        s.servers.push(Server {
            id: server_id(n),
            organization_id: org,
            name: format!("s{n}"),
            interfaces,
            tags,
            server_group: server_group.map(server_group_id),
            created_at: at(0),
        });
        if let Some(role) = host {
            s.hosts.push(HostPolicy {
                server_id: server_id(n),
                role: role.map(group_id),
                overlay: Overlay::default(),
                modified_at: at(0),
            });
        }
    }
    for (g, (enabled, all_in, all_out, version, members, rules)) in plan.groups.iter().enumerate() {
        let members = members
            .iter()
            .map(|(kind, n)| match kind {
                0 => Member::Server(server_id(*n)),
                1 => Member::Tag(tag_id(*n % 3)),
                2 => Member::Network(network_id(*n % 3)),
                3 => Member::Interface(interface_id(*n)),
                4 => Member::ServerGroup(server_group_id(*n % 3)),
                _ => Member::Server(server_id(*n + 100)),
            })
            .collect();
        let group = SecurityGroup {
            id: group_id(g),
            organization_id: org,
            kind: GroupKind::SecurityGroup,
            name: format!("g{g}"),
            description: None,
            allow_all_inbound: *all_in,
            allow_all_outbound: *all_out == 1,
            allow_unmatched_outbound: *all_out == 2,
            members,
            annotations: vec![],
            enabled: *enabled,
            ip_version: [None, Some(IpVersion::V4), Some(IpVersion::V6)][usize::from(*version)],
            serial: 0,
            created_at: at(0),
            updated_at: at(0),
        };
        let rules = rules
            .iter()
            .enumerate()
            .map(|(r, p)| Rule {
                id: rule_id(g, r),
                group_id: group_id(g),
                direction: if p.inbound { Direction::Inbound } else { Direction::Outbound },
                action: [Action::Allow, Action::Deny, Action::Reject][usize::from(p.action)],
                protocol: [
                    Protocol::Any,
                    Protocol::Tcp,
                    Protocol::Udp,
                    Protocol::Icmp,
                    Protocol::Icmpv6,
                    Protocol::Number(6),
                    Protocol::Number(47),
                ][usize::from(p.protocol)],
                ports: p.ports.iter().map(|&(from, to)| PortRange { from, to }).collect(),
                icmp: p.icmp.map(|(t, c)| IcmpMatch { icmp_type: t, code: c }),
                priority: p.priority,
                remotes: p
                    .remotes
                    .iter()
                    .map(|(kind, n)| match kind {
                        0 => Remote::AnyIpv4,
                        1 => Remote::AnyIpv6,
                        2 | 3 => Remote::Cidr(CIDRS[*n % CIDRS.len()].into()),
                        4 => Remote::Server(server_id(*n)),
                        5 => Remote::Group(group_id(*n)),
                        6 => Remote::Tag(tag_id(*n % 3)),
                        7 => Remote::AddressList(if *n % 2 == 0 {
                            LIST
                        } else {
                            AddressListId::from_bytes([1; 16])
                        }),
                        8 => Remote::Hosts {
                            role: (*n % 2 == 0).then(|| group_id(*n / 2)),
                            tags: TAGS.iter().take(*n % 3).map(|t| (*t).to_owned()).collect(),
                        },
                        _ => Remote::ServerGroup(server_group_id(*n % 3)),
                    })
                    .collect(),
                description: None,
                created_at: at(p.created),
            })
            .collect();
        s.groups.push(GroupPolicy { group, rules: Arc::new(rules) });
    }
    s
}

fn flow() -> impl Strategy<Value = Flow> {
    let protocol = prop_oneof![5 => Just(0u8), 2 => Just(1u8), 3 => 2u8..6];
    (
        0usize..FLOW_POOL.len(),
        0usize..FLOW_POOL.len(),
        protocol,
        prop::option::of(0u16..10),
        prop::option::of((0u8..3, 0u8..2)),
    )
        .prop_map(|(src, dst, protocol, port, icmp)| Flow {
            source: addr(FLOW_POOL[src]),
            destination: addr(FLOW_POOL[dst]),
            protocol: [
                FlowProtocol::Tcp,
                FlowProtocol::Udp,
                FlowProtocol::Icmp,
                FlowProtocol::Icmpv6,
                FlowProtocol::Other(47),
                FlowProtocol::Other(50),
            ][usize::from(protocol)],
            port,
            icmp,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn the_compiled_policy_decides_as_the_naive_reference(plan in plan(), flows in prop::collection::vec(flow(), 1..20)) {
        let snapshot = build(&plan);
        let compiled = CompiledPolicy::compile(&snapshot);
        for flow in flows {
            prop_assert_eq!(compiled.check(&flow), naive(&snapshot, &flow), "{:?}", flow);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The decisions, one example each.

/// Two servers (`web` 10.0.0.1, `db` 10.0.0.2) and one group on `db` with these rules.
fn two_servers(rules: Vec<Rule>, allow_all_inbound: bool) -> PolicySnapshot {
    let org = OrganizationId::from_bytes([9; 16]);
    let mut s = PolicySnapshot::empty(org);
    for (n, a) in ["10.0.0.1", "10.0.0.2"].iter().enumerate() {
        let interface =
            Interface { id: interface_id(n), network_id: network_id(0), addresses: vec![addr(a)] };
        s.servers.push(Server {
            id: server_id(n),
            organization_id: org,
            name: format!("s{n}"),
            interfaces: vec![interface],
            tags: vec![],
            server_group: None,
            created_at: at(0),
        });
    }
    let group = SecurityGroup {
        id: group_id(0),
        organization_id: org,
        kind: GroupKind::SecurityGroup,
        name: "db".into(),
        description: None,
        allow_all_inbound,
        allow_all_outbound: true,
        allow_unmatched_outbound: false,
        members: vec![Member::Server(server_id(1))],
        annotations: vec![],
        enabled: true,
        ip_version: None,
        serial: 0,
        created_at: at(0),
        updated_at: at(0),
    };
    s.groups.push(GroupPolicy { group, rules: Arc::new(rules) });
    s
}

fn rule(n: usize, action: Action, priority: Option<i32>, ports: &[(u16, u16)], remote: &str) -> Rule {
    Rule {
        id: rule_id(0, n),
        group_id: group_id(0),
        direction: Direction::Inbound,
        action,
        protocol: Protocol::Tcp,
        ports: ports.iter().map(|&(from, to)| PortRange { from, to }).collect(),
        icmp: None,
        priority,
        remotes: vec![Remote::Cidr(remote.into())],
        description: None,
        created_at: at(i64::try_from(n).unwrap_or(0)),
    }
}

fn tcp(src: &str, dst: &str, port: u16) -> Flow {
    Flow {
        source: addr(src),
        destination: addr(dst),
        protocol: FlowProtocol::Tcp,
        port: Some(port),
        icmp: None,
    }
}

#[test]
fn the_first_matching_rule_in_evaluation_order_decides() {
    // Creation order: allow 22 (unnumbered), deny 22 (unnumbered), allow 22 at priority 5.
    let s = two_servers(
        vec![
            rule(0, Action::Allow, None, &[(22, 22)], "10.0.0.0/24"),
            rule(1, Action::Deny, None, &[(22, 22)], "10.0.0.0/24"),
            rule(2, Action::Allow, Some(5), &[(22, 22)], "10.0.0.1"),
        ],
        false,
    );
    let p = CompiledPolicy::compile(&s);
    let v = p.check(&tcp("10.0.0.1", "10.0.0.2", 22));
    // Numbered before unnumbered: the priority-5 allow decides for 10.0.0.1.
    assert_eq!(v.verdict, Verdict::Allow);
    assert_eq!(
        v.ingress.map(|i| i.decided_by),
        Some(Decision::Rule { group: group_id(0), rule: rule_id(0, 2) })
    );
    // web is governed by nothing: its egress is unfiltered.
    assert_eq!(v.egress.map(|e| e.decided_by), Some(Decision::Ungoverned));
    // From another address in the /24 (no server of the organization), deny beats allow in the
    // unnumbered tier although it was created later.
    let v = p.check(&tcp("10.0.0.9", "10.0.0.2", 22));
    assert_eq!((v.verdict, v.egress), (Verdict::Deny, None));
    // No rule for port 80: dropped, as the group does not allow all inbound...
    assert_eq!(
        p.check(&tcp("10.0.0.1", "10.0.0.2", 80)).ingress.map(|i| i.decided_by),
        Some(Decision::NoMatch)
    );
    // ...unless it does.
    let open = CompiledPolicy::compile(&two_servers(vec![], true));
    let v = open.check(&tcp("10.0.0.1", "10.0.0.2", 80));
    assert_eq!(
        (v.verdict, v.ingress.map(|i| i.decided_by)),
        (Verdict::Allow, Some(Decision::AllowAll { group: group_id(0) }))
    );
    // A non-canonical CIDR means its network; an address outside every server has no policy.
    assert_eq!(p.check(&tcp("10.0.0.2", "192.0.2.1", 443)).ingress, None);
}

#[test]
fn unmatched_outbound_passes_once_the_outbound_rules_have_decided() {
    // db's group (ZStack's kind) keeps an outbound deny of SMTP, and lets what no rule matches
    // out, as ZStack's NIC egress policy ALLOW does.
    let mut deny_smtp = rule(0, Action::Deny, None, &[(25, 25)], "0.0.0.0/0");
    deny_smtp.direction = Direction::Outbound;
    let mut s = two_servers(vec![deny_smtp], false);
    s.groups[0].group.allow_all_outbound = false;
    s.groups[0].group.allow_unmatched_outbound = true;
    let p = CompiledPolicy::compile(&s);
    let smtp = p.check(&tcp("10.0.0.2", "192.0.2.1", 25));
    assert_eq!(
        (smtp.verdict, smtp.egress.map(|e| e.decided_by)),
        (Verdict::Deny, Some(Decision::Rule { group: group_id(0), rule: rule_id(0, 0) }))
    );
    let https = p.check(&tcp("10.0.0.2", "192.0.2.1", 443));
    assert_eq!(
        (https.verdict, https.egress.map(|e| e.decided_by)),
        (Verdict::Allow, Some(Decision::AllowAll { group: group_id(0) }))
    );
    // Without the flag, the outbound rules are an allow-list: nothing allows HTTPS.
    s.groups[0].group.allow_unmatched_outbound = false;
    let p = CompiledPolicy::compile(&s);
    let https = p.check(&tcp("10.0.0.2", "192.0.2.1", 443));
    assert_eq!((https.verdict, https.egress.map(|e| e.decided_by)), (Verdict::Deny, Some(Decision::NoMatch)));
}

#[test]
fn disabled_groups_and_dangling_references_admit_nothing() {
    let mut s = two_servers(vec![rule(0, Action::Allow, None, &[], "10.0.0.1")], false);
    Arc::make_mut(&mut s.groups[0].rules)[0].remotes =
        vec![Remote::Group(group_id(7)), Remote::Tag(tag_id(7))];
    let p = CompiledPolicy::compile(&s);
    assert_eq!(p.check(&tcp("10.0.0.1", "10.0.0.2", 22)).verdict, Verdict::Deny);
    s.groups[0].group.enabled = false;
    let p = CompiledPolicy::compile(&s);
    let v = p.check(&tcp("10.0.0.1", "10.0.0.2", 22));
    assert_eq!((v.verdict, v.ingress.map(|i| i.decided_by)), (Verdict::Allow, Some(Decision::Ungoverned)));
}

#[test]
fn a_server_group_names_the_servers_in_it_as_a_member_and_as_a_remote() {
    // db's group applies to db through db's server group, and admits SSH from web's.
    let mut s = two_servers(vec![rule(0, Action::Allow, None, &[(22, 22)], "10.0.0.1")], false);
    Arc::make_mut(&mut s.groups[0].rules)[0].remotes = vec![Remote::ServerGroup(server_group_id(0))];
    s.groups[0].group.members = vec![Member::ServerGroup(server_group_id(1))];
    s.servers[0].server_group = Some(server_group_id(0));
    s.servers[1].server_group = Some(server_group_id(1));
    let p = CompiledPolicy::compile(&s);
    let v = p.check(&tcp("10.0.0.1", "10.0.0.2", 22));
    assert_eq!(
        (v.verdict, v.ingress.map(|i| i.decided_by)),
        (Verdict::Allow, Some(Decision::Rule { group: group_id(0), rule: rule_id(0, 0) }))
    );
    assert_eq!(p.check(&tcp("10.0.0.9", "10.0.0.2", 22)).verdict, Verdict::Deny, "not in the group");
    // web leaves its group: the remote no longer names it.
    let mut left = s.clone();
    left.servers[0].server_group = None;
    let v = CompiledPolicy::compile(&left).check(&tcp("10.0.0.1", "10.0.0.2", 22));
    assert_eq!((v.verdict, v.ingress.map(|i| i.decided_by)), (Verdict::Deny, Some(Decision::NoMatch)));
    // db leaves its group: the group no longer applies to it.
    s.servers[1].server_group = None;
    let v = CompiledPolicy::compile(&s).check(&tcp("10.0.0.1", "10.0.0.2", 22));
    assert_eq!(v.ingress.map(|i| i.decided_by), Some(Decision::Ungoverned));
}

#[test]
fn any_with_ports_means_tcp_and_udp_and_icmp_types_match_exactly() {
    let mut s = two_servers(vec![rule(0, Action::Allow, None, &[(53, 53)], "0.0.0.0/0")], false);
    Arc::make_mut(&mut s.groups[0].rules)[0].protocol = Protocol::Any;
    let mut ping = rule(1, Action::Allow, None, &[], "0.0.0.0/0");
    ping.protocol = Protocol::Icmp;
    ping.icmp = Some(IcmpMatch { icmp_type: 8, code: None });
    Arc::make_mut(&mut s.groups[0].rules).push(ping);
    let p = CompiledPolicy::compile(&s);
    let udp = Flow { protocol: FlowProtocol::Udp, ..tcp("10.0.0.1", "10.0.0.2", 53) };
    assert_eq!(p.check(&udp).verdict, Verdict::Allow);
    let gre = Flow { protocol: FlowProtocol::Other(47), port: None, ..udp };
    assert_eq!(p.check(&gre).verdict, Verdict::Deny, "`any` with ports is TCP and UDP only");
    let echo = Flow { protocol: FlowProtocol::Icmp, port: None, icmp: Some((8, 0)), ..udp };
    assert_eq!(p.check(&echo).verdict, Verdict::Allow);
    let unreachable = Flow { icmp: Some((3, 1)), ..echo };
    assert_eq!(p.check(&unreachable).verdict, Verdict::Deny);
}

/// The random policies are not vacuous: over a fixed run, every kind of decision and every
/// verdict comes up many times.
#[test]
fn the_random_policies_reach_every_decision() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for _ in 0..300 {
        let snapshot = build(&plan().new_tree(&mut runner).unwrap_or_else(|e| panic!("{e}")).current());
        let compiled = CompiledPolicy::compile(&snapshot);
        for _ in 0..20 {
            let flow = flow().new_tree(&mut runner).unwrap_or_else(|e| panic!("{e}")).current();
            let verdict = compiled.check(&flow);
            let sides = [(verdict.egress, flow.destination), (verdict.ingress, flow.source)];
            for (side, remote) in sides.into_iter().filter_map(|(side, remote)| side.map(|s| (s, remote))) {
                for kind in server_group_parts(&snapshot, &side, remote) {
                    *seen.entry(kind).or_default() += 1;
                }
            }
            for side in [verdict.egress, verdict.ingress].into_iter().flatten() {
                let kind = match side.decided_by {
                    Decision::Ungoverned => "ungoverned",
                    Decision::Rule { .. } if side.verdict == Verdict::Allow => "allow rule",
                    Decision::Rule { .. } if side.verdict == Verdict::Deny => "deny rule",
                    Decision::Rule { .. } => "reject rule",
                    Decision::AllowAll { .. } => "allow all",
                    Decision::NoMatch => "no match",
                };
                *seen.entry(kind).or_default() += 1;
            }
        }
    }
    for kind in ["ungoverned", "allow rule", "deny rule", "reject rule", "allow all", "no match"] {
        assert!(seen.get(kind).copied().unwrap_or(0) >= 40, "{kind}: {seen:?}");
    }
    // Server groups govern interfaces often; rules decide a side a few hundred times in all, and
    // a server-group remote decides a share of those.
    let by_group = |kind| seen.get(kind).copied().unwrap_or(0);
    assert!(by_group("governed through a server group") >= 40, "{seen:?}");
    assert!(by_group("decided by a server group remote") >= 10, "{seen:?}");
}

/// The parts server groups played in deciding one side of a flow (`remote`: the other end): an
/// enabled group applied to the side's interface through the server group its server is in,
/// and the deciding rule matched through a server-group remote holding `remote`.
fn server_group_parts(s: &PolicySnapshot, side: &SideVerdict, remote: IpAddr) -> Vec<&'static str> {
    let mut parts = Vec::new();
    let Some(server) = s.server(side.server) else { return parts };
    let through_group = s.groups.iter().any(|g| {
        g.group.enabled
            && g.group
                .members
                .iter()
                .any(|m| matches!(m, Member::ServerGroup(id) if server.server_group == Some(*id)))
    });
    if through_group {
        parts.push("governed through a server group");
    }
    if let Decision::Rule { group, rule } = side.decided_by {
        let rule = s.group(group).and_then(|g| g.rules.iter().find(|r| r.id == rule));
        let by_group = rule.is_some_and(|r| {
            r.remotes.iter().any(|rm| matches!(rm, Remote::ServerGroup(_)) && remote_contains(s, rm, remote))
        });
        if by_group {
            parts.push("decided by a server group remote");
        }
    }
    parts
}

// ---------------------------------------------------------------------------------------------
// Fingerprints: what a long poll compares instead of rendering its server's policy again.

/// What a server's effective policy consists of, taken from the compiled policy the long way:
/// per interface, its addresses, whether it is governed, the allow-all groups, and each rule
/// in order as written and compiled, with its group's name and its resolved remote.
type Content = Vec<(
    InterfaceId,
    NetworkId,
    Vec<IpAddr>,
    Option<(bool, Option<SecurityGroupId>, Option<SecurityGroupId>)>,
    Vec<(Direction, Option<IpVersion>, Rule, String, IpSet)>,
)>;

fn content(evaluated: &crate::service::Evaluated, server: &Server) -> Content {
    let compiled = &evaluated.compiled;
    server
        .interfaces
        .iter()
        .map(|i| {
            let policy = compiled.interface(i.id);
            let rules = policy
                .map(|p| {
                    compiled
                        .rules_in(&p.ingress)
                        .chain(compiled.rules_in(&p.egress))
                        .filter_map(|entry| {
                            let (group, written) = evaluated.rule(entry.rule.rule)?;
                            Some((
                                entry.direction,
                                entry.family(),
                                written.clone(),
                                group.name.clone(),
                                (*entry.rule.remote).clone(),
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let flags = policy.map(|p| (p.governed, p.allow_all_ingress, p.allow_all_egress));
            (i.id, i.network_id, i.addresses.clone(), flags, rules)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// One group of a random policy replaced by another (its rules, members or flags change,
    /// and so may the remotes naming it): a server's fingerprint changes exactly when what
    /// applies to it does, so that a long poll skipping equal fingerprints misses no change.
    #[test]
    fn a_fingerprint_changes_exactly_when_a_servers_policy_does(
        plan in plan(),
        other in plan(),
        at in 0usize..5,
        renamed in any::<bool>(),
    ) {
        let before = build(&plan);
        let mut changed = plan.clone();
        if let (Some(slot), Some(group)) = (changed.groups.get_mut(at), other.groups.first()) {
            *slot = group.clone();
        }
        let mut after = build(&changed);
        if renamed {
            if let Some(g) = after.groups.get_mut(at) {
                g.group.name.push_str(" (renamed)");
            }
        }
        let (before, after) =
            (crate::service::Evaluated::new(before), crate::service::Evaluated::new(after));
        for server in &before.snapshot.servers {
            let same_content = content(&before, server) == content(&after, server);
            let same_print = before.fingerprint(server.id) == after.fingerprint(server.id);
            prop_assert_eq!(same_content, same_print, "server {}", server.name);
            prop_assert!(before.fingerprint(server.id).is_some());
        }
        prop_assert_eq!(before.fingerprint(ServerId::from_bytes([0xee; 16])), None);
        // Where a compiled rule is written is the rule its id names, in the group it names.
        for entry in after.compiled.catalog() {
            let (group, rule) = after.written(entry).expect("every compiled rule is written");
            prop_assert_eq!((group.id, rule.id), (entry.rule.group, entry.rule.rule));
        }
    }
}

mod lint_tests;
