//! Password floods against the rest of the server (issue 11, item 2): `/healthz`, a Bearer
//! Katapult GET and a Basic Hostway GET (right password) are probed one after another, idle and
//! then while `clients` connections send wrong Basic passwords to a Hostway route as fast as they
//! are answered. Printed: p50/p99 of each probe in both phases, the p99 ratio flood/idle (target:
//! at most 3 for `/healthz` and Bearer), and what the flood got (401 = a password checked, 429 =
//! refused by the failed-authentication limit).
//!
//! The server is a separate process, as in production: by default the `palisade` binary beside
//! this one (`cargo build --release -p palisade -p palisade-bench`), started twice on a fresh
//! database — with the failure limits out of reach (the Argon2 pool's isolation alone) and with
//! the default limits. `--url` measures a server already running instead (an older build, say;
//! start it with a high `--requests-per-minute`, since the Bearer probe counts against it).
//! The flood comes from one loopback address and the probes from another, as an attacker and
//! an honest client would: the per-source limit must not refuse the probes.

use std::net::IpAddr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use palisade_testkit::{Backend, TestDatabase};
use serde_json::json;

use crate::backend_name;
use crate::measure::{ms, Stats};
use crate::post;
use crate::process::{free_port, Spawned};

/// What to measure and how hard to push.
#[derive(Debug, Clone)]
pub struct Plan {
    /// A running server to measure instead of starting ours, and its operator token.
    pub url: Option<String>,
    pub admin_token: String,
    /// The server binary to start when no `url` is given.
    pub server: Option<std::path::PathBuf>,
    pub clients: usize,
    pub idle: Duration,
    pub flood: Duration,
    /// Pause between two rounds of probes.
    pub pause: Duration,
    pub flood_source: IpAddr,
    pub probe_source: IpAddr,
}

/// One configuration of the started server, and what the flood sends it.
struct Variant {
    name: &'static str,
    args: &'static [&'static str],
    /// Wrong passwords (the attack), or the same request without credentials: the raw ceiling,
    /// what 32 clients looping on the cheapest refusal cost this machine, passwords aside.
    wrong_passwords: bool,
}

const VARIANTS: &[Variant] = &[
    Variant {
        name: "pool only (limits 1e6/min)",
        args: &[
            "--auth-failures-per-minute-per-source",
            "1000000",
            "--auth-failures-per-minute-per-user",
            "1000000",
        ],
        wrong_passwords: true,
    },
    Variant { name: "defaults, tarpit off", args: &["--auth-failure-tarpit-ms", "0"], wrong_passwords: true },
    Variant { name: "defaults", args: &[], wrong_passwords: true },
    Variant { name: "ceiling: no credentials", args: &[], wrong_passwords: false },
];

pub async fn run(backends: &[Backend], plan: &Plan) -> anyhow::Result<()> {
    println!(
        "palisade auth flood: {} clients from {} send wrong Basic passwords to a Hostway GET for {} s; \
         probes from {} every {} ms (idle {} s)",
        plan.clients,
        plan.flood_source,
        plan.flood.as_secs(),
        plan.probe_source,
        plan.pause.as_millis(),
        plan.idle.as_secs()
    );
    println!(
        "{:<36} {:>5} | {:>8} {:>8} | {:>8} {:>8} | {:>8} {:>8} | {:>7} {:>6} {:>6}",
        "server", "phase", "healthz", "p99", "bearer", "p99", "basic", "p99", "flood/s", "401", "429"
    );
    println!(
        "{:<36} {:>5} | {:>8} {:>8} | {:>8} {:>8} | {:>8} {:>8} |",
        "", "", "p50 ms", "ms", "p50 ms", "ms", "p50 ms", "ms"
    );
    if let Some(url) = &plan.url {
        return measure(url.trim_end_matches('/'), "given server", plan, true).await;
    }
    let binary = match &plan.server {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("palisade"),
    };
    anyhow::ensure!(
        binary.exists(),
        "no server binary at {}: build it (cargo build --release -p palisade) or pass --server",
        binary.display()
    );
    for &backend in backends {
        for variant in VARIANTS {
            let db = TestDatabase::new(backend).await;
            let mut server = start_server(&binary, &db.url, &plan.admin_token, variant.args)?;
            server.ready("/readyz", Duration::from_secs(60)).await?;
            let label = format!("{} {}", backend_name(backend), variant.name);
            let outcome = measure(&server.base, &label, plan, variant.wrong_passwords).await;
            drop(server);
            outcome?;
        }
    }
    println!("ratio = p99 under the flood / p99 idle (target: at most 3 for healthz and bearer)");
    println!("ceiling = the same flood without credentials: what looping clients cost, passwords aside");
    Ok(())
}

/// A `palisade serve` child process on a fresh port, stopped when dropped.
fn start_server(
    binary: &std::path::Path,
    database_url: &str,
    token: &str,
    extra: &[&str],
) -> anyhow::Result<Spawned> {
    let port = free_port()?;
    let mut command = Command::new(binary);
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database-url", database_url])
        .args(["--requests-per-minute", "1000000"])
        .args(extra)
        .env("PALISADE_ADMIN_TOKEN", token)
        .env("RUST_LOG", "warn");
    Spawned::start(command, port)
}

/// What the probes need: an organization, a token that may read it, and two users (the flood
/// guesses one's password, the probe logs in as the other).
struct Tenant {
    org: String,
    token: String,
    prober: String,
    victim: String,
}

const PASSWORD: &str = "the probe's own password";

async fn tenant(base: &str, admin: &str, client: &reqwest::Client) -> anyhow::Result<Tenant> {
    let tag = format!("{:x}", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos());
    let org = post(
        client,
        format!("{base}/api/v1/organizations"),
        admin,
        json!({"name": "flood", "sub_domain": format!("flood-{tag}")}),
    )
    .await?;
    let org = org["organization"]["id"].as_str().context("no organization id")?.to_owned();
    let token = post(
        client,
        format!("{base}/api/v1/organizations/{org}/api_tokens"),
        admin,
        json!({"name": "probe", "scopes": ["organizations:read"]}),
    )
    .await?;
    let token = token["secret"].as_str().context("no secret")?.to_owned();
    let (prober, victim) = (format!("probe-{tag}"), format!("victim-{tag}"));
    for user in [&prober, &victim] {
        post(
            client,
            format!("{base}/api/v1/organizations/{org}/users"),
            admin,
            json!({"username": user, "password": PASSWORD}),
        )
        .await?;
    }
    Ok(Tenant { org, token, prober, victim })
}

/// Latencies of the three probes over one phase.
struct Probed {
    healthz: Stats,
    bearer: Stats,
    basic: Stats,
}

/// Probes sequentially for `length` on a thread and runtime of their own, so the flood's tasks
/// in this process never delay a probe's own scheduling.
fn probe(
    base: String,
    tenant: &Tenant,
    plan: &Plan,
    length: Duration,
) -> std::thread::JoinHandle<anyhow::Result<Probed>> {
    let (org, token, user) = (tenant.org.clone(), tenant.token.clone(), tenant.prober.clone());
    let (source, pause) = (plan.probe_source, plan.pause);
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async move {
            let client = reqwest::Client::builder().local_address(source).build()?;
            let healthz = client.get(format!("{base}/healthz"));
            let bearer = client.get(format!("{base}/core/v1/organizations")).bearer_auth(&token);
            let basic = client
                .get(format!("{base}/accounts/{org}/os-security-groups"))
                .basic_auth(&user, Some(PASSWORD));
            let requests = [healthz, bearer, basic];
            let mut seen: [Vec<Duration>; 3] = Default::default();
            let started = Instant::now();
            while started.elapsed() < length {
                for (request, seen) in requests.iter().zip(seen.iter_mut()) {
                    let request = request.try_clone().context("cloning a probe")?;
                    let t = Instant::now();
                    let reply = request.send().await?;
                    let status = reply.status();
                    let _ = reply.bytes().await?;
                    anyhow::ensure!(status.is_success(), "a probe was answered {status}");
                    seen.push(t.elapsed());
                }
                tokio::time::sleep(pause).await;
            }
            let elapsed = started.elapsed();
            let [healthz, bearer, basic] = seen.map(|s| Stats::from_latencies(s, elapsed));
            Ok(Probed { healthz, bearer, basic })
        })
    })
}

/// Waits for a probing thread without blocking this runtime.
async fn finish(handle: std::thread::JoinHandle<anyhow::Result<Probed>>) -> anyhow::Result<Probed> {
    tokio::task::spawn_blocking(move || handle.join())
        .await?
        .map_err(|_| anyhow::anyhow!("a probe thread panicked"))?
}

#[derive(Default)]
struct FloodCount {
    unauthorized: AtomicU64,
    limited: AtomicU64,
    other: AtomicU64,
}

async fn measure(base: &str, label: &str, plan: &Plan, wrong_passwords: bool) -> anyhow::Result<()> {
    let setup = reqwest::Client::new();
    let tenant = tenant(base, &plan.admin_token, &setup).await?;
    // Warm up: connections, the SQLite page cache, the probe user's cached password check.
    finish(probe(base.to_owned(), &tenant, plan, Duration::from_secs(1))).await?;
    let idle = finish(probe(base.to_owned(), &tenant, plan, plan.idle)).await?;

    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(FloodCount::default());
    let flood_client = reqwest::Client::builder()
        .local_address(plan.flood_source)
        .pool_max_idle_per_host(plan.clients)
        .timeout(Duration::from_secs(60))
        .build()?;
    let url = format!("{base}/accounts/{}/os-security-groups", tenant.org);
    let mut flooders = Vec::new();
    for n in 0..plan.clients {
        let (client, url, stop, count, victim) =
            (flood_client.clone(), url.clone(), stop.clone(), count.clone(), tenant.victim.clone());
        flooders.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let mut request = client.get(&url);
                if wrong_passwords {
                    request = request.basic_auth(&victim, Some(format!("wrong-{n}-{i}")));
                }
                let reply = request.send().await;
                let counter = match reply.as_ref().map(reqwest::Response::status) {
                    Ok(reqwest::StatusCode::UNAUTHORIZED) => &count.unauthorized,
                    Ok(reqwest::StatusCode::TOO_MANY_REQUESTS) => &count.limited,
                    _ => &count.other,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                if let Ok(reply) = reply {
                    let _ = reply.bytes().await;
                }
            }
        }));
    }
    // Let the flood build up (every client waiting on a password check) before probing.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = (count.unauthorized.load(Ordering::Relaxed), count.limited.load(Ordering::Relaxed));
    let flooded = finish(probe(base.to_owned(), &tenant, plan, plan.flood)).await?;
    let (unauthorized, limited) = (
        count.unauthorized.load(Ordering::Relaxed) - before.0,
        count.limited.load(Ordering::Relaxed) - before.1,
    );
    stop.store(true, Ordering::Relaxed);
    for f in flooders {
        f.await?;
    }
    let other = count.other.load(Ordering::Relaxed);
    anyhow::ensure!(other == 0, "{other} flood requests were answered neither 401 nor 429");

    let row = |phase: &str, p: &Probed, flood: Option<(f64, u64, u64)>| {
        let flood = flood.map_or(String::new(), |(rate, u, l)| format!("{rate:>7.0} {u:>6} {l:>6}"));
        println!(
            "{:<36} {:>5} | {:>8.2} {:>8.2} | {:>8.2} {:>8.2} | {:>8.2} {:>8.2} | {flood}",
            label,
            phase,
            ms(p.healthz.percentile(0.5)),
            ms(p.healthz.percentile(0.99)),
            ms(p.bearer.percentile(0.5)),
            ms(p.bearer.percentile(0.99)),
            ms(p.basic.percentile(0.5)),
            ms(p.basic.percentile(0.99)),
        );
    };
    row("idle", &idle, None);
    let rate = (unauthorized + limited) as f64 / flooded.healthz.elapsed.as_secs_f64();
    row("flood", &flooded, Some((rate, unauthorized, limited)));
    let ratio = |a: &Stats, b: &Stats| a.percentile(0.99).as_secs_f64() / b.percentile(0.99).as_secs_f64();
    println!(
        "{:<36} {:>5} | {:>17.1}x | {:>17.1}x | {:>17.1}x | probes: {} idle, {} flood",
        label,
        "ratio",
        ratio(&flooded.healthz, &idle.healthz),
        ratio(&flooded.bearer, &idle.bearer),
        ratio(&flooded.basic, &idle.basic),
        idle.healthz.done,
        flooded.healthz.done,
    );
    Ok(())
}
