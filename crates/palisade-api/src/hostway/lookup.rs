//! Naming the firewall group a request names (in the path, or as a rule's `parentGroupId` or an
//! assignment's `id`), which the group and rule handlers share.

use palisade_core::id::SecurityGroupId;
use palisade_core::policy::GroupKind;
use palisade_core::service::GroupRef;
use palisade_core::Error;

use super::{ids, Caller};

/// Hostway firewall groups are the canonical security groups.
pub(super) const KIND: GroupKind = GroupKind::SecurityGroup;

/// The reference a Hostway id makes to a group of the caller's account: the core finds a group
/// only if it is that account's and was created on the day the id carries, so the id (date
/// included) must be exactly the group's own. The caller's scopes are checked first, whatever
/// the id names; a text of another shape is not found.
pub(super) fn group_in_account(caller: &Caller, text: &str) -> Result<GroupRef, Error> {
    caller.authorize()?;
    let (id, day) = ids::parse(text).ok_or(Error::not_found(SecurityGroupId::KIND))?;
    Ok(GroupRef { id, organization: Some(caller.org), created_on: Some(day) })
}

/// A group the request names in its body that does not exist is a 400 at `field` (as Hostway
/// documents), not a 404.
pub(super) fn named_in_body(field: &'static str) -> impl Fn(Error) -> Error {
    move |e| match e {
        Error::NotFound { kind } if kind == SecurityGroupId::KIND => Error::invalid(
            field,
            palisade_core::error::ViolationCode::InvalidReference,
            "no such firewall group",
        ),
        other => other,
    }
}
