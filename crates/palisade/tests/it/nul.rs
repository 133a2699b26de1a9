//! NUL and control characters (issue 11, item 5): refused by the core's validation with a 400
//! naming the field, in each face's envelope, the same on SQLite and PostgreSQL (this suite runs
//! on both), and nothing written. Before, PostgreSQL answered 500 where SQLite stored the value.

use data_encoding::BASE64;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{error_paths, TestApp, OPERATOR};

const PASSWORD: &str = "correct horse battery";

struct World {
    app: TestApp,
    org: String,
    token: String,
    /// The shared network, natively.
    net: String,
    basic: String,
}

const SCOPES: &[&str] = &[
    "security_groups",
    "address_lists",
    "ip_addresses",
    "tags",
    "roles:create",
    "roles:update",
    "hosts:create",
    "hosts:update",
];

async fn world() -> World {
    let app = TestApp::spawn().await;
    let org = app.org("acme").await;
    let (_, token) = app.token(&org, SCOPES).await;
    let net = app.network().await;
    let basic = app.user(&org, "user", PASSWORD).await;
    World { app, org, token, net, basic }
}

/// Every table the probes could write to.
const TABLES: &[&str] = &[
    "organizations",
    "api_tokens",
    "users",
    "servers",
    "server_tags",
    "ip_addresses",
    "security_groups",
    "security_group_annotations",
    "security_group_rules",
    "security_group_rule_remotes",
    "security_group_rule_remote_tags",
    "security_group_rule_ports",
    "tags",
    "address_lists",
    "address_list_entries",
    "host_attributes",
];

async fn counts(app: &TestApp) -> Vec<i64> {
    let mut out = Vec::new();
    for t in TABLES {
        out.push(app.count(t).await);
    }
    out
}

/// Method, path under `/core/v1/`, body, and the argument path and index refused.
type KatapultProbe = (Method, String, Option<Value>, Vec<&'static str>, Option<usize>);

/// A Katapult 400 `invalid_argument` for characters, naming `path` (and `index`).
#[track_caller]
fn katapult_refused(body: &Value, path: &[&str], index: Option<usize>) {
    assert_eq!(body["error"]["code"], "invalid_argument", "{body}");
    assert_eq!(body["error"]["detail"]["path"], json!(path), "{body}");
    assert_eq!(body["error"]["detail"]["index"], json!(index), "{body}");
    assert_eq!(body["error"]["detail"]["issue"], "invalid_characters", "{body}");
}

fn network_id(w: &World) -> String {
    let id: palisade_core::id::NetworkId = w.net.parse().unwrap();
    palisade_api::katapult::ids::render(palisade_api::katapult::ids::NETWORK, id.as_bytes())
}

fn defined_network(w: &World) -> String {
    let id: palisade_core::id::NetworkId = w.net.parse().unwrap();
    palisade_api::defined::ids::render(palisade_api::defined::ids::NETWORK, id.as_bytes())
}

/// The four probes of the issue, each once.
#[tokio::test]
async fn the_four_probes_of_the_issue_are_400s_naming_the_field() {
    let w = world().await;
    let before = counts(&w.app).await;

    // 1. A Katapult annotation value.
    let r = w
        .app
        .post(
            "/core/v1/organizations/_/security_groups",
            &w.token,
            json!({"organization": {"sub_domain": "acme"}, "properties": {"name": "g"},
                "annotations": [{"key": "k", "value": "a\u{0}b"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    katapult_refused(&r.body, &["annotations", "value"], Some(0));

    // 2. A Defined `configOverrides` value.
    let r = w
        .app
        .post(
            "/v1/hosts",
            &w.token,
            json!({"name": "h", "networkID": defined_network(&w),
                "configOverrides": [{"key": "k", "value": "a\u{0}b"}]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.body["errors"].as_array().unwrap().len(), 1, "{}", r.body);
    assert_eq!(r.body["errors"][0]["path"], "configOverrides[0]", "{}", r.body);
    assert_eq!(r.body["errors"][0]["code"], "ERR_INVALID_VALUE", "{}", r.body);

    // 3. A Katapult lookup by sub-domain.
    let r =
        w.app.get("/core/v1/organizations/_/security_groups?organization[sub_domain]=a%00b", &w.token).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    katapult_refused(&r.body, &["organization", "sub_domain"], None);

    // 4. A Hostway account named by sub-domain in the path.
    let res = w
        .app
        .client
        .get(format!("{}/accounts/a%00b/os-security-groups", w.app.base))
        .header("authorization", &w.basic)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["badRequest"]["code"], 400, "{body}");
    assert!(body["badRequest"]["details"].as_str().unwrap().starts_with("accountId: "), "{body}");

    assert_eq!(counts(&w.app).await, before, "a refused request wrote something");
}

/// Every other field that reaches the database, on every face.
#[tokio::test]
async fn nul_is_refused_in_every_field_on_every_face() {
    let w = world().await;
    let org = &w.org;
    let app = &w.app;
    // Fixtures the probes act on, made before counting.
    let list = app
        .post(
            "/core/v1/organizations/_/address_lists",
            &w.token,
            json!({"organization": {"sub_domain": "acme"}, "properties": {"name": "l"}}),
        )
        .await;
    assert_eq!(list.status, StatusCode::CREATED, "{}", list.body);
    let list = list.body["address_list"]["id"].as_str().unwrap().to_owned();
    let group = app
        .post(
            "/core/v1/organizations/_/security_groups",
            &w.token,
            json!({"organization": {"sub_domain": "acme"}, "properties": {"name": "g"}}),
        )
        .await;
    let group = group.body["security_group"]["id"].as_str().unwrap().to_owned();
    let role = app.post("/v1/roles", &w.token, json!({"name": "r"})).await;
    let role = role.body["data"]["id"].as_str().unwrap().to_owned();
    let before = counts(app).await;
    let nul = "a\u{0}b";

    // Native: (path, method, body, field). Control characters other than NUL in names too.
    let native = [
        ("/api/v1/organizations".to_owned(), Method::POST, json!({"name": nul, "sub_domain": "ok"}), "name"),
        (
            "/api/v1/organizations".to_owned(),
            Method::POST,
            json!({"name": "a\u{1b}b", "sub_domain": "ok"}),
            "name",
        ),
        (format!("/api/v1/organizations/{org}"), Method::PATCH, json!({"name": nul}), "name"),
        (
            format!("/api/v1/organizations/{org}/api_tokens"),
            Method::POST,
            json!({"name": nul, "scopes": []}),
            "name",
        ),
        (
            format!("/api/v1/organizations/{org}/api_tokens"),
            Method::POST,
            json!({"name": "t", "scopes": [nul]}),
            "scopes[0]",
        ),
        (
            format!("/api/v1/organizations/{org}/users"),
            Method::POST,
            json!({"username": nul, "password": PASSWORD}),
            "username",
        ),
        (
            format!("/api/v1/organizations/{org}/servers"),
            Method::POST,
            json!({"name": nul, "interfaces": []}),
            "name",
        ),
        (
            format!("/api/v1/organizations/{org}/servers"),
            Method::POST,
            json!({"name": "s", "interfaces": [], "tags": [nul]}),
            "tags[0]",
        ),
        (
            format!("/api/v1/organizations/{org}/ip_addresses"),
            Method::POST,
            json!({"network_id": w.net, "version": "ipv4", "label": nul}),
            "label",
        ),
    ];
    for (path, method, body, field) in native {
        let r = app.request(method, &path, Some(OPERATOR), Some(body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.body);
        assert_eq!(r.body["error"]["code"], "invalid_request", "{}", r.body);
        assert_eq!(error_paths(&r)[0], field, "{}", r.body);
        assert_eq!(r.body["error"]["details"][0]["code"], "invalid_characters", "{}", r.body);
    }

    // Katapult: 400 invalid_argument naming the argument. (method, path, body, path, index)
    let acme = json!({"sub_domain": "acme"});
    let katapult: Vec<KatapultProbe> = vec![
        (
            Method::POST,
            "organizations/_/security_groups".into(),
            Some(json!({"organization": acme, "properties": {"name": nul}})),
            vec!["name"],
            None,
        ),
        (
            Method::POST,
            "organizations/_/security_groups".into(),
            Some(json!({"organization": acme, "properties": {"name": "g2"}, "annotations": [{"key": nul}]})),
            vec!["annotations", "key"],
            Some(0),
        ),
        (
            Method::PATCH,
            format!("security_groups/{group}"),
            Some(json!({"annotations": [{"key": "k", "value": "v"}, {"key": "k2", "value": nul}]})),
            vec!["annotations", "value"],
            Some(1),
        ),
        (
            Method::POST,
            format!("security_groups/{group}/rules"),
            Some(json!({"properties": {"direction": "inbound", "protocol": "TCP", "notes": nul}})),
            vec!["notes"],
            None,
        ),
        (
            Method::GET,
            "organizations/_/security_groups?organization[sub_domain]=acme&annotations[][key]=k&annotations[][value]=a%00b"
                .into(),
            None,
            vec!["annotations", "value"],
            Some(0),
        ),
        (
            Method::POST,
            "organizations/_/address_lists".into(),
            Some(json!({"organization": acme, "properties": {"name": "l2"}, "annotations": [{"key": "k", "value": nul}]})),
            vec!["annotations", "value"],
            Some(0),
        ),
        (
            Method::POST,
            format!("address_lists/{list}/entries/bulk"),
            Some(json!({"remove": [{"address": "10.0.0.0/8"}, {"address": nul}]})),
            vec!["remove"],
            Some(1),
        ),
        (
            Method::POST,
            "organizations/_/tags".into(),
            Some(json!({"organization": acme, "properties": {"name": nul}})),
            vec!["name"],
            None,
        ),
        (
            Method::POST,
            "organizations/_/ip_addresses".into(),
            Some(json!({"organization": acme, "network": {"id": network_id(&w)}, "version": "ipv4", "label": nul})),
            vec!["label"],
            None,
        ),
        (
            Method::POST,
            "organizations/_/ip_addresses".into(),
            Some(json!({"organization": acme, "network": {"permalink": nul}, "version": "ipv4"})),
            vec!["network", "permalink"],
            None,
        ),
        (Method::GET, "networks/_?network[permalink]=a%00b".into(), None, vec!["network", "permalink"], None),
        (
            Method::GET,
            "data_centers/_/default_network?data_center[permalink]=a%00b".into(),
            None,
            vec!["data_center", "permalink"],
            None,
        ),
    ];
    for (method, path, body, arg, index) in katapult {
        let r = app.request(method, &format!("/core/v1/{path}"), Some(&w.token), body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.body);
        katapult_refused(&r.body, &arg, index);
    }

    // Defined: 400 naming the field in Defined's names.
    let network = defined_network(&w);
    let defined = [
        (Method::POST, "/v1/roles".to_owned(), json!({"name": nul}), "name"),
        (Method::POST, "/v1/roles".to_owned(), json!({"name": "r2", "description": nul}), "description"),
        (
            Method::POST,
            "/v1/roles".to_owned(),
            json!({"name": "r2", "firewallRules": [{"protocol": "ANY", "description": nul}]}),
            "firewallRules[0].description",
        ),
        (
            Method::PUT,
            format!("/v1/roles/{role}"),
            json!({"name": "r", "firewallRules": [{"protocol": "ANY", "allowedTags": ["k:a\u{0}"]}]}),
            "firewallRules[0].allowedTags[0]",
        ),
        (Method::POST, "/v1/hosts".to_owned(), json!({"name": nul, "networkID": network}), "name"),
        (
            Method::POST,
            "/v1/hosts".to_owned(),
            json!({"name": "h", "networkID": network, "tags": ["k:a\u{0}"]}),
            "tags[0]",
        ),
        (
            Method::POST,
            "/v1/hosts".to_owned(),
            json!({"name": "h", "networkID": network, "configOverrides": [{"key": "k"}, {"key": nul, "value": 1}]}),
            "configOverrides[1]",
        ),
        (
            Method::POST,
            "/v1/hosts".to_owned(),
            json!({"name": "h", "networkID": network,
                "configOverrides": [{"key": "k", "value": {"deep": [[{"x": ["y", nul]}]]}}]}),
            "configOverrides[0]",
        ),
    ];
    for (method, path, body, field) in defined {
        let r = app.request(method, &path, Some(&w.token), Some(body)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.body);
        assert_eq!(r.body["errors"][0]["path"], field, "{}", r.body);
    }

    // Hostway: 400 `badRequest` naming the field; a username with NUL is simply wrong (401).
    let groups = format!("/accounts/{org}/os-security-groups");
    for (body, field) in [
        (json!({"securityGroup": {"displayName": nul, "description": ""}}), "displayName"),
        (json!({"securityGroup": {"displayName": "x", "description": nul}}), "description"),
    ] {
        let res = app
            .client
            .post(format!("{}{groups}", app.base))
            .header("authorization", &w.basic)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{field}");
        let body: Value = res.json().await.unwrap();
        assert!(body["badRequest"]["details"].as_str().unwrap().starts_with(&format!("{field}: ")), "{body}");
    }
    let res = app
        .client
        .get(format!("{}{groups}", app.base))
        .header(
            "authorization",
            format!("Basic {}", BASE64.encode(format!("us\u{0}er:{PASSWORD}").as_bytes())),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(counts(app).await, before, "a refused request wrote something");
}
