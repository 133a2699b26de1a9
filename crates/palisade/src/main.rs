//! `palisade`: the control plane server and its admin commands.

mod config_file;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use std::time::Duration;

use palisade::{Application, DbSettings, HttpSettings, ServeConfig, DEFAULT_DATABASE_URL};
use palisade_api::ApiConfig;
use palisade_core::authn::AuthSettings;
use palisade_core::service::CoreSettings;
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "palisade",
    version,
    about = "Network-security control plane: security groups, roles, IPAM, behind vendor-compatible APIs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,

    #[command(flatten)]
    connection: palisade::cli::Connection,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API server.
    Serve(Box<ServeArgs>),
    /// Print the native API's OpenAPI document (JSON) to standard output.
    Openapi,
    /// Enforce one server's policy on this host with nftables, following every change.
    ///
    /// Fetches the server's effective policy, applies it as the `inet palisade` table in one
    /// `nft -f` transaction (no other table is touched), reports what it applied, then waits
    /// for the next change with a long poll. It never removes the rules: they stay in force
    /// while the control plane is unreachable and after the agent stops.
    ///
    /// Example:
    ///   the server's agent token, made by the operator:
    ///     curl -X POST -H "Authorization: Bearer $OPERATOR" -d '{"name":"web-1"}' \
    ///       http://cp:8080/api/v1/servers/$SERVER/agent_tokens
    ///   palisade agent --control-plane http://cp:8080 --token pal_… --server $SERVER \
    ///     --state-dir /var/lib/palisade-agent
    #[command(verbatim_doc_comment)]
    Agent(AgentArgs),
    /// Apply the database's pending migrations, then exit (servers also do it when they
    /// start; this is for upgrades run as their own step).
    ///
    /// Example: palisade migrate --database-url postgres://palisade@db/palisade
    #[command(verbatim_doc_comment)]
    Migrate(DatabaseArg),
    /// Administration on the database itself, where the API cannot help.
    #[command(subcommand)]
    Admin(AdminCommand),
    #[command(flatten)]
    Client(palisade::cli::ClientCommand),
}

/// The database an offline command works on.
#[derive(Debug, Args)]
struct DatabaseArg {
    /// The server's database (as `palisade serve --database-url`).
    #[arg(long, env = "PALISADE_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    database_url: String,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Replace the stored operator token with a new one, printed once (a lost generated token
    /// has no other way back). Running servers accept the old one until they restart; a server
    /// started with --admin-token ignores the stored one.
    ///
    /// Example: palisade admin rotate-operator-token --database-url sqlite://palisade-data/palisade.db
    #[command(verbatim_doc_comment)]
    RotateOperatorToken(DatabaseArg),
    /// Write a consistent copy of a SQLite database while servers use it (VACUUM INTO). For
    /// PostgreSQL use pg_dump, which does the same.
    ///
    /// Example: palisade admin backup --to /var/backups/palisade-2026-12-05.db
    #[command(verbatim_doc_comment)]
    Backup {
        #[command(flatten)]
        database: DatabaseArg,
        /// The copy: a new file (an existing one is refused).
        #[arg(long)]
        to: std::path::PathBuf,
    },
}

#[derive(Debug, Args)]
struct AgentArgs {
    /// The control plane's base URL (plain HTTP).
    #[arg(long, env = "PALISADE_CONTROL_PLANE")]
    control_plane: String,

    /// The server's agent token (`POST /api/v1/servers/{id}/agent_tokens`).
    #[arg(long, env = "PALISADE_AGENT_TOKEN", hide_env_values = true)]
    token: String,

    /// The id of the server whose policy this host enforces.
    #[arg(long, env = "PALISADE_SERVER")]
    server: uuid::Uuid,

    /// Apply the rules inside this network namespace (`ip netns exec NAME nft …`).
    #[arg(long, env = "PALISADE_NETNS")]
    netns: Option<String>,

    /// Keep the applied rules here, to restore them at the next start before the control
    /// plane answers.
    #[arg(long, env = "PALISADE_STATE_DIR")]
    state_dir: Option<std::path::PathBuf>,

    /// How long the control plane may hold one long poll (seconds).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=300))]
    poll_wait_seconds: u64,

    /// Longest pause between attempts while the control plane fails (ms).
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..))]
    max_backoff_ms: u64,

    /// The nft program.
    #[arg(long, default_value = "nft")]
    nft: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (fields under `fields`), for log collectors.
    Json,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Settings from a TOML file: keys are these flags' long names (`listen = "0.0.0.0:8080"`,
    /// `trusted-proxies = ["10.0.0.0/8"]`). A flag or an environment variable overrides the
    /// file; the file overrides the defaults.
    #[arg(long, env = "PALISADE_CONFIG")]
    config: Option<std::path::PathBuf>,

    /// Print every setting's value and where it came from (flag, environment, file, default),
    /// secrets hidden, then exit.
    #[arg(long)]
    print_config: bool,

    /// Log line format: `text` or `json` (one object per line). The level is `RUST_LOG`'s
    /// (default: info, one line per request; SQL statements are left out unless asked for).
    #[arg(long, env = "PALISADE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,

    /// When set, `GET /metrics` answers only `Authorization: Bearer <this>` (Prometheus'
    /// `authorization` setting); by default it is open, like the probes.
    #[arg(long, env = "PALISADE_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,

    /// Address and port to listen on.
    #[arg(long, env = "PALISADE_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,

    /// Database: `sqlite://path/to/file.db` (created if missing), or
    /// `postgres://user[:password]@host[:port]/database` to share one database between nodes.
    #[arg(long, env = "PALISADE_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    database_url: String,

    /// Operator token for the native API. When absent, one is generated on first start,
    /// printed once, and only its hash is kept.
    #[arg(long, env = "PALISADE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,

    /// Maximum database connections in the pool (per node).
    #[arg(long, env = "PALISADE_DB_MAX_CONNECTIONS", default_value_t = 8)]
    db_max_connections: u32,

    /// How long a request waits for a database connection before failing with 503 (ms).
    #[arg(long, env = "PALISADE_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 3000)]
    db_acquire_timeout_ms: u64,

    /// PostgreSQL statement timeout; for SQLite, how long to wait for another process's
    /// write lock (ms).
    #[arg(long, env = "PALISADE_DB_STATEMENT_TIMEOUT_MS", default_value_t = 10000)]
    db_statement_timeout_ms: u64,

    /// The server listens at once; until the database answers (and migrations ran) it answers
    /// 503 and keeps trying: this is the pause after the first failed attempt (ms). It doubles
    /// after each further failure, up to --db-connect-retry-max-delay-ms.
    #[arg(long, env = "PALISADE_DB_CONNECT_RETRY_DELAY_MS", default_value_t = 1000)]
    db_connect_retry_delay_ms: u64,

    /// Longest pause between attempts to open the database at start (ms).
    #[arg(long, env = "PALISADE_DB_CONNECT_RETRY_MAX_DELAY_MS", default_value_t = 10_000)]
    db_connect_retry_max_delay_ms: u64,

    /// Default reverse DNS name of new addresses: `{dashed}` is the address with `.`/`:` as
    /// `-` (203-0-113-10), `{address}` the address itself.
    #[arg(long, env = "PALISADE_REVERSE_DNS_PATTERN", default_value = "{dashed}.rdns.example.net")]
    reverse_dns_pattern: String,

    /// Requests per minute per API token on the Katapult face (counted per node).
    #[arg(long, env = "PALISADE_REQUESTS_PER_MINUTE", default_value_t = 1000)]
    requests_per_minute: u32,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "PALISADE_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    max_body_bytes: usize,

    /// How long a client has to send a request's line and headers, from the connection's start
    /// or the first byte of its next request; then the connection is closed (ms).
    #[arg(long, env = "PALISADE_HEADER_READ_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    header_read_timeout_ms: u64,

    /// How long a client has to send a request's whole body once its headers arrived; then the
    /// request is answered 408 and the connection closed (ms).
    #[arg(long, env = "PALISADE_REQUEST_BODY_TIMEOUT_MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    request_body_timeout_ms: u64,

    /// How long an idle keep-alive connection waits for its next request before it is closed
    /// (ms). Keep it above the idle timeout of a load balancer in front.
    #[arg(long, env = "PALISADE_KEEP_ALIVE_TIMEOUT_MS", default_value_t = 75_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    keep_alive_timeout_ms: u64,

    /// Connections served at once; further clients wait to be accepted until one closes. Keep
    /// it below the open-file limit (`ulimit -n`) minus the database pool.
    #[arg(long, env = "PALISADE_MAX_CONNECTIONS", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,

    /// The base URL clients reach this server at (`https://api.example.com`): links in responses
    /// use it, whatever the request's Host or X-Forwarded-* headers say. Set it in production.
    #[arg(long, env = "PALISADE_PUBLIC_URL", value_parser = palisade_api::forwarded::parse_public_url)]
    public_url: Option<String>,

    /// Reverse proxies (addresses or CIDRs, comma-separated) whose X-Forwarded-For, -Proto and
    /// -Host headers are believed (client address for tokens' network limits, links); from
    /// anyone else these headers are ignored.
    #[arg(long, env = "PALISADE_TRUSTED_PROXIES", value_delimiter = ',',
          value_parser = palisade_api::forwarded::parse_trusted_proxy)]
    trusted_proxies: Vec<palisade_api::forwarded::IpNet>,

    /// Failed authentications (wrong password, invalid or expired token; any face) per minute
    /// from one source address (IPv6: one /64) before it is answered 429 for a while
    /// (counted per node; a burst of this many, then one more every 60/N s).
    #[arg(long, env = "PALISADE_AUTH_FAILURES_PER_MINUTE_PER_SOURCE", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..))]
    auth_failures_per_minute_per_source: u32,

    /// Failed password checks per minute for one username, from any source (counted per node).
    /// Keep it small: it is what stops guessing spread over many addresses, and a victim it
    /// locks out waits only 60/N s.
    #[arg(long, env = "PALISADE_AUTH_FAILURES_PER_MINUTE_PER_USER", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..))]
    auth_failures_per_minute_per_user: u32,

    /// How long a caller over a failed-authentication limit waits for its 429 (ms; at most its
    /// Retry-After; 0: answer at once). Slows clients that guess in a loop to one try a pause.
    #[arg(long, env = "PALISADE_AUTH_FAILURE_TARPIT_MS", default_value_t = 1000)]
    auth_failure_tarpit_ms: u64,

    /// Password hashes and verifications (Argon2id, ~40 ms of CPU each) run at once, on
    /// blocking threads; more wait their turn without holding up other requests. Default: half
    /// the CPUs (at least 1), leaving the rest to other requests during a flood.
    #[arg(long, env = "PALISADE_PASSWORD_HASH_CONCURRENCY", value_parser = clap::value_parser!(u64).range(1..))]
    password_hash_concurrency: Option<u64>,

    /// How long a successful password check is remembered, so clients sending HTTP Basic on
    /// every request skip Argon2id (seconds; 0: never). A changed password or a deleted user is
    /// refused at once regardless.
    #[arg(long, env = "PALISADE_PASSWORD_CACHE_SECONDS", default_value_t = 60)]
    password_cache_seconds: u64,

    /// How long a session (ZStack's `OAuth <session uuid>`) lasts after sign-in, in seconds.
    #[arg(long, env = "PALISADE_SESSION_LIFETIME_SECONDS", default_value_t = 7200,
          value_parser = clap::value_parser!(u64).range(1..))]
    session_lifetime_seconds: u64,

    /// How long the answer of an asynchronous call (ZStack's API jobs) is kept for its poll, in
    /// seconds; expired sessions and answers are deleted every few minutes.
    #[arg(long, env = "PALISADE_JOB_RETENTION_SECONDS", default_value_t = 10_800,
          value_parser = clap::value_parser!(u64).range(1..))]
    job_retention_seconds: u64,

    /// Most unexpired sessions one user may hold; a further sign-in is refused (ZStack's
    /// `ID.1006`) until one ends or expires.
    #[arg(long, env = "PALISADE_SESSIONS_PER_USER", default_value_t = 500,
          value_parser = clap::value_parser!(u32).range(1..))]
    sessions_per_user: u32,

    /// How many days audit events are kept; older ones are deleted every few minutes. 0 (the
    /// default): every event is kept for ever.
    #[arg(long, env = "PALISADE_AUDIT_RETENTION_DAYS", default_value_t = 0)]
    audit_retention_days: u32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let mut command = Cli::command();
    let mut from_file = std::collections::BTreeSet::new();
    if let Some(file) = config_file::named(&args) {
        (command, from_file) = config_file::apply(command, &file)?;
    }
    // The CLI's profile is the client commands' own: a server never reads it.
    let server_side = ["serve", "agent", "migrate", "admin", "openapi"];
    let client = args.get(1).is_some_and(|c| !server_side.contains(&c.as_str()));
    if let Some(profile) = palisade::cli::profile::path().filter(|_| client) {
        command = palisade::cli::profile::apply(command, &profile)?;
    }
    let matches = command.clone().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match cli.command {
        Command::Serve(args) if args.print_config => {
            let serve = matches.subcommand_matches("serve").unwrap_or(&matches);
            println!("{}", config_file::describe(&command, serve, &from_file));
            Ok(())
        }
        Command::Serve(args) => serve(*args).await,
        Command::Agent(args) => {
            init_logging(LogFormat::Text);
            let config = palisade::agent::AgentConfig {
                control_plane: args.control_plane,
                token: args.token,
                server: args.server,
                netns: args.netns,
                state_dir: args.state_dir,
                poll_wait: Duration::from_secs(args.poll_wait_seconds),
                max_backoff: Duration::from_millis(args.max_backoff_ms),
                nft: args.nft,
            };
            palisade::agent::run(config, palisade::shutdown_signal()).await
        }
        Command::Migrate(db) => {
            palisade::open_store(&db.database_url, &DbSettings::default()).await?;
            println!("the database is migrated to this version's schema");
            Ok(())
        }
        Command::Admin(AdminCommand::RotateOperatorToken(db)) => {
            let store = palisade::open_store(&db.database_url, &DbSettings::default()).await?;
            // Recorded in the audit trail as the operator's, through the `cli`.
            let origin = palisade_core::audit::Origin::offline("cli");
            let rotate = palisade_core::service::rotate_operator_credential(store.as_ref());
            let secret = palisade_core::audit::within(origin, rotate).await?;
            println!("New operator token (shown only now; restart running servers): {}", secret.expose());
            Ok(())
        }
        Command::Admin(AdminCommand::Backup { database, to }) => {
            palisade::backup_sqlite(&database.database_url, &to).await?;
            println!("backed up to {}", to.display());
            Ok(())
        }
        Command::Client(command) => {
            let code = palisade::cli::run(cli.connection, command).await;
            std::process::exit(i32::from(code));
        }
        Command::Openapi => {
            let doc = palisade_api::native::openapi();
            println!("{}", doc.to_pretty_json()?);
            Ok(())
        }
    }
}

fn auth_settings(args: &ServeArgs) -> AuthSettings {
    let defaults = AuthSettings::default();
    AuthSettings {
        failures_per_minute_per_source: args.auth_failures_per_minute_per_source,
        failures_per_minute_per_user: args.auth_failures_per_minute_per_user,
        password_hash_concurrency: args
            .password_hash_concurrency
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(defaults.password_hash_concurrency),
        failure_tarpit: Duration::from_millis(args.auth_failure_tarpit_ms),
        verified_ttl: Duration::from_secs(args.password_cache_seconds),
    }
}

/// Logs to standard error at INFO (or as `RUST_LOG` says), as text or JSON lines. sqlx's
/// statement log (`sqlx::query`, INFO/DEBUG) stays out by default; its slow-statement warnings
/// stay in.
fn init_logging(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx::query=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init(),
        LogFormat::Json => builder.json().with_ansi(false).init(),
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_logging(args.log_format);
    let auth = auth_settings(&args);
    let config = ServeConfig {
        listen: args.listen,
        database_url: args.database_url,
        admin_token: args.admin_token,
        db: DbSettings {
            max_connections: args.db_max_connections,
            acquire_timeout: Duration::from_millis(args.db_acquire_timeout_ms),
            statement_timeout: Duration::from_millis(args.db_statement_timeout_ms),
            connect_retry_delay: Duration::from_millis(args.db_connect_retry_delay_ms),
            connect_retry_max_delay: Duration::from_millis(args.db_connect_retry_max_delay_ms),
        },
        http: HttpSettings {
            header_read_timeout: Duration::from_millis(args.header_read_timeout_ms),
            request_body_timeout: Duration::from_millis(args.request_body_timeout_ms),
            keep_alive_timeout: Duration::from_millis(args.keep_alive_timeout_ms),
            max_connections: args.max_connections,
        },
        api: ApiConfig {
            max_body_bytes: args.max_body_bytes,
            requests_per_minute: args.requests_per_minute,
            public_url: args.public_url,
            trusted_proxies: args.trusted_proxies,
            metrics_token: args.metrics_token,
        },
        core: CoreSettings {
            reverse_dns_pattern: args.reverse_dns_pattern,
            auth,
            session_lifetime: Duration::from_secs(args.session_lifetime_seconds),
            job_retention: Duration::from_secs(args.job_retention_seconds),
            sessions_per_user: args.sessions_per_user,
            audit_retention: (args.audit_retention_days > 0)
                .then(|| Duration::from_secs(u64::from(args.audit_retention_days) * 86_400)),
        },
    };
    let (app, startup) = Application::build(config).await?;
    let addr = app.local_addr()?;
    tracing::info!(%addr, "palisade listening");
    tokio::spawn(async move {
        // Generated when the database first answers, on the first start only.
        if let Some(secret) = startup.ready().await.and_then(|started| started.generated) {
            // Printed once, on standard output, never through the log.
            println!("Generated operator token (shown only now; keep it safe): {}", secret.expose());
        }
    });
    app.run_until(palisade::shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
