//! The Defined Networking face: hosts that carry roles, in the route versions clients use, and
//! proof that a host is a canonical server (the native API sees it, IPAM hands out its address).

use palisade_api::defined::ids;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{TestApp, OPERATOR};

const ALL: &[&str] = &[
    "roles:create",
    "roles:read",
    "roles:list",
    "roles:update",
    "roles:delete",
    "hosts:create",
    "hosts:read",
    "hosts:list",
    "hosts:update",
    "hosts:delete",
];

struct World {
    app: TestApp,
    org: String,
    token: String,
    /// The shared network (203.0.113.0/24) in Defined's form.
    network: String,
}

async fn world() -> World {
    let app = TestApp::spawn().await;
    let org = app.org("defined").await;
    let (_, token) = app.token(&org, ALL).await;
    let network = app.network().await;
    let network =
        ids::render(ids::NETWORK, network.parse::<palisade_core::id::NetworkId>().unwrap().as_bytes());
    World { app, org, token, network }
}

impl World {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let r = self.app.request(method, path, Some(&self.token), body).await;
        (r.status, r.body)
    }

    async fn role(&self, name: &str) -> String {
        let (status, body) = self.call(Method::POST, "/v1/roles", Some(json!({"name": name}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"]["id"].as_str().unwrap().to_owned()
    }

    async fn host(&self, body: Value) -> Value {
        let (status, body) = self.call(Method::POST, "/v1/hosts", Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["data"].clone()
    }

    fn org_id(&self) -> String {
        ids::render(
            ids::ORGANIZATION,
            self.org.parse::<palisade_core::id::OrganizationId>().unwrap().as_bytes(),
        )
    }
}

/// Replaces the generated values of a host view after checking their form.
fn masked(mut host: Value) -> Value {
    let id = host["id"].as_str().unwrap();
    assert!(ids::parse(ids::HOST, id).is_some(), "{id}");
    for key in ["createdAt", "modifiedAt"] {
        let at = host[key].as_str().unwrap();
        assert!(
            time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).is_ok(),
            "{at}"
        );
        assert!(at.ends_with('Z') && !at.contains('.'), "RFC 3339 UTC seconds: {at}");
        host[key] = json!("<time>");
    }
    host["id"] = json!("<id>");
    host
}

/// The body the community Terraform provider and the Python clients send.
#[tokio::test]
async fn v1_create_as_clients_send_it_answers_the_whole_v1_host() {
    let w = world().await;
    let role = w.role("web").await;
    let (status, body) = w
        .call(
            Method::POST,
            "/v1/hosts",
            Some(
                json!({"name": "web-1", "networkID": w.network, "roleID": role, "ipAddress": "203.0.113.10",
                "staticAddresses": [], "listenPort": 0, "isLighthouse": false, "isRelay": false,
                "tags": ["env:prod"], "configOverrides": []}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["metadata"], json!({}));
    let expected = json!({
        "id": "<id>", "organizationID": w.org_id(), "networkID": w.network, "roleID": role,
        "name": "web-1", "ipAddress": "203.0.113.10", "staticAddresses": [], "listenPort": 0,
        "isLighthouse": false, "isRelay": false, "isBlocked": false, "createdAt": "<time>",
        "modifiedAt": "<time>", "tags": ["env:prod"], "configOverrides": [],
        "metadata": {"lastSeenAt": null, "platform": null, "updateAvailable": null, "version": null},
    });
    assert_eq!(masked(body["data"].clone()), expected);
    // The same host through GET, and through the native API as a server with its address.
    let id = body["data"]["id"].as_str().unwrap();
    let (status, got) = w.call(Method::GET, &format!("/v1/hosts/{id}"), None).await;
    assert_eq!((status, &got["data"]), (StatusCode::OK, &body["data"]));
    let server = palisade_core::id::ServerId::from_bytes(ids::parse(ids::HOST, id).unwrap());
    let native = w.app.get(&format!("/api/v1/organizations/{}/servers/{server}", w.org), OPERATOR).await;
    assert_eq!(native.status, StatusCode::OK, "{}", native.body);
    assert_eq!(native.body["server"]["name"], "web-1");
    assert_eq!(native.body["server"]["tags"], json!(["env:prod"]));
    assert_eq!(native.body["server"]["interfaces"][0]["addresses"], json!(["203.0.113.10"]));
    // The role counts its host.
    let (_, roles) = w.call(Method::GET, "/v1/roles", None).await;
    assert_eq!(roles["data"][0]["hostCount"], 1, "{roles}");
}

#[tokio::test]
async fn without_an_address_ipam_picks_the_next_free_one_and_v2_lists_addresses() {
    let w = world().await;
    let first = w.host(json!({"name": "a", "networkID": w.network})).await;
    assert_eq!(first["ipAddress"], "203.0.113.1");
    assert_eq!(first["roleID"], Value::Null);
    // The address is IPAM's: the next host gets the next one, a claimed one is refused.
    let (status, body) = w
        .call(
            Method::POST,
            "/v2/hosts",
            Some(json!({"name": "b", "networkID": w.network, "ipAddresses": []})),
        )
        .await;
    assert_eq!((status, &body["data"]["ipAddresses"]), (StatusCode::OK, &json!(["203.0.113.2"])), "{body}");
    assert_eq!(body["data"]["endpointOIDCUserID"], Value::Null);
    assert!(body["data"].get("ipAddress").is_none());
    let (status, body) = w
        .call(
            Method::POST,
            "/v2/hosts",
            Some(json!({"name": "c", "networkID": w.network, "ipAddresses": ["203.0.113.2"]})),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"errors": [{"code": "ERR_DUPLICATE_VALUE", "message": "value already exists", "path": "ipAddresses[0]"}]})
        )
    );
    let id = first["id"].as_str().unwrap();
    let (status, body) = w.call(Method::GET, &format!("/v2/hosts/{id}"), None).await;
    assert_eq!((status, &body["data"]["ipAddresses"]), (StatusCode::OK, &json!(["203.0.113.1"])));
    // Deleting the host releases its address to the pool.
    let (status, body) = w.call(Method::DELETE, &format!("/v1/hosts/{id}"), None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"data": {}, "metadata": {}})));
    let again = w.host(json!({"name": "d", "networkID": w.network})).await;
    assert_eq!(again["ipAddress"], "203.0.113.1");
    let (status, _) = w.call(Method::GET, &format!("/v1/hosts/{id}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_violation_is_listed_in_defined_paths() {
    let w = world().await;
    let (status, body) = w
        .call(
            Method::POST,
            "/v1/hosts",
            Some(json!({"name": "x", "networkID": w.network, "roleID": "role-LO4SPDSWTZNJC676WFCZKUB3ZQ",
                "ipAddress": "198.51.100.7", "staticAddresses": ["nowhere"], "tags": ["no-colon"]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Shapes first (the face), then the model (the core), each complete.
    assert_eq!(
        body,
        json!({"errors": [{"code": "ERR_INVALID_VALUE", "message": "must be a tag in the form key:value", "path": "tags[0]"}]})
    );
    let (status, body) = w
        .call(
            Method::POST,
            "/v1/hosts",
            Some(json!({"name": "x", "networkID": w.network, "roleID": "role-LO4SPDSWTZNJC676WFCZKUB3ZQ",
                "ipAddress": "198.51.100.7", "staticAddresses": ["nowhere"]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let paths: Vec<(&str, &str)> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["code"].as_str().unwrap(), e["path"].as_str().unwrap()))
        .collect();
    assert_eq!(
        paths,
        [
            ("ERR_INVALID_VALUE", "staticAddresses[0]"),
            ("ERR_INVALID_REFERENCE", "roleID"),
            ("ERR_INVALID_VALUE", "ipAddress"),
        ]
    );
    // Missing name and network; an unknown network id.
    let (status, body) = w.call(Method::POST, "/v1/hosts", Some(json!({}))).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"errors": [
                {"code": "ERR_INVALID_VALUE_LENGTH", "message": "must have a length between 1 and 255", "path": "name"},
                {"code": "ERR_INVALID_REFERENCE", "message": "must be an existing network", "path": "networkID"}]})
        )
    );
    let (status, body) = w
        .call(
            Method::POST,
            "/v1/hosts",
            Some(json!({"name": "x", "networkID": "network-LO4SPDSWTZNJC676WFCZKUB3ZQ"})),
        )
        .await;
    assert_eq!(
        (status, &body["errors"][0]["path"]),
        (StatusCode::BAD_REQUEST, &json!("networkID")),
        "{body}"
    );
    assert_eq!(body["errors"][0]["code"], "ERR_INVALID_REFERENCE");
    // Names are unique in a network.
    w.host(json!({"name": "taken", "networkID": w.network})).await;
    let (status, body) =
        w.call(Method::POST, "/v1/hosts", Some(json!({"name": "taken", "networkID": w.network}))).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::BAD_REQUEST,
            json!({"errors": [{"code": "ERR_DUPLICATE_VALUE", "message": "value already exists", "path": "name"}]})
        )
    );
    // Nothing half-written: the refused creates left no server and no address behind.
    assert_eq!(w.app.count("servers").await, 1);
    assert_eq!(w.app.count("ip_addresses").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_with_one_name_have_one_winner() {
    let w = world().await;
    let role = w.role("r").await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (client, url, token) =
            (w.app.client.clone(), format!("{}/v1/hosts", w.app.base), w.token.clone());
        let body = json!({"name": "same", "networkID": w.network, "roleID": role});
        tasks.push(tokio::spawn(async move {
            client.post(url).bearer_auth(token).json(&body).send().await.unwrap().status()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::BAD_REQUEST).count(), 15, "{statuses:?}");
    assert_eq!(w.app.count("servers").await, 1);
    assert_eq!(w.app.count("security_group_members").await, 1);
}

#[tokio::test]
async fn list_filters_by_role_and_pages_with_cursors() {
    let w = world().await;
    let web = w.role("web").await;
    let db = w.role("db").await;
    for i in 0..5 {
        let role = if i % 2 == 0 { &web } else { &db };
        w.host(json!({"name": format!("h{i}"), "networkID": w.network, "roleID": role, "isLighthouse": i == 4,
            "staticAddresses": if i == 4 { json!(["192.0.2.1:4242"]) } else { json!([]) }, "listenPort": if i == 4 { 4242 } else { 0 }}))
            .await;
    }
    let (status, body) =
        w.call(Method::GET, &format!("/v1/hosts?filter.roleID={web}&includeCounts=True"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let names: Vec<&str> =
        body["data"].as_array().unwrap().iter().map(|h| h["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["h0", "h2", "h4"]);
    assert_eq!(body["metadata"]["totalCount"], 3);
    // Python's spelling of booleans; lighthouses only; blocked hosts (there are none).
    let (_, body) = w.call(Method::GET, "/v1/hosts?filter.isLighthouse=True", None).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["data"][0]["staticAddresses"], json!(["192.0.2.1:4242"]));
    let (_, body) = w.call(Method::GET, "/v2/hosts?filter.isBlocked=False", None).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 5, "{body}");
    let (_, body) = w.call(Method::GET, "/v2/hosts?filter.isBlocked=true", None).await;
    assert_eq!(body["data"], json!([]));
    let (status, body) = w.call(Method::GET, "/v1/hosts?filter.isRelay=maybe", None).await;
    assert_eq!((status, &body["errors"][0]["path"]), (StatusCode::BAD_REQUEST, &json!("filter.isRelay")));
    // Cursor paging until hasNextPage is false visits every host once.
    let mut seen = Vec::new();
    let mut path = "/v1/hosts?pageSize=2".to_owned();
    loop {
        let (status, body) = w.call(Method::GET, &path, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        seen.extend(body["data"].as_array().unwrap().iter().map(|h| h["name"].as_str().unwrap().to_owned()));
        if body["metadata"]["hasNextPage"] != json!(true) {
            break;
        }
        path = format!("/v1/hosts?pageSize=2&cursor={}", body["metadata"]["nextCursor"].as_str().unwrap());
    }
    assert_eq!(seen, ["h0", "h1", "h2", "h3", "h4"]);
}

#[tokio::test]
async fn v2_put_replaces_and_v3_put_changes_only_what_it_names() {
    let w = world().await;
    let web = w.role("web").await;
    let db = w.role("db").await;
    let host = w
        .host(json!({"name": "h", "networkID": w.network, "roleID": web, "tags": ["env:prod"], "listenPort": 4242,
            "isRelay": true, "configOverrides": [{"key": "logging.level", "value": "debug"}]}))
        .await;
    assert_eq!(host["configOverrides"], json!([{"key": "logging.level", "value": "debug"}]));
    let id = host["id"].as_str().unwrap();
    // v3: partial. Only the role changes.
    let (status, body) = w.call(Method::PUT, &format!("/v3/hosts/{id}"), Some(json!({"roleID": db}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v3 = &body["data"];
    assert_eq!(
        (&v3["roleID"], &v3["tags"], &v3["listenPort"], &v3["isRelay"]),
        (&json!(db), &json!(["env:prod"]), &json!(4242), &json!(true))
    );
    assert_eq!(v3["ipAddresses"], json!([host["ipAddress"]]));
    // One role at a time: the host left `web`.
    let (_, roles) = w.call(Method::GET, "/v1/roles", None).await;
    let counts: Vec<(&str, &Value)> = roles["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["name"].as_str().unwrap(), &r["hostCount"]))
        .collect();
    assert_eq!(counts, [("web", &json!(0)), ("db", &json!(1))]);
    // v3 with null clears the role.
    let (_, body) = w.call(Method::PUT, &format!("/v3/hosts/{id}"), Some(json!({"roleID": null}))).await;
    assert_eq!(body["data"]["roleID"], Value::Null);
    // v2: full replacement. Left-out fields take their empty values; the address may be repeated.
    let (status, body) = w
        .call(
            Method::PUT,
            &format!("/v2/hosts/{id}"),
            Some(json!({"name": "renamed", "roleID": web, "ipAddress": host["ipAddress"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut expected = host.clone();
    expected["name"] = json!("renamed");
    expected["tags"] = json!([]);
    expected["listenPort"] = json!(0);
    expected["isRelay"] = json!(false);
    expected["configOverrides"] = json!([]);
    expected["modifiedAt"] = body["data"]["modifiedAt"].clone();
    assert_eq!(body["data"], expected);
    // The network and the address are fixed; a v2 PUT needs a name.
    let (status, body) = w
        .call(
            Method::PUT,
            &format!("/v2/hosts/{id}"),
            Some(json!({"name": "n", "ipAddress": "203.0.113.99"})),
        )
        .await;
    assert_eq!(
        (status, &body["errors"][0]["path"]),
        (StatusCode::BAD_REQUEST, &json!("ipAddress")),
        "{body}"
    );
    let (status, body) = w.call(Method::PUT, &format!("/v2/hosts/{id}"), Some(json!({"roleID": web}))).await;
    assert_eq!((status, &body["errors"][0]["path"]), (StatusCode::BAD_REQUEST, &json!("name")), "{body}");
    let (status, _) = w.call(Method::PUT, "/v3/hosts/host-LO4SPDSWTZNJC676WFCZKUB3ZQ", Some(json!({}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_role_that_hosts_carry_is_not_deleted_from_under_them() {
    let w = world().await;
    let role = w.role("web").await;
    let host = w.host(json!({"name": "h", "networkID": w.network, "roleID": role})).await;
    let (status, body) = w.call(Method::DELETE, &format!("/v1/roles/{role}"), None).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::CONFLICT,
            json!({"errors": [{"code": "ERR_CONFLICT",
                "message": "the role is assigned to 1 host(s); give them another role or none first", "path": null}]})
        )
    );
    let id = host["id"].as_str().unwrap();
    w.call(Method::PUT, &format!("/v3/hosts/{id}"), Some(json!({"roleID": null}))).await;
    let (status, _) = w.call(Method::DELETE, &format!("/v1/roles/{role}"), None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn hosts_are_private_to_their_organization_and_need_host_scopes() {
    let w = world().await;
    let host = w.host(json!({"name": "h", "networkID": w.network})).await;
    let id = host["id"].as_str().unwrap();
    let other = w.app.org("other").await;
    let (_, theirs) = w.app.token(&other, ALL).await;
    for (method, path) in
        [(Method::GET, format!("/v1/hosts/{id}")), (Method::DELETE, format!("/v1/hosts/{id}"))]
    {
        let r = w.app.request(method, &path, Some(&theirs), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.body);
    }
    let r = w.app.request(Method::GET, "/v1/hosts", Some(&theirs), None).await;
    assert_eq!(r.body["data"], json!([]));
    // Another organization may name the same host in the shared network.
    let r = w
        .app
        .request(Method::POST, "/v1/hosts", Some(&theirs), Some(json!({"name": "h", "networkID": w.network})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let (_, roles_only) = w.app.token(&w.org, &["roles:read"]).await;
    let r = w.app.request(Method::GET, &format!("/v1/hosts/{id}"), Some(&roles_only), None).await;
    assert_eq!(
        (r.status, &r.body["errors"][0]["message"]),
        (StatusCode::FORBIDDEN, &json!("missing required scope: hosts:read"))
    );
    assert!(r.headers.contains_key("x-request-id"));
}
