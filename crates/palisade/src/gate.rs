//! Which router answers a request: the API's, once the database is ready.

use std::sync::OnceLock;

use axum::Router;

/// The API router, once there is one, and what answers until then.
#[derive(Debug)]
pub(crate) struct Gate {
    ready: OnceLock<Router>,
    starting: Router,
}

impl Gate {
    /// A gate that is open from the start.
    pub(crate) fn open(router: Router) -> Self {
        let gate = Self { ready: OnceLock::new(), starting: Router::new() };
        let _ = gate.ready.set(router);
        gate
    }

    /// The router for the next request.
    pub(crate) fn router(&self) -> Router {
        self.ready.get().unwrap_or(&self.starting).clone()
    }
}
