//! The native API's contract, endpoint by endpoint, comparing whole responses.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{assert_error, TestApp, OPERATOR};

/// Replaces the values of generated fields (ids, timestamps) so whole bodies can be compared.
fn normalise(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (k, val) in map.iter_mut() {
                    let generated = k == "id" || k.ends_with("_id") || k.ends_with("_at");
                    if generated && val.is_string() {
                        *val = json!(format!("<{k}>"));
                    } else {
                        walk(val);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

#[tokio::test]
async fn organizations_create_list_get_patch_delete() {
    let app = TestApp::spawn().await;
    let r = app
        .post("/api/v1/organizations", OPERATOR, json!({"name": "Acme Hosting", "sub_domain": "acme"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        normalise(r.body.clone()),
        json!({"organization": {"id": "<id>", "name": "Acme Hosting", "sub_domain": "acme", "status": "active",
            "resource_creation_restricted": false, "created_at": "<created_at>", "updated_at": "<updated_at>"}})
    );
    let id = r.body["organization"]["id"].as_str().unwrap().to_owned();
    assert!(id.parse::<uuid::Uuid>().is_ok());

    let got = app.get(&format!("/api/v1/organizations/{id}"), OPERATOR).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body, r.body);

    app.org("beta").await;
    let list = app.get("/api/v1/organizations?per_page=1", OPERATOR).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["organizations"].as_array().unwrap().len(), 1);
    assert_eq!(list.body["organizations"][0], r.body["organization"]);
    assert_eq!(list.body["pagination"], json!({"page": 1, "per_page": 1, "total": 2, "total_pages": 2}));
    let page2 = app.get("/api/v1/organizations?page=2&per_page=1", OPERATOR).await;
    assert_eq!(page2.body["organizations"][0]["sub_domain"], "beta");

    let patched = app
        .patch(
            &format!("/api/v1/organizations/{id}"),
            OPERATOR,
            json!({"status": "suspended", "resource_creation_restricted": true}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK);
    assert_eq!(patched.body["organization"]["status"], "suspended");
    assert_eq!(patched.body["organization"]["resource_creation_restricted"], true);
    assert_eq!(patched.body["organization"]["name"], "Acme Hosting");
    let bad =
        app.patch(&format!("/api/v1/organizations/{id}"), OPERATOR, json!({"status": "sleeping"})).await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "invalid_json");

    let deleted = app.delete(&format!("/api/v1/organizations/{id}"), OPERATOR).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(deleted.body, Value::Null);
    assert_error(
        &app.get(&format!("/api/v1/organizations/{id}"), OPERATOR).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &app.delete(&format!("/api/v1/organizations/{id}"), OPERATOR).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn duplicate_sub_domain_is_409_with_the_path() {
    let app = TestApp::spawn().await;
    app.org("acme").await;
    let r = app.post("/api/v1/organizations", OPERATOR, json!({"name": "Other", "sub_domain": "acme"})).await;
    assert_error(&r, StatusCode::CONFLICT, "already_exists");
    assert_eq!(r.body["error"]["details"][0]["path"], "sub_domain");
    assert_eq!(app.count("organizations").await, 1);
}

#[tokio::test]
async fn api_tokens_create_list_revoke() {
    let app = TestApp::spawn().await;
    let org = app.org("acme").await;
    let r = app
        .post(
            &format!("/api/v1/organizations/{org}/api_tokens"),
            OPERATOR,
            json!({"name": "terraform", "scopes": ["security_groups", "security_group", "roles:create"],
                   "allowed_networks": ["127.0.0.0/8", "2001:db8::1"], "expires_at": "2999-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let secret = r.body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("pal_") && secret.len() > 60);
    assert_eq!(
        normalise(r.body.clone()),
        json!({"api_token": {"id": "<id>", "organization_id": "<organization_id>", "name": "terraform",
            "scopes": ["security_groups", "security_group", "roles:create"],
            "allowed_networks": ["127.0.0.0/8", "2001:db8::1/128"],
            "expires_at": "<expires_at>", "created_at": "<created_at>", "revoked_at": null}, "secret": secret})
    );
    assert_eq!(r.body["api_token"]["expires_at"], "2999-01-01T00:00:00Z");
    assert_eq!(r.body["api_token"]["organization_id"], org.as_str());

    let list = app.get(&format!("/api/v1/organizations/{org}/api_tokens"), OPERATOR).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body["api_tokens"], json!([r.body["api_token"]]));
    assert!(!list.body.to_string().contains(&secret), "a listing must never show secrets");

    // The token works, then is refused from the very next request after revocation.
    let token_id = r.body["api_token"]["id"].as_str().unwrap();
    let (reader_id, reader) = app.token(&org, &["organizations:read"]).await;
    assert_eq!(app.get(&format!("/api/v1/organizations/{org}"), &reader).await.status, StatusCode::OK);
    let listed = app.get(&format!("/api/v1/organizations/{org}/api_tokens"), OPERATOR).await;
    assert_eq!(listed.body["api_tokens"][1]["id"], reader_id.as_str(), "tokens are listed in creation order");
    let revoked = app.delete(&format!("/api/v1/organizations/{org}/api_tokens/{reader_id}"), OPERATOR).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_error(
        &app.get(&format!("/api/v1/organizations/{org}"), &reader).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
    // Revoking twice: the second is a clean conflict; the listing still shows it, revoked.
    assert_error(
        &app.delete(&format!("/api/v1/organizations/{org}/api_tokens/{reader_id}"), OPERATOR).await,
        StatusCode::CONFLICT,
        "conflict",
    );
    let listed = app.get(&format!("/api/v1/organizations/{org}/api_tokens"), OPERATOR).await;
    assert_eq!(listed.body["pagination"]["total"], 2);
    assert_eq!(listed.body["api_tokens"][0]["revoked_at"], serde_json::Value::Null, "still in force");
    let revoked_at = listed.body["api_tokens"][1]["revoked_at"].as_str().unwrap();
    assert!(revoked_at >= listed.body["api_tokens"][1]["created_at"].as_str().unwrap(), "{revoked_at}");
    // A token id of one organization cannot be revoked through another.
    let other = app.org("other").await;
    assert_error(
        &app.delete(&format!("/api/v1/organizations/{other}/api_tokens/{token_id}"), OPERATOR).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &app.post(
            &format!("/api/v1/organizations/{}/api_tokens", uuid::Uuid::nil()),
            OPERATOR,
            json!({"name": "x", "scopes": []}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn unknown_scope_is_400_with_its_index() {
    let app = TestApp::spawn().await;
    let org = app.org("acme").await;
    let r = app
        .post(
            &format!("/api/v1/organizations/{org}/api_tokens"),
            OPERATOR,
            json!({"name": "t", "scopes": ["ip_addresses", "teleport"]}),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    assert_eq!(
        r.body["error"]["details"],
        json!([{"path": "scopes[1]", "code": "invalid_value", "message": "unknown scope `teleport`"}])
    );
    assert_eq!(app.count("api_tokens").await, 0);
}

#[tokio::test]
async fn users_create_and_list_with_hashed_passwords() {
    let app = TestApp::spawn().await;
    let org = app.org("acme").await;
    let r = app
        .post(
            &format!("/api/v1/organizations/{org}/users"),
            OPERATOR,
            json!({"username": "alice", "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        normalise(r.body.clone()),
        json!({"user": {"id": "<id>", "organization_id": "<organization_id>", "username": "alice", "created_at": "<created_at>"}})
    );
    let dup = app
        .post(
            &format!("/api/v1/organizations/{org}/users"),
            OPERATOR,
            json!({"username": "alice", "password": "another password"}),
        )
        .await;
    assert_error(&dup, StatusCode::CONFLICT, "already_exists");
    let short = app
        .post(
            &format!("/api/v1/organizations/{org}/users"),
            OPERATOR,
            json!({"username": "bob", "password": "short"}),
        )
        .await;
    assert_error(&short, StatusCode::BAD_REQUEST, "invalid_request");
    assert_eq!(short.body["error"]["details"][0]["path"], "password");
    let list = app.get(&format!("/api/v1/organizations/{org}/users"), OPERATOR).await;
    assert_eq!(list.body["users"], json!([r.body["user"]]));

    // The password is stored as an Argon2id hash only, and it verifies.
    let creds = once!(app.store, user_credentials("alice")).unwrap().unwrap();
    assert!(creds.password.as_phc().starts_with("$argon2id$"));
    assert!(creds.password.verify("correct horse battery"));
    assert!(!app.db.stored_text().await.contains("correct horse battery"));
}

#[tokio::test]
async fn data_centers_and_networks() {
    let app = TestApp::spawn().await;
    let country = json!({"name": "United Kingdom", "iso_code2": "GB", "iso_code3": "GBR", "time_zone": "Europe/London", "eu": false});
    let dc = app
        .post(
            "/api/v1/data_centers",
            OPERATOR,
            json!({"name": "London", "permalink": "uk-lon-01", "country": country}),
        )
        .await;
    assert_eq!(dc.status, StatusCode::CREATED);
    assert_eq!(
        normalise(dc.body.clone()),
        json!({"data_center": {"id": "<id>", "name": "London", "permalink": "uk-lon-01", "country": country, "created_at": "<created_at>"}})
    );
    let dc_id = dc.body["data_center"]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.get(&format!("/api/v1/data_centers/{dc_id}"), OPERATOR).await.body, dc.body);
    assert_eq!(
        app.get("/api/v1/data_centers", OPERATOR).await.body["data_centers"],
        json!([dc.body["data_center"]])
    );
    let dup = app
        .post(
            "/api/v1/data_centers",
            OPERATOR,
            json!({"name": "London 2", "permalink": "uk-lon-01", "country": country}),
        )
        .await;
    assert_error(&dup, StatusCode::CONFLICT, "already_exists");
    assert_eq!(dup.body["error"]["details"][0]["path"], "permalink");

    let org = app.org("acme").await;
    let body = json!({"name": "Public", "permalink": "public", "data_center_id": dc_id,
        "prefixes": ["203.0.113.0/24", "2001:db8::/64"], "default": true, "organization_id": null});
    let net = app.post("/api/v1/networks", OPERATOR, body.clone()).await;
    assert_eq!(net.status, StatusCode::CREATED);
    assert_eq!(
        normalise(net.body.clone()),
        json!({"network": {"id": "<id>", "name": "Public", "permalink": "public", "data_center_id": "<data_center_id>",
            "prefixes": ["203.0.113.0/24", "2001:db8::/64"], "reserved": [], "default": true, "organization_id": null, "created_at": "<created_at>"}})
    );
    let net_id = net.body["network"]["id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/api/v1/networks/{net_id}"), OPERATOR).await.body, net.body);

    let dup = app.post("/api/v1/networks", OPERATOR, body.clone()).await;
    assert_error(&dup, StatusCode::CONFLICT, "already_exists");
    let second_default = app
        .post("/api/v1/networks", OPERATOR, json!({"name": "Public 2", "data_center_id": dc_id, "prefixes": ["198.51.100.0/24"], "default": true}))
        .await;
    assert_error(&second_default, StatusCode::CONFLICT, "already_exists");

    let private = app
        .post("/api/v1/networks", OPERATOR, json!({"name": "Private", "data_center_id": dc_id, "prefixes": ["10.0.0.0/16"], "organization_id": org}))
        .await;
    assert_eq!(private.status, StatusCode::CREATED);
    assert_eq!(private.body["network"]["organization_id"], org.as_str());
    assert_eq!(private.body["network"]["permalink"], Value::Null);
    assert_eq!(private.body["network"]["default"], false);
    let list = app.get("/api/v1/networks", OPERATOR).await;
    assert_eq!(list.body["pagination"]["total"], 2);

    let unknown_dc = app
        .post(
            "/api/v1/networks",
            OPERATOR,
            json!({"name": "X", "data_center_id": uuid::Uuid::nil(), "prefixes": ["192.0.2.0/24"]}),
        )
        .await;
    assert_error(&unknown_dc, StatusCode::UNPROCESSABLE_ENTITY, "invalid_reference");
    assert_eq!(unknown_dc.body["error"]["details"][0]["path"], "data_center_id");
}

#[tokio::test]
async fn servers_with_interfaces_addresses_and_tags() {
    let app = TestApp::spawn().await;
    let org = app.org("acme").await;
    let net = app.network().await;
    let body = json!({"name": "web-1", "interfaces": [{"network_id": net, "addresses": ["203.0.113.10", "2001:db8::10"]}], "tags": ["env:prod"]});
    let r = app.post(&format!("/api/v1/organizations/{org}/servers"), OPERATOR, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(
        normalise(r.body.clone()),
        json!({"server": {"id": "<id>", "organization_id": "<organization_id>", "name": "web-1",
            "interfaces": [{"id": "<id>", "network_id": "<network_id>", "addresses": ["203.0.113.10", "2001:db8::10"]}],
            "tags": ["env:prod"], "server_group_id": null, "created_at": "<created_at>"}})
    );
    assert_eq!(r.body["server"]["interfaces"][0]["network_id"], net.as_str());
    let id = r.body["server"]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.get(&format!("/api/v1/organizations/{org}/servers/{id}"), OPERATOR).await.body, r.body);
    let list = app.get(&format!("/api/v1/organizations/{org}/servers"), OPERATOR).await;
    assert_eq!(list.body["servers"], json!([r.body["server"]]));

    // The same address again in the same network: 409 naming the field, nothing written.
    let dup = app
        .post(
            &format!("/api/v1/organizations/{org}/servers"),
            OPERATOR,
            json!({"name": "web-2", "interfaces": [{"network_id": net, "addresses": ["203.0.113.11", "203.0.113.10"]}], "tags": ["a"]}),
        )
        .await;
    assert_error(&dup, StatusCode::CONFLICT, "already_exists");
    assert_eq!(dup.body["error"]["details"][0]["path"], "interfaces[0].addresses[1]");
    assert_eq!(app.count("servers").await, 1);
    assert_eq!(app.count("server_tags").await, 1);
    assert_eq!(app.count("ip_addresses").await, 2);

    // A token with `virtual_machines` may manage its own organization's servers.
    let (_, token) = app.token(&org, &["virtual_machines"]).await;
    let own =
        app.post(&format!("/api/v1/organizations/{org}/servers"), &token, json!({"name": "db-1"})).await;
    assert_eq!(own.status, StatusCode::CREATED);
    assert_eq!(own.body["server"]["interfaces"], json!([]));
    assert_eq!(own.body["server"]["tags"], json!([]));
    let own_id = own.body["server"]["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/api/v1/organizations/{org}/servers/{own_id}"), &token).await.status,
        StatusCode::NO_CONTENT
    );
    assert_error(
        &app.get(&format!("/api/v1/organizations/{org}/servers/{own_id}"), &token).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );

    // Deleting the server frees its addresses.
    assert_eq!(
        app.delete(&format!("/api/v1/organizations/{org}/servers/{id}"), OPERATOR).await.status,
        StatusCode::NO_CONTENT
    );
    let again = app
        .post(
            &format!("/api/v1/organizations/{org}/servers"),
            OPERATOR,
            json!({"name": "web-3", "interfaces": [{"network_id": net, "addresses": ["203.0.113.10"]}]}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
}

#[tokio::test]
async fn private_networks_are_only_usable_by_their_owner() {
    let app = TestApp::spawn().await;
    let acme = app.org("acme").await;
    let beta = app.org("beta").await;
    let shared = app.network().await;
    let dc = app.get(&format!("/api/v1/networks/{shared}"), OPERATOR).await.body["network"]["data_center_id"]
        .clone();
    let private = app
        .post("/api/v1/networks", OPERATOR, json!({"name": "Acme LAN", "data_center_id": dc, "prefixes": ["10.1.0.0/24"], "organization_id": acme}))
        .await;
    let private = private.body["network"]["id"].as_str().unwrap();
    let body = json!({"name": "x", "interfaces": [{"network_id": private, "addresses": ["10.1.0.5"]}]});
    assert_eq!(
        app.post(&format!("/api/v1/organizations/{acme}/servers"), OPERATOR, body.clone()).await.status,
        StatusCode::CREATED
    );
    let r = app.post(&format!("/api/v1/organizations/{beta}/servers"), OPERATOR, body).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_reference");
    assert_eq!(r.body["error"]["details"][0]["path"], "interfaces[0].network_id");
}

#[tokio::test]
async fn health_and_readiness() {
    let app = TestApp::spawn().await;
    let h = app.request(reqwest::Method::GET, "/healthz", None, None).await;
    assert_eq!((h.status, h.body), (StatusCode::OK, json!({"status": "ok"})));
    let r = app.request(reqwest::Method::GET, "/readyz", None, None).await;
    assert_eq!((r.status, r.body), (StatusCode::OK, json!({"status": "ready"})));
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let db = crate::support::TestDatabase::from_env().await;
    let app;
    match db.backend {
        crate::support::Backend::Sqlite => {
            let store = db.sqlite().await;
            app = TestApp::spawn_with(db, std::sync::Arc::new(store.clone())).await;
            assert_eq!(app.get("/api/v1/organizations", OPERATOR).await.status, StatusCode::OK);
            store.pool().close().await;
        }
        crate::support::Backend::Postgres => {
            let store = db.postgres().await;
            app = TestApp::spawn_with(db, std::sync::Arc::new(store.clone())).await;
            assert_eq!(app.get("/api/v1/organizations", OPERATOR).await.status, StatusCode::OK);
            store.pool().close().await;
        }
    }
    let r = app.request(reqwest::Method::GET, "/readyz", None, None).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.body["status"], "unavailable");
    // Requests fail cleanly with 503 in the native envelope, not a 500.
    assert_error(
        &app.get("/api/v1/organizations", OPERATOR).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    );
}

/// Unknown routes and wrong methods answer in the native envelope.
#[tokio::test]
async fn unknown_routes_and_methods() {
    let app = TestApp::spawn().await;
    assert_error(&app.get("/api/v1/nothing-here", OPERATOR).await, StatusCode::NOT_FOUND, "not_found");
    let r = app.request(reqwest::Method::PUT, "/api/v1/organizations", Some(OPERATOR), None).await;
    assert_error(&r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let r = app.request(reqwest::Method::POST, "/healthz", None, None).await;
    assert_error(&r, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    assert_error(
        &app.get("/api/v1/organizations/not-a-uuid", OPERATOR).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}
