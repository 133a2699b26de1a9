//! Decoding rows into domain types. A value the schema should never hold is an internal error,
//! not a panic.

use palisade_core::error::{Error, Result};
use palisade_core::id::{ApiTokenId, DataCenterId, OrganizationId, UserId};
use palisade_core::model::{ApiToken, Country, DataCenter, Organization, OrganizationStatus, User};
use palisade_core::Scope;
use sqlx::postgres::PgRow;
use sqlx::Row;
use uuid::Uuid;

pub(crate) fn get<'r, T>(row: &'r PgRow, col: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(col).map_err(|e| Error::internal(format!("reading column {col}: {e}")))
}

pub(crate) fn uuid(row: &PgRow, col: &str) -> Result<Uuid> {
    get(row, col)
}

pub(crate) fn organization_with(row: &PgRow, prefix: &str) -> Result<Organization> {
    let col = |c: &str| format!("{prefix}{c}");
    let status: String = get(row, &col("status"))?;
    Ok(Organization {
        id: OrganizationId::from_uuid(uuid(row, &col("id"))?),
        name: get(row, &col("name"))?,
        sub_domain: get(row, &col("sub_domain"))?,
        status: OrganizationStatus::parse(&status)
            .ok_or_else(|| Error::internal(format!("stored organization status {status}")))?,
        resource_creation_restricted: get(row, &col("resource_creation_restricted"))?,
        created_at: get(row, &col("created_at"))?,
        updated_at: get(row, &col("updated_at"))?,
    })
}

pub(crate) fn organization(row: &PgRow) -> Result<Organization> {
    organization_with(row, "")
}

/// Needs `allowed_networks` selected as `text[]`.
pub(crate) fn api_token(row: &PgRow) -> Result<ApiToken> {
    let scopes: Vec<String> = get(row, "scopes")?;
    let networks: Vec<String> = get(row, "allowed_networks")?;
    Ok(ApiToken {
        id: ApiTokenId::from_uuid(uuid(row, "id")?),
        organization_id: OrganizationId::from_uuid(uuid(row, "organization_id")?),
        name: get(row, "name")?,
        scopes: scopes
            .iter()
            .map(|s| Scope::parse(s).ok_or_else(|| Error::internal(format!("stored scope {s} unknown"))))
            .collect::<Result<_>>()?,
        allowed_networks: networks
            .iter()
            .map(|n| n.parse().map_err(|e| Error::internal(format!("stored CIDR {n}: {e}"))))
            .collect::<Result<_>>()?,
        expires_at: get(row, "expires_at")?,
        created_at: get(row, "created_at")?,
    })
}

pub(crate) fn user(row: &PgRow) -> Result<User> {
    Ok(User {
        id: UserId::from_uuid(uuid(row, "id")?),
        organization_id: OrganizationId::from_uuid(uuid(row, "organization_id")?),
        username: get(row, "username")?,
        created_at: get(row, "created_at")?,
    })
}

pub(crate) fn data_center(row: &PgRow) -> Result<DataCenter> {
    Ok(DataCenter {
        id: DataCenterId::from_uuid(uuid(row, "id")?),
        name: get(row, "name")?,
        permalink: get(row, "permalink")?,
        country: Country {
            name: get(row, "country_name")?,
            iso_code2: get(row, "country_iso_code2")?,
            iso_code3: get(row, "country_iso_code3")?,
            time_zone: get(row, "country_time_zone")?,
            eu: get(row, "country_eu")?,
        },
        created_at: get(row, "created_at")?,
    })
}

/// Columns of `ip_addresses` with the address as text; decoded by [`ip_address`].
pub(crate) const IP_COLUMNS: &str =
    "id, organization_id, network_id, host(address) AS address, prefix_len, vip, label,
    reverse_dns, interface_id, server_id, server_owned, created_at, seq";

pub(crate) fn ip_address(row: &PgRow) -> Result<palisade_core::model::IpAddress> {
    use palisade_core::id::{InterfaceId, IpAddressId, NetworkId, ServerId};
    let text: String = get(row, "address")?;
    let prefix_len: i16 = get(row, "prefix_len")?;
    let interface = get::<Option<Uuid>>(row, "interface_id")?.map(InterfaceId::from_uuid);
    let server = get::<Option<Uuid>>(row, "server_id")?.map(ServerId::from_uuid);
    Ok(palisade_core::model::IpAddress {
        id: IpAddressId::from_uuid(uuid(row, "id")?),
        organization_id: OrganizationId::from_uuid(uuid(row, "organization_id")?),
        network_id: NetworkId::from_uuid(uuid(row, "network_id")?),
        address: text.parse().map_err(|e| Error::internal(format!("stored address {text}: {e}")))?,
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
        created_at: get(row, "created_at")?,
    })
}
