//! [`Store`] on PostgreSQL: any number of stateless `palisade serve` processes share one
//! database.
//!
//! Everything that must be consistent across nodes is in the database: uniqueness is enforced
//! by constraints (the loser of a race gets a clean [`Error::AlreadyExists`] or
//! [`Error::Conflict`]), the operator token's hash is a row, and nothing is cached per process.
//! The pool fails fast when the database is unreachable (requests get 503, `/readyz` reports it)
//! and heals by itself when it returns: broken connections are tested and replaced on acquire.

mod address_lists;
mod hosts;
mod ipam;
mod policy;
mod rows;
mod store_impl;

use std::str::FromStr;
use std::time::Duration;

use palisade_core::error::{Error, Result};
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
            .test_before_acquire(true)
            .connect_lazy_with(options);
        if let Err(e) = sqlx::migrate!("./migrations").run(&pool).await {
            pool.close().await;
            return Err(Error::Unavailable(format!("migrating the PostgreSQL database failed: {e}")));
        }
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Maps driver errors that are not constraint violations.
pub(crate) fn db_error(e: sqlx::Error) -> Error {
    match &e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
            Error::Unavailable(format!("database unavailable: {e}"))
        }
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // query_canceled (statement timeout), admin_shutdown, crash_shutdown,
            // cannot_connect_now, serialization/deadlock failures: retryable, not the caller's fault.
            Some("57014" | "57P01" | "57P02" | "57P03" | "40001" | "40P01") => {
                Error::Unavailable(format!("database unavailable: {e}"))
            }
            // A NUL character, which PostgreSQL cannot hold in `text` (22021
            // character_not_in_repertoire: "invalid byte sequence for encoding UTF8: 0x00") or
            // in `jsonb` (22P05 untranslatable_character: "\u0000 cannot be converted to
            // text"). The core refuses NUL in every field it knows of; this backstop keeps a
            // field missed later a client error rather than a 500.
            Some("22021" | "22P05") => {
                tracing::warn!(error = %e, "PostgreSQL refused a character; a field lacks validation");
                palisade_core::validate::invalid_characters("")
            }
            _ => Error::internal(format!("database error: {e}")),
        },
        _ => Error::internal(format!("database error: {e}")),
    }
}

/// Maps a unique violation of one of `unique`'s constraints (by name) to
/// [`Error::AlreadyExists`], and a foreign-key violation to `missing` not found.
pub(crate) fn constraint_error(
    e: sqlx::Error,
    unique: &[(&str, &'static str, &'static str)],
    missing: &'static str,
) -> Error {
    if let sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            let constraint = db.constraint().unwrap_or_default();
            for (name, kind, field) in unique {
                if constraint == *name {
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
pub(crate) fn found(done: sqlx::postgres::PgQueryResult, kind: &'static str) -> Result<()> {
    if done.rows_affected() == 0 {
        Err(Error::not_found(kind))
    } else {
        Ok(())
    }
}
