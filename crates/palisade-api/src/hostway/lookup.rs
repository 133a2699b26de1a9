//! Finding the firewall group a request names (in the path, or as a rule's `parentGroupId` or an
//! assignment's `id`), which the group and rule handlers share.

use palisade_core::id::SecurityGroupId;
use palisade_core::policy::{GroupKind, SecurityGroup};
use palisade_core::Error;

use super::{ids, Caller};
use crate::AppState;

/// Hostway firewall groups are the canonical security groups.
pub(super) const KIND: GroupKind = GroupKind::SecurityGroup;

/// The group named by a Hostway id, if the caller may do the route's operation on it, it is a
/// security group of the caller's account and the id (date included) is exactly its own;
/// otherwise not found. The caller's scopes are checked first, whatever the id names.
pub(super) async fn group_in_account(
    state: &AppState,
    caller: &Caller,
    text: &str,
) -> Result<SecurityGroup, Error> {
    caller.authorize()?;
    let not_found = || Error::not_found(SecurityGroupId::KIND);
    let id = ids::parse(text).ok_or_else(not_found)?;
    let action = caller.operation().action;
    let group = state.core.authorized_group(&caller.actor, id, KIND, action).await?;
    if group.organization_id != caller.org || ids::render(group.id, group.created_at) != text {
        return Err(not_found());
    }
    Ok(group)
}
