//! Rules' remotes and ports are read and written in batches: the statements a read of rules
//! runs (one rule, a page of a group's rules, the rules of a page of groups) and those
//! replacing a rule do not grow with the number of rules, remotes, tags or port ranges.
//!
//! Statements are counted from sqlx's own `sqlx::query` events, one per statement run, with a
//! process-wide subscriber: this file holds one test so that nothing else runs beside it.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use palisade_core::id::{SecurityGroupId, ServerId};
use palisade_core::policy::{Direction, PortRange, Remote, Rule, SecurityGroup};
use palisade_core::{PageRequest, Store};
use palisade_testkit::suite::{group, organization, rule};
use palisade_testkit::{grants, once, Backend, TestDatabase};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

static STATEMENTS: AtomicUsize = AtomicUsize::new(0);

struct CountStatements;

impl<S: tracing::Subscriber> Layer<S> for CountStatements {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        if event.metadata().target() == "sqlx::query" {
            STATEMENTS.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// The statements `f` runs.
async fn statements<T>(f: impl std::future::Future<Output = T>) -> (usize, T) {
    let before = STATEMENTS.load(Ordering::SeqCst);
    let out = f.await;
    (STATEMENTS.load(Ordering::SeqCst) - before, out)
}

/// A group with `rules` rules of [`wide_rule`]s.
async fn group_with(
    store: &Arc<dyn Store>,
    org: palisade_core::id::OrganizationId,
    name: &str,
    rules: usize,
    width: u16,
) -> (SecurityGroup, Vec<Rule>) {
    let mut g = group(org, name);
    g.allow_all_outbound = false;
    let rules: Vec<Rule> = (0..rules).map(|_| wide_rule(g.id, width)).collect();
    once!(store, insert_security_group(&grants::grant(org), &g, &rules)).unwrap();
    (g, rules)
}

/// A rule of `width` remotes (CIDRs, servers and hosts remotes with up to 20 tags) and `width`
/// port ranges. Up to 500 rows per table (tags of 60 remotes: 400) are one `INSERT`.
fn wide_rule(group: SecurityGroupId, width: u16) -> Rule {
    let mut r = rule(group, Direction::Inbound, "");
    r.ports = (0..width).map(|i| PortRange { from: 100 * i + 1, to: 100 * i + 50 }).collect();
    r.remotes = (0..width)
        .map(|i| match i % 3 {
            0 => Remote::Cidr(format!("10.0.{i}.0/24")),
            1 => Remote::Server(ServerId::random()),
            _ => Remote::Hosts { role: None, tags: (0..width.min(20)).map(|t| format!("t:{t}")).collect() },
        })
        .collect();
    r
}

async fn counts(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    let store = db.store().await;
    let org = organization("counts");
    once!(store, insert_organization(&grants::op(), &org)).unwrap();
    let (small, small_rules) = group_with(&store, org.id, "small", 1, 3).await;
    let (large, large_rules) = group_with(&store, org.id, "large", 40, 12).await;
    let more: Vec<SecurityGroupId> = {
        let mut ids = vec![large.id];
        for i in 0..9 {
            ids.push(group_with(&store, org.id, &format!("more{i}"), 5, 6).await.0.id);
        }
        ids
    };

    let mut reads = store.read().await.unwrap();
    let (one, got) = statements(reads.rule(small_rules[0].id)).await;
    assert_eq!(got.unwrap().as_ref(), Some(&small_rules[0]));
    let (wide, got) = statements(reads.rule(large_rules[0].id)).await;
    assert_eq!(got.unwrap().as_ref(), Some(&large_rules[0]));
    assert_eq!(one, wide, "a rule");
    assert_eq!(one, 3, "a rule: its row, its remotes (tags joined), its ports");

    let page = PageRequest { page: 1, per_page: 30 };
    let (one, got) = statements(reads.list_rules(small.id, page)).await;
    assert_eq!(got.unwrap().items, small_rules);
    let (wide, got) = statements(reads.list_rules(large.id, page)).await;
    assert_eq!(got.unwrap().items, large_rules[..30].to_vec());
    assert_eq!(one, wide, "a page of a group's rules");
    assert_eq!(one, 4, "a page: the count, the rows, the remotes, the ports");

    let (one, got) = statements(reads.rules_of_groups(&[small.id])).await;
    assert_eq!(got.unwrap(), small_rules);
    let (wide, got) = statements(reads.rules_of_groups(&more)).await;
    assert_eq!(got.unwrap().len(), 40 + 9 * 5);
    assert_eq!(one, wide, "the rules of a page of groups");
    assert_eq!(one, 3, "the rules of groups: the rows, the remotes, the ports");

    drop(reads);

    let narrow = Rule { id: small_rules[0].id, ..wide_rule(small.id, 3) };
    let mut tx = store.write().await.unwrap();
    let (one, done) = statements(tx.replace_rule(&grants::grant(org.id), &narrow)).await;
    done.unwrap();
    tx.commit().await.unwrap();
    let broad =
        Rule { id: large_rules[0].id, created_at: large_rules[0].created_at, ..wide_rule(large.id, 60) };
    let mut tx = store.write().await.unwrap();
    let (wide, done) = statements(tx.replace_rule(&grants::grant(org.id), &broad)).await;
    done.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(one, wide, "replacing a rule");
    assert_eq!(once!(store, rule(broad.id)).unwrap(), Some(broad));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_reads_and_replacements_run_as_many_statements_whatever_their_size() {
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(CountStatements)).unwrap();
    counts(Backend::Sqlite).await;
    counts(Backend::Postgres).await;
}
