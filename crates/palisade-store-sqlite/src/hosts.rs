//! Hosts on SQLite: a server row (with its interface and addresses), a `host_attributes` row and
//! a membership of the role group, always written together.

use std::collections::HashMap;

use palisade_core::error::{Error, Result};
use palisade_core::id::{NetworkId, OrganizationId, SecurityGroupId, ServerId};
use palisade_core::model::{Host, HostFilter, IpAddress, IpRequest, Overlay};
use palisade_core::{Page, PageRequest};
use sqlx::sqlite::SqliteRow;
use sqlx::SqliteConnection;

use crate::rows::{self, bytes16, get};
use crate::store_impl::{
    bind_ids, count, fetch_all, limit, offset, placeholders, servers_from_rows, write_server, write_tags,
};
use crate::{constraint_error, db_error, ipam, SqliteStore};

const HOST: &str = "server";
const ROLE: &str = "role";
const UNIQUE_NAME: &[(&str, &str, &str)] = &[("host_attributes.organization_id", HOST, "name")];

fn json_list(text: &str) -> Result<Vec<String>> {
    serde_json::from_str(text).map_err(Error::internal)
}

async fn write_attributes(conn: &mut SqliteConnection, host: &Host, insert: bool) -> Result<()> {
    let network = host.network_id().ok_or_else(|| Error::internal("a host without an interface"))?;
    let o = &host.overlay;
    let sql = if insert {
        "INSERT INTO host_attributes (server_id, organization_id, network_id, name, listen_port,
            is_lighthouse, is_relay, static_addresses, config_overrides, modified_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    } else {
        "UPDATE host_attributes SET organization_id = ?2, network_id = ?3, name = ?4, listen_port = ?5,
            is_lighthouse = ?6, is_relay = ?7, static_addresses = ?8, config_overrides = ?9,
            modified_at = ?10
         WHERE server_id = ?1"
    };
    sqlx::query(sql)
        .bind(host.server.id.as_bytes().as_slice())
        .bind(host.server.organization_id.as_bytes().as_slice())
        .bind(network.as_bytes().as_slice())
        .bind(&host.server.name)
        .bind(i64::from(o.listen_port))
        .bind(o.is_lighthouse)
        .bind(o.is_relay)
        .bind(serde_json::to_string(&o.static_addresses).map_err(Error::internal)?)
        .bind(&o.config_overrides)
        .bind(host.modified_at.unix_timestamp())
        .execute(&mut *conn)
        .await
        .map_err(|e| constraint_error(e, UNIQUE_NAME, NetworkId::KIND))?;
    Ok(())
}

/// Makes `role` the server's only role (none when `None`).
async fn write_role(
    conn: &mut SqliteConnection,
    server: ServerId,
    role: Option<SecurityGroupId>,
) -> Result<()> {
    let sid = server.as_bytes().as_slice();
    sqlx::query(
        "DELETE FROM security_group_members WHERE server_id = ?
           AND group_id IN (SELECT id FROM security_groups WHERE kind = 'role')",
    )
    .bind(sid)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    if let Some(role) = role {
        sqlx::query(
            "INSERT INTO security_group_members (group_id, position, server_id)
             VALUES (?1, (SELECT COALESCE(MAX(position) + 1, 0) FROM security_group_members WHERE group_id = ?1), ?2)",
        )
        .bind(role.as_bytes().as_slice())
        .bind(sid)
        .execute(&mut *conn)
        .await
        .map_err(|e| constraint_error(e, &[], ROLE))?;
    }
    Ok(())
}

async fn hosts_from_rows(conn: &mut SqliteConnection, rows: Vec<SqliteRow>) -> Result<Vec<Host>> {
    let servers = servers_from_rows(&mut *conn, &rows).await?;
    let ids: Vec<[u8; 16]> = servers.iter().map(|s| *s.id.as_bytes()).collect();
    let sql = format!(
        "SELECT m.server_id, m.group_id FROM security_group_members m JOIN security_groups g ON g.id = m.group_id
         WHERE g.kind = 'role' AND m.server_id IN ({})",
        placeholders(ids.len())
    );
    let mut roles = HashMap::new();
    for row in fetch_all(&mut *conn, bind_ids(sqlx::query(&sql), &ids)).await? {
        roles.insert(bytes16(&row, "server_id")?, SecurityGroupId::from_bytes(bytes16(&row, "group_id")?));
    }
    let mut hosts = Vec::with_capacity(rows.len());
    for (row, server) in rows.iter().zip(servers) {
        hosts.push(Host {
            role: roles.get(server.id.as_bytes()).copied(),
            server,
            overlay: Overlay {
                listen_port: u16::try_from(get::<i64>(row, "listen_port")?).map_err(Error::internal)?,
                is_lighthouse: get(row, "is_lighthouse")?,
                is_relay: get(row, "is_relay")?,
                static_addresses: json_list(&get::<String>(row, "static_addresses")?)?,
                config_overrides: get(row, "config_overrides")?,
            },
            modified_at: rows::timestamp(row, "modified_at")?,
        });
    }
    Ok(hosts)
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

/// Binds `?1`..`?5` of a host listing: the organization, then each filter or NULL.
fn bind_filter(query: Query<'_>, org: OrganizationId, filter: HostFilter) -> Query<'_> {
    query
        .bind(org.as_bytes().to_vec())
        .bind(filter.role.map(|r| r.as_bytes().to_vec()))
        .bind(filter.network.map(|n| n.as_bytes().to_vec()))
        .bind(filter.is_lighthouse)
        .bind(filter.is_relay)
}

/// Servers joined with their host attributes; the server's columns win on name clashes.
const SELECT: &str = "SELECT h.listen_port, h.is_lighthouse, h.is_relay, h.static_addresses,
        h.config_overrides, h.modified_at, s.*
     FROM servers s JOIN host_attributes h ON h.server_id = s.id";

impl SqliteStore {
    pub(crate) async fn add_host(
        &self,
        host: &Host,
        addresses: &[IpAddress],
        allocate: Option<&IpRequest>,
    ) -> Result<Host> {
        let mut tx = self.write().await?;
        write_server(&mut tx, &host.server, addresses).await?;
        if let Some(request) = allocate {
            ipam::allocate(&mut tx, request).await?;
        }
        write_attributes(&mut tx, host, true).await?;
        write_role(&mut tx, host.server.id, host.role).await?;
        let rows = fetch_all(
            &mut tx,
            sqlx::query(&format!("{SELECT} WHERE s.id = ?")).bind(host.server.id.as_bytes().as_slice()),
        )
        .await?;
        let stored = hosts_from_rows(&mut tx, rows).await?.pop().ok_or(Error::not_found(HOST))?;
        tx.commit().await?;
        Ok(stored)
    }

    pub(crate) async fn get_host(&self, org: OrganizationId, id: ServerId) -> Result<Option<Host>> {
        let mut tx = self.read().await?;
        let rows = fetch_all(
            &mut tx,
            sqlx::query(&format!("{SELECT} WHERE s.id = ? AND s.organization_id = ?"))
                .bind(id.as_bytes().as_slice())
                .bind(org.as_bytes().as_slice()),
        )
        .await?;
        Ok(hosts_from_rows(&mut tx, rows).await?.pop())
    }

    pub(crate) async fn hosts(
        &self,
        org: OrganizationId,
        filter: HostFilter,
        page: PageRequest,
    ) -> Result<Page<Host>> {
        let mut tx = self.read().await?;
        // `?2`..`?5` are NULL when the filter is off.
        let condition = "FROM servers s JOIN host_attributes h ON h.server_id = s.id
             WHERE s.organization_id = ?1
               AND (?2 IS NULL OR EXISTS (SELECT 1 FROM security_group_members m
                                          WHERE m.server_id = s.id AND m.group_id = ?2))
               AND (?3 IS NULL OR h.network_id = ?3)
               AND (?4 IS NULL OR h.is_lighthouse = ?4)
               AND (?5 IS NULL OR h.is_relay = ?5)";
        let count_sql = format!("SELECT COUNT(*) AS n {condition}");
        let total: i64 = bind_filter(sqlx::query(&count_sql), org, filter)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)
            .and_then(|row| get(&row, "n"))?;
        let sql = format!(
            "SELECT h.listen_port, h.is_lighthouse, h.is_relay, h.static_addresses, h.config_overrides,
                    h.modified_at, s.* {condition} ORDER BY s.rowid LIMIT ?6 OFFSET ?7"
        );
        let rows = fetch_all(
            &mut tx,
            bind_filter(sqlx::query(&sql), org, filter).bind(limit(page)).bind(offset(page)),
        )
        .await?;
        let items = hosts_from_rows(&mut tx, rows).await?;
        Ok(Page { items, total: count(total), request: page })
    }

    pub(crate) async fn put_host(&self, host: &Host) -> Result<()> {
        let mut tx = self.write().await?;
        let sid = host.server.id.as_bytes().as_slice();
        let done = sqlx::query("UPDATE servers SET name = ? WHERE id = ? AND organization_id = ?")
            .bind(&host.server.name)
            .bind(sid)
            .bind(host.server.organization_id.as_bytes().as_slice())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        crate::found(done, HOST)?;
        write_tags(&mut tx, host.server.id, &host.server.tags).await?;
        write_attributes(&mut tx, host, false).await?;
        write_role(&mut tx, host.server.id, host.role).await?;
        tx.commit().await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn stored_lists_round_trip() {
        let list = vec!["192.0.2.1:4242".to_owned()];
        let text = serde_json::to_string(&list).unwrap();
        assert_eq!(super::json_list(&text).unwrap(), list);
        assert!(super::json_list("{").is_err());
    }
}
