//! Every write is confined to its grant ([`palisade_core::grant`]): an object of another
//! organization than the grant's is not found (it cannot be told from a missing one), and an
//! object to insert must belong to the grant's organization.

use palisade_core::error::{Error, Result};
use palisade_core::grant::{Grant, ListGrant};
use palisade_core::id::OrganizationId;
use uuid::Uuid;

use super::rows::get;
use super::{db, fetch_optional, WriteTx};

/// How each kind of object's owner is read (`$1` is its id): its own row, or its parent's.
pub(crate) const GROUP_OWNER: &str = "SELECT organization_id FROM security_groups WHERE id = $1";
pub(crate) const SERVER_OWNER: &str = "SELECT organization_id FROM servers WHERE id = $1";
pub(crate) const SERVER_GROUP_OWNER: &str = "SELECT organization_id FROM server_groups WHERE id = $1";
pub(crate) const TAG_OWNER: &str = "SELECT organization_id FROM tags WHERE id = $1";
pub(crate) const LIST_OWNER: &str = "SELECT organization_id FROM address_lists WHERE id = $1";
pub(crate) const RULE_OWNER: &str = "SELECT g.organization_id FROM security_group_rules r
                          JOIN security_groups g ON g.id = r.group_id WHERE r.id = $1";
pub(crate) const ENTRY_OWNER: &str = "SELECT l.organization_id FROM address_list_entries e
                           JOIN address_lists l ON l.id = e.list_id WHERE e.id = $1";

/// An object to insert under `grant` must be of the grant's organization; else it is reported
/// as not found, like any object of another organization.
pub(crate) fn within(grant: &Grant, org: OrganizationId, kind: &'static str) -> Result<()> {
    if org == grant.organization_id() {
        Ok(())
    } else {
        Err(Error::not_found(kind))
    }
}

impl WriteTx {
    /// The object `id` (its owner read by `query`) exists and belongs to the grant's
    /// organization; else `kind` not found (another organization's object cannot be told from
    /// a missing one).
    pub(crate) async fn owned(
        &mut self,
        grant: &Grant,
        query: &str,
        id: Uuid,
        kind: &'static str,
    ) -> Result<()> {
        match owner_of(self, query, id).await? {
            Some(Some(owner)) if owner == grant.organization_id().as_uuid() => Ok(()),
            _ => Err(Error::not_found(kind)),
        }
    }

    /// [`WriteTx::owned`] for address lists, whose owner may be the installation (a global list).
    pub(crate) async fn owned_list(
        &mut self,
        grant: &ListGrant,
        query: &str,
        id: Uuid,
        kind: &'static str,
    ) -> Result<()> {
        match owner_of(self, query, id).await? {
            Some(owner) if owner == grant.owner().map(|o| o.as_uuid()) => Ok(()),
            _ => Err(Error::not_found(kind)),
        }
    }

    /// Marks the list's owner (every organization, for a global list) as touched.
    pub(crate) fn touch_list_owner(&mut self, grant: &ListGrant) {
        self.0.touched.owner(grant.owner().map(|o| o.as_uuid()));
    }
}

/// The owner (`organization_id`) of the row `id` that `query` selects it from (`$1` is the
/// id): `None` if there is no such row, `Some(None)` for an installation-wide object (a global
/// address list).
async fn owner_of(conn: &mut db::Conn, query: &str, id: Uuid) -> Result<Option<Option<Uuid>>> {
    let row = fetch_optional(conn, sqlx::query(query).bind(id)).await?;
    row.map(|row| get(&row, "organization_id")).transpose()
}
