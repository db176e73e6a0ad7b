//! Load: many concurrent clients, each pipelining mixed requests at QoS 1 (create, read with a
//! filter, update of a shared row, subscribe), on the embedded broker and PostgreSQL. Every
//! request is answered exactly once: none lost, none duplicated, every create written once.
//!
//! Ignored in the suite (it is long); `scripts/load` runs it, bounded: `LOAD_CLIENTS` (default
//! 1,000) × `LOAD_REQUESTS` (default 100), within `LOAD_SECONDS` (default 600).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{TestClient, TestServer, ok};
use crate::support::Backend;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// What one client saw: replies by request id (how many times each), successes, creates.
struct Tally {
    answered: HashMap<String, usize>,
    ok: usize,
    creates: usize,
}

async fn one_client(port: u16, i: usize, requests: usize) -> Tally {
    let id = format!("load-{i}");
    let mut c = TestClient::connect(port, &id, None).await.expect("connects");
    c.subscribe_own().await;
    let mut creates = 0;
    for k in 0..requests {
        let request = match k % 4 {
            0 => {
                creates += 1;
                json!({"id": format!("r{k}"), "type": "request", "operation": "create", "entity": "users",
                    "data": {"name": id, "email": format!("{i}-{k}@x")}})
            }
            1 => json!({"id": format!("r{k}"), "type": "request", "operation": "read", "entity": "users",
                "options": {"filters": [{"column": "name", "operator": "eq", "value": id}], "limit": 5}}),
            2 => json!({"id": format!("r{k}"), "type": "request", "operation": "update", "entity": "users",
                "record_id": 1, "data": {"status": format!("{i}")}}),
            _ => json!({"id": format!("r{k}"), "type": "subscription", "operation": "subscribe", "entity": "users",
                "options": {"filters": [{"column": "name", "operator": "eq", "value": id}]}}),
        };
        c.send(&request).await;
    }
    let mut answered: HashMap<String, usize> = HashMap::new();
    let mut ok = 0;
    // Every reply, then a quiet moment in which a duplicate would show.
    while answered.len() < requests {
        let Some((topic, reply)) = c.message_on(&format!("spec/{id}/response"), Duration::from_secs(60)).await else {
            break;
        };
        debug_assert!(topic.ends_with("/response"));
        *answered.entry(reply["id"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
        ok += usize::from(reply["success"] == true);
    }
    while let Some((_, reply)) = c.message_on(&format!("spec/{id}/response"), Duration::from_millis(300)).await {
        *answered.entry(reply["id"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
    }
    c.disconnect().await;
    Tally { answered, ok, creates }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: run by scripts/load"]
async fn many_clients_pipelining_mixed_requests_lose_nothing() {
    let (clients, requests) = (env("LOAD_CLIENTS", 1000), env("LOAD_REQUESTS", 100));
    let server = TestServer::start(Backend::Postgres).await;
    let mut seed = server.client("seed").await;
    seed.subscribe_own().await;
    ok(&seed
        .request(json!({"operation": "create", "entity": "users", "data": {"name": "shared", "email": "s@x"}}))
        .await);
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients).map(|i| tokio::spawn(one_client(server.port, i, requests))).collect();
    let (mut lost, mut duplicated, mut succeeded, mut creates) = (0, 0, 0, 0);
    for task in tasks {
        let tally = task.await.expect("client task");
        lost += requests - tally.answered.len();
        duplicated += tally.answered.values().map(|n| n - 1).sum::<usize>();
        succeeded += tally.ok;
        creates += tally.creates;
    }
    let elapsed = started.elapsed();
    let rows = server.user_count().await;
    let total = clients * requests;
    eprintln!(
        "load: {clients} clients × {requests} requests = {total} in {elapsed:?} ({:.0}/s): lost {lost}, duplicated {duplicated}, \
         succeeded {succeeded}, rows {rows} (creates {creates} + 1)",
        total as f64 / elapsed.as_secs_f64()
    );
    assert_eq!((lost, duplicated), (0, 0), "every request answered exactly once");
    assert_eq!(rows, creates + 1, "every create written once");
    assert_eq!(succeeded, total, "every request succeeded");
}
