//! Palisade's HTTP faces over the canonical core.
//!
//! This is the only crate that knows any wire format. Each face lives in its own module with its
//! wire types, its translation to [`palisade_core::Core`] calls, and exactly one error renderer.
//! Today: the native API (`/api/v1`) and the health probes; vendor faces (Katapult, Defined,
//! Hostway, ZStack) are added beside it and merged in [`router`].

pub mod health;
pub mod native;

use std::sync::Arc;

use axum::Router;
use palisade_core::Core;

/// Limits and knobs of the HTTP layer.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self { max_body_bytes: 1024 * 1024 }
    }
}

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    pub core: Core,
    pub config: Arc<ApiConfig>,
}

/// The whole HTTP application: every face and the probes.
pub fn router(core: Core, config: ApiConfig) -> Router {
    let state = AppState { core, config: Arc::new(config) };
    Router::new().merge(health::router()).merge(native::router()).with_state(state)
}

/// Every route of every face, for the route-table authorization test.
pub fn route_table() -> Vec<RouteEntry> {
    native::route_table()
}

/// One route and who may call it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    pub face: &'static str,
    pub method: String,
    /// Path template with `{param}` placeholders.
    pub path: String,
}
