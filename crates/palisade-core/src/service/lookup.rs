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
use crate::model::{DataCenter, Network};
use crate::page::PageRequest;
use crate::policy::GroupKind;
use crate::store::Reads;
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

impl From<OrganizationId> for OrganizationRef {
    fn from(id: OrganizationId) -> Self {
        OrganizationRef::Id(id)
    }
}

/// How a client names an IP address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpRef {
    /// By id alone (Katapult's `ip_address[id]`).
    Id(IpAddressId),
    /// By the address itself, among the caller's organization's (any, for the operator).
    Address(IpAddr),
    /// By id inside the organization a path names (the native API).
    Owned(OrganizationId, IpAddressId),
}

impl Core {
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
    /// every backend: it is refused as [`Error::Invalid`] at `organization.sub_domain`, the
    /// same on every backend, without a lookup. It reveals nothing: no organization
    /// can have such a sub-domain.
    ///
    /// Write methods resolve before they open their transaction (a sub-domain costs a read
    /// handle, an id nothing); read methods resolve in their own handle ([`Core::resolve_in`]).
    pub(super) async fn resolve_organization(&self, reference: &OrganizationRef) -> Result<OrganizationId> {
        match reference {
            OrganizationRef::Id(id) => Ok(*id),
            OrganizationRef::SubDomain(_) => Self::resolve_in(&mut *self.read().await?, reference).await,
        }
    }

    /// A read handle and the organization `reference` names, resolved and checked to exist in
    /// it once the caller may `op` there: what a list (or an organization's read) starts with.
    pub(super) async fn read_in_organization(
        &self,
        actor: &Principal,
        reference: &OrganizationRef,
        op: Operation,
    ) -> Result<(OrganizationId, Box<dyn Reads>)> {
        let mut reads = self.read().await?;
        let org = Self::resolve_in(&mut *reads, reference).await?;
        actor.authorize(org, op)?;
        Self::existing_in(&mut *reads, org).await?;
        Ok((org, reads))
    }

    /// [`Core::resolve_organization`] through `reads`.
    pub(super) async fn resolve_in(
        reads: &mut dyn Reads,
        reference: &OrganizationRef,
    ) -> Result<OrganizationId> {
        match reference {
            OrganizationRef::Id(id) => Ok(*id),
            OrganizationRef::SubDomain(sub) if sub.chars().any(char::is_control) => {
                Err(invalid_characters("organization.sub_domain"))
            }
            OrganizationRef::SubDomain(sub) => reads
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

    /// A network the caller may use (shared, or its organization's own) and its data center.
    pub async fn visible_network(
        &self,
        actor: &Principal,
        reference: &PermalinkRef<NetworkId>,
    ) -> Result<(DataCenter, Network)> {
        let mut reads = self.read().await?;
        let network = match reference {
            PermalinkRef::Id(id) => reads.network(*id).await?,
            PermalinkRef::Permalink(p) if p.chars().any(char::is_control) => {
                return Err(invalid_characters("network.permalink"))
            }
            PermalinkRef::Permalink(p) => {
                let all = reads.list_networks(actor.organization_id(), PageRequest::all()).await?;
                all.items.into_iter().find(|n| n.permalink.as_deref() == Some(p.as_str()))
            }
        };
        let network = network
            .filter(|n| actor.organization_id().is_none_or(|org| n.usable_by(org)))
            .ok_or(Error::not_found(NetworkId::KIND))?;
        let dc =
            reads.data_center(network.data_center_id).await?.ok_or(Error::not_found(DataCenterId::KIND))?;
        Ok((dc, network))
    }

    /// The networks an organization may use, each with its data center.
    pub async fn available_networks(
        &self,
        actor: &Principal,
        org: impl Into<OrganizationRef> + Send,
    ) -> Result<Vec<(DataCenter, Network)>> {
        let op = Operation::new(Resource::Network, Action::Read);
        let (org, mut reads) = self.read_in_organization(actor, &org.into(), op).await?;
        let networks = reads.list_networks(Some(org), PageRequest::all()).await?.items;
        let data_centers = reads.list_data_centers(PageRequest::all()).await?.items;
        Ok(networks
            .into_iter()
            .filter_map(|n| data_centers.iter().find(|d| d.id == n.data_center_id).map(|d| (d.clone(), n)))
            .collect())
    }

    /// A data center, by id or permalink. Data centers are public to every authenticated caller.
    async fn visible_data_center(&self, reference: &PermalinkRef<DataCenterId>) -> Result<DataCenter> {
        let dc = match reference {
            PermalinkRef::Id(id) => self.read().await?.data_center(*id).await?,
            PermalinkRef::Permalink(p) if p.chars().any(char::is_control) => {
                return Err(invalid_characters("data_center.permalink"))
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
        _actor: &Principal,
        reference: &PermalinkRef<DataCenterId>,
    ) -> Result<(DataCenter, Network)> {
        let dc = self.visible_data_center(reference).await?;
        let all = self.read().await?.list_networks(None, PageRequest::all()).await?;
        let network = all
            .items
            .into_iter()
            .find(|n| n.data_center_id == dc.id && n.is_default && n.organization_id.is_none())
            .ok_or(Error::not_found(NetworkId::KIND))?;
        Ok((dc, network))
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
        self.read_in(org).await?.list_networks(Some(org), page).await
    }
}
