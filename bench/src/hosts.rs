//! Defined hosts over HTTP: `POST /v1/hosts` with no address (IPAM picks one) and every host
//! joining the same role — the worst case for contention, since the role's member list is where
//! concurrent creates meet — then a filtered, paged listing of all of them.

use std::time::{Duration, Instant};

use anyhow::Context;
use palisade_testkit::{Backend, TestDatabase};
use serde_json::{json, Value};

use crate::measure::{drive, ms};
use crate::post;
use crate::{backend_name, serve, OPERATOR};

pub async fn run(backends: &[Backend], levels: &[usize], hosts: usize, max: Duration) -> anyhow::Result<()> {
    println!(
        "palisade Defined hosts: POST /v1/hosts into one role, IPAM-assigned addresses ({hosts} per level, at most {}s)",
        max.as_secs()
    );
    println!(
        "{:>9} {:>8} | {:>8} {:>8} {:>8} | {:>16}",
        "backend", "clients", "hosts/s", "p50 ms", "p99 ms", "list all, 500/pg"
    );
    for &backend in backends {
        for &clients in levels {
            level(backend, clients, hosts, max).await?;
        }
    }
    Ok(())
}

async fn level(backend: Backend, clients: usize, hosts: usize, max: Duration) -> anyhow::Result<()> {
    let db = TestDatabase::new(backend).await;
    let crate::Served { base, stop, server, .. } = serve(&db.url).await?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(clients).build()?;
    let org = post(
        &client,
        format!("{base}/api/v1/organizations"),
        OPERATOR,
        json!({"name": "b", "sub_domain": "b"}),
    )
    .await?;
    let org = org["organization"]["id"].as_str().context("no organization id")?.to_owned();
    let token = post(
        &client,
        format!("{base}/api/v1/organizations/{org}/api_tokens"),
        OPERATOR,
        json!({"name": "bench", "scopes": ["roles:create", "roles:read", "hosts:create", "hosts:list"]}),
    )
    .await?;
    let token = token["secret"].as_str().context("no secret")?.to_owned();
    let dc = post(
        &client,
        format!("{base}/api/v1/data_centers"),
        OPERATOR,
        json!({"name": "L", "permalink": "l", "country": {"name": "UK", "iso_code2": "GB", "iso_code3": "GBR",
            "time_zone": "Europe/London", "eu": false}}),
    )
    .await?;
    let network = post(
        &client,
        format!("{base}/api/v1/networks"),
        OPERATOR,
        json!({"name": "overlay", "data_center_id": dc["data_center"]["id"], "prefixes": ["100.64.0.0/16"],
            "organization_id": org}),
    )
    .await?;
    let network: palisade_core::id::NetworkId =
        network["network"]["id"].as_str().context("no network id")?.parse().map_err(anyhow::Error::msg)?;
    let network = palisade_api::defined::ids::render("network", network.as_bytes());
    let role = post(&client, format!("{base}/v1/roles"), &token, json!({"name": "web"})).await?;
    let role = role["data"]["id"].as_str().context("no role id")?.to_owned();

    let (c, b, t) = (client.clone(), base.clone(), token.clone());
    let stats = drive(clients, hosts, max, move |n| {
        let (client, base, token, network, role) =
            (c.clone(), b.clone(), t.clone(), network.clone(), role.clone());
        async move {
            let body = json!({"name": format!("h{n}"), "networkID": network, "roleID": role});
            post(&client, format!("{base}/v1/hosts"), &token, body).await?;
            Ok(true)
        }
    })
    .await?;

    let started = Instant::now();
    let mut seen = 0;
    let mut url = format!("{base}/v1/hosts?pageSize=500");
    loop {
        let page: Value =
            client.get(&url).bearer_auth(&token).send().await?.error_for_status()?.json().await?;
        seen += page["data"].as_array().map_or(0, Vec::len);
        match page["metadata"]["nextCursor"].as_str() {
            Some(cursor) if page["metadata"]["hasNextPage"] == json!(true) => {
                url = format!("{base}/v1/hosts?pageSize=500&cursor={cursor}");
            }
            _ => break,
        }
    }
    anyhow::ensure!(seen == stats.done, "listed {seen} of {} hosts", stats.done);
    println!(
        "{:>9} {:>8} | {:>8.0} {:>8.2} {:>8.2} | {:>12.1} ms",
        backend_name(backend),
        clients,
        stats.rate(),
        ms(stats.percentile(0.5)),
        ms(stats.percentile(0.99)),
        ms(started.elapsed()),
    );
    let _ = stop.send(());
    server.await??;
    Ok(())
}
