//! Security groups and rules on SQLite.

use std::collections::HashMap;

use palisade_core::error::{Error, Result};
use palisade_core::id::TagId;
use palisade_core::id::{OrganizationId, RuleId, SecurityGroupId, ServerGroupId, ServerId};
use palisade_core::policy::ServerGroup;
use palisade_core::policy::Tag;
use palisade_core::policy::{
    allow_all_violation, parse_ports, render_ports, Action, Annotation, Direction, GroupFilter, GroupKind,
    Member, Protocol, Rule, SecurityGroup, SecurityGroupPatch,
};
use palisade_core::{Page, PageRequest};
use sqlx::sqlite::SqliteRow;
use sqlx::SqliteConnection;
use time::OffsetDateTime;

use crate::rows::{bytes16, get, opt_bytes16, timestamp};
use crate::store_impl::{bind_ids, placeholders};
use crate::{constraint_error, db_error, found, SqliteStore};

const GROUP: &str = "security group";
const UNIQUE_NAME: &[(&str, &str, &str)] = &[("security_groups.organization_id", GROUP, "name")];

fn position(i: usize) -> i64 {
    i64::try_from(i).unwrap_or(i64::MAX)
}

async fn write_members(conn: &mut SqliteConnection, id: SecurityGroupId, members: &[Member]) -> Result<()> {
    sqlx::query("DELETE FROM security_group_members WHERE group_id = ?")
        .bind(id.as_bytes().as_slice())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    for (i, member) in members.iter().enumerate() {
        let bytes = |b: &[u8; 16]| Some(b.to_vec());
        let (server, server_group, tag) = match member {
            Member::Server(s) => (bytes(s.as_bytes()), None, None),
            Member::ServerGroup(g) => (None, bytes(g.as_bytes()), None),
            Member::Tag(t) => (None, None, bytes(t.as_bytes())),
        };
        sqlx::query(
            "INSERT INTO security_group_members (group_id, position, server_id, server_group_id, tag_id)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(id.as_bytes().as_slice())
        .bind(position(i))
        .bind(server)
        .bind(server_group)
        .bind(tag)
        .execute(&mut *conn)
        .await
        .map_err(|e| constraint_error(e, &[], ServerId::KIND))?;
    }
    Ok(())
}

async fn write_annotations(
    conn: &mut SqliteConnection,
    id: SecurityGroupId,
    annotations: &[Annotation],
) -> Result<()> {
    sqlx::query("DELETE FROM security_group_annotations WHERE group_id = ?")
        .bind(id.as_bytes().as_slice())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    for (i, a) in annotations.iter().enumerate() {
        sqlx::query(
            "INSERT INTO security_group_annotations (group_id, position, key, value) VALUES (?, ?, ?, ?)",
        )
        .bind(id.as_bytes().as_slice())
        .bind(position(i))
        .bind(&a.key)
        .bind(a.value.as_deref())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    }
    Ok(())
}

async fn load_group(conn: &mut SqliteConnection, row: &SqliteRow) -> Result<SecurityGroup> {
    let mut groups = load_groups(conn, std::slice::from_ref(row)).await?;
    groups.pop().ok_or_else(|| Error::internal("a loaded group vanished"))
}

/// Groups from their rows, with members and annotations read in one query each for all of them
/// (a page of a listing costs the same few queries whatever its size).
async fn load_groups(conn: &mut SqliteConnection, rows: &[SqliteRow]) -> Result<Vec<SecurityGroup>> {
    let mut groups = Vec::with_capacity(rows.len());
    for row in rows {
        let kind: String = get(row, "kind")?;
        groups.push(SecurityGroup {
            id: SecurityGroupId::from_bytes(bytes16(row, "id")?),
            organization_id: OrganizationId::from_bytes(bytes16(row, "organization_id")?),
            kind: GroupKind::parse(&kind)
                .ok_or_else(|| Error::internal(format!("stored group kind {kind}")))?,
            name: get(row, "name")?,
            description: get(row, "description")?,
            allow_all_inbound: get(row, "allow_all_inbound")?,
            allow_all_outbound: get(row, "allow_all_outbound")?,
            members: Vec::new(),
            annotations: Vec::new(),
            created_at: timestamp(row, "created_at")?,
            updated_at: timestamp(row, "updated_at")?,
        });
    }
    if groups.is_empty() {
        return Ok(groups);
    }
    let ids: Vec<[u8; 16]> = groups.iter().map(|g| *g.id.as_bytes()).collect();
    let index: HashMap<[u8; 16], usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let marks = placeholders(ids.len());
    let sql = format!(
        "SELECT group_id, server_id, server_group_id, tag_id FROM security_group_members
         WHERE group_id IN ({marks}) ORDER BY position"
    );
    for r in bind_ids(sqlx::query(&sql), &ids).fetch_all(&mut *conn).await.map_err(db_error)? {
        let member = if let Some(server) = opt_bytes16(&r, "server_id")? {
            Member::Server(ServerId::from_bytes(server))
        } else if let Some(group) = opt_bytes16(&r, "server_group_id")? {
            Member::ServerGroup(ServerGroupId::from_bytes(group))
        } else {
            Member::Tag(TagId::from_bytes(bytes16(&r, "tag_id")?))
        };
        if let Some(&i) = index.get(&bytes16(&r, "group_id")?) {
            groups[i].members.push(member);
        }
    }
    let sql = format!(
        "SELECT group_id, key, value FROM security_group_annotations WHERE group_id IN ({marks}) ORDER BY position"
    );
    for r in bind_ids(sqlx::query(&sql), &ids).fetch_all(&mut *conn).await.map_err(db_error)? {
        if let Some(&i) = index.get(&bytes16(&r, "group_id")?) {
            groups[i].annotations.push(Annotation { key: get(&r, "key")?, value: get(&r, "value")? });
        }
    }
    Ok(groups)
}

fn rule_from(row: &SqliteRow) -> Result<Rule> {
    let direction: String = get(row, "direction")?;
    let action: String = get(row, "action")?;
    let protocol: String = get(row, "protocol")?;
    let ports: String = get(row, "ports")?;
    let remotes: String = get(row, "remotes")?;
    let remotes: Vec<String> = serde_json::from_str(&remotes).map_err(Error::internal)?;
    Ok(Rule {
        id: RuleId::from_bytes(bytes16(row, "id")?),
        group_id: SecurityGroupId::from_bytes(bytes16(row, "group_id")?),
        direction: Direction::parse(&direction).ok_or_else(|| Error::internal("stored direction"))?,
        action: Action::parse(&action).ok_or_else(|| Error::internal("stored action"))?,
        protocol: Protocol::parse(&protocol).ok_or_else(|| Error::internal("stored protocol"))?,
        ports: parse_ports(&ports).map_err(Error::internal)?,
        priority: get::<Option<i64>>(row, "priority")?.map(|p| i32::try_from(p).unwrap_or(i32::MAX)),
        remotes: remotes.iter().map(|r| r.parse().map_err(Error::internal)).collect::<Result<_>>()?,
        description: get(row, "description")?,
        created_at: timestamp(row, "created_at")?,
    })
}

/// The allow-all check of a rule's group, inside the caller's write transaction.
async fn check_direction(conn: &mut SqliteConnection, rule: &Rule) -> Result<()> {
    let row = sqlx::query("SELECT allow_all_inbound, allow_all_outbound FROM security_groups WHERE id = ?")
        .bind(rule.group_id.as_bytes().as_slice())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?
        .ok_or(Error::not_found(GROUP))?;
    let blocked = match rule.direction {
        Direction::Inbound => get::<bool>(&row, "allow_all_inbound")?,
        Direction::Outbound => get::<bool>(&row, "allow_all_outbound")?,
    };
    if blocked {
        return Err(allow_all_violation(rule.direction));
    }
    Ok(())
}

fn remotes_json(rule: &Rule) -> String {
    let texts: Vec<String> = rule.remotes.iter().map(ToString::to_string).collect();
    serde_json::to_string(&texts).unwrap_or_else(|_| "[]".into())
}

fn server_group_from(row: &SqliteRow) -> Result<ServerGroup> {
    Ok(ServerGroup {
        id: ServerGroupId::from_bytes(bytes16(row, "id")?),
        organization_id: OrganizationId::from_bytes(bytes16(row, "organization_id")?),
        name: get(row, "name")?,
        segregate: get(row, "segregate")?,
        created_at: timestamp(row, "created_at")?,
    })
}

/// Inserts one rule row (no checks) inside the caller's transaction.
async fn insert_rule_row(conn: &mut SqliteConnection, rule: &Rule) -> Result<()> {
    sqlx::query(
        "INSERT INTO security_group_rules (id, group_id, direction, action, protocol, ports, priority, remotes,
                                           description, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(rule.id.as_bytes().as_slice())
    .bind(rule.group_id.as_bytes().as_slice())
    .bind(rule.direction.as_str())
    .bind(rule.action.as_str())
    .bind(rule.protocol.as_text())
    .bind(render_ports(&rule.ports).unwrap_or_default())
    .bind(rule.priority)
    .bind(remotes_json(rule))
    .bind(rule.description.as_deref())
    .bind(rule.created_at.unix_timestamp())
    .execute(&mut *conn)
    .await
    .map_err(|e| constraint_error(e, &[], GROUP))?;
    number_rule(conn, rule).await
}

/// Gives a new rule its organization's next number (migration 0005), in the caller's
/// transaction.
async fn number_rule(conn: &mut SqliteConnection, rule: &Rule) -> Result<()> {
    let row = sqlx::query(
        "INSERT INTO rule_number_counters (organization_id, last_number)
         SELECT organization_id, 1 FROM security_groups WHERE id = ?
         ON CONFLICT (organization_id) DO UPDATE SET last_number = rule_number_counters.last_number + 1
         RETURNING organization_id, last_number",
    )
    .bind(rule.group_id.as_bytes().as_slice())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?
    .ok_or(Error::not_found(GROUP))?;
    sqlx::query("INSERT INTO rule_numbers (organization_id, number, rule_id) VALUES (?, ?, ?)")
        .bind(bytes16(&row, "organization_id")?.as_slice())
        .bind(get::<i64>(&row, "last_number")?)
        .bind(rule.id.as_bytes().as_slice())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

fn tag_from(row: &SqliteRow) -> Result<Tag> {
    Ok(Tag {
        id: TagId::from_bytes(bytes16(row, "id")?),
        organization_id: OrganizationId::from_bytes(bytes16(row, "organization_id")?),
        name: get(row, "name")?,
        color: get(row, "color")?,
        created_at: timestamp(row, "created_at")?,
    })
}

const UNIQUE_TAG: &[(&str, &str, &str)] = &[("tags.organization_id", "tag", "name")];

impl SqliteStore {
    pub(crate) async fn add_tag(&self, t: &Tag) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("INSERT INTO tags (id, organization_id, name, color, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(t.id.as_bytes().as_slice())
            .bind(t.organization_id.as_bytes().as_slice())
            .bind(&t.name)
            .bind(&t.color)
            .bind(t.created_at.unix_timestamp())
            .execute(&mut *tx)
            .await
            .map_err(|e| constraint_error(e, UNIQUE_TAG, "organization"))?;
        tx.commit().await
    }

    pub(crate) async fn get_tag(&self, id: TagId) -> Result<Option<Tag>> {
        self.row_by_id("tags", id.as_bytes(), tag_from).await
    }

    pub(crate) async fn tags(&self, org: OrganizationId, page: PageRequest) -> Result<Page<Tag>> {
        self.simple_page(page, Some(org.as_bytes()), "FROM tags WHERE organization_id = ?", tag_from).await
    }

    pub(crate) async fn put_tag(&self, t: &Tag) -> Result<()> {
        let mut tx = self.write().await?;
        found(
            sqlx::query("UPDATE tags SET name = ?, color = ? WHERE id = ?")
                .bind(&t.name)
                .bind(&t.color)
                .bind(t.id.as_bytes().as_slice())
                .execute(&mut *tx)
                .await
                .map_err(|e| constraint_error(e, UNIQUE_TAG, "organization"))?,
            TagId::KIND,
        )?;
        tx.commit().await
    }

    pub(crate) async fn remove_tag(&self, id: TagId) -> Result<()> {
        self.delete_row("tags", id.as_bytes(), TagId::KIND).await
    }

    pub(crate) async fn add_server_group(&self, g: &ServerGroup) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("INSERT INTO server_groups (id, organization_id, name, segregate, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(g.id.as_bytes().as_slice())
            .bind(g.organization_id.as_bytes().as_slice())
            .bind(&g.name)
            .bind(g.segregate)
            .bind(g.created_at.unix_timestamp())
            .execute(&mut *tx)
            .await
            .map_err(|e| constraint_error(e, &[], "organization"))?;
        tx.commit().await
    }

    pub(crate) async fn get_server_group(&self, id: ServerGroupId) -> Result<Option<ServerGroup>> {
        self.row_by_id("server_groups", id.as_bytes(), server_group_from).await
    }

    pub(crate) async fn server_groups(
        &self,
        org: OrganizationId,
        page: PageRequest,
    ) -> Result<Page<ServerGroup>> {
        self.simple_page(
            page,
            Some(org.as_bytes()),
            "FROM server_groups WHERE organization_id = ?",
            server_group_from,
        )
        .await
    }

    pub(crate) async fn put_server_group(&self, g: &ServerGroup) -> Result<()> {
        let mut tx = self.write().await?;
        found(
            sqlx::query("UPDATE server_groups SET name = ?, segregate = ? WHERE id = ?")
                .bind(&g.name)
                .bind(g.segregate)
                .bind(g.id.as_bytes().as_slice())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?,
            ServerGroupId::KIND,
        )?;
        tx.commit().await
    }

    pub(crate) async fn remove_server_group(&self, id: ServerGroupId) -> Result<()> {
        self.delete_row("server_groups", id.as_bytes(), ServerGroupId::KIND).await
    }

    pub(crate) async fn insert_group(&self, g: &SecurityGroup, rules: &[Rule]) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO security_groups (id, organization_id, kind, name, description, allow_all_inbound,
                                          allow_all_outbound, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(g.id.as_bytes().as_slice())
        .bind(g.organization_id.as_bytes().as_slice())
        .bind(g.kind.as_str())
        .bind(&g.name)
        .bind(g.description.as_deref())
        .bind(g.allow_all_inbound)
        .bind(g.allow_all_outbound)
        .bind(g.created_at.unix_timestamp())
        .bind(g.updated_at.unix_timestamp())
        .execute(&mut *tx)
        .await
        .map_err(|e| constraint_error(e, UNIQUE_NAME, "organization"))?;
        write_members(&mut tx, g.id, &g.members).await?;
        write_annotations(&mut tx, g.id, &g.annotations).await?;
        for rule in rules {
            insert_rule_row(&mut tx, rule).await?;
        }
        tx.commit().await
    }

    pub(crate) async fn group(&self, id: SecurityGroupId) -> Result<Option<SecurityGroup>> {
        let mut tx = self.read().await?;
        let row = sqlx::query("SELECT * FROM security_groups WHERE id = ?")
            .bind(id.as_bytes().as_slice())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?;
        match row {
            Some(row) => Ok(Some(load_group(&mut tx, &row).await?)),
            None => Ok(None),
        }
    }

    pub(crate) async fn groups(
        &self,
        org: OrganizationId,
        kind: GroupKind,
        filter: &GroupFilter,
        page: PageRequest,
    ) -> Result<Page<SecurityGroup>> {
        let mut tx = self.read().await?;
        let mut condition = "organization_id = ? AND kind = ?".to_owned();
        for _ in &filter.annotations {
            condition.push_str(
                " AND EXISTS (SELECT 1 FROM security_group_annotations a
                              WHERE a.group_id = g.id AND a.key = ? AND a.value IS ?)",
            );
        }
        let count_sql = format!("SELECT COUNT(*) FROM security_groups g WHERE {condition}");
        let list_sql =
            format!("SELECT * FROM security_groups g WHERE {condition} ORDER BY rowid LIMIT ? OFFSET ?");
        let mut count =
            sqlx::query_scalar::<_, i64>(&count_sql).bind(org.as_bytes().as_slice()).bind(kind.as_str());
        let mut list = sqlx::query(&list_sql).bind(org.as_bytes().as_slice()).bind(kind.as_str());
        for a in &filter.annotations {
            count = count.bind(&a.key).bind(a.value.as_deref());
            list = list.bind(&a.key).bind(a.value.as_deref());
        }
        let total = count.fetch_one(&mut *tx).await.map_err(db_error)?;
        let rows = list
            .bind(i64::try_from(page.limit()).unwrap_or(i64::MAX))
            .bind(i64::try_from(page.offset()).unwrap_or(i64::MAX))
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
        let items = load_groups(&mut tx, &rows).await?;
        Ok(Page { items, total: u64::try_from(total).unwrap_or(0), request: page })
    }

    pub(crate) async fn update_group(
        &self,
        id: SecurityGroupId,
        patch: &SecurityGroupPatch,
        at: OffsetDateTime,
    ) -> Result<SecurityGroup> {
        let mut tx = self.write().await?;
        found(
            sqlx::query(
                "UPDATE security_groups SET
                name = COALESCE(?, name),
                description = CASE WHEN ? THEN ? ELSE description END,
                allow_all_inbound = COALESCE(?, allow_all_inbound),
                allow_all_outbound = COALESCE(?, allow_all_outbound),
                updated_at = ?
             WHERE id = ?",
            )
            .bind(patch.name.as_deref())
            .bind(patch.description.is_some())
            .bind(patch.description.clone().flatten())
            .bind(patch.allow_all_inbound)
            .bind(patch.allow_all_outbound)
            .bind(at.unix_timestamp())
            .bind(id.as_bytes().as_slice())
            .execute(&mut *tx)
            .await
            .map_err(|e| constraint_error(e, UNIQUE_NAME, "organization"))?,
            GROUP,
        )?;
        for (flag, direction) in
            [(patch.allow_all_inbound, Direction::Inbound), (patch.allow_all_outbound, Direction::Outbound)]
        {
            if flag == Some(true) {
                sqlx::query("DELETE FROM security_group_rules WHERE group_id = ? AND direction = ?")
                    .bind(id.as_bytes().as_slice())
                    .bind(direction.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(db_error)?;
            }
        }
        if let Some(members) = &patch.members {
            write_members(&mut tx, id, members).await?;
        }
        if let Some(annotations) = &patch.annotations {
            write_annotations(&mut tx, id, annotations).await?;
        }
        if let Some(rules) = &patch.rules {
            sqlx::query("DELETE FROM security_group_rules WHERE group_id = ?")
                .bind(id.as_bytes().as_slice())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            for rule in rules {
                insert_rule_row(&mut tx, rule).await?;
            }
        }
        let row = sqlx::query("SELECT * FROM security_groups WHERE id = ?")
            .bind(id.as_bytes().as_slice())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        let group = load_group(&mut tx, &row).await?;
        tx.commit().await?;
        Ok(group)
    }

    pub(crate) async fn delete_group(&self, id: SecurityGroupId) -> Result<()> {
        self.delete_row("security_groups", id.as_bytes(), GROUP).await
    }

    pub(crate) async fn add_rule(&self, rule: &Rule) -> Result<()> {
        let mut tx = self.write().await?;
        check_direction(&mut tx, rule).await?;
        insert_rule_row(&mut tx, rule).await?;
        tx.commit().await
    }

    pub(crate) async fn get_rule(&self, id: RuleId) -> Result<Option<Rule>> {
        self.row_by_id("security_group_rules", id.as_bytes(), rule_from).await
    }

    pub(crate) async fn rules(&self, group: SecurityGroupId, page: PageRequest) -> Result<Page<Rule>> {
        self.simple_page(
            page,
            Some(group.as_bytes()),
            "FROM security_group_rules WHERE group_id = ?",
            rule_from,
        )
        .await
    }

    /// The rules of several groups in one query, in creation order.
    pub(crate) async fn rules_of(&self, groups: &[SecurityGroupId]) -> Result<Vec<Rule>> {
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<[u8; 16]> = groups.iter().map(|g| *g.as_bytes()).collect();
        let sql = format!(
            "SELECT * FROM security_group_rules WHERE group_id IN ({}) ORDER BY rowid",
            placeholders(ids.len())
        );
        let rows = bind_ids(sqlx::query(&sql), &ids).fetch_all(&self.pool).await.map_err(db_error)?;
        rows.iter().map(rule_from).collect()
    }

    pub(crate) async fn put_rule(&self, rule: &Rule) -> Result<()> {
        let mut tx = self.write().await?;
        check_direction(&mut tx, rule).await?;
        found(sqlx::query(
            "UPDATE security_group_rules SET direction = ?, action = ?, protocol = ?, ports = ?, priority = ?,
                    remotes = ?, description = ?
             WHERE id = ?",
        )
        .bind(rule.direction.as_str())
        .bind(rule.action.as_str())
        .bind(rule.protocol.as_text())
        .bind(render_ports(&rule.ports).unwrap_or_default())
        .bind(rule.priority)
        .bind(remotes_json(rule))
        .bind(rule.description.as_deref())
        .bind(rule.id.as_bytes().as_slice())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?, RuleId::KIND)?;
        tx.commit().await
    }

    pub(crate) async fn remove_rule(&self, id: RuleId) -> Result<()> {
        self.delete_row("security_group_rules", id.as_bytes(), RuleId::KIND).await
    }
}

/// Group members added one at a time, and rules' numbers per organization (migration 0005).
impl SqliteStore {
    pub(crate) async fn add_member(
        &self,
        id: SecurityGroupId,
        member: Member,
        at: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        found(
            sqlx::query("UPDATE security_groups SET updated_at = ? WHERE id = ?")
                .bind(at.unix_timestamp())
                .bind(id.as_bytes().as_slice())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?,
            GROUP,
        )?;
        let bytes = |b: &[u8; 16]| Some(b.to_vec());
        let (server, server_group, tag) = match member {
            Member::Server(s) => (bytes(s.as_bytes()), None, None),
            Member::ServerGroup(g) => (None, bytes(g.as_bytes()), None),
            Member::Tag(t) => (None, None, bytes(t.as_bytes())),
        };
        let missing = match member {
            Member::Server(_) => ServerId::KIND,
            Member::ServerGroup(_) => ServerGroupId::KIND,
            Member::Tag(_) => TagId::KIND,
        };
        sqlx::query(
            "INSERT INTO security_group_members (group_id, position, server_id, server_group_id, tag_id)
             SELECT ?, (SELECT COALESCE(MAX(position) + 1, 0) FROM security_group_members WHERE group_id = ?),
                    ?, ?, ?
             WHERE NOT EXISTS (SELECT 1 FROM security_group_members
                               WHERE group_id = ? AND server_id IS ? AND server_group_id IS ? AND tag_id IS ?)",
        )
        .bind(id.as_bytes().as_slice())
        .bind(id.as_bytes().as_slice())
        .bind(server.clone())
        .bind(server_group.clone())
        .bind(tag.clone())
        .bind(id.as_bytes().as_slice())
        .bind(server)
        .bind(server_group)
        .bind(tag)
        .execute(&mut *tx)
        .await
        .map_err(|e| constraint_error(e, &[], missing))?;
        tx.commit().await
    }

    pub(crate) async fn numbers(
        &self,
        org: OrganizationId,
        groups: &[SecurityGroupId],
    ) -> Result<Vec<(RuleId, u64)>> {
        if groups.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<[u8; 16]> = groups.iter().map(|g| *g.as_bytes()).collect();
        let sql = format!(
            "SELECT r.id, n.number FROM security_group_rules r JOIN rule_numbers n ON n.rule_id = r.id
             WHERE n.organization_id = ? AND r.group_id IN ({}) ORDER BY r.rowid",
            placeholders(ids.len())
        );
        let query = sqlx::query(&sql).bind(org.as_bytes().as_slice());
        let rows = bind_ids(query, &ids).fetch_all(&self.pool).await.map_err(db_error)?;
        rows.iter()
            .map(|row| {
                let number = u64::try_from(get::<i64>(row, "number")?).map_err(Error::internal)?;
                Ok((RuleId::from_bytes(bytes16(row, "id")?), number))
            })
            .collect()
    }

    pub(crate) async fn by_number(&self, org: OrganizationId, number: u64) -> Result<Option<RuleId>> {
        let Ok(number) = i64::try_from(number) else { return Ok(None) };
        let row = sqlx::query("SELECT rule_id FROM rule_numbers WHERE organization_id = ? AND number = ?")
            .bind(org.as_bytes().as_slice())
            .bind(number)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.map(|r| bytes16(&r, "rule_id").map(RuleId::from_bytes)).transpose()
    }
}
