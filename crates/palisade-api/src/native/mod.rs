//! The native API (`/api/v1`): operators' administration of tenancy and inventory.
//!
//! Routes are registered through `utoipa_axum` so the router and the OpenAPI document are built
//! from the same list: a handler cannot be routed without being documented, and the route table
//! (`frame::routes`) is read from that same document.

pub mod addresses;
pub mod audit;
pub mod credentials;
pub mod enforcement;
pub mod error;
pub mod extract;
pub mod groups;
pub mod inventory;
pub mod organizations;
pub mod policy;
pub mod schema;
pub mod wire;

use std::sync::Arc;

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::frame::routes::{Guard, Routes};
use crate::frame::Face;
use crate::AppState;

/// Where the native API lives.
pub const PREFIX: &str = "/api/v1";

#[derive(OpenApi)]
#[openapi(
    info(title = "Palisade native API", description = "Operators' administration of Palisade: organizations, credentials, inventory."),
    modifiers(&BearerAuth),
    tags(
        (name = "organizations", description = "Tenancy"),
        (name = "credentials", description = "API tokens and users of an organization, and the scopes tokens hold"),
        (name = "inventory", description = "Data centers, networks and servers"),
        (name = "ip addresses", description = "IP address management"),
        (name = "policy", description = "The policy engine: flow checks, effective policies, lint"),
        (name = "enforcement", description = "Host agents: their tokens, and what they applied"),
        (name = "audit", description = "The audit trail: who changed what, when, through which face"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

fn api() -> OpenApiRouter<AppState> {
    let v1 = OpenApiRouter::new()
        .routes(routes!(organizations::create, organizations::list))
        .routes(routes!(organizations::get, organizations::update, organizations::delete))
        .routes(routes!(credentials::create_token, credentials::list_tokens))
        .routes(routes!(credentials::revoke_token))
        .routes(routes!(credentials::create_user, credentials::list_users))
        .routes(routes!(credentials::change_password))
        .routes(routes!(credentials::list_scopes))
        .routes(routes!(inventory::create_data_center, inventory::list_data_centers))
        .routes(routes!(
            inventory::get_data_center,
            inventory::update_data_center,
            inventory::delete_data_center
        ))
        .routes(routes!(inventory::create_network, inventory::list_networks))
        .routes(routes!(inventory::get_network, inventory::update_network, inventory::delete_network))
        .routes(routes!(inventory::create_server, inventory::list_servers))
        .routes(routes!(inventory::get_server, inventory::update_server, inventory::delete_server))
        .routes(routes!(addresses::create, addresses::list))
        .routes(routes!(addresses::get, addresses::update, addresses::release))
        .routes(routes!(addresses::allocate))
        .routes(routes!(addresses::unallocate))
        .routes(routes!(policy::check_flow))
        .routes(routes!(policy::server_policy))
        .routes(routes!(policy::lint))
        .routes(routes!(groups::list_groups))
        .routes(routes!(groups::get_group))
        .routes(routes!(policy::agent_policy))
        .routes(routes!(enforcement::create_agent_token))
        .routes(routes!(enforcement::report, enforcement::get))
        .routes(routes!(audit::list));
    OpenApiRouter::with_openapi(ApiDoc::openapi()).nest(PREFIX, v1)
}

/// The OpenAPI document of the native API, generated from the routed handlers.
pub fn openapi() -> OpenApiDoc {
    api().into_openapi()
}

/// The native routes (from the OpenAPI document they are documented in), plus
/// `GET /api/v1/openapi.json`.
pub fn routes() -> Routes {
    let (router, doc) = api().split_for_parts();
    let routes = Routes::new(Face::Native).documented(router, &doc);
    let doc = Arc::new(doc);
    routes.get(
        &format!("{PREFIX}/openapi.json"),
        Guard::Open,
        move || async move { Json(doc.as_ref().clone()) },
    )
}
