//! The core's [`Store`]: opening read handles and write transactions (`Tx`), and the policy
//! snapshot's consistent read. A `Tx` is every one of the core's per-domain `Reads` traits,
//! and a [`WriteTx`] every `Writes` trait too; each is implemented in the module of its domain.

use async_trait::async_trait;
use palisade_core::error::Result;
use palisade_core::id::OrganizationId;
use palisade_core::snapshot::PolicySnapshot;
use palisade_core::store::{Reads, Store, Writes};

use super::{db, Connection, Tx, WriteTx};

#[async_trait]
impl Store for db::Handle {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(self.pool()).await.map_err(db::db_error)?;
        Ok(())
    }

    async fn read(&self) -> Result<Box<dyn Reads>> {
        let started = std::time::Instant::now();
        let read = db::read(self).await;
        self.waits.note(started.elapsed());
        Ok(Box::new(Tx(read?)))
    }

    async fn write(&self) -> Result<Box<dyn Writes>> {
        let started = std::time::Instant::now();
        let write = db::write(self).await;
        self.waits.note(started.elapsed());
        Ok(Box::new(write?))
    }

    async fn policy_snapshot(&self, org: OrganizationId) -> Result<PolicySnapshot> {
        let mut tx = db::consistent_read(self).await?;
        let snapshot = super::snapshot::policy_snapshot(&mut tx, org, &self.kept).await?;
        tx.commit().await.map_err(db::db_error)?;
        Ok(snapshot)
    }

    fn policy_changes(&self) -> std::sync::Arc<palisade_core::changes::PolicyChanges> {
        db::policy_changes(self)
    }

    async fn close(&self) {
        db::close(self).await;
    }

    fn pool_stats(&self) -> palisade_core::store::PoolStats {
        db::pool_stats(self)
    }
}

impl<S: Connection> Reads for Tx<S> {}

#[async_trait]
impl Writes for WriteTx {
    async fn commit(self: Box<Self>) -> Result<()> {
        WriteTx::commit(*self).await
    }
}
