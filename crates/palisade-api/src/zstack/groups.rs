//! The security-group family: create, query, update and change state, delete.
//!
//! A ZStack security group is a canonical group of kind `SecurityGroup` (the objects Katapult
//! and Hostway show). Creating one materialises ZStack's default "same group" rules (3.1–3.9:
//! one Ingress and one Egress rule, protocol ALL, whose remote is the group itself) as the
//! canonical rules they are, so every face sees them. `ipVersion` and `state` are the group's
//! ([`palisade_core::policy::SecurityGroup::ip_version`], `enabled`).

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use palisade_core::error::{BadRequest, ViolationCode};
use palisade_core::id::SecurityGroupId;
use palisade_core::policy::{
    Action, Direction, GroupKind, IpVersion, Protocol, Remote, Rule, SecurityGroup, SecurityGroupPatch,
};
use palisade_core::service::{CreateRule, CreateSecurityGroup, GroupRules, Job};
use palisade_core::{Error, PageRequest, Principal};
use serde_json::{Map, Value};

use super::call::{AsyncCall, Body, Done, SyncCall};
use super::error::{json, ZStackError};
use super::gson::{self, Node};
use super::query::Query;
use super::views::{self, GROUP_CLASS, RULE_CLASS};
use crate::AppState;

const KIND: GroupKind = GroupKind::SecurityGroup;

/// The fields of `SecurityGroupInventory` a query may name.
const GROUP_FIELDS: &[&str] = &[
    "uuid",
    "name",
    "description",
    "state",
    "ipVersion",
    "createDate",
    "lastOpDate",
    "internalId",
    "rules",
    "attachedL3NetworkUuids",
];

fn type_error(field: &str, expected: &str, value: &Value) -> ZStackError {
    ZStackError::Front(
        StatusCode::BAD_REQUEST,
        format!("[{field}] field is excepted {expected}, but was [{value}]."),
    )
}

/// A string field (`null` or absent: `None`).
pub(super) fn string(params: &Map<String, Value>, field: &str) -> Result<Option<String>, ZStackError> {
    match params.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(type_error(field, "a String", other)),
    }
}

/// An integer field; `22.0` and `"22"` are integers too, as ZStack's type check reads them.
pub(super) fn integer(params: &Map<String, Value>, field: &str) -> Result<Option<i64>, ZStackError> {
    let value = match params.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(value) => value,
    };
    let number = match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.fract() == 0.0).map(|f| f as i64),
        _ => None,
    };
    number.map(Some).ok_or_else(|| type_error(field, "an int or long", value))
}

fn invalid(field: &str, message: String) -> Error {
    Error::invalid(field, ViolationCode::InvalidValue, message)
}

/// `resourceUuid`: a version 1–5 UUID without dashes, lowercase (ZStack's pattern).
fn resource_uuid(text: &str) -> Result<SecurityGroupId, Error> {
    let b = text.as_bytes();
    let hex =
        |r: std::ops::Range<usize>| b[r].iter().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c));
    let shaped = b.len() == 32
        && hex(0..32)
        && (b'1'..=b'5').contains(&b[12])
        && matches!(b[16], b'8' | b'9' | b'a' | b'b');
    match gson::parse_uuid(text) {
        Some(id) if shaped => Ok(SecurityGroupId::from_uuid(id)),
        _ => Err(invalid("resourceUuid", format!("[{text}] is not a valid uuid: 32 lowercase hex characters of a version 1-5 UUID with '-' stripped"))),
    }
}

/// The group ZStack's `CreateSecurityGroup` asks for, with its default rules; type errors are
/// front-end refusals, the rest waits for the job.
fn create_input(body: &Body) -> Result<Result<CreateSecurityGroup, Error>, ZStackError> {
    let empty = Map::new();
    let params = body.section("params").unwrap_or(&empty);
    let name = string(params, "name")?;
    let description = string(params, "description")?;
    let version = integer(params, "ipVersion")?;
    let resource = string(params, "resourceUuid")?;
    Ok((|| {
        let name =
            name.ok_or(Error::BadRequest(BadRequest::MissingArgument { path: vec!["name".into()] }))?;
        let ip_version = match version {
            None => IpVersion::V4,
            Some(n) => IpVersion::from_number(n).ok_or_else(|| {
                invalid("ipVersion", format!("valid value for field[ipVersion] of message[APICreateSecurityGroupMsg] are [4, 6], but {n} found"))
            })?,
        };
        let id = match &resource {
            Some(text) => resource_uuid(text)?,
            None => SecurityGroupId::random(),
        };
        Ok(CreateSecurityGroup {
            id: Some(id),
            name,
            description,
            allow_all_inbound: false,
            allow_all_outbound: false,
            // ZStack's agents end a NIC's egress in its egress policy, ALLOW unless changed
            // (docs/policy-semantics.md, ZStack).
            allow_unmatched_outbound: true,
            members: Vec::new(),
            annotations: Vec::new(),
            rules: default_rules(id),
            ip_version: Some(ip_version),
        })
    })())
}

/// ZStack's default rules of a new group (3.1–3.9): traffic flows within the group, in both
/// directions (protocol ALL, the group itself as the remote).
pub fn default_rules(id: SecurityGroupId) -> Vec<CreateRule> {
    let same_group = |direction| CreateRule {
        direction,
        action: Action::Allow,
        protocol: Protocol::Any,
        ports: Vec::new(),
        icmp: None,
        priority: None,
        remotes: vec![Remote::Group(id)],
        description: None,
    };
    vec![same_group(Direction::Inbound), same_group(Direction::Outbound)]
}

pub(super) fn organization(actor: &Principal) -> Result<palisade_core::id::OrganizationId, ZStackError> {
    actor
        .organization_id()
        .ok_or(ZStackError::Api(Error::Forbidden(palisade_core::error::Forbidden::OperatorOnly)))
}

/// `POST /security-groups` `{"params": {name, description?, ipVersion?, resourceUuid?}}` →
/// `202`; the job answers `{"inventory": SecurityGroupInventory}`.
pub async fn create(State(s): State<AppState>, call: AsyncCall, body: Body) -> Response {
    let input = match create_input(&body) {
        Ok(input) => input,
        Err(front) => return axum::response::IntoResponse::into_response(front),
    };
    let core = &s.core;
    call.run(core, |actor, job| async move {
        let org = organization(&actor)?;
        let render = |(group, rules): &(SecurityGroup, Vec<Rule>)| {
            views::inventory(views::group(group, rules, &views::Resolved::new()))
        };
        core.create_security_group(&actor, org, KIND, input, Some(Job { id: job, render: &render })).await?;
        Ok(Done::Recorded)
    })
    .await
}

/// The schema entries of one group inventory: the group's class and its rules'.
fn schema(i: usize, group: &gson::Obj) -> Vec<(String, &'static str)> {
    let mut entries = vec![(format!("inventories[{i}]"), GROUP_CLASS)];
    if let Some(Node::List(rules)) = group.get("rules") {
        entries.extend((0..rules.len()).map(|j| (format!("inventories[{i}].rules[{j}]"), RULE_CLASS)));
    }
    entries
}

/// `GET /security-groups[?q=…]` → `{"inventories": [...], "total"?, "schema"}`.
pub async fn query(
    State(s): State<AppState>,
    call: SyncCall,
    RawQuery(raw): RawQuery,
) -> Result<Response, ZStackError> {
    answer(&s, &call, raw.as_deref(), None).await
}

/// `GET /security-groups/{uuid}`: the same query with `uuid=` added (an unknown uuid is `[]`,
/// not a 404, as in ZStack).
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
        groups.iter().map(|g| views::group(&g.group, &g.rules, &g.resolved)).collect()
    };
    query_groups(s, call, raw, uuid, GROUP_FIELDS, inventories, schema).await
}

/// A query over inventories made from the caller's organization's groups with their rules:
/// ZStack's query parameters, `uuid=` added for a `/{uuid}` path, the fields it may name.
pub(super) async fn query_groups(
    s: &AppState,
    call: &SyncCall,
    raw: Option<&str>,
    uuid: Option<String>,
    fields: &[&str],
    inventories: impl Fn(&[GroupRules]) -> Vec<gson::Obj>,
    schema: impl Fn(usize, &gson::Obj) -> Vec<(String, &'static str)>,
) -> Result<Response, ZStackError> {
    let mut query = Query::parse(raw)?;
    if let Some(uuid) = uuid {
        query.conditions.push(super::query::Condition { field: "uuid".into(), op: "=", value: uuid });
    }
    query.check_fields(fields)?;
    let org = organization(&call.actor)?;
    let groups = s.core.groups_with_rules(&call.actor, org, KIND, PageRequest::all()).await?;
    Ok(json(StatusCode::OK, query.answer(inventories(&groups.items), schema)))
}

/// `PUT /security-groups/{uuid}/actions` with `updateSecurityGroup` `{name?, description?}` or
/// `changeSecurityGroupState` `{stateEvent: enable|disable}` → `202`; the job answers
/// `{"inventory": SecurityGroupInventory}`.
pub async fn actions(
    State(s): State<AppState>,
    call: AsyncCall,
    Path(uuid): Path<String>,
    body: Body,
) -> Response {
    let patch = match action_patch(&body, &uuid) {
        Ok(patch) => patch,
        Err(front) => return axum::response::IntoResponse::into_response(front),
    };
    let core = &s.core;
    call.run(core, |actor, job| async move {
        let id = group_id(&uuid)?;
        let render = |g: &GroupRules| views::inventory(views::group(&g.group, &g.rules, &g.resolved));
        core.update_security_group(&actor, id, KIND, patch?, Some(Job { id: job, render: &render })).await?;
        Ok(Done::Recorded)
    })
    .await
}

/// The change an action asks for; a body without a known action is a front-end refusal.
fn action_patch(body: &Body, uuid: &str) -> Result<Result<SecurityGroupPatch, Error>, ZStackError> {
    if let Some(update) = body.section("updateSecurityGroup") {
        let (name, description) = (string(update, "name")?, string(update, "description")?);
        return Ok(Ok(SecurityGroupPatch { name, description: description.map(Some), ..Default::default() }));
    }
    if let Some(change) = body.section("changeSecurityGroupState") {
        let event = string(change, "stateEvent")?;
        return Ok(match event.as_deref() {
            Some("enable") => Ok(SecurityGroupPatch { enabled: Some(true), ..Default::default() }),
            Some("disable") => Ok(SecurityGroupPatch { enabled: Some(false), ..Default::default() }),
            None => Err(Error::BadRequest(BadRequest::MissingArgument { path: vec!["stateEvent".into()] })),
            Some(other) => Err(invalid(
                "stateEvent",
                format!("valid value for field[stateEvent] of message[APIChangeSecurityGroupStateMsg] are [enable, disable], but {other} found"),
            )),
        });
    }
    Err(ZStackError::Front(
        StatusCode::BAD_REQUEST,
        format!(
            "the body doesn't contain action mapping to the URL[{}/security-groups/{uuid}/actions]",
            super::API
        ),
    ))
}

/// A group named in a path; a malformed uuid names no group.
pub(super) fn group_id(uuid: &str) -> Result<SecurityGroupId, Error> {
    gson::parse_uuid(uuid).map(SecurityGroupId::from_uuid).ok_or(Error::not_found(SecurityGroupId::KIND))
}

/// `DELETE /security-groups/{uuid}[?deleteMode=…]` → `202`; the job answers `{}`, also for a
/// group that does not exist (ZStack's `successIfResourceNotExisting`).
pub async fn delete(State(s): State<AppState>, call: AsyncCall, Path(uuid): Path<String>) -> Response {
    let core = &s.core;
    call.run(core, |actor, job| async move {
        let render = |_: &SecurityGroup| "{}".to_owned();
        let deleted = match group_id(&uuid) {
            Ok(id) => {
                core.delete_security_group(&actor, id, KIND, Some(Job { id: job, render: &render })).await
            }
            Err(missing) => Err(missing),
        };
        match deleted {
            Ok(_) => Ok(Done::Recorded),
            Err(Error::NotFound { .. }) => Ok(Done::Answer("{}".into())),
            Err(other) => Err(other.into()),
        }
    })
    .await
}
