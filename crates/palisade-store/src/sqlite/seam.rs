//! SQLite's side of the seam: everything the shared SQL (`sql`) needs that PostgreSQL does
//! differently. Ids are 16-byte BLOBs (sqlx binds `Uuid` so), times Unix seconds, addresses
//! their octets (byte order is numeric order), CIDR lists space-separated text; creation order
//! is the `rowid`; there are no row locks, since a writer holds the whole database.

use std::net::IpAddr;

use ipnet::IpNet;
use palisade_core::error::{Error, Result};
use sqlx::error::DatabaseError;
use sqlx::sqlite::SqliteArguments;
use time::OffsetDateTime;
use uuid::Uuid;

use super::sql::{get, Unique, WriteTx};
use super::SqliteStore;

pub(crate) type Db = sqlx::Sqlite;
pub(crate) type Conn = sqlx::SqliteConnection;
pub(crate) type Row = sqlx::sqlite::SqliteRow;
pub(crate) type Done = sqlx::sqlite::SqliteQueryResult;
pub(crate) type Query<'q> = sqlx::query::Query<'q, Db, SqliteArguments<'q>>;
pub(crate) type Handle = SqliteStore;
/// A read: a deferred transaction, so a multi-query read sees one snapshot.
pub(crate) type Read = sqlx::Transaction<'static, Db>;

/// How to select the child rows of many parents (the remotes and ports of the rules of some
/// groups): through a subquery over the parents. SQLite walks it and seeks each child by
/// index; binding thousands of ids one by one costs more than that (the ports of 10,000 rules:
/// 38 ms through a subquery over their parents, 165 ms by id).
pub(crate) const CHILDREN_THROUGH_PARENTS: bool = true;

/// The column that orders a table's rows by creation.
pub(crate) const SEQ: &str = "rowid";
/// Row locks: none needed, the transaction holds the database's write lock.
pub(crate) const FOR_UPDATE: &str = "";
pub(crate) const FOR_SHARE: &str = "";
/// JSON columns are TEXT: a text parameter needs no cast.
pub(crate) const JSON: &str = "";
/// A group's members (of `security_groups g`) as one JSON array of strings, in their order: a
/// kind letter (`s` server, `g` server group, `t` tag) then the id in hex. A page of groups
/// then carries its members in its own rows instead of a second query of one row per member.
pub(crate) const GROUP_MEMBERS_JSON: &str = "(SELECT json_group_array(CASE
        WHEN m.server_id IS NOT NULL THEN 's' || hex(m.server_id)
        WHEN m.server_group_id IS NOT NULL THEN 'g' || hex(m.server_group_id)
        WHEN m.network_id IS NOT NULL THEN 'n' || hex(m.network_id)
        WHEN m.interface_id IS NOT NULL THEN 'i' || hex(m.interface_id)
        ELSE 't' || hex(m.tag_id) END ORDER BY m.position)
    FROM security_group_members m WHERE m.group_id = g.id)";
/// A group's annotations as one JSON array of `[key, value]` pairs, in their order.
pub(crate) const GROUP_ANNOTATIONS_JSON: &str =
    "(SELECT json_group_array(json_array(a.key, a.value) ORDER BY a.position)
    FROM security_group_annotations a WHERE a.group_id = g.id)";
/// True for an IPv4 row of `ip_addresses`.
pub(crate) const IPV4: &str = "length(address) = 4";

/// This process's one write connection, and whether a transaction was left open on it (its
/// holder was dropped without committing: the next writer rolls it back first).
#[derive(Debug)]
pub(crate) struct Writer {
    conn: Conn,
    open: bool,
}

impl Writer {
    pub(crate) fn new(conn: Conn) -> Self {
        Self { conn, open: false }
    }
}

/// A write transaction: this process's writer connection, held (so other writers of this
/// process queue, FIFO) from `BEGIN IMMEDIATE` to `COMMIT`. Every write runs on the one
/// connection: one SQLite worker thread, one warm page cache, and no hand-off through a pool
/// between one writer and the next.
pub(crate) struct WriteConn(tokio::sync::OwnedMutexGuard<Writer>);

impl std::ops::Deref for WriteConn {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.0.conn
    }
}

impl std::ops::DerefMut for WriteConn {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.0.conn
    }
}

/// A write transaction holding SQLite's write lock from its first statement, after this
/// process's earlier writers. A transaction its holder dropped without committing is rolled
/// back first (a dropped `WriteTx` cannot run SQL itself).
pub(crate) async fn write(store: &Handle) -> Result<WriteTx> {
    let mut turn = {
        let _waiting = Waiting::new(&store.write_queue);
        store.writer.clone().lock_owned().await
    };
    if turn.open {
        sqlx::query("ROLLBACK").execute(&mut turn.conn).await.map_err(db_error)?;
        turn.open = false;
    }
    sqlx::query("BEGIN IMMEDIATE").execute(&mut turn.conn).await.map_err(db_error)?;
    turn.open = true;
    Ok(WriteTx::new(WriteConn(turn), store.changes.clone()))
}

/// Nothing to tell other processes: one process writes a SQLite database, and the commit's own
/// announcement reaches every waiter of this one.
pub(crate) async fn announce(_: &mut Conn, _: Vec<String>) -> Result<()> {
    Ok(())
}

/// Closes the pool, then leaves write-ahead logging on the writer connection, the last one
/// open: SQLite checkpoints the log into the database and removes `-wal` and `-shm` (a process
/// killed before this leaves them, and the next start recovers from them). If another process
/// has the database open the switch is refused, and the files stay for it.
pub(crate) async fn close(store: &Handle) {
    store.pool.close().await;
    let mut writer = store.writer.lock().await;
    if writer.open {
        let _ = sqlx::query("ROLLBACK").execute(&mut writer.conn).await;
        writer.open = false;
    }
    if let Err(e) = sqlx::query("PRAGMA journal_mode = DELETE").execute(&mut writer.conn).await {
        tracing::debug!(error = %e, "the write-ahead log stays: another process has the database open");
    }
}

pub(crate) fn policy_changes(store: &Handle) -> std::sync::Arc<palisade_core::changes::PolicyChanges> {
    store.changes.clone()
}

pub(crate) async fn commit(mut tx: WriteConn) -> Result<()> {
    sqlx::query("COMMIT").execute(&mut tx.0.conn).await.map_err(db_error)?;
    tx.0.open = false;
    Ok(())
}

pub(crate) async fn read(store: &Handle) -> Result<Read> {
    store.pool.begin().await.map_err(db_error)
}

/// One consistent read of several queries (a policy snapshot): a deferred transaction. In WAL
/// mode its first query fixes the state it reads, and every later query of the transaction sees
/// that state, whatever commits meanwhile; it takes no lock, so writers carry on.
pub(crate) async fn consistent_read(store: &Handle) -> Result<sqlx::Transaction<'static, Db>> {
    store.pool.begin().await.map_err(db_error)
}

/// A time as bound to a query.
pub(crate) type Time = i64;

pub(crate) fn time(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

pub(crate) fn time_of(row: &Row, col: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(get(row, col)?).map_err(Error::internal)
}

pub(crate) fn opt_time_of(row: &Row, col: &str) -> Result<Option<OffsetDateTime>> {
    let secs: Option<i64> = get(row, col)?;
    secs.map(|s| OffsetDateTime::from_unix_timestamp(s).map_err(Error::internal)).transpose()
}

pub(crate) fn addr(address: IpAddr) -> Vec<u8> {
    palisade_core::ipam::octets(address)
}

pub(crate) fn addr_of(row: &Row, col: &str) -> Result<IpAddr> {
    let raw: Vec<u8> = get(row, col)?;
    palisade_core::ipam::from_octets(&raw)
        .ok_or_else(|| Error::internal(format!("column {col} is not an address")))
}

pub(crate) fn net(net: &IpNet) -> String {
    net.to_string()
}

pub(crate) fn net_of(row: &Row, col: &str) -> Result<IpNet> {
    let text: String = get(row, col)?;
    text.parse().map_err(|e| Error::internal(format!("stored CIDR {text}: {e}")))
}

pub(crate) fn nets(nets: &[IpNet]) -> String {
    nets.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")
}

pub(crate) fn nets_of(row: &Row, col: &str) -> Result<Vec<IpNet>> {
    let text: String = get(row, col)?;
    text.split_whitespace()
        .map(|n| n.parse().map_err(|e| Error::internal(format!("stored CIDR {n}: {e}"))))
        .collect()
}

/// A list of words (scope names): space-separated.
pub(crate) fn words(words: Vec<String>) -> String {
    words.join(" ")
}

pub(crate) fn words_of(row: &Row, col: &str) -> Result<Vec<String>> {
    Ok(get::<String>(row, col)?.split_whitespace().map(str::to_owned).collect())
}

/// A JSON column's text, as stored.
pub(crate) fn json_of(row: &Row, col: &str) -> Result<String> {
    get(row, col)
}

/// `IN ($first, …)` for `n` values bound by [`bind_list`].
pub(crate) fn in_list(first: usize, n: usize) -> String {
    let marks: Vec<String> = (first..first + n).map(|i| format!("${i}")).collect();
    format!("IN ({})", marks.join(", "))
}

pub(crate) fn bind_list<'q, T>(mut query: Query<'q>, items: &'q [T]) -> Query<'q>
where
    &'q T: sqlx::Encode<'q, Db> + sqlx::Type<Db>,
{
    for item in items {
        query = query.bind(item);
    }
    query
}

/// Takes the lowest released address of `network` inside `prefix` out of the pool.
pub(crate) async fn take_released(conn: &mut Conn, network: Uuid, prefix: &IpNet) -> Result<Option<Row>> {
    let (low, high) = (addr(prefix.network()), addr(prefix.broadcast()));
    let row = sqlx::query(
        "SELECT address FROM released_addresses
         WHERE network_id = $1 AND length(address) = $2 AND address BETWEEN $3 AND $4 ORDER BY address LIMIT 1",
    )
    .bind(network)
    .bind(i64::try_from(low.len()).unwrap_or(0))
    .bind(&low)
    .bind(&high)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_error)?;
    if let Some(row) = &row {
        sqlx::query("DELETE FROM released_addresses WHERE network_id = $1 AND address = $2")
            .bind(network)
            .bind(get::<Vec<u8>>(row, "address")?)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    Ok(row)
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

/// Whether a unique violation is of `unique`: SQLite names the index's first column.
pub(crate) fn violates(e: &dyn DatabaseError, unique: Unique) -> bool {
    e.message().contains(match unique {
        Unique::SubDomain => "organizations.sub_domain",
        Unique::Username => "users.username",
        Unique::DataCenterPermalink => "data_centers.permalink",
        Unique::NetworkPermalink => "networks.permalink",
        Unique::SharedDefaultNetwork => "networks.data_center_id",
        Unique::ServerTag => "server_tags.server_id",
        Unique::AddressInNetwork => "ip_addresses.network_id",
        Unique::GroupName => "security_groups.organization_id",
        Unique::GroupId => "security_groups.id",
        Unique::JobId => "jobs.id",
        Unique::TagName => "tags.organization_id",
        Unique::ListEntryAddress => "address_list_entries.list_id",
        Unique::HostName => "host_attributes.organization_id",
    })
}

/// One writer counted in the write queue while it waits (uncounted however it stops waiting,
/// including when its request is dropped).
struct Waiting<'a>(&'a std::sync::atomic::AtomicU64);

impl<'a> Waiting<'a> {
    fn new(queue: &'a std::sync::atomic::AtomicU64) -> Self {
        queue.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self(queue)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The read pool now, and the writers waiting for the write connection.
pub(crate) fn pool_stats(store: &Handle) -> palisade_core::store::PoolStats {
    let pool = store.pool();
    let size = pool.size();
    let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
    let queue = store.write_queue.load(std::sync::atomic::Ordering::Relaxed);
    let (acquired, acquire_wait) = store.waits.totals();
    palisade_core::store::PoolStats { size, idle, write_queue: Some(queue), acquired, acquire_wait }
}
