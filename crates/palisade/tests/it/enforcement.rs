//! The control plane's side of enforcement over HTTP: agent tokens (made by the operator, bound
//! to one server, refused everything but that server's policy and report), the long poll for a
//! server's policy (answered when *its* policy changes, and only then), and the reports that
//! show desired vs applied policy. Runs on both backends; `enforcement_netns.rs` runs real
//! agents against it.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::policy_engine::{katapult_id, World};
use crate::support::{assert_error, OPERATOR};

/// A new agent token for `server`: its secret.
pub(crate) async fn agent_token(w: &World, server: &str) -> String {
    let r = w
        .app
        .post(&format!("/api/v1/servers/{server}/agent_tokens"), OPERATOR, json!({"name": "agent"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["api_token"]["scopes"], json!(["agent"]));
    assert_eq!(r.body["api_token"]["server_id"], json!(server));
    r.body["secret"].as_str().unwrap().to_owned()
}

/// `GET /api/v1/servers/{server}/policy` with the long poll's parameters: status, `ETag`,
/// `X-Palisade-Revision`, body.
async fn poll(
    w: &World,
    token: &str,
    server: &str,
    query: &str,
    known: Option<&str>,
) -> (StatusCode, Option<String>, Option<u64>, Value) {
    let mut req =
        w.app.client.get(format!("{}/api/v1/servers/{server}/policy{query}", w.app.base)).bearer_auth(token);
    if let Some(digest) = known {
        req = req.header("if-none-match", format!("\"{digest}\""));
    }
    let res = req.send().await.unwrap();
    let header = |name: &str| res.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    let (status, etag, revision) =
        (res.status(), header("etag"), header("x-palisade-revision").map(|r| r.parse().unwrap()));
    let text = res.text().await.unwrap();
    (status, etag, revision, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
}

/// A long poll for `server`'s policy after `revision`, holding `digest`, held in the
/// background: its status, body and when it was answered.
fn hold(
    w: &World,
    token: &str,
    server: &str,
    revision: u64,
    digest: &str,
    wait: u64,
) -> tokio::task::JoinHandle<(StatusCode, Value, Instant)> {
    let url = format!("{}/api/v1/servers/{server}/policy?after_revision={revision}&wait={wait}", w.app.base);
    let request = w.app.client.get(url).bearer_auth(token).header("if-none-match", format!("\"{digest}\""));
    tokio::spawn(async move {
        let res = request.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        let body = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() };
        (status, body, Instant::now())
    })
}

/// The policy an agent has: revision and digest.
fn held_policy(policy: &Value) -> (u64, String) {
    (policy["revision"].as_u64().unwrap(), policy["digest"].as_str().unwrap().to_owned())
}

/// A Katapult group on `server` with one inbound TCP rule on `port` from `from`.
pub(crate) async fn katapult_group(w: &World, name: &str, server: &str, port: u16, from: &str) -> String {
    let group = w
        .katapult(
            Method::POST,
            "organizations/_/security_groups",
            json!({"organization": {"sub_domain": "acme"}, "properties": {"name": name,
                "associations": [katapult_id("vm", server)], "allow_all_inbound": false, "allow_all_outbound": true}}),
        )
        .await;
    let sg = group["security_group"]["id"].as_str().unwrap().to_owned();
    let rule = json!({"properties": {"direction": "inbound", "protocol": "TCP", "ports": port.to_string(), "targets": [from]}});
    w.katapult(Method::POST, &format!("security_groups/{sg}/rules"), rule).await;
    sg
}

#[tokio::test]
async fn agent_tokens_read_only_their_servers_policy_and_report_it() {
    let w = World::new().await;
    let web = w.server("web", "203.0.113.10").await;
    let db = w.server("db", "203.0.113.20").await;
    let agent = agent_token(&w, &web).await;

    // Only the operator makes them; an organization's token cannot hold `agent`.
    let r = w.app.post(&format!("/api/v1/servers/{web}/agent_tokens"), &w.token, json!({"name": "x"})).await;
    assert_error(&r, StatusCode::FORBIDDEN, "operator_only");
    let r = w
        .app
        .post(
            &format!("/api/v1/organizations/{}/api_tokens", w.org),
            OPERATOR,
            json!({"name": "x", "scopes": ["agent"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.to_string().contains("only agent tokens hold `agent`"), "{}", r.body);
    let r = w
        .app
        .post(&format!("/api/v1/servers/{}/agent_tokens", uuid::Uuid::nil()), OPERATOR, json!({"name": "x"}))
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");

    // Its own server's policy, by the server alone or with its organization, with an ETag.
    let (status, etag, _, policy) = poll(&w, &agent, &web, "", None).await;
    assert_eq!(status, StatusCode::OK, "{policy}");
    let digest = policy["digest"].as_str().unwrap().to_owned();
    assert_eq!(etag, Some(format!("\"{digest}\"")));
    assert_eq!(policy["server_id"], json!(web));
    let r = w.app.get(&format!("/api/v1/organizations/{}/servers/{web}/policy", w.org), &agent).await;
    assert_eq!((r.status, r.body["digest"].as_str()), (StatusCode::OK, Some(digest.as_str())));
    // The same policy again: 304 to a conditional request.
    let (status, _, revision, _) = poll(&w, &agent, &web, "", Some(&digest)).await;
    assert_eq!((status, revision), (StatusCode::NOT_MODIFIED, policy["revision"].as_u64()));

    // Nothing else: another server is not found, every other operation refused.
    let (status, _, _, body) = poll(&w, &agent, &db, "", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let r = w.app.get(&format!("/api/v1/servers/{db}/enforcement"), &agent).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    let r = w
        .app
        .post(
            &format!("/api/v1/organizations/{}/flow_checks", w.org),
            &agent,
            json!({"source": "203.0.113.20", "destination": "203.0.113.10", "protocol": "tcp", "port": 22}),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "agent_token");
    let r = w.app.get(&format!("/api/v1/organizations/{}/servers/{web}", w.org), &agent).await;
    assert_error(&r, StatusCode::FORBIDDEN, "agent_token");
    let r = w
        .app
        .request(
            Method::GET,
            "/core/v1/organizations/_/security_groups?organization[sub_domain]=acme",
            Some(&agent),
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("permission_denied")),
        "{}",
        r.body
    );

    // Its report: in sync once it names the digest of the desired policy.
    let r = w.app.get(&format!("/api/v1/servers/{web}/enforcement"), OPERATOR).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["applied_revision"], Value::Null);
    assert_eq!(r.body["in_sync"], false);
    let report = json!({"applied_revision": policy["revision"], "applied_digest": digest});
    let r = w
        .app
        .request(
            Method::PUT,
            &format!("/api/v1/servers/{web}/enforcement"),
            Some(&agent),
            Some(report.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["in_sync"], true, "{}", r.body);
    assert_eq!(r.body["desired_digest"], json!(digest));
    // A failure keeps what was applied.
    let failed = json!({"error": "nft: Operation not permitted"});
    let r = w
        .app
        .request(Method::PUT, &format!("/api/v1/servers/{web}/enforcement"), Some(&agent), Some(failed))
        .await;
    assert_eq!(
        (r.body["last_error"].as_str(), r.body["applied_digest"].as_str()),
        (Some("nft: Operation not permitted"), Some(digest.as_str()))
    );
    // Only an agent reports; halves of a report are refused.
    let r = w
        .app
        .request(Method::PUT, &format!("/api/v1/servers/{web}/enforcement"), Some(&w.token), Some(report))
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "scope_not_granted");
    let refused = [
        json!({"applied_revision": 3}),
        json!({"applied_revision": 9_223_372_036_854_775_808_u64, "applied_digest": "d"}),
    ];
    for half in refused {
        let path = format!("/api/v1/servers/{web}/enforcement");
        let r = w.app.request(Method::PUT, &path, Some(&agent), Some(half)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    }

    // A change to the server's policy puts it out of sync, as the operator sees it.
    katapult_group(&w, "ssh", &web, 22, "203.0.113.20").await;
    let r = w.app.get(&format!("/api/v1/servers/{web}/enforcement"), &w.token).await;
    assert_eq!((r.status, &r.body["in_sync"]), (StatusCode::OK, &json!(false)), "{}", r.body);

    // Listed with its server; gone with it.
    let r = w.app.get(&format!("/api/v1/organizations/{}/api_tokens", w.org), OPERATOR).await;
    let listed = r.body["api_tokens"].as_array().unwrap();
    assert!(listed.iter().any(|t| t["server_id"] == json!(web)), "{}", r.body);
    let r = w.app.delete(&format!("/api/v1/organizations/{}/servers/{web}", w.org), OPERATOR).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let (status, _, _, _) = poll(&w, &agent, &web, "", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_long_poll_answers_when_its_servers_policy_changes_and_only_then() {
    let w = World::new().await;
    let web = w.server("web", "203.0.113.10").await;
    let db = w.server("db", "203.0.113.20").await;
    let agent = agent_token(&w, &web).await;
    let web_sg = katapult_group(&w, "web", &web, 22, "203.0.113.20").await;
    let (_, _, _, policy) = poll(&w, &agent, &web, "", None).await;
    let (revision, digest) = held_policy(&policy);

    // An older revision is answered at once.
    if revision > 0 {
        let (status, _, _, _) =
            poll(&w, &agent, &web, &format!("?after_revision={}", revision - 1), None).await;
        assert_eq!(status, StatusCode::OK);
    }

    let held = hold(&w, &agent, &web, revision, &digest, 20);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A change of another server's policy moves the revision, not this poll.
    katapult_group(&w, "db-only", &db, 5432, "203.0.113.10").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!held.is_finished(), "a change that leaves the server's policy alone answered its poll");
    // A change of its own answers it at once.
    let changed_at = Instant::now();
    let https = json!({"properties": {"direction": "inbound", "protocol": "TCP", "ports": "443", "targets": ["203.0.113.20"]}});
    w.katapult(Method::POST, &format!("security_groups/{web_sg}/rules"), https).await;
    let (status, body, answered_at) =
        tokio::time::timeout(Duration::from_secs(5), held).await.unwrap().unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["revision"].as_u64().unwrap() >= revision + 2, "{body}");
    assert_ne!(body["digest"], json!(digest));
    assert_eq!(body["ingress"][1]["ports"], json!([{"from": 443, "to": 443}]), "{body}");
    let latency = answered_at.duration_since(changed_at);
    assert!(latency < Duration::from_secs(1), "the change took {latency:?} to reach the poll");

    // Nothing more changes: 304 at the end of `wait`, naming the revision it stands for.
    let now = body["revision"].as_u64().unwrap();
    let digest = body["digest"].as_str().unwrap();
    let started = Instant::now();
    let (status, etag, header, _) =
        poll(&w, &agent, &web, &format!("?after_revision={now}&wait=1"), Some(digest)).await;
    assert_eq!((status, header), (StatusCode::NOT_MODIFIED, Some(now)));
    assert_eq!(etag, Some(format!("\"{digest}\"")));
    assert!(started.elapsed() >= Duration::from_millis(900), "held {:?}", started.elapsed());

    // Bad parameters, in the native envelope.
    for query in
        ["?after_revision=x", "?after_revision=1&wait=301", "?wait=-1", "?after_revision=9223372036854775808"]
    {
        let r = w.app.get(&format!("/api/v1/servers/{web}/policy{query}"), &agent).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {}", r.body);
        assert!(r.body["error"]["code"].is_string(), "{query}: {}", r.body);
    }
}

/// A server's policy changes without any of its own groups changing: a group its rule names
/// gains a member (the rule's remote set grows), or its group is renamed (the name is shown).
/// A change to that named group's rules leaves its policy, and its poll, alone.
#[tokio::test]
async fn a_long_poll_answers_changes_of_what_its_policy_names_too() {
    let w = World::new().await;
    let web = w.server("web", "203.0.113.10").await;
    let db = w.server("db", "203.0.113.20").await;
    let worker = w.server("worker", "203.0.113.30").await;
    let front = katapult_group(&w, "front", &web, 80, "198.51.100.7").await;
    let back = katapult_group(&w, "back", &db, 5432, &front).await;
    let agent = agent_token(&w, &db).await;
    let (_, _, _, policy) = poll(&w, &agent, &db, "", None).await;
    let (revision, digest) = held_policy(&policy);
    let set = |p: &Value| p["sets"][p["ingress"][0]["remote_set"].as_str().unwrap()].clone();
    assert_eq!(set(&policy), json!(["203.0.113.10/32"]), "{policy}");

    let held = hold(&w, &agent, &db, revision, &digest, 20);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let https = json!({"properties": {"direction": "inbound", "protocol": "TCP", "ports": "443", "targets": ["198.51.100.7"]}});
    w.katapult(Method::POST, &format!("security_groups/{front}/rules"), https).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!held.is_finished(), "a rule of the named group is not part of this server's policy");

    let members =
        json!({"properties": {"associations": [katapult_id("vm", &web), katapult_id("vm", &worker)]}});
    w.katapult(Method::PATCH, &format!("security_groups/{front}"), members).await;
    let (status, body, _) = tokio::time::timeout(Duration::from_secs(5), held).await.unwrap().unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(set(&body), json!(["203.0.113.10/32", "203.0.113.30/32"]), "{body}");
    let (revision, digest) = held_policy(&body);

    let held = hold(&w, &agent, &db, revision, &digest, 20);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let renamed = json!({"properties": {"name": "backend"}});
    w.katapult(Method::PATCH, &format!("security_groups/{back}"), renamed).await;
    let (status, body, _) = tokio::time::timeout(Duration::from_secs(5), held).await.unwrap().unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ingress"][0]["group_name"], "backend", "{body}");
    assert_ne!(body["digest"], json!(digest));
}

/// A change wakes every held poll of the organization; they share one read of the database
/// (the snapshot the first of them compiles), rather than each taking a pooled connection to
/// read the revision: ten thousand polls once waited two seconds for a connection that way,
/// and so did every other request.
#[tokio::test]
async fn woken_polls_share_one_read_of_the_database() {
    const POLLS: usize = 40;
    let w = World::new().await;
    let web = w.server("web", "203.0.113.10").await;
    let db = w.server("db", "203.0.113.20").await;
    let web_sg = katapult_group(&w, "web", &web, 22, "203.0.113.20").await;
    katapult_group(&w, "db", &db, 5432, "203.0.113.10").await;
    let agent = agent_token(&w, &db).await;
    let (_, _, _, policy) = poll(&w, &agent, &db, "", None).await;
    let (revision, digest) = held_policy(&policy);
    let held: Vec<_> = (0..POLLS).map(|_| hold(&w, &agent, &db, revision, &digest, 20)).collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let before = crate::observability::scrape(&w.app).await;
    let https = json!({"properties": {"direction": "inbound", "protocol": "TCP", "ports": "443", "targets": ["203.0.113.20"]}});
    w.katapult(Method::POST, &format!("security_groups/{web_sg}/rules"), https).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = crate::observability::scrape(&w.app).await;
    assert!(held.iter().all(|h| !h.is_finished()), "a change to web's policy answered db's polls");
    let acquired = |text: &str| crate::observability::series(text, "palisade_db_pool_acquired_total", &[]);
    // The write and its own reads, and one snapshot for every poll: far fewer than one each.
    let reads = acquired(&after) - acquired(&before);
    assert!(reads < (POLLS / 4) as f64, "{reads} database handles for {POLLS} woken polls");
    for h in held {
        h.abort();
    }
}

#[tokio::test]
async fn stopping_the_server_answers_held_long_polls_at_once() {
    let w = World::new().await;
    let web = w.server("web", "203.0.113.10").await;
    let agent = agent_token(&w, &web).await;
    let (_, _, _, policy) = poll(&w, &agent, &web, "", None).await;
    let (revision, digest) = held_policy(&policy);
    let held = hold(&w, &agent, &web, revision, &digest, 120);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    w.app.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the shutdown waited {:?} for a long poll",
        started.elapsed()
    );
    let (status, _, _) = tokio::time::timeout(Duration::from_secs(5), held).await.unwrap().unwrap();
    assert_eq!(status, StatusCode::NOT_MODIFIED, "the held poll is answered with what it has");
}
