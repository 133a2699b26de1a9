//! Filling a prefix until exhaustion, over HTTP and straight against the store. Shows that an
//! allocation costs the same whether the prefix is empty or nearly full.

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

use crate::measure::{drive, ms, Stats};
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
        let (stats, exhausted) = store_fill(backend, net, clients, total, max).await?;
        report(backend, "store", &stats, exhausted);
        let (stats, exhausted) = http_fill(backend, net, clients, total, max).await?;
        report(backend, "http", &stats, exhausted);
    }
    println!("first/last 1k = mean latency of the first and the last 1,000 allocations (by order taken)");
    Ok(())
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

async fn store_fill(
    backend: Backend,
    prefix: ipnet::IpNet,
    clients: usize,
    total: usize,
    max: Duration,
) -> anyhow::Result<(Stats, bool)> {
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
    let exhausted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = exhausted.clone();
    // One more than the prefix holds, so the run ends on the exhaustion error.
    let stats = drive(clients, total + clients, max, move |_| {
        let (store, network, flag) = (store.clone(), network.clone(), flag.clone());
        async move {
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
                    flag.store(true, std::sync::atomic::Ordering::Relaxed);
                    Ok(false)
                }
                Err(e) => Err(e.into()),
            }
        }
    })
    .await?;
    Ok((stats, exhausted.load(std::sync::atomic::Ordering::Relaxed)))
}

async fn http_fill(
    backend: Backend,
    prefix: ipnet::IpNet,
    clients: usize,
    total: usize,
    max: Duration,
) -> anyhow::Result<(Stats, bool)> {
    let db = TestDatabase::new(backend).await;
    let crate::Served { base, stop, server, .. } = serve(&db.url).await?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(clients).build()?;
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
    let exhausted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = exhausted.clone();
    let stats = drive(clients, total + clients, max, move |_| {
        let (client, url, net, flag) = (client.clone(), url.clone(), net.clone(), flag.clone());
        async move {
            let r = client
                .post(url)
                .bearer_auth(OPERATOR)
                .json(&json!({"network_id": net, "version": version}))
                .send()
                .await?;
            match r.status().as_u16() {
                201 => Ok(true),
                409 => {
                    flag.store(true, std::sync::atomic::Ordering::Relaxed);
                    Ok(false)
                }
                other => anyhow::bail!("unexpected status {other}: {}", r.text().await.unwrap_or_default()),
            }
        }
    })
    .await?;
    let _ = stop.send(());
    server.await??;
    Ok((stats, exhausted.load(std::sync::atomic::Ordering::Relaxed)))
}
