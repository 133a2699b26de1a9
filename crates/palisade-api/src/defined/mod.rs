//! The Defined Networking face (`/v1/roles`, `/v1/networks`, and the hosts that carry roles):
//! identity-based firewalling, where a role's inbound rules admit hosts by role and tags.
//!
//! Envelopes: `{"data": …, "metadata": {}}` on success (create is 200, delete answers
//! `{"data":{},"metadata":{}}`), `{"errors":[{"code","message","path"}]}` on failure, every
//! validation problem of a request listed at once. Every response carries `X-Request-ID`.
//! Defined API keys belong to one organization; the operator token is refused here with 403
//! (there is no organization to act in). A role is a canonical group of kind `Role`, allowing
//! all outbound traffic (Defined roles are inbound-only).

pub(crate) mod error;
mod hosts;
pub use crate::frame::vendor_ids::defined as ids;
mod networks;
mod paging;
mod roles;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::Json;
use palisade_core::error::{BadRequest, Forbidden};
use palisade_core::id::OrganizationId;
use palisade_core::policy::GroupKind;
use palisade_core::{Action, Error, Operation, Principal, Resource};
use serde::Serialize;
use serde_json::Value;

use self::error::DefinedError;
use crate::frame::credentials::token_caller;
use crate::frame::request_id;
use crate::frame::routes::{Guard, RouteOperation, Routes};
use crate::frame::Face;
use crate::AppState;

const ROLES: Resource = Resource::Group(GroupKind::Role);

fn role(action: Action) -> Guard {
    Guard::Operation(Operation::new(ROLES, action))
}

fn host(action: Action) -> Guard {
    Guard::Operation(Operation::new(Resource::Host, action))
}

/// Every Defined route and its operation; every response carries `X-Request-ID`.
pub fn routes() -> Routes {
    use Action::*;
    Routes::new(Face::Defined)
        .with_request_ids()
        .post("/v1/roles", role(Create), roles::create)
        .get("/v1/roles", role(List), roles::list)
        .get("/v1/roles/{role_id}", role(Read), roles::get)
        .put("/v1/roles/{role_id}", role(Update), roles::replace)
        .delete("/v1/roles/{role_id}", role(Delete), roles::delete)
        .get("/v1/networks", Guard::Operation(Operation::new(Resource::Network, List)), networks::list)
        .post("/v1/hosts", host(Create), hosts::create_v1)
        .get("/v1/hosts", host(List), hosts::list_v1)
        .get("/v1/hosts/{host_id}", host(Read), hosts::get_v1)
        .delete("/v1/hosts/{host_id}", host(Delete), hosts::delete)
        .post("/v2/hosts", host(Create), hosts::create_v2)
        .get("/v2/hosts", host(List), hosts::list_v2)
        .get("/v2/hosts/{host_id}", host(Read), hosts::get_v2)
        .put("/v2/hosts/{host_id}", host(Update), hosts::replace)
        .put("/v3/hosts/{host_id}", host(Update), hosts::update)
}

/// An error raised outside the Defined handlers (a request limit, readiness), in its envelope.
pub fn render_error(error: Error) -> Response {
    let mut response = DefinedError(error).into_response();
    request_id::stamp(response.headers_mut());
    response
}

/// `{"data": …, "metadata": …}`, serialized straight from the typed views so that their
/// declared key order (the vendor's) reaches the client: a `serde_json::Value` would sort it.
#[derive(Debug, Serialize)]
struct Envelope<T, M> {
    data: T,
    metadata: M,
}

/// `{}`.
#[derive(Debug, Serialize)]
struct Empty {}

/// One object: `{"data": view, "metadata": {}}` (creates answer 200 too).
fn data<T: Serialize>(view: T) -> Response {
    Json(Envelope { data: view, metadata: Empty {} }).into_response()
}

/// A page: `{"data": [views], "metadata": {list metadata}}`.
fn page<T: Serialize>(views: Vec<T>, metadata: paging::ListMetadata) -> Response {
    Json(Envelope { data: views, metadata }).into_response()
}

/// A deletion: `{"data":{},"metadata":{}}`.
fn deleted() -> Response {
    data(Empty {})
}

/// An organization's API key, its organization, and the operation of the route it called.
#[derive(Debug)]
pub struct Caller {
    pub actor: Principal,
    pub org: OrganizationId,
    operation: Operation,
}

impl Caller {
    /// Authorizes the route's operation in the caller's organization. Writes call it before they
    /// read the body or validate anything, so a key without the scope is refused (403) whatever
    /// it sent. (Reads leave it to the core call they make.)
    pub fn authorize(&self) -> Result<(), DefinedError> {
        self.actor.authorize(self.org, self.operation).map(|_grant| ()).map_err(DefinedError)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = DefinedError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let actor = token_caller(&state.core, parts).await?;
        let org = actor.organization_id().ok_or(Error::Forbidden(Forbidden::OperatorOnly))?;
        let Some(RouteOperation(operation)) = parts.extensions.get().copied() else {
            return Err(Error::internal("a Defined route was declared without its operation").into());
        };
        Ok(Caller { actor, org, operation })
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
