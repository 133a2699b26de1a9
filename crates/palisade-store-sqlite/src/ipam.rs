//! Address allocation on SQLite. Runs inside the caller's `BEGIN IMMEDIATE` transaction, so no
//! other writer (in this process or another) interleaves; the unique index on
//! `(network_id, address)` is the last line of defence. See `palisade_core::ipam` for the order.

use std::net::IpAddr;

use ipnet::IpNet;
use palisade_core::error::{Error, Result};
use palisade_core::ipam;
use palisade_core::model::{IpAddress, IpRequest};
use sqlx::SqliteConnection;

use crate::rows::get;
use crate::{constraint_error, db_error};

/// SQL condition: the address came from a sequentially allocated prefix (so it is pooled on
/// release). Mirrors `ipam::is_sequential`: every IPv4 prefix, IPv6 prefixes of /96 and longer.
const SEQUENTIAL: &str = "(length(address) = 4 OR prefix_len >= 96)";

fn record(request: &IpRequest, prefix: &IpNet, address: IpAddr) -> IpAddress {
    IpAddress {
        id: request.id,
        organization_id: request.organization_id,
        network_id: request.network.id,
        address,
        prefix_len: prefix.prefix_len(),
        vip: request.vip,
        label: request.label.clone(),
        reverse_dns: ipam::reverse_dns(&request.reverse_dns_pattern, address),
        allocation: request.allocation,
        server_owned: request.allocation.is_some(),
        created_at: request.created_at,
    }
}

fn bind_ip<'q>(
    query: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    ip: &IpAddress,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    query
        .bind(ip.id.as_bytes().to_vec())
        .bind(ip.organization_id.as_bytes().to_vec())
        .bind(ip.network_id.as_bytes().to_vec())
        .bind(ipam::octets(ip.address))
        .bind(i64::from(ip.prefix_len))
        .bind(ip.vip)
        .bind(ip.label.clone())
        .bind(ip.reverse_dns.clone())
        .bind(ip.allocation.map(|a| a.interface_id.as_bytes().to_vec()))
        .bind(ip.allocation.map(|a| a.server_id.as_bytes().to_vec()))
        .bind(ip.server_owned)
        .bind(ip.created_at.unix_timestamp())
}

const INSERT: &str =
    "INSERT INTO ip_addresses (id, organization_id, network_id, address, prefix_len, vip, label,
        reverse_dns, interface_id, server_id, server_owned, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// Inserts unless the address is taken; whether it was inserted.
async fn try_insert(conn: &mut SqliteConnection, ip: &IpAddress) -> Result<bool> {
    let sql = format!("{INSERT} ON CONFLICT (network_id, address) DO NOTHING");
    let done = bind_ip(sqlx::query(&sql), ip)
        .execute(conn)
        .await
        .map_err(|e| constraint_error(e, &[], "network"))?;
    Ok(done.rows_affected() == 1)
}

/// Claims a specific address (a server's own): out of the released pool if it is there, then
/// inserted; [`Error::AlreadyExists`] if it is in use.
pub(crate) async fn claim(conn: &mut SqliteConnection, ip: &IpAddress) -> Result<()> {
    sqlx::query("DELETE FROM released_addresses WHERE network_id = ? AND address = ?")
        .bind(ip.network_id.as_bytes().as_slice())
        .bind(ipam::octets(ip.address))
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    bind_ip(sqlx::query(INSERT), ip)
        .execute(conn)
        .await
        .map_err(|e| constraint_error(e, &[("ip_addresses.network_id", "address", "address")], "network"))?;
    Ok(())
}

/// Picks and inserts an address for `request`, or [`Error::NoAvailableAddresses`].
pub(crate) async fn allocate(conn: &mut SqliteConnection, request: &IpRequest) -> Result<IpAddress> {
    for (position, prefix) in request.network.prefixes_of(request.version) {
        let found = if ipam::is_sequential(prefix) {
            sequential(conn, request, position, prefix).await?
        } else {
            sparse(conn, request, prefix).await?
        };
        if let Some(ip) = found {
            return Ok(ip);
        }
    }
    Err(Error::NoAvailableAddresses)
}

async fn sequential(
    conn: &mut SqliteConnection,
    request: &IpRequest,
    position: usize,
    prefix: &IpNet,
) -> Result<Option<IpAddress>> {
    let network = request.network.id.as_bytes().as_slice();
    let (low, high) = (ipam::octets(prefix.network()), ipam::octets(prefix.broadcast()));
    // Released addresses first, lowest first.
    loop {
        let row = sqlx::query(
            "SELECT address FROM released_addresses
             WHERE network_id = ? AND length(address) = ? AND address BETWEEN ? AND ? ORDER BY address LIMIT 1",
        )
        .bind(network)
        .bind(i64::try_from(low.len()).unwrap_or(0))
        .bind(&low)
        .bind(&high)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
        let Some(row) = row else { break };
        let raw: Vec<u8> = get(&row, "address")?;
        sqlx::query("DELETE FROM released_addresses WHERE network_id = ? AND address = ?")
            .bind(network)
            .bind(&raw)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
        let Some(address) = ipam::from_octets(&raw) else { continue };
        if !ipam::is_allocatable(prefix, address, &request.network.reserved) {
            continue;
        }
        let ip = record(request, prefix, address);
        if try_insert(conn, &ip).await? {
            return Ok(Some(ip));
        }
    }
    // Then the cursor, skipping addresses claimed out of order.
    let position = i64::try_from(position).unwrap_or(i64::MAX);
    let cursor: i64 =
        sqlx::query_scalar("SELECT next_offset FROM network_prefixes WHERE network_id = ? AND position = ?")
            .bind(network)
            .bind(position)
            .fetch_one(&mut *conn)
            .await
            .map_err(db_error)?;
    let mut offset = u128::try_from(cursor).unwrap_or(0);
    let mut found = None;
    while let Some((address, at)) = ipam::next_sequential(prefix, offset, &request.network.reserved) {
        offset = at + 1;
        let ip = record(request, prefix, address);
        if try_insert(conn, &ip).await? {
            found = Some(ip);
            break;
        }
    }
    if found.is_none() {
        // Exhausted: park the cursor past the end so the next attempt is immediate.
        offset = ipam::host_offsets(prefix).1 + 1;
    }
    sqlx::query("UPDATE network_prefixes SET next_offset = ? WHERE network_id = ? AND position = ?")
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .bind(network)
        .bind(position)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    Ok(found)
}

async fn sparse(
    conn: &mut SqliteConnection,
    request: &IpRequest,
    prefix: &IpNet,
) -> Result<Option<IpAddress>> {
    for _ in 0..ipam::SPARSE_ATTEMPTS {
        let Some(address) = ipam::random_candidate(prefix, &request.network.reserved) else { continue };
        let ip = record(request, prefix, address);
        if try_insert(conn, &ip).await? {
            return Ok(Some(ip));
        }
    }
    Ok(None)
}

/// Deletes the addresses matching `condition` (one `?` bound to `value`), returning those of
/// sequential prefixes to their networks' pools.
pub(crate) async fn release_where(conn: &mut SqliteConnection, condition: &str, value: &[u8]) -> Result<()> {
    sqlx::query(&format!(
        "INSERT INTO released_addresses (network_id, address)
         SELECT network_id, address FROM ip_addresses WHERE {condition} AND {SEQUENTIAL}
         ON CONFLICT DO NOTHING"
    ))
    .bind(value)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    sqlx::query(&format!("DELETE FROM ip_addresses WHERE {condition}"))
        .bind(value)
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}
