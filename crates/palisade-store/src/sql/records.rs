//! What the installation records about itself, none of which changes policy (so nothing here
//! touches a revision):
//!
//! - the audit trail (migration 0014): events appended in their change's own transaction,
//!   listed newest first. Nothing updates an event; only the retention an operator sets
//!   deletes old ones (`purge_audit_events`);
//! - what host agents report (migration 0013): one row per server, replaced by each report;
//! - the policy revisions' gauges for `/metrics`.

use async_trait::async_trait;
use palisade_core::audit::{Actor, AuditEvent, AuditFilter, FieldChange, ObjectKind, Verb};
use palisade_core::error::{Error, Result};
use palisade_core::grant::{Grant, OperatorGrant};
use palisade_core::id::{AuditEventId, OrganizationId, ServerId};
use palisade_core::model::EnforcementReport;
use palisade_core::store::{PolicyGauges, RecordReads, RecordWrites};
use palisade_core::{Page, PageRequest};
use time::OffsetDateTime;
use uuid::Uuid;

use super::rows::get;
use super::{
    constraint_error, count, db, execute, fetch_all, fetch_optional, found, limit, offset, revisions,
    Connection, Tx, WriteTx, SEQ,
};

/// One filter condition and its value, bound in order.
enum Value<'a> {
    Id(Uuid),
    Text(&'a str),
    Time(db::Time),
}

fn bind_values<'q>(mut query: db::Query<'q>, conditions: &[(&str, Value<'_>)]) -> db::Query<'q> {
    for (_, value) in conditions {
        query = match value {
            Value::Id(id) => query.bind(*id),
            Value::Text(text) => query.bind(text.to_string()),
            Value::Time(at) => query.bind(*at),
        };
    }
    query
}

fn event(row: &db::Row) -> Result<AuditEvent> {
    let stored = |what: &str, value: &str| Error::internal(format!("stored audit {what} {value}"));
    let actor_kind: String = get(row, "actor_kind")?;
    let actor_id: Option<Uuid> = get(row, "actor_id")?;
    let actor = Actor::parse(&actor_kind, actor_id.map(|id| id.to_string()).as_deref())
        .ok_or_else(|| stored("principal", &actor_kind))?;
    let operation: String = get(row, "operation")?;
    let kind: String = get(row, "object_kind")?;
    let changes = db::json_of(row, "changes")?;
    Ok(AuditEvent {
        id: AuditEventId::from_uuid(get(row, "id")?),
        at: db::time_of(row, "at")?,
        organization_id: get::<Option<Uuid>>(row, "organization_id")?.map(OrganizationId::from_uuid),
        actor,
        face: get(row, "face")?,
        request_id: get(row, "request_id")?,
        operation: Verb::parse(&operation).ok_or_else(|| stored("operation", &operation))?,
        object_kind: ObjectKind::parse(&kind).ok_or_else(|| stored("object kind", &kind))?,
        object_id: get(row, "object_id")?,
        changes: serde_json::from_str::<Vec<FieldChange>>(&changes)
            .map_err(|e| stored("changes", &e.to_string()))?,
    })
}

#[async_trait]
impl<S: Connection> RecordReads for Tx<S> {
    async fn policy_revision(&mut self, org: OrganizationId) -> Result<u64> {
        revisions::revision(self, org).await
    }

    async fn enforcement(
        &mut self,
        org: OrganizationId,
        server: ServerId,
    ) -> Result<Option<EnforcementReport>> {
        let sql = "SELECT * FROM server_enforcement WHERE server_id = $1 AND organization_id = $2";
        let row = fetch_optional(self, sqlx::query(sql).bind(server.as_uuid()).bind(org.as_uuid())).await?;
        let Some(row) = row else { return Ok(None) };
        let revision: Option<i64> = get(&row, "applied_revision")?;
        Ok(Some(EnforcementReport {
            server_id: server,
            applied_revision: revision.and_then(|r| u64::try_from(r).ok()),
            applied_digest: get(&row, "applied_digest")?,
            applied_at: db::opt_time_of(&row, "applied_at")?,
            last_error: get(&row, "last_error")?,
            reported_at: db::time_of(&row, "reported_at")?,
        }))
    }

    /// Every organization's revision and every reporting server's lag behind it, `limit` of each
    /// (`/metrics`: two indexed scans, bounded whatever the installation's size).
    async fn policy_gauges(&mut self, limit: u32) -> Result<PolicyGauges> {
        let limit = i64::from(limit);
        let sql = "SELECT organization_id, revision FROM policy_revisions ORDER BY organization_id LIMIT $1";
        let mut revisions = Vec::new();
        for row in fetch_all(self, sqlx::query(sql).bind(limit)).await? {
            let revision = u64::try_from(get::<i64>(&row, "revision")?).map_err(Error::internal)?;
            revisions.push((OrganizationId::from_uuid(get(&row, "organization_id")?), revision));
        }
        let sql = "SELECT e.organization_id, e.server_id, r.revision, e.applied_revision
            FROM server_enforcement e LEFT JOIN policy_revisions r ON r.organization_id = e.organization_id
            ORDER BY e.server_id LIMIT $1";
        let mut lags = Vec::new();
        for row in fetch_all(self, sqlx::query(sql).bind(limit)).await? {
            let current = get::<Option<i64>>(&row, "revision")?.unwrap_or(0);
            let applied = get::<Option<i64>>(&row, "applied_revision")?.unwrap_or(0);
            let lag = u64::try_from(current.saturating_sub(applied)).unwrap_or(0);
            let org = OrganizationId::from_uuid(get(&row, "organization_id")?);
            lags.push((org, ServerId::from_uuid(get(&row, "server_id")?), lag));
        }
        Ok(PolicyGauges { revisions, lags })
    }

    async fn list_audit_events(
        &mut self,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEvent>> {
        let mut conditions: Vec<(&str, Value)> = Vec::new();
        if let Some(org) = filter.organization_id {
            conditions.push(("organization_id =", Value::Id(org.as_uuid())));
        }
        if let Some(kind) = filter.object_kind {
            conditions.push(("object_kind =", Value::Text(kind.as_str())));
        }
        if let Some(id) = &filter.object_id {
            conditions.push(("object_id =", Value::Text(id)));
        }
        if let Some(actor) = filter.actor {
            conditions.push(("actor_kind =", Value::Text(actor.kind())));
            if let Some(id) = actor.uuid() {
                conditions.push(("actor_id =", Value::Id(id)));
            }
        }
        if let Some(request) = &filter.request_id {
            conditions.push(("request_id =", Value::Text(request)));
        }
        if let Some(since) = filter.since {
            conditions.push(("at >=", Value::Time(db::time(since))));
        }
        if let Some(until) = filter.until {
            conditions.push(("at <", Value::Time(db::time(until))));
        }
        let clauses: Vec<String> =
            conditions.iter().enumerate().map(|(i, (test, _))| format!("{test} ${}", i + 1)).collect();
        let filter_sql =
            if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
        let bind = |query| bind_values(query, &conditions);
        let n = conditions.len();
        let count_sql = format!("SELECT COUNT(*) AS n FROM audit_events {filter_sql}");
        let total: i64 = get(&fetch_all(self, bind(sqlx::query(&count_sql))).await?[0], "n")?;
        let list_sql = format!(
            "SELECT * FROM audit_events {filter_sql} ORDER BY {SEQ} DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let rows = fetch_all(self, bind(sqlx::query(&list_sql)).bind(limit(page)).bind(offset(page))).await?;
        let items = rows.iter().map(event).collect::<Result<_>>()?;
        Ok(Page { items, total: count(total), request: page })
    }
}

#[async_trait]
impl RecordWrites for WriteTx {
    async fn record_audit(&mut self, event: &AuditEvent) -> Result<()> {
        let changes = serde_json::to_string(&event.changes)
            .map_err(|e| Error::internal(format!("encoding an audit event's changes: {e}")))?;
        let sql = format!(
            "INSERT INTO audit_events (id, at, organization_id, actor_kind, actor_id, face, request_id,
                operation, object_kind, object_id, changes)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11{})",
            db::JSON
        );
        let insert = sqlx::query(&sql)
            .bind(event.id.as_uuid())
            .bind(db::time(event.at))
            .bind(event.organization_id.map(|o| o.as_uuid()))
            .bind(event.actor.kind())
            .bind(event.actor.uuid())
            .bind(&event.face)
            .bind(event.request_id.as_deref())
            .bind(event.operation.as_str())
            .bind(event.object_kind.as_str())
            .bind(&event.object_id)
            .bind(changes);
        execute(self, insert).await?;
        Ok(())
    }

    /// Stores `report` as the server's latest; the server must be the grant's organization's.
    async fn report_enforcement(&mut self, grant: &Grant, report: &EnforcementReport) -> Result<()> {
        let org = grant.organization_id();
        // `applied_*` keep their last values when a failed attempt reports no new ones.
        let sql = "INSERT INTO server_enforcement
                (server_id, organization_id, applied_revision, applied_digest, applied_at, last_error, reported_at)
             SELECT id, organization_id, $3, $4, $5, $6, $7 FROM servers WHERE id = $1 AND organization_id = $2
             ON CONFLICT (server_id) DO UPDATE SET
                applied_revision = COALESCE(excluded.applied_revision, server_enforcement.applied_revision),
                applied_digest = COALESCE(excluded.applied_digest, server_enforcement.applied_digest),
                applied_at = COALESCE(excluded.applied_at, server_enforcement.applied_at),
                last_error = excluded.last_error,
                reported_at = excluded.reported_at";
        let revision = report.applied_revision.map(|r| i64::try_from(r).unwrap_or(i64::MAX));
        let done = sqlx::query(sql)
            .bind(report.server_id.as_uuid())
            .bind(org.as_uuid())
            .bind(revision)
            .bind(report.applied_digest.as_deref())
            .bind(report.applied_at.map(db::time))
            .bind(report.last_error.as_deref())
            .bind(db::time(report.reported_at))
            .execute(&mut **self)
            .await
            .map_err(|e| constraint_error(e, &[], ServerId::KIND))?;
        found(done, ServerId::KIND)
    }

    /// Deletes the events recorded before `before` (`--audit-retention-days`); how many went.
    async fn purge_audit_events(&mut self, _: &OperatorGrant, before: OffsetDateTime) -> Result<u64> {
        let delete = sqlx::query("DELETE FROM audit_events WHERE at < $1").bind(db::time(before));
        Ok(execute(self, delete).await?.rows_affected())
    }
}
