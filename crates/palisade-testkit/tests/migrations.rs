//! Migrations that transform data: a database written under the older schema is migrated by
//! opening the store, and what clients hold (ids, numbers, remotes and ports as written)
//! survives. Runs on both backends.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::str::FromStr;

use palisade_core::id::{
    AddressListId, OrganizationId, RuleId, SecurityGroupId, ServerGroupId, ServerId, TagId,
};
use palisade_core::policy::{Action, Direction, Protocol, Remote, Rule};
use palisade_core::PageRequest;
use palisade_testkit::grants::group_grant;
use palisade_testkit::suite::{group, organization, port_ranges, rule};
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

/// Inserts an organization and a security group of it the way migrations 0001–0005 left them.
async fn old_group(db: &TestDatabase, org: Uuid, group: Uuid) {
    let (now, false_) = match db.backend {
        Backend::Sqlite => ("0", "0"),
        Backend::Postgres => ("to_timestamp(0)", "false"),
    };
    exec(
        db,
        &format!(
            "INSERT INTO organizations (id, name, sub_domain, status, created_at, updated_at)
             VALUES (?, 'o', 'o', 'active', {now}, {now})"
        ),
        &[org],
    )
    .await;
    exec(
        db,
        &format!(
            "INSERT INTO security_groups (id, organization_id, kind, name, description, allow_all_inbound,
                                          allow_all_outbound, created_at, updated_at)
             VALUES (?, ?, 'security_group', 'g', NULL, {false_}, {false_}, {now}, {now})"
        ),
        &[group, org],
    )
    .await;
}

/// Inserts a rule in the old form: `remotes` as the storage texts of the released version (a
/// JSON array on SQLite, `text[]` on PostgreSQL), `ports` as Katapult's port string.
async fn old_rule(db: &TestDatabase, id: Uuid, group: Uuid, ports: &str, remotes: &[&str]) {
    let quote = |text: &str| format!("'{}'", text.replace('\'', "''"));
    let (now, remotes) = match db.backend {
        Backend::Sqlite => {
            let json: Vec<String> = remotes
                .iter()
                .map(|r| format!("\"{}\"", r.replace('\\', "\\\\").replace('"', "\\\"")))
                .collect();
            ("0", quote(&format!("[{}]", json.join(","))))
        }
        Backend::Postgres => {
            let items: Vec<String> = remotes.iter().map(|r| quote(r)).collect();
            ("to_timestamp(0)", format!("ARRAY[{}]::text[]", items.join(", ")))
        }
    };
    let ports = quote(ports);
    exec(
        db,
        &format!(
            "INSERT INTO security_group_rules (id, group_id, direction, action, protocol, ports, priority,
                                               remotes, description, created_at)
             VALUES (?, ?, 'inbound', 'allow', 'tcp', {ports}, NULL, {remotes}, NULL, {now})"
        ),
        &[id, group],
    )
    .await;
}

/// Remotes and ports stored as texts by the released version (every kind of remote, CIDRs as
/// clients wrote them, hosts remotes with and without role and tags, tags needing JSON escapes,
/// port lists of several ranges or none) become typed rows that read back as the same rules.
async fn old_remotes_and_ports_become_typed_rows(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    migrate_until(&db, "0006").await;
    let (org, g) = (Uuid::new_v4(), Uuid::new_v4());
    old_group(&db, org, g).await;
    let (server, other, server_group, tag, list, role) = (
        ServerId::random(),
        SecurityGroupId::random(),
        ServerGroupId::random(),
        TagId::random(),
        AddressListId::random(),
        SecurityGroupId::random(),
    );
    let hosts = |role: Option<SecurityGroupId>, tags: &[&str]| Remote::Hosts {
        role,
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
    };
    let texts = [
        "all:ipv4".to_owned(),
        "all:ipv6".to_owned(),
        "cidr:10.0.0.5/24".to_owned(),
        "cidr:198.51.100.7".to_owned(),
        "cidr:2001:DB8::1/64".to_owned(),
        // Accepted before today's checks: kept, as clients may hold it.
        "cidr:1.2.3.4/0".to_owned(),
        format!("server:{server}"),
        format!("group:{other}"),
        format!("server_group:{server_group}"),
        format!("tag:{tag}"),
        format!("address_list:{list}"),
        format!(r#"hosts:{{"role":"{role}","tags":["env:prod","q\"uote:\\x","ü:1"]}}"#),
        r#"hosts:{"role":null,"tags":["tag:one","tag:two"]}"#.to_owned(),
        format!(r#"hosts:{{"role":"{role}","tags":[]}}"#),
        r#"hosts:{"role":null,"tags":[]}"#.to_owned(),
    ];
    let remotes = vec![
        Remote::AnyIpv4,
        Remote::AnyIpv6,
        Remote::Cidr("10.0.0.5/24".into()),
        Remote::Cidr("198.51.100.7".into()),
        Remote::Cidr("2001:DB8::1/64".into()),
        Remote::Cidr("1.2.3.4/0".into()),
        Remote::Server(server),
        Remote::Group(other),
        Remote::ServerGroup(server_group),
        Remote::Tag(tag),
        Remote::AddressList(list),
        hosts(Some(role), &["env:prod", "q\"uote:\\x", "ü:1"]),
        hosts(None, &["tag:one", "tag:two"]),
        hosts(Some(role), &[]),
        hosts(None, &[]),
    ];
    let text_refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let cases: Vec<(&str, Vec<&str>, Vec<Remote>)> = vec![
        ("22,80-90,443,1000-65535", text_refs, remotes),
        ("", vec![], vec![]),
        ("2000-3000", vec!["all:ipv6", "cidr:::/0"], vec![Remote::AnyIpv6, Remote::Cidr("::/0".into())]),
        (
            "53",
            vec![r#"hosts:{"role":null,"tags":["a:1"]}"#, "all:ipv4"],
            vec![hosts(None, &["a:1"]), Remote::AnyIpv4],
        ),
    ];
    let mut ids = Vec::new();
    for (ports, old, _) in &cases {
        let id = Uuid::new_v4();
        old_rule(&db, id, g, ports, old).await;
        ids.push(id);
    }

    // Opening the store applies the rest.
    let store = db.store().await;
    let group_id = SecurityGroupId::from_uuid(g);
    let expected: Vec<Rule> = ids
        .iter()
        .zip(cases)
        .map(|(id, (ports, _, remotes))| Rule {
            id: RuleId::from_uuid(*id),
            group_id,
            direction: Direction::Inbound,
            action: Action::Allow,
            protocol: Protocol::Tcp,
            ports: port_ranges(ports),
            icmp: None,
            priority: None,
            remotes,
            description: None,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        })
        .collect();
    for rule in &expected {
        assert_eq!(once!(store, rule(rule.id)).unwrap().as_ref(), Some(rule));
    }
    assert_eq!(once!(store, list_rules(group_id, PageRequest::default())).unwrap().items, expected);
    assert_eq!(once!(store, rules_of_groups(&[group_id])).unwrap(), expected);
    // New rules are written typed next to them.
    let new = rule(group_id, Direction::Inbound, "8080-8081,9000");
    once!(store, insert_rule(&group_grant(&store, group_id).await, &new)).unwrap();
    assert_eq!(once!(store, rule(new.id)).unwrap(), Some(new));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_old_remotes_and_ports_become_typed_rows() {
    old_remotes_and_ports_become_typed_rows(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_old_remotes_and_ports_become_typed_rows() {
    old_remotes_and_ports_become_typed_rows(Backend::Postgres).await;
}

/// A stored remote that does not decode (it never did: the released version could not read it
/// either) stops the migration, rather than being dropped or read as something wider.
async fn an_undecodable_remote_stops_the_migration(backend: Backend) {
    for bad in ["server:not-a-uuid", "nonsense:1", r#"hosts:{"role":"nope","tags":[]}"#] {
        let db = TestDatabase::new(backend).await;
        migrate_until(&db, "0006").await;
        let (org, g) = (Uuid::new_v4(), Uuid::new_v4());
        old_group(&db, org, g).await;
        old_rule(&db, Uuid::new_v4(), g, "22", &["all:ipv4", bad]).await;
        let opened = match backend {
            Backend::Sqlite => palisade_store::sqlite::SqliteStore::connect(
                &palisade_store::sqlite::SqliteConfig::new(&db.url),
            )
            .await
            .map(drop),
            Backend::Postgres => palisade_store::postgres::PostgresStore::connect(
                &palisade_store::postgres::PostgresConfig::new(&db.url),
            )
            .await
            .map(drop),
        };
        let err = opened.expect_err(bad);
        assert!(err.to_string().contains("migrating"), "{bad}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_an_undecodable_remote_stops_the_migration() {
    an_undecodable_remote_stops_the_migration(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_undecodable_remote_stops_the_migration() {
    an_undecodable_remote_stops_the_migration(Backend::Postgres).await;
}

/// Migration 0016: the ZStack groups of a database from before it (the groups with an address
/// family, which only the ZStack face sets) let unmatched outbound flows out, as ZStack's
/// agents do; other groups keep their outbound as it was; the policy revision of their
/// organization moves, so that its agents fetch the wider egress.
async fn zstack_groups_from_before_0016_let_unmatched_outbound_out(backend: Backend) {
    let db = TestDatabase::new(backend).await;
    migrate_until(&db, "0016").await;
    let (org, katapult, zstack) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    old_group(&db, org, katapult).await;
    let (now, false_) = match db.backend {
        Backend::Sqlite => ("0", "0"),
        Backend::Postgres => ("to_timestamp(0)", "false"),
    };
    exec(
        &db,
        &format!(
            "INSERT INTO security_groups (id, organization_id, kind, name, description, allow_all_inbound,
                                          allow_all_outbound, created_at, updated_at, ip_version)
             VALUES (?, ?, 'security_group', 'zstack', NULL, {false_}, {false_}, {now}, {now}, 4)"
        ),
        &[zstack, org],
    )
    .await;
    exec(&db, "INSERT INTO policy_revisions (organization_id, revision) VALUES (?, 7)", &[org]).await;

    let store = db.store().await;
    let flag = |group: Uuid| {
        let store = store.clone();
        async move {
            let group = once!(store, security_group(SecurityGroupId::from_uuid(group))).unwrap().unwrap();
            (group.allow_all_outbound, group.allow_unmatched_outbound)
        }
    };
    assert_eq!(flag(zstack).await, (false, true));
    assert_eq!(flag(katapult).await, (false, false));
    assert_eq!(once!(store, policy_revision(OrganizationId::from_uuid(org))).unwrap(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_zstack_groups_from_before_0016_let_unmatched_outbound_out() {
    zstack_groups_from_before_0016_let_unmatched_outbound_out(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_zstack_groups_from_before_0016_let_unmatched_outbound_out() {
    zstack_groups_from_before_0016_let_unmatched_outbound_out(Backend::Postgres).await;
}
