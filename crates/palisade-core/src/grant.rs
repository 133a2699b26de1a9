//! Proofs of authorization, as values the store's writes require (issue 12, point 5).
//!
//! Only the core's authorization makes a [`Grant`] ([`Principal::authorize`] and
//! [`Principal::authorize_object`]) or an [`OperatorGrant`] ([`Principal::require_operator`],
//! and the server's own start-up); their fields are private and they have no public
//! constructor. Every method of [`crate::store::Writes`] takes one, and the store confines the
//! write to the grant's organization (an object of another organization is not found, an
//! object to insert must belong to it). So a write that skipped authorization does not
//! compile, and one authorized for organization A cannot touch organization B's objects even
//! if it names them.
//!
//! The `test-grants` feature adds `for_tests` constructors, for the store suite and the
//! benchmarks that drive a store without a principal; nothing that serves requests enables it.

use crate::id::OrganizationId;

#[cfg(doc)]
use crate::auth::Principal;

/// The principal was authorized for an operation on this organization's objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    org: OrganizationId,
}

impl Grant {
    pub(crate) fn new(org: OrganizationId) -> Self {
        Self { org }
    }

    pub fn organization_id(&self) -> OrganizationId {
        self.org
    }

    #[cfg(feature = "test-grants")]
    pub fn for_tests(org: OrganizationId) -> Self {
        Self::new(org)
    }
}

/// The operator (or the server itself, starting) acts on installation-wide state: settings,
/// organizations, data centers, networks, global address lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperatorGrant {
    _private: (),
}

impl OperatorGrant {
    pub(crate) fn new() -> Self {
        Self { _private: () }
    }

    /// The operator may act in every organization.
    pub fn within(self, org: OrganizationId) -> Grant {
        Grant::new(org)
    }

    #[cfg(feature = "test-grants")]
    pub fn for_tests() -> Self {
        Self::new()
    }
}

/// Who may write an address list: its organization, or the operator for a global list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListGrant {
    Organization(Grant),
    Global(OperatorGrant),
}

impl ListGrant {
    /// The owner a list written under this grant must have.
    pub fn owner(&self) -> Option<OrganizationId> {
        match self {
            ListGrant::Organization(grant) => Some(grant.organization_id()),
            ListGrant::Global(_) => None,
        }
    }
}

/// An object found by a lookup that also checked the principal may act on it, with the grant
/// its writes take. Only the core makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorized<T> {
    object: T,
    grant: Grant,
}

impl<T> Authorized<T> {
    pub(crate) fn new(object: T, grant: Grant) -> Self {
        Self { object, grant }
    }

    pub fn grant(&self) -> &Grant {
        &self.grant
    }

    pub fn into_inner(self) -> T {
        self.object
    }
}

impl<T> std::ops::Deref for Authorized<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.object
    }
}

impl<T> std::ops::DerefMut for Authorized<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.object
    }
}
