//! The policy snapshot read (`Store::policy_snapshot`): one organization of `groups` security
//! groups holding `rules` rules in all and `servers` servers (each with an address and two tags;
//! each group with two server members, a tag member for one in ten, rules naming CIDRs, other
//! groups, tags and address lists), beside tags, server groups and address lists of its own and
//! a global list. Seeded straight through the store (a group and its rules per transaction, 8
//! at a time), then timed: `reads` snapshots after one warm-up, min/p50/p90/max, three ways:
//! with nothing changed between reads (the store keeps every group's rules and the servers),
//! each after a write of one rule (the rules of one group read again), and each after a write
//! of one server (every server read again). A small organization (a hundredth of the size) in
//! the same database is timed too: its snapshot must cost what its own size says, not its
//! neighbour's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use palisade::open_store;
use palisade_core::id::{
    AddressListEntryId, AddressListId, InterfaceId, IpAddressId, NetworkId, OrganizationId, RuleId,
    SecurityGroupId, ServerGroupId, ServerId, TagId,
};
use palisade_core::model::{
    now, Allocation, Interface, IpAddress, Network, Organization, OrganizationStatus, Server,
};
use palisade_core::policy::{
    Action, AddressList, AddressListEntry, Annotation, Direction, GroupKind, Member, PortRange, Protocol,
    Remote, Rule, SecurityGroup, ServerGroup, Tag,
};
use palisade_core::Store;
use palisade_testkit::{once, Backend, TestDatabase};

use crate::measure::{drive, ms, Stats};
use crate::{backend_name, db_settings};

/// How many objects of each kind one organization gets.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub groups: usize,
    pub rules: usize,
    pub servers: usize,
}

/// Concurrent seeding transactions.
const SEEDERS: usize = 8;

pub async fn run(backends: &[Backend], size: Size, reads: usize, max: Duration) -> anyhow::Result<()> {
    let small = Size {
        groups: (size.groups / 100).max(1),
        rules: (size.rules / 100).max(1),
        servers: (size.servers / 100).max(1),
    };
    println!(
        "palisade policy snapshot: one consistent read of an organization (Store::policy_snapshot), {reads} reads after one warm-up"
    );
    println!(
        "{:>9} | {:>6} {:>7} {:>7} | {:>13} | {:>8} {:>8} {:>8} {:>8} | {:>6}",
        "backend",
        "groups",
        "rules",
        "servers",
        "each read",
        "min ms",
        "p50 ms",
        "p90 ms",
        "max ms",
        "seed s"
    );
    for &backend in backends {
        let db = TestDatabase::new(backend).await;
        let store = open_store(&db.url, &db_settings()).await?;
        let network = shared(&store).await?;
        let started = Instant::now();
        let large = seed(&store, &network, "large", size, 0).await?;
        let seeded = started.elapsed();
        let started = Instant::now();
        let little = seed(&store, &network, "small", small, size.servers).await?;
        let seeded_small = started.elapsed();
        for (org, size, seeded) in [(large, size, seeded), (little, small, seeded_small)] {
            for after in [After::Nothing, After::Rule, After::Server] {
                let stats = time_reads(&store, org, size, after, reads, max).await?;
                println!(
                    "{:>9} | {:>6} {:>7} {:>7} | {:>13} | {:>8.2} {:>8.2} {:>8.2} {:>8.2} | {:>6.1}",
                    backend_name(backend),
                    size.groups,
                    size.rules,
                    size.servers,
                    after.label(),
                    ms(stats.percentile(0.0)),
                    ms(stats.percentile(0.5)),
                    ms(stats.percentile(0.9)),
                    ms(stats.percentile(1.0)),
                    seeded.as_secs_f64(),
                );
            }
        }
    }
    println!(
        "the small organization sits in the same database as the large one: its reads cost its own size"
    );
    Ok(())
}

/// What is written (untimed) before each timed snapshot.
#[derive(Debug, Clone, Copy)]
enum After {
    Nothing,
    /// One rule's port: one group's rules are read again.
    Rule,
    /// One server's name: every server is read again.
    Server,
}

impl After {
    fn label(self) -> &'static str {
        match self {
            After::Nothing => "unchanged",
            After::Rule => "after a rule",
            After::Server => "after a server",
        }
    }
}

/// Times `reads` snapshots of `org` (after one warm-up), each after the write `after` says,
/// checking each holds what was seeded.
async fn time_reads(
    store: &Arc<dyn Store>,
    org: OrganizationId,
    size: Size,
    after: After,
    reads: usize,
    max: Duration,
) -> anyhow::Result<Stats> {
    let check = |s: &palisade_core::snapshot::PolicySnapshot| {
        anyhow::ensure!(
            (s.groups.len(), s.rule_count(), s.servers.len()) == (size.groups, size.rules, size.servers),
            "the snapshot holds {} groups, {} rules, {} servers",
            s.groups.len(),
            s.rule_count(),
            s.servers.len()
        );
        Ok(())
    };
    let first = store.policy_snapshot(org).await?;
    check(&first)?;
    let grant = palisade_testkit::grants::grant(org);
    let mut rule = first.groups.iter().find_map(|g| g.rules.first().cloned()).context("no rule")?;
    let mut server = first.servers.first().cloned().context("no server")?;
    let started = Instant::now();
    let mut times = Vec::with_capacity(reads);
    while times.len() < reads.max(1) && (times.is_empty() || started.elapsed() < max) {
        match after {
            After::Nothing => {}
            After::Rule => {
                let port = 1000 + u16::try_from(times.len() % 1000).unwrap_or(0);
                rule.ports = vec![PortRange { from: port, to: port }];
                once!(store, replace_rule(&grant, &rule))?;
            }
            After::Server => {
                server.name = format!("renamed-{}", times.len());
                once!(store, update_server(&grant, &server))?;
            }
        }
        let t = Instant::now();
        let snapshot = store.policy_snapshot(org).await?;
        times.push(t.elapsed());
        check(&snapshot)?;
    }
    Ok(Stats::from_latencies(times, started.elapsed()))
}

/// A data center, a shared network with room for every server's address, and a global address
/// list (which every organization's snapshot holds).
pub async fn shared(store: &Arc<dyn Store>) -> anyhow::Result<Network> {
    let at = now();
    let dc = crate::ipam::data_center();
    once!(store, insert_data_center(&palisade_testkit::grants::op(), &dc))?;
    let network = Network {
        id: NetworkId::random(),
        name: "Public".into(),
        permalink: Some("public".into()),
        data_center_id: dc.id,
        prefixes: vec!["10.0.0.0/8".parse()?],
        reserved: vec![],
        is_default: true,
        organization_id: None,
        created_at: at,
    };
    once!(store, insert_network(&palisade_testkit::grants::op(), &network))?;
    let global = address_list(None, "global blocklist", 20, 250);
    once!(store, insert_address_list(&palisade_testkit::grants::list_grant(None), &global))?;
    Ok(network)
}

fn address_list(org: Option<OrganizationId>, name: &str, entries: usize, octet: usize) -> AddressList {
    let id = AddressListId::random();
    AddressList {
        id,
        organization_id: org,
        name: name.into(),
        annotations: vec![Annotation { key: "source".into(), value: Some("bench".into()) }],
        entries: (0..entries)
            .map(|i| AddressListEntry {
                id: AddressListEntryId::random(),
                list_id: id,
                address: format!("192.{}.{}.0/24", octet % 256, i % 256),
                name: Some(format!("entry {i}")),
            })
            .collect(),
        created_at: now(),
    }
}

/// A rule's port: 1000 and up.
fn port(r: usize) -> u16 {
    1000 + u16::try_from(r % 60_000).unwrap_or(0)
}

/// One organization of `size`; its servers' addresses start at `first_address` in the network.
pub async fn seed(
    store: &Arc<dyn Store>,
    network: &Network,
    name: &str,
    size: Size,
    first_address: usize,
) -> anyhow::Result<OrganizationId> {
    let at = now();
    let org = Organization {
        id: OrganizationId::random(),
        name: name.into(),
        sub_domain: name.into(),
        status: OrganizationStatus::Active,
        resource_creation_restricted: false,
        created_at: at,
        updated_at: at,
    };
    once!(store, insert_organization(&palisade_testkit::grants::op(), &org))?;
    let org = org.id;
    let tags: Vec<Tag> = (0..20)
        .map(|i| Tag {
            id: TagId::random(),
            organization_id: org,
            name: format!("app:{i}"),
            color: "blue".into(),
            created_at: at,
        })
        .collect();
    for tag in &tags {
        once!(store, insert_tag(&palisade_testkit::grants::grant((tag).organization_id), tag))?;
    }
    for i in 0..10 {
        let group = ServerGroup {
            id: ServerGroupId::random(),
            organization_id: org,
            name: format!("vm group {i}"),
            segregate: i % 2 == 0,
            created_at: at,
        };
        once!(store, insert_server_group(&palisade_testkit::grants::grant((group).organization_id), &group))?;
    }
    let lists: Vec<AddressList> =
        (0..5).map(|i| address_list(Some(org), &format!("list {i}"), 10, i)).collect();
    for list in &lists {
        once!(
            store,
            insert_address_list(&palisade_testkit::grants::list_grant((list).organization_id), list)
        )?;
    }

    let servers: Arc<Vec<ServerId>> = Arc::new((0..size.servers).map(|_| ServerId::random()).collect());
    let (store_, network_, servers_) = (store.clone(), network.clone(), servers.clone());
    let tag_names: Arc<Vec<String>> = Arc::new(tags.iter().map(|t| t.name.clone()).collect());
    drive(SEEDERS, size.servers, Duration::MAX, move |i| {
        let (store, network, servers, tag_names) =
            (store_.clone(), network_.clone(), servers_.clone(), tag_names.clone());
        async move {
            let interface = InterfaceId::random();
            let offset = u32::try_from(first_address + i + 1)?;
            let address = std::net::IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + offset));
            let server = Server {
                id: servers[i],
                organization_id: org,
                name: format!("server-{i:05}"),
                interfaces: vec![Interface {
                    id: interface,
                    network_id: network.id,
                    addresses: vec![address],
                }],
                tags: vec!["env:prod".into(), tag_names[i % tag_names.len()].clone()],
                server_group: None,
                created_at: now(),
            };
            let claim = IpAddress {
                id: IpAddressId::random(),
                organization_id: org,
                network_id: network.id,
                address,
                prefix_len: 8,
                vip: false,
                label: None,
                reverse_dns: palisade_core::ipam::reverse_dns("{dashed}.bench", address),
                allocation: Some(Allocation { server_id: server.id, interface_id: interface }),
                server_owned: true,
                created_at: server.created_at,
            };
            once!(
                store,
                insert_server(&palisade_testkit::grants::grant((server).organization_id), &server, &[claim])
            )?;
            Ok(true)
        }
    })
    .await?;

    // Groups get ids up front so that rules may name groups created after theirs.
    let groups: Arc<Vec<SecurityGroupId>> =
        Arc::new((0..size.groups).map(|_| SecurityGroupId::random()).collect());
    let tag_ids: Arc<Vec<TagId>> = Arc::new(tags.iter().map(|t| t.id).collect());
    let list_ids: Arc<Vec<AddressListId>> = Arc::new(lists.iter().map(|l| l.id).collect());
    let store_ = store.clone();
    drive(SEEDERS, size.groups, Duration::MAX, move |i| {
        let (store, groups, servers, tag_ids, list_ids) =
            (store_.clone(), groups.clone(), servers.clone(), tag_ids.clone(), list_ids.clone());
        async move {
            let at = now();
            let mut members = vec![
                Member::Server(servers[i % servers.len()]),
                Member::Server(servers[(i + 1) % servers.len()]),
            ];
            if i % 10 == 0 {
                members.push(Member::Tag(tag_ids[i % tag_ids.len()]));
            }
            let group = SecurityGroup {
                id: groups[i],
                organization_id: org,
                kind: GroupKind::SecurityGroup,
                name: format!("group-{i:05}"),
                description: Some("a security group of the benchmark".into()),
                allow_all_inbound: false,
                allow_all_outbound: true,
                allow_unmatched_outbound: false,
                members,
                annotations: vec![Annotation { key: "tier".into(), value: Some(format!("{}", i % 3)) }],
                enabled: true,
                ip_version: None,
                serial: 0,
                created_at: at,
                updated_at: at,
            };
            // This group's share of the rules, spread so the total is exact.
            let count = size.rules * (i + 1) / size.groups - size.rules * i / size.groups;
            let rules: Vec<Rule> = (0..count)
                .map(|r| Rule {
                    id: RuleId::random(),
                    group_id: group.id,
                    direction: Direction::Inbound,
                    action: Action::Allow,
                    protocol: Protocol::Tcp,
                    ports: vec![PortRange { from: port(r), to: port(r) }],
                    icmp: None,
                    priority: None,
                    remotes: match r % 4 {
                        0 => vec![Remote::Cidr(format!("10.{}.{}.0/24", i % 256, r % 256))],
                        1 => vec![Remote::Group(groups[(i + r) % groups.len()])],
                        2 => vec![Remote::Tag(tag_ids[r % tag_ids.len()]), Remote::AnyIpv6],
                        _ => vec![Remote::AddressList(list_ids[r % list_ids.len()])],
                    },
                    description: Some(format!("rule {r}")),
                    created_at: at,
                })
                .collect();
            once!(
                store,
                insert_security_group(
                    &palisade_testkit::grants::grant((group).organization_id),
                    &group,
                    &rules
                )
            )?;
            Ok(true)
        }
    })
    .await?;
    Ok(org)
}
