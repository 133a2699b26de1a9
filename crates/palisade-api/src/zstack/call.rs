//! How a ZStack call is received: its session, its job, its body.
//!
//! - [`SyncCall`]: a query or another synchronous API. `Authorization: OAuth <session uuid>` is
//!   required (missing or another scheme: `400` plain text); an unknown or expired session is
//!   `503 ID.1001`.
//! - [`AsyncCall`]: every other API. The same header rules, plus `X-Job-UUID` (32 hex
//!   characters, else `400`; a fresh id when absent). The operation runs at once and writes its
//!   job's answer in its own transaction; the call answers `202 {"location": …}` and the answer
//!   waits for the poll, failures included (an invalid session too), as ZStack reports them.
//!   A job id already used is `400 Duplicate job uuid[…]`, and then nothing was done.
//! - [`Body`]: the request's JSON object (`400` plain text when it is not one).

use std::future::Future;
use std::net::IpAddr;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use palisade_core::id::JobId;
use palisade_core::{Core, Error, Principal};
use serde_json::{Map, Value};

use super::error::{error_json, json, ZStackError};
use super::gson;
use crate::frame::credentials::source_ip;
use crate::AppState;

/// The session id of `Authorization: OAuth <session uuid>`.
fn session_id(parts: &Parts) -> Result<String, ZStackError> {
    let bad = |text: &str| ZStackError::Front(StatusCode::BAD_REQUEST, text.to_owned());
    let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| bad("missing header 'Authorization'"))?;
    let header = header.to_str().map_err(|_| bad("Authorization type must be 'OAuth'"))?;
    let (scheme, id) = header.split_once(' ').unwrap_or((header, ""));
    if scheme != "OAuth" {
        return Err(bad("Authorization type must be 'OAuth'"));
    }
    Ok(id.trim().to_owned())
}

/// Who a session id stands for; a failed-authentication limit is a front-end refusal.
async fn caller(core: &Core, id: &str, source: IpAddr) -> Result<Result<Principal, Error>, ZStackError> {
    match core.authenticate_session(id, source).await {
        Err(e @ Error::RateLimited { .. }) => Err(e.into()),
        outcome => {
            if let Ok(principal) = &outcome {
                crate::frame::request_id::note_principal(principal);
            }
            Ok(outcome)
        }
    }
}

/// A synchronous call's signed-in caller.
#[derive(Debug)]
pub struct SyncCall {
    pub actor: Principal,
}

impl FromRequestParts<AppState> for SyncCall {
    type Rejection = ZStackError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let id = session_id(parts)?;
        let actor = caller(&state.core, &id, source_ip(parts)).await??;
        Ok(SyncCall { actor })
    }
}

/// The caller of a poll: the session's user if the session is valid (a job of an organization
/// is its users' only), else no one (who sees only jobs refused for an invalid session).
#[derive(Debug)]
pub struct PollCall {
    pub actor: Option<Principal>,
}

impl FromRequestParts<AppState> for PollCall {
    type Rejection = ZStackError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let id = session_id(parts)?;
        Ok(PollCall { actor: caller(&state.core, &id, source_ip(parts)).await?.ok() })
    }
}

/// An asynchronous call: its caller (or why there is none), its job and where to poll it.
#[derive(Debug)]
pub struct AsyncCall {
    actor: Result<Principal, Error>,
    pub job: JobId,
    location: String,
}

impl FromRequestParts<AppState> for AsyncCall {
    type Rejection = ZStackError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let id = session_id(parts)?;
        let job = match parts.headers.get("x-job-uuid") {
            None => JobId::random(),
            Some(value) => {
                value.to_str().ok().and_then(gson::parse_uuid).map(JobId::from_uuid).ok_or_else(|| {
                    ZStackError::Front(
                        StatusCode::BAD_REQUEST,
                        "Invalid header[X-Job-UUID], it must be a UUID with '-' stripped".into(),
                    )
                })?
            }
        };
        let base = match &state.config.public_url {
            Some(url) => url.clone(),
            None => crate::forwarded::request_base(&parts.headers, &parts.uri, parts.extensions.get()),
        };
        let location = format!("{base}{}/api-jobs/{}", super::PREFIX, gson::hex(job.as_uuid()));
        let actor = caller(&state.core, &id, source_ip(parts)).await?;
        Ok(AsyncCall { actor, job, location })
    }
}

impl AsyncCall {
    /// Runs `op` as this call's job: `op` gets the caller and the job id, and writes the job's
    /// answer in its own transaction when it succeeds; a refusal (an invalid session included)
    /// is recorded as the job's answer instead. Answers `202 {"location": …}`.
    pub async fn run<F, Fut>(self, core: &Core, op: F) -> Response
    where
        F: FnOnce(Principal, JobId) -> Fut,
        Fut: Future<Output = Result<Done, ZStackError>>,
    {
        let AsyncCall { actor, job, location } = self;
        let outcome = match &actor {
            Ok(principal) => op(principal.clone(), job).await,
            Err(e) => Err(ZStackError::Api(e.clone())),
        };
        let (status, body) = match outcome {
            Ok(Done::Recorded) => return accepted(&location),
            Ok(Done::Answer(body)) => (200, body),
            Err(ZStackError::Api(Error::AlreadyExists { kind: "job", .. })) => return duplicate(job),
            Err(ZStackError::Api(e)) => (503, error_json(&e)),
            Err(front) => return front.into_response(),
        };
        match core.record_job(actor.as_ref().ok(), job, status, body).await {
            Ok(()) => accepted(&location),
            Err(Error::AlreadyExists { kind: "job", .. }) => duplicate(job),
            Err(e) => ZStackError::Api(e).into_response(),
        }
    }
}

/// What an asynchronous operation did about its job's answer.
#[derive(Debug)]
pub enum Done {
    /// The operation wrote its job's answer in its own transaction.
    Recorded,
    /// Nothing was to be done (ZStack's "success if the resource is missing"): the job answers
    /// `200` with this body.
    Answer(String),
}

fn accepted(location: &str) -> Response {
    json(StatusCode::ACCEPTED, serde_json::json!({ "location": location }).to_string())
}

fn duplicate(job: JobId) -> Response {
    ZStackError::Front(StatusCode::BAD_REQUEST, format!("Duplicate job uuid[{}]", gson::hex(job.as_uuid())))
        .into_response()
}

/// The client's address (failed-authentication limits at sign-in).
#[derive(Debug)]
pub struct Source(pub IpAddr);

impl FromRequestParts<AppState> for Source {
    type Rejection = ZStackError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        Ok(Source(source_ip(parts)))
    }
}

/// The request's JSON object; an empty body is an empty object (attach-style POSTs send none).
#[derive(Debug, Default)]
pub struct Body(pub Map<String, Value>);

impl FromRequest<AppState> for Body {
    type Rejection = ZStackError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let bytes = crate::body_limit::read(req, state.config.max_body_bytes).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body::default());
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(Body(map)),
            Ok(_) => Err(ZStackError::Front(
                StatusCode::BAD_REQUEST,
                "the request body must be a JSON object".into(),
            )),
            Err(e) => Err(ZStackError::Front(
                StatusCode::BAD_REQUEST,
                format!("the request body is not valid JSON: {e}"),
            )),
        }
    }
}

impl Body {
    /// The object under `key` (`params`, or an action's name). `None` when absent.
    pub fn section(&self, key: &str) -> Option<&Map<String, Value>> {
        self.0.get(key).and_then(Value::as_object)
    }
}
