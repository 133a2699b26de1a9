//! `/api/v1/organizations/{id}/api_tokens` and `/users`: an organization's credentials.

use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use palisade_core::id::{ApiTokenId, OrganizationId, UserId};
use palisade_core::service::{CreateApiToken, CreateUser};

use super::error::{ErrorBody, NativeError};
use super::extract::{path_id, Actor, NativeJson, NativePath, OperatorActor, PageQuery, Pagination};
use super::wire::{
    ApiTokenList, ChangePasswordRequest, CreateApiTokenRequest, CreateUserRequest, CreatedApiTokenResponse,
    ScopeList, ScopeView, UserList, UserResponse,
};
use crate::AppState;

type Result<T> = std::result::Result<T, NativeError>;

/// The scope catalogue: every scope name a token may hold, with what it grants (any token; an
/// agent token is refused, as everywhere but its server's policy).
#[utoipa::path(get, path = "/scopes", tag = "credentials",
    responses((status = 200, body = ScopeList), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_scopes(State(s): State<AppState>, Actor(actor): Actor) -> Result<Json<ScopeList>> {
    let scopes = s.core.scope_catalogue(&actor)?;
    let scopes =
        scopes.into_iter().map(|s| ScopeView { name: s.as_str(), description: s.description() }).collect();
    Ok(Json(ScopeList { scopes }))
}

/// Create an API token (scope names: `GET /api/v1/scopes`). The secret is in this response only;
/// only its hash is kept.
#[utoipa::path(post, path = "/organizations/{id}/api_tokens", tag = "credentials",
    params(("id" = String, Path, description = "Organization id")),
    request_body = CreateApiTokenRequest,
    responses((status = 201, body = CreatedApiTokenResponse), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_token(
    State(s): State<AppState>,
    OperatorActor(actor): OperatorActor,
    NativePath(id): NativePath<String>,
    NativeJson(body): NativeJson<CreateApiTokenRequest>,
) -> Result<Response> {
    let org: OrganizationId = path_id(&id, OrganizationId::KIND)?;
    let input = CreateApiToken {
        name: body.name,
        scopes: body.scopes,
        allowed_networks: body.allowed_networks,
        expires_at: body.expires_at,
    };
    let created = s.core.create_api_token(&actor, org, input).await?;
    let response =
        CreatedApiTokenResponse { api_token: created.token.into(), secret: created.secret.into_string() };
    // `Cache-Control: no-store`: no cache or proxy keeps the secret either.
    Ok(no_store((StatusCode::CREATED, Json(response))))
}

/// A response carrying a secret: never stored by a cache.
pub(super) fn no_store(response: impl IntoResponse) -> Response {
    let mut response = response.into_response();
    response.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// List an organization's API tokens (never their secrets).
#[utoipa::path(get, path = "/organizations/{id}/api_tokens", tag = "credentials",
    params(("id" = String, Path, description = "Organization id"), PageQuery),
    responses((status = 200, body = ApiTokenList), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_tokens(
    State(s): State<AppState>,
    OperatorActor(actor): OperatorActor,
    NativePath(id): NativePath<String>,
    Pagination(page): Pagination,
) -> Result<Json<ApiTokenList>> {
    let org: OrganizationId = path_id(&id, OrganizationId::KIND)?;
    let page = s.core.list_api_tokens(&actor, org, page).await?;
    let pagination = (&page).into();
    Ok(Json(ApiTokenList { api_tokens: page.items.into_iter().map(Into::into).collect(), pagination }))
}

/// Revoke an API token; it is refused from the next request on.
#[utoipa::path(delete, path = "/organizations/{id}/api_tokens/{token_id}", tag = "credentials",
    params(("id" = String, Path, description = "Organization id"), ("token_id" = String, Path, description = "Token id")),
    responses((status = 204), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke_token(
    State(s): State<AppState>,
    OperatorActor(actor): OperatorActor,
    NativePath((id, token_id)): NativePath<(String, String)>,
) -> Result<StatusCode> {
    let org: OrganizationId = path_id(&id, OrganizationId::KIND)?;
    let token: ApiTokenId = path_id(&token_id, ApiTokenId::KIND)?;
    s.core.revoke_api_token(&actor, org, token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Create a user (for faces that use Basic authentication or login sessions).
#[utoipa::path(post, path = "/organizations/{id}/users", tag = "credentials",
    params(("id" = String, Path, description = "Organization id")),
    request_body = CreateUserRequest,
    responses((status = 201, body = UserResponse), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_user(
    State(s): State<AppState>,
    OperatorActor(actor): OperatorActor,
    NativePath(id): NativePath<String>,
    NativeJson(body): NativeJson<CreateUserRequest>,
) -> Result<(StatusCode, Json<UserResponse>)> {
    let org: OrganizationId = path_id(&id, OrganizationId::KIND)?;
    let user = s
        .core
        .create_user(&actor, org, CreateUser { username: body.username, password: body.password })
        .await?;
    Ok((StatusCode::CREATED, Json(UserResponse { user: user.into() })))
}

/// List an organization's users.
#[utoipa::path(get, path = "/organizations/{id}/users", tag = "credentials",
    params(("id" = String, Path, description = "Organization id"), PageQuery),
    responses((status = 200, body = UserList), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_users(
    State(s): State<AppState>,
    OperatorActor(actor): OperatorActor,
    NativePath(id): NativePath<String>,
    Pagination(page): Pagination,
) -> Result<Json<UserList>> {
    let org: OrganizationId = path_id(&id, OrganizationId::KIND)?;
    let page = s.core.list_users(&actor, org, page).await?;
    let pagination = (&page).into();
    Ok(Json(UserList { users: page.items.into_iter().map(Into::into).collect(), pagination }))
}

/// Change a user's password. The old password stops working at once, on every face (HTTP Basic
/// and ZStack sign-in alike); sessions already open run until they expire.
#[utoipa::path(put, path = "/organizations/{id}/users/{user_id}/password", tag = "credentials",
    params(("id" = String, Path, description = "Organization id"), ("user_id" = String, Path, description = "User id")),
    request_body = ChangePasswordRequest,
    responses((status = 204), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn change_password(
    State(s): State<AppState>,
    OperatorActor(actor): OperatorActor,
    NativePath((id, user_id)): NativePath<(String, String)>,
    NativeJson(body): NativeJson<ChangePasswordRequest>,
) -> Result<StatusCode> {
    let org: OrganizationId = path_id(&id, OrganizationId::KIND)?;
    let user: UserId = path_id(&user_id, UserId::KIND)?;
    s.core.change_password(&actor, org, user, body.password).await?;
    Ok(StatusCode::NO_CONTENT)
}
