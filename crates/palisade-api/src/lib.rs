//! Palisade's HTTP faces over the canonical core.
//!
//! This is the only crate that knows any wire format. Each face lives in its own module with its
//! wire types, its translation to [`palisade_core::Core`] calls, and exactly one error renderer.
//! Today: the native API (`/api/v1`) and the health probes; vendor faces (Katapult, Defined,
//! Hostway, ZStack) are added beside it and merged in [`router`].

pub mod body_limit;
pub mod defined;
pub mod forwarded;
pub mod frame;
pub mod health;
pub mod hostway;
pub mod katapult;
pub mod native;
pub mod rate;
pub mod trace;

use std::sync::Arc;

use axum::Router;
use palisade_core::Core;

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
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            requests_per_minute: 1000,
            public_url: None,
            trusted_proxies: Vec::new(),
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

/// The whole HTTP application: every face and the probes.
pub fn router(core: Core, config: ApiConfig) -> Router {
    let rate_limits = Arc::new(rate::RateLimits::per_minute(config.requests_per_minute));
    let limit = config.max_body_bytes;
    let state = AppState { core, config: Arc::new(config), rate_limits };
    Router::new()
        .merge(health::router())
        .merge(katapult::router())
        .merge(defined::router())
        .merge(hostway::router())
        .merge(native::router())
        .layer(axum::middleware::from_fn_with_state(state.clone(), forwarded::resolve))
        .with_state(state)
        .layer(axum::middleware::from_fn(move |request, next| {
            body_limit::refuse_declared(limit, request, next)
        }))
        .layer(body_limit::layer(limit))
}

/// Every route of every face, for the route-table authorization test.
pub fn route_table() -> Vec<RouteEntry> {
    let mut routes = native::route_table();
    routes.extend(katapult::route_table());
    routes.extend(defined::route_table());
    routes.extend(hostway::route_table());
    routes
}

/// One route and who may call it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    pub face: &'static str,
    pub method: String,
    /// Path template with `{param}` placeholders.
    pub path: String,
}
