//! Concurrent partial updates of one object (issue 12, point 2): two Katapult PATCHes of
//! different fields of the same object, sent at the same instant, must both land, every round,
//! on either backend. Before the unit of work, the core read an object in one transaction and
//! wrote the whole of it back in another, so one PATCH could overwrite the other's field with
//! the value it had read (a tag kept both changes in 4–7 rounds of 12). Now the read and the
//! write are one transaction holding the row.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::TestApp;

const ROUNDS: usize = 12;

struct World {
    app: TestApp,
    org: String,
    token: String,
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let org = app.org("racing").await;
    let scopes = ["security_groups", "virtual_machine_groups", "tags", "address_lists", "virtual_machines"];
    let (_, token) = app.token(&org, &scopes).await;
    World { app, org, token }
}

async fn call(w: &World, method: Method, path: &str, body: &Value) -> Value {
    let res = w
        .app
        .client
        .request(method.clone(), format!("{}/core/v1/{path}", w.app.base))
        .bearer_auth(&w.token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    w.app.assert_audited(&method, &format!("/core/v1/{path}"), status, res.headers()).await;
    let text = res.text().await.unwrap();
    assert!(matches!(status, StatusCode::OK | StatusCode::CREATED), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap()
}

async fn create(w: &World, path: &str, body: Value, id: &str) -> String {
    let created = call(w, Method::POST, path, &body).await;
    created.pointer(id).and_then(Value::as_str).unwrap().to_owned()
}

/// One object and two of its fields: `reset` puts both back, `first` and `second` each change
/// one; after both, `expect` holds (each pointer of the object's GET and its value).
struct Race {
    path: String,
    reset: Value,
    first: Value,
    second: Value,
    expect: [(&'static str, Value); 2],
}

async fn race(w: &World, kind: &str, r: Race) {
    let mut kept = 0;
    for round in 0..ROUNDS {
        call(w, Method::PATCH, &r.path, &r.reset).await;
        tokio::join!(call(w, Method::PATCH, &r.path, &r.first), call(w, Method::PATCH, &r.path, &r.second));
        let now = call(w, Method::GET, &r.path, &json!({})).await;
        let both = r.expect.iter().all(|(pointer, value)| now.pointer(pointer) == Some(value));
        assert!(both, "{kind}, round {round}: a concurrent PATCH was lost: {now}");
        kept += 1;
    }
    assert_eq!(kept, ROUNDS);
}

#[tokio::test]
async fn concurrent_patches_of_a_tag_both_land() {
    let w = world().await;
    let body = json!({"organization": {"sub_domain": "racing"}, "properties": {"name": "t", "color": "red"}});
    let id = create(&w, "organizations/_/tags", body, "/tag/id").await;
    let r = Race {
        path: format!("tags/{id}"),
        reset: json!({"properties": {"name": "t", "color": "red"}}),
        first: json!({"properties": {"name": "renamed"}}),
        second: json!({"properties": {"color": "green"}}),
        expect: [("/tag/name", json!("renamed")), ("/tag/color", json!("green"))],
    };
    race(&w, "tag", r).await;
}

#[tokio::test]
async fn concurrent_patches_of_a_virtual_machine_group_both_land() {
    let w = world().await;
    let body =
        json!({"organization": {"sub_domain": "racing"}, "properties": {"name": "g", "segregate": false}});
    let id = create(&w, "organizations/_/virtual_machine_groups", body, "/virtual_machine_group/id").await;
    let r = Race {
        path: format!("virtual_machine_groups/{id}"),
        reset: json!({"properties": {"name": "g", "segregate": false}}),
        first: json!({"properties": {"name": "renamed"}}),
        second: json!({"properties": {"segregate": true}}),
        expect: [
            ("/virtual_machine_group/name", json!("renamed")),
            ("/virtual_machine_group/segregate", json!(true)),
        ],
    };
    race(&w, "virtual machine group", r).await;
}

#[tokio::test]
async fn concurrent_patches_of_a_virtual_machine_both_land() {
    let w = world().await;
    let body = json!({"organization": {"sub_domain": "racing"}, "properties": {"name": "g"}});
    let group = create(&w, "organizations/_/virtual_machine_groups", body, "/virtual_machine_group/id").await;
    let created = w
        .app
        .post(&format!("/api/v1/organizations/{}/servers", w.org), &w.token, json!({"name": "vm"}))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let server = created.body["server"]["id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap();
    let r = Race {
        path: format!("virtual_machines/{}", palisade_api::katapult::ids::render("vm", server.as_bytes())),
        reset: json!({"properties": {"name": "vm", "group": null}}),
        first: json!({"properties": {"name": "renamed"}}),
        second: json!({"properties": {"group": {"id": group}}}),
        expect: [("/virtual_machine/name", json!("renamed")), ("/virtual_machine/group/id", json!(group))],
    };
    race(&w, "virtual machine", r).await;
}

#[tokio::test]
async fn concurrent_patches_of_an_address_list_both_land() {
    let w = world().await;
    let body = json!({"organization": {"sub_domain": "racing"}, "properties": {"name": "l"}});
    let id = create(&w, "organizations/_/address_lists", body, "/address_list/id").await;
    let r = Race {
        path: format!("address_lists/{id}"),
        reset: json!({"properties": {"name": "l"}, "annotations": []}),
        first: json!({"properties": {"name": "renamed"}}),
        second: json!({"annotations": [{"key": "team", "value": "ops"}]}),
        expect: [
            ("/address_list/name", json!("renamed")),
            ("/annotations", json!([{"key": "team", "value": "ops"}])),
        ],
    };
    race(&w, "address list", r).await;

    let entry = json!({"properties": {"address": "192.0.2.1", "name": "a"}});
    let id = create(&w, &format!("address_lists/{id}/entries"), entry, "/address_list_entry/id").await;
    let r = Race {
        path: format!("address_list_entries/{id}"),
        reset: json!({"properties": {"address": "192.0.2.1", "name": "a"}}),
        first: json!({"properties": {"address": "192.0.2.2"}}),
        second: json!({"properties": {"name": "b"}}),
        expect: [
            ("/address_list_entry/address", json!("192.0.2.2")),
            ("/address_list_entry/name", json!("b")),
        ],
    };
    race(&w, "address list entry", r).await;
}

#[tokio::test]
async fn concurrent_patches_of_a_security_group_both_land() {
    let w = world().await;
    let properties = json!({"name": "sg", "allow_all_inbound": false, "allow_all_outbound": false});
    let body = json!({"organization": {"sub_domain": "racing"}, "properties": properties});
    let id = create(&w, "organizations/_/security_groups", body, "/security_group/id").await;
    let r = Race {
        path: format!("security_groups/{id}"),
        reset: json!({"properties": properties}),
        first: json!({"properties": {"name": "renamed"}}),
        second: json!({"properties": {"allow_all_outbound": true}}),
        expect: [
            ("/security_group/name", json!("renamed")),
            ("/security_group/allow_all_outbound", json!(true)),
        ],
    };
    race(&w, "security group", r).await;
}

#[tokio::test]
async fn concurrent_patches_of_a_rule_both_land() {
    let w = world().await;
    let properties = json!({"name": "sg", "allow_all_inbound": false, "allow_all_outbound": false});
    let body = json!({"organization": {"sub_domain": "racing"}, "properties": properties});
    let group = create(&w, "organizations/_/security_groups", body, "/security_group/id").await;
    let rule =
        json!({"properties": {"direction": "inbound", "protocol": "TCP", "ports": "22", "notes": "ssh"}});
    let id = create(&w, &format!("security_groups/{group}/rules"), rule, "/security_group_rule/id").await;
    let r = Race {
        path: format!("security_groups/rules/{id}"),
        reset: json!({"properties": {"ports": "22", "notes": "ssh"}}),
        first: json!({"properties": {"ports": "2222"}}),
        second: json!({"properties": {"notes": "moved"}}),
        expect: [
            ("/security_group_rule/ports", json!("2222")),
            ("/security_group_rule/notes", json!("moved")),
        ],
    };
    race(&w, "rule", r).await;
}
