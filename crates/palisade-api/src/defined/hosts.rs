//! Hosts: the route versions existing clients use. `POST /v1/hosts` (one `ipAddress`),
//! `POST /v2/hosts` (`ipAddresses`), `GET /v1|v2/hosts[/:id]` (`filter.*`), `PUT /v2/hosts/:id`
//! (full replacement), `PUT /v3/hosts/:id` (partial), `DELETE /v1/hosts/:id`.
//!
//! A host is a canonical server with one interface on the network, so the native API lists it
//! among the servers. Its role is membership of the role group. The network and the addresses
//! are fixed once the host exists (a PUT may repeat them, not change them). Without an address
//! the host gets the network's next free one from IPAM. Palisade runs no Nebula CA, so there is
//! no enrollment: `isBlocked` is always false and `metadata` (what dnclient reports) is null.

use axum::extract::{Query, State};
use axum::response::Response;
use palisade_core::error::ViolationCode;
use palisade_core::id::{NetworkId, SecurityGroupId, ServerId};
use palisade_core::model::{Host, HostFilter, Overlay};
use palisade_core::service::{CreateHost, HostPatch};
use palisade_core::validate::Violations;
use palisade_core::{Error, Page, Violation};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::error::DefinedError;
use super::ids;
use super::paging::{bad_parameter, list_metadata, list_request, query_bool, ListQuery, QueryResult};
use super::roles::is_tag;
use super::{data, deleted, page, Body, Caller, IdSegment};
use crate::AppState;

type Result<T> = std::result::Result<T, DefinedError>;

/// The two host shapes: v1 has one `ipAddress`, v2 a list `ipAddresses` and the OIDC user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    V1,
    V2,
}

/// A host as clients parse it, in the vendor's key order.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct HostView {
    id: String,
    #[serde(rename = "organizationID")]
    organization_id: String,
    #[serde(rename = "networkID")]
    network_id: Option<String>,
    #[serde(rename = "roleID")]
    role_id: Option<String>,
    /// v2 only (`Some(None)` renders `null`).
    #[serde(rename = "endpointOIDCUserID", skip_serializing_if = "Option::is_none")]
    endpoint_oidc_user_id: Option<Option<String>>,
    name: String,
    /// v1 only.
    #[serde(skip_serializing_if = "Option::is_none")]
    ip_address: Option<Option<String>>,
    /// v2 only.
    #[serde(skip_serializing_if = "Option::is_none")]
    ip_addresses: Option<Vec<String>>,
    static_addresses: Vec<String>,
    listen_port: u16,
    is_lighthouse: bool,
    is_relay: bool,
    is_blocked: bool,
    #[serde(with = "time::serde::rfc3339")]
    created_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    modified_at: time::OffsetDateTime,
    tags: Vec<String>,
    config_overrides: Value,
    metadata: HostMetadata,
}

/// What dnclient reports about a host; Palisade runs no dnclient, so all of it is unknown.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct HostMetadata {
    last_seen_at: Option<String>,
    platform: Option<String>,
    update_available: Option<bool>,
    version: Option<String>,
}

fn view(host: &Host, shape: Shape) -> HostView {
    let s = &host.server;
    let o = &host.overlay;
    let addresses: Vec<String> = host.addresses().iter().map(ToString::to_string).collect();
    HostView {
        id: ids::render(ids::HOST, s.id.as_bytes()),
        organization_id: ids::render(ids::ORGANIZATION, s.organization_id.as_bytes()),
        network_id: host.network_id().map(|n| ids::render(ids::NETWORK, n.as_bytes())),
        role_id: host.role.map(|r| ids::render(ids::ROLE, r.as_bytes())),
        endpoint_oidc_user_id: (shape == Shape::V2).then_some(None),
        name: s.name.clone(),
        ip_address: (shape == Shape::V1).then(|| addresses.first().cloned()),
        ip_addresses: (shape == Shape::V2).then(|| addresses.clone()),
        static_addresses: o.static_addresses.clone(),
        listen_port: o.listen_port,
        is_lighthouse: o.is_lighthouse,
        is_relay: o.is_relay,
        is_blocked: false,
        created_at: s.created_at,
        modified_at: host.modified_at,
        tags: s.tags.clone(),
        config_overrides: serde_json::from_str(&o.config_overrides).unwrap_or_else(|_| json!([])),
        metadata: HostMetadata { last_seen_at: None, platform: None, update_available: None, version: None },
    }
}

/// The core names fields canonically (`network_id`, `interfaces[0].addresses[1]`); a Defined
/// client wants its own names back in `path`.
fn defined_path(path: &str, shape: Shape) -> String {
    let path = path.strip_prefix("interfaces[0].").unwrap_or(path);
    if let Some(rest) = path.strip_prefix("addresses") {
        return match shape {
            Shape::V1 => "ipAddress".into(),
            Shape::V2 => format!("ipAddresses{rest}"),
        };
    }
    for (core, defined) in [
        ("network_id", "networkID"),
        ("role_id", "roleID"),
        ("static_addresses", "staticAddresses"),
        ("listen_port", "listenPort"),
        ("config_overrides", "configOverrides"),
    ] {
        if let Some(rest) = path.strip_prefix(core) {
            return format!("{defined}{rest}");
        }
    }
    path.to_owned()
}

fn renamed(e: Error, shape: Shape) -> DefinedError {
    DefinedError(match e {
        Error::Invalid(violations) => Error::Invalid(
            violations
                .into_iter()
                .map(|v| Violation::new(defined_path(&v.path, shape), v.code, v.message))
                .collect(),
        ),
        Error::AlreadyExists { kind, field } => {
            Error::AlreadyExists { kind, field: defined_path(&field, shape) }
        }
        other => other,
    })
}

/// What a create or PUT body says, each field `None` when absent (`null` counts as given and
/// means the field's empty value).
#[derive(Default)]
struct HostInput {
    name: Option<String>,
    network: Option<NetworkId>,
    addresses: Option<Vec<String>>,
    role: Option<Option<SecurityGroupId>>,
    tags: Option<Vec<String>>,
    listen_port: Option<u16>,
    is_lighthouse: Option<bool>,
    is_relay: Option<bool>,
    static_addresses: Option<Vec<String>>,
    config_overrides: Option<String>,
}

impl HostInput {
    /// A full replacement: every settable field left out takes its empty value (the network,
    /// the addresses and the name are not settings and stay as given).
    fn with_empty_defaults(self) -> Self {
        Self {
            role: Some(self.role.flatten()),
            tags: Some(self.tags.unwrap_or_default()),
            listen_port: Some(self.listen_port.unwrap_or(0)),
            is_lighthouse: Some(self.is_lighthouse.unwrap_or(false)),
            is_relay: Some(self.is_relay.unwrap_or(false)),
            static_addresses: Some(self.static_addresses.unwrap_or_default()),
            config_overrides: Some(self.config_overrides.unwrap_or_else(|| "[]".into())),
            ..self
        }
    }
}

/// Fields given change, fields left out are kept; `[]` addresses means none given.
impl From<HostInput> for HostPatch {
    fn from(input: HostInput) -> Self {
        HostPatch {
            name: input.name,
            role: input.role,
            tags: input.tags,
            listen_port: input.listen_port,
            is_lighthouse: input.is_lighthouse,
            is_relay: input.is_relay,
            static_addresses: input.static_addresses,
            config_overrides: input.config_overrides,
            network_id: input.network,
            addresses: input.addresses.filter(|a| !a.is_empty()),
        }
    }
}

fn strings(v: &mut Violations, path: &str, value: &Value) -> Vec<String> {
    match value {
        Value::Null => Vec::new(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| match item.as_str() {
                Some(s) => Some(s.to_owned()),
                None => {
                    v.push(format!("{path}[{i}]"), ViolationCode::InvalidValue, "must be a string");
                    None
                }
            })
            .collect(),
        _ => {
            v.push(path, ViolationCode::InvalidValue, "must be an array of strings");
            Vec::new()
        }
    }
}

fn flag(v: &mut Violations, path: &str, value: &Value) -> Option<bool> {
    match value {
        Value::Null => Some(false),
        Value::Bool(b) => Some(*b),
        _ => {
            v.push(path, ViolationCode::InvalidValue, "must be a boolean");
            None
        }
    }
}

fn parse(body: &Map<String, Value>) -> Result<HostInput> {
    let mut v = Violations::new();
    let mut input = HostInput::default();
    if let Some(value) = body.get("name") {
        match value.as_str() {
            Some(name) => input.name = Some(name.to_owned()),
            None => v.push("name", ViolationCode::InvalidLength, "must have a length between 1 and 255"),
        }
    }
    if let Some(value) = body.get("networkID") {
        match value.as_str().and_then(|id| ids::parse(ids::NETWORK, id)) {
            Some(bytes) => input.network = Some(NetworkId::from_bytes(bytes)),
            None => v.push("networkID", ViolationCode::InvalidReference, "must be an existing network"),
        }
    }
    match (body.get("ipAddress"), body.get("ipAddresses")) {
        (Some(Value::String(one)), _) => input.addresses = Some(vec![one.clone()]),
        (Some(Value::Null) | None, Some(list)) => {
            input.addresses = Some(strings(&mut v, "ipAddresses", list))
        }
        (Some(Value::Null), None) => input.addresses = Some(Vec::new()),
        (Some(_), _) => v.push("ipAddress", ViolationCode::InvalidValue, "must be an IP address"),
        (None, None) => {}
    }
    if let Some(value) = body.get("roleID") {
        match value {
            Value::Null => input.role = Some(None),
            Value::String(id) => match ids::parse(ids::ROLE, id) {
                Some(bytes) => input.role = Some(Some(SecurityGroupId::from_bytes(bytes))),
                None => v.push("roleID", ViolationCode::InvalidReference, "must be an existing role"),
            },
            _ => v.push("roleID", ViolationCode::InvalidValue, "must be a string"),
        }
    }
    if let Some(value) = body.get("tags") {
        let tags = strings(&mut v, "tags", value);
        for (i, tag) in tags.iter().enumerate() {
            if !is_tag(tag) {
                v.push(
                    format!("tags[{i}]"),
                    ViolationCode::InvalidValue,
                    "must be a tag in the form key:value",
                );
            }
        }
        input.tags = Some(tags);
    }
    if let Some(value) = body.get("staticAddresses") {
        input.static_addresses = Some(strings(&mut v, "staticAddresses", value));
    }
    if let Some(value) = body.get("listenPort") {
        match value {
            Value::Null => input.listen_port = Some(0),
            other => match other.as_u64().and_then(|p| u16::try_from(p).ok()) {
                Some(port) => input.listen_port = Some(port),
                None => v.push("listenPort", ViolationCode::InvalidValue, "must be between 0 and 65535"),
            },
        }
    }
    if let Some(value) = body.get("isLighthouse") {
        input.is_lighthouse = flag(&mut v, "isLighthouse", value);
    }
    if let Some(value) = body.get("isRelay") {
        input.is_relay = flag(&mut v, "isRelay", value);
    }
    if let Some(value) = body.get("configOverrides") {
        match value {
            Value::Null => input.config_overrides = Some("[]".into()),
            Value::Array(items) if items.iter().all(|i| i.get("key").is_some_and(Value::is_string)) => {
                input.config_overrides = Some(value.to_string());
            }
            _ => v.push(
                "configOverrides",
                ViolationCode::InvalidValue,
                "must be an array of objects with a string key and a value",
            ),
        }
    }
    v.finish()?;
    Ok(input)
}

fn required(input: &HostInput, network: bool) -> Result<()> {
    let mut v = Violations::new();
    if input.name.is_none() {
        v.push("name", ViolationCode::InvalidLength, "must have a length between 1 and 255");
    }
    if network && input.network.is_none() {
        v.push("networkID", ViolationCode::InvalidReference, "must be an existing network");
    }
    v.finish().map_err(DefinedError)
}

type BodyResult = std::result::Result<Body, DefinedError>;

async fn create(s: AppState, caller: Caller, body: BodyResult, shape: Shape) -> Result<Response> {
    caller.authorize()?;
    let Body(body) = body?;
    let input = parse(&body)?;
    required(&input, true)?;
    let create = CreateHost {
        name: input.name.unwrap_or_default(),
        network_id: input.network.ok_or(DefinedError(Error::not_found("network")))?,
        addresses: input.addresses.unwrap_or_default(),
        role: input.role.flatten(),
        tags: input.tags.unwrap_or_default(),
        overlay: Overlay {
            listen_port: input.listen_port.unwrap_or(0),
            is_lighthouse: input.is_lighthouse.unwrap_or(false),
            is_relay: input.is_relay.unwrap_or(false),
            static_addresses: input.static_addresses.unwrap_or_default(),
            config_overrides: input.config_overrides.unwrap_or_else(|| "[]".into()),
        },
    };
    let host = s.core.create_host(&caller.actor, caller.org, create).await.map_err(|e| renamed(e, shape))?;
    Ok(data(view(&host, shape)))
}

pub async fn create_v1(State(s): State<AppState>, caller: Caller, body: BodyResult) -> Result<Response> {
    create(s, caller, body, Shape::V1).await
}

pub async fn create_v2(State(s): State<AppState>, caller: Caller, body: BodyResult) -> Result<Response> {
    create(s, caller, body, Shape::V2).await
}

fn host_id(segment: &str) -> Result<ServerId> {
    ids::parse(ids::HOST, segment).map(ServerId::from_bytes).ok_or(DefinedError(Error::not_found("host")))
}

#[derive(Debug, Deserialize)]
pub struct FilterQuery {
    #[serde(rename = "filter.roleID")]
    role: Option<String>,
    #[serde(rename = "filter.networkID")]
    network: Option<String>,
    #[serde(rename = "filter.isLighthouse")]
    is_lighthouse: Option<String>,
    #[serde(rename = "filter.isRelay")]
    is_relay: Option<String>,
    #[serde(rename = "filter.isBlocked")]
    is_blocked: Option<String>,
}

/// A filter naming an id of the wrong form matches nothing rather than failing, as an unknown
/// id of the right form does.
fn filter_id(text: Option<&str>, prefix: &str) -> Option<Option<[u8; 16]>> {
    text.filter(|t| !t.is_empty()).map(|t| ids::parse(prefix, t))
}

async fn list(
    s: AppState,
    caller: Caller,
    query: QueryResult<ListQuery>,
    filter: QueryResult<FilterQuery>,
    shape: Shape,
) -> Result<Response> {
    let (request, counts) = list_request(query)?;
    let Query(f) =
        filter.map_err(|e| bad_parameter("query", &crate::frame::json_words::json_words(&e.body_text())))?;
    let role = filter_id(f.role.as_deref(), ids::ROLE);
    let network = filter_id(f.network.as_deref(), ids::NETWORK);
    let filter = HostFilter {
        role: role.flatten().map(SecurityGroupId::from_bytes),
        network: network.flatten().map(NetworkId::from_bytes),
        is_lighthouse: query_bool("filter.isLighthouse", f.is_lighthouse.as_deref())?,
        is_relay: query_bool("filter.isRelay", f.is_relay.as_deref())?,
    };
    // Palisade blocks no host; a malformed id filter matches none.
    let nothing = query_bool("filter.isBlocked", f.is_blocked.as_deref())? == Some(true)
        || role == Some(None)
        || network == Some(None);
    let found = if nothing {
        Page { items: Vec::new(), total: 0, request }
    } else {
        s.core.list_hosts(&caller.actor, caller.org, filter, request).await?
    };
    let metadata = list_metadata(&found, counts);
    Ok(page(found.items.iter().map(|h| view(h, shape)).collect(), metadata))
}

pub async fn list_v1(
    State(s): State<AppState>,
    caller: Caller,
    query: QueryResult<ListQuery>,
    filter: QueryResult<FilterQuery>,
) -> Result<Response> {
    list(s, caller, query, filter, Shape::V1).await
}

pub async fn list_v2(
    State(s): State<AppState>,
    caller: Caller,
    query: QueryResult<ListQuery>,
    filter: QueryResult<FilterQuery>,
) -> Result<Response> {
    list(s, caller, query, filter, Shape::V2).await
}

pub async fn get_v1(State(s): State<AppState>, caller: Caller, IdSegment(id): IdSegment) -> Result<Response> {
    let host = s.core.host(&caller.actor, caller.org, host_id(&id)?).await?;
    Ok(data(view(&host, Shape::V1)))
}

pub async fn get_v2(State(s): State<AppState>, caller: Caller, IdSegment(id): IdSegment) -> Result<Response> {
    let host = s.core.host(&caller.actor, caller.org, host_id(&id)?).await?;
    Ok(data(view(&host, Shape::V2)))
}

/// `PUT /v2/hosts/:id`: full replacement. `name` is required; every other field left out takes
/// its empty value (no role, no tags, port 0, ...). Answers in the v1 shape its clients parse.
pub async fn replace(
    State(s): State<AppState>,
    caller: Caller,
    IdSegment(id): IdSegment,
    body: BodyResult,
) -> Result<Response> {
    caller.authorize()?;
    let id = host_id(&id)?;
    let Body(body) = body?;
    let input = parse(&body)?;
    required(&input, false)?;
    let patch = HostPatch::from(input.with_empty_defaults());
    let host =
        s.core.update_host(&caller.actor, caller.org, id, patch).await.map_err(|e| renamed(e, Shape::V1))?;
    Ok(data(view(&host, Shape::V1)))
}

/// `PUT /v3/hosts/:id`: partial update; fields left out keep their values, `null` clears.
pub async fn update(
    State(s): State<AppState>,
    caller: Caller,
    IdSegment(id): IdSegment,
    body: BodyResult,
) -> Result<Response> {
    caller.authorize()?;
    let id = host_id(&id)?;
    let Body(body) = body?;
    let input = parse(&body)?;
    let patch = HostPatch::from(input);
    let host =
        s.core.update_host(&caller.actor, caller.org, id, patch).await.map_err(|e| renamed(e, Shape::V2))?;
    Ok(data(view(&host, Shape::V2)))
}

pub async fn delete(State(s): State<AppState>, caller: Caller, IdSegment(id): IdSegment) -> Result<Response> {
    s.core.delete_host(&caller.actor, caller.org, host_id(&id)?).await?;
    Ok(deleted())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_paths_become_defined_paths() {
        assert_eq!(defined_path("network_id", Shape::V1), "networkID");
        assert_eq!(defined_path("interfaces[0].addresses[0]", Shape::V1), "ipAddress");
        assert_eq!(defined_path("addresses[2]", Shape::V2), "ipAddresses[2]");
        assert_eq!(defined_path("static_addresses[1]", Shape::V2), "staticAddresses[1]");
        assert_eq!(defined_path("role_id", Shape::V2), "roleID");
        assert_eq!(defined_path("name", Shape::V2), "name");
    }
}
