//! `GET /api/v1/organizations/{id}/groups[/{group_id}]`: every face's groups and roles in one
//! list, read as the policy engine reads them, and the CLI's `group` and `rule` commands over
//! it. Runs on both backends.

use reqwest::StatusCode;
use serde_json::json;

use crate::enforcement::katapult_group;
use crate::policy_engine::{uuid_of_katapult, World};
use crate::support::{assert_error, OPERATOR};

#[tokio::test]
async fn every_faces_groups_and_roles_are_listed_and_shown_with_their_rules() {
    let w = World::new().await;
    let db = w.server("db", "203.0.113.20").await;
    let sg = katapult_group(&w, "db", &db, 5432, "203.0.113.10").await;
    let (app, _cache, _) = w.cache_admits_app().await;
    let base = format!("/api/v1/organizations/{}/groups", w.org);

    let r = w.app.get(&base, &w.token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let listed: Vec<(&str, &str)> = r.body["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["kind"].as_str().unwrap(), g["name"].as_str().unwrap()))
        .collect();
    assert_eq!(listed, [("security_group", "db"), ("role", "app"), ("role", "cache")]);
    assert_eq!(r.body["pagination"], json!({"page": 1, "per_page": 30, "total": 3, "total_pages": 1}));
    let second = w.app.get(&format!("{base}?per_page=1&page=2"), &w.token).await;
    assert_eq!(second.body["groups"][0]["name"], "app", "{}", second.body);

    // One group, whole: what it applies to, its rules as written, every face's id for it.
    let id = uuid_of_katapult("sg", &sg);
    let r = w.app.get(&format!("{base}/{id}"), &w.token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let group = &r.body["group"];
    let rule_id = r.body["rules"][0]["id"].clone();
    let expected = json!({
        "revision": r.body["revision"],
        "group": {
            "id": id, "kind": "security_group", "name": "db", "description": null, "enabled": true,
            "allow_all_inbound": false, "allow_all_outbound": true,
            "allow_unmatched_outbound": false, "ip_version": null,
            "members": ["server 'db'"], "rules_count": 1,
            "face_ids": group["face_ids"], "created_at": group["created_at"],
        },
        "rules": [{
            "id": rule_id, "direction": "inbound", "action": "allow", "protocol": "tcp", "ports": ["5432"],
            "icmp_type": null, "icmp_code": null, "priority": null, "remotes": ["203.0.113.10"],
            "description": null,
        }],
    });
    assert_eq!(r.body, expected);
    assert_eq!(group["face_ids"]["katapult"]["group"], json!(sg));
    assert!(
        group["face_ids"]["hostway"]["group"].is_string() && group["face_ids"]["zstack"]["group"].is_string()
    );

    // A role: its rule names the other role.
    let role = uuid::Uuid::from_bytes(
        palisade_api::defined::ids::parse(palisade_api::defined::ids::ROLE, &app).unwrap(),
    );
    let listed = w.app.get(&base, &w.token).await;
    let cache = listed.body["groups"][2]["id"].as_str().unwrap().to_owned();
    let r = w.app.get(&format!("{base}/{cache}"), &w.token).await;
    assert_eq!(r.body["rules"][0]["remotes"], json!(["hosts with role 'app'"]), "{}", r.body);
    assert!(r.body["group"]["face_ids"]["defined"]["group"].is_string());
    let r = w.app.get(&format!("{base}/{role}"), &w.token).await;
    assert_eq!(r.body["group"]["name"], "app");

    // Refusals, in the native envelope: no such group, a malformed id, another organization.
    let r = w.app.get(&format!("{base}/{}", uuid::Uuid::new_v4()), &w.token).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    let r = w.app.get(&format!("{base}/nonsense"), &w.token).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    let other = w.app.org("other").await;
    let r = w.app.get(&format!("/api/v1/organizations/{other}/groups/{id}"), OPERATOR).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    let r = w.app.get(&format!("/api/v1/organizations/{other}/groups"), OPERATOR).await;
    assert_eq!(r.body["groups"], json!([]));
}
