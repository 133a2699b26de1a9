//! [`Store`](palisade_core::Store) on embedded SQLite: Palisade's zero-setup default backend.
//!
//! One file, WAL journal (`synchronous=NORMAL`), foreign keys on. Every write runs in a
//! `BEGIN IMMEDIATE` transaction so that SQLite takes the write lock up front: a deferred
//! transaction that reads and then writes can fail with `SQLITE_BUSY` midway, which would turn a
//! lost race into a 500 instead of a clean wait. This process's writers queue for that lock in
//! FIFO order (`seam::write`). The SQL is the shared `sql` module; `seam` is what SQLite does
//! differently.

// The shared SQL, compiled here for this backend (the crate docs say why).
mod seam;
#[allow(clippy::duplicate_mod)]
#[path = "sql/mod.rs"]
mod sql;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use palisade_core::error::{Error, Result};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, SqlitePool};
use tokio::sync::Mutex;

/// Connection settings with sane defaults.
#[derive(Debug, Clone)]
pub struct SqliteConfig {
    /// `sqlite://path/to/file.db` (an in-memory database would be one per connection).
    pub url: String,
    pub max_connections: u32,
    /// How long a writer waits for the write lock before giving up.
    pub busy_timeout: Duration,
    /// How long a request waits for a pooled connection.
    pub acquire_timeout: Duration,
}

impl SqliteConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 8,
            busy_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// The SQLite store. Cheap to clone (a pool handle).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The one connection every write of this process runs on, behind the queue of this
    /// process's writers (FIFO). Writes are serial anyway (one writer at a time); on one
    /// connection they run on one SQLite worker thread with one warm page cache, where rotating
    /// through the pool made each write re-read pages another connection had changed (16
    /// concurrent allocators: 1,844 allocations/s rotating, 4,199 on one connection). Holding
    /// the connection itself, not a one-connection pool, spares each writer waiting for the
    /// previous one's connection to come back to the pool. SQLite admits one writer at a time;
    /// letting contenders spin in its busy handler (which sleeps up to 100 ms between polls)
    /// costs far more tail latency than waiting in line here. Other processes on the same file
    /// still wait through `busy_timeout`.
    writer: Arc<Mutex<seam::Writer>>,
    /// Announced after each commit that changed policy: a SQLite database has one process
    /// writing it, so that reaches every waiter.
    changes: Arc<palisade_core::changes::PolicyChanges>,
    /// Writers of this process waiting for `writer` (`/metrics`).
    write_queue: Arc<std::sync::atomic::AtomicU64>,
    /// Time waited for handles and transactions (`/metrics`).
    waits: Arc<sql::Waits>,
    /// What policy snapshots last read and the next may keep: groups' rules by rules version,
    /// servers by servers' revision and version (`sql::snapshot`).
    kept: Arc<sql::SnapshotCache>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database and applies pending migrations.
    pub async fn connect(config: &SqliteConfig) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(&config.url)
            .map_err(|e| Error::Unavailable(format!("invalid SQLite URL: {e}")))?;
        if let Some(parent) = Path::new(options.get_filename()).parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| Error::Unavailable(format!("cannot create {}: {e}", parent.display())))?;
            }
        }
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(config.busy_timeout);
        // A connection to a local file does not go stale: no ping (a round trip to the
        // connection's worker thread) before each use.
        let pool = SqlitePoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.acquire_timeout)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await
            .map_err(seam::db_error)?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| Error::Unavailable(format!("migrating the SQLite database failed: {e}")))?;
        let writer = options.connect().await.map_err(seam::db_error)?;
        Ok(Self {
            pool,
            writer: Arc::new(Mutex::new(seam::Writer::new(writer))),
            changes: Arc::default(),
            write_queue: Default::default(),
            waits: Arc::default(),
            kept: Arc::default(),
        })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// Writes a consistent copy of the database at `url` to `to` (a new file) while servers use
/// it: SQLite's `VACUUM INTO` reads one snapshot, so writers carry on and the copy holds no
/// half of any transaction. The database is opened as it is: not created, not migrated (a
/// backup taken before an upgrade is of the old version).
pub async fn backup(url: &str, to: &Path) -> Result<()> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| Error::Unavailable(format!("invalid SQLite URL: {e}")))?
        .create_if_missing(false)
        .read_only(true);
    let mut conn = options.connect().await.map_err(seam::db_error)?;
    let to = to.to_str().ok_or_else(|| Error::Unavailable("the backup path is not UTF-8".into()))?;
    sqlx::query("VACUUM INTO $1").bind(to).execute(&mut conn).await.map_err(seam::db_error)?;
    Ok(())
}
