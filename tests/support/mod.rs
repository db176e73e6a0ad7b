//! Shared by the test binaries: real databases per test.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use mqttspec::Database;

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server the tests use (`scripts/test` starts it and sets the variable).
pub fn postgres_admin_url() -> String {
    std::env::var("MQTTSPEC_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://mqttspec:mqttspec@127.0.0.1:5432/postgres".to_owned())
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh, empty database: a SQLite file in a temporary directory, or a new PostgreSQL database.
/// A PostgreSQL server that cannot be reached fails the test, loudly.
pub async fn fresh_database_url(backend: Backend) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let unique = format!(
        "{}_{}_{}",
        std::process::id(),
        n,
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos()
    );
    match backend {
        Backend::Sqlite => {
            // The test command gives each run its own directory and removes it afterwards.
            let dir = std::env::var_os("MQTTSPEC_TEST_TMPDIR")
                .map_or_else(|| std::env::temp_dir().join("mqttspec-tests"), std::path::PathBuf::from);
            std::fs::create_dir_all(&dir).unwrap();
            format!("sqlite://{}", dir.join(format!("t_{unique}.db")).display())
        }
        Backend::Postgres => {
            let admin_url = postgres_admin_url();
            let admin = Database::connect(&admin_url).await.unwrap_or_else(|e| {
                panic!(
                    "PostgreSQL is required for this test but cannot be reached at {admin_url} ({e}); \
                     run scripts/test, which installs and starts it"
                )
            });
            let name = format!("mqttspec_t_{unique}");
            let mut conn = admin.acquire().await.unwrap();
            // Byte-order collation: text comparisons then agree with the in-memory matcher.
            conn.conn()
                .execute(&format!(
                    "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C.UTF-8'"
                ))
                .await
                .unwrap();
            drop(conn);
            admin.close().await;
            match admin_url.rsplit_once('/') {
                Some((base, _)) => format!("{base}/{name}"),
                None => panic!("bad PostgreSQL URL {admin_url}"),
            }
        }
    }
}

/// Connects to a fresh database.
pub async fn fresh_database(backend: Backend) -> Database {
    let url = fresh_database_url(backend).await;
    Database::connect(&url).await.expect("connect to the fresh test database")
}
