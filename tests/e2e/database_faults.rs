//! PostgreSQL goes away under a running server and comes back: requests meanwhile are answered
//! `unavailable` (never a hang), and service resumes on its own. The test runs a PostgreSQL of its
//! own (initdb on a free loopback port), so stopping it disturbs nothing else.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{Setup, TestServer, err, ok};
use crate::support::Backend;

struct PrivatePostgres {
    dir: PathBuf,
    port: u16,
}

fn bin(name: &str) -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<_> = std::fs::read_dir(root)
        .unwrap_or_else(|e| panic!("PostgreSQL is required (scripts/test installs it): {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    versions.sort();
    versions.last().expect("a PostgreSQL version").join("bin").join(name)
}

/// Runs a PostgreSQL tool as the `postgres` user when we are root (PostgreSQL refuses root).
fn pg(tool: &str, args: &[&str]) {
    let root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false);
    let mut command = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin(tool));
        c
    } else {
        Command::new(bin(tool))
    };
    let output = command.args(args).output().expect("PostgreSQL tool runs");
    assert!(output.status.success(), "{tool} {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

impl PrivatePostgres {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("mqttspec-pg-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let _ = Command::new("chown").args(["postgres:postgres", dir.to_str().unwrap()]).status();
        let data = dir.join("data");
        pg("initdb", &["-D", data.to_str().unwrap(), "-U", "mqttspec", "--auth=trust", "-E", "UTF8", "--locale=C"]);
        let this = Self { dir, port };
        this.up();
        this
    }

    fn options(&self) -> String {
        format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off", self.port, self.dir.display())
    }

    fn up(&self) {
        let data = self.dir.join("data");
        let log = self.dir.join("log");
        pg(
            "pg_ctl",
            &["-D", data.to_str().unwrap(), "-l", log.to_str().unwrap(), "-o", &self.options(), "-w", "start"],
        );
    }

    fn down(&self) {
        pg("pg_ctl", &["-D", self.dir.join("data").to_str().unwrap(), "-m", "fast", "-w", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://mqttspec@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(bin("pg_ctl"))
            .args(["-D", data.to_str().unwrap(), "-m", "immediate", "stop"])
            .output();
        let _ = Command::new(bin("pg_ctl")).args(["-D", data.to_str().unwrap(), "-m", "immediate", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_unavailable_then_recovery() {
    let postgres = PrivatePostgres::start();
    let db = mqttspec::Database::connect(&postgres.url()).await.expect("the private PostgreSQL");
    let server = TestServer::start_on(Setup::from(Backend::Postgres), db, |b| b).await;
    let mut c = server.client("patient").await;
    c.subscribe_own().await;
    ok(&c.request(json!({"operation": "create", "entity": "users", "data": {"name": "a", "email": "a@x"}})).await);

    postgres.down();
    let asked = Instant::now();
    let reply = c.request(json!({"operation": "read", "entity": "users"})).await;
    err(&reply, "unavailable");
    let waited = asked.elapsed();
    assert!(waited < Duration::from_secs(9), "answered within the acquire timeout, not a hang: {waited:?}");
    let write =
        c.request(json!({"operation": "create", "entity": "users", "data": {"name": "b", "email": "b@x"}})).await;
    err(&write, "unavailable");

    postgres.up();
    let back = Instant::now();
    let mut attempt = 0;
    let read = loop {
        attempt += 1;
        let reply = c.request(json!({"operation": "read", "entity": "users"})).await;
        if reply["success"] == true {
            break reply;
        }
        err(&reply, "unavailable");
        assert!(back.elapsed() < Duration::from_secs(20), "service did not resume: {reply}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(ok(&read).as_array().unwrap().len(), 1, "the first row is there, the refused write is not");
    eprintln!(
        "PostgreSQL stopped: unavailable after {waited:?}; restarted: service back after {:?} ({attempt} attempts)",
        back.elapsed()
    );
}

/// A statement that waits longer than the configured statement timeout (here: an update of a
/// row another transaction holds locked) is answered `unavailable` at that timeout, writes
/// nothing, and the same request succeeds once the lock is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_past_its_timeout_is_unavailable() {
    let url = crate::support::fresh_database_url(Backend::Postgres).await;
    let options = mqttspec::DatabaseOptions::default()
        .statement_timeout(Duration::from_millis(300))
        .acquire_timeout(Duration::from_secs(2));
    let db = mqttspec::Database::connect_with(&url, &options).await.unwrap();
    let server = TestServer::start_on(Setup::from(Backend::Postgres), db, |b| b).await;
    let mut c = server.client("patient").await;
    c.subscribe_own().await;
    let created =
        ok(&c.request(json!({"operation": "create", "entity": "users", "data": {"name": "a", "email": "a@x"}})).await);
    let id = created["id"].as_i64().unwrap();
    let holder = mqttspec::Database::connect(&url).await.unwrap();
    let mut lock = holder.begin().await.unwrap();
    lock.conn()
        .execute_with("SELECT id FROM users WHERE id = $1 FOR UPDATE", &[mqttspec::Value::Int(id)])
        .await
        .unwrap();
    let update = json!({"operation": "update", "entity": "users", "record_id": id, "data": {"name": "b"}});
    let asked = Instant::now();
    err(&c.request(update.clone()).await, "unavailable");
    let waited = asked.elapsed();
    assert!(waited < Duration::from_secs(2), "cancelled at the statement timeout: {waited:?}");
    lock.rollback().await.unwrap();
    assert_eq!(ok(&c.request(update).await)["name"], "b");
    eprintln!("statement timeout 300 ms: unavailable after {waited:?}");
}

/// SQLite locked by another writer: a write waits at most the acquire timeout, is answered
/// `unavailable` with nothing written, and succeeds once the lock is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_sqlite_is_unavailable_then_writable() {
    let url = crate::support::fresh_database_url(Backend::Sqlite).await;
    let options = mqttspec::DatabaseOptions::default().acquire_timeout(Duration::from_millis(300));
    let db = mqttspec::Database::connect_with(&url, &options).await.unwrap();
    let server = TestServer::start_on(Setup::from(Backend::Sqlite), db, |b| b).await;
    let mut c = server.client("patient").await;
    c.subscribe_own().await;
    ok(&c.request(json!({"operation": "create", "entity": "users", "data": {"name": "a", "email": "a@x"}})).await);
    let holder = mqttspec::Database::connect(&url).await.unwrap();
    let mut lock = holder.begin().await.unwrap();
    lock.conn().execute("UPDATE users SET name = 'held' WHERE id = 1").await.unwrap();
    let create = json!({"operation": "create", "entity": "users", "data": {"name": "b", "email": "b@x"}});
    let asked = Instant::now();
    err(&c.request(create.clone()).await, "unavailable");
    let waited = asked.elapsed();
    assert!(waited < Duration::from_secs(3), "answered after the busy wait, not a hang: {waited:?}");
    lock.rollback().await.unwrap();
    assert_eq!(server.user_count().await, 1, "nothing of the refused write");
    ok(&c.request(create).await);
    assert_eq!(server.user_count().await, 2);
    eprintln!("SQLite locked: unavailable after {waited:?}");
}
