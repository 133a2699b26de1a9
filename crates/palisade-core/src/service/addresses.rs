//! IP address management: allocation to organizations, allocation to server interfaces, release.

use super::tenancy::NAME_MAX;
use super::Core;
use crate::access::{Action, Operation, Resource};
use crate::auth::Principal;
use crate::error::{Error, Result, ViolationCode};
use crate::id::{InterfaceId, IpAddressId, NetworkId, OrganizationId, ServerId};
use crate::ipam::IpVersion;
use crate::model::{now, Allocation, IpAddress, IpAddressPatch, IpFilter, IpRequest};
use crate::page::{Page, PageRequest};
use crate::validate::Violations;

fn ip_op(action: Action) -> Operation {
    Operation::new(Resource::IpAddress, action)
}

#[derive(Debug, Clone)]
pub struct CreateIpAddress {
    pub network_id: NetworkId,
    pub version: IpVersion,
    pub vip: bool,
    pub label: Option<String>,
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
    pub async fn create_ip_address(
        &self,
        actor: &Principal,
        org: OrganizationId,
        input: CreateIpAddress,
    ) -> Result<IpAddress> {
        let grant = actor.authorize(org, ip_op(Action::Create))?;
        let mut v = Violations::new();
        check_label(&mut v, input.vip, input.label.as_deref());
        let network = self.read().await?.network(input.network_id).await?.filter(|n| n.usable_by(org));
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
        self.existing_organization(org).await?;
        let request = IpRequest {
            id: IpAddressId::random(),
            organization_id: org,
            network,
            version: input.version,
            vip: input.vip,
            label: input.label,
            reverse_dns_pattern: self.settings.reverse_dns_pattern.clone(),
            allocation: None,
            created_at: now(),
        };
        write_one!(self, allocate_ip(&grant, &request))
    }

    pub async fn ip_address(
        &self,
        actor: &Principal,
        org: OrganizationId,
        id: IpAddressId,
    ) -> Result<IpAddress> {
        actor.authorize(org, ip_op(Action::Read))?;
        self.read().await?.ip_address(org, id).await?.ok_or(Error::not_found(IpAddressId::KIND))
    }

    pub async fn list_ip_addresses(
        &self,
        actor: &Principal,
        org: OrganizationId,
        filter: IpFilter,
        page: PageRequest,
    ) -> Result<Page<IpAddress>> {
        actor.authorize(org, ip_op(Action::List))?;
        self.existing_organization(org).await?;
        self.read().await?.list_ip_addresses(org, filter, page).await
    }

    pub async fn update_ip_address(
        &self,
        actor: &Principal,
        org: OrganizationId,
        id: IpAddressId,
        patch: IpAddressPatch,
    ) -> Result<IpAddress> {
        let grant = actor.authorize(org, ip_op(Action::Update))?;
        let mut tx = self.write().await?;
        let current = tx.ip_address_for_update(org, id).await?.ok_or(Error::not_found(IpAddressId::KIND))?;
        let mut v = Violations::new();
        let vip = patch.vip.unwrap_or(current.vip);
        let label = patch.label.clone().unwrap_or(current.label);
        check_label(&mut v, vip, label.as_deref());
        if let Some(name) = &patch.reverse_dns {
            check_hostname(&mut v, "reverse_dns", name);
        }
        v.finish()?;
        let updated = tx.update_ip_address(&grant, id, &patch).await?;
        tx.commit().await?;
        Ok(updated)
    }

    pub async fn release_ip_address(
        &self,
        actor: &Principal,
        org: OrganizationId,
        id: IpAddressId,
    ) -> Result<()> {
        let grant = actor.authorize(org, ip_op(Action::Delete))?;
        write_one!(self, release_ip_address(&grant, id))
    }

    /// Allocates the address to an interface of a server of the same organization, on the
    /// address's network.
    pub async fn allocate_ip_address(
        &self,
        actor: &Principal,
        org: OrganizationId,
        id: IpAddressId,
        server_id: ServerId,
        interface_id: InterfaceId,
    ) -> Result<IpAddress> {
        let grant = actor.authorize(org, ip_op(Action::Update))?;
        let mut tx = self.write().await?;
        let ip = tx.ip_address_for_update(org, id).await?.ok_or(Error::not_found(IpAddressId::KIND))?;
        let mut v = Violations::new();
        match tx.server(org, server_id).await? {
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
            tx.set_ip_allocation(&grant, id, Some(Allocation { server_id, interface_id })).await?;
        tx.commit().await?;
        Ok(allocated)
    }

    pub async fn unallocate_ip_address(
        &self,
        actor: &Principal,
        org: OrganizationId,
        id: IpAddressId,
    ) -> Result<IpAddress> {
        let grant = actor.authorize(org, ip_op(Action::Update))?;
        let mut tx = self.write().await?;
        let ip = tx.ip_address_for_update(org, id).await?.ok_or(Error::not_found(IpAddressId::KIND))?;
        if ip.allocation.is_none() {
            return Err(Error::NotAllocated);
        }
        let unallocated = tx.set_ip_allocation(&grant, id, None).await?;
        tx.commit().await?;
        Ok(unallocated)
    }
}
