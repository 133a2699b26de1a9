//! Failed-authentication limits (per source address, per username) on every face, and the cache
//! of successful password checks, which must never outlive a change of the user or its
//! organization. Sources other than 127.0.0.1 are other loopback addresses (127.0.0.0/8).

use std::net::IpAddr;

use palisade_core::secret::PasswordDigest;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{basic, Answer, TestApp, OPERATOR};

const PASSWORD: &str = "correct horse battery";

/// A client whose connections come from `source`.
fn client_from(source: &str) -> reqwest::Client {
    let ip: IpAddr = source.parse().unwrap();
    reqwest::Client::builder().local_address(ip).build().unwrap()
}

async fn get(app: &TestApp, from: &reqwest::Client, path: &str, authorization: Option<&str>) -> Answer {
    let mut req = from.get(format!("{}{path}", app.base));
    if let Some(value) = authorization {
        req = req.header("authorization", value);
    }
    let res = req.send().await.unwrap();
    Answer { status: res.status(), headers: res.headers().clone(), text: res.text().await.unwrap() }
}

/// A server with these failure limits, an organization and its users (all with [`PASSWORD`]).
async fn world(per_source: u32, per_user: u32, users: &[&str]) -> (TestApp, String) {
    let app = TestApp::spawn_tuned(|c| {
        c.core.auth.failures_per_minute_per_source = per_source;
        c.core.auth.failures_per_minute_per_user = per_user;
    })
    .await;
    let org = app.org("acme").await;
    for user in users {
        app.user(&org, user, PASSWORD).await;
    }
    (app, org)
}

/// Hostway's 429: the `overLimit` fault.
#[track_caller]
fn assert_hostway_limited(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS, "{}", answer.text);
    let fault = &answer.json()["overLimit"];
    assert_eq!(fault["code"], 429, "{}", answer.text);
    assert_eq!(fault["message"], "Rate limit exceeded");
    answer.retry_after();
}

#[tokio::test]
async fn wrong_passwords_from_one_source_are_limited_even_when_the_right_one_follows() {
    let (app, org) = world(3, 100, &["alice", "bob"]).await;
    let (_, token) = app.token(&org, &["security_groups"]).await;
    let groups = format!("/accounts/{org}/os-security-groups");
    let attacker = client_from("127.0.0.1");
    for _ in 0..3 {
        let r = get(&app, &attacker, &groups, Some(&basic("alice", "guess"))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    }
    // The source is spent: refused before any check, right password or not, any username.
    for (user, password) in [("alice", PASSWORD), ("bob", PASSWORD), ("nobody", "x")] {
        assert_hostway_limited(&get(&app, &attacker, &groups, Some(&basic(user, password))).await);
    }
    // A Bearer token from that source is refused too (one limit for every scheme).
    assert_hostway_limited(&get(&app, &attacker, &groups, Some(&format!("Bearer {token}"))).await);
    // Another source is unaffected, for the same user.
    let other = client_from("127.0.0.2");
    let r = get(&app, &other, &groups, Some(&basic("alice", PASSWORD))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test]
async fn guesses_at_one_user_spread_over_sources_are_limited_per_username() {
    let (app, org) = world(100, 2, &["alice", "bob"]).await;
    let groups = format!("/accounts/{org}/os-security-groups");
    for source in ["127.0.0.2", "127.0.0.3"] {
        let r = get(&app, &client_from(source), &groups, Some(&basic("alice", "guess"))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    }
    let fresh = client_from("127.0.0.4");
    let r = get(&app, &fresh, &groups, Some(&basic("alice", PASSWORD))).await;
    assert_hostway_limited(&r);
    assert!(r.retry_after() <= 30, "one more guess every 30 s");
    // Other users, from that source too, are unaffected.
    let r = get(&app, &fresh, &groups, Some(&basic("bob", PASSWORD))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // Unknown usernames are counted the same way, so the 429 does not tell whether they exist.
    for _ in 0..2 {
        let r = get(&app, &fresh, &groups, Some(&basic("nobody", "guess"))).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    }
    assert_hostway_limited(&get(&app, &fresh, &groups, Some(&basic("nobody", "guess"))).await);
}

#[tokio::test]
async fn successes_never_count_against_the_limits() {
    let (app, org) = world(2, 2, &["alice"]).await;
    let groups = format!("/accounts/{org}/os-security-groups");
    let (_, token) = app.token(&org, &["security_groups"]).await;
    let me = client_from("127.0.0.1");
    for _ in 0..6 {
        let r = get(&app, &me, &groups, Some(&basic("alice", PASSWORD))).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let r = get(&app, &me, &groups, Some(&format!("Bearer {token}"))).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    // Requests without credentials are not failed authentications either.
    for _ in 0..6 {
        assert_eq!(get(&app, &me, &groups, None).await.status, StatusCode::UNAUTHORIZED);
    }
    // The whole allowance is still there: two failures, then the limit.
    for _ in 0..2 {
        assert_eq!(
            get(&app, &me, &groups, Some(&basic("alice", "guess"))).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_hostway_limited(&get(&app, &me, &groups, Some(&basic("alice", PASSWORD))).await);
}

#[tokio::test]
async fn a_flood_of_wrong_tokens_is_limited_on_every_face_in_its_envelope() {
    let (app, org) = world(3, 100, &[]).await;
    let (_, token) = app.token(&org, &["organizations:read", "roles:list", "security_groups:read"]).await;
    let bearer = format!("Bearer {token}");
    let flooder = client_from("127.0.0.1");
    for wrong in ["pal_00000000000000000000000000000000_x", "palop_nope", "nonsense"] {
        let r = get(&app, &flooder, "/core/v1/organizations", Some(&format!("Bearer {wrong}"))).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "Katapult's invalid_api_token: {}", r.text);
    }
    // Katapult: its rate-limit body, with Retry-After; even the valid token is refused here.
    let r = get(&app, &flooder, "/core/v1/organizations", Some(&bearer)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert_eq!(r.json()["error"]["code"], "rate_limit_reached", "{}", r.text);
    assert_eq!(r.headers["x-api-schema"], "json-error");
    r.retry_after();
    // Native.
    let r = get(&app, &flooder, &format!("/api/v1/organizations/{org}"), Some(&bearer)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert_eq!(r.json()["error"]["code"], "rate_limited", "{}", r.text);
    assert_eq!(r.json()["error"]["details"]["retry_after"], r.retry_after());
    // Defined.
    let r = get(&app, &flooder, "/v1/roles", Some(&bearer)).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert_eq!(r.json()["errors"][0]["code"], "ERR_RATE_LIMITED", "{}", r.text);
    r.retry_after();
    // The same token from another source works on every face.
    let other = client_from("127.0.0.2");
    for path in
        ["/core/v1/organizations".to_owned(), format!("/api/v1/organizations/{org}"), "/v1/roles".into()]
    {
        let r = get(&app, &other, &path, Some(&bearer)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
    }
}

/// Logs in once (so the check is cached), then changes the world behind the cache's back.
#[tokio::test]
async fn the_password_cache_never_outlives_a_change_of_the_user_or_its_organization() {
    let (app, org) = world(1000, 1000, &["alice", "bob"]).await;
    let groups = format!("/accounts/{org}/os-security-groups");
    let me = client_from("127.0.0.1");
    let ok = |r: &Answer| assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let refused = |r: &Answer| assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    for _ in 0..2 {
        ok(&get(&app, &me, &groups, Some(&basic("alice", PASSWORD))).await);
    }
    // A new password (stored straight in the database: the API has no password change yet).
    let phc = PasswordDigest::new("a brand new secret").unwrap();
    let changed = app
        .db
        .execute(&format!("UPDATE users SET password_phc = '{}' WHERE username = 'alice'", phc.as_phc()))
        .await;
    assert_eq!(changed, 1);
    refused(&get(&app, &me, &groups, Some(&basic("alice", PASSWORD))).await);
    ok(&get(&app, &me, &groups, Some(&basic("alice", "a brand new secret"))).await);
    // A deleted user, even one just verified.
    ok(&get(&app, &me, &groups, Some(&basic("bob", PASSWORD))).await);
    assert_eq!(app.db.execute("DELETE FROM users WHERE username = 'bob'").await, 1);
    refused(&get(&app, &me, &groups, Some(&basic("bob", PASSWORD))).await);
    // A suspended organization, through the native API.
    let r =
        app.patch(&format!("/api/v1/organizations/{org}"), OPERATOR, json!({"status": "suspended"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = get(&app, &me, &groups, Some(&basic("alice", "a brand new secret"))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.json()["forbidden"]["details"], "the account is suspended");
}
