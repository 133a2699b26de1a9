//! Test support shared by the store suite and the HTTP suite.
//!
//! [`TestDatabase`] gives each test its own database on the chosen backend: a SQLite file in a
//! temporary directory, or a freshly created PostgreSQL database that is dropped afterwards.
//! PostgreSQL is never skipped silently: if it cannot be reached, the test fails and says how
//! to start it.

// Test support: a panic is how a failed check is reported.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod netns;
pub mod suite;

/// `once!(store, method(args…))`: one store call in a write transaction of its own (a write
/// transaction reads too), committed when the call succeeds and rolled back when it fails, as
/// a request that does one thing would do.
/// Grants for driving a store without a principal (the `test-grants` feature of the core):
/// the store suite, the HTTP suite's fixtures and the benchmarks. [`op`] stands for the
/// operator; the others are the grant of an object's organization, read from the store where
/// only an id is at hand (each read takes a pooled connection of its own: concurrent tests
/// that already hold write transactions take their grants first, or the pool runs dry).
pub mod grants {
    use std::sync::Arc;

    use palisade_core::id::{AddressListEntryId, AddressListId, OrganizationId, RuleId, SecurityGroupId};
    use palisade_core::id::{ServerGroupId, TagId};
    use palisade_core::{Grant, ListGrant, OperatorGrant, Store};

    pub fn op() -> OperatorGrant {
        OperatorGrant::for_tests()
    }

    pub fn grant(org: OrganizationId) -> Grant {
        Grant::for_tests(org)
    }

    /// The grant for a list of this owner (an organization, or none for a global list).
    pub fn list_grant(owner: Option<OrganizationId>) -> ListGrant {
        match owner {
            Some(org) => ListGrant::Organization(grant(org)),
            None => ListGrant::Global(op()),
        }
    }

    async fn read(store: &Arc<dyn Store>) -> Box<dyn palisade_core::Reads> {
        store.read().await.expect("a read handle")
    }

    /// The grant of a group's organization (a random one if there is no such group, so that
    /// writes naming it are refused as not found).
    pub async fn group_grant(store: &Arc<dyn Store>, id: SecurityGroupId) -> Grant {
        let group = read(store).await.security_group(id).await.expect("read");
        grant(group.map_or_else(OrganizationId::random, |g| g.organization_id))
    }

    pub async fn rule_grant(store: &Arc<dyn Store>, id: RuleId) -> Grant {
        match read(store).await.rule(id).await.expect("read") {
            Some(rule) => group_grant(store, rule.group_id).await,
            None => grant(OrganizationId::random()),
        }
    }

    pub async fn tag_grant(store: &Arc<dyn Store>, id: TagId) -> Grant {
        let tag = read(store).await.tag(id).await.expect("read");
        grant(tag.map_or_else(OrganizationId::random, |t| t.organization_id))
    }

    pub async fn server_group_grant(store: &Arc<dyn Store>, id: ServerGroupId) -> Grant {
        let group = read(store).await.server_group(id).await.expect("read");
        grant(group.map_or_else(OrganizationId::random, |g| g.organization_id))
    }

    pub async fn list_grant_of(store: &Arc<dyn Store>, id: AddressListId) -> ListGrant {
        match read(store).await.address_list(id).await.expect("read") {
            Some(list) => list_grant(list.organization_id),
            None => list_grant(Some(OrganizationId::random())),
        }
    }

    pub async fn entry_grant(store: &Arc<dyn Store>, id: AddressListEntryId) -> ListGrant {
        match read(store).await.address_list_entry(id).await.expect("read") {
            Some(entry) => list_grant_of(store, entry.list_id).await,
            None => list_grant(Some(OrganizationId::random())),
        }
    }
}

#[macro_export]
macro_rules! once {
    ($store:expr, $method:ident ( $($arg:expr),* $(,)? )) => {{
        #[allow(unused_imports)]
        use ::palisade_core::{Reads as _, Store as _, Writes as _};
        async {
            let mut tx = $store.write().await?;
            let out = tx.$method($($arg),*).await?;
            tx.commit().await?;
            Ok::<_, ::palisade_core::error::Error>(out)
        }
        .await
    }};
}

use std::sync::Arc;

use palisade_core::Store;
use palisade_store::postgres::{PostgresConfig, PostgresStore};
use palisade_store::sqlite::{SqliteConfig, SqliteStore};
use sqlx::Connection;

/// Where the PostgreSQL server for tests is, as an administrative URL (a database to connect to
/// while creating and dropping per-test databases).
pub const POSTGRES_ADMIN_URL_ENV: &str = "PALISADE_TEST_POSTGRES_URL";
pub const DEFAULT_POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// Selects the backend of the HTTP integration suite: `sqlite` (default) or `postgres`.
pub const BACKEND_ENV: &str = "PALISADE_TEST_BACKEND";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend named by `PALISADE_TEST_BACKEND`.
    pub fn from_env() -> Self {
        match std::env::var(BACKEND_ENV).as_deref() {
            Ok("postgres") | Ok("postgresql") => Backend::Postgres,
            Ok("sqlite") | Ok("") | Err(_) => Backend::Sqlite,
            Ok(other) => panic!("{BACKEND_ENV}={other}: expected sqlite or postgres"),
        }
    }
}

pub fn postgres_admin_url() -> String {
    std::env::var(POSTGRES_ADMIN_URL_ENV).unwrap_or_else(|_| DEFAULT_POSTGRES_ADMIN_URL.to_owned())
}

/// A URL with its database name replaced.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map(|(b, q)| (b, Some(q))).unwrap_or((url, None));
    let base = base.rsplit_once('/').map(|(b, _)| b).unwrap_or(base);
    match query {
        Some(q) => format!("{base}/{database}?{q}"),
        None => format!("{base}/{database}"),
    }
}

/// One test's database, removed when dropped.
#[derive(Debug)]
pub struct TestDatabase {
    pub backend: Backend,
    /// The URL `palisade serve --database-url` would take.
    pub url: String,
    /// The SQLite file, for tests that inspect it.
    pub sqlite_path: Option<std::path::PathBuf>,
    postgres_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let path = dir.path().join("palisade.db");
                Self {
                    backend,
                    url: format!("sqlite://{}", path.display()),
                    sqlite_path: Some(path),
                    postgres_name: None,
                    _dir: Some(dir),
                }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let name = format!("palisade_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL tests need a server at {admin} ({e}). Start it with \
                         `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` \
                         or set {POSTGRES_ADMIN_URL_ENV}."
                    )
                });
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let _ = conn.close().await;
                Self {
                    backend,
                    url: with_database(&admin, &name),
                    sqlite_path: None,
                    postgres_name: Some(name),
                    _dir: None,
                }
            }
        }
    }

    /// The database named by `PALISADE_TEST_BACKEND`.
    pub async fn from_env() -> Self {
        Self::new(Backend::from_env()).await
    }

    /// Opens a store on this database (migrations applied).
    pub async fn store(&self) -> Arc<dyn Store> {
        match self.backend {
            Backend::Sqlite => Arc::new(self.sqlite().await),
            Backend::Postgres => Arc::new(self.postgres().await),
        }
    }

    pub async fn sqlite(&self) -> SqliteStore {
        SqliteStore::connect(&SqliteConfig::new(self.url.clone())).await.expect("open SQLite store")
    }

    pub async fn postgres(&self) -> PostgresStore {
        let mut config = PostgresConfig::new(self.url.clone());
        config.max_connections = 8;
        PostgresStore::connect(&config).await.expect("open PostgreSQL store")
    }

    /// Everything stored, as text: the SQLite files' bytes, or every PostgreSQL row cast to
    /// text. For tests that prove a secret never reached the database.
    pub async fn stored_text(&self) -> String {
        match self.backend {
            Backend::Sqlite => {
                let path = self.sqlite_path.as_ref().expect("sqlite path");
                ["", "-wal", "-shm"]
                    .iter()
                    .map(|suffix| {
                        let file = format!("{}{suffix}", path.display());
                        String::from_utf8_lossy(&std::fs::read(file).unwrap_or_default()).into_owned()
                    })
                    .collect()
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.expect("connect");
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
                )
                .fetch_all(&mut conn)
                .await
                .expect("list tables");
                let mut text = String::new();
                for table in tables {
                    let rows: Vec<String> =
                        sqlx::query_scalar(&format!("SELECT CAST(t.* AS TEXT) FROM {table} t"))
                            .fetch_all(&mut conn)
                            .await
                            .expect("dump table");
                    text.push_str(&rows.join("\n"));
                }
                let _ = conn.close().await;
                text
            }
        }
    }

    /// Runs one SQL statement straight on the database (for tests that change what the API
    /// cannot, such as a user's stored password), returning the rows it affected.
    pub async fn execute(&self, sql: &str) -> u64 {
        match self.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.expect("connect");
                let done = sqlx::query(sql).execute(&mut conn).await.expect("execute");
                let _ = conn.close().await;
                done.rows_affected()
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.expect("connect");
                let done = sqlx::query(sql).execute(&mut conn).await.expect("execute");
                let _ = conn.close().await;
                done.rows_affected()
            }
        }
    }

    /// Row count of a table.
    pub async fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        match self.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.expect("connect");
                let n = sqlx::query_scalar(&sql).fetch_one(&mut conn).await.expect("count");
                let _ = conn.close().await;
                n
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.expect("connect");
                let n = sqlx::query_scalar(&sql).fetch_one(&mut conn).await.expect("count");
                let _ = conn.close().await;
                n
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(name) = self.postgres_name.take() else { return };
        let admin = postgres_admin_url();
        // Drop may run inside a runtime; do the async clean-up on a thread of its own.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .ok()?;
                conn.close().await.ok()
            })
        });
        let _ = done.join();
    }
}

/// Whether `nft -c -f -` accepts `script`: nftables parses it and validates it against the
/// kernel, applying nothing (needs `nft` and CAP_NET_ADMIN; `scripts/test.sh` installs
/// nftables where it is missing). `Err` holds nft's complaint.
pub fn nft_check(script: &str) -> Result<(), String> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new("nft")
        .args(["-c", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("nft (install nftables; scripts/test.sh does): {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(script.as_bytes()).map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}
