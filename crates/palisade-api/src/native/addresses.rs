//! `/api/v1/organizations/{id}/ip_addresses`: IP address management.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use palisade_core::error::BadRequest;
use palisade_core::id::{InterfaceId, IpAddressId, OrganizationId, ServerId};
use palisade_core::model::{IpAddressPatch, IpFilter};
use palisade_core::service::{CreateIpAddress, IpRef, NetworkArg};
use palisade_core::{Action, Error, Operation, Resource};
use serde::Deserialize;

use super::error::{ErrorBody, NativeError};
use super::extract::{path_id, Actor, NativeJson, NativePath, PageQuery, Pagination};
use super::wire::{
    AllocateIpAddressRequest, CreateIpAddressRequest, IpAddressList, IpAddressResponse,
    UpdateIpAddressRequest,
};
use crate::AppState;

type Result<T> = std::result::Result<T, NativeError>;

/// `?allocated=true|false`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AllocatedQuery {
    /// `true`: only addresses allocated to a server; `false`: only unallocated ones.
    #[param(value_type = Option<bool>)]
    pub allocated: Option<String>,
}

/// The `allocated` filter of the query string.
#[derive(Debug)]
pub struct Allocated(pub IpFilter);

impl FromRequestParts<AppState> for Allocated {
    type Rejection = NativeError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> std::result::Result<Self, Self::Rejection> {
        let malformed = |message: String| {
            NativeError(Error::BadRequest(BadRequest::MalformedParameter {
                name: "allocated".into(),
                message,
            }))
        };
        let axum::extract::Query(q) =
            axum::extract::Query::<AllocatedQuery>::from_request_parts(parts, state)
                .await
                .map_err(|e| malformed(crate::frame::json_words::json_words(&e.body_text())))?;
        let allocated = match q.allocated.as_deref() {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(_) => return Err(malformed("must be true or false".into())),
        };
        Ok(Allocated(IpFilter { allocated }))
    }
}

/// Handlers with a body authorize the operation before they look at the body.
fn ip_op(action: Action) -> Operation {
    Operation::new(Resource::IpAddress, action)
}

fn ids(org: &str, ip: &str) -> Result<(OrganizationId, IpAddressId)> {
    Ok((path_id(org, OrganizationId::KIND)?, path_id(ip, IpAddressId::KIND)?))
}

/// Allocate an address of a network to the organization (`ip_addresses`).
#[utoipa::path(post, path = "/organizations/{id}/ip_addresses", tag = "ip addresses",
    params(("id" = String, Path, description = "Organization id")),
    request_body = CreateIpAddressRequest,
    responses((status = 201, body = IpAddressResponse), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(s): State<AppState>,
    Actor(actor): Actor,
    NativePath(id): NativePath<String>,
    body: Result<NativeJson<CreateIpAddressRequest>>,
) -> Result<(StatusCode, Json<IpAddressResponse>)> {
    let org: OrganizationId = path_id(&id, OrganizationId::KIND)?;
    actor.authorize(org, ip_op(Action::Create))?;
    let NativeJson(body) = body?;
    let input = CreateIpAddress {
        network: NetworkArg::Field(palisade_core::id::NetworkId::from_uuid(body.network_id)),
        version: body.version.into(),
        vip: body.vip,
        label: body.label,
    };
    let ip = s.core.create_ip_address(&actor, org, input).await?;
    Ok((StatusCode::CREATED, Json(IpAddressResponse { ip_address: ip.ip.into() })))
}

/// List the organization's addresses (`ip_addresses` or `ip_addresses:read`).
#[utoipa::path(get, path = "/organizations/{id}/ip_addresses", tag = "ip addresses",
    params(("id" = String, Path, description = "Organization id"), AllocatedQuery, PageQuery),
    responses((status = 200, body = IpAddressList), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(s): State<AppState>,
    Actor(actor): Actor,
    NativePath(id): NativePath<String>,
    Allocated(filter): Allocated,
    Pagination(page): Pagination,
) -> Result<Json<IpAddressList>> {
    let org: OrganizationId = path_id(&id, OrganizationId::KIND)?;
    let page = s.core.list_ip_addresses(&actor, org, filter, page).await?;
    let pagination = (&page).into();
    Ok(Json(IpAddressList { ip_addresses: page.items.into_iter().map(Into::into).collect(), pagination }))
}

/// Get an address (`ip_addresses` or `ip_addresses:read`).
#[utoipa::path(get, path = "/organizations/{id}/ip_addresses/{ip_id}", tag = "ip addresses",
    params(("id" = String, Path, description = "Organization id"), ("ip_id" = String, Path, description = "Address id")),
    responses((status = 200, body = IpAddressResponse), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(s): State<AppState>,
    Actor(actor): Actor,
    NativePath((id, ip_id)): NativePath<(String, String)>,
) -> Result<Json<IpAddressResponse>> {
    let (org, ip) = ids(&id, &ip_id)?;
    let ip = s.core.ip_address(&actor, &IpRef::Owned(org, ip)).await?;
    Ok(Json(IpAddressResponse { ip_address: ip.ip.into() }))
}

/// Change `vip`, `label` (`null` clears it) or `reverse_dns` (`ip_addresses`).
#[utoipa::path(patch, path = "/organizations/{id}/ip_addresses/{ip_id}", tag = "ip addresses",
    params(("id" = String, Path, description = "Organization id"), ("ip_id" = String, Path, description = "Address id")),
    request_body = UpdateIpAddressRequest,
    responses((status = 200, body = IpAddressResponse), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    State(s): State<AppState>,
    Actor(actor): Actor,
    NativePath((id, ip_id)): NativePath<(String, String)>,
    body: Result<NativeJson<UpdateIpAddressRequest>>,
) -> Result<Json<IpAddressResponse>> {
    let (org, ip) = ids(&id, &ip_id)?;
    actor.authorize(org, ip_op(Action::Update))?;
    let NativeJson(body) = body?;
    let patch = IpAddressPatch { vip: body.vip, label: body.label, reverse_dns: body.reverse_dns };
    let ip = s.core.update_ip_address(&actor, &IpRef::Owned(org, ip), patch).await?;
    Ok(Json(IpAddressResponse { ip_address: ip.ip.into() }))
}

/// Release an address back to its network (`ip_addresses`). Refused while it is allocated.
#[utoipa::path(delete, path = "/organizations/{id}/ip_addresses/{ip_id}", tag = "ip addresses",
    params(("id" = String, Path, description = "Organization id"), ("ip_id" = String, Path, description = "Address id")),
    responses((status = 204), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn release(
    State(s): State<AppState>,
    Actor(actor): Actor,
    NativePath((id, ip_id)): NativePath<(String, String)>,
) -> Result<StatusCode> {
    let (org, ip) = ids(&id, &ip_id)?;
    s.core.release_ip_address(&actor, &IpRef::Owned(org, ip)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Allocate the address to an interface of one of the organization's servers (`ip_addresses`).
#[utoipa::path(post, path = "/organizations/{id}/ip_addresses/{ip_id}/allocate", tag = "ip addresses",
    params(("id" = String, Path, description = "Organization id"), ("ip_id" = String, Path, description = "Address id")),
    request_body = AllocateIpAddressRequest,
    responses((status = 200, body = IpAddressResponse), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn allocate(
    State(s): State<AppState>,
    Actor(actor): Actor,
    NativePath((id, ip_id)): NativePath<(String, String)>,
    body: Result<NativeJson<AllocateIpAddressRequest>>,
) -> Result<Json<IpAddressResponse>> {
    let (org, ip) = ids(&id, &ip_id)?;
    actor.authorize(org, ip_op(Action::Update))?;
    let NativeJson(body) = body?;
    let server = ServerId::from_uuid(body.server_id);
    let interface = InterfaceId::from_uuid(body.interface_id);
    let ip = s.core.allocate_ip_address(&actor, &IpRef::Owned(org, ip), server, interface).await?;
    Ok(Json(IpAddressResponse { ip_address: ip.ip.into() }))
}

/// Detach the address from its server; the organization keeps it (`ip_addresses`).
#[utoipa::path(post, path = "/organizations/{id}/ip_addresses/{ip_id}/unallocate", tag = "ip addresses",
    params(("id" = String, Path, description = "Organization id"), ("ip_id" = String, Path, description = "Address id")),
    responses((status = 200, body = IpAddressResponse), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn unallocate(
    State(s): State<AppState>,
    Actor(actor): Actor,
    NativePath((id, ip_id)): NativePath<(String, String)>,
) -> Result<Json<IpAddressResponse>> {
    let (org, ip) = ids(&id, &ip_id)?;
    let ip = s.core.unallocate_ip_address(&actor, &IpRef::Owned(org, ip)).await?;
    Ok(Json(IpAddressResponse { ip_address: ip.ip.into() }))
}
