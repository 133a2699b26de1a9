//! `/api/v1/organizations/{id}/flow_checks`, `/servers/{server_id}/policy` and `/policy/lint`:
//! the policy engine's answers, which no vendor API gives in one place. Each needs `policy:read`
//! (or the operator). The core computes; this module names things the way clients read them:
//! the deciding rules with the ids every vendor face shows for them, remotes as CIDRs.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use std::time::Duration;

use axum::extract::State;
use axum::http::header::{ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use palisade_core::engine::lint::Finding;
use palisade_core::engine::{
    CatalogRule, Decision, FlowProtocol, InterfacePolicy, IpSet, RuleList, SideVerdict, Verdict,
};
use palisade_core::id::{OrganizationId, RuleId, ServerId};
use palisade_core::policy::{Direction, GroupKind, IpVersion, SecurityGroup};
use palisade_core::service::{Endpoint, Evaluated, FlowQuery, Next, RenderedSet, ServerPolicy, ServerRef};
use palisade_core::{Action, Error, Operation, Principal, Resource, ViolationCode};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::error::{ErrorBody, NativeError};
use super::extract::{malformed, path_id, query_number, Actor, NativeJson, NativePath, NativeQuery};
use super::schema::flow_endpoint;
use crate::frame::vendor_ids;
use crate::AppState;

type Result<T> = std::result::Result<T, NativeError>;

const READ_POLICY: Operation = Operation::new(Resource::Policy, Action::Read);

// ---------------------------------------------------------------- wire shapes

/// A flow to check.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowCheckRequest {
    /// An IP address, or a server id (meaning its first address).
    #[schema(schema_with = flow_endpoint)]
    pub source: String,
    /// An IP address, or a server id (meaning its first address).
    #[schema(schema_with = flow_endpoint)]
    pub destination: String,
    /// `tcp`, `udp`, `icmp`, `icmpv6`, or an IP protocol number (`47`).
    #[schema(pattern = r"^(?:tcp|udp|icmp|icmpv6|[0-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-5])$")]
    pub protocol: String,
    /// The destination port: required for TCP and UDP, refused for other protocols.
    #[schema(minimum = 1, maximum = 65535)]
    pub port: Option<u16>,
    /// ICMP only; default 8 (echo request), 128 for ICMPv6.
    pub icmp_type: Option<u8>,
    /// ICMP only, with `icmp_type`; default 0.
    pub icmp_code: Option<u8>,
}

/// What is done with a flow.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VerdictWire {
    Allow,
    Deny,
    Reject,
}

impl From<Verdict> for VerdictWire {
    fn from(v: Verdict) -> Self {
        match v {
            Verdict::Allow => Self::Allow,
            Verdict::Deny => Self::Deny,
            Verdict::Reject => Self::Reject,
        }
    }
}

/// What decided one side: `rule` (the rule that matched first), `allow_all` (no rule matched,
/// and the group allows the whole direction), `no_match` (no rule matched; dropped) or
/// `ungoverned` (no enabled group applies: unfiltered).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DecisionKind {
    Rule,
    AllowAll,
    NoMatch,
    Ungoverned,
}

/// One side of a flow: the source's egress or the destination's ingress.
#[derive(Debug, Serialize, ToSchema)]
pub struct SideView {
    pub verdict: VerdictWire,
    pub server_id: Uuid,
    pub interface_id: Uuid,
    #[schema(value_type = String)]
    pub address: IpAddr,
    pub decision: DecisionKind,
    pub group_id: Option<Uuid>,
    pub rule_id: Option<Uuid>,
}

/// A group's and a rule's ids as one vendor face shows them.
#[derive(Debug, Serialize, ToSchema)]
pub struct VendorIds {
    pub group: String,
    /// Absent where that face shows no id for the rule (Defined's rules; Hostway's outbound).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// The ids each face that shows the group uses.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct FaceIds {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub katapult: Option<VendorIds>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostway: Option<VendorIds>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zstack: Option<VendorIds>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub defined: Option<VendorIds>,
}

/// A rule (or, with no `rule_id`, a group's allow-all default) that decided a side.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecidingRule {
    pub group_id: Uuid,
    pub group_name: String,
    pub rule_id: Option<Uuid>,
    /// `inbound` (the destination's ingress) or `outbound` (the source's egress).
    pub direction: String,
    pub action: String,
    pub face_ids: FaceIds,
}

/// The flow as checked (server ids resolved to addresses, ICMP defaults filled in).
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowView {
    #[schema(value_type = String)]
    pub source: IpAddr,
    #[schema(value_type = String)]
    pub destination: IpAddr,
    pub protocol: String,
    pub port: Option<u16>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
}

/// A flow check's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlowCheckResponse {
    pub verdict: VerdictWire,
    /// The policy revision the answer is of.
    pub revision: u64,
    pub flow: FlowView,
    /// Absent when the source is no server's address.
    pub egress: Option<SideView>,
    /// Absent when the destination is no server's address.
    pub ingress: Option<SideView>,
    pub decided_by: Vec<DecidingRule>,
    pub explanation: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PortRangeView {
    pub from: u16,
    pub to: u16,
}

/// One rule of an effective policy, in evaluation order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EffectiveRule {
    pub group_id: Uuid,
    pub group_name: String,
    pub rule_id: Uuid,
    pub action: String,
    /// `any`, `tcp`, `udp`, `icmp`, `icmpv6` or a protocol number.
    pub protocol: String,
    /// Empty: every port (or the protocol has none).
    pub ports: Vec<PortRangeView>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    pub priority: Option<i32>,
    /// The one address family (4 or 6) the rule's group restricts it to (ZStack's `ipVersion`);
    /// null: both.
    pub ip_version: Option<u8>,
    /// The name, in the response's `sets`, of the addresses the rule's remotes name now.
    pub remote_set: String,
}

/// What a direction does when no rule matches.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Defaults {
    pub ingress: VerdictWire,
    pub egress: VerdictWire,
}

/// The effective policy of one interface.
#[derive(Debug, Serialize, ToSchema)]
pub struct InterfacePolicyView {
    pub interface_id: Uuid,
    pub network_id: Uuid,
    #[schema(value_type = Vec<String>)]
    pub addresses: Vec<IpAddr>,
    /// Whether an enabled group or role applies (if not, all traffic passes).
    pub governed: bool,
    #[schema(value_type = Vec<EffectiveRule>)]
    pub ingress: Rules,
    #[schema(value_type = Vec<EffectiveRule>)]
    pub egress: Rules,
    pub defaults: Defaults,
}

/// An interface's rules of one direction, shared by the answer's top-level lists (a copy per
/// answer cost as much as rendering them).
pub type Rules = Arc<Vec<EffectiveRule>>;

/// A set's CIDRs, rendered once per revision and shared by every answer naming the set.
#[derive(Debug, Clone)]
pub struct SetCidrs(Arc<RenderedSet>);

impl Serialize for SetCidrs {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.json.serialize(serializer)
    }
}

/// A server's effective policy at a revision. `governed`, `ingress`, `egress` and `defaults`
/// are those of its first interface; `interfaces` has each. Rules name their remote addresses
/// by set, each set once in `sets` (many rules share one: a group's members, `all:ipv4`), as
/// nftables will hold them.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServerPolicyResponse {
    pub revision: u64,
    /// A digest of everything below (not of `revision`): equal digests, equal policies. It is
    /// also the answer's `ETag`; a host agent reports it with the revision it applied.
    pub digest: String,
    pub server_id: Uuid,
    pub governed: bool,
    #[schema(value_type = Vec<EffectiveRule>)]
    pub ingress: Rules,
    #[schema(value_type = Vec<EffectiveRule>)]
    pub egress: Rules,
    pub defaults: Defaults,
    pub interfaces: Vec<InterfacePolicyView>,
    /// Address sets by name: CIDRs, IPv4 first. A name is a digest of the content, so the same
    /// addresses keep their name from one revision to the next.
    #[schema(value_type = BTreeMap<String, Vec<String>>)]
    pub sets: BTreeMap<String, SetCidrs>,
}

/// One lint finding.
#[derive(Debug, Serialize, ToSchema)]
pub struct FindingView {
    /// `world_open_admin_port`, `shadowed_rule`, `duplicate_rule`, `dangling_reference`,
    /// `rule_admits_nothing`, `unapplied_group` or `ungoverned_server`.
    pub kind: String,
    /// `error`, `warning` or `info`.
    pub severity: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_id: Option<Uuid>,
    pub message: String,
}

/// Lint's findings, the most severe first.
#[derive(Debug, Serialize, ToSchema)]
pub struct LintResponse {
    pub revision: u64,
    pub findings: Vec<FindingView>,
}

// ---------------------------------------------------------------- handlers

/// Would this flow pass, and why (`policy:read`). Addresses of other organizations are no
/// servers' here.
#[utoipa::path(post, path = "/organizations/{id}/flow_checks", tag = "policy",
    params(("id" = String, Path, description = "Organization id")),
    request_body = FlowCheckRequest,
    responses((status = 200, body = FlowCheckResponse), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn check_flow(
    State(s): State<AppState>,
    Actor(actor): Actor,
    NativePath(id): NativePath<String>,
    body: Result<NativeJson<FlowCheckRequest>>,
) -> Result<Json<FlowCheckResponse>> {
    let org: OrganizationId = path_id(&id, OrganizationId::KIND)?;
    actor.authorize(org, READ_POLICY)?;
    let NativeJson(body) = body?;
    let query = flow_query(&body)?;
    let check = s.core.check_flow(&actor, org, query).await?;
    let evaluated = &check.evaluated;
    let side = |side: Option<SideVerdict>, address| side.map(|side| side_view(&side, address));
    let mut decided_by = Vec::new();
    for (side, direction) in
        [(check.verdict.egress, Direction::Outbound), (check.verdict.ingress, Direction::Inbound)]
    {
        let Some(side) = side else { continue };
        let (group, rule) = match side.decided_by {
            Decision::Rule { group, rule } => (group, Some(rule)),
            Decision::AllowAll { group } => (group, None),
            Decision::NoMatch | Decision::Ungoverned => continue,
        };
        let Some(group) = evaluated.group(group) else { continue };
        let number = rule.and_then(|r| check.rule_numbers.get(&r).copied());
        decided_by.push(DecidingRule {
            group_id: group.id.as_uuid(),
            group_name: group.name.clone(),
            rule_id: rule.map(|r| r.as_uuid()),
            direction: direction.as_str().to_owned(),
            action: verdict_name(side.verdict).to_owned(),
            face_ids: face_ids(group, rule, direction, number),
        });
    }
    let flow = &check.flow;
    Ok(Json(FlowCheckResponse {
        verdict: check.verdict.verdict.into(),
        revision: evaluated.revision(),
        flow: FlowView {
            source: flow.source,
            destination: flow.destination,
            protocol: body.protocol.to_lowercase(),
            port: flow.port,
            icmp_type: flow.icmp.map(|(t, _)| t),
            icmp_code: flow.icmp.map(|(_, c)| c),
        },
        egress: side(check.verdict.egress, flow.source),
        ingress: side(check.verdict.ingress, flow.destination),
        decided_by,
        explanation: check.explanation.clone(),
    }))
}

/// `?after_revision=&wait=` on a server's policy: the host agent's long poll.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PolicyWait {
    /// Hold the request until the organization's policy revision is above this one and the
    /// server's policy differs from the one whose digest `If-None-Match` names (if given); at
    /// the end of `wait`, answer 304 Not Modified (with the revision now in force in
    /// `X-Palisade-Revision`).
    #[param(value_type = Option<u64>, minimum = 0, maximum = 9223372036854775807_u64)]
    pub after_revision: Option<String>,
    /// Longest hold, in seconds (default 30, at most 300).
    #[param(value_type = Option<u32>, minimum = 0, maximum = 300)]
    pub wait: Option<String>,
}

/// Default and longest hold of a long poll.
const WAIT_DEFAULT: u64 = 30;
const WAIT_MAX: u64 = 300;

/// The response header giving the revision a 304 Not Modified answer stands for.
pub const REVISION_HEADER: &str = "x-palisade-revision";

/// A server's effective policy: what applies to it, in evaluation order, with every remote
/// resolved to addresses (`policy:read`, or the server's agent token). With `after_revision`,
/// a long poll: answered when the server's policy changes, or 304 after `wait` seconds. With
/// `If-None-Match: "<digest>"` alone, 304 at once if the policy is still that one.
#[utoipa::path(get, path = "/organizations/{id}/servers/{server_id}/policy", tag = "policy",
    params(("id" = String, Path, description = "Organization id"), ("server_id" = String, Path, description = "Server id"), PolicyWait),
    responses((status = 200, body = ServerPolicyResponse), (status = 304, description = "Not modified (see `after_revision`)"),
        (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn server_policy(
    State(s): State<AppState>,
    Actor(actor): Actor,
    NativePath((id, server_id)): NativePath<(String, String)>,
    NativeQuery(wait): NativeQuery<PolicyWait>,
    headers: HeaderMap,
) -> Result<Response> {
    let org: OrganizationId = path_id(&id, OrganizationId::KIND)?;
    let server_id: ServerId = path_id(&server_id, ServerId::KIND)?;
    answer_policy(&s, &actor, ServerRef::Owned(org, server_id), wait, &headers).await
}

/// The same, by the server's id alone: what a host agent asks, knowing only its server.
#[utoipa::path(get, path = "/servers/{server_id}/policy", tag = "enforcement",
    params(("server_id" = String, Path, description = "Server id"), PolicyWait),
    responses((status = 200, body = ServerPolicyResponse), (status = 304, description = "Not modified (see `after_revision`)"),
        (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn agent_policy(
    State(s): State<AppState>,
    Actor(actor): Actor,
    NativePath(server_id): NativePath<String>,
    NativeQuery(wait): NativeQuery<PolicyWait>,
    headers: HeaderMap,
) -> Result<Response> {
    let server_id: ServerId = path_id(&server_id, ServerId::KIND)?;
    answer_policy(&s, &actor, ServerRef::Id(server_id), wait, &headers).await
}

async fn answer_policy(
    s: &AppState,
    actor: &Principal,
    server: ServerRef,
    wait: PolicyWait,
    headers: &HeaderMap,
) -> Result<Response> {
    let after: Option<u64> = query_number("after_revision", wait.after_revision.as_deref())?;
    // Revisions are stored as 64-bit signed integers.
    if after.is_some_and(|a| i64::try_from(a).is_err()) {
        return Err(malformed("after_revision", &format!("must be at most {}", i64::MAX)).into());
    }
    let hold = query_number("wait", wait.wait.as_deref())?.unwrap_or(WAIT_DEFAULT);
    if hold > WAIT_MAX {
        return Err(malformed("wait", &format!("must be at most {WAIT_MAX} seconds")).into());
    }
    let known = if_none_match(headers);
    let until = tokio::time::Instant::now() + Duration::from_secs(hold);
    let wait = palisade_core::service::PolicyWait { after, known: known.as_deref(), until };
    let next = s
        .core
        .next_server_policy(actor, server, wait, |policy| {
            let view = policy_view(policy);
            let digest = view.digest.clone();
            (view, digest)
        })
        .await?;
    Ok(match next {
        Next::Changed(view) => with_etag(view),
        Next::Unchanged(view) => not_modified(&view),
    })
}

/// The digest `If-None-Match` names (one entity tag, quoted or not, weak or not).
fn if_none_match(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(IF_NONE_MATCH)?.to_str().ok()?.trim();
    let value = value.strip_prefix("W/").unwrap_or(value);
    Some(value.trim_matches('"').to_owned())
}

fn with_etag(view: ServerPolicyResponse) -> Response {
    let tag = etag(&view.digest);
    let mut response = Json(view).into_response();
    if let Some(tag) = tag {
        response.headers_mut().insert(ETAG, tag);
    }
    response
}

fn etag(digest: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!("\"{digest}\"")).ok()
}

fn not_modified(view: &ServerPolicyResponse) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    if let Some(tag) = etag(&view.digest) {
        response.headers_mut().insert(ETAG, tag);
    }
    response.headers_mut().insert(REVISION_HEADER, HeaderValue::from(view.revision));
    response
}

/// The native view of a server's effective policy.
pub(super) fn policy_view(policy: &ServerPolicy) -> ServerPolicyResponse {
    let server_id = policy.server.id;
    let evaluated = &policy.evaluated;
    let mut sets = SetNames::default();
    let interfaces: Vec<InterfacePolicyView> = policy
        .server
        .interfaces
        .iter()
        .map(|i| {
            let compiled = evaluated.compiled.interface(i.id);
            let mut rules = |pick: fn(&InterfacePolicy) -> &RuleList| -> Rules {
                let Some(policy) = compiled else { return Rules::default() };
                let list = evaluated.compiled.rules_in(pick(policy));
                Arc::new(list.map(|r| effective_rule(evaluated, r, &mut sets)).collect())
            };
            let (ingress, egress) = (rules(|p| &p.ingress), rules(|p| &p.egress));
            InterfacePolicyView {
                interface_id: i.id.as_uuid(),
                network_id: i.network_id.as_uuid(),
                addresses: i.addresses.clone(),
                governed: compiled.is_some_and(|p| p.governed),
                ingress,
                egress,
                defaults: defaults(compiled),
            }
        })
        .collect();
    let first = interfaces.first();
    let mut view = ServerPolicyResponse {
        revision: evaluated.revision(),
        digest: String::new(),
        server_id: server_id.as_uuid(),
        governed: first.is_some_and(|i| i.governed),
        ingress: first.map(|i| i.ingress.clone()).unwrap_or_default(),
        egress: first.map(|i| i.egress.clone()).unwrap_or_default(),
        defaults: first.map_or_else(|| defaults(None), |i| i.defaults),
        interfaces,
        sets: sets.sets,
    };
    view.digest = content_digest(&view);
    view
}

/// The digest of a policy's content: its interfaces and sets (the first interface's lists are
/// copies), not its revision.
fn content_digest(view: &ServerPolicyResponse) -> String {
    // Sets by name: a set's name is a digest of its content, so its addresses need not be
    // written out again (a long poll per server renders this once each).
    let sets: Vec<&String> = view.sets.keys().collect();
    let content = serde_json::to_vec(&(&view.server_id, &view.interfaces, sets)).unwrap_or_default();
    data_encoding::HEXLOWER.encode(&sha2::Sha256::digest(&content)[..16])
}

/// What in the organization's policy is probably wrong (`policy:read`).
#[utoipa::path(get, path = "/organizations/{id}/policy/lint", tag = "policy",
    params(("id" = String, Path, description = "Organization id")),
    responses((status = 200, body = LintResponse), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn lint(
    State(s): State<AppState>,
    Actor(actor): Actor,
    NativePath(id): NativePath<String>,
) -> Result<Json<LintResponse>> {
    let org: OrganizationId = path_id(&id, OrganizationId::KIND)?;
    let report = s.core.lint_policy(&actor, org).await?;
    Ok(Json(LintResponse {
        revision: report.revision,
        findings: report.findings.iter().map(finding_view).collect(),
    }))
}

// ---------------------------------------------------------------- translation

fn flow_query(body: &FlowCheckRequest) -> std::result::Result<FlowQuery, Error> {
    let endpoint = |text: &str| -> Option<Endpoint> {
        if let Ok(address) = text.parse::<IpAddr>() {
            return Some(Endpoint::Address(address));
        }
        Uuid::parse_str(text).ok().map(|u| Endpoint::Server(ServerId::from_uuid(u)))
    };
    let protocol = match body.protocol.to_ascii_lowercase().as_str() {
        "tcp" => Some(FlowProtocol::Tcp),
        "udp" => Some(FlowProtocol::Udp),
        "icmp" => Some(FlowProtocol::Icmp),
        "icmpv6" => Some(FlowProtocol::Icmpv6),
        number => number.parse::<u8>().ok().map(FlowProtocol::from_number),
    };
    let mut violations = Vec::new();
    let must =
        |path: &str, message: &str| palisade_core::Violation::new(path, ViolationCode::InvalidValue, message);
    let source = endpoint(&body.source);
    let destination = endpoint(&body.destination);
    if source.is_none() {
        violations.push(must("source", "must be an IP address or a server id"));
    }
    if destination.is_none() {
        violations.push(must("destination", "must be an IP address or a server id"));
    }
    if protocol.is_none() {
        violations
            .push(must("protocol", "must be tcp, udp, icmp, icmpv6 or a protocol number from 0 to 255"));
    }
    match (source, destination, protocol) {
        (Some(source), Some(destination), Some(protocol)) => Ok(FlowQuery {
            source,
            destination,
            protocol,
            port: body.port,
            icmp_type: body.icmp_type,
            icmp_code: body.icmp_code,
        }),
        _ => Err(Error::Invalid(violations)),
    }
}

fn verdict_name(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Allow => "allow",
        Verdict::Deny => "deny",
        Verdict::Reject => "reject",
    }
}

fn side_view(side: &SideVerdict, address: IpAddr) -> SideView {
    let (decision, group, rule) = match side.decided_by {
        Decision::Rule { group, rule } => (DecisionKind::Rule, Some(group), Some(rule)),
        Decision::AllowAll { group } => (DecisionKind::AllowAll, Some(group), None),
        Decision::NoMatch => (DecisionKind::NoMatch, None, None),
        Decision::Ungoverned => (DecisionKind::Ungoverned, None, None),
    };
    SideView {
        verdict: side.verdict.into(),
        server_id: side.server.as_uuid(),
        interface_id: side.interface.as_uuid(),
        address,
        decision,
        group_id: group.map(|g| g.as_uuid()),
        rule_id: rule.map(|r| r.as_uuid()),
    }
}

/// The ids the vendor faces show for `group` and `rule`: security groups on Katapult, Hostway
/// (inbound rules only, numbered per organization) and ZStack; roles on Defined (whose rules
/// have no ids).
pub(super) fn face_ids(
    group: &SecurityGroup,
    rule: Option<RuleId>,
    direction: Direction,
    number: Option<u64>,
) -> FaceIds {
    let bytes = group.id.as_bytes();
    match group.kind {
        GroupKind::Role => FaceIds {
            defined: Some(VendorIds {
                group: vendor_ids::defined::render(vendor_ids::defined::ROLE, bytes),
                rule: None,
            }),
            ..FaceIds::default()
        },
        GroupKind::SecurityGroup => {
            let katapult = vendor_ids::katapult::render;
            FaceIds {
                katapult: Some(VendorIds {
                    group: katapult(vendor_ids::katapult::SECURITY_GROUP, bytes),
                    rule: rule.map(|r| katapult(vendor_ids::katapult::RULE, r.as_bytes())),
                }),
                hostway: Some(VendorIds {
                    group: vendor_ids::hostway::render(group.id, group.created_at),
                    rule: number.filter(|_| direction == Direction::Inbound).map(|n| n.to_string()),
                }),
                zstack: Some(VendorIds {
                    group: vendor_ids::zstack::render(bytes),
                    rule: rule.map(|r| vendor_ids::zstack::render(r.as_bytes())),
                }),
                defined: None,
            }
        }
    }
}

/// The address sets of one answer, named by content.
#[derive(Default)]
struct SetNames {
    /// Compiled sets are shared between rules: each is rendered once.
    seen: HashMap<*const IpSet, String>,
    sets: BTreeMap<String, SetCidrs>,
}

impl SetNames {
    /// The set's name, rendered by the compiled policy once for every answer of its revision.
    fn name(&mut self, evaluated: &Evaluated, set: &Arc<IpSet>) -> String {
        if let Some(name) = self.seen.get(&Arc::as_ptr(set)) {
            return name.clone();
        }
        let rendered = evaluated.rendered_set(set);
        let name = format!("set_{}", data_encoding::HEXLOWER.encode(&rendered.digest[..8]));
        self.sets.entry(name.clone()).or_insert_with(|| SetCidrs(rendered));
        self.seen.insert(Arc::as_ptr(set), name.clone());
        name
    }
}

fn effective_rule(evaluated: &Evaluated, entry: &CatalogRule, sets: &mut SetNames) -> EffectiveRule {
    let rule = &entry.rule;
    let written = evaluated.written(entry);
    EffectiveRule {
        group_id: rule.group.as_uuid(),
        group_name: written.map(|(g, _)| g.name.clone()).unwrap_or_default(),
        rule_id: rule.rule.as_uuid(),
        action: rule.action.as_str().to_owned(),
        protocol: rule.protocol().as_text(),
        ports: rule.ports().iter().map(|p| PortRangeView { from: p.from, to: p.to }).collect(),
        icmp_type: rule.icmp().map(|m| m.icmp_type),
        icmp_code: rule.icmp().and_then(|m| m.code),
        priority: written.and_then(|(_, r)| r.priority),
        ip_version: entry.family().map(IpVersion::number),
        remote_set: sets.name(evaluated, &rule.remote),
    }
}

fn defaults(policy: Option<&InterfacePolicy>) -> Defaults {
    let allow = |governed: bool, group: Option<_>| {
        if !governed || group.is_some() {
            VerdictWire::Allow
        } else {
            VerdictWire::Deny
        }
    };
    match policy {
        Some(p) => Defaults {
            ingress: allow(p.governed, p.allow_all_ingress),
            egress: allow(p.governed, p.allow_all_egress),
        },
        None => Defaults { ingress: VerdictWire::Allow, egress: VerdictWire::Allow },
    }
}

fn finding_view(finding: &Finding) -> FindingView {
    FindingView {
        kind: finding.kind.as_str().to_owned(),
        severity: finding.severity().as_str().to_owned(),
        group_id: finding.group.map(|g| g.as_uuid()),
        rule_id: finding.rule.map(|r| r.as_uuid()),
        server_id: finding.server.map(|s| s.as_uuid()),
        message: finding.message.clone(),
    }
}
