//! Sessions (kept as the SHA-256 of their id) and asynchronous calls' records (migration 0009).

use palisade_core::error::{Error, Result};
use palisade_core::id::{JobId, OrganizationId, UserId};
use palisade_core::model::{JobRecord, Session};
use palisade_core::secret::SecretHash;
use palisade_core::store::SessionCredentials;
use time::OffsetDateTime;
use uuid::Uuid;

use super::rows::{self, get, ORG_COLUMNS};
use super::{constraint_error, db, execute, fetch_optional, lock_row, Unique};

/// Inserts a session unless its user has `limit` unexpired ones. The user's row is locked first
/// (where rows lock; SQLite's writer holds the database), so concurrent sign-ins of one user
/// count one another.
pub(crate) async fn insert_session(
    conn: &mut db::Conn,
    session: &Session,
    id_hash: &SecretHash,
    limit: u32,
) -> Result<()> {
    let user = session.user_id.as_uuid();
    lock_row(conn, "users", user).await?;
    let open = "SELECT COUNT(*) FROM sessions WHERE user_id = $1 AND expires_at > $2";
    let open: i64 = sqlx::query_scalar(open)
        .bind(user)
        .bind(db::time(session.created_at))
        .fetch_one(&mut *conn)
        .await
        .map_err(db::db_error)?;
    if open >= i64::from(limit) {
        return Err(Error::Conflict(format!(
            "the user has {open} open sessions, the most allowed is {limit}"
        )));
    }
    sqlx::query(
        "INSERT INTO sessions (id_sha256, user_id, organization_id, created_at, expires_at)
         SELECT $1, id, organization_id, $3, $4 FROM users WHERE id = $2 AND organization_id = $5",
    )
    .bind(id_hash.as_bytes().as_slice())
    .bind(session.user_id.as_uuid())
    .bind(db::time(session.created_at))
    .bind(db::time(session.expires_at))
    .bind(session.organization_id.as_uuid())
    .execute(conn)
    .await
    .map_err(db::db_error)
    .and_then(|done| super::found(done, UserId::KIND))
}

pub(crate) async fn session(conn: &mut db::Conn, id_hash: &SecretHash) -> Result<Option<SessionCredentials>> {
    let sql = format!(
        "SELECT s.*, {ORG_COLUMNS} FROM sessions s JOIN organizations o ON o.id = s.organization_id
         WHERE s.id_sha256 = $1"
    );
    let Some(row) = fetch_optional(conn, sqlx::query(&sql).bind(id_hash.as_bytes().as_slice())).await? else {
        return Ok(None);
    };
    Ok(Some(SessionCredentials {
        session: Session {
            user_id: UserId::from_uuid(get(&row, "user_id")?),
            organization_id: OrganizationId::from_uuid(get(&row, "organization_id")?),
            created_at: db::time_of(&row, "created_at")?,
            expires_at: db::time_of(&row, "expires_at")?,
        },
        organization: rows::organization_with(&row, "o_")?,
    }))
}

pub(crate) async fn delete_session(conn: &mut db::Conn, id_hash: &SecretHash) -> Result<bool> {
    let delete = sqlx::query("DELETE FROM sessions WHERE id_sha256 = $1").bind(id_hash.as_bytes().as_slice());
    Ok(execute(conn, delete).await?.rows_affected() > 0)
}

pub(crate) async fn insert_job(conn: &mut db::Conn, job: &JobRecord) -> Result<()> {
    sqlx::query(
        "INSERT INTO jobs (id, organization_id, status, body, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(job.id.as_uuid())
    .bind(job.organization_id.map(|o| o.as_uuid()))
    .bind(i32::from(job.status))
    .bind(&job.body)
    .bind(db::time(job.created_at))
    .bind(db::time(job.expires_at))
    .execute(conn)
    .await
    .map_err(|e| constraint_error(e, &[Unique::JobId], OrganizationId::KIND))?;
    Ok(())
}

pub(crate) async fn job(conn: &mut db::Conn, id: JobId) -> Result<Option<JobRecord>> {
    let Some(row) =
        fetch_optional(conn, sqlx::query("SELECT * FROM jobs WHERE id = $1").bind(id.as_uuid())).await?
    else {
        return Ok(None);
    };
    let status =
        u16::try_from(get::<i32>(&row, "status")?).map_err(|_| Error::internal("stored job status"))?;
    Ok(Some(JobRecord {
        id: JobId::from_uuid(get(&row, "id")?),
        organization_id: get::<Option<Uuid>>(&row, "organization_id")?.map(OrganizationId::from_uuid),
        status,
        body: get(&row, "body")?,
        created_at: db::time_of(&row, "created_at")?,
        expires_at: db::time_of(&row, "expires_at")?,
    }))
}

/// Deletes the sessions and job records expired at `now`.
pub(crate) async fn purge_expired(conn: &mut db::Conn, now: OffsetDateTime) -> Result<u64> {
    let mut purged = 0;
    for table in ["sessions", "jobs"] {
        let delete = format!("DELETE FROM {table} WHERE expires_at <= $1");
        purged += execute(conn, sqlx::query(&delete).bind(db::time(now))).await?.rows_affected();
    }
    Ok(purged)
}
