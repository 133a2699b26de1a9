//! Katapult's response objects, fields in the vendor's key order.

use palisade_core::ipam::address_with_mask;
use palisade_core::model::{DataCenter, IpAddress, Network, Organization, OrganizationStatus};
use palisade_core::policy::ServerGroup;
use palisade_core::service::IpAddressDetail;
use palisade_core::Page;
use serde::Serialize;

use super::ids;

#[derive(Debug, Serialize)]
pub struct Pagination {
    pub current_page: u32,
    pub total_pages: u64,
    pub total: u64,
    pub per_page: u32,
    pub large_set: bool,
}

impl<T> From<&Page<T>> for Pagination {
    fn from(p: &Page<T>) -> Self {
        Self {
            current_page: p.request.page,
            total_pages: p.total_pages(),
            total: p.total,
            per_page: p.request.per_page,
            large_set: false,
        }
    }
}

/// A virtual machine group, alone or as a virtual machine's `group`: the keys Katapult's
/// recorded answers have (`tests/fixtures/katapult`, 2023). Its 2024 schema adds
/// `auto_segregate`, automatic placement on separate hypervisors; Palisade places no virtual
/// machines, so it has no value to give and leaves the key out, as the recordings do.
#[derive(Debug, Serialize)]
pub struct ServerGroupView {
    pub id: String,
    pub name: String,
    pub segregate: bool,
    pub created_at: i64,
}

impl From<&ServerGroup> for ServerGroupView {
    fn from(g: &ServerGroup) -> Self {
        Self {
            id: ids::render(ids::SERVER_GROUP, g.id.as_bytes()),
            name: g.name.clone(),
            segregate: g.segregate,
            created_at: g.created_at.unix_timestamp(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Country {
    pub id: String,
    pub name: String,
    pub iso_code2: String,
    pub iso_code3: String,
    pub time_zone: Option<String>,
    pub eu: bool,
}

#[derive(Debug, Serialize)]
pub struct DataCenterFull {
    pub id: String,
    pub name: String,
    pub permalink: String,
    pub country: Country,
}

impl From<&DataCenter> for DataCenterFull {
    fn from(dc: &DataCenter) -> Self {
        Self {
            id: ids::render(ids::DATA_CENTER, dc.id.as_bytes()),
            name: dc.name.clone(),
            permalink: dc.permalink.clone(),
            country: Country {
                id: ids::country(&dc.country.iso_code2),
                name: dc.country.name.clone(),
                iso_code2: dc.country.iso_code2.clone(),
                iso_code3: dc.country.iso_code3.clone(),
                time_zone: Some(dc.country.time_zone.clone()),
                eu: dc.country.eu,
            },
        }
    }
}

#[derive(Debug, Serialize)]
pub struct DataCenterShort {
    pub id: String,
    pub name: String,
    pub permalink: String,
}

impl From<&DataCenter> for DataCenterShort {
    fn from(dc: &DataCenter) -> Self {
        Self {
            id: ids::render(ids::DATA_CENTER, dc.id.as_bytes()),
            name: dc.name.clone(),
            permalink: dc.permalink.clone(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct NetworkOf<D> {
    pub id: String,
    pub name: String,
    pub permalink: Option<String>,
    pub default: bool,
    pub data_center: D,
}

pub type NetworkFull = NetworkOf<DataCenterFull>;
pub type NetworkShort = NetworkOf<DataCenterShort>;

impl<D> NetworkOf<D> {
    pub fn new(network: &Network, data_center: D) -> Self {
        Self {
            id: ids::render(ids::NETWORK, network.id.as_bytes()),
            name: network.name.clone(),
            permalink: network.permalink.clone(),
            default: network.is_default,
            data_center,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct IpFull {
    pub id: String,
    pub address: String,
    pub reverse_dns: String,
    pub vip: bool,
    pub label: Option<String>,
    pub address_with_mask: String,
    pub network: NetworkFull,
    pub subnet: Option<Subnet>,
    pub allocation_id: Option<String>,
    pub allocation_type: Option<&'static str>,
}

/// The prefix of the network an address belongs to (Katapult 2026 responses carry it).
#[derive(Debug, Serialize)]
pub struct Subnet {
    pub id: String,
    pub address: String,
    /// The network's first reserved single address inside the prefix, if any.
    pub gateway: Option<String>,
    pub mask: u8,
    pub billable: bool,
    pub version: u8,
}

impl Subnet {
    fn of(ip: &IpAddress, network: &Network) -> Option<Self> {
        let prefix = network.prefix_of(ip.address)?;
        let gateway = network
            .reserved
            .iter()
            .find(|r| r.prefix_len() == r.max_prefix_len() && prefix.contains(&r.addr()))
            .map(|r| r.addr().to_string());
        Some(Self {
            id: ids::subnet(network.id.as_bytes(), &prefix.to_string()),
            address: prefix.network().to_string(),
            gateway,
            mask: prefix.prefix_len(),
            billable: true,
            version: ip.version().number(),
        })
    }
}

impl IpFull {
    pub fn of(detail: &IpAddressDetail) -> Self {
        let IpAddressDetail { ip, network, data_center, .. } = detail;
        Self {
            id: ids::render(ids::IP_ADDRESS, ip.id.as_bytes()),
            address: ip.address.to_string(),
            reverse_dns: ip.reverse_dns.clone(),
            vip: ip.vip,
            label: ip.label.clone(),
            address_with_mask: address_with_mask(ip.address, ip.prefix_len),
            network: NetworkOf::new(network, data_center.into()),
            subnet: Subnet::of(ip, network),
            allocation_id: ip.allocation.map(|a| ids::render(ids::SERVER, a.server_id.as_bytes())),
            allocation_type: ip.allocation.map(|_| "VirtualMachine"),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct IpListItem {
    pub id: String,
    pub address: String,
    pub reverse_dns: String,
    pub vip: bool,
    pub allocation_id: Option<String>,
    pub allocation_type: Option<&'static str>,
}

impl From<&IpAddress> for IpListItem {
    fn from(ip: &IpAddress) -> Self {
        Self {
            id: ids::render(ids::IP_ADDRESS, ip.id.as_bytes()),
            address: ip.address.to_string(),
            reverse_dns: ip.reverse_dns.clone(),
            vip: ip.vip,
            allocation_id: ip.allocation.map(|a| ids::render(ids::SERVER, a.server_id.as_bytes())),
            allocation_type: ip.allocation.map(|_| "VirtualMachine"),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct OrganizationItem {
    pub id: String,
    pub name: String,
    pub sub_domain: String,
    pub infrastructure_domain: String,
    pub created_at: i64,
    pub activated_at: Option<i64>,
    pub suspended: bool,
    pub managed: bool,
}

impl From<&Organization> for OrganizationItem {
    fn from(o: &Organization) -> Self {
        Self {
            id: ids::render(ids::ORGANIZATION, o.id.as_bytes()),
            name: o.name.clone(),
            sub_domain: o.sub_domain.clone(),
            infrastructure_domain: format!("{}.palisade.internal", o.sub_domain),
            created_at: o.created_at.unix_timestamp(),
            activated_at: (o.status != OrganizationStatus::NotActivated)
                .then(|| o.created_at.unix_timestamp()),
            suspended: o.status == OrganizationStatus::Suspended,
            managed: false,
        }
    }
}

/// The full organization: the list fields plus billing details Palisade does not keep (null).
#[derive(Debug, Serialize)]
pub struct OrganizationFull {
    #[serde(flatten)]
    pub item: OrganizationItem,
    pub billing_name: Option<String>,
    pub address1: Option<String>,
    pub address2: Option<String>,
    pub address3: Option<String>,
    pub address4: Option<String>,
    pub postcode: Option<String>,
    pub vat_number: Option<String>,
    pub phone_number: Option<String>,
    pub currency: Option<String>,
    pub country: Option<String>,
    pub country_state: Option<String>,
}

impl From<&Organization> for OrganizationFull {
    fn from(o: &Organization) -> Self {
        Self {
            item: o.into(),
            billing_name: None,
            address1: None,
            address2: None,
            address3: None,
            address4: None,
            postcode: None,
            vat_number: None,
            phone_number: None,
            currency: None,
            country: None,
            country_state: None,
        }
    }
}
