//! Security groups and rules on PostgreSQL.

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
use sqlx::postgres::PgRow;
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::rows::{get, uuid};
use crate::{constraint_error, db_error, found, PostgresStore};

const GROUP: &str = "security group";
const UNIQUE_NAME: &[(&str, &str, &str)] = &[("security_groups_name_key", GROUP, "name")];

async fn write_members(conn: &mut PgConnection, id: SecurityGroupId, members: &[Member]) -> Result<()> {
    sqlx::query("DELETE FROM security_group_members WHERE group_id = $1")
        .bind(id.as_uuid())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    let pick = |f: fn(&Member) -> Option<Uuid>| members.iter().map(f).collect::<Vec<_>>();
    let servers = pick(|m| if let Member::Server(s) = m { Some(s.as_uuid()) } else { None });
    let groups = pick(|m| if let Member::ServerGroup(g) = m { Some(g.as_uuid()) } else { None });
    let tags = pick(|m| if let Member::Tag(t) = m { Some(t.as_uuid()) } else { None });
    sqlx::query(
        "INSERT INTO security_group_members (group_id, position, server_id, server_group_id, tag_id)
         SELECT $1, (ord - 1)::integer, server, server_group, tag
         FROM unnest($2::uuid[], $3::uuid[], $4::uuid[]) WITH ORDINALITY AS m(server, server_group, tag, ord)",
    )
    .bind(id.as_uuid())
    .bind(&servers)
    .bind(&groups)
    .bind(&tags)
    .execute(&mut *conn)
    .await
    .map_err(|e| constraint_error(e, &[], ServerId::KIND))?;
    Ok(())
}

async fn write_annotations(
    conn: &mut PgConnection,
    id: SecurityGroupId,
    annotations: &[Annotation],
) -> Result<()> {
    sqlx::query("DELETE FROM security_group_annotations WHERE group_id = $1")
        .bind(id.as_uuid())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    let keys: Vec<String> = annotations.iter().map(|a| a.key.clone()).collect();
    let values: Vec<Option<String>> = annotations.iter().map(|a| a.value.clone()).collect();
    sqlx::query(
        "INSERT INTO security_group_annotations (group_id, position, key, value)
         SELECT $1, (ord - 1)::integer, k, v FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS a(k, v, ord)",
    )
    .bind(id.as_uuid())
    .bind(&keys)
    .bind(&values)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

async fn load_group(conn: &mut PgConnection, row: &PgRow) -> Result<SecurityGroup> {
    let mut groups = load_groups(conn, std::slice::from_ref(row)).await?;
    groups.pop().ok_or_else(|| Error::internal("a loaded group vanished"))
}

/// Groups from their rows, with members and annotations read in one query each for all of them
/// (a page of a listing costs the same few queries whatever its size).
async fn load_groups(conn: &mut PgConnection, rows: &[PgRow]) -> Result<Vec<SecurityGroup>> {
    let mut groups = Vec::with_capacity(rows.len());
    for row in rows {
        let kind: String = get(row, "kind")?;
        groups.push(SecurityGroup {
            id: SecurityGroupId::from_uuid(uuid(row, "id")?),
            organization_id: OrganizationId::from_uuid(uuid(row, "organization_id")?),
            kind: GroupKind::parse(&kind)
                .ok_or_else(|| Error::internal(format!("stored group kind {kind}")))?,
            name: get(row, "name")?,
            description: get(row, "description")?,
            allow_all_inbound: get(row, "allow_all_inbound")?,
            allow_all_outbound: get(row, "allow_all_outbound")?,
            members: Vec::new(),
            annotations: Vec::new(),
            created_at: get(row, "created_at")?,
            updated_at: get(row, "updated_at")?,
        });
    }
    if groups.is_empty() {
        return Ok(groups);
    }
    let ids: Vec<Uuid> = groups.iter().map(|g| g.id.as_uuid()).collect();
    let index: HashMap<Uuid, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let members = sqlx::query(
        "SELECT group_id, server_id, server_group_id, tag_id FROM security_group_members
         WHERE group_id = ANY($1) ORDER BY position",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    for r in &members {
        let member = if let Some(server) = get::<Option<Uuid>>(r, "server_id")? {
            Member::Server(ServerId::from_uuid(server))
        } else if let Some(group) = get::<Option<Uuid>>(r, "server_group_id")? {
            Member::ServerGroup(ServerGroupId::from_uuid(group))
        } else {
            Member::Tag(TagId::from_uuid(uuid(r, "tag_id")?))
        };
        if let Some(&i) = index.get(&uuid(r, "group_id")?) {
            groups[i].members.push(member);
        }
    }
    let annotations = sqlx::query(
        "SELECT group_id, key, value FROM security_group_annotations WHERE group_id = ANY($1) ORDER BY position",
    )
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    for r in &annotations {
        if let Some(&i) = index.get(&uuid(r, "group_id")?) {
            groups[i].annotations.push(Annotation { key: get(r, "key")?, value: get(r, "value")? });
        }
    }
    Ok(groups)
}

fn rule_from(row: &PgRow) -> Result<Rule> {
    let direction: String = get(row, "direction")?;
    let action: String = get(row, "action")?;
    let protocol: String = get(row, "protocol")?;
    let ports: String = get(row, "ports")?;
    let remotes: Vec<String> = get(row, "remotes")?;
    Ok(Rule {
        id: RuleId::from_uuid(uuid(row, "id")?),
        group_id: SecurityGroupId::from_uuid(uuid(row, "group_id")?),
        direction: Direction::parse(&direction).ok_or_else(|| Error::internal("stored direction"))?,
        action: Action::parse(&action).ok_or_else(|| Error::internal("stored action"))?,
        protocol: Protocol::parse(&protocol).ok_or_else(|| Error::internal("stored protocol"))?,
        ports: parse_ports(&ports).map_err(Error::internal)?,
        priority: get(row, "priority")?,
        remotes: remotes.iter().map(|r| r.parse().map_err(Error::internal)).collect::<Result<_>>()?,
        description: get(row, "description")?,
        created_at: get(row, "created_at")?,
    })
}

/// The allow-all check of a rule's group, holding the group row against concurrent updates.
async fn check_direction(conn: &mut PgConnection, rule: &Rule) -> Result<()> {
    let row = sqlx::query(
        "SELECT allow_all_inbound, allow_all_outbound FROM security_groups WHERE id = $1 FOR SHARE",
    )
    .bind(rule.group_id.as_uuid())
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

fn remotes(rule: &Rule) -> Vec<String> {
    rule.remotes.iter().map(ToString::to_string).collect()
}

fn server_group_from(row: &PgRow) -> Result<ServerGroup> {
    Ok(ServerGroup {
        id: ServerGroupId::from_uuid(uuid(row, "id")?),
        organization_id: OrganizationId::from_uuid(uuid(row, "organization_id")?),
        name: get(row, "name")?,
        segregate: get(row, "segregate")?,
        created_at: get(row, "created_at")?,
    })
}

/// Inserts one rule row (no checks) inside the caller's transaction.
async fn insert_rule_row(conn: &mut PgConnection, rule: &Rule) -> Result<()> {
    sqlx::query(
        "INSERT INTO security_group_rules (id, group_id, direction, action, protocol, ports, priority, remotes,
                                           description, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(rule.id.as_uuid())
    .bind(rule.group_id.as_uuid())
    .bind(rule.direction.as_str())
    .bind(rule.action.as_str())
    .bind(rule.protocol.as_text())
    .bind(render_ports(&rule.ports).unwrap_or_default())
    .bind(rule.priority)
    .bind(remotes(rule))
    .bind(rule.description.as_deref())
    .bind(rule.created_at)
    .execute(&mut *conn)
    .await
    .map_err(|e| constraint_error(e, &[], GROUP))?;
    number_rule(conn, rule).await
}

/// Gives a new rule its organization's next number (migration 0005), in the caller's
/// transaction; the counter row stays locked until commit, so concurrent inserts of one
/// organization take consecutive numbers.
async fn number_rule(conn: &mut PgConnection, rule: &Rule) -> Result<()> {
    sqlx::query(
        "WITH counter AS (
             INSERT INTO rule_number_counters (organization_id, last_number)
             SELECT organization_id, 1 FROM security_groups WHERE id = $1
             ON CONFLICT (organization_id) DO UPDATE SET last_number = rule_number_counters.last_number + 1
             RETURNING organization_id, last_number)
         INSERT INTO rule_numbers (organization_id, number, rule_id)
         SELECT organization_id, last_number, $2 FROM counter",
    )
    .bind(rule.group_id.as_uuid())
    .bind(rule.id.as_uuid())
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

fn tag_from(row: &PgRow) -> Result<Tag> {
    Ok(Tag {
        id: TagId::from_uuid(uuid(row, "id")?),
        organization_id: OrganizationId::from_uuid(uuid(row, "organization_id")?),
        name: get(row, "name")?,
        color: get(row, "color")?,
        created_at: get(row, "created_at")?,
    })
}

const UNIQUE_TAG: &[(&str, &str, &str)] = &[("tags_name_key", "tag", "name")];

impl PostgresStore {
    pub(crate) async fn add_tag(&self, t: &Tag) -> Result<()> {
        sqlx::query(
            "INSERT INTO tags (id, organization_id, name, color, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(t.id.as_uuid())
        .bind(t.organization_id.as_uuid())
        .bind(&t.name)
        .bind(&t.color)
        .bind(t.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| constraint_error(e, UNIQUE_TAG, "organization"))?;
        Ok(())
    }

    pub(crate) async fn get_tag(&self, id: TagId) -> Result<Option<Tag>> {
        self.row_by_id("tags", id.as_uuid(), tag_from).await
    }

    pub(crate) async fn tags(&self, org: OrganizationId, page: PageRequest) -> Result<Page<Tag>> {
        self.simple_page(page, Some(org.as_uuid()), "*", "FROM tags WHERE organization_id = $1", tag_from)
            .await
    }

    pub(crate) async fn put_tag(&self, t: &Tag) -> Result<()> {
        found(
            sqlx::query("UPDATE tags SET name = $1, color = $2 WHERE id = $3")
                .bind(&t.name)
                .bind(&t.color)
                .bind(t.id.as_uuid())
                .execute(&self.pool)
                .await
                .map_err(|e| constraint_error(e, UNIQUE_TAG, "organization"))?,
            TagId::KIND,
        )?;
        Ok(())
    }

    pub(crate) async fn remove_tag(&self, id: TagId) -> Result<()> {
        self.delete_row("tags", id.as_uuid(), TagId::KIND).await
    }

    pub(crate) async fn add_server_group(&self, g: &ServerGroup) -> Result<()> {
        sqlx::query("INSERT INTO server_groups (id, organization_id, name, segregate, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(g.id.as_uuid())
            .bind(g.organization_id.as_uuid())
            .bind(&g.name)
            .bind(g.segregate)
            .bind(g.created_at)
            .execute(&self.pool)
            .await
            .map_err(|e| constraint_error(e, &[], "organization"))?;
        Ok(())
    }

    pub(crate) async fn get_server_group(&self, id: ServerGroupId) -> Result<Option<ServerGroup>> {
        self.row_by_id("server_groups", id.as_uuid(), server_group_from).await
    }

    pub(crate) async fn server_groups(
        &self,
        org: OrganizationId,
        page: PageRequest,
    ) -> Result<Page<ServerGroup>> {
        self.simple_page(
            page,
            Some(org.as_uuid()),
            "*",
            "FROM server_groups WHERE organization_id = $1",
            server_group_from,
        )
        .await
    }

    pub(crate) async fn put_server_group(&self, g: &ServerGroup) -> Result<()> {
        found(
            sqlx::query("UPDATE server_groups SET name = $1, segregate = $2 WHERE id = $3")
                .bind(&g.name)
                .bind(g.segregate)
                .bind(g.id.as_uuid())
                .execute(&self.pool)
                .await
                .map_err(db_error)?,
            ServerGroupId::KIND,
        )?;
        Ok(())
    }

    pub(crate) async fn remove_server_group(&self, id: ServerGroupId) -> Result<()> {
        self.delete_row("server_groups", id.as_uuid(), ServerGroupId::KIND).await
    }

    pub(crate) async fn insert_group(&self, g: &SecurityGroup, rules: &[Rule]) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO security_groups (id, organization_id, kind, name, description, allow_all_inbound,
                                          allow_all_outbound, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(g.id.as_uuid())
        .bind(g.organization_id.as_uuid())
        .bind(g.kind.as_str())
        .bind(&g.name)
        .bind(g.description.as_deref())
        .bind(g.allow_all_inbound)
        .bind(g.allow_all_outbound)
        .bind(g.created_at)
        .bind(g.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| constraint_error(e, UNIQUE_NAME, "organization"))?;
        write_members(&mut tx, g.id, &g.members).await?;
        write_annotations(&mut tx, g.id, &g.annotations).await?;
        for rule in rules {
            insert_rule_row(&mut tx, rule).await?;
        }
        tx.commit().await.map_err(db_error)
    }

    pub(crate) async fn group(&self, id: SecurityGroupId) -> Result<Option<SecurityGroup>> {
        let mut tx = self.begin().await?;
        let row = sqlx::query("SELECT * FROM security_groups WHERE id = $1")
            .bind(id.as_uuid())
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
        let mut tx = self.begin().await?;
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
            "SELECT * FROM security_groups g WHERE {condition} ORDER BY seq LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let mut count = sqlx::query_scalar::<_, i64>(&count_sql).bind(org.as_uuid()).bind(kind.as_str());
        let mut list = sqlx::query(&list_sql).bind(org.as_uuid()).bind(kind.as_str());
        for a in &filter.annotations {
            count = count.bind(a.key.clone()).bind(a.value.clone());
            list = list.bind(a.key.clone()).bind(a.value.clone());
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
        let mut tx = self.begin().await?;
        found(
            sqlx::query(
                "UPDATE security_groups SET
                name = COALESCE($1, name),
                description = CASE WHEN $2 THEN $3 ELSE description END,
                allow_all_inbound = COALESCE($4, allow_all_inbound),
                allow_all_outbound = COALESCE($5, allow_all_outbound),
                updated_at = $6
             WHERE id = $7",
            )
            .bind(patch.name.as_deref())
            .bind(patch.description.is_some())
            .bind(patch.description.clone().flatten())
            .bind(patch.allow_all_inbound)
            .bind(patch.allow_all_outbound)
            .bind(at)
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(|e| constraint_error(e, UNIQUE_NAME, "organization"))?,
            GROUP,
        )?;
        for (flag, direction) in
            [(patch.allow_all_inbound, Direction::Inbound), (patch.allow_all_outbound, Direction::Outbound)]
        {
            if flag == Some(true) {
                sqlx::query("DELETE FROM security_group_rules WHERE group_id = $1 AND direction = $2")
                    .bind(id.as_uuid())
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
            sqlx::query("DELETE FROM security_group_rules WHERE group_id = $1")
                .bind(id.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
            for rule in rules {
                insert_rule_row(&mut tx, rule).await?;
            }
        }
        let row = sqlx::query("SELECT * FROM security_groups WHERE id = $1")
            .bind(id.as_uuid())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        let group = load_group(&mut tx, &row).await?;
        tx.commit().await.map_err(db_error)?;
        Ok(group)
    }

    pub(crate) async fn delete_group(&self, id: SecurityGroupId) -> Result<()> {
        self.delete_row("security_groups", id.as_uuid(), GROUP).await
    }

    pub(crate) async fn add_rule(&self, rule: &Rule) -> Result<()> {
        let mut tx = self.begin().await?;
        check_direction(&mut tx, rule).await?;
        insert_rule_row(&mut tx, rule).await?;
        tx.commit().await.map_err(db_error)
    }

    pub(crate) async fn get_rule(&self, id: RuleId) -> Result<Option<Rule>> {
        self.row_by_id("security_group_rules", id.as_uuid(), rule_from).await
    }

    pub(crate) async fn rules(&self, group: SecurityGroupId, page: PageRequest) -> Result<Page<Rule>> {
        self.simple_page(
            page,
            Some(group.as_uuid()),
            "*",
            "FROM security_group_rules WHERE group_id = $1",
            rule_from,
        )
        .await
    }

    /// The rules of several groups in one query, in creation order.
    pub(crate) async fn rules_of(&self, groups: &[SecurityGroupId]) -> Result<Vec<Rule>> {
        let ids: Vec<Uuid> = groups.iter().map(|g| g.as_uuid()).collect();
        sqlx::query("SELECT * FROM security_group_rules WHERE group_id = ANY($1) ORDER BY seq")
            .bind(&ids)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?
            .iter()
            .map(rule_from)
            .collect()
    }

    pub(crate) async fn put_rule(&self, rule: &Rule) -> Result<()> {
        let mut tx = self.begin().await?;
        check_direction(&mut tx, rule).await?;
        found(sqlx::query(
            "UPDATE security_group_rules SET direction = $1, action = $2, protocol = $3, ports = $4, priority = $5,
                    remotes = $6, description = $7
             WHERE id = $8",
        )
        .bind(rule.direction.as_str())
        .bind(rule.action.as_str())
        .bind(rule.protocol.as_text())
        .bind(render_ports(&rule.ports).unwrap_or_default())
        .bind(rule.priority)
        .bind(remotes(rule))
        .bind(rule.description.as_deref())
        .bind(rule.id.as_uuid())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?, RuleId::KIND)?;
        tx.commit().await.map_err(db_error)
    }

    pub(crate) async fn remove_rule(&self, id: RuleId) -> Result<()> {
        self.delete_row("security_group_rules", id.as_uuid(), RuleId::KIND).await
    }
}

/// Group members added one at a time, and rules' numbers per organization (migration 0005).
impl PostgresStore {
    pub(crate) async fn add_member(
        &self,
        id: SecurityGroupId,
        member: Member,
        at: OffsetDateTime,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        // Updating the group row locks it until commit: concurrent additions to one group queue
        // here, so each sees the positions the previous one took.
        found(
            sqlx::query("UPDATE security_groups SET updated_at = $1 WHERE id = $2")
                .bind(at)
                .bind(id.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?,
            GROUP,
        )?;
        let (server, server_group, tag, missing) = match member {
            Member::Server(s) => (Some(s.as_uuid()), None, None, ServerId::KIND),
            Member::ServerGroup(g) => (None, Some(g.as_uuid()), None, ServerGroupId::KIND),
            Member::Tag(t) => (None, None, Some(t.as_uuid()), TagId::KIND),
        };
        sqlx::query(
            "INSERT INTO security_group_members (group_id, position, server_id, server_group_id, tag_id)
             SELECT $1, (SELECT COALESCE(MAX(position) + 1, 0) FROM security_group_members WHERE group_id = $1),
                    $2, $3, $4
             WHERE NOT EXISTS (SELECT 1 FROM security_group_members
                               WHERE group_id = $1 AND server_id IS NOT DISTINCT FROM $2
                                 AND server_group_id IS NOT DISTINCT FROM $3 AND tag_id IS NOT DISTINCT FROM $4)",
        )
        .bind(id.as_uuid())
        .bind(server)
        .bind(server_group)
        .bind(tag)
        .execute(&mut *tx)
        .await
        .map_err(|e| constraint_error(e, &[], missing))?;
        tx.commit().await.map_err(db_error)
    }

    pub(crate) async fn numbers(
        &self,
        org: OrganizationId,
        groups: &[SecurityGroupId],
    ) -> Result<Vec<(RuleId, u64)>> {
        let ids: Vec<Uuid> = groups.iter().map(|g| g.as_uuid()).collect();
        sqlx::query(
            "SELECT r.id, n.number FROM security_group_rules r JOIN rule_numbers n ON n.rule_id = r.id
             WHERE n.organization_id = $1 AND r.group_id = ANY($2) ORDER BY r.seq",
        )
        .bind(org.as_uuid())
        .bind(&ids)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?
        .iter()
        .map(|row| {
            let number = u64::try_from(get::<i64>(row, "number")?).map_err(Error::internal)?;
            Ok((RuleId::from_uuid(get(row, "id")?), number))
        })
        .collect()
    }

    pub(crate) async fn by_number(&self, org: OrganizationId, number: u64) -> Result<Option<RuleId>> {
        let Ok(number) = i64::try_from(number) else { return Ok(None) };
        let row = sqlx::query("SELECT rule_id FROM rule_numbers WHERE organization_id = $1 AND number = $2")
            .bind(org.as_uuid())
            .bind(number)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.map(|r| get(&r, "rule_id").map(RuleId::from_uuid)).transpose()
    }
}
