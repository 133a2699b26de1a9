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
    /// A global address list changed: every organization may use it.
    all: bool,
    /// The revisions the commit made, once bumped.
    bumped: Vec<(Uuid, u64)>,
}

impl Touched {
    pub(crate) fn org(&mut self, org: OrganizationId) {
        self.orgs.insert(org.as_uuid());
    }

    /// An owner column's value: an organization, or none for something global.
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

    /// Bumps each touched organization's revision once, remembering the revisions made.
    pub(crate) async fn bump(&mut self, conn: &mut db::Conn) -> Result<()> {
        const BUMP: &str =
            "ON CONFLICT (organization_id) DO UPDATE SET revision = policy_revisions.revision + 1
            RETURNING organization_id, revision";
        if self.all {
            // `WHERE TRUE` keeps SQLite from reading `ON CONFLICT` as a join constraint.
            let sql = format!(
                "INSERT INTO policy_revisions (organization_id, revision)
                 SELECT id, 1 FROM organizations WHERE TRUE ORDER BY id {BUMP}"
            );
            fetch_all(conn, sqlx::query(&sql)).await?;
            return Ok(());
        }
        // A write can touch an organization deleted in the same transaction: nothing to bump
        // (the `SELECT` finds no row, so nothing is inserted). One statement per organization.
        let sql = format!(
            "INSERT INTO policy_revisions (organization_id, revision)
             SELECT id, 1 FROM organizations WHERE id = $1 {BUMP}"
        );
        for org in &self.orgs {
            if let Some(row) = fetch_optional(conn, sqlx::query(&sql).bind(org)).await? {
                let revision = u64::try_from(get::<i64>(&row, "revision")?).map_err(Error::internal)?;
                self.bumped.push((*org, revision));
            }
        }
        Ok(())
    }
}

pub(crate) async fn revision(conn: &mut db::Conn, org: OrganizationId) -> Result<u64> {
    let query = sqlx::query("SELECT revision FROM policy_revisions WHERE organization_id = $1");
    match fetch_optional(conn, query.bind(org.as_uuid())).await? {
        Some(row) => u64::try_from(get::<i64>(&row, "revision")?).map_err(Error::internal),
        None => Ok(0),
    }
}

/// Every organization's revision and every reporting server's lag behind it, `limit` of each
/// (`/metrics`: two indexed scans, bounded whatever the installation's size).
pub(crate) async fn gauges(conn: &mut db::Conn, limit: u32) -> Result<palisade_core::store::PolicyGauges> {
    use palisade_core::id::ServerId;
    let limit = i64::from(limit);
    let sql = "SELECT organization_id, revision FROM policy_revisions ORDER BY organization_id LIMIT $1";
    let mut revisions = Vec::new();
    for row in fetch_all(conn, sqlx::query(sql).bind(limit)).await? {
        let revision = u64::try_from(get::<i64>(&row, "revision")?).map_err(Error::internal)?;
        revisions.push((OrganizationId::from_uuid(get(&row, "organization_id")?), revision));
    }
    let sql = "SELECT e.organization_id, e.server_id, r.revision, e.applied_revision
        FROM server_enforcement e LEFT JOIN policy_revisions r ON r.organization_id = e.organization_id
        ORDER BY e.server_id LIMIT $1";
    let mut lags = Vec::new();
    for row in fetch_all(conn, sqlx::query(sql).bind(limit)).await? {
        let current = get::<Option<i64>>(&row, "revision")?.unwrap_or(0);
        let applied = get::<Option<i64>>(&row, "applied_revision")?.unwrap_or(0);
        let lag = u64::try_from(current.saturating_sub(applied)).unwrap_or(0);
        let org = OrganizationId::from_uuid(get(&row, "organization_id")?);
        lags.push((org, ServerId::from_uuid(get(&row, "server_id")?), lag));
    }
    Ok(palisade_core::store::PolicyGauges { revisions, lags })
}

/// The owner (`organization_id`) of the row `id` that `query` selects it from (`$1` is the
/// id): `None` if there is no such row, `Some(None)` for an installation-wide object (a global
/// address list).
pub(crate) async fn owner_of(conn: &mut db::Conn, query: &str, id: Uuid) -> Result<Option<Option<Uuid>>> {
    let row = fetch_optional(conn, sqlx::query(query).bind(id)).await?;
    row.map(|row| get(&row, "organization_id")).transpose()
}
