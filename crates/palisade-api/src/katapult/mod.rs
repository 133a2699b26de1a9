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
pub mod ids;
mod security_groups;
mod views;

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use palisade_core::error::{BadRequest, Forbidden};
use palisade_core::{Error, Principal, Scope};

use self::args::Args;
use self::error::RequestInfo;
use crate::native::extract::{bearer, source_ip};
use crate::rate::Allowance;
use crate::{AppState, RouteEntry};

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
    method: &'static str,
    pattern: &'static str,
    endpoint: Endpoint,
    /// Any one of these is enough; empty: any authenticated caller.
    scopes: &'static [Scope],
}

const IP_READ: &[Scope] = &[Scope::IP_ADDRESSES, Scope::IP_ADDRESSES_READ];
const IP_WRITE: &[Scope] = &[Scope::IP_ADDRESSES];
const ORGS_READ: &[Scope] = &[Scope::ORGANIZATIONS_READ];
const SG_READ: &[Scope] = &[Scope::SECURITY_GROUPS, Scope::SECURITY_GROUPS_READ];
const SG_WRITE: &[Scope] = &[Scope::SECURITY_GROUPS];
const VMG_READ: &[Scope] = &[Scope::SERVER_GROUPS, Scope::SERVER_GROUPS_READ];
const VMG_WRITE: &[Scope] = &[Scope::SERVER_GROUPS];
const TAGS_READ: &[Scope] = &[Scope::TAGS, Scope::TAGS_READ];
const TAGS_WRITE: &[Scope] = &[Scope::TAGS];
const LISTS_READ: &[Scope] = &[Scope::ADDRESS_LISTS, Scope::ADDRESS_LISTS_READ];
const LISTS_WRITE: &[Scope] = &[Scope::ADDRESS_LISTS];
/// Katapult's quirk: deleting a security group needs the singular scope.
const SG_DELETE: &[Scope] = &[Scope::SECURITY_GROUP_DELETE];

const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        pattern: "organizations",
        endpoint: Endpoint::ListOrganizations,
        scopes: ORGS_READ,
    },
    Route {
        method: "GET",
        pattern: "organizations/:organization",
        endpoint: Endpoint::GetOrganization,
        scopes: ORGS_READ,
    },
    Route { method: "GET", pattern: "networks/:network", endpoint: Endpoint::GetNetwork, scopes: &[] },
    Route {
        method: "GET",
        pattern: "data_centers/:data_center/default_network",
        endpoint: Endpoint::DefaultNetwork,
        scopes: &[],
    },
    Route {
        method: "GET",
        pattern: "organizations/:organization/available_networks",
        endpoint: Endpoint::AvailableNetworks,
        scopes: &[],
    },
    Route {
        method: "POST",
        pattern: "organizations/:organization/ip_addresses",
        endpoint: Endpoint::CreateIp,
        scopes: IP_WRITE,
    },
    Route {
        method: "GET",
        pattern: "organizations/:organization/ip_addresses",
        endpoint: Endpoint::ListIps,
        scopes: IP_READ,
    },
    Route { method: "GET", pattern: "ip_addresses/:ip_address", endpoint: Endpoint::GetIp, scopes: IP_READ },
    Route {
        method: "PATCH",
        pattern: "ip_addresses/:ip_address",
        endpoint: Endpoint::UpdateIp,
        scopes: IP_WRITE,
    },
    Route {
        method: "DELETE",
        pattern: "ip_addresses/:ip_address",
        endpoint: Endpoint::ReleaseIp,
        scopes: IP_WRITE,
    },
    Route {
        method: "POST",
        pattern: "ip_addresses/:ip_address/unallocate",
        endpoint: Endpoint::UnallocateIp,
        scopes: IP_WRITE,
    },
    Route {
        method: "GET",
        pattern: "organizations/:organization/security_groups",
        endpoint: Endpoint::ListGroups,
        scopes: SG_READ,
    },
    Route {
        method: "POST",
        pattern: "organizations/:organization/security_groups",
        endpoint: Endpoint::CreateGroup,
        scopes: SG_WRITE,
    },
    Route {
        method: "GET",
        pattern: "security_groups/:security_group",
        endpoint: Endpoint::GetGroup,
        scopes: SG_READ,
    },
    Route {
        method: "PATCH",
        pattern: "security_groups/:security_group",
        endpoint: Endpoint::UpdateGroup,
        scopes: SG_WRITE,
    },
    Route {
        method: "DELETE",
        pattern: "security_groups/:security_group",
        endpoint: Endpoint::DeleteGroup,
        scopes: SG_DELETE,
    },
    Route {
        method: "GET",
        pattern: "security_groups/:security_group/rules",
        endpoint: Endpoint::ListRules,
        scopes: SG_READ,
    },
    Route {
        method: "POST",
        pattern: "security_groups/:security_group/rules",
        endpoint: Endpoint::CreateRule,
        scopes: SG_WRITE,
    },
    Route {
        method: "GET",
        pattern: "security_groups/rules/:security_group_rule",
        endpoint: Endpoint::GetRule,
        scopes: SG_READ,
    },
    Route {
        method: "PATCH",
        pattern: "security_groups/rules/:security_group_rule",
        endpoint: Endpoint::UpdateRule,
        scopes: SG_WRITE,
    },
    Route {
        method: "DELETE",
        pattern: "security_groups/rules/:security_group_rule",
        endpoint: Endpoint::DeleteRule,
        scopes: SG_WRITE,
    },
    Route {
        method: "GET",
        pattern: "organizations/:organization/virtual_machine_groups",
        endpoint: Endpoint::ListServerGroups,
        scopes: VMG_READ,
    },
    Route {
        method: "POST",
        pattern: "organizations/:organization/virtual_machine_groups",
        endpoint: Endpoint::CreateServerGroup,
        scopes: VMG_WRITE,
    },
    Route {
        method: "GET",
        pattern: "virtual_machine_groups/:virtual_machine_group",
        endpoint: Endpoint::GetServerGroup,
        scopes: VMG_READ,
    },
    Route {
        method: "PATCH",
        pattern: "virtual_machine_groups/:virtual_machine_group",
        endpoint: Endpoint::UpdateServerGroup,
        scopes: VMG_WRITE,
    },
    Route {
        method: "DELETE",
        pattern: "virtual_machine_groups/:virtual_machine_group",
        endpoint: Endpoint::DeleteServerGroup,
        scopes: VMG_WRITE,
    },
    Route {
        method: "GET",
        pattern: "organizations/:organization/tags",
        endpoint: Endpoint::ListTags,
        scopes: TAGS_READ,
    },
    Route {
        method: "POST",
        pattern: "organizations/:organization/tags",
        endpoint: Endpoint::CreateTag,
        scopes: TAGS_WRITE,
    },
    Route { method: "GET", pattern: "tags/:tag", endpoint: Endpoint::GetTag, scopes: TAGS_READ },
    Route { method: "PATCH", pattern: "tags/:tag", endpoint: Endpoint::UpdateTag, scopes: TAGS_WRITE },
    Route { method: "DELETE", pattern: "tags/:tag", endpoint: Endpoint::DeleteTag, scopes: TAGS_WRITE },
    Route {
        method: "GET",
        pattern: "address_lists",
        endpoint: Endpoint::ListGlobalAddressLists,
        scopes: LISTS_READ,
    },
    Route {
        method: "GET",
        pattern: "organizations/:organization/address_lists",
        endpoint: Endpoint::ListAddressLists,
        scopes: LISTS_READ,
    },
    Route {
        method: "POST",
        pattern: "organizations/:organization/address_lists",
        endpoint: Endpoint::CreateAddressList,
        scopes: LISTS_WRITE,
    },
    Route {
        method: "GET",
        pattern: "address_lists/:address_list",
        endpoint: Endpoint::GetAddressList,
        scopes: LISTS_READ,
    },
    Route {
        method: "PATCH",
        pattern: "address_lists/:address_list",
        endpoint: Endpoint::UpdateAddressList,
        scopes: LISTS_WRITE,
    },
    Route {
        method: "DELETE",
        pattern: "address_lists/:address_list",
        endpoint: Endpoint::DeleteAddressList,
        scopes: LISTS_WRITE,
    },
    Route {
        method: "GET",
        pattern: "address_lists/:address_list/entries",
        endpoint: Endpoint::ListAddressListEntries,
        scopes: LISTS_READ,
    },
    Route {
        method: "POST",
        pattern: "address_lists/:address_list/entries",
        endpoint: Endpoint::CreateAddressListEntry,
        scopes: LISTS_WRITE,
    },
    Route {
        method: "POST",
        pattern: "address_lists/:address_list/entries/bulk",
        endpoint: Endpoint::BulkAddressListEntries,
        scopes: LISTS_WRITE,
    },
    Route {
        method: "GET",
        pattern: "address_list_entries/:address_list_entry",
        endpoint: Endpoint::GetAddressListEntry,
        scopes: LISTS_READ,
    },
    Route {
        method: "PATCH",
        pattern: "address_list_entries/:address_list_entry",
        endpoint: Endpoint::UpdateAddressListEntry,
        scopes: LISTS_WRITE,
    },
    Route {
        method: "DELETE",
        pattern: "address_list_entries/:address_list_entry",
        endpoint: Endpoint::DeleteAddressListEntry,
        scopes: LISTS_WRITE,
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

pub fn router() -> Router<AppState> {
    Router::new().route(PREFIX, any(dispatch)).route(&format!("{PREFIX}/{{*rest}}"), any(dispatch))
}

/// Every Katapult route, for the route-table authorization test.
pub fn route_table() -> Vec<RouteEntry> {
    ROUTES
        .iter()
        .map(|r| RouteEntry {
            face: "katapult",
            method: r.method.to_owned(),
            path: format!("{PREFIX}/{}", r.pattern),
        })
        .collect()
}

/// The scopes a Katapult route needs (any one), by method and pattern.
pub fn route_scopes(method: &str, pattern: &str) -> Option<Vec<&'static str>> {
    ROUTES
        .iter()
        .find(|r| r.method == method && format!("{PREFIX}/{}", r.pattern) == pattern)
        .map(|r| r.scopes.iter().map(|s| s.as_str()).collect())
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
    let (parts, body) = request.into_parts();
    let actor = state.core.authenticate(bearer(&parts), source_ip(&parts)).await?;
    let key = match &actor {
        Principal::Operator => "operator".to_owned(),
        Principal::Token(t) => t.token_id.to_string(),
        Principal::User(u) => u.user_id.to_string(),
    };
    *allowance = state.rate_limits.check(&key);
    if let Some(refusal) = allowance.refusal() {
        return Err(refusal);
    }
    if let Principal::Token(token) = &actor {
        if !route.scopes.is_empty() && !route.scopes.iter().any(|s| token.scopes.contains(s)) {
            return Err(Error::Forbidden(Forbidden::MissingScope(route.scopes.to_vec())));
        }
    }
    let limit = state.config.max_body_bytes;
    let bytes = axum::body::to_bytes(Body::new(body), limit)
        .await
        .map_err(|_| Error::BadRequest(BadRequest::TooLarge { limit }))?;
    let content_type = parts.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let args = Args::parse(parts.uri.query(), content_type, &bytes, captures)?;
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
        let (r, caps) = find_route("POST", &["ip_addresses", ":ip_address", "unallocate"]).unwrap();
        assert_eq!((r.endpoint, caps["ip_address"].as_str()), (Endpoint::UnallocateIp, ":ip_address"));
    }
}
