//! The audit trail (migration 0014): events appended in their change's own transaction, listed
//! newest first. Nothing updates an event; only the retention an operator sets deletes old ones
//! ([`purge_before`]).

use palisade_core::audit::{Actor, AuditEvent, AuditFilter, FieldChange, ObjectKind, Verb};
use palisade_core::error::{Error, Result};
use palisade_core::id::{AuditEventId, OrganizationId};
use palisade_core::{Page, PageRequest};
use uuid::Uuid;

use super::rows::get;
use super::{count, db, execute, fetch_all, limit, offset, SEQ};

pub(crate) async fn record(conn: &mut db::Conn, event: &AuditEvent) -> Result<()> {
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
    execute(conn, insert).await?;
    Ok(())
}

/// Deletes the events recorded before `before` (`--audit-retention-days`); how many went.
pub(crate) async fn purge_before(conn: &mut db::Conn, before: time::OffsetDateTime) -> Result<u64> {
    let delete = sqlx::query("DELETE FROM audit_events WHERE at < $1").bind(db::time(before));
    Ok(execute(conn, delete).await?.rows_affected())
}

/// One filter condition and its value, bound in order.
enum Value<'a> {
    Id(Uuid),
    Text(&'a str),
    Time(db::Time),
}

pub(crate) async fn list(
    conn: &mut db::Conn,
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
    let total: i64 = get(&fetch_all(conn, bind(sqlx::query(&count_sql))).await?[0], "n")?;
    let list_sql = format!(
        "SELECT * FROM audit_events {filter_sql} ORDER BY {SEQ} DESC LIMIT ${} OFFSET ${}",
        n + 1,
        n + 2
    );
    let rows = fetch_all(conn, bind(sqlx::query(&list_sql)).bind(limit(page)).bind(offset(page))).await?;
    let items = rows.iter().map(event).collect::<Result<_>>()?;
    Ok(Page { items, total: count(total), request: page })
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
