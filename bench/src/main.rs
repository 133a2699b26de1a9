//! Benchmarks that print numbers; timing never lives in tests.
//!
//! - `writes`: organization + API token creations per second, over HTTP and straight against the
//!   store (the raw ceiling), at several concurrency levels.
//! - `ipam`: filling a /16 (65,534 addresses) until exhaustion, over HTTP and against the store,
//!   with the cost of the last allocations compared with the first.
//! - `hosts`: Defined host creation into one role over HTTP, then listing them all.
//! - `oversized`: how long a request asking for too much (a server with 36,000 interfaces)
//!   takes to be refused.
//! - `groups`: listing an organization's many Hostway firewall groups and Katapult VM groups.
//! - `security-groups`: Katapult security groups side by side with moto (the AWS EC2 mock):
//!   walking 1,000 groups, list pages by organization size (split into core and HTTP time),
//!   create+rule pairs at 1 and 16 clients.
//! - `snapshot`: the policy snapshot read of an organization of 1,000 groups, 10,000 rules and
//!   1,000 servers (seeded straight through the store), min/p50/p90/max of many reads: with
//!   nothing changed between them, after a rule write, after a server write.
//! - `policy`: the policy engine over HTTP on an organization of 10,000 groups, 100,000 rules and
//!   10,000 servers: a server's effective policy (cold, warm at 1 and 16 clients), flow checks,
//!   lint, and the first read after a write.
//! - `dataplane`: the nftables compiler and `nft -f` at 85,000 rules (Neutron's worst case),
//!   with a set of 50,000 addresses: compile, first apply and whole-table replace.
//! - `auth-flood`: `/healthz`, a Bearer GET and a Basic GET, idle and under a flood of wrong
//!   passwords, against a `palisade` process (the Argon2 pool and the failed-auth limits).
//! - `upgrade-fixture`: not a measurement; writes a release's database and its answers to every
//!   read, for the upgrade test (see `upgrade_fixture`).
//!
//! `cargo run --release -p palisade-bench -- --help`

mod auth_flood;
mod dataplane;
mod enforce;
mod engine;
mod fanout;
mod groups;
mod hosts;
mod ipam;
mod measure;
mod oversized;
mod packets;
mod policy_http;
mod process;
mod security_groups;
mod snapshot;
mod upgrade_fixture;
mod writes;
mod zstack;

use clap::{Parser, Subcommand};
use palisade::{Application, DbSettings, ServeConfig};
use palisade_testkit::Backend;

#[derive(Debug, Parser)]
#[command(about = "Palisade benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Backends to measure, each on fresh databases (PostgreSQL: a new database per run on the
    /// server named by PALISADE_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres).
    #[arg(long, global = true, value_delimiter = ',', default_value = "sqlite,postgres")]
    backends: Vec<String>,
    /// Upper bound on the time of each measured run, in seconds.
    #[arg(long, global = true, default_value_t = 120)]
    max_secs: u64,
}

/// An organization of provider size: the policy engine's targets are set at these numbers.
#[derive(Debug, Clone, Copy, clap::Args)]
struct ProviderSize {
    #[arg(long, default_value_t = 10_000)]
    groups: usize,
    #[arg(long, default_value_t = 100_000)]
    rules: usize,
    #[arg(long, default_value_t = 10_000)]
    servers: usize,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Organization + token creation: HTTP vs the raw store, beside the HTTP floor (two `GET /healthz`), taking turns.
    Writes {
        /// Concurrency levels to measure.
        #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
        clients: Vec<usize>,
        /// Organization+token pairs per level.
        #[arg(long, default_value_t = 2000)]
        pairs: usize,
        /// Serve HTTP from a `palisade serve` child process, as users run it, instead of in this
        /// process (where client and server share one runtime's two workers).
        #[arg(long)]
        server_process: bool,
        /// The `palisade` binary for `--server-process` [default: the one beside this binary;
        /// `cargo build --release -p palisade`].
        #[arg(long, value_name = "PATH")]
        server_binary: Option<std::path::PathBuf>,
    },
    /// Fill a prefix until exhaustion: HTTP vs the raw store, taking turns.
    Ipam {
        /// The prefix to fill.
        #[arg(long, default_value = "10.0.0.0/16")]
        prefix: String,
        /// Concurrent allocators.
        #[arg(long, default_value_t = 16)]
        clients: usize,
    },
    /// Defined hosts: creation into one role with IPAM addresses, then a full listing.
    Hosts {
        /// Concurrency levels to measure.
        #[arg(long, value_delimiter = ',', default_value = "1,16")]
        clients: Vec<usize>,
        /// Hosts per level.
        #[arg(long, default_value_t = 2000)]
        hosts: usize,
    },
    /// Time to refuse a server creation with too many interfaces (body limit raised).
    Oversized {
        /// Interface counts to send.
        #[arg(long, value_delimiter = ',', default_value = "1000,36000")]
        interfaces: Vec<usize>,
        /// Requests per count.
        #[arg(long, default_value_t = 5)]
        repeats: usize,
    },
    /// Listing many groups: the Hostway group list and Katapult's VM-group list.
    Groups {
        /// Groups of each kind in the organization.
        #[arg(long, default_value_t = 2000)]
        groups: usize,
    },
    /// Katapult security groups side by side with moto: full walk, pages by organization size,
    /// create+rule pairs.
    SecurityGroups {
        /// Groups in the organization walked end to end (and in moto).
        #[arg(long, default_value_t = 1000)]
        groups: usize,
        /// Further organization sizes at which single list pages are timed.
        #[arg(long, value_delimiter = ',', default_value = "10,3000")]
        org_sizes: Vec<usize>,
        /// Timed repeats of each read (the median is printed), after one warm-up.
        #[arg(long, default_value_t = 15)]
        repeats: usize,
        /// Create+rule pairs per concurrency level.
        #[arg(long, default_value_t = 500)]
        pairs: usize,
        /// Concurrency levels of the create+rule pairs.
        #[arg(long, value_delimiter = ',', default_value = "1,16")]
        clients: Vec<usize>,
        /// The moto_server to start (default: .ci/venv-bench/bin/moto_server, then PATH).
        #[arg(long)]
        moto_server: Option<std::path::PathBuf>,
    },
    /// ZStack's CreateSecurityGroup + poll to completion, pairs per second, beside the core's
    /// ceiling (the same create and job record without HTTP).
    Zstack {
        /// Concurrency levels to measure.
        #[arg(long, value_delimiter = ',', default_value = "1,16")]
        clients: Vec<usize>,
        /// Pairs per level.
        #[arg(long, default_value_t = 2000)]
        pairs: usize,
    },
    /// The policy evaluator in process: compile a snapshot of provider size into its index, then
    /// flow checks per second on one core (beside a bare address lookup).
    Engine {
        #[command(flatten)]
        size: ProviderSize,
        /// Timed compilations.
        #[arg(long, default_value_t = 5)]
        compiles: usize,
    },
    /// The policy engine over HTTP at provider size: effective policies, flow checks and lint of
    /// one organization seeded through the store; cold, warm and after a write.
    Policy {
        #[command(flatten)]
        size: ProviderSize,
        /// Requests per measured row.
        #[arg(long, default_value_t = 2000)]
        requests: usize,
        /// Concurrent clients of the many-client rows.
        #[arg(long, default_value_t = 16)]
        clients: usize,
    },
    /// The nftables compiler and `nft -f` at Neutron's worst case (85,000 rules): compile,
    /// apply and replace times in a network namespace of its own (root, ip and nft needed).
    Dataplane {
        #[arg(long, default_value_t = 85_000)]
        rules: usize,
        /// Distinct remote address sets the rules draw from.
        #[arg(long, default_value_t = 1_000)]
        sets: usize,
        /// Addresses in the largest set.
        #[arg(long, default_value_t = 50_000)]
        big_set: usize,
        #[arg(long, default_value_t = 5)]
        repeats: usize,
        /// The second measurement: iptables rules (rule × remote address) to be equivalent to.
        #[arg(long, default_value_t = 85_000)]
        iptables_equivalent: usize,
        /// Remote addresses per rule in the second measurement.
        #[arg(long, default_value_t = 100)]
        remote: usize,
    },
    /// Per-packet cost of 50,000 remote addresses: new TCP (and UDP) flows per second through the
    /// input hook with no table, conntrack only, an interval set, and a linear chain of one rule
    /// per address, between two network namespaces (root, ip and nft needed).
    Packets {
        /// Remote addresses in the set and in the chain (besides the client).
        #[arg(long, default_value_t = 50_000)]
        addresses: usize,
        /// Upper bound on the new flows of each configuration.
        #[arg(long, default_value_t = 20_000)]
        max_connects: usize,
        /// Upper bound on the seconds of each configuration.
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// Skip the UDP variant.
        #[arg(long)]
        tcp_only: bool,
    },
    /// End to end: an API write (a Katapult rule) to the rules in force on one host, through
    /// `palisade agent` in a network namespace: p50/p90/p99 (root, ip and nft needed).
    Enforce {
        /// Changes to time.
        #[arg(long, default_value_t = 100)]
        changes: usize,
    },
    /// Fan-out on PostgreSQL: one long poll per server held on two `palisade serve` nodes; a
    /// change to a group on every server; time until every poll has the new policy.
    Fanout {
        #[command(flatten)]
        size: ProviderSize,
        /// How long each poll may be held (seconds).
        #[arg(long, default_value_t = 120)]
        hold_secs: u64,
        /// The `palisade` binary the nodes run (default: the one beside this bench), to compare
        /// another build.
        #[arg(long)]
        server_binary: Option<std::path::PathBuf>,
    },
    /// The policy snapshot read (one consistent read of everything that decides an
    /// organization's policy), against the store: min/p50/p90/max.
    Snapshot {
        /// Security groups in the organization.
        #[arg(long, default_value_t = 1000)]
        groups: usize,
        /// Rules in all, spread evenly over the groups.
        #[arg(long, default_value_t = 10_000)]
        rules: usize,
        /// Servers in the organization.
        #[arg(long, default_value_t = 1000)]
        servers: usize,
        /// Timed snapshot reads, after one warm-up.
        #[arg(long, default_value_t = 50)]
        reads: usize,
    },
    /// Latency of other requests while clients flood a Hostway route with wrong passwords.
    AuthFlood {
        /// Measure this running server instead of starting the `palisade` binary twice (pool
        /// only, then default limits) on fresh databases of `--backends`.
        #[arg(long)]
        url: Option<String>,
        /// The operator token of the server at `--url`.
        #[arg(long, env = "PALISADE_ADMIN_TOKEN", default_value = OPERATOR, hide_env_values = true)]
        admin_token: String,
        /// The server binary to start (default: `palisade` beside this program).
        #[arg(long)]
        server: Option<std::path::PathBuf>,
        /// Concurrent clients sending wrong passwords.
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// Seconds of probing without the flood.
        #[arg(long, default_value_t = 5)]
        idle_secs: u64,
        /// Seconds of probing under the flood.
        #[arg(long, default_value_t = 15)]
        flood_secs: u64,
        /// Pause between rounds of probes (ms).
        #[arg(long, default_value_t = 10)]
        pause_ms: u64,
        /// Address the flood connects from.
        #[arg(long, default_value = "127.0.0.1")]
        flood_source: std::net::IpAddr,
        /// Address the probes connect from.
        #[arg(long, default_value = "127.0.0.2")]
        probe_source: std::net::IpAddr,
    },
    /// Writes this release's upgrade fixture (database dump and recorded reads) for each backend
    /// into `OUT/<backend>/`. Run once per release; see the fixture directory's README.
    UpgradeFixture {
        /// The release's fixture directory.
        #[arg(long)]
        out: std::path::PathBuf,
    },
}

pub const OPERATOR: &str = "palop_bench-operator";

fn backends(names: &[String]) -> anyhow::Result<Vec<Backend>> {
    names
        .iter()
        .map(|b| match b.as_str() {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            other => anyhow::bail!("unknown backend {other}: expected sqlite or postgres"),
        })
        .collect()
}

pub fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

pub fn db_settings() -> DbSettings {
    DbSettings { max_connections: 16, ..DbSettings::default() }
}

/// POSTs `body` as JSON with a Bearer `token`; the JSON answer, or an error carrying it.
pub async fn post(
    client: &reqwest::Client,
    url: String,
    token: &str,
    body: serde_json::Value,
) -> anyhow::Result<serde_json::Value> {
    let reply = client.post(url).bearer_auth(token).json(&body).send().await?;
    let status = reply.status();
    let body: serde_json::Value = reply.json().await?;
    anyhow::ensure!(status.is_success(), "{status}: {body}");
    Ok(body)
}

/// The real server on 127.0.0.1:0 over `url`; returns its base URL and a stop handle.
pub async fn serve(url: &str) -> anyhow::Result<Served> {
    serve_with(url, palisade_api::ApiConfig::default()).await
}

/// A running server: its base URL, its core (to seed data without HTTP), a stop handle and its
/// task.
#[derive(Debug)]
pub struct Served {
    pub base: String,
    pub core: palisade_core::Core,
    pub stop: tokio::sync::oneshot::Sender<()>,
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Like [`serve`], with the HTTP layer's limits given.
pub async fn serve_with(url: &str, api: palisade_api::ApiConfig) -> anyhow::Result<Served> {
    let config = ServeConfig {
        listen: "127.0.0.1:0".into(),
        database_url: url.to_owned(),
        admin_token: Some(OPERATOR.into()),
        db: db_settings(),
        api,
        ..ServeConfig::default()
    };
    Ok(start(config).await?.0)
}

/// Starts the server `config` describes on its own task and waits until it is ready; also
/// returns the operator token it generated, if it had none.
pub async fn start(
    config: ServeConfig,
) -> anyhow::Result<(Served, Option<palisade_core::secret::RevealedSecret>)> {
    let (app, startup) = Application::build(config).await?;
    let base = format!("http://{}", app.local_addr()?);
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stop_rx.await;
    }));
    // Measure the API, not the 503s it answers while the database is being opened.
    let started =
        startup.ready().await.ok_or_else(|| anyhow::anyhow!("the server stopped before it was ready"))?;
    Ok((Served { base, core: started.core, stop, server }, started.generated))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let backends = backends(&cli.backends)?;
    let max = std::time::Duration::from_secs(cli.max_secs);
    match cli.command {
        Command::Writes { clients, pairs, server_process, server_binary } => {
            let server = if server_process {
                let here = || std::env::current_exe().map(|bench| bench.with_file_name("palisade"));
                writes::Server::Child(server_binary.map_or_else(here, Ok)?)
            } else {
                writes::Server::InProcess
            };
            writes::run(&backends, &clients, pairs, &server, max).await
        }
        Command::Ipam { prefix, clients } => ipam::run(&backends, &prefix, clients, max).await,
        Command::Hosts { clients, hosts } => hosts::run(&backends, &clients, hosts, max).await,
        Command::Oversized { interfaces, repeats } => oversized::run(&backends, &interfaces, repeats).await,
        Command::Groups { groups } => groups::run(&backends, groups).await,
        Command::SecurityGroups { groups, org_sizes, repeats, pairs, clients, moto_server } => {
            let plan = security_groups::Plan { groups, org_sizes, repeats, pairs, clients, moto_server, max };
            security_groups::run(&backends, &plan).await
        }
        Command::Snapshot { groups, rules, servers, reads } => {
            snapshot::run(&backends, snapshot::Size { groups, rules, servers }, reads, max).await
        }
        Command::AuthFlood {
            url,
            admin_token,
            server,
            clients,
            idle_secs,
            flood_secs,
            pause_ms,
            flood_source,
            probe_source,
        } => {
            let plan = auth_flood::Plan {
                url,
                admin_token,
                server,
                clients,
                idle: std::time::Duration::from_secs(idle_secs),
                flood: std::time::Duration::from_secs(flood_secs),
                pause: std::time::Duration::from_millis(pause_ms),
                flood_source,
                probe_source,
            };
            auth_flood::run(&backends, &plan).await
        }
        Command::Engine { size: ProviderSize { groups, rules, servers }, compiles } => {
            engine::run(engine::Size { groups, rules, servers }, compiles, max)
        }
        Command::Policy { size: ProviderSize { groups, rules, servers }, requests, clients } => {
            policy_http::run(&backends, snapshot::Size { groups, rules, servers }, requests, clients, max)
                .await
        }
        Command::Enforce { changes } => enforce::run(&backends, changes, max).await,
        Command::Fanout { size: ProviderSize { groups, rules, servers }, hold_secs, server_binary } => {
            let size = snapshot::Size { groups, rules, servers };
            fanout::run(size, std::time::Duration::from_secs(hold_secs), server_binary).await
        }
        Command::Dataplane { rules, sets, big_set, repeats, iptables_equivalent, remote } => dataplane::run(
            dataplane::Plan { rules, sets, big_set, repeats, uniform: None },
            iptables_equivalent,
            remote,
        ),
        Command::Packets { addresses, max_connects, seconds, tcp_only } => {
            packets::run(packets::Plan { addresses, max_connects, seconds, udp: !tcp_only })
        }
        Command::Zstack { clients, pairs } => zstack::run(&backends, &clients, pairs, max).await,
        Command::UpgradeFixture { out } => upgrade_fixture::run(&backends, &out).await,
    }
}
