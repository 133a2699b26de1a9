//! Everything written survives a restart of the server on the same database file.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{TestApp, OPERATOR};

#[tokio::test]
async fn data_and_tokens_survive_a_restart() {
    let app = TestApp::spawn().await;
    let org = app.org("acme").await;
    let (_, token) = app.token(&org, &["organizations:read", "virtual_machines"]).await;
    let net = app.network().await;
    let server = app
        .post(&format!("/api/v1/organizations/{org}/servers"), &token, json!({"name": "web", "interfaces": [{"network_id": net, "addresses": ["203.0.113.5"]}], "tags": ["t"]}))
        .await;
    assert_eq!(server.status, StatusCode::CREATED);
    let org_before = app.get(&format!("/api/v1/organizations/{org}"), OPERATOR).await.body;
    let db = app.stop().await;

    let app = TestApp::spawn_on(db).await;
    assert_eq!(app.get(&format!("/api/v1/organizations/{org}"), &token).await.body, org_before);
    let id = server.body["server"]["id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/api/v1/organizations/{org}/servers/{id}"), &token).await.body, server.body);
    assert_eq!(app.get("/api/v1/networks", OPERATOR).await.body["pagination"]["total"], 1);
    app.stop().await;
}
