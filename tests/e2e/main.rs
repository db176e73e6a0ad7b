//! End-to-end: a real embedded broker, real MQTT clients, real SQLite and PostgreSQL.

#[path = "../support/mod.rs"]
mod support;

mod broker;
mod cluster;
mod database_faults;
mod durability;
mod example;
mod examples;
mod external;
mod harness;
mod hooks;
mod identity;
mod interop;
mod load;
mod metrics;
mod offline;
mod panics;
mod protocol;
mod raw;
mod rmqtt_cluster;
mod sessions;
mod soak;
mod subscriptions;
mod tls;

/// Declares each listed suite function once per backend, with the embedded broker and with a
/// real Mosquitto (the external broker mode; on SQLite also with the server speaking MQTT 3.1.1).
macro_rules! per_backend {
    ($($module:ident :: $name:ident),* $(,)?) => {
        per_backend!(@mod sqlite, Sqlite, Embedded; $($module::$name),*);
        per_backend!(@mod postgres, Postgres, Embedded; $($module::$name),*);
        per_backend!(@mod mosquitto_sqlite, Sqlite, Mosquitto; $($module::$name),*);
        per_backend!(@mod mosquitto_postgres, Postgres, Mosquitto; $($module::$name),*);
        per_backend!(@mod mosquitto311_sqlite, Sqlite, Mosquitto311; $($module::$name),*);
    };
    (@mod $mod:ident, $backend:ident, $broker:ident; $($module:ident :: $name:ident),*) => {
        mod $mod {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let setup = crate::harness::Setup {
                    backend: crate::support::Backend::$backend,
                    broker: crate::harness::Broker::$broker,
                };
                crate::$module::$name(setup).await
            }
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
    offline::a_persistent_session_gets_every_missed_change_in_order,
    offline::a_clean_session_resumes_from_its_last_seq,
);
