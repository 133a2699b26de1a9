//! Filling a prefix until exhaustion, over HTTP and straight against the store. Shows that an
//! allocation costs the same whether the prefix is empty or nearly full.
//!
//! The two fills (each on its own database) take turns, a slice of the prefix at a time, each
//! round led by the other one than the last: neither is always measured right after the other's
//! writes, and drift over the run falls on both alike.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use palisade::open_store;
use palisade_core::error::Error;
use palisade_core::id::{DataCenterId, IpAddressId, NetworkId};
use palisade_core::ipam::{host_count, IpVersion};
use palisade_core::model::{now, Country, DataCenter, IpRequest, Network};
use palisade_core::Store;
use palisade_testkit::suite::organization;
use palisade_testkit::{once, Backend, TestDatabase};
use serde_json::json;

use crate::measure::{ms, take_turns, Op, Stats};
use crate::{backend_name, db_settings, serve, OPERATOR};

pub async fn run(backends: &[Backend], prefix: &str, clients: usize, max: Duration) -> anyhow::Result<()> {
    let net: ipnet::IpNet = prefix.parse().context("--prefix")?;
    let total = usize::try_from(host_count(&net)).unwrap_or(usize::MAX);
    println!("palisade IPAM: filling {prefix} ({total} addresses) until exhaustion, {clients} concurrent allocators");
    println!(
        "{:>9} {:>6} | {:>8} {:>8} {:>8} {:>8} | {:>13} {:>13} | {:>9}",
        "backend", "path", "allocs", "alloc/s", "p50 ms", "p99 ms", "first 1k ms", "last 1k ms", "exhausted"
    );
    for &backend in backends {
        let store = store_fill(backend, net).await?;
        let (http, served) = http_fill(backend, net).await?;
        // One allocation per client more than the prefix holds, so each fill ends on exhaustion.
        let per_turn = (total + clients).div_ceil(ROUNDS);
        let fills = [store.allocate.clone(), http.allocate.clone()];
        let [by_store, by_http] = take_turns(fills, clients, ROUNDS, per_turn, max).await?;
        report(backend, "store", &by_store, store.exhausted.load(Ordering::Relaxed));
        report(backend, "http", &by_http, http.exhausted.load(Ordering::Relaxed));
        let _ = served.stop.send(());
        served.server.await??;
    }
    println!("the store and HTTP fills take turns, {ROUNDS} slices of the prefix each, each round led by the other");
    println!("first/last 1k = mean latency of the first and the last 1,000 allocations (by order taken)");
    Ok(())
}

/// Slices of the prefix per fill.
const ROUNDS: usize = 6;

/// A fill ready to run: its allocation (`Ok(false)` once the prefix is exhausted), whether it
/// has met the prefix's exhaustion, and its database (dropped with it).
struct Fill {
    allocate: Op,
    exhausted: Arc<AtomicBool>,
    _db: TestDatabase,
}

fn report(backend: Backend, path: &str, s: &Stats, exhausted: bool) {
    let n = s.latencies.len();
    println!(
        "{:>9} {:>6} | {:>8} {:>8.0} {:>8.2} {:>8.2} | {:>13.3} {:>13.3} | {:>9}",
        backend_name(backend),
        path,
        s.done,
        s.rate(),
        ms(s.percentile(0.5)),
        ms(s.percentile(0.99)),
        ms(s.mean_of(0..1000)),
        ms(s.mean_of(n.saturating_sub(1000)..n)),
        if exhausted { "yes" } else { "NO" },
    );
}

/// A data center for a bench's shared network.
pub(crate) fn data_center() -> DataCenter {
    DataCenter {
        id: DataCenterId::random(),
        name: "Bench".into(),
        permalink: "bench".into(),
        country: Country {
            name: "United Kingdom".into(),
            iso_code2: "GB".into(),
            iso_code3: "GBR".into(),
            time_zone: "Europe/London".into(),
            eu: false,
        },
        created_at: now(),
    }
}

async fn store_fill(backend: Backend, prefix: ipnet::IpNet) -> anyhow::Result<Fill> {
    let db = TestDatabase::new(backend).await;
    let store: Arc<dyn Store> = open_store(&db.url, &db_settings()).await?;
    let dc = data_center();
    once!(store, insert_data_center(&::palisade_testkit::grants::op(), &dc))?;
    let org = organization("bench");
    once!(store, insert_organization(&::palisade_testkit::grants::op(), &org))?;
    let network = Network {
        id: NetworkId::random(),
        name: "Bench".into(),
        permalink: None,
        data_center_id: dc.id,
        prefixes: vec![prefix],
        reserved: vec![],
        is_default: false,
        organization_id: None,
        created_at: now(),
    };
    once!(store, insert_network(&::palisade_testkit::grants::op(), &network))?;
    let version = IpVersion::of_net(&prefix);
    let exhausted = Arc::new(AtomicBool::new(false));
    let flag = exhausted.clone();
    let allocate: Op = Arc::new(move |_| {
        let (store, network, flag) = (store.clone(), network.clone(), flag.clone());
        Box::pin(async move {
            let request = IpRequest {
                id: IpAddressId::random(),
                organization_id: org.id,
                network,
                version,
                vip: false,
                label: None,
                reverse_dns_pattern: "{dashed}.rdns.example.net".into(),
                allocation: None,
                created_at: now(),
            };
            match once!(
                store,
                allocate_ip(&::palisade_testkit::grants::grant((request).organization_id), &request)
            ) {
                Ok(_) => Ok(true),
                Err(Error::NoAvailableAddresses) => {
                    flag.store(true, Ordering::Relaxed);
                    Ok(false)
                }
                Err(e) => Err(e.into()),
            }
        })
    });
    Ok(Fill { allocate, exhausted, _db: db })
}

/// The HTTP fill, and the server it fills through (stopped by the caller).
async fn http_fill(backend: Backend, prefix: ipnet::IpNet) -> anyhow::Result<(Fill, crate::Served)> {
    let db = TestDatabase::new(backend).await;
    let served = serve(&db.url).await?;
    let base = served.base.clone();
    let client = reqwest::Client::new();
    let post = |path: &str, body: serde_json::Value| {
        client.post(format!("{base}{path}")).bearer_auth(OPERATOR).json(&body).send()
    };
    let org: serde_json::Value =
        post("/api/v1/organizations", json!({"name": "bench", "sub_domain": "bench"}))
            .await?
            .error_for_status()?
            .json()
            .await?;
    let org = org["organization"]["id"].as_str().context("org id")?.to_owned();
    let dc: serde_json::Value = post(
        "/api/v1/data_centers",
        json!({"name": "B", "permalink": "b", "country": {"name": "United Kingdom", "iso_code2": "GB", "iso_code3": "GBR", "time_zone": "Europe/London", "eu": false}}),
    )
    .await?
    .error_for_status()?
    .json()
    .await?;
    let net: serde_json::Value = post(
        "/api/v1/networks",
        json!({"name": "N", "data_center_id": dc["data_center"]["id"], "prefixes": [prefix.to_string()]}),
    )
    .await?
    .error_for_status()?
    .json()
    .await?;
    let net = net["network"]["id"].as_str().context("network id")?.to_owned();
    let version = if prefix.addr().is_ipv4() { "ipv4" } else { "ipv6" };
    let url = format!("{base}/api/v1/organizations/{org}/ip_addresses");
    let exhausted = Arc::new(AtomicBool::new(false));
    let flag = exhausted.clone();
    let allocate: Op = Arc::new(move |_| {
        let (client, url, net, flag) = (client.clone(), url.clone(), net.clone(), flag.clone());
        Box::pin(async move {
            let r = client
                .post(url)
                .bearer_auth(OPERATOR)
                .json(&json!({"network_id": net, "version": version}))
                .send()
                .await?;
            match r.status().as_u16() {
                201 => Ok(true),
                409 => {
                    flag.store(true, Ordering::Relaxed);
                    Ok(false)
                }
                other => anyhow::bail!("unexpected status {other}: {}", r.text().await.unwrap_or_default()),
            }
        })
    });
    Ok((Fill { allocate, exhausted, _db: db }, served))
}
