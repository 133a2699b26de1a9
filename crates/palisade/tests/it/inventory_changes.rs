//! Changing and deleting inventory through the native API: data centers and networks (the
//! operator's; a deletion is refused with 409 `in_use` while something uses the object, saying
//! what), server changes (name, tags), and the scope catalogue. Whole answers are compared.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{assert_error, error_paths, TestApp, OPERATOR};

fn country(name: &str) -> Value {
    json!({"name": name, "iso_code2": "GB", "iso_code3": "GBR", "time_zone": "Europe/London", "eu": false})
}

async fn data_center(app: &TestApp, permalink: &str) -> String {
    let r = app
        .post(
            "/api/v1/data_centers",
            OPERATOR,
            json!({"name": "London", "permalink": permalink, "country": country("United Kingdom")}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["data_center"]["id"].as_str().unwrap().to_owned()
}

async fn network(app: &TestApp, dc: &str, permalink: &str, prefix: &str) -> Value {
    let r = app
        .post(
            "/api/v1/networks",
            OPERATOR,
            json!({"name": "Public", "permalink": permalink, "data_center_id": dc, "prefixes": [prefix],
                "reserved": [], "default": false}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["network"].clone()
}

fn in_use(kind: &str, used_by: Value) -> Value {
    let text: Vec<String> = used_by
        .as_array()
        .unwrap()
        .iter()
        .map(|u| format!("{}: {}", u["kind"].as_str().unwrap(), u["count"]))
        .collect();
    json!({"error": {"code": "in_use",
        "message": format!("the {kind} is in use ({}); delete or move them first", text.join(", ")),
        "details": {"used_by": used_by}}})
}

#[tokio::test]
async fn data_centers_are_changed_and_deleted_once_unused() {
    let app = TestApp::spawn().await;
    let dc = data_center(&app, "uk-lon-01").await;
    data_center(&app, "uk-man-01").await;
    let path = format!("/api/v1/data_centers/{dc}");
    let before = app.get(&path, OPERATOR).await.body;

    // A change of some fields keeps the others.
    let r = app.patch(&path, OPERATOR, json!({"name": "London East", "permalink": "uk-lon-02"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut expected = before.clone();
    expected["data_center"]["name"] = json!("London East");
    expected["data_center"]["permalink"] = json!("uk-lon-02");
    assert_eq!(r.body, expected);
    let r = app.patch(&path, OPERATOR, json!({"country": country("England")})).await;
    expected["data_center"]["country"] = country("England");
    assert_eq!(r.body, expected);
    assert_eq!(app.get(&path, OPERATOR).await.body, expected);

    // Refusals: invalid values (every one listed), a taken permalink, an unknown field, an
    // unknown data center, an organization's token.
    let bad = json!({"name": "", "country": {"name": "E", "iso_code2": "gb", "iso_code3": "GBR",
        "time_zone": "Europe/London", "eu": false}});
    let r = app.patch(&path, OPERATOR, bad).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    assert_eq!(error_paths(&r), ["name", "country.iso_code2"]);
    let r = app.patch(&path, OPERATOR, json!({"permalink": "uk-man-01"})).await;
    assert_eq!(
        r.body,
        json!({"error": {"code": "already_exists", "message": "data center with this permalink already exists",
            "details": [{"code": "duplicate", "message": "already exists", "path": "permalink"}]}})
    );
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = app.patch(&path, OPERATOR, json!({"colour": "blue"})).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_json");
    let missing = format!("/api/v1/data_centers/{}", uuid::Uuid::new_v4());
    let r = app.patch(&missing, OPERATOR, json!({"name": "X"})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body, json!({"error": {"code": "not_found", "message": "data center not found"}}));
    let org = app.org("acme").await;
    let (_, token) = app.token(&org, &["virtual_machines", "ip_addresses"]).await;
    for method in [Method::PATCH, Method::DELETE] {
        let r = app.request(method, &path, Some(&token), Some(json!({"name": "X"}))).await;
        assert_error(&r, StatusCode::FORBIDDEN, "operator_only");
    }
    assert_eq!(app.get(&path, OPERATOR).await.body, expected);

    // In use while it has networks (and their servers).
    let net = network(&app, &dc, "public", "203.0.113.0/24").await;
    let net_id = net["id"].as_str().unwrap();
    let r = app.delete(&path, OPERATOR).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body, in_use("data center", json!([{"kind": "networks", "count": 1}])));
    let server = app
        .post(
            &format!("/api/v1/organizations/{org}/servers"),
            OPERATOR,
            json!({"name": "web", "interfaces": [{"network_id": net_id, "addresses": []}]}),
        )
        .await;
    assert_eq!(server.status, StatusCode::CREATED, "{}", server.body);
    let r = app.delete(&path, OPERATOR).await;
    assert_eq!(
        r.body,
        in_use("data center", json!([{"kind": "networks", "count": 1}, {"kind": "servers", "count": 1}]))
    );

    // Once its network is gone, it goes.
    let server_id = server.body["server"]["id"].as_str().unwrap();
    let r = app.delete(&format!("/api/v1/organizations/{org}/servers/{server_id}"), OPERATOR).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app.delete(&format!("/api/v1/networks/{net_id}"), OPERATOR).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = app.delete(&path, OPERATOR).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = app.get(&path, OPERATOR).await;
    assert_eq!(r.body, json!({"error": {"code": "not_found", "message": "data center not found"}}));
    assert_error(&app.delete(&path, OPERATOR).await, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(app.get("/api/v1/data_centers", OPERATOR).await.body["pagination"]["total"], 1);
}

#[tokio::test]
async fn networks_are_changed_and_deleted_once_unused() {
    let app = TestApp::spawn().await;
    let dc = data_center(&app, "uk-lon-01").await;
    let net = network(&app, &dc, "public", "203.0.113.0/24").await;
    let other = network(&app, &dc, "backbone", "198.51.100.0/24").await;
    let id = net["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/networks/{id}");

    let r = app.patch(&path, OPERATOR, json!({"name": "Public v4", "default": true})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut expected = json!({"network": net.clone()});
    expected["network"]["name"] = json!("Public v4");
    expected["network"]["default"] = json!(true);
    assert_eq!(r.body, expected);
    // `null` removes the permalink; an absent field stays.
    let r = app.patch(&path, OPERATOR, json!({"permalink": null})).await;
    expected["network"]["permalink"] = Value::Null;
    assert_eq!(r.body, expected);
    let r = app.patch(&path, OPERATOR, json!({"permalink": "public-v4"})).await;
    expected["network"]["permalink"] = json!("public-v4");
    assert_eq!(r.body, expected);
    assert_eq!(app.get(&path, OPERATOR).await.body, expected);

    // Refusals: a second shared default network of the data center, a taken permalink,
    // invalid values, an unknown network, an organization's token.
    let other_path = format!("/api/v1/networks/{}", other["id"].as_str().unwrap());
    let r = app.patch(&other_path, OPERATOR, json!({"default": true})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(
        r.body,
        json!({"error": {"code": "already_exists", "message": "default network with this default already exists",
            "details": [{"code": "duplicate", "message": "already exists", "path": "default"}]}})
    );
    let r = app.patch(&other_path, OPERATOR, json!({"permalink": "public-v4"})).await;
    assert_error(&r, StatusCode::CONFLICT, "already_exists");
    assert_eq!(error_paths(&r), ["permalink"]);
    let r = app.patch(&path, OPERATOR, json!({"name": " padded", "permalink": "Not A Slug"})).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    assert_eq!(error_paths(&r), ["name", "permalink"]);
    let r = app.patch(&path, OPERATOR, json!({"prefixes": ["10.0.0.0/8"]})).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_json");
    let missing = format!("/api/v1/networks/{}", uuid::Uuid::new_v4());
    let r = app.patch(&missing, OPERATOR, json!({"name": "X"})).await;
    assert_eq!(r.body, json!({"error": {"code": "not_found", "message": "network not found"}}));
    assert_eq!(app.delete(&missing, OPERATOR).await.body, r.body);
    let org = app.org("acme").await;
    let (_, token) = app.token(&org, &["virtual_machines", "ip_addresses"]).await;
    for method in [Method::PATCH, Method::DELETE] {
        let r = app.request(method, &path, Some(&token), Some(json!({"name": "X"}))).await;
        assert_error(&r, StatusCode::FORBIDDEN, "operator_only");
    }

    // In use: a server's interface with its address, then an address the organization holds.
    let server = app
        .post(
            &format!("/api/v1/organizations/{org}/servers"),
            OPERATOR,
            json!({"name": "web", "interfaces": [{"network_id": id, "addresses": ["203.0.113.10"]}]}),
        )
        .await;
    assert_eq!(server.status, StatusCode::CREATED, "{}", server.body);
    let held = app
        .post(
            &format!("/api/v1/organizations/{org}/ip_addresses"),
            OPERATOR,
            json!({"network_id": id, "version": "ipv4"}),
        )
        .await;
    assert_eq!(held.status, StatusCode::CREATED, "{}", held.body);
    let r = app.delete(&path, OPERATOR).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(
        r.body,
        in_use("network", json!([{"kind": "servers", "count": 1}, {"kind": "ip_addresses", "count": 2}]))
    );
    let server_id = server.body["server"]["id"].as_str().unwrap();
    let r = app.delete(&format!("/api/v1/organizations/{org}/servers/{server_id}"), OPERATOR).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app.delete(&path, OPERATOR).await;
    assert_eq!(r.body, in_use("network", json!([{"kind": "ip_addresses", "count": 1}])));
    let ip = held.body["ip_address"]["id"].as_str().unwrap();
    let r = app.delete(&format!("/api/v1/organizations/{org}/ip_addresses/{ip}"), OPERATOR).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);

    // Unused now (its released-address pool goes with it).
    let r = app.delete(&path, OPERATOR).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_error(&app.get(&path, OPERATOR).await, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(app.get("/api/v1/networks", OPERATOR).await.body["networks"], json!([other]));
    assert_eq!(app.count("network_prefixes").await, 1);
    assert_eq!(app.count("released_addresses").await, 0);
}

#[tokio::test]
async fn servers_change_name_and_tags_and_policy_follows() {
    let app = TestApp::spawn().await;
    let net = app.network().await;
    let mine = app.org("mine").await;
    let theirs = app.org("theirs").await;
    let (_, token) = app.token(&mine, &["virtual_machines"]).await;
    let (_, their_token) = app.token(&theirs, &["virtual_machines"]).await;
    let create = |org: String, name: &'static str| {
        let app = &app;
        let net = net.clone();
        async move {
            let body = json!({"name": name, "interfaces": [{"network_id": net, "addresses": []}], "tags": ["env:dev"]});
            let r = app.post(&format!("/api/v1/organizations/{org}/servers"), OPERATOR, body).await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            r.body
        }
    };
    let server = create(mine.clone(), "web-1").await;
    let their_server = create(theirs.clone(), "db-1").await;
    let id = server["server"]["id"].as_str().unwrap();
    let path = format!("/api/v1/organizations/{mine}/servers/{id}");
    let policy = format!("{path}/policy");
    let revision = app.get(&policy, OPERATOR).await.body["revision"].as_i64().unwrap();

    let r = app.patch(&path, &token, json!({"name": "web-2", "tags": ["env:prod", "role:web"]})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut expected = server.clone();
    expected["server"]["name"] = json!("web-2");
    expected["server"]["tags"] = json!(["env:prod", "role:web"]);
    assert_eq!(r.body, expected);
    assert_eq!(app.get(&path, &token).await.body, expected);
    // Tags decide policy (rules and groups name them): the revision moved.
    let moved = app.get(&policy, OPERATOR).await.body["revision"].as_i64().unwrap();
    assert!(moved > revision, "{revision} → {moved}");
    // Only the tags; the name stays.
    let r = app.patch(&path, &token, json!({"tags": []})).await;
    expected["server"]["tags"] = json!([]);
    assert_eq!(r.body, expected);

    // Invalid values, every one listed.
    let r = app.patch(&path, &token, json!({"name": "", "tags": ["a", "a"]})).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    assert_eq!(error_paths(&r), ["name", "tags[1]"]);
    let r = app.patch(&path, &token, json!({"interfaces": []})).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_json");

    // Another organization's server is not found, whoever asks and however it is named.
    let their_id = their_server["server"]["id"].as_str().unwrap();
    let not_found = json!({"error": {"code": "not_found", "message": "server not found"}});
    let r = app
        .patch(&format!("/api/v1/organizations/{mine}/servers/{their_id}"), &token, json!({"name": "x"}))
        .await;
    assert_eq!((r.status, &r.body), (StatusCode::NOT_FOUND, &not_found));
    let r = app.patch(&path, &their_token, json!({"name": "x"})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body, json!({"error": {"code": "not_found", "message": "organization not found"}}));
    let r = app.patch(&format!("/api/v1/organizations/{theirs}/servers/{their_id}"), &token, json!({})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&path, &token).await.body, expected);
    assert_eq!(
        app.get(&format!("/api/v1/organizations/{theirs}/servers/{their_id}"), OPERATOR).await.body,
        their_server
    );
}

#[tokio::test]
async fn the_scope_catalogue_is_served_to_any_token() {
    let app = TestApp::spawn().await;
    let org = app.org("acme").await;
    let (_, scopeless) = app.token(&org, &[]).await;
    let r = app.get("/api/v1/scopes", &scopeless).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let expected: Vec<Value> = palisade_core::Scope::all()
        .map(|s| json!({"name": s.as_str(), "description": s.description()}))
        .collect();
    assert_eq!(r.body, json!({"scopes": expected}));
    let policy = r.body["scopes"].as_array().unwrap().iter().find(|s| s["name"] == "policy:read").unwrap();
    assert_eq!(
        policy["description"],
        "Palisade: flow checks, servers' effective policies and enforcement state, lint."
    );
    assert!(!r.body.to_string().contains("roles:*"));
    assert_eq!(app.get("/api/v1/scopes", OPERATOR).await.body, r.body);
    let r = app.request(Method::GET, "/api/v1/scopes", None, None).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "missing_token");
    // Every name it lists may be given to a token, but `agent` (agent tokens').
    let grantable: Vec<&str> =
        palisade_core::Scope::all().map(|s| s.as_str()).filter(|s| *s != "agent").collect();
    let r = app
        .post(
            &format!("/api/v1/organizations/{org}/api_tokens"),
            OPERATOR,
            json!({"name": "all", "scopes": grantable}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

/// A security group attached to a network (ZStack's L3 network attachment) uses it: deleting the
/// network would silently change what the group governs.
#[tokio::test]
async fn a_network_with_an_attached_security_group_is_in_use() {
    use crate::zstack::{create_group, job_id, poll, signed_in, zs};
    let app = TestApp::spawn().await;
    let (_, session) = signed_in(&app, "acme", "admin").await;
    let network = app.network().await;
    let group = create_group(&app, &session, json!({"name": "web"})).await;
    let group = group["uuid"].as_str().unwrap();
    let l3_path = format!("/zstack/v1/security-groups/{group}/l3-networks/{}", network.replace('-', ""));
    let attachment = |method: Method| {
        let (app, session, l3_path) = (&app, session.clone(), l3_path.clone());
        async move {
            let r = zs(app, method, &l3_path, Some(&session), Some(&job_id()), None).await;
            assert_eq!(poll(app, &r, &session).await.status, StatusCode::OK);
        }
    };
    attachment(Method::POST).await;
    let r = app.delete(&format!("/api/v1/networks/{network}"), OPERATOR).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body, in_use("network", json!([{"kind": "security_groups", "count": 1}])));
    attachment(Method::DELETE).await;
    let r = app.delete(&format!("/api/v1/networks/{network}"), OPERATOR).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
}

/// A network deleted while servers are being created on it: the deletion holds the network
/// while it counts what uses it, so either it wins and every creation is refused, or it is
/// refused because a server got there first; never a server left on a network that is gone,
/// never a 5xx.
#[tokio::test]
async fn a_network_is_never_deleted_from_under_a_new_server() {
    let app = TestApp::spawn().await;
    let org = app.org("racing").await;
    let dc = data_center(&app, "uk-lon-01").await;
    for round in 0..8 {
        let net = network(&app, &dc, &format!("race-{round}"), "203.0.113.0/24").await;
        let net = net["id"].as_str().unwrap().to_owned();
        let send = |method: Method, path: String, body: Option<Value>| {
            let (client, base) = (app.client.clone(), app.base.clone());
            tokio::spawn(async move {
                let mut req = client.request(method, format!("{base}{path}")).bearer_auth(OPERATOR);
                if let Some(body) = body {
                    req = req.json(&body);
                }
                req.send().await.unwrap().status()
            })
        };
        let creations: Vec<_> = (0..4)
            .map(|i| {
                let body = json!({"name": format!("s{round}-{i}"), "interfaces": [{"network_id": net, "addresses": []}]});
                send(Method::POST, format!("/api/v1/organizations/{org}/servers"), Some(body))
            })
            .collect();
        let deletion = send(Method::DELETE, format!("/api/v1/networks/{net}"), None).await.unwrap();
        let mut created = 0;
        for creation in creations {
            let status = creation.await.unwrap();
            assert!(status.is_success() || status.is_client_error(), "round {round}: {status}");
            created += usize::from(status == StatusCode::CREATED);
        }
        match deletion {
            StatusCode::NO_CONTENT => {
                assert_eq!(created, 0, "round {round}: servers created on a deleted network")
            }
            StatusCode::CONFLICT => assert!(created > 0, "round {round}: refused, yet nothing used it"),
            other => panic!("round {round}: the deletion answered {other}"),
        }
    }
    let servers = app.get(&format!("/api/v1/organizations/{org}/servers?per_page=100"), OPERATOR).await;
    let networks = app.get("/api/v1/networks?per_page=100", OPERATOR).await.body.to_string();
    for server in servers.body["servers"].as_array().unwrap() {
        let on = server["interfaces"][0]["network_id"].as_str().unwrap();
        assert!(networks.contains(on), "{} is on a network that is gone", server["name"]);
    }
}
