//! Several stateless `palisade serve` processes on one PostgreSQL: writes are visible across
//! nodes at once, and conflicting writes through different nodes have exactly one winner.
//! Always on PostgreSQL (that is what multi-node means), whatever PALISADE_TEST_BACKEND says.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::binary::Server;
use crate::support::{Backend, TestDatabase, OPERATOR};

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = client.request(method, url).bearer_auth(OPERATOR);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    let text = res.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
}

/// POSTs as the operator; the answer, which must be a success.
async fn posted(client: &reqwest::Client, url: String, body: Value) -> Value {
    let (status, body) = call(client, reqwest::Method::POST, url, Some(body)).await;
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// An organization (`sub_domain`), a data center and a shared network on `prefix`, through the
/// node at `base`: the organization's and the network's ids.
async fn organization_with_network(
    client: &reqwest::Client,
    base: &str,
    sub_domain: &str,
    prefix: &str,
) -> (String, String) {
    let org = posted(
        client,
        format!("{base}/api/v1/organizations"),
        json!({"name": sub_domain, "sub_domain": sub_domain}),
    )
    .await;
    let country = json!({"name": "UK", "iso_code2": "GB", "iso_code3": "GBR", "time_zone": "Europe/London", "eu": false});
    let dc = posted(
        client,
        format!("{base}/api/v1/data_centers"),
        json!({"name": "L", "permalink": "l", "country": country}),
    )
    .await;
    let body = json!({"name": "N", "permalink": "n", "data_center_id": dc["data_center"]["id"], "prefixes": [prefix],
        "default": true, "organization_id": null});
    let network = posted(client, format!("{base}/api/v1/networks"), body).await;
    let id = |v: &Value| v["id"].as_str().unwrap().to_owned();
    (id(&org["organization"]), id(&network["network"]))
}

/// Two server processes on one fresh PostgreSQL database (kept alive with the value).
struct Nodes {
    a: Server,
    b: Server,
    _dir: tempfile::TempDir,
    _db: TestDatabase,
}

impl Nodes {
    async fn start() -> Self {
        let db = TestDatabase::new(Backend::Postgres).await;
        let dir = tempfile::tempdir().unwrap();
        let args = ["--database-url", db.url.as_str(), "--admin-token", OPERATOR];
        let a = Server::start_with(dir.path(), &args);
        let b = Server::start_with(dir.path(), &args);
        Nodes { a, b, _dir: dir, _db: db }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_one_postgres() {
    let nodes = Nodes::start().await;
    let (a_url, b_url) = (nodes.a.ready_url(), nodes.b.ready_url());
    assert_ne!(a_url, b_url);
    let client = reqwest::Client::new();
    use reqwest::Method;

    // A write through one node is visible through the other at once.
    let (status, created) = call(
        &client,
        Method::POST,
        format!("{a_url}/api/v1/organizations"),
        Some(json!({"name": "Acme", "sub_domain": "acme"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let org = created["organization"]["id"].as_str().unwrap().to_owned();
    let (status, seen) =
        call(&client, Method::GET, format!("{b_url}/api/v1/organizations/{org}"), None).await;
    assert_eq!((status, &seen), (StatusCode::OK, &created));

    // The same sub_domain through both nodes at once: one 201, one clean 409.
    for round in 0..10 {
        let body = json!({"name": "Race", "sub_domain": format!("race-{round}")});
        let (ra, rb) = tokio::join!(
            call(&client, Method::POST, format!("{a_url}/api/v1/organizations"), Some(body.clone())),
            call(&client, Method::POST, format!("{b_url}/api/v1/organizations"), Some(body.clone())),
        );
        let mut statuses = [ra.0, rb.0];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT], "round {round}: {} {}", ra.1, rb.1);
        let loser = if ra.0 == StatusCode::CONFLICT { &ra.1 } else { &rb.1 };
        assert_eq!(loser["error"]["code"], "already_exists");
        assert_eq!(loser["error"]["details"][0]["path"], "sub_domain");
    }

    // A token made on one node works on the other; revoking it through both nodes at once has
    // one winner and one clean 409, and the token is refused everywhere at once.
    for round in 0..10 {
        let (_, token) = call(
            &client,
            Method::POST,
            format!("{a_url}/api/v1/organizations/{org}/api_tokens"),
            Some(json!({"name": format!("t{round}"), "scopes": ["organizations:read"]})),
        )
        .await;
        let (id, secret) = (token["api_token"]["id"].as_str().unwrap(), token["secret"].as_str().unwrap());
        let r = client
            .get(format!("{b_url}/api/v1/organizations/{org}"))
            .bearer_auth(secret)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let path = format!("/api/v1/organizations/{org}/api_tokens/{id}");
        let (ra, rb) = tokio::join!(
            call(&client, Method::DELETE, format!("{a_url}{path}"), None),
            call(&client, Method::DELETE, format!("{b_url}{path}"), None),
        );
        let mut statuses = [ra.0, rb.0];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::NO_CONTENT, StatusCode::CONFLICT],
            "round {round}: {} {}",
            ra.1,
            rb.1
        );
        for base in [&a_url, &b_url] {
            let r = client
                .get(format!("{base}/api/v1/organizations/{org}"))
                .bearer_auth(secret)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        }
    }
    let (_, list) =
        call(&client, Method::GET, format!("{b_url}/api/v1/organizations?per_page=200"), None).await;
    assert_eq!(list["pagination"]["total"], 11);

    let (log_a, log_b) = (nodes.a.terminate(), nodes.b.terminate());
    assert!(
        !log_a.contains("palop_") && !log_b.contains("palop_"),
        "a given admin token is never generated or printed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_allocating_at_once_never_collide() {
    let nodes = Nodes::start().await;
    let (a_url, b_url) = (nodes.a.ready_url(), nodes.b.ready_url());
    let client = reqwest::Client::new();
    use reqwest::Method;
    let (_, org) = call(
        &client,
        Method::POST,
        format!("{a_url}/api/v1/organizations"),
        Some(json!({"name": "A", "sub_domain": "a"})),
    )
    .await;
    let org = org["organization"]["id"].as_str().unwrap().to_owned();
    let country = json!({"name": "United Kingdom", "iso_code2": "GB", "iso_code3": "GBR", "time_zone": "Europe/London", "eu": false});
    let (_, dc) = call(
        &client,
        Method::POST,
        format!("{a_url}/api/v1/data_centers"),
        Some(json!({"name": "L", "permalink": "l", "country": country})),
    )
    .await;
    let (_, net) = call(
        &client,
        Method::POST,
        format!("{b_url}/api/v1/networks"),
        Some(
            json!({"name": "N", "data_center_id": dc["data_center"]["id"], "prefixes": ["198.51.100.0/26"]}),
        ),
    )
    .await;
    let net = net["network"]["id"].as_str().unwrap().to_owned();

    let mut tasks = Vec::new();
    for i in 0..80 {
        let base = if i % 2 == 0 { a_url.clone() } else { b_url.clone() };
        let (client, org, net) = (client.clone(), org.clone(), net.clone());
        tasks.push(tokio::spawn(async move {
            call(
                &client,
                Method::POST,
                format!("{base}/api/v1/organizations/{org}/ip_addresses"),
                Some(json!({"network_id": net, "version": "ipv4"})),
            )
            .await
        }));
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut exhausted = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            StatusCode::CREATED => assert!(
                seen.insert(body["ip_address"]["address"].as_str().unwrap().to_owned()),
                "duplicate {body}"
            ),
            StatusCode::CONFLICT => {
                assert_eq!(body["error"]["code"], "no_available_addresses");
                exhausted += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((seen.len(), exhausted), (62, 18));
    nodes.a.terminate();
    nodes.b.terminate();
}

/// A ZStack session opened on one node works on the other, and a job created through one node
/// is polled through the other: both live in the shared database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zstack_sessions_and_jobs_are_seen_by_every_node() {
    use reqwest::Method;
    let nodes = Nodes::start().await;
    let (a_url, b_url) = (nodes.a.ready_url(), nodes.b.ready_url());
    let client = reqwest::Client::new();
    let (_, org) = call(
        &client,
        Method::POST,
        format!("{a_url}/api/v1/organizations"),
        Some(json!({"name": "Acme", "sub_domain": "acme"})),
    )
    .await;
    let org = org["organization"]["id"].as_str().unwrap().to_owned();
    let user = json!({"username": "admin", "password": "password"});
    let (status, _) =
        call(&client, Method::POST, format!("{a_url}/api/v1/organizations/{org}/users"), Some(user)).await;
    assert_eq!(status, StatusCode::CREATED);

    let login = json!({"logInByAccount": {"accountName": "admin", "password": palisade_core::secret::sha512_hex("password")}});
    let res = client.put(format!("{a_url}/zstack/v1/accounts/login")).json(&login).send().await.unwrap();
    let session: Value = res.json().await.unwrap();
    let session = session["inventory"]["uuid"].as_str().unwrap().to_owned();
    let res = client
        .post(format!("{a_url}/zstack/v1/security-groups"))
        .header("Authorization", format!("OAuth {session}"))
        .body(r#"{"params":{"name":"web"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let accepted: Value = res.json().await.unwrap();
    let location = accepted["location"].as_str().unwrap();
    assert!(location.starts_with(&a_url), "{location} is node A's own address");
    let on_b = location.replace(&a_url, &b_url);
    let polled = |url: String| {
        let (client, session) = (&client, session.clone());
        async move {
            let res =
                client.get(url).header("Authorization", format!("OAuth {session}")).send().await.unwrap();
            (res.status(), res.text().await.unwrap())
        }
    };
    let (status, from_b) = polled(on_b).await;
    assert_eq!(status, StatusCode::OK, "{from_b}");
    assert_eq!(polled(location.to_owned()).await, (StatusCode::OK, from_b.clone()));
    let group: Value = serde_json::from_str(&from_b).unwrap();
    assert_eq!(group["inventory"]["name"], "web");
    // The session is valid on B, and signing out on B ends it on A.
    let (status, _) = polled(format!("{b_url}/zstack/v1/security-groups")).await;
    assert_eq!(status, StatusCode::OK);
    client.delete(format!("{b_url}/zstack/v1/accounts/sessions/{session}")).send().await.unwrap();
    let (status, text) = polled(format!("{a_url}/zstack/v1/security-groups")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
    assert!(text.contains("ID.1001"));
}

/// Each node keeps its own compiled policy by revision: a rule written through one node changes
/// the next flow check on the other, which had compiled (and kept) the policy before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_change_on_one_node_is_the_next_answer_on_another() {
    let nodes = Nodes::start().await;
    let (a_url, b_url) = (nodes.a.ready_url(), nodes.b.ready_url());
    let client = reqwest::Client::new();
    let (org, network) = organization_with_network(&client, &a_url, "acme", "203.0.113.0/24").await;
    let server = posted(
        &client,
        format!("{a_url}/api/v1/organizations/{org}/servers"),
        json!({"name": "db", "interfaces": [{"network_id": network, "addresses": ["203.0.113.20"]}]}),
    )
    .await["server"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let vm = palisade_api::katapult::ids::render("vm", uuid::Uuid::parse_str(&server).unwrap().as_bytes());
    let group = posted(
        &client,
        format!("{a_url}/core/v1/organizations/_/security_groups"),
        json!({"organization": {"sub_domain": "acme"}, "properties": {"name": "db", "associations": [vm]}}),
    )
    .await["security_group"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let check =
        json!({"source": "198.51.100.7", "destination": "203.0.113.20", "protocol": "tcp", "port": 5432});
    let first =
        posted(&client, format!("{b_url}/api/v1/organizations/{org}/flow_checks"), check.clone()).await;
    assert_eq!(first["verdict"], "deny", "{first}");

    posted(&client,
        format!("{a_url}/core/v1/security_groups/{group}/rules"),
        json!({"properties": {"direction": "inbound", "protocol": "TCP", "ports": "5432", "targets": ["198.51.100.0/24"]}}),
    )
    .await;
    let next = posted(&client, format!("{b_url}/api/v1/organizations/{org}/flow_checks"), check).await;
    assert_eq!(next["verdict"], "allow", "{next}");
    assert_eq!(next["revision"].as_u64().unwrap(), first["revision"].as_u64().unwrap() + 1);
}

/// A host agent's long poll held on node B is answered by a change written through node A
/// (PostgreSQL `NOTIFY`, heard by B's listener), within a second; a change that leaves the
/// server's policy alone does not answer it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_one_node_answers_a_long_poll_held_on_another() {
    let nodes = Nodes::start().await;
    let (a_url, b_url) = (nodes.a.ready_url(), nodes.b.ready_url());
    let client = reqwest::Client::new();
    let (org, net) = organization_with_network(&client, &a_url, "a", "198.51.100.0/24").await;
    let mut servers = Vec::new();
    for (name, address) in [("web", "198.51.100.10"), ("db", "198.51.100.20")] {
        let body = json!({"name": name, "interfaces": [{"network_id": net, "addresses": [address]}]});
        let s = posted(&client, format!("{a_url}/api/v1/organizations/{org}/servers"), body).await;
        servers.push(s["server"]["id"].as_str().unwrap().to_owned());
    }
    let (web, db) = (servers[0].clone(), servers[1].clone());
    let token =
        posted(&client, format!("{a_url}/api/v1/servers/{web}/agent_tokens"), json!({"name": "web"})).await;
    let agent = token["secret"].as_str().unwrap().to_owned();
    let res =
        client.get(format!("{b_url}/api/v1/servers/{web}/policy")).bearer_auth(&agent).send().await.unwrap();
    let policy: Value = res.json().await.unwrap();
    let (revision, digest) =
        (policy["revision"].as_u64().unwrap(), policy["digest"].as_str().unwrap().to_owned());

    let held = {
        let (client, b_url, web, agent, digest) =
            (client.clone(), b_url.clone(), web.clone(), agent.clone(), digest.clone());
        tokio::spawn(async move {
            let res = client
                .get(format!("{b_url}/api/v1/servers/{web}/policy?after_revision={revision}&wait=20"))
                .bearer_auth(&agent)
                .header("if-none-match", format!("\"{digest}\""))
                .send()
                .await
                .unwrap();
            (res.status(), res.json::<Value>().await.unwrap(), std::time::Instant::now())
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let scopes = json!({"name": "t", "scopes": ["security_groups", "virtual_machines"]});
    let token = posted(&client, format!("{a_url}/api/v1/organizations/{org}/api_tokens"), scopes).await;
    let token = token["secret"].as_str().unwrap().to_owned();
    // A Katapult group on `member` with an SSH rule, written through node A.
    let group = |name: &'static str, member: String| {
        let (client, a_url, token) = (client.clone(), a_url.clone(), token.clone());
        async move {
            let vm = crate::policy_engine::katapult_id("vm", &member);
            let properties = json!({"name": name, "associations": [vm], "allow_all_inbound": false, "allow_all_outbound": true});
            let res = client
                .post(format!("{a_url}/core/v1/organizations/_/security_groups"))
                .bearer_auth(&token)
                .json(&json!({"organization": {"sub_domain": "a"}, "properties": properties}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
        }
    };
    // Another server's change: the poll on B stays held.
    group("db", db).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!held.is_finished(), "another server's change answered the poll");
    let written = std::time::Instant::now();
    group("web", web).await;
    let (status, body, answered) =
        tokio::time::timeout(std::time::Duration::from_secs(5), held).await.unwrap().unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_ne!(body["digest"], json!(digest));
    let took = answered.duration_since(written);
    assert!(took < std::time::Duration::from_secs(1), "node B heard node A's change after {took:?}");
    nodes.a.terminate();
    nodes.b.terminate();
}
