//! The common frame around every face: which face owns a path, and how to answer an error
//! raised *outside* a face's handlers (request limits, readiness, failed-authentication
//! limits, unknown routes) in that face's own envelope.
//!
//! Faces render their own errors; this module only lets layers that run before routing
//! (middleware) reach the same renderers, so a client of any face never sees another face's
//! envelope or a framework default body.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use palisade_core::Error;

use crate::{defined, hostway, katapult, native};

/// The API faces a request path can belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    Native,
    Katapult,
    Defined,
    Hostway,
}

impl Face {
    /// The face that owns `path` (the native face owns everything no vendor face claims,
    /// including the probes).
    pub fn of(path: &str) -> Self {
        let under = |prefix: &str| {
            path.strip_prefix(prefix).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        if under(katapult::PREFIX) {
            Face::Katapult
        } else if hostway::owns(path) {
            Face::Hostway
        } else if under("/v1/roles")
            || under("/v1/networks")
            || ["/v1", "/v2", "/v3"].iter().any(|p| under(&format!("{p}/hosts")))
        {
            Face::Defined
        } else {
            Face::Native
        }
    }

    /// `error` rendered as this face renders its own errors.
    pub fn render(self, error: Error, method: &str, path: &str) -> Response {
        match self {
            Face::Native => native::error::NativeError(error).into_response(),
            Face::Katapult => katapult::render_error(&error, method, path),
            Face::Defined => defined::render_error(error),
            Face::Hostway => hostway::error::HostwayError(error).into_response(),
        }
    }
}

/// `error` in the envelope of the face that owns `path`.
pub fn render(error: Error, method: &str, path: &str) -> Response {
    Face::of(path).render(error, method, path)
}

/// Adds `Retry-After` (seconds) to the response to an error that says when to retry (rate
/// limits). Every face's renderer calls this, so the header cannot differ between faces.
pub fn retry_after(error: &Error, mut response: Response) -> Response {
    if let Some(seconds) = error.retry_after() {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_belong_to_their_face() {
        assert_eq!(Face::of("/core/v1/networks/x"), Face::Katapult);
        assert_eq!(Face::of("/core/v1"), Face::Katapult);
        assert_eq!(Face::of("/core/v10"), Face::Native);
        assert_eq!(Face::of("/accounts/a/os-security-groups"), Face::Hostway);
        assert_eq!(Face::of("/v1/roles/role-x"), Face::Defined);
        assert_eq!(Face::of("/v1/networks"), Face::Defined);
        assert_eq!(Face::of("/v3/hosts/host-x"), Face::Defined);
        assert_eq!(Face::of("/v1/rolesx"), Face::Native);
        assert_eq!(Face::of("/api/v1/organizations"), Face::Native);
        assert_eq!(Face::of("/healthz"), Face::Native);
    }
}
