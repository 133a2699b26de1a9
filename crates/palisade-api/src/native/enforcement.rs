//! `/api/v1/servers/{server_id}/agent_tokens`, `/enforcement` (and `/policy`, in `policy.rs`): what a
//! server's host agent needs besides its policy (`policy.rs`): its token, made by the operator,
//! and the report of what it applied, which the operator reads beside the policy it should have
//! applied (desired vs applied). Named by the server alone: an agent knows its server's id,
//! not its organization's.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use palisade_core::id::ServerId;
use palisade_core::service::{Applied, Enforcement, REPORT_ENFORCEMENT};
use palisade_core::{Error, Violation, ViolationCode};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::credentials::no_store;
use super::error::{ErrorBody, NativeError};
use super::extract::{path_id, Actor, NativeJson, NativePath, OperatorActor};
use super::policy::policy_view;
use super::schema::Name;
use super::wire::CreatedApiTokenResponse;
use crate::AppState;

type Result<T> = std::result::Result<T, NativeError>;

/// A new agent token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgentTokenRequest {
    #[schema(value_type = Name)]
    pub name: String,
    /// RFC 3339 time after which the token is refused.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
}

/// An agent's report: the revision and digest of the policy now in force on its host, or the
/// error that kept it from applying one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnforcementReportRequest {
    /// With `applied_digest`: the policy in force.
    pub applied_revision: Option<u64>,
    /// The `digest` of the policy applied.
    #[schema(max_length = 128)]
    pub applied_digest: Option<String>,
    /// Instead: why the last attempt failed (the rules in force stay as they were). Kept to its
    /// first 2,000 characters.
    pub error: Option<String>,
}

/// A server's enforcement: the policy it should have (desired) beside what its agent reported.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnforcementView {
    pub server_id: Uuid,
    /// The organization's policy revision now, and the digest of the server's policy at it.
    pub desired_revision: u64,
    pub desired_digest: String,
    /// What the agent last applied (null until it first did).
    pub applied_revision: Option<u64>,
    pub applied_digest: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub applied_at: Option<OffsetDateTime>,
    /// The error of the agent's last attempt; null when it succeeded.
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub reported_at: Option<OffsetDateTime>,
    /// Whether the rules in force are the desired ones (by content: a revision that changed
    /// other servers' policies only leaves this one in sync).
    pub in_sync: bool,
}

/// Create an agent token for a server (operator only): scope `agent`, usable only to read this
/// server's policy and report its enforcement. The secret is in this response only.
#[utoipa::path(post, path = "/servers/{server_id}/agent_tokens", tag = "enforcement",
    params(("server_id" = String, Path, description = "Server id")),
    request_body = CreateAgentTokenRequest,
    responses((status = 201, body = CreatedApiTokenResponse), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn create_agent_token(
    State(s): State<AppState>,
    OperatorActor(actor): OperatorActor,
    NativePath(server_id): NativePath<String>,
    NativeJson(body): NativeJson<CreateAgentTokenRequest>,
) -> Result<Response> {
    let server: ServerId = path_id(&server_id, ServerId::KIND)?;
    let created = s.core.create_agent_token(&actor, server, body.name, body.expires_at).await?;
    let response =
        CreatedApiTokenResponse { api_token: created.token.into(), secret: created.secret.into_string() };
    Ok(no_store((StatusCode::CREATED, Json(response))))
}

/// Report what the server's host applied (the server's agent token only).
#[utoipa::path(put, path = "/servers/{server_id}/enforcement", tag = "enforcement",
    params(("server_id" = String, Path, description = "Server id")),
    request_body = EnforcementReportRequest,
    responses((status = 200, body = EnforcementView), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn report(
    State(s): State<AppState>,
    Actor(actor): Actor,
    NativePath(server_id): NativePath<String>,
    body: Result<NativeJson<EnforcementReportRequest>>,
) -> Result<Json<EnforcementView>> {
    let server: ServerId = path_id(&server_id, ServerId::KIND)?;
    // Refused callers are refused before their body is read.
    actor.require_scopes(REPORT_ENFORCEMENT)?;
    let NativeJson(body) = body?;
    let applied = match (body.applied_revision, body.applied_digest, body.error) {
        (Some(revision), Some(digest), None) => Applied::Policy { revision, digest },
        (None, None, Some(error)) => Applied::Failed { error },
        _ => {
            return Err(Error::Invalid(vec![Violation::new(
                "",
                ViolationCode::InvalidValue,
                "give either applied_revision and applied_digest, or error",
            )])
            .into())
        }
    };
    Ok(Json(view(&s.core.report_enforcement(&actor, server, applied).await?)))
}

/// A server's enforcement: desired vs applied policy (`policy:read`, or its agent token).
#[utoipa::path(get, path = "/servers/{server_id}/enforcement", tag = "enforcement",
    params(("server_id" = String, Path, description = "Server id")),
    responses((status = 200, body = EnforcementView), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(s): State<AppState>,
    Actor(actor): Actor,
    NativePath(server_id): NativePath<String>,
) -> Result<Json<EnforcementView>> {
    let server: ServerId = path_id(&server_id, ServerId::KIND)?;
    Ok(Json(view(&s.core.enforcement(&actor, server).await?)))
}

fn view(enforcement: &Enforcement) -> EnforcementView {
    let desired = policy_view(&enforcement.policy);
    let report = enforcement.report.as_ref();
    let applied_digest = report.and_then(|r| r.applied_digest.clone());
    EnforcementView {
        server_id: desired.server_id,
        desired_revision: desired.revision,
        in_sync: applied_digest.as_deref() == Some(desired.digest.as_str()),
        desired_digest: desired.digest,
        applied_revision: report.and_then(|r| r.applied_revision),
        applied_digest,
        applied_at: report.and_then(|r| r.applied_at),
        last_error: report.and_then(|r| r.last_error.clone()),
        reported_at: report.map(|r| r.reported_at),
    }
}
