//! The native face's one error renderer: [`palisade_core::Error`] → status + JSON envelope
//! `{"error":{"code","message","details"?}}`, typed throughout so keys come out in declaration
//! order, which is the order the OpenAPI document lists (a `serde_json::Value` would sort them).
//!
//! Extractor failures (bad JSON, oversized bodies, unknown routes, wrong methods) are turned
//! into core errors first and rendered here too, so no framework default body reaches a client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use palisade_core::error::{used_by_text, BadRequest, Forbidden, Unauthenticated, Violation, ViolationCode};
use palisade_core::scope::Scope;
use palisade_core::Error;
use serde::Serialize;
use utoipa::ToSchema;

/// A core error on its way to a native client.
#[derive(Debug)]
pub struct NativeError(pub Error);

impl From<Error> for NativeError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `invalid_request`, `not_found`, `scope_not_granted`.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// Per-field problems (for input errors) or extra facts (required scopes).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<serde_json::Value>)]
    pub details: Option<Details>,
}

/// What `details` holds, by error.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Details {
    /// Input errors: each offending field.
    Problems(Vec<FieldProblem>),
    /// `scope_not_granted`: any one of these would do.
    Scopes { scopes: Vec<Scope> },
    /// `network_not_allowed`: the caller's address.
    Network { ip_address: String },
    /// `rate_limited`: requests per minute, and seconds until the next is admitted.
    RateLimit { limit: u32, retry_after: u64 },
    /// `in_use`: what uses the object, by kind.
    InUse { used_by: Vec<UsedByView> },
}

/// How many objects of one kind use an object that cannot be deleted (`in_use`).
#[derive(Debug, Serialize)]
pub struct UsedByView {
    /// `servers`, `ip_addresses`, `networks` or `security_groups`.
    pub kind: &'static str,
    pub count: u64,
}

/// One offending field. Keys `code`, `message`, `path`, as native clients have always read
/// them.
#[derive(Debug, Serialize)]
pub struct FieldProblem {
    pub code: &'static str,
    pub message: String,
    /// Path of the offending field, e.g. `interfaces[0].network_id`.
    pub path: String,
}

fn violation_code(code: ViolationCode) -> &'static str {
    match code {
        ViolationCode::Required => "required",
        ViolationCode::InvalidValue => "invalid_value",
        ViolationCode::InvalidLength => "invalid_length",
        ViolationCode::Duplicate => "duplicate",
        ViolationCode::InvalidReference => "invalid_reference",
        ViolationCode::UnknownField => "unknown_field",
        ViolationCode::InvalidCharacters => "invalid_characters",
    }
}

fn problems(violations: &[Violation]) -> Details {
    Details::Problems(
        violations
            .iter()
            .map(|v| FieldProblem {
                code: violation_code(v.code),
                message: v.message.clone(),
                path: v.path.clone(),
            })
            .collect(),
    )
}

impl NativeError {
    fn parts(&self) -> (StatusCode, &'static str, String, Option<Details>) {
        match &self.0 {
            Error::NotFound { kind } => {
                (StatusCode::NOT_FOUND, "not_found", format!("{kind} not found"), None)
            }
            Error::AlreadyExists { kind, field } => (
                StatusCode::CONFLICT,
                "already_exists",
                format!("{kind} with this {field} already exists"),
                Some(problems(&[Violation::new(field.clone(), ViolationCode::Duplicate, "already exists")])),
            ),
            Error::Invalid(violations) => {
                let first =
                    violations.first().map(|v| format!("{}: {}", v.path, v.message)).unwrap_or_default();
                // Well-formed input that names objects which do not exist is 422; anything
                // malformed makes the whole request a 400.
                if violations.iter().all(|v| v.code == ViolationCode::InvalidReference) {
                    (StatusCode::UNPROCESSABLE_ENTITY, "invalid_reference", first, Some(problems(violations)))
                } else {
                    (StatusCode::BAD_REQUEST, "invalid_request", first, Some(problems(violations)))
                }
            }
            Error::BadRequest(BadRequest::MalformedBody { path, message }) => {
                let path = path.clone().unwrap_or_default();
                let shown = if path.is_empty() { message.clone() } else { format!("{path}: {message}") };
                (
                    StatusCode::BAD_REQUEST,
                    "invalid_json",
                    shown,
                    Some(problems(&[Violation::new(path, ViolationCode::InvalidValue, message.clone())])),
                )
            }
            Error::BadRequest(BadRequest::TooLarge { limit }) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("request body exceeds {limit} bytes"),
                None,
            ),
            Error::BadRequest(BadRequest::BodyTimeout { limit_ms }) => (
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!("the request body did not arrive within {limit_ms} ms"),
                None,
            ),
            Error::BadRequest(BadRequest::UnsupportedMediaType) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "request body must be sent as application/json".into(),
                None,
            ),
            Error::BadRequest(BadRequest::MalformedParameter { name, message }) => (
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                format!("{name}: {message}"),
                Some(problems(&[Violation::new(name.clone(), ViolationCode::InvalidValue, message.clone())])),
            ),
            Error::BadRequest(BadRequest::MissingArgument { path }) => {
                let path = path.join(".");
                (
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    format!("{path}: is required"),
                    Some(problems(&[Violation::new(path, ViolationCode::Required, "is required")])),
                )
            }
            Error::BadRequest(BadRequest::InvalidArgument { path, message, issue, .. }) => {
                let path = path.join(".");
                let message = message.clone().unwrap_or_else(|| issue.replace('_', " "));
                (
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    format!("{path}: {message}"),
                    Some(problems(&[Violation::new(path, ViolationCode::InvalidValue, message)])),
                )
            }
            Error::Conflict(message) => (StatusCode::CONFLICT, "conflict", message.clone(), None),
            Error::InUse { kind, used_by } => (
                StatusCode::CONFLICT,
                "in_use",
                format!("the {kind} is in use ({}); delete or move them first", used_by_text(used_by)),
                Some(Details::InUse {
                    used_by: used_by.iter().map(|u| UsedByView { kind: u.kind, count: u.count }).collect(),
                }),
            ),
            Error::NotAllocated => (
                StatusCode::CONFLICT,
                "not_allocated",
                "the address is not allocated to anything".into(),
                None,
            ),
            // Not transient: the network is full until addresses are released.
            Error::NoAvailableAddresses => (
                StatusCode::CONFLICT,
                "no_available_addresses",
                "the network has no address of that version left".into(),
                None,
            ),
            Error::Unauthenticated(why) => {
                let (code, message) = match why {
                    Unauthenticated::MissingCredentials => {
                        ("missing_token", "send an API token as `Authorization: Bearer <token>`")
                    }
                    Unauthenticated::InvalidCredentials => ("invalid_token", "the API token is not valid"),
                    Unauthenticated::ExpiredCredentials => ("token_expired", "the API token has expired"),
                };
                (StatusCode::UNAUTHORIZED, code, message.into(), None)
            }
            Error::Forbidden(why) => match why {
                Forbidden::MissingScope(scopes) => (
                    StatusCode::FORBIDDEN,
                    "scope_not_granted",
                    "the API token lacks the scope this operation needs".into(),
                    Some(Details::Scopes { scopes: scopes.clone() }),
                ),
                Forbidden::NetworkNotAllowed(ip) => (
                    StatusCode::FORBIDDEN,
                    "network_not_allowed",
                    format!("the API token may not be used from {ip}"),
                    Some(Details::Network { ip_address: ip.to_string() }),
                ),
                Forbidden::OrganizationSuspended => (
                    StatusCode::FORBIDDEN,
                    "organization_suspended",
                    "the organization is suspended".into(),
                    None,
                ),
                Forbidden::OrganizationNotActivated => (
                    StatusCode::FORBIDDEN,
                    "organization_not_activated",
                    "the organization has not been activated".into(),
                    None,
                ),
                Forbidden::ResourceCreationRestricted => (
                    StatusCode::FORBIDDEN,
                    "resource_creation_restricted",
                    "the organization may not create resources".into(),
                    None,
                ),
                Forbidden::OperatorOnly => (
                    StatusCode::FORBIDDEN,
                    "operator_only",
                    "only the operator token may do this".into(),
                    None,
                ),
                Forbidden::AgentTokenOnly => {
                    (StatusCode::FORBIDDEN, "agent_token", crate::frame::AGENT_TOKEN_ONLY.into(), None)
                }
            },
            Error::RateLimited { what, limit, retry_after } => (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("more than {limit} {what} per minute; retry in {retry_after} s"),
                Some(Details::RateLimit { limit: *limit, retry_after: *retry_after }),
            ),
            Error::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "the service is temporarily unavailable; retry shortly".into(),
                None,
            ),
            Error::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "an internal error occurred".into(),
                None,
            ),
        }
    }
}

impl IntoResponse for NativeError {
    fn into_response(self) -> Response {
        crate::frame::log(&self.0);
        let (status, code, message, details) = self.parts();
        let mut response =
            (status, Json(ErrorBody { error: ErrorDetail { code, message, details } })).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        crate::frame::retry_after(&self.0, response)
    }
}

/// A wrong method on a native or probe path.
pub fn method_not_allowed() -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: "method_not_allowed",
            message: "this route does not accept that method".into(),
            details: None,
        },
    };
    (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}
