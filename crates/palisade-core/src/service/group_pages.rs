//! Pages of group listings kept for the policy revision they were read at.
//!
//! Every write that can change what a group listing shows (a group, its members, annotations or
//! rules; a member's deletion) bumps its organization's policy revision in the same
//! transaction (design invariant 8). A page read at revision `r` is therefore exactly the page
//! while the revision is still `r`, and a listing that reads the revision first (one indexed
//! query) can answer from the page kept for it instead of reading and decoding every group
//! again. A revision read in the same snapshot as the page keeps the pair consistent; where a
//! read sees each statement's latest commit (PostgreSQL's read committed), the page is read
//! after the revision, so it is never older than the revision it is kept for, and the next
//! write moves the revision past it. Each node keeps its own pages; the revision is the
//! database's, so every node of a deployment answers the same.
//!
//! Bounded: at most [`MAX_GROUPS`] groups are kept in all; past that the oldest half of the
//! pages is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::id::OrganizationId;
use crate::page::{Page, PageRequest};
use crate::policy::{GroupFilter, GroupKind, SecurityGroup};

/// The most groups kept across all pages (a page of 200 groups with a few members each is
/// about 100 KiB).
pub const MAX_GROUPS: usize = 40_000;

/// One listing: which page of which organization's groups of which kind, filtered how.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Listing {
    pub org: OrganizationId,
    pub kind: GroupKind,
    pub filter: GroupFilter,
    pub page: PageRequest,
}

#[derive(Debug)]
struct Kept {
    revision: u64,
    /// When it was kept, in insertions: the oldest go first when the bound is reached.
    order: u64,
    page: Arc<Page<SecurityGroup>>,
}

#[derive(Debug, Default)]
struct Pages {
    kept: HashMap<Listing, Kept>,
    groups: usize,
    inserted: u64,
}

/// The pages kept, shared by every request of this process.
#[derive(Debug, Default)]
pub struct GroupPages {
    pages: Mutex<Pages>,
}

impl GroupPages {
    /// The page kept for exactly this listing at `revision`, if any.
    pub fn get(&self, listing: &Listing, revision: u64) -> Option<Arc<Page<SecurityGroup>>> {
        let pages = self.pages.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        pages.kept.get(listing).filter(|k| k.revision == revision).map(|k| k.page.clone())
    }

    /// Keeps `listed`, read at `revision`, replacing what was kept for the same listing.
    pub fn keep(&self, listing: Listing, revision: u64, listed: Arc<Page<SecurityGroup>>) {
        let size = listed.items.len();
        if size > MAX_GROUPS {
            return;
        }
        let mut pages = self.pages.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if pages.groups + size > MAX_GROUPS {
            pages.evict_oldest_half();
        }
        pages.inserted += 1;
        let kept = Kept { revision, order: pages.inserted, page: listed };
        if let Some(old) = pages.kept.insert(listing, kept) {
            pages.groups -= old.page.items.len();
        }
        pages.groups += size;
    }
}

impl Pages {
    fn evict_oldest_half(&mut self) {
        let mut orders: Vec<u64> = self.kept.values().map(|k| k.order).collect();
        orders.sort_unstable();
        let cut = orders.get(orders.len() / 2).copied().unwrap_or(u64::MAX);
        self.kept.retain(|_, k| k.order >= cut);
        self.groups = self.kept.values().map(|k| k.page.items.len()).sum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(n: usize) -> Arc<Page<SecurityGroup>> {
        let org = OrganizationId::random();
        let at = crate::model::now();
        let group = SecurityGroup {
            id: crate::id::SecurityGroupId::random(),
            organization_id: org,
            kind: GroupKind::SecurityGroup,
            name: "g".into(),
            description: None,
            allow_all_inbound: false,
            allow_all_outbound: false,
            allow_unmatched_outbound: false,
            members: vec![],
            annotations: vec![],
            enabled: true,
            ip_version: None,
            serial: 0,
            created_at: at,
            updated_at: at,
        };
        Arc::new(Page { items: vec![group; n], total: n as u64, request: PageRequest::all() })
    }

    #[test]
    fn a_page_is_answered_only_at_the_revision_it_was_read_at() {
        let pages = GroupPages::default();
        let listing = Listing {
            org: OrganizationId::random(),
            kind: GroupKind::SecurityGroup,
            filter: GroupFilter::default(),
            page: PageRequest::all(),
        };
        assert!(pages.get(&listing, 1).is_none());
        pages.keep(listing.clone(), 1, page(3));
        assert_eq!(pages.get(&listing, 1).map(|p| p.items.len()), Some(3));
        assert!(pages.get(&listing, 2).is_none(), "a later revision is a miss");
        assert!(pages.get(&Listing { org: OrganizationId::random(), ..listing.clone() }, 1).is_none());
        assert!(pages.get(&Listing { kind: GroupKind::Role, ..listing.clone() }, 1).is_none());
        let other = PageRequest { page: 2, per_page: 10 };
        assert!(pages.get(&Listing { page: other, ..listing.clone() }, 1).is_none());
        pages.keep(listing.clone(), 2, page(4));
        assert!(pages.get(&listing, 1).is_none(), "replaced by the newer read");
        assert_eq!(pages.get(&listing, 2).map(|p| p.items.len()), Some(4));
    }

    #[test]
    fn the_bound_holds() {
        let pages = GroupPages::default();
        let listing = || Listing {
            org: OrganizationId::random(),
            kind: GroupKind::SecurityGroup,
            filter: GroupFilter::default(),
            page: PageRequest::all(),
        };
        for _ in 0..(MAX_GROUPS / 200) * 3 {
            pages.keep(listing(), 1, page(200));
            let kept = pages.pages.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            assert!(kept.groups <= MAX_GROUPS, "{} groups kept", kept.groups);
            assert_eq!(kept.groups, kept.kept.values().map(|k| k.page.items.len()).sum::<usize>());
        }
        let newest = listing();
        pages.keep(newest.clone(), 1, page(200));
        assert!(pages.get(&newest, 1).is_some(), "the newest page is kept");
    }
}
