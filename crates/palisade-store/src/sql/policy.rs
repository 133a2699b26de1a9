//! Security groups (and roles) with their members, annotations and rules; rule numbers per
//! organization (migration 0005); tags and server groups.

use std::collections::HashMap;

use async_trait::async_trait;
use palisade_core::error::{Error, Result};
use palisade_core::grant::Grant;
use palisade_core::id::{
    InterfaceId, NetworkId, OrganizationId, RuleId, SecurityGroupId, ServerGroupId, ServerId, TagId,
};
use palisade_core::policy::{
    allow_all_violation, Action, Annotation, Direction, GroupFilter, GroupKind, IcmpMatch, IpVersion, Member,
    Protocol, Rule, SecurityGroup, SecurityGroupPatch, ServerGroup, Tag,
};
use palisade_core::store::{PolicyReads, PolicyWrites};
use palisade_core::{Page, PageRequest};
use time::OffsetDateTime;
use uuid::Uuid;

use super::db::{self, FOR_SHARE, SEQ};
use super::grants::{within, GROUP_OWNER, RULE_OWNER, SERVER_GROUP_OWNER, TAG_OWNER};
use super::rows::get;
use super::rules::{clear_children, load_children, write_children, Of};
use super::{
    by_id, constraint_error, count, delete_by_id, execute, fetch_all, fetch_optional, found, insert_rows,
    lock_row, page_of, position, Connection, Tx, Unique, WriteTx,
};

const GROUP: &str = "security group";
const ORG: &str = "organization";

/// A member's columns, in [`MEMBER_COLUMNS`] order: exactly one of them set.
fn member_columns(member: &Member) -> [Option<Uuid>; 5] {
    let mut columns = [None; 5];
    let (at, id) = match member {
        Member::Server(s) => (0, s.as_uuid()),
        Member::ServerGroup(g) => (1, g.as_uuid()),
        Member::Tag(t) => (2, t.as_uuid()),
        Member::Network(n) => (3, n.as_uuid()),
        Member::Interface(i) => (4, i.as_uuid()),
    };
    columns[at] = Some(id);
    columns
}

/// The columns naming a member (migrations 0002 and 0010).
const MEMBER_COLUMNS: &str = "server_id, server_group_id, tag_id, network_id, interface_id";

async fn write_members(conn: &mut db::Conn, id: SecurityGroupId, members: &[Member]) -> Result<()> {
    let group = id.as_uuid();
    execute(conn, sqlx::query("DELETE FROM security_group_members WHERE group_id = $1").bind(group)).await?;
    let into = format!("security_group_members (group_id, position, {MEMBER_COLUMNS})");
    insert_rows(
        conn,
        &into,
        members,
        |q, i, member| {
            member_columns(member).into_iter().fold(q.bind(group).bind(position(i)), |q, c| q.bind(c))
        },
        |e| constraint_error(e, &[], ServerId::KIND),
    )
    .await
}

async fn write_annotations(
    conn: &mut db::Conn,
    id: SecurityGroupId,
    annotations: &[Annotation],
) -> Result<()> {
    let group = id.as_uuid();
    execute(conn, sqlx::query("DELETE FROM security_group_annotations WHERE group_id = $1").bind(group))
        .await?;
    let into = "security_group_annotations (group_id, position, key, value)";
    insert_rows(
        conn,
        into,
        annotations,
        |q, i, a| q.bind(group).bind(position(i)).bind(&a.key).bind(&a.value),
        db::db_error,
    )
    .await
}

/// A group from its row, without its members and annotations (children rows add them).
pub(crate) fn group_from(row: &db::Row) -> Result<SecurityGroup> {
    let kind: String = get(row, "kind")?;
    Ok(SecurityGroup {
        id: SecurityGroupId::from_uuid(get(row, "id")?),
        organization_id: OrganizationId::from_uuid(get(row, "organization_id")?),
        kind: GroupKind::parse(&kind).ok_or_else(|| Error::internal(format!("stored group kind {kind}")))?,
        name: get(row, "name")?,
        description: get(row, "description")?,
        allow_all_inbound: get(row, "allow_all_inbound")?,
        allow_all_outbound: get(row, "allow_all_outbound")?,
        allow_unmatched_outbound: get(row, "allow_unmatched_outbound")?,
        members: Vec::new(),
        annotations: Vec::new(),
        enabled: get(row, "enabled")?,
        ip_version: match get::<Option<i16>>(row, "ip_version")? {
            None => None,
            Some(n) => {
                Some(IpVersion::from_number(n.into()).ok_or_else(|| Error::internal("stored ip version"))?)
            }
        },
        serial: u64::try_from(get::<i64>(row, "seq")?).map_err(|_| Error::internal("stored group seq"))?,
        created_at: db::time_of(row, "created_at")?,
        updated_at: db::time_of(row, "updated_at")?,
    })
}

/// A member from a `security_group_members` row (exactly one of its columns is set).
pub(crate) fn member_from(row: &db::Row) -> Result<Member> {
    let column = |name: &str| get::<Option<Uuid>>(row, name);
    Ok(if let Some(server) = column("server_id")? {
        Member::Server(ServerId::from_uuid(server))
    } else if let Some(group) = column("server_group_id")? {
        Member::ServerGroup(ServerGroupId::from_uuid(group))
    } else if let Some(network) = column("network_id")? {
        Member::Network(NetworkId::from_uuid(network))
    } else if let Some(interface) = column("interface_id")? {
        Member::Interface(InterfaceId::from_uuid(interface))
    } else {
        Member::Tag(TagId::from_uuid(get(row, "tag_id")?))
    })
}

/// A group from a row that also carries its members and annotations as JSON
/// (`db::GROUP_MEMBERS_JSON`, `db::GROUP_ANNOTATIONS_JSON`): a page of groups in one query of
/// one row per group.
pub(crate) fn group_with_children(row: &db::Row) -> Result<SecurityGroup> {
    let mut group = group_from(row)?;
    let members: Vec<String> = serde_json::from_str(&get::<String>(row, "members_json")?)
        .map_err(|e| Error::internal(format!("group members as JSON: {e}")))?;
    group.members = members.iter().map(|m| member_of(m)).collect::<Result<_>>()?;
    let annotations: Vec<(String, Option<String>)> =
        serde_json::from_str(&get::<String>(row, "annotations_json")?)
            .map_err(|e| Error::internal(format!("group annotations as JSON: {e}")))?;
    group.annotations = annotations.into_iter().map(|(key, value)| Annotation { key, value }).collect();
    Ok(group)
}

/// A member from its JSON form: a kind letter and the id (hex or hyphenated).
fn member_of(text: &str) -> Result<Member> {
    let bad = || Error::internal(format!("stored group member {text}"));
    let (kind, id) = (text.get(..1).ok_or_else(bad)?, text.get(1..).ok_or_else(bad)?);
    let id = Uuid::parse_str(id).map_err(|_| bad())?;
    Ok(match kind {
        "s" => Member::Server(ServerId::from_uuid(id)),
        "g" => Member::ServerGroup(ServerGroupId::from_uuid(id)),
        "t" => Member::Tag(TagId::from_uuid(id)),
        "n" => Member::Network(NetworkId::from_uuid(id)),
        "i" => Member::Interface(InterfaceId::from_uuid(id)),
        _ => return Err(bad()),
    })
}

/// An annotation from a `security_group_annotations` row.
pub(crate) fn annotation_from(row: &db::Row) -> Result<Annotation> {
    Ok(Annotation { key: get(row, "key")?, value: get(row, "value")? })
}

/// Groups from their rows, with members and annotations read in one query each for all of them
/// (a page of a listing costs the same few queries whatever its size).
async fn groups_from_rows(conn: &mut db::Conn, rows: &[db::Row]) -> Result<Vec<SecurityGroup>> {
    let mut groups = rows.iter().map(group_from).collect::<Result<Vec<_>>>()?;
    if groups.is_empty() {
        return Ok(groups);
    }
    let ids: Vec<Uuid> = groups.iter().map(|g| g.id.as_uuid()).collect();
    let index: HashMap<Uuid, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let among = db::in_list(1, ids.len());
    let sql = format!(
        "SELECT group_id, {MEMBER_COLUMNS} FROM security_group_members
         WHERE group_id {among} ORDER BY group_id, position"
    );
    for r in fetch_all(&mut *conn, db::bind_list(sqlx::query(&sql), &ids)).await? {
        if let Some(&i) = index.get(&get(&r, "group_id")?) {
            groups[i].members.push(member_from(&r)?);
        }
    }
    let sql = format!(
        "SELECT group_id, key, value FROM security_group_annotations WHERE group_id {among}
         ORDER BY group_id, position"
    );
    for r in fetch_all(conn, db::bind_list(sqlx::query(&sql), &ids)).await? {
        if let Some(&i) = index.get(&get(&r, "group_id")?) {
            groups[i].annotations.push(annotation_from(&r)?);
        }
    }
    Ok(groups)
}

/// A rule from its row, without its remotes and ports (see [`rules_from_rows`]).
fn rule_from(row: &db::Row) -> Result<Rule> {
    let direction: String = get(row, "direction")?;
    let action: String = get(row, "action")?;
    let protocol: String = get(row, "protocol")?;
    Ok(Rule {
        id: RuleId::from_uuid(get(row, "id")?),
        group_id: SecurityGroupId::from_uuid(get(row, "group_id")?),
        direction: Direction::parse(&direction).ok_or_else(|| Error::internal("stored direction"))?,
        action: Action::parse(&action).ok_or_else(|| Error::internal("stored action"))?,
        protocol: Protocol::parse(&protocol).ok_or_else(|| Error::internal("stored protocol"))?,
        ports: Vec::new(),
        icmp: match get::<Option<i16>>(row, "icmp_type")? {
            None => None,
            Some(t) => Some(IcmpMatch {
                icmp_type: u8::try_from(t).map_err(|_| Error::internal("stored icmp type"))?,
                code: get::<Option<i16>>(row, "icmp_code")?
                    .map(|c| u8::try_from(c).map_err(|_| Error::internal("stored icmp code")))
                    .transpose()?,
            }),
        },
        priority: get(row, "priority")?,
        remotes: Vec::new(),
        description: get(row, "description")?,
        created_at: db::time_of(row, "created_at")?,
    })
}

/// The allow-all check of a rule's group, holding the group row (where rows lock) against
/// concurrent updates.
async fn check_direction(conn: &mut db::Conn, rule: &Rule) -> Result<()> {
    let sql =
        format!("SELECT allow_all_inbound, allow_all_outbound FROM security_groups WHERE id = $1{FOR_SHARE}");
    let row = fetch_optional(conn, sqlx::query(&sql).bind(rule.group_id.as_uuid())).await?;
    let row = row.ok_or(Error::not_found(GROUP))?;
    let blocked = match rule.direction {
        Direction::Inbound => get::<bool>(&row, "allow_all_inbound")?,
        Direction::Outbound => get::<bool>(&row, "allow_all_outbound")?,
    };
    if blocked {
        return Err(allow_all_violation(rule.direction));
    }
    Ok(())
}

/// Binds `$1`..`$7`: what a rule's row says (direction, action, protocol, priority,
/// description, ICMP type and code), as both inserting and replacing write it; its remotes and
/// ports are rows of their own (`super::rules`).
fn bind_rule<'q>(query: db::Query<'q>, rule: &'q Rule) -> db::Query<'q> {
    query
        .bind(rule.direction.as_str())
        .bind(rule.action.as_str())
        .bind(rule.protocol.as_text())
        .bind(rule.priority)
        .bind(rule.description.as_deref())
        .bind(rule.icmp.map(|i| i16::from(i.icmp_type)))
        .bind(rule.icmp.and_then(|i| i.code).map(i16::from))
}

/// A new version of a group's rules (migration 0015): random, so that writers on any node never
/// give one group the same version twice.
fn rules_version() -> i64 {
    i64::from_ne_bytes(SecurityGroupId::random().as_bytes()[..8].try_into().unwrap_or([0; 8]))
}

/// The group's rules (rows, remotes or ports) change in this transaction: a new rules version
/// for it, so that no policy snapshot keeps what they were (`rules::RulesCache`).
pub(crate) async fn rules_changed(conn: &mut db::Conn, group: SecurityGroupId) -> Result<()> {
    let bump = sqlx::query("UPDATE security_groups SET rules_version = $1 WHERE id = $2");
    execute(conn, bump.bind(rules_version()).bind(group.as_uuid())).await?;
    Ok(())
}

/// Inserts one rule row and numbers it (no checks); its remotes and ports are the caller's to
/// write ([`write_children`], once for all the rules it inserts).
async fn insert_rule_row(conn: &mut db::Conn, rule: &Rule) -> Result<()> {
    let insert = sqlx::query(
        "INSERT INTO security_group_rules (direction, action, protocol, priority, description,
                                           icmp_type, icmp_code, id, group_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    );
    bind_rule(insert, rule)
        .bind(rule.id.as_uuid())
        .bind(rule.group_id.as_uuid())
        .bind(db::time(rule.created_at))
        .execute(&mut *conn)
        .await
        .map_err(|e| constraint_error(e, &[], GROUP))?;
    number_rule(conn, rule).await
}

/// Gives a new rule its organization's next number. The counter row stays locked (or the
/// database, on SQLite) until commit, so concurrent inserts of one organization take consecutive
/// numbers; the counter only moves forward, so a number is never reused.
async fn number_rule(conn: &mut db::Conn, rule: &Rule) -> Result<()> {
    let next = sqlx::query(
        "INSERT INTO rule_number_counters (organization_id, last_number)
         SELECT organization_id, 1 FROM security_groups WHERE id = $1
         ON CONFLICT (organization_id) DO UPDATE SET last_number = rule_number_counters.last_number + 1
         RETURNING organization_id, last_number",
    );
    let row =
        fetch_optional(conn, next.bind(rule.group_id.as_uuid())).await?.ok_or(Error::not_found(GROUP))?;
    let insert =
        sqlx::query("INSERT INTO rule_numbers (organization_id, number, rule_id) VALUES ($1, $2, $3)");
    let (org, number): (Uuid, i64) = (get(&row, "organization_id")?, get(&row, "last_number")?);
    execute(conn, insert.bind(org).bind(number).bind(rule.id.as_uuid())).await?;
    Ok(())
}

pub(crate) fn tag_from(row: &db::Row) -> Result<Tag> {
    Ok(Tag {
        id: TagId::from_uuid(get(row, "id")?),
        organization_id: OrganizationId::from_uuid(get(row, "organization_id")?),
        name: get(row, "name")?,
        color: get(row, "color")?,
        created_at: db::time_of(row, "created_at")?,
    })
}

pub(crate) fn server_group_from(row: &db::Row) -> Result<ServerGroup> {
    Ok(ServerGroup {
        id: ServerGroupId::from_uuid(get(row, "id")?),
        organization_id: OrganizationId::from_uuid(get(row, "organization_id")?),
        name: get(row, "name")?,
        segregate: get(row, "segregate")?,
        created_at: db::time_of(row, "created_at")?,
    })
}

/// Rules from their rows, with their remotes and ports (those of the rules `of` names).
async fn rules_from_rows(conn: &mut db::Conn, rows: &[db::Row], of: Of<'_>) -> Result<Vec<Rule>> {
    let mut rules = rows.iter().map(rule_from).collect::<Result<Vec<_>>>()?;
    load_children(conn, &mut rules, of).await?;
    Ok(rules)
}

/// The rules of several groups, in creation order: one query for the rules, one for their
/// remotes, one for their ports.
pub(crate) async fn rules_of_groups(conn: &mut db::Conn, groups: &[SecurityGroupId]) -> Result<Vec<Rule>> {
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = groups.iter().map(|g| g.as_uuid()).collect();
    let sql = format!(
        "SELECT * FROM security_group_rules WHERE group_id {} ORDER BY {SEQ}",
        db::in_list(1, ids.len())
    );
    let rows = fetch_all(conn, db::bind_list(sqlx::query(&sql), &ids)).await?;
    rules_from_rows(conn, &rows, Of::Groups(&ids)).await
}

/// Every rule of an organization, in creation order, with their remotes and ports: three
/// queries (the policy snapshot).
pub(crate) async fn rules_of_organization(conn: &mut db::Conn, org: OrganizationId) -> Result<Vec<Rule>> {
    let sql = format!(
        "SELECT r.* FROM security_group_rules r JOIN security_groups g ON g.id = r.group_id
         WHERE g.organization_id = $1 ORDER BY r.{SEQ}"
    );
    let rows = fetch_all(conn, sqlx::query(&sql).bind(org.as_uuid())).await?;
    rules_from_rows(conn, &rows, Of::Organization(org.as_uuid())).await
}

#[async_trait]
impl<S: Connection> PolicyReads for Tx<S> {
    async fn security_group(&mut self, id: SecurityGroupId) -> Result<Option<SecurityGroup>> {
        let rows =
            fetch_all(self, sqlx::query("SELECT * FROM security_groups WHERE id = $1").bind(id.as_uuid()))
                .await?;
        Ok(groups_from_rows(self, &rows).await?.pop())
    }

    /// A page of an organization's groups of one kind, carrying every annotation of `filter`.
    async fn list_security_groups(
        &mut self,
        org: OrganizationId,
        kind: GroupKind,
        filter: &GroupFilter,
        page: PageRequest,
    ) -> Result<Page<SecurityGroup>> {
        let mut condition = "organization_id = $1 AND kind = $2".to_owned();
        let mut n = 2;
        for _ in &filter.annotations {
            condition.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM security_group_annotations a
                              WHERE a.group_id = g.id AND a.key = ${} AND a.value IS NOT DISTINCT FROM ${})",
                n + 1,
                n + 2
            ));
            n += 2;
        }
        let count_sql = format!("SELECT COUNT(*) FROM security_groups g WHERE {condition}");
        let list_sql = format!(
            // The page is cut first, so that only its rows' members and annotations are gathered.
            "SELECT g.*, {} AS members_json, {} AS annotations_json
             FROM (SELECT {SEQ} AS page_seq, * FROM security_groups g WHERE {condition} ORDER BY {SEQ} LIMIT ${} OFFSET ${}) g
             ORDER BY g.page_seq",
            db::GROUP_MEMBERS_JSON,
            db::GROUP_ANNOTATIONS_JSON,
            n + 1,
            n + 2
        );
        let mut total = sqlx::query_scalar::<_, i64>(&count_sql).bind(org.as_uuid()).bind(kind.as_str());
        let mut list = sqlx::query(&list_sql).bind(org.as_uuid()).bind(kind.as_str());
        for a in &filter.annotations {
            total = total.bind(&a.key).bind(a.value.as_deref());
            list = list.bind(&a.key).bind(a.value.as_deref());
        }
        let total = total.fetch_one(&mut **self).await.map_err(db::db_error)?;
        let rows = fetch_all(self, list.bind(super::limit(page)).bind(super::offset(page))).await?;
        let items = rows.iter().map(group_with_children).collect::<Result<Vec<_>>>()?;
        Ok(Page { items, total: count(total), request: page })
    }

    async fn rule(&mut self, id: RuleId) -> Result<Option<Rule>> {
        let query = sqlx::query("SELECT * FROM security_group_rules WHERE id = $1").bind(id.as_uuid());
        let rows = fetch_all(self, query).await?;
        Ok(rules_from_rows(self, &rows, Of::Rules).await?.pop())
    }

    /// A page of a group's rules, in creation order: three queries and the count.
    async fn list_rules(&mut self, group: SecurityGroupId, page: PageRequest) -> Result<Page<Rule>> {
        let from = "FROM security_group_rules WHERE group_id = $1";
        let mut page = page_of(self, page, Some(group.as_uuid()), from, rule_from).await?;
        load_children(self, &mut page.items, Of::Rules).await?;
        Ok(page)
    }

    async fn rules_of_groups(&mut self, groups: &[SecurityGroupId]) -> Result<Vec<Rule>> {
        rules_of_groups(self, groups).await
    }

    /// The numbers of the rules of `groups`, in the rules' creation order.
    async fn rule_numbers(
        &mut self,
        org: OrganizationId,
        groups: &[SecurityGroupId],
    ) -> Result<Vec<(RuleId, u64)>> {
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = groups.iter().map(|g| g.as_uuid()).collect();
        let sql = format!(
            "SELECT r.id, n.number FROM security_group_rules r JOIN rule_numbers n ON n.rule_id = r.id
             WHERE n.organization_id = $1 AND r.group_id {} ORDER BY r.{SEQ}",
            db::in_list(2, ids.len())
        );
        let rows = fetch_all(self, db::bind_list(sqlx::query(&sql).bind(org.as_uuid()), &ids)).await?;
        rows.iter()
            .map(|row| {
                let number = u64::try_from(get::<i64>(row, "number")?).map_err(Error::internal)?;
                Ok((RuleId::from_uuid(get(row, "id")?), number))
            })
            .collect()
    }

    async fn rule_by_number(&mut self, org: OrganizationId, number: u64) -> Result<Option<RuleId>> {
        let Ok(number) = i64::try_from(number) else { return Ok(None) };
        let query =
            sqlx::query("SELECT rule_id FROM rule_numbers WHERE organization_id = $1 AND number = $2");
        let row = fetch_optional(self, query.bind(org.as_uuid()).bind(number)).await?;
        row.map(|r| get(&r, "rule_id").map(RuleId::from_uuid)).transpose()
    }

    async fn server_group(&mut self, id: ServerGroupId) -> Result<Option<ServerGroup>> {
        by_id(self, "server_groups", id.as_uuid(), server_group_from).await
    }

    async fn list_server_groups(
        &mut self,
        org: OrganizationId,
        page: PageRequest,
    ) -> Result<Page<ServerGroup>> {
        let from = "FROM server_groups WHERE organization_id = $1";
        page_of(self, page, Some(org.as_uuid()), from, server_group_from).await
    }

    async fn tag(&mut self, id: TagId) -> Result<Option<Tag>> {
        by_id(self, "tags", id.as_uuid(), tag_from).await
    }

    async fn list_tags(&mut self, org: OrganizationId, page: PageRequest) -> Result<Page<Tag>> {
        let from = "FROM tags WHERE organization_id = $1";
        page_of(self, page, Some(org.as_uuid()), from, tag_from).await
    }
}

#[async_trait]
impl PolicyWrites for WriteTx {
    /// Creates a group with its members, annotations and rules; returns its serial (creation order).
    async fn insert_security_group(
        &mut self,
        grant: &Grant,
        g: &SecurityGroup,
        rules: &[Rule],
    ) -> Result<u64> {
        within(grant, g.organization_id, SecurityGroupId::KIND)?;
        if rules.iter().any(|r| r.group_id != g.id) {
            return Err(Error::not_found(SecurityGroupId::KIND));
        }
        let insert = format!(
            "INSERT INTO security_groups (id, organization_id, kind, name, description, allow_all_inbound,
                                          allow_all_outbound, created_at, updated_at, enabled, ip_version,
                                          rules_version, allow_unmatched_outbound)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING {SEQ} AS serial"
        );
        let row = sqlx::query(&insert)
            .bind(g.id.as_uuid())
            .bind(g.organization_id.as_uuid())
            .bind(g.kind.as_str())
            .bind(&g.name)
            .bind(g.description.as_deref())
            .bind(g.allow_all_inbound)
            .bind(g.allow_all_outbound)
            .bind(db::time(g.created_at))
            .bind(db::time(g.updated_at))
            .bind(g.enabled)
            .bind(g.ip_version.map(|v| i16::from(v.number())))
            .bind(rules_version())
            .bind(g.allow_unmatched_outbound)
            .fetch_one(&mut **self)
            .await
            .map_err(|e| constraint_error(e, &[Unique::GroupName, Unique::GroupId], ORG))?;
        write_members(self, g.id, &g.members).await?;
        write_annotations(self, g.id, &g.annotations).await?;
        for rule in rules {
            insert_rule_row(self, rule).await?;
        }
        write_children(self, rules).await?;
        let serial =
            u64::try_from(get::<i64>(&row, "serial")?).map_err(|_| Error::internal("group serial"))?;
        self.touch_groups(grant.organization_id());
        Ok(serial)
    }

    async fn security_group_for_update(&mut self, id: SecurityGroupId) -> Result<Option<SecurityGroup>> {
        lock_row(self, "security_groups", id.as_uuid()).await?;
        self.security_group(id).await
    }

    /// Applies the patch; turning an allow-all flag on deletes the rules it makes moot.
    async fn update_security_group(
        &mut self,
        grant: &Grant,
        id: SecurityGroupId,
        patch: &SecurityGroupPatch,
        at: OffsetDateTime,
    ) -> Result<SecurityGroup> {
        self.owned(grant, GROUP_OWNER, id.as_uuid(), SecurityGroupId::KIND).await?;
        if patch.rules.iter().flatten().any(|r| r.group_id != id) {
            return Err(Error::not_found(SecurityGroupId::KIND));
        }
        let update = sqlx::query(
            "UPDATE security_groups SET
                name = COALESCE($1, name),
                description = CASE WHEN $2 THEN $3 ELSE description END,
                allow_all_inbound = COALESCE($4, allow_all_inbound),
                allow_all_outbound = COALESCE($5, allow_all_outbound),
                updated_at = $6,
                enabled = COALESCE($8, enabled),
                rules_version = $9,
                allow_unmatched_outbound = COALESCE($10, allow_unmatched_outbound)
             WHERE id = $7",
        );
        let done = update
            .bind(patch.name.as_deref())
            .bind(patch.description.is_some())
            .bind(patch.description.clone().flatten())
            .bind(patch.allow_all_inbound)
            .bind(patch.allow_all_outbound)
            .bind(db::time(at))
            .bind(id.as_uuid())
            .bind(patch.enabled)
            // Its rules may go (an allow-all flag turned on) or be replaced: a new version, always.
            .bind(rules_version())
            .bind(patch.allow_unmatched_outbound)
            .execute(&mut **self)
            .await
            .map_err(|e| constraint_error(e, &[Unique::GroupName], ORG))?;
        found(done, GROUP)?;
        for (flag, direction) in
            [(patch.allow_all_inbound, Direction::Inbound), (patch.allow_all_outbound, Direction::Outbound)]
        {
            if flag == Some(true) {
                let delete = "DELETE FROM security_group_rules WHERE group_id = $1 AND direction = $2";
                execute(self, sqlx::query(delete).bind(id.as_uuid()).bind(direction.as_str())).await?;
            }
        }
        if let Some(members) = &patch.members {
            write_members(self, id, members).await?;
        }
        if let Some(annotations) = &patch.annotations {
            write_annotations(self, id, annotations).await?;
        }
        if let Some(rules) = &patch.rules {
            execute(
                self,
                sqlx::query("DELETE FROM security_group_rules WHERE group_id = $1").bind(id.as_uuid()),
            )
            .await?;
            for rule in rules {
                insert_rule_row(self, rule).await?;
            }
            write_children(self, rules).await?;
        }
        let group =
            self.security_group(id).await?.ok_or_else(|| Error::internal("an updated group vanished"))?;
        self.touch_groups(grant.organization_id());
        Ok(group)
    }

    async fn delete_security_group(&mut self, grant: &Grant, id: SecurityGroupId) -> Result<()> {
        self.owned(grant, GROUP_OWNER, id.as_uuid(), SecurityGroupId::KIND).await?;
        delete_by_id(self, "security_groups", id.as_uuid(), SecurityGroupId::KIND).await?;
        self.touch_groups(grant.organization_id());
        Ok(())
    }

    /// Adds one member at the end, unless the group has it. Updating the group row first takes its
    /// lock (on PostgreSQL) until commit: concurrent additions to one group queue there, so each sees
    /// the positions the previous one took.
    async fn add_security_group_member(
        &mut self,
        grant: &Grant,
        id: SecurityGroupId,
        member: Member,
        at: OffsetDateTime,
    ) -> Result<()> {
        self.owned(grant, GROUP_OWNER, id.as_uuid(), SecurityGroupId::KIND).await?;
        let touch = sqlx::query("UPDATE security_groups SET updated_at = $1 WHERE id = $2");
        found(execute(self, touch.bind(db::time(at)).bind(id.as_uuid())).await?, GROUP)?;
        let insert = format!(
            "INSERT INTO security_group_members (group_id, position, {MEMBER_COLUMNS})
             SELECT $1, (SELECT COALESCE(MAX(position) + 1, 0) FROM security_group_members WHERE group_id = $1),
                    $2, $3, $4, $5, $6
             WHERE NOT EXISTS (SELECT 1 FROM security_group_members
                               WHERE group_id = $1 AND server_id IS NOT DISTINCT FROM $2
                                 AND server_group_id IS NOT DISTINCT FROM $3 AND tag_id IS NOT DISTINCT FROM $4
                                 AND network_id IS NOT DISTINCT FROM $5 AND interface_id IS NOT DISTINCT FROM $6)"
        );
        let query = member_columns(&member)
            .into_iter()
            .fold(sqlx::query(&insert).bind(id.as_uuid()), |q, c| q.bind(c));
        query.execute(&mut **self).await.map_err(|e| constraint_error(e, &[], member.kind()))?;
        self.touch_groups(grant.organization_id());
        Ok(())
    }

    /// Adds a rule to its group, unless the group allows all of that direction.
    async fn insert_rule(&mut self, grant: &Grant, rule: &Rule) -> Result<()> {
        self.owned(grant, GROUP_OWNER, rule.group_id.as_uuid(), SecurityGroupId::KIND).await?;
        check_direction(self, rule).await?;
        rules_changed(self, rule.group_id).await?;
        insert_rule_row(self, rule).await?;
        write_children(self, std::slice::from_ref(rule)).await?;
        self.touch_groups(grant.organization_id());
        Ok(())
    }

    async fn rule_for_update(&mut self, id: RuleId) -> Result<Option<Rule>> {
        lock_row(self, "security_group_rules", id.as_uuid()).await?;
        self.rule(id).await
    }

    /// Replaces what a rule says, its remotes and ports included.
    async fn replace_rule(&mut self, grant: &Grant, rule: &Rule) -> Result<()> {
        self.owned(grant, RULE_OWNER, rule.id.as_uuid(), RuleId::KIND).await?;
        self.owned(grant, GROUP_OWNER, rule.group_id.as_uuid(), RuleId::KIND).await?;
        check_direction(self, rule).await?;
        let update = sqlx::query(
            "UPDATE security_group_rules SET direction = $1, action = $2, protocol = $3, priority = $4,
                    description = $5, icmp_type = $6, icmp_code = $7
             WHERE id = $8",
        );
        let update = bind_rule(update, rule).bind(rule.id.as_uuid());
        found(execute(self, update).await?, RuleId::KIND)?;
        rules_changed(self, rule.group_id).await?;
        clear_children(self, rule.id).await?;
        write_children(self, std::slice::from_ref(rule)).await?;
        self.touch_groups(grant.organization_id());
        Ok(())
    }

    /// Deletes the rule, giving its group a new rules version first (see
    /// [`rules_changed`]).
    async fn delete_rule(&mut self, grant: &Grant, id: RuleId) -> Result<()> {
        self.owned(grant, RULE_OWNER, id.as_uuid(), RuleId::KIND).await?;
        let bump = "UPDATE security_groups SET rules_version = $1
                    WHERE id = (SELECT group_id FROM security_group_rules WHERE id = $2)";
        execute(self, sqlx::query(bump).bind(rules_version()).bind(id.as_uuid())).await?;

        delete_by_id(self, "security_group_rules", id.as_uuid(), RuleId::KIND).await?;
        self.touch_groups(grant.organization_id());
        Ok(())
    }

    async fn insert_server_group(&mut self, grant: &Grant, g: &ServerGroup) -> Result<()> {
        within(grant, g.organization_id, ServerGroupId::KIND)?;
        sqlx::query(
            "INSERT INTO server_groups (id, organization_id, name, segregate, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(g.id.as_uuid())
        .bind(g.organization_id.as_uuid())
        .bind(&g.name)
        .bind(g.segregate)
        .bind(db::time(g.created_at))
        .execute(&mut **self)
        .await
        .map_err(|e| constraint_error(e, &[], ORG))?;
        self.touch(grant.organization_id());
        Ok(())
    }

    async fn server_group_for_update(&mut self, id: ServerGroupId) -> Result<Option<ServerGroup>> {
        lock_row(self, "server_groups", id.as_uuid()).await?;
        self.server_group(id).await
    }

    async fn update_server_group(&mut self, grant: &Grant, g: &ServerGroup) -> Result<()> {
        within(grant, g.organization_id, ServerGroupId::KIND)?;
        self.owned(grant, SERVER_GROUP_OWNER, g.id.as_uuid(), ServerGroupId::KIND).await?;
        let update = sqlx::query("UPDATE server_groups SET name = $1, segregate = $2 WHERE id = $3");
        found(
            execute(self, update.bind(&g.name).bind(g.segregate).bind(g.id.as_uuid())).await?,
            ServerGroupId::KIND,
        )?;
        self.touch(grant.organization_id());
        Ok(())
    }

    async fn delete_server_group(&mut self, grant: &Grant, id: ServerGroupId) -> Result<()> {
        self.owned(grant, SERVER_GROUP_OWNER, id.as_uuid(), ServerGroupId::KIND).await?;
        delete_by_id(self, "server_groups", id.as_uuid(), ServerGroupId::KIND).await?;
        self.touch(grant.organization_id());
        Ok(())
    }

    async fn insert_tag(&mut self, grant: &Grant, t: &Tag) -> Result<()> {
        within(grant, t.organization_id, TagId::KIND)?;
        sqlx::query(
            "INSERT INTO tags (id, organization_id, name, color, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(t.id.as_uuid())
        .bind(t.organization_id.as_uuid())
        .bind(&t.name)
        .bind(&t.color)
        .bind(db::time(t.created_at))
        .execute(&mut **self)
        .await
        .map_err(|e| constraint_error(e, &[Unique::TagName], ORG))?;
        self.touch(grant.organization_id());
        Ok(())
    }

    async fn tag_for_update(&mut self, id: TagId) -> Result<Option<Tag>> {
        lock_row(self, "tags", id.as_uuid()).await?;
        self.tag(id).await
    }

    async fn update_tag(&mut self, grant: &Grant, t: &Tag) -> Result<()> {
        within(grant, t.organization_id, TagId::KIND)?;
        self.owned(grant, TAG_OWNER, t.id.as_uuid(), TagId::KIND).await?;
        let update = sqlx::query("UPDATE tags SET name = $1, color = $2 WHERE id = $3");
        let done = update
            .bind(&t.name)
            .bind(&t.color)
            .bind(t.id.as_uuid())
            .execute(&mut **self)
            .await
            .map_err(|e| constraint_error(e, &[Unique::TagName], ORG))?;
        found(done, TagId::KIND)?;
        self.touch(grant.organization_id());
        Ok(())
    }

    async fn delete_tag(&mut self, grant: &Grant, id: TagId) -> Result<()> {
        self.owned(grant, TAG_OWNER, id.as_uuid(), TagId::KIND).await?;
        delete_by_id(self, "tags", id.as_uuid(), TagId::KIND).await?;
        self.touch(grant.organization_id());
        Ok(())
    }
}
