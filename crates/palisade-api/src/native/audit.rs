//! `GET /api/v1/audit_events`: the audit trail, who changed what, when, and through which face
//! (scope `audit:read`; the operator reads every organization's, a token or user its own).

use axum::extract::State;
use axum::Json;
use palisade_core::audit::{Actor as Principal, AuditEvent, AuditFilter, ObjectKind};
use palisade_core::id::OrganizationId;
use palisade_core::{Action, Operation, Resource};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::{ErrorBody, NativeError};
use super::extract::{malformed, Actor, NativeQuery, PageQuery, Pagination};
use super::wire::PaginationView;
use crate::AppState;

type Result<T> = std::result::Result<T, NativeError>;

/// Which events to list; every filter is optional and they combine.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this organization's events (the operator's filter: an organization's token or user
    /// only ever sees its own organization's).
    #[param(value_type = Option<Uuid>)]
    pub organization_id: Option<String>,
    /// Only events about objects of this kind: `organization`, `api_token`, `user`,
    /// `operator_token`, `data_center`, `network`, `server`, `host`, `ip_address`,
    /// `security_group`, `role`, `rule`, `server_group`, `tag`, `address_list`,
    /// `address_list_entry`.
    pub object_kind: Option<String>,
    /// Only events about the object with this id.
    pub object_id: Option<String>,
    /// Only this principal's changes: `operator`, `token:<id>` or `user:<id>`.
    pub principal: Option<String>,
    /// Only the changes of the request with this `X-Request-ID`.
    pub request_id: Option<String>,
    /// Only events at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub since: Option<String>,
    /// Only events before this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub until: Option<String>,
}

/// One field's value before and after the change (`null`: it had none, as on creation or
/// deletion). Secrets never appear.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldChangeView {
    pub field: String,
    #[schema(value_type = serde_json::Value)]
    pub before: serde_json::Value,
    #[schema(value_type = serde_json::Value)]
    pub after: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    /// The organization the object belongs to; `null` for installation-wide objects (data
    /// centers, shared networks, global address lists, the operator token).
    pub organization_id: Option<Uuid>,
    /// Who: `operator`, `token:<id>` or `user:<id>`.
    pub principal: String,
    /// The face the request came through (`native`, `katapult`, `defined`, `hostway`,
    /// `zstack`), `cli` for the offline `palisade admin` commands, or `server` for the server's
    /// own (the operator token it generates at its first start).
    pub face: String,
    /// The request's `X-Request-ID`, as its access log line has it.
    pub request_id: Option<String>,
    /// `create`, `update`, `delete`, `revoke`, `set_password`, `add_member`, `sign_in`,
    /// `sign_out`, `rotate`.
    pub operation: &'static str,
    pub object_kind: &'static str,
    pub object_id: String,
    pub changes: Vec<FieldChangeView>,
}

impl From<AuditEvent> for AuditEventView {
    fn from(e: AuditEvent) -> Self {
        Self {
            id: e.id.as_uuid(),
            at: e.at,
            organization_id: e.organization_id.map(|o| o.as_uuid()),
            principal: e.actor.to_string(),
            face: e.face,
            request_id: e.request_id,
            operation: e.operation.as_str(),
            object_kind: e.object_kind.as_str(),
            object_id: e.object_id,
            changes: e
                .changes
                .into_iter()
                .map(|c| FieldChangeView { field: c.field, before: c.before, after: c.after })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventList {
    pub audit_events: Vec<AuditEventView>,
    pub pagination: PaginationView,
}

/// The audit trail, newest first: every write on every face, recorded in the same transaction
/// as the change, with who made it, through which face and request, and the fields changed
/// (`audit:read`; an organization's token or user sees its own organization's events only).
#[utoipa::path(get, path = "/audit_events", tag = "audit",
    params(AuditQuery, PageQuery),
    responses((status = 200, body = AuditEventList), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(s): State<AppState>,
    Actor(actor): Actor,
    NativeQuery(q): NativeQuery<AuditQuery>,
    Pagination(page): Pagination,
) -> Result<Json<AuditEventList>> {
    actor.require_scopes(Operation::new(Resource::Audit, Action::List))?;
    let filter = filter(q)?;
    let page = s.core.audit_events(&actor, filter, page).await?;
    let pagination = (&page).into();
    Ok(Json(AuditEventList { audit_events: page.items.into_iter().map(Into::into).collect(), pagination }))
}

fn filter(q: AuditQuery) -> Result<AuditFilter> {
    let time = |name: &str, value: Option<String>| {
        value
            .map(|v| {
                OffsetDateTime::parse(&v, &Rfc3339)
                    .map_err(|_| malformed(name, "must be an RFC 3339 time such as 2026-12-05T10:00:00Z"))
            })
            .transpose()
    };
    let organization_id = q
        .organization_id
        .map(|v| v.parse::<OrganizationId>().map_err(|_| malformed("organization_id", "must be a UUID")))
        .transpose()?;
    let object_kind = q
        .object_kind
        .map(|v| {
            ObjectKind::parse(&v).ok_or_else(|| {
                let kinds: Vec<&str> = ObjectKind::ALL.iter().map(ObjectKind::as_str).collect();
                malformed("object_kind", &format!("must be one of {}", kinds.join(", ")))
            })
        })
        .transpose()?;
    let actor = q
        .principal
        .map(|v| {
            v.parse::<Principal>()
                .map_err(|()| malformed("principal", "must be operator, token:<id> or user:<id>"))
        })
        .transpose()?;
    Ok(AuditFilter {
        organization_id,
        object_kind,
        object_id: q.object_id,
        actor,
        request_id: q.request_id,
        since: time("since", q.since)?,
        until: time("until", q.until)?,
    })
}
