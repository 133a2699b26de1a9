//! Reading the audit trail ([`crate::audit`]): the operator reads every event, an
//! organization's tokens (`audit:read`) and users read their organization's own.

use super::Core;
use crate::access::{Action, Operation, Resource};
use crate::audit::{AuditEvent, AuditFilter};
use crate::auth::Principal;
use crate::error::{Error, Result};
use crate::id::OrganizationId;
use crate::page::{Page, PageRequest};

impl Core {
    /// A page of the events `filter` selects, newest first. An organization's caller who names
    /// another organization is told it does not exist, as everywhere.
    pub async fn audit_events(
        &self,
        actor: &Principal,
        filter: AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEvent>> {
        let op = Operation::new(Resource::Audit, Action::List);
        actor.require_scopes(op)?;
        let filter = match actor.organization_id() {
            None => filter,
            Some(own) => {
                if filter.organization_id.is_some_and(|named| named != own) {
                    return Err(Error::not_found(OrganizationId::KIND));
                }
                actor.authorize(own, op)?;
                AuditFilter { organization_id: Some(own), ..filter }
            }
        };
        self.read().await?.list_audit_events(&filter, page).await
    }
}
