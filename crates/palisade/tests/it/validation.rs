//! Bad input on every writing route: a 4xx naming the offending field, never a 500, and
//! nothing written.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{assert_error, error_paths, TestApp, OPERATOR};

/// Every table a failed request could have touched.
const TABLES: &[&str] = &[
    "organizations",
    "api_tokens",
    "users",
    "data_centers",
    "networks",
    "network_prefixes",
    "servers",
    "server_tags",
    "interfaces",
    "ip_addresses",
    "released_addresses",
    "network_reserved",
];

async fn counts(app: &TestApp) -> Vec<i64> {
    let mut out = Vec::new();
    for t in TABLES {
        out.push(app.count(t).await);
    }
    out
}

#[tokio::test]
async fn malformed_bodies_on_every_writing_route() {
    let app = TestApp::spawn().await;
    let org = app.org("acme").await;
    let routes = [
        (Method::POST, "/api/v1/organizations".to_owned()),
        (Method::PATCH, format!("/api/v1/organizations/{org}")),
        (Method::POST, format!("/api/v1/organizations/{org}/api_tokens")),
        (Method::POST, format!("/api/v1/organizations/{org}/users")),
        (Method::POST, "/api/v1/data_centers".to_owned()),
        (Method::POST, "/api/v1/networks".to_owned()),
        (Method::POST, format!("/api/v1/organizations/{org}/servers")),
    ];
    let before = counts(&app).await;
    let oversized = {
        let mut body = b"{\"name\":\"".to_vec();
        body.extend(std::iter::repeat_n(b'a', 2 * 1024 * 1024));
        body.extend(b"\"}");
        body
    };
    for (method, path) in &routes {
        let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
            ("application/json", b"{\"name\": ".to_vec(), StatusCode::BAD_REQUEST, "invalid_json"),
            ("application/json", b"[1,2,3]".to_vec(), StatusCode::BAD_REQUEST, "invalid_json"),
            ("application/json", b"".to_vec(), StatusCode::BAD_REQUEST, "invalid_json"),
            (
                "application/json",
                b"{\"name\":\"\xff\xfe\"}".to_vec(),
                StatusCode::BAD_REQUEST,
                "invalid_json",
            ),
            ("application/json", b"{} trailing".to_vec(), StatusCode::BAD_REQUEST, "invalid_json"),
            (
                "application/json",
                b"{\"unexpected_field\": 1}".to_vec(),
                StatusCode::BAD_REQUEST,
                "invalid_json",
            ),
            ("application/json", oversized.clone(), StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ("text/plain", b"{}".to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        ];
        for (content_type, body, status, code) in cases {
            let r = app.raw(method.clone(), path, OPERATOR, content_type, body).await;
            assert_error(&r, status, code);
            // In JSON's words: no name of a Rust type (`struct CreateOrganizationRequest`).
            let said = r.body.to_string();
            for rust in ["struct", "Request", "Wire", "u32", "u64", "usize"] {
                assert!(!said.contains(rust), "{method} {path}: {said}");
            }
        }
        for body in [&b"[]"[..], b"[1,2,3]"] {
            let r = app.raw(method.clone(), path, OPERATOR, "application/json", body.to_vec()).await;
            assert_eq!(r.body["error"]["message"], "invalid type: array, expected an object", "{}", r.body);
        }
    }
    assert_eq!(counts(&app).await, before, "a refused request wrote something");
}

#[tokio::test]
async fn field_errors_name_their_paths() {
    let app = TestApp::spawn().await;
    let org = app.org("acme").await;
    let net = app.network().await;
    let before = counts(&app).await;
    let long = "x".repeat(256);
    let cases = [
        ("/api/v1/organizations".to_owned(), json!({"name": "", "sub_domain": "ok"}), vec!["name"]),
        (
            "/api/v1/organizations".to_owned(),
            json!({"name": long, "sub_domain": "Not Valid"}),
            vec!["name", "sub_domain"],
        ),
        ("/api/v1/organizations".to_owned(), json!({"name": 5, "sub_domain": "ok"}), vec!["name"]),
        ("/api/v1/organizations".to_owned(), json!({"name": "x"}), vec!["sub_domain"]),
        (
            format!("/api/v1/organizations/{org}/servers"),
            json!({"name": "s", "interfaces": [{"addresses": []}]}),
            vec!["interfaces[0].network_id"],
        ),
        (
            format!("/api/v1/organizations/{org}/api_tokens"),
            json!({"name": "t", "scopes": "all"}),
            vec!["scopes"],
        ),
        (
            format!("/api/v1/organizations/{org}/api_tokens"),
            json!({"name": "t", "scopes": [], "allowed_networks": ["10.0.0.0/33", "nope"]}),
            vec!["allowed_networks[0]", "allowed_networks[1]"],
        ),
        (
            format!("/api/v1/organizations/{org}/api_tokens"),
            json!({"name": "t", "scopes": [], "expires_at": "tomorrow"}),
            vec!["expires_at"],
        ),
        (
            "/api/v1/data_centers".to_owned(),
            json!({"name": "L", "permalink": "l", "country": {"name": "UK", "iso_code2": "gb", "iso_code3": "GB", "time_zone": "Europe London", "eu": false}}),
            vec!["country.iso_code2", "country.iso_code3", "country.time_zone"],
        ),
        (
            "/api/v1/networks".to_owned(),
            json!({"name": "N", "data_center_id": "not-a-uuid", "prefixes": []}),
            vec!["data_center_id"],
        ),
        (
            "/api/v1/networks".to_owned(),
            json!({"name": "N", "data_center_id": uuid::Uuid::nil(), "prefixes": ["203.0.113.7/24", "banana", "2001:db8::/129"]}),
            vec!["prefixes[0]", "prefixes[1]", "prefixes[2]", "data_center_id"],
        ),
        (
            format!("/api/v1/organizations/{org}/servers"),
            json!({"name": "s", "interfaces": [{"network_id": net, "addresses": ["203.0.113.0", "198.51.100.1", "zzz", "203.0.113.255"]}]}),
            vec![
                "interfaces[0].addresses[0]",
                "interfaces[0].addresses[1]",
                "interfaces[0].addresses[2]",
                "interfaces[0].addresses[3]",
            ],
        ),
        (
            format!("/api/v1/organizations/{org}/servers"),
            json!({"name": "s", "interfaces": [{"network_id": net, "addresses": ["203.0.113.9", "203.0.113.9"]}], "tags": ["a", "a", ""]}),
            vec!["tags[1]", "tags[2]", "interfaces[0].addresses[1]"],
        ),
        (
            format!("/api/v1/organizations/{org}/servers"),
            json!({"name": "s", "interfaces": [{"network_id": net, "addresses": [1]}]}),
            vec!["interfaces[0].addresses[0]"],
        ),
    ];
    for (path, body, paths) in cases {
        let r = app.post(&path, OPERATOR, body.clone()).await;
        assert!(r.status.is_client_error(), "{path} {body}: {} {}", r.status, r.body);
        assert_ne!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(error_paths(&r), paths, "{path} {body}: {}", r.body);
    }
    let r = app.patch(&format!("/api/v1/organizations/{org}"), OPERATOR, json!({"name": ""})).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    assert_eq!(counts(&app).await, before, "a refused request wrote something");
}

#[tokio::test]
async fn bad_query_parameters() {
    let app = TestApp::spawn().await;
    for q in ["page=0", "per_page=0", "per_page=201", "page=abc", "per_page=-1"] {
        let r = app.get(&format!("/api/v1/organizations?{q}"), OPERATOR).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}: {}", r.body);
        assert!(!error_paths(&r).is_empty(), "{q}: {}", r.body);
    }
}
