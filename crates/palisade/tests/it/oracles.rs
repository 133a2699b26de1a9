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

use crate::route_table::two_tenants;
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
    let rule =
        app.core.store().list_rules(group, palisade_core::PageRequest::all()).await.unwrap().items[0].id;
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
