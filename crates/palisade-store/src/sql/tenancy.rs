//! Settings, organizations, and who acts in them: API tokens, users, sessions (kept as the
//! SHA-256 of their id), and asynchronous calls' records (migration 0009).

use async_trait::async_trait;
use palisade_core::error::{Error, Result};
use palisade_core::grant::{Grant, OperatorGrant};
use palisade_core::id::{ApiTokenId, JobId, OrganizationId, UserId};
use palisade_core::model::{ApiToken, JobRecord, Organization, OrganizationPatch, Session, User};
use palisade_core::secret::{PasswordDigest, SecretHash};
use palisade_core::store::{
    SessionCredentials, TenancyReads, TenancyWrites, TokenCredentials, UserCredentials,
};
use palisade_core::{Page, PageRequest};
use time::OffsetDateTime;
use uuid::Uuid;

use super::grants::within;
use super::rows::{self, get, ORG_COLUMNS};
use super::{
    by_id, constraint_error, db, execute, fetch_optional, found, ipam, lock_row, page_of, Connection, Tx,
    Unique, WriteTx,
};

const ORG: &str = "organization";

#[async_trait]
impl<S: Connection> TenancyReads for Tx<S> {
    async fn setting(&mut self, key: &str) -> Result<Option<String>> {
        let row =
            fetch_optional(self, sqlx::query("SELECT value FROM settings WHERE key = $1").bind(key)).await?;
        row.map(|r| get(&r, "value")).transpose()
    }

    async fn organization(&mut self, id: OrganizationId) -> Result<Option<Organization>> {
        by_id(self, "organizations", id.as_uuid(), rows::organization).await
    }

    async fn organization_by_sub_domain(&mut self, sub_domain: &str) -> Result<Option<Organization>> {
        let query = sqlx::query("SELECT * FROM organizations WHERE sub_domain = $1").bind(sub_domain);
        fetch_optional(self, query).await?.as_ref().map(rows::organization).transpose()
    }

    async fn list_organizations(&mut self, page: PageRequest) -> Result<Page<Organization>> {
        page_of(self, page, None, "FROM organizations", rows::organization).await
    }

    /// A token that is not revoked, with its organization.
    async fn token_credentials(&mut self, id: ApiTokenId) -> Result<Option<TokenCredentials>> {
        let sql = format!(
            "SELECT t.*, {ORG_COLUMNS} FROM api_tokens t JOIN organizations o ON o.id = t.organization_id
         WHERE t.id = $1 AND t.revoked_at IS NULL"
        );
        let Some(row) = fetch_optional(self, sqlx::query(&sql).bind(id.as_uuid())).await? else {
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

    async fn list_api_tokens(&mut self, org: OrganizationId, page: PageRequest) -> Result<Page<ApiToken>> {
        let from = "FROM api_tokens WHERE organization_id = $1";
        page_of(self, page, Some(org.as_uuid()), from, rows::api_token).await
    }

    async fn user_credentials(&mut self, username: &str) -> Result<Option<UserCredentials>> {
        let sql = format!(
            "SELECT u.*, {ORG_COLUMNS} FROM users u JOIN organizations o ON o.id = u.organization_id WHERE u.username = $1"
        );
        let Some(row) = fetch_optional(self, sqlx::query(&sql).bind(username)).await? else {
            return Ok(None);
        };
        Ok(Some(UserCredentials {
            user: rows::user(&row)?,
            password: PasswordDigest::from_phc(get(&row, "password_phc")?),
            session_password: get::<Option<String>>(&row, "zstack_password_phc")?
                .map(PasswordDigest::from_phc),
            organization: rows::organization_with(&row, "o_")?,
        }))
    }

    async fn session(&mut self, id_hash: &SecretHash) -> Result<Option<SessionCredentials>> {
        let sql = format!(
            "SELECT s.*, {ORG_COLUMNS} FROM sessions s JOIN organizations o ON o.id = s.organization_id
         WHERE s.id_sha256 = $1"
        );
        let Some(row) = fetch_optional(self, sqlx::query(&sql).bind(id_hash.as_bytes().as_slice())).await?
        else {
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

    async fn job(&mut self, id: JobId) -> Result<Option<JobRecord>> {
        let Some(row) =
            fetch_optional(self, sqlx::query("SELECT * FROM jobs WHERE id = $1").bind(id.as_uuid())).await?
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

    async fn list_users(&mut self, org: OrganizationId, page: PageRequest) -> Result<Page<User>> {
        let from = "FROM users WHERE organization_id = $1";
        page_of(self, page, Some(org.as_uuid()), from, rows::user).await
    }
}

#[async_trait]
impl TenancyWrites for WriteTx {
    /// Stores `value` unless `key` has one; the value now stored (first writer wins).
    async fn init_setting(&mut self, _: &OperatorGrant, key: &str, value: &str) -> Result<String> {
        let insert = "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING";
        execute(self, sqlx::query(insert).bind(key).bind(value)).await?;
        self.setting(key).await?.ok_or_else(|| Error::internal("a setting vanished"))
    }

    async fn put_setting(&mut self, _: &OperatorGrant, key: &str, value: &str) -> Result<()> {
        let upsert =
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = $2";
        execute(self, sqlx::query(upsert).bind(key).bind(value)).await?;
        Ok(())
    }

    async fn insert_organization(&mut self, _: &OperatorGrant, org: &Organization) -> Result<()> {
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
        .execute(&mut **self)
        .await
        .map_err(|e| constraint_error(e, &[Unique::SubDomain], ORG))?;
        Ok(())
    }

    async fn update_organization(
        &mut self,
        _: &OperatorGrant,
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
        fetch_optional(self, query)
            .await?
            .as_ref()
            .map(rows::organization)
            .transpose()?
            .ok_or(Error::not_found(ORG))
    }

    async fn delete_organization(&mut self, _: &OperatorGrant, id: OrganizationId) -> Result<()> {
        // Its addresses go back to their networks' pools; then servers, whose interfaces may use
        // the organization's own networks, which the organization's deletion cascades to.
        ipam::release_where(self, "organization_id = $1", id.as_uuid()).await?;
        execute(self, sqlx::query("DELETE FROM servers WHERE organization_id = $1").bind(id.as_uuid()))
            .await?;
        found(
            execute(self, sqlx::query("DELETE FROM organizations WHERE id = $1").bind(id.as_uuid())).await?,
            ORG,
        )
    }

    async fn insert_api_token(
        &mut self,
        grant: &Grant,
        token: &ApiToken,
        secret_hash: &SecretHash,
    ) -> Result<()> {
        within(grant, token.organization_id, "api token")?;
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
        .execute(&mut **self)
        .await
        .map_err(|e| constraint_error(e, &[], ORG))?;
        Ok(())
    }

    /// Revokes once: of two concurrent revocations exactly one succeeds (the later one re-reads the
    /// row, finds it revoked and reports a conflict).
    async fn revoke_api_token(&mut self, grant: &Grant, id: ApiTokenId, at: OffsetDateTime) -> Result<()> {
        let org = grant.organization_id();
        let revoke =
        "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND organization_id = $3 AND revoked_at IS NULL";
        let done =
            execute(self, sqlx::query(revoke).bind(db::time(at)).bind(id.as_uuid()).bind(org.as_uuid()))
                .await?;
        if done.rows_affected() == 0 {
            let exists = "SELECT 1 FROM api_tokens WHERE id = $1 AND organization_id = $2";
            let exists =
                fetch_optional(self, sqlx::query(exists).bind(id.as_uuid()).bind(org.as_uuid())).await?;
            return Err(match exists {
                Some(_) => Error::Conflict("the api token is already revoked".into()),
                None => Error::not_found(ApiTokenId::KIND),
            });
        }
        Ok(())
    }

    async fn insert_user(
        &mut self,
        grant: &Grant,
        user: &User,
        password: &PasswordDigest,
        session_password: &PasswordDigest,
    ) -> Result<()> {
        within(grant, user.organization_id, "user")?;
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
        .execute(&mut **self)
        .await
        .map_err(|e| constraint_error(e, &[Unique::Username], ORG))?;
        Ok(())
    }

    /// Sets a user's digests (the clear password's kept when `None`), if the user is the grant's.
    async fn set_password(
        &mut self,
        grant: &Grant,
        user: UserId,
        password: Option<&PasswordDigest>,
        session_password: &PasswordDigest,
    ) -> Result<()> {
        let org = grant.organization_id();
        let update = "UPDATE users SET password_phc = COALESCE($1, password_phc), zstack_password_phc = $2
                  WHERE id = $3 AND organization_id = $4";
        let query = sqlx::query(update)
            .bind(password.map(PasswordDigest::as_phc))
            .bind(session_password.as_phc())
            .bind(user.as_uuid())
            .bind(org.as_uuid());
        found(execute(self, query).await?, UserId::KIND)
    }

    /// Inserts a session unless its user has `limit` unexpired ones. The user's row is locked first
    /// (where rows lock; SQLite's writer holds the database), so concurrent sign-ins of one user
    /// count one another.
    async fn insert_session(
        &mut self,
        grant: &Grant,
        session: &Session,
        id_hash: &SecretHash,
        limit: u32,
    ) -> Result<()> {
        within(grant, session.organization_id, "user")?;
        let user = session.user_id.as_uuid();
        lock_row(self, "users", user).await?;
        let open = "SELECT COUNT(*) FROM sessions WHERE user_id = $1 AND expires_at > $2";
        let open: i64 = sqlx::query_scalar(open)
            .bind(user)
            .bind(db::time(session.created_at))
            .fetch_one(&mut **self)
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
        .execute(&mut **self)
        .await
        .map_err(db::db_error)
        .and_then(|done| super::found(done, UserId::KIND))
    }

    async fn delete_session(&mut self, id_hash: &SecretHash) -> Result<bool> {
        let delete =
            sqlx::query("DELETE FROM sessions WHERE id_sha256 = $1").bind(id_hash.as_bytes().as_slice());
        Ok(execute(self, delete).await?.rows_affected() > 0)
    }

    async fn insert_job(&mut self, grant: Option<&Grant>, job: &JobRecord) -> Result<()> {
        if job.organization_id != grant.map(Grant::organization_id) {
            return Err(Error::not_found(OrganizationId::KIND));
        }
        sqlx::query(
            "INSERT INTO jobs (id, organization_id, status, body, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(job.id.as_uuid())
        .bind(job.organization_id.map(|o| o.as_uuid()))
        .bind(i32::from(job.status))
        .bind(&job.body)
        .bind(db::time(job.created_at))
        .bind(db::time(job.expires_at))
        .execute(&mut **self)
        .await
        .map_err(|e| constraint_error(e, &[Unique::JobId], OrganizationId::KIND))?;
        Ok(())
    }

    /// Deletes the sessions and job records expired at `now`.
    async fn purge_expired(&mut self, _: &OperatorGrant, now: OffsetDateTime) -> Result<u64> {
        let mut purged = 0;
        for table in ["sessions", "jobs"] {
            let delete = format!("DELETE FROM {table} WHERE expires_at <= $1");
            purged += execute(self, sqlx::query(&delete).bind(db::time(now))).await?.rows_affected();
        }
        Ok(purged)
    }
}
