//! The [`Store`] trait implemented with plain SQL on PostgreSQL.

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
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, Transaction};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::rows::{self, get, uuid, IP_COLUMNS};
use crate::{constraint_error, db_error, found, ipam, PostgresStore};

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

pub(crate) fn position(i: usize) -> i32 {
    i32::try_from(i).unwrap_or(i32::MAX)
}

pub(crate) async fn fetch_all<'q>(
    conn: &mut PgConnection,
    query: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
) -> Result<Vec<PgRow>> {
    query.fetch_all(conn).await.map_err(db_error)
}

const NETWORK_COLUMNS: &str = "n.id, n.name, n.permalink, n.data_center_id, n.organization_id, n.is_default, n.created_at,
    COALESCE((SELECT array_agg(p.prefix::text ORDER BY p.position) FROM network_prefixes p WHERE p.network_id = n.id),
             '{}') AS prefixes,
    COALESCE((SELECT array_agg(r.prefix::text ORDER BY r.position) FROM network_reserved r WHERE r.network_id = n.id),
             '{}') AS reserved";

fn nets(texts: &[String]) -> Result<Vec<ipnet::IpNet>> {
    texts.iter().map(|p| p.parse().map_err(|e| Error::internal(format!("stored CIDR {p}: {e}")))).collect()
}

fn network(row: &PgRow) -> Result<Network> {
    let prefixes: Vec<String> = get(row, "prefixes")?;
    let reserved: Vec<String> = get(row, "reserved")?;
    Ok(Network {
        id: NetworkId::from_uuid(uuid(row, "id")?),
        name: get(row, "name")?,
        permalink: get(row, "permalink")?,
        data_center_id: DataCenterId::from_uuid(uuid(row, "data_center_id")?),
        prefixes: nets(&prefixes)?,
        reserved: nets(&reserved)?,
        is_default: get(row, "is_default")?,
        organization_id: get::<Option<Uuid>>(row, "organization_id")?.map(OrganizationId::from_uuid),
        created_at: get(row, "created_at")?,
    })
}

/// Loads interfaces, addresses and tags for server rows.
pub(crate) async fn servers_from_rows(conn: &mut PgConnection, rows: &[PgRow]) -> Result<Vec<Server>> {
    let mut servers = Vec::with_capacity(rows.len());
    for row in rows {
        servers.push(Server {
            id: ServerId::from_uuid(uuid(row, "id")?),
            organization_id: OrganizationId::from_uuid(uuid(row, "organization_id")?),
            name: get(row, "name")?,
            interfaces: Vec::new(),
            tags: Vec::new(),
            created_at: get(row, "created_at")?,
        });
    }
    if servers.is_empty() {
        return Ok(servers);
    }
    let ids: Vec<Uuid> = servers.iter().map(|s| s.id.as_uuid()).collect();
    let iface_rows = fetch_all(
        &mut *conn,
        sqlx::query("SELECT id, server_id, network_id FROM interfaces WHERE server_id = ANY($1) ORDER BY server_id, position")
            .bind(&ids),
    )
    .await?;
    let addr_rows = fetch_all(
        &mut *conn,
        sqlx::query(
            "SELECT interface_id, host(address) AS address FROM ip_addresses
             WHERE server_id = ANY($1) AND interface_id IS NOT NULL ORDER BY seq",
        )
        .bind(&ids),
    )
    .await?;
    let tag_rows = fetch_all(
        &mut *conn,
        sqlx::query(
            "SELECT server_id, tag FROM server_tags WHERE server_id = ANY($1) ORDER BY server_id, position",
        )
        .bind(&ids),
    )
    .await?;
    let mut addresses: HashMap<Uuid, Vec<std::net::IpAddr>> = HashMap::new();
    for row in &addr_rows {
        let text: String = get(row, "address")?;
        let addr = text.parse().map_err(|e| Error::internal(format!("stored address {text}: {e}")))?;
        addresses.entry(uuid(row, "interface_id")?).or_default().push(addr);
    }
    let mut by_server: HashMap<Uuid, usize> = HashMap::new();
    for (i, s) in servers.iter().enumerate() {
        by_server.insert(s.id.as_uuid(), i);
    }
    for row in &iface_rows {
        let id = uuid(row, "id")?;
        if let Some(&i) = by_server.get(&uuid(row, "server_id")?) {
            servers[i].interfaces.push(Interface {
                id: InterfaceId::from_uuid(id),
                network_id: NetworkId::from_uuid(uuid(row, "network_id")?),
                addresses: addresses.remove(&id).unwrap_or_default(),
            });
        }
    }
    for row in &tag_rows {
        if let Some(&i) = by_server.get(&uuid(row, "server_id")?) {
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
pub(crate) async fn write_tags(conn: &mut PgConnection, server: ServerId, tags: &[String]) -> Result<()> {
    sqlx::query("DELETE FROM server_tags WHERE server_id = $1")
        .bind(server.as_uuid())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    for (i, tag) in tags.iter().enumerate() {
        sqlx::query("INSERT INTO server_tags (server_id, position, tag) VALUES ($1, $2, $3)")
            .bind(server.as_uuid())
            .bind(position(i))
            .bind(tag)
            .execute(&mut *conn)
            .await
            .map_err(|e| constraint_error(e, &[("server_tags_unique", "tag", "tags")], ORG))?;
    }
    Ok(())
}

/// Inserts a server with its tags and interfaces and claims `addresses`, inside `conn`'s
/// transaction.
pub(crate) async fn write_server(
    conn: &mut PgConnection,
    server: &Server,
    addresses: &[IpAddress],
) -> Result<()> {
    let sid = server.id.as_uuid();
    sqlx::query("INSERT INTO servers (id, organization_id, name, created_at) VALUES ($1, $2, $3, $4)")
        .bind(sid)
        .bind(server.organization_id.as_uuid())
        .bind(&server.name)
        .bind(server.created_at)
        .execute(&mut *conn)
        .await
        .map_err(|e| constraint_error(e, &[], ORG))?;
    write_tags(conn, server.id, &server.tags).await?;
    for (i, iface) in server.interfaces.iter().enumerate() {
        sqlx::query("INSERT INTO interfaces (id, server_id, position, network_id) VALUES ($1, $2, $3, $4)")
            .bind(iface.id.as_uuid())
            .bind(sid)
            .bind(position(i))
            .bind(iface.network_id.as_uuid())
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

impl PostgresStore {
    /// The row of `table` with this id, decoded.
    pub(crate) async fn row_by_id<T>(
        &self,
        table: &str,
        id: Uuid,
        decode: fn(&PgRow) -> Result<T>,
    ) -> Result<Option<T>> {
        let row = sqlx::query(&format!("SELECT * FROM {table} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(decode).transpose()
    }

    /// Deletes the row of `table` with this id; `kind` not found when there is none.
    pub(crate) async fn delete_row(&self, table: &str, id: Uuid, kind: &'static str) -> Result<()> {
        found(
            sqlx::query(&format!("DELETE FROM {table} WHERE id = $1"))
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(db_error)?,
            kind,
        )?;
        Ok(())
    }

    pub(crate) async fn begin(&self) -> Result<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(db_error)
    }

    /// One page of `columns` `from` a table (with an optional owner as `$1`), in creation
    /// order, with the total, read in one transaction.
    pub(crate) async fn simple_page<T>(
        &self,
        page: PageRequest,
        owner: Option<Uuid>,
        columns: &str,
        from: &str,
        decode: fn(&PgRow) -> Result<T>,
    ) -> Result<Page<T>> {
        let mut tx = self.begin().await?;
        let count_sql = format!("SELECT COUNT(*) {from}");
        let mut total = sqlx::query_scalar::<_, i64>(&count_sql);
        let (limit_at, offset_at) = if owner.is_some() { (2, 3) } else { (1, 2) };
        let list_sql = format!("SELECT {columns} {from} ORDER BY seq LIMIT ${limit_at} OFFSET ${offset_at}");
        let mut list = sqlx::query(&list_sql);
        if let Some(owner) = owner {
            total = total.bind(owner);
            list = list.bind(owner);
        }
        let total = total.fetch_one(&mut *tx).await.map_err(db_error)?;
        let rows = fetch_all(&mut tx, list.bind(limit(page)).bind(offset(page))).await?;
        let items = rows.iter().map(decode).collect::<Result<_>>()?;
        Ok(Page { items, total: count(total), request: page })
    }
}

pub(crate) async fn commit(tx: Transaction<'static, Postgres>) -> Result<()> {
    tx.commit().await.map_err(db_error)
}

#[async_trait]
impl Store for PostgresStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(db_error)?;
        Ok(())
    }

    async fn setting(&self, key: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.map(|r| get(&r, "value")).transpose()
    }

    async fn init_setting(&self, key: &str, value: &str) -> Result<String> {
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        commit(tx).await?;
        get(&row, "value")
    }

    async fn insert_organization(&self, org: &Organization) -> Result<()> {
        sqlx::query(
            "INSERT INTO organizations (id, name, sub_domain, status, resource_creation_restricted, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(org.id.as_uuid())
        .bind(&org.name)
        .bind(&org.sub_domain)
        .bind(org.status.as_str())
        .bind(org.resource_creation_restricted)
        .bind(org.created_at)
        .bind(org.updated_at)
        .execute(&self.pool)
        .await
        .map_err(|e| constraint_error(e, &[("organizations_sub_domain_key", ORG, "sub_domain")], ORG))?;
        Ok(())
    }

    async fn organization(&self, id: OrganizationId) -> Result<Option<Organization>> {
        self.row_by_id("organizations", id.as_uuid(), rows::organization).await
    }

    async fn organization_by_sub_domain(&self, sub_domain: &str) -> Result<Option<Organization>> {
        let row = sqlx::query("SELECT * FROM organizations WHERE sub_domain = $1")
            .bind(sub_domain)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(rows::organization).transpose()
    }

    async fn list_organizations(&self, page: PageRequest) -> Result<Page<Organization>> {
        self.simple_page(page, None, "*", "FROM organizations", rows::organization).await
    }

    async fn update_organization(
        &self,
        id: OrganizationId,
        patch: &OrganizationPatch,
        at: OffsetDateTime,
    ) -> Result<Organization> {
        let row = sqlx::query(
            "UPDATE organizations SET
                name = COALESCE($1, name),
                status = COALESCE($2, status),
                resource_creation_restricted = COALESCE($3, resource_creation_restricted),
                updated_at = $4
             WHERE id = $5 RETURNING *",
        )
        .bind(patch.name.as_deref())
        .bind(patch.status.map(|s| s.as_str()))
        .bind(patch.resource_creation_restricted)
        .bind(at)
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(rows::organization).transpose()?.ok_or(Error::not_found(ORG))
    }

    async fn delete_organization(&self, id: OrganizationId) -> Result<()> {
        let mut tx = self.begin().await?;
        // Its addresses go back to their networks' pools; then servers, whose interfaces may use
        // the organization's own networks, which the organization's deletion cascades to.
        ipam::release_where(&mut tx, "organization_id = $1", id.as_uuid()).await?;
        sqlx::query("DELETE FROM servers WHERE organization_id = $1")
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        found(
            sqlx::query("DELETE FROM organizations WHERE id = $1")
                .bind(id.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(db_error)?,
            ORG,
        )?;
        commit(tx).await
    }

    async fn insert_api_token(&self, token: &ApiToken, secret_hash: &SecretHash) -> Result<()> {
        let scopes: Vec<&str> = token.scopes.iter().map(|s| s.as_str()).collect();
        let networks: Vec<String> = token.allowed_networks.iter().map(ToString::to_string).collect();
        sqlx::query(
            "INSERT INTO api_tokens (id, organization_id, name, scopes, allowed_networks, expires_at, secret_sha256, created_at)
             VALUES ($1, $2, $3, $4, $5::cidr[], $6, $7, $8)",
        )
        .bind(token.id.as_uuid())
        .bind(token.organization_id.as_uuid())
        .bind(&token.name)
        .bind(&scopes)
        .bind(&networks)
        .bind(token.expires_at)
        .bind(secret_hash.as_bytes().as_slice())
        .bind(token.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| constraint_error(e, &[], ORG))?;
        Ok(())
    }

    async fn token_credentials(&self, id: ApiTokenId) -> Result<Option<TokenCredentials>> {
        let row = sqlx::query(
            "SELECT t.id, t.organization_id, t.name, t.scopes, t.allowed_networks::text[] AS allowed_networks,
                    t.expires_at, t.created_at, t.secret_sha256,
                    o.id AS o_id, o.name AS o_name, o.sub_domain AS o_sub_domain, o.status AS o_status,
                    o.resource_creation_restricted AS o_resource_creation_restricted,
                    o.created_at AS o_created_at, o.updated_at AS o_updated_at
             FROM api_tokens t JOIN organizations o ON o.id = t.organization_id
             WHERE t.id = $1 AND t.revoked_at IS NULL",
        )
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        let Some(row) = row else { return Ok(None) };
        let hash: Vec<u8> = get(&row, "secret_sha256")?;
        let hash: [u8; 32] =
            hash.try_into().map_err(|_| Error::internal("stored token hash has wrong length"))?;
        Ok(Some(TokenCredentials {
            token: rows::api_token(&row)?,
            secret_hash: SecretHash::from_bytes(hash),
            organization: rows::organization_with(&row, "o_")?,
        }))
    }

    async fn list_api_tokens(&self, org: OrganizationId, page: PageRequest) -> Result<Page<ApiToken>> {
        let columns = "id, organization_id, name, scopes, allowed_networks::text[] AS allowed_networks, expires_at, created_at, seq";
        let from = "FROM api_tokens WHERE organization_id = $1 AND revoked_at IS NULL";
        self.simple_page(page, Some(org.as_uuid()), columns, from, rows::api_token).await
    }

    async fn revoke_api_token(&self, org: OrganizationId, id: ApiTokenId, at: OffsetDateTime) -> Result<()> {
        let mut tx = self.begin().await?;
        // Concurrent revocations serialize on the row lock; the later one re-reads the row,
        // finds it revoked and reports a conflict.
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND organization_id = $3 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(id.as_uuid())
        .bind(org.as_uuid())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if done.rows_affected() == 0 {
            let exists: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM api_tokens WHERE id = $1 AND organization_id = $2")
                    .bind(id.as_uuid())
                    .bind(org.as_uuid())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_error)?;
            return Err(match exists {
                Some(_) => Error::Conflict("the api token is already revoked".into()),
                None => Error::not_found(ApiTokenId::KIND),
            });
        }
        commit(tx).await
    }

    async fn insert_user(&self, user: &User, password: &PasswordDigest) -> Result<()> {
        sqlx::query(
            "INSERT INTO users (id, organization_id, username, password_phc, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(user.id.as_uuid())
        .bind(user.organization_id.as_uuid())
        .bind(&user.username)
        .bind(password.as_phc())
        .bind(user.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| constraint_error(e, &[("users_username_key", "user", "username")], ORG))?;
        Ok(())
    }

    async fn user_credentials(&self, username: &str) -> Result<Option<UserCredentials>> {
        let row = sqlx::query(
            "SELECT u.*, o.id AS o_id, o.name AS o_name, o.sub_domain AS o_sub_domain, o.status AS o_status,
                    o.resource_creation_restricted AS o_resource_creation_restricted,
                    o.created_at AS o_created_at, o.updated_at AS o_updated_at
             FROM users u JOIN organizations o ON o.id = u.organization_id WHERE u.username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(UserCredentials {
            user: rows::user(&row)?,
            password: PasswordDigest::from_phc(get(&row, "password_phc")?),
            organization: rows::organization_with(&row, "o_")?,
        }))
    }

    async fn list_users(&self, org: OrganizationId, page: PageRequest) -> Result<Page<User>> {
        self.simple_page(page, Some(org.as_uuid()), "*", "FROM users WHERE organization_id = $1", rows::user)
            .await
    }

    async fn insert_data_center(&self, dc: &DataCenter) -> Result<()> {
        sqlx::query(
            "INSERT INTO data_centers (id, name, permalink, country_name, country_iso_code2, country_iso_code3,
                                       country_time_zone, country_eu, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(dc.id.as_uuid())
        .bind(&dc.name)
        .bind(&dc.permalink)
        .bind(&dc.country.name)
        .bind(&dc.country.iso_code2)
        .bind(&dc.country.iso_code3)
        .bind(&dc.country.time_zone)
        .bind(dc.country.eu)
        .bind(dc.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| constraint_error(e, &[("data_centers_permalink_key", "data center", "permalink")], ORG))?;
        Ok(())
    }

    async fn data_center(&self, id: DataCenterId) -> Result<Option<DataCenter>> {
        self.row_by_id("data_centers", id.as_uuid(), rows::data_center).await
    }

    async fn list_data_centers(&self, page: PageRequest) -> Result<Page<DataCenter>> {
        self.simple_page(page, None, "*", "FROM data_centers", rows::data_center).await
    }

    async fn insert_network(&self, network: &Network) -> Result<()> {
        let mut tx = self.begin().await?;
        let unique = [
            ("networks_permalink_key", "network", "permalink"),
            ("networks_shared_default", "default network", "data_center_id"),
        ];
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
        .bind(network.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| constraint_error(e, &unique, "data center"))?;
        let prefixes: Vec<String> = network.prefixes.iter().map(ToString::to_string).collect();
        sqlx::query(
            "INSERT INTO network_prefixes (network_id, position, prefix)
             SELECT $1, (ord - 1)::integer, prefix::cidr FROM unnest($2::text[]) WITH ORDINALITY AS p(prefix, ord)",
        )
        .bind(network.id.as_uuid())
        .bind(&prefixes)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let reserved: Vec<String> = network.reserved.iter().map(ToString::to_string).collect();
        sqlx::query(
            "INSERT INTO network_reserved (network_id, position, prefix)
             SELECT $1, (ord - 1)::integer, prefix::cidr FROM unnest($2::text[]) WITH ORDINALITY AS p(prefix, ord)",
        )
        .bind(network.id.as_uuid())
        .bind(&reserved)
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        commit(tx).await
    }

    async fn network(&self, id: NetworkId) -> Result<Option<Network>> {
        let row = sqlx::query(&format!("SELECT {NETWORK_COLUMNS} FROM networks n WHERE n.id = $1"))
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(network).transpose()
    }

    async fn list_networks(&self, org: Option<OrganizationId>, page: PageRequest) -> Result<Page<Network>> {
        let mut tx = self.begin().await?;
        let filter = "($1::uuid IS NULL OR n.organization_id IS NULL OR n.organization_id = $1)";
        let org = org.map(|o| o.as_uuid());
        let total: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM networks n WHERE {filter}"))
            .bind(org)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        let rows = fetch_all(
            &mut tx,
            sqlx::query(&format!(
                "SELECT {NETWORK_COLUMNS} FROM networks n WHERE {filter} ORDER BY n.seq LIMIT $2 OFFSET $3"
            ))
            .bind(org)
            .bind(limit(page))
            .bind(offset(page)),
        )
        .await?;
        let items = rows.iter().map(network).collect::<Result<_>>()?;
        Ok(Page { items, total: count(total), request: page })
    }

    async fn insert_server(&self, server: &Server, addresses: &[IpAddress]) -> Result<()> {
        let mut tx = self.begin().await?;
        write_server(&mut tx, server, addresses).await?;
        commit(tx).await
    }

    async fn server(&self, org: OrganizationId, id: ServerId) -> Result<Option<Server>> {
        let mut tx = self.begin().await?;
        let rows = fetch_all(
            &mut tx,
            sqlx::query("SELECT * FROM servers WHERE id = $1 AND organization_id = $2")
                .bind(id.as_uuid())
                .bind(org.as_uuid()),
        )
        .await?;
        Ok(servers_from_rows(&mut tx, &rows).await?.pop())
    }

    async fn list_servers(&self, org: OrganizationId, page: PageRequest) -> Result<Page<Server>> {
        let mut tx = self.begin().await?;
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM servers WHERE organization_id = $1")
            .bind(org.as_uuid())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
        let rows = fetch_all(
            &mut tx,
            sqlx::query("SELECT * FROM servers WHERE organization_id = $1 ORDER BY seq LIMIT $2 OFFSET $3")
                .bind(org.as_uuid())
                .bind(limit(page))
                .bind(offset(page)),
        )
        .await?;
        let items = servers_from_rows(&mut tx, &rows).await?;
        Ok(Page { items, total: count(total), request: page })
    }

    async fn delete_server(&self, org: OrganizationId, id: ServerId) -> Result<()> {
        let mut tx = self.begin().await?;
        let exists: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM servers WHERE id = $1 AND organization_id = $2 FOR UPDATE")
                .bind(id.as_uuid())
                .bind(org.as_uuid())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        if exists.is_none() {
            return Err(Error::not_found(ServerId::KIND));
        }
        ipam::release_where(&mut tx, "server_id = $1 AND server_owned", id.as_uuid()).await?;
        sqlx::query("DELETE FROM servers WHERE id = $1")
            .bind(id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        commit(tx).await
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
        let mut tx = self.begin().await?;
        let ip = ipam::allocate(&mut tx, request).await?;
        commit(tx).await?;
        Ok(ip)
    }

    async fn ip_address(&self, org: OrganizationId, id: IpAddressId) -> Result<Option<IpAddress>> {
        let row = sqlx::query(&format!(
            "SELECT {IP_COLUMNS} FROM ip_addresses WHERE id = $1 AND organization_id = $2"
        ))
        .bind(id.as_uuid())
        .bind(org.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(rows::ip_address).transpose()
    }

    async fn ip_address_anywhere(&self, id: IpAddressId) -> Result<Option<IpAddress>> {
        let row = sqlx::query(&format!("SELECT {IP_COLUMNS} FROM ip_addresses WHERE id = $1"))
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)?;
        row.as_ref().map(rows::ip_address).transpose()
    }

    async fn ip_address_by_address(
        &self,
        org: Option<OrganizationId>,
        address: std::net::IpAddr,
    ) -> Result<Option<IpAddress>> {
        let row = sqlx::query(&format!(
            "SELECT {IP_COLUMNS} FROM ip_addresses WHERE address = $1::inet AND ($2::uuid IS NULL OR organization_id = $2)
             ORDER BY seq LIMIT 1"
        ))
        .bind(address.to_string())
        .bind(org.map(|o| o.as_uuid()))
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
            None => "FROM ip_addresses WHERE organization_id = $1",
            Some(true) => "FROM ip_addresses WHERE organization_id = $1 AND interface_id IS NOT NULL",
            Some(false) => "FROM ip_addresses WHERE organization_id = $1 AND interface_id IS NULL",
        };
        self.simple_page(page, Some(org.as_uuid()), IP_COLUMNS, from, rows::ip_address).await
    }

    async fn update_ip_address(
        &self,
        org: OrganizationId,
        id: IpAddressId,
        patch: &IpAddressPatch,
    ) -> Result<IpAddress> {
        let row = sqlx::query(&format!(
            "UPDATE ip_addresses SET
                vip = COALESCE($1, vip),
                label = CASE WHEN $2 THEN $3 ELSE label END,
                reverse_dns = COALESCE($4, reverse_dns)
             WHERE id = $5 AND organization_id = $6 RETURNING {IP_COLUMNS}"
        ))
        .bind(patch.vip)
        .bind(patch.label.is_some())
        .bind(patch.label.clone().flatten())
        .bind(patch.reverse_dns.as_deref())
        .bind(id.as_uuid())
        .bind(org.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(rows::ip_address).transpose()?.ok_or(Error::not_found(IpAddressId::KIND))
    }

    async fn release_ip_address(&self, org: OrganizationId, id: IpAddressId) -> Result<()> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(&format!(
            "SELECT {IP_COLUMNS} FROM ip_addresses WHERE id = $1 AND organization_id = $2 FOR UPDATE"
        ))
        .bind(id.as_uuid())
        .bind(org.as_uuid())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let ip =
            row.as_ref().map(rows::ip_address).transpose()?.ok_or(Error::not_found(IpAddressId::KIND))?;
        if ip.allocation.is_some() {
            return Err(Error::Conflict(
                "the address is allocated to a server interface; unallocate it first".into(),
            ));
        }
        ipam::release_where(&mut tx, "id = $1", id.as_uuid()).await?;
        commit(tx).await
    }

    async fn set_ip_allocation(
        &self,
        org: OrganizationId,
        id: IpAddressId,
        allocation: Option<Allocation>,
    ) -> Result<IpAddress> {
        let mut tx = self.begin().await?;
        let updated = match allocation {
            Some(a) => {
                sqlx::query(&format!(
                    "UPDATE ip_addresses SET interface_id = $1, server_id = $2
                 WHERE id = $3 AND organization_id = $4 AND (interface_id IS NULL OR interface_id = $1)
                 RETURNING {IP_COLUMNS}"
                ))
                .bind(a.interface_id.as_uuid())
                .bind(a.server_id.as_uuid())
                .bind(id.as_uuid())
                .bind(org.as_uuid())
                .fetch_optional(&mut *tx)
                .await
            }
            None => {
                sqlx::query(&format!(
                    "UPDATE ip_addresses SET interface_id = NULL, server_id = NULL, server_owned = false
                 WHERE id = $1 AND organization_id = $2 RETURNING {IP_COLUMNS}"
                ))
                .bind(id.as_uuid())
                .bind(org.as_uuid())
                .fetch_optional(&mut *tx)
                .await
            }
        }
        .map_err(|e| constraint_error(e, &[], InterfaceId::KIND))?;
        let ip = match updated.as_ref().map(rows::ip_address).transpose()? {
            Some(ip) => ip,
            None => {
                let exists: Option<i32> =
                    sqlx::query_scalar("SELECT 1 FROM ip_addresses WHERE id = $1 AND organization_id = $2")
                        .bind(id.as_uuid())
                        .bind(org.as_uuid())
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
        commit(tx).await?;
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
        self.delete_row("address_lists", id.as_uuid(), "address list").await
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
        self.delete_row("address_list_entries", id.as_uuid(), "address list entry").await
    }
}
