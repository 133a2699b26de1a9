//! The ZStack face's one error renderer.
//!
//! ZStack answers in two ways (reference §2.5, §2.6):
//!
//! - **front-end problems** (no or malformed `Authorization`, a bad `X-Job-UUID`, a body that is
//!   not JSON, a missing action key, an unknown route or method, bad query syntax): a plain-text
//!   status, before any API runs;
//! - **API failures**: `503` with `{"error":{"code","description","details"}}` (nulls omitted):
//!   on a synchronous call directly, on an asynchronous one as the answer of its job.
//!
//! | core error | code | description |
//! | --- | --- | --- |
//! | invalid, bad argument, name taken, id taken | `SYS.1007` | One or more API argument is invalid |
//! | not found | `SYS.1003` | A resource can not be found |
//! | conflict | `SYS.1006` | An operation failed |
//! | unauthenticated (unknown or expired session) | `ID.1001` | The session is invalid, … |
//! | forbidden | `ID.1002` | The user doesn't have permission to perform the operation |
//! | internal, unavailable | `SYS.1000` | An internal error happened in system |
//!
//! Failed-authentication limits (`429`) and body limits (`413`, `408`) are front-end refusals in
//! plain text; ZStack has none of its own.

use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use palisade_core::error::{BadRequest, Violation, ViolationCode};
use palisade_core::Error;
use serde::Serialize;

/// A refusal on its way to a ZStack client.
#[derive(Debug)]
pub enum ZStackError {
    /// A front-end refusal: status and plain text.
    Front(StatusCode, String),
    /// An API failure (`503` JSON, directly or through a job).
    Api(Error),
    /// A failed sign-in (`ID.1000`).
    SignIn,
    /// A sign-in beyond the user's open sessions (`ID.1006`).
    TooManySessions(String),
}

impl From<Error> for ZStackError {
    fn from(e: Error) -> Self {
        match &e {
            Error::BadRequest(BadRequest::TooLarge { limit }) => ZStackError::Front(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body exceeds {limit} bytes"),
            ),
            Error::BadRequest(BadRequest::BodyTimeout { limit_ms }) => ZStackError::Front(
                StatusCode::REQUEST_TIMEOUT,
                format!("the request body did not arrive within {limit_ms} ms"),
            ),
            Error::BadRequest(BadRequest::MalformedBody { message, .. }) => {
                ZStackError::Front(StatusCode::BAD_REQUEST, message.clone())
            }
            Error::RateLimited { limit, what, .. } => ZStackError::Front(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many {what}: at most {limit} per minute"),
            ),
            _ => ZStackError::Api(e),
        }
    }
}

/// `{"error": ErrorCode}`, fields in ZStack's order.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub error: ErrorCode,
}

#[derive(Debug, Serialize)]
pub struct ErrorCode {
    pub code: &'static str,
    pub description: &'static str,
    pub details: String,
}

/// ZStack's error code, description and details for a core error.
pub fn error_code(error: &Error) -> ErrorCode {
    const INVALID: (&str, &str) = ("SYS.1007", "One or more API argument is invalid");
    const NOT_FOUND: (&str, &str) = ("SYS.1003", "A resource can not be found");
    const FAILED: (&str, &str) = ("SYS.1006", "An operation failed");
    const INTERNAL: (&str, &str) = ("SYS.1000", "An internal error happened in system");
    let ((code, description), details) = match error {
        // A reference to something that does not exist (a remote group) is ZStack's resource
        // check, not an argument's.
        Error::Invalid(violations) => {
            let missing = violations.iter().all(|v| v.code == ViolationCode::InvalidReference);
            (
                if missing { NOT_FOUND } else { INVALID },
                violations.iter().map(violation).collect::<Vec<_>>().join("; "),
            )
        }
        Error::BadRequest(BadRequest::MissingArgument { path }) => {
            (INVALID, format!("field[{}] is mandatory, can not be null", path.join(".")))
        }
        Error::BadRequest(BadRequest::InvalidArgument { path, message, issue, .. }) => {
            (INVALID, format!("invalid field[{}]: {}", path.join("."), message.as_deref().unwrap_or(issue)))
        }
        Error::BadRequest(BadRequest::MalformedParameter { name, message }) => {
            (INVALID, format!("invalid field[{name}]: {message}"))
        }
        Error::BadRequest(other) => (INVALID, format!("{other:?}")),
        Error::AlreadyExists { kind, field } if field == "id" => {
            (INVALID, format!("the uuid is already used by another {kind}; give another resourceUuid"))
        }
        Error::AlreadyExists { kind, field } => {
            (INVALID, format!("a {kind} with this {field} already exists in the account"))
        }
        Error::NotFound { kind } => (NOT_FOUND, format!("the {kind} is not found")),
        Error::Conflict(message) => (FAILED, message.clone()),
        Error::NotAllocated | Error::NoAvailableAddresses | Error::InUse { .. } => {
            (FAILED, error.to_string())
        }
        Error::Unauthenticated(_) => (
            ("ID.1001", "The session is invalid, either wrong session id or the session has been expired"),
            "Session expired".to_owned(),
        ),
        Error::Forbidden(reason) => {
            (("ID.1002", "The user doesn't have permission to perform the operation"), format!("{reason:?}"))
        }
        Error::RateLimited { .. } | Error::Unavailable(_) | Error::Internal(_) => {
            (INTERNAL, "an internal error happened; the server's log says more".to_owned())
        }
    };
    ErrorCode { code, description, details }
}

fn violation(v: &Violation) -> String {
    if v.path.is_empty() {
        v.message.clone()
    } else {
        format!("field[{}] {}", v.path, v.message)
    }
}

/// The body of an API failure, as a response or a job's answer stores it.
pub fn error_json(error: &Error) -> String {
    crate::frame::log(error);
    serde_json::to_string(&ErrorBody { error: error_code(error) }).unwrap_or_default()
}

/// A plain-text answer, as ZStack's REST front end writes its own refusals.
pub fn plain(status: StatusCode, text: impl Into<String>) -> Response {
    let mut response = (status, text.into()).into_response();
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=UTF-8"));
    response
}

/// A JSON answer.
pub fn json(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json; charset=UTF-8"));
    response
}

impl IntoResponse for ZStackError {
    fn into_response(self) -> Response {
        match self {
            ZStackError::Front(status, text) => plain(status, text),
            ZStackError::Api(error) => {
                let response = json(StatusCode::SERVICE_UNAVAILABLE, error_json(&error));
                crate::frame::retry_after(&error, response)
            }
            ZStackError::SignIn => {
                crate::metrics::auth_failure("zstack");
                coded("ID.1000", "Unable to authenticate a user", "wrong account name or password".into())
            }
            ZStackError::TooManySessions(details) => {
                coded("ID.1006", "The number of sessions of the user exceeds the limit", details)
            }
        }
    }
}

/// A `503` with an error code of ZStack's identity module.
fn coded(code: &'static str, description: &'static str, details: String) -> Response {
    let body = ErrorBody { error: ErrorCode { code, description, details } };
    json(StatusCode::SERVICE_UNAVAILABLE, serde_json::to_string(&body).unwrap_or_default())
}

/// A core error raised outside a handler (limits, readiness, unknown routes) on a ZStack path.
pub fn render(error: Error, path: &str) -> Response {
    match error {
        Error::NotFound { kind: "route" } => {
            let api = path.strip_prefix(super::PREFIX_ROOT).unwrap_or(path);
            plain(StatusCode::NOT_FOUND, format!("no api mapping to {api}"))
        }
        other => ZStackError::from(other).into_response(),
    }
}

/// A known ZStack path asked with a method it does not serve.
pub fn method_not_allowed(path: &str) -> Response {
    if path.contains("/api-jobs/") {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "only GET method is allowed for querying job status");
    }
    let api = path.strip_prefix(super::PREFIX_ROOT).unwrap_or(path);
    plain(StatusCode::METHOD_NOT_ALLOWED, format!("no api mapping to {api} for this HTTP method"))
}
