//! The Katapult core/v1 face (`/core/v1/...`), wire-compatible with Katapult's Apia API so that
//! go-katapult, the Terraform provider, katapult-ruby and curl scripts work unchanged.
//!
//! Apia is not routed like a REST framework, so this face has its own small dispatcher: a route
//! table matched segment by segment with literal segments beating wildcards and no backtracking;
//! the wrong method on a known path is 404 `route_not_found`; then authentication, the rate
//! limit and the route's scopes (any one suffices) are checked *before* arguments are parsed,
//! in Apia's order. Arguments come from the query string (Rack brackets) and the JSON body
//! (merged, body wins), with the path segment as the fallback lookup (`_`, `organization`,
//! `:organization` or a real id). Responses are compact JSON in the vendor's key order with a
//! weak ETag; errors use the nested envelope. Choices where the vendor is unknown:
//! - exhaustion of a network is 503 `no_available_addresses` (documented);
//! - deleting an address that is allocated is 409 `deletion_restricted` (unrecorded);
//! - the operator token may act on any organization (Katapult has no such credential).

mod address_lists;
mod args;
mod encode;
mod endpoints;
pub mod error;
pub use crate::frame::vendor_ids::katapult as ids;
mod ports;
mod security_groups;
mod views;
mod virtual_machines;

use std::collections::HashMap;

use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::Method;
use axum::response::Response;
use palisade_core::policy::GroupKind;
use palisade_core::{Action, Error, Operation, Principal, Resource};

use self::args::Args;
use self::error::RequestInfo;
use crate::frame::credentials::token_caller;
use crate::frame::routes::Routes;
use crate::frame::Face;
use crate::rate::Allowance;
use crate::AppState;

pub const PREFIX: &str = "/core/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    ListOrganizations,
    GetOrganization,
    GetNetwork,
    DefaultNetwork,
    AvailableNetworks,
    CreateIp,
    ListIps,
    GetIp,
    UpdateIp,
    ReleaseIp,
    UnallocateIp,
    ListServers,
    GetServer,
    UpdateServer,
    ListGroups,
    CreateGroup,
    GetGroup,
    UpdateGroup,
    DeleteGroup,
    ListRules,
    CreateRule,
    GetRule,
    UpdateRule,
    DeleteRule,
    ListServerGroups,
    CreateServerGroup,
    GetServerGroup,
    UpdateServerGroup,
    DeleteServerGroup,
    ListTags,
    CreateTag,
    GetTag,
    UpdateTag,
    DeleteTag,
    ListGlobalAddressLists,
    ListAddressLists,
    CreateAddressList,
    GetAddressList,
    UpdateAddressList,
    DeleteAddressList,
    ListAddressListEntries,
    CreateAddressListEntry,
    BulkAddressListEntries,
    GetAddressListEntry,
    UpdateAddressListEntry,
    DeleteAddressListEntry,
}

struct Route {
    method: Method,
    pattern: &'static str,
    endpoint: Endpoint,
    /// The core operation: its scopes (any one is enough) are checked before the arguments are
    /// parsed, and the organization a route names is authorized for it before anything else.
    op: Operation,
}

const SG: Resource = Resource::Group(GroupKind::SecurityGroup);

const fn op(resource: Resource, action: Action) -> Operation {
    Operation::new(resource, action)
}

const ROUTES: &[Route] = &[
    Route {
        method: Method::GET,
        pattern: "organizations",
        endpoint: Endpoint::ListOrganizations,
        op: op(Resource::Organization, Action::List),
    },
    Route {
        method: Method::GET,
        pattern: "organizations/:organization",
        endpoint: Endpoint::GetOrganization,
        op: op(Resource::Organization, Action::Read),
    },
    Route {
        method: Method::GET,
        pattern: "networks/:network",
        endpoint: Endpoint::GetNetwork,
        op: op(Resource::Network, Action::Read),
    },
    Route {
        method: Method::GET,
        pattern: "data_centers/:data_center/default_network",
        endpoint: Endpoint::DefaultNetwork,
        op: op(Resource::Network, Action::Read),
    },
    Route {
        method: Method::GET,
        pattern: "organizations/:organization/available_networks",
        endpoint: Endpoint::AvailableNetworks,
        op: op(Resource::Network, Action::Read),
    },
    Route {
        method: Method::POST,
        pattern: "organizations/:organization/ip_addresses",
        endpoint: Endpoint::CreateIp,
        op: op(Resource::IpAddress, Action::Create),
    },
    Route {
        method: Method::GET,
        pattern: "organizations/:organization/ip_addresses",
        endpoint: Endpoint::ListIps,
        op: op(Resource::IpAddress, Action::List),
    },
    Route {
        method: Method::GET,
        pattern: "ip_addresses/:ip_address",
        endpoint: Endpoint::GetIp,
        op: op(Resource::IpAddress, Action::Read),
    },
    Route {
        method: Method::PATCH,
        pattern: "ip_addresses/:ip_address",
        endpoint: Endpoint::UpdateIp,
        op: op(Resource::IpAddress, Action::Update),
    },
    Route {
        method: Method::DELETE,
        pattern: "ip_addresses/:ip_address",
        endpoint: Endpoint::ReleaseIp,
        op: op(Resource::IpAddress, Action::Delete),
    },
    Route {
        method: Method::POST,
        pattern: "ip_addresses/:ip_address/unallocate",
        endpoint: Endpoint::UnallocateIp,
        op: op(Resource::IpAddress, Action::Update),
    },
    Route {
        method: Method::GET,
        pattern: "organizations/:organization/virtual_machines",
        endpoint: Endpoint::ListServers,
        op: op(Resource::Server, Action::List),
    },
    Route {
        method: Method::GET,
        pattern: "virtual_machines/:virtual_machine",
        endpoint: Endpoint::GetServer,
        op: op(Resource::Server, Action::Read),
    },
    Route {
        method: Method::PATCH,
        pattern: "virtual_machines/:virtual_machine",
        endpoint: Endpoint::UpdateServer,
        op: op(Resource::Server, Action::Update),
    },
    Route {
        method: Method::GET,
        pattern: "organizations/:organization/security_groups",
        endpoint: Endpoint::ListGroups,
        op: op(SG, Action::List),
    },
    Route {
        method: Method::POST,
        pattern: "organizations/:organization/security_groups",
        endpoint: Endpoint::CreateGroup,
        op: op(SG, Action::Create),
    },
    Route {
        method: Method::GET,
        pattern: "security_groups/:security_group",
        endpoint: Endpoint::GetGroup,
        op: op(SG, Action::Read),
    },
    Route {
        method: Method::PATCH,
        pattern: "security_groups/:security_group",
        endpoint: Endpoint::UpdateGroup,
        op: op(SG, Action::Update),
    },
    Route {
        method: Method::DELETE,
        pattern: "security_groups/:security_group",
        endpoint: Endpoint::DeleteGroup,
        op: op(SG, Action::Delete),
    },
    Route {
        method: Method::GET,
        pattern: "security_groups/:security_group/rules",
        endpoint: Endpoint::ListRules,
        op: op(SG, Action::Read),
    },
    Route {
        method: Method::POST,
        pattern: "security_groups/:security_group/rules",
        endpoint: Endpoint::CreateRule,
        op: op(SG, Action::Update),
    },
    Route {
        method: Method::GET,
        pattern: "security_groups/rules/:security_group_rule",
        endpoint: Endpoint::GetRule,
        op: op(SG, Action::Read),
    },
    Route {
        method: Method::PATCH,
        pattern: "security_groups/rules/:security_group_rule",
        endpoint: Endpoint::UpdateRule,
        op: op(SG, Action::Update),
    },
    Route {
        method: Method::DELETE,
        pattern: "security_groups/rules/:security_group_rule",
        endpoint: Endpoint::DeleteRule,
        op: op(SG, Action::Update),
    },
    Route {
        method: Method::GET,
        pattern: "organizations/:organization/virtual_machine_groups",
        endpoint: Endpoint::ListServerGroups,
        op: op(Resource::ServerGroup, Action::List),
    },
    Route {
        method: Method::POST,
        pattern: "organizations/:organization/virtual_machine_groups",
        endpoint: Endpoint::CreateServerGroup,
        op: op(Resource::ServerGroup, Action::Create),
    },
    Route {
        method: Method::GET,
        pattern: "virtual_machine_groups/:virtual_machine_group",
        endpoint: Endpoint::GetServerGroup,
        op: op(Resource::ServerGroup, Action::Read),
    },
    Route {
        method: Method::PATCH,
        pattern: "virtual_machine_groups/:virtual_machine_group",
        endpoint: Endpoint::UpdateServerGroup,
        op: op(Resource::ServerGroup, Action::Update),
    },
    Route {
        method: Method::DELETE,
        pattern: "virtual_machine_groups/:virtual_machine_group",
        endpoint: Endpoint::DeleteServerGroup,
        op: op(Resource::ServerGroup, Action::Delete),
    },
    Route {
        method: Method::GET,
        pattern: "organizations/:organization/tags",
        endpoint: Endpoint::ListTags,
        op: op(Resource::Tag, Action::List),
    },
    Route {
        method: Method::POST,
        pattern: "organizations/:organization/tags",
        endpoint: Endpoint::CreateTag,
        op: op(Resource::Tag, Action::Create),
    },
    Route {
        method: Method::GET,
        pattern: "tags/:tag",
        endpoint: Endpoint::GetTag,
        op: op(Resource::Tag, Action::Read),
    },
    Route {
        method: Method::PATCH,
        pattern: "tags/:tag",
        endpoint: Endpoint::UpdateTag,
        op: op(Resource::Tag, Action::Update),
    },
    Route {
        method: Method::DELETE,
        pattern: "tags/:tag",
        endpoint: Endpoint::DeleteTag,
        op: op(Resource::Tag, Action::Delete),
    },
    Route {
        method: Method::GET,
        pattern: "address_lists",
        endpoint: Endpoint::ListGlobalAddressLists,
        op: op(Resource::AddressList, Action::List),
    },
    Route {
        method: Method::GET,
        pattern: "organizations/:organization/address_lists",
        endpoint: Endpoint::ListAddressLists,
        op: op(Resource::AddressList, Action::List),
    },
    Route {
        method: Method::POST,
        pattern: "organizations/:organization/address_lists",
        endpoint: Endpoint::CreateAddressList,
        op: op(Resource::AddressList, Action::Create),
    },
    Route {
        method: Method::GET,
        pattern: "address_lists/:address_list",
        endpoint: Endpoint::GetAddressList,
        op: op(Resource::AddressList, Action::Read),
    },
    Route {
        method: Method::PATCH,
        pattern: "address_lists/:address_list",
        endpoint: Endpoint::UpdateAddressList,
        op: op(Resource::AddressList, Action::Update),
    },
    Route {
        method: Method::DELETE,
        pattern: "address_lists/:address_list",
        endpoint: Endpoint::DeleteAddressList,
        op: op(Resource::AddressList, Action::Delete),
    },
    Route {
        method: Method::GET,
        pattern: "address_lists/:address_list/entries",
        endpoint: Endpoint::ListAddressListEntries,
        op: op(Resource::AddressList, Action::Read),
    },
    Route {
        method: Method::POST,
        pattern: "address_lists/:address_list/entries",
        endpoint: Endpoint::CreateAddressListEntry,
        op: op(Resource::AddressList, Action::Update),
    },
    Route {
        method: Method::POST,
        pattern: "address_lists/:address_list/entries/bulk",
        endpoint: Endpoint::BulkAddressListEntries,
        op: op(Resource::AddressList, Action::Update),
    },
    Route {
        method: Method::GET,
        pattern: "address_list_entries/:address_list_entry",
        endpoint: Endpoint::GetAddressListEntry,
        op: op(Resource::AddressList, Action::Read),
    },
    Route {
        method: Method::PATCH,
        pattern: "address_list_entries/:address_list_entry",
        endpoint: Endpoint::UpdateAddressListEntry,
        op: op(Resource::AddressList, Action::Update),
    },
    Route {
        method: Method::DELETE,
        pattern: "address_list_entries/:address_list_entry",
        endpoint: Endpoint::DeleteAddressListEntry,
        op: op(Resource::AddressList, Action::Update),
    },
];

/// Apia's trie walk: at each depth keep the routes whose segment equals the request's literally
/// if there are any, else those with a wildcard there; no backtracking. Then the method.
fn find_route(method: &str, segments: &[&str]) -> Option<(&'static Route, HashMap<&'static str, String>)> {
    let mut candidates: Vec<(&Route, Vec<&str>)> =
        ROUTES.iter().map(|r| (r, r.pattern.split('/').collect::<Vec<_>>())).collect();
    for (depth, segment) in segments.iter().enumerate() {
        let literal: Vec<_> = candidates
            .iter()
            .filter(|(_, p)| p.get(depth).is_some_and(|s| !s.starts_with(':') && s == segment))
            .cloned()
            .collect();
        candidates = if literal.is_empty() {
            candidates.into_iter().filter(|(_, p)| p.get(depth).is_some_and(|s| s.starts_with(':'))).collect()
        } else {
            literal
        };
    }
    let (route, pattern) =
        candidates.into_iter().find(|(r, p)| p.len() == segments.len() && r.method == method)?;
    let captures = pattern
        .iter()
        .zip(segments)
        .filter_map(|(p, s)| p.strip_prefix(':').map(|name| (name, (*s).to_owned())))
        .collect();
    Some((route, captures))
}

/// The dispatcher under [`PREFIX`], with the Apia table it routes by as the route table.
pub fn routes() -> Routes {
    let table = ROUTES.iter().map(|r| (r.method.clone(), format!("{PREFIX}/{}", r.pattern), r.op));
    Routes::new(Face::Katapult).dispatcher(PREFIX, dispatch, table)
}

/// An error raised before the dispatcher ran (a request limit, readiness), in Apia's envelope.
/// Nothing was counted against a rate limit, so no `X-Ratelimit-*` headers are sent.
pub fn render_error(error: &Error, method: &str, path: &str) -> Response {
    let api_path = path.strip_prefix(PREFIX).unwrap_or(path).trim_matches('/').to_owned();
    let info = RequestInfo { method: method.to_owned(), api_path };
    let mut response = encode::error(&error::render(error, &info));
    encode::frame_headers(response.headers_mut());
    response
}

async fn dispatch(State(state): State<AppState>, request: Request) -> Response {
    let path = request.uri().path();
    let api_path = path.strip_prefix(PREFIX).unwrap_or(path).trim_matches('/').to_owned();
    let info = RequestInfo { method: request.method().as_str().to_owned(), api_path };
    let permitted = state.rate_limits.permitted();
    let mut allowance = Allowance { permitted, remaining: permitted, allowed: true, retry_after: 0 };
    let mut response = match handle(&state, request, &info, &mut allowance).await {
        Ok(response) => response,
        Err(e) => encode::error(&error::render(&e, &info)),
    };
    encode::common_headers(response.headers_mut(), allowance.permitted, allowance.remaining);
    response
}

async fn handle(
    state: &AppState,
    request: Request,
    info: &RequestInfo,
    allowance: &mut Allowance,
) -> Result<Response, Error> {
    let segments: Vec<&str> = info.api_path.split('/').filter(|s| !s.is_empty()).collect();
    let (route, captures) = find_route(&info.method, &segments).ok_or(Error::not_found("route"))?;
    crate::frame::request_id::note_route(format!("{PREFIX}/{}", route.pattern));
    let (parts, body) = request.into_parts();
    let actor = token_caller(&state.core, &parts).await?;
    let key = match &actor {
        Principal::Operator => "operator".to_owned(),
        Principal::Token(t) => t.token_id.to_string(),
        Principal::User(u) => u.user_id.to_string(),
    };
    *allowance = state.rate_limits.check(&key);
    if let Some(refusal) = allowance.refusal() {
        return Err(refusal);
    }
    actor.require_scopes(route.op)?;
    // Read within the router's body limit (`body_limit`), only now: after authentication,
    // the rate limit and scopes.
    let query = parts.uri.query().map(str::to_owned);
    let content_type = parts.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let bytes =
        crate::body_limit::read(Request::from_parts(parts, body), state.config.max_body_bytes).await?;
    let args = Args::parse(query.as_deref(), content_type.as_deref(), &bytes, captures)?;
    let ctx = endpoints::Ctx { core: &state.core, actor: &actor, args: &args };
    match route.endpoint {
        Endpoint::ListOrganizations => endpoints::list_organizations(ctx).await,
        Endpoint::GetOrganization => endpoints::get_organization(ctx).await,
        Endpoint::GetNetwork => endpoints::get_network(ctx).await,
        Endpoint::DefaultNetwork => endpoints::default_network(ctx).await,
        Endpoint::AvailableNetworks => endpoints::available_networks(ctx).await,
        Endpoint::CreateIp => endpoints::create_ip(ctx).await,
        Endpoint::ListIps => endpoints::list_ips(ctx).await,
        Endpoint::GetIp => endpoints::get_ip(ctx).await,
        Endpoint::UpdateIp => endpoints::update_ip(ctx).await,
        Endpoint::ReleaseIp => endpoints::release_ip(ctx).await,
        Endpoint::UnallocateIp => endpoints::unallocate_ip(ctx).await,
        Endpoint::ListServers => virtual_machines::list(ctx).await,
        Endpoint::GetServer => virtual_machines::get(ctx).await,
        Endpoint::UpdateServer => virtual_machines::update(ctx).await,
        Endpoint::ListGroups => security_groups::list_groups(ctx).await,
        Endpoint::CreateGroup => security_groups::create_group(ctx).await,
        Endpoint::GetGroup => security_groups::get_group(ctx).await,
        Endpoint::UpdateGroup => security_groups::update_group(ctx).await,
        Endpoint::DeleteGroup => security_groups::delete_group(ctx).await,
        Endpoint::ListRules => security_groups::list_rules(ctx).await,
        Endpoint::CreateRule => security_groups::create_rule(ctx).await,
        Endpoint::GetRule => security_groups::get_rule(ctx).await,
        Endpoint::UpdateRule => security_groups::update_rule(ctx).await,
        Endpoint::DeleteRule => security_groups::delete_rule(ctx).await,
        Endpoint::ListServerGroups => security_groups::list_server_groups(ctx).await,
        Endpoint::CreateServerGroup => security_groups::create_server_group(ctx).await,
        Endpoint::GetServerGroup => security_groups::get_server_group(ctx).await,
        Endpoint::UpdateServerGroup => security_groups::update_server_group(ctx).await,
        Endpoint::DeleteServerGroup => security_groups::delete_server_group(ctx).await,
        Endpoint::ListTags => security_groups::list_tags(ctx).await,
        Endpoint::CreateTag => security_groups::create_tag(ctx).await,
        Endpoint::GetTag => security_groups::get_tag(ctx).await,
        Endpoint::UpdateTag => security_groups::update_tag(ctx).await,
        Endpoint::DeleteTag => security_groups::delete_tag(ctx).await,
        Endpoint::ListGlobalAddressLists => address_lists::list_global(ctx).await,
        Endpoint::ListAddressLists => address_lists::list(ctx).await,
        Endpoint::CreateAddressList => address_lists::create(ctx).await,
        Endpoint::GetAddressList => address_lists::get(ctx).await,
        Endpoint::UpdateAddressList => address_lists::update(ctx).await,
        Endpoint::DeleteAddressList => address_lists::delete(ctx).await,
        Endpoint::ListAddressListEntries => address_lists::list_entries(ctx).await,
        Endpoint::CreateAddressListEntry => address_lists::create_entry(ctx).await,
        Endpoint::BulkAddressListEntries => address_lists::bulk(ctx).await,
        Endpoint::GetAddressListEntry => address_lists::get_entry(ctx).await,
        Endpoint::UpdateAddressListEntry => address_lists::update_entry(ctx).await,
        Endpoint::DeleteAddressListEntry => address_lists::delete_entry(ctx).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_segments_win_and_methods_matter() {
        let (r, caps) = find_route("GET", &["organizations", "_", "ip_addresses"]).unwrap();
        assert_eq!(r.endpoint, Endpoint::ListIps);
        assert_eq!(caps["organization"], "_");
        assert_eq!(
            find_route("POST", &["organizations", "_", "ip_addresses"]).unwrap().0.endpoint,
            Endpoint::CreateIp
        );
        assert!(find_route("PUT", &["organizations", "_", "ip_addresses"]).is_none());
        assert_eq!(find_route("GET", &["organizations"]).unwrap().0.endpoint, Endpoint::ListOrganizations);
        assert!(find_route("GET", &["nothing"]).is_none());
        // Literal `rules` beats the `:security_group` wildcard, without backtracking.
        assert_eq!(
            find_route("GET", &["security_groups", "rules", "sgr_x"]).unwrap().0.endpoint,
            Endpoint::GetRule
        );
        assert_eq!(
            find_route("GET", &["security_groups", "sg_x", "rules"]).unwrap().0.endpoint,
            Endpoint::ListRules
        );
        assert!(
            find_route("GET", &["security_groups", "rules"]).is_none(),
            "no backtracking to the wildcard"
        );
        // `virtual_machines` and `virtual_machine_groups` are distinct literals.
        assert_eq!(
            find_route("PATCH", &["virtual_machines", "vm_x"]).unwrap().0.endpoint,
            Endpoint::UpdateServer
        );
        assert_eq!(
            find_route("GET", &["virtual_machine_groups", "vmgrp_x"]).unwrap().0.endpoint,
            Endpoint::GetServerGroup
        );
        let (r, caps) = find_route("POST", &["ip_addresses", ":ip_address", "unallocate"]).unwrap();
        assert_eq!((r.endpoint, caps["ip_address"].as_str()), (Endpoint::UnallocateIp, ":ip_address"));
    }
}
