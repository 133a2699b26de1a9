//! What operators see: one JSON log line per request with its fields (route template, never the
//! raw path or a query value or a credential), `X-Request-ID` on every face, the redacted
//! start-up configuration; and `/metrics` counters that move.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::binary::Server;

const ADMIN: &str = "palop_observability-admin-token-secret";
const QUERY_SECRET: &str = "pal_querystring-secret-value";
const WRONG_TOKEN: &str = "pal_wrong-authorization-header-secret";

/// The access lines (`palisade::access`) of the output, parsed.
fn access_lines(output: &str) -> Vec<Value> {
    output
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "palisade::access")
        .collect()
}

#[tokio::test]
async fn json_request_log_lines_carry_their_fields_and_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_logging(dir.path(), &["--log-format", "json", "--admin-token", ADMIN], "info");
    let base = server.ready_url();
    let client = reqwest::Client::new();

    // An organization and its token, so a request has a known organization.
    let org = client
        .post(format!("{base}/api/v1/organizations"))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "Obs", "sub_domain": "obs"}))
        .send()
        .await
        .unwrap();
    assert_eq!(org.status(), StatusCode::CREATED);
    let org_id = org.json::<Value>().await.unwrap()["organization"]["id"].as_str().unwrap().to_owned();
    let token = client
        .post(format!("{base}/api/v1/organizations/{org_id}/api_tokens"))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "t", "scopes": ["organizations:read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), StatusCode::CREATED);
    let secret = token.json::<Value>().await.unwrap()["secret"].as_str().unwrap().to_owned();

    // One request per face, each with its own id; (face, route, status) expected.
    let native = format!("/api/v1/organizations/{org_id}?token={QUERY_SECRET}&page=2");
    let cases: Vec<(&str, String, Option<&str>, &str, &str, u16)> = vec![
        ("obs-native", native, Some(secret.as_str()), "native", "/api/v1/organizations/{id}", 200),
        (
            "obs-katapult",
            "/core/v1/organizations".into(),
            Some(WRONG_TOKEN),
            "katapult",
            "/core/v1/organizations",
            403,
        ),
        (
            "obs-defined",
            format!("/v1/roles?token={QUERY_SECRET}"),
            Some(WRONG_TOKEN),
            "defined",
            "/v1/roles",
            401,
        ),
        (
            "obs-hostway",
            "/accounts/acc/os-security-groups".into(),
            Some(WRONG_TOKEN),
            "hostway",
            "/accounts/{account_id}/os-security-groups",
            401,
        ),
        ("obs-zstack", "/zstack/v1/no-such-api".into(), None, "zstack", "unmatched", 404),
        ("obs-other", "/healthz".into(), None, "other", "/healthz", 200),
    ];
    for (id, path, token, ..) in &cases {
        let mut request = client.get(format!("{base}{path}")).header("x-request-id", *id);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.headers()["x-request-id"], *id, "{path}: the client's id is echoed");
    }
    // An id that is not sane is replaced by a fresh UUID.
    let response =
        client.get(format!("{base}/healthz")).header("x-request-id", "has space").send().await.unwrap();
    let fresh = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&fresh).is_ok(), "{fresh}");
    // Without one, the server makes one (on every face; here Hostway).
    let response = client.get(format!("{base}/accounts/acc/os-security-groups")).send().await.unwrap();
    assert!(response.headers().contains_key("x-request-id"));

    server.wait_for(&format!("\"request_id\":\"{fresh}\""));
    let output = server.output();
    let lines = access_lines(&output);
    for (id, path, _, face, route, status) in &cases {
        let line = lines
            .iter()
            .find(|l| l["fields"]["request_id"] == *id)
            .unwrap_or_else(|| panic!("no access line for {id}: {output}"));
        let fields = &line["fields"];
        assert_eq!(line["level"], "INFO", "{line}");
        assert_eq!(fields["method"], "GET", "{line}");
        assert_eq!(fields["face"], *face, "{path}: {line}");
        assert_eq!(fields["route"], *route, "{path}: {line}");
        assert_eq!(fields["status"], *status, "{path}: {line}");
        assert_eq!(fields["client"], "127.0.0.1", "{line}");
        assert!(fields["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{line}");
    }
    let native_line = lines.iter().find(|l| l["fields"]["request_id"] == "obs-native").unwrap();
    assert_eq!(native_line["fields"]["organization_id"], org_id.as_str(), "{native_line}");

    // The start-up configuration, with the admin token redacted.
    let config = output.lines().find(|l| l.contains("effective configuration")).expect("config line");
    assert!(config.contains("[redacted]"), "{config}");
    // Never a secret: not the query's, not an Authorization header's, not the admin token.
    for secret in [QUERY_SECRET, WRONG_TOKEN, ADMIN, secret.as_str()] {
        assert!(!output.contains(secret), "{secret} leaked into the log: {output}");
    }
    server.terminate();
}
