//! Who is calling, and the one place each operation checks what they may do
//! (design invariant 4).
//!
//! Every service method begins with one authorization of its [`Operation`] (see
//! [`crate::access`] for the scopes each needs), before any read or write. A token asking about
//! another organization's resources gets [`Error::NotFound`], never [`Error::Forbidden`], and a
//! token lacking the operation's scope gets [`Error::Forbidden`] before anything it names is
//! looked up: a caller who may not see a resource cannot learn that it exists.
//!
//! Faces call [`Principal::require_scopes`] or [`Principal::authorize`] (or a `Core` method that
//! resolves and authorizes) *before* they parse or validate a request's arguments, so refusals
//! never depend on what the arguments name.

use crate::access::{Action, Needs, Operation};
use crate::error::{Error, Forbidden, Result};
use crate::grant::{Grant, OperatorGrant};
use crate::id::{ApiTokenId, OrganizationId, ServerId, UserId};
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
    /// An agent token's server: then only [`Operation::for_agents`] operations on that server
    /// are allowed ([`Principal::authorize_server`]).
    pub server: Option<ServerId>,
}

impl Principal {
    /// Whether the caller may perform `op` at all, before anything the request names is looked
    /// up or parsed: a token must hold one of the operation's scopes; users hold every scope;
    /// operator-only operations refuse everyone else.
    pub fn require_scopes(&self, op: Operation) -> Result<()> {
        if let Principal::Token(TokenPrincipal { server: Some(_), .. }) = self {
            if !op.for_agents() {
                return Err(Error::Forbidden(Forbidden::AgentTokenOnly));
            }
        }
        match (self, op.needs()) {
            (Principal::Operator, _) => Ok(()),
            (_, Needs::Operator) => Err(Error::Forbidden(Forbidden::OperatorOnly)),
            (Principal::User(_), _) | (_, Needs::Member) => Ok(()),
            (Principal::Token(token), Needs::AnyOf(scopes)) => {
                if scopes.iter().any(|s| token.scopes.contains(s)) {
                    Ok(())
                } else {
                    Err(Error::Forbidden(Forbidden::MissingScope(scopes.to_vec())))
                }
            }
        }
    }

    /// The authorization of `op` on `org`'s resources. A caller of another organization is told
    /// the organization does not exist (whether it does or not); then the scopes; then, for
    /// creations, the organization's restriction. Needs no I/O, so faces call it before reading
    /// a body.
    pub fn authorize(&self, org: OrganizationId, op: Operation) -> Result<Grant> {
        if op.needs() == Needs::Operator {
            self.require_operator()?;
            return Ok(Grant::new(org));
        }
        if self.organization_id().is_some_and(|own| own != org) {
            return Err(Error::not_found(OrganizationId::KIND));
        }
        if self.bound_server().is_some() {
            // Agent tokens act on their server only, through `authorize_server`.
            return Err(Error::Forbidden(Forbidden::AgentTokenOnly));
        }
        self.require_scopes(op)?;
        let restricted = match self {
            Principal::Operator => false,
            Principal::Token(token) => token.resource_creation_restricted,
            Principal::User(user) => user.resource_creation_restricted,
        };
        if op.action == Action::Create && restricted {
            return Err(Error::Forbidden(Forbidden::ResourceCreationRestricted));
        }
        Ok(Grant::new(org))
    }

    /// The authorization of `op` on an object owned by `owner` that the request named by id,
    /// after [`Principal::require_scopes`] and the object's lookup: another organization's object
    /// is reported exactly like a missing one, as a `kind` not found.
    pub fn authorize_object(
        &self,
        owner: OrganizationId,
        op: Operation,
        kind: &'static str,
    ) -> Result<Grant> {
        self.authorize(owner, op).map_err(|e| match e {
            Error::NotFound { .. } => Error::not_found(kind),
            other => other,
        })
    }

    /// The authorization of `op` on `org`'s server `server`: [`Principal::authorize`], except
    /// that an agent token may also act on its own server (and a server of its organization
    /// that is not its own is, to it, not found).
    pub fn authorize_server(&self, org: OrganizationId, server: ServerId, op: Operation) -> Result<Grant> {
        match self.bound_server() {
            None => self.authorize(org, op),
            Some(own) => {
                if self.organization_id() != Some(org) {
                    return Err(Error::not_found(OrganizationId::KIND));
                }
                self.require_scopes(op)?;
                if own != server {
                    return Err(Error::not_found(ServerId::KIND));
                }
                Ok(Grant::new(org))
            }
        }
    }

    /// An agent token's server.
    pub fn bound_server(&self) -> Option<ServerId> {
        match self {
            Principal::Token(token) => token.server,
            Principal::Operator | Principal::User(_) => None,
        }
    }

    /// Operator-only operations (tenancy and inventory administration).
    pub fn require_operator(&self) -> Result<OperatorGrant> {
        match self {
            Principal::Operator => Ok(OperatorGrant::new()),
            Principal::Token(_) | Principal::User(_) => Err(Error::Forbidden(Forbidden::OperatorOnly)),
        }
    }

    /// Operations on `org` that need no scope (Katapult's network listings): the operator or
    /// any token of `org`; other organizations are told it does not exist.
    pub fn require_member(&self, org: OrganizationId) -> Result<()> {
        match self {
            Principal::Token(token) if token.server.is_some() => {
                Err(Error::Forbidden(Forbidden::AgentTokenOnly))
            }
            Principal::Token(token) if token.organization_id != org => {
                Err(Error::not_found(OrganizationId::KIND))
            }
            Principal::User(user) if user.organization_id != org => {
                Err(Error::not_found(OrganizationId::KIND))
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
    use crate::access::Resource;
    use crate::policy::GroupKind;

    fn token(org: OrganizationId, scopes: &[Scope]) -> Principal {
        Principal::Token(TokenPrincipal {
            organization_id: org,
            token_id: ApiTokenId::random(),
            scopes: scopes.to_vec(),
            resource_creation_restricted: false,
            server: None,
        })
    }

    const READ_SERVERS: Operation = Operation::new(Resource::Server, Action::Read);
    const CREATE_SERVER: Operation = Operation::new(Resource::Server, Action::Create);

    #[test]
    fn tokens_see_only_their_organization_and_need_a_scope() {
        let mine = OrganizationId::random();
        let other = OrganizationId::random();
        let t = token(mine, &[Scope::SERVERS_READ]);
        assert!(t.authorize(mine, READ_SERVERS).is_ok());
        assert_eq!(t.authorize(other, READ_SERVERS), Err(Error::not_found("organization")));
        assert_eq!(t.authorize(other, CREATE_SERVER), Err(Error::not_found("organization")));
        assert!(matches!(
            t.authorize(mine, CREATE_SERVER),
            Err(Error::Forbidden(Forbidden::MissingScope(_)))
        ));
        assert!(matches!(t.require_scopes(CREATE_SERVER), Err(Error::Forbidden(Forbidden::MissingScope(_)))));
        assert!(t.require_scopes(READ_SERVERS).is_ok());
        assert!(
            t.require_scopes(Operation::new(Resource::Network, Action::Read)).is_ok(),
            "members need no scope"
        );
        assert_eq!(
            t.authorize_object(other, READ_SERVERS, "server"),
            Err(Error::not_found("server")),
            "another organization's object is a missing one"
        );
        assert!(t.require_operator().is_err());
        assert!(Principal::Operator.authorize(other, CREATE_SERVER).is_ok());
        assert_eq!(
            t.authorize(mine, Operation::new(Resource::Organization, Action::Delete)),
            Err(Error::Forbidden(Forbidden::OperatorOnly))
        );
    }

    #[test]
    fn agent_tokens_act_only_on_their_own_server() {
        let org = OrganizationId::random();
        let (own, other) = (ServerId::random(), ServerId::random());
        let agent = Principal::Token(TokenPrincipal {
            organization_id: org,
            token_id: ApiTokenId::random(),
            scopes: vec![Scope::AGENT],
            resource_creation_restricted: false,
            server: Some(own),
        });
        let read = Operation::new(Resource::Enforcement, Action::Read);
        let report = Operation::new(Resource::Enforcement, Action::Update);
        assert!(agent.authorize_server(org, own, read).is_ok());
        assert!(agent.authorize_server(org, own, report).is_ok());
        assert_eq!(agent.authorize_server(org, other, read), Err(Error::not_found("server")));
        assert_eq!(
            agent.authorize_server(OrganizationId::random(), own, read),
            Err(Error::not_found("organization"))
        );
        let only = Err(Error::Forbidden(Forbidden::AgentTokenOnly));
        assert_eq!(agent.authorize(org, read).map(drop), only);
        assert_eq!(agent.authorize_server(org, own, READ_SERVERS).map(drop), only);
        assert_eq!(agent.require_scopes(Operation::new(Resource::Policy, Action::Read)), only);
        assert_eq!(agent.require_member(org), only);
        // An ordinary token needs its scopes on any server; `agent` is not among them to report.
        let reader = token(org, &[Scope::POLICY_READ]);
        assert!(reader.authorize_server(org, other, read).is_ok());
        assert!(matches!(
            reader.authorize_server(org, other, report),
            Err(Error::Forbidden(Forbidden::MissingScope(_)))
        ));
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
        let sg = Resource::Group(GroupKind::SecurityGroup);
        assert!(user.authorize(mine, Operation::new(sg, Action::Delete)).is_ok());
        assert_eq!(
            user.authorize(other, Operation::new(sg, Action::Read)),
            Err(Error::not_found("organization"))
        );
        assert_eq!(user.require_member(other), Err(Error::not_found("organization")));
        assert_eq!(
            user.authorize(mine, Operation::new(sg, Action::Create)),
            Err(Error::Forbidden(Forbidden::ResourceCreationRestricted))
        );
        assert!(user.require_operator().is_err());
        assert_eq!(user.organization_id(), Some(mine));
    }
}
