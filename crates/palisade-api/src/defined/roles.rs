//! `/v1/roles`: roles with inbound firewall rules that admit hosts by role and tags.

use axum::extract::State;
use axum::response::Response;
use palisade_core::error::ViolationCode;
use palisade_core::id::SecurityGroupId;
use palisade_core::limits;
use palisade_core::policy::{
    Action, Direction, GroupKind, Member, PortRange, Protocol, Remote, Rule, SecurityGroup,
};
use palisade_core::service::{CreateRule, CreateSecurityGroup};
use palisade_core::validate::Violations;
use palisade_core::{Core, Error};
use serde::Serialize;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::error::DefinedError;
use super::ids;
use super::paging::{list_metadata, list_request, ListQuery, QueryResult};
use super::{data, deleted, page, Body, Caller, IdSegment};
use crate::AppState;

type Result<T> = std::result::Result<T, DefinedError>;

const NAME_MAX: usize = 50;
const TEXT_MAX: usize = 255;
const PROTOCOLS: &[(&str, Protocol)] =
    &[("ANY", Protocol::Any), ("TCP", Protocol::Tcp), ("UDP", Protocol::Udp), ("ICMP", Protocol::Icmp)];

#[derive(Debug, Serialize)]
struct PortRangeView {
    from: u16,
    to: u16,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RuleView {
    protocol: &'static str,
    description: Option<String>,
    #[serde(rename = "allowedRoleID")]
    allowed_role_id: Option<String>,
    allowed_tags: Option<Vec<String>>,
    port_range: Option<PortRangeView>,
}

fn rule_view(rule: &Rule) -> RuleView {
    let (role, tags) = rule
        .remotes
        .iter()
        .find_map(|r| match r {
            Remote::Hosts { role, tags } => Some((*role, tags.clone())),
            _ => None,
        })
        .unwrap_or((None, Vec::new()));
    RuleView {
        protocol: PROTOCOLS.iter().find(|(_, p)| *p == rule.protocol).map(|(n, _)| *n).unwrap_or("ANY"),
        description: rule.description.clone(),
        allowed_role_id: role.map(|r| ids::render(ids::ROLE, r.as_bytes())),
        // The live API answers `null`, not `[]`, for rules without tags.
        allowed_tags: (!tags.is_empty()).then_some(tags),
        port_range: rule.ports.first().map(|p| PortRangeView { from: p.from, to: p.to }),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct RoleView {
    id: String,
    name: String,
    description: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    modified_at: OffsetDateTime,
    firewall_rules: Vec<RuleView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    firewall_rules_count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    host_count: Option<usize>,
}

fn role_view(group: &SecurityGroup, rules: &[Rule], counts: bool) -> RoleView {
    let hosts = group.members.iter().filter(|m| matches!(m, Member::Server(_))).count();
    RoleView {
        id: ids::render(ids::ROLE, group.id.as_bytes()),
        name: group.name.clone(),
        description: group.description.clone().unwrap_or_default(),
        created_at: group.created_at,
        modified_at: group.updated_at,
        firewall_rules: rules.iter().map(rule_view).collect(),
        firewall_rules_count: counts.then_some(rules.len()),
        host_count: counts.then_some(hosts),
    }
}

/// A role as the client described it, validated all at once.
struct RoleInput {
    name: Option<String>,
    description: String,
    rules: Vec<CreateRule>,
}

fn text(v: &mut Violations, path: &str, value: Option<&Value>, max: usize) -> Option<String> {
    match value {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            if s.chars().count() > max {
                v.push(path, ViolationCode::InvalidLength, format!("must have a length between 0 and {max}"));
            }
            Some(s.clone())
        }
        Some(_) => {
            v.push(path, ViolationCode::InvalidValue, "must be a string");
            None
        }
    }
}

fn port(v: &mut Violations, path: &str, value: Option<&Value>) -> Option<u16> {
    let port =
        value.and_then(Value::as_u64).filter(|p| (1..=65535).contains(p)).and_then(|p| u16::try_from(p).ok());
    if port.is_none() {
        v.push(path, ViolationCode::InvalidValue, "must be between 1 and 65535");
    }
    port
}

pub(super) fn is_tag(tag: &str) -> bool {
    tag.split_once(':').is_some_and(|(k, val)| {
        !k.is_empty()
            && k.chars().count() <= 20
            && val.chars().count() <= 50
            && k.trim() == k
            && val.trim() == val
    })
}

/// Called once the caller is authorized for the operation (see [`Caller::authorize`]); naming a
/// role in `allowedRoleID` needs `roles:read` too ([`Core::names_role`]).
async fn parse(
    core: &Core,
    caller: &Caller,
    body: &Map<String, Value>,
    require_name: bool,
) -> Result<RoleInput> {
    let mut v = Violations::new();
    let name = match body.get("name") {
        Some(Value::String(s)) if (1..=NAME_MAX).contains(&s.chars().count()) => Some(s.clone()),
        None | Some(Value::Null) if !require_name => None,
        Some(Value::String(_)) | None | Some(Value::Null) => {
            v.push(
                "name",
                ViolationCode::InvalidLength,
                format!("must have a length between 1 and {NAME_MAX}"),
            );
            None
        }
        Some(_) => {
            v.push("name", ViolationCode::InvalidValue, "must be a string");
            None
        }
    };
    let description = text(&mut v, "description", body.get("description"), TEXT_MAX).unwrap_or_default();
    let rules = match body.get("firewallRules") {
        None | Some(Value::Null) => Vec::new(),
        // Counted before any rule's role is looked up.
        Some(Value::Array(items)) if !v.count("firewallRules", items.len(), limits::MAX_RULES) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(_) => {
            v.push("firewallRules", ViolationCode::InvalidValue, "must be an array");
            Vec::new()
        }
    };
    let mut out = Vec::with_capacity(rules.len());
    for (i, rule) in rules.iter().enumerate() {
        let at = format!("firewallRules[{i}]");
        let Some(rule) = rule.as_object() else {
            v.push(at, ViolationCode::InvalidValue, "must be an object");
            continue;
        };
        let protocol = rule
            .get("protocol")
            .and_then(Value::as_str)
            .and_then(|p| PROTOCOLS.iter().find(|(n, _)| *n == p))
            .map(|(_, p)| *p);
        if protocol.is_none() {
            v.push(
                format!("{at}.protocol"),
                ViolationCode::InvalidValue,
                "must be a valid protocol: ANY, TCP, UDP, ICMP",
            );
        }
        let description = text(&mut v, &format!("{at}.description"), rule.get("description"), TEXT_MAX);
        let role = match rule.get("allowedRoleID") {
            None | Some(Value::Null) => None,
            Some(Value::String(id)) => {
                let parsed = ids::parse(ids::ROLE, id).map(SecurityGroupId::from_bytes);
                let known = match parsed {
                    Some(id) => core.names_role(&caller.actor, caller.org, id).await?,
                    None => false,
                };
                if !known {
                    v.push(
                        format!("{at}.allowedRoleID"),
                        ViolationCode::InvalidReference,
                        "must be an existing role",
                    );
                }
                parsed
            }
            Some(_) => {
                v.push(format!("{at}.allowedRoleID"), ViolationCode::InvalidValue, "must be a string");
                None
            }
        };
        let mut tags = Vec::new();
        match rule.get("allowedTags") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items))
                if !v.count(&format!("{at}.allowedTags"), items.len(), limits::MAX_TAGS) => {}
            Some(Value::Array(items)) => {
                for (j, tag) in items.iter().enumerate() {
                    match tag.as_str().filter(|t| is_tag(t)) {
                        Some(t) => tags.push(t.to_owned()),
                        None => v.push(
                            format!("{at}.allowedTags[{j}]"),
                            ViolationCode::InvalidValue,
                            "must be a tag in the form key:value",
                        ),
                    }
                }
            }
            Some(_) => v.push(format!("{at}.allowedTags"), ViolationCode::InvalidValue, "must be an array"),
        }
        let mut ports = Vec::new();
        match rule.get("portRange") {
            None | Some(Value::Null) => {}
            Some(Value::Object(range)) => {
                let from = port(&mut v, &format!("{at}.portRange.from"), range.get("from"));
                let to = port(&mut v, &format!("{at}.portRange.to"), range.get("to"));
                if let (Some(from), Some(to)) = (from, to) {
                    if to < from {
                        v.push(
                            format!("{at}.portRange"),
                            ViolationCode::InvalidValue,
                            "from must be less than or equal to to",
                        );
                    } else {
                        ports.push(PortRange { from, to });
                    }
                }
            }
            Some(_) => v.push(format!("{at}.portRange"), ViolationCode::InvalidValue, "must be an object"),
        }
        if let Some(protocol) = protocol {
            out.push(CreateRule {
                direction: Direction::Inbound,
                action: Action::Allow,
                protocol,
                ports,
                icmp: None,
                priority: None,
                remotes: vec![Remote::Hosts { role, tags }],
                description,
            });
        }
    }
    v.finish()?;
    Ok(RoleInput { name, description, rules: out })
}

/// The core names a role's rules `rules[i]` and their tags `remotes[0].tags[j]`; a Defined
/// client wants `firewallRules[i]` and `allowedTags[j]`.
fn renamed(e: Error) -> DefinedError {
    let path =
        |p: String| p.replacen("rules[", "firewallRules[", 1).replacen(".remotes[0].tags", ".allowedTags", 1);
    DefinedError(match e {
        Error::Invalid(violations) => Error::Invalid(
            violations
                .into_iter()
                .map(|v| palisade_core::Violation::new(path(v.path), v.code, v.message))
                .collect(),
        ),
        other => other,
    })
}

fn role_id(segment: &str) -> Result<SecurityGroupId> {
    ids::parse(ids::ROLE, segment)
        .map(SecurityGroupId::from_bytes)
        .ok_or(DefinedError(Error::not_found("role")))
}

pub async fn create(
    State(s): State<AppState>,
    caller: Caller,
    body: std::result::Result<Body, DefinedError>,
) -> Result<Response> {
    caller.authorize()?;
    let Body(body) = body?;
    let input = parse(&s.core, &caller, &body, true).await?;
    let create = CreateSecurityGroup {
        name: input.name.unwrap_or_default(),
        description: Some(input.description),
        allow_all_inbound: false,
        allow_all_outbound: true,
        allow_unmatched_outbound: false,
        members: Vec::new(),
        annotations: Vec::new(),
        rules: input.rules,
        id: None,
        ip_version: None,
    };
    let (group, rules) = s
        .core
        .create_security_group(&caller.actor, caller.org, GroupKind::Role, Ok(create), None)
        .await
        .map_err(renamed)?;
    Ok(data(role_view(&group, &rules, false)))
}

pub async fn list(
    State(s): State<AppState>,
    caller: Caller,
    query: QueryResult<ListQuery>,
) -> Result<Response> {
    let (request, counts) = list_request(query)?;
    let result = s.core.groups_with_rules(&caller.actor, caller.org, GroupKind::Role, request).await?;
    let metadata = list_metadata(&result, counts);
    Ok(page(result.items.iter().map(|g| role_view(&g.group, &g.rules, true)).collect(), metadata))
}

pub async fn get(State(s): State<AppState>, caller: Caller, IdSegment(id): IdSegment) -> Result<Response> {
    let role = s.core.group_with_rules(&caller.actor, role_id(&id)?, GroupKind::Role).await?;
    Ok(data(role_view(&role.group, &role.rules, false)))
}

/// Full replacement: an omitted description becomes `""`, omitted rules become none; the name
/// is kept unless given.
pub async fn replace(
    State(s): State<AppState>,
    caller: Caller,
    IdSegment(id): IdSegment,
    body: std::result::Result<Body, DefinedError>,
) -> Result<Response> {
    caller.authorize()?;
    let id = role_id(&id)?;
    let Body(body) = body?;
    let input = parse(&s.core, &caller, &body, false).await?;
    let (group, rules) = s
        .core
        .replace_group(&caller.actor, id, GroupKind::Role, input.name, Some(input.description), input.rules)
        .await
        .map_err(renamed)?;
    Ok(data(role_view(&group, &rules, false)))
}

pub async fn delete(State(s): State<AppState>, caller: Caller, IdSegment(id): IdSegment) -> Result<Response> {
    s.core.delete_security_group(&caller.actor, role_id(&id)?, GroupKind::Role, None).await?;
    Ok(deleted())
}
