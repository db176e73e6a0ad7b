//! The query engine's behavioural suite, run against real SQLite and real PostgreSQL.

#[path = "../support/mod.rs"]
mod support;

mod entities;
mod fixture;
mod fuzz_corpus;
mod hostile;
mod paging;
mod properties;
mod queries;
mod writes;

/// Declares each listed suite function once per backend: `sqlite::name` and `postgres::name`.
macro_rules! per_backend {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { crate::$module::$name(crate::support::Backend::Sqlite).await }
            )*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { crate::$module::$name(crate::support::Backend::Postgres).await }
            )*
        }
    };
}

per_backend!(
    writes::crud_round_trip,
    writes::every_type_round_trips,
    writes::partial_update_and_null,
    writes::batch_create_is_atomic,
    writes::missing_records_are_not_found,
    writes::unique_and_foreign_key_violations_are_conflicts,
    writes::read_only_entity_refuses_writes,
    writes::create_validation,
    writes::custom_field_types,
    writes::a_dropped_transaction_is_rolled_back_before_its_connection_is_reused,
    queries::every_operator_on_every_type,
    queries::or_groups_and_nesting,
    queries::sort_on_several_columns,
    queries::typed_filters_match_their_json_twins,
    properties::sql_and_matcher_select_the_same_rows,
    properties::cursor_pages_equal_one_sorted_read,
    queries::limit_offset_and_max_limit,
    queries::projection,
    queries::count_modes,
    queries::meta,
    paging::keyset_forwards_and_backwards_with_ties,
    paging::cursor_bound_to_its_query,
    hostile::hostile_identifiers_and_values_leave_tables_unchanged,
);
