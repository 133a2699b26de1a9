//! The Defined Networking face: roles and networks over HTTP, with every example of the founding document.

use palisade_api::defined::ids;
use palisade_core::id::SecurityGroupId;
use palisade_core::model::now;
use palisade_core::policy::{GroupKind, SecurityGroup};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{TestApp, OPERATOR};

struct World {
    app: TestApp,
    org: String,
    token: String,
}

const ALL: &[&str] = &["roles:create", "roles:read", "roles:list", "roles:update", "roles:delete"];

async fn world() -> World {
    let app = TestApp::spawn().await;
    let org = app.org("defined").await;
    let (_, token) = app.token(&org, ALL).await;
    World { app, org, token }
}

async fn call(
    w: &World,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    call_as(w, method, path, body, Some(&w.token)).await
}

async fn call_as(
    w: &World,
    method: Method,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let r = w.app.request(method, path, token, body).await;
    (r.status, r.headers, r.body)
}

/// A role with a fixed id (the documented examples reference `role-G3TWUQ4FASQEF44MGMTSRBTYKM`).
async fn existing_role(w: &World, id: &str, name: &str) {
    let at = now();
    let group = SecurityGroup {
        id: SecurityGroupId::from_bytes(ids::parse("role", id).unwrap()),
        organization_id: w.org.parse().unwrap(),
        kind: GroupKind::Role,
        name: name.into(),
        description: Some(String::new()),
        allow_all_inbound: false,
        allow_all_outbound: true,
        allow_unmatched_outbound: false,
        members: vec![],
        annotations: vec![],
        enabled: true,
        ip_version: None,
        serial: 0,
        created_at: at,
        updated_at: at,
    };
    once!(
        w.app.store,
        insert_security_group(&::palisade_testkit::grants::grant((group).organization_id), &group, &[])
    )
    .unwrap();
}

fn without_generated(mut v: Value) -> Value {
    for key in ["id", "createdAt", "modifiedAt"] {
        if v["data"].get(key).is_some() {
            v["data"][key] = json!("<generated>");
        }
    }
    v
}

#[tokio::test]
async fn the_founding_create_role_example() {
    let w = world().await;
    existing_role(&w, "role-G3TWUQ4FASQEF44MGMTSRBTYKM", "ssh clients").await;
    let body = json!({"name": "My new role", "description": "", "firewallRules": [
        {"protocol": "TCP", "description": "allow SSH access", "allowedRoleID": "role-G3TWUQ4FASQEF44MGMTSRBTYKM", "portRange": {"from": 22, "to": 22}},
        {"protocol": "ANY", "description": "Allow ephemeral ports", "allowedTags": ["tag:one", "tag:two"], "portRange": {"from": 32768, "to": 65535}},
        {"protocol": "ANY", "description": "Allow all ports", "allowedTags": ["tag:superuser"]}
    ]});
    let (status, headers, created) = call(&w, Method::POST, "/v1/roles", Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert!(headers.contains_key("x-request-id"));
    assert_eq!(
        without_generated(created.clone()),
        json!({"data": {"id": "<generated>", "name": "My new role", "description": "", "createdAt": "<generated>", "modifiedAt": "<generated>",
            "firewallRules": [
                {"protocol": "TCP", "description": "allow SSH access", "allowedRoleID": "role-G3TWUQ4FASQEF44MGMTSRBTYKM", "allowedTags": null, "portRange": {"from": 22, "to": 22}},
                {"protocol": "ANY", "description": "Allow ephemeral ports", "allowedRoleID": null, "allowedTags": ["tag:one", "tag:two"], "portRange": {"from": 32768, "to": 65535}},
                {"protocol": "ANY", "description": "Allow all ports", "allowedRoleID": null, "allowedTags": ["tag:superuser"], "portRange": null}
            ]}, "metadata": {}})
    );
    let id = created["data"]["id"].as_str().unwrap();
    assert!(id.starts_with("role-") && id.len() == 31 && ids::parse("role", id).is_some(), "{id}");
    let at = created["data"]["createdAt"].as_str().unwrap();
    assert!(at.ends_with('Z') && at.len() == 20, "RFC 3339 UTC seconds: {at}");
    let (_, _, got) = call(&w, Method::GET, &format!("/v1/roles/{id}"), None).await;
    assert_eq!(got, created);
}

#[tokio::test]
async fn the_founding_validation_examples() {
    let w = world().await;
    existing_role(&w, "role-G3TWUQ4FASQEF44MGMTSRBTYKM", "My new role").await;
    let cases = [
        (
            json!({"description": "x"}),
            json!({"errors": [{"code": "ERR_INVALID_VALUE_LENGTH", "message": "must have a length between 1 and 50", "path": "name"}]}),
        ),
        (
            json!({"name": "My new role"}),
            json!({"errors": [{"code": "ERR_DUPLICATE_VALUE", "message": "value already exists", "path": "name"}]}),
        ),
        (
            json!({"name": "r1", "firewallRules": [{"protocol": "SCTP"}]}),
            json!({"errors": [{"code": "ERR_INVALID_VALUE", "message": "must be a valid protocol: ANY, TCP, UDP, ICMP", "path": "firewallRules[0].protocol"}]}),
        ),
        (
            json!({"name": "r2", "firewallRules": [{"protocol": "TCP", "portRange": {}}]}),
            json!({"errors": [
            {"code": "ERR_INVALID_VALUE", "message": "must be between 1 and 65535", "path": "firewallRules[0].portRange.from"},
            {"code": "ERR_INVALID_VALUE", "message": "must be between 1 and 65535", "path": "firewallRules[0].portRange.to"}]}),
        ),
        (
            json!({"name": "r3", "firewallRules": [{"protocol": "TCP", "portRange": {"from": 30, "to": 20}}]}),
            json!({"errors": [{"code": "ERR_INVALID_VALUE", "message": "from must be less than or equal to to", "path": "firewallRules[0].portRange"}]}),
        ),
    ];
    for (body, want) in cases {
        let (status, _, got) = call(&w, Method::POST, "/v1/roles", Some(body.clone())).await;
        assert_eq!((status, &got), (StatusCode::BAD_REQUEST, &want), "{body}");
    }
    // Every violation of one request at once, references included.
    let (status, _, got) = call(
        &w,
        Method::POST,
        "/v1/roles",
        Some(json!({"name": "x".repeat(51), "description": "d".repeat(256), "firewallRules": [
            {"protocol": "ICMP", "allowedRoleID": "role-LO4SPDSWTZNJC676WFCZKUB3ZQ", "allowedTags": ["nocolon", " k:v"]},
            {"protocol": "UDP", "portRange": {"from": 0, "to": 70000}}]})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let paths: Vec<&str> =
        got["errors"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "name",
            "description",
            "firewallRules[0].allowedRoleID",
            "firewallRules[0].allowedTags[0]",
            "firewallRules[0].allowedTags[1]",
            "firewallRules[1].portRange.from",
            "firewallRules[1].portRange.to"
        ]
    );
    assert_eq!(got["errors"][2]["code"], "ERR_INVALID_REFERENCE");
    assert_eq!(w.app.count("security_groups").await, 1, "nothing written");
    let (status, _, got) = call(&w, Method::POST, "/v1/roles", None).await;
    assert_eq!((status, &got["errors"][0]["path"]), (StatusCode::BAD_REQUEST, &json!("name")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_with_one_name_have_one_winner() {
    let w = world().await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (client, url, token) =
            (w.app.client.clone(), format!("{}/v1/roles", w.app.base), w.token.clone());
        tasks.push(tokio::spawn(async move {
            let r = client.post(url).bearer_auth(token).json(&json!({"name": "same"})).send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            StatusCode::OK => ok += 1,
            StatusCode::BAD_REQUEST => assert_eq!(body["errors"][0]["code"], "ERR_DUPLICATE_VALUE"),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn list_get_replace_delete() {
    let w = world().await;
    let mut ids_created = Vec::new();
    for name in ["a", "b", "c"] {
        let (_, _, r) = call(
            &w,
            Method::POST,
            "/v1/roles",
            Some(json!({"name": name, "firewallRules": [{"protocol": "ICMP"}]})),
        )
        .await;
        ids_created.push(r["data"]["id"].as_str().unwrap().to_owned());
    }
    let (_, _, page1) = call(&w, Method::GET, "/v1/roles?pageSize=2&includeCounts=True", None).await;
    assert_eq!(page1["data"].as_array().unwrap().len(), 2);
    assert_eq!(page1["data"][0]["firewallRulesCount"], 1);
    assert_eq!(page1["data"][0]["hostCount"], 0);
    assert_eq!(page1["data"][0]["firewallRules"][0]["protocol"], "ICMP");
    let meta = &page1["metadata"];
    assert_eq!(
        (&meta["hasNextPage"], &meta["hasPrevPage"], &meta["totalCount"]),
        (&json!(true), &json!(false), &json!(3))
    );
    assert_eq!(meta["page"], json!({"count": 2, "start": 0}));
    let cursor = meta["nextCursor"].as_str().unwrap();
    let (_, _, page2) = call(&w, Method::GET, &format!("/v1/roles?pageSize=2&cursor={cursor}"), None).await;
    assert_eq!(page2["data"][0]["id"], ids_created[2].as_str());
    assert_eq!(
        (&page2["metadata"]["hasNextPage"], &page2["metadata"]["nextCursor"]),
        (&json!(false), &Value::Null)
    );
    assert!(page2["metadata"].get("totalCount").is_none());
    for bad in ["pageSize=501", "pageSize=0", "cursor=nonsense", "includeCounts=maybe"] {
        let (status, _, body) = call(&w, Method::GET, &format!("/v1/roles?{bad}"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }

    // PUT replaces: omitted description becomes "", omitted rules become none, name kept.
    let id = &ids_created[0];
    let (status, _, replaced) =
        call(&w, Method::PUT, &format!("/v1/roles/{id}"), Some(json!({"description": "web servers"}))).await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(
        (&replaced["data"]["name"], &replaced["data"]["description"], &replaced["data"]["firewallRules"]),
        (&json!("a"), &json!("web servers"), &json!([]))
    );
    let (_, _, replaced) = call(
        &w,
        Method::PUT,
        &format!("/v1/roles/{id}"),
        Some(json!({"firewallRules": [{"protocol": "UDP", "portRange": {"from": 53, "to": 53}}]})),
    )
    .await;
    assert_eq!(replaced["data"]["description"], "");
    assert_eq!(replaced["data"]["firewallRules"][0]["portRange"], json!({"from": 53, "to": 53}));
    let (status, _, body) =
        call(&w, Method::PUT, &format!("/v1/roles/{id}"), Some(json!({"name": "b"}))).await;
    assert_eq!(
        (status, &body["errors"][0]["code"]),
        (StatusCode::BAD_REQUEST, &json!("ERR_DUPLICATE_VALUE"))
    );

    let (status, _, body) = call(&w, Method::DELETE, &format!("/v1/roles/{id}"), None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"data": {}, "metadata": {}})));
    for method in [Method::GET, Method::DELETE] {
        let (status, _, body) = call(&w, method, &format!("/v1/roles/{id}"), None).await;
        assert_eq!(
            (status, body),
            (
                StatusCode::NOT_FOUND,
                json!({"errors": [{"code": "ERR_NOT_FOUND", "message": "not found", "path": null}]})
            )
        );
    }
    let (status, _, _) = call(&w, Method::GET, "/v1/roles/role-NOPE", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn keys_scopes_and_isolation() {
    let w = world().await;
    let (status, headers, body) = call_as(&w, Method::GET, "/v1/roles", None, None).await;
    assert_eq!(
        (status, &body),
        (
            StatusCode::UNAUTHORIZED,
            &json!({"errors": [{"code": "ERR_UNAUTHORIZED", "message": "unauthorized", "path": null}]})
        )
    );
    assert!(headers.contains_key("x-request-id"));
    let (status, _, body) = call_as(&w, Method::GET, "/v1/roles", None, Some(OPERATOR)).await;
    assert_eq!((status, &body["errors"][0]["code"]), (StatusCode::FORBIDDEN, &json!("ERR_FORBIDDEN")));
    let (_, reader) = w.app.token(&w.org, &["roles:read"]).await;
    let (status, _, body) =
        call_as(&w, Method::POST, "/v1/roles", Some(json!({"name": "x"})), Some(&reader)).await;
    assert_eq!(
        (status, &body["errors"][0]["message"]),
        (StatusCode::FORBIDDEN, &json!("missing required scope: roles:create"))
    );
    // Another organization's role is not found; Katapult security groups are not roles.
    let (_, _, mine) = call(&w, Method::POST, "/v1/roles", Some(json!({"name": "mine"}))).await;
    let id = mine["data"]["id"].as_str().unwrap();
    let other = w.app.org("other").await;
    let (_, theirs) = w.app.token(&other, ALL).await;
    let (status, _, _) = call_as(&w, Method::GET, &format!("/v1/roles/{id}"), None, Some(&theirs)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, listed) = call_as(&w, Method::GET, "/v1/roles", None, Some(&theirs)).await;
    assert_eq!((status, listed["data"].as_array().unwrap().len()), (StatusCode::OK, 0));
}

#[tokio::test]
async fn networks_list_is_how_clients_find_a_network_id() {
    let w = world().await;
    let shared = w.app.network().await;
    // Another organization's private network is not listed.
    let other = w.app.org("other").await;
    let dc = w.app.get("/api/v1/data_centers", OPERATOR).await.body["data_centers"][0]["id"].clone();
    let private = w
        .app
        .post(
            "/api/v1/networks",
            OPERATOR,
            json!({"name": "Theirs", "data_center_id": dc, "prefixes": ["10.9.0.0/24"], "organization_id": other}),
        )
        .await;
    assert_eq!(private.status, StatusCode::CREATED, "{}", private.body);
    let (_, lister) = w.app.token(&w.org, &["networks:list"]).await;
    let (status, _, body) =
        call_as(&w, Method::GET, "/v1/networks?includeCounts=True", None, Some(&lister)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{body}");
    let network = &data[0];
    let shared_bytes = *shared.parse::<palisade_core::id::NetworkId>().unwrap().as_bytes();
    let org_bytes = *w.org.parse::<palisade_core::id::OrganizationId>().unwrap().as_bytes();
    let mut expected = json!({
        "id": ids::render("network", &shared_bytes),
        "cidr": "203.0.113.0/24",
        "organizationID": ids::render("org", &org_bytes),
        "name": "Public",
    });
    expected["signingCAID"] = network["signingCAID"].clone();
    expected["createdAt"] = network["createdAt"].clone();
    assert_eq!(network, &expected);
    assert!(network["signingCAID"].as_str().unwrap().starts_with("ca-"));
    assert_eq!(
        body["metadata"],
        json!({"hasNextPage": false, "hasPrevPage": false, "nextCursor": null, "prevCursor": null,
            "totalCount": 1, "page": {"count": 1, "start": 0}})
    );
    // The list needs its own scope; a roles key is refused.
    let (status, _, body) = call(&w, Method::GET, "/v1/networks", None).await;
    assert_eq!(
        (status, &body["errors"][0]["message"]),
        (StatusCode::FORBIDDEN, &json!("missing required scope: networks:list"))
    );
}

/// A Defined path with a method it does not serve answers in Defined's envelope, not the native one.
#[tokio::test]
async fn wrong_method_answers_in_the_defined_envelope() {
    let w = world().await;
    for (method, path) in
        [(Method::PATCH, "/v1/roles"), (Method::POST, "/v1/roles/role-X"), (Method::DELETE, "/v1/networks")]
    {
        let (status, headers, body) = call(&w, method, path, None).await;
        assert_eq!(
            (status, body),
            (
                StatusCode::METHOD_NOT_ALLOWED,
                json!({"errors": [{"code": "ERR_METHOD_NOT_ALLOWED",
                    "message": "this route does not accept that method", "path": null}]})
            ),
            "{path}"
        );
        assert!(headers.contains_key("x-request-id"));
    }
}
