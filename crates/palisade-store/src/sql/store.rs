//! The core's [`Store`], [`Reads`] and [`Writes`] traits, written once: a read handle
//! ([`ReadTx`]) and a write transaction ([`WriteTx`]) whose methods call the operations'
//! functions on their connection. Both read alike (`impl_reads!`); the write transaction also
//! writes, remembers which organizations' policy each write changed (the `touch` calls) and
//! bumps their revisions once at commit. A dropped write transaction rolls back, so nothing is
//! half-written.

use std::net::IpAddr;

use async_trait::async_trait;
use palisade_core::audit::{AuditEvent, AuditFilter};
use palisade_core::error::{Error, Result, UsedBy};
use palisade_core::grant::{Grant, ListGrant, OperatorGrant};
use palisade_core::id::{
    AddressListEntryId, AddressListId, ApiTokenId, DataCenterId, InterfaceId, IpAddressId, JobId, NetworkId,
    OrganizationId, RuleId, SecurityGroupId, ServerGroupId, ServerId, TagId, UserId,
};
use palisade_core::model::{
    Allocation, ApiToken, DataCenter, EnforcementReport, Host, HostFilter, InterfaceOwner, IpAddress,
    IpAddressPatch, IpFilter, IpRequest, JobRecord, Network, Organization, OrganizationPatch, Server,
    Session, User,
};
use palisade_core::policy::{
    AddressList, AddressListEntry, GroupFilter, GroupKind, Member, Rule, SecurityGroup, SecurityGroupPatch,
    ServerGroup, Tag,
};
use palisade_core::secret::{PasswordDigest, SecretHash};
use palisade_core::snapshot::PolicySnapshot;
use palisade_core::store::{Reads, SessionCredentials, Store, TokenCredentials, UserCredentials, Writes};
use palisade_core::{Page, PageRequest};
use time::OffsetDateTime;
use uuid::Uuid;

use super::address_lists::{self as lists, entry_from};
use super::policy::{server_group_from, tag_from};
use super::revisions::{self, owner_of};
use super::WriteTx;
use super::{
    audit, by_id, db, delete_by_id, enforcement, hosts, inventory, ipam, lock_row, page_of, policy, rows,
    sessions, tenancy,
};

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
        let started = std::time::Instant::now();
        let read = db::read(self).await;
        self.waits.note(started.elapsed());
        Ok(Box::new(ReadTx(read?)))
    }

    async fn write(&self) -> Result<Box<dyn Writes>> {
        let started = std::time::Instant::now();
        let write = db::write(self).await;
        self.waits.note(started.elapsed());
        Ok(Box::new(write?))
    }

    async fn policy_snapshot(&self, org: OrganizationId) -> Result<PolicySnapshot> {
        let mut tx = db::consistent_read(self).await?;
        let snapshot = super::snapshot::policy_snapshot(&mut tx, org, &self.group_rules).await?;
        tx.commit().await.map_err(db::db_error)?;
        Ok(snapshot)
    }

    fn policy_changes(&self) -> std::sync::Arc<palisade_core::changes::PolicyChanges> {
        db::policy_changes(self)
    }

    async fn close(&self) {
        db::close(self).await;
    }

    fn pool_stats(&self) -> palisade_core::store::PoolStats {
        db::pool_stats(self)
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
                let from = "FROM api_tokens WHERE organization_id = $1";
                page_of(self.conn(), page, Some(org.as_uuid()), from, rows::api_token).await
            }

            async fn user_credentials(&mut self, username: &str) -> Result<Option<UserCredentials>> {
                tenancy::user_credentials(self.conn(), username).await
            }

            async fn session(&mut self, id_hash: &SecretHash) -> Result<Option<SessionCredentials>> {
                sessions::session(self.conn(), id_hash).await
            }

            async fn job(&mut self, id: JobId) -> Result<Option<JobRecord>> {
                sessions::job(self.conn(), id).await
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

            async fn server_anywhere(&mut self, id: ServerId) -> Result<Option<Server>> {
                inventory::server_anywhere(self.conn(), id).await
            }

            async fn server_ip_addresses(
                &mut self,
                org: OrganizationId,
                id: ServerId,
            ) -> Result<Vec<IpAddress>> {
                inventory::server_ip_addresses(self.conn(), org, id).await
            }

            async fn interface(&mut self, id: InterfaceId) -> Result<Option<InterfaceOwner>> {
                inventory::interface(self.conn(), id).await
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
                policy::rule(self.conn(), id).await
            }

            async fn list_rules(&mut self, group: SecurityGroupId, page: PageRequest) -> Result<Page<Rule>> {
                policy::list_rules(self.conn(), group, page).await
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

            async fn enforcement(
                &mut self,
                org: OrganizationId,
                server: ServerId,
            ) -> Result<Option<EnforcementReport>> {
                enforcement::latest(self.conn(), org, server).await
            }

            async fn policy_gauges(&mut self, limit: u32) -> Result<palisade_core::store::PolicyGauges> {
                revisions::gauges(self.conn(), limit).await
            }

            async fn ipam_usage(&mut self, limit: u32) -> Result<Vec<(NetworkId, u8, u64)>> {
                ipam::usage(self.conn(), limit).await
            }

            async fn list_audit_events(
                &mut self,
                filter: &AuditFilter,
                page: PageRequest,
            ) -> Result<Page<AuditEvent>> {
                audit::list(self.conn(), filter, page).await
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

    async fn init_setting(&mut self, _: &OperatorGrant, key: &str, value: &str) -> Result<String> {
        tenancy::init_setting(self, key, value).await
    }

    async fn put_setting(&mut self, _: &OperatorGrant, key: &str, value: &str) -> Result<()> {
        tenancy::put_setting(self, key, value).await
    }

    async fn insert_organization(&mut self, _: &OperatorGrant, org: &Organization) -> Result<()> {
        tenancy::insert_organization(self, org).await
    }

    async fn update_organization(
        &mut self,
        _: &OperatorGrant,
        id: OrganizationId,
        patch: &OrganizationPatch,
        at: OffsetDateTime,
    ) -> Result<Organization> {
        tenancy::update_organization(self, id, patch, at).await
    }

    async fn delete_organization(&mut self, _: &OperatorGrant, id: OrganizationId) -> Result<()> {
        tenancy::delete_organization(self, id).await
    }

    async fn insert_api_token(
        &mut self,
        grant: &Grant,
        token: &ApiToken,
        secret_hash: &SecretHash,
    ) -> Result<()> {
        within(grant, token.organization_id, "api token")?;
        tenancy::insert_api_token(self, token, secret_hash).await
    }

    async fn revoke_api_token(&mut self, grant: &Grant, id: ApiTokenId, at: OffsetDateTime) -> Result<()> {
        tenancy::revoke_api_token(self, grant.organization_id(), id, at).await
    }

    async fn record_audit(&mut self, event: &AuditEvent) -> Result<()> {
        audit::record(self, event).await
    }

    async fn report_enforcement(&mut self, grant: &Grant, report: &EnforcementReport) -> Result<()> {
        enforcement::report(self, grant.organization_id(), report).await
    }

    async fn insert_user(
        &mut self,
        grant: &Grant,
        user: &User,
        password: &PasswordDigest,
        session_password: &PasswordDigest,
    ) -> Result<()> {
        within(grant, user.organization_id, "user")?;
        tenancy::insert_user(self, user, password, session_password).await
    }

    async fn set_password(
        &mut self,
        grant: &Grant,
        user: UserId,
        password: Option<&PasswordDigest>,
        session_password: &PasswordDigest,
    ) -> Result<()> {
        tenancy::set_password(self, grant.organization_id(), user, password, session_password).await
    }

    async fn insert_session(
        &mut self,
        grant: &Grant,
        session: &Session,
        id_hash: &SecretHash,
        limit: u32,
    ) -> Result<()> {
        within(grant, session.organization_id, "user")?;
        sessions::insert_session(self, session, id_hash, limit).await
    }

    async fn delete_session(&mut self, id_hash: &SecretHash) -> Result<bool> {
        sessions::delete_session(self, id_hash).await
    }

    async fn insert_job(&mut self, grant: Option<&Grant>, job: &JobRecord) -> Result<()> {
        if job.organization_id != grant.map(Grant::organization_id) {
            return Err(Error::not_found(OrganizationId::KIND));
        }
        sessions::insert_job(self, job).await
    }

    async fn purge_expired(&mut self, _: &OperatorGrant, now: OffsetDateTime) -> Result<u64> {
        sessions::purge_expired(self, now).await
    }

    async fn purge_audit_events(&mut self, _: &OperatorGrant, before: OffsetDateTime) -> Result<u64> {
        audit::purge_before(self, before).await
    }

    async fn insert_data_center(&mut self, _: &OperatorGrant, dc: &DataCenter) -> Result<()> {
        inventory::insert_data_center(self, dc).await
    }

    async fn data_center_for_update(&mut self, id: DataCenterId) -> Result<Option<DataCenter>> {
        lock_row(self, "data_centers", id.as_uuid()).await?;
        by_id(self.conn(), "data_centers", id.as_uuid(), rows::data_center).await
    }

    async fn update_data_center(&mut self, _: &OperatorGrant, dc: &DataCenter) -> Result<()> {
        inventory::update_data_center(self, dc).await
    }

    async fn data_center_usage(&mut self, id: DataCenterId) -> Result<Vec<UsedBy>> {
        inventory::data_center_usage(self, id).await
    }

    async fn delete_data_center(&mut self, _: &OperatorGrant, id: DataCenterId) -> Result<()> {
        inventory::delete_data_center(self, id).await
    }

    async fn insert_network(&mut self, _: &OperatorGrant, network: &Network) -> Result<()> {
        inventory::insert_network(self, network).await
    }

    async fn network_for_update(&mut self, id: NetworkId) -> Result<Option<Network>> {
        lock_row(self, "networks", id.as_uuid()).await?;
        inventory::network(self, id).await
    }

    // Networks and data centers decide no server's policy (the snapshot holds neither), so
    // these writes touch no revision.
    async fn update_network(&mut self, _: &OperatorGrant, network: &Network) -> Result<()> {
        inventory::update_network(self, network).await
    }

    async fn network_usage(&mut self, id: NetworkId) -> Result<Vec<UsedBy>> {
        inventory::network_usage(self, id).await
    }

    async fn delete_network(&mut self, _: &OperatorGrant, id: NetworkId) -> Result<()> {
        inventory::delete_network(self, id).await
    }

    async fn insert_server(&mut self, grant: &Grant, server: &Server, addresses: &[IpAddress]) -> Result<()> {
        within(grant, server.organization_id, ServerId::KIND)?;
        if let Some(group) = server.server_group {
            self.owned(grant, SERVER_GROUP_OWNER, group.as_uuid(), ServerGroupId::KIND).await?;
        }
        inventory::insert_server(self, server, addresses).await?;
        self.touched.org(grant.organization_id());
        Ok(())
    }

    async fn delete_server(&mut self, grant: &Grant, id: ServerId) -> Result<()> {
        inventory::delete_server(self, grant.organization_id(), id).await?;
        self.touched.org(grant.organization_id());
        Ok(())
    }

    async fn server_for_update(&mut self, id: ServerId) -> Result<Option<Server>> {
        lock_row(self, "servers", id.as_uuid()).await?;
        inventory::server_anywhere(self, id).await
    }

    async fn update_server(&mut self, grant: &Grant, server: &Server) -> Result<()> {
        within(grant, server.organization_id, ServerId::KIND)?;
        // The server first: a server that is not the grant's is not found, whatever it names.
        self.owned(grant, SERVER_OWNER, server.id.as_uuid(), ServerId::KIND).await?;
        if let Some(group) = server.server_group {
            self.owned(grant, SERVER_GROUP_OWNER, group.as_uuid(), ServerGroupId::KIND).await?;
        }
        inventory::update_server(self, server).await?;
        self.touched.org(grant.organization_id());
        Ok(())
    }

    async fn insert_host(
        &mut self,
        grant: &Grant,
        host: &Host,
        addresses: &[IpAddress],
        allocate: Option<&IpRequest>,
    ) -> Result<Host> {
        within(grant, host.server.organization_id, ServerId::KIND)?;
        if let Some(request) = allocate {
            within(grant, request.organization_id, IpAddressId::KIND)?;
        }
        let host = hosts::insert_host(self, host, addresses, allocate).await?;
        self.touched.org(grant.organization_id());
        Ok(host)
    }

    async fn host_for_update(&mut self, org: OrganizationId, id: ServerId) -> Result<Option<Host>> {
        lock_row(self, "servers", id.as_uuid()).await?;
        hosts::host(self, org, id).await
    }

    async fn update_host(&mut self, grant: &Grant, host: &Host) -> Result<()> {
        within(grant, host.server.organization_id, ServerId::KIND)?;
        hosts::update_host(self, host).await?;
        self.touched.org(grant.organization_id());
        Ok(())
    }

    async fn allocate_ip(&mut self, grant: &Grant, request: &IpRequest) -> Result<IpAddress> {
        within(grant, request.organization_id, IpAddressId::KIND)?;
        let ip = ipam::allocate(self, request).await?;
        if request.allocation.is_some() {
            self.touched.org(grant.organization_id());
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
        grant: &Grant,
        id: IpAddressId,
        patch: &IpAddressPatch,
    ) -> Result<IpAddress> {
        ipam::update_ip_address(self, grant.organization_id(), id, patch).await
    }

    async fn release_ip_address(&mut self, grant: &Grant, id: IpAddressId) -> Result<()> {
        ipam::release_ip_address(self, grant.organization_id(), id).await
    }

    async fn set_ip_allocation(
        &mut self,
        grant: &Grant,
        id: IpAddressId,
        allocation: Option<Allocation>,
    ) -> Result<IpAddress> {
        let ip = ipam::set_ip_allocation(self, grant.organization_id(), id, allocation).await?;
        self.touched.org(grant.organization_id());
        Ok(ip)
    }

    async fn insert_security_group(
        &mut self,
        grant: &Grant,
        group: &SecurityGroup,
        rules: &[Rule],
    ) -> Result<u64> {
        within(grant, group.organization_id, SecurityGroupId::KIND)?;
        if rules.iter().any(|r| r.group_id != group.id) {
            return Err(Error::not_found(SecurityGroupId::KIND));
        }
        let serial = policy::insert_group(self, group, rules).await?;
        self.touched.org(grant.organization_id());
        Ok(serial)
    }

    async fn security_group_for_update(&mut self, id: SecurityGroupId) -> Result<Option<SecurityGroup>> {
        lock_row(self, "security_groups", id.as_uuid()).await?;
        policy::group(self, id).await
    }

    async fn update_security_group(
        &mut self,
        grant: &Grant,
        id: SecurityGroupId,
        patch: &SecurityGroupPatch,
        at: OffsetDateTime,
    ) -> Result<SecurityGroup> {
        self.owned(grant, GROUP_OWNER, id.as_uuid(), SecurityGroupId::KIND).await?;
        if patch.rules.iter().flatten().any(|r| r.group_id != id) {
            return Err(Error::not_found(SecurityGroupId::KIND));
        }
        let group = policy::update_group(self, id, patch, at).await?;
        self.touched.org(grant.organization_id());
        Ok(group)
    }

    async fn delete_security_group(&mut self, grant: &Grant, id: SecurityGroupId) -> Result<()> {
        self.owned(grant, GROUP_OWNER, id.as_uuid(), SecurityGroupId::KIND).await?;
        delete_by_id(self, "security_groups", id.as_uuid(), SecurityGroupId::KIND).await?;
        self.touched.org(grant.organization_id());
        Ok(())
    }

    async fn add_security_group_member(
        &mut self,
        grant: &Grant,
        id: SecurityGroupId,
        member: Member,
        at: OffsetDateTime,
    ) -> Result<()> {
        self.owned(grant, GROUP_OWNER, id.as_uuid(), SecurityGroupId::KIND).await?;
        policy::add_member(self, id, member, at).await?;
        self.touched.org(grant.organization_id());
        Ok(())
    }

    async fn insert_rule(&mut self, grant: &Grant, rule: &Rule) -> Result<()> {
        self.owned(grant, GROUP_OWNER, rule.group_id.as_uuid(), SecurityGroupId::KIND).await?;
        policy::insert_rule(self, rule).await?;
        self.touched.org(grant.organization_id());
        Ok(())
    }

    async fn rule_for_update(&mut self, id: RuleId) -> Result<Option<Rule>> {
        lock_row(self, "security_group_rules", id.as_uuid()).await?;
        policy::rule(self, id).await
    }

    async fn replace_rule(&mut self, grant: &Grant, rule: &Rule) -> Result<()> {
        self.owned(grant, RULE_OWNER, rule.id.as_uuid(), RuleId::KIND).await?;
        self.owned(grant, GROUP_OWNER, rule.group_id.as_uuid(), RuleId::KIND).await?;
        policy::replace_rule(self, rule).await?;
        self.touched.org(grant.organization_id());
        Ok(())
    }

    async fn delete_rule(&mut self, grant: &Grant, id: RuleId) -> Result<()> {
        self.owned(grant, RULE_OWNER, id.as_uuid(), RuleId::KIND).await?;
        policy::rule_goes(self, id).await?;
        delete_by_id(self, "security_group_rules", id.as_uuid(), RuleId::KIND).await?;
        self.touched.org(grant.organization_id());
        Ok(())
    }

    async fn insert_server_group(&mut self, grant: &Grant, group: &ServerGroup) -> Result<()> {
        within(grant, group.organization_id, ServerGroupId::KIND)?;
        policy::insert_server_group(self, group).await?;
        self.touched.org(grant.organization_id());
        Ok(())
    }

    async fn server_group_for_update(&mut self, id: ServerGroupId) -> Result<Option<ServerGroup>> {
        lock_row(self, "server_groups", id.as_uuid()).await?;
        by_id(self, "server_groups", id.as_uuid(), server_group_from).await
    }

    async fn update_server_group(&mut self, grant: &Grant, group: &ServerGroup) -> Result<()> {
        within(grant, group.organization_id, ServerGroupId::KIND)?;
        self.owned(grant, SERVER_GROUP_OWNER, group.id.as_uuid(), ServerGroupId::KIND).await?;
        policy::update_server_group(self, group).await?;
        self.touched.org(grant.organization_id());
        Ok(())
    }

    async fn delete_server_group(&mut self, grant: &Grant, id: ServerGroupId) -> Result<()> {
        self.owned(grant, SERVER_GROUP_OWNER, id.as_uuid(), ServerGroupId::KIND).await?;
        delete_by_id(self, "server_groups", id.as_uuid(), ServerGroupId::KIND).await?;
        self.touched.org(grant.organization_id());
        Ok(())
    }

    async fn insert_tag(&mut self, grant: &Grant, tag: &Tag) -> Result<()> {
        within(grant, tag.organization_id, TagId::KIND)?;
        policy::insert_tag(self, tag).await?;
        self.touched.org(grant.organization_id());
        Ok(())
    }

    async fn tag_for_update(&mut self, id: TagId) -> Result<Option<Tag>> {
        lock_row(self, "tags", id.as_uuid()).await?;
        by_id(self, "tags", id.as_uuid(), tag_from).await
    }

    async fn update_tag(&mut self, grant: &Grant, tag: &Tag) -> Result<()> {
        within(grant, tag.organization_id, TagId::KIND)?;
        self.owned(grant, TAG_OWNER, tag.id.as_uuid(), TagId::KIND).await?;
        policy::update_tag(self, tag).await?;
        self.touched.org(grant.organization_id());
        Ok(())
    }

    async fn delete_tag(&mut self, grant: &Grant, id: TagId) -> Result<()> {
        self.owned(grant, TAG_OWNER, id.as_uuid(), TagId::KIND).await?;
        delete_by_id(self, "tags", id.as_uuid(), TagId::KIND).await?;
        self.touched.org(grant.organization_id());
        Ok(())
    }

    async fn insert_address_list(&mut self, grant: &ListGrant, list: &AddressList) -> Result<()> {
        if list.organization_id != grant.owner() || list.entries.iter().any(|e| e.list_id != list.id) {
            return Err(Error::not_found(AddressListId::KIND));
        }
        lists::insert_address_list(self, list).await?;
        self.touch_list_owner(grant);
        Ok(())
    }

    async fn address_list_for_update(&mut self, id: AddressListId) -> Result<Option<AddressList>> {
        lock_row(self, "address_lists", id.as_uuid()).await?;
        lists::address_list(self, id).await
    }

    async fn update_address_list(&mut self, grant: &ListGrant, list: &AddressList) -> Result<()> {
        self.owned_list(grant, LIST_OWNER, list.id.as_uuid(), AddressListId::KIND).await?;
        lists::update_address_list(self, list).await?;
        self.touch_list_owner(grant);
        Ok(())
    }

    async fn delete_address_list(&mut self, grant: &ListGrant, id: AddressListId) -> Result<()> {
        self.owned_list(grant, LIST_OWNER, id.as_uuid(), AddressListId::KIND).await?;
        delete_by_id(self, "address_lists", id.as_uuid(), AddressListId::KIND).await?;
        self.touch_list_owner(grant);
        Ok(())
    }

    async fn change_address_list_entries(
        &mut self,
        grant: &ListGrant,
        list: AddressListId,
        add: &[AddressListEntry],
        remove: &[String],
    ) -> Result<()> {
        self.owned_list(grant, LIST_OWNER, list.as_uuid(), AddressListId::KIND).await?;
        if add.iter().any(|e| e.list_id != list) {
            return Err(Error::not_found(AddressListId::KIND));
        }
        lists::change_entries(self, list, add, remove).await?;
        self.touch_list_owner(grant);
        Ok(())
    }

    async fn address_list_entry_for_update(
        &mut self,
        id: AddressListEntryId,
    ) -> Result<Option<AddressListEntry>> {
        lock_row(self, "address_list_entries", id.as_uuid()).await?;
        by_id(self, "address_list_entries", id.as_uuid(), entry_from).await
    }

    async fn update_address_list_entry(&mut self, grant: &ListGrant, entry: &AddressListEntry) -> Result<()> {
        self.owned_list(grant, ENTRY_OWNER, entry.id.as_uuid(), AddressListEntryId::KIND).await?;
        self.owned_list(grant, LIST_OWNER, entry.list_id.as_uuid(), AddressListEntryId::KIND).await?;
        lists::update_entry(self, entry).await?;
        self.touch_list_owner(grant);
        Ok(())
    }

    async fn delete_address_list_entry(&mut self, grant: &ListGrant, id: AddressListEntryId) -> Result<()> {
        self.owned_list(grant, ENTRY_OWNER, id.as_uuid(), AddressListEntryId::KIND).await?;
        delete_by_id(self, "address_list_entries", id.as_uuid(), AddressListEntryId::KIND).await?;
        self.touch_list_owner(grant);
        Ok(())
    }
}

/// How each kind of object's owner is read (`$1` is its id): its own row, or its parent's.
const GROUP_OWNER: &str = "SELECT organization_id FROM security_groups WHERE id = $1";
const SERVER_OWNER: &str = "SELECT organization_id FROM servers WHERE id = $1";
const SERVER_GROUP_OWNER: &str = "SELECT organization_id FROM server_groups WHERE id = $1";
const TAG_OWNER: &str = "SELECT organization_id FROM tags WHERE id = $1";
const LIST_OWNER: &str = "SELECT organization_id FROM address_lists WHERE id = $1";
const RULE_OWNER: &str = "SELECT g.organization_id FROM security_group_rules r
                          JOIN security_groups g ON g.id = r.group_id WHERE r.id = $1";
const ENTRY_OWNER: &str = "SELECT l.organization_id FROM address_list_entries e
                           JOIN address_lists l ON l.id = e.list_id WHERE e.id = $1";

/// An object to insert under `grant` must be of the grant's organization; else it is reported
/// as not found, like any object of another organization.
fn within(grant: &Grant, org: OrganizationId, kind: &'static str) -> Result<()> {
    if org == grant.organization_id() {
        Ok(())
    } else {
        Err(Error::not_found(kind))
    }
}

impl WriteTx {
    /// The object `id` (its owner read by `query`) exists and belongs to the grant's
    /// organization; else `kind` not found (another organization's object cannot be told from
    /// a missing one).
    async fn owned(&mut self, grant: &Grant, query: &str, id: Uuid, kind: &'static str) -> Result<()> {
        match owner_of(self, query, id).await? {
            Some(Some(owner)) if owner == grant.organization_id().as_uuid() => Ok(()),
            _ => Err(Error::not_found(kind)),
        }
    }

    /// [`WriteTx::owned`] for address lists, whose owner may be the installation (a global list).
    async fn owned_list(
        &mut self,
        grant: &ListGrant,
        query: &str,
        id: Uuid,
        kind: &'static str,
    ) -> Result<()> {
        match owner_of(self, query, id).await? {
            Some(owner) if owner == grant.owner().map(|o| o.as_uuid()) => Ok(()),
            _ => Err(Error::not_found(kind)),
        }
    }

    /// Marks the list's owner (every organization, for a global list) as touched.
    fn touch_list_owner(&mut self, grant: &ListGrant) {
        self.touched.owner(grant.owner().map(|o| o.as_uuid()));
    }
}
