//! Policy revisions (migration 0006): which organizations a write transaction changed the
//! policy of, and the bump its commit makes, once per organization however many writes it
//! made. The bump runs last, just before `COMMIT`, so the revision rows are locked (on
//! PostgreSQL) only for that instant, in one order (by id), and a rolled-back transaction
//! leaves no trace.

use std::collections::BTreeSet;

use palisade_core::changes::PolicyChanges;
use palisade_core::error::{Error, Result};
use palisade_core::id::OrganizationId;
use uuid::Uuid;

use super::db;
use super::rows::get;
use super::{fetch_all, fetch_optional};

/// The announcement payload that means every organization.
pub(crate) const ALL: &str = "*";

/// The organizations a transaction's writes changed the policy of.
#[derive(Debug, Default)]
pub(crate) struct Touched {
    orgs: BTreeSet<Uuid>,
    /// Of those, the organizations whose servers may have changed too (rows, interfaces,
    /// interface addresses, tags): every write but those of groups, rules and address lists.
    servers: BTreeSet<Uuid>,
    /// A global address list changed: every organization may use it.
    all: bool,
    /// The revisions the commit made, once bumped.
    bumped: Vec<(Uuid, u64)>,
}

impl Touched {
    /// A write that may have changed anything of `org`'s policy, its servers included.
    pub(crate) fn org(&mut self, org: OrganizationId) {
        self.orgs.insert(org.as_uuid());
        self.servers.insert(org.as_uuid());
    }

    /// A write of `org`'s groups or rules only: no server row, interface, address or tag.
    pub(crate) fn groups(&mut self, org: OrganizationId) {
        self.orgs.insert(org.as_uuid());
    }

    /// An address list's owner column's value: an organization, or none for a global list. A
    /// list is no server's: its writes leave the servers' revision.
    pub(crate) fn owner(&mut self, owner: Option<Uuid>) {
        match owner {
            Some(org) => {
                self.orgs.insert(org);
            }
            None => self.all = true,
        }
    }

    /// Tells this node's waiters ([`PolicyChanges`]) what the committed transaction changed,
    /// with the revisions its commit made.
    pub(crate) fn announce(&self, changes: &PolicyChanges) {
        if self.all {
            changes.changed_everywhere();
        }
        for (org, revision) in &self.bumped {
            changes.changed(OrganizationId::from_uuid(*org), Some(*revision));
        }
    }

    /// What [`PolicyChanges`] announcements the transaction's commit owes, as `NOTIFY`
    /// payloads: `<organization id>:<revision>`, or `*` for every organization.
    pub(crate) fn payloads(&self) -> Vec<String> {
        if self.all {
            return vec![ALL.to_owned()];
        }
        self.bumped.iter().map(|(org, revision)| format!("{org}:{revision}")).collect()
    }

    /// Bumps each touched organization's revision once, remembering the revisions made; where
    /// the organization's servers may have changed, its servers' revision becomes the new one.
    pub(crate) async fn bump(&mut self, conn: &mut db::Conn) -> Result<()> {
        const BUMP: &str =
            "ON CONFLICT (organization_id) DO UPDATE SET revision = policy_revisions.revision + 1";
        const RETURNING: &str = "RETURNING organization_id, revision";
        if self.all {
            // `WHERE TRUE` keeps SQLite from reading `ON CONFLICT` as a join constraint.
            let sql = format!(
                "INSERT INTO policy_revisions (organization_id, revision)
                 SELECT id, 1 FROM organizations WHERE TRUE ORDER BY id {BUMP} {RETURNING}"
            );
            fetch_all(conn, sqlx::query(&sql)).await?;
            return Ok(());
        }
        // A write can touch an organization deleted in the same transaction: nothing to bump
        // (the `SELECT` finds no row, so nothing is inserted). One statement per organization.
        let groups_only = format!(
            "INSERT INTO policy_revisions (organization_id, revision)
             SELECT id, 1 FROM organizations WHERE id = $1 {BUMP} {RETURNING}"
        );
        let with_servers = format!(
            "INSERT INTO policy_revisions (organization_id, revision, servers_revision)
             SELECT id, 1, 1 FROM organizations WHERE id = $1
             {BUMP}, servers_revision = policy_revisions.revision + 1 {RETURNING}"
        );
        for org in &self.orgs {
            let sql = if self.servers.contains(org) { &with_servers } else { &groups_only };
            if let Some(row) = fetch_optional(conn, sqlx::query(sql).bind(org)).await? {
                let revision = u64::try_from(get::<i64>(&row, "revision")?).map_err(Error::internal)?;
                self.bumped.push((*org, revision));
            }
        }
        Ok(())
    }
}

pub(crate) async fn revision(conn: &mut db::Conn, org: OrganizationId) -> Result<u64> {
    Ok(revisions(conn, org).await?.0)
}

/// The organization's policy revision, and the revision at which its servers last changed.
pub(crate) async fn revisions(conn: &mut db::Conn, org: OrganizationId) -> Result<(u64, u64)> {
    let query =
        sqlx::query("SELECT revision, servers_revision FROM policy_revisions WHERE organization_id = $1");
    let Some(row) = fetch_optional(conn, query.bind(org.as_uuid())).await? else { return Ok((0, 0)) };
    let number = |col| u64::try_from(get::<i64>(&row, col)?).map_err(Error::internal);
    Ok((number("revision")?, number("servers_revision")?))
}
