//! Fan-out: a change that affects every server reaches every agent. On PostgreSQL (several
//! nodes is what it is for), two `palisade serve` processes share one database holding an
//! organization of `servers` servers (seeded through the store, with `groups` groups and
//! `rules` rules) and one group applying to all of them. A load program holds one long poll per
//! server (`GET /api/v1/servers/{id}/policy?after_revision=N` with the digest it has), split
//! across the two nodes; then one rule is added to the all-servers group, from this process
//! (a third node: the two servers hear of it only through `NOTIFY`). Printed: how long until
//! each poll was answered with the new policy (p50, p99, all).

use std::sync::Arc;
use std::time::{Duration, Instant};

use palisade::open_store;
use palisade_core::policy::{Direction, Member};
use palisade_testkit::suite::{group, rule};
use palisade_testkit::{once, Backend, TestDatabase};
use tokio::sync::Semaphore;

use crate::measure::{ms, Stats};
use crate::process::{free_port, Spawned};
use crate::snapshot::{seed, shared, Size};
use crate::{db_settings, OPERATOR};

pub async fn run(size: Size, hold: Duration) -> anyhow::Result<()> {
    let db = TestDatabase::new(Backend::Postgres).await;
    let store = open_store(&db.url, &db_settings()).await?;
    let network = shared(&store).await?;
    let started = Instant::now();
    let org = seed(&store, &network, "fan", size, 0).await?;
    let servers: Vec<String> =
        store.policy_snapshot(org).await?.servers.iter().map(|s| s.id.to_string()).collect();
    let mut everyone = group(org, "everyone");
    everyone.members =
        store.policy_snapshot(org).await?.servers.iter().map(|s| Member::Server(s.id)).collect();
    let grant = palisade_testkit::grants::grant(org);
    once!(store, insert_security_group(&grant, &everyone, &[]))?;
    println!(
        "fan-out: {} servers ({} groups, {} rules, one group on every server), seeded in {:.1} s; 2 nodes on PostgreSQL",
        servers.len(),
        size.groups,
        size.rules,
        started.elapsed().as_secs_f64()
    );

    let binary = std::env::current_exe()?.with_file_name("palisade");
    anyhow::ensure!(
        binary.exists(),
        "no server binary at {}: cargo build --release -p palisade",
        binary.display()
    );
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let port = free_port()?;
        let mut command = std::process::Command::new(&binary);
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database-url", &db.url])
            .args(["--admin-token", OPERATOR, "--max-connections", "8000", "--db-max-connections", "16"])
            .env("RUST_LOG", "warn");
        let mut node = Spawned::start(command, port)?;
        node.ready("/readyz", Duration::from_secs(60)).await?;
        nodes.push(node);
    }
    let bases: Arc<Vec<String>> = Arc::new(nodes.iter().map(|n| n.base.clone()).collect());
    let client = reqwest::Client::builder().pool_max_idle_per_host(usize::MAX).build()?;

    // What each agent has: its policy's revision and digest.
    let t = Instant::now();
    let gate = Arc::new(Semaphore::new(64));
    let mut known = Vec::new();
    for (i, server) in servers.iter().enumerate() {
        let (client, bases, gate, server) = (client.clone(), bases.clone(), gate.clone(), server.clone());
        known.push(tokio::spawn(async move {
            let _turn = gate.acquire().await?;
            let url = format!("{}/api/v1/servers/{server}/policy", bases[i % 2]);
            let body: serde_json::Value = client.get(url).bearer_auth(OPERATOR).send().await?.json().await?;
            let revision = body["revision"].as_u64().ok_or_else(|| anyhow::anyhow!("no revision: {body}"))?;
            let digest = body["digest"].as_str().unwrap_or_default().to_owned();
            anyhow::Ok((server, revision, digest))
        }));
    }
    let mut have = Vec::new();
    for k in known {
        have.push(k.await??);
    }
    let revision = have.iter().map(|h| h.1).max().unwrap_or_default();
    println!("  first fetch of every server's policy: {:.1} s", t.elapsed().as_secs_f64());

    // One held poll per server.
    let mut polls = Vec::new();
    for (i, (server, revision, digest)) in have.into_iter().enumerate() {
        let (client, bases) = (client.clone(), bases.clone());
        let wait = hold.as_secs();
        polls.push(tokio::spawn(async move {
            let url = format!(
                "{}/api/v1/servers/{server}/policy?after_revision={revision}&wait={wait}",
                bases[i % 2]
            );
            let res = client
                .get(url)
                .bearer_auth(OPERATOR)
                .header("if-none-match", format!("\"{digest}\""))
                .send()
                .await?;
            let status = res.status();
            let body = res.bytes().await?;
            let at = Instant::now();
            // The answer begins `{"revision":N,`: read N without parsing the rest, so that the load
            // program spends little of the machine the nodes run on.
            let revision = std::str::from_utf8(body.get(..40).unwrap_or(&body))
                .ok()
                .and_then(|head| head.strip_prefix("{\"revision\":"))
                .and_then(|rest| rest.split(',').next())
                .and_then(|n| n.parse::<u64>().ok());
            anyhow::Ok((at, status, revision))
        }));
    }
    // Every poll connected and held: give them time, and check none was answered yet.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let early = polls.iter().filter(|p| p.is_finished()).count();
    anyhow::ensure!(early == 0, "{early} polls were answered before any change");

    let changed = Instant::now();
    let ssh = rule(everyone.id, Direction::Inbound, "22");
    once!(store, insert_rule(&grant, &ssh))?;
    let mut latencies = Vec::new();
    let (mut stale, mut failed) = (0, 0);
    for p in polls {
        match p.await? {
            Ok((at, reqwest::StatusCode::OK, Some(r))) if r > revision => {
                latencies.push(at.duration_since(changed))
            }
            Ok(_) => stale += 1,
            Err(_) => failed += 1,
        }
    }
    let answered = latencies.len();
    let stats = Stats::from_latencies(latencies, Duration::ZERO);
    println!(
        "  {answered} of {} agents had the new policy: p50 {:.0} ms, p99 {:.0} ms, all {:.0} ms (target: all < 2000 ms); {stale} not answered with it, {failed} failed",
        servers.len(),
        ms(stats.percentile(0.5)),
        ms(stats.percentile(0.99)),
        ms(stats.percentile(1.0)),
    );
    drop(nodes);
    Ok(())
}
