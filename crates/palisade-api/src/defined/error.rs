//! The Defined Networking face's one error renderer: `{"errors":[{"code","message","path"}]}`.
//!
//! Every validation problem is a 400 (duplicates included, as the vendor does). Defined does not
//! document its 401/403/404/429 bodies; this face uses the same envelope with these codes
//! (clients branch on the status): 401 `ERR_UNAUTHORIZED`, 403 `ERR_FORBIDDEN`, 404
//! `ERR_NOT_FOUND`, 405 `ERR_METHOD_NOT_ALLOWED`, 429 `ERR_RATE_LIMITED` (with `Retry-After`), 503
//! `ERR_SERVICE_UNAVAILABLE`, 500 `ERR_INTERNAL_SERVER_ERROR`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use palisade_core::error::{BadRequest, Forbidden, ViolationCode};
use palisade_core::Error;
use serde::Serialize;

/// A core error on its way to a Defined client.
#[derive(Debug)]
pub struct DefinedError(pub Error);

impl From<Error> for DefinedError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

#[derive(Debug, Serialize)]
struct Item {
    code: &'static str,
    message: String,
    path: Option<String>,
}

fn item(code: &'static str, message: impl Into<String>, path: Option<String>) -> Item {
    Item { code, message: message.into(), path }
}

fn code_of(code: ViolationCode) -> &'static str {
    match code {
        ViolationCode::InvalidLength => "ERR_INVALID_VALUE_LENGTH",
        ViolationCode::Duplicate => "ERR_DUPLICATE_VALUE",
        ViolationCode::InvalidReference => "ERR_INVALID_REFERENCE",
        ViolationCode::Required
        | ViolationCode::InvalidValue
        | ViolationCode::UnknownField
        | ViolationCode::InvalidCharacters => "ERR_INVALID_VALUE",
    }
}

impl IntoResponse for DefinedError {
    fn into_response(self) -> Response {
        crate::frame::log(&self.0);
        let (status, items) = match &self.0 {
            Error::Invalid(violations) => (
                StatusCode::BAD_REQUEST,
                violations
                    .iter()
                    .map(|v| {
                        item(code_of(v.code), v.message.clone(), (!v.path.is_empty()).then(|| v.path.clone()))
                    })
                    .collect(),
            ),
            Error::AlreadyExists { field, .. } => (
                StatusCode::BAD_REQUEST,
                vec![item("ERR_DUPLICATE_VALUE", "value already exists", Some(field.clone()))],
            ),
            Error::BadRequest(BadRequest::TooLarge { limit }) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                vec![item("ERR_INVALID_VALUE", format!("request body exceeds {limit} bytes"), None)],
            ),
            Error::BadRequest(BadRequest::MalformedBody { message, .. }) => (
                StatusCode::BAD_REQUEST,
                vec![item(
                    "ERR_INVALID_VALUE",
                    format!("request body is not a JSON object: {message}"),
                    None,
                )],
            ),
            Error::BadRequest(BadRequest::MalformedParameter { name, message }) => (
                StatusCode::BAD_REQUEST,
                vec![item("ERR_INVALID_VALUE", message.clone(), Some(name.clone()))],
            ),
            Error::BadRequest(BadRequest::BodyTimeout { limit_ms }) => (
                StatusCode::REQUEST_TIMEOUT,
                vec![item(
                    "ERR_REQUEST_TIMEOUT",
                    format!("the request body did not arrive within {limit_ms} ms"),
                    None,
                )],
            ),
            Error::BadRequest(other) => {
                (StatusCode::BAD_REQUEST, vec![item("ERR_INVALID_VALUE", format!("{other:?}"), None)])
            }
            Error::NotFound { .. } => (StatusCode::NOT_FOUND, vec![item("ERR_NOT_FOUND", "not found", None)]),
            Error::Unauthenticated(_) => {
                (StatusCode::UNAUTHORIZED, vec![item("ERR_UNAUTHORIZED", "unauthorized", None)])
            }
            Error::Forbidden(Forbidden::MissingScope(scopes)) => {
                let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
                (
                    StatusCode::FORBIDDEN,
                    vec![item(
                        "ERR_FORBIDDEN",
                        format!("missing required scope: {}", names.join(" or ")),
                        None,
                    )],
                )
            }
            Error::Forbidden(other) => {
                let message = match other {
                    Forbidden::NetworkNotAllowed(ip) => format!("this API key may not be used from {ip}"),
                    Forbidden::OrganizationSuspended => "the organization is suspended".into(),
                    Forbidden::OrganizationNotActivated => "the organization is not activated".into(),
                    Forbidden::ResourceCreationRestricted => {
                        "the organization may not create resources".into()
                    }
                    Forbidden::OperatorOnly => "use an organization's API key".into(),
                    Forbidden::AgentTokenOnly => crate::frame::AGENT_TOKEN_ONLY.into(),
                    Forbidden::MissingScope(_) => String::new(),
                };
                (StatusCode::FORBIDDEN, vec![item("ERR_FORBIDDEN", message, None)])
            }
            Error::Conflict(message) => {
                (StatusCode::CONFLICT, vec![item("ERR_CONFLICT", message.clone(), None)])
            }
            in_use @ Error::InUse { .. } => {
                (StatusCode::CONFLICT, vec![item("ERR_CONFLICT", in_use.to_string(), None)])
            }
            Error::NoAvailableAddresses => (
                StatusCode::BAD_REQUEST,
                vec![item("ERR_INVALID_VALUE", "the network has no address left", Some("ipAddress".into()))],
            ),
            Error::NotAllocated => {
                (StatusCode::BAD_REQUEST, vec![item("ERR_INVALID_VALUE", "not allocated", None)])
            }
            Error::RateLimited { what, limit, retry_after } => (
                StatusCode::TOO_MANY_REQUESTS,
                vec![item(
                    "ERR_RATE_LIMITED",
                    format!("more than {limit} {what} per minute; retry in {retry_after} s"),
                    None,
                )],
            ),
            Error::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                vec![item("ERR_SERVICE_UNAVAILABLE", "service unavailable", None)],
            ),
            Error::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                vec![item("ERR_INTERNAL_SERVER_ERROR", "internal server error", None)],
            ),
        };
        crate::frame::retry_after(&self.0, render(status, items))
    }
}

#[derive(Serialize)]
struct Body {
    errors: Vec<Item>,
}

fn render(status: StatusCode, items: Vec<Item>) -> Response {
    (status, Json(Body { errors: items })).into_response()
}

/// A Defined path asked with a method it does not serve.
pub fn method_not_allowed() -> Response {
    render(
        StatusCode::METHOD_NOT_ALLOWED,
        vec![item("ERR_METHOD_NOT_ALLOWED", "this route does not accept that method", None)],
    )
}
