//! Existence oracles: a caller who may not see an object must not be able to tell it exists.
//!
//! Each probe is sent twice, once naming something that exists but is not the caller's (or that
//! the caller lacks the scope to see) and once naming something that does not exist; the two
//! answers must be byte-identical in status and body, ignoring only per-request ids (Hostway's
//! `errorid`). Organization `theirs` is the victim, `mine` the prober.

use palisade_api::defined::ids as defined_ids;
use palisade_api::katapult::ids as katapult_ids;
use palisade_core::id::SecurityGroupId;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::route_table::{katapult_id, two_tenants, Tenant};
use crate::support::TestApp;

/// Status and body text, with Hostway's per-error `errorid` blanked.
async fn exchange(
    app: &TestApp,
    method: &Method,
    path: &str,
    token: &str,
    body: &Value,
) -> (StatusCode, String) {
    let res = app
        .client
        .request(method.clone(), format!("{}{path}", app.base))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let mut text = res.text().await.unwrap();
    if let Some(at) = text.find("\"errorid\":\"") {
        let start = at + "\"errorid\":\"".len();
        let end = text[start..].find('"').map_or(text.len(), |n| start + n);
        text.replace_range(start..end, "-");
    }
    (status, text)
}

/// One probe: the request naming what exists (`present`) and what does not (`absent`).
struct Probe {
    what: &'static str,
    method: Method,
    present: (String, Value),
    absent: (String, Value),
    /// The status both must answer.
    status: StatusCode,
}

fn probe(
    what: &'static str,
    method: Method,
    present: (String, Value),
    absent: (String, Value),
    status: StatusCode,
) -> Probe {
    Probe { what, method, present, absent, status }
}

async fn indistinguishable(app: &TestApp, token: &str, probes: &[Probe]) {
    for p in probes {
        let a = exchange(app, &p.method, &p.present.0, token, &p.present.1).await;
        let b = exchange(app, &p.method, &p.absent.0, token, &p.absent.1).await;
        assert_eq!(a, b, "{}: an existing object answers differently from a missing one", p.what);
        assert_eq!(a.0, p.status, "{}: {}", p.what, a.1);
    }
}

fn random_katapult(prefix: &str) -> String {
    katapult_ids::render(prefix, &rand_bytes())
}

fn rand_bytes() -> [u8; 16] {
    *uuid::Uuid::new_v4().as_bytes()
}

fn defined_id(prefix: &str, uuid_text: &str) -> String {
    defined_ids::render(prefix, uuid::Uuid::parse_str(uuid_text).unwrap().as_bytes())
}

/// Katapult routes that name an organization, probed with another organization and with none:
/// the organization is authorized before anything else is looked at.
fn katapult_probes(theirs: &Tenant) -> Vec<Probe> {
    let unknown = random_katapult("org");
    let theirs_id = katapult_id("org", &theirs.id);
    let mut probes = vec![
        // The issue's probes: an invalid association, and a network that is not found.
        probe(
            "Katapult security group create with an invalid association",
            Method::POST,
            (
                "/core/v1/organizations/_/security_groups".into(),
                json!({"organization": {"sub_domain": theirs.sub_domain}, "properties": {"name": "x", "associations": ["bogus"]}}),
            ),
            (
                "/core/v1/organizations/_/security_groups".into(),
                json!({"organization": {"sub_domain": "no-such-org"}, "properties": {"name": "x", "associations": ["bogus"]}}),
            ),
            StatusCode::NOT_FOUND,
        ),
        probe(
            "Katapult IP creation with a network that does not exist",
            Method::POST,
            (
                "/core/v1/organizations/_/ip_addresses".into(),
                json!({"organization": {"sub_domain": theirs.sub_domain}, "network": {"permalink": "no-such-network"}, "version": "ipv4"}),
            ),
            (
                "/core/v1/organizations/_/ip_addresses".into(),
                json!({"organization": {"sub_domain": "no-such-org"}, "network": {"permalink": "no-such-network"}, "version": "ipv4"}),
            ),
            StatusCode::NOT_FOUND,
        ),
        probe(
            "Katapult IP creation naming their network",
            Method::POST,
            (
                format!("/core/v1/organizations/{theirs_id}/ip_addresses"),
                json!({"network": {"id": katapult_id("netw", &theirs.network)}, "version": "ipv4"}),
            ),
            (
                format!("/core/v1/organizations/{unknown}/ip_addresses"),
                json!({"network": {"id": katapult_id("netw", &theirs.network)}, "version": "ipv4"}),
            ),
            StatusCode::NOT_FOUND,
        ),
    ];
    // Every other route naming an organization, with a body that is invalid in every way the
    // arguments' types allow.
    let invalid = json!({
        "properties": {"name": "", "associations": ["bogus"], "color": "red"},
        "network": {"permalink": "no-such-network"}, "version": "ipv4", "label": "",
    });
    for route in palisade_api::route_table() {
        if route.face != palisade_api::frame::Face::Katapult || !route.path.contains(":organization") {
            continue;
        }
        probes.push(probe(
            "a Katapult route naming their organization",
            route.method,
            (route.path.replace(":organization", &theirs_id), invalid.clone()),
            (route.path.replace(":organization", &unknown), invalid.clone()),
            StatusCode::NOT_FOUND,
        ));
    }
    probes
}

/// References inside the caller's own organization naming the other organization's objects:
/// looked up only inside the caller's organization.
fn reference_probes(mine: &Tenant, theirs: &Tenant) -> Vec<Probe> {
    let group_with = |association: String| json!({"organization": {"sub_domain": mine.sub_domain}, "properties": {"name": "x", "associations": [association]}});
    let role_rule =
        |role: String| json!({"name": "r", "firewallRules": [{"protocol": "ANY", "allowedRoleID": role}]});
    let host =
        |network: String, role: Option<String>| json!({"name": "h", "networkID": network, "roleID": role});
    let their_network = defined_id("network", &theirs.network);
    let their_role = theirs.role.clone();
    let random_role = defined_ids::render("role", &rand_bytes());
    let random_network = defined_ids::render("network", &rand_bytes());
    let mine_rules = format!("/accounts/{}/os-security-group-rules", mine.id);
    let fabricated =
        palisade_api::hostway::ids::render(SecurityGroupId::random(), palisade_core::model::now());
    let hw_rule = |parent: &str| json!({"securityGroupRule": {"protocol": "TCP", "fromPort": 22, "toPort": 22, "cidr": "0.0.0.0/0", "parentGroupId": parent}});
    let assign = format!("/accounts/{}/flexcloud/servers/{}/os-security-group", mine.id, mine.server);
    let assign_body = |group: &str| json!({"securityGroup": {"id": group, "status": "enabled"}});
    let native_server = |network: &str| json!({"name": "s", "interfaces": [{"network_id": network}]});
    let servers = format!("/api/v1/organizations/{}/servers", mine.id);
    let ips = format!("/api/v1/organizations/{}/ip_addresses", mine.id);
    let random_uuid = uuid::Uuid::new_v4().to_string();
    vec![
        probe(
            "Katapult association naming their server",
            Method::POST,
            (
                "/core/v1/organizations/_/security_groups".into(),
                group_with(katapult_id("vm", &theirs.server)),
            ),
            ("/core/v1/organizations/_/security_groups".into(), group_with(random_katapult("vm"))),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        probe(
            "Katapult rule target naming their security group",
            Method::POST,
            (
                format!("/core/v1/security_groups/{}/rules", mine.group),
                json!({"properties": {"direction": "inbound", "protocol": "TCP", "targets": [theirs.group]}}),
            ),
            (
                format!("/core/v1/security_groups/{}/rules", mine.group),
                json!({"properties": {"direction": "inbound", "protocol": "TCP", "targets": [random_katapult("sg")]}}),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        probe(
            "Katapult IP creation naming their network",
            Method::POST,
            (
                "/core/v1/organizations/_/ip_addresses".into(),
                json!({"organization": {"sub_domain": mine.sub_domain}, "network": {"id": katapult_id("netw", &theirs.network)}, "version": "ipv4"}),
            ),
            (
                "/core/v1/organizations/_/ip_addresses".into(),
                json!({"organization": {"sub_domain": mine.sub_domain}, "network": {"id": random_katapult("netw")}, "version": "ipv4"}),
            ),
            StatusCode::NOT_FOUND,
        ),
        probe(
            "Defined allowedRoleID naming their role",
            Method::POST,
            ("/v1/roles".into(), role_rule(their_role.clone())),
            ("/v1/roles".into(), role_rule(random_role.clone())),
            StatusCode::BAD_REQUEST,
        ),
        probe(
            "Defined host roleID naming their role",
            Method::POST,
            ("/v2/hosts".into(), host(mine.public.clone(), Some(their_role.clone()))),
            ("/v2/hosts".into(), host(mine.public.clone(), Some(random_role.clone()))),
            StatusCode::BAD_REQUEST,
        ),
        probe(
            "Defined host networkID naming their network",
            Method::POST,
            ("/v2/hosts".into(), host(their_network, None)),
            ("/v2/hosts".into(), host(random_network, None)),
            StatusCode::BAD_REQUEST,
        ),
        probe(
            "Defined role replacement of their role",
            Method::PUT,
            (format!("/v1/roles/{their_role}"), json!({"description": 7})),
            (format!("/v1/roles/{random_role}"), json!({"description": 7})),
            StatusCode::BAD_REQUEST,
        ),
        probe(
            "Hostway rule whose parent is their group",
            Method::POST,
            (mine_rules.clone(), hw_rule(&theirs.hw_group)),
            (mine_rules.clone(), hw_rule(&fabricated)),
            StatusCode::BAD_REQUEST,
        ),
        probe(
            "Hostway assignment of their group",
            Method::PUT,
            (assign.clone(), assign_body(&theirs.hw_group)),
            (assign.clone(), assign_body(&fabricated)),
            StatusCode::BAD_REQUEST,
        ),
        // Rule numbers are per account, so their rule cannot be named from mine at all (the same
        // number there names one of mine, or nothing); it can only be named in their account.
        probe(
            "Hostway rule deletion of their rule, in their account",
            Method::DELETE,
            (format!("/accounts/{}/os-security-group-rules/{}", theirs.id, theirs.hw_rule), Value::Null),
            (format!("/accounts/{random_uuid}/os-security-group-rules/{}", theirs.hw_rule), Value::Null),
            StatusCode::NOT_FOUND,
        ),
        probe(
            "Native server on their network",
            Method::POST,
            (servers.clone(), native_server(&theirs.network)),
            (servers.clone(), native_server(&random_uuid)),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        probe(
            "Native address of their network",
            Method::POST,
            (ips.clone(), json!({"network_id": theirs.network, "version": "ipv4"})),
            (ips.clone(), json!({"network_id": random_uuid, "version": "ipv4"})),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ]
}

/// Paths naming the other organization itself, with bodies that are wrong: the organization is
/// authorized before the body is read.
fn organization_probes(theirs: &Tenant) -> Vec<Probe> {
    let unknown = uuid::Uuid::new_v4().to_string();
    let garbage = json!({"securityGroup": 7, "name": 7, "network_id": "x", "interfaces": 7});
    let mut probes = Vec::new();
    for (method, path) in [
        (Method::POST, "/accounts/{}/os-security-groups"),
        (Method::POST, "/accounts/{}/os-security-group-rules"),
        (Method::POST, "/api/v1/organizations/{}/servers"),
        (Method::POST, "/api/v1/organizations/{}/ip_addresses"),
    ] {
        probes.push(probe(
            "a path naming their organization, with a wrong body",
            method,
            (path.replace("{}", &theirs.id), garbage.clone()),
            (path.replace("{}", &unknown), garbage.clone()),
            StatusCode::NOT_FOUND,
        ));
    }
    probes.push(probe(
        "a Hostway account named by sub-domain, with a wrong body",
        Method::POST,
        (format!("/accounts/{}/os-security-groups", theirs.sub_domain), garbage.clone()),
        ("/accounts/no-such-account/os-security-groups".into(), garbage),
        StatusCode::NOT_FOUND,
    ));
    probes
}

#[tokio::test]
async fn another_organization_cannot_tell_its_objects_from_missing_ones() {
    let app = TestApp::spawn().await;
    let (_, mine, theirs) = two_tenants(&app).await;
    let all: Vec<&str> = palisade_core::Scope::grantable().map(|s| s.as_str()).collect();
    let (_, token) = app.token(&mine.id, &all).await;
    let before = (app.count("security_groups").await, app.count("security_group_rules").await);
    indistinguishable(&app, &token, &katapult_probes(&theirs)).await;
    indistinguishable(&app, &token, &organization_probes(&theirs)).await;
    indistinguishable(&app, &token, &reference_probes(&mine, &theirs)).await;
    let after = (app.count("security_groups").await, app.count("security_group_rules").await);
    assert_eq!(before, after, "a refused probe wrote something");
}

/// Within one organization: a token that may not see roles (or groups, or rules) cannot tell an
/// existing one from a missing one, whether it names it in the path or in a reference.
#[tokio::test]
async fn a_token_without_the_scope_cannot_probe_ids() {
    let app = TestApp::spawn().await;
    let (_, mine, _) = two_tenants(&app).await;
    let role = mine.role.clone();
    let missing_role = defined_ids::render("role", &rand_bytes());
    let rule_naming =
        |role: &str| json!({"name": "probe", "firewallRules": [{"protocol": "TCP", "allowedRoleID": role}]});
    let host_naming = |role: &str| json!({"name": "probe", "networkID": mine.public, "roleID": role});

    // `allowedRoleID` and `roleID` name a role: that needs `roles:read` as well.
    let (_, creator) = app.token(&mine.id, &["roles:create", "roles:update", "hosts:create"]).await;
    indistinguishable(
        &app,
        &creator,
        &[
            probe(
                "allowedRoleID without roles:read",
                Method::POST,
                ("/v1/roles".into(), rule_naming(&role)),
                ("/v1/roles".into(), rule_naming(&missing_role)),
                StatusCode::FORBIDDEN,
            ),
            probe(
                "allowedRoleID in a replacement without roles:read",
                Method::PUT,
                (format!("/v1/roles/{role}"), rule_naming(&role)),
                (format!("/v1/roles/{role}"), rule_naming(&missing_role)),
                StatusCode::FORBIDDEN,
            ),
            probe(
                "roleID without roles:read",
                Method::POST,
                ("/v2/hosts".into(), host_naming(&role)),
                ("/v2/hosts".into(), host_naming(&missing_role)),
                StatusCode::FORBIDDEN,
            ),
        ],
    )
    .await;
    // Without the route's own scope the body is never read.
    let (_, reader) = app.token(&mine.id, &["roles:read"]).await;
    indistinguishable(
        &app,
        &reader,
        &[probe(
            "allowedRoleID without roles:create",
            Method::POST,
            ("/v1/roles".into(), rule_naming(&role)),
            ("/v1/roles".into(), rule_naming(&missing_role)),
            StatusCode::FORBIDDEN,
        )],
    )
    .await;
    // With roles:read the reference is checked, and only then does the answer differ.
    let (_, writer) = app.token(&mine.id, &["roles:create", "roles:read"]).await;
    let ok = exchange(&app, &Method::POST, "/v1/roles", &writer, &rule_naming(&role)).await;
    assert_eq!(ok.0, StatusCode::OK, "{}", ok.1);
    let bad = exchange(&app, &Method::POST, "/v1/roles", &writer, &rule_naming(&missing_role)).await;
    assert_eq!(bad.0, StatusCode::BAD_REQUEST, "{}", bad.1);
    assert!(bad.1.contains("ERR_INVALID_REFERENCE"), "{}", bad.1);

    // Ids in the path: the scope is checked before the object is looked up.
    let (_, nothing) = app.token(&mine.id, &["hosts:read"]).await;
    let missing_hw =
        palisade_api::hostway::ids::render(SecurityGroupId::random(), palisade_core::model::now());
    let groups = format!("/accounts/{}/os-security-groups", mine.id);
    let rules = format!("/accounts/{}/os-security-group-rules", mine.id);
    let mut probes = Vec::new();
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        probes.push(probe(
            "a role id in the path",
            method,
            (format!("/v1/roles/{role}"), json!({})),
            (format!("/v1/roles/{missing_role}"), json!({})),
            StatusCode::FORBIDDEN,
        ));
    }
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        probes.push(probe(
            "a Hostway group id in the path",
            method,
            (format!("{groups}/{}", mine.hw_group), json!({"securityGroup": {"description": "x"}})),
            (format!("{groups}/{missing_hw}"), json!({"securityGroup": {"description": "x"}})),
            StatusCode::FORBIDDEN,
        ));
    }
    probes.push(probe(
        "a Hostway rule number in the path",
        Method::DELETE,
        (format!("{rules}/{}", mine.hw_rule), Value::Null),
        (format!("{rules}/99999999"), Value::Null),
        StatusCode::FORBIDDEN,
    ));
    indistinguishable(&app, &nothing, &probes).await;

    // Hostway: reading a group does not let a token learn which groups it could delete.
    let (_, reader) = app.token(&mine.id, &["security_groups:read", "security_groups"]).await;
    indistinguishable(
        &app,
        &reader,
        &[probe(
            "a Hostway group deletion without security_group",
            Method::DELETE,
            (format!("{groups}/{}", mine.hw_group), Value::Null),
            (format!("{groups}/{missing_hw}"), Value::Null),
            StatusCode::FORBIDDEN,
        )],
    )
    .await;

    // Katapult: a rule of a Defined role is not a security group rule, even to a token that
    // could not read roles.
    let (_, all_roles) = app.token(&mine.id, &["roles:create", "roles:read"]).await;
    let created = app
        .post(
            "/v1/roles",
            &all_roles,
            json!({"name": "with-rule", "firewallRules": [{"protocol": "TCP", "portRange": {"from": 22, "to": 22}}]}),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let group = created.body["data"]["id"].as_str().unwrap();
    let group = SecurityGroupId::from_bytes(defined_ids::parse("role", group).unwrap());
    let rule = once!(app.store, list_rules(group, palisade_core::PageRequest::all())).unwrap().items[0].id;
    let (_, katapult) = app.token(&mine.id, &["security_groups"]).await;
    indistinguishable(
        &app,
        &katapult,
        &[probe(
            "a role's rule through the Katapult face",
            Method::GET,
            (
                format!("/core/v1/security_groups/rules/{}", katapult_ids::render("sgr", rule.as_bytes())),
                json!({}),
            ),
            (format!("/core/v1/security_groups/rules/{}", random_katapult("sgr")), json!({})),
            StatusCode::NOT_FOUND,
        )],
    )
    .await;
}
