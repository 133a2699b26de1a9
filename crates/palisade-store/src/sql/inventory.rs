//! Data centers, networks (with their prefixes and reserved ranges) and servers (with their
//! interfaces, addresses and tags). Lists of children are read for a whole page at once.

use std::collections::HashMap;

use async_trait::async_trait;
use palisade_core::error::{Error, Result, UsedBy};
use palisade_core::grant::{Grant, OperatorGrant};
use palisade_core::id::{DataCenterId, InterfaceId, NetworkId, OrganizationId, ServerGroupId, ServerId};
use palisade_core::model::{DataCenter, Interface, InterfaceOwner, IpAddress, Network, Server};
use palisade_core::store::{InventoryReads, InventoryWrites};
use palisade_core::{Page, PageRequest};
use uuid::Uuid;

use super::db::{self, SEQ};
use super::grants::{within, SERVER_GROUP_OWNER, SERVER_OWNER};
use super::rows::{self, get};
use super::{
    by_id, constraint_error, count, execute, fetch_all, fetch_optional, found, insert_rows, ipam, limit,
    lock_row, offset, page_of, position, Connection, Tx, Unique, WriteTx,
};

const ORG: &str = "organization";

/// Binds what describes a data center, in this order: name, permalink, and the country's
/// name, codes, time zone and EU membership.
fn bind_described<'q>(query: db::Query<'q>, dc: &'q DataCenter) -> db::Query<'q> {
    query
        .bind(&dc.name)
        .bind(&dc.permalink)
        .bind(&dc.country.name)
        .bind(&dc.country.iso_code2)
        .bind(&dc.country.iso_code3)
        .bind(&dc.country.time_zone)
        .bind(dc.country.eu)
}

/// The counts `sql` selects (one column per kind, named so), keeping the kinds with at least one.
async fn usage(conn: &mut db::Conn, sql: &str, id: Uuid, kinds: &[&'static str]) -> Result<Vec<UsedBy>> {
    let Some(row) = fetch_optional(conn, sqlx::query(sql).bind(id)).await? else { return Ok(Vec::new()) };
    let mut used = Vec::new();
    for kind in kinds {
        let n: i64 = get(&row, kind)?;
        if n > 0 {
            used.push(UsedBy { kind, count: count(n) });
        }
    }
    Ok(used)
}

/// A foreign-key violation of a deletion: something still refers to the `kind`.
fn in_use(e: sqlx::Error, kind: &'static str) -> Error {
    match &e {
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
            Error::InUse { kind, used_by: Vec::new() }
        }
        _ => db::db_error(e),
    }
}

/// Networks from their rows, with the prefixes and reserved ranges of all of them in one query.
async fn networks_from_rows(conn: &mut db::Conn, rows: &[db::Row]) -> Result<Vec<Network>> {
    let mut networks = Vec::with_capacity(rows.len());
    for row in rows {
        networks.push(Network {
            id: NetworkId::from_uuid(get(row, "id")?),
            name: get(row, "name")?,
            permalink: get(row, "permalink")?,
            data_center_id: DataCenterId::from_uuid(get(row, "data_center_id")?),
            prefixes: Vec::new(),
            reserved: Vec::new(),
            is_default: get(row, "is_default")?,
            organization_id: get::<Option<Uuid>>(row, "organization_id")?.map(OrganizationId::from_uuid),
            created_at: db::time_of(row, "created_at")?,
        });
    }
    if networks.is_empty() {
        return Ok(networks);
    }
    let ids: Vec<Uuid> = networks.iter().map(|n| n.id.as_uuid()).collect();
    let index: HashMap<Uuid, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let among = db::in_list(1, ids.len());
    let sql = format!(
        "SELECT network_id, FALSE AS reserved, position, prefix FROM network_prefixes WHERE network_id {among}
         UNION ALL
         SELECT network_id, TRUE AS reserved, position, prefix FROM network_reserved WHERE network_id {among}
         ORDER BY position"
    );
    for row in fetch_all(conn, db::bind_list(sqlx::query(&sql), &ids)).await? {
        let Some(&i) = index.get(&get(&row, "network_id")?) else { continue };
        let list = if get(&row, "reserved")? { &mut networks[i].reserved } else { &mut networks[i].prefixes };
        list.push(db::net_of(&row, "prefix")?);
    }
    Ok(networks)
}

/// A server from its row, without its interfaces and tags (children rows add them).
pub(crate) fn server_from(row: &db::Row) -> Result<Server> {
    Ok(Server {
        id: ServerId::from_uuid(get(row, "id")?),
        organization_id: OrganizationId::from_uuid(get(row, "organization_id")?),
        name: get(row, "name")?,
        interfaces: Vec::new(),
        tags: Vec::new(),
        server_group: get::<Option<Uuid>>(row, "server_group_id")?.map(ServerGroupId::from_uuid),
        created_at: db::time_of(row, "created_at")?,
    })
}

/// An interface from an `interfaces` row, without its addresses.
pub(crate) fn interface_from(row: &db::Row) -> Result<Interface> {
    Ok(Interface {
        id: InterfaceId::from_uuid(get(row, "id")?),
        network_id: NetworkId::from_uuid(get(row, "network_id")?),
        addresses: Vec::new(),
    })
}

/// Servers from their rows, with the interfaces, addresses and tags of all of them in three
/// queries.
pub(crate) async fn servers_from_rows(conn: &mut db::Conn, rows: &[db::Row]) -> Result<Vec<Server>> {
    let mut servers = rows.iter().map(server_from).collect::<Result<Vec<_>>>()?;
    if servers.is_empty() {
        return Ok(servers);
    }
    let ids: Vec<Uuid> = servers.iter().map(|s| s.id.as_uuid()).collect();
    let among = db::in_list(1, ids.len());
    let sql =
        format!("SELECT id, server_id, network_id FROM interfaces WHERE server_id {among} ORDER BY position");
    let iface_rows = fetch_all(&mut *conn, db::bind_list(sqlx::query(&sql), &ids)).await?;
    let sql = format!(
        "SELECT interface_id, address FROM ip_addresses
         WHERE server_id {among} AND interface_id IS NOT NULL ORDER BY {SEQ}"
    );
    let addr_rows = fetch_all(&mut *conn, db::bind_list(sqlx::query(&sql), &ids)).await?;
    let sql = format!("SELECT server_id, tag FROM server_tags WHERE server_id {among} ORDER BY position");
    let tag_rows = fetch_all(&mut *conn, db::bind_list(sqlx::query(&sql), &ids)).await?;
    let by_server: HashMap<Uuid, usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let mut addresses: HashMap<Uuid, Vec<std::net::IpAddr>> = HashMap::new();
    for row in &addr_rows {
        addresses.entry(get(row, "interface_id")?).or_default().push(db::addr_of(row, "address")?);
    }
    for row in &iface_rows {
        if let Some(&i) = by_server.get(&get(row, "server_id")?) {
            let mut interface = interface_from(row)?;
            interface.addresses = addresses.remove(&interface.id.as_uuid()).unwrap_or_default();
            servers[i].interfaces.push(interface);
        }
    }
    for row in &tag_rows {
        if let Some(&i) = by_server.get(&get(row, "server_id")?) {
            servers[i].tags.push(get(row, "tag")?);
        }
    }
    Ok(servers)
}

/// The input path of a claimed address: `interfaces[i].addresses[j]`.
fn claim_path(server: &Server, ip: &IpAddress) -> String {
    for (i, iface) in server.interfaces.iter().enumerate() {
        if ip.allocation.is_some_and(|a| a.interface_id == iface.id) {
            if let Some(j) = iface.addresses.iter().position(|a| *a == ip.address) {
                return format!("interfaces[{i}].addresses[{j}]");
            }
        }
    }
    "address".into()
}

/// Sets a server's tags, replacing any it had.
pub(crate) async fn write_tags(conn: &mut db::Conn, server: ServerId, tags: &[String]) -> Result<()> {
    execute(conn, sqlx::query("DELETE FROM server_tags WHERE server_id = $1").bind(server.as_uuid())).await?;
    let id = server.as_uuid();
    insert_rows(
        conn,
        "server_tags (server_id, position, tag)",
        tags,
        |q, i, tag| q.bind(id).bind(position(i)).bind(tag),
        |e| constraint_error(e, &[Unique::ServerTag], ORG),
    )
    .await
}

#[async_trait]
impl<S: Connection> InventoryReads for Tx<S> {
    async fn data_center(&mut self, id: DataCenterId) -> Result<Option<DataCenter>> {
        by_id(self, "data_centers", id.as_uuid(), rows::data_center).await
    }

    async fn list_data_centers(&mut self, page: PageRequest) -> Result<Page<DataCenter>> {
        page_of(self, page, None, "FROM data_centers", rows::data_center).await
    }

    async fn network(&mut self, id: NetworkId) -> Result<Option<Network>> {
        let rows =
            fetch_all(self, sqlx::query("SELECT * FROM networks WHERE id = $1").bind(id.as_uuid())).await?;
        Ok(networks_from_rows(self, &rows).await?.pop())
    }

    /// Shared networks and, with `org`, that organization's own.
    async fn list_networks(
        &mut self,
        org: Option<OrganizationId>,
        page: PageRequest,
    ) -> Result<Page<Network>> {
        let filter = "($1 IS NULL OR organization_id IS NULL OR organization_id = $1)";
        let org = org.map(|o| o.as_uuid());
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM networks WHERE {filter}"))
            .bind(org)
            .fetch_one(&mut **self)
            .await
            .map_err(db::db_error)?;
        let sql = format!("SELECT * FROM networks WHERE {filter} ORDER BY {SEQ} LIMIT $2 OFFSET $3");
        let rows = fetch_all(self, sqlx::query(&sql).bind(org).bind(limit(page)).bind(offset(page))).await?;
        let items = networks_from_rows(self, &rows).await?;
        Ok(Page { items, total: count(total), request: page })
    }

    async fn server(&mut self, org: OrganizationId, id: ServerId) -> Result<Option<Server>> {
        let query = sqlx::query("SELECT * FROM servers WHERE id = $1 AND organization_id = $2");
        let rows = fetch_all(self, query.bind(id.as_uuid()).bind(org.as_uuid())).await?;
        Ok(servers_from_rows(self, &rows).await?.pop())
    }

    /// A server by id, whatever organization's (callers authorize its owner afterwards).
    async fn server_anywhere(&mut self, id: ServerId) -> Result<Option<Server>> {
        let rows =
            fetch_all(self, sqlx::query("SELECT * FROM servers WHERE id = $1").bind(id.as_uuid())).await?;
        Ok(servers_from_rows(self, &rows).await?.pop())
    }

    /// The organization's address records allocated to the server's interfaces, in creation order
    /// (the order `Store::server` lists an interface's addresses in).
    async fn server_ip_addresses(&mut self, org: OrganizationId, id: ServerId) -> Result<Vec<IpAddress>> {
        let sql = format!(
            "SELECT * FROM ip_addresses WHERE server_id = $1 AND organization_id = $2 AND interface_id IS NOT NULL
             ORDER BY {SEQ}"
        );
        let rows = fetch_all(self, sqlx::query(&sql).bind(id.as_uuid()).bind(org.as_uuid())).await?;
        rows.iter().map(rows::ip_address).collect()
    }

    /// Whose an interface is (its server's organization).
    async fn interface(&mut self, id: InterfaceId) -> Result<Option<InterfaceOwner>> {
        let query = sqlx::query(
            "SELECT i.server_id, i.network_id, s.organization_id FROM interfaces i JOIN servers s ON s.id = i.server_id
             WHERE i.id = $1",
        );
        let Some(row) = fetch_optional(self, query.bind(id.as_uuid())).await? else { return Ok(None) };
        Ok(Some(InterfaceOwner {
            server_id: ServerId::from_uuid(get(&row, "server_id")?),
            network_id: NetworkId::from_uuid(get(&row, "network_id")?),
            organization_id: OrganizationId::from_uuid(get(&row, "organization_id")?),
        }))
    }

    async fn list_servers(&mut self, org: OrganizationId, page: PageRequest) -> Result<Page<Server>> {
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM servers WHERE organization_id = $1")
            .bind(org.as_uuid())
            .fetch_one(&mut **self)
            .await
            .map_err(db::db_error)?;
        let sql =
            format!("SELECT * FROM servers WHERE organization_id = $1 ORDER BY {SEQ} LIMIT $2 OFFSET $3");
        let rows =
            fetch_all(self, sqlx::query(&sql).bind(org.as_uuid()).bind(limit(page)).bind(offset(page)))
                .await?;
        let items = servers_from_rows(self, &rows).await?;
        Ok(Page { items, total: count(total), request: page })
    }
}

#[async_trait]
impl InventoryWrites for WriteTx {
    async fn insert_data_center(&mut self, _: &OperatorGrant, dc: &DataCenter) -> Result<()> {
        let insert = sqlx::query(
            "INSERT INTO data_centers (id, name, permalink, country_name, country_iso_code2, country_iso_code3,
                                       country_time_zone, country_eu, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(dc.id.as_uuid());
        bind_described(insert, dc)
            .bind(db::time(dc.created_at))
            .execute(&mut **self)
            .await
            .map_err(|e| constraint_error(e, &[Unique::DataCenterPermalink], ORG))?;
        Ok(())
    }

    async fn data_center_for_update(&mut self, id: DataCenterId) -> Result<Option<DataCenter>> {
        lock_row(self, "data_centers", id.as_uuid()).await?;
        by_id(self, "data_centers", id.as_uuid(), rows::data_center).await
    }

    async fn update_data_center(&mut self, _: &OperatorGrant, dc: &DataCenter) -> Result<()> {
        let update = sqlx::query(
            "UPDATE data_centers SET name = $1, permalink = $2, country_name = $3, country_iso_code2 = $4,
                                     country_iso_code3 = $5, country_time_zone = $6, country_eu = $7
             WHERE id = $8",
        );
        let update = bind_described(update, dc).bind(dc.id.as_uuid());
        let done = update
            .execute(&mut **self)
            .await
            .map_err(|e| constraint_error(e, &[Unique::DataCenterPermalink], DataCenterId::KIND))?;
        found(done, DataCenterId::KIND)
    }

    /// A data center's networks, and the servers with an interface on one of them.
    async fn data_center_usage(&mut self, id: DataCenterId) -> Result<Vec<UsedBy>> {
        let sql = "SELECT (SELECT COUNT(*) FROM networks WHERE data_center_id = $1) AS networks,
                          (SELECT COUNT(DISTINCT i.server_id) FROM interfaces i
                             JOIN networks n ON n.id = i.network_id WHERE n.data_center_id = $1) AS servers";
        usage(self, sql, id.as_uuid(), &["networks", "servers"]).await
    }

    /// A data center that nothing uses: a network added meanwhile (which the caller's lock
    /// prevents) would fail its foreign key, reported as in use.
    async fn delete_data_center(&mut self, _: &OperatorGrant, id: DataCenterId) -> Result<()> {
        let done = sqlx::query("DELETE FROM data_centers WHERE id = $1")
            .bind(id.as_uuid())
            .execute(&mut **self)
            .await
            .map_err(|e| in_use(e, DataCenterId::KIND))?;
        found(done, DataCenterId::KIND)
    }

    async fn insert_network(&mut self, _: &OperatorGrant, network: &Network) -> Result<()> {
        sqlx::query(
            "INSERT INTO networks (id, name, permalink, data_center_id, organization_id, is_default, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(network.id.as_uuid())
        .bind(&network.name)
        .bind(network.permalink.as_deref())
        .bind(network.data_center_id.as_uuid())
        .bind(network.organization_id.map(|o| o.as_uuid()))
        .bind(network.is_default)
        .bind(db::time(network.created_at))
        .execute(&mut **self)
        .await
        .map_err(|e| {
            constraint_error(e, &[Unique::NetworkPermalink, Unique::SharedDefaultNetwork], "data center")
        })?;
        for (table, prefixes) in
            [("network_prefixes", &network.prefixes), ("network_reserved", &network.reserved)]
        {
            let into = format!("{table} (network_id, position, prefix)");
            let id = network.id.as_uuid();
            insert_rows(
                &mut **self,
                &into,
                prefixes,
                |q, i, p| q.bind(id).bind(position(i)).bind(db::net(p)),
                db::db_error,
            )
            .await?;
        }
        Ok(())
    }

    async fn network_for_update(&mut self, id: NetworkId) -> Result<Option<Network>> {
        lock_row(self, "networks", id.as_uuid()).await?;
        self.network(id).await
    }

    /// Rewrites a network's name, permalink and default flag. A second shared default network of
    /// its data center is reported on `default`, the field this write sets.
    async fn update_network(&mut self, _: &OperatorGrant, network: &Network) -> Result<()> {
        let update =
            sqlx::query("UPDATE networks SET name = $1, permalink = $2, is_default = $3 WHERE id = $4")
                .bind(&network.name)
                .bind(network.permalink.as_deref())
                .bind(network.is_default)
                .bind(network.id.as_uuid());
        let done = update.execute(&mut **self).await.map_err(|e| {
            match constraint_error(
                e,
                &[Unique::NetworkPermalink, Unique::SharedDefaultNetwork],
                NetworkId::KIND,
            ) {
                Error::AlreadyExists { kind, field } if field == "data_center_id" => {
                    Error::AlreadyExists { kind, field: "default".to_owned() }
                }
                other => other,
            }
        })?;
        found(done, NetworkId::KIND)
    }

    /// What uses a network: servers with an interface on it or a host of it, address records in
    /// it, security groups it is a member of (ZStack's L3 network attachments).
    async fn network_usage(&mut self, id: NetworkId) -> Result<Vec<UsedBy>> {
        let sql = "SELECT (SELECT COUNT(*) FROM servers WHERE id IN
                             (SELECT server_id FROM interfaces WHERE network_id = $1
                              UNION SELECT server_id FROM host_attributes WHERE network_id = $1)) AS servers,
                          (SELECT COUNT(*) FROM ip_addresses WHERE network_id = $1) AS ip_addresses,
                          (SELECT COUNT(DISTINCT group_id) FROM security_group_members WHERE network_id = $1)
                            AS security_groups";
        usage(self, sql, id.as_uuid(), &["servers", "ip_addresses", "security_groups"]).await
    }

    /// A network that nothing uses, with its prefixes, reserved ranges and released-address pool
    /// (which cascade). Something added meanwhile (which the caller's lock prevents) would fail a
    /// foreign key, reported as in use.
    async fn delete_network(&mut self, _: &OperatorGrant, id: NetworkId) -> Result<()> {
        let done = sqlx::query("DELETE FROM networks WHERE id = $1")
            .bind(id.as_uuid())
            .execute(&mut **self)
            .await
            .map_err(|e| in_use(e, NetworkId::KIND))?;
        found(done, NetworkId::KIND)
    }

    /// Inserts a server with its tags and interfaces, and claims `addresses` for it.
    async fn insert_server(&mut self, grant: &Grant, server: &Server, addresses: &[IpAddress]) -> Result<()> {
        within(grant, server.organization_id, ServerId::KIND)?;
        if let Some(group) = server.server_group {
            self.owned(grant, SERVER_GROUP_OWNER, group.as_uuid(), ServerGroupId::KIND).await?;
        }
        sqlx::query(
            "INSERT INTO servers (id, organization_id, name, server_group_id, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(server.id.as_uuid())
        .bind(server.organization_id.as_uuid())
        .bind(&server.name)
        .bind(server.server_group.map(|g| g.as_uuid()))
        .bind(db::time(server.created_at))
        .execute(&mut **self)
        .await
        .map_err(|e| constraint_error(e, &[], ORG))?;
        write_tags(self, server.id, &server.tags).await?;
        let into = "interfaces (id, server_id, position, network_id)";
        let id = server.id.as_uuid();
        insert_rows(
            self,
            into,
            &server.interfaces,
            |q, i, iface| {
                q.bind(iface.id.as_uuid()).bind(id).bind(position(i)).bind(iface.network_id.as_uuid())
            },
            |e| constraint_error(e, &[], NetworkId::KIND),
        )
        .await?;
        for ip in addresses {
            ipam::claim(self, ip).await.map_err(|e| match e {
                Error::AlreadyExists { kind, .. } => {
                    Error::AlreadyExists { kind, field: claim_path(server, ip) }
                }
                other => other,
            })?;
        }
        self.touch(grant.organization_id());
        Ok(())
    }

    /// Deletes a server, releasing the addresses it claimed with it and unallocating the others.
    async fn delete_server(&mut self, grant: &Grant, id: ServerId) -> Result<()> {
        let org = grant.organization_id();
        let sql = format!("SELECT 1 FROM servers WHERE id = $1 AND organization_id = $2{}", db::FOR_UPDATE);
        if fetch_optional(self, sqlx::query(&sql).bind(id.as_uuid()).bind(org.as_uuid())).await?.is_none() {
            return Err(Error::not_found(ServerId::KIND));
        }
        ipam::release_where(self, "server_id = $1 AND server_owned = TRUE", id.as_uuid()).await?;
        execute(self, sqlx::query("DELETE FROM servers WHERE id = $1").bind(id.as_uuid())).await?;
        self.touch(grant.organization_id());
        Ok(())
    }

    async fn server_for_update(&mut self, id: ServerId) -> Result<Option<Server>> {
        lock_row(self, "servers", id.as_uuid()).await?;
        self.server_anywhere(id).await
    }

    /// Rewrites a server's name, tags and server group (its interfaces are left as they are). A
    /// host's name is mirrored in its attributes, where it is unique per network, so it moves with
    /// it. A server group deleted meanwhile is not found.
    async fn update_server(&mut self, grant: &Grant, server: &Server) -> Result<()> {
        within(grant, server.organization_id, ServerId::KIND)?;
        // The server first: a server that is not the grant's is not found, whatever it names.
        self.owned(grant, SERVER_OWNER, server.id.as_uuid(), ServerId::KIND).await?;
        if let Some(group) = server.server_group {
            self.owned(grant, SERVER_GROUP_OWNER, group.as_uuid(), ServerGroupId::KIND).await?;
        }
        let update = sqlx::query(
            "UPDATE servers SET name = $1, server_group_id = $2 WHERE id = $3 AND organization_id = $4",
        )
        .bind(&server.name)
        .bind(server.server_group.map(|g| g.as_uuid()))
        .bind(server.id.as_uuid())
        .bind(server.organization_id.as_uuid());
        let done =
            update.execute(&mut **self).await.map_err(|e| constraint_error(e, &[], ServerGroupId::KIND))?;
        found(done, ServerId::KIND)?;
        write_tags(self, server.id, &server.tags).await?;
        sqlx::query("UPDATE host_attributes SET name = $1 WHERE server_id = $2")
            .bind(&server.name)
            .bind(server.id.as_uuid())
            .execute(&mut **self)
            .await
            .map_err(|e| constraint_error(e, &[Unique::HostName], NetworkId::KIND))?;
        self.touch(grant.organization_id());
        Ok(())
    }
}
