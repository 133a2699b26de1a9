//! The Hostway face's one error renderer: OpenStack single-key faults extended by Hostway with
//! `details` and `errorid` (a fresh UUID per error), keys in the documented order
//! `{"<fault>": {"message", "code", "details", "errorid"}}`, and the plain-text 401.
//!
//! | core error | status | body |
//! | --- | --- | --- |
//! | unauthenticated | 401 | Hostway's plain-text message, `WWW-Authenticate: Basic` |
//! | not found | 404 | `itemNotFound` "Resource not found" |
//! | invalid, bad request | 400 | `badRequest` "Invalid", `details` says what (empty for an empty body, as documented) |
//! | group name taken | 409 | `computeFault` "GroupNameError", `"code": 400`, "Display name in use" (founding document) |
//! | other conflicts | 409 | `computeFault` "Conflict", `"code": 409` |
//! | forbidden | 403 | `forbidden` |
//! | wrong method | 405 | `badMethod` |
//! | body too large, rate limited | 413, 429 | `overLimit` (429: with `Retry-After`) |
//! | a body that is not JSON | 415 | `badMediaType` |
//! | unavailable | 503 | `serviceUnavailable` |
//! | internal | 500 | `computeFault` (details logged, never shown) |

use axum::http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use palisade_core::error::{BadRequest, Forbidden};
use palisade_core::Error;
use serde::Serialize;

use super::views::one;
use crate::frame::request_id;

/// Hostway's 401 body (an Apache/Paste message; note the two spaces after "requested.").
pub const UNAUTHORIZED_BODY: &str = "401 Unauthorized\nThis server could not verify that you are authorized to access the document you requested.  Either you supplied the wrong credentials (e.g., bad password), or your browser does not understand how to supply the credentials required.";

/// A core error on its way to a Hostway client.
#[derive(Debug)]
pub struct HostwayError(pub Error);

impl From<Error> for HostwayError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

/// A fault's fields in the documented order (reference §4.4, and the founding document's
/// examples): serialized as declared, never through a `serde_json::Value`, which would sort them.
#[derive(Serialize)]
struct Fault {
    message: &'static str,
    code: u16,
    details: String,
    errorid: String,
}

fn fault(
    status: StatusCode,
    name: &'static str,
    message: &'static str,
    code: u16,
    details: String,
) -> Response {
    let body = Fault { message, code, details, errorid: request_id::current() };
    (status, one(name, body)).into_response()
}

fn bad_request(details: String) -> Response {
    fault(StatusCode::BAD_REQUEST, "badRequest", "Invalid", 400, details)
}

/// Core field paths in Hostway's vocabulary.
fn field(path: &str) -> String {
    match path {
        "name" => "displayName".into(),
        "remotes[0]" => "cidr".into(),
        "per_page" => "pageSize".into(),
        // The account a path names by sub-domain (`/accounts/{accountId}/…`).
        "organization.sub_domain" => "accountId".into(),
        other => other.to_owned(),
    }
}

fn forbidden_details(reason: &Forbidden) -> String {
    match reason {
        Forbidden::MissingScope(scopes) => {
            let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
            format!("the credential lacks the scope {}", names.join(" or "))
        }
        Forbidden::NetworkNotAllowed(ip) => format!("this credential may not be used from {ip}"),
        Forbidden::OrganizationSuspended => "the account is suspended".into(),
        Forbidden::OrganizationNotActivated => "the account is not activated".into(),
        Forbidden::ResourceCreationRestricted => "the account may not create resources".into(),
        Forbidden::OperatorOnly => "name the account in the path, or use an account's credentials".into(),
        Forbidden::AgentTokenOnly => crate::frame::AGENT_TOKEN_ONLY.into(),
    }
}

impl IntoResponse for HostwayError {
    fn into_response(self) -> Response {
        crate::frame::log(&self.0);
        let response = match &self.0 {
            Error::Unauthenticated(_) => {
                let mut response = (StatusCode::UNAUTHORIZED, UNAUTHORIZED_BODY).into_response();
                let headers = response.headers_mut();
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=UTF-8"));
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"Hostway API\""));
                response
            }
            Error::NotFound { .. } => {
                fault(StatusCode::NOT_FOUND, "itemNotFound", "Resource not found", 404, String::new())
            }
            Error::Invalid(violations) => bad_request(
                violations
                    .iter()
                    .map(|v| match field(&v.path) {
                        path if path.is_empty() => v.message.clone(),
                        path => format!("{path}: {}", v.message),
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Error::BadRequest(BadRequest::TooLarge { limit }) => fault(
                StatusCode::PAYLOAD_TOO_LARGE,
                "overLimit",
                "Request body too large",
                413,
                format!("the request body exceeds {limit} bytes"),
            ),
            Error::BadRequest(BadRequest::MalformedBody { message, .. }) => bad_request(message.clone()),
            Error::BadRequest(BadRequest::MissingArgument { path }) => {
                bad_request(format!("{} is required", path.join(".")))
            }
            Error::BadRequest(BadRequest::InvalidArgument { path, message, issue, .. }) => {
                bad_request(format!("{}: {}", path.join("."), message.as_deref().unwrap_or(issue)))
            }
            Error::BadRequest(BadRequest::MalformedParameter { name, message }) => {
                bad_request(format!("{name}: {message}"))
            }
            Error::BadRequest(BadRequest::BodyTimeout { limit_ms }) => fault(
                StatusCode::REQUEST_TIMEOUT,
                "requestTimeout",
                "Request timeout",
                408,
                format!("the request body did not arrive within {limit_ms} ms"),
            ),
            Error::BadRequest(BadRequest::UnsupportedMediaType) => fault(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "badMediaType",
                "Unsupported media type",
                415,
                "send application/json".into(),
            ),
            Error::AlreadyExists { field, .. } if field == "name" => fault(
                StatusCode::CONFLICT,
                "computeFault",
                "GroupNameError",
                400,
                "Display name in use".into(),
            ),
            Error::AlreadyExists { kind, field } => fault(
                StatusCode::CONFLICT,
                "computeFault",
                "Conflict",
                409,
                format!("a {kind} with this {field} already exists"),
            ),
            Error::Conflict(message) => {
                fault(StatusCode::CONFLICT, "computeFault", "Conflict", 409, message.clone())
            }
            in_use @ Error::InUse { .. } => {
                fault(StatusCode::CONFLICT, "computeFault", "Conflict", 409, in_use.to_string())
            }
            Error::NoAvailableAddresses => bad_request("the network has no address left".into()),
            Error::NotAllocated => bad_request("the address is not allocated".into()),
            Error::Forbidden(reason) => {
                fault(StatusCode::FORBIDDEN, "forbidden", "Forbidden", 403, forbidden_details(reason))
            }
            Error::RateLimited { what, limit, retry_after } => fault(
                StatusCode::TOO_MANY_REQUESTS,
                "overLimit",
                "Rate limit exceeded",
                429,
                format!("more than {limit} {what} per minute; retry in {retry_after} s"),
            ),
            Error::Unavailable(_) => fault(
                StatusCode::SERVICE_UNAVAILABLE,
                "serviceUnavailable",
                "Service unavailable",
                503,
                "try again later".into(),
            ),
            Error::Internal(_) => {
                fault(StatusCode::INTERNAL_SERVER_ERROR, "computeFault", "Internal error", 500, String::new())
            }
        };
        crate::frame::retry_after(&self.0, response)
    }
}

/// A Hostway path asked with a method it does not serve.
pub fn method_not_allowed() -> Response {
    fault(
        StatusCode::METHOD_NOT_ALLOWED,
        "badMethod",
        "Method not allowed",
        405,
        "this resource does not accept that method".into(),
    )
}
