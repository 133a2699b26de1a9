//! Who is calling, and the one place each operation checks what they may do
//! (design invariant 4).
//!
//! Every service method begins with exactly one `require_*` call on the [`Principal`], before
//! any read or write. A token asking about another organization's resources gets
//! [`Error::NotFound`], never [`Error::Forbidden`]: a caller who may not see a resource cannot
//! learn that it exists.

use crate::error::{Error, Forbidden, Result};
use crate::id::{ApiTokenId, OrganizationId, UserId};
use crate::scope::Scope;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The operator of this Palisade installation: may do everything.
    Operator,
    /// An organization's API token, limited to its organization and scopes.
    Token(TokenPrincipal),
    /// A user of an organization (username and password, e.g. HTTP Basic on the Hostway face):
    /// the account holder, holding every scope within their own organization only.
    User(UserPrincipal),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPrincipal {
    pub organization_id: OrganizationId,
    pub user_id: UserId,
    pub resource_creation_restricted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPrincipal {
    pub organization_id: OrganizationId,
    pub token_id: ApiTokenId,
    pub scopes: Vec<Scope>,
    pub resource_creation_restricted: bool,
}

impl Principal {
    /// Operator-only operations (tenancy and inventory administration).
    pub fn require_operator(&self) -> Result<()> {
        match self {
            Principal::Operator => Ok(()),
            Principal::Token(_) | Principal::User(_) => Err(Error::Forbidden(Forbidden::OperatorOnly)),
        }
    }

    /// Operations on `org`'s resources: the operator, or a token of `org` holding any of
    /// `any_of`. A token of another organization is told the organization does not exist.
    pub fn require_org(&self, org: OrganizationId, any_of: &[Scope]) -> Result<()> {
        match self {
            Principal::Operator => Ok(()),
            Principal::Token(token) if token.organization_id != org => {
                Err(Error::not_found(OrganizationId::KIND))
            }
            Principal::Token(token) => {
                if any_of.iter().any(|s| token.scopes.contains(s)) {
                    Ok(())
                } else {
                    Err(Error::Forbidden(Forbidden::MissingScope(any_of.to_vec())))
                }
            }
            Principal::User(user) if user.organization_id != org => {
                Err(Error::not_found(OrganizationId::KIND))
            }
            Principal::User(_) => Ok(()),
        }
    }

    /// Operations on objects shared by every organization (global address lists): the operator,
    /// or any token holding one of `any_of`.
    pub fn require_scope(&self, any_of: &[Scope]) -> Result<()> {
        match self {
            Principal::Operator | Principal::User(_) => Ok(()),
            Principal::Token(token) if any_of.iter().any(|s| token.scopes.contains(s)) => Ok(()),
            Principal::Token(_) => Err(Error::Forbidden(Forbidden::MissingScope(any_of.to_vec()))),
        }
    }

    /// Operations on `org` that need no scope (Katapult's network listings): the operator or
    /// any token of `org`; other organizations are told it does not exist.
    pub fn require_member(&self, org: OrganizationId) -> Result<()> {
        match self {
            Principal::Token(token) if token.organization_id != org => {
                Err(Error::not_found(OrganizationId::KIND))
            }
            Principal::User(user) if user.organization_id != org => {
                Err(Error::not_found(OrganizationId::KIND))
            }
            _ => Ok(()),
        }
    }

    /// Like [`Principal::require_org`], for operations that create resources: a token of an
    /// organization whose resource creation is restricted is refused.
    pub fn require_org_create(&self, org: OrganizationId, any_of: &[Scope]) -> Result<()> {
        self.require_org(org, any_of)?;
        match self {
            Principal::Token(token) if token.resource_creation_restricted => {
                Err(Error::Forbidden(Forbidden::ResourceCreationRestricted))
            }
            Principal::User(user) if user.resource_creation_restricted => {
                Err(Error::Forbidden(Forbidden::ResourceCreationRestricted))
            }
            _ => Ok(()),
        }
    }

    pub fn organization_id(&self) -> Option<OrganizationId> {
        match self {
            Principal::Operator => None,
            Principal::Token(t) => Some(t.organization_id),
            Principal::User(u) => Some(u.organization_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(org: OrganizationId, scopes: &[Scope]) -> Principal {
        Principal::Token(TokenPrincipal {
            organization_id: org,
            token_id: ApiTokenId::random(),
            scopes: scopes.to_vec(),
            resource_creation_restricted: false,
        })
    }

    #[test]
    fn tokens_see_only_their_organization_and_need_a_scope() {
        let mine = OrganizationId::random();
        let other = OrganizationId::random();
        let t = token(mine, &[Scope::SERVERS_READ]);
        assert!(t.require_org(mine, &[Scope::SERVERS, Scope::SERVERS_READ]).is_ok());
        assert_eq!(t.require_org(other, &[Scope::SERVERS_READ]), Err(Error::not_found("organization")));
        assert!(matches!(
            t.require_org(mine, &[Scope::SERVERS]),
            Err(Error::Forbidden(Forbidden::MissingScope(_)))
        ));
        assert!(t.require_operator().is_err());
        assert!(Principal::Operator.require_org(other, &[]).is_ok());
    }

    #[test]
    fn users_hold_every_scope_of_their_own_organization_only() {
        let mine = OrganizationId::random();
        let other = OrganizationId::random();
        let user = Principal::User(UserPrincipal {
            organization_id: mine,
            user_id: UserId::random(),
            resource_creation_restricted: true,
        });
        assert!(user.require_org(mine, &[Scope::SECURITY_GROUP_DELETE]).is_ok());
        assert_eq!(user.require_org(other, &[Scope::SECURITY_GROUPS]), Err(Error::not_found("organization")));
        assert_eq!(user.require_member(other), Err(Error::not_found("organization")));
        assert_eq!(
            user.require_org_create(mine, &[Scope::SECURITY_GROUPS]),
            Err(Error::Forbidden(Forbidden::ResourceCreationRestricted))
        );
        assert!(user.require_operator().is_err());
        assert_eq!(user.organization_id(), Some(mine));
    }
}
