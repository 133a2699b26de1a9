//! Sessions (`/accounts/login`, `/accounts/sessions/{uuid}`) and the poll of asynchronous calls
//! (`/api-jobs/{uuid}`).
//!
//! Sign-in takes a Palisade user's username as `accountName` and the SHA-512 hex of their
//! password (what ZStack clients send); `accountUuid` is the user's organization and `userUuid`
//! the user. Sign-in, sign-out and validation need no session, as in ZStack
//! (`@SuppressCredentialCheck`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use palisade_core::error::BadRequest;
use palisade_core::id::JobId;
use palisade_core::Error;
use serde_json::Value;

use super::call::{Body, PollCall, Source};
use super::error::{json, ZStackError};
use super::gson::{self, date, uuid, Node, Obj};
use super::views::inventory;
use crate::AppState;

/// A string field of an action's body; absent: ZStack's mandatory-field error.
fn required<'a>(section: &'a serde_json::Map<String, Value>, field: &str) -> Result<&'a str, ZStackError> {
    match section.get(field) {
        Some(Value::String(text)) => Ok(text),
        None | Some(Value::Null) => {
            Err(Error::BadRequest(BadRequest::MissingArgument { path: vec![field.to_owned()] }).into())
        }
        Some(other) => Err(ZStackError::Front(
            StatusCode::BAD_REQUEST,
            format!("[{field}] field is excepted a String, but was [{other}]."),
        )),
    }
}

/// `PUT /accounts/login` `{"logInByAccount": {"accountName", "password"}}` → `200
/// {"inventory": {uuid, accountUuid, userUuid, expiredDate, createDate}}`; wrong credentials:
/// `503 ID.1000`.
pub async fn log_in(
    State(s): State<AppState>,
    Source(source): Source,
    body: Body,
) -> Result<Response, ZStackError> {
    let Some(action) = body.section("logInByAccount") else {
        return Err(ZStackError::Front(
            StatusCode::BAD_REQUEST,
            format!("the body doesn't contain action mapping to the URL[{}/accounts/login]", super::API),
        ));
    };
    let (name, password) = (required(action, "accountName")?, required(action, "password")?);
    let opened = match s.core.open_session(name, password, source).await {
        Ok(opened) => opened,
        Err(Error::Unauthenticated(_)) => return Err(ZStackError::SignIn),
        Err(Error::Conflict(details)) => return Err(ZStackError::TooManySessions(details)),
        Err(other) => return Err(other.into()),
    };
    let session = &opened.session;
    let inventory_obj = Obj::default()
        .with("uuid", Node::from(opened.secret.expose()))
        .with("accountUuid", uuid(session.organization_id.as_uuid()))
        .with("userUuid", uuid(session.user_id.as_uuid()))
        .with("expiredDate", date(session.expires_at))
        .with("createDate", date(session.created_at));
    Ok(json(StatusCode::OK, inventory(inventory_obj)))
}

/// `DELETE /accounts/sessions/{uuid}` → `200 {}` (also for a session that has ended).
pub async fn log_out(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response, ZStackError> {
    s.core.close_session(&id).await?;
    Ok(json(StatusCode::OK, "{}".into()))
}

/// `GET /accounts/sessions/{uuid}/valid` → `200 {"valid": true|false}`.
pub async fn valid(State(s): State<AppState>, Path(id): Path<String>) -> Result<Response, ZStackError> {
    let valid = s.core.session_is_valid(&id).await?;
    Ok(json(StatusCode::OK, serde_json::json!({ "valid": valid }).to_string()))
}

/// `GET /api-jobs/{uuid}` → the job's answer as its operation left it (`200` with the result,
/// `503` with the error), or `404` plain text once expired or for a job that is not the
/// caller's. Jobs are finished when they are recorded, so `202 {}` (running) is never seen.
pub async fn poll(
    State(s): State<AppState>,
    call: PollCall,
    Path(id): Path<String>,
) -> Result<Response, ZStackError> {
    let expired = || ZStackError::Front(StatusCode::NOT_FOUND, "the job has been expired".into());
    let id = gson::parse_uuid(&id).map(JobId::from_uuid).ok_or_else(expired)?;
    match s.core.job(call.actor.as_ref(), id).await {
        Ok(record) => {
            let status = StatusCode::from_u16(record.status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            Ok(json(status, record.body))
        }
        Err(Error::NotFound { .. }) => Err(expired()),
        Err(other) => Err(other.into()),
    }
}
