//! A rule's remotes and ports as typed rows (migration 0007), written and read here once for
//! both backends.
//!
//! A remote is a row of `security_group_rule_remotes`: its kind and the columns that kind uses
//! (the CIDR text exactly as the client wrote it, the id of the object named, the role of a
//! hosts remote), with a hosts remote's tags in `security_group_rule_remote_tags`; a port range
//! is a row of `security_group_rule_ports`. Positions keep each list in the client's order. No
//! text format of the core's types is stored, so the core and the faces may change theirs.
//!
//! Reads and writes are batched: the children of any number of rules cost one query for the
//! remotes (with their tags, joined) and one for the ports, and writing them one `INSERT` per
//! table (per [`super::ROWS_PER_INSERT`] rows). A listing page, a rule and a page of groups'
//! rules therefore load in a constant number of queries. Children are looked up by rule id
//! (the rules are read first), which PostgreSQL plans as index lookups for a page.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use palisade_core::error::{Error, Result};
use palisade_core::id::{
    AddressListId, OrganizationId, RuleId, SecurityGroupId, ServerGroupId, ServerId, TagId,
};
use palisade_core::policy::{PortRange, Remote, Rule};
use uuid::Uuid;

use super::db;
use super::rows::get;
use super::{execute, fetch_all, insert_rows, position};

/// Whose children [`load_children`] reads: those of the rules given (a rule, a page of a
/// group's rules), or every rule of some groups or of an organization (their rules, all read).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Of<'a> {
    Rules,
    Groups(&'a [Uuid]),
    Organization(Uuid),
}

/// Rules per query when children are selected by rule id: every page of a listing (at most
/// 200) and a large organization's rules (10,000) are one query per table, and SQLite's limit
/// on bound parameters (32,766) is never reached.
const RULES_PER_QUERY: usize = 10_000;

/// How a query selects child rows: by the rules' ids, or through a subquery over the rules of
/// some groups. Which is cheaper for many rules differs per backend
/// (`db::CHILDREN_THROUGH_PARENTS`).
#[derive(Debug, Clone, Copy)]
enum Among<'a> {
    Rules(&'a [Uuid]),
    Groups(&'a [Uuid]),
    Organization(Uuid),
}

impl Among<'_> {
    /// The condition restricting child rows `alias` to these rules, its parameters from `$1`
    /// ([`Among::bind`]).
    fn filter(&self, alias: &str) -> String {
        match self {
            Among::Rules(ids) => format!("{alias}.rule_id {}", db::in_list(1, ids.len())),
            Among::Groups(ids) => format!(
                "{alias}.rule_id IN (SELECT id FROM security_group_rules WHERE group_id {})",
                db::in_list(1, ids.len())
            ),
            Among::Organization(_) => format!(
                "{alias}.rule_id IN (SELECT r.id FROM security_group_rules r
                                     JOIN security_groups g ON g.id = r.group_id
                                     WHERE g.organization_id = $1)"
            ),
        }
    }

    fn bind<'q>(&self, query: db::Query<'q>) -> db::Query<'q>
    where
        Self: 'q,
    {
        match *self {
            Among::Rules(ids) | Among::Groups(ids) => db::bind_list(query, ids),
            Among::Organization(org) => query.bind(org),
        }
    }
}

/// A remote's row: its kind, CIDR text, object id and role id.
struct RemoteRow<'a> {
    rule: Uuid,
    position: i32,
    kind: &'static str,
    cidr: Option<&'a str>,
    object: Option<Uuid>,
    role: Option<Uuid>,
}

fn remote_row(rule: Uuid, position: i32, remote: &Remote) -> RemoteRow<'_> {
    let (kind, cidr, object, role) = match remote {
        Remote::AnyIpv4 => ("all_ipv4", None, None, None),
        Remote::AnyIpv6 => ("all_ipv6", None, None, None),
        Remote::Cidr(text) => ("cidr", Some(text.as_str()), None, None),
        Remote::Server(id) => ("server", None, Some(id.as_uuid()), None),
        Remote::Group(id) => ("group", None, Some(id.as_uuid()), None),
        Remote::ServerGroup(id) => ("server_group", None, Some(id.as_uuid()), None),
        Remote::Tag(id) => ("tag", None, Some(id.as_uuid()), None),
        Remote::AddressList(id) => ("address_list", None, Some(id.as_uuid()), None),
        Remote::Hosts { role, .. } => ("hosts", None, None, role.map(|r| r.as_uuid())),
    };
    RemoteRow { rule, position, kind, cidr, object, role }
}

/// A remote from its row (a hosts remote without its tags yet).
fn remote_from(row: &db::Row) -> Result<Remote> {
    let kind: String = get(row, "kind")?;
    let object = || {
        get::<Option<Uuid>>(row, "object_id")?
            .ok_or_else(|| Error::internal(format!("stored {kind} remote without its id")))
    };
    Ok(match kind.as_str() {
        "all_ipv4" => Remote::AnyIpv4,
        "all_ipv6" => Remote::AnyIpv6,
        "cidr" => Remote::Cidr(
            get::<Option<String>>(row, "cidr")?
                .ok_or_else(|| Error::internal("stored cidr remote without its CIDR"))?,
        ),
        "server" => Remote::Server(ServerId::from_uuid(object()?)),
        "group" => Remote::Group(SecurityGroupId::from_uuid(object()?)),
        "server_group" => Remote::ServerGroup(ServerGroupId::from_uuid(object()?)),
        "tag" => Remote::Tag(TagId::from_uuid(object()?)),
        "address_list" => Remote::AddressList(AddressListId::from_uuid(object()?)),
        "hosts" => Remote::Hosts {
            role: get::<Option<Uuid>>(row, "role_id")?.map(SecurityGroupId::from_uuid),
            tags: Vec::new(),
        },
        other => return Err(Error::internal(format!("stored remote kind {other}"))),
    })
}

/// Writes the remotes and ports of `rules`, whose rows exist and have none yet: one batched
/// `INSERT` per table for all of them.
pub(crate) async fn write_children(conn: &mut db::Conn, rules: &[Rule]) -> Result<()> {
    let mut remotes = Vec::new();
    let mut tags = Vec::new();
    let mut ports = Vec::new();
    for rule in rules {
        let id = rule.id.as_uuid();
        for (i, remote) in rule.remotes.iter().enumerate() {
            remotes.push(remote_row(id, position(i), remote));
            if let Remote::Hosts { tags: of_remote, .. } = remote {
                tags.extend(
                    of_remote.iter().enumerate().map(|(j, t)| (id, position(i), position(j), t.as_str())),
                );
            }
        }
        ports.extend(rule.ports.iter().enumerate().map(|(i, p)| (id, position(i), *p)));
    }
    let into = "security_group_rule_remotes (rule_id, position, kind, cidr, object_id, role_id)";
    insert_rows(conn, into, &remotes, bind_remote, db::db_error).await?;
    let into = "security_group_rule_remote_tags (rule_id, remote_position, position, tag)";
    insert_rows(conn, into, &tags, bind_tag, db::db_error).await?;
    let into = "security_group_rule_ports (rule_id, position, first_port, last_port)";
    insert_rows(conn, into, &ports, bind_port, db::db_error).await
}

fn bind_remote<'q>(q: db::Query<'q>, _: usize, r: &'q RemoteRow<'_>) -> db::Query<'q> {
    q.bind(r.rule).bind(r.position).bind(r.kind).bind(r.cidr).bind(r.object).bind(r.role)
}

/// A hosts remote's tag: rule, remote's position, tag's position, tag.
fn bind_tag<'q>(q: db::Query<'q>, _: usize, t: &'q (Uuid, i32, i32, &str)) -> db::Query<'q> {
    q.bind(t.0).bind(t.1).bind(t.2).bind(t.3)
}

/// A port range: rule, position, range.
fn bind_port<'q>(q: db::Query<'q>, _: usize, p: &'q (Uuid, i32, PortRange)) -> db::Query<'q> {
    q.bind(p.0).bind(p.1).bind(i32::from(p.2.from)).bind(i32::from(p.2.to))
}

/// Deletes a rule's remotes (and their tags) and ports, before they are written anew.
pub(crate) async fn clear_children(conn: &mut db::Conn, rule: RuleId) -> Result<()> {
    for table in ["security_group_rule_remotes", "security_group_rule_ports"] {
        let sql = format!("DELETE FROM {table} WHERE rule_id = $1");
        execute(conn, sqlx::query(&sql).bind(rule.as_uuid())).await?;
    }
    Ok(())
}

/// Fills in the remotes and ports of `rules` (decoded from their rows, with none), which are
/// those `of` names: two queries (per [`RULES_PER_QUERY`] rules, when by id), whatever their
/// number.
pub(crate) async fn load_children(conn: &mut db::Conn, rules: &mut [Rule], of: Of<'_>) -> Result<()> {
    let ids: Vec<Uuid> = rules.iter().map(|r| r.id.as_uuid()).collect();
    let index: HashMap<Uuid, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    match of {
        Of::Groups(groups) if db::CHILDREN_THROUGH_PARENTS && !rules.is_empty() => {
            load(conn, rules, &index, Among::Groups(groups)).await
        }
        Of::Organization(org) if db::CHILDREN_THROUGH_PARENTS && !rules.is_empty() => {
            load(conn, rules, &index, Among::Organization(org)).await
        }
        _ => {
            for chunk in ids.chunks(RULES_PER_QUERY) {
                load(conn, rules, &index, Among::Rules(chunk)).await?;
            }
            Ok(())
        }
    }
}

/// The remotes (their tags joined) and the ports of the rules `among` selects, into the rules
/// `index` places.
async fn load(
    conn: &mut db::Conn,
    rules: &mut [Rule],
    index: &HashMap<Uuid, usize>,
    among: Among<'_>,
) -> Result<()> {
    let sql = format!(
        "SELECT m.rule_id, m.position, m.kind, m.cidr, m.object_id, m.role_id, t.tag
         FROM security_group_rule_remotes m
         LEFT JOIN security_group_rule_remote_tags t
                ON t.rule_id = m.rule_id AND t.remote_position = m.position AND {}
         WHERE {} ORDER BY m.rule_id, m.position, t.position",
        among.filter("t"),
        among.filter("m")
    );
    let mut last: Option<(Uuid, i32)> = None;
    for row in fetch_all(&mut *conn, among.bind(sqlx::query(&sql))).await? {
        let rule: Uuid = get(&row, "rule_id")?;
        let Some(&i) = index.get(&rule) else { continue };
        let key = (rule, get::<i32>(&row, "position")?);
        if last != Some(key) {
            rules[i].remotes.push(remote_from(&row)?);
            last = Some(key);
        }
        if let Some(tag) = get::<Option<String>>(&row, "tag")? {
            match rules[i].remotes.last_mut() {
                Some(Remote::Hosts { tags, .. }) => tags.push(tag),
                _ => return Err(Error::internal("a stored tag of a remote that is not of hosts")),
            }
        }
    }

    let sql = format!(
        "SELECT p.rule_id, p.first_port, p.last_port FROM security_group_rule_ports p
         WHERE {} ORDER BY p.rule_id, p.position",
        among.filter("p")
    );
    for row in fetch_all(conn, among.bind(sqlx::query(&sql))).await? {
        let Some(&i) = index.get(&get::<Uuid>(&row, "rule_id")?) else { continue };
        let port = |col: &str| u16::try_from(get::<i32>(&row, col)?).map_err(Error::internal);
        rules[i].ports.push(PortRange { from: port("first_port")?, to: port("last_port")? });
    }
    Ok(())
}

/// The rules of each organization's groups, with their remotes and ports, as its last policy
/// snapshot read them, by group and rules version. A group's rules version changes in the
/// transaction of every write of its rules (on any node: `policy::rules_changed`), so a group
/// read at a version has exactly the rules kept for it: a snapshot reads the groups, and the
/// rules only of those whose version it has not kept. After a write the next snapshot reads the
/// rules of the groups that write touched, not the organization's 100,000 (most of a
/// provider-size snapshot's read). Kept per store handle (per node) and bounded to
/// [`MOST_KEPT`] rules; an organization's entry is replaced by its latest snapshot, so deleted
/// groups leave with it.
#[derive(Debug, Default)]
pub(crate) struct RulesCache {
    by_org: Mutex<HashMap<OrganizationId, Arc<HashMap<Uuid, Kept>>>>,
}

/// One group's rules at one version of them.
#[derive(Debug, Clone)]
struct Kept {
    version: i64,
    rules: Arc<Vec<Rule>>,
}

/// Most rules kept, over every organization (a few hundred bytes each).
const MOST_KEPT: usize = 1_000_000;

/// Groups per query when the rules of some groups are read (SQLite's bound parameters).
const GROUPS_PER_QUERY: usize = 10_000;

impl RulesCache {
    /// The rules of `org`'s `groups` (each with its rules version), by group: what was kept at
    /// the same version, the rest read (three queries per [`GROUPS_PER_QUERY`] groups, or for
    /// the whole organization when none was kept); then keeps them as they are now.
    pub(crate) async fn rules(
        &self,
        conn: &mut db::Conn,
        org: OrganizationId,
        groups: &[(SecurityGroupId, i64)],
    ) -> Result<HashMap<Uuid, Arc<Vec<Rule>>>> {
        let kept = self.by_org.lock().ok().and_then(|by_org| by_org.get(&org).cloned()).unwrap_or_default();
        let mut now: HashMap<Uuid, Kept> = HashMap::with_capacity(groups.len());
        let mut unread = Vec::new();
        for &(group, version) in groups {
            match kept.get(&group.as_uuid()) {
                Some(k) if k.version == version => {
                    now.insert(group.as_uuid(), k.clone());
                }
                _ => unread.push((group, version)),
            }
        }
        if !unread.is_empty() {
            let read = if unread.len() == groups.len() {
                super::policy::rules_of_organization(conn, org).await?
            } else {
                let mut read = Vec::new();
                for chunk in unread.chunks(GROUPS_PER_QUERY) {
                    let ids: Vec<SecurityGroupId> = chunk.iter().map(|(g, _)| *g).collect();
                    read.extend(super::policy::rules_of_groups(conn, &ids).await?);
                }
                read
            };
            let mut by_group: HashMap<Uuid, Vec<Rule>> = HashMap::new();
            for rule in read {
                by_group.entry(rule.group_id.as_uuid()).or_default().push(rule);
            }
            for (group, version) in unread {
                let rules = Arc::new(by_group.remove(&group.as_uuid()).unwrap_or_default());
                now.insert(group.as_uuid(), Kept { version, rules });
            }
        }
        let rules = now.iter().map(|(group, k)| (*group, k.rules.clone())).collect();
        if let Ok(mut by_org) = self.by_org.lock() {
            by_org.insert(org, Arc::new(now));
            let total: usize =
                by_org.values().flat_map(|groups| groups.values()).map(|k| k.rules.len()).sum();
            if total > MOST_KEPT {
                by_org.retain(|kept, _| *kept == org);
            }
        }
        Ok(rules)
    }
}
