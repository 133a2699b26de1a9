//! The Defined face answers with keys in the vendor's documented order, read from the raw body
//! text (a parsed `serde_json::Value` sorts keys, so it cannot tell). The reference shapes are
//! in `tests/fixtures/defined/` (see its README for where each comes from).

use palisade_api::defined::ids;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::ordered::Ordered;
use crate::support::TestApp;

/// The Role object of Defined's documentation.
const ROLE: &str = include_str!("../fixtures/defined/role.json");
/// HostV2 fields (reference §5), and `metadata` inside it.
const HOST_V2: &[&str] = &[
    "id",
    "organizationID",
    "networkID",
    "roleID",
    "endpointOIDCUserID",
    "name",
    "ipAddresses",
    "staticAddresses",
    "listenPort",
    "isLighthouse",
    "isRelay",
    "isBlocked",
    "createdAt",
    "modifiedAt",
    "tags",
    "configOverrides",
    "metadata",
];
const HOST_METADATA: &[&str] = &["lastSeenAt", "platform", "updateAvailable", "version"];
/// A network (reference appendix).
const NETWORK: &[&str] = &["id", "cidr", "organizationID", "signingCAID", "createdAt", "name"];
/// List metadata (reference §2.3); `totalCount` and `page` only with `includeCounts`.
const LIST_METADATA: &[&str] =
    &["totalCount", "hasNextPage", "hasPrevPage", "nextCursor", "prevCursor", "page"];
const PAGE: &[&str] = &["count", "start"];

struct World {
    app: TestApp,
    token: String,
    network: String,
}

impl World {
    async fn new() -> Self {
        let app = TestApp::spawn().await;
        let org = app.org("ordered").await;
        let scopes = [
            "roles:create",
            "roles:read",
            "roles:list",
            "roles:update",
            "hosts:create",
            "hosts:read",
            "hosts:list",
            "hosts:update",
            "hosts:delete",
            "networks:list",
        ];
        let (_, token) = app.token(&org, &scopes).await;
        let network = app.network().await;
        let network =
            ids::render(ids::NETWORK, network.parse::<palisade_core::id::NetworkId>().unwrap().as_bytes());
        Self { app, token, network }
    }

    /// The raw body text of a successful call, parsed keeping key order.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (String, Ordered) {
        let mut req = self
            .app
            .client
            .request(method.clone(), format!("{}{path}", self.app.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{method} {path}: {text}");
        let ordered = Ordered::parse(&text);
        (text, ordered)
    }
}

/// The `data.id` of an answer.
fn id_of(text: &str) -> String {
    serde_json::from_str::<Value>(text).unwrap()["data"]["id"].as_str().unwrap().to_owned()
}

/// `{"data": …, "metadata": …}`, in that order; the data.
#[track_caller]
fn data(answer: &Ordered) -> &Ordered {
    assert_eq!(answer.keys(), ["data", "metadata"]);
    answer.at("data")
}

/// A role (and its rules) in the documented order; list items add the two counters.
#[track_caller]
fn assert_role(role: &Ordered, counters: bool) {
    let reference = Ordered::parse(ROLE);
    let mut keys = reference.keys();
    if counters {
        keys.extend(["firewallRulesCount", "hostCount"]);
    }
    assert_eq!(role.keys(), keys);
    let rule = &reference.at("firewallRules").items()[0];
    let rules = role.at("firewallRules").items();
    assert!(!rules.is_empty(), "a rule to check");
    for got in rules {
        assert_eq!(got.keys(), rule.keys());
        if let Ordered::Object(_) = got.at("portRange") {
            assert_eq!(got.at("portRange").keys(), rule.at("portRange").keys());
        }
    }
}

#[track_caller]
fn assert_list_metadata(answer: &Ordered, counts: bool) {
    let metadata = answer.at("metadata");
    let expected: Vec<&str> =
        LIST_METADATA.iter().copied().filter(|k| counts || !["totalCount", "page"].contains(k)).collect();
    assert_eq!(metadata.keys(), expected);
    if counts {
        assert_eq!(metadata.at("page").keys(), PAGE);
    }
}

/// The v1 host shape: HostV2's order with the single `ipAddress` where v2 has `ipAddresses`,
/// and no `endpointOIDCUserID`.
fn host_v1() -> Vec<&'static str> {
    HOST_V2
        .iter()
        .filter(|k| **k != "endpointOIDCUserID")
        .map(|k| if *k == "ipAddresses" { "ipAddress" } else { *k })
        .collect()
}

#[track_caller]
fn assert_host(host: &Ordered, keys: &[&str]) {
    assert_eq!(host.keys(), keys);
    assert_eq!(host.at("metadata").keys(), HOST_METADATA);
}

#[tokio::test]
async fn answers_keep_the_documented_key_order() {
    let w = World::new().await;
    let (text, first) = w.call(Method::POST, "/v1/roles", Some(json!({"name": "first"}))).await;
    assert_eq!(data(&first).keys(), Ordered::parse(ROLE).keys());
    let first_id = id_of(&text);

    // Roles: create, get, replace, list (with and without counts).
    let rules = json!([
        {"protocol": "TCP", "description": "allow SSH access", "allowedRoleID": first_id, "allowedTags": ["tag:one"], "portRange": {"from": 22, "to": 22}},
        {"protocol": "ANY", "description": "everything"}
    ]);
    let (text, created) =
        w.call(Method::POST, "/v1/roles", Some(json!({"name": "second", "firewallRules": rules}))).await;
    assert_role(data(&created), false);
    let id = id_of(&text);
    let (_, got) = w.call(Method::GET, &format!("/v1/roles/{id}"), None).await;
    assert_role(data(&got), false);
    let (_, replaced) = w
        .call(
            Method::PUT,
            &format!("/v1/roles/{id}"),
            Some(json!({"description": "d", "firewallRules": rules})),
        )
        .await;
    assert_role(data(&replaced), false);
    let (_, listed) = w.call(Method::GET, "/v1/roles?includeCounts=true", None).await;
    assert_role(&data(&listed).items()[1], true);
    assert_list_metadata(&listed, true);
    let (_, listed) = w.call(Method::GET, "/v1/roles?pageSize=1", None).await;
    assert_list_metadata(&listed, false);

    // Networks.
    let (_, networks) = w.call(Method::GET, "/v1/networks?includeCounts=true", None).await;
    assert_eq!(data(&networks).items()[0].keys(), NETWORK);
    assert_list_metadata(&networks, true);

    // Hosts, in both shapes, on every route that answers one.
    let host = json!({"name": "h1", "networkID": w.network, "roleID": id, "tags": ["env:prod"], "configOverrides": [{"key": "a.b", "value": 1}]});
    let (text, v1) = w.call(Method::POST, "/v1/hosts", Some(host)).await;
    assert_host(data(&v1), &host_v1());
    let host_id = id_of(&text);
    let (_, v2) =
        w.call(Method::POST, "/v2/hosts", Some(json!({"name": "h2", "networkID": w.network}))).await;
    assert_host(data(&v2), HOST_V2);
    for (path, keys) in
        [(format!("/v1/hosts/{host_id}"), host_v1()), (format!("/v2/hosts/{host_id}"), HOST_V2.to_vec())]
    {
        let (_, got) = w.call(Method::GET, &path, None).await;
        assert_host(data(&got), &keys);
    }
    for (path, keys) in
        [("/v1/hosts?includeCounts=true", host_v1()), ("/v2/hosts?includeCounts=true", HOST_V2.to_vec())]
    {
        let (_, list) = w.call(Method::GET, path, None).await;
        for host in data(&list).items() {
            assert_host(host, &keys);
        }
        assert_list_metadata(&list, true);
    }
    let (_, replaced) = w
        .call(
            Method::PUT,
            &format!("/v2/hosts/{host_id}"),
            Some(json!({"name": "h1", "networkID": w.network})),
        )
        .await;
    assert_host(data(&replaced), &host_v1());
    let (_, updated) =
        w.call(Method::PUT, &format!("/v3/hosts/{host_id}"), Some(json!({"listenPort": 4242}))).await;
    assert_host(data(&updated), HOST_V2);
    let (text, _) = w.call(Method::DELETE, &format!("/v1/hosts/{host_id}"), None).await;
    assert_eq!(text, r#"{"data":{},"metadata":{}}"#);

    // Errors: `{"errors":[{"code","message","path"}]}`.
    let res = w
        .app
        .client
        .post(format!("{}/v1/roles", w.app.base))
        .bearer_auth(&w.token)
        .json(&json!({"name": ""}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let errors = Ordered::parse(&res.text().await.unwrap());
    assert_eq!(errors.keys(), ["errors"]);
    assert_eq!(errors.at("errors").items()[0].keys(), ["code", "message", "path"]);
}
