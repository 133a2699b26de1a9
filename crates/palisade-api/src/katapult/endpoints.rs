//! Katapult endpoints: read the arguments (400s first, as Apia does), resolve the organization
//! and authorize the route's operation there (404s), then validate what else the request names,
//! make one core call, render the vendor's object.

use std::collections::HashMap;

use axum::response::Response;
use palisade_core::id::{DataCenterId, IpAddressId, NetworkId, OrganizationId};
use palisade_core::ipam::IpVersion;
use palisade_core::model::{DataCenter, IpAddress, IpAddressPatch, IpFilter};
use palisade_core::service::{CreateIpAddress, IpRef, OrganizationRef, PermalinkRef};
use palisade_core::{Core, Error, Operation, Principal};
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
    /// The route's operation.
    pub op: Operation,
}

fn typed<T>(prefix: &str, text: &str, kind: &'static str, make: fn([u8; 16]) -> T) -> Result<T> {
    ids::parse(prefix, text).map(make).ok_or(Error::not_found(kind))
}

fn organization_ref(lookup: Lookup) -> Result<OrganizationRef> {
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

/// The organization a route names, once the caller is authorized for the route's operation
/// there: before any other reference or argument is validated, so an organization that is not
/// the caller's answers exactly like one that does not exist, whatever else the request says.
pub(super) async fn organization(ctx: &Ctx<'_>, lookup: Lookup) -> Result<OrganizationId> {
    ctx.core
        .authorized_organization(ctx.actor, &organization_ref(lookup)?, ctx.op)
        .await
        .map_err(in_argument("organization"))
}

/// The core names a lookup's fields alone (`sub_domain`); Apia names the argument they are in
/// (`organization.sub_domain`).
fn in_argument(argument: &'static str) -> impl Fn(Error) -> Error {
    move |e| match e {
        Error::Invalid(violations) => Error::Invalid(
            violations
                .into_iter()
                .map(|v| palisade_core::Violation::new(format!("{argument}.{}", v.path), v.code, v.message))
                .collect(),
        ),
        other => other,
    }
}

async fn data_center_of(ctx: &Ctx<'_>, id: DataCenterId) -> Result<DataCenter> {
    ctx.core.visible_data_center(ctx.actor, &PermalinkRef::Id(id)).await
}

/// The full IP object: the address with its network and data center.
async fn ip_full(ctx: &Ctx<'_>, ip: &IpAddress) -> Result<IpFull> {
    let network = ctx.core.visible_network(ctx.actor, &PermalinkRef::Id(ip.network_id)).await?;
    let dc = data_center_of(ctx, network.data_center_id).await?;
    Ok(IpFull::new(ip, &network, &dc))
}

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
    let id = organization(&ctx, lookup).await?;
    let org = ctx.core.organization(ctx.actor, id).await?;
    #[derive(Serialize)]
    struct Body {
        organization: OrganizationFull,
    }
    Ok(ok(&Body { organization: (&org).into() }))
}

pub async fn get_network(ctx: Ctx<'_>) -> Result<Response> {
    let lookup = ctx.args.require_lookup("network", PERMALINK_KEYS)?;
    let network =
        ctx.core.visible_network(ctx.actor, &network_ref(lookup)?).await.map_err(in_argument("network"))?;
    let dc = data_center_of(&ctx, network.data_center_id).await?;
    #[derive(Serialize)]
    struct Body {
        network: NetworkFull,
    }
    Ok(ok(&Body { network: NetworkOf::new(&network, (&dc).into()) }))
}

pub async fn default_network(ctx: Ctx<'_>) -> Result<Response> {
    let lookup = ctx.args.require_lookup("data_center", PERMALINK_KEYS)?;
    let reference = data_center_ref(lookup)?;
    // Only the data center's lookup can be invalid (a permalink with control characters).
    let (dc, network) =
        ctx.core.default_network(ctx.actor, &reference).await.map_err(in_argument("data_center"))?;
    #[derive(Serialize)]
    struct Body {
        network: NetworkShort,
    }
    Ok(ok(&Body { network: NetworkOf::new(&network, (&dc).into()) }))
}

pub async fn available_networks(ctx: Ctx<'_>) -> Result<Response> {
    let lookup = ctx.args.require_lookup("organization", ORGANIZATION_KEYS)?;
    let org = organization(&ctx, lookup).await?;
    let networks = ctx.core.available_networks(ctx.actor, org).await?;
    let mut data_centers: HashMap<DataCenterId, DataCenter> = HashMap::new();
    let mut items: Vec<NetworkShort> = Vec::with_capacity(networks.len());
    for network in &networks {
        if !data_centers.contains_key(&network.data_center_id) {
            let dc = data_center_of(&ctx, network.data_center_id).await?;
            data_centers.insert(dc.id, dc);
        }
        if let Some(dc) = data_centers.get(&network.data_center_id) {
            items.push(NetworkOf::new(network, DataCenterShort::from(dc)));
        }
    }
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
    let org = organization(&ctx, org_lookup).await?;
    let network = ctx
        .core
        .visible_network(ctx.actor, &network_ref(network_lookup)?)
        .await
        .map_err(in_argument("network"))?;
    let version = if version == "ipv4" { IpVersion::V4 } else { IpVersion::V6 };
    let input = CreateIpAddress { network_id: network.id, version, vip, label };
    let ip = ctx.core.create_ip_address(ctx.actor, org, input).await?;
    Ok(ok(&IpBody { ip_address: ip_full(&ctx, &ip).await? }))
}

pub async fn list_ips(ctx: Ctx<'_>) -> Result<Response> {
    let lookup = ctx.args.require_lookup("organization", ORGANIZATION_KEYS)?;
    let allocated = ctx.args.boolean(&["allocated"])?;
    let page = ctx.args.page()?;
    let org = organization(&ctx, lookup).await?;
    let page = ctx.core.list_ip_addresses(ctx.actor, org, IpFilter { allocated }, page).await?;
    #[derive(Serialize)]
    struct Body {
        pagination: Pagination,
        ip_addresses: Vec<IpListItem>,
    }
    Ok(ok(&Body { pagination: (&page).into(), ip_addresses: page.items.iter().map(Into::into).collect() }))
}

async fn located(ctx: &Ctx<'_>) -> Result<IpAddress> {
    let lookup = ctx.args.require_lookup("ip_address", IP_KEYS)?;
    ctx.core.locate_ip_address(ctx.actor, &ip_ref(lookup)?, ctx.op.action).await
}

pub async fn get_ip(ctx: Ctx<'_>) -> Result<Response> {
    let ip = located(&ctx).await?;
    let server = ctx.core.ip_allocation_server(ctx.actor, &ip).await?;
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
    let allocation = server.map(|s| Allocation {
        kind: "VirtualMachine",
        value: Target { id: ids::render(ids::SERVER, s.id.as_bytes()), name: s.name },
    });
    Ok(ok(&Body { ip_address: ip_full(&ctx, &ip).await?, allocation }))
}

pub async fn update_ip(ctx: Ctx<'_>) -> Result<Response> {
    let args = ctx.args;
    let vip = args.boolean(&["vip"])?;
    let new_label = label(args)?;
    let reverse_dns = args.string(&["reverse_dns"])?;
    let ip = located(&ctx).await?;
    // Katapult: "" or null clears the label, and making an address a non-VIP clears it too.
    let label = if args.present(&["label"]) {
        Some(new_label)
    } else if vip == Some(false) {
        Some(None)
    } else {
        None
    };
    let patch = IpAddressPatch { vip, label, reverse_dns };
    let ip = ctx.core.update_ip_address(ctx.actor, ip.organization_id, ip.id, patch).await?;
    Ok(ok(&IpBody { ip_address: ip_full(&ctx, &ip).await? }))
}

pub async fn release_ip(ctx: Ctx<'_>) -> Result<Response> {
    let ip = located(&ctx).await?;
    ctx.core.release_ip_address(ctx.actor, ip.organization_id, ip.id).await?;
    Ok(ok(&json!({})))
}

pub async fn unallocate_ip(ctx: Ctx<'_>) -> Result<Response> {
    let ip = located(&ctx).await?;
    ctx.core.unallocate_ip_address(ctx.actor, ip.organization_id, ip.id).await?;
    Ok(ok(&json!({})))
}
