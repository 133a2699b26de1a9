//! The Katapult face's one error renderer: every [`palisade_core::Error`] becomes Apia's nested
//! envelope `{"error":{"code","description","detail"}}` with the vendor's status, exact
//! description strings, and `X-Api-Schema: json-error`. `detail` is a typed [`Detail`], so its
//! keys come out in the order Apia builds them (a `json!` object would sort them).

use axum::http::StatusCode;
use palisade_core::error::{BadRequest, Forbidden, Unauthenticated, ViolationCode};
use palisade_core::scope::Scope;
use palisade_core::Error;
use serde::Serialize;

/// What the renderer needs to know about the request.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    pub method: String,
    /// The path after `/core/v1/`.
    pub api_path: String,
}

/// Code, status, description and detail of an error.
#[derive(Debug)]
pub struct Rendered {
    pub status: StatusCode,
    pub code: String,
    pub description: String,
    pub detail: Detail,
    /// `Retry-After` in seconds (rate limits).
    pub retry_after: Option<u64>,
}

/// An error's `detail`: each shape's keys in the order Apia emits them. The argument errors
/// follow `krystal/apia` (`InvalidArgumentError#hash`, `MissingArgumentError#hash`), which the
/// reference (§2.4) quotes; the others have one key or none (§6.2, and the recorded cassettes).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Detail {
    /// `{}`.
    Empty {},
    Errors {
        errors: Vec<String>,
    },
    /// A string, or `null`.
    Details {
        details: Option<String>,
    },
    Scopes {
        scopes: Vec<Scope>,
    },
    IpAddress {
        ip_address: String,
    },
    TotalPermitted {
        total_permitted: u32,
    },
    MissingArgument {
        path: Vec<String>,
        argument: Argument,
    },
    InvalidArgument {
        path: Vec<String>,
        index: Option<usize>,
        issue: &'static str,
        issue_description: Option<String>,
        /// Validation names; none of Palisade's argument checks produces one.
        errors: Vec<String>,
        /// Absent when no declared argument is at fault (a malformed query string).
        #[serde(skip_serializing_if = "Option::is_none")]
        argument: Option<Argument>,
    },
}

/// The argument an argument error names.
#[derive(Debug, Serialize)]
pub struct Argument {
    pub name: String,
}

impl Argument {
    /// The last segment of an argument path.
    fn last_of(path: &[String]) -> Self {
        Self { name: path.last().cloned().unwrap_or_default() }
    }
}

fn not_found_code(kind: &str) -> (String, String) {
    // Palisade's servers are Katapult's virtual machines.
    let kind = if kind == palisade_core::id::ServerId::KIND { "virtual machine" } else { kind };
    let code = format!("{}_not_found", kind.replace(' ', "_"));
    let description = match kind {
        "ip address" => {
            "No IP addresses were found matching any of the criteria provided in the arguments".to_owned()
        }
        "address list" => {
            "No address list was found matching any of the criteria provided in the arguments.".to_owned()
        }
        other => format!("No {other} was found matching any of the criteria provided in the arguments"),
    };
    (code, description)
}

/// `interfaces[0].name` → `Name`; `reverse_dns` → `Reverse dns` (Rails' humanize).
fn humanize(path: &str) -> String {
    let last = path.rsplit('.').next().unwrap_or(path);
    let last = last.split('[').next().unwrap_or(last);
    let text = last.trim_end_matches("_id").replace('_', " ");
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A Rails-style validation message: `Label can't be blank`.
pub fn full_message(path: &str, message: &str) -> String {
    if path.is_empty() {
        message.to_owned()
    } else {
        format!("{} {message}", humanize(path))
    }
}

/// A core field path as Apia's argument path and index: `rules[2].notes` → (`rules.notes`, 2).
fn argument_path(path: &str) -> (Vec<String>, Option<usize>) {
    let mut index = None;
    let parts = path
        .split('.')
        .filter(|p| !p.is_empty())
        .map(|part| match part.split_once('[') {
            Some((name, rest)) => {
                index = index.or_else(|| rest.trim_end_matches(']').parse().ok());
                name.to_owned()
            }
            None => part.to_owned(),
        })
        .collect();
    (parts, index)
}

/// Apia's 400 `invalid_argument`. `named`: the detail names the argument (the path's last
/// segment); a malformed query string names none.
fn invalid_argument(
    path: Vec<String>,
    index: Option<usize>,
    issue: &'static str,
    issue_description: Option<String>,
    named: bool,
) -> (StatusCode, &'static str, String, Detail) {
    let description = format!("The '{}' argument is invalid", path.join("."));
    let argument = named.then(|| Argument::last_of(&path));
    let detail =
        Detail::InvalidArgument { path, index, issue, issue_description, errors: Vec::new(), argument };
    (StatusCode::BAD_REQUEST, "invalid_argument", description, detail)
}

const VALIDATION: &str = "A validation error occurred with the object that was being created/updated/deleted";

pub fn render(error: &Error, info: &RequestInfo) -> Rendered {
    crate::frame::log(error);
    let (status, code, description, detail): (StatusCode, &str, String, Detail) = match error {
        Error::NotFound { kind: "route" } => (
            StatusCode::NOT_FOUND,
            "route_not_found",
            format!("No route matches '{}' for {}", info.api_path, info.method),
            Detail::Empty {},
        ),
        Error::NotFound { kind } => {
            let (code, description) = not_found_code(kind);
            return Rendered {
                status: StatusCode::NOT_FOUND,
                code,
                description,
                detail: Detail::Empty {},
                retry_after: None,
            };
        }
        Error::AlreadyExists { field, .. } => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            VALIDATION.into(),
            Detail::Errors { errors: vec![full_message(field, "has already been taken")] },
        ),
        // Characters no value may hold: a bad argument (400), as Apia refuses arguments, not
        // a validation of the object (422). `annotations[0].value` → path
        // `["annotations", "value"]`, index 0.
        Error::Invalid(violations) if violations.iter().any(|v| v.code == ViolationCode::InvalidCharacters) => {
            let v = violations.iter().find(|v| v.code == ViolationCode::InvalidCharacters);
            let (path, index) = argument_path(v.map(|v| v.path.as_str()).unwrap_or_default());
            invalid_argument(path, index, "invalid_characters", v.map(|v| v.message.clone()), true)
        }
        Error::Invalid(violations) => {
            let errors: Vec<String> = violations
                .iter()
                .map(|v| match v.code {
                    ViolationCode::InvalidReference => full_message(&v.path, "is invalid"),
                    _ => full_message(&v.path, &v.message),
                })
                .collect();
            (StatusCode::UNPROCESSABLE_ENTITY, "validation_error", VALIDATION.into(), Detail::Errors { errors })
        }
        Error::BadRequest(BadRequest::MalformedBody { message, .. }) => (
            StatusCode::BAD_REQUEST,
            "invalid_json_body",
            "The JSON body provided with this request is invalid".into(),
            Detail::Details { details: Some(message.clone()) },
        ),
        Error::BadRequest(BadRequest::TooLarge { limit }) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("The request body is larger than {limit} bytes"),
            Detail::Empty {},
        ),
        Error::BadRequest(BadRequest::BodyTimeout { limit_ms }) => (
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!("The request body was not received within {limit_ms} ms"),
            Detail::Empty {},
        ),
        Error::BadRequest(BadRequest::UnsupportedMediaType) => (
            StatusCode::BAD_REQUEST,
            "invalid_json_body",
            "The JSON body provided with this request is invalid".into(),
            Detail::Details { details: Some("unsupported content type".into()) },
        ),
        Error::BadRequest(BadRequest::MalformedParameter { name, message }) => {
            invalid_argument(vec![name.clone()], None, "parse_error", Some(message.clone()), false)
        }
        Error::BadRequest(BadRequest::MissingArgument { path }) => (
            StatusCode::BAD_REQUEST,
            "missing_required_argument",
            format!("The '{}' argument is required but has not been provided", path.join(".")),
            Detail::MissingArgument { path: path.clone(), argument: Argument::last_of(path) },
        ),
        Error::BadRequest(BadRequest::InvalidArgument { path, index, issue, message }) => {
            invalid_argument(path.clone(), *index, issue, message.clone(), true)
        }
        Error::Conflict(message) => (
            StatusCode::CONFLICT,
            "deletion_restricted",
            "Object cannot be deleted".into(),
            Detail::Errors { errors: vec![message.clone()] },
        ),
        Error::InUse { .. } => (
            StatusCode::CONFLICT,
            "deletion_restricted",
            "Object cannot be deleted".into(),
            Detail::Errors { errors: vec![error.to_string()] },
        ),
        Error::NotAllocated => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_allocation",
            "This IP address is not currently allocated to any object, and cannot be unallocated.".into(),
            Detail::Empty {},
        ),
        Error::NoAvailableAddresses => (
            StatusCode::SERVICE_UNAVAILABLE,
            "no_available_addresses",
            "Our pool of addresses for that version seems to have run dry. If this issue continues, please contact support.".into(),
            Detail::Empty {},
        ),
        Error::Unauthenticated(Unauthenticated::MissingCredentials) => (
            StatusCode::BAD_REQUEST,
            "missing_api_token",
            "No API token was provided in the Authorization header. Ensure a token is provided prefixed with Bearer".into(),
            Detail::Empty {},
        ),
        Error::Unauthenticated(why) => (
            StatusCode::FORBIDDEN,
            "invalid_api_token",
            "The API token provided was not valid (it may not exist or have expired)".into(),
            Detail::Details {
                details: (*why == Unauthenticated::ExpiredCredentials).then(|| "The API token has expired".into()),
            },
        ),
        Error::Forbidden(why) => match why {
            Forbidden::MissingScope(scopes) => (
                StatusCode::FORBIDDEN,
                "scope_not_granted",
                "The scope required for this endpoint has not been granted to the authenticating identity".into(),
                Detail::Scopes { scopes: scopes.clone() },
            ),
            Forbidden::NetworkNotAllowed(ip) => (
                StatusCode::FORBIDDEN,
                "unauthorized_network_for_api_token",
                "Network is not allowed to access the API with this API token".into(),
                Detail::IpAddress { ip_address: ip.to_string() },
            ),
            Forbidden::OrganizationSuspended => (
                StatusCode::FORBIDDEN,
                "organization_suspended",
                "An organization was found from the arguments provided but it was suspended".into(),
                Detail::Empty {},
            ),
            Forbidden::OrganizationNotActivated => (
                StatusCode::FORBIDDEN,
                "organization_not_activated",
                "An organization was found from the arguments provided but it wasn't activated yet".into(),
                Detail::Empty {},
            ),
            Forbidden::ResourceCreationRestricted => (
                StatusCode::FORBIDDEN,
                "resource_creation_restricted",
                "The organization chosen is not permitted to create resources".into(),
                Detail::Errors { errors: vec!["Resource creation is restricted for this organization".into()] },
            ),
            Forbidden::OperatorOnly | Forbidden::AgentTokenOnly => (
                StatusCode::FORBIDDEN,
                "permission_denied",
                "The authenticated identity is not permitted to perform this action".into(),
                Detail::Details { details: None },
            ),
        },
        // Katapult's body for its per-token limit; failed authentications use the same one.
        Error::RateLimited { limit, .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limit_reached",
            "You have reached the rate limit for this type of request".into(),
            Detail::TotalPermitted { total_permitted: *limit },
        ),
        Error::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "The service is currently unavailable, please try again later".into(),
            Detail::Empty {},
        ),
        Error::Internal(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "unhandled_exception",
            "An unhandled exception occurred while processing this request".into(),
            Detail::Empty {},
        ),
    };
    Rendered { status, code: code.to_owned(), description, detail, retry_after: error.retry_after() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_paths() {
        assert_eq!(
            argument_path("annotations[0].value"),
            (vec!["annotations".into(), "value".into()], Some(0))
        );
        assert_eq!(argument_path("organization.sub_domain").1, None);
        assert_eq!(argument_path(""), (vec![], None));
    }

    #[test]
    fn servers_are_virtual_machines() {
        assert_eq!(
            not_found_code("server"),
            (
                "virtual_machine_not_found".to_owned(),
                "No virtual machine was found matching any of the criteria provided in the arguments"
                    .to_owned()
            )
        );
        assert_eq!(not_found_code("virtual machine group").0, "virtual_machine_group_not_found");
    }

    #[test]
    fn rails_messages() {
        assert_eq!(full_message("label", "can't be blank"), "Label can't be blank");
        assert_eq!(full_message("properties.reverse_dns", "is invalid"), "Reverse dns is invalid");
        assert_eq!(full_message("network_id", "is invalid"), "Network is invalid");
    }
}
