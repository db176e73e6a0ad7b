//! A write is executed once per request id, whatever happens between: the reply is logged in the
//! database with the write, so a restarted server, or a second server racing the first, answers a
//! redelivery with the first reply (PROTOCOL §7).

use std::sync::Arc;

use serde_json::json;
use tokio::sync::{Notify, Semaphore};

use crate::harness::{Setup, TestServer, ok};
use crate::support::{Backend, fresh_database_url};

fn create(id: &str) -> serde_json::Value {
    json!({"id": id, "type": "request", "operation": "create", "entity": "users", "data": {"name": "D", "email": "d@x"}})
}

async fn across_a_restart(backend: Backend) {
    let url = fresh_database_url(backend).await;
    let connect = || async { mqttspec::Database::connect(&url).await.expect("database") };
    let first = TestServer::start_on(Setup::from(backend), connect().await, |b| b).await;
    let mut client = first.client("durable").await;
    client.subscribe_own().await;
    let reply = client.request(create("w1")).await;
    ok(&reply);
    let mut other_row = create("w0");
    other_row["data"]["email"] = json!("v@x");
    let victim = ok(&client.request(other_row).await)["id"].clone();
    let delete = json!({"id": "d1", "type": "request", "operation": "delete", "entity": "users", "record_id": victim});
    let deleted = client.request(delete.clone()).await;
    ok(&deleted);
    client.disconnect().await;
    first.server.shutdown().await;

    // A new server process: nothing in memory, the same database.
    let setup = Setup::from(backend);
    let second = TestServer::start_on(setup, connect().await, |b| b).await;
    let mut again = second.client("durable").await;
    again.subscribe_own().await;
    assert_eq!(again.request(create("w1")).await, reply, "the logged reply, byte for byte");
    assert_eq!(second.user_count().await, 1, "executed once");
    // A repeated delete fails on its own (the row is gone) and still gets the first run's reply.
    assert_eq!(again.request(delete).await, deleted, "the logged reply of the delete");
    // Another requester's `w1` is another request.
    let mut other = second.client("someone-else").await;
    other.subscribe_own().await;
    let mut theirs = create("w1");
    theirs["data"]["email"] = json!("e@x");
    assert_eq!(ok(&other.request(theirs).await)["email"], "e@x");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_is_answered_once_across_a_restart_sqlite() {
    across_a_restart(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_is_answered_once_across_a_restart_postgres() {
    across_a_restart(Backend::Postgres).await;
}

/// Two servers on one database receive the same request (a takeover's redelivery) and run it at
/// the same moment: one commits, the other rolls back and answers with the first's reply.
async fn two_servers_racing(backend: Backend) {
    let gate = Arc::new(Semaphore::new(0));
    let entered = Arc::new(Notify::new());
    let hold = |gate: Arc<Semaphore>, entered: Arc<Notify>| {
        move |b: mqttspec::ServerBuilder| {
            b.hook(
                mqttspec::HookPoint::AfterCreate,
                0,
                "hold",
                mqttspec::hooks::hook_fn(move |_ctx| {
                    let (gate, entered) = (gate.clone(), entered.clone());
                    Box::pin(async move {
                        entered.notify_one();
                        gate.acquire().await.expect("open").forget();
                        Ok(())
                    })
                }),
            )
        }
    };
    let a = TestServer::start_with(backend, hold(gate.clone(), entered.clone())).await;
    let b = TestServer::start_on(Setup::from(backend), a.db.clone(), hold(gate.clone(), entered.clone())).await;
    let mut on_a = a.client("racer").await;
    on_a.subscribe_own().await;
    let mut on_b = b.client("racer").await;
    on_b.subscribe_own().await;
    on_a.send(&create("r1")).await;
    entered.notified().await;
    // The same request reaches the second server while the first still holds it.
    on_b.send(&create("r1")).await;
    // The second run waits for the first at its claim of the request id (PostgreSQL: a row lock;
    // SQLite: the write lock), before any hook of its own. On PostgreSQL, see it wait.
    if backend == Backend::Postgres {
        let mut conn = a.db.acquire().await.unwrap();
        let waiting = "SELECT 1 FROM pg_locks WHERE NOT granted";
        let deadline = tokio::time::Instant::now() + crate::harness::WAIT;
        while conn.conn().execute_with(waiting, &[]).await.unwrap() == 0 {
            assert!(tokio::time::Instant::now() < deadline, "the second run never waited for the first");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    gate.add_permits(2);
    let (first, second) = (on_a.reply_with_id(&json!("r1")).await, on_b.reply_with_id(&json!("r1")).await);
    assert_eq!(ok(&first)["name"], "D");
    assert_eq!(first, second, "both answer with the reply that committed");
    assert_eq!(a.user_count().await, 1, "executed once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_racing_one_request_execute_it_once_sqlite() {
    two_servers_racing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_racing_one_request_execute_it_once_postgres() {
    two_servers_racing(Backend::Postgres).await;
}
