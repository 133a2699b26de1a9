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
        CATALOGUE.iter().find(|(s, _)| *s == name).map(|(s, _)| Scope(s))
    }

    /// Every known scope.
    pub fn all() -> impl Iterator<Item = Scope> {
        CATALOGUE.iter().map(|(s, _)| Scope(s))
    }

    /// What the scope grants in Palisade, in one line (`GET /api/v1/scopes` lists it beside the
    /// name).
    pub fn description(&self) -> &'static str {
        CATALOGUE.iter().find(|(s, _)| *s == self.0).map_or("", |(_, d)| d)
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
    pub const AUDIT_READ: Scope = Scope::known("audit:read");
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

/// Every scope name with a one-line description of what it grants here, grouped by the vendor
/// that defined it. Names Palisade accepts for compatibility but no route of it asks for say so.
const CATALOGUE: &[(&str, &str)] = &[
    // Katapult core/v1 (OAuth list without the `api.katapult.io/core/v1/` prefix).
    ("address_lists", "Katapult: read and change the organization's address lists and their entries."),
    ("address_lists:read", "Katapult: read the organization's address lists and their entries."),
    ("api_tokens", "Katapult: manage API tokens (accepted; Palisade's tokens are the operator's to manage)."),
    ("api_tokens:read", "Katapult: read API tokens (accepted; no Palisade route uses it)."),
    ("disk_backup_policies", "Katapult: disk backup policies (accepted; no Palisade route uses it)."),
    ("disk_backup_policies:read", "Katapult: read disk backup policies (accepted; no Palisade route uses it)."),
    ("certificates:read", "Katapult: read certificates (accepted; no Palisade route uses it)."),
    ("disks", "Katapult: disks (accepted; no Palisade route uses it)."),
    ("disks:read", "Katapult: read disks (accepted; no Palisade route uses it)."),
    ("disk_templates", "Katapult: disk templates (accepted; no Palisade route uses it)."),
    ("disk_templates:read", "Katapult: read disk templates (accepted; no Palisade route uses it)."),
    ("file_storage_volumes", "Katapult: file storage volumes (accepted; no Palisade route uses it)."),
    ("file_storage_volumes:read", "Katapult: read file storage volumes (accepted; no Palisade route uses it)."),
    ("ip_addresses", "Allocate, change, allocate to servers and release the organization's IP addresses (native, Katapult)."),
    ("ip_addresses:read", "Read the organization's IP addresses (native, Katapult)."),
    ("object_storage", "Katapult: object storage (accepted; no Palisade route uses it)."),
    ("object_storage:read", "Katapult: read object storage (accepted; no Palisade route uses it)."),
    ("organizations:read", "Read the organization itself (native, Katapult)."),
    ("organizations:delete", "Katapult: delete organizations (accepted; only the operator deletes organizations)."),
    ("managed_organizations", "Katapult: managed organizations (accepted; no Palisade route uses it)."),
    ("managed_organizations:delete", "Katapult: delete managed organizations (accepted; no Palisade route uses it)."),
    ("security_groups", "Create, read and change security groups and their rules (Katapult, Hostway)."),
    ("security_groups:read", "Read security groups and their rules (Katapult, Hostway)."),
    ("tags", "Katapult: read and change the organization's tags."),
    ("tags:read", "Katapult: read the organization's tags."),
    ("tasks:read", "Katapult: read tasks (accepted; no Palisade route uses it)."),
    ("trash_objects:read", "Katapult: read trash objects (accepted; no Palisade route uses it)."),
    ("trash_objects:purge", "Katapult: purge trash objects (accepted; no Palisade route uses it)."),
    ("trash_objects:restore", "Katapult: restore trash objects (accepted; no Palisade route uses it)."),
    ("dns", "Katapult: DNS (accepted; no Palisade route uses it)."),
    ("dns:read", "Katapult: read DNS (accepted; no Palisade route uses it)."),
    ("load_balancers", "Katapult: load balancers (accepted; no Palisade route uses it)."),
    ("load_balancers:read", "Katapult: read load balancers (accepted; no Palisade route uses it)."),
    ("virtual_machines", "Create, read, change and delete the organization's servers (native; Katapult's virtual machines)."),
    ("virtual_machines:read", "Read the organization's servers (native; Katapult's virtual machines)."),
    ("virtual_machines:power_actions", "Katapult: power actions (accepted; no Palisade route uses it)."),
    ("virtual_machines:console", "Katapult: consoles (accepted; no Palisade route uses it)."),
    ("virtual_machines:authorized_keys", "Katapult: authorized keys (accepted; no Palisade route uses it)."),
    ("virtual_machines:network_interfaces", "Katapult: network interfaces (accepted; no Palisade route uses it)."),
    ("virtual_machine_groups", "Katapult: read and change virtual machine groups (server groups); name one in a server change."),
    ("virtual_machine_groups:read", "Katapult: read virtual machine groups (server groups); name one in a server change."),
    ("virtual_networks", "Katapult: virtual networks (accepted; no Palisade route uses it)."),
    ("virtual_networks:read", "Katapult: read virtual networks (accepted; no Palisade route uses it)."),
    // Katapult's quirk: deleting a security group needs the singular name.
    ("security_group", "Delete security groups (Katapult's singular scope for deletion; Hostway too)."),
    // Defined Networking (`resource:action`).
    ("hosts:create", "Defined: create hosts."),
    ("hosts:read", "Defined: read a host."),
    ("hosts:list", "Defined: list hosts."),
    ("hosts:update", "Defined: change hosts."),
    ("hosts:delete", "Defined: delete hosts."),
    ("hosts:enroll", "Defined: enroll hosts (accepted; no Palisade route uses it)."),
    ("hosts:block", "Defined: block hosts (accepted; no Palisade route uses it)."),
    ("hosts:unblock", "Defined: unblock hosts (accepted; no Palisade route uses it)."),
    ("hosts:debug", "Defined: debug hosts (accepted; no Palisade route uses it)."),
    ("roles:create", "Defined: create roles."),
    ("roles:read", "Defined: read a role, and name a role in a rule or a host."),
    ("roles:list", "Defined: list roles."),
    ("roles:update", "Defined: change roles and their firewall rules."),
    ("roles:delete", "Defined: delete roles."),
    ("routes:create", "Defined: create routes (accepted; no Palisade route uses it)."),
    ("routes:read", "Defined: read routes (accepted; no Palisade route uses it)."),
    ("routes:list", "Defined: list routes (accepted; no Palisade route uses it)."),
    ("routes:update", "Defined: change routes (accepted; no Palisade route uses it)."),
    ("routes:delete", "Defined: delete routes (accepted; no Palisade route uses it)."),
    ("tags:create", "Defined: create tags (accepted; no Palisade route uses it)."),
    ("tags:list", "Defined: list tags (accepted; no Palisade route uses it)."),
    ("tags:update", "Defined: change tags (accepted; no Palisade route uses it)."),
    ("tags:delete", "Defined: delete tags (accepted; no Palisade route uses it)."),
    ("networks:create", "Defined: create networks (accepted; networks are the operator's to create)."),
    ("networks:read", "Defined: read networks (accepted; no Palisade route uses it)."),
    ("networks:list", "Defined: list the networks the organization may use."),
    ("networks:update", "Defined: change networks (accepted; networks are the operator's to change)."),
    ("audit-logs:list", "Defined: list audit logs (accepted; no Palisade route uses it)."),
    // Palisade's own: the policy engine's flow checks, effective policies and lint.
    ("policy:read", "Palisade: flow checks, servers' effective policies and enforcement state, lint."),
    ("audit:read", "Palisade: the organization's audit trail, who changed what and when."),
    // A host agent's (agent tokens only: bound to one server, made by
    // `POST …/servers/{id}/agent_tokens`).
    ("agent", "Palisade: a host agent's (agent tokens only, bound to one server): read its policy, report what it applied."),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_has_every_vendor_scope_once() {
        let mut names: Vec<_> = CATALOGUE.iter().map(|(name, _)| *name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "duplicate scope names in the catalogue");
        for name in ["security_group", "security_groups:read", "roles:create", "hosts:delete"] {
            assert_eq!(Scope::parse(name).map(|s| s.as_str()), Some(name));
        }
        assert!(Scope::parse("roles:fly").is_none());
        for scope in Scope::all() {
            let description = scope.description();
            assert!(!description.is_empty() && !description.contains('\n'), "{scope}: {description:?}");
        }
        assert_eq!(Scope::SECURITY_GROUP_DELETE.as_str(), "security_group");
        for s in [Scope::ORGANIZATIONS_READ, Scope::SERVERS, Scope::SERVERS_READ, Scope::IP_ADDRESSES] {
            assert!(Scope::parse(s.as_str()).is_some(), "{s} missing from catalogue");
        }
    }
}
