//! The scope catalogue: every scope name any face understands, in one list.
//!
//! Tokens are created through the native API but used through every face, so the catalogue holds
//! all vendors' names from the start (Katapult's OAuth scope list plus its singular
//! `security_group` quirk, Defined's `resource:action` scopes). An unknown name is rejected when
//! a token is created rather than silently ignored.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A scope name from the catalogue. Stored and rendered as its string form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub struct Scope(&'static str);

impl Scope {
    pub const fn as_str(&self) -> &'static str {
        self.0
    }

    /// Looks a name up in the catalogue.
    pub fn parse(name: &str) -> Option<Self> {
        CATALOGUE.iter().find(|s| **s == name).map(|s| Scope(s))
    }

    /// Every known scope.
    pub fn all() -> impl Iterator<Item = Scope> {
        CATALOGUE.iter().map(|s| Scope(s))
    }

    /// Every scope an organization's token may be given: all but [`Scope::AGENT`], which only
    /// agent tokens hold.
    pub fn grantable() -> impl Iterator<Item = Scope> {
        Self::all().filter(|s| *s != Scope::AGENT)
    }

    const fn known(name: &'static str) -> Self {
        Scope(name)
    }

    // Scopes the core itself refers to.
    pub const ORGANIZATIONS_READ: Scope = Scope::known("organizations:read");
    pub const SERVERS: Scope = Scope::known("virtual_machines");
    pub const SERVERS_READ: Scope = Scope::known("virtual_machines:read");
    pub const SECURITY_GROUPS: Scope = Scope::known("security_groups");
    pub const SECURITY_GROUPS_READ: Scope = Scope::known("security_groups:read");
    pub const SECURITY_GROUP_DELETE: Scope = Scope::known("security_group");
    pub const IP_ADDRESSES: Scope = Scope::known("ip_addresses");
    pub const IP_ADDRESSES_READ: Scope = Scope::known("ip_addresses:read");
    pub const SERVER_GROUPS: Scope = Scope::known("virtual_machine_groups");
    pub const SERVER_GROUPS_READ: Scope = Scope::known("virtual_machine_groups:read");
    pub const TAGS: Scope = Scope::known("tags");
    pub const TAGS_READ: Scope = Scope::known("tags:read");
    pub const ADDRESS_LISTS: Scope = Scope::known("address_lists");
    pub const ADDRESS_LISTS_READ: Scope = Scope::known("address_lists:read");
    pub const NETWORKS_LIST: Scope = Scope::known("networks:list");
    pub const ROLES_CREATE: Scope = Scope::known("roles:create");
    pub const ROLES_READ: Scope = Scope::known("roles:read");
    pub const ROLES_LIST: Scope = Scope::known("roles:list");
    pub const ROLES_UPDATE: Scope = Scope::known("roles:update");
    pub const ROLES_DELETE: Scope = Scope::known("roles:delete");
    pub const HOSTS_CREATE: Scope = Scope::known("hosts:create");
    pub const HOSTS_READ: Scope = Scope::known("hosts:read");
    pub const HOSTS_LIST: Scope = Scope::known("hosts:list");
    pub const HOSTS_UPDATE: Scope = Scope::known("hosts:update");
    pub const HOSTS_DELETE: Scope = Scope::known("hosts:delete");
    pub const POLICY_READ: Scope = Scope::known("policy:read");
    /// A host agent's: read its server's policy, report what it applied. Only agent tokens
    /// (bound to one server) hold it.
    pub const AGENT: Scope = Scope::known("agent");
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl FromStr for Scope {
    type Err = UnknownScope;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::parse(s).ok_or_else(|| UnknownScope(s.to_owned()))
    }
}

impl TryFrom<String> for Scope {
    type Error = UnknownScope;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Scope> for &'static str {
    fn from(s: Scope) -> Self {
        s.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope `{0}`")]
pub struct UnknownScope(pub String);

/// Every scope name, grouped by the vendor that defined it.
const CATALOGUE: &[&str] = &[
    // Katapult core/v1 (OAuth list without the `api.katapult.io/core/v1/` prefix).
    "address_lists",
    "address_lists:read",
    "api_tokens",
    "api_tokens:read",
    "disk_backup_policies",
    "disk_backup_policies:read",
    "certificates:read",
    "disks",
    "disks:read",
    "disk_templates",
    "disk_templates:read",
    "file_storage_volumes",
    "file_storage_volumes:read",
    "ip_addresses",
    "ip_addresses:read",
    "object_storage",
    "object_storage:read",
    "organizations:read",
    "organizations:delete",
    "managed_organizations",
    "managed_organizations:delete",
    "security_groups",
    "security_groups:read",
    "tags",
    "tags:read",
    "tasks:read",
    "trash_objects:read",
    "trash_objects:purge",
    "trash_objects:restore",
    "dns",
    "dns:read",
    "load_balancers",
    "load_balancers:read",
    "virtual_machines",
    "virtual_machines:read",
    "virtual_machines:power_actions",
    "virtual_machines:console",
    "virtual_machines:authorized_keys",
    "virtual_machines:network_interfaces",
    "virtual_machine_groups",
    "virtual_machine_groups:read",
    "virtual_networks",
    "virtual_networks:read",
    // Katapult's quirk: deleting a security group needs the singular name.
    "security_group",
    // Defined Networking (`resource:action`).
    "hosts:create",
    "hosts:read",
    "hosts:list",
    "hosts:update",
    "hosts:delete",
    "hosts:enroll",
    "hosts:block",
    "hosts:unblock",
    "hosts:debug",
    "roles:create",
    "roles:read",
    "roles:list",
    "roles:update",
    "roles:delete",
    "routes:create",
    "routes:read",
    "routes:list",
    "routes:update",
    "routes:delete",
    "tags:create",
    "tags:list",
    "tags:update",
    "tags:delete",
    "networks:create",
    "networks:read",
    "networks:list",
    "networks:update",
    "audit-logs:list",
    // Palisade's own: the policy engine's flow checks, effective policies and lint.
    "policy:read",
    // A host agent's (agent tokens only: bound to one server, made by
    // `POST …/servers/{id}/agent_tokens`).
    "agent",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_has_every_vendor_scope_once() {
        let mut names: Vec<_> = CATALOGUE.to_vec();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "duplicate scope names in the catalogue");
        for name in ["security_group", "security_groups:read", "roles:create", "hosts:delete"] {
            assert_eq!(Scope::parse(name).map(|s| s.as_str()), Some(name));
        }
        assert!(Scope::parse("roles:fly").is_none());
        assert_eq!(Scope::SECURITY_GROUP_DELETE.as_str(), "security_group");
        for s in [Scope::ORGANIZATIONS_READ, Scope::SERVERS, Scope::SERVERS_READ, Scope::IP_ADDRESSES] {
            assert!(Scope::parse(s.as_str()).is_some(), "{s} missing from catalogue");
        }
    }
}
