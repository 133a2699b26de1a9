//! The served OpenAPI document is generated from the code and must match the committed copy
//! (`docs/openapi.json`), so API changes show up in review. Regenerate with
//! `cargo run -- openapi > docs/openapi.json`.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{TestApp, OPERATOR};

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

/// A parameter's or property's schema in the served document, following one `$ref`.
fn resolve<'a>(doc: &'a serde_json::Value, schema: &'a serde_json::Value) -> &'a serde_json::Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap();
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// The bounds the document states are the ones the server enforces: a client (or schemathesis,
/// which CI runs against this document) that stays inside them is not refused for shape, and
/// one just outside them is. The document used to call `page`, `per_page` and `allocated`
/// strings and state no length or pattern for names.
#[tokio::test]
async fn documented_bounds_are_the_enforced_bounds() {
    let app = TestApp::spawn().await;
    let app = &app;
    let doc = app.get("/api/v1/openapi.json", OPERATOR).await.body;
    let params = doc["paths"]["/api/v1/organizations"]["get"]["parameters"].as_array().unwrap();
    let param = |name: &str| params.iter().find(|p| p["name"] == name).unwrap()["schema"].clone();
    let (page, per_page) = (param("page"), param("per_page"));
    assert_eq!((page["type"].as_str(), per_page["type"].as_str()), (Some("integer"), Some("integer")));
    let list = |query: String| async move {
        app.get(&format!("/api/v1/organizations?{query}"), OPERATOR).await.status
    };
    let (min, max) = (page["minimum"].as_u64().unwrap(), page["maximum"].as_u64().unwrap());
    assert_eq!(list(format!("page={min}")).await, StatusCode::OK);
    assert_eq!(list(format!("page={max}")).await, StatusCode::OK);
    assert_eq!(list(format!("page={}", min - 1)).await, StatusCode::BAD_REQUEST);
    assert_eq!(list(format!("page={}", max + 1)).await, StatusCode::BAD_REQUEST);
    let (min, max) = (per_page["minimum"].as_u64().unwrap(), per_page["maximum"].as_u64().unwrap());
    assert_eq!(list(format!("per_page={min}")).await, StatusCode::OK);
    assert_eq!(list(format!("per_page={max}")).await, StatusCode::OK);
    assert_eq!(list(format!("per_page={}", min - 1)).await, StatusCode::BAD_REQUEST);
    assert_eq!(list(format!("per_page={}", max + 1)).await, StatusCode::BAD_REQUEST);

    let allocated = &doc["paths"]["/api/v1/organizations/{id}/ip_addresses"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "allocated")
        .unwrap()["schema"];
    assert_eq!(allocated["type"], "boolean");

    // Organization names and sub-domains: the documented lengths, at both ends.
    let create = &doc["components"]["schemas"]["CreateOrganizationRequest"]["properties"];
    let (name, slug) = (resolve(&doc, &create["name"]), resolve(&doc, &create["sub_domain"]));
    let name_max = name["maxLength"].as_u64().unwrap() as usize;
    let slug_max = slug["maxLength"].as_u64().unwrap() as usize;
    assert!(name["pattern"].is_string() && slug["pattern"].is_string());
    let post = |name: String, sub_domain: String| async move {
        app.post("/api/v1/organizations", OPERATOR, json!({"name": name, "sub_domain": sub_domain}))
            .await
            .status
    };
    assert_eq!(post("n".repeat(name_max), "a".repeat(slug_max)).await, StatusCode::CREATED);
    assert_eq!(post("n".repeat(name_max + 1), "b".into()).await, StatusCode::BAD_REQUEST);
    assert_eq!(post("n".into(), "c".repeat(slug_max + 1)).await, StatusCode::BAD_REQUEST);
    assert_eq!(post(String::new(), "d".into()).await, StatusCode::BAD_REQUEST);

    // Scopes: the documented enum is what the server accepts.
    let token = &doc["components"]["schemas"]["CreateApiTokenRequest"]["properties"]["scopes"];
    let scopes = token["items"]["enum"].as_array().unwrap();
    assert_eq!(token["uniqueItems"], true);
    let org = app.org("scopes").await;
    let r = app
        .post(
            &format!("/api/v1/organizations/{org}/api_tokens"),
            OPERATOR,
            json!({"name": "all", "scopes": scopes}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}
