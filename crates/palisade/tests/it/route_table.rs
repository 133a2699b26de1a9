//! Walks every route of every face: without credentials, with a bogus credential, with another
//! organization's token holding every scope, and with the organization's own token holding no
//! scope; and every write route with the organization's own token lacking only the route's
//! scope and a body that is garbage (refused 403 before the body is read). The routes walked are
//! `palisade_api::route_table()`, read from the declarations the routers are built from
//! (`palisade_api::frame::routes`), so a route cannot be served without being walked: each must
//! have its entry in the expected table below (who may call it, a well-formed body), and the
//! operation a route declares must ask for the scopes that entry names.

use std::collections::BTreeMap;

use palisade_api::katapult::ids;
use palisade_api::{Guard, RouteEntry};
use palisade_core::access::Needs;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{TestApp, OPERATOR};

/// Who may call a route.
#[derive(Debug, Clone, Copy)]
enum Access {
    /// Only the operator token.
    Operator,
    /// The operator, or a token of the organization named in the path with one of these scopes.
    Org(&'static [&'static str]),
    /// Any token of the organization named in the path; no scope needed.
    Member,
    /// A listing filtered to the caller's organization, needing one of these scopes.
    Listing(&'static [&'static str]),
    /// Any authenticated caller (public inventory such as data centers).
    Public,
    /// Acts in the caller's own organization (Defined creates): another organization's token
    /// succeeds there, and leaves this one untouched.
    OwnOrg(&'static [&'static str]),
    /// Anyone, without credentials (the probes, the OpenAPI document).
    Open,
    /// The agent token of the server the path names (scope `agent`, which no other token can
    /// hold), or the operator.
    Agent,
}

/// How a face answers the generic refusals.
struct Face {
    missing: (StatusCode, &'static str),
    bogus: (StatusCode, &'static str),
    /// Where the required scopes are listed in a `scope_not_granted` body, if anywhere.
    scopes_at: Option<&'static str>,
    /// The code of a missing scope.
    scope_code: &'static str,
    /// The error code of a body.
    code: fn(&Value) -> String,
}

fn nested_code(body: &Value) -> String {
    body["error"]["code"].as_str().unwrap_or_default().to_owned()
}

fn listed_code(body: &Value) -> String {
    body["errors"][0]["code"].as_str().unwrap_or_default().to_owned()
}

/// A Hostway fault's name (`itemNotFound`, `forbidden`), or the first line of its plain-text 401.
fn fault_name(body: &Value) -> String {
    match body {
        Value::Object(map) => map.keys().next().cloned().unwrap_or_default(),
        Value::String(text) => text.lines().next().unwrap_or_default().to_owned(),
        _ => String::new(),
    }
}

/// Like `TestApp::request`, but a body that is not JSON comes back as a string (Hostway's 401
/// is plain text).
async fn request_any(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> crate::support::Reply {
    let mut req = app.client.request(method, format!("{}{}", app.base, path));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    let (status, headers) = (res.status(), res.headers().clone());
    let text = res.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    crate::support::Reply { status, headers, body }
}

fn face(name: &str) -> Face {
    match name {
        "native" => Face {
            missing: (StatusCode::UNAUTHORIZED, "missing_token"),
            bogus: (StatusCode::UNAUTHORIZED, "invalid_token"),
            scopes_at: Some("details"),
            scope_code: "scope_not_granted",
            code: nested_code,
        },
        "katapult" => Face {
            missing: (StatusCode::BAD_REQUEST, "missing_api_token"),
            bogus: (StatusCode::FORBIDDEN, "invalid_api_token"),
            scopes_at: Some("detail"),
            scope_code: "scope_not_granted",
            code: nested_code,
        },
        "defined" => Face {
            missing: (StatusCode::UNAUTHORIZED, "ERR_UNAUTHORIZED"),
            bogus: (StatusCode::UNAUTHORIZED, "ERR_UNAUTHORIZED"),
            scopes_at: None,
            scope_code: "ERR_FORBIDDEN",
            code: listed_code,
        },
        "hostway" => Face {
            missing: (StatusCode::UNAUTHORIZED, "401 Unauthorized"),
            bogus: (StatusCode::UNAUTHORIZED, "401 Unauthorized"),
            scopes_at: None,
            scope_code: "forbidden",
            code: fault_name,
        },
        other => panic!("unknown face {other}"),
    }
}

type Table = BTreeMap<(&'static str, &'static str, &'static str), (Access, Option<Value>)>;

/// (face, method, path) → access and a well-formed body, so refusals are about authorization,
/// not about the body. `{target}` in a body is replaced by the organization under test.
fn expected() -> Table {
    use Access::*;
    let mut t = Table::new();
    let mut add = |face, method, path, access, body: Option<Value>| {
        assert!(t.insert((face, method, path), (access, body)).is_none(), "{method} {path} listed twice");
    };
    let country = json!({"name": "UK", "iso_code2": "GB", "iso_code3": "GBR", "time_zone": "Europe/London", "eu": false});
    let servers: &[&str] = &["virtual_machines"];
    let servers_read: &[&str] = &["virtual_machines", "virtual_machines:read"];
    let ips: &[&str] = &["ip_addresses"];
    let ips_read: &[&str] = &["ip_addresses", "ip_addresses:read"];
    let orgs_read: &[&str] = &["organizations:read"];

    add("native", "GET", "/healthz", Open, None);
    add("native", "GET", "/readyz", Open, None);
    // Prometheus scrapes without credentials: counts by route template, never ids or secrets.
    add("native", "GET", "/metrics", Open, None);
    add("native", "GET", "/api/v1/openapi.json", Open, None);
    add("native", "POST", "/api/v1/organizations", Operator, Some(json!({"name": "x", "sub_domain": "x"})));
    add("native", "GET", "/api/v1/organizations", Operator, None);
    add("native", "GET", "/api/v1/organizations/{id}", Org(orgs_read), None);
    add("native", "PATCH", "/api/v1/organizations/{id}", Operator, Some(json!({"status": "suspended"})));
    add("native", "DELETE", "/api/v1/organizations/{id}", Operator, None);
    add(
        "native",
        "POST",
        "/api/v1/organizations/{id}/api_tokens",
        Operator,
        Some(json!({"name": "t", "scopes": []})),
    );
    add("native", "GET", "/api/v1/organizations/{id}/api_tokens", Operator, None);
    add("native", "DELETE", "/api/v1/organizations/{id}/api_tokens/{token_id}", Operator, None);
    add(
        "native",
        "POST",
        "/api/v1/organizations/{id}/users",
        Operator,
        Some(json!({"username": "u", "password": "password1"})),
    );
    add("native", "GET", "/api/v1/organizations/{id}/users", Operator, None);
    add(
        "native",
        "PUT",
        "/api/v1/organizations/{id}/users/{user_id}/password",
        Operator,
        Some(json!({"password": "password2"})),
    );
    add(
        "native",
        "POST",
        "/api/v1/data_centers",
        Operator,
        Some(json!({"name": "d", "permalink": "d", "country": country})),
    );
    add("native", "GET", "/api/v1/data_centers", Operator, None);
    add("native", "GET", "/api/v1/data_centers/{id}", Operator, None);
    add("native", "PATCH", "/api/v1/data_centers/{id}", Operator, Some(json!({"name": "d2"})));
    add("native", "DELETE", "/api/v1/data_centers/{id}", Operator, None);
    add(
        "native",
        "POST",
        "/api/v1/networks",
        Operator,
        Some(json!({"name": "n", "data_center_id": uuid::Uuid::nil(), "prefixes": ["192.0.2.0/24"]})),
    );
    add("native", "GET", "/api/v1/networks", Operator, None);
    add("native", "GET", "/api/v1/networks/{id}", Operator, None);
    add("native", "PATCH", "/api/v1/networks/{id}", Operator, Some(json!({"name": "n2"})));
    add("native", "DELETE", "/api/v1/networks/{id}", Operator, None);
    add("native", "GET", "/api/v1/scopes", Public, None);
    add("native", "GET", "/api/v1/audit_events", Listing(&["audit:read"]), None);
    add("native", "POST", "/api/v1/organizations/{id}/servers", Org(servers), Some(json!({"name": "s"})));
    add("native", "GET", "/api/v1/organizations/{id}/servers", Org(servers_read), None);
    add("native", "GET", "/api/v1/organizations/{id}/servers/{server_id}", Org(servers_read), None);
    add(
        "native",
        "PATCH",
        "/api/v1/organizations/{id}/servers/{server_id}",
        Org(servers),
        Some(json!({"name": "s"})),
    );
    add("native", "DELETE", "/api/v1/organizations/{id}/servers/{server_id}", Org(servers), None);
    add(
        "native",
        "POST",
        "/api/v1/organizations/{id}/ip_addresses",
        Org(ips),
        Some(json!({"network_id": uuid::Uuid::nil(), "version": "ipv4"})),
    );
    add("native", "GET", "/api/v1/organizations/{id}/ip_addresses", Org(ips_read), None);
    add("native", "GET", "/api/v1/organizations/{id}/ip_addresses/{ip_id}", Org(ips_read), None);
    add(
        "native",
        "PATCH",
        "/api/v1/organizations/{id}/ip_addresses/{ip_id}",
        Org(ips),
        Some(json!({"vip": false})),
    );
    add("native", "DELETE", "/api/v1/organizations/{id}/ip_addresses/{ip_id}", Org(ips), None);
    let allocate = json!({"server_id": uuid::Uuid::nil(), "interface_id": uuid::Uuid::nil()});
    add(
        "native",
        "POST",
        "/api/v1/organizations/{id}/ip_addresses/{ip_id}/allocate",
        Org(ips),
        Some(allocate),
    );
    add("native", "POST", "/api/v1/organizations/{id}/ip_addresses/{ip_id}/unallocate", Org(ips), None);
    let policy_read: &[&str] = &["policy:read"];
    add(
        "native",
        "POST",
        "/api/v1/organizations/{id}/flow_checks",
        Org(policy_read),
        Some(json!({"source": "10.0.0.1", "destination": "10.0.0.2", "protocol": "tcp", "port": 22})),
    );
    let server_policy: &[&str] = &["policy:read", "agent"];
    add("native", "GET", "/api/v1/organizations/{id}/servers/{server_id}/policy", Org(server_policy), None);
    add("native", "GET", "/api/v1/servers/{server_id}/policy", Org(server_policy), None);
    add("native", "GET", "/api/v1/servers/{server_id}/enforcement", Org(server_policy), None);
    add(
        "native",
        "PUT",
        "/api/v1/servers/{server_id}/enforcement",
        Agent,
        Some(json!({"applied_revision": 1, "applied_digest": "0123"})),
    );
    add(
        "native",
        "POST",
        "/api/v1/servers/{server_id}/agent_tokens",
        Operator,
        Some(json!({"name": "agent"})),
    );
    add("native", "GET", "/api/v1/organizations/{id}/policy/lint", Org(policy_read), None);
    add("native", "GET", "/api/v1/organizations/{id}/groups", Org(policy_read), None);
    add("native", "GET", "/api/v1/organizations/{id}/groups/{group_id}", Org(policy_read), None);

    add("katapult", "GET", "/core/v1/organizations", Listing(orgs_read), None);
    add("katapult", "GET", "/core/v1/organizations/:organization", Org(orgs_read), None);
    add("katapult", "GET", "/core/v1/networks/:network", Member, None);
    add("katapult", "GET", "/core/v1/data_centers/:data_center/default_network", Public, None);
    add("katapult", "GET", "/core/v1/organizations/:organization/available_networks", Member, None);
    add(
        "katapult",
        "POST",
        "/core/v1/organizations/:organization/ip_addresses",
        Org(ips),
        Some(json!({"network": {"permalink": "{target}-lan"}, "version": "ipv4"})),
    );
    add("katapult", "GET", "/core/v1/organizations/:organization/ip_addresses", Org(ips_read), None);
    add("katapult", "GET", "/core/v1/ip_addresses/:ip_address", Org(ips_read), None);
    add("katapult", "PATCH", "/core/v1/ip_addresses/:ip_address", Org(ips), Some(json!({"vip": false})));
    add("katapult", "DELETE", "/core/v1/ip_addresses/:ip_address", Org(ips), None);
    add("katapult", "POST", "/core/v1/ip_addresses/:ip_address/unallocate", Org(ips), None);
    add("katapult", "GET", "/core/v1/organizations/:organization/virtual_machines", Org(servers_read), None);
    add("katapult", "GET", "/core/v1/virtual_machines/:virtual_machine", Org(servers_read), None);
    add(
        "katapult",
        "PATCH",
        "/core/v1/virtual_machines/:virtual_machine",
        Org(servers),
        Some(json!({"properties": {"name": "s"}})),
    );
    let sg_read: &[&str] = &["security_groups", "security_groups:read"];
    let sg: &[&str] = &["security_groups"];
    let sg_delete: &[&str] = &["security_group"];
    let group_body = json!({"properties": {"name": "x"}});
    let rule_body = json!({"properties": {"direction": "inbound", "protocol": "TCP"}});
    add("katapult", "GET", "/core/v1/organizations/:organization/security_groups", Org(sg_read), None);
    add(
        "katapult",
        "POST",
        "/core/v1/organizations/:organization/security_groups",
        Org(sg),
        Some(group_body),
    );
    add("katapult", "GET", "/core/v1/security_groups/:security_group", Org(sg_read), None);
    add(
        "katapult",
        "PATCH",
        "/core/v1/security_groups/:security_group",
        Org(sg),
        Some(json!({"properties": {}})),
    );
    add("katapult", "DELETE", "/core/v1/security_groups/:security_group", Org(sg_delete), None);
    add("katapult", "GET", "/core/v1/security_groups/:security_group/rules", Org(sg_read), None);
    add("katapult", "POST", "/core/v1/security_groups/:security_group/rules", Org(sg), Some(rule_body));
    add("katapult", "GET", "/core/v1/security_groups/rules/:security_group_rule", Org(sg_read), None);
    add(
        "katapult",
        "PATCH",
        "/core/v1/security_groups/rules/:security_group_rule",
        Org(sg),
        Some(json!({"properties": {}})),
    );
    add("katapult", "DELETE", "/core/v1/security_groups/rules/:security_group_rule", Org(sg), None);
    let vmg_read: &[&str] = &["virtual_machine_groups", "virtual_machine_groups:read"];
    let vmg: &[&str] = &["virtual_machine_groups"];
    add(
        "katapult",
        "GET",
        "/core/v1/organizations/:organization/virtual_machine_groups",
        Org(vmg_read),
        None,
    );
    add(
        "katapult",
        "POST",
        "/core/v1/organizations/:organization/virtual_machine_groups",
        Org(vmg),
        Some(json!({"properties": {"name": "x"}})),
    );
    add("katapult", "GET", "/core/v1/virtual_machine_groups/:virtual_machine_group", Org(vmg_read), None);
    add(
        "katapult",
        "PATCH",
        "/core/v1/virtual_machine_groups/:virtual_machine_group",
        Org(vmg),
        Some(json!({"properties": {}})),
    );
    add("katapult", "DELETE", "/core/v1/virtual_machine_groups/:virtual_machine_group", Org(vmg), None);
    let tags_read: &[&str] = &["tags", "tags:read"];
    let tags: &[&str] = &["tags"];
    add("katapult", "GET", "/core/v1/organizations/:organization/tags", Org(tags_read), None);
    add(
        "katapult",
        "POST",
        "/core/v1/organizations/:organization/tags",
        Org(tags),
        Some(json!({"properties": {"name": "t"}})),
    );
    add("katapult", "GET", "/core/v1/tags/:tag", Org(tags_read), None);
    add("katapult", "PATCH", "/core/v1/tags/:tag", Org(tags), Some(json!({"properties": {}})));
    add("katapult", "DELETE", "/core/v1/tags/:tag", Org(tags), None);
    let lists_read: &[&str] = &["address_lists", "address_lists:read"];
    let lists: &[&str] = &["address_lists"];
    add("katapult", "GET", "/core/v1/address_lists", Listing(lists_read), None);
    add("katapult", "GET", "/core/v1/organizations/:organization/address_lists", Org(lists_read), None);
    add(
        "katapult",
        "POST",
        "/core/v1/organizations/:organization/address_lists",
        Org(lists),
        Some(json!({"properties": {"name": "l"}})),
    );
    add("katapult", "GET", "/core/v1/address_lists/:address_list", Org(lists_read), None);
    add(
        "katapult",
        "PATCH",
        "/core/v1/address_lists/:address_list",
        Org(lists),
        Some(json!({"properties": {}})),
    );
    add("katapult", "DELETE", "/core/v1/address_lists/:address_list", Org(lists), None);
    add("katapult", "GET", "/core/v1/address_lists/:address_list/entries", Org(lists_read), None);
    add(
        "katapult",
        "POST",
        "/core/v1/address_lists/:address_list/entries",
        Org(lists),
        Some(json!({"properties": {"address": "192.0.2.9"}})),
    );
    add(
        "katapult",
        "POST",
        "/core/v1/address_lists/:address_list/entries/bulk",
        Org(lists),
        Some(json!({"add": [{"address": "192.0.2.10"}]})),
    );
    add("katapult", "GET", "/core/v1/address_list_entries/:address_list_entry", Org(lists_read), None);
    add(
        "katapult",
        "PATCH",
        "/core/v1/address_list_entries/:address_list_entry",
        Org(lists),
        Some(json!({"properties": {}})),
    );
    add("katapult", "DELETE", "/core/v1/address_list_entries/:address_list_entry", Org(lists), None);
    add("defined", "POST", "/v1/roles", OwnOrg(&["roles:create"]), Some(json!({"name": "fresh-role"})));
    add("defined", "GET", "/v1/roles", Listing(&["roles:list"]), None);
    add("defined", "GET", "/v1/roles/{role_id}", Org(&["roles:read"]), None);
    add("defined", "PUT", "/v1/roles/{role_id}", Org(&["roles:update"]), Some(json!({"description": "x"})));
    add("defined", "DELETE", "/v1/roles/{role_id}", Org(&["roles:delete"]), None);
    add("defined", "GET", "/v1/networks", Listing(&["networks:list"]), None);
    let host = json!({"name": "fresh-host", "networkID": "{public}"});
    add("defined", "POST", "/v1/hosts", OwnOrg(&["hosts:create"]), Some(host));
    let host = json!({"name": "fresh-host-2", "networkID": "{public}"});
    add("defined", "POST", "/v2/hosts", OwnOrg(&["hosts:create"]), Some(host));
    add("defined", "GET", "/v1/hosts", Listing(&["hosts:list"]), None);
    add("defined", "GET", "/v2/hosts", Listing(&["hosts:list"]), None);
    add("defined", "GET", "/v1/hosts/{host_id}", Org(&["hosts:read"]), None);
    add("defined", "GET", "/v2/hosts/{host_id}", Org(&["hosts:read"]), None);
    add("defined", "PUT", "/v2/hosts/{host_id}", Org(&["hosts:update"]), Some(json!({"name": "renamed"})));
    add("defined", "PUT", "/v3/hosts/{host_id}", Org(&["hosts:update"]), Some(json!({"listenPort": 4242})));
    add("defined", "DELETE", "/v1/hosts/{host_id}", Org(&["hosts:delete"]), None);
    let hw_read: &[&str] = &["security_groups", "security_groups:read"];
    let hw: &[&str] = &["security_groups"];
    let hw_group = Some(json!({"securityGroup": {"displayName": "fresh-hw"}}));
    add("hostway", "POST", "/accounts/{account_id}/os-security-groups", Org(hw), hw_group.clone());
    add("hostway", "GET", "/accounts/{account_id}/os-security-groups", Org(hw_read), None);
    add("hostway", "GET", "/accounts/{account_id}/os-security-groups/{group_id}", Org(hw_read), None);
    add(
        "hostway",
        "PUT",
        "/accounts/{account_id}/os-security-groups/{group_id}",
        Org(hw),
        Some(json!({"securityGroup": {"description": "x"}})),
    );
    add(
        "hostway",
        "DELETE",
        "/accounts/{account_id}/os-security-groups/{group_id}",
        Org(&["security_group"]),
        None,
    );
    add("hostway", "GET", "/accounts/{account_id}/os-security-groups/{group_id}/rules", Org(hw_read), None);
    add(
        "hostway",
        "POST",
        "/accounts/{account_id}/os-security-group-rules",
        Org(hw),
        Some(
            json!({"securityGroupRule": {"protocol": "ALL", "cidr": "0.0.0.0/0", "parentGroupId": "{hw_group}"}}),
        ),
    );
    add("hostway", "DELETE", "/accounts/{account_id}/os-security-group-rules/{rule_id}", Org(hw), None);
    add(
        "hostway",
        "PUT",
        "/accounts/{account_id}/flexcloud/servers/{server_id}/os-security-group",
        Org(hw),
        Some(json!({"securityGroup": {"id": "{hw_group}", "status": "enabled"}})),
    );
    add("hostway", "POST", "/accounts/os-security-groups", OwnOrg(hw), hw_group);
    add("hostway", "GET", "/accounts/os-security-groups", Listing(hw_read), None);
    t
}

/// Everything one organization owns that routes can name.
pub(crate) struct Tenant {
    pub(crate) id: String,
    pub(crate) sub_domain: String,
    pub(crate) server: String,
    pub(crate) ip: String,
    pub(crate) network: String,
    pub(crate) group: String,
    pub(crate) rule: String,
    pub(crate) server_group: String,
    pub(crate) tag: String,
    pub(crate) list: String,
    pub(crate) entry: String,
    pub(crate) role: String,
    pub(crate) host: String,
    /// The shared network, in Defined's form (hosts may join it from any organization).
    pub(crate) public: String,
    /// The Katapult group and its rule, as Hostway names them.
    pub(crate) hw_group: String,
    pub(crate) hw_rule: String,
}

async fn tenant(app: &TestApp, sub_domain: &str, dc: &Value) -> Tenant {
    let id = app.org(sub_domain).await;
    let net = app
        .post(
            "/api/v1/networks",
            OPERATOR,
            json!({"name": "LAN", "permalink": format!("{sub_domain}-lan"), "data_center_id": dc, "prefixes": ["10.0.0.0/24"], "organization_id": id}),
        )
        .await;
    let network = net.body["network"]["id"].as_str().unwrap().to_owned();
    let server =
        app.post(&format!("/api/v1/organizations/{id}/servers"), OPERATOR, json!({"name": "s"})).await;
    let server = server.body["server"]["id"].as_str().unwrap().to_owned();
    let ip = app
        .post(
            &format!("/api/v1/organizations/{id}/ip_addresses"),
            OPERATOR,
            json!({"network_id": network, "version": "ipv4"}),
        )
        .await;
    let ip = ip.body["ip_address"]["id"].as_str().unwrap().to_owned();
    let k = |path: &str, body: Value| {
        app.client
            .request(Method::POST, format!("{}/core/v1/{path}", app.base))
            .bearer_auth(OPERATOR)
            .json(&body)
            .send()
    };
    let group: Value = k(
        "organizations/_/security_groups",
        json!({"organization": {"sub_domain": sub_domain}, "properties": {"name": "g"}}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let group = group["security_group"]["id"].as_str().unwrap().to_owned();
    let rule: Value = k(
        &format!("security_groups/{group}/rules"),
        json!({"properties": {"direction": "inbound", "protocol": "TCP"}}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let rule = rule["security_group_rule"]["id"].as_str().unwrap().to_owned();
    let server_group: Value = k(
        "organizations/_/virtual_machine_groups",
        json!({"organization": {"sub_domain": sub_domain}, "properties": {"name": "vmg"}}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let server_group = server_group["virtual_machine_group"]["id"].as_str().unwrap().to_owned();
    let tag: Value = k(
        "organizations/_/tags",
        json!({"organization": {"sub_domain": sub_domain}, "properties": {"name": "env:prod"}}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let tag = tag["tag"]["id"].as_str().unwrap().to_owned();
    let list: Value = k(
        "organizations/_/address_lists",
        json!({"organization": {"sub_domain": sub_domain}, "properties": {"name": "vpn"}}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let list = list["address_list"]["id"].as_str().unwrap().to_owned();
    let entry: Value =
        k(&format!("address_lists/{list}/entries"), json!({"properties": {"address": "192.0.2.1"}}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let entry = entry["address_list_entry"]["id"].as_str().unwrap().to_owned();
    let role = palisade_core::policy::SecurityGroup {
        id: palisade_core::id::SecurityGroupId::random(),
        organization_id: id.parse().unwrap(),
        kind: palisade_core::policy::GroupKind::Role,
        name: "role".into(),
        description: Some(String::new()),
        allow_all_inbound: false,
        allow_all_outbound: true,
        allow_unmatched_outbound: false,
        members: vec![],
        annotations: vec![],
        enabled: true,
        ip_version: None,
        serial: 0,
        created_at: palisade_core::model::now(),
        updated_at: palisade_core::model::now(),
    };
    once!(
        app.store,
        insert_security_group(&::palisade_testkit::grants::grant((role).organization_id), &role, &[])
    )
    .unwrap();
    let role = palisade_api::defined::ids::render("role", role.id.as_bytes());
    let create = palisade_core::service::CreateHost {
        name: "host".into(),
        network_id: network.parse().unwrap(),
        addresses: vec![],
        role: None,
        tags: vec![],
        overlay: Default::default(),
    };
    let host =
        app.core.create_host(&palisade_core::Principal::Operator, id.parse().unwrap(), create).await.unwrap();
    let host = palisade_api::defined::ids::render("host", host.server.id.as_bytes());
    let networks = app.get("/api/v1/networks", OPERATOR).await.body;
    let public = networks["networks"].as_array().unwrap().iter().find(|n| n["name"] == "Public").unwrap();
    let public = public["id"].as_str().unwrap().parse::<palisade_core::id::NetworkId>().unwrap();
    let public = palisade_api::defined::ids::render("network", public.as_bytes());
    let gid = palisade_core::id::SecurityGroupId::from_bytes(ids::parse("sg", &group).unwrap());
    let stored = once!(app.store, security_group(gid)).unwrap().unwrap();
    let hw_group = palisade_api::hostway::ids::render(gid, stored.created_at);
    let hw_rule = once!(app.store, rule_numbers(stored.organization_id, &[gid])).unwrap()[0].1.to_string();
    Tenant {
        id,
        sub_domain: sub_domain.to_owned(),
        server,
        ip,
        network,
        group,
        rule,
        server_group,
        tag,
        list,
        entry,
        role,
        host,
        public,
        hw_group,
        hw_rule,
    }
}

pub(crate) fn katapult_id(prefix: &str, uuid_text: &str) -> String {
    ids::render(prefix, uuid::Uuid::parse_str(uuid_text).unwrap().as_bytes())
}

fn fill(path: &str, t: &Tenant, dc: &str) -> String {
    let nil = uuid::Uuid::nil().to_string();
    path.replace("{id}", &t.id)
        .replace("{server_id}", &t.server)
        .replace("{token_id}", &nil)
        .replace("{user_id}", &nil)
        .replace("{ip_id}", &nil)
        .replace("{role_id}", &t.role)
        .replace("{host_id}", &t.host)
        .replace("{account_id}", &t.id)
        .replace("{group_id}", &t.hw_group)
        .replace("{rule_id}", &t.hw_rule)
        .replace(":organization", &katapult_id("org", &t.id))
        .replace(":ip_address", &katapult_id("ip", &t.ip))
        .replace(":virtual_machine_group", &t.server_group)
        .replace(":virtual_machine", &katapult_id("vm", &t.server))
        .replace(":tag", &t.tag)
        .replace(":address_list_entry", &t.entry)
        .replace(":address_list", &t.list)
        .replace(":security_group_rule", &t.rule)
        .replace(":security_group", &t.group)
        .replace(":network", &katapult_id("netw", &t.network))
        .replace(":data_center", &katapult_id("loc", dc))
}

fn fill_body(body: &Option<Value>, t: &Tenant) -> Option<Value> {
    body.as_ref().map(|b| {
        let text = b
            .to_string()
            .replace("{target}", &t.sub_domain)
            .replace("{public}", &t.public)
            .replace("{hw_group}", &t.hw_group);
        serde_json::from_str(&text).unwrap()
    })
}

/// One served route, with its expected entry.
struct Served {
    route: RouteEntry,
    access: Access,
    body: Option<Value>,
}

impl Served {
    fn face(&self) -> &'static str {
        self.route.face.name()
    }

    /// The route's path template, and the same with a trailing `/` where the route is also
    /// served so (Hostway).
    fn templates(&self) -> Vec<String> {
        let path = &self.route.path;
        let mut templates = vec![path.clone()];
        if self.route.trailing_slash {
            templates.push(format!("{path}/"));
        }
        templates
    }
}

/// Every route the application serves, each with its entry of the expected table; the entry's
/// scopes must be those of the operation the route declares.
fn served() -> Vec<Served> {
    let mut table = expected();
    let mut served = Vec::new();
    // ZStack's routes take sessions, not tokens: `zstack_routes_refuse_callers_without_the_right`
    // walks them.
    for route in palisade_api::route_table().into_iter().filter(|r| r.face.name() != "zstack") {
        let context = format!("{} {} {}", route.face.name(), route.method, route.path);
        let listed = table
            .keys()
            .copied()
            .find(|&(f, m, p)| f == route.face.name() && m == route.method.as_str() && p == route.path);
        let Some((access, body)) = listed.and_then(|key| table.remove(&key)) else {
            panic!("{context} is served but not in this test's table: register it in `expected`");
        };
        let scopes =
            |op: palisade_core::Operation| -> Vec<&str> { op.scopes().iter().map(|s| s.as_str()).collect() };
        match (route.guard, access) {
            (Guard::Open, Access::Open) => {}
            (Guard::Bearer, access) if !matches!(access, Access::Open) => {}
            (Guard::Operation(op), Access::Agent) => {
                assert_eq!(scopes(op), ["agent"], "{context} declares {op:?}")
            }
            (Guard::Operation(op), Access::Org(names) | Access::Listing(names) | Access::OwnOrg(names)) => {
                assert_eq!(scopes(op), names, "{context} declares {op:?}")
            }
            (Guard::Operation(op), Access::Member | Access::Public) => {
                assert_eq!(op.needs(), Needs::Member, "{context} declares {op:?}")
            }
            (Guard::Operation(op), Access::Operator) => {
                assert_eq!(op.needs(), Needs::Operator, "{context} declares {op:?}")
            }
            (guard, access) => panic!("{context} is declared {guard:?} but expected {access:?}"),
        }
        served.push(Served { route, access, body });
    }
    assert!(table.is_empty(), "listed here but not served: {:?}", table.keys().collect::<Vec<_>>());
    served
}

/// Every scope an organization's token can be given (`agent` is only agent tokens').
fn grantable_scopes() -> Vec<&'static str> {
    palisade_core::Scope::grantable().map(|s| s.as_str()).collect()
}

/// A data center with a shared public network, and two organizations, `mine` and `theirs`,
/// each owning one of everything. Returns the data center's id and the two.
pub(crate) async fn two_tenants(app: &TestApp) -> (String, Tenant, Tenant) {
    let dc = app.post("/api/v1/data_centers", OPERATOR, json!({"name": "L", "permalink": "l", "country": {"name": "UK", "iso_code2": "GB", "iso_code3": "GBR", "time_zone": "Europe/London", "eu": false}})).await;
    let dc_id = dc.body["data_center"]["id"].clone();
    app.post(
        "/api/v1/networks",
        OPERATOR,
        json!({"name": "Public", "data_center_id": dc_id, "prefixes": ["192.0.2.0/24"], "default": true}),
    )
    .await;
    let dc_id = dc_id.as_str().unwrap().to_owned();
    let mine = tenant(app, "mine", &json!(dc_id)).await;
    let theirs = tenant(app, "theirs", &json!(dc_id)).await;
    (dc_id, mine, theirs)
}

#[tokio::test]
async fn every_route_refuses_callers_without_the_right() {
    let app = TestApp::spawn().await;
    let served = served();
    let (dc_id, mine, theirs) = two_tenants(&app).await;
    let all_scopes = grantable_scopes();
    let (_, mine_all) = app.token(&mine.id, &all_scopes).await;
    let (_, mine_none) = app.token(&mine.id, &[]).await;

    for (route, template) in served.iter().flat_map(|r| r.templates().into_iter().map(move |t| (r, t))) {
        let (face_name, access, body) = (route.face(), route.access, &route.body);
        let face = face(face_name);
        let method: Method = route.route.method.clone();
        let template = template.as_str();
        let context = format!("{method} {template}");
        // Hostway answers some refusals in plain text; `/metrics` answers Prometheus' text.
        let lenient = face_name == "hostway" || template == "/metrics";
        let send = |path: String, token: Option<String>, body: Option<Value>| {
            let method = method.clone();
            let app = &app;
            async move {
                if lenient {
                    request_any(app, method, &path, token.as_deref(), body).await
                } else {
                    app.request(method, &path, token.as_deref(), body).await
                }
            }
        };
        if let Access::Open = access {
            let tokens =
                [None, Some("pal_bogus_token".to_owned()), Some(mine_all.clone()), Some(mine_none.clone())];
            for token in tokens {
                let r = send(template.to_owned(), token, None).await;
                assert_eq!(r.status, StatusCode::OK, "{context} needs no credentials: {}", r.body);
            }
            continue;
        }
        let at_theirs = fill(template, &theirs, &dc_id);
        let their_body = fill_body(body, &theirs);

        let r = send(at_theirs.clone(), None, their_body.clone()).await;
        assert_eq!(
            (r.status, (face.code)(&r.body).as_str()),
            face.missing,
            "{context} without a token: {}",
            r.body
        );
        let r = send(at_theirs.clone(), Some("pal_bogus_token".into()), their_body.clone()).await;
        assert_eq!(
            (r.status, (face.code)(&r.body).as_str()),
            face.bogus,
            "{context} with a bogus token: {}",
            r.body
        );

        // Another organization's token holding every scope.
        let r = send(at_theirs.clone(), Some(mine_all.clone()), their_body.clone()).await;
        match access {
            Access::Operator => {
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{context} with an org token: {}", r.body);
                let code = r.body["error"]["code"].as_str().unwrap_or_default();
                assert!(code == "operator_only" || code == "permission_denied", "{context}: {}", r.body);
            }
            Access::Org(_) | Access::Member => {
                assert_eq!(r.status, StatusCode::NOT_FOUND, "{context} with another org's token: {}", r.body);
            }
            // No organization's token can hold `agent`: refused before anything is looked up.
            Access::Agent => {
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{context} with an org token: {}", r.body);
                assert_eq!((face.code)(&r.body), face.scope_code, "{context}");
            }
            Access::Listing(_) => {
                assert_eq!(r.status, StatusCode::OK, "{context}: {}", r.body);
                let text = r.body.to_string();
                assert!(
                    !text.contains(&katapult_id("org", &theirs.id)) && !text.contains("theirs"),
                    "{context} leaks: {text}"
                );
            }
            Access::Public => assert_eq!(r.status, StatusCode::OK, "{context}: {}", r.body),
            // Once: the variant with a trailing slash would create the same thing again.
            Access::OwnOrg(_) if template.ends_with('/') => {}
            Access::OwnOrg(_) => {
                assert!(r.status.is_success(), "{context} acts in the caller's own organization: {}", r.body)
            }
            Access::Open => unreachable!("checked above"),
        }

        // The organization's own token without any scope.
        let r = send(fill(template, &mine, &dc_id), Some(mine_none.clone()), fill_body(body, &mine)).await;
        match access {
            Access::Operator => {
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{context} with a scopeless token: {}", r.body)
            }
            Access::Agent => {
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{context} with a scopeless token: {}", r.body);
                assert_eq!(r.body["error"]["details"]["scopes"], json!(["agent"]), "{context}");
            }
            Access::Org(scopes) | Access::Listing(scopes) | Access::OwnOrg(scopes) => {
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{context} with a scopeless token: {}", r.body);
                assert_eq!((face.code)(&r.body), face.scope_code, "{context}");
                if let Some(at) = face.scopes_at {
                    assert_eq!(r.body["error"][at]["scopes"], json!(scopes), "{context}");
                }
            }
            Access::Member | Access::Public => {
                assert_eq!(r.status, StatusCode::OK, "{context} needs no scope: {}", r.body)
            }
            Access::Open => unreachable!("checked above"),
        }
    }
    // Nothing of `theirs` was changed by any refused call.
    let r = app.get(&format!("/api/v1/organizations/{}", theirs.id), OPERATOR).await;
    assert_eq!(r.body["organization"]["status"], "active");
    let ips = app.get(&format!("/api/v1/organizations/{}/ip_addresses", theirs.id), OPERATOR).await;
    // The tenant's own address and its host's.
    assert_eq!(ips.body["pagination"]["total"], 2);
    // The tenants' servers and hosts, plus the two hosts the other organization's token created
    // in its own organization.
    assert_eq!(app.count("servers").await, 6);
    // Two security groups and two roles of the tenants, plus the role and the Hostway group the
    // other organization's token created in its own organization.
    assert_eq!(app.count("security_groups").await, 6);
    assert_eq!(app.count("security_group_rules").await, 2);
}

/// Garbage, wrong shapes and invalid references: what a body may hold that a caller without
/// the scope must never get validated.
fn garbage_bodies() -> Vec<Vec<u8>> {
    let wrong_types = json!({
        "name": 7, "properties": 7, "organization": {"sub_domain": "no-such-org"},
        "network": {"permalink": "no-such-network"}, "version": "ipv9",
        "securityGroup": 7, "securityGroupRule": {"parentGroupId": "nothing"},
        "networkID": "network-nope", "roleID": 7, "interfaces": 7, "vip": "perhaps",
        "firewallRules": [{"protocol": "NOPE", "allowedRoleID": "role-nope"}],
    });
    vec![b"{\"garbage".to_vec(), b"[1, 2]".to_vec(), wrong_types.to_string().into_bytes()]
}

/// Every write route of every face, with the organization's own token holding every scope but
/// the route's and a body that is garbage: 403 in the face's envelope, never a 400 or 422 (the
/// body is not looked at) and never a 404 (nothing the path names is looked up first).
#[tokio::test]
async fn a_token_without_the_scope_is_refused_before_its_body_is_read() {
    let app = TestApp::spawn().await;
    let served = served();
    let (dc_id, mine, _) = two_tenants(&app).await;
    let all_scopes = grantable_scopes();
    let mut tokens: BTreeMap<Vec<&str>, String> = BTreeMap::new();
    let (mut checked, mut faces) = (0, std::collections::BTreeSet::new());
    for (route, template) in served.iter().flat_map(|r| r.templates().into_iter().map(move |t| (r, t))) {
        let (face_name, access, method) = (route.face(), route.access, &route.route.method);
        if method == Method::GET {
            continue;
        }
        let needed: &[&str] = match access {
            Access::Org(scopes) | Access::Listing(scopes) | Access::OwnOrg(scopes) => scopes,
            Access::Operator => &[],
            Access::Agent => &["agent"],
            Access::Member | Access::Public | Access::Open => continue,
        };
        let granted: Vec<&str> = all_scopes.iter().filter(|s| !needed.contains(s)).copied().collect();
        if !tokens.contains_key(&granted) {
            let (_, secret) = app.token(&mine.id, &granted).await;
            tokens.insert(granted.clone(), secret);
        }
        let token = &tokens[&granted];
        faces.insert(face_name);
        let face = face(face_name);
        let path = fill(&template, &mine, &dc_id);
        for body in garbage_bodies() {
            let res = app
                .client
                .request(method.clone(), format!("{}{path}", app.base))
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = res.status();
            let text = res.text().await.unwrap();
            let json: Value = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
            let context = format!("{method} {template} with {}", String::from_utf8_lossy(&body));
            assert_eq!(status, StatusCode::FORBIDDEN, "{context}: {text}");
            let code = (face.code)(&json);
            match access {
                Access::Operator => {
                    assert!(code == "operator_only" || code == "permission_denied", "{context}: {text}")
                }
                _ => {
                    assert_eq!(code, face.scope_code, "{context}: {text}");
                    if let Some(at) = face.scopes_at {
                        assert_eq!(json["error"][at]["scopes"], json!(needed), "{context}");
                    }
                }
            }
            checked += 1;
        }
    }
    assert_eq!(faces, ["defined", "hostway", "katapult", "native"].into(), "every face has write routes");
    assert!(checked > 3 * 40, "only {checked} refusals checked");
    // Nothing was written by any refused call.
    assert_eq!(app.count("security_groups").await, 4);
    assert_eq!(app.count("servers").await, 4);
}

/// A server's agent token walks every route of every face: only its own server's policy and
/// enforcement answer it; everything else is refused 403 in the face's envelope (never a 404
/// that would tell what exists, never a 2xx), and nothing is written.
#[tokio::test]
async fn an_agent_token_is_refused_everywhere_but_its_own_servers_policy() {
    let app = TestApp::spawn().await;
    let served = served();
    let (dc_id, mine, _) = two_tenants(&app).await;
    let r = app
        .post(&format!("/api/v1/servers/{}/agent_tokens", mine.server), OPERATOR, json!({"name": "a"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let agent = r.body["secret"].as_str().unwrap().to_owned();
    let own = [
        ("GET", "/api/v1/organizations/{id}/servers/{server_id}/policy"),
        ("GET", "/api/v1/servers/{server_id}/policy"),
        ("GET", "/api/v1/servers/{server_id}/enforcement"),
        ("PUT", "/api/v1/servers/{server_id}/enforcement"),
    ];
    let (before_groups, before_servers) = (app.count("security_groups").await, app.count("servers").await);
    let mut refused = 0;
    for (route, template) in served.iter().flat_map(|r| r.templates().into_iter().map(move |t| (r, t))) {
        if let Access::Open = route.access {
            continue;
        }
        let method = route.route.method.clone();
        let context = format!("{method} {template}");
        let path = fill(&template, &mine, &dc_id);
        let r = request_any(&app, method.clone(), &path, Some(&agent), fill_body(&route.body, &mine)).await;
        if own.contains(&(method.as_str(), template.as_str())) {
            assert!(r.status.is_success(), "{context} is the agent's own: {}", r.body);
            continue;
        }
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{context} with an agent token: {}", r.body);
        let face = face(route.face());
        let code = (face.code)(&r.body);
        assert!(!code.is_empty(), "{context}: {}", r.body);
        refused += 1;
    }
    assert!(refused > 100, "only {refused} routes refused");
    assert_eq!(
        (app.count("security_groups").await, app.count("servers").await),
        (before_groups, before_servers)
    );
}

/// How a ZStack route is called.
#[derive(Debug, Clone, Copy)]
enum ZStackCall {
    /// Needs no session (sign-in, sign-out, validation).
    Open,
    /// A query: `503 ID.1001` for an invalid session, another account's objects are not listed.
    Sync,
    /// An operation: `202`, its job reports `ID.1001`, another account's objects are not found.
    Async,
    /// The poll of a job: only the job's own account sees it.
    Poll,
}

/// Walks every ZStack route (read from the route table, so a route added later must be
/// registered here): without `Authorization`, with an expired session, and with another
/// account's session; the other account's objects stay untouched.
#[tokio::test]
async fn zstack_routes_refuse_callers_without_the_right() {
    use crate::zstack::{job_id, log_in, poll, signed_in, zs};
    use ZStackCall::*;
    let expected: BTreeMap<(&str, &str), (ZStackCall, Option<&str>)> = [
        (("PUT", "/zstack/v1/accounts/login"), (Open, None)),
        (("DELETE", "/zstack/v1/accounts/sessions/{uuid}"), (Open, None)),
        (("GET", "/zstack/v1/accounts/sessions/{uuid}/valid"), (Open, None)),
        (("GET", "/zstack/v1/api-jobs/{uuid}"), (Poll, None)),
        (("POST", "/zstack/v1/security-groups"), (Async, Some(r#"{"params":{"name":"planted"}}"#))),
        (("GET", "/zstack/v1/security-groups"), (Sync, None)),
        (("GET", "/zstack/v1/security-groups/{uuid}"), (Sync, None)),
        (("DELETE", "/zstack/v1/security-groups/{uuid}"), (Async, None)),
        (
            ("PUT", "/zstack/v1/security-groups/{uuid}/actions"),
            (Async, Some(r#"{"updateSecurityGroup":{"name":"stolen"}}"#)),
        ),
        (
            ("POST", "/zstack/v1/security-groups/{uuid}/rules"),
            (Async, Some(r#"{"params":{"rules":[{"type":"Ingress","protocol":"ALL"}]}}"#)),
        ),
        (("GET", "/zstack/v1/security-groups/rules"), (Sync, None)),
        (("GET", "/zstack/v1/security-groups/rules/{uuid}"), (Sync, None)),
        (("DELETE", "/zstack/v1/security-groups/rules"), (Async, None)),
        (("POST", "/zstack/v1/security-groups/{uuid}/l3-networks/{l3_network_uuid}"), (Async, None)),
        (("DELETE", "/zstack/v1/security-groups/{uuid}/l3-networks/{l3_network_uuid}"), (Async, None)),
        (
            ("POST", "/zstack/v1/security-groups/{uuid}/vm-instances/nics"),
            (Async, Some(r#"{"params":{"vmNicUuids":["00000000000000000000000000000000"]}}"#)),
        ),
        (("DELETE", "/zstack/v1/security-groups/{uuid}/vm-instances/nics"), (Async, None)),
        (("GET", "/zstack/v1/security-groups/vm-instances/nics"), (Sync, None)),
        (("GET", "/zstack/v1/security-groups/{uuid}/vm-instances/candidate-nics"), (Sync, None)),
    ]
    .into_iter()
    .collect();
    let app = TestApp::spawn().await;
    // An expired session first (the only session when it is aged), then the two accounts'.
    let (_, expired) = signed_in(&app, "old", "old").await;
    assert_eq!(app.db.execute("UPDATE sessions SET expires_at = created_at").await, 1);
    let (_, mine) = signed_in(&app, "mine", "me").await;
    let (_, theirs) = signed_in(&app, "theirs", "them").await;
    let created = zs(
        &app,
        Method::POST,
        "/zstack/v1/security-groups",
        Some(&theirs),
        Some(&job_id()),
        Some(r#"{"params":{"name":"theirs"}}"#),
    )
    .await;
    let their_job = created.json()["location"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    let their_inventory = poll(&app, &created, &theirs).await.json()["inventory"].clone();
    let their_group = their_inventory["uuid"].as_str().unwrap().to_owned();
    let their_rule = their_inventory["rules"][0]["uuid"].as_str().unwrap().to_owned();

    let mut walked = 0;
    for route in palisade_api::route_table().into_iter().filter(|r| r.face.name() == "zstack") {
        let key = (route.method.as_str(), route.path.as_str());
        let Some(&(call, body)) = expected.get(&key) else {
            panic!("{key:?} is served but not in this test's table: register it");
        };
        walked += 1;
        let id = if route.path.starts_with("/zstack/v1/api-jobs") {
            &their_job
        } else if route.path.contains("/rules/") {
            &their_rule
        } else {
            &their_group
        };
        let mut path = route.path.replace("{uuid}", id).replace("{l3_network_uuid}", &"0".repeat(32));
        if route.path.ends_with("/rules") && route.method == Method::DELETE {
            path.push_str(&format!("?ruleUuids={their_rule}"));
        }
        let method = route.method.clone();
        let send = |session: Option<String>| {
            let (app, method, path) = (&app, method.clone(), path.clone());
            async move { zs(app, method, &path, session.as_deref(), Some(&job_id()), body).await }
        };
        if let Open = call {
            // No session needed: what each answers without one.
            let r = send(None).await;
            let want = match route.method.as_str() {
                "PUT" => StatusCode::BAD_REQUEST, // no `logInByAccount` in the body
                _ => StatusCode::OK,
            };
            assert_eq!(r.status, want, "{key:?}: {}", r.text);
            continue;
        }
        let r = send(None).await;
        assert_eq!(
            (r.status, r.text.as_str()),
            (StatusCode::BAD_REQUEST, "missing header 'Authorization'"),
            "{key:?}"
        );
        let r = send(Some(expired.clone())).await;
        match call {
            Sync => assert_eq!(r.json()["error"]["code"], "ID.1001", "{key:?}: {}", r.text),
            Async => assert_eq!(poll(&app, &r, &expired).await.json()["error"]["code"], "ID.1001", "{key:?}"),
            Poll => {
                assert_eq!((r.status, r.text.as_str()), (StatusCode::NOT_FOUND, "the job has been expired"))
            }
            Open => unreachable!(),
        }
        let r = send(Some(mine.clone())).await;
        match call {
            // A query about their group by name: not found (ZStack's resource check).
            Sync if route.path.ends_with("/candidate-nics") => {
                assert_eq!(r.json()["error"]["code"], "SYS.1003", "{key:?}: {}", r.text)
            }
            Sync => {
                assert_eq!(r.status, StatusCode::OK, "{key:?}: {}", r.text);
                assert!(
                    !r.text.contains(&their_group) && !r.text.contains("\"theirs\""),
                    "{key:?} leaks: {}",
                    r.text
                );
            }
            // Creating acts in the caller's own account; the others find nothing of theirs.
            Async if route.path == "/zstack/v1/security-groups" => {
                assert_eq!(poll(&app, &r, &mine).await.status, StatusCode::OK, "{key:?}")
            }
            // Deleting their group or rules: as if missing (ZStack answers success, `{}`).
            Async
                if route.method == Method::DELETE
                    && !route.path.contains("/l3-networks/")
                    && !route.path.ends_with("/nics") =>
            {
                assert_eq!(poll(&app, &r, &mine).await.text, "{}")
            }
            Async => assert_eq!(poll(&app, &r, &mine).await.json()["error"]["code"], "SYS.1003", "{key:?}"),
            Poll => {
                assert_eq!((r.status, r.text.as_str()), (StatusCode::NOT_FOUND, "the job has been expired"))
            }
            Open => unreachable!(),
        }
    }
    assert_eq!(walked, expected.len(), "every registered route is served");
    // Their group is as they made it, and only the caller's own create added one.
    let r = zs(
        &app,
        Method::GET,
        &format!("/zstack/v1/security-groups/{their_group}"),
        Some(&theirs),
        None,
        None,
    )
    .await;
    assert_eq!(r.json()["inventories"][0]["name"], "theirs");
    assert_eq!(r.json()["inventories"][0]["rules"].as_array().unwrap().len(), 2, "their rules are untouched");
    assert_eq!(app.count("security_groups").await, 2);
    log_in(&app, "me", "password").await;
}
