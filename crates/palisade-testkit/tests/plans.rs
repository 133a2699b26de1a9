//! Query plans of the listings on SQLite (issue 12, point 7): a page of security groups, tags or
//! address-list entries is read in creation order straight from an index, so SQLite stops after
//! the page instead of sorting every row it filters (no `USE TEMP B-TREE FOR ORDER BY`), and
//! the cost of a page does not grow with the organization. Migration 0008 added those indexes.

#![allow(clippy::unwrap_used)]

use palisade_store::sqlite::{SqliteConfig, SqliteStore};
use palisade_testkit::{Backend, TestDatabase};

async fn plan(store: &SqliteStore, sql: &str) -> String {
    let rows: Vec<(i64, i64, i64, String)> =
        sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}")).fetch_all(store.pool()).await.unwrap();
    rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("; ")
}

#[tokio::test]
async fn listing_pages_read_an_index_in_creation_order() {
    let db = TestDatabase::new(Backend::Sqlite).await;
    let store = SqliteStore::connect(&SqliteConfig::new(db.url.clone())).await.unwrap();
    for (sql, index) in [
        (
            "SELECT * FROM security_groups g WHERE organization_id = x'00' AND kind = 'role' ORDER BY rowid LIMIT 10 OFFSET 0",
            "security_groups_organization_kind",
        ),
        ("SELECT * FROM tags WHERE organization_id = x'00' ORDER BY rowid LIMIT 10 OFFSET 0", "tags_organization"),
        (
            "SELECT * FROM address_list_entries WHERE list_id = x'00' ORDER BY rowid LIMIT 10 OFFSET 0",
            "address_list_entries_list",
        ),
        (
            "SELECT * FROM security_group_rules WHERE group_id = x'00' ORDER BY rowid LIMIT 10 OFFSET 0",
            "security_group_rules_group",
        ),
    ] {
        let plan = plan(&store, sql).await;
        assert!(plan.contains(index), "{sql}: {plan}");
        assert!(!plan.contains("TEMP B-TREE"), "{sql} sorts: {plan}");
    }
}
