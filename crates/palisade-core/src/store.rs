//! The storage boundary: what a backend must do, in domain terms, inside transactions.
//!
//! [`Store::read`] opens a read handle ([`Reads`]); [`Store::write`] opens a write
//! transaction ([`Writes`], which can also read) that the caller commits with
//! [`Writes::commit`]: everything done through one handle is one unit of work, all or nothing
//! (design invariant 5). A handle dropped without commit rolls back. So the core composes
//! several writes atomically ("operation + job record + revision bump" is one commit), and a
//! read-modify-write update reads its row with a `*_for_update` method (locked until commit
//! where rows lock; SQLite's writer holds the whole database) so that concurrent partial
//! updates of one object cannot lose one another.
//!
//! Uniqueness (sub-domains, permalinks, usernames, addresses in a network) is enforced by the
//! database's unique indexes and reported as [`Error::AlreadyExists`], never by
//! read-then-write checks that race.
//!
//! **Policy revisions.** Each organization has a policy revision ([`RecordReads::policy_revision`]),
//! bumped exactly once by the commit of a transaction that made any write able to change a
//! server's effective policy in it (groups, roles, rules, members, servers, hosts, address
//! allocations, tags, server groups, address lists and entries; a global address list bumps
//! every organization). Reads, refused writes and rolled-back transactions bump nothing;
//! writes that cannot change policy (organizations, tokens, users, data centers, networks, an
//! address's label, VIP flag or reverse DNS, releasing an unallocated address) bump nothing.
//!
//! Backends: `palisade-store`'s `sqlite` (embedded default) and `postgres`.

use async_trait::async_trait;

use crate::audit::{AuditEvent, AuditFilter};
use crate::changes::PolicyChanges;
use crate::error::{Result, UsedBy};
use crate::grant::{Grant, ListGrant, OperatorGrant};
use crate::id::{
    AddressListEntryId, AddressListId, ApiTokenId, DataCenterId, InterfaceId, IpAddressId, JobId, NetworkId,
    OrganizationId, RuleId, SecurityGroupId, ServerGroupId, ServerId, TagId, UserId,
};
use crate::model::{
    Allocation, ApiToken, DataCenter, EnforcementReport, Host, HostFilter, InterfaceOwner, IpAddress,
    IpAddressPatch, IpFilter, IpRequest, JobRecord, Network, Organization, OrganizationPatch, Server,
    Session, User,
};
use crate::page::{Page, PageRequest};
use crate::policy::{
    AddressList, AddressListEntry, GroupFilter, GroupKind, Member, Rule, SecurityGroup, SecurityGroupPatch,
    ServerGroup, Tag,
};
use crate::secret::{PasswordDigest, SecretHash};
use crate::snapshot::PolicySnapshot;

#[cfg(doc)]
use crate::error::Error;

/// What authentication needs about a token, fetched in one round trip.
#[derive(Debug, Clone)]
pub struct TokenCredentials {
    pub token: ApiToken,
    pub secret_hash: SecretHash,
    pub organization: Organization,
}

/// What Basic authentication needs about a user.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    pub user: User,
    pub password: PasswordDigest,
    /// The digest of the password's SHA-512 hex, for session sign-in (`None` for a user created
    /// before sessions, until their next Basic sign-in).
    pub session_password: Option<PasswordDigest>,
    pub organization: Organization,
}

/// What session authentication needs: the session and its organization.
#[derive(Debug, Clone)]
pub struct SessionCredentials {
    pub session: Session,
    pub organization: Organization,
}

/// The connection pool and write queue as they are now, for `/metrics` (read without a query).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Open connections of the read/write pool.
    pub size: u32,
    /// Of those, idle.
    pub idle: u32,
    /// SQLite: writers of this process waiting for the one write connection (none on PostgreSQL).
    pub write_queue: Option<u64>,
    /// Read handles and write transactions opened since the store was, and the time their
    /// callers spent waiting for them in all (a pooled connection; on SQLite a write's turn on
    /// the one write connection): the pool's wait, as a rate of one over the other.
    pub acquired: u64,
    pub acquire_wait: std::time::Duration,
}

/// Numbers about every organization's policy, for `/metrics`: one bounded read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyGauges {
    /// Each organization's policy revision (organizations whose policy never changed: none).
    pub revisions: Vec<(OrganizationId, u64)>,
    /// Each reporting server's lag: its organization's revision minus the revision its agent
    /// last applied (a server that never applied: the whole revision).
    pub lags: Vec<(OrganizationId, ServerId, u64)>,
}

/// A database: opens read handles and write transactions.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Answers only when the database does (`/readyz`).
    async fn ping(&self) -> Result<()>;
    /// A read handle. On SQLite it is one snapshot; on PostgreSQL each call sees what is
    /// committed when it runs (READ COMMITTED).
    async fn read(&self) -> Result<Box<dyn Reads>>;
    /// A write transaction (on SQLite, after this process's earlier writers, holding the write
    /// lock from its first statement). Nothing is visible to others until
    /// [`Writes::commit`]; dropping it rolls back.
    async fn write(&self) -> Result<Box<dyn Writes>>;
    /// Everything that decides one organization's policy, with its revision, read in one
    /// consistent transaction (SQLite: one snapshot; PostgreSQL: REPEATABLE READ, READ ONLY)
    /// by a fixed number of queries, whatever the organization's size.
    async fn policy_snapshot(&self, org: OrganizationId) -> Result<PolicySnapshot>;
    /// The announcements of committed policy changes ([`crate::changes`]): of this node's
    /// writes, and on PostgreSQL of every node's.
    fn policy_changes(&self) -> std::sync::Arc<PolicyChanges>;
    /// The server is done with the database: waits for the connections in use to come back,
    /// then closes them (SQLite then folds its write-ahead log back into the database file and
    /// removes `-wal` and `-shm`, unless another process still has it open). Nothing is read or
    /// written after this.
    async fn close(&self);
    /// The pool's connections and the write queue, now (no query).
    fn pool_stats(&self) -> PoolStats {
        PoolStats::default()
    }
}

/// Reads, through a read handle or inside a write transaction: one trait per domain, each
/// implemented by the store's module of that domain.
pub trait Reads:
    TenancyReads + InventoryReads + HostReads + AddressReads + PolicyReads + AddressListReads + RecordReads
{
}

/// A write transaction: every write, and the reads a read-modify-write needs, locked until
/// commit. Errors leave the transaction to be dropped (rolled back).
///
/// Every write takes the proof of its authorization ([`crate::grant`]) and is confined to it:
/// an object of another organization than the grant's is not found, and an object to insert
/// must belong to the grant's organization.
#[async_trait]
pub trait Writes:
    Reads
    + TenancyWrites
    + InventoryWrites
    + HostWrites
    + AddressWrites
    + PolicyWrites
    + AddressListWrites
    + RecordWrites
{
    /// Makes everything done through this handle visible at once, bumping the policy revision
    /// of each organization whose policy it changed, once.
    async fn commit(self: Box<Self>) -> Result<()>;
}

/// Organizations and who may act in them: settings, organizations, API tokens, users,
/// sessions, and asynchronous calls' records.
#[async_trait]
pub trait TenancyReads: Send {
    /// Server-wide settings (e.g. the operator token's hash).
    async fn setting(&mut self, key: &str) -> Result<Option<String>>;
    async fn organization(&mut self, id: OrganizationId) -> Result<Option<Organization>>;
    async fn organization_by_sub_domain(&mut self, sub_domain: &str) -> Result<Option<Organization>>;
    async fn list_organizations(&mut self, page: PageRequest) -> Result<Page<Organization>>;
    /// A token that is not revoked, with its organization.
    async fn token_credentials(&mut self, id: ApiTokenId) -> Result<Option<TokenCredentials>>;
    /// The organization's tokens, in creation order, revoked ones included (with `revoked_at`).
    async fn list_api_tokens(&mut self, org: OrganizationId, page: PageRequest) -> Result<Page<ApiToken>>;
    async fn user_credentials(&mut self, username: &str) -> Result<Option<UserCredentials>>;
    /// The session whose id has this SHA-256 (expired or not), with its organization.
    async fn session(&mut self, id_hash: &SecretHash) -> Result<Option<SessionCredentials>>;
    /// An asynchronous call's record (expired or not).
    async fn job(&mut self, id: JobId) -> Result<Option<JobRecord>>;
    async fn list_users(&mut self, org: OrganizationId, page: PageRequest) -> Result<Page<User>>;
}

/// Data centers, networks and servers.
#[async_trait]
pub trait InventoryReads: Send {
    async fn data_center(&mut self, id: DataCenterId) -> Result<Option<DataCenter>>;
    async fn list_data_centers(&mut self, page: PageRequest) -> Result<Page<DataCenter>>;
    async fn network(&mut self, id: NetworkId) -> Result<Option<Network>>;
    /// Networks visible to `org` (shared ones and its own), or all when `org` is `None`.
    async fn list_networks(
        &mut self,
        org: Option<OrganizationId>,
        page: PageRequest,
    ) -> Result<Page<Network>>;
    async fn server(&mut self, org: OrganizationId, id: ServerId) -> Result<Option<Server>>;
    /// A server by id, whatever organization's (callers authorize its owner afterwards).
    async fn server_anywhere(&mut self, id: ServerId) -> Result<Option<Server>>;
    /// The organization's addresses allocated to the server's interfaces, in creation order.
    async fn server_ip_addresses(&mut self, org: OrganizationId, id: ServerId) -> Result<Vec<IpAddress>>;
    /// Whose an interface is, whatever organization's.
    async fn interface(&mut self, id: InterfaceId) -> Result<Option<InterfaceOwner>>;
    async fn list_servers(&mut self, org: OrganizationId, page: PageRequest) -> Result<Page<Server>>;
}

/// Hosts (servers with an overlay address and a role).
#[async_trait]
pub trait HostReads: Send {
    async fn host(&mut self, org: OrganizationId, id: ServerId) -> Result<Option<Host>>;
    async fn list_hosts(
        &mut self,
        org: OrganizationId,
        filter: HostFilter,
        page: PageRequest,
    ) -> Result<Page<Host>>;
}

/// IP addresses.
#[async_trait]
pub trait AddressReads: Send {
    async fn ip_address(&mut self, org: OrganizationId, id: IpAddressId) -> Result<Option<IpAddress>>;
    /// An address by id, whatever organization holds it (callers authorize afterwards).
    async fn ip_address_anywhere(&mut self, id: IpAddressId) -> Result<Option<IpAddress>>;
    /// The first address (by creation) equal to `address`, within `org` when given.
    async fn ip_address_by_address(
        &mut self,
        org: Option<OrganizationId>,
        address: std::net::IpAddr,
    ) -> Result<Option<IpAddress>>;
    async fn list_ip_addresses(
        &mut self,
        org: OrganizationId,
        filter: IpFilter,
        page: PageRequest,
    ) -> Result<Page<IpAddress>>;
    /// Address records per network and prefix length (the prefix each came from), at most
    /// `limit` rows: one grouped count, for `/metrics`.
    async fn ipam_usage(&mut self, limit: u32) -> Result<Vec<(NetworkId, u8, u64)>>;
}

/// Security groups (roles too), their rules, server groups and tags.
#[async_trait]
pub trait PolicyReads: Send {
    async fn security_group(&mut self, id: SecurityGroupId) -> Result<Option<SecurityGroup>>;
    async fn list_security_groups(
        &mut self,
        org: OrganizationId,
        kind: GroupKind,
        filter: &GroupFilter,
        page: PageRequest,
    ) -> Result<Page<SecurityGroup>>;
    async fn rule(&mut self, id: RuleId) -> Result<Option<Rule>>;
    /// Rules in creation order.
    async fn list_rules(&mut self, group: SecurityGroupId, page: PageRequest) -> Result<Page<Rule>>;
    /// Every rule of these groups (a page of a listing), in creation order, in one query.
    async fn rules_of_groups(&mut self, groups: &[SecurityGroupId]) -> Result<Vec<Rule>>;
    /// The numbers of these groups' rules, in creation order (for vendors that number rules):
    /// positive, unique within the organization, assigned in the rule's insert transaction
    /// from the organization's own counter, never reused, so they reveal nothing about other
    /// organizations. Groups of other organizations contribute nothing.
    async fn rule_numbers(
        &mut self,
        org: OrganizationId,
        groups: &[SecurityGroupId],
    ) -> Result<Vec<(RuleId, u64)>>;
    /// The organization's rule holding this number.
    async fn rule_by_number(&mut self, org: OrganizationId, number: u64) -> Result<Option<RuleId>>;
    async fn server_group(&mut self, id: ServerGroupId) -> Result<Option<ServerGroup>>;
    async fn list_server_groups(
        &mut self,
        org: OrganizationId,
        page: PageRequest,
    ) -> Result<Page<ServerGroup>>;
    async fn tag(&mut self, id: TagId) -> Result<Option<Tag>>;
    async fn list_tags(&mut self, org: OrganizationId, page: PageRequest) -> Result<Page<Tag>>;
}

/// Address lists and their entries.
#[async_trait]
pub trait AddressListReads: Send {
    /// The list with its entries.
    async fn address_list(&mut self, id: AddressListId) -> Result<Option<AddressList>>;
    /// An organization's lists, or the global ones when `org` is `None` (entries included).
    async fn list_address_lists(
        &mut self,
        org: Option<OrganizationId>,
        page: PageRequest,
    ) -> Result<Page<AddressList>>;
    async fn address_list_entry(&mut self, id: AddressListEntryId) -> Result<Option<AddressListEntry>>;
    async fn list_address_list_entries(
        &mut self,
        list: AddressListId,
        page: PageRequest,
    ) -> Result<Page<AddressListEntry>>;
}

/// What the installation records about itself: policy revisions, enforcement reports, the
/// audit trail.
#[async_trait]
pub trait RecordReads: Send {
    /// The organization's policy revision: 0 until its first policy write, then one more per
    /// committed transaction that changed its policy (see the module docs).
    async fn policy_revision(&mut self, org: OrganizationId) -> Result<u64>;
    /// What the host agent of `org`'s server `server` last reported, if it ever did.
    async fn enforcement(
        &mut self,
        org: OrganizationId,
        server: ServerId,
    ) -> Result<Option<EnforcementReport>>;
    /// Policy revisions and servers' applied-revision lags, at most `limit` of each (by id).
    async fn policy_gauges(&mut self, limit: u32) -> Result<PolicyGauges>;
    /// A page of the audit trail's events that `filter` selects, newest first.
    async fn list_audit_events(
        &mut self,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEvent>>;
}

/// Settings, organizations, API tokens, users, sessions and job records.
#[async_trait]
pub trait TenancyWrites: Send {
    /// Stores `value` unless the key exists; returns the value now stored (first writer wins).
    async fn init_setting(&mut self, grant: &OperatorGrant, key: &str, value: &str) -> Result<String>;
    /// Stores `value` under the key, replacing what it held.
    async fn put_setting(&mut self, grant: &OperatorGrant, key: &str, value: &str) -> Result<()>;
    async fn insert_organization(&mut self, grant: &OperatorGrant, org: &Organization) -> Result<()>;
    /// Applies the patch; `updated_at` is set to `at`. [`Error::NotFound`] if absent.
    async fn update_organization(
        &mut self,
        grant: &OperatorGrant,
        id: OrganizationId,
        patch: &OrganizationPatch,
        at: time::OffsetDateTime,
    ) -> Result<Organization>;
    /// Deletes the organization and everything it owns. [`Error::NotFound`] if absent.
    async fn delete_organization(&mut self, grant: &OperatorGrant, id: OrganizationId) -> Result<()>;
    async fn insert_api_token(
        &mut self,
        grant: &Grant,
        token: &ApiToken,
        secret_hash: &SecretHash,
    ) -> Result<()>;
    /// Revokes at once (the row is kept, marked revoked at `at`). [`Error::NotFound`] if the
    /// token is not the organization's; [`Error::Conflict`] if it is already revoked, so that of
    /// two concurrent revocations exactly one succeeds.
    async fn revoke_api_token(
        &mut self,
        grant: &Grant,
        id: ApiTokenId,
        at: time::OffsetDateTime,
    ) -> Result<()>;
    /// A user with the digests of its password and of the password's SHA-512 hex (sessions).
    async fn insert_user(
        &mut self,
        grant: &Grant,
        user: &User,
        password: &PasswordDigest,
        session_password: &PasswordDigest,
    ) -> Result<()>;
    /// Sets a user's digests: the clear password's (kept when `None`: a user from before
    /// sessions gaining its session verifier) and its SHA-512's
    /// ([`UserCredentials::session_password`]).
    async fn set_password(
        &mut self,
        grant: &Grant,
        user: UserId,
        password: Option<&PasswordDigest>,
        session_password: &PasswordDigest,
    ) -> Result<()>;
    /// Inserts a session unless its user has `limit` sessions that have not expired at
    /// `session.created_at` ([`Error::Conflict`] then).
    async fn insert_session(
        &mut self,
        grant: &Grant,
        session: &Session,
        id_hash: &SecretHash,
        limit: u32,
    ) -> Result<()>;
    /// Ends the session whose id has this SHA-256; holding the id is the authority. Whether one
    /// was ended.
    async fn delete_session(&mut self, id_hash: &SecretHash) -> Result<bool>;
    /// Records an asynchronous call's answer; `grant` is its organization's (`None` for a call
    /// refused before its caller was known). An id in use is [`Error::AlreadyExists`].
    async fn insert_job(&mut self, grant: Option<&Grant>, job: &JobRecord) -> Result<()>;
    /// Deletes sessions and job records expired at `now`; how many went.
    async fn purge_expired(&mut self, grant: &OperatorGrant, now: time::OffsetDateTime) -> Result<u64>;
}

/// Data centers, networks and servers.
#[async_trait]
pub trait InventoryWrites: Send {
    async fn insert_data_center(&mut self, grant: &OperatorGrant, dc: &DataCenter) -> Result<()>;
    /// The data center, locked until commit (networks cannot be added to it meanwhile).
    async fn data_center_for_update(&mut self, id: DataCenterId) -> Result<Option<DataCenter>>;
    /// Replaces a data center's name, permalink and country. A permalink taken is
    /// [`Error::AlreadyExists`] on `permalink`; a missing data center is not found.
    async fn update_data_center(&mut self, grant: &OperatorGrant, dc: &DataCenter) -> Result<()>;
    /// What uses a data center: its networks, and the servers with an interface on one of them
    /// (only kinds with at least one). Meaningful under [`InventoryWrites::data_center_for_update`]'s lock.
    async fn data_center_usage(&mut self, id: DataCenterId) -> Result<Vec<UsedBy>>;
    /// Deletes a data center. Callers check [`InventoryWrites::data_center_usage`] first, under the lock;
    /// one still used is [`Error::InUse`], a missing one not found.
    async fn delete_data_center(&mut self, grant: &OperatorGrant, id: DataCenterId) -> Result<()>;
    async fn insert_network(&mut self, grant: &OperatorGrant, network: &Network) -> Result<()>;
    /// The network, locked until commit (nothing can start using it meanwhile: interfaces,
    /// addresses and members referring to it wait for the lock).
    async fn network_for_update(&mut self, id: NetworkId) -> Result<Option<Network>>;
    /// Replaces a network's name, permalink and default flag (its prefixes, reserved ranges,
    /// data center and owner stay). A permalink taken is [`Error::AlreadyExists`] on
    /// `permalink`, a second shared default network of the data center on `default`.
    async fn update_network(&mut self, grant: &OperatorGrant, network: &Network) -> Result<()>;
    /// What uses a network: servers with an interface on it (hosts included), IP address
    /// records in it, security groups it is a member of (only kinds with at least one).
    /// Meaningful under [`InventoryWrites::network_for_update`]'s lock.
    async fn network_usage(&mut self, id: NetworkId) -> Result<Vec<UsedBy>>;
    /// Deletes a network with its prefixes, reserved ranges and released-address pool. Callers
    /// check [`InventoryWrites::network_usage`] first, under the lock; one still used is
    /// [`Error::InUse`], a missing one not found.
    async fn delete_network(&mut self, grant: &OperatorGrant, id: NetworkId) -> Result<()>;
    /// Inserts the server with its interfaces, tags and server group (which must be the grant's
    /// organization's), claiming `addresses` (each allocated to one of its interfaces, in
    /// interface order). An address already used in its network is
    /// [`Error::AlreadyExists`] with the path `interfaces[i].addresses[j]`.
    async fn insert_server(&mut self, grant: &Grant, server: &Server, addresses: &[IpAddress]) -> Result<()>;
    /// Deletes the server: addresses claimed with it are released, others only unallocated.
    async fn delete_server(&mut self, grant: &Grant, id: ServerId) -> Result<()>;
    /// The server, whatever organization's, locked until commit.
    async fn server_for_update(&mut self, id: ServerId) -> Result<Option<Server>>;
    /// Replaces a server's name, tags and server group (its interfaces and addresses stay). A
    /// server group that is not the grant's organization's (or no longer exists) is
    /// [`Error::NotFound`] as a server group; a host's name taken in its network is
    /// [`Error::AlreadyExists`] on `name`.
    async fn update_server(&mut self, grant: &Grant, server: &Server) -> Result<()>;
}

/// Hosts.
#[async_trait]
pub trait HostWrites: Send {
    /// Inserts a host: its server (claiming `addresses`, or allocating `allocate` to its
    /// interface), its overlay settings and its role membership. A taken name in the network is
    /// [`Error::AlreadyExists`] on `name`; a role deleted meanwhile is not found. Returns the
    /// host as stored.
    async fn insert_host(
        &mut self,
        grant: &Grant,
        host: &Host,
        addresses: &[IpAddress],
        allocate: Option<&IpRequest>,
    ) -> Result<Host>;
    /// The host, locked until commit.
    async fn host_for_update(&mut self, org: OrganizationId, id: ServerId) -> Result<Option<Host>>;
    /// Replaces a host's name, tags, overlay settings and role.
    async fn update_host(&mut self, grant: &Grant, host: &Host) -> Result<()>;
}

/// IP addresses.
#[async_trait]
pub trait AddressWrites: Send {
    /// Allocates one address (see [`crate::ipam`] for the order): never one that is in use,
    /// reserved, or a network/broadcast address, whatever the concurrency and however many
    /// processes share the database. [`Error::NoAvailableAddresses`] when none is left.
    async fn allocate_ip(&mut self, grant: &Grant, request: &IpRequest) -> Result<IpAddress>;
    /// The address, locked until commit.
    async fn ip_address_for_update(
        &mut self,
        org: OrganizationId,
        id: IpAddressId,
    ) -> Result<Option<IpAddress>>;
    async fn update_ip_address(
        &mut self,
        grant: &Grant,
        id: IpAddressId,
        patch: &IpAddressPatch,
    ) -> Result<IpAddress>;
    /// Returns the address to its network's pool. [`Error::Conflict`] while it is allocated.
    async fn release_ip_address(&mut self, grant: &Grant, id: IpAddressId) -> Result<()>;
    /// Allocates the address to an interface (or, with `None`, detaches it). [`Error::Conflict`]
    /// if it is allocated to another interface.
    async fn set_ip_allocation(
        &mut self,
        grant: &Grant,
        id: IpAddressId,
        allocation: Option<Allocation>,
    ) -> Result<IpAddress>;
}

/// Security groups, rules, server groups and tags.
#[async_trait]
pub trait PolicyWrites: Send {
    /// [`Error::AlreadyExists`] (`name`) if the organization has a group of this kind and name.
    /// Inserts the group with its members, annotations and `rules`; returns the group's
    /// [`SecurityGroup::serial`]. An id in use is [`Error::AlreadyExists`] too.
    async fn insert_security_group(
        &mut self,
        grant: &Grant,
        group: &SecurityGroup,
        rules: &[Rule],
    ) -> Result<u64>;
    /// The group, locked until commit.
    async fn security_group_for_update(&mut self, id: SecurityGroupId) -> Result<Option<SecurityGroup>>;
    /// Applies the patch. Turning `allow_all_inbound` (or outbound) on deletes the group's
    /// rules of that direction; `rules: Some(..)` replaces them all.
    async fn update_security_group(
        &mut self,
        grant: &Grant,
        id: SecurityGroupId,
        patch: &SecurityGroupPatch,
        at: time::OffsetDateTime,
    ) -> Result<SecurityGroup>;
    /// Deletes the group and its rules.
    async fn delete_security_group(&mut self, grant: &Grant, id: SecurityGroupId) -> Result<()>;
    /// Makes `member` a member of the group unless it already is (appended after the others).
    /// [`Error::NotFound`] if the group or the member does not exist.
    async fn add_security_group_member(
        &mut self,
        grant: &Grant,
        id: SecurityGroupId,
        member: Member,
        at: time::OffsetDateTime,
    ) -> Result<()>;
    /// Inserts a rule, refusing ([`crate::policy::allow_all_violation`]) a direction the group
    /// allows entirely, checked in the same transaction.
    async fn insert_rule(&mut self, grant: &Grant, rule: &Rule) -> Result<()>;
    /// The rule, locked until commit.
    async fn rule_for_update(&mut self, id: RuleId) -> Result<Option<Rule>>;
    /// Replaces a rule's fields, with the same allow-all check as [`PolicyWrites::insert_rule`].
    async fn replace_rule(&mut self, grant: &Grant, rule: &Rule) -> Result<()>;
    async fn delete_rule(&mut self, grant: &Grant, id: RuleId) -> Result<()>;
    async fn insert_server_group(&mut self, grant: &Grant, group: &ServerGroup) -> Result<()>;
    /// The server group, locked until commit.
    async fn server_group_for_update(&mut self, id: ServerGroupId) -> Result<Option<ServerGroup>>;
    /// Renames or changes `segregate`; [`Error::NotFound`] if absent.
    async fn update_server_group(&mut self, grant: &Grant, group: &ServerGroup) -> Result<()>;
    /// Deletes the group; security groups lose it as a member.
    async fn delete_server_group(&mut self, grant: &Grant, id: ServerGroupId) -> Result<()>;
    /// [`Error::AlreadyExists`] (`name`) if the organization has a tag of this name.
    async fn insert_tag(&mut self, grant: &Grant, tag: &Tag) -> Result<()>;
    /// The tag, locked until commit.
    async fn tag_for_update(&mut self, id: TagId) -> Result<Option<Tag>>;
    async fn update_tag(&mut self, grant: &Grant, tag: &Tag) -> Result<()>;
    /// Deletes the tag; security groups lose it as a member.
    async fn delete_tag(&mut self, grant: &Grant, id: TagId) -> Result<()>;
}

/// Address lists and their entries.
#[async_trait]
pub trait AddressListWrites: Send {
    /// Inserts the list with its entries.
    async fn insert_address_list(&mut self, grant: &ListGrant, list: &AddressList) -> Result<()>;
    /// The list with its entries, locked until commit.
    async fn address_list_for_update(&mut self, id: AddressListId) -> Result<Option<AddressList>>;
    /// Renames and re-annotates a list (entries untouched).
    async fn update_address_list(&mut self, grant: &ListGrant, list: &AddressList) -> Result<()>;
    async fn delete_address_list(&mut self, grant: &ListGrant, id: AddressListId) -> Result<()>;
    /// Adds entries and removes the entries with these addresses. An address already in the
    /// list is [`Error::AlreadyExists`] (`address`).
    async fn change_address_list_entries(
        &mut self,
        grant: &ListGrant,
        list: AddressListId,
        add: &[AddressListEntry],
        remove: &[String],
    ) -> Result<()>;
    /// The entry, locked until commit.
    async fn address_list_entry_for_update(
        &mut self,
        id: AddressListEntryId,
    ) -> Result<Option<AddressListEntry>>;
    async fn update_address_list_entry(&mut self, grant: &ListGrant, entry: &AddressListEntry) -> Result<()>;
    async fn delete_address_list_entry(&mut self, grant: &ListGrant, id: AddressListEntryId) -> Result<()>;
}

/// Audit events and enforcement reports.
#[async_trait]
pub trait RecordWrites: Send {
    /// Appends `event` to the audit trail, in this transaction (the core records each write's).
    async fn record_audit(&mut self, event: &AuditEvent) -> Result<()>;
    /// Replaces the server's enforcement report ([`Error::NotFound`] if the server is not the
    /// grant's organization's). `applied_*` left `None` keep their stored values: a failed
    /// attempt leaves the rules in force as they were. Bumps no revision.
    async fn report_enforcement(&mut self, grant: &Grant, report: &EnforcementReport) -> Result<()>;
    /// Deletes the audit events recorded before `before` (the operator's retention); how many
    /// went.
    async fn purge_audit_events(
        &mut self,
        grant: &OperatorGrant,
        before: time::OffsetDateTime,
    ) -> Result<u64>;
}
