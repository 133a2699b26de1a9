//! What operators see: one JSON log line per request with its fields (route template, never the
//! raw path or a query value or a credential), `X-Request-ID` on every face, the redacted
//! start-up configuration; and `/metrics` counters that move.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::binary::Server;

const ADMIN: &str = "palop_observability-admin-token-secret";
const QUERY_SECRET: &str = "pal_querystring-secret-value";
const WRONG_TOKEN: &str = "pal_wrong-authorization-header-secret";

/// One request per face: its id, path, token, and the face, route and status its line shows.
type Case<'a> = (&'a str, String, Option<&'a str>, &'a str, &'a str, u16);

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
    // No RUST_LOG: the default filter, which keeps sqlx's statement log out.
    let server = Server::start_logging(dir.path(), &["--log-format", "json", "--admin-token", ADMIN], "");
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
    let cases: Vec<Case> = vec![
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

    // SQL statements are not logged by default.
    assert!(!output.contains("\"target\":\"sqlx::query\""), "{output}");

    // The start-up configuration, with the admin token redacted.
    let config = output.lines().find(|l| l.contains("effective configuration")).expect("config line");
    assert!(config.contains("[redacted]"), "{config}");
    // Never a secret: not the query's, not an Authorization header's, not the admin token.
    for secret in [QUERY_SECRET, WRONG_TOKEN, ADMIN, secret.as_str()] {
        assert!(!output.contains(secret), "{secret} leaked into the log: {output}");
    }
    server.terminate();
}

/// The value of the series `name` whose labels include every one of `labels` (0 when absent:
/// a counter not yet incremented is not rendered).
pub(crate) fn series(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            let (metric, rest) = key.split_once('{').unwrap_or((key, ""));
            (metric == name && labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
                .then(|| value.parse::<f64>().unwrap())
        })
        .sum()
}

pub(crate) async fn scrape(app: &crate::support::TestApp) -> String {
    let res = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    res.text().await.unwrap()
}

#[tokio::test]
async fn metrics_counters_move_and_gauges_are_read_at_scrape_time() {
    use crate::enforcement::{agent_token, katapult_group};
    use crate::policy_engine::World;
    use crate::support::{TestApp, OPERATOR};
    use reqwest::Method;

    let app = TestApp::spawn_tuned(|c| c.api.requests_per_minute = 5).await;
    let w = World::on(app).await;
    let web = w.server("web", "203.0.113.10").await;
    let agent = agent_token(&w, &web).await;
    katapult_group(&w, "first", &web, 22, "198.51.100.0/24").await;
    // The agent applies the policy of now; a later change puts it one revision or more behind.
    let policy = w.app.get(&format!("/api/v1/servers/{web}/policy"), &agent).await;
    let applied = policy.body["revision"].as_u64().unwrap();
    let report = json!({"applied_revision": applied, "applied_digest": policy.body["digest"]});
    let r = w
        .app
        .request(Method::PUT, &format!("/api/v1/servers/{web}/enforcement"), Some(&agent), Some(report))
        .await;
    assert!(r.status.is_success(), "{}", r.body);
    katapult_group(&w, "second", &web, 443, "198.51.100.0/24").await;

    let before = scrape(&w.app).await;
    let ok = [("face", "native"), ("route", "/api/v1/organizations"), ("method", "GET"), ("status", "200")];
    let missing = [("face", "native"), ("route", "unmatched"), ("method", "GET"), ("status", "404")];
    let refused =
        [("face", "native"), ("route", "/api/v1/organizations"), ("method", "GET"), ("status", "401")];
    assert_eq!(w.app.get("/api/v1/organizations", OPERATOR).await.status, StatusCode::OK);
    assert_eq!(w.app.get("/api/v1/organizations", OPERATOR).await.status, StatusCode::OK);
    assert_eq!(w.app.get("/api/v1/no-such-thing", OPERATOR).await.status, StatusCode::NOT_FOUND);
    assert_eq!(w.app.get("/api/v1/organizations", "pal_wrong_token").await.status, StatusCode::UNAUTHORIZED);
    // Katapult counts requests per token: a fresh one, past its 5 a minute.
    let (_, limited) = w.app.token(&w.org, &["organizations:read"]).await;
    let statuses: Vec<_> =
        futures_statuses(&w.app, "/core/v1/organizations/_?organization[sub_domain]=acme", &limited, 7).await;
    assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    let after = scrape(&w.app).await;

    let delta =
        |name: &str, labels: &[(&str, &str)]| series(&after, name, labels) - series(&before, name, labels);
    assert_eq!(delta("palisade_http_requests_total", &ok), 2.0, "{after}");
    assert_eq!(delta("palisade_http_requests_total", &missing), 1.0, "{after}");
    assert_eq!(delta("palisade_http_requests_total", &refused), 1.0, "{after}");
    let timed = [("face", "native"), ("route", "/api/v1/organizations"), ("method", "GET")];
    assert_eq!(delta("palisade_http_request_duration_seconds_count", &timed), 3.0, "{after}");
    assert!(after.contains("palisade_http_request_duration_seconds_bucket{"), "real buckets: {after}");
    assert!(delta("palisade_authentication_failures_total", &[("face", "native")]) >= 1.0, "{after}");
    let limited_series = [("face", "katapult"), ("limit", "requests")];
    assert!(delta("palisade_rate_limited_total", &limited_series) >= 1.0, "{after}");
    let katapult_429 =
        [("face", "katapult"), ("route", "/core/v1/organizations/:organization"), ("status", "429")];
    assert!(delta("palisade_http_requests_total", &katapult_429) >= 1.0, "{after}");

    // Gauges, read at scrape time.
    assert!(after.contains("palisade_db_pool_connections{state=\"idle\"}"), "{after}");
    assert!(after.contains("palisade_db_pool_connections{state=\"in_use\"}"), "{after}");
    // Every request above opened at least one read handle; waits add up from zero.
    assert!(delta("palisade_db_pool_acquired_total", &[]) >= 4.0, "{after}");
    assert!(series(&after, "palisade_db_pool_acquire_wait_microseconds_total", &[]) >= 0.0, "{after}");
    assert!(after.contains("palisade_db_pool_acquire_wait_microseconds_total "), "{after}");
    if std::env::var("PALISADE_TEST_BACKEND").as_deref() != Ok("postgres") {
        assert!(after.contains("palisade_sqlite_write_queue_depth "), "{after}");
    }
    let revision = series(&after, "palisade_policy_revision", &[("organization", &w.org)]);
    assert!(revision > 0.0, "{after}");
    let lag =
        series(&after, "palisade_server_policy_revision_lag", &[("organization", &w.org), ("server", &web)]);
    assert!(lag >= 1.0, "{after}");
    #[allow(clippy::cast_precision_loss)]
    let expected_lag = revision - applied as f64;
    assert_eq!(lag, expected_lag, "{after}");

    // Address use per prefix: the web server's one address of the /24 (254 host addresses),
    // none yet of the /64; one more taken moves both numbers.
    let v4 = |state| [("network", w.network.as_str()), ("prefix", "203.0.113.0/24"), ("state", state)];
    assert_eq!(series(&after, "palisade_ipam_addresses", &v4("used")), 1.0, "{after}");
    assert_eq!(series(&after, "palisade_ipam_addresses", &v4("free")), 253.0, "{after}");
    let v6 = |state| [("network", w.network.as_str()), ("prefix", "2001:db8::/64"), ("state", state)];
    assert!(after.contains("palisade_ipam_addresses{network="), "{after}");
    assert_eq!(series(&after, "palisade_ipam_addresses", &v6("used")), 0.0, "{after}");
    assert!(series(&after, "palisade_ipam_addresses", &v6("free")) > 1.8e19, "2^64 - 1: {after}");
    w.server("db", "203.0.113.20").await;
    let later = scrape(&w.app).await;
    assert_eq!(series(&later, "palisade_ipam_addresses", &v4("used")), 2.0, "{later}");
    assert_eq!(series(&later, "palisade_ipam_addresses", &v4("free")), 252.0, "{later}");
}

/// `n` GETs of `path` with `token`, one after another: their statuses.
async fn futures_statuses(
    app: &crate::support::TestApp,
    path: &str,
    token: &str,
    n: usize,
) -> Vec<StatusCode> {
    let mut statuses = Vec::new();
    for _ in 0..n {
        let res = app.client.get(format!("{}{path}", app.base)).bearer_auth(token).send().await.unwrap();
        statuses.push(res.status());
    }
    statuses
}

#[tokio::test]
async fn a_metrics_token_guards_the_scrape_when_set() {
    let app =
        crate::support::TestApp::spawn_tuned(|c| c.api.metrics_token = Some("scrape-secret".into())).await;
    let url = format!("{}/metrics", app.base);
    assert_eq!(app.client.get(&url).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let wrong = app.client.get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let right = app.client.get(&url).bearer_auth("scrape-secret").send().await.unwrap();
    assert_eq!(right.status(), StatusCode::OK);
}
