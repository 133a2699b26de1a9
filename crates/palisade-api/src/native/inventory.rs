//! `/api/v1/data_centers`, `/networks` and `/organizations/{id}/servers`: the inventory that
//! policy and IP address management are about.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use palisade_core::id::ServerGroupId;
use palisade_core::id::{DataCenterId, NetworkId, OrganizationId, ServerId};
use palisade_core::service::{
    CreateDataCenter, CreateInterface, CreateNetwork, CreateServer, DataCenterPatch, NetworkPatch,
    ServerPatch, ServerRef,
};
use palisade_core::{Action, Operation, Resource};

use super::error::{ErrorBody, NativeError};
use super::extract::{path_id, Actor, NativeJson, NativePath, OperatorActor, PageQuery, Pagination};
use super::wire::{
    CreateDataCenterRequest, CreateNetworkRequest, CreateServerRequest, DataCenterList, DataCenterResponse,
    NetworkList, NetworkResponse, ServerList, ServerResponse, UpdateDataCenterRequest, UpdateNetworkRequest,
    UpdateServerRequest,
};
use crate::AppState;

type Result<T> = std::result::Result<T, NativeError>;

/// Create a data center (operator only).
#[utoipa::path(post, path = "/data_centers", tag = "inventory",
    request_body = CreateDataCenterRequest,
    responses((status = 201, body = DataCenterResponse), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_data_center(
    State(s): State<AppState>,
    OperatorActor(actor): OperatorActor,
    NativeJson(body): NativeJson<CreateDataCenterRequest>,
) -> Result<(StatusCode, Json<DataCenterResponse>)> {
    let input = CreateDataCenter { name: body.name, permalink: body.permalink, country: body.country.into() };
    let dc = s.core.create_data_center(&actor, input).await?;
    Ok((StatusCode::CREATED, Json(DataCenterResponse { data_center: dc.into() })))
}

/// List data centers (operator only).
#[utoipa::path(get, path = "/data_centers", tag = "inventory", params(PageQuery),
    responses((status = 200, body = DataCenterList), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_data_centers(
    State(s): State<AppState>,
    OperatorActor(actor): OperatorActor,
    Pagination(page): Pagination,
) -> Result<Json<DataCenterList>> {
    let page = s.core.list_data_centers(&actor, page).await?;
    let pagination = (&page).into();
    Ok(Json(DataCenterList { data_centers: page.items.into_iter().map(Into::into).collect(), pagination }))
}

/// Get a data center (operator only).
#[utoipa::path(get, path = "/data_centers/{id}", tag = "inventory",
    params(("id" = String, Path, description = "Data center id")),
    responses((status = 200, body = DataCenterResponse), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_data_center(
    State(s): State<AppState>,
    OperatorActor(actor): OperatorActor,
    NativePath(id): NativePath<String>,
) -> Result<Json<DataCenterResponse>> {
    let id: DataCenterId = path_id(&id, DataCenterId::KIND)?;
    let dc = s.core.data_center(&actor, id).await?;
    Ok(Json(DataCenterResponse { data_center: dc.into() }))
}

/// Change a data center's `name`, `permalink` or `country` (operator only).
#[utoipa::path(patch, path = "/data_centers/{id}", tag = "inventory",
    params(("id" = String, Path, description = "Data center id")),
    request_body = UpdateDataCenterRequest,
    responses((status = 200, body = DataCenterResponse), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_data_center(
    State(s): State<AppState>,
    OperatorActor(actor): OperatorActor,
    NativePath(id): NativePath<String>,
    NativeJson(body): NativeJson<UpdateDataCenterRequest>,
) -> Result<Json<DataCenterResponse>> {
    let id: DataCenterId = path_id(&id, DataCenterId::KIND)?;
    let patch =
        DataCenterPatch { name: body.name, permalink: body.permalink, country: body.country.map(Into::into) };
    let dc = s.core.update_data_center(&actor, id, patch).await?;
    Ok(Json(DataCenterResponse { data_center: dc.into() }))
}

/// Delete a data center (operator only). Refused with 409 `in_use` while it has networks
/// (`details.used_by` counts them and their servers): delete those first.
#[utoipa::path(delete, path = "/data_centers/{id}", tag = "inventory",
    params(("id" = String, Path, description = "Data center id")),
    responses((status = 204), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_data_center(
    State(s): State<AppState>,
    OperatorActor(actor): OperatorActor,
    NativePath(id): NativePath<String>,
) -> Result<StatusCode> {
    let id: DataCenterId = path_id(&id, DataCenterId::KIND)?;
    s.core.delete_data_center(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Create a network with IPv4 and/or IPv6 prefixes (operator only).
#[utoipa::path(post, path = "/networks", tag = "inventory",
    request_body = CreateNetworkRequest,
    responses((status = 201, body = NetworkResponse), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_network(
    State(s): State<AppState>,
    OperatorActor(actor): OperatorActor,
    NativeJson(body): NativeJson<CreateNetworkRequest>,
) -> Result<(StatusCode, Json<NetworkResponse>)> {
    let input = CreateNetwork {
        name: body.name,
        permalink: body.permalink,
        data_center_id: DataCenterId::from_uuid(body.data_center_id),
        prefixes: body.prefixes,
        reserved: body.reserved,
        is_default: body.default,
        organization_id: body.organization_id.map(OrganizationId::from_uuid),
    };
    let network = s.core.create_network(&actor, input).await?;
    Ok((StatusCode::CREATED, Json(NetworkResponse { network: network.into() })))
}

/// List networks (operator only).
#[utoipa::path(get, path = "/networks", tag = "inventory", params(PageQuery),
    responses((status = 200, body = NetworkList), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_networks(
    State(s): State<AppState>,
    OperatorActor(actor): OperatorActor,
    Pagination(page): Pagination,
) -> Result<Json<NetworkList>> {
    let page = s.core.list_networks(&actor, page).await?;
    let pagination = (&page).into();
    Ok(Json(NetworkList { networks: page.items.into_iter().map(Into::into).collect(), pagination }))
}

/// Get a network (operator only).
#[utoipa::path(get, path = "/networks/{id}", tag = "inventory",
    params(("id" = String, Path, description = "Network id")),
    responses((status = 200, body = NetworkResponse), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_network(
    State(s): State<AppState>,
    OperatorActor(actor): OperatorActor,
    NativePath(id): NativePath<String>,
) -> Result<Json<NetworkResponse>> {
    let id: NetworkId = path_id(&id, NetworkId::KIND)?;
    let network = s.core.network(&actor, id).await?;
    Ok(Json(NetworkResponse { network: network.into() }))
}

/// Change a network's `name`, `permalink` (`null` removes it) or `default` flag (operator
/// only). Its prefixes and reserved ranges stay as they are.
#[utoipa::path(patch, path = "/networks/{id}", tag = "inventory",
    params(("id" = String, Path, description = "Network id")),
    request_body = UpdateNetworkRequest,
    responses((status = 200, body = NetworkResponse), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_network(
    State(s): State<AppState>,
    OperatorActor(actor): OperatorActor,
    NativePath(id): NativePath<String>,
    NativeJson(body): NativeJson<UpdateNetworkRequest>,
) -> Result<Json<NetworkResponse>> {
    let id: NetworkId = path_id(&id, NetworkId::KIND)?;
    let patch = NetworkPatch { name: body.name, permalink: body.permalink, is_default: body.default };
    let network = s.core.update_network(&actor, id, patch).await?;
    Ok(Json(NetworkResponse { network: network.into() }))
}

/// Delete a network (operator only). Refused with 409 `in_use` while servers have interfaces
/// on it, addresses of it are held, or security groups are attached to it
/// (`details.used_by` counts each): delete or release those first.
#[utoipa::path(delete, path = "/networks/{id}", tag = "inventory",
    params(("id" = String, Path, description = "Network id")),
    responses((status = 204), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_network(
    State(s): State<AppState>,
    OperatorActor(actor): OperatorActor,
    NativePath(id): NativePath<String>,
) -> Result<StatusCode> {
    let id: NetworkId = path_id(&id, NetworkId::KIND)?;
    s.core.delete_network(&actor, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Create a server with its interfaces and addresses. The operator, or the organization's
/// token with `virtual_machines`.
#[utoipa::path(post, path = "/organizations/{id}/servers", tag = "inventory",
    params(("id" = String, Path, description = "Organization id")),
    request_body = CreateServerRequest,
    responses((status = 201, body = ServerResponse), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_server(
    State(s): State<AppState>,
    Actor(actor): Actor,
    NativePath(id): NativePath<String>,
    body: Result<NativeJson<CreateServerRequest>>,
) -> Result<(StatusCode, Json<ServerResponse>)> {
    let org: OrganizationId = path_id(&id, OrganizationId::KIND)?;
    // Authorized before the body is looked at: no scope, no validation.
    actor.authorize(org, Operation::new(Resource::Server, Action::Create))?;
    let NativeJson(body) = body?;
    let input = CreateServer {
        name: body.name,
        interfaces: body
            .interfaces
            .into_iter()
            .map(|i| CreateInterface {
                network_id: NetworkId::from_uuid(i.network_id),
                addresses: i.addresses,
            })
            .collect(),
        tags: body.tags,
    };
    let server = s.core.create_server(&actor, org, input).await?;
    Ok((StatusCode::CREATED, Json(ServerResponse { server: server.into() })))
}

/// List an organization's servers (`virtual_machines` or `virtual_machines:read`).
#[utoipa::path(get, path = "/organizations/{id}/servers", tag = "inventory",
    params(("id" = String, Path, description = "Organization id"), PageQuery),
    responses((status = 200, body = ServerList), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_servers(
    State(s): State<AppState>,
    Actor(actor): Actor,
    NativePath(id): NativePath<String>,
    Pagination(page): Pagination,
) -> Result<Json<ServerList>> {
    let org: OrganizationId = path_id(&id, OrganizationId::KIND)?;
    let page = s.core.list_servers(&actor, org, page).await?;
    let pagination = (&page).into();
    Ok(Json(ServerList { servers: page.items.into_iter().map(Into::into).collect(), pagination }))
}

/// Get a server (`virtual_machines` or `virtual_machines:read`).
#[utoipa::path(get, path = "/organizations/{id}/servers/{server_id}", tag = "inventory",
    params(("id" = String, Path, description = "Organization id"), ("server_id" = String, Path, description = "Server id")),
    responses((status = 200, body = ServerResponse), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_server(
    State(s): State<AppState>,
    Actor(actor): Actor,
    NativePath((id, server_id)): NativePath<(String, String)>,
) -> Result<Json<ServerResponse>> {
    let org: OrganizationId = path_id(&id, OrganizationId::KIND)?;
    let server_id: ServerId = path_id(&server_id, ServerId::KIND)?;
    let server = s.core.server(&actor, org, server_id).await?;
    Ok(Json(ServerResponse { server: server.into() }))
}

/// Change a server's `name`, `tags` or `server_group_id` (`null` takes it out of its group)
/// (`virtual_machines`; naming a server group also needs `virtual_machine_groups` or
/// `virtual_machine_groups:read`). A server group that is not the organization's is not found.
#[utoipa::path(patch, path = "/organizations/{id}/servers/{server_id}", tag = "inventory",
    params(("id" = String, Path, description = "Organization id"), ("server_id" = String, Path, description = "Server id")),
    request_body = UpdateServerRequest,
    responses((status = 200, body = ServerResponse), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn update_server(
    State(s): State<AppState>,
    Actor(actor): Actor,
    NativePath((id, server_id)): NativePath<(String, String)>,
    body: Result<NativeJson<UpdateServerRequest>>,
) -> Result<Json<ServerResponse>> {
    let org: OrganizationId = path_id(&id, OrganizationId::KIND)?;
    let server_id: ServerId = path_id(&server_id, ServerId::KIND)?;
    // Authorized before the body is looked at: no scope, no validation.
    actor.authorize(org, Operation::new(Resource::Server, Action::Update))?;
    let NativeJson(body) = body?;
    let patch = ServerPatch {
        name: body.name,
        tags: body.tags,
        server_group: body.server_group_id.map(|g| g.map(ServerGroupId::from_uuid)),
    };
    let detail = s.core.update_server(&actor, ServerRef::Owned(org, server_id), patch).await?;
    Ok(Json(ServerResponse { server: detail.server.into() }))
}

/// Delete a server (`virtual_machines`).
#[utoipa::path(delete, path = "/organizations/{id}/servers/{server_id}", tag = "inventory",
    params(("id" = String, Path, description = "Organization id"), ("server_id" = String, Path, description = "Server id")),
    responses((status = 204), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete_server(
    State(s): State<AppState>,
    Actor(actor): Actor,
    NativePath((id, server_id)): NativePath<(String, String)>,
) -> Result<StatusCode> {
    let org: OrganizationId = path_id(&id, OrganizationId::KIND)?;
    let server_id: ServerId = path_id(&server_id, ServerId::KIND)?;
    s.core.delete_server(&actor, org, server_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
