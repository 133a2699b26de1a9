//! One policy, every dialect: rules written through one face and read through another, shown
//! as `docs/policy-semantics.md` ("Projections") says. Hostway: expanded per protocol, port range
//! and address with the rule's own number, references as the addresses they name now, the
//! allow-all default as two `ACCEPT ALL` rules, what it cannot show noted in the group's
//! description. Katapult: one rule each, what its protocol enum cannot say in `notes`. ZStack:
//! expanded like Hostway, with the rule's own uuid. Never fewer open flows than the policy has.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::policy_engine::{katapult_id, World};

impl World {
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

    /// The Hostway view of the group named `name`.
    async fn seen(&self, name: &str) -> Value {
        let (status, list) = self.hostway(Method::GET, "os-security-groups", None).await;
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
    let vm = katapult_id("vm", &w.server("web-1", "203.0.113.10").await);

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
    let (status, list) = w.hostway(Method::GET, &format!("os-security-groups/{group_id}/rules"), None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["list"].as_array().unwrap().len(), 7);
    let (status, _) = w.hostway(Method::DELETE, &format!("os-security-group-rules/{a}"), None).await;
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
    let (status, list) = w
        .hostway(Method::GET, &format!("os-security-groups/{}/rules", seen["id"].as_str().unwrap()), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["list"].as_array().unwrap().len(), 2);
    // A closed group with no inbound rule still answers Hostway's 404.
    w.group(json!({"name": "closed"}), &[]).await;
    let closed = w.seen("closed").await;
    let (status, _) = w
        .hostway(Method::GET, &format!("os-security-groups/{}/rules", closed["id"].as_str().unwrap()), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn hostway_rules_read_on_katapult_say_what_the_enum_cannot_in_notes() {
    let w = World::new().await;
    let (hw, _) = w
        .hostway_group(
            "edge",
            &[
                json!({"protocol": "GRE", "fromPort": 0, "toPort": 0, "cidr": "198.51.100.0/24", "action": "ACCEPT", "priority": 10}),
                json!({"protocol": "TCP", "fromPort": 22, "toPort": 22, "cidr": "10.0.0.0/8", "action": "REJECT"}),
                json!({"protocol": "UDP", "fromPort": 53, "toPort": 53, "cidr": "10.0.0.0/8", "action": "DROP"}),
            ],
        )
        .await;
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
    // A client writing the notes it read back stores no marker: the next read shows it once.
    let first = list["security_group_rules"][0].clone();
    let id = first["id"].as_str().unwrap();
    let patch = json!({"properties": {"notes": format!("edge tunnel {}", first["notes"].as_str().unwrap())}});
    let patched = w
        .katapult(Method::PATCH, &format!("security_groups/rules/_?security_group_rule%5Bid%5D={id}"), patch)
        .await;
    assert_eq!(
        patched["security_group_rule"]["notes"],
        format!("edge tunnel [palisade: IP protocol 47 (GRE), not TCP; {}]", priority(-10))
    );
    let patch = json!({"properties": {"notes": first["notes"].clone()}});
    let patched = w
        .katapult(Method::PATCH, &format!("security_groups/rules/_?security_group_rule%5Bid%5D={id}"), patch)
        .await;
    assert_eq!(patched["security_group_rule"]["notes"], first["notes"], "the marker alone: no description");
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

#[tokio::test]
async fn rules_from_katapult_and_hostway_read_on_zstack_are_expanded_never_narrowed() {
    let w = World::new().await;
    let vm = katapult_id("vm", &w.server("web-1", "203.0.113.10").await);
    let sg = w
        .group(
            json!({"name": "web"}),
            &[
                json!({"direction": "inbound", "protocol": "TCP", "ports": "80,443", "targets": ["10.0.0.0/24", vm]}),
                json!({"direction": "outbound", "protocol": "UDP", "ports": "53", "targets": ["all:ipv4"], "action": "deny"}),
            ],
        )
        .await;
    let group =
        uuid::Uuid::from_bytes(palisade_api::katapult::ids::parse("sg", &sg).unwrap()).simple().to_string();
    let session = crate::zstack::log_in(&w.app, "alice", "correct horse battery").await;
    let path = format!("/zstack/v1/security-groups/rules?q=securityGroupUuid={group}");
    let answer = crate::zstack::zs(&w.app, Method::GET, &path, Some(&session), None, None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let shown: Vec<(String, String, i64, i64, String, Value)> = answer.json()["inventories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["type"].as_str().unwrap().to_owned(),
                r["protocol"].as_str().unwrap().to_owned(),
                r["startPort"].as_i64().unwrap(),
                r["endPort"].as_i64().unwrap(),
                r["allowedCidr"].as_str().unwrap().to_owned(),
                r.get("action").cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    let part = |kind: &str, protocol: &str, port: i64, cidr: &str, action: Value| {
        (kind.to_owned(), protocol.to_owned(), port, port, cidr.to_owned(), action)
    };
    assert_eq!(
        shown,
        [
            // Two ranges × (a CIDR and a VM): the VM's address now; one uuid per canonical rule.
            part("Ingress", "TCP", 80, "10.0.0.0/24", Value::Null),
            part("Ingress", "TCP", 80, "203.0.113.10/32", Value::Null),
            part("Ingress", "TCP", 443, "10.0.0.0/24", Value::Null),
            part("Ingress", "TCP", 443, "203.0.113.10/32", Value::Null),
            part("Egress", "UDP", 53, "0.0.0.0/0", json!("DROP")),
        ]
    );
}

#[tokio::test]
async fn zstack_rules_read_on_katapult_and_hostway_and_hostway_rules_on_zstack() {
    let w = World::new().await;
    let session = crate::zstack::log_in(&w.app, "alice", "correct horse battery").await;
    let group = crate::zstack::create_group(&w.app, &session, json!({"name": "app"})).await;
    let id = group["uuid"].as_str().unwrap().to_owned();
    let body = json!({"params": {"rules": [
        {"type": "Ingress", "protocol": "TCP", "startPort": 22, "endPort": 22, "allowedCidr": "10.0.0.0/8"}]}})
    .to_string();
    let path = format!("/zstack/v1/security-groups/{id}/rules");
    let accepted = crate::zstack::zs(
        &w.app,
        Method::POST,
        &path,
        Some(&session),
        Some(&crate::zstack::job_id()),
        Some(&body),
    )
    .await;
    assert_eq!(crate::zstack::poll(&w.app, &accepted, &session).await.status, StatusCode::OK);

    // Katapult: the default rules' `ALL` is TCP with the truth in notes; the group remote is
    // the group itself; the TCP rule is itself.
    let sg = palisade_api::katapult::ids::render("sg", uuid::Uuid::parse_str(&id).unwrap().as_bytes());
    let list = w.katapult(Method::GET, &format!("security_groups/{sg}/rules"), json!({})).await;
    let rules: Vec<(Value, Value, Value, Value, Value)> = list["security_group_rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["direction"].clone(),
                r["protocol"].clone(),
                r["ports"].clone(),
                r["targets"].clone(),
                r["notes"].clone(),
            )
        })
        .collect();
    let any = json!("[palisade: protocol any: TCP, UDP and every other protocol]");
    assert_eq!(
        rules,
        [
            (json!("inbound"), json!("TCP"), Value::Null, json!([sg]), any.clone()),
            (json!("outbound"), json!("TCP"), Value::Null, json!([sg]), any),
            (json!("inbound"), json!("TCP"), json!("22"), json!(["10.0.0.0/8"]), Value::Null),
        ]
    );

    // Hostway: the TCP rule as itself; the default Ingress rule's remote is the group's members
    // (none: it admits nothing, so shows nothing); the Egress one is noted.
    let seen = w.seen("app").await;
    let hostway = shown(&seen);
    assert_eq!(hostway.len(), 1, "{seen}");
    assert_eq!((hostway[0].0.as_str(), hostway[0].1, hostway[0].3.as_str()), ("TCP", 22, "10.0.0.0/8"));
    assert!(seen["description"].as_str().unwrap().ends_with("[palisade: 1 outbound rule(s) not shown]"));

    // Hostway's GRE allow and UDP drop, on ZStack: `ALL` (ZStack has no GRE) and a `DROP`.
    let (hw, _) = w
        .hostway_group(
            "edge",
            &[
                json!({"protocol": "GRE", "fromPort": 0, "toPort": 0, "cidr": "198.51.100.0/24", "action": "ACCEPT"}),
                json!({"protocol": "UDP", "fromPort": 53, "toPort": 53, "cidr": "10.0.0.0/8", "action": "DROP"}),
            ],
        )
        .await;
    let edge = palisade_api::hostway::ids::parse(&hw).unwrap().0.as_uuid().simple().to_string();
    let path = format!("/zstack/v1/security-groups/rules?q=securityGroupUuid={edge}");
    let answer = crate::zstack::zs(&w.app, Method::GET, &path, Some(&session), None, None).await;
    let shown: Vec<Value> = answer.json()["inventories"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json!([r["protocol"], r["startPort"], r["endPort"], r["allowedCidr"], r.get("action")]))
        .collect();
    assert_eq!(
        shown,
        [json!(["ALL", -1, -1, "198.51.100.0/24", null]), json!(["UDP", 53, 53, "10.0.0.0/8", "DROP"])]
    );
}
