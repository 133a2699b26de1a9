//! Hosts of overlay networks (Defined Networking's hosts): canonical servers with one interface
//! on the overlay network, a role, and Nebula's per-host settings.
//!
//! Creating a host creates a server, so the native API lists it among the organization's
//! servers and policy sees it like any other; there is no second copy. A host's role is its
//! membership of one role group, written in the same transaction as the host.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use super::inventory::{check_tags, InterfacePlan};
use super::tenancy::NAME_MAX;
use super::Core;
use crate::access::{Action, Operation, Resource};
use crate::audit::{self, Change, ObjectKind};
use crate::auth::Principal;
use crate::error::{Error, Result, ViolationCode};
use crate::id::{IpAddressId, NetworkId, OrganizationId, SecurityGroupId, ServerId};
use crate::ipam::IpVersion;
use crate::limits::{MAX_CONFIG_OVERRIDES, MAX_CONFIG_OVERRIDES_BYTES, MAX_STATIC_ADDRESSES};
use crate::model::{now, Allocation, Host, HostFilter, IpRequest, Overlay, Server};
use crate::page::{Page, PageRequest};
use crate::service::CreateInterface;
use crate::store::Reads;
use crate::validate::{json_has_nul, Violations};

fn host_op(action: Action) -> Operation {
    Operation::new(Resource::Host, action)
}

#[derive(Debug, Clone)]
pub struct CreateHost {
    pub name: String,
    pub network_id: NetworkId,
    /// Addresses in the network; none asks IPAM for one (IPv4 when the network has it).
    pub addresses: Vec<String>,
    pub role: Option<SecurityGroupId>,
    pub tags: Vec<String>,
    pub overlay: Overlay,
}

/// Changes to a host; `None` keeps a field as it is. The network and the addresses are fixed at
/// creation: when given, they must be the host's own.
#[derive(Debug, Clone, Default)]
pub struct HostPatch {
    pub name: Option<String>,
    pub role: Option<Option<SecurityGroupId>>,
    pub tags: Option<Vec<String>>,
    pub listen_port: Option<u16>,
    pub is_lighthouse: Option<bool>,
    pub is_relay: Option<bool>,
    pub static_addresses: Option<Vec<String>>,
    pub config_overrides: Option<String>,
    pub network_id: Option<NetworkId>,
    pub addresses: Option<Vec<String>>,
}

fn check_overlay(v: &mut Violations, overlay: &Overlay) {
    check_config_overrides(v, &overlay.config_overrides);
    if !v.count("static_addresses", overlay.static_addresses.len(), MAX_STATIC_ADDRESSES) {
        return;
    }
    let mut seen = BTreeSet::new();
    for (i, text) in overlay.static_addresses.iter().enumerate() {
        let path = format!("static_addresses[{i}]");
        if text.parse::<SocketAddr>().is_err() {
            v.push(path, ViolationCode::InvalidValue, "must be an address and a port (ip:port)");
        } else if !seen.insert(text) {
            v.push(path, ViolationCode::Duplicate, "is listed twice");
        }
    }
}

/// Nebula configuration overrides: a JSON array of at most [`MAX_CONFIG_OVERRIDES`] entries,
/// at most [`MAX_CONFIG_OVERRIDES_BYTES`] as stored, with no NUL in any key or string at any
/// depth (PostgreSQL's `jsonb` cannot hold `\u0000`; refusing it here makes both backends
/// answer alike). A NUL is reported at the entry that holds it (`config_overrides[2]`).
fn check_config_overrides(v: &mut Violations, text: &str) {
    const PATH: &str = "config_overrides";
    if text.len() > MAX_CONFIG_OVERRIDES_BYTES {
        v.push(
            PATH,
            ViolationCode::InvalidLength,
            format!("must be at most {MAX_CONFIG_OVERRIDES_BYTES} bytes of JSON"),
        );
        return;
    }
    let Ok(serde_json::Value::Array(entries)) = serde_json::from_str::<serde_json::Value>(text) else {
        v.push(PATH, ViolationCode::InvalidValue, "must be a JSON array");
        return;
    };
    if !v.count(PATH, entries.len(), MAX_CONFIG_OVERRIDES) {
        return;
    }
    for (i, entry) in entries.iter().enumerate() {
        if json_has_nul(entry) {
            v.push(
                format!("{PATH}[{i}]"),
                ViolationCode::InvalidCharacters,
                "must not contain NUL characters",
            );
        }
    }
}

impl Core {
    async fn check_role(
        r: &mut dyn Reads,
        v: &mut Violations,
        actor: &Principal,
        org: OrganizationId,
        role: Option<SecurityGroupId>,
    ) -> Result<()> {
        if let Some(role) = role {
            if !Self::role_exists(r, actor, org, role).await? {
                v.push("role_id", ViolationCode::InvalidReference, "must be an existing role");
            }
        }
        Ok(())
    }

    pub async fn create_host(
        &self,
        actor: &Principal,
        org: OrganizationId,
        input: CreateHost,
    ) -> Result<Host> {
        let grant = actor.authorize(org, host_op(Action::Create))?;
        let mut v = Violations::new();
        v.text("name", &input.name, 1, NAME_MAX);
        check_tags(&mut v, &input.tags);
        check_overlay(&mut v, &input.overlay);
        // Every lookup of the validation through one read handle, released before the write.
        let mut reads = self.read().await?;
        Self::check_role(&mut *reads, &mut v, actor, org, input.role).await?;
        let server_id = ServerId::random();
        let created_at = now();
        let plan = InterfacePlan { org, server_id, created_at, at: String::new() };
        let iface = CreateInterface { network_id: input.network_id, addresses: input.addresses };
        let mut claims = Vec::new();
        let interface = self
            .plan_interface(&mut *reads, &mut v, &plan, &iface, &mut BTreeSet::new(), &mut claims)
            .await?;
        let mut allocate = None;
        if let Some(interface) =
            interface.as_ref().filter(|_| claims.is_empty() && iface.addresses.is_empty())
        {
            let network =
                reads.network(interface.network_id).await?.ok_or(Error::not_found(NetworkId::KIND))?;
            let version = [IpVersion::V4, IpVersion::V6]
                .into_iter()
                .find(|version| network.prefixes_of(*version).next().is_some());
            match version {
                Some(version) => {
                    allocate = Some(IpRequest {
                        id: IpAddressId::random(),
                        organization_id: org,
                        network,
                        version,
                        vip: false,
                        label: None,
                        reverse_dns_pattern: self.settings.reverse_dns_pattern.clone(),
                        allocation: Some(Allocation { server_id, interface_id: interface.id }),
                        created_at,
                    });
                }
                None => v.push(
                    "addresses",
                    ViolationCode::InvalidValue,
                    "the network has no prefix to allocate from",
                ),
            }
        }
        v.finish()?;
        let interface = interface.ok_or(Error::not_found(NetworkId::KIND))?;
        Self::existing_in(&mut *reads, org).await?;
        drop(reads);
        let host = Host {
            server: Server {
                id: server_id,
                organization_id: org,
                name: input.name,
                interfaces: vec![interface],
                tags: input.tags,
                server_group: None,
                created_at,
            },
            role: input.role,
            overlay: input.overlay,
            modified_at: created_at,
        };
        let created = Change::created(Some(org), ObjectKind::Host, server_id, &host);
        write_one!(self, actor, created, insert_host(&grant, &host, &claims, allocate.as_ref()))
    }

    pub async fn host(&self, actor: &Principal, org: OrganizationId, id: ServerId) -> Result<Host> {
        actor.authorize(org, host_op(Action::Read))?;
        self.read().await?.host(org, id).await?.ok_or(Error::not_found(ServerId::KIND))
    }

    pub async fn list_hosts(
        &self,
        actor: &Principal,
        org: OrganizationId,
        filter: HostFilter,
        page: PageRequest,
    ) -> Result<Page<Host>> {
        actor.authorize(org, host_op(Action::List))?;
        self.read_in(org).await?.list_hosts(org, filter, page).await
    }

    pub async fn update_host(
        &self,
        actor: &Principal,
        org: OrganizationId,
        id: ServerId,
        patch: HostPatch,
    ) -> Result<Host> {
        let grant = actor.authorize(org, host_op(Action::Update))?;
        let mut tx = self.write(actor).await?;
        let mut host = tx.host_for_update(org, id).await?.ok_or(Error::not_found(ServerId::KIND))?;
        let before = audit::state(&host);
        let mut v = Violations::new();
        if patch.network_id.is_some_and(|n| Some(n) != host.network_id()) {
            v.push("network_id", ViolationCode::InvalidValue, "cannot be changed after the host is created");
        }
        if let Some(addresses) = &patch.addresses {
            let same = addresses.len() == host.addresses().len()
                && addresses.iter().all(|a| a.parse().is_ok_and(|a| host.addresses().contains(&a)));
            if !same {
                v.push(
                    "addresses",
                    ViolationCode::InvalidValue,
                    "cannot be changed after the host is created",
                );
            }
        }
        if let Some(name) = patch.name {
            v.text("name", &name, 1, NAME_MAX);
            host.server.name = name;
        }
        if let Some(tags) = patch.tags {
            check_tags(&mut v, &tags);
            host.server.tags = tags;
        }
        if let Some(role) = patch.role {
            Self::check_role(&mut *tx, &mut v, actor, org, role).await?;
            host.role = role;
        }
        let overlay = &mut host.overlay;
        overlay.listen_port = patch.listen_port.unwrap_or(overlay.listen_port);
        overlay.is_lighthouse = patch.is_lighthouse.unwrap_or(overlay.is_lighthouse);
        overlay.is_relay = patch.is_relay.unwrap_or(overlay.is_relay);
        if let Some(addresses) = patch.static_addresses {
            overlay.static_addresses = addresses;
        }
        if let Some(overrides) = patch.config_overrides {
            overlay.config_overrides = overrides;
        }
        check_overlay(&mut v, &host.overlay);
        v.finish()?;
        host.modified_at = now();
        tx.update_host(&grant, &host).await?;
        tx.record(Change::updated(Some(org), ObjectKind::Host, id, &before, &host)).await?;
        tx.commit().await?;
        Ok(host)
    }

    /// Deletes the host's server (its addresses are released, its role membership goes with it).
    pub async fn delete_host(&self, actor: &Principal, org: OrganizationId, id: ServerId) -> Result<()> {
        let grant = actor.authorize(org, host_op(Action::Delete))?;
        let mut tx = self.write(actor).await?;
        let host = tx.host_for_update(org, id).await?.ok_or(Error::not_found(ServerId::KIND))?;
        tx.delete_server(&grant, id).await?;
        tx.record(Change::deleted(Some(org), ObjectKind::Host, id, &host)).await?;
        tx.commit().await
    }
}
