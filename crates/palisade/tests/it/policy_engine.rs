//! The policy engine over HTTP: one organization's policy written through three faces (a
//! Katapult group with deny and allow rules and a VM target, a Defined role admitting another
//! role, a Hostway group with a DROP at a higher priority than an ACCEPT), then read through the
//! native flow check (verdicts, deciding rules with every face's ids, explanations), the
//! effective policy of a server, and lint; a change through a face changes the next answer and
//! the revision. Runs on both backends.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{assert_error, Reply, TestApp, OPERATOR};

const SCOPES: &[&str] = &[
    "security_groups",
    "security_group",
    "virtual_machines",
    "virtual_machine_groups",
    "roles:create",
    "roles:read",
    "hosts:create",
    "policy:read",
];

/// One organization (`acme`) with a token holding every scope the policy tests use, a user
/// for Hostway and ZStack (`alice`), and the shared network.
pub(crate) struct World {
    pub app: TestApp,
    pub org: String,
    pub token: String,
    /// Hostway's `Authorization: Basic` value.
    pub basic: String,
    pub network: String,
}

impl World {
    pub async fn new() -> Self {
        Self::on(TestApp::spawn().await).await
    }

    /// The same world on a server the caller started.
    pub async fn on(app: TestApp) -> Self {
        let org = app.org("acme").await;
        let (_, token) = app.token(&org, SCOPES).await;
        let basic = app.user(&org, "alice", "correct horse battery").await;
        let network = app.network().await;
        World { app, org, token, basic, network }
    }

    /// A server with one address on the shared network; returns its id.
    pub async fn server(&self, name: &str, address: &str) -> String {
        let body =
            json!({"name": name, "interfaces": [{"network_id": self.network, "addresses": [address]}]});
        let r = self.app.post(&format!("/api/v1/organizations/{}/servers", self.org), OPERATOR, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["server"]["id"].as_str().unwrap().to_owned()
    }

    /// A Hostway group `name` with `rules` (each a `securityGroupRule` whose `parentGroupId` is
    /// filled in); its id and its rules' ids.
    pub async fn hostway_group(&self, name: &str, rules: &[Value]) -> (String, Vec<String>) {
        let group = json!({"securityGroup": {"displayName": name, "description": ""}});
        let (status, body) = self.hostway(Method::POST, "os-security-groups", Some(group)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = body["securityGroup"]["id"].as_str().unwrap().to_owned();
        let mut ids = Vec::new();
        for rule in rules {
            let mut rule = rule.clone();
            rule["parentGroupId"] = json!(id);
            let body = json!({"securityGroupRule": rule});
            let (status, body) = self.hostway(Method::POST, "os-security-group-rules", Some(body)).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            ids.push(body["securityGroupRule"]["id"].as_str().unwrap().to_owned());
        }
        (id, ids)
    }

    /// Enables the Hostway group `group` on `server`.
    pub async fn hostway_enable(&self, group: &str, server: &str) {
        let enabled = json!({"securityGroup": {"id": group, "status": "enabled"}});
        let path = format!("flexcloud/servers/{server}/os-security-group");
        let (status, body) = self.hostway(Method::PUT, &path, Some(enabled)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// A Katapult VM group; its id.
    pub async fn vm_group(&self, name: &str) -> String {
        let body =
            json!({"organization": {"sub_domain": "acme"}, "properties": {"name": name, "segregate": false}});
        let created = self.katapult(Method::POST, "organizations/_/virtual_machine_groups", body).await;
        created["virtual_machine_group"]["id"].as_str().unwrap().to_owned()
    }

    /// Defined roles `app` and `cache`, `cache` admitting `app` on Redis's port; returns their
    /// ids and the shared network's Defined id (for hosts).
    pub async fn cache_admits_app(&self) -> (String, String, String) {
        let app = self.defined("/v1/roles", json!({"name": "app"})).await["id"].as_str().unwrap().to_owned();
        let rule =
            json!([{"protocol": "TCP", "allowedRoleID": app, "portRange": {"from": 6379, "to": 6379}}]);
        let cache = self.defined("/v1/roles", json!({"name": "cache", "firewallRules": rule})).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let network = palisade_api::defined::ids::render(
            palisade_api::defined::ids::NETWORK,
            uuid::Uuid::parse_str(&self.network).unwrap().as_bytes(),
        );
        (app, cache, network)
    }

    pub async fn katapult(&self, method: Method, path: &str, body: Value) -> Value {
        let r = self.app.request(method, &format!("/core/v1/{path}"), Some(&self.token), Some(body)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        r.body
    }

    pub async fn defined(&self, path: &str, body: Value) -> Value {
        let r = self.app.request(Method::POST, path, Some(&self.token), Some(body)).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        r.body["data"].clone()
    }

    pub async fn hostway(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req =
            self.app.client.request(method, format!("{}/accounts/{}/{path}", self.app.base, self.org));
        req = req.header("authorization", &self.basic);
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body.to_string());
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn check(&self, source: &str, destination: &str, protocol: &str, port: Option<u16>) -> Value {
        let mut body = json!({"source": source, "destination": destination, "protocol": protocol});
        if let Some(port) = port {
            body["port"] = json!(port);
        }
        let r = self.check_as(&self.token, body).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body
    }

    async fn check_as(&self, token: &str, body: Value) -> Reply {
        self.app.post(&format!("/api/v1/organizations/{}/flow_checks", self.org), token, body).await
    }

    async fn policy(&self, server: &str) -> Value {
        let r = self
            .app
            .get(&format!("/api/v1/organizations/{}/servers/{server}/policy", self.org), &self.token)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body
    }
}

/// The Katapult id of a canonical uuid.
pub(crate) fn katapult_id(prefix: &str, uuid: &str) -> String {
    palisade_api::katapult::ids::render(prefix, uuid::Uuid::parse_str(uuid).unwrap().as_bytes())
}

pub(crate) fn uuid_of_katapult(prefix: &str, id: &str) -> String {
    uuid::Uuid::from_bytes(palisade_api::katapult::ids::parse(prefix, id).unwrap()).to_string()
}

#[tokio::test]
async fn three_faces_one_policy_checked_explained_and_linted() {
    let w = World::new().await;
    let web = w.server("web", "203.0.113.10").await;
    let db = w.server("db", "203.0.113.20").await;
    let admin = w.server("admin", "203.0.113.30").await;
    let edge = w.server("edge", "203.0.113.60").await;

    // Katapult: the database's group. Deny from the admin host, allow PostgreSQL from the web
    // VM, SSH from the network.
    let group = w
        .katapult(
            Method::POST,
            "organizations/_/security_groups",
            json!({"organization": {"sub_domain": "acme"}, "properties": {"name": "db-sg",
                "associations": [katapult_id("vm", &db)], "allow_all_inbound": false, "allow_all_outbound": true}}),
        )
        .await;
    let sg = group["security_group"]["id"].as_str().unwrap().to_owned();
    let mut rules = Vec::new();
    for properties in [
        json!({"direction": "inbound", "protocol": "TCP", "ports": "5432", "targets": ["203.0.113.30"], "action": "deny"}),
        json!({"direction": "inbound", "protocol": "TCP", "ports": "5432", "targets": [katapult_id("vm", &web)]}),
        json!({"direction": "inbound", "protocol": "TCP", "ports": "22", "targets": ["203.0.113.0/24"]}),
    ] {
        let r = w
            .katapult(Method::POST, &format!("security_groups/{sg}/rules"), json!({"properties": properties}))
            .await;
        rules.push(r["security_group_rule"]["id"].as_str().unwrap().to_owned());
    }

    // Defined: `cache` admits `app` on Redis's port.
    let (app_role, cache_role, network) = w.cache_admits_app().await;
    for (name, address, role) in
        [("h-app", "203.0.113.40", &app_role), ("h-cache", "203.0.113.50", &cache_role)]
    {
        w.defined(
            "/v1/hosts",
            json!({"name": name, "networkID": network, "roleID": role, "ipAddress": address}),
        )
        .await;
    }

    // Hostway: the edge group, a DROP of one address at priority 20 over an ACCEPT of all at 10,
    // and SSH open to the world.
    let (hw_group, hw_rules) = w
        .hostway_group(
            "edge",
            &[
                json!({"fromPort": 80, "toPort": 80, "protocol": "TCP", "cidr": "0.0.0.0/0", "action": "ACCEPT", "priority": 10}),
                json!({"fromPort": 80, "toPort": 80, "protocol": "TCP", "cidr": "203.0.113.10/32", "action": "DROP", "priority": 20}),
                json!({"fromPort": 22, "toPort": 22, "protocol": "TCP", "cidr": "0.0.0.0/0", "action": "ACCEPT", "priority": 5}),
            ],
        )
        .await;
    w.hostway_enable(&hw_group, &edge).await;

    // --- Katapult's group: the VM target admits the web server; the deny beats the allow.
    let c = w.check("203.0.113.10", "203.0.113.20", "tcp", Some(5432)).await;
    assert_eq!(c["verdict"], "allow", "{c}");
    assert_eq!(c["ingress"]["decision"], "rule");
    assert_eq!(c["ingress"]["server_id"], json!(db));
    assert_eq!(c["egress"]["decision"], "ungoverned", "web is in no group");
    let decided = &c["decided_by"];
    assert_eq!(decided.as_array().unwrap().len(), 1, "{c}");
    assert_eq!(decided[0]["group_id"], json!(uuid_of_katapult("sg", &sg)));
    assert_eq!(decided[0]["rule_id"], json!(uuid_of_katapult("sgr", &rules[1])));
    assert_eq!(decided[0]["direction"], "inbound");
    assert_eq!(decided[0]["action"], "allow");
    assert_eq!(decided[0]["face_ids"]["katapult"], json!({"group": sg, "rule": rules[1]}));
    assert_eq!(
        decided[0]["face_ids"]["hostway"]["rule"].as_str().map(|n| n.parse::<u64>().is_ok()),
        Some(true)
    );
    assert!(decided[0]["face_ids"]["zstack"]["rule"].as_str().unwrap().len() == 32);
    assert!(decided[0]["face_ids"].get("defined").is_none(), "security groups are not Defined roles");
    let explanation = c["explanation"].as_str().unwrap();
    assert!(explanation.starts_with("Allowed: tcp/5432 from 203.0.113.10 to 203.0.113.20"), "{explanation}");
    assert!(explanation.contains("'db-sg'") && explanation.contains("server 'db'"), "{explanation}");
    assert!(explanation.contains("server 'web'") && explanation.contains("unfiltered"), "{explanation}");

    let c = w.check(&admin, &db, "tcp", Some(5432)).await;
    assert_eq!(c["verdict"], "deny", "server ids mean their first address: {c}");
    assert_eq!(c["flow"]["source"], "203.0.113.30");
    assert_eq!(c["decided_by"][0]["rule_id"], json!(uuid_of_katapult("sgr", &rules[0])));
    assert_eq!(c["decided_by"][0]["action"], "deny");
    let explanation = c["explanation"].as_str().unwrap();
    assert!(explanation.starts_with("Denied:") && explanation.contains("denies it by rule"), "{explanation}");
    assert!(explanation.contains("deny tcp 5432 from 203.0.113.30"), "{explanation}");

    let c = w.check("203.0.113.30", "203.0.113.20", "tcp", Some(22)).await;
    assert_eq!(
        (c["verdict"].clone(), c["decided_by"][0]["rule_id"].clone()),
        (json!("allow"), json!(uuid_of_katapult("sgr", &rules[2])))
    );
    let c = w.check("203.0.113.10", "203.0.113.20", "tcp", Some(80)).await;
    assert_eq!(c["verdict"], "deny");
    assert_eq!(c["ingress"]["decision"], "no_match");
    assert_eq!(c["decided_by"], json!([]), "a default decided, no rule");
    assert!(c["explanation"].as_str().unwrap().contains("no rule matched"), "{c}");
    // The database's egress: its group allows all outbound.
    let c = w.check("203.0.113.20", "192.0.2.1", "udp", Some(53)).await;
    assert_eq!((c["verdict"].clone(), c["egress"]["decision"].clone()), (json!("allow"), json!("allow_all")));
    assert!(c["ingress"].is_null(), "an address of no server has no policy");
    assert_eq!(c["decided_by"][0]["rule_id"], Value::Null);

    // --- A VM group target: the rule admits the group's machines, as they join and leave.
    let vmg = w.vm_group("frontends").await;
    let r = w
        .katapult(
            Method::POST,
            &format!("security_groups/{sg}/rules"),
            json!({"properties": {"direction": "inbound", "protocol": "TCP", "ports": "6432", "targets": [vmg]}}),
        )
        .await;
    let vmg_rule = r["security_group_rule"]["id"].as_str().unwrap().to_owned();
    let c = w.check("203.0.113.10", "203.0.113.20", "tcp", Some(6432)).await;
    assert_eq!(
        (c["verdict"].clone(), c["ingress"]["decision"].clone()),
        (json!("deny"), json!("no_match")),
        "web is in no VM group yet"
    );
    let revision = c["revision"].as_u64().unwrap();
    w.katapult(
        Method::PATCH,
        &format!("virtual_machines/{}", katapult_id("vm", &web)),
        json!({"properties": {"group": {"id": vmg}}}),
    )
    .await;
    let c = w.check("203.0.113.10", "203.0.113.20", "tcp", Some(6432)).await;
    assert_eq!(c["verdict"], "allow", "{c}");
    assert_eq!(c["decided_by"][0]["face_ids"]["katapult"]["rule"], json!(vmg_rule));
    assert!(c["explanation"].as_str().unwrap().contains("server group 'frontends'"), "{c}");
    assert_eq!(c["revision"].as_u64().unwrap(), revision + 1, "joining a group is a policy change");
    let r = w
        .app
        .patch(
            &format!("/api/v1/organizations/{}/servers/{web}", w.org),
            &w.token,
            json!({"server_group_id": null}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let c = w.check("203.0.113.10", "203.0.113.20", "tcp", Some(6432)).await;
    assert_eq!((c["verdict"].clone(), c["revision"].as_u64().unwrap()), (json!("deny"), revision + 2), "{c}");

    // --- Defined: the cache role admits the app role, and nobody else.
    let c = w.check("203.0.113.40", "203.0.113.50", "tcp", Some(6379)).await;
    assert_eq!(c["verdict"], "allow", "{c}");
    assert_eq!(c["decided_by"].as_array().unwrap().len(), 2, "the app host's role allows all outbound: {c}");
    let ingress = c["decided_by"].as_array().unwrap().iter().find(|d| d["direction"] == "inbound").unwrap();
    assert_eq!(ingress["face_ids"], json!({"defined": {"group": cache_role}}));
    assert_eq!(ingress["group_name"], "cache");
    let c = w.check("203.0.113.10", "203.0.113.50", "tcp", Some(6379)).await;
    assert_eq!((c["verdict"].clone(), c["ingress"]["decision"].clone()), (json!("deny"), json!("no_match")));

    // --- Hostway: DROP at 20 runs before ACCEPT at 10.
    let c = w.check("203.0.113.10", "203.0.113.60", "tcp", Some(80)).await;
    assert_eq!(c["verdict"], "deny", "{c}");
    assert_eq!(c["decided_by"][0]["face_ids"]["hostway"]["rule"], json!(hw_rules[1]));
    assert_eq!(c["decided_by"][0]["face_ids"]["hostway"]["group"], json!(hw_group));
    let c = w.check("203.0.113.30", "203.0.113.60", "tcp", Some(80)).await;
    assert_eq!(c["verdict"], "allow");
    assert_eq!(c["decided_by"][0]["face_ids"]["hostway"]["rule"], json!(hw_rules[0]));

    // --- The effective policy of the database server, in evaluation order, remotes resolved.
    let p = w.policy(&db).await;
    assert_eq!(p["server_id"], json!(db));
    assert_eq!(p["governed"], true);
    assert_eq!(p["defaults"], json!({"ingress": "deny", "egress": "allow"}));
    let ingress: Vec<(Value, Value, Value)> = p["ingress"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (r["action"].clone(), r["ports"].clone(), p["sets"][r["remote_set"].as_str().unwrap()].clone())
        })
        .collect();
    assert_eq!(
        ingress,
        [
            (json!("deny"), json!([{"from": 5432, "to": 5432}]), json!(["203.0.113.30/32"])),
            (json!("allow"), json!([{"from": 5432, "to": 5432}]), json!(["203.0.113.10/32"])),
            (json!("allow"), json!([{"from": 22, "to": 22}]), json!(["203.0.113.0/24"])),
            (json!("allow"), json!([{"from": 6432, "to": 6432}]), json!([])),
        ]
    );
    assert_eq!(p["ingress"][1]["group_name"], "db-sg");
    assert_eq!(p["sets"].as_object().unwrap().len(), 4, "each set once: {}", p["sets"]);
    assert_eq!(p["interfaces"][0]["ingress"], p["ingress"], "the first interface's");
    assert_eq!(p["egress"], json!([]));
    assert_eq!(p["interfaces"].as_array().unwrap().len(), 1);
    assert_eq!(p["interfaces"][0]["addresses"], json!(["203.0.113.20"]));
    // The agent's compiler reads this answer as it is and nftables accepts what it makes of it.
    for server in [&db, &edge, &web] {
        let answer = w.policy(server).await;
        let policy: palisade_dataplane::EffectivePolicy =
            serde_json::from_value(answer.clone()).unwrap_or_else(|e| panic!("{e}: {answer}"));
        let script = palisade_dataplane::script(&policy).unwrap_or_else(|e| panic!("{e}"));
        if let Err(complaint) = palisade_testkit::nft_check(&script) {
            panic!("nft refused:\n{complaint}\n{script}");
        }
    }
    let unfiltered = w.policy(&web).await;
    assert_eq!(
        (unfiltered["governed"].clone(), unfiltered["defaults"].clone()),
        (json!(false), json!({"ingress": "allow", "egress": "allow"}))
    );

    // --- Lint: the world-open SSH rule, the servers no group governs.
    let r = w.app.get(&format!("/api/v1/organizations/{}/policy/lint", w.org), &w.token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let findings = r.body["findings"].as_array().unwrap();
    let open: Vec<&Value> = findings.iter().filter(|f| f["kind"] == "world_open_admin_port").collect();
    assert_eq!(open.len(), 1, "{findings:?}");
    assert_eq!(open[0]["severity"], "error");
    assert!(open[0]["message"].as_str().unwrap().contains("22 (SSH)"), "{}", open[0]);
    let ungoverned: Vec<&Value> =
        findings.iter().filter(|f| f["kind"] == "ungoverned_server").map(|f| &f["server_id"]).collect();
    assert_eq!(ungoverned, [&json!(web), &json!(admin)]);
    assert_eq!(findings[0]["kind"], "world_open_admin_port", "the most severe first");

    // --- A change through a face changes the next answer and the revision.
    let before = w.policy(&edge).await["revision"].as_u64().unwrap();
    let (status, _) =
        w.hostway(Method::DELETE, &format!("os-security-group-rules/{}", hw_rules[1]), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let c = w.check("203.0.113.10", "203.0.113.60", "tcp", Some(80)).await;
    assert_eq!(c["verdict"], "allow", "the DROP is gone: {c}");
    assert_eq!(c["revision"].as_u64().unwrap(), before + 1);
    assert_eq!(w.policy(&edge).await["revision"].as_u64().unwrap(), before + 1);
    // Katapult: the VM target's server leaves the group's reach when the rule is deleted.
    w.katapult(
        Method::DELETE,
        &format!("security_groups/rules/_?security_group_rule%5Bid%5D={}", rules[1]),
        json!({}),
    )
    .await;
    let c = w.check("203.0.113.10", "203.0.113.20", "tcp", Some(5432)).await;
    assert_eq!(c["verdict"], "deny");
    assert_eq!(c["revision"].as_u64().unwrap(), before + 2);
}

#[tokio::test]
async fn flow_checks_refuse_what_they_cannot_answer_and_hide_other_organizations() {
    let w = World::new().await;
    let db = w.server("db", "203.0.113.20").await;

    // Another organization's server on the same shared network, in a group of its own.
    let other = w.app.org("other").await;
    let body =
        json!({"name": "theirs", "interfaces": [{"network_id": w.network, "addresses": ["203.0.113.99"]}]});
    let r = w.app.post(&format!("/api/v1/organizations/{other}/servers"), OPERATOR, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let theirs = r.body["server"]["id"].as_str().unwrap().to_owned();
    let c = w.check("203.0.113.20", "203.0.113.99", "tcp", Some(22)).await;
    assert!(c["ingress"].is_null(), "another organization's address is no server here: {c}");
    let r = w
        .check_as(&w.token, json!({"source": db, "destination": theirs, "protocol": "tcp", "port": 22}))
        .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_reference");
    let r = w.app.get(&format!("/api/v1/organizations/{}/servers/{theirs}/policy", w.org), &w.token).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);

    // Bad flows: every problem named.
    for (body, paths) in [
        (
            json!({"source": "nowhere", "destination": "10.0.0.1", "protocol": "sctp"}),
            vec!["source", "protocol"],
        ),
        (json!({"source": "10.0.0.1", "destination": "10.0.0.2", "protocol": "tcp"}), vec!["port"]),
        (
            json!({"source": "10.0.0.1", "destination": "10.0.0.2", "protocol": "icmp", "port": 1}),
            vec!["port"],
        ),
        (
            json!({"source": "10.0.0.1", "destination": "::1", "protocol": "udp", "port": 53}),
            vec!["destination"],
        ),
        (
            json!({"source": "10.0.0.1", "destination": "10.0.0.2", "protocol": "tcp", "port": 22, "icmp_code": 0}),
            vec!["icmp_type", "icmp_code"],
        ),
    ] {
        let r = w.check_as(&w.token, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
        assert_eq!(crate::support::error_paths(&r), paths, "{body}: {}", r.body);
    }
    // ICMP defaults to an echo request.
    let c = w.check("10.0.0.1", "203.0.113.20", "icmp", None).await;
    assert_eq!((c["flow"]["icmp_type"].clone(), c["flow"]["icmp_code"].clone()), (json!(8), json!(0)));

    // Without `policy:read`: 403, before the body is read.
    let (_, weak) = w.app.token(&w.org, &["security_groups"]).await;
    let r = w.check_as(&weak, json!("garbage")).await;
    assert_error(&r, StatusCode::FORBIDDEN, "scope_not_granted");
    let r = w.app.get(&format!("/api/v1/organizations/{}/policy/lint", w.org), &weak).await;
    assert_error(&r, StatusCode::FORBIDDEN, "scope_not_granted");
}
