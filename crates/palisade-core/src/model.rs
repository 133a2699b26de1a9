//! The canonical domain model shared by every face and backend.
//!
//! These are plain data: validated by [`crate::service`] on the way in, persisted by a
//! [`crate::Store`], rendered by faces on the way out.

use std::net::IpAddr;

use ipnet::IpNet;
use time::OffsetDateTime;

use crate::id::{
    ApiTokenId, DataCenterId, InterfaceId, IpAddressId, JobId, NetworkId, OrganizationId, SecurityGroupId,
    ServerGroupId, ServerId, UserId,
};
use crate::ipam::IpVersion;
use crate::scope::Scope;

/// The current time, truncated to whole seconds: every backend stores seconds, so values read
/// back compare equal to values written.
pub fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(0).unwrap_or(now)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrganizationStatus {
    Active,
    Suspended,
    NotActivated,
}

impl OrganizationStatus {
    pub const ALL: [Self; 3] = [Self::Active, Self::Suspended, Self::NotActivated];

    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::NotActivated => "not_activated",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Organization {
    pub id: OrganizationId,
    pub name: String,
    pub sub_domain: String,
    pub status: OrganizationStatus,
    pub resource_creation_restricted: bool,
    #[serde(skip)]
    pub created_at: OffsetDateTime,
    #[serde(skip)]
    pub updated_at: OffsetDateTime,
}

/// Fields an operator may change on an organization; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrganizationPatch {
    pub name: Option<String>,
    pub status: Option<OrganizationStatus>,
    pub resource_creation_restricted: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub organization_id: OrganizationId,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// Source networks the token may be used from; empty means anywhere.
    pub allowed_networks: Vec<IpNet>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    #[serde(skip)]
    pub created_at: OffsetDateTime,
    /// An agent token's server: the one server whose policy it may read and whose enforcement
    /// it reports (scope `agent`); `None` for every other token.
    pub server_id: Option<ServerId>,
    /// When it was revoked: it is refused from then on, and stays listed (who had access, and
    /// until when). `None`: in force.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// What a server's host agent last reported: the policy in force on the host, and whether its
/// last attempt to apply one failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnforcementReport {
    pub server_id: ServerId,
    /// The policy revision of the rules in force; `None` until an apply succeeded.
    pub applied_revision: Option<u64>,
    /// The content digest (the effective policy's `digest`) of the rules in force.
    pub applied_digest: Option<String>,
    pub applied_at: Option<OffsetDateTime>,
    /// The last attempt's error; `None` when it succeeded.
    pub last_error: Option<String>,
    pub reported_at: OffsetDateTime,
}

impl ApiToken {
    pub fn is_expired_at(&self, at: OffsetDateTime) -> bool {
        self.expires_at.is_some_and(|exp| exp <= at)
    }

    pub fn allows_source(&self, source: IpAddr) -> bool {
        // A v4 client may reach a dual-stack listener as an IPv4-mapped IPv6 address.
        let source = match source {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(source),
            v4 => v4,
        };
        self.allowed_networks.is_empty() || self.allowed_networks.iter().any(|net| net.contains(&source))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    pub id: UserId,
    pub organization_id: OrganizationId,
    pub username: String,
    #[serde(skip)]
    pub created_at: OffsetDateTime,
}

/// A signed-in user's session (ZStack's `OAuth <session uuid>`): the uuid is a bearer secret,
/// stored only as its SHA-256, shown once at login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user_id: UserId,
    pub organization_id: OrganizationId,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// The answer an asynchronous call's poll gives, as its face rendered it, written in the
/// transaction of the operation it reports (so a poll on any node sees it once it exists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub id: JobId,
    /// `None` for a call refused before any organization was known (an invalid session).
    pub organization_id: Option<OrganizationId>,
    /// The poll's HTTP status.
    pub status: u16,
    /// The poll's body.
    pub body: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Country {
    pub name: String,
    /// ISO 3166-1 alpha-2, upper case.
    pub iso_code2: String,
    /// ISO 3166-1 alpha-3, upper case.
    pub iso_code3: String,
    /// IANA time zone name, e.g. `Europe/London`.
    pub time_zone: String,
    pub eu: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DataCenter {
    pub id: DataCenterId,
    pub name: String,
    pub permalink: String,
    pub country: Country,
    #[serde(skip)]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Network {
    pub id: NetworkId,
    pub name: String,
    pub permalink: Option<String>,
    pub data_center_id: DataCenterId,
    pub prefixes: Vec<IpNet>,
    /// Ranges inside the prefixes that are never handed out (gateways, routers, ...).
    pub reserved: Vec<IpNet>,
    /// The data center's default network for new addresses.
    pub is_default: bool,
    /// `None`: shared by every organization; `Some`: private to one.
    pub organization_id: Option<OrganizationId>,
    #[serde(skip)]
    pub created_at: OffsetDateTime,
}

impl Network {
    pub fn usable_by(&self, org: OrganizationId) -> bool {
        self.organization_id.is_none_or(|owner| owner == org)
    }

    /// The prefixes of one IP version, in their configured order.
    pub fn prefixes_of(&self, version: IpVersion) -> impl Iterator<Item = (usize, &IpNet)> {
        self.prefixes.iter().enumerate().filter(move |(_, p)| IpVersion::of_net(p) == version)
    }

    /// The prefix containing `addr`, if any.
    pub fn prefix_of(&self, addr: IpAddr) -> Option<&IpNet> {
        self.prefixes.iter().find(|p| p.contains(&addr))
    }
}

/// Where an address is in use: one interface of one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Allocation {
    pub server_id: ServerId,
    pub interface_id: InterfaceId,
}

/// An address of a network held by an organization, possibly allocated to a server interface.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IpAddress {
    pub id: IpAddressId,
    pub organization_id: OrganizationId,
    pub network_id: NetworkId,
    pub address: IpAddr,
    /// Length of the network prefix the address came from (for `address_with_mask`).
    pub prefix_len: u8,
    pub vip: bool,
    pub label: Option<String>,
    pub reverse_dns: String,
    pub allocation: Option<Allocation>,
    /// Claimed as part of a server's creation: released with the server rather than kept.
    pub server_owned: bool,
    #[serde(skip)]
    pub created_at: OffsetDateTime,
}

impl IpAddress {
    pub fn version(&self) -> IpVersion {
        IpVersion::of(&self.address)
    }
}

/// What a new allocation asks for. The store picks the address.
#[derive(Debug, Clone)]
pub struct IpRequest {
    pub id: IpAddressId,
    pub organization_id: OrganizationId,
    /// The network, with its prefixes and reservations as stored.
    pub network: Network,
    pub version: IpVersion,
    pub vip: bool,
    pub label: Option<String>,
    /// Pattern for the default reverse DNS name (see [`crate::ipam::reverse_dns`]).
    pub reverse_dns_pattern: String,
    /// The interface the address goes to at once (claimed with its server, released with it).
    pub allocation: Option<Allocation>,
    pub created_at: OffsetDateTime,
}

/// Fields that may change on an address; `None` leaves a field as it is. `label: Some(None)`
/// clears the label.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpAddressPatch {
    pub vip: Option<bool>,
    pub label: Option<Option<String>>,
    pub reverse_dns: Option<String>,
}

/// Which addresses a listing shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IpFilter {
    /// `Some(true)`: only allocated ones; `Some(false)`: only unallocated ones.
    pub allocated: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Interface {
    pub id: InterfaceId,
    pub network_id: NetworkId,
    pub addresses: Vec<IpAddr>,
}

/// Whose an interface is: its server, network and organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InterfaceOwner {
    pub server_id: ServerId,
    pub network_id: NetworkId,
    pub organization_id: OrganizationId,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Server {
    pub id: ServerId,
    pub organization_id: OrganizationId,
    pub name: String,
    pub interfaces: Vec<Interface>,
    pub tags: Vec<String>,
    /// The server group it belongs to, of its own organization (Katapult's
    /// `VirtualMachine.group`: at most one). Policy members and remotes naming the group mean
    /// this server; deleting the group leaves the server in none.
    pub server_group: Option<ServerGroupId>,
    #[serde(skip)]
    pub created_at: OffsetDateTime,
}

/// A server as a host of an overlay network (Defined Networking's hosts, Nebula underneath):
/// the canonical server with exactly one interface, on the overlay network, plus its role and
/// what Nebula needs to know beyond addresses. The role is membership of a [`GroupKind::Role`]
/// group, so policy sees a host's role the way it sees any group membership.
///
/// [`GroupKind::Role`]: crate::policy::GroupKind::Role
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Host {
    #[serde(flatten)]
    pub server: Server,
    pub role: Option<SecurityGroupId>,
    #[serde(flatten)]
    pub overlay: Overlay,
    #[serde(skip)]
    pub modified_at: OffsetDateTime,
}

impl Host {
    /// The overlay network (a host has one interface).
    pub fn network_id(&self) -> Option<NetworkId> {
        self.server.interfaces.first().map(|i| i.network_id)
    }

    pub fn addresses(&self) -> &[IpAddr] {
        self.server.interfaces.first().map(|i| i.addresses.as_slice()).unwrap_or_default()
    }
}

/// Nebula's per-host settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Overlay {
    /// UDP port Nebula listens on; 0 picks one at random.
    pub listen_port: u16,
    pub is_lighthouse: bool,
    pub is_relay: bool,
    /// `ip:port` underlay endpoints where a lighthouse or relay is reached.
    pub static_addresses: Vec<String>,
    /// Nebula configuration overrides, a JSON array of `{key, value}` kept as sent.
    pub config_overrides: String,
}

impl Default for Overlay {
    fn default() -> Self {
        Self {
            listen_port: 0,
            is_lighthouse: false,
            is_relay: false,
            static_addresses: Vec::new(),
            config_overrides: "[]".into(),
        }
    }
}

/// Which hosts a listing shows; `None` does not filter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostFilter {
    pub role: Option<SecurityGroupId>,
    pub network: Option<NetworkId>,
    pub is_lighthouse: Option<bool>,
    pub is_relay: Option<bool>,
}
