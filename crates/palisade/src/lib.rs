//! The Palisade application: configuration, backend selection and the HTTP server.
//!
//! [`Application::build`] is used by `palisade serve` and by the tests alike, so tests run the
//! real server (bound to port 0, on a fresh database) rather than a look-alike.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use palisade_api::ApiConfig;
use palisade_core::secret::RevealedSecret;
use palisade_core::service::{operator_credential, CoreSettings};
use palisade_core::{Core, Store};
use palisade_store_postgres::{PostgresConfig, PostgresStore};
use palisade_store_sqlite::{SqliteConfig, SqliteStore};
use tokio::net::TcpListener;

/// The database used when none is configured: a SQLite file created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://palisade-data/palisade.db";

/// Everything `palisade serve` can be told.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: String,
    pub database_url: String,
    pub admin_token: Option<String>,
    pub db: DbSettings,
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
            api: ApiConfig::default(),
            core: CoreSettings::default(),
        }
    }
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
    /// PostgreSQL: attempts to reach the database at start-up.
    pub connect_attempts: u32,
    pub connect_retry_delay: Duration,
}

impl Default for DbSettings {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(10),
            connect_attempts: 10,
            connect_retry_delay: Duration::from_secs(1),
        }
    }
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
        config.connect_attempts = db.connect_attempts;
        config.connect_retry_delay = db.connect_retry_delay;
        // The URL may carry a password: name only the backend in errors.
        let store = PostgresStore::connect(&config).await.context("opening the PostgreSQL database")?;
        Ok(Arc::new(store))
    } else {
        anyhow::bail!("unsupported database URL: expected sqlite://path or postgres://user@host/database")
    }
}

/// A bound, ready-to-run server.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    core: Core,
}

impl Application {
    /// Opens the database (applying migrations), settles the operator credential and binds the
    /// listener. The second value is a freshly generated operator token, to be shown once.
    pub async fn build(config: ServeConfig) -> anyhow::Result<(Self, Option<RevealedSecret>)> {
        let store = open_store(&config.database_url, &config.db).await?;
        Self::build_with_store(config, store).await
    }

    /// Like [`Application::build`], on a store the caller opened (`database_url` is ignored).
    pub async fn build_with_store(
        config: ServeConfig,
        store: Arc<dyn Store>,
    ) -> anyhow::Result<(Self, Option<RevealedSecret>)> {
        let (operator, generated) = operator_credential(store.as_ref(), config.admin_token.as_deref())
            .await
            .context("settling the operator token")?;
        let core = Core::with_settings(store, operator, config.core.clone());
        let router =
            palisade_api::router(core.clone(), config.api.clone()).layer(palisade_api::trace::layer());
        let listener =
            TcpListener::bind(&config.listen).await.with_context(|| format!("binding {}", config.listen))?;
        Ok((Self { listener, router, core }, generated))
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn core(&self) -> &Core {
        &self.core
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let service = self.router.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(self.listener, service).with_graceful_shutdown(shutdown).await
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
