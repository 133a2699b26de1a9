//! Decoding rows into domain types. A value the schema should never hold (a malformed id or
//! CIDR, an unknown status) is an internal error, not a panic.

use palisade_core::error::{Error, Result};
use palisade_core::id::{
    ApiTokenId, DataCenterId, InterfaceId, IpAddressId, NetworkId, OrganizationId, ServerId, UserId,
};
use palisade_core::model::{
    Allocation, ApiToken, Country, DataCenter, IpAddress, Organization, OrganizationStatus, User,
};
use palisade_core::Scope;
use sqlx::Row;
use uuid::Uuid;

use super::db;

pub(crate) fn get<'r, T>(row: &'r db::Row, col: &str) -> Result<T>
where
    T: sqlx::Decode<'r, db::Db> + sqlx::Type<db::Db>,
{
    row.try_get(col).map_err(|e| Error::internal(format!("reading column {col}: {e}")))
}

/// The organization columns of a join, each prefixed `o_` (see [`organization_with`]).
pub(crate) const ORG_COLUMNS: &str = "o.id AS o_id, o.name AS o_name, o.sub_domain AS o_sub_domain,
    o.status AS o_status, o.resource_creation_restricted AS o_resource_creation_restricted,
    o.created_at AS o_created_at, o.updated_at AS o_updated_at";

/// An organization from columns named with `prefix` (empty for an `organizations` row).
pub(crate) fn organization_with(row: &db::Row, prefix: &str) -> Result<Organization> {
    let col = |c: &str| format!("{prefix}{c}");
    let status: String = get(row, &col("status"))?;
    Ok(Organization {
        id: OrganizationId::from_uuid(get(row, &col("id"))?),
        name: get(row, &col("name"))?,
        sub_domain: get(row, &col("sub_domain"))?,
        status: OrganizationStatus::parse(&status)
            .ok_or_else(|| Error::internal(format!("stored organization status {status}")))?,
        resource_creation_restricted: get(row, &col("resource_creation_restricted"))?,
        created_at: db::time_of(row, &col("created_at"))?,
        updated_at: db::time_of(row, &col("updated_at"))?,
    })
}

pub(crate) fn organization(row: &db::Row) -> Result<Organization> {
    organization_with(row, "")
}

pub(crate) fn api_token(row: &db::Row) -> Result<ApiToken> {
    Ok(ApiToken {
        id: ApiTokenId::from_uuid(get(row, "id")?),
        organization_id: OrganizationId::from_uuid(get(row, "organization_id")?),
        name: get(row, "name")?,
        scopes: db::words_of(row, "scopes")?
            .iter()
            .map(|s| Scope::parse(s).ok_or_else(|| Error::internal(format!("stored scope {s} unknown"))))
            .collect::<Result<_>>()?,
        allowed_networks: db::nets_of(row, "allowed_networks")?,
        expires_at: db::opt_time_of(row, "expires_at")?,
        created_at: db::time_of(row, "created_at")?,
        server_id: get::<Option<Uuid>>(row, "server_id")?.map(ServerId::from_uuid),
        revoked_at: db::opt_time_of(row, "revoked_at")?,
    })
}

pub(crate) fn user(row: &db::Row) -> Result<User> {
    Ok(User {
        id: UserId::from_uuid(get(row, "id")?),
        organization_id: OrganizationId::from_uuid(get(row, "organization_id")?),
        username: get(row, "username")?,
        created_at: db::time_of(row, "created_at")?,
    })
}

pub(crate) fn data_center(row: &db::Row) -> Result<DataCenter> {
    Ok(DataCenter {
        id: DataCenterId::from_uuid(get(row, "id")?),
        name: get(row, "name")?,
        permalink: get(row, "permalink")?,
        country: Country {
            name: get(row, "country_name")?,
            iso_code2: get(row, "country_iso_code2")?,
            iso_code3: get(row, "country_iso_code3")?,
            time_zone: get(row, "country_time_zone")?,
            eu: get(row, "country_eu")?,
        },
        created_at: db::time_of(row, "created_at")?,
    })
}

pub(crate) fn ip_address(row: &db::Row) -> Result<IpAddress> {
    let interface = get::<Option<Uuid>>(row, "interface_id")?.map(InterfaceId::from_uuid);
    let server = get::<Option<Uuid>>(row, "server_id")?.map(ServerId::from_uuid);
    Ok(IpAddress {
        id: IpAddressId::from_uuid(get(row, "id")?),
        organization_id: OrganizationId::from_uuid(get(row, "organization_id")?),
        network_id: NetworkId::from_uuid(get(row, "network_id")?),
        address: db::addr_of(row, "address")?,
        prefix_len: u8::try_from(get::<i16>(row, "prefix_len")?).map_err(Error::internal)?,
        vip: get(row, "vip")?,
        label: get(row, "label")?,
        reverse_dns: get(row, "reverse_dns")?,
        allocation: match (server, interface) {
            (Some(server_id), Some(interface_id)) => Some(Allocation { server_id, interface_id }),
            _ => None,
        },
        server_owned: get(row, "server_owned")?,
        created_at: db::time_of(row, "created_at")?,
    })
}
