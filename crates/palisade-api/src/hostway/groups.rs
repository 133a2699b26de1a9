//! Firewall groups: `os-security-groups` (create, list, get, update, delete) and assigning a
//! group to a cloud server (`flexcloud/servers/{serverId}/os-security-group`).

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use palisade_core::error::ViolationCode;
use palisade_core::id::ServerId;
use palisade_core::policy::{Member, SecurityGroupPatch};
use palisade_core::service::{CreateSecurityGroup, GroupRules};
use palisade_core::validate::Violations;
use palisade_core::{Error, PageRequest};
use serde::Serialize;
use serde_json::{Map, Value};

use super::error::HostwayError;
use super::lookup::{group_in_account, named_in_body, KIND};
use super::views::{described, one, project, Link, RuleView};
use super::{ids, page_of, wrapped, BodyResult, Caller, Params};
use crate::AppState;

type Result<T> = std::result::Result<T, HostwayError>;

/// A group in the founding document's key order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupView {
    display_name: String,
    description: String,
    links: Vec<Link>,
    rules: Vec<RuleView>,
    id: String,
    account_number: String,
    servers: Vec<String>,
}

fn view(caller: &Caller, rules: &GroupRules) -> GroupView {
    let group = &rules.group;
    let id = ids::render(group.id, group.created_at);
    let (shown, notes) = project(rules);
    GroupView {
        display_name: group.name.clone(),
        description: described(group.description.as_deref(), &notes),
        links: Link::to_self(caller.link(&format!("os-security-groups/{id}"))),
        rules: shown.into_iter().map(RuleView::from).collect(),
        id,
        account_number: caller.account(),
        servers: group
            .members
            .iter()
            .filter_map(|m| match m {
                Member::Server(s) => Some(s.to_string()),
                _ => None,
            })
            .collect(),
    }
}

/// The group with its rules and their numbers, rendered.
fn full_view(caller: &Caller, group: &GroupRules) -> GroupView {
    view(caller, group)
}

/// `displayName` and `description` of a `securityGroup` object, each optional here.
fn fields(
    group: &Map<String, Value>,
) -> std::result::Result<(Option<String>, Option<Option<String>>), Error> {
    let mut v = Violations::new();
    let name = match group.get("displayName") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            v.push("displayName", ViolationCode::InvalidValue, "must be a string");
            None
        }
    };
    let description = match group.get("description") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(_) => {
            v.push("description", ViolationCode::InvalidValue, "must be a string");
            None
        }
    };
    v.finish()?;
    Ok((name, description))
}

/// `POST /accounts/{accountId}/os-security-groups` (or `/accounts/os-security-groups`) → 201.
pub async fn create(State(state): State<AppState>, caller: Caller, body: BodyResult) -> Result<Response> {
    caller.authorize()?;
    let body = body?;
    let group = wrapped(&body, "securityGroup")?;
    let (name, description) = fields(group)?;
    let Some(name) = name else {
        return Err(Error::invalid("displayName", ViolationCode::Required, "is required").into());
    };
    let input = CreateSecurityGroup {
        name,
        description: description.flatten(),
        allow_all_inbound: false,
        allow_all_outbound: true,
        allow_unmatched_outbound: false,
        members: Vec::new(),
        annotations: Vec::new(),
        rules: Vec::new(),
        id: None,
        ip_version: None,
    };
    let (group, rules) =
        state.core.create_security_group(&caller.actor, caller.org, KIND, Ok(input), None).await?;
    let created = GroupRules { group, rules, numbers: HashMap::new(), resolved: HashMap::new() };
    Ok((StatusCode::CREATED, one("securityGroup", view(&caller, &created))).into_response())
}

/// `GET /accounts/{accountId}/os-security-groups[?page=&pageSize=]` → 200
/// `{"securityGroups": […]}`. With `page` and `pageSize` (both or neither, as on the rules list),
/// that page; without, every group — Hostway documents no paging here, so a client that does not
/// page still sees them all — read in batches of 200. Either way a batch costs a few queries
/// (groups, members, annotations, rules, rule numbers), never one per group.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    query: std::result::Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response> {
    let paged = page_of(query)?;
    let mut request = paged.unwrap_or(PageRequest { page: 1, per_page: PageRequest::MAX_PER_PAGE });
    let mut groups = Vec::new();
    loop {
        let batch = state.core.groups_with_rules(&caller.actor, caller.org, KIND, request).await?;
        let last = paged.is_some() || batch.items.len() < usize::try_from(request.per_page).unwrap_or(0);
        groups.extend(batch.items.iter().map(|group| full_view(&caller, group)));
        if last {
            break;
        }
        request.page += 1;
    }
    Ok(one("securityGroups", groups).into_response())
}

/// `GET /accounts/{accountId}/os-security-groups/{groupId}` → 200.
pub async fn get(State(state): State<AppState>, caller: Caller, params: Params) -> Result<Response> {
    let group = group_in_account(&caller, params.get("group_id"))?;
    let group = state.core.group_with_rules(&caller.actor, group, KIND).await?;
    Ok(one("securityGroup", full_view(&caller, &group)).into_response())
}

/// `PUT /accounts/{accountId}/os-security-groups/{groupId}`: `displayName` and/or
/// `description` → 200.
pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    params: Params,
    body: BodyResult,
) -> Result<Response> {
    let group = group_in_account(&caller, params.get("group_id"))?;
    let body = body?;
    let (name, description) = fields(wrapped(&body, "securityGroup")?)?;
    if name.is_none() && description.is_none() {
        return Err(
            Error::invalid("", ViolationCode::Required, "give displayName, description or both").into()
        );
    }
    let patch = SecurityGroupPatch { name, description, ..Default::default() };
    let group = state.core.update_security_group(&caller.actor, group, KIND, patch, None).await?;
    Ok(one("securityGroup", full_view(&caller, &group)).into_response())
}

/// `DELETE /accounts/{accountId}/os-security-groups/{groupId}` → 204, no body.
pub async fn delete(State(state): State<AppState>, caller: Caller, params: Params) -> Result<Response> {
    let group = group_in_account(&caller, params.get("group_id"))?;
    state.core.delete_security_group(&caller.actor, group, KIND, None).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /accounts/{accountId}/flexcloud/servers/{serverId}/os-security-group` with
/// `{"securityGroup":{"id","status":"enabled"}}` → 200. The server joins the group's members
/// (idempotent; its other groups are kept). An unknown group is a 400 (as documented), an
/// unknown server a 404.
pub async fn assign(
    State(state): State<AppState>,
    caller: Caller,
    params: Params,
    body: BodyResult,
) -> Result<Response> {
    caller.authorize()?;
    let server: ServerId =
        params.get("server_id").parse().map_err(|_| HostwayError(Error::not_found(ServerId::KIND)))?;
    let body = body?;
    let input = wrapped(&body, "securityGroup")?;
    let mut v = Violations::new();
    let id = match input.get("id") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => {
            v.push("id", ViolationCode::Required, "must be a firewall group id");
            None
        }
    };
    match input.get("status") {
        Some(Value::String(s)) if s == "enabled" => {}
        _ => v.push("status", ViolationCode::InvalidValue, "must be \"enabled\""),
    }
    v.finish()?;
    let id = id.unwrap_or_default();
    let group = group_in_account(&caller, &id).map_err(named_in_body("id"))?;
    state
        .core
        .add_group_member(&caller.actor, group, KIND, Member::Server(server))
        .await
        .map_err(named_in_body("id"))?;
    #[derive(Serialize)]
    struct Assigned {
        id: String,
        links: Vec<Link>,
    }
    let links = Link::to_self(caller.link(&format!("os-security-groups/{id}")));
    Ok(one("securityGroup", Assigned { id, links }).into_response())
}
