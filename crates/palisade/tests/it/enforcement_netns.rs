//! Enforcement with real packets: network namespaces joined by veth pairs on a bridge act as
//! hosts with Palisade servers' addresses, each enforced by its own `palisade agent` process
//! (`--netns`) following the control plane. TCP, UDP and ICMP probes between them pass or are
//! dropped exactly as the flow check predicts, for policies written through Katapult, Defined,
//! Hostway and ZStack; a change through the API is in force within a second; a server leaving a
//! remote group loses its access; each namespace's own nftables table survives every apply;
//! with the control plane stopped the rules stay (and an agent restarted meanwhile restores
//! them from its state directory), and after the control plane returns the agents converge.
//!
//! Needs root, `ip`, `nft` and `ping` (`scripts/test.sh` installs the last two where missing).
//! Traffic stays inside the namespaces the test creates; `Lab` deletes them even on failure.

use std::net::{IpAddr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use palisade_testkit::netns::{Host, Lab, Probe};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::enforcement::{agent_token, katapult_group};
use crate::policy_engine::{katapult_id, World};
use crate::support::{TestApp, OPERATOR};
use crate::zstack::{add_rules, create_group, job_id, log_in, poll, zs};

/// How long a probe of a flow expected to be dropped waits.
const SILENT: Duration = Duration::from_millis(400);

/// A `palisade agent` process, killed when dropped.
struct Agent(Child);

impl Agent {
    fn start(base: &str, token: &str, server: &str, host: &Host, state: &std::path::Path) -> Agent {
        let child = Command::new(env!("CARGO_BIN_EXE_palisade"))
            .args(["agent", "--control-plane", base, "--token", token, "--server", server])
            .args(["--netns", host.name(), "--state-dir"])
            .arg(state)
            .args(["--poll-wait-seconds", "2", "--max-backoff-ms", "200"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .spawn()
            .expect("palisade agent starts");
        Agent(child)
    }

    /// SIGTERM, then its exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.0.id()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "the agent did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One Palisade server on its own namespace.
struct Node {
    name: &'static str,
    address: IpAddr,
    server: String,
    host: Host,
}

/// A free port on loopback, for a control plane that must come back on the same address.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// What the flow check says of a flow, as a probe would see it.
async fn predicted(w: &World, from: &Node, to: &Node, protocol: &str, port: Option<u16>) -> Probe {
    let c = w.check(&from.address.to_string(), &to.address.to_string(), protocol, port).await;
    match c["verdict"].as_str().unwrap() {
        "allow" => Probe::Open,
        "deny" => Probe::Silent,
        "reject" => Probe::Refused,
        other => panic!("verdict {other}"),
    }
}

/// Sends the probe from `from` to `to` in a blocking thread.
async fn probe(from: &Node, to: &Node, protocol: &'static str, port: Option<u16>) -> Probe {
    let (host, address) = (from.host.clone(), to.address);
    tokio::task::spawn_blocking(move || match protocol {
        "tcp" => host.tcp_probe(SocketAddr::new(address, port.unwrap()), SILENT).unwrap(),
        "udp" => host.udp_probe(SocketAddr::new(address, port.unwrap()), SILENT).unwrap(),
        "icmp" => {
            if host.ping(address, SILENT).unwrap() {
                Probe::Open
            } else {
                Probe::Silent
            }
        }
        other => panic!("protocol {other}"),
    })
    .await
    .unwrap()
}

/// Probes the flow, checks that it fared as the flow check predicts and as the test expects.
async fn flows(
    w: &World,
    from: &Node,
    to: &Node,
    protocol: &'static str,
    port: Option<u16>,
    expected: Probe,
) {
    let what = format!("{} → {} {protocol}/{port:?}", from.name, to.name);
    let predicted = predicted(w, from, to, protocol, port).await;
    assert_eq!(predicted, expected, "{what}: the flow check predicts {predicted:?}");
    let seen = probe(from, to, protocol, port).await;
    assert_eq!(seen, predicted, "{what}: the packets fared {seen:?}, the flow check predicts {predicted:?}");
}

/// Waits until every server's agent reports the desired policy applied; returns how long that
/// took.
async fn converged(w: &World, nodes: &[&Node]) -> Duration {
    let started = Instant::now();
    for node in nodes {
        loop {
            let r = w.app.get(&format!("/api/v1/servers/{}/enforcement", node.server), OPERATOR).await;
            if r.status == StatusCode::OK && r.body["in_sync"] == true {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(15), "{} never converged: {}", node.name, r.body);
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    started.elapsed()
}

/// Waits until the flow fares `expected`; returns how long that took.
async fn until(from: &Node, to: &Node, protocol: &'static str, port: u16, expected: Probe) -> Duration {
    let started = Instant::now();
    loop {
        if probe(from, to, protocol, Some(port)).await == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{} → {} never became {expected:?}",
            from.name,
            to.name
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

const FOREIGN: &str = "table inet foreign {\n  chain input {\n    type filter hook input priority 10; policy accept;\n    counter\n  }\n}\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_enforce_the_policy_on_real_packets() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let app = TestApp::spawn_tuned(|c| c.listen = listen.clone()).await;
    let w = World::on(app).await;
    let base = w.app.base.clone();
    let mut lab = Lab::new().unwrap();
    let state = tempfile::tempdir().unwrap();

    // Five hosts: web, db, admin (Katapult and Hostway), and app, cache (Defined hosts).
    let mut nodes = Vec::new();
    for (name, last) in [("web", 10), ("db", 20), ("admin", 30)] {
        let address: IpAddr = format!("203.0.113.{last}").parse().unwrap();
        let server = w.server(name, &address.to_string()).await;
        let host = lab.host(&[format!("{address}/24").parse().unwrap()]).unwrap();
        nodes.push(Node { name, address, server, host });
    }
    let (app_role, cache_role, network) = w.cache_admits_app().await;
    for (name, last, role) in [("app", 40, &app_role), ("cache", 50, &cache_role)] {
        let address: IpAddr = format!("203.0.113.{last}").parse().unwrap();
        w.defined(
            "/v1/hosts",
            json!({"name": name, "networkID": network, "roleID": role, "ipAddress": address.to_string()}),
        )
        .await;
        let servers =
            w.app.get(&format!("/api/v1/organizations/{}/servers?per_page=200", w.org), OPERATOR).await;
        let server = servers.body["servers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("the Defined host {name} is a server: {}", servers.body))["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let host = lab.host(&[format!("{address}/24").parse().unwrap()]).unwrap();
        nodes.push(Node { name, address, server, host });
    }
    // ZStack's hosts: zdb's group admits zweb's group (a remote-group rule); zother is in none.
    for (name, last) in [("zweb", 60), ("zdb", 70), ("zother", 80)] {
        let address: IpAddr = format!("203.0.113.{last}").parse().unwrap();
        let server = w.server(name, &address.to_string()).await;
        let host = lab.host(&[format!("{address}/24").parse().unwrap()]).unwrap();
        nodes.push(Node { name, address, server, host });
    }
    let [web, db, admin, app, cache, zweb, zdb, zother] = &nodes[..] else { unreachable!() };

    // Services on every host, and a table of the host's own that Palisade must never touch.
    let mut listeners = Vec::new();
    for node in &nodes {
        for port in [22, 80, 3306, 5432, 6379] {
            listeners.push(node.host.tcp_listen(port).unwrap());
        }
        listeners.push(node.host.udp_echo(53).unwrap());
        node.host.nft(FOREIGN).unwrap();
    }

    // Katapult: db admits SSH from web only, DNS over UDP from web only.
    let sg = katapult_group(&w, "db", &db.server, 22, "203.0.113.10").await;
    let dns = json!({"properties": {"direction": "inbound", "protocol": "UDP", "ports": "53", "targets": ["203.0.113.10"]}});
    w.katapult(Method::POST, &format!("security_groups/{sg}/rules"), dns).await;
    // Hostway: admin's group DROPs web on port 80 at priority 20, over an ACCEPT of all at 10.
    let rules = [
        json!({"fromPort": 80, "toPort": 80, "protocol": "TCP", "cidr": "0.0.0.0/0", "action": "ACCEPT", "priority": 10}),
        json!({"fromPort": 80, "toPort": 80, "protocol": "TCP", "cidr": "203.0.113.10/32", "action": "DROP", "priority": 20}),
    ];
    let (edge, _) = w.hostway_group("edge", &rules).await;
    w.hostway_enable(&edge, &admin.server).await;

    // ZStack: two groups on the shared L3 network, each with its VM's NIC; zdb's admits MySQL
    // from zweb's group. zweb's egress ends in ALLOW, as ZStack's NIC egress policy does: its
    // ACCEPT to zdb's group decides nothing, its DROP of PostgreSQL to anywhere does.
    let session = log_in(&w.app, "alice", "correct horse battery").await;
    let zweb_group =
        create_group(&w.app, &session, json!({"name": "zweb"})).await["uuid"].as_str().unwrap().to_owned();
    let zdb_group =
        create_group(&w.app, &session, json!({"name": "zdb"})).await["uuid"].as_str().unwrap().to_owned();
    let mysql = |kind: &str, remote: &str| json!({"rules": [{"type": kind, "protocol": "TCP", "startPort": 3306, "endPort": 3306}], "remoteSecurityGroupUuids": [remote]});
    let done = add_rules(&w.app, &session, &zdb_group, mysql("Ingress", &zweb_group)).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    let done = add_rules(&w.app, &session, &zweb_group, mysql("Egress", &zdb_group)).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    let no_postgres = json!({"rules": [{"type": "Egress", "protocol": "TCP", "dstPortRange": "5432", "dstIpRange": "0.0.0.0/0", "action": "DROP"}]});
    let done = add_rules(&w.app, &session, &zweb_group, no_postgres).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    let l3 = w.network.replace('-', "");
    for (group, node) in [(&zweb_group, zweb), (&zdb_group, zdb)] {
        let nic = w
            .app
            .get(&format!("/api/v1/organizations/{}/servers/{}", w.org, node.server), OPERATOR)
            .await
            .body["server"]["interfaces"][0]["id"]
            .as_str()
            .unwrap()
            .replace('-', "");
        for (path, body) in [
            (format!("/zstack/v1/security-groups/{group}/l3-networks/{l3}"), None),
            (
                format!("/zstack/v1/security-groups/{group}/vm-instances/nics"),
                Some(json!({"params": {"vmNicUuids": [nic]}}).to_string()),
            ),
        ] {
            let r = zs(&w.app, Method::POST, &path, Some(&session), Some(&job_id()), body.as_deref()).await;
            let done = poll(&w.app, &r, &session).await;
            assert_eq!(done.status, StatusCode::OK, "{path}: {}", done.text);
        }
    }

    // One agent per host.
    let mut agents = Vec::new();
    let mut tokens = Vec::new();
    for node in &nodes {
        let token = agent_token(&w, &node.server).await;
        agents.push(Agent::start(&base, &token, &node.server, &node.host, &state.path().join(node.name)));
        tokens.push(token);
    }
    converged(&w, &[web, db, admin, app, cache, zweb, zdb, zother]).await;

    // ZStack's remote-group rule; an L3 network attached to a group filters no other host.
    flows(&w, zweb, zdb, "tcp", Some(3306), Probe::Open).await;
    flows(&w, zother, zdb, "tcp", Some(3306), Probe::Silent).await;
    flows(&w, zweb, zdb, "tcp", Some(22), Probe::Silent).await;
    flows(&w, zother, web, "tcp", Some(22), Probe::Open).await;
    // ZStack's egress: open where no rule matches, dropped where its DROP rule does.
    flows(&w, zweb, web, "tcp", Some(80), Probe::Open).await;
    flows(&w, zweb, web, "tcp", Some(5432), Probe::Silent).await;

    // Katapult's SSH rule from one address; everything else to db dropped.
    flows(&w, web, db, "tcp", Some(22), Probe::Open).await;
    flows(&w, admin, db, "tcp", Some(22), Probe::Silent).await;
    flows(&w, web, db, "tcp", Some(80), Probe::Silent).await;
    flows(&w, web, db, "udp", Some(53), Probe::Open).await;
    flows(&w, admin, db, "udp", Some(53), Probe::Silent).await;
    flows(&w, web, db, "icmp", None, Probe::Silent).await;
    // Hostway's DROP above its ACCEPT.
    flows(&w, web, admin, "tcp", Some(80), Probe::Silent).await;
    flows(&w, db, admin, "tcp", Some(80), Probe::Open).await;
    // Defined's role admitting a role, and nobody else.
    flows(&w, app, cache, "tcp", Some(6379), Probe::Open).await;
    flows(&w, web, cache, "tcp", Some(6379), Probe::Silent).await;
    // Ungoverned hosts pass everything.
    flows(&w, db, web, "tcp", Some(80), Probe::Open).await;
    flows(&w, db, web, "icmp", None, Probe::Open).await;

    // A change through the API is in force within a second.
    let rule = json!({"properties": {"direction": "inbound", "protocol": "TCP", "ports": "80", "targets": ["203.0.113.30"]}});
    let written = Instant::now();
    w.katapult(Method::POST, &format!("security_groups/{sg}/rules"), rule).await;
    until(admin, db, "tcp", 80, Probe::Open).await;
    let took = written.elapsed();
    assert!(took < Duration::from_secs(1), "the new rule took {took:?} to be enforced");
    flows(&w, admin, db, "tcp", Some(80), Probe::Open).await;

    // A remote group's member leaving it loses its access.
    let vmg = w.vm_group("frontends").await;
    let rule =
        json!({"properties": {"direction": "inbound", "protocol": "TCP", "ports": "5432", "targets": [vmg]}});
    w.katapult(Method::POST, &format!("security_groups/{sg}/rules"), rule).await;
    w.katapult(
        Method::PATCH,
        &format!("virtual_machines/{}", katapult_id("vm", &web.server)),
        json!({"properties": {"group": {"id": vmg}}}),
    )
    .await;
    until(web, db, "tcp", 5432, Probe::Open).await;
    flows(&w, web, db, "tcp", Some(5432), Probe::Open).await;
    let r = w
        .app
        .patch(
            &format!("/api/v1/organizations/{}/servers/{}", w.org, web.server),
            OPERATOR,
            json!({"server_group_id": null}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    until(web, db, "tcp", 5432, Probe::Silent).await;
    flows(&w, web, db, "tcp", Some(5432), Probe::Silent).await;

    // The hosts' own tables survived every apply.
    converged(&w, &[web, db, admin, app, cache, zweb, zdb, zother]).await;
    for node in &nodes {
        let foreign = node.host.nft_table("inet", "foreign").unwrap();
        assert!(foreign.is_some_and(|t| t.contains("counter")), "{}'s own table was touched", node.name);
        assert!(node.host.nft_table("inet", "palisade").unwrap().is_some());
    }

    // The control plane stops: the rules stay in force.
    let World { app: control_plane, org, token, basic, network } = w;
    let db_handle = control_plane.stop().await;
    flows_offline(web, db, 22, Probe::Open).await;
    flows_offline(admin, db, 22, Probe::Silent).await;
    // An agent restarted meanwhile (its host's table lost too) restores its kept rules.
    let db_index = 1;
    drop(agents.remove(db_index));
    db.host.exec("nft", &["delete", "table", "inet", "palisade"]).unwrap();
    flows_offline(admin, db, 22, Probe::Open).await;
    agents.insert(
        db_index,
        Agent::start(&base, &tokens[db_index], &db.server, &db.host, &state.path().join("db")),
    );
    until(admin, db, "tcp", 22, Probe::Silent).await;
    flows_offline(web, db, 22, Probe::Open).await;

    // It comes back on the same address; a change made now reaches every host.
    let restarted = TestApp::spawn_on_tuned(db_handle, |c| c.listen = listen.clone()).await;
    let w = World { app: restarted, org, token, basic, network };
    let rule = json!({"properties": {"direction": "inbound", "protocol": "TCP", "ports": "22", "targets": ["203.0.113.30"]}});
    w.katapult(Method::POST, &format!("security_groups/{sg}/rules"), rule).await;
    until(admin, db, "tcp", 22, Probe::Open).await;
    flows(&w, admin, db, "tcp", Some(22), Probe::Open).await;
    converged(&w, &[web, db, admin, app, cache, zweb, zdb, zother]).await;

    // SIGTERM: the agent exits cleanly and leaves its rules.
    let status = agents.remove(1).terminate();
    assert!(status.success(), "the agent exited with {status}");
    assert!(db.host.nft_table("inet", "palisade").unwrap().is_some(), "the rules went with the agent");
    flows(&w, web, db, "tcp", Some(80), Probe::Silent).await;
    drop(listeners);
}

/// A probe while the control plane is away (no flow check to ask).
async fn flows_offline(from: &Node, to: &Node, port: u16, expected: Probe) {
    let seen = probe(from, to, "tcp", Some(port)).await;
    assert_eq!(seen, expected, "{} → {} tcp/{port} with the control plane stopped", from.name, to.name);
}
