//! The common frame around every face: what each face does the same way, written once.
//!
//! - which face owns a path ([`Face::of`]), and an error raised *outside* a face's handlers
//!   (request limits, readiness, failed-authentication limits, unknown routes, wrong methods)
//!   rendered in that face's own envelope ([`render`], [`fallback`]), so a client of any face
//!   never sees another face's envelope or a framework default body;
//! - the route declarations every router and the route table are built from ([`routes`]);
//! - credentials and the client's address ([`credentials`]);
//! - request ids ([`request_id`]), `Retry-After` ([`retry_after`]) and the logging of internal
//!   errors ([`log`]), which every face's one renderer calls;
//! - the `prefix_` + base62 id codec that two faces share ([`base62`]);
//! - serde's messages in JSON's words, not Rust's ([`json_words`]).
//!
//! Faces depend on the frame, never on each other: what two faces share moves here.

pub mod base62;
pub mod credentials;
pub mod fallback;
pub mod json_words;
pub mod request_id;
pub mod routes;
pub mod vendor_ids;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use palisade_core::Error;

use crate::{defined, hostway, katapult, native, zstack};

/// Why an agent token (bound to one server) is refused anything but its two operations, in the
/// faces whose envelopes carry a message of their own.
pub const AGENT_TOKEN_ONLY: &str =
    "an agent token may only read its own server's policy and report its enforcement";

/// The API faces a request path can belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    Native,
    Katapult,
    Defined,
    Hostway,
    ZStack,
}

impl Face {
    /// The face's name in the route table.
    pub fn name(self) -> &'static str {
        match self {
            Face::Native => "native",
            Face::Katapult => "katapult",
            Face::Defined => "defined",
            Face::Hostway => "hostway",
            Face::ZStack => "zstack",
        }
    }

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
        } else if zstack::owns(path) {
            Face::ZStack
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
            Face::ZStack => zstack::error::render(error, path),
        }
    }

    /// A known path asked with a method it does not serve, as this face answers it (Katapult
    /// routes by path and method together: there, it is an unknown route).
    pub fn method_not_allowed(self, method: &str, path: &str) -> Response {
        match self {
            Face::Native => native::error::method_not_allowed(),
            Face::Katapult => self.render(Error::not_found("route"), method, path),
            Face::Defined => defined::error::method_not_allowed(),
            Face::Hostway => hostway::error::method_not_allowed(),
            Face::ZStack => zstack::error::method_not_allowed(path),
        }
    }
}

/// `error` in the envelope of the face that owns `path`.
pub fn render(error: Error, method: &str, path: &str) -> Response {
    Face::of(path).render(error, method, path)
}

/// Logs what a client is never shown: an internal error's detail (ERROR) and why the service is
/// unavailable (WARN), and counts refusals operators alert on (failed authentication, rate
/// limits: [`crate::metrics`]). Every face's renderer calls this once per error it renders.
pub fn log(error: &Error) {
    crate::metrics::refusal(error);
    match error {
        Error::Internal(detail) => tracing::error!(%detail, "internal error"),
        Error::Unavailable(detail) => tracing::warn!(%detail, "service unavailable"),
        _ => {}
    }
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
        assert_eq!(Face::of("/zstack/v1/security-groups"), Face::ZStack);
        assert_eq!(Face::of("/zstack"), Face::ZStack);
        assert_eq!(Face::of("/zstackx"), Face::Native);
    }
}
