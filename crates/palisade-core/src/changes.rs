//! Wake-ups for policy changes: how a long poll for a server's policy (the host agent's
//! `GET …/policy?after_revision=N`) learns, without polling the database, that its
//! organization's policy revision may have moved.
//!
//! The store announces every committed transaction that bumped revisions ([`PolicyChanges::
//! changed`], or [`PolicyChanges::changed_everywhere`] for a global address list): SQLite right
//! after its commit; PostgreSQL also through `NOTIFY` in the transaction, which its listener on
//! every other node turns into the same call, so a write on node A wakes the polls held on node
//! B. An announcement is only a hint to look again: a waiter re-reads the revision (and its
//! server's policy, which may not have changed) before it answers, so a duplicate or spurious
//! wake-up costs a look and nothing else, and a waiter subscribes *before* it looks, so no
//! change between its look and its wait is missed.
//!
//! Only organizations someone waits on have a channel; the last waiter leaving lets the next
//! announcement drop it.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

use crate::id::OrganizationId;

/// The announcements of one store (one node), per organization.
#[derive(Debug)]
pub struct PolicyChanges {
    /// Per organization, the highest revision announced (0: none known, only that it moved).
    orgs: Mutex<HashMap<OrganizationId, watch::Sender<u64>>>,
    /// Bumped for changes of every organization at once (global address lists, a reconnected
    /// listener that may have missed some).
    everywhere: watch::Sender<()>,
    /// Set when the server stops: held waits end at once (see [`PolicyChanges::close`]).
    closed: watch::Sender<bool>,
}

impl Default for PolicyChanges {
    fn default() -> Self {
        Self { orgs: Mutex::default(), everywhere: watch::Sender::new(()), closed: watch::Sender::new(false) }
    }
}

impl PolicyChanges {
    /// Starts listening for `org`'s changes: every announcement after this call wakes
    /// [`Subscription::changed`].
    pub fn subscribe(&self, org: OrganizationId) -> Subscription {
        let mut orgs = self.orgs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let own = orgs.entry(org).or_insert_with(|| watch::Sender::new(0)).subscribe();
        Subscription { own, everywhere: self.everywhere.subscribe(), closed: self.closed.subscribe() }
    }

    /// The server is stopping: every wait ends now and from now on, so that long polls are
    /// answered (with what they have) instead of holding the shutdown for their whole wait.
    pub fn close(&self) {
        self.closed.send_replace(true);
    }

    /// `org`'s policy revision moved (to `revision`, when the announcement says).
    pub fn changed(&self, org: OrganizationId, revision: Option<u64>) {
        let mut orgs = self.orgs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(sender) = orgs.get(&org) {
            if sender.receiver_count() == 0 {
                orgs.remove(&org);
            } else {
                sender.send_modify(|known| *known = (*known).max(revision.unwrap_or(0)));
            }
        }
    }

    /// Every organization's policy revision may have moved.
    pub fn changed_everywhere(&self) {
        self.everywhere.send_replace(());
    }
}

/// One waiter's view of one organization's announcements.
#[derive(Debug)]
pub struct Subscription {
    own: watch::Receiver<u64>,
    everywhere: watch::Receiver<()>,
    closed: watch::Receiver<bool>,
}

impl Subscription {
    /// Completes at the next announcement for the organization (or one made since the last
    /// call, or since subscribing), and at once after [`PolicyChanges::close`]. Pends forever
    /// if the store is gone: callers bound the wait.
    pub async fn changed(&mut self) {
        if self.is_closed() {
            return;
        }
        let result = tokio::select! {
            r = self.own.changed() => r,
            r = self.everywhere.changed() => r,
            r = self.closed.changed() => r,
        };
        if result.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Subscription {
    /// The highest revision announced for the organization, if an announcement said one: a
    /// waiter that has a policy at least this new need not ask the database.
    pub fn announced(&self) -> Option<u64> {
        Some(*self.own.borrow()).filter(|r| *r > 0)
    }

    /// Whether the server is stopping.
    pub fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn woken(sub: &mut Subscription) -> bool {
        tokio::time::timeout(Duration::from_millis(50), sub.changed()).await.is_ok()
    }

    #[tokio::test]
    async fn a_waiter_hears_its_organization_and_global_changes_only() {
        let changes = PolicyChanges::default();
        let (mine, other) = (OrganizationId::random(), OrganizationId::random());
        let mut sub = changes.subscribe(mine);
        assert!(!woken(&mut sub).await, "nothing announced yet");
        changes.changed(other, Some(3));
        assert!(!woken(&mut sub).await, "another organization's change");
        changes.changed(mine, Some(7));
        assert!(woken(&mut sub).await);
        assert!(!woken(&mut sub).await, "one announcement wakes once");
        assert_eq!(sub.announced(), Some(7));
        changes.changed(mine, Some(5));
        assert!(woken(&mut sub).await);
        assert_eq!(sub.announced(), Some(7), "the highest revision announced");
        changes.changed_everywhere();
        assert!(woken(&mut sub).await);
        changes.close();
        assert!(woken(&mut sub).await && woken(&mut sub).await, "closed: every wait ends at once");
        assert!(sub.is_closed());
    }

    #[tokio::test]
    async fn an_announcement_before_the_wait_is_not_lost_and_channels_are_dropped() {
        let changes = PolicyChanges::default();
        let org = OrganizationId::random();
        let mut sub = changes.subscribe(org);
        assert_eq!(sub.announced(), None);
        changes.changed(org, None);
        assert!(woken(&mut sub).await, "announced between subscribing and waiting");
        drop(sub);
        changes.changed(org, None);
        assert!(changes.orgs.lock().expect("not poisoned").is_empty(), "the last waiter left");
    }
}
