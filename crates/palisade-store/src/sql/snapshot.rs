//! The policy snapshot (`palisade_core::snapshot`): everything that decides one organization's
//! policy, read on one connection inside the caller's consistent read (the seam's
//! `consistent_read`: one state of the database for every query).
//!
//! The cost is a fixed number of queries (eleven to fourteen, with the revision), whatever the
//! organization's size: about one per table, each selecting the organization's rows (children
//! through a join with their parent; a group's members and annotations as JSON in its own row),
//! each decoded by the same row decoder the per-object reads use, assembled here with hash maps.
//! Rules, most of a large organization, are read only for the groups whose rules version the
//! store has not kept (`rules::RulesCache`): after a write, those the write touched. Servers
//! with their interfaces, addresses and tags are read only when their revision moved (migration
//! 0017): not after a write of groups, rules or address lists. Every list comes out in the
//! order the per-object reads give it (creation order; members, annotations, interfaces and
//! tags by position), so a snapshot's group, server or host is the same value
//! `Store::security_group`, `Store::server` or `Store::host` reads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use palisade_core::error::Result;
use palisade_core::id::{OrganizationId, SecurityGroupId, ServerId};
use palisade_core::model::Server;
use palisade_core::policy::{GroupKind, Member};
use palisade_core::snapshot::{GroupPolicy, HostPolicy, PolicySnapshot};
use uuid::Uuid;

use super::address_lists::{entry_from, list_from};
use super::db::{self, SEQ};
use super::fetch_all;
use super::hosts::overlay_from;
use super::inventory::{interface_from, server_from};
use super::policy::{group_with_children, server_group_from, tag_from};
use super::rows::get;
use super::rules::RulesCache;

/// Each row of one query, with `$1` bound to the organization.
async fn rows_of(conn: &mut db::Conn, sql: &str, org: OrganizationId) -> Result<Vec<db::Row>> {
    fetch_all(conn, sqlx::query(sql).bind(org.as_uuid())).await
}

/// Index of each id in a list, to attach children rows to their parent.
fn index_of(ids: impl Iterator<Item = Uuid>) -> HashMap<Uuid, usize> {
    ids.enumerate().map(|(i, id)| (id, i)).collect()
}

/// What the policy snapshots of a store handle (a node) last read, that the next may keep
/// instead of reading it again.
#[derive(Debug, Default)]
pub(crate) struct SnapshotCache {
    rules: RulesCache,
    servers: ServersCache,
}

/// Each organization's servers, with their interfaces, addresses and tags, as its last snapshot
/// read them, with their servers' revision: every write that may change a server sets that to
/// the revision its commit makes, on any node, in its transaction (`revisions::Touched`), so
/// servers read at one servers' revision are the servers of every later snapshot at the same
/// one. Bounded to [`MOST_KEPT_SERVERS`]; an organization's entry is replaced by its latest.
#[derive(Debug, Default)]
struct ServersCache {
    by_org: Mutex<HashMap<OrganizationId, KeptServers>>,
}

/// An organization's servers at one servers' revision.
type KeptServers = (u64, Arc<Vec<Server>>);

/// Most servers kept, over every organization.
const MOST_KEPT_SERVERS: usize = 200_000;

impl ServersCache {
    fn get(&self, org: OrganizationId, revision: u64) -> Option<Arc<Vec<Server>>> {
        let by_org = self.by_org.lock().ok()?;
        by_org.get(&org).filter(|(kept, _)| *kept == revision).map(|(_, servers)| servers.clone())
    }

    fn keep(&self, org: OrganizationId, revision: u64, servers: Arc<Vec<Server>>) {
        if let Ok(mut by_org) = self.by_org.lock() {
            by_org.insert(org, (revision, servers));
            if by_org.values().map(|(_, servers)| servers.len()).sum::<usize>() > MOST_KEPT_SERVERS {
                by_org.retain(|kept, _| *kept == org);
            }
        }
    }
}

/// The organization's policy, with its revision, as the connection's transaction sees it.
pub(crate) async fn policy_snapshot(
    conn: &mut db::Conn,
    org: OrganizationId,
    kept: &SnapshotCache,
) -> Result<PolicySnapshot> {
    let mut snapshot = PolicySnapshot::empty(org);
    let servers_revision;
    (snapshot.revision, servers_revision) = super::revisions::revisions(conn, org).await?;
    groups(conn, org, &mut snapshot, &kept.rules).await?;
    match kept.servers.get(org, servers_revision) {
        Some(servers) => snapshot.servers = Vec::clone(&servers),
        None => {
            servers(conn, org, &mut snapshot).await?;
            kept.servers.keep(org, servers_revision, Arc::new(snapshot.servers.clone()));
        }
    }
    let sql = format!("SELECT * FROM server_groups WHERE organization_id = $1 ORDER BY {SEQ}");
    snapshot.server_groups =
        rows_of(conn, &sql, org).await?.iter().map(server_group_from).collect::<Result<_>>()?;
    let sql = format!("SELECT * FROM tags WHERE organization_id = $1 ORDER BY {SEQ}");
    snapshot.tags = rows_of(conn, &sql, org).await?.iter().map(tag_from).collect::<Result<_>>()?;
    address_lists(conn, org, &mut snapshot).await?;
    hosts(conn, org, &mut snapshot).await?;
    Ok(snapshot)
}

/// Groups and roles with their members, annotations and rules (with their remotes and ports):
/// one query, and three for the rules of the groups `seen` has not kept at their version.
async fn groups(
    conn: &mut db::Conn,
    org: OrganizationId,
    snapshot: &mut PolicySnapshot,
    seen: &RulesCache,
) -> Result<()> {
    // Each group with its members and annotations in its own row, as JSON (as a page of groups
    // reads them): one row per group rather than one per member and per annotation.
    let sql = format!(
        "SELECT g.*, {} AS members_json, {} AS annotations_json FROM security_groups g
         WHERE g.organization_id = $1 ORDER BY g.{SEQ}",
        db::GROUP_MEMBERS_JSON,
        db::GROUP_ANNOTATIONS_JSON
    );
    let rows = rows_of(conn, &sql, org).await?;
    snapshot.groups = rows
        .iter()
        .map(|row| Ok(GroupPolicy { group: group_with_children(row)?, rules: Arc::default() }))
        .collect::<Result<_>>()?;
    let versions = snapshot
        .groups
        .iter()
        .zip(&rows)
        .map(|(g, row)| Ok((g.group.id, get::<i64>(row, "rules_version")?)))
        .collect::<Result<Vec<_>>>()?;
    let groups = &mut snapshot.groups;
    let mut kept = seen.rules(conn, org, &versions).await?;
    for group in groups.iter_mut() {
        if let Some(rules) = kept.remove(&group.group.id.as_uuid()) {
            group.rules = rules;
        }
    }
    Ok(())
}

/// Servers with their interfaces, the addresses allocated to those, and their tags: four
/// queries.
async fn servers(conn: &mut db::Conn, org: OrganizationId, snapshot: &mut PolicySnapshot) -> Result<()> {
    let sql = format!("SELECT * FROM servers WHERE organization_id = $1 ORDER BY {SEQ}");
    snapshot.servers = rows_of(conn, &sql, org).await?.iter().map(server_from).collect::<Result<_>>()?;
    let servers = &mut snapshot.servers;
    let index = index_of(servers.iter().map(|s| s.id.as_uuid()));
    // Addresses of each interface, in their creation order (as `Store::server` lists them).
    let sql = format!(
        "SELECT a.interface_id, a.address FROM ip_addresses a
         JOIN interfaces i ON i.id = a.interface_id AND i.server_id = a.server_id
         JOIN servers s ON s.id = i.server_id
         WHERE s.organization_id = $1 ORDER BY a.{SEQ}"
    );
    let mut addresses: HashMap<Uuid, Vec<std::net::IpAddr>> = HashMap::new();
    for row in rows_of(conn, &sql, org).await? {
        addresses.entry(get(&row, "interface_id")?).or_default().push(db::addr_of(&row, "address")?);
    }
    let sql = "SELECT i.id, i.server_id, i.network_id FROM interfaces i JOIN servers s ON s.id = i.server_id
               WHERE s.organization_id = $1 ORDER BY i.server_id, i.position";
    for row in rows_of(conn, sql, org).await? {
        if let Some(&i) = index.get(&get(&row, "server_id")?) {
            let mut interface = interface_from(&row)?;
            interface.addresses = addresses.remove(&interface.id.as_uuid()).unwrap_or_default();
            servers[i].interfaces.push(interface);
        }
    }
    let sql = "SELECT t.server_id, t.tag FROM server_tags t JOIN servers s ON s.id = t.server_id
               WHERE s.organization_id = $1 ORDER BY t.server_id, t.position";
    for row in rows_of(conn, sql, org).await? {
        if let Some(&i) = index.get(&get(&row, "server_id")?) {
            servers[i].tags.push(get(&row, "tag")?);
        }
    }
    Ok(())
}

/// The organization's address lists and the global ones, with their entries: two queries.
async fn address_lists(
    conn: &mut db::Conn,
    org: OrganizationId,
    snapshot: &mut PolicySnapshot,
) -> Result<()> {
    let visible = "(l.organization_id = $1 OR l.organization_id IS NULL)";
    let sql = format!("SELECT l.* FROM address_lists l WHERE {visible} ORDER BY l.{SEQ}");
    let mut lists = rows_of(conn, &sql, org).await?.iter().map(list_from).collect::<Result<Vec<_>>>()?;
    let index = index_of(lists.iter().map(|l| l.id.as_uuid()));
    let sql = format!(
        "SELECT e.* FROM address_list_entries e JOIN address_lists l ON l.id = e.list_id
         WHERE {visible} ORDER BY e.{SEQ}"
    );
    for row in rows_of(conn, &sql, org).await? {
        let entry = entry_from(&row)?;
        if let Some(&i) = index.get(&entry.list_id.as_uuid()) {
            lists[i].entries.push(entry);
        }
    }
    (snapshot.address_lists, snapshot.global_address_lists) =
        lists.into_iter().partition(|l| l.organization_id.is_some());
    Ok(())
}

/// The servers that are hosts, with their overlay settings and roles: one query (the roles are
/// the role groups' server members, already read).
async fn hosts(conn: &mut db::Conn, org: OrganizationId, snapshot: &mut PolicySnapshot) -> Result<()> {
    let mut role_of: HashMap<ServerId, SecurityGroupId> = HashMap::new();
    for g in snapshot.groups_of(GroupKind::Role) {
        for member in &g.group.members {
            if let Member::Server(server) = member {
                role_of.entry(*server).or_insert(g.group.id);
            }
        }
    }
    let sql = "SELECT h.* FROM host_attributes h JOIN servers s ON s.id = h.server_id
               WHERE s.organization_id = $1";
    let mut hosts: HashMap<Uuid, HostPolicy> = HashMap::new();
    for row in rows_of(conn, sql, org).await? {
        let server_id = ServerId::from_uuid(get(&row, "server_id")?);
        let host = HostPolicy {
            server_id,
            role: role_of.get(&server_id).copied(),
            overlay: overlay_from(&row)?,
            modified_at: db::time_of(&row, "modified_at")?,
        };
        hosts.insert(server_id.as_uuid(), host);
    }
    // In the servers' creation order, as host listings give them.
    snapshot.hosts = snapshot.servers.iter().filter_map(|s| hosts.remove(&s.id.as_uuid())).collect();
    Ok(())
}
