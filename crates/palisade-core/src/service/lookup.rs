//! Finding objects by the handles vendor APIs use (sub-domains, permalinks, addresses) and the
//! tenant-visible views of shared inventory (networks, data centers).
//!
//! Resolving a handle to an id reveals nothing by itself: every operation on the id authorizes
//! afterwards, and an object the caller may not see is reported exactly like a missing one.

use std::net::IpAddr;

use super::Core;
use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::id::{DataCenterId, IpAddressId, NetworkId, OrganizationId};
use crate::model::{DataCenter, IpAddress, Network, Server};
use crate::page::PageRequest;
use crate::scope::Scope;
use crate::validate::invalid_characters;

/// How a client names an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrganizationRef {
    Id(OrganizationId),
    SubDomain(String),
}

/// How a client names a network or a data center.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermalinkRef<Id> {
    Id(Id),
    Permalink(String),
}

/// How a client names an IP address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpRef {
    Id(IpAddressId),
    Address(IpAddr),
}

impl Core {
    /// The id of an organization named by id or sub-domain ([`Error::NotFound`] if none).
    ///
    /// A sub-domain with control characters (a NUL) names nothing and cannot be compared by
    /// every backend: it is refused as [`Error::Invalid`] at `sub_domain` (faces name their own
    /// field), the same on every backend, without a lookup. It reveals nothing: no organization
    /// can have such a sub-domain.
    pub async fn resolve_organization(&self, reference: &OrganizationRef) -> Result<OrganizationId> {
        match reference {
            OrganizationRef::Id(id) => Ok(*id),
            OrganizationRef::SubDomain(sub) if sub.chars().any(char::is_control) => {
                Err(invalid_characters("sub_domain"))
            }
            OrganizationRef::SubDomain(sub) => self
                .store
                .organization_by_sub_domain(sub)
                .await?
                .map(|o| o.id)
                .ok_or(Error::not_found(OrganizationId::KIND)),
        }
    }

    /// Every organization the caller may see: all for the operator, its own for a token.
    pub async fn visible_organizations(&self, actor: &Principal) -> Result<Vec<crate::model::Organization>> {
        match actor.organization_id() {
            None => Ok(self.store.list_organizations(PageRequest::all()).await?.items),
            Some(org) => {
                actor.require_org(org, &[Scope::ORGANIZATIONS_READ])?;
                Ok(self.store.organization(org).await?.into_iter().collect())
            }
        }
    }

    /// A network the caller may use: shared, or its organization's own.
    pub async fn visible_network(
        &self,
        actor: &Principal,
        reference: &PermalinkRef<NetworkId>,
    ) -> Result<Network> {
        let network = match reference {
            PermalinkRef::Id(id) => self.store.network(*id).await?,
            PermalinkRef::Permalink(p) if p.chars().any(char::is_control) => {
                return Err(invalid_characters("permalink"))
            }
            PermalinkRef::Permalink(p) => {
                let all = self.store.list_networks(actor.organization_id(), PageRequest::all()).await?;
                all.items.into_iter().find(|n| n.permalink.as_deref() == Some(p.as_str()))
            }
        };
        network
            .filter(|n| actor.organization_id().is_none_or(|org| n.usable_by(org)))
            .ok_or(Error::not_found(NetworkId::KIND))
    }

    /// Networks an organization may use.
    pub async fn available_networks(&self, actor: &Principal, org: OrganizationId) -> Result<Vec<Network>> {
        actor.require_member(org)?;
        self.existing_organization(org).await?;
        Ok(self.store.list_networks(Some(org), PageRequest::all()).await?.items)
    }

    /// A data center, by id or permalink. Data centers are public to every authenticated caller.
    pub async fn visible_data_center(&self, reference: &PermalinkRef<DataCenterId>) -> Result<DataCenter> {
        let dc = match reference {
            PermalinkRef::Id(id) => self.store.data_center(*id).await?,
            PermalinkRef::Permalink(p) if p.chars().any(char::is_control) => {
                return Err(invalid_characters("permalink"))
            }
            PermalinkRef::Permalink(p) => {
                let all = self.store.list_data_centers(PageRequest::all()).await?;
                all.items.into_iter().find(|d| &d.permalink == p)
            }
        };
        dc.ok_or(Error::not_found(DataCenterId::KIND))
    }

    /// The shared default network of a data center.
    pub async fn default_network(&self, reference: &PermalinkRef<DataCenterId>) -> Result<Network> {
        let dc = self.visible_data_center(reference).await?;
        let all = self.store.list_networks(None, PageRequest::all()).await?;
        all.items
            .into_iter()
            .find(|n| n.data_center_id == dc.id && n.is_default && n.organization_id.is_none())
            .ok_or(Error::not_found(NetworkId::KIND))
    }

    /// An address named by id or by the address itself, if the caller may read it.
    pub async fn locate_ip_address(
        &self,
        actor: &Principal,
        reference: &IpRef,
        scopes: &[Scope],
    ) -> Result<IpAddress> {
        let found = match reference {
            IpRef::Id(id) => self.store.ip_address_anywhere(*id).await?,
            IpRef::Address(addr) => self.store.ip_address_by_address(actor.organization_id(), *addr).await?,
        };
        let ip = found.ok_or(Error::not_found(IpAddressId::KIND))?;
        actor.require_org(ip.organization_id, scopes).map_err(|e| match e {
            Error::NotFound { .. } => Error::not_found(IpAddressId::KIND),
            other => other,
        })?;
        Ok(ip)
    }

    /// The server an address the caller may read is allocated to, if any.
    pub async fn ip_allocation_server(&self, actor: &Principal, ip: &IpAddress) -> Result<Option<Server>> {
        actor.require_org(ip.organization_id, &[Scope::IP_ADDRESSES, Scope::IP_ADDRESSES_READ])?;
        match ip.allocation {
            Some(a) => self.store.server(ip.organization_id, a.server_id).await,
            None => Ok(None),
        }
    }

    /// The kind of `org`'s group with this id, if `org` has one. For faces validating a
    /// reference inside their caller's own organization (Defined's `allowedRoleID`).
    pub async fn group_kind_in(
        &self,
        org: OrganizationId,
        id: crate::id::SecurityGroupId,
    ) -> Result<Option<crate::policy::GroupKind>> {
        Ok(self.store.security_group(id).await?.filter(|g| g.organization_id == org).map(|g| g.kind))
    }

    /// A page of the networks an organization may use, for faces whose clients list them with
    /// a scope of their own (Defined's `networks:list`).
    pub async fn list_usable_networks(
        &self,
        actor: &Principal,
        org: OrganizationId,
        page: PageRequest,
    ) -> Result<crate::page::Page<Network>> {
        actor.require_org(org, &[Scope::NETWORKS_LIST])?;
        self.existing_organization(org).await?;
        self.store.list_networks(Some(org), page).await
    }
}
