//! The SQL of every store operation, written once and compiled once per backend (`sqlite.rs` and
//! `postgres.rs` include this directory with `#[path]`). Backend differences reach this code
//! only through `db`, the including backend's seam: its types, encodings, a few SQL fragments
//! and its error mapping (see the crate docs).
//!
//! Each operation is a method of the transaction handle [`Tx`], in the module of its domain,
//! implementing that domain's trait of the core (`tenancy` implements `TenancyReads` and
//! `TenancyWrites`, and so on); `store` implements the core's `Store` on top: opening handles.
//! A [`WriteTx`]'s commit bumps the policy revisions its writes touched (`revisions`).

mod address_lists;
mod grants;
mod hosts;
mod inventory;
mod ipam;
mod policy;
mod records;
mod revisions;
mod rows;
mod rules;
mod snapshot;
mod store;
mod tenancy;

use std::sync::Arc;

use palisade_core::changes::PolicyChanges;
use palisade_core::error::{Error, Result};
use palisade_core::{Page, PageRequest};
use uuid::Uuid;

use super::seam as db;
use db::SEQ;

pub(crate) use rows::get;
pub(crate) use snapshot::SnapshotCache;

/// How long callers waited for read handles and write transactions, in all (`/metrics`: the
/// pool's wait). Counted where both backends open them (`store`), so it holds for both.
#[derive(Debug, Default)]
pub(crate) struct Waits {
    count: std::sync::atomic::AtomicU64,
    micros: std::sync::atomic::AtomicU64,
}

impl Waits {
    pub(crate) fn note(&self, waited: std::time::Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        self.count.fetch_add(1, Relaxed);
        self.micros.fetch_add(u64::try_from(waited.as_micros()).unwrap_or(u64::MAX), Relaxed);
    }

    /// Handles opened, and the time waited for them.
    pub(crate) fn totals(&self) -> (u64, std::time::Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.count.load(Relaxed), std::time::Duration::from_micros(self.micros.load(Relaxed)))
    }
}

/// A transaction handle: `Tx<db::Read>` reads (on SQLite one snapshot), a [`WriteTx`] also
/// writes. Every store operation is a method of it, in the module of its domain, implementing
/// that domain's trait of the core: reads on every `Tx`, writes on [`WriteTx`] only. Dropped
/// without commit, it rolls back.
pub(crate) struct Tx<S>(S);

/// A write transaction (the seam's `WriteConn`: on SQLite this process's writer connection and
/// turn), released on commit or drop.
pub(crate) type WriteTx = Tx<Writing>;

/// What a transaction runs on: a connection of the backend.
pub(crate) trait Connection: std::ops::DerefMut<Target = db::Conn> + Send {}

impl<C: std::ops::DerefMut<Target = db::Conn> + Send> Connection for C {}

impl<S: Connection> std::ops::Deref for Tx<S> {
    type Target = db::Conn;
    fn deref(&self) -> &db::Conn {
        &self.0
    }
}

impl<S: Connection> std::ops::DerefMut for Tx<S> {
    fn deref_mut(&mut self) -> &mut db::Conn {
        &mut self.0
    }
}

/// A write transaction's connection, and the organizations whose policy its writes changed,
/// to bump their revisions once at commit.
pub(crate) struct Writing {
    tx: db::WriteConn,
    touched: revisions::Touched,
    changes: Arc<PolicyChanges>,
}

impl WriteTx {
    pub(crate) fn new(tx: db::WriteConn, changes: Arc<PolicyChanges>) -> Self {
        Tx(Writing { tx, touched: revisions::Touched::default(), changes })
    }

    /// Bumps the touched organizations' policy revisions and announces them (to other nodes
    /// where the backend has any, at commit), commits, then announces them to this node's
    /// waiters ([`palisade_core::changes`]).
    pub(crate) async fn commit(self) -> Result<()> {
        let Writing { mut tx, mut touched, changes } = self.0;
        touched.bump(&mut tx).await?;
        db::announce(&mut tx, touched.payloads()).await?;
        db::commit(tx).await?;
        touched.announce(&changes);
        Ok(())
    }

    /// Marks `org`'s policy as changed by this transaction, its servers possibly too: its
    /// revision and its servers' revision are bumped at commit.
    fn touch(&mut self, org: palisade_core::id::OrganizationId) {
        self.0.touched.org(org);
    }

    /// [`WriteTx::touch`] for a write of groups or rules only, which leaves the servers'
    /// revision (a snapshot keeps the servers it read).
    fn touch_groups(&mut self, org: palisade_core::id::OrganizationId) {
        self.0.touched.groups(org);
    }
}

impl std::ops::Deref for Writing {
    type Target = db::Conn;
    fn deref(&self) -> &db::Conn {
        &self.tx
    }
}

impl std::ops::DerefMut for Writing {
    fn deref_mut(&mut self) -> &mut db::Conn {
        &mut self.tx
    }
}

/// The unique indexes a write can violate, by meaning; the seam knows each one's name on its
/// backend, this knows the error it is reported as.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Unique {
    SubDomain,
    Username,
    DataCenterPermalink,
    NetworkPermalink,
    SharedDefaultNetwork,
    ServerTag,
    AddressInNetwork,
    GroupName,
    GroupId,
    JobId,
    TagName,
    ListEntryAddress,
    HostName,
}

impl Unique {
    /// [`Error::AlreadyExists`] with the kind of object and the offending field's path.
    fn error(self) -> Error {
        let (kind, field) = match self {
            Unique::SubDomain => ("organization", "sub_domain"),
            Unique::Username => ("user", "username"),
            Unique::DataCenterPermalink => ("data center", "permalink"),
            Unique::NetworkPermalink => ("network", "permalink"),
            Unique::SharedDefaultNetwork => ("default network", "data_center_id"),
            Unique::ServerTag => ("tag", "tags"),
            Unique::AddressInNetwork => ("address", "address"),
            Unique::GroupName => ("security group", "name"),
            Unique::GroupId => ("security group", "id"),
            Unique::JobId => ("job", "id"),
            Unique::TagName => ("tag", "name"),
            Unique::ListEntryAddress => ("address list entry", "address"),
            Unique::HostName => ("server", "name"),
        };
        Error::AlreadyExists { kind, field: field.to_owned() }
    }
}

/// Maps a violation of one of `unique` to [`Error::AlreadyExists`], a foreign-key violation to
/// `missing` not found, and anything else through the seam's `db_error`.
pub(crate) fn constraint_error(e: sqlx::Error, unique: &[Unique], missing: &'static str) -> Error {
    if let sqlx::Error::Database(d) = &e {
        if d.is_unique_violation() {
            if let Some(u) = unique.iter().find(|u| db::violates(d.as_ref(), **u)) {
                return u.error();
            }
        }
        if d.is_foreign_key_violation() {
            return Error::not_found(missing);
        }
    }
    db::db_error(e)
}

/// `Ok` when a statement touched a row, else `kind` not found.
pub(crate) fn found(done: db::Done, kind: &'static str) -> Result<()> {
    if done.rows_affected() == 0 {
        Err(Error::not_found(kind))
    } else {
        Ok(())
    }
}

pub(crate) fn position(i: usize) -> i32 {
    i32::try_from(i).unwrap_or(i32::MAX)
}

fn limit(page: PageRequest) -> i64 {
    i64::try_from(page.limit()).unwrap_or(i64::MAX)
}

fn offset(page: PageRequest) -> i64 {
    i64::try_from(page.offset()).unwrap_or(i64::MAX)
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

pub(crate) async fn fetch_all(conn: &mut db::Conn, query: db::Query<'_>) -> Result<Vec<db::Row>> {
    query.fetch_all(conn).await.map_err(db::db_error)
}

async fn fetch_optional(conn: &mut db::Conn, query: db::Query<'_>) -> Result<Option<db::Row>> {
    query.fetch_optional(conn).await.map_err(db::db_error)
}

async fn execute(conn: &mut db::Conn, query: db::Query<'_>) -> Result<db::Done> {
    query.execute(conn).await.map_err(db::db_error)
}

/// The row of `table` with this id, decoded.
async fn by_id<T>(
    conn: &mut db::Conn,
    table: &str,
    id: Uuid,
    decode: fn(&db::Row) -> Result<T>,
) -> Result<Option<T>> {
    let sql = format!("SELECT * FROM {table} WHERE id = $1");
    fetch_optional(conn, sqlx::query(&sql).bind(id)).await?.as_ref().map(decode).transpose()
}

/// Deletes the row of `table` with this id; `kind` not found when there is none.
async fn delete_by_id(conn: &mut db::Conn, table: &str, id: Uuid, kind: &'static str) -> Result<()> {
    let sql = format!("DELETE FROM {table} WHERE id = $1");
    found(execute(conn, sqlx::query(&sql).bind(id)).await?, kind)
}

/// Locks the row of `table` with this id until commit, where rows lock (PostgreSQL); on SQLite
/// the write transaction already holds the whole database, so this costs nothing there.
async fn lock_row(conn: &mut db::Conn, table: &str, id: Uuid) -> Result<()> {
    if !db::FOR_UPDATE.is_empty() {
        let sql = format!("SELECT 1 FROM {table} WHERE id = $1{}", db::FOR_UPDATE);
        fetch_optional(conn, sqlx::query(&sql).bind(id)).await?;
    }
    Ok(())
}

/// One page of the rows `from` a table (an optional owner bound to `$1`), in creation order,
/// with the total.
async fn page_of<T>(
    conn: &mut db::Conn,
    page: PageRequest,
    owner: Option<Uuid>,
    from: &str,
    decode: fn(&db::Row) -> Result<T>,
) -> Result<Page<T>> {
    let at = if owner.is_some() { 2 } else { 1 };
    let count_sql = format!("SELECT COUNT(*) {from}");
    let list_sql = format!("SELECT * {from} ORDER BY {SEQ} LIMIT ${at} OFFSET ${}", at + 1);
    let mut total = sqlx::query_scalar::<_, i64>(&count_sql);
    let mut list = sqlx::query(&list_sql);
    if let Some(owner) = owner {
        total = total.bind(owner);
        list = list.bind(owner);
    }
    let total = total.fetch_one(&mut *conn).await.map_err(db::db_error)?;
    let rows = fetch_all(conn, list.bind(limit(page)).bind(offset(page))).await?;
    let items = rows.iter().map(decode).collect::<Result<_>>()?;
    Ok(Page { items, total: count(total), request: page })
}

/// Rows per `INSERT` statement of [`insert_rows`]: far below either backend's parameter limit.
const ROWS_PER_INSERT: usize = 500;

/// Inserts one row per item into `into` (`table (columns)`) with multi-row `VALUES`: `bind`
/// binds an item's value of each column, in order, given the item's index (for `position`).
/// One statement per [`ROWS_PER_INSERT`] items on both backends; not kept in the prepared
/// statement cache, as each length is its own statement.
async fn insert_rows<T>(
    conn: &mut db::Conn,
    into: &str,
    items: &[T],
    bind: impl for<'q> Fn(db::Query<'q>, usize, &'q T) -> db::Query<'q>,
    error: impl Fn(sqlx::Error) -> Error,
) -> Result<()> {
    let width = into.split_once('(').map_or(0, |(_, columns)| columns.split(',').count());
    for (chunk_index, chunk) in items.chunks(ROWS_PER_INSERT).enumerate() {
        let rows: Vec<String> = (0..chunk.len())
            .map(|r| {
                let marks: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
                format!("({})", marks.join(", "))
            })
            .collect();
        let sql = format!("INSERT INTO {into} VALUES {}", rows.join(", "));
        let mut query = sqlx::query(&sql).persistent(false);
        for (i, item) in chunk.iter().enumerate() {
            query = bind(query, chunk_index * ROWS_PER_INSERT + i, item);
        }
        query.execute(&mut *conn).await.map_err(&error)?;
    }
    Ok(())
}
