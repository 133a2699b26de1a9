//! Inventory: data centers, networks, servers and their interfaces.
//!
//! A server may belong to one server group of its organization (Katapult's virtual machine
//! groups): that membership is what a group member or a rule remote naming the server group
//! means, so changing it is a policy write. Naming a server group in a change needs the right to
//! read server groups, checked before anything is looked up (as naming a role does), so a change
//! cannot be used to probe for groups; another organization's group is not found, like a missing
//! one.

use std::collections::BTreeSet;
use std::net::IpAddr;

use time::OffsetDateTime;

use super::addresses::IpAddressDetail;
use super::lookup::OrganizationRef;
use super::tenancy::NAME_MAX;
use super::Core;
use crate::access::{Action, Operation, Resource};
use crate::audit::{self, Change, ObjectKind};
use crate::auth::Principal;
use crate::error::{Error, Result, ViolationCode};
use crate::grant::Grant;
use crate::id::{DataCenterId, InterfaceId, IpAddressId, NetworkId, OrganizationId, ServerGroupId, ServerId};
use crate::ipam;
use crate::limits::{MAX_ADDRESSES, MAX_INTERFACES, MAX_PREFIXES, MAX_RESERVED, MAX_TAGS};
use crate::model::{
    now, Allocation, Country, DataCenter, Interface, IpAddress, Network, Organization, Server,
};
use crate::page::{Page, PageRequest};
use crate::policy::{ServerGroup, Tag};
use crate::store::{Reads, Writes};
use crate::validate::Violations;

#[derive(Debug, Clone)]
pub struct CreateDataCenter {
    pub name: String,
    pub permalink: String,
    pub country: Country,
}

#[derive(Debug, Clone)]
pub struct CreateNetwork {
    pub name: String,
    pub permalink: Option<String>,
    pub data_center_id: DataCenterId,
    pub prefixes: Vec<String>,
    /// Addresses or CIDRs inside the prefixes that are never handed out.
    pub reserved: Vec<String>,
    pub is_default: bool,
    pub organization_id: Option<OrganizationId>,
}

/// Changes to a data center; `None` keeps a field as it is.
#[derive(Debug, Clone, Default)]
pub struct DataCenterPatch {
    pub name: Option<String>,
    pub permalink: Option<String>,
    pub country: Option<Country>,
}

/// Changes to a network; `None` keeps a field as it is, `permalink: Some(None)` removes it.
/// Prefixes and reserved ranges are not changed here: addresses are allocated from them.
#[derive(Debug, Clone, Default)]
pub struct NetworkPatch {
    pub name: Option<String>,
    pub permalink: Option<Option<String>>,
    pub is_default: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct CreateInterface {
    pub network_id: NetworkId,
    pub addresses: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct CreateServer {
    pub name: String,
    pub interfaces: Vec<CreateInterface>,
    pub tags: Vec<String>,
}

/// Changes to a server; `None` keeps a field as it is. `server_group: Some(None)` takes the
/// server out of its group. Its interfaces and addresses are changed through IP address
/// management, not here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerPatch {
    pub name: Option<String>,
    pub tags: Option<Vec<String>>,
    pub server_group: Option<Option<ServerGroupId>>,
}

/// How a client names a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerRef {
    /// By id alone (Katapult's `virtual_machine[id]`): the scopes are checked first, the owner
    /// after the lookup, so another organization's server is reported like a missing one.
    Id(ServerId),
    /// By id inside the organization a path names (the native API), authorized before the
    /// lookup.
    Owned(OrganizationId, ServerId),
}

/// A server with what faces show beside it, read in one handle: its organization, its server
/// group, the organization's tag objects named like the server's tags (a tag name without an
/// object has none), and the address records of its interfaces with their networks.
#[derive(Debug, Clone)]
pub struct ServerDetail {
    pub server: Server,
    pub organization: Organization,
    pub group: Option<ServerGroup>,
    /// In the order of the server's tags.
    pub tags: Vec<Tag>,
    /// In creation order.
    pub addresses: Vec<IpAddressDetail>,
}

/// Where a planned interface belongs, and the path prefix of its violations.
#[derive(Debug)]
pub(super) struct InterfacePlan {
    pub org: OrganizationId,
    pub server_id: ServerId,
    pub created_at: OffsetDateTime,
    pub at: String,
}

/// A server's tags: at most [`MAX_TAGS`], each 1..255 characters, none twice.
pub(super) fn check_tags(v: &mut Violations, tags: &[String]) {
    if !v.count("tags", tags.len(), MAX_TAGS) {
        return;
    }
    let mut seen = BTreeSet::new();
    for (i, tag) in tags.iter().enumerate() {
        let path = format!("tags[{i}]");
        v.text(&path, tag, 1, NAME_MAX);
        if !seen.insert(tag) {
            v.push(path, ViolationCode::Duplicate, "is listed twice");
        }
    }
}

/// A data center's country: a name, ISO 3166-1 codes, an IANA time zone name.
fn check_country(v: &mut Violations, c: &Country) {
    v.text("country.name", &c.name, 1, NAME_MAX);
    let upper = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_uppercase());
    if !upper(&c.iso_code2, 2) {
        v.push(
            "country.iso_code2",
            ViolationCode::InvalidValue,
            "must be two upper-case letters (ISO 3166-1 alpha-2)",
        );
    }
    if !upper(&c.iso_code3, 3) {
        v.push(
            "country.iso_code3",
            ViolationCode::InvalidValue,
            "must be three upper-case letters (ISO 3166-1 alpha-3)",
        );
    }
    let tz_ok = !c.time_zone.is_empty()
        && c.time_zone.len() <= 64
        && c.time_zone.bytes().all(|b| b.is_ascii_alphanumeric() || b"/_+-".contains(&b));
    if !tz_ok {
        v.push(
            "country.time_zone",
            ViolationCode::InvalidValue,
            "must be an IANA time zone name such as Europe/London",
        );
    }
}

impl Core {
    pub async fn create_data_center(&self, actor: &Principal, input: CreateDataCenter) -> Result<DataCenter> {
        let grant = actor.require_operator()?;
        let mut v = Violations::new();
        v.text("name", &input.name, 1, NAME_MAX);
        v.slug("permalink", &input.permalink);
        check_country(&mut v, &input.country);
        v.finish()?;
        let dc = DataCenter {
            id: DataCenterId::random(),
            name: input.name,
            permalink: input.permalink,
            country: input.country,
            created_at: now(),
        };
        let created = Change::created(None, ObjectKind::DataCenter, dc.id, &dc);
        write_one!(self, actor, created, insert_data_center(&grant, &dc))?;
        Ok(dc)
    }

    pub async fn data_center(&self, actor: &Principal, id: DataCenterId) -> Result<DataCenter> {
        actor.require_operator()?;
        self.read().await?.data_center(id).await?.ok_or(Error::not_found(DataCenterId::KIND))
    }

    pub async fn list_data_centers(&self, actor: &Principal, page: PageRequest) -> Result<Page<DataCenter>> {
        actor.require_operator()?;
        self.read().await?.list_data_centers(page).await
    }

    /// Changes a data center's name, permalink or country, reading it locked (so concurrent
    /// changes of different fields all land). Data centers decide no policy: no revision moves.
    pub async fn update_data_center(
        &self,
        actor: &Principal,
        id: DataCenterId,
        patch: DataCenterPatch,
    ) -> Result<DataCenter> {
        let grant = actor.require_operator()?;
        let mut v = Violations::new();
        if let Some(name) = &patch.name {
            v.text("name", name, 1, NAME_MAX);
        }
        if let Some(permalink) = &patch.permalink {
            v.slug("permalink", permalink);
        }
        if let Some(country) = &patch.country {
            check_country(&mut v, country);
        }
        v.finish()?;
        let mut tx = self.write(actor).await?;
        let mut dc = tx.data_center_for_update(id).await?.ok_or(Error::not_found(DataCenterId::KIND))?;
        let before = audit::state(&dc);
        dc.name = patch.name.unwrap_or(dc.name);
        dc.permalink = patch.permalink.unwrap_or(dc.permalink);
        dc.country = patch.country.unwrap_or(dc.country);
        tx.update_data_center(&grant, &dc).await?;
        tx.record(Change::updated(None, ObjectKind::DataCenter, id, &before, &dc)).await?;
        tx.commit().await?;
        Ok(dc)
    }

    /// Deletes a data center that has no networks ([`Error::InUse`] saying how many networks
    /// and servers use it otherwise). It is locked first, so no network can be added between
    /// the count and the deletion.
    pub async fn delete_data_center(&self, actor: &Principal, id: DataCenterId) -> Result<()> {
        let grant = actor.require_operator()?;
        let mut tx = self.write(actor).await?;
        let dc = tx.data_center_for_update(id).await?.ok_or(Error::not_found(DataCenterId::KIND))?;
        let used_by = tx.data_center_usage(id).await?;
        if !used_by.is_empty() {
            return Err(Error::InUse { kind: DataCenterId::KIND, used_by });
        }
        tx.delete_data_center(&grant, id).await?;
        tx.record(Change::deleted(None, ObjectKind::DataCenter, id, &dc)).await?;
        tx.commit().await
    }

    pub async fn create_network(&self, actor: &Principal, input: CreateNetwork) -> Result<Network> {
        let grant = actor.require_operator()?;
        let mut v = Violations::new();
        v.text("name", &input.name, 1, NAME_MAX);
        if let Some(permalink) = &input.permalink {
            v.slug("permalink", permalink);
        }
        if input.prefixes.is_empty() || input.prefixes.len() > MAX_PREFIXES {
            v.push(
                "prefixes",
                ViolationCode::InvalidLength,
                format!("must list between 1 and {MAX_PREFIXES} prefixes"),
            );
        }
        if !v.count("reserved", input.reserved.len(), MAX_RESERVED) || input.prefixes.len() > MAX_PREFIXES {
            // Refused as a whole: no per-item parsing.
            v.checkpoint()?;
        }
        let mut prefixes = Vec::with_capacity(input.prefixes.len());
        for (i, p) in input.prefixes.iter().enumerate() {
            let path = format!("prefixes[{i}]");
            if let Some(net) = v.prefix(&path, p) {
                if let Some(other) =
                    prefixes.iter().find(|o: &&ipnet::IpNet| o.contains(&net) || net.contains(*o))
                {
                    v.push(path, ViolationCode::Duplicate, format!("overlaps {other}"));
                } else {
                    prefixes.push(net);
                }
            }
        }
        let mut reserved = Vec::with_capacity(input.reserved.len());
        for (i, r) in input.reserved.iter().enumerate() {
            let path = format!("reserved[{i}]");
            if let Some(net) = v.network_or_address(&path, r) {
                if prefixes.iter().any(|p: &ipnet::IpNet| p.contains(&net)) {
                    reserved.push(net);
                } else {
                    v.push(
                        path,
                        ViolationCode::InvalidValue,
                        "must lie inside one of the network's prefixes",
                    );
                }
            }
        }
        if self.read().await?.data_center(input.data_center_id).await?.is_none() {
            v.push("data_center_id", ViolationCode::InvalidReference, "no such data center");
        }
        if let Some(org) = input.organization_id {
            if self.read().await?.organization(org).await?.is_none() {
                v.push("organization_id", ViolationCode::InvalidReference, "no such organization");
            }
        }
        v.finish()?;
        let network = Network {
            id: NetworkId::random(),
            name: input.name,
            permalink: input.permalink,
            data_center_id: input.data_center_id,
            prefixes,
            reserved,
            is_default: input.is_default,
            organization_id: input.organization_id,
            created_at: now(),
        };
        let created = Change::created(network.organization_id, ObjectKind::Network, network.id, &network);
        write_one!(self, actor, created, insert_network(&grant, &network))?;
        Ok(network)
    }

    pub async fn network(&self, actor: &Principal, id: NetworkId) -> Result<Network> {
        actor.require_operator()?;
        self.read().await?.network(id).await?.ok_or(Error::not_found(NetworkId::KIND))
    }

    pub async fn list_networks(&self, actor: &Principal, page: PageRequest) -> Result<Page<Network>> {
        actor.require_operator()?;
        self.read().await?.list_networks(None, page).await
    }

    /// Changes a network's name, permalink or default flag, reading it locked (so concurrent
    /// changes of different fields all land). Its prefixes and reserved ranges stay: addresses
    /// are allocated from them. Networks decide no policy: no revision moves.
    pub async fn update_network(
        &self,
        actor: &Principal,
        id: NetworkId,
        patch: NetworkPatch,
    ) -> Result<Network> {
        let grant = actor.require_operator()?;
        let mut v = Violations::new();
        if let Some(name) = &patch.name {
            v.text("name", name, 1, NAME_MAX);
        }
        if let Some(Some(permalink)) = &patch.permalink {
            v.slug("permalink", permalink);
        }
        v.finish()?;
        let mut tx = self.write(actor).await?;
        let mut network = tx.network_for_update(id).await?.ok_or(Error::not_found(NetworkId::KIND))?;
        let before = audit::state(&network);
        network.name = patch.name.unwrap_or(network.name);
        network.permalink = patch.permalink.unwrap_or(network.permalink);
        network.is_default = patch.is_default.unwrap_or(network.is_default);
        tx.update_network(&grant, &network).await?;
        tx.record(Change::updated(network.organization_id, ObjectKind::Network, id, &before, &network))
            .await?;
        tx.commit().await?;
        Ok(network)
    }

    /// Deletes a network nothing uses: no server interface or host on it, no address record in
    /// it, no security group attached to it ([`Error::InUse`] saying how many of each
    /// otherwise). It is locked first, so nothing can start using it between the count and the
    /// deletion.
    pub async fn delete_network(&self, actor: &Principal, id: NetworkId) -> Result<()> {
        let grant = actor.require_operator()?;
        let mut tx = self.write(actor).await?;
        let network = tx.network_for_update(id).await?.ok_or(Error::not_found(NetworkId::KIND))?;
        let used_by = tx.network_usage(id).await?;
        if !used_by.is_empty() {
            return Err(Error::InUse { kind: NetworkId::KIND, used_by });
        }
        tx.delete_network(&grant, id).await?;
        tx.record(Change::deleted(network.organization_id, ObjectKind::Network, id, &network)).await?;
        tx.commit().await
    }

    pub async fn create_server(
        &self,
        actor: &Principal,
        org: OrganizationId,
        input: CreateServer,
    ) -> Result<Server> {
        let grant = actor.authorize(org, Operation::new(Resource::Server, Action::Create))?;
        let mut v = Violations::new();
        v.text("name", &input.name, 1, NAME_MAX);
        check_tags(&mut v, &input.tags);
        // Counted before any interface's network is looked up (each interface's addresses are
        // counted in `plan_interface`, before its lookup).
        if !v.count("interfaces", input.interfaces.len(), MAX_INTERFACES) {
            v.checkpoint()?;
        }
        let server_id = ServerId::random();
        let created_at = now();
        let mut interfaces = Vec::with_capacity(input.interfaces.len());
        let mut claims = Vec::new();
        let mut seen = BTreeSet::new();
        // Every lookup of the validation through one read handle, released before the write.
        let mut reads = self.read().await?;
        for (i, iface) in input.interfaces.iter().enumerate() {
            let planned = InterfacePlan { org, server_id, created_at, at: format!("interfaces[{i}].") };
            if let Some(interface) =
                self.plan_interface(&mut *reads, &mut v, &planned, iface, &mut seen, &mut claims).await?
            {
                interfaces.push(interface);
            }
        }
        v.finish()?;
        Self::existing_in(&mut *reads, org).await?;
        drop(reads);
        let server = Server {
            id: server_id,
            organization_id: org,
            name: input.name,
            interfaces,
            tags: input.tags,
            server_group: None,
            created_at,
        };
        let created = Change::created(Some(org), ObjectKind::Server, server.id, &server);
        write_one!(self, actor, created, insert_server(&grant, &server, &claims))?;
        Ok(server)
    }

    /// Validates one interface of a new server and plans the claims of its addresses. Violation
    /// paths start with `plan.at`; addresses are checked for duplicates across `seen`.
    pub(super) async fn plan_interface(
        &self,
        reads: &mut dyn Reads,
        v: &mut Violations,
        plan: &InterfacePlan,
        iface: &CreateInterface,
        seen: &mut BTreeSet<(NetworkId, IpAddr)>,
        claims: &mut Vec<IpAddress>,
    ) -> Result<Option<Interface>> {
        let at = &plan.at;
        if !v.count(&format!("{at}addresses"), iface.addresses.len(), MAX_ADDRESSES) {
            return Ok(None);
        }
        let network = reads.network(iface.network_id).await?.filter(|n| n.usable_by(plan.org));
        let Some(network) = network else {
            v.push(format!("{at}network_id"), ViolationCode::InvalidReference, "no such network");
            return Ok(None);
        };
        let interface_id = InterfaceId::random();
        let mut addresses = Vec::with_capacity(iface.addresses.len());
        for (j, text) in iface.addresses.iter().enumerate() {
            let path = format!("{at}addresses[{j}]");
            let Some(addr) = v.address(&path, text) else { continue };
            let prefix = network.prefix_of(addr).filter(|p| ipam::is_allocatable(p, addr, &network.reserved));
            let Some(prefix) = prefix else {
                v.push(
                    path,
                    ViolationCode::InvalidValue,
                    "is not an allocatable address of the network (outside its prefixes, reserved, or a network or broadcast address)",
                );
                continue;
            };
            if !seen.insert((network.id, addr)) {
                v.push(path, ViolationCode::Duplicate, "is listed twice");
                continue;
            }
            addresses.push(addr);
            claims.push(IpAddress {
                id: IpAddressId::random(),
                organization_id: plan.org,
                network_id: network.id,
                address: addr,
                prefix_len: prefix.prefix_len(),
                vip: false,
                label: None,
                reverse_dns: ipam::reverse_dns(&self.settings.reverse_dns_pattern, addr),
                allocation: Some(Allocation { server_id: plan.server_id, interface_id }),
                server_owned: true,
                created_at: plan.created_at,
            });
        }
        Ok(Some(Interface { id: interface_id, network_id: network.id, addresses }))
    }

    pub async fn server(&self, actor: &Principal, org: OrganizationId, id: ServerId) -> Result<Server> {
        actor.authorize(org, Operation::new(Resource::Server, Action::Read))?;
        self.read().await?.server(org, id).await?.ok_or(Error::not_found(ServerId::KIND))
    }

    pub async fn list_servers(
        &self,
        actor: &Principal,
        org: impl Into<OrganizationRef> + Send,
        page: PageRequest,
    ) -> Result<Page<Server>> {
        let op = Operation::new(Resource::Server, Action::List);
        let (org, mut reads) = self.read_in_organization(actor, &org.into(), op).await?;
        reads.list_servers(org, page).await
    }

    /// A server with its organization, server group, tag objects and addresses
    /// ([`ServerDetail`]), read in one handle.
    pub async fn server_detail(&self, actor: &Principal, reference: ServerRef) -> Result<ServerDetail> {
        let op = Operation::new(Resource::Server, Action::Read);
        let mut reads = self.read().await?;
        let found = match reference {
            ServerRef::Owned(org, id) => {
                actor.authorize(org, op)?;
                reads.server(org, id).await?
            }
            ServerRef::Id(id) => {
                actor.require_scopes(op)?;
                reads.server_anywhere(id).await?
            }
        };
        let server = found.ok_or(Error::not_found(ServerId::KIND))?;
        actor.authorize_object(server.organization_id, op, ServerId::KIND)?;
        Self::detail_of(&mut *reads, server).await
    }

    /// Changes a server's name, tags or server group in one transaction, reading the server
    /// locked (so concurrent changes of different fields all land). Naming a server group needs
    /// the right to read server groups, checked with the operation's own scopes before anything
    /// is looked up; a group that is missing or of another organization is not found. Moving a
    /// server between groups changes what policy naming either group means, so it bumps the
    /// organization's policy revision.
    pub async fn update_server(
        &self,
        actor: &Principal,
        reference: ServerRef,
        patch: ServerPatch,
    ) -> Result<ServerDetail> {
        let op = Operation::new(Resource::Server, Action::Update);
        match reference {
            ServerRef::Owned(org, _) => {
                actor.authorize(org, op)?;
            }
            ServerRef::Id(_) => actor.require_scopes(op)?,
        }
        if let Some(Some(_)) = patch.server_group {
            actor.require_scopes(Operation::new(Resource::ServerGroup, Action::Read))?;
        }
        let mut tx = self.write(actor).await?;
        let (grant, mut server) = Self::locked_server(&mut *tx, actor, reference, op).await?;
        let before = audit::state(&server);
        if let Some(Some(group)) = patch.server_group {
            let found = tx.server_group(group).await?;
            if found.is_none_or(|g| g.organization_id != server.organization_id) {
                return Err(Error::not_found(ServerGroupId::KIND));
            }
        }
        let mut v = Violations::new();
        if let Some(name) = patch.name {
            v.text("name", &name, 1, NAME_MAX);
            server.name = name;
        }
        if let Some(tags) = patch.tags {
            check_tags(&mut v, &tags);
            server.tags = tags;
        }
        v.finish()?;
        if let Some(group) = patch.server_group {
            server.server_group = group;
        }
        tx.update_server(&grant, &server).await?;
        let (org, id) = (server.organization_id, server.id);
        tx.record(Change::updated(Some(org), ObjectKind::Server, id, &before, &server)).await?;
        let detail = Self::detail_of(&mut *tx, server).await?;
        tx.commit().await?;
        Ok(detail)
    }

    /// The server `reference` names, locked in `tx`, if the caller may `op` it.
    async fn locked_server(
        tx: &mut dyn Writes,
        actor: &Principal,
        reference: ServerRef,
        op: Operation,
    ) -> Result<(Grant, Server)> {
        let (id, org) = match reference {
            ServerRef::Owned(org, id) => (id, Some(org)),
            ServerRef::Id(id) => (id, None),
        };
        let server = tx
            .server_for_update(id)
            .await?
            .filter(|s| org.is_none_or(|org| org == s.organization_id))
            .ok_or(Error::not_found(ServerId::KIND))?;
        let grant = actor.authorize_object(server.organization_id, op, ServerId::KIND)?;
        Ok((grant, server))
    }

    /// What [`ServerDetail`] adds to `server`, read through `reads`.
    async fn detail_of(reads: &mut dyn Reads, server: Server) -> Result<ServerDetail> {
        let org = server.organization_id;
        let organization = Self::existing_in(reads, org).await?;
        let group = match server.server_group {
            Some(id) => reads.server_group(id).await?.filter(|g| g.organization_id == org),
            None => None,
        };
        let tags = if server.tags.is_empty() {
            Vec::new()
        } else {
            let all = reads.list_tags(org, PageRequest::all()).await?.items;
            server.tags.iter().filter_map(|name| all.iter().find(|t| &t.name == name).cloned()).collect()
        };
        let mut networks: Vec<(Network, DataCenter)> = Vec::new();
        let mut addresses = Vec::new();
        for ip in reads.server_ip_addresses(org, server.id).await? {
            if !networks.iter().any(|(n, _)| n.id == ip.network_id) {
                let network = reads.network(ip.network_id).await?.ok_or(Error::not_found(NetworkId::KIND))?;
                let dc = reads
                    .data_center(network.data_center_id)
                    .await?
                    .ok_or(Error::not_found(DataCenterId::KIND))?;
                networks.push((network, dc));
            }
            if let Some((network, data_center)) = networks.iter().find(|(n, _)| n.id == ip.network_id) {
                addresses.push(IpAddressDetail {
                    ip,
                    network: network.clone(),
                    data_center: data_center.clone(),
                    server: Some(server.clone()),
                });
            }
        }
        Ok(ServerDetail { server, organization, group, tags, addresses })
    }

    pub async fn delete_server(&self, actor: &Principal, org: OrganizationId, id: ServerId) -> Result<()> {
        let grant = actor.authorize(org, Operation::new(Resource::Server, Action::Delete))?;
        let mut tx = self.write(actor).await?;
        let server = tx
            .server_for_update(id)
            .await?
            .filter(|s| s.organization_id == org)
            .ok_or(Error::not_found(ServerId::KIND))?;
        tx.delete_server(&grant, id).await?;
        tx.record(Change::deleted(Some(org), ObjectKind::Server, id, &server)).await?;
        tx.commit().await
    }
}
