//! The Palisade application: configuration, backend selection and the HTTP server.
//!
//! [`Application::build`] is used by `palisade serve` and by the tests alike, so tests run the
//! real server (bound to port 0, on a fresh database) rather than a look-alike.
//!
//! A server listens at once, whether or not its database answers: until the store is open,
//! migrated and the operator credential settled, `/healthz` answers 200, `/readyz` 503 and every
//! API request 503 in its face's envelope, while the store is opened in the background with a
//! bounded backoff. An orchestrator sees a live process that is not ready, instead of one that
//! does not listen (or exits) while the database is away.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use palisade_api::ApiConfig;
use palisade_core::secret::RevealedSecret;
use palisade_core::service::{operator_credential, CoreSettings};
use palisade_core::{Core, Store};
use palisade_store::postgres::{PostgresConfig, PostgresStore};
use palisade_store::sqlite::{SqliteConfig, SqliteStore};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub mod agent;
mod body_deadline;
pub mod cli;
mod gate;
mod serve;
pub mod toml_defaults;

use gate::Gate;
pub use serve::HttpSettings;

/// The database used when none is configured: a SQLite file created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://palisade-data/palisade.db";

/// Everything `palisade serve` can be told.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: String,
    pub database_url: String,
    pub admin_token: Option<String>,
    pub db: DbSettings,
    pub http: HttpSettings,
    pub api: ApiConfig,
    pub core: CoreSettings,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            database_url: DEFAULT_DATABASE_URL.into(),
            admin_token: None,
            db: DbSettings::default(),
            http: HttpSettings::default(),
            api: ApiConfig::default(),
            core: CoreSettings::default(),
        }
    }
}

impl ServeConfig {
    /// This configuration as it may be logged: the admin token and the database URL's password
    /// (and every value of its query, which may carry one) replaced by `[redacted]`.
    pub fn redacted(&self) -> Self {
        let mut shown = self.clone();
        shown.admin_token = self.admin_token.as_ref().map(|_| palisade_api::trace::REDACTED.to_owned());
        shown.database_url = redact_url(&self.database_url);
        shown.api.metrics_token =
            self.api.metrics_token.as_ref().map(|_| palisade_api::trace::REDACTED.to_owned());
        shown
    }
}

/// `postgres://user:secret@host/db?password=x` → `postgres://user:[redacted]@host/db?password=[redacted]`.
pub fn redact_url(url: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let mut out = match head.split_once("://") {
        Some((scheme, rest)) => {
            // The user information ends at the last `@` before the path.
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            match authority.rsplit_once('@') {
                Some((userinfo, host)) => {
                    let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
                    let password = if userinfo.contains(':') {
                        format!(":{}", palisade_api::trace::REDACTED)
                    } else {
                        String::new()
                    };
                    format!("{scheme}://{user}{password}@{host}{path}")
                }
                None => head.to_owned(),
            }
        }
        None => head.to_owned(),
    };
    if let Some(query) = query {
        out.push('?');
        out.push_str(&palisade_api::trace::redact_query(query));
    }
    out
}

/// Connection-pool settings, for either backend.
#[derive(Debug, Clone)]
pub struct DbSettings {
    pub max_connections: u32,
    /// How long a request waits for a connection before failing with 503.
    pub acquire_timeout: Duration,
    /// PostgreSQL: server-side limit on one statement. SQLite: how long a writer waits for the
    /// file lock held by another process.
    pub statement_timeout: Duration,
    /// Pause after the first failed attempt to open the database at start; it doubles after
    /// each further failure, up to `connect_retry_max_delay`. Attempts go on until one works.
    pub connect_retry_delay: Duration,
    pub connect_retry_max_delay: Duration,
}

impl Default for DbSettings {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(10),
            connect_retry_delay: Duration::from_secs(1),
            connect_retry_max_delay: Duration::from_secs(10),
        }
    }
}

/// Writes a consistent copy of the SQLite database at `url` to the new file `to`.
pub async fn backup_sqlite(url: &str, to: &std::path::Path) -> anyhow::Result<()> {
    if !url.starts_with("sqlite:") {
        anyhow::bail!("only a SQLite database is backed up here; for PostgreSQL use pg_dump");
    }
    if to.exists() {
        anyhow::bail!("{} exists: the backup goes to a new file", to.display());
    }
    palisade_store::sqlite::backup(url, to)
        .await
        .with_context(|| format!("backing up {url} to {}", to.display()))
}

/// Opens the store a database URL names: `sqlite://...` or `postgres://...`.
pub async fn open_store(url: &str, db: &DbSettings) -> anyhow::Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        let mut config = SqliteConfig::new(url);
        config.max_connections = db.max_connections;
        config.acquire_timeout = db.acquire_timeout;
        config.busy_timeout = db.statement_timeout;
        let store = SqliteStore::connect(&config).await.with_context(|| format!("opening {url}"))?;
        Ok(Arc::new(store))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let mut config = PostgresConfig::new(url);
        config.max_connections = db.max_connections;
        config.acquire_timeout = db.acquire_timeout;
        config.statement_timeout = db.statement_timeout;
        // The URL may carry a password: name only the backend in errors.
        let store = PostgresStore::connect(&config).await.context("opening the PostgreSQL database")?;
        Ok(Arc::new(store))
    } else {
        anyhow::bail!(UNSUPPORTED_URL)
    }
}

const UNSUPPORTED_URL: &str =
    "unsupported database URL: expected sqlite://path or postgres://user@host/database";

/// Refuses a database URL that no retry could make work.
fn check_database_url(url: &str) -> anyhow::Result<()> {
    if url.starts_with("sqlite:") {
        Ok(())
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        // The URL may carry a password: the error names only the backend.
        PostgresConfig::new(url).validate().context("the PostgreSQL database URL")
    } else {
        anyhow::bail!(UNSUPPORTED_URL)
    }
}

/// A bound, ready-to-run server.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    gate: Arc<Gate>,
    http: HttpSettings,
    core: Option<Core>,
    opening: Option<Opening>,
}

/// The background start of [`Application::build`].
#[derive(Debug)]
pub struct Startup(oneshot::Receiver<Started>);

impl Startup {
    /// Completes once the database answered, migrations ran and the API serves; `None` if the
    /// application stopped first.
    pub async fn ready(self) -> Option<Started> {
        self.0.await.ok()
    }
}

/// What a finished start hands over.
#[derive(Debug)]
pub struct Started {
    pub core: Core,
    /// A freshly generated operator token, to be shown once.
    pub generated: Option<RevealedSecret>,
}

/// The application's background task: opening the store, then housekeeping; stopped with the
/// application.
#[derive(Debug)]
struct Opening(JoinHandle<()>);

/// How often expired sessions and job records, and audit events past their retention, are
/// deleted (sessions and jobs are refused as soon as they expire; this only keeps the tables
/// small).
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(300);

/// Deletes expired sessions, job records and old audit events every [`HOUSEKEEPING_EVERY`], for
/// as long as the server runs.
async fn housekeeping(core: Core) {
    // The first pass waits one period too: nothing at start-up competes with serving.
    let mut every =
        tokio::time::interval_at(tokio::time::Instant::now() + HOUSEKEEPING_EVERY, HOUSEKEEPING_EVERY);
    loop {
        every.tick().await;
        match core.purge_expired().await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "deleted expired sessions, job records and audit events"),
            Err(e) => {
                tracing::warn!(error = %e, "could not delete expired sessions, job records and audit events")
            }
        }
    }
}

impl Drop for Opening {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Application {
    /// Binds the listener at once and opens the database in the background (see the crate
    /// documentation); until then requests are answered 503. Fails only for what no retry
    /// would fix: an unusable database URL, an address that cannot be bound.
    pub async fn build(config: ServeConfig) -> anyhow::Result<(Self, Startup)> {
        tracing::info!(config = ?config.redacted(), "effective configuration");
        check_database_url(&config.database_url)?;
        let listener = bind(&config.listen).await?;
        let gate = Arc::new(Gate::starting());
        let (started, startup) = oneshot::channel();
        let http = config.http.clone();
        let opening = Opening(tokio::spawn(open_in_background(config, gate.clone(), started)));
        Ok((Self { listener, gate, http, core: None, opening: Some(opening) }, Startup(startup)))
    }

    /// On a store the caller opened (`database_url` is ignored): settles the operator
    /// credential and binds the listener, ready at once. The second value is a freshly generated
    /// operator token, to be shown once.
    pub async fn build_with_store(
        config: ServeConfig,
        store: Arc<dyn Store>,
    ) -> anyhow::Result<(Self, Option<RevealedSecret>)> {
        let (core, router, generated) = api(&config, store).await?;
        let listener = bind(&config.listen).await?;
        let gate = Gate::starting();
        gate.open(router, &core);
        let opening = Some(Opening(tokio::spawn(housekeeping(core.clone()))));
        let app = Self { listener, gate: Arc::new(gate), http: config.http, core: Some(core), opening };
        Ok((app, generated))
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The core, when the store was given to [`Application::build_with_store`]; after
    /// [`Application::build`], [`Startup::ready`] hands it over.
    pub fn core(&self) -> Option<&Core> {
        self.core.as_ref()
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests (and stops opening
    /// the database, if it was still trying).
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let Self { listener, gate, http, opening, .. } = self;
        let (closing, closed) = (gate.clone(), gate.clone());
        let shutdown = async move {
            shutdown.await;
            closing.closing();
        };
        let served = serve::serve(listener, gate, http, shutdown).await;
        drop(opening);
        // Every request is answered: the database can go.
        closed.close().await;
        served
    }
}

async fn bind(listen: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))
}

/// The API over an open store: the core with its operator credential, and the router.
async fn api(
    config: &ServeConfig,
    store: Arc<dyn Store>,
) -> anyhow::Result<(Core, axum::Router, Option<RevealedSecret>)> {
    let (operator, generated) = operator_credential(store.as_ref(), config.admin_token.as_deref())
        .await
        .context("settling the operator token")?;
    let core = Core::with_settings(store, operator, config.core.clone());
    let router = palisade_api::router(core.clone(), config.api.clone())
        .layer(axum::middleware::from_fn_with_state(config.http.request_body_timeout, body_deadline::enforce))
        .layer(palisade_api::trace::layer())
        .layer(axum::middleware::from_fn_with_state(
            palisade_api::observe::Observe { trusted_proxies: Arc::new(config.api.trusted_proxies.clone()) },
            palisade_api::observe::observe,
        ));
    Ok((core, router, generated))
}

/// Opens the store until it works, backing off between attempts, then opens the gate.
async fn open_in_background(config: ServeConfig, gate: Arc<Gate>, started: oneshot::Sender<Started>) {
    let mut delay = config.db.connect_retry_delay.max(Duration::from_millis(10));
    let mut attempt: u64 = 0;
    loop {
        attempt += 1;
        let opened = async {
            let store = open_store(&config.database_url, &config.db).await?;
            api(&config, store).await
        };
        match opened.await {
            Ok((core, router, generated)) => {
                gate.open(router, &core);
                tracing::info!(attempt, "palisade ready: database open and migrated");
                let _ = started.send(Started { core: core.clone(), generated });
                return housekeeping(core).await;
            }
            Err(e) => {
                // Errors name the backend, never the URL (which may carry a password).
                tracing::warn!(
                    attempt,
                    retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    error = %format!("{e:#}"),
                    "database not ready; answering 503 until it is"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(config.db.connect_retry_max_delay.max(delay));
            }
        }
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(redact_url("postgres://u:p%40ss@db:5432/x"), "postgres://u:[redacted]@db:5432/x");
        assert_eq!(
            redact_url("postgres://u@db/x?password=s&sslmode=a"),
            "postgres://u@db/x?password=[redacted]&sslmode=[redacted]"
        );
        assert_eq!(redact_url("sqlite://palisade-data/palisade.db"), "sqlite://palisade-data/palisade.db");
        let config = ServeConfig { admin_token: Some("palop_secret".into()), ..ServeConfig::default() };
        assert!(!format!("{:?}", config.redacted()).contains("palop_secret"));
    }
}
