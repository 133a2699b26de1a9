//! Write-path benchmark: organization + API token creations per second, over HTTP and straight
//! against the store, at several concurrency levels. Prints a table; timing never lives in tests.
//!
//! `cargo run --release -p palisade-bench -- --help`

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use palisade::{open_store, Application, DbSettings, ServeConfig};
use palisade_core::id::{ApiTokenId, OrganizationId};
use palisade_core::model::{now, ApiToken, Organization, OrganizationStatus};
use palisade_core::secret::new_token_secret;
use palisade_core::{Scope, Store};
use palisade_testkit::{Backend, TestDatabase};
use serde_json::json;
use tokio::sync::Mutex;

#[derive(Debug, Parser)]
#[command(about = "Palisade write-path benchmark (organization + token creation)")]
struct Args {
    /// Concurrency levels to measure.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    clients: Vec<usize>,
    /// Organization+token pairs created per level (the loop is bounded by this and --max-secs).
    #[arg(long, default_value_t = 2000)]
    pairs: usize,
    /// Upper bound on the time spent per level, in seconds.
    #[arg(long, default_value_t = 60)]
    max_secs: u64,
    /// Backends to measure, each on fresh databases (PostgreSQL: a new database per run on the
    /// server named by PALISADE_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres).
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
    backends: Vec<String>,
}

const OPERATOR: &str = "palop_bench-operator";

struct Stats {
    pairs: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Stats {
    fn rate(&self) -> f64 {
        self.pairs as f64 / self.elapsed.as_secs_f64()
    }
    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let idx = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[idx]
    }
}

/// Runs `op` from `clients` tasks until `pairs` were done or time is up.
async fn drive<F, Fut>(clients: usize, pairs: usize, max: Duration, op: F) -> anyhow::Result<Stats>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(pairs)));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (op, next, latencies) = (op.clone(), next.clone(), latencies.clone());
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= pairs || start.elapsed() > max {
                    break;
                }
                let t = Instant::now();
                op(n).await?;
                mine.push(t.elapsed());
            }
            latencies.lock().await.extend(mine);
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let elapsed = start.elapsed();
    let mut latencies = std::mem::take(&mut *latencies.lock().await);
    latencies.sort();
    Ok(Stats { pairs: latencies.len(), elapsed, latencies })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    println!(
        "palisade write path: organization + API token pairs ({} per level, at most {}s)",
        args.pairs, args.max_secs
    );
    println!(
        "{:>9} {:>8} | {:>11} {:>8} {:>8} | {:>11} {:>8} {:>8} | {:>6}",
        "backend", "clients", "http pair/s", "p50 ms", "p99 ms", "raw pair/s", "p50 ms", "p99 ms", "ratio"
    );
    for backend in &args.backends {
        let backend = match backend.as_str() {
            "sqlite" => Backend::Sqlite,
            "postgres" | "postgresql" => Backend::Postgres,
            other => anyhow::bail!("unknown backend {other}: expected sqlite or postgres"),
        };
        for &clients in &args.clients {
            let (http, raw) = measure(backend, clients, &args).await?;
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            println!(
                "{:>9} {:>8} | {:>11.0} {:>8.2} {:>8.2} | {:>11.0} {:>8.2} {:>8.2} | {:>5.0}%",
                format!("{backend:?}").to_lowercase(),
                clients,
                http.rate(),
                ms(http.percentile(0.5)),
                ms(http.percentile(0.99)),
                raw.rate(),
                ms(raw.percentile(0.5)),
                ms(raw.percentile(0.99)),
                100.0 * http.rate() / raw.rate(),
            );
        }
    }
    println!("ratio = HTTP throughput as a share of the raw store ceiling (same inserts, same transactions, no HTTP)");
    Ok(())
}

/// One level: HTTP against the real server, then the store alone, each on a fresh database.
async fn measure(backend: Backend, clients: usize, args: &Args) -> anyhow::Result<(Stats, Stats)> {
    let max = Duration::from_secs(args.max_secs);
    let db = TestDatabase::new(backend).await;
    let config = ServeConfig {
        listen: "127.0.0.1:0".into(),
        database_url: db.url.clone(),
        admin_token: Some(OPERATOR.into()),
        db: DbSettings { max_connections: 16, ..DbSettings::default() },
        ..ServeConfig::default()
    };
    let (app, _) = Application::build(config).await?;
    let base = format!("http://{}", app.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stop_rx.await;
    }));
    let client = reqwest::Client::builder().pool_max_idle_per_host(clients).build()?;
    let http = drive(clients, args.pairs, max, move |n| {
        let client = client.clone();
        let base = base.clone();
        let sub = format!("h-{n}");
        async move {
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
            Ok(())
        }
    })
    .await?;
    let _ = stop_tx.send(());
    server.await??;
    drop(db);

    // The store alone: the same two inserts, each its own write transaction.
    let db = TestDatabase::new(backend).await;
    let store: Arc<dyn Store> =
        open_store(&db.url, &DbSettings { max_connections: 16, ..DbSettings::default() }).await?;
    let raw = drive(clients, args.pairs, max, move |n| {
        let store = store.clone();
        let sub = format!("r-{n}");
        async move {
            let at = now();
            let org = Organization {
                id: OrganizationId::random(),
                name: sub.clone(),
                sub_domain: sub,
                status: OrganizationStatus::Active,
                resource_creation_restricted: false,
                created_at: at,
                updated_at: at,
            };
            store.insert_organization(&org).await?;
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
            };
            store.insert_api_token(&token, &hash).await?;
            Ok(())
        }
    })
    .await?;
    drop(db);
    Ok((http, raw))
}
