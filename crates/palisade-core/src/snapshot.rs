//! The policy snapshot: everything that decides one organization's policy, read at once.
//!
//! The policy compiler and evaluator are pure functions of a [`PolicySnapshot`] (design
//! invariant 6): they never read the store themselves, so what they compute is the policy of one
//! state of the database, never a mixture of two. A store builds a snapshot in **one consistent
//! read** (one transaction that sees one state: SQLite's deferred read transaction, PostgreSQL's
//! `REPEATABLE READ READ ONLY`), with a fixed number of queries whatever the organization's size
//! (one per table, filtered by organization), and assembles it in memory.
//!
//! What is in it, and why (a rule or a membership can only be resolved against these):
//!
//! - **Groups and roles** ([`GroupPolicy`]), of every [`GroupKind`], each with its rules: the
//!   rules are the policy; a group's members say which servers it applies to; its allow-all flags
//!   stand for rules it does not store. A rule's remote may name another group
//!   ([`Remote::Group`]), whose members it then means, so every group is needed, not only those a
//!   given server is in.
//! - **Servers**, with their interfaces' addresses and their tags: a member or a remote naming a
//!   server means its addresses; a tag member or remote means the servers carrying its name;
//!   Defined's host remotes select servers by role and tags.
//! - **Server groups** and **tags**: members and remotes refer to them by id. A server names
//!   its server group by id ([`Server::server_group`]), so a group's servers are found from the
//!   servers; the groups are here so that a reference to one resolves (to the servers in it,
//!   perhaps none) rather than dangling. A tag's *name* is what servers carry, so the id must
//!   be resolved to the name here.
//! - **Address lists** with their entries, the organization's own and the global ones (the
//!   operator's, usable by every organization): [`Remote::AddressList`] means a list's entries.
//! - **Hosts** (servers of an overlay network) with their roles and overlay settings: a host's
//!   role decides which role rules apply to it, and lighthouses and relays are what the overlay's
//!   own configuration is built from.
//!
//! Not in it: networks and address records that are not on a server's interface (an address
//! nobody uses admits nothing), tokens, users and the organization's other settings.
//!
//! [`Remote::Group`]: crate::policy::Remote::Group
//! [`Remote::AddressList`]: crate::policy::Remote::AddressList

use crate::id::{OrganizationId, SecurityGroupId, ServerId};
use crate::model::{Host, Overlay, Server};
use crate::policy::{AddressList, GroupKind, Rule, SecurityGroup, ServerGroup, Tag};

/// One organization's policy, as one state of the store. Every list is in creation order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySnapshot {
    pub organization_id: OrganizationId,
    /// The organization's policy revision this snapshot is of: the same revision always means
    /// the same policy, so a consumer may skip recompiling an unchanged one.
    /// Read in the snapshot's own transaction ([`crate::store::RecordReads::policy_revision`]).
    pub revision: u64,
    /// Security groups and roles, with their members, annotations and rules.
    pub groups: Vec<GroupPolicy>,
    /// Every server of the organization (hosts included), with interfaces, addresses and tags.
    pub servers: Vec<Server>,
    pub server_groups: Vec<ServerGroup>,
    pub tags: Vec<Tag>,
    /// The organization's own address lists, with their entries.
    pub address_lists: Vec<AddressList>,
    /// The global address lists (no organization), with their entries: rules of every
    /// organization may refer to them.
    pub global_address_lists: Vec<AddressList>,
    /// What makes a server a host, for the servers that are (their server is in `servers`).
    pub hosts: Vec<HostPolicy>,
}

/// A security group or role with its rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupPolicy {
    /// The group with its members and annotations, as [`crate::Store::security_group`] reads it.
    pub group: SecurityGroup,
    /// Its rules, in creation order, as [`crate::Store::list_rules`] reads them. Shared: the
    /// store keeps a group's rules between snapshots, so a snapshot of 100,000 rules copies none.
    pub rules: std::sync::Arc<Vec<Rule>>,
}

/// What makes a server a host of an overlay network (see [`Host`]), beside its server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPolicy {
    pub server_id: ServerId,
    /// The host's role: its membership of a [`GroupKind::Role`] group, which that group's
    /// `members` also show.
    pub role: Option<SecurityGroupId>,
    pub overlay: Overlay,
    pub modified_at: time::OffsetDateTime,
}

impl PolicySnapshot {
    /// The snapshot of an organization with nothing in it.
    pub fn empty(organization_id: OrganizationId) -> Self {
        Self {
            organization_id,
            revision: 0,
            groups: Vec::new(),
            servers: Vec::new(),
            server_groups: Vec::new(),
            tags: Vec::new(),
            address_lists: Vec::new(),
            global_address_lists: Vec::new(),
            hosts: Vec::new(),
        }
    }

    /// The group or role with this id.
    pub fn group(&self, id: SecurityGroupId) -> Option<&GroupPolicy> {
        self.groups.iter().find(|g| g.group.id == id)
    }

    /// The groups of one kind.
    pub fn groups_of(&self, kind: GroupKind) -> impl Iterator<Item = &GroupPolicy> {
        self.groups.iter().filter(move |g| g.group.kind == kind)
    }

    pub fn server(&self, id: ServerId) -> Option<&Server> {
        self.servers.iter().find(|s| s.id == id)
    }

    /// The host with this server id, whole (as [`crate::Store::host`] reads it).
    pub fn host(&self, id: ServerId) -> Option<Host> {
        let host = self.hosts.iter().find(|h| h.server_id == id)?;
        Some(Host {
            server: self.server(id)?.clone(),
            role: host.role,
            overlay: host.overlay.clone(),
            modified_at: host.modified_at,
        })
    }

    /// How many rules all groups hold.
    pub fn rule_count(&self) -> usize {
        self.groups.iter().map(|g| g.rules.len()).sum()
    }
}
