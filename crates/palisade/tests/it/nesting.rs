//! Deeply nested client input (issue 11, item 1's survey): no parser recurses once per level of
//! what a client sends without a bound. JSON bodies stop at serde_json's 128 levels on every
//! face (a 400 in the face's envelope, never a stack overflow, which would abort the whole
//! process); the native, Defined and Hostway query strings are flat (`serde_urlencoded`), so a
//! bracketed key of any depth is one unknown parameter. (The Katapult query string's Rack
//! brackets are bounded in `katapult::args` and tested there.)

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{TestApp, OPERATOR};

const PASSWORD: &str = "correct horse battery";

/// Whether a reply is in the expected face's envelope.
type Envelope = fn(&Value) -> bool;

/// `{"a":{"a":…}}` nested `depth` times, then `1`.
fn deep_json(depth: usize) -> String {
    let mut text = String::with_capacity(depth * 6 + 1);
    for _ in 0..depth {
        text.push_str("{\"a\":");
    }
    text.push('1');
    text.push_str(&"}".repeat(depth));
    text
}

#[tokio::test]
async fn deeply_nested_json_bodies_are_400s_on_every_face() {
    let app = TestApp::spawn().await;
    let org = app.org("acme").await;
    let (_, token) = app.token(&org, &["security_groups", "roles:create"]).await;
    let basic = app.user(&org, "u", PASSWORD).await;
    let body = deep_json(50_000);
    let cases: [(&str, String, String, Envelope); 4] = [
        ("native", "/api/v1/organizations".into(), format!("Bearer {OPERATOR}"), |b| {
            b["error"]["code"] == "invalid_json"
        }),
        ("katapult", "/core/v1/organizations/_/security_groups".into(), format!("Bearer {token}"), |b| {
            b["error"]["code"] == "invalid_json_body"
        }),
        ("defined", "/v1/roles".into(), format!("Bearer {token}"), |b| {
            b["errors"][0]["code"] == "ERR_INVALID_VALUE"
        }),
        ("hostway", format!("/accounts/{org}/os-security-groups"), basic, |b| b["badRequest"]["code"] == 400),
    ];
    for (face, path, authorization, envelope) in cases {
        let res = app
            .client
            .post(format!("{}{path}", app.base))
            .header("authorization", authorization)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{face}");
        let reply: Value = res.json().await.unwrap();
        assert!(envelope(&reply), "{face}: {reply}");
    }
    // The server is still there.
    assert_eq!(app.get("/api/v1/organizations", OPERATOR).await.status, StatusCode::OK);
}

#[tokio::test]
async fn deeply_bracketed_query_keys_are_flat_outside_katapult() {
    let app = TestApp::spawn().await;
    let org = app.org("acme").await;
    let (_, token) = app.token(&org, &["roles:list"]).await;
    let basic = app.user(&org, "u", PASSWORD).await;
    // ~24 KB of brackets, as in the Katapult probe.
    let key = format!("a{}", "[a]".repeat(8_000));
    let query = format!("{key}=1&page=1&pageSize=30");
    for (path, authorization) in [
        (format!("/api/v1/organizations?{query}"), format!("Bearer {OPERATOR}")),
        (format!("/v1/roles?{query}"), format!("Bearer {token}")),
        (format!("/accounts/{org}/os-security-groups?{query}"), basic),
    ] {
        let res = app
            .client
            .get(format!("{}{path}", app.base))
            .header("authorization", authorization)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{}", &path[..40]);
    }
}
