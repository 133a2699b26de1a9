//! The one transport-neutral error type (design invariant 3).
//!
//! Every failure in Palisade, from a malformed JSON body to a unique-index violation in the
//! database, becomes an [`Error`]. Each API face has exactly one renderer that maps it to the
//! vendor's status code and envelope, so no face can leak a framework default body and every
//! face reports the same failure for the same cause.

use std::net::IpAddr;

use crate::scope::Scope;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of problem a [`Violation`] describes. Faces map these to vendor codes
/// (Defined's `ERR_INVALID_VALUE_LENGTH`, Katapult's `validation_error`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViolationCode {
    /// A required value is absent.
    Required,
    /// A value has the wrong shape or is out of range.
    InvalidValue,
    /// A string or list is too short or too long.
    InvalidLength,
    /// A value must be unique and is not (within the request, or in the database).
    Duplicate,
    /// A reference to another object that does not exist or is not visible to the caller.
    InvalidReference,
    /// The field is not known to the endpoint.
    UnknownField,
    /// A string holds characters it may not: NUL anywhere, or control characters in a name.
    /// Such a value cannot name anything and cannot be stored on every backend, so every face
    /// refuses it as a bad argument (400), never as a failed lookup or a validation of the
    /// object.
    InvalidCharacters,
}

/// One problem with one input field, identified by its path (`interfaces[0].network_id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub path: String,
    pub code: ViolationCode,
    pub message: String,
}

impl Violation {
    pub fn new(path: impl Into<String>, code: ViolationCode, message: impl Into<String>) -> Self {
        Self { path: path.into(), code, message: message.into() }
    }
}

/// Why a request body could not be read at all (before any field is looked at).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadRequest {
    /// Not JSON, or JSON of the wrong shape. `path` is where the parser stopped, if known.
    MalformedBody { path: Option<String>, message: String },
    /// The body exceeded the configured limit (bytes).
    TooLarge { limit: usize },
    /// The whole body did not arrive within the configured time after the request's head.
    BodyTimeout { limit_ms: u64 },
    /// The body was not sent as JSON.
    UnsupportedMediaType,
    /// A query-string or path parameter could not be parsed.
    MalformedParameter { name: String, message: String },
    /// A required argument (from any source a face reads arguments from) is absent.
    MissingArgument { path: Vec<String> },
    /// An argument is present but unusable. `issue` is a short machine name
    /// (`invalid_scalar`, `missing_lookup_value`, ...), `message` says what is wrong.
    InvalidArgument { path: Vec<String>, index: Option<usize>, issue: &'static str, message: Option<String> },
}

/// Why an authenticated caller may not do what it asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forbidden {
    /// The credential lacks every one of these scopes (any one would do).
    MissingScope(Vec<Scope>),
    /// The credential may only be used from certain networks.
    NetworkNotAllowed(IpAddr),
    OrganizationSuspended,
    OrganizationNotActivated,
    /// The organization may not create resources right now.
    ResourceCreationRestricted,
    /// Only the operator may do this.
    OperatorOnly,
    /// An agent token may only read its own server's policy and report its enforcement.
    AgentTokenOnly,
}

/// How many objects of one kind use an object that is to be deleted ([`Error::InUse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsedBy {
    /// The kind, plural, as the native API names it: `servers`, `ip_addresses`, `networks`,
    /// `security_groups`.
    pub kind: &'static str,
    pub count: u64,
}

/// `servers: 2, ip_addresses: 1`: what [`Error::InUse`] says uses the object.
pub fn used_by_text(used_by: &[UsedBy]) -> String {
    let parts: Vec<String> = used_by.iter().map(|u| format!("{}: {}", u.kind, u.count)).collect();
    if parts.is_empty() {
        "other objects".to_owned()
    } else {
        parts.join(", ")
    }
}

/// Why a caller could not be identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unauthenticated {
    MissingCredentials,
    InvalidCredentials,
    ExpiredCredentials,
}

/// What a rate limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimit {
    /// Requests of one credential (Katapult's per-token limit).
    Requests,
    /// Failed authentications, per source address or per username (every face).
    FailedAuthentications,
}

impl std::fmt::Display for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RateLimit::Requests => "requests",
            RateLimit::FailedAuthentications => "failed authentications",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{kind} not found")]
    NotFound { kind: &'static str },

    /// A unique value is taken. `field` is the path of the input field that holds it.
    #[error("{kind} with this {field} already exists")]
    AlreadyExists { kind: &'static str, field: String },

    #[error("invalid input: {}", .0.first().map(|v| format!("{}: {}", v.path, v.message)).unwrap_or_default())]
    Invalid(Vec<Violation>),

    #[error("bad request: {0:?}")]
    BadRequest(BadRequest),

    #[error("conflict: {0}")]
    Conflict(String),

    /// The object cannot be deleted while others use it: `used_by` says how many of each kind
    /// (only kinds with at least one), so a client knows what to delete or move first.
    #[error("the {kind} is in use ({})", used_by_text(.used_by))]
    InUse { kind: &'static str, used_by: Vec<UsedBy> },

    /// An address was to be unallocated but is not allocated to anything.
    #[error("the address is not allocated")]
    NotAllocated,

    /// The network has no address of the requested version left to hand out.
    #[error("no available addresses")]
    NoAvailableAddresses,

    #[error("unauthenticated: {0:?}")]
    Unauthenticated(Unauthenticated),

    #[error("forbidden: {0:?}")]
    Forbidden(Forbidden),

    /// Too many requests (or failed authentications) in a window: `limit` per minute, and the
    /// next attempt may succeed in `retry_after` seconds (at least 1), sent as `Retry-After`.
    #[error("rate limited: {limit} {what} per minute")]
    RateLimited { what: RateLimit, limit: u32, retry_after: u64 },

    #[error("unavailable: {0}")]
    Unavailable(String),

    /// Something went wrong that the caller cannot fix. The message is for logs only; renderers
    /// never show it to clients.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn not_found(kind: &'static str) -> Self {
        Self::NotFound { kind }
    }

    pub fn invalid(path: impl Into<String>, code: ViolationCode, message: impl Into<String>) -> Self {
        Self::Invalid(vec![Violation::new(path, code, message)])
    }

    pub fn internal(context: impl std::fmt::Display) -> Self {
        Self::Internal(context.to_string())
    }

    /// Seconds after which a refused request may be retried (`Retry-After`), if this error says.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}
