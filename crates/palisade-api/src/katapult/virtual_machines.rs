//! Katapult virtual machines over Palisade's servers: the organization's list, one machine, and
//! the changes Palisade can keep (its VM group, its name, its tag names).
//!
//! Palisade is a policy control plane: it knows a server's name, organization, interfaces and
//! addresses, tags and server group, but it builds and runs nothing, so most of a Katapult
//! virtual machine is a concept it does not have. The choices, field by field:
//!
//! - `id` is `vm_` + the server's id; `created_at` is its creation time in Unix seconds.
//! - `name` and `hostname` are both the server's one name: Palisade keeps no separate hostname
//!   (a Defined host's name is its hostname already). Setting either sets it; setting both to
//!   different values is refused (422), since one of them would be lost.
//! - `fqdn` is `null`: Palisade keeps no DNS names for servers. A lookup by `fqdn` therefore
//!   finds nothing (`virtual_machine_not_found`).
//! - `state`, `zone` and `initial_root_password`, and `description`, `package`,
//!   `attached_iso`, `memory_in_gb`, `cpu_cores`, `use_dedicated_cpus`, `gpu_type` and
//!   `hypervisor` are `null`: Palisade has no such thing to report, and a made-up value
//!   (`"started"`, a zone named after a data center) would look real. Several of these are
//!   never `null` at Katapult; typed clients (go-katapult) read `null` as the zero value. `gpus`
//!   is `[]`.
//! - `organization` is the server's organization, as `GET /organizations/:organization`
//!   shows it; `group` is its VM group exactly as the VM group routes show it (`id`, `name`,
//!   `segregate`, `created_at`: the keys of Katapult's recorded answers; the 2024 schema's
//!   `auto_segregate` is left out there, see `views::ServerGroupView`), or `null`.
//! - `tag_names` are the server's tags; `tags` are the organization's tag objects with those
//!   names (a name without a tag object is in `tag_names` only).
//! - `ip_addresses` are the address records of the server's interfaces, as
//!   `GET /ip_addresses/:ip_address` shows them (the list shows `address` only, as Katapult's
//!   does); `annotations` is `[]`, since servers carry none.
//! - A change that Palisade cannot keep is refused (422) rather than dropped: a `description`
//!   or `gpu_type`, and annotations. An empty description and an empty annotation list are
//!   what every server has, so they are accepted.
//! - `properties.group` is a VM group lookup by `id`; `null` takes the machine out of its
//!   group. Naming a group also needs `virtual_machine_groups` or
//!   `virtual_machine_groups:read` (Katapult asks `virtual_machines` only): naming a group must
//!   not tell a caller who may not see groups which exist. A group of another organization, or
//!   none, is `virtual_machine_group_not_found`.
//! - A machine that does not exist, or is another organization's, is
//!   `virtual_machine_not_found` (the renderer names Palisade's servers as Katapult's virtual
//!   machines). A group id that is no `vmgrp_` id names nothing whoever asks, so it is
//!   `virtual_machine_group_not_found` at once, like the other routes' malformed ids.
//! - The list is paged (`page`, `per_page`, a `pagination` object) like Katapult's.

use axum::response::Response;
use palisade_core::error::ViolationCode;
use palisade_core::id::{ServerGroupId, ServerId};
use palisade_core::model::Server;
use palisade_core::service::{ServerDetail, ServerPatch, ServerRef};
use palisade_core::{Error, Violation};
use serde::{Serialize, Serializer};

use super::args::Args;
use super::encode::ok;
use super::endpoints::{organization, Ctx, ORGANIZATION_KEYS};
use super::ids;
use super::security_groups::{tag_view, TagView};
use super::views::{IpFull, OrganizationFull, Pagination, ServerGroupView};

type Result<T> = std::result::Result<T, Error>;

/// A field whose concept Palisade does not have: always `null` (see the module docs).
#[derive(Debug, Clone, Copy)]
struct Unknown;

impl Serialize for Unknown {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_none()
    }
}

/// A listed address: the address alone, as Katapult lists them.
#[derive(Debug, Serialize)]
struct ListedAddress {
    address: String,
}

/// A virtual machine in the organization's list, in the vendor's key order.
#[derive(Debug, Serialize)]
struct ListItem {
    id: String,
    name: String,
    hostname: String,
    fqdn: Unknown,
    created_at: i64,
    zone: Unknown,
    package: Unknown,
    gpu_type: Unknown,
    ip_addresses: Vec<ListedAddress>,
    hypervisor: Unknown,
}

impl From<&Server> for ListItem {
    fn from(s: &Server) -> Self {
        Self {
            id: ids::render(ids::SERVER, s.id.as_bytes()),
            name: s.name.clone(),
            hostname: s.name.clone(),
            fqdn: Unknown,
            created_at: s.created_at.unix_timestamp(),
            zone: Unknown,
            package: Unknown,
            gpu_type: Unknown,
            ip_addresses: s
                .interfaces
                .iter()
                .flat_map(|i| &i.addresses)
                .map(|a| ListedAddress { address: a.to_string() })
                .collect(),
            hypervisor: Unknown,
        }
    }
}

/// One virtual machine, in the vendor's key order.
#[derive(Debug, Serialize)]
struct Full {
    id: String,
    name: String,
    hostname: String,
    fqdn: Unknown,
    description: Unknown,
    created_at: i64,
    initial_root_password: Unknown,
    state: Unknown,
    zone: Unknown,
    organization: OrganizationFull,
    group: Option<ServerGroupView>,
    package: Unknown,
    attached_iso: Unknown,
    memory_in_gb: Unknown,
    cpu_cores: Unknown,
    use_dedicated_cpus: Unknown,
    gpu_type: Unknown,
    gpus: [(); 0],
    tags: Vec<TagView>,
    tag_names: Vec<String>,
    ip_addresses: Vec<IpFull>,
    hypervisor: Unknown,
}

/// The `{"virtual_machine", "annotations"}` answer of a get and of a change.
#[derive(Serialize)]
struct Body {
    virtual_machine: Full,
    annotations: [(); 0],
}

fn body(d: &ServerDetail) -> Response {
    let s = &d.server;
    let full = Full {
        id: ids::render(ids::SERVER, s.id.as_bytes()),
        name: s.name.clone(),
        hostname: s.name.clone(),
        fqdn: Unknown,
        description: Unknown,
        created_at: s.created_at.unix_timestamp(),
        initial_root_password: Unknown,
        state: Unknown,
        zone: Unknown,
        organization: (&d.organization).into(),
        group: d.group.as_ref().map(Into::into),
        package: Unknown,
        attached_iso: Unknown,
        memory_in_gb: Unknown,
        cpu_cores: Unknown,
        use_dedicated_cpus: Unknown,
        gpu_type: Unknown,
        gpus: [],
        tags: d.tags.iter().map(|t| tag_view(t, true)).collect(),
        tag_names: s.tags.clone(),
        ip_addresses: d.addresses.iter().map(IpFull::of).collect(),
        hypervisor: Unknown,
    };
    ok(&Body { virtual_machine: full, annotations: [] })
}

/// The machine a request names: `virtual_machine[id]`, or the path segment. An `fqdn` names
/// nothing (servers have none), and an id that is not a `vm_` id names nothing either.
fn located(args: &Args) -> Result<ServerRef> {
    let lookup = args.require_lookup("virtual_machine", &["id", "fqdn"])?;
    let id = match lookup.key {
        "id" => ids::parse(ids::SERVER, &lookup.value),
        _ => None,
    };
    id.map(|b| ServerRef::Id(ServerId::from_bytes(b))).ok_or(Error::not_found(ServerId::KIND))
}

fn not_kept(path: &str, what: &str) -> Error {
    Error::Invalid(vec![Violation::new(
        path,
        ViolationCode::InvalidValue,
        format!("{what} not kept by Palisade"),
    )])
}

pub async fn list(ctx: Ctx<'_>) -> Result<Response> {
    let org_lookup = ctx.args.require_lookup("organization", ORGANIZATION_KEYS)?;
    let page = ctx.args.page()?;
    let org = organization(org_lookup)?;
    let page = ctx.core.list_servers(ctx.actor, org, page).await?;
    #[derive(Serialize)]
    struct Body {
        pagination: Pagination,
        virtual_machines: Vec<ListItem>,
    }
    Ok(ok(&Body {
        pagination: (&page).into(),
        virtual_machines: page.items.iter().map(Into::into).collect(),
    }))
}

pub async fn get(ctx: Ctx<'_>) -> Result<Response> {
    let detail = ctx.core.server_detail(ctx.actor, located(ctx.args)?).await?;
    Ok(body(&detail))
}

pub async fn update(ctx: Ctx<'_>) -> Result<Response> {
    let args = ctx.args;
    let server = located(args)?;
    args.require_object("properties")?;
    let name = args.string(&["properties", "name"])?;
    let hostname = args.string(&["properties", "hostname"])?;
    let tags = args.strings(&["properties", "tag_names"])?;
    let group = if args.present(&["properties", "group"]) {
        let lookup = args.lookup_at(&["properties", "group"], &["id"])?;
        Some(match lookup {
            None => None,
            Some(lookup) => Some(
                ids::parse(ids::SERVER_GROUP, &lookup.value)
                    .map(ServerGroupId::from_bytes)
                    .ok_or(Error::not_found(ServerGroupId::KIND))?,
            ),
        })
    } else {
        None
    };
    if args.string(&["properties", "description"])?.is_some_and(|d| !d.is_empty()) {
        return Err(not_kept("description", "is"));
    }
    if args.get(&["properties", "gpu_type"]).is_some() {
        return Err(not_kept("gpu_type", "is"));
    }
    if args.key_values("annotations")?.is_some_and(|a| !a.is_empty()) {
        return Err(not_kept("annotations", "are"));
    }
    // One name, shown as both `name` and `hostname`.
    let name = match (name, hostname) {
        (Some(name), Some(hostname)) if name != hostname => {
            return Err(Error::Invalid(vec![Violation::new(
                "hostname",
                ViolationCode::InvalidValue,
                "must equal the name: Palisade keeps one name, shown as both",
            )]))
        }
        (name, hostname) => name.or(hostname),
    };
    let patch = ServerPatch { name, tags, server_group: group };
    let detail = ctx.core.update_server(ctx.actor, server, patch).await?;
    Ok(body(&detail))
}
