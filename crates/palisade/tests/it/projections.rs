//! One policy, every dialect: rules written through Katapult, read through Hostway, shown as
//! `docs/policy-semantics.md` ("Projections") says: expanded per port range and address with the
//! rule's own number, references as the addresses they name now, the allow-all default as two
//! `ACCEPT ALL` rules, and what Hostway cannot show noted in the group's description. Never
//! fewer open flows than the policy has.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{TestApp, OPERATOR};

struct World {
    app: TestApp,
    org: String,
    token: String,
    basic: String,
    network: String,
}

impl World {
    async fn new() -> Self {
        let app = TestApp::spawn().await;
        let org = app.org("acme").await;
        let (_, token) = app.token(&org, &["security_groups", "security_group", "virtual_machines"]).await;
        let basic = app.user(&org, "alice", "correct horse battery").await;
        let network = app.network().await;
        World { app, org, token, basic, network }
    }

    async fn katapult(&self, method: Method, path: &str, body: Value) -> Value {
        let r = self.app.request(method, &format!("/core/v1/{path}"), Some(&self.token), Some(body)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        r.body
    }

    /// A Katapult group with these properties and rules; returns its Katapult id.
    async fn group(&self, properties: Value, rules: &[Value]) -> String {
        let body = json!({"organization": {"sub_domain": "acme"}, "properties": properties});
        let sg = self.katapult(Method::POST, "organizations/_/security_groups", body).await["security_group"]
            ["id"]
            .as_str()
            .unwrap()
            .to_owned();
        for rule in rules {
            self.katapult(Method::POST, &format!("security_groups/{sg}/rules"), json!({"properties": rule}))
                .await;
        }
        sg
    }

    async fn hostway(&self, method: Method, path: &str) -> (StatusCode, Value) {
        self.hostway_send(method, path, None).await
    }

    async fn hostway_with(&self, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
        self.hostway_send(method, path, Some(body)).await
    }

    async fn hostway_send(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let url = format!("{}/accounts/{}/{path}", self.app.base, self.org);
        let mut req = self.app.client.request(method, url).header("authorization", &self.basic);
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body.to_string());
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// The Hostway view of the group named `name`.
    async fn seen(&self, name: &str) -> Value {
        let (status, list) = self.hostway(Method::GET, "os-security-groups").await;
        assert_eq!(status, StatusCode::OK, "{list}");
        list["securityGroups"].as_array().unwrap().iter().find(|g| g["displayName"] == name).unwrap().clone()
    }
}

/// (protocol, from, to, cidr, action, id) of each shown rule.
fn shown(group: &Value) -> Vec<(String, u64, u64, String, String, String)> {
    group["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["protocol"].as_str().unwrap().to_owned(),
                r["fromPort"].as_u64().unwrap(),
                r["toPort"].as_u64().unwrap(),
                r["cidr"].as_str().unwrap().to_owned(),
                r["action"].as_str().unwrap().to_owned(),
                r["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn row(
    protocol: &str,
    from: u64,
    to: u64,
    cidr: &str,
    action: &str,
    id: &str,
) -> (String, u64, u64, String, String, String) {
    (protocol.into(), from, to, cidr.into(), action.into(), id.into())
}

#[tokio::test]
async fn katapult_rules_read_on_hostway_are_expanded_never_narrowed() {
    let w = World::new().await;
    let body =
        json!({"name": "web-1", "interfaces": [{"network_id": w.network, "addresses": ["203.0.113.10"]}]});
    let r = w.app.post(&format!("/api/v1/organizations/{}/servers", w.org), OPERATOR, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let server = r.body["server"]["id"].as_str().unwrap().to_owned();
    let vm = palisade_api::katapult::ids::render("vm", uuid::Uuid::parse_str(&server).unwrap().as_bytes());

    w.group(
        json!({"name": "web", "associations": [vm]}),
        &[
            // Two ranges × two addresses: four Hostway rules, one number.
            json!({"direction": "inbound", "protocol": "TCP", "ports": "80,443", "targets": ["10.0.0.5/24", "195.66.84.24"]}),
            // `all:ipv6` first no longer hides the rest.
            json!({"direction": "inbound", "protocol": "UDP", "ports": "53", "targets": ["all:ipv6", "10.0.0.0/8"]}),
            // A VM target: its address now.
            json!({"direction": "inbound", "protocol": "TCP", "ports": "22", "targets": [vm], "action": "deny"}),
            // Outbound: Hostway has no direction; noted on the group.
            json!({"direction": "outbound", "protocol": "TCP", "ports": "25", "targets": ["all:ipv4"], "action": "deny"}),
        ],
    )
    .await;
    let seen = w.seen("web").await;
    let rules = shown(&seen);
    let ids: Vec<&str> = rules.iter().map(|r| r.5.as_str()).collect();
    let (a, b, c) = (ids[0], ids[4], ids[6]);
    assert!(a != b && b != c && a != c, "one number per canonical rule: {ids:?}");
    assert_eq!(
        rules,
        [
            row("TCP", 80, 80, "10.0.0.5/24", "ACCEPT", a),
            row("TCP", 80, 80, "195.66.84.24", "ACCEPT", a),
            row("TCP", 443, 443, "10.0.0.5/24", "ACCEPT", a),
            row("TCP", 443, 443, "195.66.84.24", "ACCEPT", a),
            row("UDP", 53, 53, "::/0", "ACCEPT", b),
            row("UDP", 53, 53, "10.0.0.0/8", "ACCEPT", b),
            row("TCP", 22, 22, "203.0.113.10/32", "DROP", c),
        ]
    );
    assert_eq!(seen["description"], "[palisade: 1 outbound rule(s) not shown]");

    // The rules list says the same; deleting any part deletes the rule it is part of.
    let group_id = seen["id"].as_str().unwrap();
    let (status, list) = w.hostway(Method::GET, &format!("os-security-groups/{group_id}/rules")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["list"].as_array().unwrap().len(), 7);
    let (status, _) = w.hostway(Method::DELETE, &format!("os-security-group-rules/{a}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(shown(&w.seen("web").await).len(), 3, "the four parts of the deleted rule are gone");
}

#[tokio::test]
async fn a_group_that_allows_all_inbound_shows_it_on_hostway() {
    let w = World::new().await;
    w.group(json!({"name": "open", "allow_all_inbound": true}), &[]).await;
    let seen = w.seen("open").await;
    assert_eq!(
        shown(&seen),
        [row("ALL", 0, 0, "0.0.0.0/0", "ACCEPT", "0"), row("ALL", 0, 0, "::/0", "ACCEPT", "0")]
    );
    // Its rules list is no 404 ("no rules") while every inbound flow is open.
    let (status, list) =
        w.hostway(Method::GET, &format!("os-security-groups/{}/rules", seen["id"].as_str().unwrap())).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["list"].as_array().unwrap().len(), 2);
    // A closed group with no inbound rule still answers Hostway's 404.
    w.group(json!({"name": "closed"}), &[]).await;
    let closed = w.seen("closed").await;
    let (status, _) =
        w.hostway(Method::GET, &format!("os-security-groups/{}/rules", closed["id"].as_str().unwrap())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn hostway_rules_read_on_katapult_say_what_the_enum_cannot_in_notes() {
    let w = World::new().await;
    let (status, body) = w
        .hostway_with(
            Method::POST,
            "os-security-groups",
            json!({"securityGroup": {"displayName": "edge", "description": ""}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let hw = body["securityGroup"]["id"].as_str().unwrap().to_owned();
    for rule in [
        json!({"protocol": "GRE", "fromPort": 0, "toPort": 0, "cidr": "198.51.100.0/24", "action": "ACCEPT", "priority": 10}),
        json!({"protocol": "TCP", "fromPort": 22, "toPort": 22, "cidr": "10.0.0.0/8", "action": "REJECT"}),
        json!({"protocol": "UDP", "fromPort": 53, "toPort": 53, "cidr": "10.0.0.0/8", "action": "DROP"}),
    ] {
        let mut rule = rule;
        rule["parentGroupId"] = json!(hw);
        let (status, body) =
            w.hostway_with(Method::POST, "os-security-group-rules", json!({"securityGroupRule": rule})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (group, _) = palisade_api::hostway::ids::parse(&hw).unwrap();
    let sg = palisade_api::katapult::ids::render("sg", group.as_bytes());
    let list = w.katapult(Method::GET, &format!("security_groups/{sg}/rules"), json!({})).await;
    let rules: Vec<Value> = list["security_group_rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r["id"] = json!("<id>");
            r
        })
        .collect();
    let priority = |p: i32| format!("priority {p}: evaluated before every rule without one, lower first");
    assert_eq!(
        rules,
        [
            json!({"id": "<id>", "direction": "inbound", "protocol": "TCP", "action": "allow", "ports": null,
                "targets": ["198.51.100.0/24"], "notes": format!("[palisade: IP protocol 47 (GRE), not TCP; {}]", priority(-10))}),
            json!({"id": "<id>", "direction": "inbound", "protocol": "TCP", "action": "deny", "ports": "22",
                "targets": ["10.0.0.0/8"], "notes": format!("[palisade: reject: refused with an error, not dropped; {}]", priority(0))}),
            json!({"id": "<id>", "direction": "inbound", "protocol": "UDP", "action": "deny", "ports": "53",
                "targets": ["10.0.0.0/8"], "notes": format!("[palisade: {}]", priority(0))}),
        ]
    );
}
