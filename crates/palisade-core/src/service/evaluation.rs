//! The policy engine served: flow checks with an explanation, a server's effective policy, and
//! lint. All three read one compiled policy per organization, kept while its revision holds:
//! a request costs one revision read when nothing changed, and one snapshot read plus one
//! compile (off the async workers) when something did. Every node compiles for itself, so a
//! change on one node is seen by the next request on any node (the revision is the database's).

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};

use sha2::Digest;

use super::Core;
use crate::access::{Action, Operation, Resource};
use crate::auth::Principal;
use crate::engine::lint::{lint, Finding};
use crate::engine::{CompiledPolicy, Decision, Flow, FlowProtocol, FlowVerdict, IpSet, SideVerdict, Verdict};
use crate::error::{Error, Result, ViolationCode};
use crate::id::{OrganizationId, RuleId, SecurityGroupId, ServerGroupId, ServerId, TagId};
use crate::model::Server;
use crate::policy::{Direction, Member, Remote, Rule};
use crate::snapshot::PolicySnapshot;
use crate::validate::Violations;

/// One organization's policy at one revision, as read and as compiled.
#[derive(Debug)]
pub struct Evaluated {
    pub snapshot: PolicySnapshot,
    pub compiled: CompiledPolicy,
    groups: HashMap<SecurityGroupId, usize>,
    /// Where each server is in the snapshot (a change can wake one long poll per server).
    servers: HashMap<ServerId, usize>,
    /// Address sets as answers show them, rendered once for this compiled policy (see
    /// [`Evaluated::rendered_set`]); keyed by the compiled set's address, which lives as long.
    rendered: Mutex<HashMap<usize, Arc<RenderedSet>>>,
    /// Each catalogue rule's fingerprint (see [`Evaluated::fingerprint`]), made on first use.
    rule_prints: OnceLock<Vec<u64>>,
    /// The digest of each server's policy as answers render it, once rendered at this
    /// revision (see [`Evaluated::digest`]).
    digests: Mutex<HashMap<ServerId, Arc<str>>>,
}

/// One compiled address set as answers show it: CIDRs as text, and a digest of that text.
#[derive(Debug)]
pub struct RenderedSet {
    /// The CIDRs as a JSON array of strings, written once: a change that reaches every server
    /// writes the same sets into thousands of answers, and escaping their strings again each
    /// time was a fifth of the work.
    pub json: Box<serde_json::value::RawValue>,
    /// SHA-256 of the CIDRs joined with `,`: equal digests, equal sets.
    pub digest: [u8; 32],
}

impl Evaluated {
    pub fn new(snapshot: PolicySnapshot) -> Self {
        let compiled = CompiledPolicy::compile(&snapshot);
        let groups = snapshot.groups.iter().enumerate().map(|(g, group)| (group.group.id, g)).collect();
        let servers = snapshot.servers.iter().enumerate().map(|(i, s)| (s.id, i)).collect();
        Self {
            snapshot,
            compiled,
            groups,
            servers,
            rendered: Mutex::default(),
            rule_prints: OnceLock::new(),
            digests: Mutex::default(),
        }
    }

    pub fn revision(&self) -> u64 {
        self.snapshot.revision
    }

    /// A compiled rule as written, with its group (without a lookup by id: answers render
    /// thousands of rules each).
    pub fn written(
        &self,
        entry: &crate::engine::CatalogRule,
    ) -> Option<(&crate::policy::SecurityGroup, &Rule)> {
        let (g, r) = entry.written;
        let group = self.snapshot.groups.get(g)?;
        Some((&group.group, group.rules.get(r)?))
    }

    /// The rule with this id, with its group (every rule of the snapshot is in the catalogue).
    pub fn rule(&self, id: RuleId) -> Option<(&crate::policy::SecurityGroup, &Rule)> {
        self.written(self.compiled.rule(id)?)
    }

    /// `set` (one of this compiled policy's) rendered, once: a change that wakes a long poll per
    /// server renders each shared set once, not once per server.
    pub fn rendered_set(&self, set: &Arc<IpSet>) -> Arc<RenderedSet> {
        let key = Arc::as_ptr(set) as usize;
        if let Some(done) = self.rendered.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&key)
        {
            return done.clone();
        }
        let cidrs: Vec<String> = set.cidrs().iter().map(ToString::to_string).collect();
        let digest = sha2::Sha256::digest(cidrs.join(",").as_bytes()).into();
        // Strings always serialize: the fallback is never taken.
        let json = serde_json::value::to_raw_value(&cidrs)
            .unwrap_or_else(|_| serde_json::value::RawValue::NULL.to_owned());
        let done = Arc::new(RenderedSet { json, digest });
        let mut rendered = self.rendered.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        rendered.entry(key).or_insert(done).clone()
    }

    /// The digest of the server's policy at this revision, if an answer rendered it already.
    /// An agent's next long poll names the digest it was given: found here, it is compared
    /// without rendering the policy again (a change that reaches every server would otherwise
    /// render each policy twice, once to answer and once when the agent polls again).
    pub fn digest(&self, id: ServerId) -> Option<Arc<str>> {
        self.digests.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&id).cloned()
    }

    /// Remembers the digest an answer rendered for the server's policy at this revision.
    pub fn remember_digest(&self, id: ServerId, digest: &str) {
        let mut digests = self.digests.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        digests.entry(id).or_insert_with(|| Arc::from(digest));
    }

    /// The server with this id.
    pub fn server(&self, id: ServerId) -> Option<&crate::model::Server> {
        self.snapshot.servers.get(*self.servers.get(&id)?)
    }

    /// A number that changes whenever what applies to the server changes: its interfaces and
    /// addresses, whether each is governed and which groups allow a whole direction, and every
    /// rule applying to it in order, written and compiled (group name and id, priority,
    /// description, the addresses its remote resolves to). Everything an effective policy
    /// shows is in it, so an equal fingerprint at two revisions means an equal effective
    /// policy; an unequal one means one that probably differs. A change wakes every long poll
    /// of the organization, and each compares this, a few nanoseconds per rule, instead of
    /// rendering its server's policy again (only the servers whose policy changed do).
    /// `None`: no such server.
    pub fn fingerprint(&self, id: ServerId) -> Option<u64> {
        let server = self.server(id)?;
        let rules = self.rule_prints.get_or_init(|| self.rule_fingerprints());
        let mut h = DefaultHasher::new();
        server.id.hash(&mut h);
        for interface in &server.interfaces {
            (interface.id, interface.network_id, &interface.addresses).hash(&mut h);
            let Some(policy) = self.compiled.interface(interface.id) else {
                h.write_u8(0);
                continue;
            };
            (1u8, policy.governed, policy.allow_all_ingress, policy.allow_all_egress).hash(&mut h);
            for list in [&policy.ingress, &policy.egress] {
                h.write_usize(list.len());
                for (rank, _) in self.compiled.ranked(list) {
                    h.write_u64(rules.get(rank).copied().unwrap_or_default());
                }
            }
        }
        Some(h.finish())
    }

    /// Each catalogue rule's part of a fingerprint; a shared address set is hashed once.
    fn rule_fingerprints(&self) -> Vec<u64> {
        let mut sets: HashMap<*const IpSet, u64> = HashMap::new();
        let catalog = self.compiled.catalog();
        catalog
            .iter()
            .map(|entry| {
                let rule = &entry.rule;
                let set = *sets.entry(Arc::as_ptr(&rule.remote)).or_insert_with(|| {
                    let mut h = DefaultHasher::new();
                    rule.remote.hash(&mut h);
                    h.finish()
                });
                let mut h = DefaultHasher::new();
                (entry.direction, entry.family(), rule.group, rule.rule, rule.action, rule.protocol())
                    .hash(&mut h);
                (rule.ports(), rule.icmp(), set).hash(&mut h);
                if let Some((group, written)) = self.written(entry) {
                    (&group.name, group.kind, written).hash(&mut h);
                }
                h.finish()
            })
            .collect()
    }

    /// The group or role with this id.
    pub fn group(&self, id: SecurityGroupId) -> Option<&crate::policy::SecurityGroup> {
        self.snapshot.groups.get(*self.groups.get(&id)?).map(|g| &g.group)
    }
}

/// The compiled policies of the organizations asked about, each at the revision it was read at.
#[derive(Debug, Default)]
pub(crate) struct Evaluations {
    kept: Mutex<HashMap<OrganizationId, Arc<Evaluated>>>,
    /// Per organization, the turn to read and compile (see `Core::evaluated`).
    turns: Mutex<HashMap<OrganizationId, Arc<tokio::sync::Mutex<()>>>>,
}

/// Most organizations whose compiled policy is kept; beyond it, the cache starts afresh (an
/// organization's next request compiles again).
const KEPT: usize = 256;

impl Evaluations {
    /// The kept policy of `org` if it is of `revision` or newer.
    fn get(&self, org: OrganizationId, revision: u64) -> Option<Arc<Evaluated>> {
        let cache = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.get(&org).filter(|e| e.revision() >= revision).cloned()
    }

    fn turn(&self, org: OrganizationId) -> Arc<tokio::sync::Mutex<()>> {
        let mut turns = self.turns.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if turns.len() >= KEPT && !turns.contains_key(&org) {
            // Only turns nobody holds or waits for can go.
            turns.retain(|_, turn| Arc::strong_count(turn) > 1);
        }
        turns.entry(org).or_default().clone()
    }

    fn put(&self, org: OrganizationId, evaluated: Arc<Evaluated>) {
        let mut cache = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= KEPT && !cache.contains_key(&org) {
            cache.clear();
        }
        // A slower reader must not replace a newer policy with its older one.
        if cache.get(&org).is_none_or(|e| e.revision() <= evaluated.revision()) {
            cache.insert(org, evaluated);
        }
    }
}

/// One end of a flow to check: an address, or a server meaning its first address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Address(IpAddr),
    Server(ServerId),
}

/// A flow to check, as a client asks: `icmp_type` defaults to an echo request (ping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowQuery {
    pub source: Endpoint,
    pub destination: Endpoint,
    pub protocol: FlowProtocol,
    pub port: Option<u16>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
}

/// A flow check's answer.
#[derive(Debug, Clone)]
pub struct FlowCheck {
    pub evaluated: Arc<Evaluated>,
    pub flow: Flow,
    pub verdict: FlowVerdict,
    /// The organization's numbers (Hostway's rule ids) of the deciding rules.
    pub rule_numbers: HashMap<RuleId, u64>,
    /// One or two plain sentences.
    pub explanation: String,
}

/// A server's effective policy.
#[derive(Debug, Clone)]
pub struct ServerPolicy {
    pub evaluated: Arc<Evaluated>,
    pub server: Server,
}

/// Lint's findings at a revision.
#[derive(Debug, Clone)]
pub struct LintReport {
    pub revision: u64,
    pub findings: Vec<Finding>,
}

const READ_POLICY: Operation = Operation::new(Resource::Policy, Action::Read);
/// One server's policy: `policy:read`'s, and its own agent's.
pub const READ_SERVER_POLICY: Operation = Operation::new(Resource::Enforcement, Action::Read);

impl Core {
    /// The organization's compiled policy at its current revision.
    pub(crate) async fn evaluated(&self, org: OrganizationId) -> Result<Arc<Evaluated>> {
        self.evaluated_since(org, None).await
    }

    /// The organization's compiled policy; given `announced` (a revision a commit announced,
    /// [`crate::changes`]), one kept at least that new is taken without asking the database:
    /// a change that wakes thousands of long polls costs one revision read, not one each.
    pub(crate) async fn evaluated_since(
        &self,
        org: OrganizationId,
        announced: Option<u64>,
    ) -> Result<Arc<Evaluated>> {
        let kept = |revision: Option<u64>| revision.and_then(|r| self.evaluations.get(org, r));
        if let Some(kept) = kept(announced) {
            return Ok(kept);
        }
        // Woken by an announcement, a poll waits for the turn without asking the database
        // first: the ten thousand polls one change wakes would otherwise each take a pooled
        // connection for the revision at the same instant, and starve every other request
        // (measured: 2 s waits for a connection). Whoever holds the turn reads for all of them.
        let asked = match announced {
            Some(_) => None,
            None => Some(self.read_in(org).await?.policy_revision(org).await?),
        };
        if let Some(evaluated) = kept(asked) {
            return Ok(evaluated);
        }
        // One compile per organization at a time: a change wakes every agent's long poll at
        // once, and each would otherwise read and compile the same snapshot. Whoever waited
        // takes what the one before it compiled, if it is at least as new as what it asked.
        let turn = self.evaluations.turn(org);
        let _turn = turn.lock().await;
        if let Some(evaluated) = kept(asked.or(announced)) {
            return Ok(evaluated);
        }
        let snapshot = self.store.policy_snapshot(org).await?;
        // Compiling a provider-sized policy takes a fraction of a second of CPU: keep it off the
        // async workers.
        let evaluated = tokio::task::spawn_blocking(move || Arc::new(Evaluated::new(snapshot)))
            .await
            .map_err(Error::internal)?;
        self.evaluations.put(org, evaluated.clone());
        Ok(evaluated)
    }

    /// Would this flow pass, and why.
    pub async fn check_flow(
        &self,
        actor: &Principal,
        org: OrganizationId,
        query: FlowQuery,
    ) -> Result<FlowCheck> {
        actor.authorize(org, READ_POLICY)?;
        let mut violations = Violations::new();
        let ported = matches!(query.protocol, FlowProtocol::Tcp | FlowProtocol::Udp);
        let icmp = matches!(query.protocol, FlowProtocol::Icmp | FlowProtocol::Icmpv6);
        match query.port {
            None if ported => violations.push("port", ViolationCode::Required, "is required for tcp and udp"),
            Some(0) => violations.push("port", ViolationCode::InvalidValue, "must be between 1 and 65535"),
            Some(_) if !ported => {
                violations.push("port", ViolationCode::InvalidValue, "applies to tcp and udp only")
            }
            _ => {}
        }
        if !icmp && (query.icmp_type.is_some() || query.icmp_code.is_some()) {
            violations.push("icmp_type", ViolationCode::InvalidValue, "applies to icmp and icmpv6 only");
        }
        if query.icmp_code.is_some() && query.icmp_type.is_none() {
            violations.push("icmp_code", ViolationCode::Required, "needs icmp_type");
        }
        violations.finish()?;
        let evaluated = self.evaluated(org).await?;
        let address = |end: Endpoint, path: &str| -> Result<IpAddr> {
            match end {
                Endpoint::Address(a) => Ok(a),
                Endpoint::Server(id) => evaluated
                    .snapshot
                    .server(id)
                    .ok_or(Error::invalid(path, ViolationCode::InvalidReference, "no such server"))?
                    .interfaces
                    .iter()
                    .flat_map(|i| &i.addresses)
                    .next()
                    .copied()
                    .ok_or(Error::invalid(path, ViolationCode::InvalidValue, "the server has no address")),
            }
        };
        let (source, destination) =
            (address(query.source, "source"), address(query.destination, "destination"));
        let (source, destination) = match (source, destination) {
            (Ok(s), Ok(d)) => (s, d),
            (Err(Error::Invalid(mut a)), Err(Error::Invalid(b))) => {
                a.extend(b);
                return Err(Error::Invalid(a));
            }
            (Err(e), _) | (_, Err(e)) => return Err(e),
        };
        if family(source) != family(destination) {
            return Err(Error::invalid(
                "destination",
                ViolationCode::InvalidValue,
                "must be of the same address family as the source",
            ));
        }
        let echo = if query.protocol == FlowProtocol::Icmpv6 { 128 } else { 8 };
        let flow = Flow {
            source,
            destination,
            protocol: query.protocol,
            port: query.port,
            icmp: icmp.then(|| (query.icmp_type.unwrap_or(echo), query.icmp_code.unwrap_or(0))),
        };
        let verdict = evaluated.compiled.check(&flow);
        let deciding: Vec<RuleId> = [verdict.egress, verdict.ingress]
            .iter()
            .flatten()
            .filter_map(|s| match s.decided_by {
                Decision::Rule { rule, .. } => Some(rule),
                _ => None,
            })
            .collect();
        let rule_numbers = self.numbers_of(org, &evaluated, &deciding).await?;
        let explanation = explain(&evaluated, &flow, &verdict);
        Ok(FlowCheck { evaluated, flow, verdict, rule_numbers, explanation })
    }

    async fn numbers_of(
        &self,
        org: OrganizationId,
        evaluated: &Evaluated,
        rules: &[RuleId],
    ) -> Result<HashMap<RuleId, u64>> {
        let mut groups: Vec<_> =
            rules.iter().filter_map(|r| evaluated.compiled.rule(*r)).map(|r| r.rule.group).collect();
        groups.dedup();
        let numbers = self.read().await?.rule_numbers(org, &groups).await?;
        Ok(numbers.into_iter().filter(|(id, _)| rules.contains(id)).collect())
    }

    /// What applies to one server, in evaluation order, with remotes resolved.
    pub async fn server_policy(
        &self,
        actor: &Principal,
        org: OrganizationId,
        id: ServerId,
    ) -> Result<ServerPolicy> {
        self.server_policy_since(actor, org, id, None).await
    }

    /// [`Core::server_policy`] on a policy at least as new as `announced` (see
    /// [`Core::evaluated_since`]).
    pub(crate) async fn server_policy_since(
        &self,
        actor: &Principal,
        org: OrganizationId,
        id: ServerId,
        announced: Option<u64>,
    ) -> Result<ServerPolicy> {
        actor.authorize_server(org, id, READ_SERVER_POLICY)?;
        let evaluated = self.evaluated_since(org, announced).await?;
        let server = evaluated.server(id).cloned().ok_or(Error::not_found(ServerId::KIND))?;
        Ok(ServerPolicy { evaluated, server })
    }

    /// A page of the organization's groups and roles of every face, with their rules, as the
    /// policy engine reads them (`policy:read`): one consistent revision, in creation order.
    pub async fn policy_groups(
        &self,
        actor: &Principal,
        org: OrganizationId,
        page: crate::page::PageRequest,
    ) -> Result<(Arc<Evaluated>, crate::page::Page<usize>)> {
        actor.authorize(org, READ_POLICY)?;
        let evaluated = self.evaluated(org).await?;
        let total = evaluated.snapshot.groups.len();
        let start = usize::try_from(page.offset()).unwrap_or(usize::MAX).min(total);
        let end = start.saturating_add(usize::try_from(page.limit()).unwrap_or(usize::MAX)).min(total);
        let items = (start..end).collect();
        Ok((
            evaluated,
            crate::page::Page { items, total: u64::try_from(total).unwrap_or(u64::MAX), request: page },
        ))
    }

    /// One group or role of any face, with its rules (`policy:read`); `None` (an id that is
    /// none) is not found, once the caller may look.
    pub async fn policy_group(
        &self,
        actor: &Principal,
        org: OrganizationId,
        id: Option<SecurityGroupId>,
    ) -> Result<(Arc<Evaluated>, usize)> {
        actor.authorize(org, READ_POLICY)?;
        let evaluated = self.evaluated(org).await?;
        let found = id.and_then(|id| evaluated.groups.get(&id).copied());
        let at = found.ok_or(Error::not_found(SecurityGroupId::KIND))?;
        Ok((evaluated, at))
    }

    /// What in the organization's policy is probably wrong.
    pub async fn lint_policy(&self, actor: &Principal, org: OrganizationId) -> Result<LintReport> {
        actor.authorize(org, READ_POLICY)?;
        let evaluated = self.evaluated(org).await?;
        let findings = lint(&evaluated.snapshot, &evaluated.compiled);
        Ok(LintReport { revision: evaluated.revision(), findings })
    }
}

fn family(address: IpAddr) -> u8 {
    match address {
        IpAddr::V4(_) => 4,
        IpAddr::V6(a) if a.to_ipv4_mapped().is_some() => 4,
        IpAddr::V6(_) => 6,
    }
}

// ---------------------------------------------------------------------------------------------
// The explanation.

fn verdict_word(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Allow => "allows",
        Verdict::Deny => "denies",
        Verdict::Reject => "rejects",
    }
}

/// `tcp/22`, `icmp type 8 code 0`, `protocol 47`.
fn describe_flow(flow: &Flow) -> String {
    let what = match (flow.protocol, flow.port, flow.icmp) {
        (FlowProtocol::Tcp, Some(p), _) => format!("tcp/{p}"),
        (FlowProtocol::Udp, Some(p), _) => format!("udp/{p}"),
        (FlowProtocol::Icmp, _, Some((t, c))) => format!("icmp type {t} code {c}"),
        (FlowProtocol::Icmpv6, _, Some((t, c))) => format!("icmpv6 type {t} code {c}"),
        (FlowProtocol::Other(n), ..) => format!("protocol {n}"),
        (p, ..) => format!("{p:?}").to_lowercase(),
    };
    format!("{what} from {} to {}", flow.source, flow.destination)
}

/// `the egress of server 'web' (10.0.0.1)`.
fn side_name(evaluated: &Evaluated, side: &SideVerdict, direction: Direction, address: IpAddr) -> String {
    let server = evaluated.snapshot.server(side.server).map_or("?", |s| s.name.as_str());
    let way = if direction == Direction::Inbound { "ingress" } else { "egress" };
    format!("the {way} of server '{server}' ({address})")
}

/// One side's verdict as a clause: `the ingress of server 'db' (10.0.0.2) denies it by rule …`.
fn clause(evaluated: &Evaluated, side: &SideVerdict, direction: Direction, address: IpAddr) -> String {
    let name = side_name(evaluated, side, direction, address);
    let group_name = |id| evaluated.group(id).map_or_else(|| id.to_string(), |g| format!("'{}'", g.name));
    let whole = if direction == Direction::Inbound { "inbound" } else { "outbound" };
    match side.decided_by {
        Decision::Ungoverned => format!("{name} is unfiltered, as no enabled group or role applies to it"),
        Decision::Rule { group, rule } => {
            let (kind, shape) =
                evaluated.rule(rule).map_or((String::from("group"), String::new()), |(g, r)| {
                    (
                        g.kind.as_str().replace('_', " "),
                        format!(" ({})", describe_rule(&evaluated.snapshot, r)),
                    )
                });
            format!(
                "{name} {} it by rule {rule}{shape} of {kind} {}",
                verdict_word(side.verdict),
                group_name(group)
            )
        }
        Decision::AllowAll { group } => {
            let unmatched = direction == Direction::Outbound
                && evaluated
                    .group(group)
                    .is_some_and(|g| !g.allow_all_outbound && g.allow_unmatched_outbound);
            let what = if unmatched {
                "the outbound traffic that no rule matches"
            } else {
                &format!("all {whole} traffic")
            };
            format!("{name} allows it: no rule matched and group {} allows {what}", group_name(group))
        }
        Decision::NoMatch => format!(
            "{name} denies it: no rule matched and no group applying to it allows all {whole} traffic"
        ),
    }
}

/// `deny tcp 22 from 10.0.0.0/24`, as the rule is written.
fn describe_rule(snapshot: &PolicySnapshot, rule: &Rule) -> String {
    let ports: Vec<String> = rule.ports.iter().map(ToString::to_string).collect();
    let ports = if ports.is_empty() { String::new() } else { format!(" {}", ports.join(",")) };
    let way = if rule.direction == Direction::Inbound { "from" } else { "to" };
    let remotes = match rule.remotes.len() {
        0 => "nothing".to_owned(),
        1..=3 => rule.remotes.iter().map(|r| describe_remote(snapshot, r)).collect::<Vec<_>>().join(", "),
        n => format!("{n} remotes"),
    };
    format!("{} {}{ports} {way} {remotes}", rule.action.as_str(), rule.protocol.as_text())
}

/// A rule's remote as people name it: `all IPv4`, `the members of 'web'`, `server 'db'`.
pub fn describe_remote(snapshot: &PolicySnapshot, remote: &Remote) -> String {
    let group =
        |id| snapshot.group(id).map_or_else(|| format!("{id} (gone)"), |g| format!("'{}'", g.group.name));
    match remote {
        Remote::AnyIpv4 => "all IPv4".into(),
        Remote::AnyIpv6 => "all IPv6".into(),
        Remote::Cidr(c) => c.clone(),
        Remote::Server(id) => server_text(snapshot, *id),
        Remote::Group(id) => format!("the members of {}", group(*id)),
        Remote::ServerGroup(id) => server_group_text(snapshot, *id),
        Remote::Tag(id) => tag_text(snapshot, *id),
        Remote::AddressList(id) => snapshot
            .address_lists
            .iter()
            .chain(&snapshot.global_address_lists)
            .find(|l| l.id == *id)
            .map_or_else(|| format!("address list {id} (gone)"), |l| format!("address list '{}'", l.name)),
        Remote::Hosts { role: None, tags } if tags.is_empty() => "every host".into(),
        Remote::Hosts { role, tags } => {
            let role = role.map(|r| format!(" with role {}", group(r))).unwrap_or_default();
            let tags = if tags.is_empty() { String::new() } else { format!(" tagged {}", tags.join(", ")) };
            format!("hosts{role}{tags}")
        }
    }
}

/// A group's member as people name it: `server 'web'`, `tag 'env:prod'`.
pub fn describe_member(snapshot: &PolicySnapshot, member: &Member) -> String {
    match member {
        Member::Server(id) => server_text(snapshot, *id),
        Member::ServerGroup(id) => server_group_text(snapshot, *id),
        Member::Tag(id) => tag_text(snapshot, *id),
        Member::Network(id) => format!("network {id}"),
        Member::Interface(id) => format!("interface {id}"),
    }
}

fn server_text(snapshot: &PolicySnapshot, id: ServerId) -> String {
    snapshot.server(id).map_or_else(|| format!("server {id} (gone)"), |s| format!("server '{}'", s.name))
}

fn server_group_text(snapshot: &PolicySnapshot, id: ServerGroupId) -> String {
    let found = snapshot.server_groups.iter().find(|g| g.id == id);
    found.map_or_else(|| format!("server group {id} (gone)"), |g| format!("server group '{}'", g.name))
}

fn tag_text(snapshot: &PolicySnapshot, id: TagId) -> String {
    let found = snapshot.tags.iter().find(|t| t.id == id);
    found.map_or_else(|| format!("tag {id} (gone)"), |t| format!("tag '{}'", t.name))
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// One or two sentences: the verdict with the side that decided it, then the other side.
pub(crate) fn explain(evaluated: &Evaluated, flow: &Flow, verdict: &FlowVerdict) -> String {
    let flow_text = describe_flow(flow);
    let egress = verdict.egress.map(|s| clause(evaluated, &s, Direction::Outbound, flow.source));
    let ingress = verdict.ingress.map(|s| clause(evaluated, &s, Direction::Inbound, flow.destination));
    let outcome = match verdict.verdict {
        Verdict::Allow => "Allowed",
        Verdict::Deny => "Denied",
        Verdict::Reject => "Rejected",
    };
    match (egress, ingress) {
        (None, None) => format!(
            "{outcome}: {flow_text} involves no address of a server of this organization, so no policy applies."
        ),
        (Some(one), None) | (None, Some(one)) => {
            let other = if verdict.egress.is_some() { flow.destination } else { flow.source };
            format!(
                "{outcome}: {flow_text}: {one}. {other} belongs to no server of this organization, so it has no policy of its own."
            )
        }
        // The side that decided first, then the other.
        (Some(e), Some(i)) => {
            let (first, second) = match verdict.egress {
                Some(side) if side.verdict == verdict.verdict => (e, i),
                _ => (i, e),
            };
            format!("{outcome}: {flow_text}: {first}. {}.", capitalized(&second))
        }
    }
}
