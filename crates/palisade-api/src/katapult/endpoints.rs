//! Katapult endpoints: read the arguments (400s first, as Apia does), then make one core call,
//! which resolves the organization and authorizes the route's operation there (404s) before it
//! looks up or validates what else the request names, and render the vendor's object.

use axum::response::Response;
use palisade_core::id::{DataCenterId, IpAddressId, NetworkId, OrganizationId};
use palisade_core::ipam::IpVersion;
use palisade_core::model::{IpAddressPatch, IpFilter};
use palisade_core::service::{CreateIpAddress, IpRef, NetworkArg, OrganizationRef, PermalinkRef};
use palisade_core::{Core, Error, Principal};
use serde::Serialize;
use serde_json::json;

use super::args::{Args, Lookup};
use super::encode::ok;
use super::ids;
use super::views::{
    DataCenterShort, IpFull, IpListItem, NetworkFull, NetworkOf, NetworkShort, OrganizationFull,
    OrganizationItem, Pagination,
};

type Result<T> = std::result::Result<T, Error>;

/// What an endpoint works with.
pub struct Ctx<'a> {
    pub core: &'a Core,
    pub actor: &'a Principal,
    pub args: &'a Args,
}

fn typed<T>(prefix: &str, text: &str, kind: &'static str, make: fn([u8; 16]) -> T) -> Result<T> {
    ids::parse(prefix, text).map(make).ok_or(Error::not_found(kind))
}

/// The organization a route names. The core resolves it and authorizes the route's operation
/// there before it looks at anything else the request names, so an organization that is not
/// the caller's answers exactly like one that does not exist.
pub(super) fn organization(lookup: Lookup) -> Result<OrganizationRef> {
    match lookup.key {
        "sub_domain" => Ok(OrganizationRef::SubDomain(lookup.value)),
        _ => typed(ids::ORGANIZATION, &lookup.value, OrganizationId::KIND, OrganizationId::from_bytes)
            .map(OrganizationRef::Id),
    }
}

fn network_ref(lookup: Lookup) -> Result<PermalinkRef<NetworkId>> {
    match lookup.key {
        "permalink" => Ok(PermalinkRef::Permalink(lookup.value)),
        _ => typed(ids::NETWORK, &lookup.value, NetworkId::KIND, NetworkId::from_bytes).map(PermalinkRef::Id),
    }
}

fn data_center_ref(lookup: Lookup) -> Result<PermalinkRef<DataCenterId>> {
    match lookup.key {
        "permalink" => Ok(PermalinkRef::Permalink(lookup.value)),
        _ => typed(ids::DATA_CENTER, &lookup.value, DataCenterId::KIND, DataCenterId::from_bytes)
            .map(PermalinkRef::Id),
    }
}

fn ip_ref(lookup: Lookup) -> Result<IpRef> {
    match lookup.key {
        "address" => {
            lookup.value.parse().map(IpRef::Address).map_err(|_| Error::not_found(IpAddressId::KIND))
        }
        _ => typed(ids::IP_ADDRESS, &lookup.value, IpAddressId::KIND, IpAddressId::from_bytes).map(IpRef::Id),
    }
}

pub(super) const ORGANIZATION_KEYS: &[&str] = &["id", "sub_domain"];
const PERMALINK_KEYS: &[&str] = &["id", "permalink"];
const IP_KEYS: &[&str] = &["id", "address"];

pub async fn list_organizations(ctx: Ctx<'_>) -> Result<Response> {
    let orgs = ctx.core.visible_organizations(ctx.actor).await?;
    #[derive(Serialize)]
    struct Body {
        organizations: Vec<OrganizationItem>,
    }
    Ok(ok(&Body { organizations: orgs.iter().map(Into::into).collect() }))
}

pub async fn get_organization(ctx: Ctx<'_>) -> Result<Response> {
    let lookup = ctx.args.require_lookup("organization", ORGANIZATION_KEYS)?;
    let org = ctx.core.organization(ctx.actor, organization(lookup)?).await?;
    #[derive(Serialize)]
    struct Body {
        organization: OrganizationFull,
    }
    Ok(ok(&Body { organization: (&org).into() }))
}

pub async fn get_network(ctx: Ctx<'_>) -> Result<Response> {
    let lookup = ctx.args.require_lookup("network", PERMALINK_KEYS)?;
    let (dc, network) = ctx.core.visible_network(ctx.actor, &network_ref(lookup)?).await?;
    #[derive(Serialize)]
    struct Body {
        network: NetworkFull,
    }
    Ok(ok(&Body { network: NetworkOf::new(&network, (&dc).into()) }))
}

pub async fn default_network(ctx: Ctx<'_>) -> Result<Response> {
    let lookup = ctx.args.require_lookup("data_center", PERMALINK_KEYS)?;
    let reference = data_center_ref(lookup)?;
    let (dc, network) = ctx.core.default_network(ctx.actor, &reference).await?;
    #[derive(Serialize)]
    struct Body {
        network: NetworkShort,
    }
    Ok(ok(&Body { network: NetworkOf::new(&network, (&dc).into()) }))
}

pub async fn available_networks(ctx: Ctx<'_>) -> Result<Response> {
    let lookup = ctx.args.require_lookup("organization", ORGANIZATION_KEYS)?;
    let networks = ctx.core.available_networks(ctx.actor, organization(lookup)?).await?;
    let items: Vec<NetworkShort> =
        networks.iter().map(|(dc, network)| NetworkOf::new(network, DataCenterShort::from(dc))).collect();
    #[derive(Serialize)]
    struct Body {
        networks: Vec<NetworkShort>,
        virtual_networks: Vec<serde_json::Value>,
    }
    Ok(ok(&Body { networks: items, virtual_networks: Vec::new() }))
}

#[derive(Serialize)]
struct IpBody {
    ip_address: IpFull,
}

/// A label of `""` means none, as in Katapult.
fn label(args: &Args) -> Result<Option<String>> {
    Ok(args.string(&["label"])?.filter(|l| !l.is_empty()))
}

pub async fn create_ip(ctx: Ctx<'_>) -> Result<Response> {
    let args = ctx.args;
    let org_lookup = args.require_lookup("organization", ORGANIZATION_KEYS)?;
    let network_lookup = args.require_lookup("network", PERMALINK_KEYS)?;
    let version = args.require(&["version"], args.enumeration(&["version"], &["ipv4", "ipv6"])?)?;
    let vip = args.boolean(&["vip"])?.unwrap_or(false);
    let label = label(args)?;
    let org = organization(org_lookup)?;
    let network = NetworkArg::Lookup(network_ref(network_lookup)?);
    let version = if version == "ipv4" { IpVersion::V4 } else { IpVersion::V6 };
    let input = CreateIpAddress { network, version, vip, label };
    let ip = ctx.core.create_ip_address(ctx.actor, org, input).await?;
    Ok(ok(&IpBody { ip_address: IpFull::of(&ip) }))
}

pub async fn list_ips(ctx: Ctx<'_>) -> Result<Response> {
    let lookup = ctx.args.require_lookup("organization", ORGANIZATION_KEYS)?;
    let allocated = ctx.args.boolean(&["allocated"])?;
    let page = ctx.args.page()?;
    let org = organization(lookup)?;
    let page = ctx.core.list_ip_addresses(ctx.actor, org, IpFilter { allocated }, page).await?;
    #[derive(Serialize)]
    struct Body {
        pagination: Pagination,
        ip_addresses: Vec<IpListItem>,
    }
    Ok(ok(&Body { pagination: (&page).into(), ip_addresses: page.items.iter().map(Into::into).collect() }))
}

fn located(args: &Args) -> Result<IpRef> {
    ip_ref(args.require_lookup("ip_address", IP_KEYS)?)
}

pub async fn get_ip(ctx: Ctx<'_>) -> Result<Response> {
    let ip = ctx.core.ip_address(ctx.actor, &located(ctx.args)?).await?;
    #[derive(Serialize)]
    struct Target {
        id: String,
        name: String,
    }
    #[derive(Serialize)]
    struct Allocation {
        #[serde(rename = "type")]
        kind: &'static str,
        value: Target,
    }
    #[derive(Serialize)]
    struct Body {
        ip_address: IpFull,
        allocation: Option<Allocation>,
    }
    let allocation = ip.server.as_ref().map(|s| Allocation {
        kind: "VirtualMachine",
        value: Target { id: ids::render(ids::SERVER, s.id.as_bytes()), name: s.name.clone() },
    });
    Ok(ok(&Body { ip_address: IpFull::of(&ip), allocation }))
}

pub async fn update_ip(ctx: Ctx<'_>) -> Result<Response> {
    let args = ctx.args;
    let vip = args.boolean(&["vip"])?;
    let new_label = label(args)?;
    let reverse_dns = args.string(&["reverse_dns"])?;
    let ip = located(args)?;
    // Katapult: "" or null clears the label, and making an address a non-VIP clears it too.
    let label = if args.present(&["label"]) {
        Some(new_label)
    } else if vip == Some(false) {
        Some(None)
    } else {
        None
    };
    let patch = IpAddressPatch { vip, label, reverse_dns };
    let ip = ctx.core.update_ip_address(ctx.actor, &ip, patch).await?;
    Ok(ok(&IpBody { ip_address: IpFull::of(&ip) }))
}

pub async fn release_ip(ctx: Ctx<'_>) -> Result<Response> {
    ctx.core.release_ip_address(ctx.actor, &located(ctx.args)?).await?;
    Ok(ok(&json!({})))
}

pub async fn unallocate_ip(ctx: Ctx<'_>) -> Result<Response> {
    ctx.core.unallocate_ip_address(ctx.actor, &located(ctx.args)?).await?;
    Ok(ok(&json!({})))
}
