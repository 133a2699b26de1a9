//! Decoding rows into domain types. A value the schema should never hold (a malformed id or
//! CIDR) is an internal error, not a panic.

use ipnet::IpNet;
use palisade_core::error::{Error, Result};
use palisade_core::model::{ApiToken, Country, DataCenter, Organization, OrganizationStatus, User};
use palisade_core::secret::SecretHash;
use palisade_core::Scope;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use time::OffsetDateTime;

pub(crate) fn get<'r, T>(row: &'r SqliteRow, col: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(col).map_err(|e| Error::internal(format!("reading column {col}: {e}")))
}

pub(crate) fn bytes16(row: &SqliteRow, col: &str) -> Result<[u8; 16]> {
    let raw: Vec<u8> = get(row, col)?;
    raw.try_into().map_err(|_| Error::internal(format!("column {col} is not a 16-byte id")))
}

pub(crate) fn opt_bytes16(row: &SqliteRow, col: &str) -> Result<Option<[u8; 16]>> {
    let raw: Option<Vec<u8>> = get(row, col)?;
    raw.map(|r| r.try_into().map_err(|_| Error::internal(format!("column {col} is not a 16-byte id"))))
        .transpose()
}

pub(crate) fn timestamp(row: &SqliteRow, col: &str) -> Result<OffsetDateTime> {
    let secs: i64 = get(row, col)?;
    OffsetDateTime::from_unix_timestamp(secs).map_err(Error::internal)
}

pub(crate) fn opt_timestamp(row: &SqliteRow, col: &str) -> Result<Option<OffsetDateTime>> {
    let secs: Option<i64> = get(row, col)?;
    secs.map(|s| OffsetDateTime::from_unix_timestamp(s).map_err(Error::internal)).transpose()
}

pub(crate) fn parse_nets(text: &str) -> Result<Vec<IpNet>> {
    text.split_whitespace()
        .map(|n| n.parse().map_err(|e| Error::internal(format!("stored CIDR {n}: {e}"))))
        .collect()
}

pub(crate) fn join<T: ToString>(items: &[T]) -> String {
    items.iter().map(ToString::to_string).collect::<Vec<_>>().join(" ")
}

pub(crate) fn organization(row: &SqliteRow) -> Result<Organization> {
    let status: String = get(row, "status")?;
    Ok(Organization {
        id: palisade_core::id::OrganizationId::from_bytes(bytes16(row, "id")?),
        name: get(row, "name")?,
        sub_domain: get(row, "sub_domain")?,
        status: OrganizationStatus::parse(&status)
            .ok_or_else(|| Error::internal(format!("stored organization status {status}")))?,
        resource_creation_restricted: get(row, "resource_creation_restricted")?,
        created_at: timestamp(row, "created_at")?,
        updated_at: timestamp(row, "updated_at")?,
    })
}

/// Columns of an organization row prefixed `o_` (for joins).
pub(crate) fn organization_prefixed(row: &SqliteRow) -> Result<Organization> {
    let status: String = get(row, "o_status")?;
    Ok(Organization {
        id: palisade_core::id::OrganizationId::from_bytes(bytes16(row, "o_id")?),
        name: get(row, "o_name")?,
        sub_domain: get(row, "o_sub_domain")?,
        status: OrganizationStatus::parse(&status)
            .ok_or_else(|| Error::internal(format!("stored organization status {status}")))?,
        resource_creation_restricted: get(row, "o_resource_creation_restricted")?,
        created_at: timestamp(row, "o_created_at")?,
        updated_at: timestamp(row, "o_updated_at")?,
    })
}

pub(crate) fn api_token(row: &SqliteRow) -> Result<ApiToken> {
    let scopes: String = get(row, "scopes")?;
    let networks: String = get(row, "allowed_networks")?;
    Ok(ApiToken {
        id: palisade_core::id::ApiTokenId::from_bytes(bytes16(row, "id")?),
        organization_id: palisade_core::id::OrganizationId::from_bytes(bytes16(row, "organization_id")?),
        name: get(row, "name")?,
        scopes: scopes
            .split_whitespace()
            .map(|s| Scope::parse(s).ok_or_else(|| Error::internal(format!("stored scope {s} unknown"))))
            .collect::<Result<_>>()?,
        allowed_networks: parse_nets(&networks)?,
        expires_at: opt_timestamp(row, "expires_at")?,
        created_at: timestamp(row, "created_at")?,
    })
}

pub(crate) fn secret_hash(row: &SqliteRow) -> Result<SecretHash> {
    let raw: Vec<u8> = get(row, "secret_sha256")?;
    Ok(SecretHash::from_bytes(
        raw.try_into().map_err(|_| Error::internal("stored token hash has wrong length"))?,
    ))
}

pub(crate) fn user(row: &SqliteRow) -> Result<User> {
    Ok(User {
        id: palisade_core::id::UserId::from_bytes(bytes16(row, "id")?),
        organization_id: palisade_core::id::OrganizationId::from_bytes(bytes16(row, "organization_id")?),
        username: get(row, "username")?,
        created_at: timestamp(row, "created_at")?,
    })
}

pub(crate) fn data_center(row: &SqliteRow) -> Result<DataCenter> {
    Ok(DataCenter {
        id: palisade_core::id::DataCenterId::from_bytes(bytes16(row, "id")?),
        name: get(row, "name")?,
        permalink: get(row, "permalink")?,
        country: Country {
            name: get(row, "country_name")?,
            iso_code2: get(row, "country_iso_code2")?,
            iso_code3: get(row, "country_iso_code3")?,
            time_zone: get(row, "country_time_zone")?,
            eu: get(row, "country_eu")?,
        },
        created_at: timestamp(row, "created_at")?,
    })
}

pub(crate) fn address(row: &SqliteRow, col: &str) -> Result<std::net::IpAddr> {
    let raw: Vec<u8> = get(row, col)?;
    palisade_core::ipam::from_octets(&raw)
        .ok_or_else(|| Error::internal(format!("column {col} is not an address")))
}

pub(crate) fn ip_address(row: &SqliteRow) -> Result<palisade_core::model::IpAddress> {
    use palisade_core::id::{InterfaceId, IpAddressId, NetworkId, OrganizationId, ServerId};
    let interface = opt_bytes16(row, "interface_id")?.map(InterfaceId::from_bytes);
    let server = opt_bytes16(row, "server_id")?.map(ServerId::from_bytes);
    let prefix_len: i64 = get(row, "prefix_len")?;
    Ok(palisade_core::model::IpAddress {
        id: IpAddressId::from_bytes(bytes16(row, "id")?),
        organization_id: OrganizationId::from_bytes(bytes16(row, "organization_id")?),
        network_id: NetworkId::from_bytes(bytes16(row, "network_id")?),
        address: address(row, "address")?,
        prefix_len: u8::try_from(prefix_len).map_err(Error::internal)?,
        vip: get(row, "vip")?,
        label: get(row, "label")?,
        reverse_dns: get(row, "reverse_dns")?,
        allocation: match (server, interface) {
            (Some(server_id), Some(interface_id)) => {
                Some(palisade_core::model::Allocation { server_id, interface_id })
            }
            _ => None,
        },
        server_owned: get(row, "server_owned")?,
        created_at: timestamp(row, "created_at")?,
    })
}
