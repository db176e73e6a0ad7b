//! End-to-end: a real embedded broker, real MQTT clients, real SQLite and PostgreSQL.

#[path = "../support/mod.rs"]
mod support;

mod example;
mod examples;
mod harness;
mod hooks;
mod identity;
mod interop;
mod protocol;
mod subscriptions;

/// Declares each listed suite function once per backend.
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
    protocol::every_operation,
    protocol::every_error_code,
    protocol::idempotent_redelivery,
    subscriptions::filters_scopes_and_full_rows,
    subscriptions::seq_has_no_gaps_under_rapid_changes,
    hooks::every_hook_point_fires_with_its_context,
    hooks::hooks_write_inside_the_transaction,
);
