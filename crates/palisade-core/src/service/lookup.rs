//! Finding objects by the handles vendor APIs use (sub-domains, permalinks, addresses) and the
//! tenant-visible views of shared inventory (networks, data centers).
//!
//! Resolving a handle to an id reveals nothing by itself: every operation on the id authorizes
//! afterwards, and an object the caller may not see is reported exactly like a missing one.

use std::net::IpAddr;

use super::Core;
use crate::access::{Action, Operation, Resource};
use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::id::{DataCenterId, IpAddressId, NetworkId, OrganizationId};
use crate::model::{DataCenter, IpAddress, Network, Server};
use crate::page::PageRequest;
use crate::policy::GroupKind;
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
    /// The id of an organization named by id or sub-domain, if the caller may `op` there: what
    /// a face calls before it validates anything else a request names. An organization that does
    /// not exist and one that is not the caller's are the same [`Error::NotFound`].
    pub async fn authorized_organization(
        &self,
        actor: &Principal,
        reference: &OrganizationRef,
        op: Operation,
    ) -> Result<OrganizationId> {
        let org = self.resolve_organization(reference).await?;
        actor.authorize(org, op)?;
        Ok(org)
    }

    /// The id of an organization named by id or sub-domain that the caller belongs to (or any,
    /// for the operator), for faces whose paths name the account (Hostway); another
    /// organization is [`Error::NotFound`], like a missing one.
    pub async fn member_organization(
        &self,
        actor: &Principal,
        reference: &OrganizationRef,
    ) -> Result<OrganizationId> {
        let org = self.resolve_organization(reference).await?;
        actor.require_member(org)?;
        Ok(org)
    }

    /// The id of an organization named by id or sub-domain ([`Error::NotFound`] if none).
    ///
    /// A sub-domain with control characters (a NUL) names nothing and cannot be compared by
    /// every backend: it is refused as [`Error::Invalid`] at `sub_domain` (faces name their own
    /// field), the same on every backend, without a lookup. It reveals nothing: no organization
    /// can have such a sub-domain.
    async fn resolve_organization(&self, reference: &OrganizationRef) -> Result<OrganizationId> {
        match reference {
            OrganizationRef::Id(id) => Ok(*id),
            OrganizationRef::SubDomain(sub) if sub.chars().any(char::is_control) => {
                Err(invalid_characters("sub_domain"))
            }
            OrganizationRef::SubDomain(sub) => self
                .read()
                .await?
                .organization_by_sub_domain(sub)
                .await?
                .map(|o| o.id)
                .ok_or(Error::not_found(OrganizationId::KIND)),
        }
    }

    /// Every organization the caller may see: all for the operator, its own for a token.
    pub async fn visible_organizations(&self, actor: &Principal) -> Result<Vec<crate::model::Organization>> {
        match actor.organization_id() {
            None => Ok(self.read().await?.list_organizations(PageRequest::all()).await?.items),
            Some(org) => {
                actor.authorize(org, Operation::new(Resource::Organization, Action::List))?;
                Ok(self.read().await?.organization(org).await?.into_iter().collect())
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
            PermalinkRef::Id(id) => self.read().await?.network(*id).await?,
            PermalinkRef::Permalink(p) if p.chars().any(char::is_control) => {
                return Err(invalid_characters("permalink"))
            }
            PermalinkRef::Permalink(p) => {
                let all =
                    self.read().await?.list_networks(actor.organization_id(), PageRequest::all()).await?;
                all.items.into_iter().find(|n| n.permalink.as_deref() == Some(p.as_str()))
            }
        };
        network
            .filter(|n| actor.organization_id().is_none_or(|org| n.usable_by(org)))
            .ok_or(Error::not_found(NetworkId::KIND))
    }

    /// Networks an organization may use.
    pub async fn available_networks(&self, actor: &Principal, org: OrganizationId) -> Result<Vec<Network>> {
        actor.authorize(org, Operation::new(Resource::Network, Action::Read))?;
        self.existing_organization(org).await?;
        Ok(self.read().await?.list_networks(Some(org), PageRequest::all()).await?.items)
    }

    /// A data center, by id or permalink. Data centers are public to every authenticated caller:
    /// the principal is that proof.
    pub async fn visible_data_center(
        &self,
        _actor: &Principal,
        reference: &PermalinkRef<DataCenterId>,
    ) -> Result<DataCenter> {
        let dc = match reference {
            PermalinkRef::Id(id) => self.read().await?.data_center(*id).await?,
            PermalinkRef::Permalink(p) if p.chars().any(char::is_control) => {
                return Err(invalid_characters("permalink"))
            }
            PermalinkRef::Permalink(p) => {
                let all = self.read().await?.list_data_centers(PageRequest::all()).await?;
                all.items.into_iter().find(|d| &d.permalink == p)
            }
        };
        dc.ok_or(Error::not_found(DataCenterId::KIND))
    }

    /// A data center (public to every authenticated caller) and its shared default network.
    pub async fn default_network(
        &self,
        actor: &Principal,
        reference: &PermalinkRef<DataCenterId>,
    ) -> Result<(DataCenter, Network)> {
        let dc = self.visible_data_center(actor, reference).await?;
        let all = self.read().await?.list_networks(None, PageRequest::all()).await?;
        let network = all
            .items
            .into_iter()
            .find(|n| n.data_center_id == dc.id && n.is_default && n.organization_id.is_none())
            .ok_or(Error::not_found(NetworkId::KIND))?;
        Ok((dc, network))
    }

    /// An address named by id or by the address itself, if the caller may `action` it.
    pub async fn locate_ip_address(
        &self,
        actor: &Principal,
        reference: &IpRef,
        action: Action,
    ) -> Result<IpAddress> {
        let op = Operation::new(Resource::IpAddress, action);
        actor.require_scopes(op)?;
        let found = match reference {
            IpRef::Id(id) => self.read().await?.ip_address_anywhere(*id).await?,
            IpRef::Address(addr) => {
                self.read().await?.ip_address_by_address(actor.organization_id(), *addr).await?
            }
        };
        let ip = found.ok_or(Error::not_found(IpAddressId::KIND))?;
        actor.authorize_object(ip.organization_id, op, IpAddressId::KIND)?;
        Ok(ip)
    }

    /// The server an address the caller may read is allocated to, if any.
    pub async fn ip_allocation_server(&self, actor: &Principal, ip: &IpAddress) -> Result<Option<Server>> {
        actor.authorize(ip.organization_id, Operation::new(Resource::IpAddress, Action::Read))?;
        match ip.allocation {
            Some(a) => self.read().await?.server(ip.organization_id, a.server_id).await,
            None => Ok(None),
        }
    }

    /// Whether `id` names a role of `org` (Defined's `allowedRoleID` and `roleID`). Naming a
    /// role needs the right to read roles, checked before the lookup: a caller who may not see
    /// roles gets [`Error::Forbidden`] whether the role exists or not, so references cannot be
    /// used to probe for roles. Another organization's role is no role of `org`.
    pub async fn names_role(
        &self,
        actor: &Principal,
        org: OrganizationId,
        id: crate::id::SecurityGroupId,
    ) -> Result<bool> {
        Self::role_exists(&mut *self.read().await?, actor, org, id).await
    }

    /// [`Core::names_role`] through a read handle or a write transaction.
    pub(super) async fn role_exists(
        r: &mut dyn crate::store::Reads,
        actor: &Principal,
        org: OrganizationId,
        id: crate::id::SecurityGroupId,
    ) -> Result<bool> {
        actor.authorize(org, Operation::read_group(GroupKind::Role))?;
        Ok(r.security_group(id).await?.is_some_and(|g| g.organization_id == org && g.kind == GroupKind::Role))
    }

    /// A page of the networks an organization may use, for faces whose clients list them with
    /// a scope of their own (Defined's `networks:list`).
    pub async fn list_usable_networks(
        &self,
        actor: &Principal,
        org: OrganizationId,
        page: PageRequest,
    ) -> Result<crate::page::Page<Network>> {
        actor.authorize(org, Operation::new(Resource::Network, Action::List))?;
        self.existing_organization(org).await?;
        self.read().await?.list_networks(Some(org), page).await
    }
}
