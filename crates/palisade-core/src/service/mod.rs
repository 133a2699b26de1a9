//! The application layer: one method per operation, shared by every face.
//!
//! A method authorizes first (one `require_*` call on the principal), then validates the whole
//! input (collecting every violation), then makes exactly one atomic store call. Faces call
//! these methods and render the result; they never talk to the store themselves.

mod address_lists;
mod addresses;
mod hosts;
mod inventory;
mod lookup;
mod policy;
mod tenancy;

use std::net::IpAddr;
use std::sync::Arc;

pub use address_lists::NewEntry;
pub use addresses::CreateIpAddress;
pub use hosts::{CreateHost, HostPatch};
pub use inventory::{CreateDataCenter, CreateInterface, CreateNetwork, CreateServer};
pub use lookup::{IpRef, OrganizationRef, PermalinkRef};
pub use policy::{CreateRule, CreateSecurityGroup};
pub use tenancy::{CreateApiToken, CreateOrganization, CreateUser, CreatedApiToken, NAME_MAX};

use crate::auth::{Principal, TokenPrincipal, UserPrincipal};
use crate::error::{Error, Forbidden, Result, Unauthenticated};
use crate::model::{now, OrganizationStatus};
use crate::secret::{new_operator_secret, token_id_of, PasswordDigest, RevealedSecret, SecretHash};
use crate::store::Store;

/// The settings key under which the generated operator token's hash is kept.
pub const OPERATOR_TOKEN_SETTING: &str = "operator_token_sha256";

/// Installation-wide choices that shape what the core produces.
#[derive(Debug, Clone)]
pub struct CoreSettings {
    /// Default reverse DNS names of new addresses (see [`crate::ipam::reverse_dns`]).
    pub reverse_dns_pattern: String,
}

impl Default for CoreSettings {
    fn default() -> Self {
        Self { reverse_dns_pattern: "{dashed}.rdns.example.net".into() }
    }
}

/// The canonical service. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Core {
    store: Arc<dyn Store>,
    operator: Arc<SecretHash>,
    settings: Arc<CoreSettings>,
}

impl Core {
    pub fn new(store: Arc<dyn Store>, operator: SecretHash) -> Self {
        Self::with_settings(store, operator, CoreSettings::default())
    }

    pub fn with_settings(store: Arc<dyn Store>, operator: SecretHash, settings: CoreSettings) -> Self {
        Self { store, operator: Arc::new(operator), settings: Arc::new(settings) }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Whether the database answers.
    pub async fn ready(&self) -> Result<()> {
        self.store.ping().await
    }

    /// Identifies the caller from a bearer credential, checking expiry, source network and the
    /// organization's state.
    pub async fn authenticate(&self, bearer: Option<&str>, source: IpAddr) -> Result<Principal> {
        let presented = bearer.ok_or(Error::Unauthenticated(Unauthenticated::MissingCredentials))?;
        let invalid = || Error::Unauthenticated(Unauthenticated::InvalidCredentials);
        if self.operator.verify(presented) {
            return Ok(Principal::Operator);
        }
        let id = token_id_of(presented).ok_or_else(invalid)?;
        let creds = self.store.token_credentials(id).await?.ok_or_else(invalid)?;
        if !creds.secret_hash.verify(presented) {
            return Err(invalid());
        }
        if creds.token.is_expired_at(now()) {
            return Err(Error::Unauthenticated(Unauthenticated::ExpiredCredentials));
        }
        if !creds.token.allows_source(source) {
            return Err(Error::Forbidden(Forbidden::NetworkNotAllowed(source)));
        }
        match creds.organization.status {
            OrganizationStatus::Active => {}
            OrganizationStatus::Suspended => return Err(Error::Forbidden(Forbidden::OrganizationSuspended)),
            OrganizationStatus::NotActivated => {
                return Err(Error::Forbidden(Forbidden::OrganizationNotActivated))
            }
        }
        Ok(Principal::Token(TokenPrincipal {
            organization_id: creds.organization.id,
            token_id: creds.token.id,
            scopes: creds.token.scopes,
            resource_creation_restricted: creds.organization.resource_creation_restricted,
        }))
    }

    /// Identifies a user by username and password (HTTP Basic), checking the organization's
    /// state. An unknown username costs the same Argon2id verification as a wrong password, so
    /// response timing does not reveal which usernames exist.
    pub async fn authenticate_user(&self, username: &str, password: &str) -> Result<Principal> {
        let invalid = || Error::Unauthenticated(Unauthenticated::InvalidCredentials);
        // A username no user can have (a NUL, say) is not looked up, but costs the same.
        let creds = if tenancy::could_be_username(username) {
            self.store.user_credentials(username).await?
        } else {
            None
        };
        let Some(creds) = creds else {
            let _ = dummy_digest().verify(password);
            return Err(invalid());
        };
        if !creds.password.verify(password) {
            return Err(invalid());
        }
        match creds.organization.status {
            OrganizationStatus::Active => {}
            OrganizationStatus::Suspended => return Err(Error::Forbidden(Forbidden::OrganizationSuspended)),
            OrganizationStatus::NotActivated => {
                return Err(Error::Forbidden(Forbidden::OrganizationNotActivated))
            }
        }
        Ok(Principal::User(UserPrincipal {
            organization_id: creds.organization.id,
            user_id: creds.user.id,
            resource_creation_restricted: creds.organization.resource_creation_restricted,
        }))
    }
}

/// A digest of a random password, verified against when a username is unknown (made once).
fn dummy_digest() -> &'static PasswordDigest {
    static DUMMY: std::sync::OnceLock<PasswordDigest> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = data_encoding::HEXLOWER.encode(&crate::id::random_bytes::<16>());
        // Hashing fails only on invalid parameters; fall back to a well-formed fixed digest.
        PasswordDigest::new(&random).unwrap_or_else(|_| {
            PasswordDigest::from_phc(
                "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$ZHVtbXlkdW1teWR1bW15ZHVtbXlkdW1teWR1bW15ZHU"
                    .into(),
            )
        })
    })
}

/// Decides the operator credential at start-up.
///
/// A token given on the command line (or environment) is used as is and never stored. Otherwise
/// the stored hash of an earlier generated token is used; on the very first start a token is
/// generated, its hash stored, and the secret returned so the caller can print it once. When
/// several nodes start at once on a shared database, the first writer wins and only it prints.
pub async fn operator_credential(
    store: &dyn Store,
    given: Option<&str>,
) -> Result<(SecretHash, Option<RevealedSecret>)> {
    if let Some(given) = given {
        return Ok((SecretHash::of(given), None));
    }
    if let Some(stored) = store.setting(OPERATOR_TOKEN_SETTING).await? {
        let hash = SecretHash::from_hex(&stored)
            .ok_or_else(|| Error::internal("stored operator hash is corrupt"))?;
        return Ok((hash, None));
    }
    let (secret, hash) = new_operator_secret();
    let stored = store.init_setting(OPERATOR_TOKEN_SETTING, &hash.to_hex()).await?;
    if stored == hash.to_hex() {
        Ok((hash, Some(secret)))
    } else {
        let hash = SecretHash::from_hex(&stored)
            .ok_or_else(|| Error::internal("stored operator hash is corrupt"))?;
        Ok((hash, None))
    }
}
