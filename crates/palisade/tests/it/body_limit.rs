//! One request-body limit on every face (issue 11, item 4): a body over `--max-body-bytes`
//! is answered 413 in that face's envelope before anything is parsed, whether its length is
//! declared or it is sent chunked, and nothing is written.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{TestApp, OPERATOR};

const LIMIT: usize = 64 * 1024;

/// The tables an oversized request could have written to.
const TABLES: &[&str] = &["organizations", "security_groups", "servers", "interfaces", "host_attributes"];

async fn counts(app: &TestApp) -> Vec<i64> {
    let mut out = Vec::new();
    for t in TABLES {
        out.push(app.count(t).await);
    }
    out
}

/// A valid JSON object of about 100 KiB: `{"<key>": {"name": "xxxx…"}}`, or unwrapped.
fn big(wrap: Option<&str>) -> Vec<u8> {
    let inner = json!({"name": "x".repeat(100 * 1024), "displayName": "x", "description": ""});
    let body = match wrap {
        Some(key) => json!({ key: inner }),
        None => inner,
    };
    body.to_string().into_bytes()
}

/// One writing route per face, its credential header, and a check of its 413 envelope.
struct Face {
    name: &'static str,
    method: Method,
    path: String,
    authorization: String,
    body: Vec<u8>,
    check: fn(&Value),
}

fn native_413(body: &Value) {
    assert_eq!(body["error"]["code"], "payload_too_large", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains(&LIMIT.to_string()), "{body}");
}

fn katapult_413(body: &Value) {
    assert_eq!(body["error"]["code"], "payload_too_large", "{body}");
    assert!(body["error"]["description"].as_str().unwrap().contains(&LIMIT.to_string()), "{body}");
}

fn defined_413(body: &Value) {
    assert_eq!(body["errors"][0]["code"], "ERR_INVALID_VALUE", "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains(&LIMIT.to_string()), "{body}");
}

fn hostway_413(body: &Value) {
    assert_eq!(body["overLimit"]["code"], 413, "{body}");
    assert!(body["overLimit"]["details"].as_str().unwrap().contains(&LIMIT.to_string()), "{body}");
}

async fn faces(app: &TestApp) -> Vec<Face> {
    let org = app.org("acme").await;
    let (_, token) = app.token(&org, &["security_groups", "roles:create"]).await;
    let basic = app.user(&org, "user", "correct horse battery").await;
    let bearer = |t: &str| format!("Bearer {t}");
    vec![
        Face {
            name: "native",
            method: Method::POST,
            path: "/api/v1/organizations".into(),
            authorization: bearer(OPERATOR),
            body: big(None),
            check: native_413,
        },
        Face {
            name: "katapult",
            method: Method::POST,
            path: "/core/v1/organizations/_/security_groups".into(),
            authorization: bearer(&token),
            body: big(Some("properties")),
            check: katapult_413,
        },
        Face {
            name: "defined",
            method: Method::POST,
            path: "/v1/roles".into(),
            authorization: bearer(&token),
            body: big(None),
            check: defined_413,
        },
        Face {
            name: "hostway",
            method: Method::POST,
            path: format!("/accounts/{org}/os-security-groups"),
            authorization: basic,
            body: big(Some("securityGroup")),
            check: hostway_413,
        },
    ]
}

#[tokio::test]
async fn every_face_refuses_an_oversized_body_in_its_envelope() {
    let app = TestApp::spawn_tuned(|c| c.api.max_body_bytes = LIMIT).await;
    let faces = faces(&app).await;
    let before = counts(&app).await;
    for face in &faces {
        // With Content-Length: refused before a byte of the body is read.
        let res = app
            .client
            .request(face.method.clone(), format!("{}{}", app.base, face.path))
            .header("authorization", &face.authorization)
            .header("content-type", "application/json")
            .body(face.body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE, "{} with Content-Length", face.name);
        let body: Value = res.json().await.unwrap();
        (face.check)(&body);

        // Chunked, no length: refused when the body grows past the limit.
        let head = format!(
            "{} {} HTTP/1.1\r\nAuthorization: {}\r\nContent-Type: application/json",
            face.method, face.path, face.authorization
        );
        let (status, text) = app.chunked(&head, &face.body, 8 * 1024).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{} chunked: {text}", face.name);
        let body: Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{} chunked: not JSON: {text}", face.name));
        (face.check)(&body);
    }
    assert_eq!(counts(&app).await, before, "an oversized request wrote something");

    // Within the limit, chunked bodies are read as usual.
    let head = format!(
        "POST /api/v1/organizations HTTP/1.1\r\nAuthorization: Bearer {OPERATOR}\r\nContent-Type: application/json"
    );
    let small = json!({"name": "Small", "sub_domain": "small"}).to_string();
    let (status, text) = app.chunked(&head, small.as_bytes(), 7).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
}

#[tokio::test]
async fn the_413_comes_before_authentication_and_reveals_nothing() {
    let app = TestApp::spawn_tuned(|c| c.api.max_body_bytes = LIMIT).await;
    // No credential, a wrong one, an unknown route: the same 413 in the path's face.
    for authorization in [None, Some("Bearer nope")] {
        for path in ["/core/v1/organizations/_/security_groups", "/core/v1/nothing/here"] {
            let mut req = app.client.post(format!("{}{path}", app.base)).body(big(None));
            if let Some(a) = authorization {
                req = req.header("authorization", a);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
            katapult_413(&res.json().await.unwrap());
        }
    }
}
