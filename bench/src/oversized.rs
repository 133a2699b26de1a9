//! How long the server takes to refuse a request that asks for too much: a native server
//! creation with tens of thousands of interfaces (issue 11 measured 11.8 s, because every
//! interface's network was looked up before the count was checked). The body limit is raised
//! so that the request reaches validation; the answer must be a 4xx, and its time should not
//! grow with the number of items.

use std::time::{Duration, Instant};

use anyhow::Context;
use palisade_testkit::{Backend, TestDatabase};
use serde_json::{json, Value};

use crate::{backend_name, serve_with, OPERATOR};

pub async fn run(backends: &[Backend], interfaces: &[usize], repeats: usize) -> anyhow::Result<()> {
    println!(
        "palisade oversized requests: POST /api/v1/organizations/:id/servers with N interfaces (refused)"
    );
    println!(
        "{:>9} {:>11} {:>10} | {:>6} {:>10} {:>10} {:>10}",
        "backend", "interfaces", "body KiB", "status", "min ms", "median ms", "max ms"
    );
    for &backend in backends {
        for &n in interfaces {
            level(backend, n, repeats).await?;
        }
    }
    Ok(())
}

async fn level(backend: Backend, n: usize, repeats: usize) -> anyhow::Result<()> {
    let db = TestDatabase::new(backend).await;
    let api = palisade_api::ApiConfig { max_body_bytes: 64 * 1024 * 1024, ..Default::default() };
    let crate::Served { base, stop, server, .. } = serve_with(&db.url, api).await?;
    let client = reqwest::Client::new();
    let org: Value = client
        .post(format!("{base}/api/v1/organizations"))
        .bearer_auth(OPERATOR)
        .json(&json!({"name": "o", "sub_domain": "o"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let org = org["organization"]["id"].as_str().context("no organization id")?.to_owned();
    // Compact on purpose: one interface is `{"network_id":"<uuid>"}`, so 36,000 of them stay
    // under the 2 MiB the native face used to accept whatever the configured limit.
    let one = r#"{"network_id":"00000000-0000-0000-0000-000000000000"}"#;
    let body = format!(r#"{{"name":"big","interfaces":[{}]}}"#, vec![one; n].join(","));
    let mut times = Vec::with_capacity(repeats);
    let mut status = 0;
    for _ in 0..repeats {
        let started = Instant::now();
        let reply = client
            .post(format!("{base}/api/v1/organizations/{org}/servers"))
            .bearer_auth(OPERATOR)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await?;
        status = reply.status().as_u16();
        reply.bytes().await?;
        times.push(started.elapsed());
        anyhow::ensure!(reply_is_refusal(status), "expected a refusal, got {status}");
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{:>9} {:>11} {:>10} | {:>6} {:>10.1} {:>10.1} {:>10.1}",
        backend_name(backend),
        n,
        body.len() / 1024,
        status,
        ms(times[0]),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1]),
    );
    let _ = stop.send(());
    server.await??;
    Ok(())
}

fn reply_is_refusal(status: u16) -> bool {
    (400..500).contains(&status)
}
