//! Settings, organizations, and the credentials of organizations: API tokens and users.

use palisade_core::error::{Error, Result};
use palisade_core::id::{ApiTokenId, OrganizationId, UserId};
use palisade_core::model::{ApiToken, Organization, OrganizationPatch, User};
use palisade_core::secret::{PasswordDigest, SecretHash};
use palisade_core::store::{TokenCredentials, UserCredentials};
use time::OffsetDateTime;

use super::rows::{self, get, ORG_COLUMNS};
use super::{constraint_error, db, execute, fetch_optional, found, ipam, Unique};

const ORG: &str = "organization";

pub(crate) async fn setting(conn: &mut db::Conn, key: &str) -> Result<Option<String>> {
    let row =
        fetch_optional(conn, sqlx::query("SELECT value FROM settings WHERE key = $1").bind(key)).await?;
    row.map(|r| get(&r, "value")).transpose()
}

/// Stores `value` unless `key` has one; the value now stored (first writer wins).
pub(crate) async fn init_setting(conn: &mut db::Conn, key: &str, value: &str) -> Result<String> {
    let insert = "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";
    execute(conn, sqlx::query(insert).bind(key).bind(value)).await?;
    setting(conn, key).await?.ok_or_else(|| Error::internal("a setting vanished"))
}

pub(crate) async fn put_setting(conn: &mut db::Conn, key: &str, value: &str) -> Result<()> {
    let upsert =
        "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2";
    execute(conn, sqlx::query(upsert).bind(key).bind(value)).await?;
    Ok(())
}

pub(crate) async fn insert_organization(conn: &mut db::Conn, org: &Organization) -> Result<()> {
    sqlx::query(
        "INSERT INTO organizations (id, name, sub_domain, status, resource_creation_restricted, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(org.id.as_uuid())
    .bind(&org.name)
    .bind(&org.sub_domain)
    .bind(org.status.as_str())
    .bind(org.resource_creation_restricted)
    .bind(db::time(org.created_at))
    .bind(db::time(org.updated_at))
    .execute(conn)
    .await
    .map_err(|e| constraint_error(e, &[Unique::SubDomain], ORG))?;
    Ok(())
}

pub(crate) async fn organization_by_sub_domain(
    conn: &mut db::Conn,
    sub_domain: &str,
) -> Result<Option<Organization>> {
    let query = sqlx::query("SELECT * FROM organizations WHERE sub_domain = $1").bind(sub_domain);
    fetch_optional(conn, query).await?.as_ref().map(rows::organization).transpose()
}

pub(crate) async fn update_organization(
    conn: &mut db::Conn,
    id: OrganizationId,
    patch: &OrganizationPatch,
    at: OffsetDateTime,
) -> Result<Organization> {
    let query = sqlx::query(
        "UPDATE organizations SET
            name = COALESCE($1, name),
            status = COALESCE($2, status),
            resource_creation_restricted = COALESCE($3, resource_creation_restricted),
            updated_at = $4
         WHERE id = $5 RETURNING *",
    )
    .bind(patch.name.as_deref())
    .bind(patch.status.map(|s| s.as_str()))
    .bind(patch.resource_creation_restricted)
    .bind(db::time(at))
    .bind(id.as_uuid());
    fetch_optional(conn, query)
        .await?
        .as_ref()
        .map(rows::organization)
        .transpose()?
        .ok_or(Error::not_found(ORG))
}

pub(crate) async fn delete_organization(conn: &mut db::Conn, id: OrganizationId) -> Result<()> {
    // Its addresses go back to their networks' pools; then servers, whose interfaces may use
    // the organization's own networks, which the organization's deletion cascades to.
    ipam::release_where(conn, "organization_id = $1", id.as_uuid()).await?;
    execute(conn, sqlx::query("DELETE FROM servers WHERE organization_id = $1").bind(id.as_uuid())).await?;
    found(
        execute(conn, sqlx::query("DELETE FROM organizations WHERE id = $1").bind(id.as_uuid())).await?,
        ORG,
    )
}

pub(crate) async fn insert_api_token(
    conn: &mut db::Conn,
    token: &ApiToken,
    secret_hash: &SecretHash,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO api_tokens (id, organization_id, name, scopes, allowed_networks, expires_at, secret_sha256, created_at, server_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(token.id.as_uuid())
    .bind(token.organization_id.as_uuid())
    .bind(&token.name)
    .bind(db::words(token.scopes.iter().map(ToString::to_string).collect()))
    .bind(db::nets(&token.allowed_networks))
    .bind(token.expires_at.map(db::time))
    .bind(secret_hash.as_bytes().as_slice())
    .bind(db::time(token.created_at))
    .bind(token.server_id.map(|s| s.as_uuid()))
    .execute(conn)
    .await
    .map_err(|e| constraint_error(e, &[], ORG))?;
    Ok(())
}

/// A token that is not revoked, with its organization.
pub(crate) async fn token_credentials(
    conn: &mut db::Conn,
    id: ApiTokenId,
) -> Result<Option<TokenCredentials>> {
    let sql = format!(
        "SELECT t.*, {ORG_COLUMNS} FROM api_tokens t JOIN organizations o ON o.id = t.organization_id
         WHERE t.id = $1 AND t.revoked_at IS NULL"
    );
    let Some(row) = fetch_optional(conn, sqlx::query(&sql).bind(id.as_uuid())).await? else {
        return Ok(None);
    };
    let hash: Vec<u8> = get(&row, "secret_sha256")?;
    let hash: [u8; 32] =
        hash.try_into().map_err(|_| Error::internal("stored token hash has wrong length"))?;
    Ok(Some(TokenCredentials {
        token: rows::api_token(&row)?,
        secret_hash: SecretHash::from_bytes(hash),
        organization: rows::organization_with(&row, "o_")?,
    }))
}

/// Revokes once: of two concurrent revocations exactly one succeeds (the later one re-reads the
/// row, finds it revoked and reports a conflict).
pub(crate) async fn revoke_api_token(
    conn: &mut db::Conn,
    org: OrganizationId,
    id: ApiTokenId,
    at: OffsetDateTime,
) -> Result<()> {
    let revoke =
        "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND organization_id = $3 AND revoked_at IS NULL";
    let done =
        execute(conn, sqlx::query(revoke).bind(db::time(at)).bind(id.as_uuid()).bind(org.as_uuid())).await?;
    if done.rows_affected() == 0 {
        let exists = "SELECT 1 FROM api_tokens WHERE id = $1 AND organization_id = $2";
        let exists = fetch_optional(conn, sqlx::query(exists).bind(id.as_uuid()).bind(org.as_uuid())).await?;
        return Err(match exists {
            Some(_) => Error::Conflict("the api token is already revoked".into()),
            None => Error::not_found(ApiTokenId::KIND),
        });
    }
    Ok(())
}

pub(crate) async fn insert_user(
    conn: &mut db::Conn,
    user: &User,
    password: &PasswordDigest,
    session_password: &PasswordDigest,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO users (id, organization_id, username, password_phc, created_at, zstack_password_phc)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(user.id.as_uuid())
    .bind(user.organization_id.as_uuid())
    .bind(&user.username)
    .bind(password.as_phc())
    .bind(db::time(user.created_at))
    .bind(session_password.as_phc())
    .execute(conn)
    .await
    .map_err(|e| constraint_error(e, &[Unique::Username], ORG))?;
    Ok(())
}

pub(crate) async fn user_credentials(conn: &mut db::Conn, username: &str) -> Result<Option<UserCredentials>> {
    let sql = format!(
        "SELECT u.*, {ORG_COLUMNS} FROM users u JOIN organizations o ON o.id = u.organization_id WHERE u.username = $1"
    );
    let Some(row) = fetch_optional(conn, sqlx::query(&sql).bind(username)).await? else { return Ok(None) };
    Ok(Some(UserCredentials {
        user: rows::user(&row)?,
        password: PasswordDigest::from_phc(get(&row, "password_phc")?),
        session_password: get::<Option<String>>(&row, "zstack_password_phc")?.map(PasswordDigest::from_phc),
        organization: rows::organization_with(&row, "o_")?,
    }))
}

/// Sets a user's digests (the clear password's kept when `None`), if the user is of `org`.
pub(crate) async fn set_password(
    conn: &mut db::Conn,
    org: OrganizationId,
    user: UserId,
    password: Option<&PasswordDigest>,
    session_password: &PasswordDigest,
) -> Result<()> {
    let update = "UPDATE users SET password_phc = COALESCE($1, password_phc), zstack_password_phc = $2
                  WHERE id = $3 AND organization_id = $4";
    let query = sqlx::query(update)
        .bind(password.map(PasswordDigest::as_phc))
        .bind(session_password.as_phc())
        .bind(user.as_uuid())
        .bind(org.as_uuid());
    found(execute(conn, query).await?, UserId::KIND)
}
