//! Authentication and authorization: tokens' life cycle, network limits, organization state,
//! scopes, tenant isolation, and secrets that never reach the database or logs.

use palisade_core::id::{ApiTokenId, OrganizationId};
use palisade_core::model::{now, ApiToken};
use palisade_core::secret::new_token_secret;
use palisade_core::Scope;
use reqwest::StatusCode;
use serde_json::json;
use sha2::Digest;

use crate::support::{assert_error, TestApp, OPERATOR};

#[tokio::test]
async fn missing_malformed_and_wrong_tokens_are_401() {
    let app = TestApp::spawn().await;
    let r = app.request(reqwest::Method::GET, "/api/v1/organizations", None, None).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "missing_token");
    assert_eq!(r.headers["www-authenticate"], "Bearer");
    let basic = app
        .client
        .get(format!("{}/api/v1/organizations", app.base))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    for wrong in ["palop_nope", "pal_00000000000000000000000000000000_x", "pal_zz_y", "x"] {
        assert_error(
            &app.get("/api/v1/organizations", wrong).await,
            StatusCode::UNAUTHORIZED,
            "invalid_token",
        );
    }
    // A real token id with a wrong secret.
    let org = app.org("acme").await;
    let (_, secret) = app.token(&org, &["organizations:read"]).await;
    let forged = format!("{}x", &secret[..secret.len() - 1]);
    assert_error(
        &app.get(&format!("/api/v1/organizations/{org}"), &forged).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let org: OrganizationId = app.org("acme").await.parse().unwrap();
    let id = ApiTokenId::random();
    let (secret, hash) = new_token_secret(id);
    let token = ApiToken {
        id,
        organization_id: org,
        name: "old".into(),
        scopes: vec![Scope::ORGANIZATIONS_READ],
        allowed_networks: vec![],
        expires_at: Some(now() - time::Duration::seconds(1)),
        created_at: now() - time::Duration::days(1),
        server_id: None,
        revoked_at: None,
    };
    once!(
        app.store,
        insert_api_token(&::palisade_testkit::grants::grant((token).organization_id), &token, &hash)
    )
    .unwrap();
    let r = app.get(&format!("/api/v1/organizations/{org}"), secret.expose()).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "token_expired");
    // Creating a token that is already expired is refused.
    let past = app
        .post(
            &format!("/api/v1/organizations/{org}/api_tokens"),
            OPERATOR,
            json!({"name": "t", "scopes": [], "expires_at": "2001-01-01T00:00:00Z"}),
        )
        .await;
    assert_error(&past, StatusCode::BAD_REQUEST, "invalid_request");
    assert_eq!(past.body["error"]["details"][0]["path"], "expires_at");
}

#[tokio::test]
async fn token_network_limits() {
    let app = TestApp::spawn().await;
    let org = app.org("acme").await;
    let path = format!("/api/v1/organizations/{org}/api_tokens");
    let create = |nets: serde_json::Value| {
        app.post(
            &path,
            OPERATOR,
            json!({"name": "t", "scopes": ["organizations:read"], "allowed_networks": nets}),
        )
    };
    let elsewhere = create(json!(["192.0.2.0/24"])).await.body["secret"].as_str().unwrap().to_owned();
    let local = create(json!(["127.0.0.0/8"])).await.body["secret"].as_str().unwrap().to_owned();
    let r = app.get(&format!("/api/v1/organizations/{org}"), &elsewhere).await;
    assert_error(&r, StatusCode::FORBIDDEN, "network_not_allowed");
    assert_eq!(r.body["error"]["details"], json!({"ip_address": "127.0.0.1"}));
    assert_eq!(app.get(&format!("/api/v1/organizations/{org}"), &local).await.status, StatusCode::OK);
}

#[tokio::test]
async fn forwarded_client_addresses_count_only_from_trusted_proxies() {
    for trusted in [false, true] {
        let app = TestApp::spawn_tuned(|c| {
            if trusted {
                c.api.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
            }
        })
        .await;
        let org = app.org("acme").await;
        let path = format!("/api/v1/organizations/{org}/api_tokens");
        let create = |nets: serde_json::Value| {
            app.post(
                &path,
                OPERATOR,
                json!({"name": "t", "scopes": ["organizations:read"], "allowed_networks": nets}),
            )
        };
        let office = create(json!(["192.0.2.0/24"])).await.body["secret"].as_str().unwrap().to_owned();
        let local = create(json!(["127.0.0.0/8"])).await.body["secret"].as_str().unwrap().to_owned();
        let get = |token: &str, forwarded_for: &str| {
            app.client
                .get(format!("{}/api/v1/organizations/{org}", app.base))
                .bearer_auth(token)
                .header("x-forwarded-for", forwarded_for)
                .send()
        };
        // A client claiming to be in the office, and the proxy appending what it saw.
        let r = get(&office, "192.0.2.7").await.unwrap();
        let local_r = get(&local, "198.51.100.1, 203.0.113.5").await.unwrap();
        if trusted {
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(local_r.status(), StatusCode::FORBIDDEN);
            let body: serde_json::Value = local_r.json().await.unwrap();
            assert_eq!(body["error"]["details"], json!({"ip_address": "203.0.113.5"}));
        } else {
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "the header of an untrusted peer is ignored");
            let body: serde_json::Value = r.json().await.unwrap();
            assert_eq!(body["error"]["details"], json!({"ip_address": "127.0.0.1"}));
            assert_eq!(local_r.status(), StatusCode::OK);
        }
    }
}

#[tokio::test]
async fn responses_carrying_a_secret_are_never_cached() {
    let app = TestApp::spawn().await;
    let org = app.org("acme").await;
    let path = format!("/api/v1/organizations/{org}/api_tokens");
    let created = app.post(&path, OPERATOR, json!({"name": "t", "scopes": []})).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert!(created.body["secret"].is_string());
    assert_eq!(created.headers["cache-control"], "no-store");
    // Listing tokens shows no secret.
    let listed = app.get(&path, OPERATOR).await;
    assert!(!listed.body.to_string().contains("secret"), "{}", listed.body);
}

#[tokio::test]
async fn organization_state_gates_its_tokens() {
    let app = TestApp::spawn().await;
    let org = app.org("acme").await;
    let (_, token) = app.token(&org, &["organizations:read", "virtual_machines"]).await;
    let path = format!("/api/v1/organizations/{org}");
    for (status, code) in
        [("suspended", "organization_suspended"), ("not_activated", "organization_not_activated")]
    {
        app.patch(&path, OPERATOR, json!({"status": status})).await;
        assert_error(&app.get(&path, &token).await, StatusCode::FORBIDDEN, code);
        // The operator is unaffected.
        assert_eq!(app.get(&path, OPERATOR).await.status, StatusCode::OK);
    }
    app.patch(&path, OPERATOR, json!({"status": "active", "resource_creation_restricted": true})).await;
    assert_eq!(app.get(&path, &token).await.status, StatusCode::OK);
    let r = app.post(&format!("{path}/servers"), &token, json!({"name": "x"})).await;
    assert_error(&r, StatusCode::FORBIDDEN, "resource_creation_restricted");
    assert_eq!(app.count("servers").await, 0);
    app.patch(&path, OPERATOR, json!({"resource_creation_restricted": false})).await;
    assert_eq!(
        app.post(&format!("{path}/servers"), &token, json!({"name": "x"})).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn scopes_and_tenant_isolation() {
    let app = TestApp::spawn().await;
    let acme = app.org("acme").await;
    let beta = app.org("beta").await;
    let (_, reader) = app.token(&acme, &["virtual_machines:read"]).await;
    // Missing scope: 403 naming the scopes that would do.
    let r = app.get(&format!("/api/v1/organizations/{acme}"), &reader).await;
    assert_error(&r, StatusCode::FORBIDDEN, "scope_not_granted");
    assert_eq!(r.body["error"]["details"], json!({"scopes": ["organizations:read"]}));
    let r = app.post(&format!("/api/v1/organizations/{acme}/servers"), &reader, json!({"name": "x"})).await;
    assert_error(&r, StatusCode::FORBIDDEN, "scope_not_granted");
    assert_eq!(r.body["error"]["details"], json!({"scopes": ["virtual_machines"]}));
    assert_eq!(
        app.get(&format!("/api/v1/organizations/{acme}/servers"), &reader).await.status,
        StatusCode::OK
    );

    // Another organization's resources look exactly like missing ones.
    let (_, all) = app.token(&acme, &["organizations:read", "virtual_machines"]).await;
    let server =
        app.post(&format!("/api/v1/organizations/{beta}/servers"), OPERATOR, json!({"name": "b"})).await;
    let server = server.body["server"]["id"].as_str().unwrap();
    let missing = uuid::Uuid::nil();
    for path in [format!("/api/v1/organizations/{beta}"), format!("/api/v1/organizations/{missing}")] {
        assert_error(&app.get(&path, &all).await, StatusCode::NOT_FOUND, "not_found");
    }
    let theirs = app.get(&format!("/api/v1/organizations/{beta}/servers/{server}"), &all).await;
    let nobody = app.get(&format!("/api/v1/organizations/{missing}/servers/{server}"), &all).await;
    assert_eq!((theirs.status, &theirs.body), (nobody.status, &nobody.body));
    assert_error(&theirs, StatusCode::NOT_FOUND, "not_found");
    // A server id of another organization under one's own organization is not found either.
    assert_error(
        &app.get(&format!("/api/v1/organizations/{acme}/servers/{server}"), &all).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &app.delete(&format!("/api/v1/organizations/{acme}/servers/{server}"), &all).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_eq!(app.count("servers").await, 1);
}

/// The secret exists only in the creation response: the database holds its SHA-256.
#[tokio::test]
async fn token_secrets_are_stored_only_as_hashes() {
    let app = TestApp::spawn().await;
    let org = app.org("leak-check-org").await;
    let (id, secret) = app.token(&org, &["organizations:read"]).await;
    let creds = once!(app.store, token_credentials(id.parse().unwrap())).unwrap().unwrap();
    assert_eq!(creds.secret_hash.as_bytes().as_slice(), sha2::Sha256::digest(secret.as_bytes()).as_slice());
    let stored = app.db.stored_text().await;
    assert!(stored.contains("leak-check-org"), "the dump is real: it holds the organization");
    let random_part = secret.rsplit('_').next().unwrap();
    assert!(!stored.contains(random_part), "the token secret was stored");
    assert!(!stored.contains(OPERATOR), "the operator token was stored");
    assert!(!id.is_empty());
}
