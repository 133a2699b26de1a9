//! Organization + API token creation: HTTP against the real server vs the same inserts
//! straight against the store, in the same transaction shape (each write with its audit event,
//! the token's after the organization's existence check, as the core does).
//!
//! Beside both, the HTTP floor: two `GET /healthz` round trips per pair, through the same client
//! to the same server, which touch no database. A pair over HTTP cannot take less than a raw
//! pair plus the floor; what it takes beyond that sum is the API's own work (routing,
//! credentials, validation, JSON, audit diffs) and noise.
//!
//! Beside both, the HTTP floor: two `GET /healthz` round trips per pair, through the same client
//! to the same server, which touch no database. A pair over HTTP cannot take less than a raw
//! pair plus the floor; what it takes beyond that sum is the API's own work (routing,
//! credentials, validation, JSON, audit diffs).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use palisade::open_store;
use palisade_core::audit::{Actor, AuditEvent, Change, ObjectKind};
use palisade_core::id::{ApiTokenId, AuditEventId, OrganizationId};
use palisade_core::model::{now, ApiToken, Organization, OrganizationStatus};
use palisade_core::secret::new_token_secret;
use palisade_core::{Scope, Store};
use palisade_testkit::{Backend, TestDatabase};
use serde_json::json;

use crate::measure::{ms, take_turns, Op, Stats};
use crate::process::{free_port, Spawned};
use crate::{backend_name, db_settings, serve, OPERATOR};

/// Where the HTTP side's server runs.
#[derive(Debug, Clone)]
pub enum Server {
    /// In this process, on this process's runtime (client and server share its two workers).
    InProcess,
    /// A `palisade serve` child process (this binary), as users run it: its own runtime.
    Child(std::path::PathBuf),
}

/// A running server of either kind, stopped when dropped or by [`Running::stop`].
enum Running {
    InProcess(crate::Served),
    Child(Spawned),
}

impl Running {
    async fn start(server: &Server, url: &str) -> anyhow::Result<Self> {
        Ok(match server {
            Server::InProcess => Running::InProcess(serve(url).await?),
            Server::Child(binary) => {
                anyhow::ensure!(
                    binary.exists(),
                    "no server binary at {}: build it (cargo build --release -p palisade) or pass --server-binary",
                    binary.display()
                );
                let port = free_port()?;
                let mut command = std::process::Command::new(binary);
                command
                    .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database-url", url])
                    .args(["--db-max-connections", &db_settings().max_connections.to_string()])
                    .args(["--requests-per-minute", "1000000"])
                    .env("PALISADE_ADMIN_TOKEN", OPERATOR)
                    .env("RUST_LOG", "warn");
                let mut child = Spawned::start(command, port)?;
                child.ready("/readyz", Duration::from_secs(60)).await?;
                Running::Child(child)
            }
        })
    }

    fn base(&self) -> String {
        match self {
            Running::InProcess(served) => served.base.clone(),
            Running::Child(child) => child.base.clone(),
        }
    }

    async fn stop(self) -> anyhow::Result<()> {
        if let Running::InProcess(crate::Served { stop, server, .. }) = self {
            let _ = stop.send(());
            server.await??;
        }
        Ok(())
    }
}

pub async fn run(
    backends: &[Backend],
    levels: &[usize],
    pairs: usize,
    server: &Server,
    max: Duration,
) -> anyhow::Result<()> {
    let place = match server {
        Server::InProcess => "server in this process".to_owned(),
        Server::Child(binary) => format!("server: {} serve, a process of its own", binary.display()),
    };
    println!(
        "palisade write path: organization + API token pairs ({pairs} per level, at most {}s; {place})",
        max.as_secs()
    );
    println!(
        "{:>9} {:>8} | {:>11} {:>8} {:>8} | {:>11} {:>8} {:>8} | {:>6} | {:>12} {:>8} | {:>9}",
        "backend",
        "clients",
        "http pair/s",
        "p50 ms",
        "p99 ms",
        "raw pair/s",
        "p50 ms",
        "p99 ms",
        "ratio",
        "floor pair/s",
        "p50 ms",
        "gap µs"
    );
    for &backend in backends {
        for &clients in levels {
            let (http, raw, floor) = level(backend, clients, pairs, server, max).await?;
            // Per pair, at the median: what HTTP takes beyond a raw pair and the floor.
            let gap = http.percentile(0.5).as_secs_f64()
                - raw.percentile(0.5).as_secs_f64()
                - floor.percentile(0.5).as_secs_f64();
            println!(
                "{:>9} {:>8} | {:>11.0} {:>8.2} {:>8.2} | {:>11.0} {:>8.2} {:>8.2} | {:>5.0}% | {:>12.0} {:>8.2} | {:>9.0}",
                backend_name(backend),
                clients,
                http.rate(),
                ms(http.percentile(0.5)),
                ms(http.percentile(0.99)),
                raw.rate(),
                ms(raw.percentile(0.5)),
                ms(raw.percentile(0.99)),
                100.0 * http.rate() / raw.rate(),
                floor.rate(),
                ms(floor.percentile(0.5)),
                gap * 1e6,
            );
        }
    }
    println!("ratio = HTTP throughput as a share of the raw store ceiling (same inserts, same transactions, no HTTP)");
    println!("floor = two GET /healthz round trips per pair (same client, same server, no database)");
    println!(
        "gap µs = HTTP p50 − raw p50 − floor p50: what a pair over HTTP takes beyond both (at one client the API's \
         own work and its task hand-offs; with more clients, queueing too)"
    );
    println!(
        "HTTP, raw and floor take turns in {ROUNDS} rounds per level, each round led by the next of them"
    );
    Ok(())
}

/// Rounds per level in which HTTP, raw and the floor take turns ([`take_turns`]).
const ROUNDS: usize = 6;

async fn level(
    backend: Backend,
    clients: usize,
    pairs: usize,
    server: &Server,
    max: Duration,
) -> anyhow::Result<(Stats, Stats, Stats)> {
    let served_db = TestDatabase::new(backend).await;
    let running = Running::start(server, &served_db.url).await?;
    let base = running.base();
    let client = reqwest::Client::builder().pool_max_idle_per_host(clients).build()?;
    let raw_db = TestDatabase::new(backend).await;
    let store: Arc<dyn Store> = open_store(&raw_db.url, &db_settings()).await?;
    let http: Op = {
        let (client, base) = (client.clone(), base.clone());
        Arc::new(move |n| Box::pin(http_pair(client.clone(), base.clone(), n)))
    };
    let raw: Op = Arc::new(move |n| Box::pin(raw_pair(store.clone(), n)));
    let floor: Op = Arc::new(move |_| Box::pin(floor_pair(client.clone(), base.clone())));
    let [http, raw, floor] =
        take_turns([http, raw, floor], clients, ROUNDS, pairs.div_ceil(ROUNDS), max).await?;
    running.stop().await?;
    Ok((http, raw, floor))
}

/// An organization and its token, through the native API.
async fn http_pair(client: reqwest::Client, base: String, n: usize) -> anyhow::Result<bool> {
    let sub = format!("h-{n}");
    let org: serde_json::Value = client
        .post(format!("{base}/api/v1/organizations"))
        .bearer_auth(OPERATOR)
        .json(&json!({"name": sub, "sub_domain": sub}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = org["organization"]["id"].as_str().context("no id")?;
    client
        .post(format!("{base}/api/v1/organizations/{id}/api_tokens"))
        .bearer_auth(OPERATOR)
        .json(&json!({"name": "bench", "scopes": ["security_groups", "ip_addresses"]}))
        .send()
        .await?
        .error_for_status()?;
    Ok(true)
}

/// Two round trips that touch no database: the HTTP floor of a pair.
async fn floor_pair(client: reqwest::Client, base: String) -> anyhow::Result<bool> {
    for _ in 0..2 {
        client.get(format!("{base}/healthz")).send().await?.error_for_status()?.bytes().await?;
    }
    Ok(true)
}

/// The same two writes straight against the store, in the core's transaction shape.
async fn raw_pair(store: Arc<dyn Store>, n: usize) -> anyhow::Result<bool> {
    let at = now();
    let sub = format!("r-{n}");
    let org = Organization {
        id: OrganizationId::random(),
        name: sub.clone(),
        sub_domain: sub,
        status: OrganizationStatus::Active,
        resource_creation_restricted: false,
        created_at: at,
        updated_at: at,
    };
    // As the core writes it: the organization and its audit event, in one transaction.
    let mut tx = store.write().await?;
    tx.insert_organization(&::palisade_testkit::grants::op(), &org).await?;
    tx.record_audit(&audited(Change::created(Some(org.id), ObjectKind::Organization, org.id, &org))).await?;
    tx.commit().await?;
    let id = ApiTokenId::random();
    let (_, hash) = new_token_secret(id);
    let token = ApiToken {
        id,
        organization_id: org.id,
        name: "bench".into(),
        scopes: vec![Scope::SECURITY_GROUPS, Scope::IP_ADDRESSES],
        allowed_networks: vec![],
        expires_at: None,
        created_at: at,
        server_id: None,
        revoked_at: None,
    };
    let mut tx = store.write().await?;
    tx.organization(org.id).await?;
    tx.insert_api_token(&::palisade_testkit::grants::grant(token.organization_id), &token, &hash).await?;
    tx.record_audit(&audited(Change::created(Some(org.id), ObjectKind::ApiToken, id, &token))).await?;
    tx.commit().await?;
    Ok(true)
}

/// The audit event the core records for `change` (the operator's, through the native face).
fn audited(change: Change) -> AuditEvent {
    AuditEvent {
        id: AuditEventId::random(),
        at: now(),
        organization_id: change.organization_id,
        actor: Actor::Operator,
        face: "native".into(),
        request_id: Some(uuid::Uuid::new_v4().to_string()),
        operation: change.operation,
        object_kind: change.object_kind,
        object_id: change.object_id,
        changes: change.changes,
    }
}
