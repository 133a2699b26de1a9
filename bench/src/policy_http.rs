//! The policy engine over HTTP, at provider size: one organization seeded straight through the
//! store (as `snapshot` seeds it: `groups` groups, `rules` rules, `servers` servers), then
//! through a running server with the operator token:
//!
//! - the first effective-policy read, which reads the snapshot and compiles it (cold);
//! - effective policies of random servers, then flow checks between random servers' addresses,
//!   each at one client (p50/p99) and at `clients` clients (per second), on the compiled policy
//!   kept by revision;
//! - lint of the whole organization (median of a few, warm);
//! - the first read after a policy write (one rule added): a new revision, so a new snapshot
//!   and compile, which is what every write costs the next reader.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use palisade::open_store;
use palisade_core::id::{RuleId, SecurityGroupId, ServerId};
use palisade_core::model::now;
use palisade_core::policy::{Action, Direction, PortRange, Protocol, Remote, Rule};
use palisade_testkit::{once, Backend, TestDatabase};
use serde_json::json;

use crate::measure::{drive, median_of, ms, Stats};
use crate::snapshot::{seed, shared, Size};
use crate::{backend_name, db_settings, serve, OPERATOR};

pub async fn run(
    backends: &[Backend],
    size: Size,
    requests: usize,
    clients: usize,
    max: Duration,
) -> anyhow::Result<()> {
    println!(
        "palisade policy engine over HTTP: an organization of {} groups, {} rules, {} servers; {requests} requests per row",
        size.groups, size.rules, size.servers
    );
    println!("{:>9} | {:<34} | {:>9} {:>9} {:>10}", "backend", "what", "p50 ms", "p99 ms", "per s");
    for &backend in backends {
        let db = TestDatabase::new(backend).await;
        let store = open_store(&db.url, &db_settings()).await?;
        let network = shared(&store).await?;
        let started = Instant::now();
        let org = seed(&store, &network, "large", size, 0).await?;
        println!("{:>9} | seeded in {:.1} s", backend_name(backend), started.elapsed().as_secs_f64());
        // The cold read's two parts, in process: the snapshot read, and the compile. The first
        // read of a store reads every group's rules; later ones keep those of groups whose
        // rules are unchanged since (by their rules version), as after a write.
        let t = Instant::now();
        let first = store.policy_snapshot(org).await?;
        let cold = t.elapsed();
        drop(first);
        let (mut reads, mut compiles) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            let t = Instant::now();
            let snapshot = store.policy_snapshot(org).await?;
            reads.push(t.elapsed());
            let t = Instant::now();
            drop(palisade_core::service::Evaluated::new(snapshot));
            compiles.push(t.elapsed());
        }
        reads.sort();
        compiles.sort();
        println!(
            "{:>9} | in process: snapshot read {:.0} ms cold (every group's rules), {:.0} ms with unchanged groups' rules kept (median of 3); compile {:.0} ms (median of 3)",
            backend_name(backend),
            ms(cold),
            ms(reads[1]),
            ms(compiles[1])
        );
        let snapshot = store.policy_snapshot(org).await?;
        let servers: Arc<Vec<(ServerId, IpAddr)>> = Arc::new(
            snapshot
                .servers
                .iter()
                .filter_map(|s| Some((s.id, *s.interfaces.first()?.addresses.first()?)))
                .collect(),
        );
        anyhow::ensure!(!servers.is_empty(), "no server has an address");
        let served = serve(&db.url).await?;
        let client = reqwest::Client::new();
        let base = format!("{}/api/v1/organizations/{org}", served.base);
        let row = |what: &str, stats: &Stats| {
            println!(
                "{:>9} | {:<34} | {:>9.2} {:>9.2} {:>10.0}",
                backend_name(backend),
                what,
                ms(stats.percentile(0.5)),
                ms(stats.percentile(0.99)),
                stats.rate()
            );
        };
        let policy_of = {
            let (client, base, servers) = (client.clone(), base.clone(), servers.clone());
            move |n: usize| {
                let (client, base, servers) = (client.clone(), base.clone(), servers.clone());
                async move {
                    let (id, _) = servers[n.wrapping_mul(7919) % servers.len()];
                    let r = client
                        .get(format!("{base}/servers/{id}/policy"))
                        .bearer_auth(OPERATOR)
                        .send()
                        .await?;
                    anyhow::ensure!(r.status().is_success(), "policy: {}", r.status());
                    r.bytes().await?;
                    Ok(true)
                }
            }
        };
        let check = {
            let (client, base, servers) = (client.clone(), base.clone(), servers.clone());
            move |n: usize| {
                let (client, base, servers) = (client.clone(), base.clone(), servers.clone());
                async move {
                    let (_, source) = servers[n.wrapping_mul(7919) % servers.len()];
                    let (_, destination) = servers[n.wrapping_mul(104_729).wrapping_add(1) % servers.len()];
                    let body = json!({"source": source, "destination": destination, "protocol": "tcp",
                        "port": 1000 + n % 2000});
                    let r = client
                        .post(format!("{base}/flow_checks"))
                        .bearer_auth(OPERATOR)
                        .json(&body)
                        .send()
                        .await?;
                    anyhow::ensure!(r.status().is_success(), "flow check: {}", r.status());
                    r.bytes().await?;
                    Ok(true)
                }
            }
        };
        row("effective policy, cold (compile)", &drive(1, 1, max, policy_of.clone()).await?);
        let largest = {
            let (mut bytes, mut rules, mut kept) = (0, 0, serde_json::Value::Null);
            for (id, _) in servers.iter().take(50) {
                let r =
                    client.get(format!("{base}/servers/{id}/policy")).bearer_auth(OPERATOR).send().await?;
                let body: serde_json::Value = r.json().await?;
                let size = body.to_string().len();
                if size > bytes {
                    bytes = size;
                    rules = body["ingress"].as_array().map_or(0, Vec::len)
                        + body["egress"].as_array().map_or(0, Vec::len);
                    kept = body;
                }
            }
            (bytes, rules, kept)
        };
        println!(
            "{:>9} | largest effective policy of 50 servers: {} rules, {} KiB of JSON",
            backend_name(backend),
            largest.1,
            largest.0 / 1024
        );
        // What its host's agent does with it: read the answer, compile the nft script.
        let (mut compiles, mut script_len) = (Vec::new(), 0);
        for _ in 0..5 {
            let t = Instant::now();
            let policy: palisade_dataplane::EffectivePolicy = serde_json::from_value(largest.2.clone())?;
            let script = palisade_dataplane::script(&policy).map_err(|e| anyhow::anyhow!("{e}"))?;
            compiles.push(t.elapsed());
            script_len = script.len();
        }
        compiles.sort();
        println!(
            "{:>9} | its host's ruleset: parse + compile to nft {:.1} ms (median of 5), {} KiB of script",
            backend_name(backend),
            ms(compiles[2]),
            script_len / 1024
        );
        row("effective policy, 1 client", &drive(1, requests, max, policy_of.clone()).await?);
        row(
            &format!("effective policy, {clients} clients"),
            &drive(clients, requests, max, policy_of.clone()).await?,
        );
        row("flow check, 1 client", &drive(1, requests, max, check.clone()).await?);
        row(&format!("flow check, {clients} clients"), &drive(clients, requests, max, check.clone()).await?);
        let (lint, findings) = median_of(5, max, || {
            let (client, base) = (client.clone(), base.clone());
            async move {
                let t = Instant::now();
                let r = client.get(format!("{base}/policy/lint")).bearer_auth(OPERATOR).send().await?;
                anyhow::ensure!(r.status().is_success(), "lint: {}", r.status());
                let body: serde_json::Value = r.json().await?;
                Ok((t.elapsed(), body["findings"].as_array().map_or(0, Vec::len)))
            }
        })
        .await?;
        println!(
            "{:>9} | {:<34} | {:>9.2} {:>9} {:>10} ({findings} findings)",
            backend_name(backend),
            "lint, whole organization (median)",
            ms(lint),
            "",
            ""
        );
        // Policy writes: one rule more each, a new revision; the next read reads the snapshot
        // (the new rule's children only) and compiles again.
        let group = snapshot.groups.first().map(|g| g.group.id).unwrap_or_else(SecurityGroupId::random);
        let mut after_write = Vec::new();
        for n in 0..5u16 {
            let rule = Rule {
                id: RuleId::random(),
                group_id: group,
                direction: Direction::Inbound,
                action: Action::Allow,
                protocol: Protocol::Tcp,
                ports: vec![PortRange { from: 443 + n, to: 443 + n }],
                icmp: None,
                priority: None,
                remotes: vec![Remote::Cidr("198.51.100.0/24".into())],
                description: None,
                created_at: now(),
            };
            once!(store, insert_rule(&palisade_testkit::grants::grant(org), &rule))?;
            let t = Instant::now();
            anyhow::ensure!(policy_of(n.into()).await?, "policy after a write");
            after_write.push(t.elapsed());
        }
        after_write.sort();
        println!(
            "{:>9} | {:<34} | {:>9.2} {:>9.2} (median and worst of 5)",
            backend_name(backend),
            "effective policy after a write",
            ms(after_write[2]),
            ms(after_write[4])
        );
        let _ = served.stop.send(());
        let _ = served.server.await;
    }
    Ok(())
}
