//! The core's [`Store`], [`Reads`] and [`Writes`] traits, written once: a read handle
//! ([`ReadTx`]) and a write transaction ([`WriteTx`]) whose methods call the operations'
//! functions on their connection. Both read alike (`impl_reads!`); the write transaction also
//! writes, remembers which organizations' policy each write changed (the `touch` calls) and
//! bumps their revisions once at commit. A dropped write transaction rolls back, so nothing is
//! half-written.

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
use palisade_core::store::{Reads, Store, TokenCredentials, UserCredentials, Writes};
use palisade_core::{Page, PageRequest};
use time::OffsetDateTime;

use super::address_lists::{self as lists, entry_from};
use super::policy::{rule_from, server_group_from, tag_from};
use super::revisions::{self, group_owner, list_owner};
use super::WriteTx;
use super::{by_id, db, delete_by_id, hosts, inventory, ipam, lock_row, page_of, policy, rows, tenancy};

/// A read handle: on SQLite a deferred transaction (one snapshot), on PostgreSQL a pooled
/// connection (see the seam's `read`). Dropping it ends it.
pub(crate) struct ReadTx(db::Read);

impl ReadTx {
    fn conn(&mut self) -> &mut db::Conn {
        &mut self.0
    }
}

impl WriteTx {
    fn conn(&mut self) -> &mut db::Conn {
        self
    }
}

#[async_trait]
impl Store for db::Handle {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(self.pool()).await.map_err(db::db_error)?;
        Ok(())
    }

    async fn read(&self) -> Result<Box<dyn Reads>> {
        Ok(Box::new(ReadTx(db::read(self).await?)))
    }

    async fn write(&self) -> Result<Box<dyn Writes>> {
        Ok(Box::new(db::write(self).await?))
    }
}

/// `impl Reads for $t`, on `$t::conn()`: the same reads through a read handle and inside a
/// write transaction.
macro_rules! impl_reads {
    ($t:ty) => {
        #[async_trait]
        impl Reads for $t {
            async fn setting(&mut self, key: &str) -> Result<Option<String>> {
                tenancy::setting(self.conn(), key).await
            }

            async fn organization(&mut self, id: OrganizationId) -> Result<Option<Organization>> {
                by_id(self.conn(), "organizations", id.as_uuid(), rows::organization).await
            }

            async fn organization_by_sub_domain(&mut self, sub_domain: &str) -> Result<Option<Organization>> {
                tenancy::organization_by_sub_domain(self.conn(), sub_domain).await
            }

            async fn list_organizations(&mut self, page: PageRequest) -> Result<Page<Organization>> {
                page_of(self.conn(), page, None, "FROM organizations", rows::organization).await
            }

            async fn token_credentials(&mut self, id: ApiTokenId) -> Result<Option<TokenCredentials>> {
                tenancy::token_credentials(self.conn(), id).await
            }

            async fn list_api_tokens(
                &mut self,
                org: OrganizationId,
                page: PageRequest,
            ) -> Result<Page<ApiToken>> {
                let from = "FROM api_tokens WHERE organization_id = $1 AND revoked_at IS NULL";
                page_of(self.conn(), page, Some(org.as_uuid()), from, rows::api_token).await
            }

            async fn user_credentials(&mut self, username: &str) -> Result<Option<UserCredentials>> {
                tenancy::user_credentials(self.conn(), username).await
            }

            async fn list_users(&mut self, org: OrganizationId, page: PageRequest) -> Result<Page<User>> {
                let from = "FROM users WHERE organization_id = $1";
                page_of(self.conn(), page, Some(org.as_uuid()), from, rows::user).await
            }

            async fn data_center(&mut self, id: DataCenterId) -> Result<Option<DataCenter>> {
                by_id(self.conn(), "data_centers", id.as_uuid(), rows::data_center).await
            }

            async fn list_data_centers(&mut self, page: PageRequest) -> Result<Page<DataCenter>> {
                page_of(self.conn(), page, None, "FROM data_centers", rows::data_center).await
            }

            async fn network(&mut self, id: NetworkId) -> Result<Option<Network>> {
                inventory::network(self.conn(), id).await
            }

            async fn list_networks(
                &mut self,
                org: Option<OrganizationId>,
                page: PageRequest,
            ) -> Result<Page<Network>> {
                inventory::list_networks(self.conn(), org, page).await
            }

            async fn server(&mut self, org: OrganizationId, id: ServerId) -> Result<Option<Server>> {
                inventory::server(self.conn(), org, id).await
            }

            async fn list_servers(&mut self, org: OrganizationId, page: PageRequest) -> Result<Page<Server>> {
                inventory::list_servers(self.conn(), org, page).await
            }

            async fn host(&mut self, org: OrganizationId, id: ServerId) -> Result<Option<Host>> {
                hosts::host(self.conn(), org, id).await
            }

            async fn list_hosts(
                &mut self,
                org: OrganizationId,
                filter: HostFilter,
                page: PageRequest,
            ) -> Result<Page<Host>> {
                hosts::list_hosts(self.conn(), org, filter, page).await
            }

            async fn ip_address(
                &mut self,
                org: OrganizationId,
                id: IpAddressId,
            ) -> Result<Option<IpAddress>> {
                ipam::ip_address(self.conn(), org, id).await
            }

            async fn ip_address_anywhere(&mut self, id: IpAddressId) -> Result<Option<IpAddress>> {
                by_id(self.conn(), "ip_addresses", id.as_uuid(), rows::ip_address).await
            }

            async fn ip_address_by_address(
                &mut self,
                org: Option<OrganizationId>,
                address: IpAddr,
            ) -> Result<Option<IpAddress>> {
                ipam::ip_address_by_address(self.conn(), org, address).await
            }

            async fn list_ip_addresses(
                &mut self,
                org: OrganizationId,
                filter: IpFilter,
                page: PageRequest,
            ) -> Result<Page<IpAddress>> {
                ipam::list_ip_addresses(self.conn(), org, filter, page).await
            }

            async fn security_group(&mut self, id: SecurityGroupId) -> Result<Option<SecurityGroup>> {
                policy::group(self.conn(), id).await
            }

            async fn list_security_groups(
                &mut self,
                org: OrganizationId,
                kind: GroupKind,
                filter: &GroupFilter,
                page: PageRequest,
            ) -> Result<Page<SecurityGroup>> {
                policy::groups(self.conn(), org, kind, filter, page).await
            }

            async fn rule(&mut self, id: RuleId) -> Result<Option<Rule>> {
                by_id(self.conn(), "security_group_rules", id.as_uuid(), rule_from).await
            }

            async fn list_rules(&mut self, group: SecurityGroupId, page: PageRequest) -> Result<Page<Rule>> {
                let from = "FROM security_group_rules WHERE group_id = $1";
                page_of(self.conn(), page, Some(group.as_uuid()), from, rule_from).await
            }

            async fn rules_of_groups(&mut self, groups: &[SecurityGroupId]) -> Result<Vec<Rule>> {
                policy::rules_of_groups(self.conn(), groups).await
            }

            async fn rule_numbers(
                &mut self,
                org: OrganizationId,
                groups: &[SecurityGroupId],
            ) -> Result<Vec<(RuleId, u64)>> {
                policy::rule_numbers(self.conn(), org, groups).await
            }

            async fn rule_by_number(&mut self, org: OrganizationId, number: u64) -> Result<Option<RuleId>> {
                policy::rule_by_number(self.conn(), org, number).await
            }

            async fn server_group(&mut self, id: ServerGroupId) -> Result<Option<ServerGroup>> {
                by_id(self.conn(), "server_groups", id.as_uuid(), server_group_from).await
            }

            async fn list_server_groups(
                &mut self,
                org: OrganizationId,
                page: PageRequest,
            ) -> Result<Page<ServerGroup>> {
                let from = "FROM server_groups WHERE organization_id = $1";
                page_of(self.conn(), page, Some(org.as_uuid()), from, server_group_from).await
            }

            async fn tag(&mut self, id: TagId) -> Result<Option<Tag>> {
                by_id(self.conn(), "tags", id.as_uuid(), tag_from).await
            }

            async fn list_tags(&mut self, org: OrganizationId, page: PageRequest) -> Result<Page<Tag>> {
                let from = "FROM tags WHERE organization_id = $1";
                page_of(self.conn(), page, Some(org.as_uuid()), from, tag_from).await
            }

            async fn address_list(&mut self, id: AddressListId) -> Result<Option<AddressList>> {
                lists::address_list(self.conn(), id).await
            }

            async fn list_address_lists(
                &mut self,
                org: Option<OrganizationId>,
                page: PageRequest,
            ) -> Result<Page<AddressList>> {
                lists::address_lists(self.conn(), org, page).await
            }

            async fn address_list_entry(
                &mut self,
                id: AddressListEntryId,
            ) -> Result<Option<AddressListEntry>> {
                by_id(self.conn(), "address_list_entries", id.as_uuid(), entry_from).await
            }

            async fn list_address_list_entries(
                &mut self,
                list: AddressListId,
                page: PageRequest,
            ) -> Result<Page<AddressListEntry>> {
                let from = "FROM address_list_entries WHERE list_id = $1";
                page_of(self.conn(), page, Some(list.as_uuid()), from, entry_from).await
            }

            async fn policy_revision(&mut self, org: OrganizationId) -> Result<u64> {
                revisions::revision(self.conn(), org).await
            }
        }
    };
}

impl_reads!(ReadTx);
impl_reads!(WriteTx);

#[async_trait]
impl Writes for WriteTx {
    async fn commit(self: Box<Self>) -> Result<()> {
        WriteTx::commit(*self).await
    }

    async fn init_setting(&mut self, key: &str, value: &str) -> Result<String> {
        tenancy::init_setting(self, key, value).await
    }

    async fn insert_organization(&mut self, org: &Organization) -> Result<()> {
        tenancy::insert_organization(self, org).await
    }

    async fn update_organization(
        &mut self,
        id: OrganizationId,
        patch: &OrganizationPatch,
        at: OffsetDateTime,
    ) -> Result<Organization> {
        tenancy::update_organization(self, id, patch, at).await
    }

    async fn delete_organization(&mut self, id: OrganizationId) -> Result<()> {
        tenancy::delete_organization(self, id).await
    }

    async fn insert_api_token(&mut self, token: &ApiToken, secret_hash: &SecretHash) -> Result<()> {
        tenancy::insert_api_token(self, token, secret_hash).await
    }

    async fn revoke_api_token(
        &mut self,
        org: OrganizationId,
        id: ApiTokenId,
        at: OffsetDateTime,
    ) -> Result<()> {
        tenancy::revoke_api_token(self, org, id, at).await
    }

    async fn insert_user(&mut self, user: &User, password: &PasswordDigest) -> Result<()> {
        tenancy::insert_user(self, user, password).await
    }

    async fn insert_data_center(&mut self, dc: &DataCenter) -> Result<()> {
        inventory::insert_data_center(self, dc).await
    }

    async fn insert_network(&mut self, network: &Network) -> Result<()> {
        inventory::insert_network(self, network).await
    }

    async fn insert_server(&mut self, server: &Server, addresses: &[IpAddress]) -> Result<()> {
        inventory::insert_server(self, server, addresses).await?;
        self.touched.org(server.organization_id);
        Ok(())
    }

    async fn delete_server(&mut self, org: OrganizationId, id: ServerId) -> Result<()> {
        inventory::delete_server(self, org, id).await?;
        self.touched.org(org);
        Ok(())
    }

    async fn insert_host(
        &mut self,
        host: &Host,
        addresses: &[IpAddress],
        allocate: Option<&IpRequest>,
    ) -> Result<Host> {
        let host = hosts::insert_host(self, host, addresses, allocate).await?;
        self.touched.org(host.server.organization_id);
        Ok(host)
    }

    async fn host_for_update(&mut self, org: OrganizationId, id: ServerId) -> Result<Option<Host>> {
        lock_row(self, "servers", id.as_uuid()).await?;
        hosts::host(self, org, id).await
    }

    async fn update_host(&mut self, host: &Host) -> Result<()> {
        hosts::update_host(self, host).await?;
        self.touched.org(host.server.organization_id);
        Ok(())
    }

    async fn allocate_ip(&mut self, request: &IpRequest) -> Result<IpAddress> {
        let ip = ipam::allocate(self, request).await?;
        if request.allocation.is_some() {
            self.touched.org(request.organization_id);
        }
        Ok(ip)
    }

    async fn ip_address_for_update(
        &mut self,
        org: OrganizationId,
        id: IpAddressId,
    ) -> Result<Option<IpAddress>> {
        lock_row(self, "ip_addresses", id.as_uuid()).await?;
        ipam::ip_address(self, org, id).await
    }

    async fn update_ip_address(
        &mut self,
        org: OrganizationId,
        id: IpAddressId,
        patch: &IpAddressPatch,
    ) -> Result<IpAddress> {
        ipam::update_ip_address(self, org, id, patch).await
    }

    async fn release_ip_address(&mut self, org: OrganizationId, id: IpAddressId) -> Result<()> {
        ipam::release_ip_address(self, org, id).await
    }

    async fn set_ip_allocation(
        &mut self,
        org: OrganizationId,
        id: IpAddressId,
        allocation: Option<Allocation>,
    ) -> Result<IpAddress> {
        let ip = ipam::set_ip_allocation(self, org, id, allocation).await?;
        self.touched.org(org);
        Ok(ip)
    }

    async fn insert_security_group(&mut self, group: &SecurityGroup, rules: &[Rule]) -> Result<()> {
        policy::insert_group(self, group, rules).await?;
        self.touched.org(group.organization_id);
        Ok(())
    }

    async fn security_group_for_update(&mut self, id: SecurityGroupId) -> Result<Option<SecurityGroup>> {
        lock_row(self, "security_groups", id.as_uuid()).await?;
        policy::group(self, id).await
    }

    async fn update_security_group(
        &mut self,
        id: SecurityGroupId,
        patch: &SecurityGroupPatch,
        at: OffsetDateTime,
    ) -> Result<SecurityGroup> {
        let group = policy::update_group(self, id, patch, at).await?;
        self.touched.org(group.organization_id);
        Ok(group)
    }

    async fn delete_security_group(&mut self, id: SecurityGroupId) -> Result<()> {
        let owner =
            delete_by_id(self, "security_groups", id.as_uuid(), SecurityGroupId::KIND, "organization_id")
                .await?;
        self.touched.owner(owner);
        Ok(())
    }

    async fn add_security_group_member(
        &mut self,
        id: SecurityGroupId,
        member: Member,
        at: OffsetDateTime,
    ) -> Result<()> {
        policy::add_member(self, id, member, at).await?;
        self.touch_group(id.as_uuid()).await
    }

    async fn insert_rule(&mut self, rule: &Rule) -> Result<()> {
        policy::insert_rule(self, rule).await?;
        self.touch_group(rule.group_id.as_uuid()).await
    }

    async fn rule_for_update(&mut self, id: RuleId) -> Result<Option<Rule>> {
        lock_row(self, "security_group_rules", id.as_uuid()).await?;
        by_id(self, "security_group_rules", id.as_uuid(), rule_from).await
    }

    async fn replace_rule(&mut self, rule: &Rule) -> Result<()> {
        policy::replace_rule(self, rule).await?;
        self.touch_group(rule.group_id.as_uuid()).await
    }

    async fn delete_rule(&mut self, id: RuleId) -> Result<()> {
        let group =
            delete_by_id(self, "security_group_rules", id.as_uuid(), RuleId::KIND, "group_id").await?;
        match group {
            Some(group) => self.touch_group(group).await,
            None => Ok(()),
        }
    }

    async fn insert_server_group(&mut self, group: &ServerGroup) -> Result<()> {
        policy::insert_server_group(self, group).await?;
        self.touched.org(group.organization_id);
        Ok(())
    }

    async fn server_group_for_update(&mut self, id: ServerGroupId) -> Result<Option<ServerGroup>> {
        lock_row(self, "server_groups", id.as_uuid()).await?;
        by_id(self, "server_groups", id.as_uuid(), server_group_from).await
    }

    async fn update_server_group(&mut self, group: &ServerGroup) -> Result<()> {
        policy::update_server_group(self, group).await?;
        self.touched.org(group.organization_id);
        Ok(())
    }

    async fn delete_server_group(&mut self, id: ServerGroupId) -> Result<()> {
        let owner =
            delete_by_id(self, "server_groups", id.as_uuid(), ServerGroupId::KIND, "organization_id").await?;
        self.touched.owner(owner);
        Ok(())
    }

    async fn insert_tag(&mut self, tag: &Tag) -> Result<()> {
        policy::insert_tag(self, tag).await?;
        self.touched.org(tag.organization_id);
        Ok(())
    }

    async fn tag_for_update(&mut self, id: TagId) -> Result<Option<Tag>> {
        lock_row(self, "tags", id.as_uuid()).await?;
        by_id(self, "tags", id.as_uuid(), tag_from).await
    }

    async fn update_tag(&mut self, tag: &Tag) -> Result<()> {
        policy::update_tag(self, tag).await?;
        self.touched.org(tag.organization_id);
        Ok(())
    }

    async fn delete_tag(&mut self, id: TagId) -> Result<()> {
        let owner = delete_by_id(self, "tags", id.as_uuid(), TagId::KIND, "organization_id").await?;
        self.touched.owner(owner);
        Ok(())
    }

    async fn insert_address_list(&mut self, list: &AddressList) -> Result<()> {
        lists::insert_address_list(self, list).await?;
        self.touched.owner(list.organization_id.map(|o| o.as_uuid()));
        Ok(())
    }

    async fn address_list_for_update(&mut self, id: AddressListId) -> Result<Option<AddressList>> {
        lock_row(self, "address_lists", id.as_uuid()).await?;
        lists::address_list(self, id).await
    }

    async fn update_address_list(&mut self, list: &AddressList) -> Result<()> {
        lists::update_address_list(self, list).await?;
        self.touch_list(list.id.as_uuid()).await
    }

    async fn delete_address_list(&mut self, id: AddressListId) -> Result<()> {
        let owner =
            delete_by_id(self, "address_lists", id.as_uuid(), AddressListId::KIND, "organization_id").await?;
        self.touched.owner(owner);
        Ok(())
    }

    async fn change_address_list_entries(
        &mut self,
        list: AddressListId,
        add: &[AddressListEntry],
        remove: &[String],
    ) -> Result<()> {
        lists::change_entries(self, list, add, remove).await?;
        self.touch_list(list.as_uuid()).await
    }

    async fn address_list_entry_for_update(
        &mut self,
        id: AddressListEntryId,
    ) -> Result<Option<AddressListEntry>> {
        lock_row(self, "address_list_entries", id.as_uuid()).await?;
        by_id(self, "address_list_entries", id.as_uuid(), entry_from).await
    }

    async fn update_address_list_entry(&mut self, entry: &AddressListEntry) -> Result<()> {
        lists::update_entry(self, entry).await?;
        self.touch_list(entry.list_id.as_uuid()).await
    }

    async fn delete_address_list_entry(&mut self, id: AddressListEntryId) -> Result<()> {
        let entries = "address_list_entries";
        let list = delete_by_id(self, entries, id.as_uuid(), AddressListEntryId::KIND, "list_id").await?;
        match list {
            Some(list) => self.touch_list(list).await,
            None => Ok(()),
        }
    }
}

impl WriteTx {
    /// Marks the organization of a security group (or role) as touched.
    async fn touch_group(&mut self, group: uuid::Uuid) -> Result<()> {
        let owner = group_owner(self, group).await?;
        if let Some(org) = owner {
            self.touched.owner(Some(org));
        }
        Ok(())
    }

    /// Marks the owner of an address list (every organization, for a global list) as touched.
    async fn touch_list(&mut self, list: uuid::Uuid) -> Result<()> {
        if let Some(owner) = list_owner(self, list).await? {
            self.touched.owner(owner);
        }
        Ok(())
    }
}
