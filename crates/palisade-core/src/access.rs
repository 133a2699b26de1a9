//! Every operation a caller can ask for, and what it needs: the one table of scopes.
//!
//! Core methods authorize with an [`Operation`] ([`crate::Principal::authorize`]), and faces
//! name the same operation to refuse a caller *before* they parse or validate anything (the
//! Katapult dispatcher, the Defined, Hostway and native handlers). Keeping the scopes here means
//! no face can ask for other scopes than the core checks, and the vendors' names (Katapult's
//! `security_groups` with its singular `security_group` to delete, Defined's `roles:create`)
//! are decided once.

use crate::policy::GroupKind;
use crate::scope::Scope;

/// What an operation acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    Organization,
    /// Shared and organization networks as tenants see them.
    Network,
    Server,
    IpAddress,
    /// Security groups or roles, and their rules (rules are read and written as their group).
    Group(GroupKind),
    ServerGroup,
    Tag,
    AddressList,
    /// Overlay hosts (Defined).
    Host,
    /// The policy engine's answers: flow checks, effective policies, lint.
    Policy,
    /// A server's enforcement on its host: its effective policy as its agent reads it, the
    /// agent's reports, the agent's tokens.
    Enforcement,
    /// The audit trail: who changed what, when, through which face.
    Audit,
    /// The catalogue of scope names (`GET /api/v1/scopes`): what a token may be given.
    ScopeCatalogue,
}

/// What is done to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Read,
    List,
    Create,
    Update,
    Delete,
}

impl Action {
    pub const fn writes(self) -> bool {
        matches!(self, Action::Create | Action::Update | Action::Delete)
    }
}

/// One operation: an action on a kind of resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Operation {
    pub resource: Resource,
    pub action: Action,
}

/// Who may perform an operation, apart from the operator (who may do everything).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Only the operator.
    Operator,
    /// Any caller of the organization concerned; no scope.
    Member,
    /// A caller of the organization holding any one of these scopes.
    AnyOf(&'static [Scope]),
}

const ORGANIZATIONS_READ: &[Scope] = &[Scope::ORGANIZATIONS_READ];
const SERVERS_READ: &[Scope] = &[Scope::SERVERS, Scope::SERVERS_READ];
const SERVERS: &[Scope] = &[Scope::SERVERS];
const IP_READ: &[Scope] = &[Scope::IP_ADDRESSES, Scope::IP_ADDRESSES_READ];
const IP: &[Scope] = &[Scope::IP_ADDRESSES];
const SG_READ: &[Scope] = &[Scope::SECURITY_GROUPS, Scope::SECURITY_GROUPS_READ];
const SG: &[Scope] = &[Scope::SECURITY_GROUPS];
const SG_DELETE: &[Scope] = &[Scope::SECURITY_GROUP_DELETE];
const VMG_READ: &[Scope] = &[Scope::SERVER_GROUPS, Scope::SERVER_GROUPS_READ];
const VMG: &[Scope] = &[Scope::SERVER_GROUPS];
const TAGS_READ: &[Scope] = &[Scope::TAGS, Scope::TAGS_READ];
const TAGS: &[Scope] = &[Scope::TAGS];
const LISTS_READ: &[Scope] = &[Scope::ADDRESS_LISTS, Scope::ADDRESS_LISTS_READ];
const LISTS: &[Scope] = &[Scope::ADDRESS_LISTS];

impl Operation {
    pub const fn new(resource: Resource, action: Action) -> Self {
        Self { resource, action }
    }

    /// The table.
    pub const fn needs(self) -> Needs {
        use Action::*;
        use Needs::*;
        match (self.resource, self.action) {
            (Resource::Organization, Read | List) => AnyOf(ORGANIZATIONS_READ),
            (Resource::Organization, Create | Update | Delete) => Operator,
            // Katapult shows every caller the networks its organization may use; Defined lists
            // them with a scope of its own.
            (Resource::Network, Read) => Member,
            (Resource::Network, List) => AnyOf(&[Scope::NETWORKS_LIST]),
            (Resource::Network, Create | Update | Delete) => Operator,
            (Resource::Server, Read | List) => AnyOf(SERVERS_READ),
            (Resource::Server, Create | Update | Delete) => AnyOf(SERVERS),
            (Resource::IpAddress, Read | List) => AnyOf(IP_READ),
            (Resource::IpAddress, Create | Update | Delete) => AnyOf(IP),
            (Resource::Group(GroupKind::SecurityGroup), Read | List) => AnyOf(SG_READ),
            (Resource::Group(GroupKind::SecurityGroup), Create | Update) => AnyOf(SG),
            (Resource::Group(GroupKind::SecurityGroup), Delete) => AnyOf(SG_DELETE),
            (Resource::Group(GroupKind::Role), Read) => AnyOf(&[Scope::ROLES_READ]),
            (Resource::Group(GroupKind::Role), List) => AnyOf(&[Scope::ROLES_LIST]),
            (Resource::Group(GroupKind::Role), Create) => AnyOf(&[Scope::ROLES_CREATE]),
            (Resource::Group(GroupKind::Role), Update) => AnyOf(&[Scope::ROLES_UPDATE]),
            (Resource::Group(GroupKind::Role), Delete) => AnyOf(&[Scope::ROLES_DELETE]),
            (Resource::ServerGroup, Read | List) => AnyOf(VMG_READ),
            (Resource::ServerGroup, Create | Update | Delete) => AnyOf(VMG),
            (Resource::Tag, Read | List) => AnyOf(TAGS_READ),
            (Resource::Tag, Create | Update | Delete) => AnyOf(TAGS),
            (Resource::AddressList, Read | List) => AnyOf(LISTS_READ),
            (Resource::AddressList, Create | Update | Delete) => AnyOf(LISTS),
            (Resource::Host, Read) => AnyOf(&[Scope::HOSTS_READ]),
            (Resource::Host, List) => AnyOf(&[Scope::HOSTS_LIST]),
            (Resource::Host, Create) => AnyOf(&[Scope::HOSTS_CREATE]),
            (Resource::Host, Update) => AnyOf(&[Scope::HOSTS_UPDATE]),
            (Resource::Host, Delete) => AnyOf(&[Scope::HOSTS_DELETE]),
            (Resource::Policy, Read | List) => AnyOf(&[Scope::POLICY_READ]),
            (Resource::Policy, Create | Update | Delete) => Operator,
            // Reading (a server's policy, its enforcement state) is also `policy:read`'s; the
            // agent's report is only an agent's; its tokens are the operator's to make.
            (Resource::Enforcement, Read | List) => AnyOf(&[Scope::POLICY_READ, Scope::AGENT]),
            (Resource::Enforcement, Update) => AnyOf(&[Scope::AGENT]),
            (Resource::Enforcement, Create | Delete) => Operator,
            // The trail is written by the core, never through the API.
            (Resource::Audit, Read | List) => AnyOf(&[Scope::AUDIT_READ]),
            (Resource::Audit, Create | Update | Delete) => Operator,
            // Any caller may learn which scopes exist (not an agent token: it reads its policy
            // only); the catalogue is code, nobody changes it.
            (Resource::ScopeCatalogue, Read | List) => Member,
            (Resource::ScopeCatalogue, Create | Update | Delete) => Operator,
        }
    }

    /// The scopes of which a token needs one (none for member and operator operations).
    pub const fn scopes(self) -> &'static [Scope] {
        match self.needs() {
            Needs::AnyOf(scopes) => scopes,
            Needs::Member | Needs::Operator => &[],
        }
    }

    /// Whether an agent token (bound to one server) may perform it, on its own server.
    pub const fn for_agents(self) -> bool {
        matches!((self.resource, self.action), (Resource::Enforcement, Action::Read | Action::Update))
    }

    /// Reading the group (or role) of `kind`, which naming it in a reference requires.
    pub const fn read_group(kind: GroupKind) -> Self {
        Self::new(Resource::Group(kind), Action::Read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_quirks_are_in_the_table() {
        let sg = Resource::Group(GroupKind::SecurityGroup);
        assert_eq!(Operation::new(sg, Action::Delete).scopes(), &[Scope::SECURITY_GROUP_DELETE]);
        assert_eq!(Operation::new(sg, Action::Update).scopes(), &[Scope::SECURITY_GROUPS]);
        let role = Resource::Group(GroupKind::Role);
        assert_eq!(Operation::new(role, Action::Create).scopes(), &[Scope::ROLES_CREATE]);
        assert_eq!(Operation::new(Resource::Network, Action::Read).needs(), Needs::Member);
        assert_eq!(Operation::new(Resource::Organization, Action::Update).needs(), Needs::Operator);
        assert!(Action::Delete.writes() && !Action::List.writes());
    }
}
