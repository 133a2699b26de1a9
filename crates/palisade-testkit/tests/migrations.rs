//! Migrations that transform data: a database written under the older schema is migrated by
//! opening the store, and what clients hold (ids, numbers) survives. Runs on both backends.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::str::FromStr;

use palisade_core::id::{OrganizationId, RuleId, SecurityGroupId};
use palisade_core::policy::Direction;
use palisade_testkit::suite::{group, organization, rule};
use palisade_testkit::{once, Backend, TestDatabase};
use uuid::Uuid;

/// Applies this backend's migrations numbered below `before` (copied from the store crate).
async fn migrate_until(db: &TestDatabase, before: &str) {
    let backend = match db.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../palisade-store/migrations").join(backend);
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(source).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        if name.as_str() < before {
            std::fs::copy(entry.path(), dir.path().join(&name)).unwrap();
        }
    }
    let migrator = sqlx::migrate::Migrator::new(dir.path()).await.unwrap();
    match db.backend {
        Backend::Sqlite => {
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(&db.url)
                .unwrap()
                .create_if_missing(true)
                .foreign_keys(true);
            let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
            migrator.run(&pool).await.unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            migrator.run(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

/// Runs statements with one id bound to each `?` (SQLite) or `$n` (PostgreSQL).
async fn exec(db: &TestDatabase, sql: &str, ids: &[Uuid]) {
    match db.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            let mut q = sqlx::query(sql);
            for id in ids {
                q = q.bind(id.as_bytes().to_vec());
            }
            q.execute(&pool).await.unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            let mut numbered = String::new();
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    numbered.push_str(&format!("${n}"));
                } else {
                    numbered.push(c);
                }
            }
            let mut q = sqlx::query(&numbered);
            for id in ids {
                q = q.bind(*id);
            }
            q.execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

async fn old_rule_numbers_survive(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    migrate_until(&db, "0005").await;
    let (now, false_, true_) = match backend {
        Backend::Sqlite => ("0", "0", "1"),
        Backend::Postgres => ("now()", "false", "true"),
    };
    let remotes = match backend {
        Backend::Sqlite => "'[\"all:ipv4\"]'",
        Backend::Postgres => "ARRAY['all:ipv4']",
    };
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let (ga, gb) = (Uuid::new_v4(), Uuid::new_v4());
    for (org, g, name) in [(a, ga, "a"), (b, gb, "b")] {
        exec(
            &db,
            &format!(
                "INSERT INTO organizations (id, name, sub_domain, status, created_at, updated_at)
                 VALUES (?, '{name}', '{name}', 'active', {now}, {now})"
            ),
            &[org],
        )
        .await;
        exec(
            &db,
            &format!(
                "INSERT INTO security_groups (id, organization_id, kind, name, description, allow_all_inbound,
                                              allow_all_outbound, created_at, updated_at)
                 VALUES (?, ?, 'security_group', 'g', NULL, {false_}, {true_}, {now}, {now})"
            ),
            &[g, org],
        )
        .await;
    }
    // Global numbers 1 (a), 2 (b), 3 (a), 4 (a, then deleted).
    let rules: Vec<(Uuid, Uuid)> =
        vec![(Uuid::new_v4(), ga), (Uuid::new_v4(), gb), (Uuid::new_v4(), ga), (Uuid::new_v4(), ga)];
    for (id, g) in &rules {
        exec(
            &db,
            &format!(
                "INSERT INTO security_group_rules (id, group_id, direction, action, protocol, ports, priority,
                                                   remotes, description, created_at)
                 VALUES (?, ?, 'inbound', 'allow', 'tcp', '22', NULL, {remotes}, NULL, {now})"
            ),
            &[*id, *g],
        )
        .await;
    }
    exec(&db, "DELETE FROM security_group_rules WHERE id = ?", &[rules[3].0]).await;

    // Opening the store applies the rest.
    let store = db.store().await;
    let (a, b) = (OrganizationId::from_uuid(a), OrganizationId::from_uuid(b));
    let (ga, gb) = (SecurityGroupId::from_uuid(ga), SecurityGroupId::from_uuid(gb));
    let rid = |i: usize| RuleId::from_uuid(rules[i].0);
    assert_eq!(once!(store, rule_numbers(a, &[ga])).unwrap(), vec![(rid(0), 1), (rid(2), 3)]);
    assert_eq!(once!(store, rule_numbers(b, &[gb])).unwrap(), vec![(rid(1), 2)]);
    assert_eq!(once!(store, rule_by_number(a, 3)).unwrap(), Some(rid(2)));
    assert_eq!(once!(store, rule_by_number(b, 3)).unwrap(), None);
    // New rules continue above every number ever handed out (4 was deleted: never again).
    let next_a = rule(ga, Direction::Inbound, "80");
    once!(
        store,
        insert_rule(&::palisade_testkit::grants::group_grant(&store, (next_a).group_id).await, &next_a)
    )
    .unwrap();
    let next_b = rule(gb, Direction::Inbound, "80");
    once!(
        store,
        insert_rule(&::palisade_testkit::grants::group_grant(&store, (next_b).group_id).await, &next_b)
    )
    .unwrap();
    assert_eq!(once!(store, rule_by_number(a, 5)).unwrap(), Some(next_a.id));
    assert_eq!(once!(store, rule_by_number(b, 5)).unwrap(), Some(next_b.id));
    // A new organization starts at 1.
    let c = organization("c");
    once!(store, insert_organization(&::palisade_testkit::grants::op(), &c)).unwrap();
    let gc = group(c.id, "g");
    let first = rule(gc.id, Direction::Inbound, "22");
    once!(
        store,
        insert_security_group(
            &::palisade_testkit::grants::grant((gc).organization_id),
            &gc,
            std::slice::from_ref(&first)
        )
    )
    .unwrap();
    assert_eq!(once!(store, rule_numbers(c.id, &[gc.id])).unwrap(), vec![(first.id, 1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_old_rule_numbers_survive_the_per_organization_numbering() {
    old_rule_numbers_survive(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_old_rule_numbers_survive_the_per_organization_numbering() {
    old_rule_numbers_survive(Backend::Postgres).await;
}
