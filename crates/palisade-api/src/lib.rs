//! Palisade's HTTP faces over the canonical core.
//!
//! This is the only crate that knows any wire format. Each face lives in its own module with its
//! wire types, its translation to [`palisade_core::Core`] calls, and exactly one error renderer.
//! Today: the native API (`/api/v1`), the health probes, and the Katapult, Defined, Hostway and
//! ZStack faces, merged in [`router`]. What every face does the same way (routes,
//! credentials, fallbacks, request ids, error logging) is the [`frame`]; faces never import one
//! another.

pub mod body_limit;
pub mod defined;
pub mod forwarded;
pub mod frame;
pub mod health;
pub mod hostway;
pub mod katapult;
pub mod metrics;
pub mod native;
pub mod observe;
pub mod rate;
pub mod trace;
pub mod zstack;

use std::sync::Arc;

use axum::Router;
use palisade_core::Core;

use crate::frame::routes::Routes;
pub use crate::frame::routes::{Guard, RouteEntry};

/// Limits and knobs of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest accepted request body, in bytes, on every face (see [`body_limit`]).
    pub max_body_bytes: usize,
    /// Requests per minute per credential on the vendor faces that limit them (Katapult).
    pub requests_per_minute: u32,
    /// The base URL clients use (`https://api.example.com`): links are built from it, never from
    /// request headers. See [`forwarded`].
    pub public_url: Option<String>,
    /// Reverse proxies whose `X-Forwarded-*` headers are believed. See [`forwarded`].
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// When set, `GET /metrics` asks for it as a Bearer token; by default it is open, as
    /// Prometheus scrapes. See [`metrics`].
    pub metrics_token: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            requests_per_minute: 1000,
            public_url: None,
            trusted_proxies: Vec::new(),
            metrics_token: None,
        }
    }
}

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub core: Core,
    pub config: Arc<ApiConfig>,
    pub rate_limits: Arc<rate::RateLimits>,
}

/// Every face's routes and the probes, each declared once (`frame::routes`).
fn faces() -> [Routes; 6] {
    [
        health::routes(),
        katapult::routes(),
        defined::routes(),
        hostway::routes(),
        zstack::routes(),
        native::routes(),
    ]
}

/// The whole HTTP application: every face and the probes; any other path is an unknown route
/// in the envelope of the face that owns it.
pub fn router(core: Core, config: ApiConfig) -> Router {
    metrics::install();
    let rate_limits = Arc::new(rate::RateLimits::per_minute(config.requests_per_minute));
    let limit = config.max_body_bytes;
    let state = AppState { core, config: Arc::new(config), rate_limits };
    faces()
        .into_iter()
        .fold(Router::new(), |router, face| router.merge(face.into_router()))
        .fallback(frame::fallback::not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), forwarded::resolve))
        .with_state(state)
        .layer(axum::middleware::from_fn(move |request, next| {
            body_limit::refuse_declared(limit, request, next)
        }))
        .layer(body_limit::layer(limit))
}

/// Every route the application serves, read from the same declarations its router is built
/// from: the route-table tests walk it.
pub fn route_table() -> Vec<RouteEntry> {
    faces().into_iter().flat_map(Routes::into_table).collect()
}
