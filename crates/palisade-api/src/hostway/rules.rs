//! Firewall group rules: `os-security-group-rules` (create, delete) and a group's `rules` list.
//!
//! A Hostway rule is an inbound canonical rule with one CIDR remote; see the module docs of
//! [`super`] for protocols, ports, actions and priorities.

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use palisade_core::error::ViolationCode;
use palisade_core::policy::{Action, CidrError, Direction, PortRange, Protocol, Remote};
use palisade_core::service::{CreateRule, GroupRules, NewRule, RuleRef};
use palisade_core::validate::Violations;
use palisade_core::Error;
use serde::Serialize;
use serde_json::{Map, Value};

use super::error::HostwayError;
use super::lookup::{group_in_account, named_in_body, KIND};
use super::views::{one, project, protocol_name, Link, Shown, AH, ESP, GRE};
use super::{ids, page_of, wrapped, BodyResult, Caller, Params};
use crate::AppState;

type Result<T> = std::result::Result<T, HostwayError>;

const PROTOCOLS: &str = "TCP, UDP, AH, ESP, GRE, AH+ESP, ALL";
/// An integer given as a JSON number or a numeric string (the docs show both).
fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text<'a>(v: &mut Violations, rule: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    match rule.get(key) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.as_str()),
        None | Some(Value::Null) => {
            v.push(key, ViolationCode::Required, "is required");
            None
        }
        Some(Value::String(_)) => {
            v.push(key, ViolationCode::Required, "must not be empty");
            None
        }
        Some(_) => {
            v.push(key, ViolationCode::InvalidValue, "must be a string");
            None
        }
    }
}

/// A rule as the client described it: the parent group's id text and the canonical rule.
fn parse(rule: &Map<String, Value>) -> std::result::Result<(String, CreateRule), Error> {
    let mut v = Violations::new();
    let protocol = match text(&mut v, rule, "protocol").map(str::to_ascii_uppercase).as_deref() {
        Some("TCP") => Some(Protocol::Tcp),
        Some("UDP") => Some(Protocol::Udp),
        Some("AH") => Some(Protocol::Number(AH)),
        Some("ESP") => Some(Protocol::Number(ESP)),
        Some("GRE") => Some(Protocol::Number(GRE)),
        Some("ALL") => Some(Protocol::Any),
        Some("AH+ESP") => {
            v.push(
                "protocol",
                ViolationCode::InvalidValue,
                "AH+ESP cannot be one rule here; create one AH rule and one ESP rule",
            );
            None
        }
        Some(_) => {
            v.push("protocol", ViolationCode::InvalidValue, format!("must be one of {PROTOCOLS}"));
            None
        }
        None => None,
    };
    let mut port = |key: &str| -> Option<i64> {
        match rule.get(key) {
            None | Some(Value::Null) => None,
            Some(value) => {
                let n = integer(value);
                if n.is_none() {
                    v.push(key, ViolationCode::InvalidValue, "must be an integer");
                }
                n
            }
        }
    };
    let (from, to) = (port("fromPort"), port("toPort"));
    let mut ranges = Vec::new();
    match protocol {
        Some(p @ (Protocol::Tcp | Protocol::Udp)) => {
            let name = protocol_name(p);
            let mut bound = |key: &str, value: Option<i64>| match value {
                Some(n) if (1..=65535).contains(&n) => u16::try_from(n).ok(),
                Some(_) => {
                    v.push(
                        key,
                        ViolationCode::InvalidValue,
                        format!("must be between 1 and 65535 for {name}"),
                    );
                    None
                }
                None => {
                    if rule.get(key).is_none_or(Value::is_null) {
                        v.push(key, ViolationCode::Required, format!("is required for {name}"));
                    }
                    None
                }
            };
            if let (Some(from), Some(to)) = (bound("fromPort", from), bound("toPort", to)) {
                if from <= to {
                    ranges.push(PortRange { from, to });
                } else {
                    v.push("toPort", ViolationCode::InvalidValue, "must not be less than fromPort");
                }
            }
        }
        Some(p) => {
            for (key, value) in [("fromPort", from), ("toPort", to)] {
                if value.is_some_and(|n| n != 0) {
                    v.push(key, ViolationCode::InvalidValue, format!("must be 0 for {}", protocol_name(p)));
                }
            }
        }
        None => {}
    }
    let remote = text(&mut v, rule, "cidr").and_then(|c| match Remote::cidr(c.trim()) {
        Ok(remote) => Some(remote),
        Err(CidrError::Malformed) => {
            v.push("cidr", ViolationCode::InvalidValue, "must be a CIDR such as 192.0.2.0/24");
            None
        }
        Err(e) => {
            v.push("cidr", ViolationCode::InvalidValue, e.message());
            None
        }
    });
    let parent = text(&mut v, rule, "parentGroupId").map(str::to_owned);
    let action = match rule.get("action") {
        None | Some(Value::Null) => Some(Action::Allow),
        Some(Value::String(s)) => match s.to_ascii_uppercase().as_str() {
            "ACCEPT" => Some(Action::Allow),
            "REJECT" => Some(Action::Reject),
            "DROP" => Some(Action::Deny),
            _ => None,
        },
        Some(_) => None,
    };
    if action.is_none() {
        v.push("action", ViolationCode::InvalidValue, "must be one of ACCEPT, REJECT, DROP");
    }
    let priority = match rule.get("priority") {
        None | Some(Value::Null) => Some(0),
        Some(value) => integer(value).and_then(|n| i32::try_from(n).ok()).filter(|n| *n >= 0),
    };
    if priority.is_none() {
        v.push("priority", ViolationCode::InvalidValue, "must be an integer of at least 0");
    }
    v.finish()?;
    match (protocol, remote, parent, action, priority) {
        (Some(protocol), Some(remote), Some(parent), Some(action), Some(priority)) => Ok((
            parent,
            CreateRule {
                direction: Direction::Inbound,
                action,
                protocol,
                ports: ranges,
                icmp: None,
                priority: Some(-priority),
                remotes: vec![remote],
                description: None,
            },
        )),
        _ => Err(Error::internal("rule parsing left a field unset without a violation")),
    }
}

/// A created rule, in the reference's key order (`action` and `priority` echoed at the end).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct CreatedRule {
    from_port: u16,
    protocol: String,
    links: Vec<Link>,
    to_port: u16,
    parent_group_id: String,
    cidr: Option<String>,
    action: &'static str,
    priority: i64,
    id: String,
}

/// `POST /accounts/{accountId}/os-security-group-rules` → 201.
pub async fn create(State(state): State<AppState>, caller: Caller, body: BodyResult) -> Result<Response> {
    caller.authorize()?;
    let body = body?;
    let (parent, input) = parse(wrapped(&body, "securityGroupRule")?)?;
    let group = group_in_account(&caller, &parent).map_err(named_in_body("parentGroupId"))?;
    let NewRule { rule, group, number } = state
        .core
        .create_rule(&caller.actor, group, KIND, input)
        .await
        .map_err(named_in_body("parentGroupId"))?;
    let id = number.to_string();
    // A rule written through Hostway is one Hostway rule: its projection is itself.
    let parent_group_id = ids::render(group.id, group.created_at);
    let numbers = HashMap::from([(rule.id, number)]);
    let written = GroupRules { group, rules: vec![rule], numbers, resolved: HashMap::new() };
    let shown = project(&written).0.into_iter().next().ok_or_else(|| {
        HostwayError(Error::internal("a rule written through Hostway shows as no Hostway rule"))
    })?;
    let view = CreatedRule {
        from_port: shown.from_port,
        protocol: shown.protocol,
        links: Link::to_self(caller.link(&format!("os-security-group-rules/{id}"))),
        to_port: shown.to_port,
        parent_group_id,
        cidr: Some(shown.cidr),
        action: shown.action,
        priority: shown.priority,
        id,
    };
    Ok((StatusCode::CREATED, one("securityGroupRule", view)).into_response())
}

/// A rule in the rules list (this page of Hostway's docs is snake_case).
#[derive(Debug, Serialize)]
struct ListedRule {
    priority: i64,
    action: &'static str,
    from_port: u16,
    protocol: String,
    to_port: u16,
    cidr: String,
    id: String,
}

/// `GET /accounts/{accountId}/os-security-groups/{groupId}/rules` → 200; 404 when the group
/// has no rules (Hostway's documented behaviour).
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: Params,
    query: std::result::Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Response> {
    let page = page_of(query)?;
    let text = params.get("group_id");
    let group = group_in_account(&caller, text)?;
    let group = state.core.group_with_rules(&caller.actor, group, KIND).await?;
    let (shown, _) = project(&group);
    // Hostway answers 404 for a group without rules; one that allows all inbound has its two.
    if shown.is_empty() {
        return Err(Error::not_found("security group rule").into());
    }
    let shown: Vec<Shown> = match page {
        Some(page) => {
            let offset = usize::try_from(page.offset()).unwrap_or(usize::MAX);
            let limit = usize::try_from(page.limit()).unwrap_or(usize::MAX);
            shown.into_iter().skip(offset).take(limit).collect()
        }
        None => shown,
    };
    let list: Vec<ListedRule> = shown
        .into_iter()
        .map(|r| ListedRule {
            priority: r.priority,
            action: r.action,
            from_port: r.from_port,
            protocol: r.protocol,
            to_port: r.to_port,
            cidr: r.cidr,
            id: r.id,
        })
        .collect();
    #[derive(Serialize)]
    struct RuleList {
        list: Vec<ListedRule>,
        links: Vec<Link>,
    }
    let links = Link::to_self(caller.link(&format!("os-security-groups/{text}/rules")));
    Ok(Json(RuleList { list, links }).into_response())
}

/// `DELETE /accounts/{accountId}/os-security-group-rules/{ruleId}` → 204.
pub async fn delete(State(state): State<AppState>, caller: Caller, params: Params) -> Result<Response> {
    caller.authorize()?;
    let not_found = || HostwayError(Error::not_found("security group rule"));
    let text = params.get("rule_id");
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(not_found());
    }
    let number: u64 = text.parse().map_err(|_| not_found())?;
    state.core.delete_rule(&caller.actor, RuleRef::Number(caller.org, number), KIND).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
