//! Security groups (and roles) and their rules.
//!
//! Which scope an operation needs depends on the kind of group: Katapult's security groups use
//! `security_groups` (and the singular `security_group` to delete), Defined's roles use
//! `roles:<action>`. The table is [`crate::access`], so no face can get it wrong. Operations on a
//! group named by id check the caller's scopes first, then load the group, then its owner: a
//! caller without the scope cannot tell an existing group from a missing one, and another
//! organization's group is simply not found.

use std::collections::{BTreeSet, HashMap};

use super::group_pages;
use super::lookup::OrganizationRef;
use super::sessions::Job;
use super::tenancy::NAME_MAX;
use super::Core;
use crate::access::{Action, Operation, Resource};
use crate::audit::{self, Change, ObjectKind, Verb};
use crate::auth::Principal;
use crate::error::{Error, Result, ViolationCode};
use crate::grant::Authorized;
use crate::id::{OrganizationId, RuleId, SecurityGroupId, ServerGroupId, TagId};
use crate::limits::{
    MAX_ANNOTATIONS, MAX_ANNOTATION_VALUE, MAX_MEMBERS, MAX_PORT_RANGES, MAX_REMOTES, MAX_RULES, MAX_TAGS,
};
use crate::model::now;
use crate::page::{Page, PageRequest};
use crate::policy::Tag;
use crate::policy::{
    Action as RuleAction, Annotation, Direction, GroupFilter, GroupKind, IcmpMatch, IpVersion, Member,
    PortRange, Protocol, Remote, Rule, RulePatch, SecurityGroup, SecurityGroupPatch, ServerGroup,
};
use crate::store::{Reads, Writes};
use crate::validate::Violations;

fn group_op(kind: GroupKind, action: Action) -> Operation {
    Operation::new(Resource::Group(kind), action)
}

/// Rule operations are group updates, except reading.
fn rule_op(kind: GroupKind, write: bool) -> Operation {
    group_op(kind, if write { Action::Update } else { Action::Read })
}

#[derive(Debug, Clone)]
pub struct CreateSecurityGroup {
    /// The id the client chose (ZStack's `resourceUuid`); a fresh one when `None`. An id in use
    /// is refused as already existing.
    pub id: Option<SecurityGroupId>,
    pub name: String,
    pub description: Option<String>,
    pub allow_all_inbound: bool,
    pub allow_all_outbound: bool,
    /// See [`SecurityGroup::allow_unmatched_outbound`].
    pub allow_unmatched_outbound: bool,
    pub members: Vec<Member>,
    pub annotations: Vec<Annotation>,
    /// Rules created with the group, atomically. A rule may name the group itself as a remote
    /// (ZStack's default same-group rules), through the id given in `id`.
    pub rules: Vec<CreateRule>,
    /// See [`SecurityGroup::ip_version`].
    pub ip_version: Option<IpVersion>,
}

#[derive(Debug, Clone)]
pub struct CreateRule {
    pub direction: Direction,
    pub action: RuleAction,
    pub protocol: Protocol,
    pub ports: Vec<PortRange>,
    /// See [`Rule::icmp`].
    pub icmp: Option<IcmpMatch>,
    pub priority: Option<i32>,
    pub remotes: Vec<Remote>,
    pub description: Option<String>,
}

/// An interface of one of an organization's servers (ZStack's VM NIC): its server, its place
/// among the server's interfaces, and the interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nic {
    pub server: crate::id::ServerId,
    pub device: usize,
    pub interface: crate::model::Interface,
}

/// How a client names a security group or role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupRef {
    pub id: SecurityGroupId,
    /// The organization the request names it in (a path's account): a group of another
    /// organization is not found.
    pub organization: Option<OrganizationId>,
    /// The day of creation (UTC) the name carries (Hostway's ids carry it): a group created on
    /// another day is not found.
    pub created_on: Option<time::Date>,
}

impl From<SecurityGroupId> for GroupRef {
    fn from(id: SecurityGroupId) -> Self {
        GroupRef { id, organization: None, created_on: None }
    }
}

impl GroupRef {
    fn names(&self, group: &SecurityGroup) -> bool {
        self.organization.is_none_or(|org| org == group.organization_id)
            && self
                .created_on
                .is_none_or(|day| day == group.created_at.to_offset(time::UtcOffset::UTC).date())
    }
}

/// How a client names a rule: by id, or by the number its organization gave it (Hostway's
/// `145`; numbers are per organization, so the same number names another rule elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleRef {
    Id(RuleId),
    Number(OrganizationId, u64),
}

impl From<RuleId> for RuleRef {
    fn from(id: RuleId) -> Self {
        RuleRef::Id(id)
    }
}

/// A group with all its rules and their numbers (in their organization), read together.
#[derive(Debug, Clone)]
pub struct GroupRules {
    pub group: SecurityGroup,
    pub rules: Vec<Rule>,
    pub numbers: HashMap<RuleId, u64>,
    /// For each rule with a remote that is not an address (a server, group, server group, tag,
    /// address list or Defined hosts), the addresses its remotes name at the policy's current
    /// revision: what a face that can only show addresses shows for it.
    pub resolved: HashMap<RuleId, std::sync::Arc<crate::engine::IpSet>>,
}

/// A rule just created, with its group and the number its organization gave it.
#[derive(Debug, Clone)]
pub struct NewRule {
    pub rule: Rule,
    pub group: SecurityGroup,
    pub number: u64,
}

fn protocol_name(p: Protocol) -> String {
    match p {
        Protocol::Icmpv6 => "ICMPv6".into(),
        other => other.as_text().to_uppercase(),
    }
}

impl Core {
    /// Members of a group: at most [`MAX_MEMBERS`], counted before any is looked up.
    async fn check_members(
        r: &mut dyn Reads,
        v: &mut Violations,
        org: OrganizationId,
        members: &[Member],
    ) -> Result<()> {
        if !v.count("members", members.len(), MAX_MEMBERS) {
            return Ok(());
        }
        let mut seen = BTreeSet::new();
        for (i, member) in members.iter().enumerate() {
            let exists = match member {
                Member::Server(server) => r.server(org, *server).await?.is_some(),
                Member::ServerGroup(group) => {
                    r.server_group(*group).await?.is_some_and(|g| g.organization_id == org)
                }
                Member::Tag(tag) => r.tag(*tag).await?.is_some_and(|t| t.organization_id == org),
                // The organization's own networks and the shared ones.
                Member::Network(network) => {
                    r.network(*network).await?.is_some_and(|n| n.organization_id.is_none_or(|o| o == org))
                }
                Member::Interface(interface) => {
                    r.interface(*interface).await?.is_some_and(|i| i.organization_id == org)
                }
            };
            if !seen.insert(*member) {
                v.push(format!("members[{i}]"), ViolationCode::Duplicate, "is listed twice");
            } else if !exists {
                v.push(
                    format!("members[{i}]"),
                    ViolationCode::InvalidReference,
                    format!("is not a {} of the organization", member.kind()),
                );
            }
        }
        Ok(())
    }

    /// At most [`MAX_ANNOTATIONS`]; keys are names, values free text without NUL.
    pub(super) fn check_annotations(v: &mut Violations, annotations: &[Annotation]) {
        if !v.count("annotations", annotations.len(), MAX_ANNOTATIONS) {
            return;
        }
        for (i, a) in annotations.iter().enumerate() {
            v.text(&format!("annotations[{i}].key"), &a.key, 1, NAME_MAX);
            if let Some(value) = &a.value {
                v.free_text(&format!("annotations[{i}].value"), value, MAX_ANNOTATION_VALUE);
            }
        }
    }

    /// The sizes of a rule: counted before any of its remotes is looked up. Returns whether the
    /// rule's items should be checked.
    fn check_rule_size(v: &mut Violations, ports: usize, remotes: &[Remote], at: &str) -> bool {
        let sized = v.count(&format!("{at}ports"), ports, MAX_PORT_RANGES);
        let sized = v.count(&format!("{at}remotes"), remotes.len(), MAX_REMOTES) && sized;
        remotes.iter().enumerate().fold(sized, |ok, (i, remote)| match remote {
            Remote::Hosts { tags, .. } => {
                v.count(&format!("{at}remotes[{i}].tags"), tags.len(), MAX_TAGS) && ok
            }
            _ => ok,
        })
    }

    /// Validates a rule of `group`; `at` prefixes the paths (`rules[2].`).
    async fn check_rule(
        r: &mut dyn Reads,
        v: &mut Violations,
        actor: &Principal,
        group: &SecurityGroup,
        rule: &Rule,
        at: &str,
    ) -> Result<()> {
        if !rule.ports.is_empty() && !rule.protocol.has_ports() {
            v.push(
                format!("{at}ports"),
                ViolationCode::InvalidValue,
                format!("cannot be set with {}", protocol_name(rule.protocol)),
            );
        }
        if rule.icmp.is_some() && !matches!(rule.protocol, Protocol::Icmp | Protocol::Icmpv6) {
            v.push(
                format!("{at}icmp"),
                ViolationCode::InvalidValue,
                "an ICMP type applies to ICMP rules only",
            );
        }
        if let Some(d) = &rule.description {
            v.text(&format!("{at}description"), d, 0, NAME_MAX);
        }
        if !Self::check_rule_size(v, rule.ports.len(), &rule.remotes, at) {
            return Ok(());
        }
        let org = group.organization_id;
        for (i, remote) in rule.remotes.iter().enumerate() {
            // Faces build CIDR remotes with `Remote::cidr`; the core holds every face to it.
            if let Remote::Cidr(text) = remote {
                if let Err(e) = Remote::cidr(text) {
                    v.push(format!("{at}remotes[{i}]"), ViolationCode::InvalidValue, e.message());
                    continue;
                }
            }
            if let Remote::Hosts { tags, .. } = remote {
                for (j, tag) in tags.iter().enumerate() {
                    v.text(&format!("{at}remotes[{i}].tags[{j}]"), tag, 1, NAME_MAX);
                }
            }
            let known = match remote {
                Remote::Server(id) => r.server(org, *id).await?.is_some(),
                // The group itself (ZStack's same-group rules) exists once its rules do.
                Remote::Group(id) if *id == group.id => true,
                Remote::Group(id) => r.security_group(*id).await?.is_some_and(|g| g.organization_id == org),
                Remote::ServerGroup(id) => {
                    r.server_group(*id).await?.is_some_and(|g| g.organization_id == org)
                }
                Remote::Hosts { role: Some(id), .. } => Self::role_exists(r, actor, org, *id).await?,
                Remote::AddressList(id) => {
                    r.address_list(*id).await?.is_some_and(|l| l.organization_id.is_none_or(|o| o == org))
                }
                Remote::Tag(id) => r.tag(*id).await?.is_some_and(|t| t.organization_id == org),
                _ => true,
            };
            if !known {
                v.push(format!("{at}remotes[{i}]"), ViolationCode::InvalidReference, "does not exist");
            }
        }
        Ok(())
    }

    /// Loads a group of `kind` the caller may `action`: the scopes first, then the group; any
    /// other group (another organization's, of the other kind, or not the one the reference's
    /// qualifiers name) is simply not found.
    async fn authorized_group(
        reads: &mut dyn Reads,
        actor: &Principal,
        reference: &GroupRef,
        kind: GroupKind,
        action: Action,
    ) -> Result<SecurityGroup> {
        let op = group_op(kind, action);
        actor.require_scopes(op)?;
        let group = reads.security_group(reference.id).await?;
        Self::authorize_group(actor, group, reference, kind, op).map(Authorized::into_inner)
    }

    /// [`Core::authorized_group`] in a write transaction: the group is locked until commit, so
    /// what the caller changes is applied to the group as it is now.
    async fn locked_group(
        tx: &mut dyn Writes,
        actor: &Principal,
        reference: &GroupRef,
        kind: GroupKind,
        action: Action,
    ) -> Result<Authorized<SecurityGroup>> {
        let op = group_op(kind, action);
        actor.require_scopes(op)?;
        let group = tx.security_group_for_update(reference.id).await?;
        Self::authorize_group(actor, group, reference, kind, op)
    }

    /// A group of `kind` that `reference` names, of an organization `op` is allowed on, else
    /// not found.
    fn authorize_group(
        actor: &Principal,
        group: Option<SecurityGroup>,
        reference: &GroupRef,
        kind: GroupKind,
        op: Operation,
    ) -> Result<Authorized<SecurityGroup>> {
        let group = group
            .filter(|g| g.kind == kind && reference.names(g))
            .ok_or(Error::not_found(SecurityGroupId::KIND))?;
        let grant = actor.authorize_object(group.organization_id, op, SecurityGroupId::KIND)?;
        Ok(Authorized::new(group, grant))
    }

    /// Creates a group of `kind` with its members, annotations and rules, atomically.
    ///
    /// `input` is the request as the face read it. An error the face found in it that is only
    /// an error inside an organization the caller may use (Katapult's unknown association, a
    /// 422) is answered after the organization is resolved and authorized, so that it cannot
    /// tell another organization from a missing one.
    pub async fn create_security_group(
        &self,
        actor: &Principal,
        org: impl Into<OrganizationRef> + Send,
        kind: GroupKind,
        input: Result<CreateSecurityGroup>,
        job: Option<Job<'_, (SecurityGroup, Vec<Rule>)>>,
    ) -> Result<(SecurityGroup, Vec<Rule>)> {
        let org = self.resolve_organization(&org.into()).await?;
        let grant = actor.authorize(org, group_op(kind, Action::Create))?;
        let input = input?;
        let mut v = Violations::new();
        v.text("name", &input.name, 1, NAME_MAX);
        if let Some(d) = &input.description {
            v.text("description", d, 0, NAME_MAX);
        }
        Self::check_annotations(&mut v, &input.annotations);
        // Every size is counted before the first lookup (members here, rules' remotes below).
        let rules_sized = v.count("rules", input.rules.len(), MAX_RULES)
            && input.rules.iter().enumerate().fold(true, |ok, (i, r)| {
                Self::check_rule_size(&mut v, r.ports.len(), &r.remotes, &format!("rules[{i}].")) && ok
            });
        if !rules_sized || !v.count("members", input.members.len(), MAX_MEMBERS) {
            v.checkpoint()?;
        }
        let mut tx = self.write(actor).await?;
        Self::check_members(&mut *tx, &mut v, org, &input.members).await?;
        v.finish()?;
        tx.organization(org).await?.ok_or(Error::not_found(OrganizationId::KIND))?;
        let at = now();
        let mut group = SecurityGroup {
            id: input.id.unwrap_or_else(SecurityGroupId::random),
            organization_id: org,
            kind,
            name: input.name,
            description: input.description,
            allow_all_inbound: input.allow_all_inbound,
            allow_all_outbound: input.allow_all_outbound,
            allow_unmatched_outbound: input.allow_unmatched_outbound,
            members: input.members,
            annotations: input.annotations,
            enabled: true,
            ip_version: input.ip_version,
            serial: 0,
            created_at: at,
            updated_at: at,
        };
        let rules = Self::build_rules(&mut *tx, actor, &group, input.rules).await?;
        group.serial = tx.insert_security_group(&grant, &group, &rules).await?;
        let created = Change::created(Some(org), kind.into(), group.id, &group).field("rules", (), &rules);
        tx.record(created).await?;
        let out = (group, rules);
        self.commit_with_job(tx, &grant, job, &out).await?;
        Ok(out)
    }

    /// Rules for `group` from their descriptions, validated together (paths `rules[i].…`).
    async fn build_rules(
        r: &mut dyn Reads,
        actor: &Principal,
        group: &SecurityGroup,
        inputs: Vec<CreateRule>,
    ) -> Result<Vec<Rule>> {
        let mut v = Violations::new();
        if !v.count("rules", inputs.len(), MAX_RULES) {
            v.checkpoint()?;
        }
        let sized = inputs.iter().enumerate().fold(true, |ok, (i, r)| {
            Self::check_rule_size(&mut v, r.ports.len(), &r.remotes, &format!("rules[{i}].")) && ok
        });
        if !sized {
            v.checkpoint()?;
        }
        let mut rules = Vec::with_capacity(inputs.len());
        for (i, input) in inputs.into_iter().enumerate() {
            let rule = Rule {
                id: RuleId::random(),
                group_id: group.id,
                direction: input.direction,
                action: input.action,
                protocol: input.protocol,
                ports: input.ports,
                icmp: input.icmp,
                priority: input.priority,
                remotes: input.remotes,
                description: input.description,
                created_at: now(),
            };
            if (rule.direction == Direction::Inbound && group.allow_all_inbound)
                || (rule.direction == Direction::Outbound && group.allow_all_outbound)
            {
                return Err(crate::policy::allow_all_violation(rule.direction));
            }
            Self::check_rule(r, &mut v, actor, group, &rule, &format!("rules[{i}].")).await?;
            rules.push(rule);
        }
        v.finish()?;
        Ok(rules)
    }

    /// A group with all its rules and their numbers, read together (Defined renders roles with
    /// their rules inline; Hostway numbers them).
    pub async fn group_with_rules(
        &self,
        actor: &Principal,
        reference: impl Into<GroupRef> + Send,
        kind: GroupKind,
    ) -> Result<GroupRules> {
        let mut reads = self.read().await?;
        let group = Self::authorized_group(&mut *reads, actor, &reference.into(), kind, Action::Read).await?;
        let mut found = [Self::rules_of(&mut *reads, group).await?];
        drop(reads);
        self.resolve_references(&mut found).await?;
        let [group] = found;
        Ok(group)
    }

    /// Fills each group's `resolved` from the organization's compiled policy, which is read (and
    /// compiled, once per revision) only when a rule has a remote that is not an address.
    async fn resolve_references(&self, groups: &mut [GroupRules]) -> Result<()> {
        let referring = |rule: &Rule| rule.remotes.iter().any(|r| r.network().is_none());
        let Some(org) =
            groups.iter().find(|g| g.rules.iter().any(referring)).map(|g| g.group.organization_id)
        else {
            return Ok(());
        };
        let evaluated = self.evaluated(org).await?;
        for group in groups {
            for rule in group.rules.iter().filter(|r| referring(r)) {
                if let Some(entry) = evaluated.compiled.rule(rule.id) {
                    group.resolved.insert(rule.id, entry.rule.remote.clone());
                }
            }
        }
        Ok(())
    }

    /// `group`'s rules and their numbers, read through `reads`.
    async fn rules_of(reads: &mut dyn Reads, group: SecurityGroup) -> Result<GroupRules> {
        let rules = reads.list_rules(group.id, PageRequest::all()).await?.items;
        let numbers = reads.rule_numbers(group.organization_id, &[group.id]).await?.into_iter().collect();
        Ok(GroupRules { group, rules, numbers, resolved: HashMap::new() })
    }

    /// A page of groups of one kind, each with all its rules: a few queries per page (groups,
    /// their members and annotations, their rules), whatever the page's size.
    pub async fn groups_with_rules(
        &self,
        actor: &Principal,
        org: OrganizationId,
        kind: GroupKind,
        page: PageRequest,
    ) -> Result<Page<GroupRules>> {
        actor.authorize(org, group_op(kind, Action::List))?;
        let mut reads = self.read_in(org).await?;
        let groups = reads.list_security_groups(org, kind, &GroupFilter::default(), page).await?;
        let ids: Vec<SecurityGroupId> = groups.items.iter().map(|g| g.id).collect();
        let mut rules: HashMap<SecurityGroupId, Vec<Rule>> = HashMap::new();
        for rule in reads.rules_of_groups(&ids).await? {
            rules.entry(rule.group_id).or_default().push(rule);
        }
        let mut numbers: HashMap<RuleId, u64> = reads.rule_numbers(org, &ids).await?.into_iter().collect();
        let items = groups
            .items
            .into_iter()
            .map(|group| {
                let rules = rules.remove(&group.id).unwrap_or_default();
                let numbers = rules.iter().filter_map(|r| numbers.remove_entry(&r.id)).collect();
                GroupRules { group, rules, numbers, resolved: HashMap::new() }
            })
            .collect::<Vec<_>>();
        drop(reads);
        let mut items = items;
        self.resolve_references(&mut items).await?;
        Ok(Page { items, total: groups.total, request: groups.request })
    }

    /// Replaces a group's description and every rule (and its name when given) in one
    /// transaction: Defined's full-replacement `PUT`.
    pub async fn replace_group(
        &self,
        actor: &Principal,
        id: SecurityGroupId,
        kind: GroupKind,
        name: Option<String>,
        description: Option<String>,
        rules: Vec<CreateRule>,
    ) -> Result<(SecurityGroup, Vec<Rule>)> {
        let mut tx = self.write(actor).await?;
        let group = Self::locked_group(&mut *tx, actor, &id.into(), kind, Action::Update).await?;
        let mut v = Violations::new();
        if let Some(name) = &name {
            v.text("name", name, 1, NAME_MAX);
        }
        if let Some(d) = &description {
            v.text("description", d, 0, NAME_MAX);
        }
        v.finish()?;
        let rules = Self::build_rules(&mut *tx, actor, &group, rules).await?;
        let before = (audit::state(&*group), tx.list_rules(id, PageRequest::all()).await?.items);
        let patch = SecurityGroupPatch {
            name,
            description: Some(description),
            rules: Some(rules.clone()),
            ..Default::default()
        };
        let grant = *group.grant();
        let group = tx.update_security_group(&grant, id, &patch, now()).await?;
        let org = Some(group.organization_id);
        let change =
            Change::updated(org, kind.into(), id, &before.0, &group).field("rules", &before.1, &rules);
        tx.record(change).await?;
        tx.commit().await?;
        Ok((group, rules))
    }

    pub async fn security_group(
        &self,
        actor: &Principal,
        reference: impl Into<GroupRef> + Send,
        kind: GroupKind,
    ) -> Result<SecurityGroup> {
        let mut reads = self.read().await?;
        Self::authorized_group(&mut *reads, actor, &reference.into(), kind, Action::Read).await
    }

    pub async fn list_security_groups(
        &self,
        actor: &Principal,
        org: impl Into<OrganizationRef> + Send,
        kind: GroupKind,
        filter: &GroupFilter,
        page: PageRequest,
    ) -> Result<Page<SecurityGroup>> {
        let mut reads = self.read().await?;
        let org = Self::resolve_in(&mut *reads, &org.into()).await?;
        actor.authorize(org, group_op(kind, Action::List))?;
        // Filter values are compared, not stored: only their number and characters matter.
        let mut v = Violations::new();
        if v.count("annotations", filter.annotations.len(), MAX_ANNOTATIONS) {
            for (i, a) in filter.annotations.iter().enumerate() {
                v.name_chars(&format!("annotations[{i}].key"), &a.key);
                if let Some(value) = &a.value {
                    v.free_text(&format!("annotations[{i}].value"), value, MAX_ANNOTATION_VALUE);
                }
            }
        }
        v.finish()?;
        Self::existing_in(&mut *reads, org).await?;
        // The page kept for the organization's current policy revision, if any: one indexed
        // read instead of the page's (see `group_pages`).
        let revision = reads.policy_revision(org).await?;
        let listing = group_pages::Listing { org, kind, filter: filter.clone(), page };
        if let Some(kept) = self.group_pages.get(&listing, revision) {
            return Ok(Page::clone(&kept));
        }
        let listed = std::sync::Arc::new(reads.list_security_groups(org, kind, filter, page).await?);
        self.group_pages.keep(listing, revision, listed.clone());
        Ok(std::sync::Arc::unwrap_or_clone(listed))
    }

    /// Changes a group; answers it as committed, with its rules and their numbers.
    pub async fn update_security_group(
        &self,
        actor: &Principal,
        reference: impl Into<GroupRef> + Send,
        kind: GroupKind,
        patch: SecurityGroupPatch,
        job: Option<Job<'_, GroupRules>>,
    ) -> Result<GroupRules> {
        let mut tx = self.write(actor).await?;
        let group = Self::locked_group(&mut *tx, actor, &reference.into(), kind, Action::Update).await?;
        let id = group.id;
        let mut v = Violations::new();
        if let Some(name) = &patch.name {
            v.text("name", name, 1, NAME_MAX);
        }
        if let Some(Some(d)) = &patch.description {
            v.text("description", d, 0, NAME_MAX);
        }
        if let Some(annotations) = &patch.annotations {
            Self::check_annotations(&mut v, annotations);
        }
        if let Some(members) = &patch.members {
            Self::check_members(&mut *tx, &mut v, group.organization_id, members).await?;
        }
        v.finish()?;
        let mut patch = patch;
        if let Some(members) = &mut patch.members {
            // Networks and interfaces are attached through ZStack only: a face replacing the
            // members it can name keeps them.
            let attached =
                group.members.iter().filter(|m| matches!(m, Member::Network(_) | Member::Interface(_)));
            members.extend(attached.filter(|m| !members.contains(m)).copied().collect::<Vec<_>>());
        }
        let grant = *group.grant();
        let rules_before = match patch.rules {
            Some(_) => Some(tx.list_rules(id, PageRequest::all()).await?.items),
            None => None,
        };
        let before = audit::state(&*group);
        let group = tx.update_security_group(&grant, id, &patch, now()).await?;
        let mut change = Change::updated(Some(group.organization_id), kind.into(), id, &before, &group);
        if let (Some(before), Some(after)) = (&rules_before, &patch.rules) {
            change = change.field("rules", before, after);
        }
        tx.record(change).await?;
        let group = Self::rules_of(&mut *tx, group).await?;
        self.commit_with_job(tx, &grant, job, &group).await?;
        Ok(group)
    }

    pub async fn delete_security_group(
        &self,
        actor: &Principal,
        reference: impl Into<GroupRef> + Send,
        kind: GroupKind,
        job: Option<Job<'_, SecurityGroup>>,
    ) -> Result<SecurityGroup> {
        let mut tx = self.write(actor).await?;
        let group = Self::locked_group(&mut *tx, actor, &reference.into(), kind, Action::Delete).await?;
        let id = group.id;
        // Hosts carry their role: deleting it would silently change what they admit.
        let hosts = group.members.iter().filter(|m| matches!(m, Member::Server(_))).count();
        if kind == GroupKind::Role && hosts > 0 {
            return Err(Error::Conflict(format!(
                "the role is assigned to {hosts} host(s); give them another role or none first"
            )));
        }
        tx.delete_security_group(group.grant(), id).await?;
        tx.record(Change::deleted(Some(group.organization_id), kind.into(), id, &*group)).await?;
        self.commit_with_job(tx, group.grant(), job, &*group).await?;
        Ok(group.into_inner())
    }

    pub async fn create_rule(
        &self,
        actor: &Principal,
        group: impl Into<GroupRef> + Send,
        kind: GroupKind,
        input: CreateRule,
    ) -> Result<NewRule> {
        let mut tx = self.write(actor).await?;
        let group = Self::locked_group(&mut *tx, actor, &group.into(), kind, Action::Update).await?;
        let rule = Rule {
            id: RuleId::random(),
            group_id: group.id,
            direction: input.direction,
            action: input.action,
            protocol: input.protocol,
            ports: input.ports,
            icmp: input.icmp,
            priority: input.priority,
            remotes: input.remotes,
            description: input.description,
            created_at: now(),
        };
        let mut v = Violations::new();
        Self::check_rule(&mut *tx, &mut v, actor, &group, &rule, "").await?;
        v.finish()?;
        tx.insert_rule(group.grant(), &rule).await?;
        tx.record(Change::created(Some(group.organization_id), ObjectKind::Rule, rule.id, &rule)).await?;
        let number = tx
            .rule_numbers(group.organization_id, &[group.id])
            .await?
            .into_iter()
            .find_map(|(id, number)| (id == rule.id).then_some(number))
            .ok_or_else(|| Error::internal("a rule was inserted without a number"))?;
        tx.commit().await?;
        Ok(NewRule { rule, group: group.into_inner(), number })
    }

    pub async fn list_rules(
        &self,
        actor: &Principal,
        group_id: SecurityGroupId,
        kind: GroupKind,
        page: PageRequest,
    ) -> Result<(Page<Rule>, SecurityGroup)> {
        let mut reads = self.read().await?;
        let group = Self::authorized_group(&mut *reads, actor, &group_id.into(), kind, Action::Read).await?;
        Ok((reads.list_rules(group_id, page).await?, group))
    }

    /// Loads a rule of a group of `kind` the caller may read (or write): scopes first, then the
    /// rule; a rule of another organization or of the other kind of group is not found.
    async fn authorized_rule(
        &self,
        actor: &Principal,
        id: RuleId,
        kind: GroupKind,
        write: bool,
    ) -> Result<(Rule, SecurityGroup)> {
        let op = rule_op(kind, write);
        actor.require_scopes(op)?;
        let mut r = self.read().await?;
        let rule = r.rule(id).await?.ok_or(Error::not_found(RuleId::KIND))?;
        let group = r.security_group(rule.group_id).await?;
        let (rule, group) = Self::authorize_rule(actor, rule, group, kind, op)?;
        Ok((rule, group.into_inner()))
    }

    /// [`Core::authorized_rule`] for a change, in a write transaction: the rule is locked until
    /// commit.
    async fn locked_rule(
        tx: &mut dyn Writes,
        actor: &Principal,
        reference: &RuleRef,
        kind: GroupKind,
    ) -> Result<(Rule, Authorized<SecurityGroup>)> {
        let op = rule_op(kind, true);
        actor.require_scopes(op)?;
        // Scopes are checked before a number is looked up, so a caller without them cannot tell
        // a used number from a free one.
        let id = match *reference {
            RuleRef::Id(id) => id,
            RuleRef::Number(org, number) => {
                tx.rule_by_number(org, number).await?.ok_or(Error::not_found(RuleId::KIND))?
            }
        };
        // The group is locked first, as every write to a group and its rules does, so that a
        // rule change and a group change never wait for each other's second lock.
        let rule = tx.rule(id).await?.ok_or(Error::not_found(RuleId::KIND))?;
        let group = tx.security_group_for_update(rule.group_id).await?;
        let rule = tx.rule_for_update(id).await?.ok_or(Error::not_found(RuleId::KIND))?;
        Self::authorize_rule(actor, rule, group, kind, op)
    }

    /// A rule whose group is of `kind` and of an organization `op` is allowed on, else not
    /// found.
    fn authorize_rule(
        actor: &Principal,
        rule: Rule,
        group: Option<SecurityGroup>,
        kind: GroupKind,
        op: Operation,
    ) -> Result<(Rule, Authorized<SecurityGroup>)> {
        let group = group.filter(|g| g.kind == kind).ok_or(Error::not_found(RuleId::KIND))?;
        let grant = actor.authorize_object(group.organization_id, op, RuleId::KIND)?;
        Ok((rule, Authorized::new(group, grant)))
    }

    pub async fn rule(
        &self,
        actor: &Principal,
        id: RuleId,
        kind: GroupKind,
    ) -> Result<(Rule, SecurityGroup)> {
        self.authorized_rule(actor, id, kind, false).await
    }

    pub async fn update_rule(
        &self,
        actor: &Principal,
        id: RuleId,
        kind: GroupKind,
        patch: RulePatch,
    ) -> Result<(Rule, SecurityGroup)> {
        let mut tx = self.write(actor).await?;
        let (rule, group) = Self::locked_rule(&mut *tx, actor, &id.into(), kind).await?;
        let updated = rule.patched(&patch);
        let mut v = Violations::new();
        Self::check_rule(&mut *tx, &mut v, actor, &group, &updated, "").await?;
        v.finish()?;
        tx.replace_rule(group.grant(), &updated).await?;
        let org = Some(group.organization_id);
        tx.record(Change::updated(org, ObjectKind::Rule, id, &audit::state(&rule), &updated)).await?;
        tx.commit().await?;
        Ok((updated, group.into_inner()))
    }

    /// Adds rules to a group in one transaction (ZStack's AddSecurityGroupRule: up to
    /// [`MAX_RULES`] at once, all or none) and returns the group with all its rules. `inputs`
    /// makes the rules from the group as it is now (a face's checks may depend on it: ZStack's
    /// rules must be of their group's IP version), after the group was found and authorized.
    /// With `refuse_existing`, a rule equal to one the group has (same direction, action,
    /// protocol, ports and remotes) is refused as a `Duplicate` violation at `rules[i]`.
    pub async fn create_rules(
        &self,
        actor: &Principal,
        group: impl Into<GroupRef> + Send,
        kind: GroupKind,
        inputs: impl FnOnce(&SecurityGroup) -> Result<Vec<CreateRule>> + Send,
        refuse_existing: bool,
        job: Option<Job<'_, GroupRules>>,
    ) -> Result<GroupRules> {
        let mut tx = self.write(actor).await?;
        let group = Self::locked_group(&mut *tx, actor, &group.into(), kind, Action::Update).await?;
        let inputs = inputs(&group)?;
        let rules = Self::build_rules(&mut *tx, actor, &group, inputs).await?;
        if refuse_existing {
            let existing = tx.list_rules(group.id, PageRequest::all()).await?.items;
            let same = |a: &Rule, b: &Rule| {
                (a.direction, a.action, a.protocol, &a.ports, a.icmp, &a.remotes)
                    == (b.direction, b.action, b.protocol, &b.ports, b.icmp, &b.remotes)
            };
            let mut v = Violations::new();
            for (i, rule) in rules.iter().enumerate() {
                if existing.iter().any(|e| same(e, rule)) {
                    v.push(format!("rules[{i}]"), ViolationCode::Duplicate, "the group has this rule");
                }
            }
            v.finish()?;
        }
        for rule in &rules {
            tx.insert_rule(group.grant(), rule).await?;
            tx.record(Change::created(Some(group.organization_id), ObjectKind::Rule, rule.id, rule)).await?;
        }
        let grant = *group.grant();
        let out = Self::rules_of(&mut *tx, group.into_inner()).await?;
        self.commit_with_job(tx, &grant, job, &out).await?;
        Ok(out)
    }

    /// Replaces a group's members with what `decide` makes of the group and of its
    /// organization's interfaces, in one transaction (ZStack's attach and detach of L3 networks
    /// and VM NICs, whose rules depend on both), and returns the group with its rules.
    pub async fn change_members(
        &self,
        actor: &Principal,
        group: impl Into<GroupRef> + Send,
        kind: GroupKind,
        decide: impl FnOnce(&SecurityGroup, &[Nic]) -> Result<Vec<Member>> + Send,
        job: Option<Job<'_, GroupRules>>,
    ) -> Result<GroupRules> {
        let mut tx = self.write(actor).await?;
        let group = Self::locked_group(&mut *tx, actor, &group.into(), kind, Action::Update).await?;
        let nics = Self::nics_in(&mut *tx, group.organization_id).await?;
        let members = decide(&group, &nics)?;
        let mut v = Violations::new();
        Self::check_members(&mut *tx, &mut v, group.organization_id, &members).await?;
        v.finish()?;
        let grant = *group.grant();
        let patch = SecurityGroupPatch { members: Some(members), ..Default::default() };
        let updated = tx.update_security_group(&grant, group.id, &patch, now()).await?;
        let before = audit::state(&*group);
        tx.record(Change::updated(Some(updated.organization_id), kind.into(), updated.id, &before, &updated))
            .await?;
        let out = Self::rules_of(&mut *tx, updated).await?;
        self.commit_with_job(tx, &grant, job, &out).await?;
        Ok(out)
    }

    /// An organization's groups of `kind` and its servers' interfaces, read together (ZStack's
    /// NIC memberships and candidate NICs are computed from both).
    pub async fn groups_and_nics(
        &self,
        actor: &Principal,
        org: OrganizationId,
        kind: GroupKind,
    ) -> Result<(Vec<SecurityGroup>, Vec<Nic>)> {
        actor.authorize(org, group_op(kind, Action::List))?;
        actor.authorize(org, Operation::new(Resource::Server, Action::List))?;
        let mut reads = self.read_in(org).await?;
        let groups =
            reads.list_security_groups(org, kind, &GroupFilter::default(), PageRequest::all()).await?;
        Ok((groups.items, Self::nics_in(&mut *reads, org).await?))
    }

    /// The interfaces of an organization's servers.
    async fn nics_in(reads: &mut dyn Reads, org: OrganizationId) -> Result<Vec<Nic>> {
        let servers = reads.list_servers(org, PageRequest::all()).await?.items;
        Ok(servers
            .into_iter()
            .flat_map(|server| {
                let id = server.id;
                server.interfaces.into_iter().enumerate().map(move |(device, interface)| Nic {
                    server: id,
                    device,
                    interface,
                })
            })
            .collect())
    }

    /// Deletes the rules among `ids` that the caller may change, in one transaction (ZStack's
    /// DeleteSecurityGroupRule: ids of no rule, or of another organization's, are dropped), and
    /// returns the group of the first rule deleted with its remaining rules; `None` (and no
    /// job recorded) when no id named such a rule.
    pub async fn delete_rules(
        &self,
        actor: &Principal,
        ids: &[RuleId],
        kind: GroupKind,
        job: Option<Job<'_, GroupRules>>,
    ) -> Result<Option<GroupRules>> {
        let mut tx = self.write(actor).await?;
        let mut first: Option<Authorized<SecurityGroup>> = None;
        for &id in ids {
            let (rule, group) = match Self::locked_rule(&mut *tx, actor, &RuleRef::Id(id), kind).await {
                Ok(found) => found,
                Err(Error::NotFound { .. }) => continue,
                Err(other) => return Err(other),
            };
            tx.delete_rule(group.grant(), rule.id).await?;
            tx.record(Change::deleted(Some(group.organization_id), ObjectKind::Rule, rule.id, &rule)).await?;
            first.get_or_insert(group);
        }
        let Some(group) = first else { return Ok(None) };
        let grant = *group.grant();
        let group = tx.security_group(group.id).await?.ok_or_else(|| Error::internal("a group vanished"))?;
        let out = Self::rules_of(&mut *tx, group).await?;
        self.commit_with_job(tx, &grant, job, &out).await?;
        Ok(Some(out))
    }

    pub async fn delete_rule(
        &self,
        actor: &Principal,
        reference: impl Into<RuleRef> + Send,
        kind: GroupKind,
    ) -> Result<(Rule, SecurityGroup)> {
        let mut tx = self.write(actor).await?;
        let (rule, group) = Self::locked_rule(&mut *tx, actor, &reference.into(), kind).await?;
        tx.delete_rule(group.grant(), rule.id).await?;
        tx.record(Change::deleted(Some(group.organization_id), ObjectKind::Rule, rule.id, &rule)).await?;
        tx.commit().await?;
        Ok((rule, group.into_inner()))
    }

    pub async fn create_server_group(
        &self,
        actor: &Principal,
        org: impl Into<OrganizationRef> + Send,
        name: String,
        segregate: bool,
    ) -> Result<ServerGroup> {
        let org = self.resolve_organization(&org.into()).await?;
        let grant = actor.authorize(org, Operation::new(Resource::ServerGroup, Action::Create))?;
        let mut v = Violations::new();
        v.text("name", &name, 1, NAME_MAX);
        v.finish()?;
        let group = ServerGroup {
            id: ServerGroupId::random(),
            organization_id: org,
            name,
            segregate,
            created_at: now(),
        };
        let created = Change::created(Some(org), ObjectKind::ServerGroup, group.id, &group);
        write_one!(self, actor, in org, created, insert_server_group(&grant, &group))?;
        Ok(group)
    }

    pub async fn server_group(&self, actor: &Principal, id: ServerGroupId) -> Result<ServerGroup> {
        let op = Operation::new(Resource::ServerGroup, Action::Read);
        actor.require_scopes(op)?;
        let group = self.read().await?.server_group(id).await?;
        authorize_found(actor, group, |g| g.organization_id, op, ServerGroupId::KIND)
            .map(Authorized::into_inner)
    }

    /// A server group the caller may change, locked in `tx` until commit.
    async fn locked_server_group(
        tx: &mut dyn Writes,
        actor: &Principal,
        id: ServerGroupId,
    ) -> Result<Authorized<ServerGroup>> {
        let op = Operation::new(Resource::ServerGroup, Action::Update);
        actor.require_scopes(op)?;
        let group = tx.server_group_for_update(id).await?;
        authorize_found(actor, group, |g| g.organization_id, op, ServerGroupId::KIND)
    }

    pub async fn list_server_groups(
        &self,
        actor: &Principal,
        org: impl Into<OrganizationRef> + Send,
        page: PageRequest,
    ) -> Result<Page<ServerGroup>> {
        let op = Operation::new(Resource::ServerGroup, Action::List);
        let (org, mut reads) = self.read_in_organization(actor, &org.into(), op).await?;
        reads.list_server_groups(org, page).await
    }

    pub async fn update_server_group(
        &self,
        actor: &Principal,
        id: ServerGroupId,
        name: Option<String>,
        segregate: Option<bool>,
    ) -> Result<ServerGroup> {
        let mut tx = self.write(actor).await?;
        let mut group = Self::locked_server_group(&mut *tx, actor, id).await?;
        let before = audit::state(&*group);
        let mut v = Violations::new();
        if let Some(name) = &name {
            v.text("name", name, 1, NAME_MAX);
        }
        v.finish()?;
        if let Some(name) = name {
            group.name = name;
        }
        group.segregate = segregate.unwrap_or(group.segregate);
        tx.update_server_group(group.grant(), &group).await?;
        let org = Some(group.organization_id);
        tx.record(Change::updated(org, ObjectKind::ServerGroup, id, &before, &*group)).await?;
        tx.commit().await?;
        Ok(group.into_inner())
    }

    pub async fn delete_server_group(&self, actor: &Principal, id: ServerGroupId) -> Result<ServerGroup> {
        let mut tx = self.write(actor).await?;
        let group = Self::locked_server_group(&mut *tx, actor, id).await?;
        tx.delete_server_group(group.grant(), id).await?;
        tx.record(Change::deleted(Some(group.organization_id), ObjectKind::ServerGroup, id, &*group)).await?;
        tx.commit().await?;
        Ok(group.into_inner())
    }

    pub async fn create_tag(
        &self,
        actor: &Principal,
        org: impl Into<OrganizationRef> + Send,
        name: String,
        color: String,
    ) -> Result<Tag> {
        let org = self.resolve_organization(&org.into()).await?;
        let grant = actor.authorize(org, Operation::new(Resource::Tag, Action::Create))?;
        let mut v = Violations::new();
        v.text("name", &name, 1, NAME_MAX);
        v.text("color", &color, 1, 64);
        v.finish()?;
        let tag = Tag { id: TagId::random(), organization_id: org, name, color, created_at: now() };
        let created = Change::created(Some(org), ObjectKind::Tag, tag.id, &tag);
        write_one!(self, actor, in org, created, insert_tag(&grant, &tag))?;
        Ok(tag)
    }

    pub async fn tag(&self, actor: &Principal, id: TagId) -> Result<Tag> {
        let op = Operation::new(Resource::Tag, Action::Read);
        actor.require_scopes(op)?;
        let tag = self.read().await?.tag(id).await?;
        authorize_found(actor, tag, |t| t.organization_id, op, TagId::KIND).map(Authorized::into_inner)
    }

    /// A tag the caller may change, locked in `tx` until commit.
    async fn locked_tag(tx: &mut dyn Writes, actor: &Principal, id: TagId) -> Result<Authorized<Tag>> {
        let op = Operation::new(Resource::Tag, Action::Update);
        actor.require_scopes(op)?;
        let tag = tx.tag_for_update(id).await?;
        authorize_found(actor, tag, |t| t.organization_id, op, TagId::KIND)
    }

    pub async fn list_tags(
        &self,
        actor: &Principal,
        org: impl Into<OrganizationRef> + Send,
        page: PageRequest,
    ) -> Result<Page<Tag>> {
        let op = Operation::new(Resource::Tag, Action::List);
        let (org, mut reads) = self.read_in_organization(actor, &org.into(), op).await?;
        reads.list_tags(org, page).await
    }

    pub async fn update_tag(
        &self,
        actor: &Principal,
        id: TagId,
        name: Option<String>,
        color: Option<String>,
    ) -> Result<Tag> {
        let mut tx = self.write(actor).await?;
        let mut tag = Self::locked_tag(&mut *tx, actor, id).await?;
        let before = audit::state(&*tag);
        let mut v = Violations::new();
        if let Some(name) = &name {
            v.text("name", name, 1, NAME_MAX);
        }
        if let Some(color) = &color {
            v.text("color", color, 1, 64);
        }
        v.finish()?;
        if let Some(name) = name {
            tag.name = name;
        }
        if let Some(color) = color {
            tag.color = color;
        }
        tx.update_tag(tag.grant(), &tag).await?;
        tx.record(Change::updated(Some(tag.organization_id), ObjectKind::Tag, id, &before, &*tag)).await?;
        tx.commit().await?;
        Ok(tag.into_inner())
    }

    pub async fn delete_tag(&self, actor: &Principal, id: TagId) -> Result<Tag> {
        let mut tx = self.write(actor).await?;
        let tag = Self::locked_tag(&mut *tx, actor, id).await?;
        tx.delete_tag(tag.grant(), id).await?;
        tx.record(Change::deleted(Some(tag.organization_id), ObjectKind::Tag, id, &*tag)).await?;
        tx.commit().await?;
        Ok(tag.into_inner())
    }
}

/// Single-member attachment and rule numbers: what vendors that attach one group to one server
/// at a time, and that number their rules, need (Hostway).
impl Core {
    /// Makes `member` (a server, server group or tag of the group's organization) a member of the
    /// group, unless it already is; concurrent additions all land. A member that does not exist
    /// in the group's organization is [`Error::NotFound`] of its kind, as it is named by the
    /// caller's path rather than a body field.
    pub async fn add_group_member(
        &self,
        actor: &Principal,
        reference: impl Into<GroupRef> + Send,
        kind: GroupKind,
        member: Member,
    ) -> Result<SecurityGroup> {
        let mut tx = self.write(actor).await?;
        let group = Self::locked_group(&mut *tx, actor, &reference.into(), kind, Action::Update).await?;
        let id = group.id;
        let mut v = Violations::new();
        Self::check_members(&mut *tx, &mut v, group.organization_id, &[member]).await?;
        if v.finish().is_err() {
            return Err(Error::not_found(member.kind()));
        }
        tx.add_security_group_member(group.grant(), id, member, now()).await?;
        let added = Change::new(Some(group.organization_id), Verb::AddMember, kind.into(), id).field(
            "member",
            (),
            member,
        );
        tx.record(added).await?;
        let group = tx.security_group(id).await?.ok_or(Error::not_found(SecurityGroupId::KIND))?;
        tx.commit().await?;
        Ok(group)
    }
}

/// An object found (or not) by id, if it belongs to an organization `op` is allowed on; else
/// not found, so another organization's object cannot be told from a missing one.
pub(super) fn authorize_found<T>(
    actor: &Principal,
    found: Option<T>,
    owner: impl Fn(&T) -> OrganizationId,
    op: Operation,
    kind: &'static str,
) -> Result<Authorized<T>> {
    let object = found.ok_or(Error::not_found(kind))?;
    let grant = actor.authorize_object(owner(&object), op, kind)?;
    Ok(Authorized::new(object, grant))
}
