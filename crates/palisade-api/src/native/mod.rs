//! The native API (`/api/v1`): operators' administration of tenancy and inventory.
//!
//! Routes are registered through `utoipa_axum` so the router and the OpenAPI document are built
//! from the same list: a handler cannot be routed without being documented, and the route-table
//! authorization test reads that same document to find every route.

pub mod addresses;
pub mod credentials;
pub mod error;
pub mod extract;
pub mod inventory;
pub mod organizations;
pub mod schema;
pub mod wire;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use palisade_core::Error;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::{AppState, RouteEntry};

/// Where the native API lives.
pub const PREFIX: &str = "/api/v1";

#[derive(OpenApi)]
#[openapi(
    info(title = "Palisade native API", description = "Operators' administration of Palisade: organizations, credentials, inventory."),
    modifiers(&BearerAuth),
    tags(
        (name = "organizations", description = "Tenancy"),
        (name = "credentials", description = "API tokens and users of an organization"),
        (name = "inventory", description = "Data centers, networks and servers"),
        (name = "ip addresses", description = "IP address management"),
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
        .routes(routes!(inventory::create_data_center, inventory::list_data_centers))
        .routes(routes!(inventory::get_data_center))
        .routes(routes!(inventory::create_network, inventory::list_networks))
        .routes(routes!(inventory::get_network))
        .routes(routes!(inventory::create_server, inventory::list_servers))
        .routes(routes!(inventory::get_server, inventory::delete_server))
        .routes(routes!(addresses::create, addresses::list))
        .routes(routes!(addresses::get, addresses::update, addresses::release))
        .routes(routes!(addresses::allocate))
        .routes(routes!(addresses::unallocate));
    OpenApiRouter::with_openapi(ApiDoc::openapi()).nest(PREFIX, v1)
}

/// The OpenAPI document of the native API, generated from the routed handlers.
pub fn openapi() -> OpenApiDoc {
    api().into_openapi()
}

/// The native routes, plus `GET /api/v1/openapi.json`, and JSON answers for unknown routes and
/// wrong methods.
pub fn router() -> Router<AppState> {
    let (router, doc) = api().split_for_parts();
    let doc = Arc::new(doc);
    router
        .route(&format!("{PREFIX}/openapi.json"), get(move || async move { Json(doc.as_ref().clone()) }))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// An unknown route, in the envelope of the face that owns its path (Hostway's `/accounts/`),
/// else the native one.
async fn not_found(method: axum::http::Method, uri: axum::http::Uri) -> axum::response::Response {
    crate::frame::render(Error::not_found("route"), method.as_str(), uri.path())
}

/// A wrong method on a native or probe path, in the native envelope.
pub(crate) async fn method_not_allowed() -> impl IntoResponse {
    let body = error::ErrorBody {
        error: error::ErrorDetail {
            code: "method_not_allowed",
            message: "this route does not accept that method".into(),
            details: None,
        },
    };
    (StatusCode::METHOD_NOT_ALLOWED, Json(body))
}

/// Every documented native route.
pub fn route_table() -> Vec<RouteEntry> {
    let doc = openapi();
    let mut entries = Vec::new();
    for (path, item) in &doc.paths.paths {
        let methods = [
            ("GET", item.get.is_some()),
            ("POST", item.post.is_some()),
            ("PUT", item.put.is_some()),
            ("PATCH", item.patch.is_some()),
            ("DELETE", item.delete.is_some()),
        ];
        for (method, present) in methods {
            if present {
                entries.push(RouteEntry { face: "native", method: method.into(), path: path.clone() });
            }
        }
    }
    entries
}
