//! PostgreSQL's side of the seam: everything the shared SQL (`sql`) needs that SQLite does
//! differently. Native `uuid`, `timestamptz`, `inet`/`cidr` (sqlx's `ipnet` types) and `text[]`;
//! host settings are `jsonb`; creation order is a `seq` identity per table; rows read to be
//! changed are locked, since writers on any number of nodes run side by side; unique violations
//! are told apart by constraint name.

use std::net::IpAddr;

use ipnet::IpNet;
use palisade_core::changes::PolicyChanges;
use palisade_core::error::{Error, Result};
use sqlx::error::DatabaseError;
use sqlx::postgres::PgArguments;
use time::OffsetDateTime;
use uuid::Uuid;

use super::sql::{get, Unique, WriteTx};
use super::PostgresStore;

pub(crate) type Db = sqlx::Postgres;
pub(crate) type Conn = sqlx::PgConnection;
pub(crate) type Row = sqlx::postgres::PgRow;
pub(crate) type Done = sqlx::postgres::PgQueryResult;
pub(crate) type Query<'q> = sqlx::query::Query<'q, Db, PgArguments>;
pub(crate) type Handle = PostgresStore;
/// A read: a pooled connection. Under READ COMMITTED every statement sees its own snapshot
/// inside a transaction too, so `BEGIN`/`COMMIT` would only cost two round trips.
pub(crate) type Read = sqlx::pool::PoolConnection<Db>;

/// How to select the child rows of many parents (the remotes and ports of the rules of some
/// groups): by the parents' ids, one array. The planner then sees how few rows are wanted and
/// seeks them by index, where it may answer a subquery over the parents with a scan of the
/// whole child table (the rules of 10 groups among 1,000: 1.8 ms by id, 8.1 ms through the
/// groups).
pub(crate) const CHILDREN_THROUGH_PARENTS: bool = false;

/// The column that orders a table's rows by creation.
pub(crate) const SEQ: &str = "seq";
/// Row locks for read-then-write sequences.
pub(crate) const FOR_UPDATE: &str = " FOR UPDATE";
pub(crate) const FOR_SHARE: &str = " FOR SHARE";
/// A text parameter stored in a `jsonb` column (PostgreSQL checks and normalizes it).
pub(crate) const JSON: &str = "::jsonb";
/// True for an IPv4 row of `ip_addresses`.
pub(crate) const IPV4: &str = "family(address) = 4";
/// A group's members (of `security_groups g`) as one JSON array of strings, in their order: a
/// kind letter (`s` server, `g` server group, `t` tag) then the id.
pub(crate) const GROUP_MEMBERS_JSON: &str = "(SELECT COALESCE(json_agg(CASE
        WHEN m.server_id IS NOT NULL THEN 's' || m.server_id::text
        WHEN m.server_group_id IS NOT NULL THEN 'g' || m.server_group_id::text
        WHEN m.network_id IS NOT NULL THEN 'n' || m.network_id::text
        WHEN m.interface_id IS NOT NULL THEN 'i' || m.interface_id::text
        ELSE 't' || m.tag_id::text END ORDER BY m.position), '[]'::json)::text
    FROM security_group_members m WHERE m.group_id = g.id)";
/// A group's annotations as one JSON array of `[key, value]` pairs, in their order.
pub(crate) const GROUP_ANNOTATIONS_JSON: &str =
    "(SELECT COALESCE(json_agg(json_build_array(a.key, a.value) ORDER BY a.position), '[]'::json)::text
    FROM security_group_annotations a WHERE a.group_id = g.id)";

/// A write transaction: a pooled connection in `BEGIN`; dropped, it rolls back.
pub(crate) type WriteConn = sqlx::Transaction<'static, Db>;

pub(crate) async fn write(store: &Handle) -> Result<WriteTx> {
    Ok(WriteTx::new(store.pool.begin().await.map_err(db_error)?, store.changes.clone()))
}

/// The channel of policy-change announcements between nodes.
const CHANNEL: &str = "palisade_policy";

/// Announces the transaction's policy changes to every node: `NOTIFY` is delivered at commit,
/// and not at all on rollback.
pub(crate) async fn announce(conn: &mut Conn, payloads: Vec<String>) -> Result<()> {
    for payload in payloads {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    Ok(())
}

/// This node's announcements, hearing every node's once the first waiter asked for them.
pub(crate) fn policy_changes(store: &Handle) -> std::sync::Arc<PolicyChanges> {
    store.listener.get_or_init(|| Listener::spawn(&store.pool, store.changes.clone()));
    store.changes.clone()
}

/// The task that turns other nodes' `NOTIFY`s into this node's announcements, on a connection of
/// its own (not one of the pool's, which serve requests). Stopped with the store.
#[derive(Debug)]
pub(crate) struct Listener(tokio::task::JoinHandle<()>);

impl Drop for Listener {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Listener {
    fn spawn(pool: &sqlx::PgPool, changes: std::sync::Arc<PolicyChanges>) -> Self {
        let own = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .connect_lazy_with((*pool.connect_options()).clone());
        Self(tokio::spawn(listen(own, changes)))
    }
}

/// Listens until stopped. Whenever it (re)connects it may have missed announcements, so it
/// wakes every waiter to look again; while the database is away it retries every second.
async fn listen(pool: sqlx::PgPool, changes: std::sync::Arc<PolicyChanges>) {
    loop {
        match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => loop {
                    changes.changed_everywhere();
                    let heard = loop {
                        match listener.try_recv().await {
                            Ok(Some(notification)) => deliver(&changes, notification.payload()),
                            // Reconnecting (the next call does): some may be lost meanwhile.
                            Ok(None) => break true,
                            Err(e) => {
                                tracing::warn!(error = %e, "policy change listener failed; reconnecting");
                                break false;
                            }
                        }
                    };
                    if !heard {
                        break;
                    }
                },
                Err(e) => tracing::warn!(error = %e, "cannot LISTEN for policy changes; retrying"),
            },
            Err(e) => tracing::warn!(error = %e, "cannot connect to listen for policy changes; retrying"),
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// `<organization id>:<revision>`, or anything else meaning every organization.
fn deliver(changes: &PolicyChanges, payload: &str) {
    let (org, revision) = payload.split_once(':').unwrap_or((payload, ""));
    match org.parse::<Uuid>() {
        Ok(org) => changes.changed(palisade_core::id::OrganizationId::from_uuid(org), revision.parse().ok()),
        Err(_) => changes.changed_everywhere(),
    }
}

/// Closes the pool once its connections are back (the listener's, if any, goes with the store).
pub(crate) async fn close(store: &Handle) {
    store.pool.close().await;
}

pub(crate) async fn commit(tx: WriteConn) -> Result<()> {
    tx.commit().await.map_err(db_error)
}

pub(crate) async fn read(store: &Handle) -> Result<Read> {
    store.pool.acquire().await.map_err(db_error)
}

/// One consistent read of several queries (a policy snapshot): `REPEATABLE READ`, so every
/// statement of the transaction sees the snapshot its first one took (under the default READ
/// COMMITTED each statement would see its own, and two queries could see two states), and
/// `READ ONLY`, as it writes nothing. A read-only transaction is never refused for a
/// serialization failure, so it needs no retry.
pub(crate) async fn consistent_read(store: &Handle) -> Result<sqlx::Transaction<'static, Db>> {
    store.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await.map_err(db_error)
}

/// A time as bound to a query.
pub(crate) type Time = OffsetDateTime;

pub(crate) fn time(t: OffsetDateTime) -> OffsetDateTime {
    t
}

pub(crate) fn time_of(row: &Row, col: &str) -> Result<OffsetDateTime> {
    get(row, col)
}

pub(crate) fn opt_time_of(row: &Row, col: &str) -> Result<Option<OffsetDateTime>> {
    get(row, col)
}

pub(crate) fn addr(address: IpAddr) -> IpAddr {
    address
}

pub(crate) fn addr_of(row: &Row, col: &str) -> Result<IpAddr> {
    get(row, col)
}

pub(crate) fn net(net: &IpNet) -> IpNet {
    *net
}

pub(crate) fn net_of(row: &Row, col: &str) -> Result<IpNet> {
    get(row, col)
}

pub(crate) fn nets(nets: &[IpNet]) -> Vec<IpNet> {
    nets.to_vec()
}

pub(crate) fn nets_of(row: &Row, col: &str) -> Result<Vec<IpNet>> {
    get(row, col)
}

/// A list of words (scope names): `text[]`.
pub(crate) fn words(words: Vec<String>) -> Vec<String> {
    words
}

pub(crate) fn words_of(row: &Row, col: &str) -> Result<Vec<String>> {
    get(row, col)
}

/// A `jsonb` column as JSON text.
pub(crate) fn json_of(row: &Row, col: &str) -> Result<String> {
    Ok(get::<serde_json::Value>(row, col)?.to_string())
}

/// `= ANY($first)`: the values are one array parameter, bound by [`bind_list`].
pub(crate) fn in_list(first: usize, _n: usize) -> String {
    format!("= ANY(${first})")
}

pub(crate) fn bind_list<'q, T>(query: Query<'q>, items: &'q [T]) -> Query<'q>
where
    &'q [T]: sqlx::Encode<'q, Db> + sqlx::Type<Db>,
{
    query.bind(items)
}

/// Takes the lowest released address of `network` inside `prefix` out of the pool; concurrent
/// allocators skip each other's picks.
pub(crate) async fn take_released(conn: &mut Conn, network: Uuid, prefix: &IpNet) -> Result<Option<Row>> {
    sqlx::query(
        "DELETE FROM released_addresses r USING (
             SELECT network_id, address FROM released_addresses
             WHERE network_id = $1 AND address <<= $2::cidr
             ORDER BY address LIMIT 1 FOR UPDATE SKIP LOCKED) pick
         WHERE r.network_id = pick.network_id AND r.address = pick.address
         RETURNING r.address",
    )
    .bind(network)
    .bind(prefix.to_string())
    .fetch_optional(conn)
    .await
    .map_err(db_error)
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

/// Whether a unique violation is of `unique`: by constraint (or unique index) name.
pub(crate) fn violates(e: &dyn DatabaseError, unique: Unique) -> bool {
    e.constraint()
        == Some(match unique {
            Unique::SubDomain => "organizations_sub_domain_key",
            Unique::Username => "users_username_key",
            Unique::DataCenterPermalink => "data_centers_permalink_key",
            Unique::NetworkPermalink => "networks_permalink_key",
            Unique::SharedDefaultNetwork => "networks_shared_default",
            Unique::ServerTag => "server_tags_unique",
            Unique::AddressInNetwork => "ip_addresses_in_network",
            Unique::GroupName => "security_groups_name_key",
            Unique::GroupId => "security_groups_pkey",
            Unique::JobId => "jobs_pkey",
            Unique::TagName => "tags_name_key",
            Unique::ListEntryAddress => "address_list_entries_address_key",
            Unique::HostName => "host_attributes_name_key",
        })
}

/// The pool now; PostgreSQL has no write queue of this process's own.
pub(crate) fn pool_stats(store: &Handle) -> palisade_core::store::PoolStats {
    let pool = store.pool();
    let size = pool.size();
    let idle = u32::try_from(pool.num_idle()).unwrap_or(u32::MAX);
    let (acquired, acquire_wait) = store.waits.totals();
    palisade_core::store::PoolStats { size, idle, write_queue: None, acquired, acquire_wait }
}
