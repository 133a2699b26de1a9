//! The policy snapshot (`palisade_core::snapshot`): everything that decides one organization's
//! policy, read on one connection inside the caller's consistent read (the seam's
//! `consistent_read`: one state of the database for every query).
//!
//! The cost is a fixed number of queries (at most fifteen, with the revision), whatever the
//! organization's size: about one per table, each selecting the organization's rows (children
//! through a join with their parent; a group's members and annotations as JSON in its own row),
//! each decoded by the same row decoder the per-object reads use, assembled here with hash maps.
//! Rules, most of a large organization, are read only for the groups whose rules version the
//! store has not kept (`rules::RulesCache`): after a write, those the write touched. Servers
//! with their interfaces, addresses and tags are read only when their revision moved (migration
//! 0017): not after a write of groups, rules or address lists. After a server write, only the
//! servers whose version moved are read (migration 0018: triggers move it). Every list comes out
//! in the order the per-object reads give it (creation order; members, annotations, interfaces
//! and tags by position), so a snapshot's group, server or host is the same value
//! `Store::security_group`, `Store::server` or `Store::host` reads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use palisade_core::error::{Error, Result};
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
/// read them: at their servers' revision, each at its version. Every write that may change a
/// server sets the servers' revision to the revision its commit makes, on any node, in its
/// transaction (`revisions::Touched`), so servers read at one servers' revision are the servers
/// of every later snapshot at the same one. And each server's version moves, by triggers, with
/// anything of it a snapshot reads (migration 0018): when the revision moved, a server at the
/// version kept is the server kept. Bounded to [`MOST_KEPT_SERVERS`]; an organization's entry is
/// replaced by its latest.
#[derive(Debug, Default)]
struct ServersCache {
    by_org: Mutex<HashMap<OrganizationId, KeptServers>>,
}

/// An organization's servers at one servers' revision, with each one's version.
#[derive(Debug, Clone)]
struct KeptServers {
    revision: u64,
    servers: Arc<Vec<Versioned>>,
}

/// A server as read at its version.
#[derive(Debug, Clone)]
struct Versioned {
    version: i64,
    server: Server,
}

/// Most servers kept, over every organization.
const MOST_KEPT_SERVERS: usize = 200_000;

/// Most servers read by id after a server write; more changed than this, and the whole
/// organization's servers are read instead (binding thousands of ids costs more than that).
const MOST_READ_BY_ID: usize = 500;

impl ServersCache {
    fn get(&self, org: OrganizationId) -> Option<KeptServers> {
        self.by_org.lock().ok()?.get(&org).cloned()
    }

    fn keep(&self, org: OrganizationId, revision: u64, servers: Arc<Vec<Versioned>>) {
        if let Ok(mut by_org) = self.by_org.lock() {
            by_org.insert(org, KeptServers { revision, servers });
            if by_org.values().map(|kept| kept.servers.len()).sum::<usize>() > MOST_KEPT_SERVERS {
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
    snapshot.servers = servers(conn, org, servers_revision, &kept.servers).await?;
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

/// The organization's servers with their interfaces, the addresses allocated to those, and their
/// tags: those `kept` at this servers' revision; else, when some were kept at an earlier one,
/// their versions (one query) and the servers whose version moved (four queries, by id); else
/// all of them (four queries).
async fn servers(
    conn: &mut db::Conn,
    org: OrganizationId,
    revision: u64,
    kept: &ServersCache,
) -> Result<Vec<Server>> {
    let earlier = kept.get(org);
    let servers = match earlier {
        Some(k) if k.revision == revision => k.servers,
        Some(k) => Arc::new(changed_servers(conn, org, &k.servers).await?),
        None => Arc::new(read_servers(conn, Which::Organization(org)).await?),
    };
    kept.keep(org, revision, servers.clone());
    Ok(servers.iter().map(|v| v.server.clone()).collect())
}

/// The organization's servers now: those of `earlier` at the same version, the others read.
async fn changed_servers(
    conn: &mut db::Conn,
    org: OrganizationId,
    earlier: &[Versioned],
) -> Result<Vec<Versioned>> {
    let sql = format!("SELECT id, version FROM servers WHERE organization_id = $1 ORDER BY {SEQ}");
    let mut now = Vec::new();
    for row in rows_of(conn, &sql, org).await? {
        now.push((get::<Uuid>(&row, "id")?, get::<i64>(&row, "version")?));
    }
    let earlier: HashMap<Uuid, &Versioned> = earlier.iter().map(|v| (v.server.id.as_uuid(), v)).collect();
    let same = |(id, version): &(Uuid, i64)| earlier.get(id).filter(|v| v.version == *version).copied();
    let changed: Vec<Uuid> = now.iter().filter(|s| same(s).is_none()).map(|(id, _)| *id).collect();
    if changed.len() > MOST_READ_BY_ID {
        return read_servers(conn, Which::Organization(org)).await;
    }
    let mut read: HashMap<Uuid, Versioned> = read_servers(conn, Which::Ids(&changed))
        .await?
        .into_iter()
        .map(|v| (v.server.id.as_uuid(), v))
        .collect();
    now.iter()
        .map(|s| match same(s) {
            Some(kept) => Ok(kept.clone()),
            None => read.remove(&s.0).ok_or_else(|| Error::internal("a server vanished inside its snapshot")),
        })
        .collect()
}

/// Which servers [`read_servers`] reads.
#[derive(Clone, Copy)]
enum Which<'a> {
    Organization(OrganizationId),
    Ids(&'a [Uuid]),
}

impl<'a> Which<'a> {
    /// The condition on the servers `s` it names.
    fn condition(self) -> String {
        match self {
            Which::Organization(_) => "s.organization_id = $1".to_owned(),
            Which::Ids(ids) => format!("s.id {}", db::in_list(1, ids.len())),
        }
    }

    /// `query` with the values of [`Which::condition`] bound.
    fn bind(self, query: db::Query<'a>) -> db::Query<'a> {
        match self {
            Which::Organization(org) => query.bind(org.as_uuid()),
            Which::Ids(ids) => db::bind_list(query, ids),
        }
    }
}

/// Servers with their versions, interfaces, the addresses allocated to those, and their tags,
/// in creation order: four queries.
async fn read_servers(conn: &mut db::Conn, which: Which<'_>) -> Result<Vec<Versioned>> {
    if matches!(which, Which::Ids([])) {
        return Ok(Vec::new());
    }
    let among = which.condition();
    let sql = format!("SELECT s.* FROM servers s WHERE {among} ORDER BY s.{SEQ}");
    let rows = fetch_all(conn, which.bind(sqlx::query(&sql))).await?;
    let mut servers = rows
        .iter()
        .map(|row| Ok(Versioned { version: get(row, "version")?, server: server_from(row)? }))
        .collect::<Result<Vec<_>>>()?;
    let index = index_of(servers.iter().map(|s| s.server.id.as_uuid()));
    // Addresses of each interface, in their creation order (as `Store::server` lists them).
    let sql = format!(
        "SELECT a.interface_id, a.address FROM ip_addresses a
         JOIN interfaces i ON i.id = a.interface_id AND i.server_id = a.server_id
         JOIN servers s ON s.id = i.server_id
         WHERE {among} ORDER BY a.{SEQ}"
    );
    let mut addresses: HashMap<Uuid, Vec<std::net::IpAddr>> = HashMap::new();
    for row in fetch_all(conn, which.bind(sqlx::query(&sql))).await? {
        addresses.entry(get(&row, "interface_id")?).or_default().push(db::addr_of(&row, "address")?);
    }
    let sql = format!(
        "SELECT i.id, i.server_id, i.network_id FROM interfaces i JOIN servers s ON s.id = i.server_id
         WHERE {among} ORDER BY i.server_id, i.position"
    );
    for row in fetch_all(conn, which.bind(sqlx::query(&sql))).await? {
        if let Some(&i) = index.get(&get(&row, "server_id")?) {
            let mut interface = interface_from(&row)?;
            interface.addresses = addresses.remove(&interface.id.as_uuid()).unwrap_or_default();
            servers[i].server.interfaces.push(interface);
        }
    }
    let sql = format!(
        "SELECT t.server_id, t.tag FROM server_tags t JOIN servers s ON s.id = t.server_id
         WHERE {among} ORDER BY t.server_id, t.position"
    );
    for row in fetch_all(conn, which.bind(sqlx::query(&sql))).await? {
        if let Some(&i) = index.get(&get(&row, "server_id")?) {
            servers[i].server.tags.push(get(&row, "tag")?);
        }
    }
    Ok(servers)
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
