//! `/api/v1/organizations/{id}/groups`: every face's security groups and roles in one list, as
//! the policy engine reads them (`policy:read`): what an operator asks when a flow check names
//! a group, whichever face wrote it. Read-only: each face writes its own.

use axum::extract::State;
use axum::Json;
use palisade_core::id::{OrganizationId, SecurityGroupId};
use palisade_core::policy::{IpVersion, Rule};
use palisade_core::service::{describe_member, describe_remote};
use palisade_core::snapshot::{GroupPolicy, PolicySnapshot};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::{ErrorBody, NativeError};
use super::extract::{path_id, Actor, NativePath, PageQuery, Pagination};
use super::policy::{face_ids, FaceIds};
use super::wire::PaginationView;
use crate::AppState;

type Result<T> = std::result::Result<T, NativeError>;

/// A group or role, with what it applies to.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupView {
    pub id: Uuid,
    /// `security_group` (Katapult, Hostway, ZStack) or `role` (Defined).
    pub kind: String,
    pub name: String,
    pub description: Option<String>,
    /// A disabled group's rules apply nowhere.
    pub enabled: bool,
    pub allow_all_inbound: bool,
    pub allow_all_outbound: bool,
    /// Outbound flows that no rule matches pass, after the group's outbound rules have decided
    /// what they match (ZStack's groups: a NIC's egress policy, ALLOW by default).
    pub allow_unmatched_outbound: bool,
    /// The one address family its rules apply to (4 or 6); absent: both.
    pub ip_version: Option<u8>,
    /// What it applies to, as people name it (`server 'web'`, `tag 'env:prod'`).
    pub members: Vec<String>,
    pub rules_count: usize,
    /// The ids each face shows for it.
    pub face_ids: FaceIds,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

/// A rule as written, its remotes named as people name them.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupRuleView {
    pub id: Uuid,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// `allow`, `deny` or `reject`.
    pub action: String,
    pub protocol: String,
    /// Destination port ranges as `from-to` (or one port); empty: every port.
    pub ports: Vec<String>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    /// Lower first; absent: after every numbered rule.
    pub priority: Option<i32>,
    pub remotes: Vec<String>,
    pub description: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupList {
    /// The policy revision the list is of.
    pub revision: u64,
    pub groups: Vec<GroupView>,
    pub pagination: PaginationView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupResponse {
    pub revision: u64,
    pub group: GroupView,
    /// In creation order (evaluation order is the effective policy's).
    pub rules: Vec<GroupRuleView>,
}

fn group_view(snapshot: &PolicySnapshot, g: &GroupPolicy) -> GroupView {
    let group = &g.group;
    let direction = palisade_core::policy::Direction::Inbound;
    GroupView {
        id: group.id.as_uuid(),
        kind: group.kind.as_str().to_owned(),
        name: group.name.clone(),
        description: group.description.clone(),
        enabled: group.enabled,
        allow_all_inbound: group.allow_all_inbound,
        allow_all_outbound: group.allow_all_outbound,
        allow_unmatched_outbound: group.allow_unmatched_outbound,
        ip_version: group.ip_version.map(IpVersion::number),
        members: group.members.iter().map(|m| describe_member(snapshot, m)).collect(),
        rules_count: g.rules.len(),
        face_ids: face_ids(group, None, direction, None),
        created_at: group.created_at,
    }
}

fn rule_view(snapshot: &PolicySnapshot, rule: &Rule) -> GroupRuleView {
    GroupRuleView {
        id: rule.id.as_uuid(),
        direction: rule.direction.as_str().to_owned(),
        action: rule.action.as_str().to_owned(),
        protocol: rule.protocol.as_text(),
        ports: rule.ports.iter().map(ToString::to_string).collect(),
        icmp_type: rule.icmp.map(|m| m.icmp_type),
        icmp_code: rule.icmp.and_then(|m| m.code),
        priority: rule.priority,
        remotes: rule.remotes.iter().map(|r| describe_remote(snapshot, r)).collect(),
        description: rule.description.clone(),
    }
}

/// Every face's security groups and roles, in creation order (`policy:read`).
#[utoipa::path(get, path = "/organizations/{id}/groups", tag = "policy",
    params(("id" = String, Path, description = "Organization id"), PageQuery),
    responses((status = 200, body = GroupList), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn list_groups(
    State(s): State<AppState>,
    Actor(actor): Actor,
    NativePath(id): NativePath<String>,
    Pagination(page): Pagination,
) -> Result<Json<GroupList>> {
    let org: OrganizationId = path_id(&id, OrganizationId::KIND)?;
    let (evaluated, page) = s.core.policy_groups(&actor, org, page).await?;
    let snapshot = &evaluated.snapshot;
    let groups =
        page.items.iter().filter_map(|i| snapshot.groups.get(*i)).map(|g| group_view(snapshot, g)).collect();
    Ok(Json(GroupList { revision: evaluated.revision(), groups, pagination: (&page).into() }))
}

/// One security group or role of any face, with its rules (`policy:read`).
#[utoipa::path(get, path = "/organizations/{id}/groups/{group_id}", tag = "policy",
    params(("id" = String, Path, description = "Organization id"), ("group_id" = String, Path, description = "Group or role id")),
    responses((status = 200, body = GroupResponse), (status = "4XX", body = ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_group(
    State(s): State<AppState>,
    Actor(actor): Actor,
    NativePath((id, group_id)): NativePath<(String, String)>,
) -> Result<Json<GroupResponse>> {
    let org: OrganizationId = path_id(&id, OrganizationId::KIND)?;
    // Authorized before the id is read: a malformed id is not found, to the caller who may look.
    let group = path_id::<SecurityGroupId>(&group_id, SecurityGroupId::KIND).ok();
    let (evaluated, at) = s.core.policy_group(&actor, org, group).await?;
    let snapshot = &evaluated.snapshot;
    let g = snapshot
        .groups
        .get(at)
        .ok_or_else(|| NativeError::from(palisade_core::Error::not_found(SecurityGroupId::KIND)))?;
    Ok(Json(GroupResponse {
        revision: evaluated.revision(),
        group: group_view(snapshot, g),
        rules: g.rules.iter().map(|r| rule_view(snapshot, r)).collect(),
    }))
}
