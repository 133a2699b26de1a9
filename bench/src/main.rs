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
    /// Database URL; defaults to a fresh SQLite file in a temporary directory.
    #[arg(long, env = "PALISADE_BENCH_DATABASE_URL")]
    database_url: Option<String>,
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

fn fresh_url(dir: &tempfile::TempDir, name: &str) -> String {
    format!("sqlite://{}", dir.path().join(name).display())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let max = Duration::from_secs(args.max_secs);
    let mut rows = Vec::new();
    for (level, &clients) in args.clients.iter().enumerate() {
        // HTTP: the real server in this process, a fresh database per level.
        let url = args.database_url.clone().unwrap_or_else(|| fresh_url(&dir, &format!("http-{level}.db")));
        let config = ServeConfig {
            listen: "127.0.0.1:0".into(),
            database_url: url.clone(),
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
        let run = format!("h{level}-{}", std::process::id());
        let http = drive(clients, args.pairs, max, move |n| {
            let client = client.clone();
            let base = base.clone();
            let sub = format!("{run}-{n}");
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

        // The store alone: the same two inserts, each its own write transaction.
        let url = args.database_url.clone().unwrap_or_else(|| fresh_url(&dir, &format!("raw-{level}.db")));
        let store: Arc<dyn Store> =
            open_store(&url, &DbSettings { max_connections: 16, ..DbSettings::default() }).await?;
        let run = format!("r{level}-{}", std::process::id());
        let raw = drive(clients, args.pairs, max, move |n| {
            let store = store.clone();
            let sub = format!("{run}-{n}");
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
        rows.push((clients, http, raw));
    }

    let backend =
        args.database_url.as_deref().map(|u| u.split(':').next().unwrap_or("?")).unwrap_or("sqlite");
    println!("palisade write path: organization + API token pairs, backend {backend}");
    println!(
        "{:>8} | {:>11} {:>9} {:>9} | {:>11} {:>9} {:>9} | {:>6}",
        "clients", "http pair/s", "p50 ms", "p99 ms", "raw pair/s", "p50 ms", "p99 ms", "ratio"
    );
    for (clients, http, raw) in &rows {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{:>8} | {:>11.0} {:>9.2} {:>9.2} | {:>11.0} {:>9.2} {:>9.2} | {:>5.0}%",
            clients,
            http.rate(),
            ms(http.percentile(0.5)),
            ms(http.percentile(0.99)),
            raw.rate(),
            ms(raw.percentile(0.5)),
            ms(raw.percentile(0.99)),
            100.0 * http.rate() / raw.rate(),
        );
        println!(
            "         | ({} pairs in {:.2}s)                | ({} pairs in {:.2}s)",
            http.pairs,
            http.elapsed.as_secs_f64(),
            raw.pairs,
            raw.elapsed.as_secs_f64()
        );
    }
    println!("ratio = HTTP throughput as a share of the raw store ceiling");
    Ok(())
}
