//! The native API's JSON shapes and their translation to and from the core model.

use palisade_core::model::{
    ApiToken, Country, DataCenter, Interface, IpAddress, Network, Organization, OrganizationStatus, Server,
    User,
};
use palisade_core::Page;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::schema::{
    scope_list, tag_list, DnsName, IsoCode2, IsoCode3, Name, Password, Slug, TimeZone, Username,
};

/// An organization's lifecycle state.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StatusWire {
    Active,
    Suspended,
    NotActivated,
}

impl From<StatusWire> for OrganizationStatus {
    fn from(s: StatusWire) -> Self {
        match s {
            StatusWire::Active => Self::Active,
            StatusWire::Suspended => Self::Suspended,
            StatusWire::NotActivated => Self::NotActivated,
        }
    }
}

impl From<OrganizationStatus> for StatusWire {
    fn from(s: OrganizationStatus) -> Self {
        match s {
            OrganizationStatus::Active => Self::Active,
            OrganizationStatus::Suspended => Self::Suspended,
            OrganizationStatus::NotActivated => Self::NotActivated,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaginationView {
    pub page: u32,
    pub per_page: u32,
    pub total: u64,
    pub total_pages: u64,
}

impl<T> From<&Page<T>> for PaginationView {
    fn from(p: &Page<T>) -> Self {
        Self {
            page: p.request.page,
            per_page: p.request.per_page,
            total: p.total,
            total_pages: p.total_pages(),
        }
    }
}

// ---------------------------------------------------------------- organizations

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganizationRequest {
    /// Display name, 1 to 255 characters.
    #[schema(value_type = Name)]
    pub name: String,
    /// Unique DNS-label-like handle: lower-case letters, digits, hyphens.
    #[schema(value_type = Slug)]
    pub sub_domain: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrganizationRequest {
    #[schema(value_type = Option<Name>)]
    pub name: Option<String>,
    pub status: Option<StatusWire>,
    pub resource_creation_restricted: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationView {
    pub id: Uuid,
    pub name: String,
    pub sub_domain: String,
    pub status: StatusWire,
    pub resource_creation_restricted: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

impl From<Organization> for OrganizationView {
    fn from(o: Organization) -> Self {
        Self {
            id: o.id.as_uuid(),
            name: o.name,
            sub_domain: o.sub_domain,
            status: o.status.into(),
            resource_creation_restricted: o.resource_creation_restricted,
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationResponse {
    pub organization: OrganizationView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrganizationList {
    pub organizations: Vec<OrganizationView>,
    pub pagination: PaginationView,
}

// ---------------------------------------------------------------- API tokens

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiTokenRequest {
    #[schema(value_type = Name)]
    pub name: String,
    /// Scope names from the catalogue (every face's vendor scopes), each at most once;
    /// `GET /api/v1/scopes` lists them with what each grants.
    #[schema(schema_with = scope_list)]
    pub scopes: Vec<String>,
    /// CIDRs or addresses the token may be used from; empty or absent means anywhere.
    #[serde(default)]
    pub allowed_networks: Vec<String>,
    /// RFC 3339 time after which the token is refused.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiTokenView {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub scopes: Vec<String>,
    pub allowed_networks: Vec<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// An agent token's server (absent for other tokens).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_id: Option<Uuid>,
    /// When it was revoked (it is refused since, and stays listed); `null`: in force.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<OffsetDateTime>,
}

impl From<ApiToken> for ApiTokenView {
    fn from(t: ApiToken) -> Self {
        Self {
            id: t.id.as_uuid(),
            organization_id: t.organization_id.as_uuid(),
            name: t.name,
            scopes: t.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            allowed_networks: t.allowed_networks.iter().map(ToString::to_string).collect(),
            expires_at: t.expires_at,
            created_at: t.created_at,
            server_id: t.server_id.map(|s| s.as_uuid()),
            revoked_at: t.revoked_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiTokenResponse {
    pub api_token: ApiTokenView,
    /// The bearer secret. Shown once; only its hash is stored.
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiTokenList {
    pub api_tokens: Vec<ApiTokenView>,
    pub pagination: PaginationView,
}

// ---------------------------------------------------------------- users

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    #[schema(value_type = Username)]
    pub username: String,
    /// 8 to 1024 characters; stored only as an Argon2id hash.
    #[schema(value_type = Password)]
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// 8 to 1024 characters; stored only as Argon2id hashes.
    #[schema(value_type = Password)]
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub username: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            id: u.id.as_uuid(),
            organization_id: u.organization_id.as_uuid(),
            username: u.username,
            created_at: u.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    pub user: UserView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserView>,
    pub pagination: PaginationView,
}

// ---------------------------------------------------------------- data centers

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CountryWire {
    #[schema(value_type = Name)]
    pub name: String,
    #[schema(value_type = IsoCode2)]
    pub iso_code2: String,
    #[schema(value_type = IsoCode3)]
    pub iso_code3: String,
    #[schema(value_type = TimeZone)]
    pub time_zone: String,
    pub eu: bool,
}

impl From<CountryWire> for Country {
    fn from(c: CountryWire) -> Self {
        Self {
            name: c.name,
            iso_code2: c.iso_code2,
            iso_code3: c.iso_code3,
            time_zone: c.time_zone,
            eu: c.eu,
        }
    }
}

impl From<Country> for CountryWire {
    fn from(c: Country) -> Self {
        Self {
            name: c.name,
            iso_code2: c.iso_code2,
            iso_code3: c.iso_code3,
            time_zone: c.time_zone,
            eu: c.eu,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDataCenterRequest {
    #[schema(value_type = Name)]
    pub name: String,
    #[schema(value_type = Slug)]
    pub permalink: String,
    pub country: CountryWire,
}

/// Changes to a data center; an absent field stays as it is.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDataCenterRequest {
    #[schema(value_type = Option<Name>)]
    pub name: Option<String>,
    #[schema(value_type = Option<Slug>)]
    pub permalink: Option<String>,
    /// Replaces the whole country.
    pub country: Option<CountryWire>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DataCenterView {
    pub id: Uuid,
    pub name: String,
    pub permalink: String,
    pub country: CountryWire,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<DataCenter> for DataCenterView {
    fn from(d: DataCenter) -> Self {
        Self {
            id: d.id.as_uuid(),
            name: d.name,
            permalink: d.permalink,
            country: d.country.into(),
            created_at: d.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DataCenterResponse {
    pub data_center: DataCenterView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DataCenterList {
    pub data_centers: Vec<DataCenterView>,
    pub pagination: PaginationView,
}

// ---------------------------------------------------------------- networks

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateNetworkRequest {
    #[schema(value_type = Name)]
    pub name: String,
    #[serde(default)]
    #[schema(value_type = Option<Slug>)]
    pub permalink: Option<String>,
    pub data_center_id: Uuid,
    /// 1 to 64 IPv4 and/or IPv6 prefixes that do not overlap, e.g. `203.0.113.0/24`,
    /// `2001:db8::/64`.
    #[schema(min_items = 1, max_items = 64)]
    pub prefixes: Vec<String>,
    /// Addresses or CIDRs inside the prefixes never handed out (gateways, routers).
    #[serde(default)]
    pub reserved: Vec<String>,
    /// Whether this is the data center's default shared network.
    #[serde(default)]
    pub default: bool,
    /// Owning organization; `null` or absent for a network shared by all.
    #[serde(default)]
    pub organization_id: Option<Uuid>,
}

/// Changes to a network; an absent field stays as it is. Prefixes, reserved ranges, the data
/// center and the owner cannot be changed: addresses are allocated from them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateNetworkRequest {
    #[schema(value_type = Option<Name>)]
    pub name: Option<String>,
    /// A new permalink, or `null` to remove it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Slug>)]
    pub permalink: Option<Option<String>>,
    /// Whether this is the data center's default shared network (one per data center).
    pub default: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NetworkView {
    pub id: Uuid,
    pub name: String,
    pub permalink: Option<String>,
    pub data_center_id: Uuid,
    pub prefixes: Vec<String>,
    pub reserved: Vec<String>,
    pub default: bool,
    pub organization_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<Network> for NetworkView {
    fn from(n: Network) -> Self {
        Self {
            id: n.id.as_uuid(),
            name: n.name,
            permalink: n.permalink,
            data_center_id: n.data_center_id.as_uuid(),
            prefixes: n.prefixes.iter().map(ToString::to_string).collect(),
            reserved: n.reserved.iter().map(ToString::to_string).collect(),
            default: n.is_default,
            organization_id: n.organization_id.map(|o| o.as_uuid()),
            created_at: n.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NetworkResponse {
    pub network: NetworkView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NetworkList {
    pub networks: Vec<NetworkView>,
    pub pagination: PaginationView,
}

// ---------------------------------------------------------------- servers

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInterfaceRequest {
    pub network_id: Uuid,
    /// At most 64 addresses of this interface, inside the network's prefixes.
    #[serde(default)]
    #[schema(max_items = 64)]
    pub addresses: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServerRequest {
    #[schema(value_type = Name)]
    pub name: String,
    /// At most 16 interfaces.
    #[serde(default)]
    #[schema(max_items = 16)]
    pub interfaces: Vec<CreateInterfaceRequest>,
    /// At most 64 free-form labels such as `env:prod`, used by policy; each at most once.
    #[serde(default)]
    #[schema(schema_with = tag_list)]
    pub tags: Vec<String>,
}

/// Changes to a server; an absent field stays as it is.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateServerRequest {
    #[schema(value_type = Option<Name>)]
    pub name: Option<String>,
    /// Replaces the server's tags: at most 64 names, each at most once.
    #[serde(default)]
    #[schema(schema_with = tag_list)]
    pub tags: Option<Vec<String>>,
    /// The server group (a Katapult virtual machine group of the organization) the server
    /// joins, leaving the one it was in; `null` takes it out of its group. Naming a group needs
    /// `virtual_machine_groups` or `virtual_machine_groups:read` as well; a group that is not the
    /// organization's is not found.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Uuid>)]
    pub server_group_id: Option<Option<Uuid>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InterfaceView {
    pub id: Uuid,
    pub network_id: Uuid,
    pub addresses: Vec<String>,
}

impl From<Interface> for InterfaceView {
    fn from(i: Interface) -> Self {
        Self {
            id: i.id.as_uuid(),
            network_id: i.network_id.as_uuid(),
            addresses: i.addresses.iter().map(ToString::to_string).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServerView {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub interfaces: Vec<InterfaceView>,
    pub tags: Vec<String>,
    /// The server group the server is in, or `null`.
    pub server_group_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<Server> for ServerView {
    fn from(s: Server) -> Self {
        Self {
            id: s.id.as_uuid(),
            organization_id: s.organization_id.as_uuid(),
            name: s.name,
            interfaces: s.interfaces.into_iter().map(Into::into).collect(),
            tags: s.tags,
            server_group_id: s.server_group.map(|g| g.as_uuid()),
            created_at: s.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServerResponse {
    pub server: ServerView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServerList {
    pub servers: Vec<ServerView>,
    pub pagination: PaginationView,
}

// ---------------------------------------------------------------- IP addresses

/// `ipv4` or `ipv6`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum VersionWire {
    Ipv4,
    Ipv6,
}

impl From<VersionWire> for palisade_core::ipam::IpVersion {
    fn from(v: VersionWire) -> Self {
        match v {
            VersionWire::Ipv4 => Self::V4,
            VersionWire::Ipv6 => Self::V6,
        }
    }
}

impl From<palisade_core::ipam::IpVersion> for VersionWire {
    fn from(v: palisade_core::ipam::IpVersion) -> Self {
        match v {
            palisade_core::ipam::IpVersion::V4 => Self::Ipv4,
            palisade_core::ipam::IpVersion::V6 => Self::Ipv6,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIpAddressRequest {
    pub network_id: Uuid,
    pub version: VersionWire,
    /// A virtual IP, shared between servers; needs a label.
    #[serde(default)]
    pub vip: bool,
    #[serde(default)]
    #[schema(value_type = Option<Name>)]
    pub label: Option<String>,
}

/// Absent stays `None` (with `#[serde(default)]`); `null` becomes `Some(None)`.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateIpAddressRequest {
    pub vip: Option<bool>,
    /// A new label, or `null` to clear it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Name>)]
    pub label: Option<Option<String>>,
    #[schema(value_type = Option<DnsName>)]
    pub reverse_dns: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllocateIpAddressRequest {
    pub server_id: Uuid,
    pub interface_id: Uuid,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IpAddressView {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub network_id: Uuid,
    pub address: String,
    /// The address with its network prefix's length, e.g. `203.0.113.10/24`.
    pub address_with_mask: String,
    pub version: VersionWire,
    pub vip: bool,
    pub label: Option<String>,
    pub reverse_dns: String,
    /// The server the address is allocated to, if any.
    pub allocation_id: Option<Uuid>,
    /// `server` when allocated, else `null`.
    pub allocation_type: Option<String>,
    /// The server interface the address is allocated to, if any.
    pub interface_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<IpAddress> for IpAddressView {
    fn from(ip: IpAddress) -> Self {
        Self {
            id: ip.id.as_uuid(),
            organization_id: ip.organization_id.as_uuid(),
            network_id: ip.network_id.as_uuid(),
            address: ip.address.to_string(),
            address_with_mask: palisade_core::ipam::address_with_mask(ip.address, ip.prefix_len),
            version: ip.version().into(),
            vip: ip.vip,
            label: ip.label,
            reverse_dns: ip.reverse_dns,
            allocation_id: ip.allocation.map(|a| a.server_id.as_uuid()),
            allocation_type: ip.allocation.map(|_| "server".to_owned()),
            interface_id: ip.allocation.map(|a| a.interface_id.as_uuid()),
            created_at: ip.created_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IpAddressResponse {
    pub ip_address: IpAddressView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IpAddressList {
    pub ip_addresses: Vec<IpAddressView>,
    pub pagination: PaginationView,
}

// ---------------------------------------------------------------- scopes

/// One scope of the catalogue.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScopeView {
    /// The name, as a token's `scopes` lists it.
    pub name: &'static str,
    /// What it grants in Palisade, in one line.
    pub description: &'static str,
}

/// Every scope name any face understands, in catalogue order (Katapult's, Defined's, then
/// Palisade's own). `agent` is only agent tokens' (made by `POST /api/v1/servers/{id}/agent_tokens`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ScopeList {
    pub scopes: Vec<ScopeView>,
}
