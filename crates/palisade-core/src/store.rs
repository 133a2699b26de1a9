//! The storage boundary: what a backend must do, in domain terms.
//!
//! Each method is one atomic unit: a backend runs it in a single transaction, so a request
//! either fully happens or leaves nothing behind (design invariant 5). Uniqueness (sub-domains,
//! permalinks, usernames, addresses in a network) is enforced by the database's unique indexes
//! and reported as [`Error::AlreadyExists`], never by read-then-write checks that race.
//! Backends: `palisade-store`'s `sqlite` (embedded default) and `postgres`.

use async_trait::async_trait;

use crate::error::Result;
use crate::id::{ApiTokenId, DataCenterId, IpAddressId, NetworkId, OrganizationId, ServerId};
use crate::id::{RuleId, SecurityGroupId, ServerGroupId, TagId};
use crate::model::{
    Allocation, ApiToken, DataCenter, Host, HostFilter, IpAddress, IpAddressPatch, IpFilter, IpRequest,
    Network, Organization, OrganizationPatch, Server, User,
};
use crate::page::{Page, PageRequest};
use crate::policy::{GroupFilter, GroupKind, Rule, SecurityGroup, SecurityGroupPatch, ServerGroup, Tag};
use crate::secret::{PasswordDigest, SecretHash};

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
    pub organization: Organization,
}

#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Answers only when the database does (`/readyz`).
    async fn ping(&self) -> Result<()>;

    /// Server-wide settings (e.g. the operator token's hash).
    async fn setting(&self, key: &str) -> Result<Option<String>>;
    /// Stores `value` unless the key exists; returns the value now stored (first writer wins).
    async fn init_setting(&self, key: &str, value: &str) -> Result<String>;

    async fn insert_organization(&self, org: &Organization) -> Result<()>;
    async fn organization(&self, id: OrganizationId) -> Result<Option<Organization>>;
    async fn organization_by_sub_domain(&self, sub_domain: &str) -> Result<Option<Organization>>;
    async fn list_organizations(&self, page: PageRequest) -> Result<Page<Organization>>;
    /// Applies the patch; `updated_at` is set to `at`. [`Error::NotFound`] if absent.
    async fn update_organization(
        &self,
        id: OrganizationId,
        patch: &OrganizationPatch,
        at: time::OffsetDateTime,
    ) -> Result<Organization>;
    /// Deletes the organization and everything it owns. [`Error::NotFound`] if absent.
    async fn delete_organization(&self, id: OrganizationId) -> Result<()>;

    async fn insert_api_token(&self, token: &ApiToken, secret_hash: &SecretHash) -> Result<()>;
    /// A token that is not revoked, with its organization.
    async fn token_credentials(&self, id: ApiTokenId) -> Result<Option<TokenCredentials>>;
    /// The organization's tokens that are not revoked.
    async fn list_api_tokens(&self, org: OrganizationId, page: PageRequest) -> Result<Page<ApiToken>>;
    /// Revokes at once (the row is kept, marked revoked at `at`). [`Error::NotFound`] if the
    /// token is not the organization's; [`Error::Conflict`] if it is already revoked, so that of
    /// two concurrent revocations exactly one succeeds.
    async fn revoke_api_token(
        &self,
        org: OrganizationId,
        id: ApiTokenId,
        at: time::OffsetDateTime,
    ) -> Result<()>;

    async fn insert_user(&self, user: &User, password: &PasswordDigest) -> Result<()>;
    async fn user_credentials(&self, username: &str) -> Result<Option<UserCredentials>>;
    async fn list_users(&self, org: OrganizationId, page: PageRequest) -> Result<Page<User>>;

    async fn insert_data_center(&self, dc: &DataCenter) -> Result<()>;
    async fn data_center(&self, id: DataCenterId) -> Result<Option<DataCenter>>;
    async fn list_data_centers(&self, page: PageRequest) -> Result<Page<DataCenter>>;

    async fn insert_network(&self, network: &Network) -> Result<()>;
    async fn network(&self, id: NetworkId) -> Result<Option<Network>>;
    /// Networks visible to `org` (shared ones and its own), or all when `org` is `None`.
    async fn list_networks(&self, org: Option<OrganizationId>, page: PageRequest) -> Result<Page<Network>>;

    /// Inserts the server with its interfaces and tags, claiming `addresses` (each allocated to
    /// one of its interfaces, in interface order). An address already used in its network is
    /// [`Error::AlreadyExists`] with the path `interfaces[i].addresses[j]`.
    async fn insert_server(&self, server: &Server, addresses: &[IpAddress]) -> Result<()>;
    async fn server(&self, org: OrganizationId, id: ServerId) -> Result<Option<Server>>;
    async fn list_servers(&self, org: OrganizationId, page: PageRequest) -> Result<Page<Server>>;
    /// Deletes the server: addresses claimed with it are released, others only unallocated.
    async fn delete_server(&self, org: OrganizationId, id: ServerId) -> Result<()>;

    /// Inserts a host: its server (claiming `addresses`, or allocating `allocate` to its
    /// interface), its overlay settings and its role membership, atomically. A taken name in
    /// the network is [`crate::Error::AlreadyExists`] on `name`; a role deleted meanwhile is
    /// not found. Returns the host as stored.
    async fn insert_host(
        &self,
        host: &Host,
        addresses: &[IpAddress],
        allocate: Option<&IpRequest>,
    ) -> Result<Host>;
    async fn host(&self, org: OrganizationId, id: ServerId) -> Result<Option<Host>>;
    async fn list_hosts(
        &self,
        org: OrganizationId,
        filter: HostFilter,
        page: PageRequest,
    ) -> Result<Page<Host>>;
    /// Replaces a host's name, tags, overlay settings and role, atomically.
    async fn update_host(&self, host: &Host) -> Result<()>;

    /// Allocates one address atomically (see [`crate::ipam`] for the order): never one that is
    /// in use, reserved, or a network/broadcast address, whatever the concurrency and however
    /// many processes share the database. [`Error::NoAvailableAddresses`] when none is left.
    async fn allocate_ip(&self, request: &IpRequest) -> Result<IpAddress>;
    async fn ip_address(&self, org: OrganizationId, id: IpAddressId) -> Result<Option<IpAddress>>;
    /// An address by id, whatever organization holds it (callers authorize afterwards).
    async fn ip_address_anywhere(&self, id: IpAddressId) -> Result<Option<IpAddress>>;
    /// The first address (by creation) equal to `address`, within `org` when given.
    async fn ip_address_by_address(
        &self,
        org: Option<OrganizationId>,
        address: std::net::IpAddr,
    ) -> Result<Option<IpAddress>>;
    async fn list_ip_addresses(
        &self,
        org: OrganizationId,
        filter: IpFilter,
        page: PageRequest,
    ) -> Result<Page<IpAddress>>;
    async fn update_ip_address(
        &self,
        org: OrganizationId,
        id: IpAddressId,
        patch: &IpAddressPatch,
    ) -> Result<IpAddress>;
    /// Returns the address to its network's pool. [`Error::Conflict`] while it is allocated.
    async fn release_ip_address(&self, org: OrganizationId, id: IpAddressId) -> Result<()>;
    /// Allocates the address to an interface (or, with `None`, detaches it). [`Error::Conflict`]
    /// if it is allocated to another interface.
    async fn set_ip_allocation(
        &self,
        org: OrganizationId,
        id: IpAddressId,
        allocation: Option<Allocation>,
    ) -> Result<IpAddress>;

    /// [`Error::AlreadyExists`] (`name`) if the organization has a group of this kind and name.
    /// Inserts the group with its members, annotations and `rules`, in one transaction.
    async fn insert_security_group(&self, group: &SecurityGroup, rules: &[Rule]) -> Result<()>;
    async fn security_group(&self, id: SecurityGroupId) -> Result<Option<SecurityGroup>>;
    async fn list_security_groups(
        &self,
        org: OrganizationId,
        kind: GroupKind,
        filter: &GroupFilter,
        page: PageRequest,
    ) -> Result<Page<SecurityGroup>>;
    /// Applies the patch in one transaction. Turning `allow_all_inbound` (or outbound) on
    /// deletes the group's rules of that direction; `rules: Some(..)` replaces them all.
    async fn update_security_group(
        &self,
        id: SecurityGroupId,
        patch: &SecurityGroupPatch,
        at: time::OffsetDateTime,
    ) -> Result<SecurityGroup>;
    /// Deletes the group and its rules.
    async fn delete_security_group(&self, id: SecurityGroupId) -> Result<()>;

    /// Inserts a rule, refusing ([`crate::policy::allow_all_violation`]) a direction the group
    /// allows entirely, checked in the same transaction.
    async fn insert_rule(&self, rule: &Rule) -> Result<()>;
    async fn rule(&self, id: RuleId) -> Result<Option<Rule>>;
    /// Rules in creation order.
    async fn list_rules(&self, group: SecurityGroupId, page: PageRequest) -> Result<Page<Rule>>;
    /// Every rule of these groups (a page of a listing), in creation order, in one query.
    async fn rules_of_groups(&self, groups: &[SecurityGroupId]) -> Result<Vec<Rule>>;
    /// Replaces a rule's fields, with the same allow-all check as [`Store::insert_rule`].
    async fn replace_rule(&self, rule: &Rule) -> Result<()>;
    async fn delete_rule(&self, id: RuleId) -> Result<()>;

    /// Makes `member` a member of the group unless it already is (appended after the others),
    /// in one transaction that serializes on the group, so concurrent additions all land.
    /// [`Error::NotFound`] if the group or the member does not exist.
    async fn add_security_group_member(
        &self,
        id: SecurityGroupId,
        member: crate::policy::Member,
        at: time::OffsetDateTime,
    ) -> Result<()>;
    /// The numbers of these groups' rules, in creation order (for vendors that number rules):
    /// positive, unique within the organization, assigned in the rule's insert transaction
    /// from the organization's own counter, never reused, so they reveal nothing about other
    /// organizations. Groups of other organizations contribute nothing.
    async fn rule_numbers(
        &self,
        org: OrganizationId,
        groups: &[SecurityGroupId],
    ) -> Result<Vec<(RuleId, u64)>>;
    /// The organization's rule holding this number.
    async fn rule_by_number(&self, org: OrganizationId, number: u64) -> Result<Option<RuleId>>;

    async fn insert_server_group(&self, group: &ServerGroup) -> Result<()>;
    async fn server_group(&self, id: ServerGroupId) -> Result<Option<ServerGroup>>;
    async fn list_server_groups(&self, org: OrganizationId, page: PageRequest) -> Result<Page<ServerGroup>>;
    /// Renames or changes `segregate`; [`Error::NotFound`] if absent.
    async fn update_server_group(&self, group: &ServerGroup) -> Result<()>;
    /// Deletes the group; security groups lose it as a member.
    async fn delete_server_group(&self, id: ServerGroupId) -> Result<()>;

    /// [`Error::AlreadyExists`] (`name`) if the organization has a tag of this name.
    async fn insert_tag(&self, tag: &Tag) -> Result<()>;
    async fn tag(&self, id: TagId) -> Result<Option<Tag>>;
    async fn list_tags(&self, org: OrganizationId, page: PageRequest) -> Result<Page<Tag>>;
    async fn update_tag(&self, tag: &Tag) -> Result<()>;
    /// Deletes the tag; security groups lose it as a member.
    async fn delete_tag(&self, id: TagId) -> Result<()>;

    /// Inserts the list with its entries.
    async fn insert_address_list(&self, list: &crate::policy::AddressList) -> Result<()>;
    /// The list with its entries.
    async fn address_list(&self, id: crate::id::AddressListId) -> Result<Option<crate::policy::AddressList>>;
    /// An organization's lists, or the global ones when `org` is `None` (entries included).
    async fn list_address_lists(
        &self,
        org: Option<OrganizationId>,
        page: PageRequest,
    ) -> Result<Page<crate::policy::AddressList>>;
    /// Renames and re-annotates a list (entries untouched).
    async fn update_address_list(&self, list: &crate::policy::AddressList) -> Result<()>;
    async fn delete_address_list(&self, id: crate::id::AddressListId) -> Result<()>;
    /// Adds entries and removes the entries with these addresses, in one transaction. An
    /// address already in the list is [`Error::AlreadyExists`] (`address`).
    async fn change_address_list_entries(
        &self,
        list: crate::id::AddressListId,
        add: &[crate::policy::AddressListEntry],
        remove: &[String],
    ) -> Result<()>;
    async fn address_list_entry(
        &self,
        id: crate::id::AddressListEntryId,
    ) -> Result<Option<crate::policy::AddressListEntry>>;
    async fn list_address_list_entries(
        &self,
        list: crate::id::AddressListId,
        page: PageRequest,
    ) -> Result<Page<crate::policy::AddressListEntry>>;
    async fn update_address_list_entry(&self, entry: &crate::policy::AddressListEntry) -> Result<()>;
    async fn delete_address_list_entry(&self, id: crate::id::AddressListEntryId) -> Result<()>;

    /// Everything that decides the organization's policy, in one consistent read: one
    /// transaction that sees one state of the database, with a number of queries that does not
    /// grow with the organization (see [`crate::snapshot`]). An organization that does not exist
    /// reads as an empty one.
    // TEMPORARY home: moves to the read-transaction trait (`Reads`) with the unit of work.
    async fn policy_snapshot(&self, org: OrganizationId) -> Result<crate::snapshot::PolicySnapshot>;
}
