//! The Defined Networking face (`/v1/roles`, `/v1/networks`, and the hosts that carry roles):
//! identity-based firewalling, where a role's inbound rules admit hosts by role and tags.
//!
//! Envelopes: `{"data": …, "metadata": {}}` on success (create is 200, delete answers
//! `{"data":{},"metadata":{}}`), `{"errors":[{"code","message","path"}]}` on failure, every
//! validation problem of a request listed at once. Every response carries `X-Request-ID`.
//! Defined API keys belong to one organization; the operator token is refused here with 403
//! (there is no organization to act in). A role is a canonical group of kind `Role`, allowing
//! all outbound traffic (Defined roles are inbound-only).

mod error;
mod hosts;
pub mod ids;
mod networks;
mod roles;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use axum::routing::{get, post, put};
use axum::Router;
use palisade_core::error::{BadRequest, Forbidden};
use palisade_core::id::OrganizationId;
use palisade_core::{Error, Operation, Principal};
use serde_json::Value;

use self::error::DefinedError;
use crate::native::extract::{bearer, source_ip};
use crate::{AppState, RouteEntry};

const ROUTES: &[(&str, &str)] = &[
    ("POST", "/v1/roles"),
    ("GET", "/v1/roles"),
    ("GET", "/v1/roles/{role_id}"),
    ("PUT", "/v1/roles/{role_id}"),
    ("DELETE", "/v1/roles/{role_id}"),
    ("GET", "/v1/networks"),
    ("POST", "/v1/hosts"),
    ("GET", "/v1/hosts"),
    ("GET", "/v1/hosts/{host_id}"),
    ("DELETE", "/v1/hosts/{host_id}"),
    ("POST", "/v2/hosts"),
    ("GET", "/v2/hosts"),
    ("GET", "/v2/hosts/{host_id}"),
    ("PUT", "/v2/hosts/{host_id}"),
    ("PUT", "/v3/hosts/{host_id}"),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/roles", post(roles::create).get(roles::list))
        .route("/v1/roles/{role_id}", get(roles::get).put(roles::replace).delete(roles::delete))
        .route("/v1/networks", get(networks::list))
        .route("/v1/hosts", post(hosts::create_v1).get(hosts::list_v1))
        .route("/v1/hosts/{host_id}", get(hosts::get_v1).delete(hosts::delete))
        .route("/v2/hosts", post(hosts::create_v2).get(hosts::list_v2))
        .route("/v2/hosts/{host_id}", get(hosts::get_v2).put(hosts::replace))
        .route("/v3/hosts/{host_id}", put(hosts::update))
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::map_response(request_id))
}

/// Every Defined route, for the route-table authorization test.
pub fn route_table() -> Vec<RouteEntry> {
    ROUTES
        .iter()
        .map(|(m, p)| RouteEntry { face: "defined", method: (*m).to_owned(), path: (*p).to_owned() })
        .collect()
}

/// An error raised outside the Defined handlers (a request limit, readiness), in its envelope.
pub fn render_error(error: Error) -> Response {
    with_request_id(axum::response::IntoResponse::into_response(DefinedError(error)))
}

async fn request_id(response: Response) -> Response {
    with_request_id(response)
}

fn with_request_id(mut response: Response) -> Response {
    if let Ok(value) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        response.headers_mut().insert(HeaderName::from_static("x-request-id"), value);
    }
    response
}

/// An organization's API key and its organization.
#[derive(Debug)]
pub struct Caller {
    pub actor: Principal,
    pub org: OrganizationId,
}

impl Caller {
    /// Authorizes `op` in the caller's organization. Handlers call it before they read the body
    /// or validate anything, so a key without the scope is refused (403) whatever it sent.
    pub fn authorize(&self, op: Operation) -> Result<(), DefinedError> {
        self.actor.authorize(self.org, op).map_err(DefinedError)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = DefinedError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let actor = state.core.authenticate(bearer(parts), source_ip(parts)).await?;
        let org = actor.organization_id().ok_or(Error::Forbidden(Forbidden::OperatorOnly))?;
        Ok(Caller { actor, org })
    }
}

/// A JSON object body (an empty body is `{}`, as GET-style clients send none).
#[derive(Debug)]
pub struct Body(pub serde_json::Map<String, Value>);

impl FromRequest<AppState> for Body {
    type Rejection = DefinedError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = crate::body_limit::read(req, state.config.max_body_bytes).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body(serde_json::Map::new()));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(Body(map)),
            Ok(_) => Err(Error::BadRequest(BadRequest::MalformedBody {
                path: None,
                message: "expected an object".into(),
            })
            .into()),
            Err(e) => {
                Err(Error::BadRequest(BadRequest::MalformedBody { path: None, message: e.to_string() })
                    .into())
            }
        }
    }
}

/// The `{id}` path segment.
#[derive(Debug)]
pub struct IdSegment(pub String);

impl FromRequestParts<AppState> for IdSegment {
    type Rejection = DefinedError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|p| IdSegment(p.0))
            .map_err(|_| DefinedError(Error::not_found("route")))
    }
}
