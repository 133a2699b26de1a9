//! IP address management over HTTP: allocation, exhaustion, concurrency, the address life cycle.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{assert_error, error_paths, TestApp, OPERATOR};

/// A data center and a shared network with these prefixes; returns the network id.
async fn network(app: &TestApp, prefixes: &[&str], reserved: &[&str]) -> String {
    let dc = app
        .post(
            "/api/v1/data_centers",
            OPERATOR,
            json!({"name": "DC", "permalink": format!("dc-{}", uuid::Uuid::new_v4().simple()), "country": {"name": "United Kingdom",
                "iso_code2": "GB", "iso_code3": "GBR", "time_zone": "Europe/London", "eu": false}}),
        )
        .await;
    let r = app
        .post(
            "/api/v1/networks",
            OPERATOR,
            json!({"name": "Net", "data_center_id": dc.body["data_center"]["id"], "prefixes": prefixes, "reserved": reserved}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["network"]["id"].as_str().unwrap().to_owned()
}

fn addresses_path(org: &str) -> String {
    format!("/api/v1/organizations/{org}/ip_addresses")
}

#[tokio::test]
async fn create_get_list_update_release() {
    let app = TestApp::spawn().await;
    let org = app.org("acme").await;
    let net = network(&app, &["203.0.113.0/24", "2001:db8::/64"], &["203.0.113.1"]).await;
    let r = app.post(&addresses_path(&org), OPERATOR, json!({"network_id": net, "version": "ipv4"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let ip = &r.body["ip_address"];
    let id = ip["id"].as_str().unwrap().to_owned();
    assert_eq!(
        r.body,
        json!({"ip_address": {"id": id, "organization_id": org, "network_id": net, "address": "203.0.113.2",
            "address_with_mask": "203.0.113.2/24", "version": "ipv4", "vip": false, "label": null,
            "reverse_dns": "203-0-113-2.rdns.example.net", "allocation_id": null, "allocation_type": null,
            "interface_id": null, "created_at": ip["created_at"]}})
    );
    let path = format!("{}/{id}", addresses_path(&org));
    assert_eq!(app.get(&path, OPERATOR).await.body, r.body);

    let v6 = app
        .post(
            &addresses_path(&org),
            OPERATOR,
            json!({"network_id": net, "version": "ipv6", "vip": true, "label": "web"}),
        )
        .await;
    assert_eq!(v6.status, StatusCode::CREATED, "{}", v6.body);
    assert_eq!(v6.body["ip_address"]["version"], "ipv6");
    assert_eq!(v6.body["ip_address"]["label"], "web");
    assert!(v6.body["ip_address"]["address_with_mask"].as_str().unwrap().ends_with("/64"));

    let list = app.get(&addresses_path(&org), OPERATOR).await;
    assert_eq!(list.body["pagination"]["total"], 2);
    assert_eq!(list.body["ip_addresses"][0], r.body["ip_address"]);

    let patched = app
        .patch(&path, OPERATOR, json!({"vip": true, "label": "lb", "reverse_dns": "lb.example.net"}))
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(
        (&patched.body["ip_address"]["vip"], &patched.body["ip_address"]["label"]),
        (&json!(true), &json!("lb"))
    );
    assert_eq!(patched.body["ip_address"]["reverse_dns"], "lb.example.net");
    let cleared = app.patch(&path, OPERATOR, json!({"vip": false, "label": null})).await;
    assert_eq!(cleared.body["ip_address"]["label"], Value::Null);
    assert_eq!(cleared.body["ip_address"]["reverse_dns"], "lb.example.net");
    let bad = app.patch(&path, OPERATOR, json!({"reverse_dns": "not a name!"})).await;
    assert_error(&bad, StatusCode::BAD_REQUEST, "invalid_request");
    assert_eq!(error_paths(&bad), ["reverse_dns"]);
    let vip_without_label = app.patch(&path, OPERATOR, json!({"vip": true})).await;
    assert_eq!(error_paths(&vip_without_label), ["label"]);

    assert_eq!(app.delete(&path, OPERATOR).await.status, StatusCode::NO_CONTENT);
    assert_error(&app.get(&path, OPERATOR).await, StatusCode::NOT_FOUND, "not_found");
    assert_error(&app.delete(&path, OPERATOR).await, StatusCode::NOT_FOUND, "not_found");
    // Released: handed out again first.
    let again =
        app.post(&addresses_path(&org), OPERATOR, json!({"network_id": net, "version": "ipv4"})).await;
    assert_eq!(again.body["ip_address"]["address"], "203.0.113.2");
}

#[tokio::test]
async fn bad_requests_name_their_fields() {
    let app = TestApp::spawn().await;
    let org = app.org("acme").await;
    let v4_only = network(&app, &["203.0.113.0/24"], &[]).await;
    let cases = [
        (json!({"network_id": v4_only, "version": "ipv6"}), StatusCode::BAD_REQUEST, vec!["version"]),
        (
            json!({"network_id": v4_only, "version": "ipv4", "vip": true}),
            StatusCode::BAD_REQUEST,
            vec!["label"],
        ),
        (json!({"network_id": v4_only, "version": "ipv5"}), StatusCode::BAD_REQUEST, vec!["version"]),
        (
            json!({"network_id": uuid::Uuid::nil(), "version": "ipv4"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            vec!["network_id"],
        ),
        (json!({"version": "ipv4"}), StatusCode::BAD_REQUEST, vec!["network_id"]),
    ];
    for (body, status, paths) in cases {
        let r = app.post(&addresses_path(&org), OPERATOR, body.clone()).await;
        assert_eq!(r.status, status, "{body}: {}", r.body);
        assert_eq!(error_paths(&r), paths, "{body}: {}", r.body);
    }
    assert_eq!(app.count("ip_addresses").await, 0);
    let r = app.get(&format!("{}?allocated=maybe", addresses_path(&org)), OPERATOR).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_parameter");
    // Another organization's private network is invisible.
    let other = app.org("other").await;
    let dc = app.get(&format!("/api/v1/networks/{v4_only}"), OPERATOR).await.body["network"]
        ["data_center_id"]
        .clone();
    let private = app
        .post(
            "/api/v1/networks",
            OPERATOR,
            json!({"name": "P", "data_center_id": dc, "prefixes": ["10.9.0.0/24"], "organization_id": other}),
        )
        .await;
    let r = app
        .post(
            &addresses_path(&org),
            OPERATOR,
            json!({"network_id": private.body["network"]["id"], "version": "ipv4"}),
        )
        .await;
    assert_eq!(error_paths(&r), ["network_id"]);
}

#[tokio::test]
async fn a_28_hands_out_exactly_14_addresses() {
    let app = TestApp::spawn().await;
    let org = app.org("acme").await;
    let net = network(&app, &["198.51.100.0/28"], &[]).await;
    let mut got = Vec::new();
    for _ in 0..14 {
        let r =
            app.post(&addresses_path(&org), OPERATOR, json!({"network_id": net, "version": "ipv4"})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        got.push(r.body["ip_address"]["address"].as_str().unwrap().to_owned());
    }
    let want: Vec<String> = (1..=14).map(|i| format!("198.51.100.{i}")).collect();
    assert_eq!(got, want);
    let r = app.post(&addresses_path(&org), OPERATOR, json!({"network_id": net, "version": "ipv4"})).await;
    assert_error(&r, StatusCode::CONFLICT, "no_available_addresses");
    assert_eq!(app.count("ip_addresses").await, 14);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_allocations_against_a_26() {
    let app = TestApp::spawn().await;
    let org = app.org("acme").await;
    let net = network(&app, &["198.51.100.0/26"], &[]).await;
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (client, url, net) =
            (app.client.clone(), format!("{}{}", app.base, addresses_path(&org)), net.clone());
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .bearer_auth(OPERATOR)
                .json(&json!({"network_id": net, "version": "ipv4"}))
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }));
    }
    let mut addresses = BTreeSet::new();
    let mut exhausted = 0;
    for task in tasks {
        let (status, body) = task.await.unwrap();
        match status {
            StatusCode::CREATED => {
                assert!(
                    addresses.insert(body["ip_address"]["address"].as_str().unwrap().to_owned()),
                    "duplicate: {body}"
                )
            }
            StatusCode::CONFLICT => {
                assert_eq!(body["error"]["code"], "no_available_addresses");
                exhausted += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((addresses.len(), exhausted), (62, 2));
}

#[tokio::test]
async fn ipv6_64_and_48() {
    let app = TestApp::spawn().await;
    let org = app.org("acme").await;
    for prefix in ["2001:db8:1::/64", "2001:db8:2::/48"] {
        let net = network(&app, &[prefix], &[]).await;
        let parsed: ipnet::IpNet = prefix.parse().unwrap();
        let mut seen = BTreeSet::new();
        for _ in 0..20 {
            let r = app
                .post(&addresses_path(&org), OPERATOR, json!({"network_id": net, "version": "ipv6"}))
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            let addr: std::net::IpAddr = r.body["ip_address"]["address"].as_str().unwrap().parse().unwrap();
            assert!(parsed.contains(&addr) && addr != parsed.network(), "{addr}");
            assert!(seen.insert(addr));
        }
    }
}

#[tokio::test]
async fn addresses_allocate_to_server_interfaces() {
    let app = TestApp::spawn().await;
    let org = app.org("acme").await;
    let net = network(&app, &["203.0.113.0/24"], &[]).await;
    let server = app
        .post(
            &format!("/api/v1/organizations/{org}/servers"),
            OPERATOR,
            json!({"name": "web", "interfaces": [{"network_id": net, "addresses": ["203.0.113.9"]}]}),
        )
        .await;
    let server_id = server.body["server"]["id"].as_str().unwrap().to_owned();
    let iface = server.body["server"]["interfaces"][0]["id"].as_str().unwrap().to_owned();
    // The server's own address is an allocated address of the organization.
    let listed = app.get(&format!("{}?allocated=true", addresses_path(&org)), OPERATOR).await;
    assert_eq!(listed.body["ip_addresses"][0]["address"], "203.0.113.9");
    assert_eq!(listed.body["ip_addresses"][0]["allocation_id"], server_id.as_str());
    assert_eq!(listed.body["ip_addresses"][0]["allocation_type"], "server");
    assert_eq!(listed.body["ip_addresses"][0]["interface_id"], iface.as_str());

    let ip = app.post(&addresses_path(&org), OPERATOR, json!({"network_id": net, "version": "ipv4"})).await;
    let ip_path = format!("{}/{}", addresses_path(&org), ip.body["ip_address"]["id"].as_str().unwrap());
    let allocated = app
        .post(
            &format!("{ip_path}/allocate"),
            OPERATOR,
            json!({"server_id": server_id, "interface_id": iface}),
        )
        .await;
    assert_eq!(allocated.status, StatusCode::OK, "{}", allocated.body);
    assert_eq!(allocated.body["ip_address"]["allocation_id"], server_id.as_str());
    let view = app.get(&format!("/api/v1/organizations/{org}/servers/{server_id}"), OPERATOR).await;
    assert_eq!(view.body["server"]["interfaces"][0]["addresses"], json!(["203.0.113.9", "203.0.113.1"]));
    assert_eq!(
        app.get(&format!("{}?allocated=false", addresses_path(&org)), OPERATOR).await.body["pagination"]
            ["total"],
        0
    );

    assert_error(&app.delete(&ip_path, OPERATOR).await, StatusCode::CONFLICT, "conflict");
    let wrong = app
        .post(
            &format!("{ip_path}/allocate"),
            OPERATOR,
            json!({"server_id": server_id, "interface_id": uuid::Uuid::nil()}),
        )
        .await;
    assert_eq!(error_paths(&wrong), ["interface_id"]);
    let other_net = network(&app, &["198.51.100.0/24"], &[]).await;
    let elsewhere =
        app.post(&addresses_path(&org), OPERATOR, json!({"network_id": other_net, "version": "ipv4"})).await;
    let elsewhere_path =
        format!("{}/{}", addresses_path(&org), elsewhere.body["ip_address"]["id"].as_str().unwrap());
    let r = app
        .post(
            &format!("{elsewhere_path}/allocate"),
            OPERATOR,
            json!({"server_id": server_id, "interface_id": iface}),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_request");
    assert_eq!(error_paths(&r), ["interface_id"]);

    // An address in use cannot be claimed by another server.
    let clash = app
        .post(
            &format!("/api/v1/organizations/{org}/servers"),
            OPERATOR,
            json!({"name": "db", "interfaces": [{"network_id": net, "addresses": ["203.0.113.1"]}]}),
        )
        .await;
    assert_error(&clash, StatusCode::CONFLICT, "already_exists");
    assert_eq!(error_paths(&clash), ["interfaces[0].addresses[0]"]);

    let un = app.post(&format!("{ip_path}/unallocate"), OPERATOR, json!({})).await;
    assert_eq!(un.status, StatusCode::OK, "{}", un.body);
    assert_eq!(un.body["ip_address"]["allocation_id"], Value::Null);
    assert_eq!(app.delete(&ip_path, OPERATOR).await.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn tokens_need_ip_address_scopes() {
    let app = TestApp::spawn().await;
    let org = app.org("acme").await;
    let net = network(&app, &["203.0.113.0/24"], &[]).await;
    let (_, reader) = app.token(&org, &["ip_addresses:read"]).await;
    let (_, writer) = app.token(&org, &["ip_addresses"]).await;
    let r = app.post(&addresses_path(&org), &reader, json!({"network_id": net, "version": "ipv4"})).await;
    assert_error(&r, StatusCode::FORBIDDEN, "scope_not_granted");
    let r = app.post(&addresses_path(&org), &writer, json!({"network_id": net, "version": "ipv4"})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(app.get(&addresses_path(&org), &reader).await.body["pagination"]["total"], 1);
}
