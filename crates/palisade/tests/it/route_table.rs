//! Walks every route of every face: without credentials, with a wrong organization's token, and
//! with a token that lacks the scope. The expected table below must list exactly the routes the
//! application serves, so a new route cannot ship without being registered here.

use std::collections::BTreeMap;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::TestApp;

/// Who may call a route.
#[derive(Debug, Clone, Copy)]
enum Access {
    /// Only the operator token.
    Operator,
    /// The operator, or a token of the organization in `{id}` with one of these scopes.
    Org(&'static [&'static str]),
}

/// (face, method, path) → access and a well-formed body, so refusals are about authorization,
/// not about the body.
fn expected() -> BTreeMap<(&'static str, &'static str, &'static str), (Access, Option<Value>)> {
    use Access::*;
    let mut t = BTreeMap::new();
    let mut add = |face, method, path, access, body: Option<Value>| {
        assert!(t.insert((face, method, path), (access, body)).is_none(), "{method} {path} listed twice");
    };
    let servers_read: &[&str] = &["virtual_machines", "virtual_machines:read"];
    add("native", "POST", "/api/v1/organizations", Operator, Some(json!({"name": "x", "sub_domain": "x"})));
    add("native", "GET", "/api/v1/organizations", Operator, None);
    add("native", "GET", "/api/v1/organizations/{id}", Org(&["organizations:read"]), None);
    add("native", "PATCH", "/api/v1/organizations/{id}", Operator, Some(json!({"status": "suspended"})));
    add("native", "DELETE", "/api/v1/organizations/{id}", Operator, None);
    add(
        "native",
        "POST",
        "/api/v1/organizations/{id}/api_tokens",
        Operator,
        Some(json!({"name": "t", "scopes": []})),
    );
    add("native", "GET", "/api/v1/organizations/{id}/api_tokens", Operator, None);
    add("native", "DELETE", "/api/v1/organizations/{id}/api_tokens/{token_id}", Operator, None);
    add(
        "native",
        "POST",
        "/api/v1/organizations/{id}/users",
        Operator,
        Some(json!({"username": "u", "password": "password1"})),
    );
    add("native", "GET", "/api/v1/organizations/{id}/users", Operator, None);
    add(
        "native",
        "POST",
        "/api/v1/data_centers",
        Operator,
        Some(
            json!({"name": "d", "permalink": "d", "country": {"name": "UK", "iso_code2": "GB", "iso_code3": "GBR", "time_zone": "Europe/London", "eu": false}}),
        ),
    );
    add("native", "GET", "/api/v1/data_centers", Operator, None);
    add("native", "GET", "/api/v1/data_centers/{id}", Operator, None);
    add(
        "native",
        "POST",
        "/api/v1/networks",
        Operator,
        Some(json!({"name": "n", "data_center_id": uuid::Uuid::nil(), "prefixes": ["192.0.2.0/24"]})),
    );
    add("native", "GET", "/api/v1/networks", Operator, None);
    add("native", "GET", "/api/v1/networks/{id}", Operator, None);
    add(
        "native",
        "POST",
        "/api/v1/organizations/{id}/servers",
        Org(&["virtual_machines"]),
        Some(json!({"name": "s"})),
    );
    add("native", "GET", "/api/v1/organizations/{id}/servers", Org(servers_read), None);
    add("native", "GET", "/api/v1/organizations/{id}/servers/{server_id}", Org(servers_read), None);
    add(
        "native",
        "DELETE",
        "/api/v1/organizations/{id}/servers/{server_id}",
        Org(&["virtual_machines"]),
        None,
    );
    let ips_read: &[&str] = &["ip_addresses", "ip_addresses:read"];
    let ips: &[&str] = &["ip_addresses"];
    let ip_body = json!({"network_id": uuid::Uuid::nil(), "version": "ipv4"});
    add("native", "POST", "/api/v1/organizations/{id}/ip_addresses", Org(ips), Some(ip_body));
    add("native", "GET", "/api/v1/organizations/{id}/ip_addresses", Org(ips_read), None);
    add("native", "GET", "/api/v1/organizations/{id}/ip_addresses/{ip_id}", Org(ips_read), None);
    add(
        "native",
        "PATCH",
        "/api/v1/organizations/{id}/ip_addresses/{ip_id}",
        Org(ips),
        Some(json!({"vip": false})),
    );
    add("native", "DELETE", "/api/v1/organizations/{id}/ip_addresses/{ip_id}", Org(ips), None);
    let allocate = json!({"server_id": uuid::Uuid::nil(), "interface_id": uuid::Uuid::nil()});
    add(
        "native",
        "POST",
        "/api/v1/organizations/{id}/ip_addresses/{ip_id}/allocate",
        Org(ips),
        Some(allocate),
    );
    add("native", "POST", "/api/v1/organizations/{id}/ip_addresses/{ip_id}/unallocate", Org(ips), None);
    t
}

#[tokio::test]
async fn every_route_refuses_callers_without_the_right() {
    let app = TestApp::spawn().await;
    let served: Vec<(String, String, String)> =
        palisade_api::route_table().into_iter().map(|r| (r.face.to_owned(), r.method, r.path)).collect();
    let table = expected();
    let listed: Vec<(String, String, String)> =
        table.keys().map(|(f, m, p)| ((*f).to_owned(), (*m).to_owned(), (*p).to_owned())).collect();
    let mut served_sorted = served.clone();
    served_sorted.sort();
    assert_eq!(
        served_sorted, listed,
        "the served routes and this test's table differ: register new routes here"
    );

    let mine = app.org("mine").await;
    let theirs = app.org("theirs").await;
    let all_scopes: Vec<&str> = palisade_core::Scope::all().map(|s| s.as_str()).collect();
    let (_, mine_all) = app.token(&mine, &all_scopes).await;
    let (_, mine_none) = app.token(&mine, &[]).await;
    // A real server of `theirs`, so "not found" cannot be explained by absence.
    let their_server = app
        .post(
            &format!("/api/v1/organizations/{theirs}/servers"),
            crate::support::OPERATOR,
            json!({"name": "s"}),
        )
        .await
        .body["server"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let fill = |path: &str, org: &str| {
        path.replace("{id}", org)
            .replace("{server_id}", &their_server)
            .replace("{token_id}", &uuid::Uuid::nil().to_string())
            .replace("{ip_id}", &uuid::Uuid::nil().to_string())
    };

    let mut checked = 0;
    for ((_, method, template), (access, body)) in &table {
        let method: Method = method.parse().unwrap();
        let send = |path: String, token: Option<String>| {
            let method = method.clone();
            let body = body.clone();
            let app = &app;
            async move { app.request(method, &path, token.as_deref(), body).await }
        };
        let context = format!("{method} {template}");

        let r = send(fill(template, &theirs), None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{context} without a token: {}", r.body);
        assert_eq!(r.body["error"]["code"], "missing_token", "{context}");
        let r = send(fill(template, &theirs), Some("pal_bogus_token".into())).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{context} with a bogus token: {}", r.body);

        // Another organization's token holding every scope.
        let r = send(fill(template, &theirs), Some(mine_all.clone())).await;
        match access {
            Access::Operator => {
                assert_eq!(r.status, StatusCode::FORBIDDEN, "{context} with an org token: {}", r.body);
                assert_eq!(r.body["error"]["code"], "operator_only", "{context}");
            }
            Access::Org(_) => {
                assert_eq!(r.status, StatusCode::NOT_FOUND, "{context} with another org's token: {}", r.body);
            }
        }
        // The organization's own token without any scope.
        let r = send(fill(template, &mine), Some(mine_none.clone())).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{context} with a scopeless token: {}", r.body);
        match access {
            Access::Operator => assert_eq!(r.body["error"]["code"], "operator_only", "{context}"),
            Access::Org(scopes) => {
                assert_eq!(r.body["error"]["code"], "scope_not_granted", "{context}");
                assert_eq!(r.body["error"]["details"]["scopes"], json!(scopes), "{context}");
            }
        }
        checked += 1;
    }
    assert_eq!(checked, served.len());
    // Nothing of `theirs` was changed by any refused call.
    let r = app.get(&format!("/api/v1/organizations/{theirs}"), crate::support::OPERATOR).await;
    assert_eq!(r.body["organization"]["status"], "active");
    assert_eq!(app.count("servers").await, 1);
}
