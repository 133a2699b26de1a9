//! The [`Store`] trait implemented with plain SQL.

use std::collections::HashMap;

use async_trait::async_trait;
use palisade_core::error::{Error, Result};
use palisade_core::id::{
    ApiTokenId, DataCenterId, InterfaceId, IpAddressId, NetworkId, OrganizationId, ServerId,
};
use palisade_core::id::{RuleId, SecurityGroupId, ServerGroupId};
use palisade_core::model::{
    Allocation, ApiToken, DataCenter, Interface, IpAddress, IpAddressPatch, IpFilter, IpRequest, Network,
    Organization, OrganizationPatch, Server, User,
};
use palisade_core::policy::{GroupFilter, GroupKind, Rule, SecurityGroup, SecurityGroupPatch, ServerGroup};
use palisade_core::secret::{PasswordDigest, SecretHash};
use palisade_core::store::{Store, TokenCredentials, UserCredentials};
use palisade_core::{Page, PageRequest};
use sqlx::sqlite::SqliteRow;
use sqlx::{Sqlite, SqliteConnection};
use time::OffsetDateTime;

use crate::rows::{self, bytes16, get, opt_bytes16};
use crate::{constraint_error, db_error, found, ipam, SqliteStore};

const ORG: &str = "organization";

pub(crate) fn limit(page: PageRequest) -> i64 {
    i64::try_from(page.limit()).unwrap_or(i64::MAX)
}

pub(crate) fn offset(page: PageRequest) -> i64 {
    i64::try_from(page.offset()).unwrap_or(i64::MAX)
}

pub(crate) fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

pub(crate) async fn fetch_all<'q>(
    conn: &mut SqliteConnection,
    query: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
) -> Result<Vec<SqliteRow>> {
    query.fetch_all(conn).await.map_err(db_error)
}

/// Loads prefixes for the given network rows (already fetched) in one query.
async fn networks_from_rows(conn: &mut SqliteConnection, rows: Vec<SqliteRow>) -> Result<Vec<Network>> {
    let mut networks = Vec::with_capacity(rows.len());
    for row in &rows {
        networks.push(Network {
            id: NetworkId::from_bytes(bytes16(row, "id")?),
            name: get(row, "name")?,
            permalink: get(row, "permalink")?,
            data_center_id: DataCenterId::from_bytes(bytes16(row, "data_center_id")?),
            prefixes: Vec::new(),
            reserved: Vec::new(),
            is_default: get(row, "is_default")?,
            organization_id: opt_bytes16(row, "organization_id")?.map(OrganizationId::from_bytes),
            created_at: rows::timestamp(row, "created_at")?,
        });
    }
    for network in &mut networks {
        let prefix_rows = fetch_all(
            &mut *conn,
            sqlx::query("SELECT prefix FROM network_prefixes WHERE network_id = ? ORDER BY position")
                .bind(network.id.as_bytes().as_slice()),
        )
        .await?;
        for row in &prefix_rows {
            let text: String = get(row, "prefix")?;
            network.prefixes.extend(rows::parse_nets(&text)?);
        }
        let reserved_rows = fetch_all(
            &mut *conn,
            sqlx::query("SELECT prefix FROM network_reserved WHERE network_id = ? ORDER BY position")
                .bind(network.id.as_bytes().as_slice()),
        )
        .await?;
        for row in &reserved_rows {
            let text: String = get(row, "prefix")?;
            network.reserved.extend(rows::parse_nets(&text)?);
        }
    }
    Ok(networks)
}

/// `?, ?, …` for an `IN` list of `n` values (a page is at most a few hundred).
pub(crate) fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// Binds each id, in order, to the next placeholder.
pub(crate) fn bind_ids<'q>(
    mut query: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>,
    ids: &'q [[u8; 16]],
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>> {
    for id in ids {
        query = query.bind(id.as_slice());
    }
    query
}

/// Loads interfaces, addresses and tags for server rows in three queries.
pub(crate) async fn servers_from_rows(
    conn: &mut SqliteConnection,
    rows: &[SqliteRow],
) -> Result<Vec<Server>> {
    let mut servers = Vec::with_capacity(rows.len());
    for row in rows {
        servers.push(Server {
            id: ServerId::from_bytes(bytes16(row, "id")?),
            organization_id: OrganizationId::from_bytes(bytes16(row, "organization_id")?),
            name: get(row, "name")?,
            interfaces: Vec::new(),
            tags: Vec::new(),
            created_at: rows::timestamp(row, "created_at")?,
        });
    }
    if servers.is_empty() {
        return Ok(servers);
    }
    let ids: Vec<[u8; 16]> = servers.iter().map(|s| *s.id.as_bytes()).collect();
    let marks = placeholders(ids.len());
    let iface_sql = format!(
        "SELECT id, server_id, network_id FROM interfaces WHERE server_id IN ({marks}) ORDER BY position"
    );
    let iface_rows = fetch_all(&mut *conn, bind_ids(sqlx::query(&iface_sql), &ids)).await?;
    let addr_sql = format!(
        "SELECT interface_id, address FROM ip_addresses
         WHERE server_id IN ({marks}) AND interface_id IS NOT NULL ORDER BY rowid"
    );
    let addr_rows = fetch_all(&mut *conn, bind_ids(sqlx::query(&addr_sql), &ids)).await?;
    let tag_sql =
        format!("SELECT server_id, tag FROM server_tags WHERE server_id IN ({marks}) ORDER BY position");
    let tag_rows = fetch_all(&mut *conn, bind_ids(sqlx::query(&tag_sql), &ids)).await?;
    let by_server: HashMap<[u8; 16], usize> = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let mut addresses: HashMap<[u8; 16], Vec<std::net::IpAddr>> = HashMap::new();
    for row in &addr_rows {
        addresses.entry(bytes16(row, "interface_id")?).or_default().push(rows::address(row, "address")?);
    }
    for row in &iface_rows {
        let id = bytes16(row, "id")?;
        if let Some(&i) = by_server.get(&bytes16(row, "server_id")?) {
            servers[i].interfaces.push(Interface {
                id: InterfaceId::from_bytes(id),
                network_id: NetworkId::from_bytes(bytes16(row, "network_id")?),
                addresses: addresses.remove(&id).unwrap_or_default(),
            });
        }
    }
    for row in &tag_rows {
        if let Some(&i) = by_server.get(&bytes16(row, "server_id")?) {
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

/// Sets a server's tags (replacing any it had), inside `conn`'s transaction.
pub(crate) async fn write_tags(conn: &mut SqliteConnection, server: ServerId, tags: &[String]) -> Result<()> {
    let sid = server.as_bytes().as_slice();
    sqlx::query("DELETE FROM server_tags WHERE server_id = ?")
        .bind(sid)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    for (position, tag) in tags.iter().enumerate() {
        sqlx::query("INSERT INTO server_tags (server_id, position, tag) VALUES (?, ?, ?)")
            .bind(sid)
            .bind(i64::try_from(position).unwrap_or(i64::MAX))
            .bind(tag)
            .execute(&mut *conn)
            .await
            .map_err(|e| constraint_error(e, &[("server_tags.server_id", "tag", "tags")], ORG))?;
    }
    Ok(())
}

/// Inserts a server with its tags and interfaces and claims `addresses`, inside `conn`'s
/// transaction.
pub(crate) async fn write_server(
    conn: &mut SqliteConnection,
    server: &Server,
    addresses: &[IpAddress],
) -> Result<()> {
    let sid = server.id.as_bytes().as_slice();
    sqlx::query("INSERT INTO servers (id, organization_id, name, created_at) VALUES (?, ?, ?, ?)")
        .bind(sid)
        .bind(server.organization_id.as_bytes().as_slice())
        .bind(&server.name)
        .bind(server.created_at.unix_timestamp())
        .execute(&mut *conn)
        .await
        .map_err(|e| constraint_error(e, &[], ORG))?;
    write_tags(conn, server.id, &server.tags).await?;
    for (position, iface) in server.interfaces.iter().enumerate() {
        sqlx::query("INSERT INTO interfaces (id, server_id, position, network_id) VALUES (?, ?, ?, ?)")
            .bind(iface.id.as_bytes().as_slice())
            .bind(sid)
            .bind(i64::try_from(position).unwrap_or(i64::MAX))
            .bind(iface.network_id.as_bytes().as_slice())
            .execute(&mut *conn)
            .await
            .map_err(|e| constraint_error(e, &[], NetworkId::KIND))?;
    }
    for ip in addresses {
        ipam::claim(&mut *conn, ip).await.map_err(|e| match e {
            Error::AlreadyExists { kind, .. } => Error::AlreadyExists { kind, field: claim_path(server, ip) },
            other => other,
        })?;
    }
    Ok(())
}

impl SqliteStore {
    /// The row of `table` with this id, decoded.
    pub(crate) async fn row_by_id<T>(
        &self,
        table: &str,
        id: &[u8; 16],
        decode: fn(&SqliteRow) -> Result<T>,
    ) -> Result<Option<T>> {
        let row = sqlx::query(&format!("SELECT * FROM {table} WHERE id = ?"))
            .bind(id.as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(decode).transpose()
    }

    /// Deletes the row of `table` with this id in its own write transaction; `kind` not found
    /// when there is none.
    pub(crate) async fn delete_row(&self, table: &str, id: &[u8; 16], kind: &'static str) -> Result<()> {
        let mut tx = self.write().await?;
        found(
            sqlx::query(&format!("DELETE FROM {table} WHERE id = ?"))
                .bind(id.as_slice())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?,
            kind,
        )?;
        tx.commit().await
    }

    /// One page of rows `from` a table (with an optional owner bound to its one `?`), in
    /// insertion order, with the total, read in one snapshot.
    pub(crate) async fn simple_page<T>(
        &self,
        page: PageRequest,
        owner: Option<&[u8; 16]>,
        from: &str,
        decode: fn(&SqliteRow) -> Result<T>,
    ) -> Result<Page<T>> {
        let mut tx = self.read().await?;
        let count_sql = format!("SELECT COUNT(*) {from}");
        let mut total = sqlx::query_scalar::<_, i64>(&count_sql);
        let list_sql = format!("SELECT * {from} ORDER BY rowid LIMIT ? OFFSET ?");
        let mut list = sqlx::query(&list_sql);
        if let Some(owner) = owner {
            total = total.bind(owner.as_slice());
            list = list.bind(owner.as_slice());
        }
        let total = total.fetch_one(&mut *tx).await.map_err(db_error)?;
        let rows = fetch_all(&mut tx, list.bind(limit(page)).bind(offset(page))).await?;
        let items = rows.iter().map(decode).collect::<Result<_>>()?;
        Ok(Page { items, total: count(total), request: page })
    }
}

const TOKEN_WITH_ORG: &str = "SELECT t.*, o.id AS o_id, o.name AS o_name, o.sub_domain AS o_sub_domain,
        o.status AS o_status, o.resource_creation_restricted AS o_resource_creation_restricted,
        o.created_at AS o_created_at, o.updated_at AS o_updated_at";

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(db_error)?;
        Ok(())
    }

    async fn setting(&self, key: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.map(|r| get(&r, "value")).transpose()
    }

    async fn init_setting(&self, key: &str, value: &str) -> Result<String> {
        let mut tx = self.write().await?;
        sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        let row = sqlx::query("SELECT value FROM settings WHERE key = ?")
            .bind(key)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await?;
        get(&row, "value")
    }

    async fn insert_organization(&self, org: &Organization) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO organizations (id, name, sub_domain, status, resource_creation_restricted, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(org.id.as_bytes().as_slice())
        .bind(&org.name)
        .bind(&org.sub_domain)
        .bind(org.status.as_str())
        .bind(org.resource_creation_restricted)
        .bind(org.created_at.unix_timestamp())
        .bind(org.updated_at.unix_timestamp())
        .execute(&mut *tx)
        .await
        .map_err(|e| constraint_error(e, &[("organizations.sub_domain", ORG, "sub_domain")], ORG))?;
        tx.commit().await
    }

    async fn organization(&self, id: OrganizationId) -> Result<Option<Organization>> {
        self.row_by_id("organizations", id.as_bytes(), rows::organization).await
    }

    async fn organization_by_sub_domain(&self, sub_domain: &str) -> Result<Option<Organization>> {
        let row = sqlx::query("SELECT * FROM organizations WHERE sub_domain = ?")
            .bind(sub_domain)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(rows::organization).transpose()
    }

    async fn list_organizations(&self, page: PageRequest) -> Result<Page<Organization>> {
        self.simple_page(page, None, "FROM organizations", rows::organization).await
    }

    async fn update_organization(
        &self,
        id: OrganizationId,
        patch: &OrganizationPatch,
        at: OffsetDateTime,
    ) -> Result<Organization> {
        let mut tx = self.write().await?;
        let row = sqlx::query(
            "UPDATE organizations SET
                name = COALESCE(?, name),
                status = COALESCE(?, status),
                resource_creation_restricted = COALESCE(?, resource_creation_restricted),
                updated_at = ?
             WHERE id = ? RETURNING *",
        )
        .bind(patch.name.as_deref())
        .bind(patch.status.map(|s| s.as_str()))
        .bind(patch.resource_creation_restricted)
        .bind(at.unix_timestamp())
        .bind(id.as_bytes().as_slice())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let org = row.as_ref().map(rows::organization).transpose()?.ok_or(Error::not_found(ORG))?;
        tx.commit().await?;
        Ok(org)
    }

    async fn delete_organization(&self, id: OrganizationId) -> Result<()> {
        let mut tx = self.write().await?;
        // Its addresses go back to their networks' pools; then servers, whose interfaces may use
        // the organization's own networks, which the organization's deletion cascades to.
        ipam::release_where(&mut tx, "organization_id = ?", id.as_bytes().as_slice()).await?;
        sqlx::query("DELETE FROM servers WHERE organization_id = ?")
            .bind(id.as_bytes().as_slice())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        found(
            sqlx::query("DELETE FROM organizations WHERE id = ?")
                .bind(id.as_bytes().as_slice())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?,
            ORG,
        )?;
        tx.commit().await
    }

    async fn insert_api_token(&self, token: &ApiToken, secret_hash: &SecretHash) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO api_tokens (id, organization_id, name, scopes, allowed_networks, expires_at, secret_sha256, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(token.id.as_bytes().as_slice())
        .bind(token.organization_id.as_bytes().as_slice())
        .bind(&token.name)
        .bind(rows::join(&token.scopes))
        .bind(rows::join(&token.allowed_networks))
        .bind(token.expires_at.map(|t| t.unix_timestamp()))
        .bind(secret_hash.as_bytes().as_slice())
        .bind(token.created_at.unix_timestamp())
        .execute(&mut *tx)
        .await
        .map_err(|e| constraint_error(e, &[], ORG))?;
        tx.commit().await
    }

    async fn token_credentials(&self, id: ApiTokenId) -> Result<Option<TokenCredentials>> {
        let sql = format!(
            "{TOKEN_WITH_ORG} FROM api_tokens t JOIN organizations o ON o.id = t.organization_id
             WHERE t.id = ? AND t.revoked_at IS NULL"
        );
        let row = sqlx::query(&sql)
            .bind(id.as_bytes().as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(TokenCredentials {
            token: rows::api_token(&row)?,
            secret_hash: rows::secret_hash(&row)?,
            organization: rows::organization_prefixed(&row)?,
        }))
    }

    async fn list_api_tokens(&self, org: OrganizationId, page: PageRequest) -> Result<Page<ApiToken>> {
        let from = "FROM api_tokens WHERE organization_id = ? AND revoked_at IS NULL";
        self.simple_page(page, Some(org.as_bytes()), from, rows::api_token).await
    }

    async fn revoke_api_token(&self, org: OrganizationId, id: ApiTokenId, at: OffsetDateTime) -> Result<()> {
        let mut tx = self.write().await?;
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND organization_id = ? AND revoked_at IS NULL",
        )
        .bind(at.unix_timestamp())
        .bind(id.as_bytes().as_slice())
        .bind(org.as_bytes().as_slice())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT 1 FROM api_tokens WHERE id = ? AND organization_id = ?")
                    .bind(id.as_bytes().as_slice())
                    .bind(org.as_bytes().as_slice())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_error)?;
            return Err(match exists {
                Some(_) => Error::Conflict("the api token is already revoked".into()),
                None => Error::not_found(ApiTokenId::KIND),
            });
        }
        tx.commit().await
    }

    async fn insert_user(&self, user: &User, password: &PasswordDigest) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO users (id, organization_id, username, password_phc, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(user.id.as_bytes().as_slice())
        .bind(user.organization_id.as_bytes().as_slice())
        .bind(&user.username)
        .bind(password.as_phc())
        .bind(user.created_at.unix_timestamp())
        .execute(&mut *tx)
        .await
        .map_err(|e| constraint_error(e, &[("users.username", "user", "username")], ORG))?;
        tx.commit().await
    }

    async fn user_credentials(&self, username: &str) -> Result<Option<UserCredentials>> {
        let row = sqlx::query(
            "SELECT u.*, o.id AS o_id, o.name AS o_name, o.sub_domain AS o_sub_domain, o.status AS o_status,
                    o.resource_creation_restricted AS o_resource_creation_restricted,
                    o.created_at AS o_created_at, o.updated_at AS o_updated_at
             FROM users u JOIN organizations o ON o.id = u.organization_id WHERE u.username = ?",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(UserCredentials {
            user: rows::user(&row)?,
            password: PasswordDigest::from_phc(get(&row, "password_phc")?),
            organization: rows::organization_prefixed(&row)?,
        }))
    }

    async fn list_users(&self, org: OrganizationId, page: PageRequest) -> Result<Page<User>> {
        self.simple_page(page, Some(org.as_bytes()), "FROM users WHERE organization_id = ?", rows::user).await
    }

    async fn insert_data_center(&self, dc: &DataCenter) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO data_centers (id, name, permalink, country_name, country_iso_code2, country_iso_code3,
                                       country_time_zone, country_eu, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(dc.id.as_bytes().as_slice())
        .bind(&dc.name)
        .bind(&dc.permalink)
        .bind(&dc.country.name)
        .bind(&dc.country.iso_code2)
        .bind(&dc.country.iso_code3)
        .bind(&dc.country.time_zone)
        .bind(dc.country.eu)
        .bind(dc.created_at.unix_timestamp())
        .execute(&mut *tx)
        .await
        .map_err(|e| constraint_error(e, &[("data_centers.permalink", "data center", "permalink")], ORG))?;
        tx.commit().await
    }

    async fn data_center(&self, id: DataCenterId) -> Result<Option<DataCenter>> {
        self.row_by_id("data_centers", id.as_bytes(), rows::data_center).await
    }

    async fn list_data_centers(&self, page: PageRequest) -> Result<Page<DataCenter>> {
        self.simple_page(page, None, "FROM data_centers", rows::data_center).await
    }

    async fn insert_network(&self, network: &Network) -> Result<()> {
        let mut tx = self.write().await?;
        let unique = [
            ("networks.permalink", "network", "permalink"),
            ("networks.data_center_id", "default network", "data_center_id"),
        ];
        sqlx::query(
            "INSERT INTO networks (id, name, permalink, data_center_id, organization_id, is_default, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(network.id.as_bytes().as_slice())
        .bind(&network.name)
        .bind(network.permalink.as_deref())
        .bind(network.data_center_id.as_bytes().as_slice())
        .bind(network.organization_id.as_ref().map(|o| o.as_bytes().as_slice()))
        .bind(network.is_default)
        .bind(network.created_at.unix_timestamp())
        .execute(&mut *tx)
        .await
        .map_err(|e| constraint_error(e, &unique, "data center"))?;
        for (position, prefix) in network.prefixes.iter().enumerate() {
            sqlx::query("INSERT INTO network_prefixes (network_id, position, prefix) VALUES (?, ?, ?)")
                .bind(network.id.as_bytes().as_slice())
                .bind(i64::try_from(position).unwrap_or(i64::MAX))
                .bind(prefix.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        for (position, reserved) in network.reserved.iter().enumerate() {
            sqlx::query("INSERT INTO network_reserved (network_id, position, prefix) VALUES (?, ?, ?)")
                .bind(network.id.as_bytes().as_slice())
                .bind(i64::try_from(position).unwrap_or(i64::MAX))
                .bind(reserved.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        tx.commit().await
    }

    async fn network(&self, id: NetworkId) -> Result<Option<Network>> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        let rows = fetch_all(
            &mut conn,
            sqlx::query("SELECT * FROM networks WHERE id = ?").bind(id.as_bytes().as_slice()),
        )
        .await?;
        Ok(networks_from_rows(&mut conn, rows).await?.pop())
    }

    async fn list_networks(&self, org: Option<OrganizationId>, page: PageRequest) -> Result<Page<Network>> {
        let mut tx = self.read().await?;
        let org_bytes = org.map(|o| o.as_bytes().to_vec());
        let filter = "(?1 IS NULL OR organization_id IS NULL OR organization_id = ?1)";
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM networks WHERE {filter}"))
            .bind(org_bytes.as_deref())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        let rows = fetch_all(
            &mut tx,
            sqlx::query(&format!("SELECT * FROM networks WHERE {filter} ORDER BY rowid LIMIT ?2 OFFSET ?3"))
                .bind(org_bytes.as_deref())
                .bind(limit(page))
                .bind(offset(page)),
        )
        .await?;
        let items = networks_from_rows(&mut tx, rows).await?;
        Ok(Page { items, total: count(total), request: page })
    }

    async fn insert_server(&self, server: &Server, addresses: &[IpAddress]) -> Result<()> {
        let mut tx = self.write().await?;
        write_server(&mut tx, server, addresses).await?;
        tx.commit().await
    }

    async fn server(&self, org: OrganizationId, id: ServerId) -> Result<Option<Server>> {
        let mut tx = self.read().await?;
        let rows = fetch_all(
            &mut tx,
            sqlx::query("SELECT * FROM servers WHERE id = ? AND organization_id = ?")
                .bind(id.as_bytes().as_slice())
                .bind(org.as_bytes().as_slice()),
        )
        .await?;
        Ok(servers_from_rows(&mut tx, &rows).await?.pop())
    }

    async fn list_servers(&self, org: OrganizationId, page: PageRequest) -> Result<Page<Server>> {
        let mut tx = self.read().await?;
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM servers WHERE organization_id = ?")
            .bind(org.as_bytes().as_slice())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        let rows = fetch_all(
            &mut tx,
            sqlx::query("SELECT * FROM servers WHERE organization_id = ? ORDER BY rowid LIMIT ? OFFSET ?")
                .bind(org.as_bytes().as_slice())
                .bind(limit(page))
                .bind(offset(page)),
        )
        .await?;
        let items = servers_from_rows(&mut tx, &rows).await?;
        Ok(Page { items, total: count(total), request: page })
    }

    async fn delete_server(&self, org: OrganizationId, id: ServerId) -> Result<()> {
        let mut tx = self.write().await?;
        let sid = id.as_bytes().as_slice();
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM servers WHERE id = ? AND organization_id = ?")
                .bind(sid)
                .bind(org.as_bytes().as_slice())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        if exists.is_none() {
            return Err(Error::not_found(ServerId::KIND));
        }
        ipam::release_where(&mut tx, "server_id = ? AND server_owned = 1", sid).await?;
        sqlx::query("DELETE FROM servers WHERE id = ?")
            .bind(sid)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await
    }

    async fn insert_host(
        &self,
        host: &palisade_core::model::Host,
        addresses: &[IpAddress],
        allocate: Option<&IpRequest>,
    ) -> Result<palisade_core::model::Host> {
        self.add_host(host, addresses, allocate).await
    }

    async fn host(&self, org: OrganizationId, id: ServerId) -> Result<Option<palisade_core::model::Host>> {
        self.get_host(org, id).await
    }

    async fn list_hosts(
        &self,
        org: OrganizationId,
        filter: palisade_core::model::HostFilter,
        page: PageRequest,
    ) -> Result<Page<palisade_core::model::Host>> {
        self.hosts(org, filter, page).await
    }

    async fn update_host(&self, host: &palisade_core::model::Host) -> Result<()> {
        self.put_host(host).await
    }

    async fn allocate_ip(&self, request: &IpRequest) -> Result<IpAddress> {
        let mut tx = self.write().await?;
        let ip = ipam::allocate(&mut tx, request).await?;
        tx.commit().await?;
        Ok(ip)
    }

    async fn ip_address(&self, org: OrganizationId, id: IpAddressId) -> Result<Option<IpAddress>> {
        let row = sqlx::query("SELECT * FROM ip_addresses WHERE id = ? AND organization_id = ?")
            .bind(id.as_bytes().as_slice())
            .bind(org.as_bytes().as_slice())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(rows::ip_address).transpose()
    }

    async fn ip_address_anywhere(&self, id: IpAddressId) -> Result<Option<IpAddress>> {
        self.row_by_id("ip_addresses", id.as_bytes(), rows::ip_address).await
    }

    async fn ip_address_by_address(
        &self,
        org: Option<OrganizationId>,
        address: std::net::IpAddr,
    ) -> Result<Option<IpAddress>> {
        let row = sqlx::query(
            "SELECT * FROM ip_addresses WHERE address = ?1 AND (?2 IS NULL OR organization_id = ?2) ORDER BY rowid LIMIT 1",
        )
        .bind(palisade_core::ipam::octets(address))
        .bind(org.map(|o| o.as_bytes().to_vec()))
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(rows::ip_address).transpose()
    }

    async fn list_ip_addresses(
        &self,
        org: OrganizationId,
        filter: IpFilter,
        page: PageRequest,
    ) -> Result<Page<IpAddress>> {
        let from = match filter.allocated {
            None => "FROM ip_addresses WHERE organization_id = ?",
            Some(true) => "FROM ip_addresses WHERE organization_id = ? AND interface_id IS NOT NULL",
            Some(false) => "FROM ip_addresses WHERE organization_id = ? AND interface_id IS NULL",
        };
        self.simple_page(page, Some(org.as_bytes()), from, rows::ip_address).await
    }

    async fn update_ip_address(
        &self,
        org: OrganizationId,
        id: IpAddressId,
        patch: &IpAddressPatch,
    ) -> Result<IpAddress> {
        let mut tx = self.write().await?;
        let row = sqlx::query(
            "UPDATE ip_addresses SET
                vip = COALESCE(?, vip),
                label = CASE WHEN ? THEN ? ELSE label END,
                reverse_dns = COALESCE(?, reverse_dns)
             WHERE id = ? AND organization_id = ? RETURNING *",
        )
        .bind(patch.vip)
        .bind(patch.label.is_some())
        .bind(patch.label.clone().flatten())
        .bind(patch.reverse_dns.as_deref())
        .bind(id.as_bytes().as_slice())
        .bind(org.as_bytes().as_slice())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let ip =
            row.as_ref().map(rows::ip_address).transpose()?.ok_or(Error::not_found(IpAddressId::KIND))?;
        tx.commit().await?;
        Ok(ip)
    }

    async fn release_ip_address(&self, org: OrganizationId, id: IpAddressId) -> Result<()> {
        let mut tx = self.write().await?;
        let ip = sqlx::query("SELECT * FROM ip_addresses WHERE id = ? AND organization_id = ?")
            .bind(id.as_bytes().as_slice())
            .bind(org.as_bytes().as_slice())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_error)?
            .as_ref()
            .map(rows::ip_address)
            .transpose()?
            .ok_or(Error::not_found(IpAddressId::KIND))?;
        if ip.allocation.is_some() {
            return Err(Error::Conflict(
                "the address is allocated to a server interface; unallocate it first".into(),
            ));
        }
        ipam::release_where(&mut tx, "id = ?", id.as_bytes().as_slice()).await?;
        tx.commit().await
    }

    async fn set_ip_allocation(
        &self,
        org: OrganizationId,
        id: IpAddressId,
        allocation: Option<Allocation>,
    ) -> Result<IpAddress> {
        let mut tx = self.write().await?;
        let updated = match allocation {
            Some(a) => sqlx::query(
                "UPDATE ip_addresses SET interface_id = ?, server_id = ?
                 WHERE id = ? AND organization_id = ? AND (interface_id IS NULL OR interface_id = ?) RETURNING *",
            )
            .bind(a.interface_id.as_bytes().to_vec())
            .bind(a.server_id.as_bytes().to_vec())
            .bind(id.as_bytes().as_slice())
            .bind(org.as_bytes().as_slice())
            .bind(a.interface_id.as_bytes().to_vec()),
            None => sqlx::query(
                "UPDATE ip_addresses SET interface_id = NULL, server_id = NULL, server_owned = 0
                 WHERE id = ? AND organization_id = ? RETURNING *",
            )
            .bind(id.as_bytes().as_slice())
            .bind(org.as_bytes().as_slice()),
        }
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| constraint_error(e, &[], InterfaceId::KIND))?;
        let ip = match updated.as_ref().map(rows::ip_address).transpose()? {
            Some(ip) => ip,
            None => {
                let exists: Option<i64> =
                    sqlx::query_scalar("SELECT 1 FROM ip_addresses WHERE id = ? AND organization_id = ?")
                        .bind(id.as_bytes().as_slice())
                        .bind(org.as_bytes().as_slice())
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db_error)?;
                return Err(match exists {
                    Some(_) => Error::Conflict(
                        "the address is allocated to another interface; unallocate it first".into(),
                    ),
                    None => Error::not_found(IpAddressId::KIND),
                });
            }
        };
        tx.commit().await?;
        Ok(ip)
    }

    async fn insert_security_group(&self, group: &SecurityGroup, rules: &[Rule]) -> Result<()> {
        self.insert_group(group, rules).await
    }

    async fn security_group(&self, id: SecurityGroupId) -> Result<Option<SecurityGroup>> {
        self.group(id).await
    }

    async fn list_security_groups(
        &self,
        org: OrganizationId,
        kind: GroupKind,
        filter: &GroupFilter,
        page: PageRequest,
    ) -> Result<Page<SecurityGroup>> {
        self.groups(org, kind, filter, page).await
    }

    async fn update_security_group(
        &self,
        id: SecurityGroupId,
        patch: &SecurityGroupPatch,
        at: OffsetDateTime,
    ) -> Result<SecurityGroup> {
        self.update_group(id, patch, at).await
    }

    async fn delete_security_group(&self, id: SecurityGroupId) -> Result<()> {
        self.delete_group(id).await
    }

    async fn insert_rule(&self, rule: &Rule) -> Result<()> {
        self.add_rule(rule).await
    }

    async fn rule(&self, id: RuleId) -> Result<Option<Rule>> {
        self.get_rule(id).await
    }

    async fn list_rules(&self, group: SecurityGroupId, page: PageRequest) -> Result<Page<Rule>> {
        self.rules(group, page).await
    }

    async fn rules_of_groups(&self, groups: &[SecurityGroupId]) -> Result<Vec<Rule>> {
        self.rules_of(groups).await
    }

    async fn replace_rule(&self, rule: &Rule) -> Result<()> {
        self.put_rule(rule).await
    }

    async fn delete_rule(&self, id: RuleId) -> Result<()> {
        self.remove_rule(id).await
    }

    async fn add_security_group_member(
        &self,
        id: SecurityGroupId,
        member: palisade_core::policy::Member,
        at: OffsetDateTime,
    ) -> Result<()> {
        self.add_member(id, member, at).await
    }

    async fn rule_numbers(
        &self,
        org: OrganizationId,
        groups: &[SecurityGroupId],
    ) -> Result<Vec<(RuleId, u64)>> {
        self.numbers(org, groups).await
    }

    async fn rule_by_number(&self, org: OrganizationId, number: u64) -> Result<Option<RuleId>> {
        self.by_number(org, number).await
    }

    async fn insert_server_group(&self, group: &ServerGroup) -> Result<()> {
        self.add_server_group(group).await
    }

    async fn server_group(&self, id: ServerGroupId) -> Result<Option<ServerGroup>> {
        self.get_server_group(id).await
    }

    async fn list_server_groups(&self, org: OrganizationId, page: PageRequest) -> Result<Page<ServerGroup>> {
        self.server_groups(org, page).await
    }

    async fn update_server_group(&self, group: &ServerGroup) -> Result<()> {
        self.put_server_group(group).await
    }

    async fn delete_server_group(&self, id: ServerGroupId) -> Result<()> {
        self.remove_server_group(id).await
    }

    async fn insert_tag(&self, tag: &palisade_core::policy::Tag) -> Result<()> {
        self.add_tag(tag).await
    }

    async fn tag(&self, id: palisade_core::id::TagId) -> Result<Option<palisade_core::policy::Tag>> {
        self.get_tag(id).await
    }

    async fn list_tags(
        &self,
        org: OrganizationId,
        page: PageRequest,
    ) -> Result<Page<palisade_core::policy::Tag>> {
        self.tags(org, page).await
    }

    async fn update_tag(&self, tag: &palisade_core::policy::Tag) -> Result<()> {
        self.put_tag(tag).await
    }

    async fn delete_tag(&self, id: palisade_core::id::TagId) -> Result<()> {
        self.remove_tag(id).await
    }

    async fn insert_address_list(&self, list: &palisade_core::policy::AddressList) -> Result<()> {
        self.add_address_list(list).await
    }

    async fn address_list(
        &self,
        id: palisade_core::id::AddressListId,
    ) -> Result<Option<palisade_core::policy::AddressList>> {
        self.get_address_list(id).await
    }

    async fn list_address_lists(
        &self,
        org: Option<OrganizationId>,
        page: PageRequest,
    ) -> Result<Page<palisade_core::policy::AddressList>> {
        self.address_lists(org, page).await
    }

    async fn update_address_list(&self, list: &palisade_core::policy::AddressList) -> Result<()> {
        self.put_address_list(list).await
    }

    async fn delete_address_list(&self, id: palisade_core::id::AddressListId) -> Result<()> {
        self.delete_row("address_lists", id.as_bytes(), "address list").await
    }

    async fn change_address_list_entries(
        &self,
        list: palisade_core::id::AddressListId,
        add: &[palisade_core::policy::AddressListEntry],
        remove: &[String],
    ) -> Result<()> {
        self.change_entries(list, add, remove).await
    }

    async fn address_list_entry(
        &self,
        id: palisade_core::id::AddressListEntryId,
    ) -> Result<Option<palisade_core::policy::AddressListEntry>> {
        self.get_entry(id).await
    }

    async fn list_address_list_entries(
        &self,
        list: palisade_core::id::AddressListId,
        page: PageRequest,
    ) -> Result<Page<palisade_core::policy::AddressListEntry>> {
        self.entries(list, page).await
    }

    async fn update_address_list_entry(&self, entry: &palisade_core::policy::AddressListEntry) -> Result<()> {
        self.put_entry(entry).await
    }

    async fn delete_address_list_entry(&self, id: palisade_core::id::AddressListEntryId) -> Result<()> {
        self.delete_row("address_list_entries", id.as_bytes(), "address list entry").await
    }
}
