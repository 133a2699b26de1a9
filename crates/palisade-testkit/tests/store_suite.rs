//! Runs every store-suite test on SQLite and on PostgreSQL, each on a fresh database.

#![allow(clippy::unwrap_used)]

use palisade_testkit::{Backend, TestDatabase};

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
    settings_first_writer_wins,
    inventory_round_trip,
    deleting_an_organization_removes_what_it_owns,
    ping_answers,
);
