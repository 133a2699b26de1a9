//! What one request may ask for (issue 11, item 4): every list is counted before any per-item
//! work (store lookups, parsing), so an oversized request is refused at once, with one error
//! naming the list, and nothing is written.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{error_paths, TestApp, OPERATOR};

/// The tables a refused request could have written to.
const TABLES: &[&str] = &["organizations", "security_groups", "servers", "interfaces", "host_attributes"];

async fn counts(app: &TestApp) -> Vec<i64> {
    let mut out = Vec::new();
    for t in TABLES {
        out.push(app.count(t).await);
    }
    out
}

/// The probe of issue 11: 36,000 interfaces used to be refused after 36,000 network lookups
/// (11.8 s). They are counted first now; `palisade-bench oversized` measures the time.
#[tokio::test]
async fn a_server_with_36000_interfaces_is_refused_by_its_count() {
    let app = TestApp::spawn_tuned(|c| c.api.max_body_bytes = 8 * 1024 * 1024).await;
    let org = app.org("acme").await;
    let net = app.network().await;
    let before = counts(&app).await;
    let interfaces: Vec<Value> = (0..36_000).map(|_| json!({"network_id": net, "addresses": []})).collect();
    let r = app
        .post(
            &format!("/api/v1/organizations/{org}/servers"),
            OPERATOR,
            json!({"name": "big", "interfaces": interfaces}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(error_paths(&r), ["interfaces"], "one violation, for the list: {}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("at most 16"), "{}", r.body);
    assert_eq!(counts(&app).await, before);
}

/// Every list a request can carry has a documented maximum, checked before its items: one
/// violation naming the list, in the face's envelope, nothing written.
#[tokio::test]
async fn every_list_is_counted_before_its_items() {
    let app = TestApp::spawn_tuned(|c| c.api.max_body_bytes = 8 * 1024 * 1024).await;
    let org = app.org("acme").await;
    let net = app.network().await;
    let scopes = ["security_groups", "address_lists", "roles:create", "roles:update", "hosts:create"];
    let (_, token) = app.token(&org, &scopes).await;
    let before = counts(&app).await;
    let many = |n: usize, f: &dyn Fn(usize) -> Value| Value::Array((0..n).map(f).collect());

    // Native: (path, body, field).
    let native = [
        (
            format!("/api/v1/organizations/{org}/servers"),
            json!({"name": "s", "tags": many(65, &|i| json!(format!("t{i}"))), "interfaces": []}),
            "tags",
        ),
        (
            format!("/api/v1/organizations/{org}/servers"),
            json!({"name": "s", "interfaces": [{"network_id": net,
                "addresses": many(65, &|i| json!(format!("203.0.113.{}", i + 1)))}]}),
            "interfaces[0].addresses",
        ),
        (
            format!("/api/v1/organizations/{org}/api_tokens"),
            json!({"name": "t", "scopes": many(129, &|_| json!("nope"))}),
            "scopes",
        ),
        (
            format!("/api/v1/organizations/{org}/api_tokens"),
            json!({"name": "t", "scopes": [], "allowed_networks": many(65, &|_| json!("10.0.0.0/8"))}),
            "allowed_networks",
        ),
    ];
    for (path, body, field) in native {
        let r = app.post(&path, OPERATOR, body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.body);
        assert_eq!(error_paths(&r), [field], "{}", r.body);
    }

    // Katapult: validation errors (422) naming the list.
    let org_arg = json!({"sub_domain": "acme"});
    let katapult = [
        (
            "organizations/_/security_groups",
            json!({"organization": org_arg, "properties": {"name": "g",
                "associations": many(257, &|_| json!(palisade_api::katapult::ids::render(
                    palisade_api::katapult::ids::SERVER, &rand16())))}}),
            "Members",
        ),
        (
            "organizations/_/security_groups",
            json!({"organization": org_arg, "properties": {"name": "g"},
                "annotations": many(65, &|i| json!({"key": format!("k{i}")}))}),
            "Annotations",
        ),
        (
            "organizations/_/address_lists",
            json!({"organization": org_arg, "properties": {"name": "l"},
                "annotations": many(65, &|i| json!({"key": format!("k{i}")}))}),
            "Annotations",
        ),
    ];
    for (path, body, field) in katapult {
        let r = app.post(&format!("/core/v1/{path}"), &token, body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {}", r.body);
        assert_eq!(r.body["error"]["code"], "validation_error", "{}", r.body);
        let errors = r.body["error"]["detail"]["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{}", r.body);
        assert!(errors[0].as_str().unwrap().starts_with(field), "{}", r.body);
    }
    // A rule's targets, and bulk address-list changes.
    let group = app
        .post(
            "/core/v1/organizations/_/security_groups",
            &token,
            json!({"organization": org_arg, "properties": {"name": "g"}}),
        )
        .await;
    assert_eq!(group.status, StatusCode::OK, "{}", group.body);
    let gid = group.body["security_group"]["id"].as_str().unwrap().to_owned();
    let r = app
        .post(
            &format!("/core/v1/security_groups/{gid}/rules"),
            &token,
            json!({"properties": {"direction": "inbound", "protocol": "TCP",
                "targets": many(65, &|i| json!(format!("10.0.{i}.0/24")))}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.body["error"]["detail"]["errors"].as_array().unwrap().len(), 1, "{}", r.body);
    let list = app
        .post(
            "/core/v1/organizations/_/address_lists",
            &token,
            json!({"organization": org_arg, "properties": {"name": "l"}}),
        )
        .await;
    let lid = list.body["address_list"]["id"].as_str().unwrap().to_owned();
    for key in ["add", "remove"] {
        let r = app
            .post(
                &format!("/core/v1/address_lists/{lid}/entries/bulk"),
                &token,
                json!({ key: many(1001, &|i| json!({"address": format!("10.{}.{}.0/24", i / 256, i % 256)})) }),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{key}: {}", r.body);
        assert_eq!(r.body["error"]["detail"]["errors"].as_array().unwrap().len(), 1, "{}", r.body);
    }
    let entries = app.count("address_list_entries").await;
    assert_eq!(entries, 0);

    // Defined: 400, one error naming the list.
    let rule = |_| json!({"protocol": "TCP", "allowedRoleID": "role-G3TWUQ4FASQEF44MGMTSRBTYKM"});
    let network = palisade_api::defined::ids::render(
        palisade_api::defined::ids::NETWORK,
        net.parse::<palisade_core::id::NetworkId>().unwrap().as_bytes(),
    );
    let defined = [
        ("/v1/roles", json!({"name": "r", "firewallRules": many(10_000, &rule)}), "firewallRules"),
        (
            "/v1/roles",
            json!({"name": "r", "firewallRules": [{"protocol": "TCP",
                "allowedTags": many(65, &|i| json!(format!("k:{i}")))}]}),
            "firewallRules[0].allowedTags",
        ),
        (
            "/v1/hosts",
            json!({"name": "h", "networkID": network,
                "staticAddresses": many(65, &|i| json!(format!("198.51.100.{i}:4242")))}),
            "staticAddresses",
        ),
        (
            "/v1/hosts",
            json!({"name": "h", "networkID": network,
                "configOverrides": many(257, &|i| json!({"key": format!("k{i}"), "value": 1}))}),
            "configOverrides",
        ),
    ];
    for (path, body, field) in defined {
        let r = app.post(path, &token, body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {}", r.body);
        let errors = r.body["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{}", r.body);
        assert_eq!(errors[0]["path"], field, "{}", r.body);
    }
    let after = counts(&app).await;
    assert_eq!(after[0], before[0], "organizations");
    assert_eq!(after[1], before[1] + 1, "only the rule probe's own group");
    assert_eq!(after[2..], before[2..], "servers, interfaces, hosts");
}

fn rand16() -> [u8; 16] {
    *uuid::Uuid::new_v4().as_bytes()
}
