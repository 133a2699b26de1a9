//! Hosts on PostgreSQL: a server row (with its interface and addresses), a `host_attributes` row
//! and a membership of the role group, always written together.

use palisade_core::error::{Error, Result};
use palisade_core::id::{NetworkId, OrganizationId, SecurityGroupId, ServerId};
use palisade_core::model::{Host, HostFilter, IpAddress, IpRequest, Overlay};
use palisade_core::{Page, PageRequest};
use sqlx::postgres::PgRow;
use sqlx::PgConnection;

use crate::rows::get;
use crate::store_impl::{
    commit, count, fetch_all, limit, offset, servers_from_rows, write_server, write_tags,
};
use crate::{constraint_error, db_error, found, ipam, PostgresStore};

const HOST: &str = "server";
const ROLE: &str = "role";
const UNIQUE_NAME: &[(&str, &str, &str)] = &[("host_attributes_name_key", HOST, "name")];

async fn write_attributes(conn: &mut PgConnection, host: &Host, insert: bool) -> Result<()> {
    let network = host.network_id().ok_or_else(|| Error::internal("a host without an interface"))?;
    let o = &host.overlay;
    let sql = if insert {
        "INSERT INTO host_attributes (server_id, organization_id, network_id, name, listen_port,
            is_lighthouse, is_relay, static_addresses, config_overrides, modified_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10)"
    } else {
        "UPDATE host_attributes SET organization_id = $2, network_id = $3, name = $4, listen_port = $5,
            is_lighthouse = $6, is_relay = $7, static_addresses = $8::jsonb, config_overrides = $9::jsonb,
            modified_at = $10
         WHERE server_id = $1"
    };
    sqlx::query(sql)
        .bind(host.server.id.as_uuid())
        .bind(host.server.organization_id.as_uuid())
        .bind(network.as_uuid())
        .bind(&host.server.name)
        .bind(i32::from(o.listen_port))
        .bind(o.is_lighthouse)
        .bind(o.is_relay)
        .bind(serde_json::to_string(&o.static_addresses).map_err(Error::internal)?)
        .bind(&o.config_overrides)
        .bind(host.modified_at)
        .execute(&mut *conn)
        .await
        .map_err(|e| constraint_error(e, UNIQUE_NAME, NetworkId::KIND))?;
    Ok(())
}

/// Makes `role` the server's only role (none when `None`). The role's row is locked first, so
/// concurrent joins of one role take member positions one after the other.
async fn write_role(conn: &mut PgConnection, server: ServerId, role: Option<SecurityGroupId>) -> Result<()> {
    sqlx::query(
        "DELETE FROM security_group_members WHERE server_id = $1
           AND group_id IN (SELECT id FROM security_groups WHERE kind = 'role')",
    )
    .bind(server.as_uuid())
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    if let Some(role) = role {
        let locked: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM security_groups WHERE id = $1 AND kind = 'role' FOR UPDATE")
                .bind(role.as_uuid())
                .fetch_optional(&mut *conn)
                .await
                .map_err(db_error)?;
        locked.ok_or(Error::not_found(ROLE))?;
        sqlx::query(
            "INSERT INTO security_group_members (group_id, position, server_id)
             VALUES ($1, (SELECT COALESCE(MAX(position) + 1, 0) FROM security_group_members WHERE group_id = $1), $2)",
        )
        .bind(role.as_uuid())
        .bind(server.as_uuid())
        .execute(&mut *conn)
        .await
        .map_err(|e| constraint_error(e, &[], ROLE))?;
    }
    Ok(())
}

async fn hosts_from_rows(conn: &mut PgConnection, rows: &[PgRow]) -> Result<Vec<Host>> {
    let servers = servers_from_rows(&mut *conn, rows).await?;
    let mut hosts = Vec::with_capacity(rows.len());
    for (row, server) in rows.iter().zip(servers) {
        let static_addresses: serde_json::Value = get(row, "static_addresses")?;
        let overrides: serde_json::Value = get(row, "config_overrides")?;
        hosts.push(Host {
            server,
            role: get::<Option<uuid::Uuid>>(row, "role_id")?.map(SecurityGroupId::from_uuid),
            overlay: Overlay {
                listen_port: u16::try_from(get::<i32>(row, "listen_port")?).map_err(Error::internal)?,
                is_lighthouse: get(row, "is_lighthouse")?,
                is_relay: get(row, "is_relay")?,
                static_addresses: serde_json::from_value(static_addresses).map_err(Error::internal)?,
                config_overrides: overrides.to_string(),
            },
            modified_at: get(row, "modified_at")?,
        });
    }
    Ok(hosts)
}

/// Servers joined with their host attributes and role.
const SELECT: &str = "SELECT h.listen_port, h.is_lighthouse, h.is_relay, h.static_addresses,
        h.config_overrides, h.modified_at, s.*,
        (SELECT m.group_id FROM security_group_members m JOIN security_groups g ON g.id = m.group_id
          WHERE m.server_id = s.id AND g.kind = 'role' LIMIT 1) AS role_id
     FROM servers s JOIN host_attributes h ON h.server_id = s.id";

/// A host listing's condition: `$1` the organization, `$2`..`$5` each filter or NULL.
const FILTER: &str = "s.organization_id = $1
       AND ($2::uuid IS NULL OR EXISTS (SELECT 1 FROM security_group_members m
                                        WHERE m.server_id = s.id AND m.group_id = $2))
       AND ($3::uuid IS NULL OR h.network_id = $3)
       AND ($4::boolean IS NULL OR h.is_lighthouse = $4)
       AND ($5::boolean IS NULL OR h.is_relay = $5)";

type Query<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

fn bind_filter(query: Query<'_>, org: OrganizationId, filter: HostFilter) -> Query<'_> {
    query
        .bind(org.as_uuid())
        .bind(filter.role.map(|r| r.as_uuid()))
        .bind(filter.network.map(|n| n.as_uuid()))
        .bind(filter.is_lighthouse)
        .bind(filter.is_relay)
}

impl PostgresStore {
    pub(crate) async fn add_host(
        &self,
        host: &Host,
        addresses: &[IpAddress],
        allocate: Option<&IpRequest>,
    ) -> Result<Host> {
        let mut tx = self.begin().await?;
        write_server(&mut tx, &host.server, addresses).await?;
        if let Some(request) = allocate {
            ipam::allocate(&mut tx, request).await?;
        }
        write_attributes(&mut tx, host, true).await?;
        write_role(&mut tx, host.server.id, host.role).await?;
        let rows = fetch_all(
            &mut tx,
            sqlx::query(&format!("{SELECT} WHERE s.id = $1")).bind(host.server.id.as_uuid()),
        )
        .await?;
        let stored = hosts_from_rows(&mut tx, &rows).await?.pop().ok_or(Error::not_found(HOST))?;
        commit(tx).await?;
        Ok(stored)
    }

    pub(crate) async fn get_host(&self, org: OrganizationId, id: ServerId) -> Result<Option<Host>> {
        let mut tx = self.begin().await?;
        let rows = fetch_all(
            &mut tx,
            sqlx::query(&format!("{SELECT} WHERE s.id = $1 AND s.organization_id = $2"))
                .bind(id.as_uuid())
                .bind(org.as_uuid()),
        )
        .await?;
        Ok(hosts_from_rows(&mut tx, &rows).await?.pop())
    }

    pub(crate) async fn hosts(
        &self,
        org: OrganizationId,
        filter: HostFilter,
        page: PageRequest,
    ) -> Result<Page<Host>> {
        let mut tx = self.begin().await?;
        let count_sql = format!(
            "SELECT COUNT(*) AS n FROM servers s JOIN host_attributes h ON h.server_id = s.id WHERE {FILTER}"
        );
        let total: i64 = bind_filter(sqlx::query(&count_sql), org, filter)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)
            .and_then(|row| get(&row, "n"))?;
        let sql = format!("{SELECT} WHERE {FILTER} ORDER BY s.seq LIMIT $6 OFFSET $7");
        let rows = fetch_all(
            &mut tx,
            bind_filter(sqlx::query(&sql), org, filter).bind(limit(page)).bind(offset(page)),
        )
        .await?;
        let items = hosts_from_rows(&mut tx, &rows).await?;
        Ok(Page { items, total: count(total), request: page })
    }

    pub(crate) async fn put_host(&self, host: &Host) -> Result<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("UPDATE servers SET name = $1 WHERE id = $2 AND organization_id = $3")
            .bind(&host.server.name)
            .bind(host.server.id.as_uuid())
            .bind(host.server.organization_id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        found(done, HOST)?;
        write_tags(&mut tx, host.server.id, &host.server.tags).await?;
        write_attributes(&mut tx, host, false).await?;
        write_role(&mut tx, host.server.id, host.role).await?;
        commit(tx).await
    }
}
