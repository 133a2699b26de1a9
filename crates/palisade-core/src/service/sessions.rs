//! Sessions and asynchronous calls' records: what ZStack's API needs from the core, kept
//! face-neutral.
//!
//! **Sessions.** A user signs in with the SHA-512 hex of their password (what ZStack clients
//! send; [`crate::secret::sha512_hex`]). Palisade keeps an Argon2id digest of that form beside
//! the digest of the clear password, made when the user is created and at their next HTTP Basic
//! sign-in for users created before sessions existed, so that neither the clear password nor its
//! SHA-512 is ever at rest. A session's id is a bearer secret stored as its SHA-256 only; it
//! expires ([`CoreSettings::session_lifetime`]), survives restarts and is seen by every node,
//! because it lives in the database.
//!
//! **Jobs.** A call a face answers asynchronously (ZStack's `202` and poll) leaves a
//! [`JobRecord`]: the answer its poll will give. A successful operation writes it in its own
//! transaction ([`Job`], passed to the operation), so the record exists exactly when the
//! operation committed and a poll on any node sees it; a refused one writes it alone
//! ([`Core::record_job`]) after its transaction rolled back. Nothing is ever recorded as
//! "running": an operation interrupted by a crash committed nothing, and its job is unknown.
//!
//! [`CoreSettings::session_lifetime`]: super::CoreSettings::session_lifetime

use std::net::IpAddr;

use super::{require_active, settle, Core, Tx};
use crate::audit::{Actor, Change, ObjectKind, Verb};
use crate::auth::{Principal, UserPrincipal};
use crate::error::{Error, Result, Unauthenticated};
use crate::grant::{Grant, OperatorGrant};
use crate::id::{JobId, OrganizationId};
use crate::model::{now, JobRecord, Session};
use crate::secret::{new_session_secret, RevealedSecret, SecretHash};

/// A session just opened: its id is shown to the caller now and never again.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub secret: RevealedSecret,
    pub session: Session,
}

/// Where an operation records the answer of the asynchronous call that asked for it, in the
/// operation's own transaction.
pub struct Job<'a, T> {
    pub id: JobId,
    /// The poll's body for the operation's result (status 200), in the face's wire format.
    pub render: &'a (dyn Fn(&T) -> String + Send + Sync),
}

impl<T> std::fmt::Debug for Job<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("id", &self.id).finish_non_exhaustive()
    }
}

impl Core {
    /// Opens a session for `username`, whose password the client sent as its SHA-512 hex. A wrong
    /// password (or a user without a session verifier yet) counts as a failure of `source` and of
    /// `username`, and costs the same Argon2id as a right one. A user holds at most
    /// [`CoreSettings::sessions_per_user`] unexpired sessions ([`Error::Conflict`] beyond).
    ///
    /// [`CoreSettings::sessions_per_user`]: super::CoreSettings::sessions_per_user
    pub async fn open_session(
        &self,
        username: &str,
        password_sha512: &str,
        source: IpAddr,
    ) -> Result<NewSession> {
        let charge = self.authn.charge(source, Some(username)).await?;
        let principal = settle(charge, self.check_session_password(username, password_sha512).await)?;
        let Principal::User(user) = principal else {
            return Err(Error::internal("a session password named no user"));
        };
        let at = now();
        let session = Session {
            user_id: user.user_id,
            organization_id: user.organization_id,
            created_at: at,
            expires_at: at + self.settings.session_lifetime,
        };
        let (secret, hash) = new_session_secret();
        let mut tx = self.write(Actor::User(user.user_id)).await?;
        let limit = self.settings.sessions_per_user;
        tx.insert_session(&Grant::new(user.organization_id), &session, &hash, limit).await?;
        let org = Some(user.organization_id);
        tx.record(Change::new(org, Verb::SignIn, ObjectKind::User, user.user_id)).await?;
        tx.commit().await?;
        Ok(NewSession { secret, session })
    }

    async fn check_session_password(&self, username: &str, password_sha512: &str) -> Result<Principal> {
        let verified = self.verified_user(username, password_sha512, |c| c.session_password.clone()).await;
        verified.map(|(_, principal)| principal)
    }

    /// The user a session id stands for. An unknown or expired id counts as a failure of
    /// `source`; a source over its limit is refused before the id is looked up.
    pub async fn authenticate_session(&self, presented: &str, source: IpAddr) -> Result<Principal> {
        let charge = self.authn.charge(source, None).await?;
        settle(charge, self.check_session(presented).await)
    }

    async fn check_session(&self, presented: &str) -> Result<Principal> {
        let creds = self.read().await?.session(&SecretHash::of(presented)).await?;
        let creds = creds.ok_or(Error::Unauthenticated(Unauthenticated::InvalidCredentials))?;
        if creds.session.expires_at <= now() {
            return Err(Error::Unauthenticated(Unauthenticated::ExpiredCredentials));
        }
        require_active(&creds.organization)?;
        Ok(Principal::User(UserPrincipal {
            organization_id: creds.organization.id,
            user_id: creds.session.user_id,
            resource_creation_restricted: creds.organization.resource_creation_restricted,
        }))
    }

    /// Whether a session id names a session that has not expired.
    pub async fn session_is_valid(&self, presented: &str) -> Result<bool> {
        let creds = self.read().await?.session(&SecretHash::of(presented)).await?;
        Ok(creds.is_some_and(|c| c.session.expires_at > now()))
    }

    /// Ends a session. Holding its id is the authority to end it; an unknown id is no error
    /// (ending a session twice ends it once).
    pub async fn close_session(&self, presented: &str) -> Result<()> {
        let hash = SecretHash::of(presented);
        let mut tx = self.write(Actor::Operator).await?;
        let Some(creds) = tx.session(&hash).await? else {
            // No session, nothing changed.
            return tx.commit_unrecorded().await;
        };
        tx.delete_session(&hash).await?;
        let (org, user) = (creds.session.organization_id, creds.session.user_id);
        tx.record_by(Actor::User(user), Change::new(Some(org), Verb::SignOut, ObjectKind::User, user))
            .await?;
        tx.commit().await
    }

    /// Commits an operation's transaction, with its job's answer to `out` written in it first
    /// when the call has a job (the record exists exactly when the operation committed).
    pub(super) async fn commit_with_job<T: Sync>(
        &self,
        mut tx: Tx,
        grant: &Grant,
        job: Option<Job<'_, T>>,
        out: &T,
    ) -> Result<()> {
        if let Some(job) = job {
            let record = self.job_record(job.id, Some(grant.organization_id()), 200, (job.render)(out));
            tx.insert_job(Some(grant), &record).await?;
        }
        tx.commit().await
    }

    /// A job's answer, kept for the retention from now.
    fn job_record(&self, id: JobId, org: Option<OrganizationId>, status: u16, body: String) -> JobRecord {
        let at = now();
        JobRecord {
            id,
            organization_id: org,
            status,
            body,
            created_at: at,
            expires_at: at + self.settings.job_retention,
        }
    }

    /// Records the answer of an asynchronous call whose operation wrote none itself: a refusal
    /// (its transaction rolled back), or an answer the face gives without an operation (ZStack's
    /// "success if the resource is missing"), `status` and `body` as the face renders them. `actor` is the caller
    /// if it was identified; the record is then its organization's. A job id in use is
    /// [`Error::AlreadyExists`].
    pub async fn record_job(
        &self,
        actor: Option<&Principal>,
        id: JobId,
        status: u16,
        body: String,
    ) -> Result<()> {
        let org = actor.and_then(Principal::organization_id);
        let record = self.job_record(id, org, status, body);
        let grant = org.map(Grant::new);
        let mut tx = self.write(actor.map_or(Actor::Operator, Actor::from)).await?;
        tx.insert_job(grant.as_ref(), &record).await?;
        // The answer of a refusal: nothing changed.
        tx.commit_unrecorded().await
    }

    /// The answer of an asynchronous call, while it is kept. A job of an organization is found
    /// only by a caller of that organization; a job refused before its caller was known (an
    /// invalid session) by anyone holding its id. Otherwise, and once expired, not found.
    pub async fn job(&self, actor: Option<&Principal>, id: JobId) -> Result<JobRecord> {
        let record = self.read().await?.job(id).await?;
        record
            .filter(|r| r.expires_at > now())
            .filter(|r| {
                r.organization_id.is_none_or(|org| actor.and_then(Principal::organization_id) == Some(org))
            })
            .ok_or(Error::not_found(JobId::KIND))
    }

    /// Deletes expired sessions and job records, and audit events older than the retention
    /// (the server runs this periodically). Returns how many rows went.
    pub async fn purge_expired(&self) -> Result<u64> {
        let mut tx = self.write(Actor::Operator).await?;
        let (grant, at) = (OperatorGrant::new(), now());
        let mut purged = tx.purge_expired(&grant, at).await?;
        if let Some(kept) = self.settings.audit_retention {
            purged += tx.purge_audit_events(&grant, at - kept).await?;
        }
        // Housekeeping: what expired was already gone for every caller, and old events go as
        // the operator's retention says (the log line counts them).
        tx.commit_unrecorded().await?;
        Ok(purged)
    }
}
