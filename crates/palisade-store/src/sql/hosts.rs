//! Hosts: a server row (with its interface and addresses), a `host_attributes` row and a
//! membership of the role group, always written together.

use async_trait::async_trait;
use palisade_core::error::{Error, Result};
use palisade_core::grant::Grant;
use palisade_core::id::{NetworkId, OrganizationId, SecurityGroupId, ServerId};
use palisade_core::model::{Host, HostFilter, IpAddress, IpRequest, Overlay};
use palisade_core::store::{AddressWrites, HostReads, HostWrites, InventoryWrites};
use palisade_core::{Page, PageRequest};
use uuid::Uuid;

use super::db::{self, FOR_UPDATE, JSON, SEQ};
use super::grants::within;
use super::inventory::{servers_from_rows, write_tags};
use super::rows::get;
use super::{
    constraint_error, count, execute, fetch_all, fetch_optional, found, limit, lock_row, offset, Connection,
    Tx, Unique, WriteTx,
};

const HOST: &str = "server";
const ROLE: &str = "role";

async fn write_attributes(conn: &mut db::Conn, host: &Host, insert: bool) -> Result<()> {
    let network = host.network_id().ok_or_else(|| Error::internal("a host without an interface"))?;
    let o = &host.overlay;
    let sql = if insert {
        format!(
            "INSERT INTO host_attributes (server_id, organization_id, network_id, name, listen_port,
                is_lighthouse, is_relay, static_addresses, config_overrides, modified_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8{JSON}, $9{JSON}, $10)"
        )
    } else {
        format!(
            "UPDATE host_attributes SET organization_id = $2, network_id = $3, name = $4, listen_port = $5,
                is_lighthouse = $6, is_relay = $7, static_addresses = $8{JSON}, config_overrides = $9{JSON},
                modified_at = $10
             WHERE server_id = $1"
        )
    };
    sqlx::query(&sql)
        .bind(host.server.id.as_uuid())
        .bind(host.server.organization_id.as_uuid())
        .bind(network.as_uuid())
        .bind(&host.server.name)
        .bind(i32::from(o.listen_port))
        .bind(o.is_lighthouse)
        .bind(o.is_relay)
        .bind(serde_json::to_string(&o.static_addresses).map_err(Error::internal)?)
        .bind(&o.config_overrides)
        .bind(db::time(host.modified_at))
        .execute(conn)
        .await
        .map_err(|e| constraint_error(e, &[Unique::HostName], NetworkId::KIND))?;
    Ok(())
}

/// Makes `role` the server's only role (none when `None`). The role's row is locked first
/// (where rows lock), so concurrent joins of one role take member positions one after the other.
async fn write_role(conn: &mut db::Conn, server: ServerId, role: Option<SecurityGroupId>) -> Result<()> {
    let leave = "DELETE FROM security_group_members WHERE server_id = $1
           AND group_id IN (SELECT id FROM security_groups WHERE kind = 'role')";
    execute(conn, sqlx::query(leave).bind(server.as_uuid())).await?;
    let Some(role) = role else { return Ok(()) };
    let lock = format!("SELECT 1 FROM security_groups WHERE id = $1 AND kind = 'role'{FOR_UPDATE}");
    fetch_optional(conn, sqlx::query(&lock).bind(role.as_uuid())).await?.ok_or(Error::not_found(ROLE))?;
    sqlx::query(
        "INSERT INTO security_group_members (group_id, position, server_id)
         VALUES ($1, (SELECT COALESCE(MAX(position) + 1, 0) FROM security_group_members WHERE group_id = $1), $2)",
    )
    .bind(role.as_uuid())
    .bind(server.as_uuid())
    .execute(conn)
    .await
    .map_err(|e| constraint_error(e, &[], ROLE))?;
    Ok(())
}

/// Servers joined with their host attributes and role; the server's columns win on name clashes.
const SELECT: &str = "SELECT h.listen_port, h.is_lighthouse, h.is_relay, h.static_addresses,
        h.config_overrides, h.modified_at, s.*,
        (SELECT m.group_id FROM security_group_members m JOIN security_groups g ON g.id = m.group_id
          WHERE m.server_id = s.id AND g.kind = 'role' LIMIT 1) AS role_id
     FROM servers s JOIN host_attributes h ON h.server_id = s.id";

/// A host listing's condition: `$1` the organization, `$2`..`$5` each filter or NULL.
const FILTER: &str = "s.organization_id = $1
       AND ($2 IS NULL OR EXISTS (SELECT 1 FROM security_group_members m
                                  WHERE m.server_id = s.id AND m.group_id = $2))
       AND ($3 IS NULL OR h.network_id = $3)
       AND ($4 IS NULL OR h.is_lighthouse = $4)
       AND ($5 IS NULL OR h.is_relay = $5)";

fn bind_filter(query: db::Query<'_>, org: OrganizationId, filter: HostFilter) -> db::Query<'_> {
    query
        .bind(org.as_uuid())
        .bind(filter.role.map(|r| r.as_uuid()))
        .bind(filter.network.map(|n| n.as_uuid()))
        .bind(filter.is_lighthouse)
        .bind(filter.is_relay)
}

/// A host's overlay settings from its `host_attributes` columns.
pub(crate) fn overlay_from(row: &db::Row) -> Result<Overlay> {
    Ok(Overlay {
        listen_port: u16::try_from(get::<i32>(row, "listen_port")?).map_err(Error::internal)?,
        is_lighthouse: get(row, "is_lighthouse")?,
        is_relay: get(row, "is_relay")?,
        static_addresses: serde_json::from_str(&db::json_of(row, "static_addresses")?)
            .map_err(Error::internal)?,
        config_overrides: db::json_of(row, "config_overrides")?,
    })
}

async fn hosts_from_rows(conn: &mut db::Conn, rows: &[db::Row]) -> Result<Vec<Host>> {
    let servers = servers_from_rows(conn, rows).await?;
    let mut hosts = Vec::with_capacity(rows.len());
    for (row, server) in rows.iter().zip(servers) {
        hosts.push(Host {
            server,
            role: get::<Option<Uuid>>(row, "role_id")?.map(SecurityGroupId::from_uuid),
            overlay: overlay_from(row)?,
            modified_at: db::time_of(row, "modified_at")?,
        });
    }
    Ok(hosts)
}

#[async_trait]
impl<S: Connection> HostReads for Tx<S> {
    async fn host(&mut self, org: OrganizationId, id: ServerId) -> Result<Option<Host>> {
        let sql = format!("{SELECT} WHERE s.id = $1 AND s.organization_id = $2");
        let rows = fetch_all(self, sqlx::query(&sql).bind(id.as_uuid()).bind(org.as_uuid())).await?;
        Ok(hosts_from_rows(self, &rows).await?.pop())
    }

    async fn list_hosts(
        &mut self,
        org: OrganizationId,
        filter: HostFilter,
        page: PageRequest,
    ) -> Result<Page<Host>> {
        let count_sql = format!(
            "SELECT COUNT(*) AS n FROM servers s JOIN host_attributes h ON h.server_id = s.id WHERE {FILTER}"
        );
        let total: i64 = get(
            &bind_filter(sqlx::query(&count_sql), org, filter)
                .fetch_one(&mut **self)
                .await
                .map_err(db::db_error)?,
            "n",
        )?;
        let sql = format!("{SELECT} WHERE {FILTER} ORDER BY s.{SEQ} LIMIT $6 OFFSET $7");
        let rows =
            fetch_all(self, bind_filter(sqlx::query(&sql), org, filter).bind(limit(page)).bind(offset(page)))
                .await?;
        let items = hosts_from_rows(self, &rows).await?;
        Ok(Page { items, total: count(total), request: page })
    }
}

#[async_trait]
impl HostWrites for WriteTx {
    /// Creates the host: its server (claiming `addresses`), an address from `allocate` when given,
    /// its attributes and its role; returns it as stored.
    async fn insert_host(
        &mut self,
        grant: &Grant,
        host: &Host,
        addresses: &[IpAddress],
        allocate: Option<&IpRequest>,
    ) -> Result<Host> {
        self.insert_server(grant, &host.server, addresses).await?;
        if let Some(request) = allocate {
            self.allocate_ip(grant, request).await?;
        }
        write_attributes(self, host, true).await?;
        write_role(self, host.server.id, host.role).await?;
        let rows =
            fetch_all(self, sqlx::query(&format!("{SELECT} WHERE s.id = $1")).bind(host.server.id.as_uuid()))
                .await?;
        let host = hosts_from_rows(self, &rows).await?.pop().ok_or(Error::not_found(HOST))?;
        self.touch(grant.organization_id());
        Ok(host)
    }

    async fn host_for_update(&mut self, org: OrganizationId, id: ServerId) -> Result<Option<Host>> {
        lock_row(self, "servers", id.as_uuid()).await?;
        self.host(org, id).await
    }

    /// Rewrites the host's name, tags, attributes and role (its network and addresses are fixed).
    async fn update_host(&mut self, grant: &Grant, host: &Host) -> Result<()> {
        within(grant, host.server.organization_id, ServerId::KIND)?;
        let rename = sqlx::query("UPDATE servers SET name = $1 WHERE id = $2 AND organization_id = $3")
            .bind(&host.server.name)
            .bind(host.server.id.as_uuid())
            .bind(host.server.organization_id.as_uuid());
        found(execute(self, rename).await?, HOST)?;
        write_tags(self, host.server.id, &host.server.tags).await?;
        write_attributes(self, host, false).await?;
        write_role(self, host.server.id, host.role).await?;
        self.touch(grant.organization_id());
        Ok(())
    }
}
