//! Runs every store-suite test on SQLite and on PostgreSQL, each on a fresh database.

#![allow(clippy::unwrap_used)]

use palisade_testkit::{once, Backend, TestDatabase};

macro_rules! on_backend {
    ($backend:ident, $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let db = TestDatabase::new(Backend::$backend).await;
                palisade_testkit::suite::$name(db.store().await).await;
            }
        )*
    };
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            use super::*;
            on_backend!(Sqlite, $($name),*);
        }
        mod postgres {
            use super::*;
            on_backend!(Postgres, $($name),*);
        }
    };
}

suite!(
    organizations_round_trip,
    duplicate_sub_domain_is_already_exists,
    concurrent_duplicates_have_exactly_one_winner,
    pagination_is_in_creation_order_with_totals,
    tokens_round_trip_and_revoke_once,
    users_round_trip,
    audit_events_read_back_newest_first_and_filter,
    settings_first_writer_wins_and_a_put_replaces,
    inventory_round_trip,
    deleting_an_organization_removes_what_it_owns,
    ping_answers,
    a_small_prefix_fills_in_order_then_is_exhausted,
    reservations_and_claimed_addresses_are_skipped,
    released_addresses_are_reused_lowest_first,
    ipv6_prefixes_up_to_a_48_allocate_sparsely,
    concurrent_allocations_never_collide,
    allocation_to_interfaces_and_server_deletion,
    deleting_an_organization_returns_its_addresses,
    address_fields_update,
    security_groups_round_trip,
    concurrent_group_names_have_one_winner,
    rules_round_trip_and_respect_allow_all,
    tags_round_trip_and_leave_groups_with_them,
    address_lists_round_trip,
    groups_are_created_and_replaced_with_their_rules,
    hosts_round_trip_with_their_role_and_address,
    members_are_added_one_at_a_time_concurrently,
    rule_numbers_are_per_organization_and_never_reused,
    servers_join_one_server_group_of_their_organization,
    renaming_a_hosts_server_keeps_host_names_unique,
    group_pages_load_members_annotations_and_rules_in_batches,
    every_remote_kind_and_port_ranges_round_trip,
    long_lists_are_written_whole_in_order_or_not_at_all,
    each_policy_write_bumps_its_revision_once,
    refused_writes_reads_and_other_writes_bump_nothing,
    one_transaction_bumps_each_organization_once,
    grants_confine_writes_to_their_organization,
    policy_snapshot_equals_the_per_object_reads,
    policy_snapshot_of_an_empty_organization_is_empty,
    policy_snapshot_is_one_state_under_concurrent_writes,
    policy_changes_are_announced_and_reports_kept,
);

/// Two nodes on one database: a snapshot keeps a group's rules, and the servers, only while
/// they are unchanged.
mod two_nodes {
    use super::*;

    macro_rules! on_two_nodes {
        ($backend:ident, $($name:ident),* $(,)?) => {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = TestDatabase::new(Backend::$backend).await;
                    let (store, other) = (db.store().await, db.store().await);
                    palisade_testkit::suite::$name(store, other).await;
                }
            )*
        };
    }

    mod sqlite {
        use super::*;
        on_two_nodes!(
            Sqlite,
            policy_snapshots_keep_a_groups_rules_only_while_unchanged,
            policy_snapshots_keep_servers_only_while_unchanged,
        );
    }

    mod postgres {
        use super::*;
        on_two_nodes!(
            Postgres,
            policy_snapshots_keep_a_groups_rules_only_while_unchanged,
            policy_snapshots_keep_servers_only_while_unchanged,
        );
    }
}

/// The configured statement timeout reaches PostgreSQL sessions.
#[tokio::test]
async fn postgres_sessions_carry_the_statement_timeout() {
    let db = TestDatabase::new(Backend::Postgres).await;
    let mut config = palisade_store::postgres::PostgresConfig::new(db.url.clone());
    config.statement_timeout = std::time::Duration::from_millis(250);
    let store = palisade_store::postgres::PostgresStore::connect(&config).await.unwrap();
    let shown: String = sqlx::query_scalar("SHOW statement_timeout").fetch_one(store.pool()).await.unwrap();
    assert_eq!(shown, "250ms");
    let err = sqlx::query("SELECT pg_sleep(2)").execute(store.pool()).await.unwrap_err();
    assert_eq!(err.as_database_error().and_then(|e| e.code()).as_deref(), Some("57014"));
}

/// PostgreSQL cannot store NUL in `text` (22021) or `jsonb` (22P05). The core refuses NUL
/// before it reaches a store; should a field ever miss that check, the store still answers a
/// client error naming bad characters, never an internal error (a 500).
#[tokio::test]
async fn postgres_maps_a_nul_to_a_client_error() {
    use palisade_core::{Error, ViolationCode};
    let db = TestDatabase::new(Backend::Postgres).await;
    let store = db.store().await;
    let refused = |e: Error| match e {
        Error::Invalid(v) => v.len() == 1 && v[0].code == ViolationCode::InvalidCharacters,
        _ => false,
    };
    let err = once!(store, organization_by_sub_domain("a\0b")).unwrap_err();
    assert!(refused(err.clone()), "lookup: {err:?}");
    let mut org = palisade_testkit::suite::organization("nul");
    org.name = "a\0b".into();
    let err = once!(store, insert_organization(&::palisade_testkit::grants::op(), &org)).unwrap_err();
    assert!(refused(err.clone()), "insert: {err:?}");
    let err = once!(store, user_credentials("a\0b")).unwrap_err();
    assert!(refused(err.clone()), "user lookup: {err:?}");
    // `jsonb` refuses the escaped form `\u0000` with another code (22P05).
    let (org, net) = palisade_testkit::suite::ipam_fixture(&store, &["10.9.0.0/29"], &[]).await;
    let mut host = palisade_testkit::suite::host(org, net.id, "h", None);
    host.overlay.config_overrides = r#"[{"key":"a","value":"\u0000"}]"#.into();
    let err = once!(
        store,
        insert_host(&::palisade_testkit::grants::grant((host).server.organization_id), &host, &[], None)
    )
    .unwrap_err();
    assert!(refused(err.clone()), "jsonb: {err:?}");
    assert_eq!(once!(store, server(org, host.server.id)).unwrap(), None, "nothing written");
}
