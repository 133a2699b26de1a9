//! What host agents report (migration 0013): one row per server, replaced by each report. A
//! report changes no policy, so it touches no revision.

use palisade_core::error::Result;
use palisade_core::id::{OrganizationId, ServerId};
use palisade_core::model::EnforcementReport;

use super::rows::get;
use super::{constraint_error, db, fetch_optional, found};

/// Stores `report` as `org`'s server's latest; the server must be `org`'s.
pub(crate) async fn report(
    conn: &mut db::Conn,
    org: OrganizationId,
    report: &EnforcementReport,
) -> Result<()> {
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
        .execute(conn)
        .await
        .map_err(|e| constraint_error(e, &[], ServerId::KIND))?;
    found(done, ServerId::KIND)
}

pub(crate) async fn latest(
    conn: &mut db::Conn,
    org: OrganizationId,
    server: ServerId,
) -> Result<Option<EnforcementReport>> {
    let sql = "SELECT * FROM server_enforcement WHERE server_id = $1 AND organization_id = $2";
    let row = fetch_optional(conn, sqlx::query(sql).bind(server.as_uuid()).bind(org.as_uuid())).await?;
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
