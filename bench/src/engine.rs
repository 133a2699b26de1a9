//! The policy evaluator at provider size, in process (no database, no HTTP): a snapshot of
//! 10,000 groups, 100,000 rules and 10,000 servers built in memory, compiled into the index
//! (min and median of several compilations), then flow checks on one core for a bounded time.
//! The ceiling beside it: the same number of lookups of the source address alone (a hash map
//! probe), which no check can beat.

use std::hint::black_box;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use palisade_core::engine::{CompiledPolicy, Flow, FlowProtocol, Verdict};
use palisade_core::id::{InterfaceId, NetworkId, OrganizationId, RuleId, SecurityGroupId, ServerId, TagId};
use palisade_core::model::{Interface, Server};
use palisade_core::policy::{
    Action, Direction, GroupKind, Member, PortRange, Protocol, Remote, Rule, SecurityGroup, Tag,
};
use palisade_core::snapshot::{GroupPolicy, PolicySnapshot};

use crate::measure::ms;

/// The policy's size.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub groups: usize,
    pub rules: usize,
    pub servers: usize,
}

fn id(kind: u8, n: usize) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0] = kind;
    b[8..].copy_from_slice(&(n as u64).to_be_bytes());
    b
}

fn address(n: usize) -> IpAddr {
    let n = u32::try_from(n).unwrap_or(u32::MAX);
    IpAddr::from([10, (n >> 16) as u8, (n >> 8) as u8, n as u8])
}

/// A deterministic policy of `size`: each group on two servers (every thousandth also on a tag:
/// a third of all servers),
/// its share of the rules mostly inbound TCP from a /16, another group, a server or anywhere,
/// some denies at a priority.
pub fn policy(size: Size) -> PolicySnapshot {
    let org = OrganizationId::from_bytes([1; 16]);
    let at = palisade_core::model::now();
    let mut s = PolicySnapshot::empty(org);
    s.revision = 1;
    s.tags = (0..3)
        .map(|t| Tag {
            id: TagId::from_bytes(id(5, t)),
            organization_id: org,
            name: format!("tier:{t}"),
            color: "red".into(),
            created_at: at,
        })
        .collect();
    s.servers = (0..size.servers)
        .map(|n| Server {
            id: ServerId::from_bytes(id(1, n)),
            organization_id: org,
            name: format!("vm-{n}"),
            interfaces: vec![Interface {
                id: InterfaceId::from_bytes(id(2, n)),
                network_id: NetworkId::from_bytes(id(4, 0)),
                addresses: vec![address(n)],
            }],
            tags: vec![format!("tier:{}", n % 3)],
            server_group: None,
            created_at: at,
        })
        .collect();
    let group_id = |g: usize| SecurityGroupId::from_bytes(id(3, g));
    let mut made = 0;
    for g in 0..size.groups {
        let mut members = vec![
            Member::Server(ServerId::from_bytes(id(1, g % size.servers.max(1)))),
            Member::Server(ServerId::from_bytes(id(1, (g + 1) % size.servers.max(1)))),
        ];
        // A few broad groups (every thousandth: a tier's third of all servers), the rest narrow.
        if g % 1000 == 0 {
            members.push(Member::Tag(TagId::from_bytes(id(5, g % 3))));
        }
        let share = size.rules * (g + 1) / size.groups - size.rules * g / size.groups;
        let rules = (0..share)
            .map(|r| {
                made += 1;
                let remote = match r % 4 {
                    0 => Remote::Cidr(format!("10.{}.0.0/16", r % 8)),
                    1 => Remote::Group(group_id((g + r) % size.groups)),
                    2 => Remote::Server(ServerId::from_bytes(id(1, (g * 7 + r) % size.servers.max(1)))),
                    _ => Remote::AnyIpv4,
                };
                let port = u16::try_from(20 + r % 40).unwrap_or(22);
                Rule {
                    id: RuleId::from_bytes(id(6, made)),
                    group_id: group_id(g),
                    direction: if r % 10 < 7 { Direction::Inbound } else { Direction::Outbound },
                    action: if r % 9 == 0 { Action::Deny } else { Action::Allow },
                    protocol: Protocol::Tcp,
                    ports: vec![PortRange { from: port, to: port }],
                    icmp: None,
                    priority: (r % 9 == 0).then_some(10),
                    remotes: vec![remote],
                    description: None,
                    created_at: at,
                }
            })
            .collect();
        let group = SecurityGroup {
            id: group_id(g),
            organization_id: org,
            kind: GroupKind::SecurityGroup,
            name: format!("group-{g}"),
            description: None,
            allow_all_inbound: false,
            allow_all_outbound: g % 2 == 0,
            allow_unmatched_outbound: false,
            members,
            annotations: vec![],
            enabled: true,
            ip_version: None,
            serial: u64::try_from(g).unwrap_or(0),
            created_at: at,
            updated_at: at,
        };
        s.groups.push(GroupPolicy { group, rules: std::sync::Arc::new(rules) });
    }
    s
}

pub fn run(size: Size, compiles: usize, max: Duration) -> anyhow::Result<()> {
    println!(
        "palisade policy evaluator: {} groups, {} rules, {} servers, in process",
        size.groups, size.rules, size.servers
    );
    let snapshot = policy(size);
    anyhow::ensure!(snapshot.rule_count() == size.rules, "built {} rules", snapshot.rule_count());
    let mut times = Vec::new();
    let mut compiled = CompiledPolicy::compile(&snapshot);
    for _ in 0..compiles.max(1) {
        let started = Instant::now();
        compiled = black_box(CompiledPolicy::compile(black_box(&snapshot)));
        times.push(started.elapsed());
    }
    times.sort();
    println!(
        "  compile: min {:.0} ms, p50 {:.0} ms ({} runs)",
        ms(times[0]),
        ms(times[times.len() / 2]),
        times.len()
    );

    // Flows between servers' addresses, to the rules' ports and others.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let servers = size.servers.max(1) as u64;
    let flows: Vec<Flow> = (0..1 << 16)
        .map(|_| Flow {
            source: address((next() % servers) as usize),
            destination: address((next() % servers) as usize),
            protocol: FlowProtocol::Tcp,
            port: Some(u16::try_from(15 + next() % 50).unwrap_or(22)),
            icmp: None,
        })
        .collect();
    let (mut checks, mut allowed) = (0u64, 0u64);
    let started = Instant::now();
    while started.elapsed() < max.min(Duration::from_secs(10)) {
        for flow in &flows {
            if black_box(compiled.check(black_box(flow))).verdict == Verdict::Allow {
                allowed += 1;
            }
        }
        checks += flows.len() as u64;
    }
    let elapsed = started.elapsed();
    let (mut lookups, mut found) = (0u64, 0u64);
    let ceiling_started = Instant::now();
    while lookups < checks {
        for flow in &flows {
            if black_box(compiled.interface_of(black_box(flow.source))).is_some() {
                found += 1;
            }
        }
        lookups += flows.len() as u64;
    }
    let ceiling = ceiling_started.elapsed();
    let rate = checks as f64 / elapsed.as_secs_f64();
    let ceiling_rate = lookups as f64 / ceiling.as_secs_f64();
    println!(
        "  flow checks: {:.2} million/s on one core ({checks} checks, {:.0} % allowed); one address lookup alone: {:.1} million/s ({:.0} % of it; {found} found)",
        rate / 1e6,
        100.0 * allowed as f64 / checks as f64,
        ceiling_rate / 1e6,
        100.0 * rate / ceiling_rate,
    );
    Ok(())
}
