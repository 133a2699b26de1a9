//! [`Store`] on embedded SQLite: Palisade's zero-setup default backend.
//!
//! One file, WAL journal, foreign keys on. Every write runs in a `BEGIN IMMEDIATE` transaction
//! so that SQLite takes the write lock up front: a deferred transaction that reads and then
//! writes can fail with `SQLITE_BUSY` midway, which would turn a lost race into a 500 instead of
//! a clean wait. Uniqueness is left to the unique indexes in `migrations/` and the violation is
//! translated into [`Error::AlreadyExists`]. Queries are checked at run time (no compile-time
//! macros), so building needs no database and no committed query metadata.

mod address_lists;
mod hosts;
mod ipam;
mod policy;
mod rows;
mod store_impl;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use palisade_core::error::{Error, Result};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// Connection settings with sane defaults.
#[derive(Debug, Clone)]
pub struct SqliteConfig {
    /// `sqlite://path/to/file.db` or `sqlite::memory:`.
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
    /// Queues this process's writers in FIFO order. SQLite admits one writer at a time; letting
    /// contenders spin in its busy handler (which sleeps up to 100 ms between polls) costs far
    /// more tail latency than waiting in line here. Other processes on the same file still
    /// wait through `busy_timeout`.
    writer: Arc<Mutex<()>>,
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
        let pool = SqlitePoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(config.acquire_timeout)
            .connect_with(options)
            .await
            .map_err(db_error)?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| Error::Unavailable(format!("migrating the SQLite database failed: {e}")))?;
        Ok(Self { pool, writer: Arc::new(Mutex::new(())) })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A write transaction holding SQLite's write lock from its first statement.
    pub(crate) async fn write(&self) -> Result<WriteTx> {
        let turn = self.writer.clone().lock_owned().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_error)?;
        Ok(WriteTx { tx, _turn: turn })
    }

    /// A read transaction: one consistent snapshot for multi-query reads.
    pub(crate) async fn read(&self) -> Result<Transaction<'static, Sqlite>> {
        self.pool.begin().await.map_err(db_error)
    }
}

/// A write transaction and this process's writer turn, released together on commit or drop.
pub(crate) struct WriteTx {
    tx: Transaction<'static, Sqlite>,
    _turn: OwnedMutexGuard<()>,
}

impl WriteTx {
    pub(crate) async fn commit(self) -> Result<()> {
        self.tx.commit().await.map_err(db_error)
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::SqliteConnection;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

/// Maps driver errors that are not constraint violations.
pub(crate) fn db_error(e: sqlx::Error) -> Error {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            Error::Unavailable(format!("database unavailable: {e}"))
        }
        sqlx::Error::Database(ref db)
            if db.code().as_deref() == Some("5") || db.code().as_deref() == Some("6") =>
        {
            // SQLITE_BUSY / SQLITE_LOCKED after the busy timeout.
            Error::Unavailable(format!("database busy: {e}"))
        }
        other => Error::internal(format!("database error: {other}")),
    }
}

/// Maps a unique-index violation on `index_column` (e.g. `organizations.sub_domain`) to
/// [`Error::AlreadyExists`], and a foreign-key violation to `missing` not found.
pub(crate) fn constraint_error(
    e: sqlx::Error,
    unique: &[(&str, &'static str, &'static str)],
    missing: &'static str,
) -> Error {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            let message = db.message();
            for (column, kind, field) in unique {
                if message.contains(column) {
                    return Error::AlreadyExists { kind, field: (*field).to_owned() };
                }
            }
        }
        if db.is_foreign_key_violation() {
            return Error::not_found(missing);
        }
    }
    db_error(e)
}

/// `Ok` when a statement touched a row, else `kind` not found.
pub(crate) fn found(done: sqlx::sqlite::SqliteQueryResult, kind: &'static str) -> Result<()> {
    if done.rows_affected() == 0 {
        Err(Error::not_found(kind))
    } else {
        Ok(())
    }
}
