//! Palisade's [`Store`](palisade_core::Store) in SQL, written once, running on two backends:
//! [`sqlite`] (embedded, the zero-setup default) and [`postgres`] (any number of stateless API
//! servers share one database).
//!
//! # One implementation, one seam
//!
//! Every query, every row decoding and the `Store` trait itself live once, in `src/sql/`. That
//! directory is compiled twice: `sqlite.rs` and `postgres.rs` each include it as a module
//! (`#[path = "sql/mod.rs"] mod sql;`), and the shared code reaches its backend only through
//! one alias, `db` (the including backend's `seam` module). So the shared code is concrete
//! code on `db::Conn`, `db::Row`, `db::Query`: no generic `sqlx::Database` bounds, and the
//! compiler checks each backend's instance of it separately.
//!
//! Statements are written with `$N` placeholders, which both drivers accept. What really
//! differs sits behind the seam, each item documented in both `seam` modules:
//!
//! - **Transactions**: `db::write` (SQLite: this process's FIFO writer queue, then
//!   `BEGIN IMMEDIATE`; PostgreSQL: a plain `BEGIN`) and `db::read` (SQLite: a deferred
//!   transaction, for one snapshot; PostgreSQL: a pooled connection, as READ COMMITTED gives
//!   each statement its own snapshot anyway), and `db::consistent_read` for reads whose several
//!   queries must all see one state, such as the policy snapshot (`sql::snapshot`): SQLite's
//!   deferred transaction again, PostgreSQL's `REPEATABLE READ READ ONLY`.
//! - **Encodings**: ids are `Uuid` on both (sqlx stores them as 16-byte BLOBs on SQLite and
//!   `uuid` on PostgreSQL); times (Unix seconds / `timestamptz`), addresses (octets /
//!   `inet`), CIDRs and CIDR lists (text / `cidr`, `cidr[]`), word lists (space-separated /
//!   `text[]`) and JSON columns (TEXT / `jsonb`) go through `db::time`/`db::time_of` and
//!   their siblings. Rule remotes and ports are typed rows of their own, the same on both
//!   (`sql::rules`, migration 0007).
//! - **SQL fragments**: the creation-order column (`rowid` / `seq`), row locks (none, as a
//!   SQLite writer holds the whole database / `FOR UPDATE`, `FOR SHARE`), the `jsonb` cast,
//!   the IPv4 test on an address column, and lists of values (`IN ($1, …)` /
//!   `= ANY($1)`, with `db::bind_list`).
//! - **Queries that differ**: taking the lowest released address inside a prefix (SQLite: a
//!   byte range; PostgreSQL: `<<=` with `FOR UPDATE SKIP LOCKED`); how the remotes and ports
//!   of many rules are selected (`CHILDREN_THROUGH_PARENTS`: SQLite through a subquery over
//!   their groups, PostgreSQL by the rules' ids, as each plans best).
//! - **Errors**: `db::db_error` (what is retryable, PostgreSQL's NUL refusals) and
//!   `db::violates`, which tells which unique index a violation is of (SQLite names the
//!   index's first column in the message, PostgreSQL gives the constraint name); the shared
//!   code speaks one vocabulary, `sql::Unique`, and maps each to its `AlreadyExists`.
//! - **Connecting and migrations**: `SqliteStore::connect` (WAL, foreign keys, busy timeout)
//!   and `PostgresStore::connect` (statement timeout, one direct connection first, then a lazy
//!   pool testing connections before use), each with its own frozen migrations under
//!   `migrations/sqlite` and `migrations/postgres`.
//!
//! Batched inserts (members, annotations, tags, interfaces, prefixes, list entries) need no
//! seam: one multi-row `INSERT … VALUES (…), (…)` works on both (`sql::insert_rows`).
//!
//! # Why not a generic `Backend` trait
//!
//! Queries generic over `DB: sqlx::Database` need bounds on every bound value, every decoded
//! column and every executor (`for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>`,
//! `T: Encode<'q, DB> + Type<DB>` per type), which would drown the SQL. Compiling one source
//! twice keeps the shared code as plain as a single backend's while the seam stays a short list
//! of items with the same names on both sides.
//!
//! # Operations and transactions
//!
//! The core's `Reads` and `Writes` are one trait per domain (`TenancyReads`, `PolicyWrites`, …).
//! Each is implemented once, in the module of its domain, on the transaction handle `sql::Tx`:
//! a read handle is `Tx<db::Read>`, a write transaction `sql::WriteTx`, and every read is a
//! method of both. A method holds its SQL itself and runs inside the caller's transaction,
//! whatever else the caller does in it; the core commits. Uniqueness comes from the schema's
//! unique indexes. Queries are checked at run time (no compile-time macros), so building needs
//! no database.

pub mod postgres;
pub mod sqlite;
