//! Which router answers a request: until the database is open and migrated, the probes and a
//! 503 in each face's envelope (`palisade_api::health::starting`); then the API, for good.
//!
//! The swap happens once, so a lock-free `OnceLock` is all it takes; each request reads it.

use std::sync::OnceLock;

use axum::Router;

/// The API router, once there is one, and what answers until then.
#[derive(Debug)]
pub(crate) struct Gate {
    ready: OnceLock<Router>,
    starting: Router,
}

impl Gate {
    /// A gate that answers "starting" until [`Gate::open`].
    pub(crate) fn starting() -> Self {
        // No request tracing here: it would log each planned 503 as a failure.
        Self { ready: OnceLock::new(), starting: palisade_api::health::starting() }
    }

    /// From now on, `router` answers every request.
    pub(crate) fn open(&self, router: Router) {
        if self.ready.set(router).is_err() {
            tracing::error!("the API router was installed twice; keeping the first");
        }
    }

    /// The router for the next request.
    pub(crate) fn router(&self) -> Router {
        self.ready.get().unwrap_or(&self.starting).clone()
    }
}
