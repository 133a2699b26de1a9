//! The application layer: one method per operation, shared by every face.
//!
//! A method authorizes first (one `require_*` call on the principal), then validates the whole
//! input (collecting every violation), then writes in one store transaction: a read-modify-write
//! update reads its object with a `*_for_update` call in that same transaction, so concurrent
//! partial updates of one object cannot lose one another. Faces call these methods and render
//! the result; they never talk to the store themselves.

/// `write_one!(core, actor, change, method(args…))`: one write in its own transaction, recorded
/// as `change` by `actor` and committed if it succeeds (a failure drops, so rolls back, the
/// transaction).
macro_rules! write_one {
    ($core:expr, $actor:expr, $change:expr, $method:ident ( $($arg:expr),* $(,)? )) => {{
        let mut tx = $core.write($actor).await?;
        let out = tx.$method($($arg),*).await?;
        tx.record($change).await?;
        tx.commit().await?;
        crate::error::Result::Ok(out)
    }};
    // The same, in a transaction that first checks that the organization exists.
    ($core:expr, $actor:expr, in $org:expr, $change:expr, $method:ident ( $($arg:expr),* $(,)? )) => {{
        let mut tx = $core.write_in($actor, $org).await?;
        let out = tx.$method($($arg),*).await?;
        tx.record($change).await?;
        tx.commit().await?;
        crate::error::Result::Ok(out)
    }};
}

mod address_lists;
mod addresses;
mod audit_trail;
mod enforcement;
mod evaluation;
mod group_pages;
mod hosts;
mod inventory;
mod lookup;
mod policy;
mod sessions;
mod tenancy;

use std::net::IpAddr;
use std::sync::Arc;

pub use address_lists::NewEntry;
pub use addresses::{CreateIpAddress, IpAddressDetail, NetworkArg};
pub use enforcement::{
    Applied, Enforcement, Next, PolicyWait, MAKE_AGENT_TOKEN, REPORT_ENFORCEMENT, REPORT_ERROR_MAX,
};
pub use evaluation::READ_SERVER_POLICY;
pub use evaluation::{
    describe_member, describe_remote, Endpoint, Evaluated, FlowCheck, FlowQuery, LintReport, RenderedSet,
    ServerPolicy,
};
pub use hosts::{CreateHost, HostPatch};
pub use inventory::{
    CreateDataCenter, CreateInterface, CreateNetwork, CreateServer, DataCenterPatch, NetworkPatch,
    ServerDetail, ServerPatch, ServerRef,
};
pub use lookup::{IpRef, OrganizationRef, PermalinkRef};
pub use policy::{CreateRule, CreateSecurityGroup, GroupRef, GroupRules, NewRule, Nic, RuleRef};
pub use sessions::{Job, NewSession};
pub use tenancy::{CreateApiToken, CreateOrganization, CreateUser, CreatedApiToken, NAME_MAX};

use crate::audit::{Actor, Change, ObjectKind, Verb};
use crate::auth::{Principal, TokenPrincipal, UserPrincipal};
use crate::authn::{AuthSettings, Authn, Charge};
use crate::error::{Error, Forbidden, Result, Unauthenticated};
use crate::grant::OperatorGrant;
use crate::model::{now, Organization, OrganizationStatus};
use crate::secret::PasswordDigest;
use crate::secret::{new_operator_secret, token_id_of, RevealedSecret, SecretHash};
use crate::store::{Reads, Store, UserCredentials, Writes};

/// A write transaction that commits only with an account of what it wrote: each write records
/// its [`Change`] in the audit trail, in the transaction itself ([`Tx::record`]), and
/// [`Tx::commit`] refuses a transaction that recorded nothing. A write that forgot its event
/// then fails in every test that reaches it instead of leaving a silent gap in the trail.
/// Housekeeping that carries out no principal's request (purging expired sessions, deriving a
/// verifier at sign-in, an agent's report of what its host applied) says so with
/// [`Tx::commit_unrecorded`].
pub(crate) struct Tx {
    tx: Box<dyn Writes>,
    actor: Actor,
    recorded: bool,
}

impl Tx {
    /// Records `change`, made by this transaction's actor, in the audit trail.
    pub(crate) async fn record(&mut self, change: Change) -> Result<()> {
        self.tx.record_audit(&change.by(self.actor)).await?;
        self.recorded = true;
        Ok(())
    }

    /// Records `change` as `actor`'s: for a transaction that learned who acts only inside it
    /// (a session ended by its id).
    pub(crate) async fn record_by(&mut self, actor: Actor, change: Change) -> Result<()> {
        self.actor = actor;
        self.record(change).await
    }

    pub(crate) async fn commit(self) -> Result<()> {
        if !self.recorded {
            return Err(Error::internal("a write transaction recorded no audit event"));
        }
        self.tx.commit().await
    }

    /// Commits housekeeping that is nobody's change to audit (see [`Tx`]).
    pub(crate) async fn commit_unrecorded(self) -> Result<()> {
        self.tx.commit().await
    }
}

impl std::ops::Deref for Tx {
    type Target = dyn Writes;

    fn deref(&self) -> &Self::Target {
        &*self.tx
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut *self.tx
    }
}

/// The settings key under which the generated operator token's hash is kept.
pub const OPERATOR_TOKEN_SETTING: &str = "operator_token_sha256";

/// Installation-wide choices that shape what the core produces.
#[derive(Debug, Clone)]
pub struct CoreSettings {
    /// Default reverse DNS names of new addresses (see [`crate::ipam::reverse_dns`]).
    pub reverse_dns_pattern: String,
    /// Password hashing, verification cache and failed-authentication limits.
    pub auth: AuthSettings,
    /// How long a session lasts after it is opened (ZStack's `identity/session.timeout`).
    pub session_lifetime: std::time::Duration,
    /// How long an asynchronous call's answer is kept for its poll (ZStack's
    /// `rest/completedApi.expiredPeriod`).
    pub job_retention: std::time::Duration,
    /// Most unexpired sessions one user may hold (ZStack's `session.maxConcurrent`): sign-ins are
    /// cheap once a password is in the verification cache, so without a bound one user could
    /// fill the sessions table.
    pub sessions_per_user: u32,
    /// How long audit events are kept; `None`: every one, for ever.
    pub audit_retention: Option<std::time::Duration>,
}

impl Default for CoreSettings {
    fn default() -> Self {
        Self {
            reverse_dns_pattern: "{dashed}.rdns.example.net".into(),
            auth: AuthSettings::default(),
            session_lifetime: std::time::Duration::from_secs(7200),
            job_retention: std::time::Duration::from_secs(10_800),
            sessions_per_user: 500,
            audit_retention: None,
        }
    }
}

/// The canonical service. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Core {
    store: Arc<dyn Store>,
    operator: Arc<SecretHash>,
    settings: Arc<CoreSettings>,
    authn: Arc<Authn>,
    /// Group listing pages kept by policy revision.
    group_pages: Arc<group_pages::GroupPages>,
    /// Compiled policies kept by policy revision.
    evaluations: Arc<evaluation::Evaluations>,
}

impl Core {
    pub fn new(store: Arc<dyn Store>, operator: SecretHash) -> Self {
        Self::with_settings(store, operator, CoreSettings::default())
    }

    pub fn with_settings(store: Arc<dyn Store>, operator: SecretHash, settings: CoreSettings) -> Self {
        let authn = Arc::new(Authn::new(&settings.auth));
        let (group_pages, evaluations) = (Arc::default(), Arc::default());
        Self {
            store,
            operator: Arc::new(operator),
            settings: Arc::new(settings),
            authn,
            group_pages,
            evaluations,
        }
    }

    /// A read handle on the store.
    pub(crate) async fn read(&self) -> Result<Box<dyn Reads>> {
        self.store.read().await
    }

    /// A write transaction on the store for `actor`'s changes, for a method to record and
    /// commit.
    pub(crate) async fn write(&self, actor: impl Into<Actor> + Send) -> Result<Tx> {
        let actor = actor.into();
        Ok(Tx { tx: self.store.write().await?, actor, recorded: false })
    }

    /// The server is stopping: held long polls answer now (with the policy they have) rather
    /// than hold the shutdown for the rest of their wait.
    pub fn end_long_polls(&self) {
        self.store.policy_changes().close();
    }

    /// The server has stopped: close the database (see [`crate::Store::close`]).
    pub async fn close(&self) {
        self.store.close().await;
    }

    /// Whether the database answers.
    pub async fn ready(&self) -> Result<()> {
        self.store.ping().await
    }

    /// The pool's connections and the write queue, now (no query), for `/metrics`.
    pub fn pool_stats(&self) -> crate::store::PoolStats {
        self.store.pool_stats()
    }

    /// Policy revisions and servers' applied-revision lags, at most `limit` of each, for
    /// `/metrics`. Numbers by id only, nothing an organization wrote: the metrics endpoint
    /// answers the operator's scraper, not a caller of the API, so no principal is asked for.
    pub async fn policy_gauges(&self, limit: u32) -> Result<crate::store::PolicyGauges> {
        self.store.read().await?.policy_gauges(limit).await
    }

    /// How full each network prefix is, for `/metrics` (the operator's scraper, no principal):
    /// per network, the prefixes of one length (usually one prefix) with the addresses taken
    /// from them and the allocatable ones left (host addresses, less reserved ranges, less
    /// those taken). At most `limit` prefixes, of the first 200 networks.
    pub async fn ipam_gauges(&self, limit: u32) -> Result<Vec<PrefixUsage>> {
        let mut reads = self.read().await?;
        let used = reads.ipam_usage(limit).await?;
        let networks = reads.list_networks(None, crate::page::PageRequest::new(Some(1), Some(200))?).await?;
        let mut gauges = Vec::new();
        for network in networks.items {
            let mut lengths: Vec<u8> = network.prefixes.iter().map(ipnet::IpNet::prefix_len).collect();
            lengths.sort_unstable();
            lengths.dedup();
            for length in lengths {
                let prefixes: Vec<&ipnet::IpNet> =
                    network.prefixes.iter().filter(|p| p.prefix_len() == length).collect();
                let capacity: u128 = prefixes.iter().map(|p| allocatable(p, &network.reserved)).sum();
                let taken = used
                    .iter()
                    .find(|(n, l, _)| *n == network.id && *l == length)
                    .map_or(0, |(_, _, used)| *used);
                gauges.push(PrefixUsage {
                    network: network.id,
                    prefixes: prefixes.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
                    used: taken,
                    free: capacity.saturating_sub(u128::from(taken)),
                });
                if gauges.len() >= usize::try_from(limit).unwrap_or(usize::MAX) {
                    return Ok(gauges);
                }
            }
        }
        Ok(gauges)
    }

    /// Identifies the caller from a bearer credential, checking expiry, source network and the
    /// organization's state. An invalid or expired credential counts as a failure of `source`
    /// (see [`crate::authn::failures`]); a source over its limit is refused (429) before its
    /// credential is even looked at.
    pub async fn authenticate(&self, bearer: Option<&str>, source: IpAddr) -> Result<Principal> {
        let presented = bearer.ok_or(Error::Unauthenticated(Unauthenticated::MissingCredentials))?;
        let charge = self.authn.charge(source, None).await?;
        settle(charge, self.check_bearer(presented, source).await)
    }

    async fn check_bearer(&self, presented: &str, source: IpAddr) -> Result<Principal> {
        let invalid = || Error::Unauthenticated(Unauthenticated::InvalidCredentials);
        if self.operator.verify(presented) {
            return Ok(Principal::Operator);
        }
        let id = token_id_of(presented).ok_or_else(invalid)?;
        let creds = self.read().await?.token_credentials(id).await?.ok_or_else(invalid)?;
        if !creds.secret_hash.verify(presented) {
            return Err(invalid());
        }
        if creds.token.is_expired_at(now()) {
            return Err(Error::Unauthenticated(Unauthenticated::ExpiredCredentials));
        }
        if !creds.token.allows_source(source) {
            return Err(Error::Forbidden(Forbidden::NetworkNotAllowed(source)));
        }
        require_active(&creds.organization)?;
        Ok(Principal::Token(TokenPrincipal {
            organization_id: creds.organization.id,
            token_id: creds.token.id,
            scopes: creds.token.scopes,
            resource_creation_restricted: creds.organization.resource_creation_restricted,
            server: creds.token.server_id,
        }))
    }

    /// Identifies a user by username and password (HTTP Basic), checking the organization's
    /// state. A wrong password counts as a failure of `source` and of `username`; either over
    /// its limit is refused (429) before any work. Argon2id runs on the bounded pool, and only
    /// on a miss of the cache of recent successes. An unknown username costs the same Argon2id
    /// verification as a wrong password, so response timing does not reveal which usernames
    /// exist.
    pub async fn authenticate_user(
        &self,
        username: &str,
        password: &str,
        source: IpAddr,
    ) -> Result<Principal> {
        let charge = self.authn.charge(source, Some(username)).await?;
        settle(charge, self.check_password(username, password).await)
    }

    async fn check_password(&self, username: &str, password: &str) -> Result<Principal> {
        let (creds, principal) = self.verified_user(username, password, |c| Some(c.password.clone())).await?;
        if creds.session_password.is_none() {
            // A user from before sessions: the clear password is at hand, so its session
            // verifier can be made now (once: the next sign-in finds it).
            let digest = self.hash_password(&crate::secret::sha512_hex(password)).await?;
            let mut tx = self.write(&principal).await?;
            tx.set_password(&crate::grant::Grant::new(creds.organization.id), creds.user.id, None, &digest)
                .await?;
            // The same password, in a second form: nobody's change.
            tx.commit_unrecorded().await?;
        }
        Ok(principal)
    }

    /// The user `username` if `password` matches the verifier `verifier` picks from its
    /// credentials (the clear password's digest, or for sessions its SHA-512's) and its
    /// organization is active. Argon2id runs on the bounded pool, only on a miss of the cache
    /// of recent successes; an unknown username (or one that cannot be a username, such as one
    /// with a NUL, which is not looked up) or a missing verifier costs the same Argon2id.
    async fn verified_user(
        &self,
        username: &str,
        password: &str,
        verifier: fn(&UserCredentials) -> Option<PasswordDigest>,
    ) -> Result<(UserCredentials, Principal)> {
        let invalid = || Error::Unauthenticated(Unauthenticated::InvalidCredentials);
        let authn = &self.authn;
        let creds = if tenancy::could_be_username(username) {
            self.read().await?.user_credentials(username).await?
        } else {
            None
        };
        let Some((creds, digest)) = creds.and_then(|c| verifier(&c).map(|d| (c, d))) else {
            authn.hasher.verify_nothing(password).await?;
            return Err(invalid());
        };
        let key = authn.verified.key(username, password, &digest);
        if !authn.verified.contains(&key) {
            if !authn.hasher.verify(&digest, password).await? {
                return Err(invalid());
            }
            authn.verified.insert(key);
        }
        require_active(&creds.organization)?;
        let principal = Principal::User(UserPrincipal {
            organization_id: creds.organization.id,
            user_id: creds.user.id,
            resource_creation_restricted: creds.organization.resource_creation_restricted,
        });
        Ok((creds, principal))
    }

    /// A password's Argon2id digest, computed on the bounded pool.
    pub(crate) async fn hash_password(&self, password: &str) -> Result<crate::secret::PasswordDigest> {
        self.authn.hasher.hash(password).await
    }
}

/// Keeps an attempt's failure charge when its credentials were wrong (or expired), and gives
/// it back otherwise: a success, a refusal for another reason, or the store being away.
fn settle(charge: Charge, outcome: Result<Principal>) -> Result<Principal> {
    if !matches!(outcome, Err(Error::Unauthenticated(_))) {
        charge.refund();
    }
    outcome
}

fn require_active(org: &Organization) -> Result<()> {
    match org.status {
        OrganizationStatus::Active => Ok(()),
        OrganizationStatus::Suspended => Err(Error::Forbidden(Forbidden::OrganizationSuspended)),
        OrganizationStatus::NotActivated => Err(Error::Forbidden(Forbidden::OrganizationNotActivated)),
    }
}

/// Decides the operator credential at start-up.
///
/// A token given on the command line (or environment) is used as is and never stored. Otherwise
/// the stored hash of an earlier generated token is used; on the very first start a token is
/// generated, its hash stored, and the secret returned so the caller can print it once. When
/// several nodes start at once on a shared database, the first writer wins and only it prints.
/// How full one network's prefixes of one length are (`/metrics`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixUsage {
    pub network: crate::id::NetworkId,
    /// The prefixes, comma-separated (one, unless the network has several of this length).
    pub prefixes: String,
    /// Address records taken from them.
    pub used: u64,
    /// Allocatable addresses left.
    pub free: u128,
}

/// Host addresses of `prefix` outside the `reserved` ranges (which may overlap each other).
fn allocatable(prefix: &ipnet::IpNet, reserved: &[ipnet::IpNet]) -> u128 {
    let (first, last) = crate::ipam::host_offsets(prefix);
    // Reserved ranges inside the prefix as offset intervals, merged so overlaps count once.
    let mut ranges: Vec<(u128, u128)> = reserved
        .iter()
        .filter(|r| prefix.contains(&r.network()) && r.prefix_len() >= prefix.prefix_len())
        .map(|r| {
            let start = crate::ipam::offset_of(prefix, r.network()).max(first);
            let end = crate::ipam::offset_of(prefix, r.broadcast()).min(last);
            (start, end)
        })
        .filter(|(start, end)| start <= end)
        .collect();
    ranges.sort_unstable();
    let mut reserved_hosts = 0u128;
    let mut covered: Option<u128> = None;
    for (start, end) in ranges {
        let start = covered.map_or(start, |c| start.max(c.saturating_add(1)));
        if start <= end {
            reserved_hosts += end - start + 1;
        }
        covered = Some(covered.map_or(end, |c| c.max(end)));
    }
    (last - first + 1).saturating_sub(reserved_hosts)
}

/// Replaces the stored operator token with a new one, returned to be shown once (`palisade
/// admin rotate-operator-token`: a lost generated token has no other way back). Servers read
/// the stored hash when they start: running ones accept the old token until restarted.
pub async fn rotate_operator_credential(store: &dyn Store) -> Result<RevealedSecret> {
    let (secret, hash) = new_operator_secret();
    let mut tx = store.write().await?;
    // The administrator at the database stands in for the operator.
    tx.put_setting(&OperatorGrant::new(), OPERATOR_TOKEN_SETTING, &hash.to_hex()).await?;
    let rotated = Change::new(None, Verb::Rotate, ObjectKind::OperatorToken, "operator");
    tx.record_audit(&rotated.by(Actor::Operator)).await?;
    tx.commit().await?;
    Ok(secret)
}

pub async fn operator_credential(
    store: &dyn Store,
    given: Option<&str>,
) -> Result<(SecretHash, Option<RevealedSecret>)> {
    if let Some(given) = given {
        return Ok((SecretHash::of(given), None));
    }
    if let Some(stored) = store.read().await?.setting(OPERATOR_TOKEN_SETTING).await? {
        let hash = SecretHash::from_hex(&stored)
            .ok_or_else(|| Error::internal("stored operator hash is corrupt"))?;
        return Ok((hash, None));
    }
    let (secret, hash) = new_operator_secret();
    let mut tx = store.write().await?;
    // The server itself, starting, stands in for the operator.
    let stored = tx.init_setting(&OperatorGrant::new(), OPERATOR_TOKEN_SETTING, &hash.to_hex()).await?;
    if stored == hash.to_hex() {
        let generated = Change::new(None, Verb::Create, ObjectKind::OperatorToken, "operator");
        tx.record_audit(&generated.by(Actor::Operator)).await?;
    }
    tx.commit().await?;
    if stored == hash.to_hex() {
        Ok((hash, Some(secret)))
    } else {
        let hash = SecretHash::from_hex(&stored)
            .ok_or_else(|| Error::internal("stored operator hash is corrupt"))?;
        Ok((hash, None))
    }
}

#[cfg(test)]
mod ipam_gauge_tests {
    use super::allocatable;

    fn net(text: &str) -> ipnet::IpNet {
        text.parse().unwrap_or_else(|_| ipnet::IpNet::from(std::net::IpAddr::from([0, 0, 0, 0])))
    }

    #[test]
    fn allocatable_counts_host_addresses_less_reserved_ranges_once() {
        assert_eq!(allocatable(&net("203.0.113.0/24"), &[]), 254);
        // A reserved /30 at the start: its network-address offset is no host anyway.
        assert_eq!(allocatable(&net("203.0.113.0/24"), &[net("203.0.113.0/30")]), 251);
        // Overlapping reservations count once; one outside the prefix not at all.
        let reserved = [net("203.0.113.8/29"), net("203.0.113.12/30"), net("198.51.100.0/24")];
        assert_eq!(allocatable(&net("203.0.113.0/24"), &reserved), 246);
        assert_eq!(allocatable(&net("2001:db8::/126"), &[]), 3);
    }
}
