//! [`Store`](palisade_core::Store) on PostgreSQL: any number of stateless `palisade serve`
//! processes share one database.
//!
//! Everything that must be consistent across nodes is in the database: uniqueness is enforced
//! by constraints (the loser of a race gets a clean `AlreadyExists` or `Conflict`), the
//! operator token's hash is a row, and nothing is cached per process that the database does not
//! key (the core keeps group listing pages by the database's policy revision). Rows read to be
//! changed are locked (`seam::FOR_UPDATE`). The pool fails fast when the database is unreachable
//! (requests get 503, `/readyz` reports it) and heals by itself when it returns: a connection
//! idle for longer than [`PING_AFTER_IDLE`] is tested on acquire and replaced if broken. The SQL is the shared `sql` module; `seam`
//! is what PostgreSQL does differently.

// The shared SQL, compiled here for this backend (the crate docs say why).
mod seam;
#[allow(clippy::duplicate_mod)]
#[path = "sql/mod.rs"]
mod sql;

use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use palisade_core::changes::PolicyChanges;

use palisade_core::error::{Error, Result};

/// A pooled connection idle this long is pinged before it is used again.
pub const PING_AFTER_IDLE: Duration = Duration::from_millis(500);
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions};
use sqlx::{Connection, PgPool};

/// Connection settings with sane defaults.
#[derive(Debug, Clone)]
pub struct PostgresConfig {
    /// `postgres://user@host:port/database`.
    pub url: String,
    pub max_connections: u32,
    /// How long a request waits for a connection before failing with 503.
    pub acquire_timeout: Duration,
    /// Server-side limit on any one statement.
    pub statement_timeout: Duration,
}

impl PostgresConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 16,
            acquire_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(10),
        }
    }

    /// Checks that the URL can be used at all (a mistake no retry would fix).
    pub fn validate(&self) -> Result<()> {
        self.options().map(drop)
    }

    fn options(&self) -> Result<PgConnectOptions> {
        let statement_timeout = self.statement_timeout.as_millis().to_string();
        Ok(PgConnectOptions::from_str(&self.url)
            .map_err(|e| Error::Unavailable(format!("invalid PostgreSQL URL: {e}")))?
            .options([("statement_timeout", statement_timeout.as_str())]))
    }
}

/// The PostgreSQL store. Cheap to clone (a pool handle).
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// This node's waiters, woken by its own commits at once and by every node's through the
    /// listener (`seam::policy_changes`), started by the first waiter.
    changes: Arc<PolicyChanges>,
    listener: Arc<OnceLock<seam::Listener>>,
    /// Time waited for handles and transactions (`/metrics`).
    waits: Arc<sql::Waits>,
    /// What policy snapshots last read and the next may keep: groups' rules by rules version,
    /// servers by servers' revision and version (`sql::snapshot`).
    kept: Arc<sql::SnapshotCache>,
}

impl PostgresStore {
    /// Connects and applies pending migrations, once: retrying while the database is away is
    /// the caller's policy (`palisade serve` keeps trying in the background while it serves
    /// 503). Concurrent starts of several nodes are safe: sqlx serializes migrations with an
    /// advisory lock.
    pub async fn connect(config: &PostgresConfig) -> Result<Self> {
        let options = config.options()?;
        // One direct connection first: the pool would only say it timed out, this says why
        // (refused, unknown host, authentication failed).
        match tokio::time::timeout(config.acquire_timeout, PgConnection::connect_with(&options)).await {
            Ok(Ok(connection)) => {
                let _ = connection.close().await;
            }
            Ok(Err(e)) => return Err(Error::Unavailable(format!("cannot connect to PostgreSQL: {e}"))),
            Err(_) => return Err(Error::Unavailable("cannot connect to PostgreSQL: timed out".into())),
        }
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.acquire_timeout)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    // A connection in steady use has just proved itself; pinging it before every
                    // use cost a round trip per transaction (a write is BEGIN, its statements
                    // and COMMIT). One that sat idle may have died with the server: test it.
                    if meta.idle_for >= PING_AFTER_IDLE {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_lazy_with(options);
        if let Err(e) = sqlx::migrate!("./migrations/postgres").run(&pool).await {
            pool.close().await;
            return Err(Error::Unavailable(format!("migrating the PostgreSQL database failed: {e}")));
        }
        Ok(Self {
            pool,
            changes: Arc::default(),
            listener: Arc::default(),
            waits: Arc::default(),
            kept: Arc::default(),
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
