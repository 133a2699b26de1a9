//! Fan-out: a change that affects every server reaches every agent. On PostgreSQL (several
//! nodes is what it is for), two `palisade serve` processes share one database holding an
//! organization of `servers` servers (seeded through the store, with `groups` groups and
//! `rules` rules) and one group applying to all of them. A load program holds one long poll per
//! server (`GET /api/v1/servers/{id}/policy?after_revision=N` with the digest it has), split
//! across the two nodes; then one rule is added to the all-servers group, from this process
//! (a third node: the two servers hear of it only through `NOTIFY`). Printed: how long until
//! each poll was answered with the new policy (p50, p99, all).
//!
//! Before that, a change that affects one server only (a rule added to a group on it alone):
//! every held poll of the organization wakes, but only that server's should be answered, and
//! the others should cost little: printed are its latency, the polls answered, and the CPU time
//! both nodes spent in the two seconds after the change (from `/proc`), beside the CPU of the
//! change that affects everyone. `--server-binary` runs another build of `palisade` as the
//! nodes, to compare two versions in one run.

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

/// CPU time (user + system) a process has used so far, from `/proc/<pid>/stat` (in the
/// kernel's clock ticks, 100 per second on Linux).
fn cpu_of(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or_default();
    // utime and stime are the 14th and 15th fields; `rest` starts at the 3rd.
    Ok(Duration::from_millis((ticks(11) + ticks(12)) * 10))
}

/// CPU time all `nodes` have used so far.
fn cpu_of_nodes(nodes: &[Spawned]) -> anyhow::Result<Duration> {
    nodes.iter().map(|n| cpu_of(n.pid())).sum()
}

pub async fn run(
    size: Size,
    hold: Duration,
    server_binary: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
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
    // A group on the first server alone: a change to it changes one server's policy.
    let mut alone = group(org, "alone");
    let first = store.policy_snapshot(org).await?.servers.first().map(|s| s.id);
    alone.members = first.map(Member::Server).into_iter().collect();
    once!(store, insert_security_group(&grant, &alone, &[]))?;
    println!(
        "fan-out: {} servers ({} groups, {} rules, one group on every server), seeded in {:.1} s; 2 nodes on PostgreSQL",
        servers.len(),
        size.groups,
        size.rules,
        started.elapsed().as_secs_f64()
    );

    let binary = match server_binary {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("palisade"),
    };
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

    // One server's change: the first server's poll is answered; the others wake and stay.
    let cpu = cpu_of_nodes(&nodes)?;
    let changed = Instant::now();
    once!(store, insert_rule(&grant, &rule(alone.id, Direction::Inbound, "2222")))?;
    let mut polls = polls.into_iter();
    let first_poll = polls.next().ok_or_else(|| anyhow::anyhow!("no server"))?;
    let (at, status, _) = tokio::time::timeout(hold, first_poll).await???;
    anyhow::ensure!(status == reqwest::StatusCode::OK, "the changed server's poll: {status}");
    let one_latency = at.duration_since(changed);
    tokio::time::sleep(Duration::from_secs(2).saturating_sub(changed.elapsed())).await;
    let one_cpu = cpu_of_nodes(&nodes)?.saturating_sub(cpu);
    let polls: Vec<_> = polls.collect();
    let others = polls.iter().filter(|p| p.is_finished()).count();
    println!(
        "  a change to one server's policy: its poll answered in {:.0} ms; {others} of the other {} polls answered (should be 0); the nodes' CPU in the 2 s after it: {:.0} ms",
        ms(one_latency),
        polls.len(),
        ms(one_cpu)
    );

    let cpu = cpu_of_nodes(&nodes)?;
    let changed = Instant::now();
    let ssh = rule(everyone.id, Direction::Inbound, "22");
    once!(store, insert_rule(&grant, &ssh))?;
    let mut latencies = Vec::new();
    let (mut stale, mut failed) = (0, 0);
    let polled = polls.len();
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
    let all_cpu = cpu_of_nodes(&nodes)?.saturating_sub(cpu);
    println!(
        "  a change to every server's policy: {answered} of {polled} agents had it: p50 {:.0} ms, p99 {:.0} ms, all {:.0} ms (target: all < 2000 ms); {stale} not answered with it, {failed} failed; the nodes' CPU until all were: {:.0} ms",
        ms(stats.percentile(0.5)),
        ms(stats.percentile(0.99)),
        ms(stats.percentile(1.0)),
        ms(all_cpu),
    );
    drop(nodes);
    Ok(())
}
