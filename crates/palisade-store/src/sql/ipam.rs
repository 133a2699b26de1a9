//! IP addresses: allocation (see `palisade_core::ipam` for the order), claims, release, and the
//! addresses' own fields. The unique `(network_id, address)` index settles every race; on
//! SQLite the writer lock serializes allocators, on PostgreSQL the prefix's cursor row is
//! locked while it moves and released addresses are taken `FOR UPDATE SKIP LOCKED`.

use std::net::IpAddr;

use async_trait::async_trait;
use ipnet::IpNet;
use palisade_core::error::{Error, Result};
use palisade_core::grant::Grant;
use palisade_core::id::{InterfaceId, IpAddressId, NetworkId, OrganizationId};
use palisade_core::ipam;
use palisade_core::model::{Allocation, IpAddress, IpAddressPatch, IpFilter, IpRequest};
use palisade_core::store::{AddressReads, AddressWrites};
use palisade_core::{Page, PageRequest};
use uuid::Uuid;

use super::db::{self, FOR_UPDATE, IPV4, SEQ};
use super::grants::within;
use super::rows::{self, get};
use super::{
    by_id, constraint_error, execute, fetch_all, fetch_optional, lock_row, page_of, position, Connection, Tx,
    Unique, WriteTx,
};

const NETWORK: &str = "network";

/// SQL condition: the address came from a sequentially allocated prefix (so it is pooled on
/// release). Mirrors `ipam::is_sequential`: every IPv4 prefix, IPv6 prefixes of /96 and longer.
fn sequential() -> String {
    format!("({IPV4} OR prefix_len >= 96)")
}

fn record(request: &IpRequest, prefix: &IpNet, address: std::net::IpAddr) -> IpAddress {
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

const INSERT: &str =
    "INSERT INTO ip_addresses (id, organization_id, network_id, address, prefix_len, vip, label,
        reverse_dns, interface_id, server_id, server_owned, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

fn bind_ip<'q>(query: db::Query<'q>, ip: &'q IpAddress) -> db::Query<'q> {
    query
        .bind(ip.id.as_uuid())
        .bind(ip.organization_id.as_uuid())
        .bind(ip.network_id.as_uuid())
        .bind(db::addr(ip.address))
        .bind(i16::from(ip.prefix_len))
        .bind(ip.vip)
        .bind(ip.label.as_deref())
        .bind(&ip.reverse_dns)
        .bind(ip.allocation.map(|a| a.interface_id.as_uuid()))
        .bind(ip.allocation.map(|a| a.server_id.as_uuid()))
        .bind(ip.server_owned)
        .bind(db::time(ip.created_at))
}

/// Inserts unless the address is taken; whether it was inserted.
async fn try_insert(conn: &mut db::Conn, ip: &IpAddress) -> Result<bool> {
    let sql = format!("{INSERT} ON CONFLICT (network_id, address) DO NOTHING");
    let done =
        bind_ip(sqlx::query(&sql), ip).execute(conn).await.map_err(|e| constraint_error(e, &[], NETWORK))?;
    Ok(done.rows_affected() == 1)
}

/// Claims a specific address (a server's own): out of the released pool if it is there, then
/// inserted; [`Error::AlreadyExists`] if it is in use.
pub(crate) async fn claim(conn: &mut db::Conn, ip: &IpAddress) -> Result<()> {
    let unpool = "DELETE FROM released_addresses WHERE network_id = $1 AND address = $2";
    execute(conn, sqlx::query(unpool).bind(ip.network_id.as_uuid()).bind(db::addr(ip.address))).await?;
    bind_ip(sqlx::query(INSERT), ip)
        .execute(conn)
        .await
        .map_err(|e| constraint_error(e, &[Unique::AddressInNetwork], NETWORK))?;
    Ok(())
}

async fn sequential_pick(
    conn: &mut db::Conn,
    request: &IpRequest,
    at: usize,
    prefix: &IpNet,
) -> Result<Option<IpAddress>> {
    let network = request.network.id.as_uuid();
    // Released addresses first, lowest first.
    while let Some(row) = db::take_released(conn, network, prefix).await? {
        let Ok(address) = db::addr_of(&row, "address") else { continue };
        if !ipam::is_allocatable(prefix, address, &request.network.reserved) {
            continue;
        }
        let ip = record(request, prefix, address);
        if try_insert(conn, &ip).await? {
            return Ok(Some(ip));
        }
    }
    // Then the cursor (locked where rows lock), skipping addresses claimed out of order.
    let sql = format!(
        "SELECT next_offset FROM network_prefixes WHERE network_id = $1 AND position = $2{FOR_UPDATE}"
    );
    let cursor: i64 = sqlx::query_scalar(&sql)
        .bind(network)
        .bind(position(at))
        .fetch_one(&mut *conn)
        .await
        .map_err(db::db_error)?;
    let mut offset = u128::try_from(cursor).unwrap_or(0);
    let mut found = None;
    while let Some((address, next)) = ipam::next_sequential(prefix, offset, &request.network.reserved) {
        offset = next + 1;
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
    let park = "UPDATE network_prefixes SET next_offset = $1 WHERE network_id = $2 AND position = $3";
    let offset = i64::try_from(offset).unwrap_or(i64::MAX);
    execute(conn, sqlx::query(park).bind(offset).bind(network).bind(position(at))).await?;
    Ok(found)
}

async fn sparse_pick(conn: &mut db::Conn, request: &IpRequest, prefix: &IpNet) -> Result<Option<IpAddress>> {
    for _ in 0..ipam::SPARSE_ATTEMPTS {
        let Some(address) = ipam::random_candidate(prefix, &request.network.reserved) else { continue };
        let ip = record(request, prefix, address);
        if try_insert(conn, &ip).await? {
            return Ok(Some(ip));
        }
    }
    Ok(None)
}

/// Deletes the addresses matching `condition` (`$1` bound to `value`), returning those of
/// sequential prefixes to their networks' pools.
pub(crate) async fn release_where(conn: &mut db::Conn, condition: &str, value: Uuid) -> Result<()> {
    let pool = format!(
        "INSERT INTO released_addresses (network_id, address)
         SELECT network_id, address FROM ip_addresses WHERE {condition} AND {}
         ON CONFLICT DO NOTHING",
        sequential()
    );
    execute(conn, sqlx::query(&pool).bind(value)).await?;
    execute(conn, sqlx::query(&format!("DELETE FROM ip_addresses WHERE {condition}")).bind(value)).await?;
    Ok(())
}

#[async_trait]
impl<S: Connection> AddressReads for Tx<S> {
    async fn ip_address(&mut self, org: OrganizationId, id: IpAddressId) -> Result<Option<IpAddress>> {
        let query = sqlx::query("SELECT * FROM ip_addresses WHERE id = $1 AND organization_id = $2");
        fetch_optional(self, query.bind(id.as_uuid()).bind(org.as_uuid()))
            .await?
            .as_ref()
            .map(rows::ip_address)
            .transpose()
    }

    async fn ip_address_anywhere(&mut self, id: IpAddressId) -> Result<Option<IpAddress>> {
        by_id(self, "ip_addresses", id.as_uuid(), rows::ip_address).await
    }

    /// The first address record (of `org`, when given) holding `address`.
    async fn ip_address_by_address(
        &mut self,
        org: Option<OrganizationId>,
        address: IpAddr,
    ) -> Result<Option<IpAddress>> {
        let sql = format!(
            "SELECT * FROM ip_addresses WHERE address = $1 AND ($2 IS NULL OR organization_id = $2) ORDER BY {SEQ} LIMIT 1"
        );
        let query = sqlx::query(&sql).bind(db::addr(address)).bind(org.map(|o| o.as_uuid()));
        fetch_optional(self, query).await?.as_ref().map(rows::ip_address).transpose()
    }

    async fn list_ip_addresses(
        &mut self,
        org: OrganizationId,
        filter: IpFilter,
        page: PageRequest,
    ) -> Result<Page<IpAddress>> {
        let from = match filter.allocated {
            None => "FROM ip_addresses WHERE organization_id = $1",
            Some(true) => "FROM ip_addresses WHERE organization_id = $1 AND interface_id IS NOT NULL",
            Some(false) => "FROM ip_addresses WHERE organization_id = $1 AND interface_id IS NULL",
        };
        page_of(self, page, Some(org.as_uuid()), from, rows::ip_address).await
    }

    /// Address records per network and prefix length, at most `limit` rows (`/metrics`).
    async fn ipam_usage(&mut self, limit: u32) -> Result<Vec<(NetworkId, u8, u64)>> {
        let sql = "SELECT network_id, prefix_len, COUNT(*) AS used FROM ip_addresses
                   GROUP BY network_id, prefix_len ORDER BY network_id, prefix_len LIMIT $1";
        let mut usage = Vec::new();
        for row in fetch_all(self, sqlx::query(sql).bind(i64::from(limit))).await? {
            let network = NetworkId::from_uuid(get(&row, "network_id")?);
            let length = u8::try_from(get::<i16>(&row, "prefix_len")?).map_err(Error::internal)?;
            let used = u64::try_from(get::<i64>(&row, "used")?).map_err(Error::internal)?;
            usage.push((network, length, used));
        }
        Ok(usage)
    }
}

#[async_trait]
impl AddressWrites for WriteTx {
    /// Picks and inserts an address for `request`, or [`Error::NoAvailableAddresses`].
    async fn allocate_ip(&mut self, grant: &Grant, request: &IpRequest) -> Result<IpAddress> {
        within(grant, request.organization_id, IpAddressId::KIND)?;
        for (position, prefix) in request.network.prefixes_of(request.version) {
            let found = if ipam::is_sequential(prefix) {
                sequential_pick(self, request, position, prefix).await?
            } else {
                sparse_pick(self, request, prefix).await?
            };
            if let Some(ip) = found {
                if request.allocation.is_some() {
                    self.touch(grant.organization_id());
                }
                return Ok(ip);
            }
        }
        Err(Error::NoAvailableAddresses)
    }

    async fn ip_address_for_update(
        &mut self,
        org: OrganizationId,
        id: IpAddressId,
    ) -> Result<Option<IpAddress>> {
        lock_row(self, "ip_addresses", id.as_uuid()).await?;
        self.ip_address(org, id).await
    }

    async fn update_ip_address(
        &mut self,
        grant: &Grant,
        id: IpAddressId,
        patch: &IpAddressPatch,
    ) -> Result<IpAddress> {
        let org = grant.organization_id();
        let query = sqlx::query(
            "UPDATE ip_addresses SET
                vip = COALESCE($1, vip),
                label = CASE WHEN $2 THEN $3 ELSE label END,
                reverse_dns = COALESCE($4, reverse_dns)
             WHERE id = $5 AND organization_id = $6 RETURNING *",
        )
        .bind(patch.vip)
        .bind(patch.label.is_some())
        .bind(patch.label.clone().flatten())
        .bind(patch.reverse_dns.as_deref())
        .bind(id.as_uuid())
        .bind(org.as_uuid());
        let row = fetch_optional(self, query).await?;
        row.as_ref().map(rows::ip_address).transpose()?.ok_or(Error::not_found(IpAddressId::KIND))
    }

    /// Gives an unallocated address back (to its network's pool when sequential).
    async fn release_ip_address(&mut self, grant: &Grant, id: IpAddressId) -> Result<()> {
        let org = grant.organization_id();
        let sql = format!("SELECT * FROM ip_addresses WHERE id = $1 AND organization_id = $2{FOR_UPDATE}");
        let row = fetch_optional(self, sqlx::query(&sql).bind(id.as_uuid()).bind(org.as_uuid())).await?;
        let ip =
            row.as_ref().map(rows::ip_address).transpose()?.ok_or(Error::not_found(IpAddressId::KIND))?;
        if ip.allocation.is_some() {
            return Err(Error::Conflict(
                "the address is allocated to a server interface; unallocate it first".into(),
            ));
        }
        release_where(self, "id = $1", id.as_uuid()).await
    }

    /// Allocates the address to an interface (if it is free or already that interface's), or
    /// unallocates it.
    async fn set_ip_allocation(
        &mut self,
        grant: &Grant,
        id: IpAddressId,
        allocation: Option<Allocation>,
    ) -> Result<IpAddress> {
        let org = grant.organization_id();
        let (interface, server) =
            (allocation.map(|a| a.interface_id.as_uuid()), allocation.map(|a| a.server_id.as_uuid()));
        let query = match allocation {
            Some(_) => sqlx::query(
                "UPDATE ip_addresses SET interface_id = $1, server_id = $2
                 WHERE id = $3 AND organization_id = $4 AND (interface_id IS NULL OR interface_id = $1) RETURNING *",
            ),
            None => sqlx::query(
                "UPDATE ip_addresses SET interface_id = $1, server_id = $2, server_owned = FALSE
                 WHERE id = $3 AND organization_id = $4 RETURNING *",
            ),
        };
        let updated = query
            .bind(interface)
            .bind(server)
            .bind(id.as_uuid())
            .bind(org.as_uuid())
            .fetch_optional(&mut **self)
            .await
            .map_err(|e| constraint_error(e, &[], InterfaceId::KIND))?;
        if let Some(row) = updated {
            self.touch(org);
            return rows::ip_address(&row);
        }
        let exists = sqlx::query("SELECT 1 FROM ip_addresses WHERE id = $1 AND organization_id = $2");
        Err(match fetch_optional(self, exists.bind(id.as_uuid()).bind(org.as_uuid())).await? {
            Some(_) => {
                Error::Conflict("the address is allocated to another interface; unallocate it first".into())
            }
            None => Error::not_found(IpAddressId::KIND),
        })
    }
}
