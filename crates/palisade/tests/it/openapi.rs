//! The served OpenAPI document is generated from the code and must match the committed copy
//! (`docs/openapi.json`), so API changes show up in review. Regenerate with
//! `cargo run -- openapi > docs/openapi.json`.

use reqwest::StatusCode;

use crate::support::TestApp;

#[tokio::test]
async fn served_openapi_matches_the_committed_copy() {
    let app = TestApp::spawn().await;
    let r = app.request(reqwest::Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let committed_path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let committed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(committed_path).unwrap()).unwrap();
    assert_eq!(
        r.body, committed,
        "docs/openapi.json is stale: run `cargo run -- openapi > docs/openapi.json`"
    );
    assert!(r.body["paths"]["/api/v1/organizations"]["post"].is_object());
}
