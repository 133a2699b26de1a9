//! Organizations and their credentials: API tokens and users.

use ipnet::IpNet;
use time::OffsetDateTime;

use super::lookup::OrganizationRef;
use super::{Core, Tx};
use crate::access::{Action, Operation, Resource};
use crate::audit::{self, Change, ObjectKind, Verb};
use crate::auth::Principal;
use crate::error::{Error, Result, ViolationCode};
use crate::id::{ApiTokenId, OrganizationId, UserId};
use crate::limits::{MAX_ALLOWED_NETWORKS, MAX_SCOPES};
use crate::model::{now, ApiToken, Organization, OrganizationPatch, OrganizationStatus, User};
use crate::page::{Page, PageRequest};
use crate::scope::Scope;
use crate::secret::{new_token_secret, RevealedSecret, SecretHash};
use crate::store::Reads;
use crate::validate::Violations;

pub const NAME_MAX: usize = 255;
const USERNAME_MAX: usize = 64;

/// Whether a username has only the characters usernames are made of.
fn username_chars(username: &str) -> bool {
    username.chars().all(|c| c.is_ascii_alphanumeric() || "._@-".contains(c))
}

/// Whether `username` could be a user's at all: anything else (control characters, NUL) names
/// no user, so authentication need not — and on PostgreSQL, with a NUL, cannot — look it up.
pub(super) fn could_be_username(username: &str) -> bool {
    (1..=USERNAME_MAX).contains(&username.len()) && username_chars(username)
}

#[derive(Debug, Clone)]
pub struct CreateOrganization {
    pub name: String,
    pub sub_domain: String,
}

#[derive(Debug, Clone)]
pub struct CreateApiToken {
    pub name: String,
    pub scopes: Vec<String>,
    pub allowed_networks: Vec<String>,
    pub expires_at: Option<OffsetDateTime>,
}

/// A new token and its secret, which is never available again.
#[derive(Debug, Clone)]
pub struct CreatedApiToken {
    pub token: ApiToken,
    pub secret: RevealedSecret,
}

#[derive(Debug, Clone)]
pub struct CreateUser {
    pub username: String,
    pub password: String,
}

/// A new token with a fresh id, and its secret (shown once) and the secret's hash (kept).
pub(super) fn with_secret(token: ApiToken) -> (ApiToken, RevealedSecret, SecretHash) {
    let id = ApiTokenId::random();
    let (secret, hash) = new_token_secret(id);
    (ApiToken { id, ..token }, secret, hash)
}

impl Core {
    /// The scope catalogue: every scope name, with what it grants, in catalogue order. Any
    /// authenticated caller may read it (an agent token reads only its server's policy), so a
    /// tenant can see what to ask its operator for; it names nothing of anyone's.
    pub fn scope_catalogue(&self, actor: &Principal) -> Result<Vec<Scope>> {
        actor.require_scopes(Operation::new(Resource::ScopeCatalogue, Action::List))?;
        Ok(Scope::all().collect())
    }

    pub async fn create_organization(
        &self,
        actor: &Principal,
        input: CreateOrganization,
    ) -> Result<Organization> {
        let grant = actor.require_operator()?;
        let mut v = Violations::new();
        v.text("name", &input.name, 1, NAME_MAX);
        v.slug("sub_domain", &input.sub_domain);
        v.finish()?;
        let at = now();
        let org = Organization {
            id: OrganizationId::random(),
            name: input.name,
            sub_domain: input.sub_domain,
            status: OrganizationStatus::Active,
            resource_creation_restricted: false,
            created_at: at,
            updated_at: at,
        };
        let created = Change::created(Some(org.id), ObjectKind::Organization, org.id, &org);
        write_one!(self, actor, created, insert_organization(&grant, &org))?;
        Ok(org)
    }

    pub async fn list_organizations(
        &self,
        actor: &Principal,
        page: PageRequest,
    ) -> Result<Page<Organization>> {
        actor.require_operator()?;
        self.read().await?.list_organizations(page).await
    }

    pub async fn organization(
        &self,
        actor: &Principal,
        id: impl Into<OrganizationRef> + Send,
    ) -> Result<Organization> {
        let mut reads = self.read().await?;
        let id = Self::resolve_in(&mut *reads, &id.into()).await?;
        actor.authorize(id, Operation::new(Resource::Organization, Action::Read))?;
        Self::existing_in(&mut *reads, id).await
    }

    pub async fn update_organization(
        &self,
        actor: &Principal,
        id: OrganizationId,
        patch: OrganizationPatch,
    ) -> Result<Organization> {
        let grant = actor.require_operator()?;
        let mut v = Violations::new();
        if let Some(name) = &patch.name {
            v.text("name", name, 1, NAME_MAX);
        }
        v.finish()?;
        // Read once: the organization as it is (not found if missing) is the event's before.
        let mut tx = self.write(actor).await?;
        let before = audit::state(&Self::existing_in(&mut *tx, id).await?);
        let org = tx.update_organization(&grant, id, &patch, now()).await?;
        tx.record(Change::updated(Some(id), ObjectKind::Organization, id, &before, &org)).await?;
        tx.commit().await?;
        Ok(org)
    }

    pub async fn delete_organization(&self, actor: &Principal, id: OrganizationId) -> Result<()> {
        let grant = actor.require_operator()?;
        let mut tx = self.write(actor).await?;
        let before = Self::existing_in(&mut *tx, id).await?;
        tx.delete_organization(&grant, id).await?;
        tx.record(Change::deleted(Some(id), ObjectKind::Organization, id, &before)).await?;
        tx.commit().await
    }

    pub async fn create_api_token(
        &self,
        actor: &Principal,
        org: OrganizationId,
        input: CreateApiToken,
    ) -> Result<CreatedApiToken> {
        let grant = actor.require_operator()?;
        let mut v = Violations::new();
        v.text("name", &input.name, 1, NAME_MAX);
        let sized = v.count("scopes", input.scopes.len(), MAX_SCOPES);
        if !(v.count("allowed_networks", input.allowed_networks.len(), MAX_ALLOWED_NETWORKS) && sized) {
            v.checkpoint()?;
        }
        let mut scopes = Vec::with_capacity(input.scopes.len());
        for (i, name) in input.scopes.iter().enumerate() {
            match Scope::parse(name) {
                Some(scope) if scopes.contains(&scope) => v.push(
                    format!("scopes[{i}]"),
                    ViolationCode::Duplicate,
                    format!("scope `{name}` is listed twice"),
                ),
                Some(Scope::AGENT) => v.push(
                    format!("scopes[{i}]"),
                    ViolationCode::InvalidValue,
                    "only agent tokens hold `agent`: create one with POST …/servers/{server_id}/agent_tokens",
                ),
                Some(scope) => scopes.push(scope),
                None if name.chars().any(char::is_control) => {
                    v.name_chars(&format!("scopes[{i}]"), name);
                }
                None => v.push(
                    format!("scopes[{i}]"),
                    ViolationCode::InvalidValue,
                    format!("unknown scope `{name}`"),
                ),
            }
        }
        let allowed_networks: Vec<IpNet> = input
            .allowed_networks
            .iter()
            .enumerate()
            .filter_map(|(i, net)| v.network_or_address(&format!("allowed_networks[{i}]"), net))
            .collect();
        let created_at = now();
        if input.expires_at.is_some_and(|exp| exp <= created_at) {
            v.push("expires_at", ViolationCode::InvalidValue, "must be in the future");
        }
        v.finish()?;
        let unsaved = ApiToken {
            id: ApiTokenId::random(),
            organization_id: org,
            name: input.name,
            scopes,
            allowed_networks,
            expires_at: input.expires_at,
            created_at,
            server_id: None,
            revoked_at: None,
        };
        let (token, secret, hash) = with_secret(unsaved);
        let created = Change::created(Some(org), ObjectKind::ApiToken, token.id, &token);
        write_one!(self, actor, in org, created, insert_api_token(&grant.within(org), &token, &hash))?;
        Ok(CreatedApiToken { token, secret })
    }

    pub async fn list_api_tokens(
        &self,
        actor: &Principal,
        org: OrganizationId,
        page: PageRequest,
    ) -> Result<Page<ApiToken>> {
        actor.require_operator()?;
        self.read_in(org).await?.list_api_tokens(org, page).await
    }

    pub async fn revoke_api_token(
        &self,
        actor: &Principal,
        org: OrganizationId,
        id: ApiTokenId,
    ) -> Result<()> {
        let grant = actor.require_operator()?;
        let revoked = Change::new(Some(org), Verb::Revoke, ObjectKind::ApiToken, id);
        write_one!(self, actor, revoked, revoke_api_token(&grant.within(org), id, now()))
    }

    pub async fn create_user(
        &self,
        actor: &Principal,
        org: OrganizationId,
        input: CreateUser,
    ) -> Result<User> {
        let grant = actor.require_operator()?;
        let mut v = Violations::new();
        v.text("username", &input.username, 1, USERNAME_MAX);
        if !username_chars(&input.username) {
            v.push("username", ViolationCode::InvalidValue, "may contain only letters, digits and . _ @ -");
        }
        Self::check_password_length(&mut v, &input.password);
        v.finish()?;
        let digest = self.hash_password(&input.password).await?;
        // What ZStack clients send at sign-in: see `sessions`.
        let session_digest = self.hash_password(&crate::secret::sha512_hex(&input.password)).await?;
        let user =
            User { id: UserId::random(), organization_id: org, username: input.username, created_at: now() };
        let created = Change::created(Some(org), ObjectKind::User, user.id, &user);
        write_one!(self, actor, in org, created, insert_user(&grant.within(org), &user, &digest, &session_digest))?;
        Ok(user)
    }

    /// Replaces a user's password (operator only): the Argon2id digests of the clear password
    /// and of its SHA-512 hex (what ZStack clients sign in with) are both replaced, so the old
    /// password stops working on every face at once.
    pub async fn change_password(
        &self,
        actor: &Principal,
        org: OrganizationId,
        user: UserId,
        password: String,
    ) -> Result<()> {
        let grant = actor.require_operator()?;
        let mut v = Violations::new();
        Self::check_password_length(&mut v, &password);
        v.finish()?;
        let digest = self.hash_password(&password).await?;
        let session_digest = self.hash_password(&crate::secret::sha512_hex(&password)).await?;
        let set = Change::new(Some(org), Verb::SetPassword, ObjectKind::User, user);
        write_one!(self, actor, in org, set, set_password(&grant.within(org), user, Some(&digest), &session_digest))
    }

    fn check_password_length(v: &mut Violations, password: &str) {
        let len = password.chars().count();
        if !(8..=1024).contains(&len) {
            v.push("password", ViolationCode::InvalidLength, "must have a length between 8 and 1024");
        }
    }

    pub async fn list_users(
        &self,
        actor: &Principal,
        org: OrganizationId,
        page: PageRequest,
    ) -> Result<Page<User>> {
        actor.require_operator()?;
        self.read_in(org).await?.list_users(org, page).await
    }

    /// The organization `id`, read through `reads` ([`Error::NotFound`] if none).
    pub(super) async fn existing_in(reads: &mut dyn Reads, id: OrganizationId) -> Result<Organization> {
        reads.organization(id).await?.ok_or(Error::not_found(OrganizationId::KIND))
    }

    /// A read handle in which the organization `org` exists ([`Error::NotFound`] if not).
    pub(super) async fn read_in(&self, org: OrganizationId) -> Result<Box<dyn Reads>> {
        let mut reads = self.read().await?;
        Self::existing_in(&mut *reads, org).await?;
        Ok(reads)
    }

    /// A write transaction in which the organization `org` exists ([`Error::NotFound`] if not).
    pub(super) async fn write_in(&self, actor: &Principal, org: OrganizationId) -> Result<Tx> {
        let mut tx = self.write(actor).await?;
        Self::existing_in(&mut *tx, org).await?;
        Ok(tx)
    }
}
