//! `/api/v1/organizations`: the operator's tenancy administration.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use palisade_core::id::OrganizationId;
use palisade_core::model::OrganizationPatch;
use palisade_core::service::CreateOrganization;

use super::error::{ErrorBody, NativeError};
use super::extract::{path_id, Actor, NativeJson, NativePath, OperatorActor, PageQuery, Pagination};
use super::wire::{
    CreateOrganizationRequest, OrganizationList, OrganizationResponse, UpdateOrganizationRequest,
};
use crate::AppState;

type Result<T> = std::result::Result<T, NativeError>;

/// Create an organization (operator only). New organizations are `active`.
#[utoipa::path(post, path = "/organizations", tag = "organizations",
    request_body = CreateOrganizationRequest,
    responses((status = 201, body = OrganizationResponse), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(s): State<AppState>,
    OperatorActor(actor): OperatorActor,
    NativeJson(body): NativeJson<CreateOrganizationRequest>,
) -> Result<(StatusCode, Json<OrganizationResponse>)> {
    let input = CreateOrganization { name: body.name, sub_domain: body.sub_domain };
    let org = s.core.create_organization(&actor, input).await?;
    Ok((StatusCode::CREATED, Json(OrganizationResponse { organization: org.into() })))
}

/// List organizations (operator only).
#[utoipa::path(get, path = "/organizations", tag = "organizations", params(PageQuery),
    responses((status = 200, body = OrganizationList), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(s): State<AppState>,
    OperatorActor(actor): OperatorActor,
    Pagination(page): Pagination,
) -> Result<Json<OrganizationList>> {
    let page = s.core.list_organizations(&actor, page).await?;
    let pagination = (&page).into();
    Ok(Json(OrganizationList { organizations: page.items.into_iter().map(Into::into).collect(), pagination }))
}

/// Get an organization: the operator, or the organization's own token with `organizations:read`.
#[utoipa::path(get, path = "/organizations/{id}", tag = "organizations",
    params(("id" = String, Path, description = "Organization id")),
    responses((status = 200, body = OrganizationResponse), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(s): State<AppState>,
    Actor(actor): Actor,
    NativePath(id): NativePath<String>,
) -> Result<Json<OrganizationResponse>> {
    let id: OrganizationId = path_id(&id, OrganizationId::KIND)?;
    let org = s.core.organization(&actor, id).await?;
    Ok(Json(OrganizationResponse { organization: org.into() }))
}

/// Change an organization's name, status or resource-creation restriction (operator only).
#[utoipa::path(patch, path = "/organizations/{id}", tag = "organizations",
    params(("id" = String, Path, description = "Organization id")),
    request_body = UpdateOrganizationRequest,
    responses((status = 200, body = OrganizationResponse), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update(
    State(s): State<AppState>,
    OperatorActor(actor): OperatorActor,
    NativePath(id): NativePath<String>,
    NativeJson(body): NativeJson<UpdateOrganizationRequest>,
) -> Result<Json<OrganizationResponse>> {
    let id: OrganizationId = path_id(&id, OrganizationId::KIND)?;
    let patch = OrganizationPatch {
        name: body.name,
        status: body.status.map(Into::into),
        resource_creation_restricted: body.resource_creation_restricted,
    };
    let org = s.core.update_organization(&actor, id, patch).await?;
    Ok(Json(OrganizationResponse { organization: org.into() }))
}

/// Delete an organization and everything it owns (operator only).
#[utoipa::path(delete, path = "/organizations/{id}", tag = "organizations",
    params(("id" = String, Path, description = "Organization id")),
    responses((status = 204), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    State(s): State<AppState>,
    OperatorActor(actor): OperatorActor,
    NativePath(id): NativePath<String>,
) -> Result<StatusCode> {
    let id: OrganizationId = path_id(&id, OrganizationId::KIND)?;
    s.core.delete_organization(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
