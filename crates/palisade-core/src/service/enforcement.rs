//! Enforcement on hosts, as the control plane sees it: per-server agent tokens, the agents'
//! reports of what they applied, and the wait for a server's next policy (the agent's long
//! poll, woken by [`crate::changes`]).
//!
//! An agent token is an API token bound to one server holding only the `agent` scope: it may
//! read that server's effective policy and report its enforcement, and is refused everything
//! else on every face ([`Principal::authorize_server`]). Only the operator makes them.

use std::sync::Arc;

use time::OffsetDateTime;

use crate::access::{Action, Operation, Resource};
use crate::audit::{Change, ObjectKind};
use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::grant::Grant;
use crate::id::{ApiTokenId, OrganizationId, ServerId};
use crate::model::{now, ApiToken, EnforcementReport};
use crate::scope::Scope;
use crate::validate::Violations;

use super::evaluation::{ServerPolicy, READ_SERVER_POLICY};
use super::tenancy::{with_secret, NAME_MAX};
use super::{Core, CreatedApiToken, ServerRef};

/// Making a server's agent token (the operator's).
pub const MAKE_AGENT_TOKEN: Operation = Operation::new(Resource::Enforcement, Action::Create);
/// An agent's report of what it applied (its own server's agent only).
pub const REPORT_ENFORCEMENT: Operation = Operation::new(Resource::Enforcement, Action::Update);

/// Longest error text an agent may report (the rest is cut).
pub const REPORT_ERROR_MAX: usize = 2000;
/// Longest content digest an agent may report.
const DIGEST_MAX: usize = 128;

/// A server's desired policy (what it should have) beside what its agent reported applying.
#[derive(Debug, Clone)]
pub struct Enforcement {
    pub report: Option<EnforcementReport>,
    pub policy: ServerPolicy,
}

/// What a long poll for a server's policy waits for.
#[derive(Debug, Clone, Copy)]
pub struct PolicyWait<'a> {
    /// Hold until the organization's policy revision is above this one; `None`: answer at once.
    pub after: Option<u64>,
    /// The digest of the policy the caller has.
    pub known: Option<&'a str>,
    /// When to give up holding.
    pub until: tokio::time::Instant,
}

/// A long poll's answer.
#[derive(Debug)]
pub enum Next<V> {
    /// The policy differs from the one the caller has.
    Changed(V),
    /// It does not (yet): this is the one in force.
    Unchanged(V),
}

/// What an agent reports after an attempt to apply its server's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The policy of this revision and content digest is in force.
    Policy { revision: u64, digest: String },
    /// The attempt failed: the rules in force are what they were.
    Failed { error: String },
}

impl Core {
    /// A new agent token for `org`'s server `server` (operator only): scope `agent`, bound to
    /// the server, shown once.
    pub async fn create_agent_token(
        &self,
        actor: &Principal,
        server: ServerId,
        name: String,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<CreatedApiToken> {
        let (org, grant) = self.authorize_named_server(actor, server, MAKE_AGENT_TOKEN).await?;
        let mut v = Violations::new();
        v.text("name", &name, 1, NAME_MAX);
        let created_at = now();
        if expires_at.is_some_and(|exp| exp <= created_at) {
            v.push("expires_at", crate::ViolationCode::InvalidValue, "must be in the future");
        }
        v.finish()?;
        let (token, secret, hash) = with_secret(ApiToken {
            id: ApiTokenId::random(),
            organization_id: org,
            name,
            scopes: vec![Scope::AGENT],
            allowed_networks: Vec::new(),
            expires_at,
            created_at,
            server_id: Some(server),
            revoked_at: None,
        });
        let mut tx = self.write_in(actor, org).await?;
        tx.server(org, server).await?.ok_or(Error::not_found(ServerId::KIND))?;
        tx.insert_api_token(&grant, &token, &hash).await?;
        tx.record(Change::created(Some(org), ObjectKind::ApiToken, token.id, &token)).await?;
        tx.commit().await?;
        Ok(CreatedApiToken { token, secret })
    }

    /// Records what the server's agent applied (its own agent only).
    pub async fn report_enforcement(
        &self,
        actor: &Principal,
        server: ServerId,
        applied: Applied,
    ) -> Result<Enforcement> {
        let (org, grant) = self.authorize_named_server(actor, server, REPORT_ENFORCEMENT).await?;
        let at = now();
        let report = match applied {
            Applied::Policy { revision, digest } => {
                let mut v = Violations::new();
                v.text("applied_digest", &digest, 1, DIGEST_MAX);
                if i64::try_from(revision).is_err() {
                    // Revisions are stored as 64-bit signed integers.
                    v.push("applied_revision", crate::ViolationCode::InvalidValue, "is no revision");
                }
                v.finish()?;
                EnforcementReport {
                    server_id: server,
                    applied_revision: Some(revision),
                    applied_digest: Some(digest),
                    applied_at: Some(at),
                    last_error: None,
                    reported_at: at,
                }
            }
            Applied::Failed { error } => EnforcementReport {
                server_id: server,
                applied_revision: None,
                applied_digest: None,
                applied_at: None,
                last_error: Some(error.chars().take(REPORT_ERROR_MAX).collect()),
                reported_at: at,
            },
        };
        let mut tx = self.write(actor).await?;
        tx.report_enforcement(&grant, &report).await?;
        let stored =
            tx.enforcement(org, server).await?.ok_or_else(|| Error::internal("report not stored"))?;
        // What a host applied, not a change anyone asked for: reports come once per server for
        // every policy change (10,000 rows for one change on 10,000 servers), and the latest is
        // the server's enforcement state.
        tx.commit_unrecorded().await?;
        let policy = self.server_policy(actor, org, server).await?;
        Ok(Enforcement { report: Some(stored), policy })
    }

    /// The server's policy beside what its agent last reported, if it ever did (`policy:read`,
    /// or its own agent).
    pub async fn enforcement(&self, actor: &Principal, server: ServerId) -> Result<Enforcement> {
        let (org, _) = self.authorize_named_server(actor, server, READ_SERVER_POLICY).await?;
        let report = self.read_in(org).await?.enforcement(org, server).await?;
        let policy = self.server_policy(actor, org, server).await?;
        Ok(Enforcement { report, policy })
    }

    /// The authorization of `op` on `server`, named by its id alone (a host agent knows its
    /// server's id, not its organization's), with the server's organization: an agent token's
    /// own; otherwise the server's, if the caller may do `op` there. The scopes are checked
    /// before anything is looked up; a server the caller may not see is not found.
    async fn authorize_named_server(
        &self,
        actor: &Principal,
        server: ServerId,
        op: Operation,
    ) -> Result<(OrganizationId, Grant)> {
        actor.require_scopes(op)?;
        let org = match (actor.bound_server(), actor.organization_id()) {
            (Some(_), Some(org)) => org,
            _ => {
                let found = self.read().await?.server_anywhere(server).await?;
                found.ok_or(Error::not_found(ServerId::KIND))?.organization_id
            }
        };
        let grant = actor.authorize_server(org, server, op).map_err(|e| match e {
            Error::NotFound { .. } => Error::not_found(ServerId::KIND),
            other => other,
        })?;
        Ok((org, grant))
    }

    /// A server's effective policy, as the caller renders it (`view`: the rendering and its
    /// content digest), once it differs from the one the caller has (`known`, a digest).
    /// Without `after`, at once: [`Next::Unchanged`] if it is still `known`. With `after` (the
    /// host agent's long poll), held until the organization's revision is above `after` and
    /// the rendering differs from `known`, or until `until` ([`Next::Unchanged`], the policy
    /// now in force). Held polls wake on [`crate::changes`], not by polling, and only answer
    /// for a change of *this* server's policy.
    pub async fn next_server_policy<V>(
        &self,
        actor: &Principal,
        server: ServerRef,
        wait: PolicyWait<'_>,
        view: impl Fn(&ServerPolicy) -> (V, String),
    ) -> Result<Next<V>> {
        let (org, id) = match server {
            ServerRef::Owned(org, id) => (org, id),
            ServerRef::Id(id) => (self.authorize_named_server(actor, id, READ_SERVER_POLICY).await?.0, id),
        };
        let differs = |digest: &str| wait.known != Some(digest);
        let Some(after) = wait.after else {
            let policy = self.server_policy(actor, org, id).await?;
            let (rendered, digest) = view(&policy);
            policy.evaluated.remember_digest(id, &digest);
            return Ok(if differs(&digest) { Next::Changed(rendered) } else { Next::Unchanged(rendered) });
        };
        actor.authorize_server(org, id, READ_SERVER_POLICY)?;
        // Subscribed before the first look: a change between a look and the wait is heard.
        let mut changes = self.store.policy_changes().subscribe(org);
        // The fingerprint of the policy last rendered, when it was the one the caller has: a
        // wake-up that left this server's policy as it was renders nothing (every poll of the
        // organization wakes; only those whose server's policy changed do more than compare).
        let mut unchanged_at: Option<u64> = None;
        // Set once the wait is over: one last look answers with the policy in force.
        let mut last_look = false;
        loop {
            let policy = self.server_policy_since(actor, org, id, changes.announced()).await?;
            let revision = policy.evaluated.revision();
            let print = policy.evaluated.fingerprint(id);
            if last_look || print.is_none() || print != unchanged_at {
                // An answer at this revision rendered the digest already: it decides without a
                // new rendering, unless this poll is to answer.
                let remembered = policy.evaluated.digest(id);
                let answers = |d: &str| last_look || (revision > after && differs(d));
                let digest = match remembered.filter(|d| !answers(d)) {
                    Some(digest) => digest,
                    None => {
                        let (rendered, digest) = view(&policy);
                        policy.evaluated.remember_digest(id, &digest);
                        if revision > after && differs(&digest) {
                            return Ok(Next::Changed(rendered));
                        }
                        if last_look {
                            return Ok(Next::Unchanged(rendered));
                        }
                        Arc::from(digest)
                    }
                };
                unchanged_at = print.filter(|_| !differs(&digest));
            }
            let woken = tokio::time::timeout_at(wait.until, changes.changed()).await.is_ok();
            last_look = !woken || changes.is_closed();
        }
    }
}
