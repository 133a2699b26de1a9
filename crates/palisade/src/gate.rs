//! Which router answers a request: until the database is open and migrated, the probes and a
//! 503 in each face's envelope (`palisade_api::health::starting`); then the API, for good.
//!
//! The swap happens once, so a lock-free `OnceLock` is all it takes; each request reads it.

use std::sync::OnceLock;

use axum::Router;
use palisade_core::Core;

/// The API router, once there is one, and what answers until then.
#[derive(Debug)]
pub(crate) struct Gate {
    ready: OnceLock<Router>,
    starting: Router,
    /// The core behind the router, told when the server stops.
    core: OnceLock<Core>,
}

impl Gate {
    /// A gate that answers "starting" until [`Gate::open`].
    pub(crate) fn starting() -> Self {
        // No request tracing here: it would log each planned 503 as a failure.
        Self { ready: OnceLock::new(), starting: palisade_api::health::starting(), core: OnceLock::new() }
    }

    /// From now on, `router` (over `core`) answers every request.
    pub(crate) fn open(&self, router: Router, core: &Core) {
        if self.ready.set(router).is_err() || self.core.set(core.clone()).is_err() {
            tracing::error!("the API router was installed twice; keeping the first");
        }
    }

    /// The server stops taking requests: the ones held open waiting (agents' long polls) are
    /// answered now, so that finishing in-flight requests does not wait out their holds.
    pub(crate) fn closing(&self) {
        if let Some(core) = self.core.get() {
            core.end_long_polls();
        }
    }

    /// The server has stopped serving: close the database, if it was ever opened.
    pub(crate) async fn close(&self) {
        if let Some(core) = self.core.get() {
            core.close().await;
        }
    }

    /// The router for the next request.
    pub(crate) fn router(&self) -> Router {
        self.ready.get().unwrap_or(&self.starting).clone()
    }
}
