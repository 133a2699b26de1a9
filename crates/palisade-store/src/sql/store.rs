//! The [`Store`] trait, written once: each method opens a transaction (the seam's `write` or
//! `read`), calls the operation's function on it and, for writes, commits. A failed write
//! rolls back when its transaction is dropped, so nothing is half-written.

use std::net::IpAddr;

use async_trait::async_trait;
use palisade_core::error::Result;
use palisade_core::id::{
    AddressListEntryId, AddressListId, ApiTokenId, DataCenterId, IpAddressId, NetworkId, OrganizationId,
    RuleId, SecurityGroupId, ServerGroupId, ServerId, TagId,
};
use palisade_core::model::{
    Allocation, ApiToken, DataCenter, Host, HostFilter, IpAddress, IpAddressPatch, IpFilter, IpRequest,
    Network, Organization, OrganizationPatch, Server, User,
};
use palisade_core::policy::{
    AddressList, AddressListEntry, GroupFilter, GroupKind, Member, Rule, SecurityGroup, SecurityGroupPatch,
    ServerGroup, Tag,
};
use palisade_core::secret::{PasswordDigest, SecretHash};
use palisade_core::store::{Store, TokenCredentials, UserCredentials};
use palisade_core::{Page, PageRequest};
use time::OffsetDateTime;

use super::address_lists::{self as lists, entry_from};
use super::policy::{rule_from, server_group_from, tag_from};
use super::{by_id, db, delete_by_id, hosts, inventory, ipam, page_of, policy, rows, tenancy};

/// `write_tx!(store, f(args…))`: `f(&mut tx, args…)` in a write transaction, committed if it
/// succeeds.
macro_rules! write_tx {
    ($store:expr, $($f:ident)::+ ( $($arg:expr),* $(,)? )) => {{
        let mut tx = db::write($store).await?;
        let out = $($f)::+(&mut tx, $($arg),*).await?;
        tx.commit().await?;
        Ok(out)
    }};
}

/// `read_tx!(store, f(args…))`: `f(&mut conn, args…)` on a read connection (on SQLite, a
/// snapshot).
macro_rules! read_tx {
    ($store:expr, $($f:ident)::+ ( $($arg:expr),* $(,)? )) => {{
        let mut conn = db::read($store).await?;
        $($f)::+(&mut conn, $($arg),*).await
    }};
}

#[async_trait]
impl Store for db::Handle {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(self.pool()).await.map_err(db::db_error)?;
        Ok(())
    }

    async fn setting(&self, key: &str) -> Result<Option<String>> {
        read_tx!(self, tenancy::setting(key))
    }

    async fn init_setting(&self, key: &str, value: &str) -> Result<String> {
        write_tx!(self, tenancy::init_setting(key, value))
    }

    async fn insert_organization(&self, org: &Organization) -> Result<()> {
        write_tx!(self, tenancy::insert_organization(org))
    }

    async fn organization(&self, id: OrganizationId) -> Result<Option<Organization>> {
        read_tx!(self, by_id("organizations", id.as_uuid(), rows::organization))
    }

    async fn organization_by_sub_domain(&self, sub_domain: &str) -> Result<Option<Organization>> {
        read_tx!(self, tenancy::organization_by_sub_domain(sub_domain))
    }

    async fn list_organizations(&self, page: PageRequest) -> Result<Page<Organization>> {
        read_tx!(self, page_of(page, None, "FROM organizations", rows::organization))
    }

    async fn update_organization(
        &self,
        id: OrganizationId,
        patch: &OrganizationPatch,
        at: OffsetDateTime,
    ) -> Result<Organization> {
        write_tx!(self, tenancy::update_organization(id, patch, at))
    }

    async fn delete_organization(&self, id: OrganizationId) -> Result<()> {
        write_tx!(self, tenancy::delete_organization(id))
    }

    async fn insert_api_token(&self, token: &ApiToken, secret_hash: &SecretHash) -> Result<()> {
        write_tx!(self, tenancy::insert_api_token(token, secret_hash))
    }

    async fn token_credentials(&self, id: ApiTokenId) -> Result<Option<TokenCredentials>> {
        read_tx!(self, tenancy::token_credentials(id))
    }

    async fn list_api_tokens(&self, org: OrganizationId, page: PageRequest) -> Result<Page<ApiToken>> {
        let from = "FROM api_tokens WHERE organization_id = $1 AND revoked_at IS NULL";
        read_tx!(self, page_of(page, Some(org.as_uuid()), from, rows::api_token))
    }

    async fn revoke_api_token(&self, org: OrganizationId, id: ApiTokenId, at: OffsetDateTime) -> Result<()> {
        write_tx!(self, tenancy::revoke_api_token(org, id, at))
    }

    async fn insert_user(&self, user: &User, password: &PasswordDigest) -> Result<()> {
        write_tx!(self, tenancy::insert_user(user, password))
    }

    async fn user_credentials(&self, username: &str) -> Result<Option<UserCredentials>> {
        read_tx!(self, tenancy::user_credentials(username))
    }

    async fn list_users(&self, org: OrganizationId, page: PageRequest) -> Result<Page<User>> {
        read_tx!(
            self,
            page_of(page, Some(org.as_uuid()), "FROM users WHERE organization_id = $1", rows::user)
        )
    }

    async fn insert_data_center(&self, dc: &DataCenter) -> Result<()> {
        write_tx!(self, inventory::insert_data_center(dc))
    }

    async fn data_center(&self, id: DataCenterId) -> Result<Option<DataCenter>> {
        read_tx!(self, by_id("data_centers", id.as_uuid(), rows::data_center))
    }

    async fn list_data_centers(&self, page: PageRequest) -> Result<Page<DataCenter>> {
        read_tx!(self, page_of(page, None, "FROM data_centers", rows::data_center))
    }

    async fn insert_network(&self, network: &Network) -> Result<()> {
        write_tx!(self, inventory::insert_network(network))
    }

    async fn network(&self, id: NetworkId) -> Result<Option<Network>> {
        read_tx!(self, inventory::network(id))
    }

    async fn list_networks(&self, org: Option<OrganizationId>, page: PageRequest) -> Result<Page<Network>> {
        read_tx!(self, inventory::list_networks(org, page))
    }

    async fn insert_server(&self, server: &Server, addresses: &[IpAddress]) -> Result<()> {
        write_tx!(self, inventory::insert_server(server, addresses))
    }

    async fn server(&self, org: OrganizationId, id: ServerId) -> Result<Option<Server>> {
        read_tx!(self, inventory::server(org, id))
    }

    async fn list_servers(&self, org: OrganizationId, page: PageRequest) -> Result<Page<Server>> {
        read_tx!(self, inventory::list_servers(org, page))
    }

    async fn delete_server(&self, org: OrganizationId, id: ServerId) -> Result<()> {
        write_tx!(self, inventory::delete_server(org, id))
    }

    async fn insert_host(
        &self,
        host: &Host,
        addresses: &[IpAddress],
        allocate: Option<&IpRequest>,
    ) -> Result<Host> {
        write_tx!(self, hosts::insert_host(host, addresses, allocate))
    }

    async fn host(&self, org: OrganizationId, id: ServerId) -> Result<Option<Host>> {
        read_tx!(self, hosts::host(org, id))
    }

    async fn list_hosts(
        &self,
        org: OrganizationId,
        filter: HostFilter,
        page: PageRequest,
    ) -> Result<Page<Host>> {
        read_tx!(self, hosts::list_hosts(org, filter, page))
    }

    async fn update_host(&self, host: &Host) -> Result<()> {
        write_tx!(self, hosts::update_host(host))
    }

    async fn allocate_ip(&self, request: &IpRequest) -> Result<IpAddress> {
        write_tx!(self, ipam::allocate(request))
    }

    async fn ip_address(&self, org: OrganizationId, id: IpAddressId) -> Result<Option<IpAddress>> {
        read_tx!(self, ipam::ip_address(org, id))
    }

    async fn ip_address_anywhere(&self, id: IpAddressId) -> Result<Option<IpAddress>> {
        read_tx!(self, by_id("ip_addresses", id.as_uuid(), rows::ip_address))
    }

    async fn ip_address_by_address(
        &self,
        org: Option<OrganizationId>,
        address: IpAddr,
    ) -> Result<Option<IpAddress>> {
        read_tx!(self, ipam::ip_address_by_address(org, address))
    }

    async fn list_ip_addresses(
        &self,
        org: OrganizationId,
        filter: IpFilter,
        page: PageRequest,
    ) -> Result<Page<IpAddress>> {
        read_tx!(self, ipam::list_ip_addresses(org, filter, page))
    }

    async fn update_ip_address(
        &self,
        org: OrganizationId,
        id: IpAddressId,
        patch: &IpAddressPatch,
    ) -> Result<IpAddress> {
        write_tx!(self, ipam::update_ip_address(org, id, patch))
    }

    async fn release_ip_address(&self, org: OrganizationId, id: IpAddressId) -> Result<()> {
        write_tx!(self, ipam::release_ip_address(org, id))
    }

    async fn set_ip_allocation(
        &self,
        org: OrganizationId,
        id: IpAddressId,
        allocation: Option<Allocation>,
    ) -> Result<IpAddress> {
        write_tx!(self, ipam::set_ip_allocation(org, id, allocation))
    }

    async fn insert_security_group(&self, group: &SecurityGroup, rules: &[Rule]) -> Result<()> {
        write_tx!(self, policy::insert_group(group, rules))
    }

    async fn security_group(&self, id: SecurityGroupId) -> Result<Option<SecurityGroup>> {
        read_tx!(self, policy::group(id))
    }

    async fn list_security_groups(
        &self,
        org: OrganizationId,
        kind: GroupKind,
        filter: &GroupFilter,
        page: PageRequest,
    ) -> Result<Page<SecurityGroup>> {
        read_tx!(self, policy::groups(org, kind, filter, page))
    }

    async fn update_security_group(
        &self,
        id: SecurityGroupId,
        patch: &SecurityGroupPatch,
        at: OffsetDateTime,
    ) -> Result<SecurityGroup> {
        write_tx!(self, policy::update_group(id, patch, at))
    }

    async fn delete_security_group(&self, id: SecurityGroupId) -> Result<()> {
        write_tx!(self, delete_by_id("security_groups", id.as_uuid(), SecurityGroupId::KIND))
    }

    async fn insert_rule(&self, rule: &Rule) -> Result<()> {
        write_tx!(self, policy::insert_rule(rule))
    }

    async fn rule(&self, id: RuleId) -> Result<Option<Rule>> {
        read_tx!(self, by_id("security_group_rules", id.as_uuid(), rule_from))
    }

    async fn list_rules(&self, group: SecurityGroupId, page: PageRequest) -> Result<Page<Rule>> {
        read_tx!(
            self,
            page_of(page, Some(group.as_uuid()), "FROM security_group_rules WHERE group_id = $1", rule_from)
        )
    }

    async fn rules_of_groups(&self, groups: &[SecurityGroupId]) -> Result<Vec<Rule>> {
        read_tx!(self, policy::rules_of_groups(groups))
    }

    async fn replace_rule(&self, rule: &Rule) -> Result<()> {
        write_tx!(self, policy::replace_rule(rule))
    }

    async fn delete_rule(&self, id: RuleId) -> Result<()> {
        write_tx!(self, delete_by_id("security_group_rules", id.as_uuid(), RuleId::KIND))
    }

    async fn add_security_group_member(
        &self,
        id: SecurityGroupId,
        member: Member,
        at: OffsetDateTime,
    ) -> Result<()> {
        write_tx!(self, policy::add_member(id, member, at))
    }

    async fn rule_numbers(
        &self,
        org: OrganizationId,
        groups: &[SecurityGroupId],
    ) -> Result<Vec<(RuleId, u64)>> {
        read_tx!(self, policy::rule_numbers(org, groups))
    }

    async fn rule_by_number(&self, org: OrganizationId, number: u64) -> Result<Option<RuleId>> {
        read_tx!(self, policy::rule_by_number(org, number))
    }

    async fn insert_server_group(&self, group: &ServerGroup) -> Result<()> {
        write_tx!(self, policy::insert_server_group(group))
    }

    async fn server_group(&self, id: ServerGroupId) -> Result<Option<ServerGroup>> {
        read_tx!(self, by_id("server_groups", id.as_uuid(), server_group_from))
    }

    async fn list_server_groups(&self, org: OrganizationId, page: PageRequest) -> Result<Page<ServerGroup>> {
        let from = "FROM server_groups WHERE organization_id = $1";
        read_tx!(self, page_of(page, Some(org.as_uuid()), from, server_group_from))
    }

    async fn update_server_group(&self, group: &ServerGroup) -> Result<()> {
        write_tx!(self, policy::update_server_group(group))
    }

    async fn delete_server_group(&self, id: ServerGroupId) -> Result<()> {
        write_tx!(self, delete_by_id("server_groups", id.as_uuid(), ServerGroupId::KIND))
    }

    async fn insert_tag(&self, tag: &Tag) -> Result<()> {
        write_tx!(self, policy::insert_tag(tag))
    }

    async fn tag(&self, id: TagId) -> Result<Option<Tag>> {
        read_tx!(self, by_id("tags", id.as_uuid(), tag_from))
    }

    async fn list_tags(&self, org: OrganizationId, page: PageRequest) -> Result<Page<Tag>> {
        read_tx!(self, page_of(page, Some(org.as_uuid()), "FROM tags WHERE organization_id = $1", tag_from))
    }

    async fn update_tag(&self, tag: &Tag) -> Result<()> {
        write_tx!(self, policy::update_tag(tag))
    }

    async fn delete_tag(&self, id: TagId) -> Result<()> {
        write_tx!(self, delete_by_id("tags", id.as_uuid(), TagId::KIND))
    }

    async fn insert_address_list(&self, list: &AddressList) -> Result<()> {
        write_tx!(self, lists::insert_address_list(list))
    }

    async fn address_list(&self, id: AddressListId) -> Result<Option<AddressList>> {
        read_tx!(self, lists::address_list(id))
    }

    async fn list_address_lists(
        &self,
        org: Option<OrganizationId>,
        page: PageRequest,
    ) -> Result<Page<AddressList>> {
        read_tx!(self, lists::address_lists(org, page))
    }

    async fn update_address_list(&self, list: &AddressList) -> Result<()> {
        write_tx!(self, lists::update_address_list(list))
    }

    async fn delete_address_list(&self, id: AddressListId) -> Result<()> {
        write_tx!(self, delete_by_id("address_lists", id.as_uuid(), AddressListId::KIND))
    }

    async fn change_address_list_entries(
        &self,
        list: AddressListId,
        add: &[AddressListEntry],
        remove: &[String],
    ) -> Result<()> {
        write_tx!(self, lists::change_entries(list, add, remove))
    }

    async fn address_list_entry(&self, id: AddressListEntryId) -> Result<Option<AddressListEntry>> {
        read_tx!(self, by_id("address_list_entries", id.as_uuid(), entry_from))
    }

    async fn list_address_list_entries(
        &self,
        list: AddressListId,
        page: PageRequest,
    ) -> Result<Page<AddressListEntry>> {
        let from = "FROM address_list_entries WHERE list_id = $1";
        read_tx!(self, page_of(page, Some(list.as_uuid()), from, entry_from))
    }

    async fn update_address_list_entry(&self, entry: &AddressListEntry) -> Result<()> {
        write_tx!(self, lists::update_entry(entry))
    }

    async fn delete_address_list_entry(&self, id: AddressListEntryId) -> Result<()> {
        write_tx!(self, delete_by_id("address_list_entries", id.as_uuid(), AddressListEntryId::KIND))
    }

    async fn policy_snapshot(&self, org: OrganizationId) -> Result<palisade_core::snapshot::PolicySnapshot> {
        let mut tx = db::consistent_read(self).await?;
        let snapshot = super::snapshot::policy_snapshot(&mut tx, org).await?;
        tx.commit().await.map_err(db::db_error)?;
        Ok(snapshot)
    }
}
