//! IP address management: allocation to organizations, allocation to server interfaces, release.

use super::lookup::{IpRef, OrganizationRef, PermalinkRef};
use super::tenancy::NAME_MAX;
use super::Core;
use crate::access::{Action, Operation, Resource};
use crate::audit::{self, Change, ObjectKind};
use crate::auth::Principal;
use crate::error::{Error, Result, ViolationCode};
use crate::grant::Grant;
use crate::id::{DataCenterId, InterfaceId, IpAddressId, NetworkId, ServerId};
use crate::ipam::IpVersion;
use crate::model::{
    now, Allocation, DataCenter, IpAddress, IpAddressPatch, IpFilter, IpRequest, Network, Server,
};
use crate::page::{Page, PageRequest};
use crate::store::Reads;
use crate::validate::Violations;

fn ip_op(action: Action) -> Operation {
    Operation::new(Resource::IpAddress, action)
}

#[derive(Debug, Clone)]
pub struct CreateIpAddress {
    pub network: NetworkArg,
    pub version: IpVersion,
    pub vip: bool,
    pub label: Option<String>,
}

/// How a request names the network to allocate from.
#[derive(Debug, Clone)]
pub enum NetworkArg {
    /// A lookup argument (Katapult's `network`): a network the caller cannot see is not found,
    /// before the request's other fields are validated.
    Lookup(PermalinkRef<NetworkId>),
    /// A body field (the native `network_id`): an unusable network is a validation violation
    /// at `network_id`, reported with the others.
    Field(NetworkId),
}

/// An address where it lives: its network, that network's data center, and the server it is
/// allocated to, if any, read in the same transaction as the address.
#[derive(Debug, Clone)]
pub struct IpAddressDetail {
    pub ip: IpAddress,
    pub network: Network,
    pub data_center: DataCenter,
    pub server: Option<Server>,
}

/// The network, data center and allocated server of `ip`, read through `reads`.
async fn detail(reads: &mut dyn Reads, ip: IpAddress) -> Result<IpAddressDetail> {
    let network = reads.network(ip.network_id).await?.ok_or(Error::not_found(NetworkId::KIND))?;
    detail_on(reads, ip, network).await
}

/// [`detail`] when the address's network is already at hand.
async fn detail_on(reads: &mut dyn Reads, ip: IpAddress, network: Network) -> Result<IpAddressDetail> {
    let data_center =
        reads.data_center(network.data_center_id).await?.ok_or(Error::not_found(DataCenterId::KIND))?;
    let server = match ip.allocation {
        Some(a) => reads.server(ip.organization_id, a.server_id).await?,
        None => None,
    };
    Ok(IpAddressDetail { ip, network, data_center, server })
}

/// The address `reference` names, if the caller may `action` it, with the grant to do so.
/// Named inside its organization, the organization is authorized before the lookup; named by
/// id or address alone, the scopes are checked first and the owner after, so an address of
/// another organization is reported exactly like a missing one.
async fn locate(
    reads: &mut dyn Reads,
    actor: &Principal,
    reference: &IpRef,
    action: Action,
) -> Result<(Grant, IpAddress)> {
    let op = ip_op(action);
    let found = match reference {
        IpRef::Owned(org, id) => {
            let grant = actor.authorize(*org, op)?;
            let ip = reads.ip_address(*org, *id).await?.ok_or(Error::not_found(IpAddressId::KIND))?;
            return Ok((grant, ip));
        }
        IpRef::Id(id) => {
            actor.require_scopes(op)?;
            reads.ip_address_anywhere(*id).await?
        }
        IpRef::Address(addr) => {
            actor.require_scopes(op)?;
            reads.ip_address_by_address(actor.organization_id(), *addr).await?
        }
    };
    let ip = found.ok_or(Error::not_found(IpAddressId::KIND))?;
    let grant = actor.authorize_object(ip.organization_id, op, IpAddressId::KIND)?;
    Ok((grant, ip))
}

fn check_label(v: &mut Violations, vip: bool, label: Option<&str>) {
    match label {
        Some(label) => v.text("label", label, 1, NAME_MAX),
        None if vip => v.push("label", ViolationCode::Required, "can't be blank"),
        None => {}
    }
}

/// A DNS name: dot-separated labels of letters, digits and hyphens, at most 253 characters.
fn check_hostname(v: &mut Violations, path: &str, name: &str) {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.trim_end_matches('.').split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if !ok {
        v.push(path, ViolationCode::InvalidValue, "must be a DNS name such as host.example.net");
    }
}

impl Core {
    /// Allocates an address of `input.version` from a network the organization may use.
    pub async fn create_ip_address(
        &self,
        actor: &Principal,
        org: impl Into<OrganizationRef> + Send,
        input: CreateIpAddress,
    ) -> Result<IpAddressDetail> {
        let org = self.resolve_organization(&org.into()).await?;
        let grant = actor.authorize(org, ip_op(Action::Create))?;
        let network_id = match &input.network {
            NetworkArg::Lookup(reference) => self.visible_network(actor, reference).await?.1.id,
            NetworkArg::Field(id) => *id,
        };
        let mut tx = self.write(actor).await?;
        let mut v = Violations::new();
        check_label(&mut v, input.vip, input.label.as_deref());
        let network = tx.network(network_id).await?.filter(|n| n.usable_by(org));
        match &network {
            None => v.push("network_id", ViolationCode::InvalidReference, "no such network"),
            Some(n) if n.prefixes_of(input.version).next().is_none() => v.push(
                "version",
                ViolationCode::InvalidValue,
                format!(
                    "the network has no {} prefix",
                    if input.version == IpVersion::V4 { "IPv4" } else { "IPv6" }
                ),
            ),
            Some(_) => {}
        }
        v.finish()?;
        let network = network.ok_or(Error::not_found(NetworkId::KIND))?;
        Self::existing_in(&mut *tx, org).await?;
        let request = IpRequest {
            id: IpAddressId::random(),
            organization_id: org,
            network: network.clone(),
            version: input.version,
            vip: input.vip,
            label: input.label,
            reverse_dns_pattern: self.settings.reverse_dns_pattern.clone(),
            allocation: None,
            created_at: now(),
        };
        let ip = tx.allocate_ip(&grant, &request).await?;
        tx.record(Change::created(Some(org), ObjectKind::IpAddress, ip.id, &ip)).await?;
        let detail = detail_on(&mut *tx, ip, network).await?;
        tx.commit().await?;
        Ok(detail)
    }

    /// One address, where it lives.
    pub async fn ip_address(&self, actor: &Principal, reference: &IpRef) -> Result<IpAddressDetail> {
        let mut reads = self.read().await?;
        let (_, ip) = locate(&mut *reads, actor, reference, Action::Read).await?;
        detail(&mut *reads, ip).await
    }

    pub async fn list_ip_addresses(
        &self,
        actor: &Principal,
        org: impl Into<OrganizationRef> + Send,
        filter: IpFilter,
        page: PageRequest,
    ) -> Result<Page<IpAddress>> {
        let (org, mut reads) = self.read_in_organization(actor, &org.into(), ip_op(Action::List)).await?;
        reads.list_ip_addresses(org, filter, page).await
    }

    /// Changes an address's VIP flag, label or reverse DNS, validated against its locked row.
    pub async fn update_ip_address(
        &self,
        actor: &Principal,
        reference: &IpRef,
        patch: IpAddressPatch,
    ) -> Result<IpAddressDetail> {
        let mut tx = self.write(actor).await?;
        let (grant, current) = Self::locked_ip(&mut *tx, actor, reference, Action::Update).await?;
        let before = audit::state(&current);
        let mut v = Violations::new();
        let vip = patch.vip.unwrap_or(current.vip);
        let label = patch.label.clone().unwrap_or(current.label);
        check_label(&mut v, vip, label.as_deref());
        if let Some(name) = &patch.reverse_dns {
            check_hostname(&mut v, "reverse_dns", name);
        }
        v.finish()?;
        let updated = tx.update_ip_address(&grant, current.id, &patch).await?;
        tx.record(Change::updated(
            Some(updated.organization_id),
            ObjectKind::IpAddress,
            updated.id,
            &before,
            &updated,
        ))
        .await?;
        let detail = detail(&mut *tx, updated).await?;
        tx.commit().await?;
        Ok(detail)
    }

    /// Returns an address to its network; refused while it is allocated.
    pub async fn release_ip_address(&self, actor: &Principal, reference: &IpRef) -> Result<()> {
        let mut tx = self.write(actor).await?;
        let (grant, ip) = locate(&mut *tx, actor, reference, Action::Delete).await?;
        tx.release_ip_address(&grant, ip.id).await?;
        tx.record(Change::deleted(Some(ip.organization_id), ObjectKind::IpAddress, ip.id, &ip)).await?;
        tx.commit().await
    }

    /// Allocates the address to an interface of a server of the same organization, on the
    /// address's network.
    pub async fn allocate_ip_address(
        &self,
        actor: &Principal,
        reference: &IpRef,
        server_id: ServerId,
        interface_id: InterfaceId,
    ) -> Result<IpAddressDetail> {
        let mut tx = self.write(actor).await?;
        let (grant, ip) = Self::locked_ip(&mut *tx, actor, reference, Action::Update).await?;
        let mut v = Violations::new();
        match tx.server(ip.organization_id, server_id).await? {
            None => v.push("server_id", ViolationCode::InvalidReference, "no such server"),
            Some(server) => match server.interfaces.iter().find(|i| i.id == interface_id) {
                None => {
                    v.push("interface_id", ViolationCode::InvalidReference, "no such interface on the server")
                }
                Some(iface) if iface.network_id != ip.network_id => {
                    v.push("interface_id", ViolationCode::InvalidValue, "the interface is on another network")
                }
                Some(_) => {}
            },
        }
        v.finish()?;
        let allocated =
            tx.set_ip_allocation(&grant, ip.id, Some(Allocation { server_id, interface_id })).await?;
        tx.record(Change::updated(
            Some(ip.organization_id),
            ObjectKind::IpAddress,
            ip.id,
            &audit::state(&ip),
            &allocated,
        ))
        .await?;
        let detail = detail(&mut *tx, allocated).await?;
        tx.commit().await?;
        Ok(detail)
    }

    /// Detaches the address from its server; the organization keeps it.
    pub async fn unallocate_ip_address(
        &self,
        actor: &Principal,
        reference: &IpRef,
    ) -> Result<IpAddressDetail> {
        let mut tx = self.write(actor).await?;
        let (grant, ip) = Self::locked_ip(&mut *tx, actor, reference, Action::Update).await?;
        if ip.allocation.is_none() {
            return Err(Error::NotAllocated);
        }
        let unallocated = tx.set_ip_allocation(&grant, ip.id, None).await?;
        tx.record(Change::updated(
            Some(ip.organization_id),
            ObjectKind::IpAddress,
            ip.id,
            &audit::state(&ip),
            &unallocated,
        ))
        .await?;
        let detail = detail(&mut *tx, unallocated).await?;
        tx.commit().await?;
        Ok(detail)
    }

    /// The address `reference` names, authorized for `action` and locked in `tx` until commit.
    async fn locked_ip(
        tx: &mut dyn crate::store::Writes,
        actor: &Principal,
        reference: &IpRef,
        action: Action,
    ) -> Result<(Grant, IpAddress)> {
        let (grant, ip) = locate(&mut *tx, actor, reference, action).await?;
        let locked = tx
            .ip_address_for_update(ip.organization_id, ip.id)
            .await?
            .ok_or(Error::not_found(IpAddressId::KIND))?;
        Ok((grant, locked))
    }
}
