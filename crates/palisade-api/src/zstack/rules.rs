//! Security-group rules: AddSecurityGroupRule, DeleteSecurityGroupRule, QuerySecurityGroupRule.
//!
//! A ZStack rule (`RuleAO`: `type`, `protocol`, `startPort`, `endPort`, `allowedCidr`,
//! `ipVersion`) is validated as ZStack 3.x validates it (reference §3.4: the checks in order,
//! `SYS.1007` with ZStack's messages and its "rule dump"), then becomes one canonical allow rule
//! per `RuleAO`, or one per `RuleAO` and remote group when `remoteSecurityGroupUuids` is given:
//!
//! - `Ingress`/`Egress` → inbound/outbound; `ALL` → any protocol; `TCP`/`UDP` with the port
//!   range (`0-65535` is every port; a range from 0 starts at 1, as no packet has port 0);
//!   `ICMP` → ICMP (IPv4) or ICMPv6 (`ipVersion` 6), `startPort` the type and `endPort` the
//!   code (`-1`: every one);
//! - `allowedCidr` → the remote (`0.0.0.0/0`, `::/0`: every address of the family); with
//!   remote groups, each group is the remote.
//!
//! What newer SDKs (4.7.21+) send is taken too: `action` (`DROP` is a deny rule, shown with
//! `"action": "DROP"`), one range of `dstPortRange`, one CIDR of `srcIpRange`/`dstIpRange`, a
//! rule's own `remoteSecurityGroupUuid`, `description`.
//!
//! Not expressible in the canonical model, so refused with `SYS.1007` saying so: an
//! `allowedCidr` narrower than the whole family together with remote groups (ZStack matches
//! both at once). ZStack also turns a reversed range round for ICMP, swapping type and code;
//! Palisade does so for TCP and UDP only.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use palisade_core::error::ViolationCode;
use palisade_core::id::{RuleId, SecurityGroupId};
use palisade_core::policy::{
    Action, Direction, GroupKind, IcmpMatch, IpVersion, PortRange, Protocol, Remote,
};
use palisade_core::service::{CreateRule, GroupRules, Job};
use palisade_core::Error;
use serde_json::{Map, Value};

use super::call::{AsyncCall, Body, Done, SyncCall};
use super::error::ZStackError;
use super::groups::{group_id, integer, query_groups, string};
use super::gson::{self, Node, Obj};
use super::query::params;
use super::views::{self, RULE_CLASS};
use crate::AppState;

const KIND: GroupKind = GroupKind::SecurityGroup;
/// Most rules one request may add (ZStack's limit, and the core's).
const MAX_RULES: usize = 2000;

/// The fields of `SecurityGroupRuleInventory` a query may name.
const RULE_FIELDS: &[&str] = &[
    "uuid",
    "securityGroupUuid",
    "type",
    "ipVersion",
    "startPort",
    "endPort",
    "protocol",
    "state",
    "allowedCidr",
    "remoteSecurityGroupUuid",
    "createDate",
    "lastOpDate",
];

/// A `RuleAO` as the client sent it, with ZStack's defaults filled in as its checks fill them.
#[derive(Debug, Clone, PartialEq)]
struct RuleAo {
    kind: Option<String>,
    ip_version: Option<i64>,
    start: Option<i64>,
    end: Option<i64>,
    protocol: Option<String>,
    cidr: Option<String>,
    /// What newer SDKs (4.7.21+) send besides: `action`, `dstPortRange`, `srcIpRange` /
    /// `dstIpRange`, a per-rule `remoteSecurityGroupUuid`, `description`.
    newer: Newer,
}

#[derive(Debug, Clone, PartialEq, Default)]
struct Newer {
    action: Option<String>,
    dst_port_range: Option<String>,
    src_ip_range: Option<String>,
    dst_ip_range: Option<String>,
    remote: Option<String>,
    description: Option<String>,
}

impl RuleAo {
    fn read(map: &Map<String, Value>) -> Result<Self, ZStackError> {
        Ok(RuleAo {
            kind: string(map, "type")?,
            ip_version: integer(map, "ipVersion")?,
            start: integer(map, "startPort")?,
            end: integer(map, "endPort")?,
            protocol: string(map, "protocol")?,
            cidr: string(map, "allowedCidr")?,
            newer: Newer {
                action: string(map, "action")?,
                dst_port_range: string(map, "dstPortRange")?,
                src_ip_range: string(map, "srcIpRange")?,
                dst_ip_range: string(map, "dstIpRange")?,
                remote: string(map, "remoteSecurityGroupUuid")?,
                description: string(map, "description")?,
            },
        })
    }

    /// A newer SDK's fields in the classic ones (ZStack 4.7.21 converts the other way): one
    /// port range of `dstPortRange` as `startPort`/`endPort`, one address or CIDR of the
    /// direction's IP range as `allowedCidr`. Lists and address ranges are refused: a ZStack rule
    /// of this dialect has one range and one CIDR.
    fn classic(mut self) -> Result<Self, Error> {
        let unsupported = |field: &str, value: &str| {
            argerr(format!(
                "{field}[{value}] names several ranges or an address range; give one port range or one CIDR per rule"
            ))
        };
        if let (None, Some(range)) = (self.start, self.newer.dst_port_range.clone()) {
            let bound = |t: &str| t.trim().parse::<i64>().map_err(|_| unsupported("dstPortRange", &range));
            match range.split_once('-') {
                _ if range.contains(',') => return Err(unsupported("dstPortRange", &range)),
                Some((from, to)) => (self.start, self.end) = (Some(bound(from)?), Some(bound(to)?)),
                None => (self.start, self.end) = (Some(bound(&range)?), Some(bound(&range)?)),
            }
        }
        let ip_range = match self.kind.as_deref() {
            Some("Egress") => self.newer.dst_ip_range.clone(),
            _ => self.newer.src_ip_range.clone(),
        };
        if let (None, Some(range)) = (&self.cidr, ip_range) {
            if range.contains(',') || range.contains('-') {
                return Err(unsupported("ipRange", &range));
            }
            self.cidr = Some(range);
        }
        match self.newer.action.as_deref() {
            None | Some("ACCEPT" | "DROP") => Ok(self),
            Some(other) => Err(argerr(format!("invalid action[{other}], valid actions are [ACCEPT, DROP]"))),
        }
    }

    /// ZStack's "rule dump": the `RuleAO` as Gson writes it.
    fn dump(&self) -> String {
        let obj = Obj::default()
            .with("type", self.kind.clone().map(Node::Str))
            .with("ipVersion", self.ip_version.map(Node::Int))
            .with("startPort", self.start.map(Node::Int))
            .with("endPort", self.end.map(Node::Int))
            .with("protocol", self.protocol.clone().map(Node::Str))
            .with("allowedCidr", self.cidr.clone().map(Node::Str));
        serde_json::to_string(&obj).unwrap_or_default()
    }
}

fn argerr(message: String) -> Error {
    Error::invalid("", ViolationCode::InvalidValue, message)
}

/// ZStack's checks of one rule, in its order; the rule normalised, or the first failure.
fn check(ao: RuleAo, group_version: IpVersion) -> Result<RuleAo, Error> {
    let mut ao = ao.classic()?;
    let dump = |ao: &RuleAo| ao.dump();
    match ao.kind.as_deref() {
        None => return Err(argerr(format!("rule type can not be null. rule dump: {}", dump(&ao)))),
        Some("Ingress" | "Egress") => {}
        Some(other) => {
            return Err(argerr(format!(
                "unknown rule type[{other}], rule can only be Ingress/Egress. rule dump: {}",
                dump(&ao)
            )))
        }
    }
    let protocol = match ao.protocol.as_deref() {
        None => return Err(argerr(format!("protocol can not be null. rule dump: {}", dump(&ao)))),
        Some(p @ ("TCP" | "UDP" | "ICMP" | "ALL")) => p.to_owned(),
        Some(other) => {
            return Err(argerr(format!(
                "invalid protocol[{other}]. Valid protocols are [TCP, UDP, ICMP, ALL]. rule dump: {}",
                dump(&ao)
            )))
        }
    };
    match (ao.start, protocol.as_str()) {
        (None, "ALL") => ao.start = Some(-1),
        (None, _) => return Err(argerr(format!("startPort can not be null. rule dump: {}", dump(&ao)))),
        (Some(_), "ALL") => {
            return Err(argerr(format!("can not set port for protocol [type:ALL]. rule dump: {}", dump(&ao))))
        }
        (Some(start), "ICMP") if !(-1..=255).contains(&start) => {
            return Err(argerr(format!(
                "invalid ICMP type[{start}]. Valid type is [-1, 255]. rule dump: {}",
                dump(&ao)
            )))
        }
        (Some(start), "TCP" | "UDP") if !(0..=65535).contains(&start) => {
            return Err(argerr(format!(
                "invalid startPort[{start}]. Valid range is [0, 65535]. rule dump: {}",
                dump(&ao)
            )))
        }
        _ => {}
    }
    if ao.end.is_none() {
        ao.end = ao.start;
    }
    match (ao.end, protocol.as_str()) {
        (_, "ALL") => ao.end = Some(-1),
        (Some(end), "ICMP") if !(-1..=3).contains(&end) => {
            return Err(argerr(format!(
                "invalid ICMP code[{end}]. Valid range is [-1, 3]. rule dump: {}",
                dump(&ao)
            )))
        }
        (Some(end), "TCP" | "UDP") if !(0..=65535).contains(&end) => {
            return Err(argerr(format!(
                "invalid endPort[{end}]. Valid range is [0, 65535]. rule dump: {}",
                dump(&ao)
            )))
        }
        _ => {}
    }
    let version = match ao.ip_version.unwrap_or(4) {
        4 => IpVersion::V4,
        6 => IpVersion::V6,
        other => {
            return Err(argerr(format!(
                "valid value for field[ipVersion] of message[APIAddSecurityGroupRuleMsg] are [4, 6], but {other} found"
            )))
        }
    };
    ao.ip_version = Some(version.number().into());
    if let Some(cidr) = &ao.cidr {
        let parsed =
            cidr.parse::<ipnet::IpNet>().ok().filter(|n| n.addr().is_ipv4() == (version == IpVersion::V4));
        if parsed.is_none() || Remote::cidr(cidr).is_err() {
            return Err(argerr(format!("invalid CIDR[{cidr}]. rule dump: {}", dump(&ao))));
        }
    }
    if version != group_version {
        return Err(argerr(format!(
            "security group rule ipVersion [{}] is different from security group version [{}]",
            version.number(),
            group_version.number()
        )));
    }
    // A reversed port range is turned round (for ICMP the two are a type and a code).
    if protocol == "TCP" || protocol == "UDP" {
        let (start, end) = (ao.start.unwrap_or(0), ao.end.unwrap_or(0));
        ao.start = Some(start.min(end));
        ao.end = Some(start.max(end));
    }
    Ok(ao)
}

/// ZStack's rule equality for duplicates: same ports, protocol, type, version, and CIDR (none,
/// empty and the whole family alike).
fn same(a: &RuleAo, b: &RuleAo) -> bool {
    let cidr = |ao: &RuleAo| match ao.cidr.as_deref() {
        None | Some("" | "0.0.0.0/0" | "::/0") => String::new(),
        Some(c) => c.to_owned(),
    };
    let action = |ao: &RuleAo| ao.newer.action.clone().unwrap_or_else(|| "ACCEPT".into());
    (a.start, a.end, &a.protocol, &a.kind, a.ip_version)
        == (b.start, b.end, &b.protocol, &b.kind, b.ip_version)
        && cidr(a) == cidr(b)
        && action(a) == action(b)
}

/// A remote group named by uuid (one that is no uuid names no group).
fn remote_group(uuid: &str) -> Result<SecurityGroupId, Error> {
    gson::parse_uuid(uuid).map(SecurityGroupId::from_uuid).ok_or_else(|| {
        Error::invalid(
            "remoteSecurityGroupUuids",
            ViolationCode::InvalidReference,
            format!("invalid field[remoteSecurityGroupUuids], resource[uuid:{uuid}, type:SecurityGroupVO] not found"),
        )
    })
}

/// The canonical rule of a checked `RuleAO` and a remote (a group, or the CIDR).
fn canonical(ao: &RuleAo, group: Option<SecurityGroupId>) -> Result<CreateRule, Error> {
    let v6 = ao.ip_version == Some(6);
    let world = match ao.cidr.as_deref() {
        None | Some("") => true,
        Some(c) => c == if v6 { "::/0" } else { "0.0.0.0/0" },
    };
    let remote = match (group, world) {
        (Some(id), true) => Remote::Group(id),
        (Some(_), false) => {
            return Err(argerr(format!(
                "an allowedCidr narrower than the whole family cannot be combined with remoteSecurityGroupUuids in Palisade. rule dump: {}",
                ao.dump()
            )))
        }
        (None, true) if v6 => Remote::AnyIpv6,
        (None, true) => Remote::AnyIpv4,
        (None, false) => Remote::cidr(ao.cidr.as_deref().unwrap_or_default())
            .map_err(|e| argerr(format!("invalid CIDR: {}", e.message())))?,
    };
    let (protocol, ports) = match ao.protocol.as_deref() {
        Some("TCP" | "UDP") => {
            let p = if ao.protocol.as_deref() == Some("TCP") { Protocol::Tcp } else { Protocol::Udp };
            let (from, to) = (ao.start.unwrap_or(0), ao.end.unwrap_or(65535));
            let ports = if (from, to) == (0, 65535) {
                Vec::new()
            } else {
                let port = |n: i64| u16::try_from(n.max(1)).unwrap_or(u16::MAX);
                vec![PortRange { from: port(from), to: port(to) }]
            };
            (p, ports)
        }
        Some("ICMP") if v6 => (Protocol::Icmpv6, Vec::new()),
        Some("ICMP") => (Protocol::Icmp, Vec::new()),
        _ => (Protocol::Any, Vec::new()),
    };
    // ICMP: `startPort` is the type and `endPort` the code, -1 meaning every one.
    let icmp = match (ao.protocol.as_deref(), ao.start, ao.end) {
        (Some("ICMP"), Some(kind), code) if kind >= 0 => Some(IcmpMatch {
            icmp_type: u8::try_from(kind).unwrap_or(u8::MAX),
            code: code.filter(|c| *c >= 0).map(|c| u8::try_from(c).unwrap_or(u8::MAX)),
        }),
        _ => None,
    };
    Ok(CreateRule {
        direction: if ao.kind.as_deref() == Some("Egress") {
            Direction::Outbound
        } else {
            Direction::Inbound
        },
        action: if ao.newer.action.as_deref() == Some("DROP") { Action::Deny } else { Action::Allow },
        protocol,
        ports,
        icmp,
        priority: None,
        remotes: vec![remote],
        description: ao.newer.description.clone(),
    })
}

/// What AddSecurityGroupRule asks: the rules as sent and the remote groups.
#[derive(Debug)]
struct AddInput {
    rules: Option<Vec<RuleAo>>,
    remotes: Option<Vec<String>>,
}

/// Reads AddSecurityGroupRule's parameters; type errors are front-end refusals.
fn add_input(body: &Body) -> Result<AddInput, ZStackError> {
    let empty = Map::new();
    let params = body.section("params").unwrap_or(&empty);
    let list = |field: &str| -> Result<Option<&Vec<Value>>, ZStackError> {
        match params.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(other) => Err(ZStackError::Front(
                StatusCode::BAD_REQUEST,
                format!("[{field}] field is excepted a List, but was [{other}]."),
            )),
        }
    };
    let rules = match list("rules")? {
        None => None,
        Some(items) => Some(
            items
                .iter()
                .map(|item| match item {
                    Value::Object(map) => RuleAo::read(map),
                    other => Err(ZStackError::Front(
                        StatusCode::BAD_REQUEST,
                        format!("[rules] field is excepted a List of RuleAO, but was [{other}]."),
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let remotes = list("remoteSecurityGroupUuids")?.map(|items| {
        items.iter().map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())).collect()
    });
    Ok(AddInput { rules, remotes })
}

/// The rules to create, checked as ZStack checks them (`group_version`: the group's).
fn build(
    rules: Option<Vec<RuleAo>>,
    remotes: &Option<Vec<String>>,
    group_version: IpVersion,
) -> Result<(Vec<RuleAo>, Vec<CreateRule>), Error> {
    let rules = match rules {
        Some(rules) if !rules.is_empty() => rules,
        _ => return Err(argerr("field[rules] must be a nonempty list".into())),
    };
    if rules.len() > MAX_RULES {
        return Err(argerr(format!(
            "the amount of rules exceeds limit, maximum {MAX_RULES} rules are allowed in one request"
        )));
    }
    let checked = rules.into_iter().map(|ao| check(ao, group_version)).collect::<Result<Vec<_>, _>>()?;
    for (i, ao) in checked.iter().enumerate() {
        if checked[..i].iter().any(|earlier| same(earlier, ao)) {
            return Err(argerr(format!("rule should not be duplicated. rule dump: {}", ao.dump())));
        }
    }
    let groups: Vec<Option<SecurityGroupId>> = match remotes {
        Some(uuids) if !uuids.is_empty() => {
            uuids.iter().map(|u| remote_group(u).map(Some)).collect::<Result<_, _>>()?
        }
        _ => vec![None],
    };
    let mut creates = Vec::new();
    let mut sources = Vec::new();
    for ao in &checked {
        // A newer SDK names the remote group per rule; both ways at once is a conflict.
        let own =
            match &ao.newer.remote {
                Some(_) if groups != [None] => return Err(argerr(
                    "remoteSecurityGroupUuids and a rule's remoteSecurityGroupUuid cannot be given together"
                        .into(),
                )),
                Some(uuid) => vec![Some(remote_group(uuid)?)],
                None => groups.clone(),
            };
        for group in &own {
            creates.push(canonical(ao, *group)?);
            sources.push(ao.clone());
        }
    }
    Ok((sources, creates))
}

/// `POST /security-groups/{uuid}/rules` `{"params": {rules, remoteSecurityGroupUuids?}}` →
/// `202`; the job answers the group with all its rules.
pub async fn add(
    State(s): State<AppState>,
    call: AsyncCall,
    Path(uuid): Path<String>,
    body: Body,
) -> Response {
    let AddInput { rules, remotes } = match add_input(&body) {
        Ok(input) => input,
        Err(front) => return front.into_response(),
    };
    let core = &s.core;
    call.run(core, |actor, job| async move {
        let id = group_id(&uuid)?;
        let render = |g: &GroupRules| views::inventory(views::group(&g.group, &g.rules, &g.resolved));
        // The rules are checked against the group as the core found it (its IP version), and
        // remembered as sent, for the message about a rule the group already has.
        let sources = std::sync::Mutex::new(Vec::new());
        let inputs = |group: &palisade_core::policy::SecurityGroup| {
            let (checked, creates) = build(rules, &remotes, views::ip_version(group))?;
            *sources.lock().unwrap_or_else(|p| p.into_inner()) = checked;
            Ok(creates)
        };
        let job = Some(Job { id: job, render: &render });
        match core.create_rules(&actor, id, KIND, inputs, true, job).await {
            Ok(_) => Ok(Done::Recorded),
            Err(Error::Invalid(violations)) => {
                let sources = sources.lock().unwrap_or_else(|p| p.into_inner());
                Err(duplicate(&violations, &sources, &remotes).into())
            }
            Err(other) => Err(other.into()),
        }
    })
    .await
}

/// ZStack's message for a rule the group already has (the core's `Duplicate` at `rules[i]`).
fn duplicate(
    violations: &[palisade_core::error::Violation],
    sources: &[RuleAo],
    remotes: &Option<Vec<String>>,
) -> Error {
    let found = violations.iter().find_map(|v| {
        let i: usize = v.path.strip_prefix("rules[")?.strip_suffix(']')?.parse().ok()?;
        (v.code == ViolationCode::Duplicate).then(|| sources.get(i)).flatten()
    });
    match found {
        Some(ao) => argerr(format!(
            "rule exist. rule dump: {}, remoteSecurityGroupUuid:[{}]",
            ao.dump(),
            remotes.as_ref().map(|r| r.join(", ")).unwrap_or_else(|| "null".into())
        )),
        None => Error::Invalid(violations.to_vec()),
    }
}

/// The rule uuids of a DeleteSecurityGroupRule: `ruleUuids=a&ruleUuids=b`, the indexed form
/// `ruleUuids.0=a`, or one value; a value that is no uuid (the Python SDK's `['a', 'b']`) names
/// no rule, as in ZStack.
fn rule_ids(raw: Option<&str>) -> Vec<RuleId> {
    params(raw)
        .into_iter()
        .filter(|(k, _)| {
            k == "ruleUuids" || k.strip_prefix("ruleUuids.").is_some_and(|i| i.parse::<usize>().is_ok())
        })
        .filter_map(|(_, v)| gson::parse_uuid(&v).map(RuleId::from_uuid))
        .collect()
}

/// `DELETE /security-groups/rules?ruleUuids=…` → `202`; the job answers the group of the first
/// rule with its remaining rules, or `{}` when no uuid named a rule.
pub async fn delete(State(s): State<AppState>, call: AsyncCall, RawQuery(raw): RawQuery) -> Response {
    let ids = rule_ids(raw.as_deref());
    let core = &s.core;
    call.run(core, |actor, job| async move {
        let render = |g: &GroupRules| views::inventory(views::group(&g.group, &g.rules, &g.resolved));
        match core.delete_rules(&actor, &ids, KIND, Some(Job { id: job, render: &render })).await? {
            Some(_) => Ok(Done::Recorded),
            None => Ok(Done::Answer("{}".into())),
        }
    })
    .await
}

/// `GET /security-groups/rules[?q=…]` → `{"inventories": [rules…], "total"?, "schema"}`.
pub async fn query(
    State(s): State<AppState>,
    call: SyncCall,
    RawQuery(raw): RawQuery,
) -> Result<Response, ZStackError> {
    answer(&s, &call, raw.as_deref(), None).await
}

/// `GET /security-groups/rules/{uuid}`: the same query with `uuid=` added.
pub async fn query_one(
    State(s): State<AppState>,
    call: SyncCall,
    Path(uuid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ZStackError> {
    answer(&s, &call, raw.as_deref(), Some(uuid)).await
}

async fn answer(
    s: &AppState,
    call: &SyncCall,
    raw: Option<&str>,
    uuid: Option<String>,
) -> Result<Response, ZStackError> {
    let inventories = |groups: &[GroupRules]| {
        groups
            .iter()
            .flat_map(|g| g.rules.iter().flat_map(|r| views::rules(&g.group, r, &g.resolved)))
            .collect()
    };
    let schema = |i: usize, _: &Obj| vec![(format!("inventories[{i}]"), RULE_CLASS)];
    query_groups(s, call, raw, uuid, RULE_FIELDS, inventories, schema).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ao(kind: &str, protocol: &str, start: Option<i64>, end: Option<i64>, cidr: Option<&str>) -> RuleAo {
        RuleAo {
            kind: Some(kind.into()),
            ip_version: None,
            start,
            end,
            protocol: Some(protocol.into()),
            cidr: cidr.map(str::to_owned),
            newer: Newer::default(),
        }
    }

    fn refusal(ao: RuleAo) -> String {
        match check(ao, IpVersion::V4) {
            Err(Error::Invalid(v)) => v[0].message.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rules_are_checked_in_zstacks_order_with_its_messages() {
        assert_eq!(
            refusal(ao("Ingress", "TCP", Some(22), Some(22), Some("10.0.0.0/33"))),
            r#"invalid CIDR[10.0.0.0/33]. rule dump: {"type":"Ingress","ipVersion":4,"startPort":22,"endPort":22,"protocol":"TCP","allowedCidr":"10.0.0.0/33"}"#
        );
        assert!(refusal(ao("Inbound", "TCP", Some(22), None, None))
            .starts_with("unknown rule type[Inbound], rule can only be Ingress/Egress. rule dump: "));
        assert!(refusal(ao("Ingress", "SCTP", Some(22), None, None))
            .starts_with("invalid protocol[SCTP]. Valid protocols are [TCP, UDP, ICMP, ALL]."));
        assert!(refusal(ao("Ingress", "TCP", None, None, None)).starts_with("startPort can not be null."));
        assert!(refusal(ao("Ingress", "ALL", Some(1), None, None))
            .starts_with("can not set port for protocol [type:ALL]."));
        assert!(refusal(ao("Ingress", "TCP", Some(70000), None, None))
            .starts_with("invalid startPort[70000]. Valid range is [0, 65535]."));
        assert!(
            refusal(ao("Ingress", "TCP", Some(1), Some(70000), None)).starts_with("invalid endPort[70000].")
        );
        assert!(refusal(ao("Ingress", "ICMP", Some(300), None, None))
            .starts_with("invalid ICMP type[300]. Valid type is [-1, 255]."));
        assert!(refusal(ao("Ingress", "ICMP", Some(8), Some(9), None))
            .starts_with("invalid ICMP code[9]. Valid range is [-1, 3]."));
        let mut v6 = ao("Ingress", "TCP", Some(22), None, None);
        v6.ip_version = Some(6);
        assert_eq!(
            refusal(v6),
            "security group rule ipVersion [6] is different from security group version [4]"
        );
        // Normalised: the end defaults to the start, a reversed range is turned round.
        let ok = check(ao("Egress", "UDP", Some(2000), Some(1000), None), IpVersion::V4).unwrap();
        assert_eq!((ok.start, ok.end, ok.ip_version), (Some(1000), Some(2000), Some(4)));
        let all = check(ao("Ingress", "ALL", None, None, None), IpVersion::V4).unwrap();
        assert_eq!((all.start, all.end), (Some(-1), Some(-1)));
    }

    #[test]
    fn rule_uuids_are_read_in_every_form_zstack_accepts() {
        let (a, b) = ("7bb070cdebf44fd8af354f25344d758b", "ca69dcedbb4f407c9a62240bc54fd6ba");
        assert_eq!(rule_ids(Some(&format!("ruleUuids={a}&ruleUuids={b}"))).len(), 2);
        assert_eq!(rule_ids(Some(&format!("ruleUuids.0={a}&ruleUuids.1={b}&sessionId=x"))).len(), 2);
        assert_eq!(rule_ids(Some(&format!("ruleUuids=['{a}', '{b}']"))), vec![]);
        assert_eq!(rule_ids(None), vec![]);
    }
}
