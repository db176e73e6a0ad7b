//! Round-trip latency and throughput of an in-process server, side by side with baselines measured
//! in the same run: the bare broker (a client's publish echoed back to itself, no mqttspec in the path)
//! and `ping` (broker + dispatch, no database). Also subscription matching with the equality
//! index against a scan of every subscription.
//!
//! `cargo bench --bench roundtrip` (optionally `-- <round trips>`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mqttspec::hooks::Client;
use mqttspec::query::Condition;
use mqttspec::subscription::SubscriptionRegistry;
use mqttspec::{EntityDef, Server, Value};
use serde_json::json;

// Also registers the `users` entity (`common::user`) that the server serves.
mod common;

use common::measure::{p50_p99, pipelined, sequential};
use common::probe::probe;
use common::user::User;

/// Pipelined requests per second: 8 clients × 16 in flight for 2 s.
async fn throughput(port: u16, tag: &str, body: serde_json::Value) -> f64 {
    let mut probes = Vec::new();
    for c in 0..8 {
        probes.push(probe(port, &format!("tp{c}-{tag}")).await);
    }
    let counter = Arc::new(AtomicU64::new(0));
    let next = Arc::new(move |_| {
        let mut b = body.clone();
        b["id"] = json!(format!("t{}", counter.fetch_add(1, Ordering::Relaxed)));
        Some(serde_json::to_vec(&b).unwrap())
    });
    let (probes, rate) =
        pipelined(probes, "spec/{id}/request", 16, Duration::from_secs(2), next, Arc::new(|_| {})).await;
    for p in probes {
        p.close().await;
    }
    rate.per_second()
}

fn matching(subscriptions: usize, changes: usize) {
    let def = EntityDef::of::<User>();
    let registry = SubscriptionRegistry::new(usize::MAX);
    let mut filters = Vec::new();
    for i in 0..subscriptions {
        let filter =
            Condition::parse_filters(&def, &json!([{"column": "email", "operator": "eq", "value": format!("u{i}@x")}]))
                .unwrap();
        filters.push(filter.clone());
        registry
            .add(Client::new(format!("c{i}"), None, None, None), def, filter, None, serde_json::Value::Null, |id| {
                id.to_owned()
            })
            .unwrap();
    }
    let rows: Vec<Vec<Value>> = (0..changes)
        .map(|i| {
            vec![
                Value::Int(i as i64),
                Value::Text("n".into()),
                Value::Text(format!("u{}@x", i * 7 % subscriptions)),
                Value::Null,
            ]
        })
        .collect();
    let start = Instant::now();
    let mut indexed = 0;
    for row in &rows {
        indexed += registry.matching(&def, None, Some(row)).len();
    }
    let indexed_time = start.elapsed();
    let start = Instant::now();
    let mut scanned = 0;
    for row in &rows {
        scanned += filters.iter().filter(|f| f.matches(row)).count();
    }
    let scan_time = start.elapsed();
    assert_eq!(indexed, scanned);
    println!(
        "matching {changes} changes against {subscriptions} equality subscriptions: index {:>8.2} µs/change   scan (baseline) {:>8.2} µs/change",
        indexed_time.as_secs_f64() * 1e6 / changes as f64,
        scan_time.as_secs_f64() * 1e6 / changes as f64
    );
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let dir = std::env::temp_dir().join(format!("mqttspec-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let server = Server::builder()
        .database_url(format!("sqlite://{}/bench.db", dir.display()))
        .without_discovered_hooks()
        .create_tables(true)
        .listen(([127, 0, 0, 1], 0).into())
        .start()
        .await
        .unwrap();
    let port = server.local_addr().expect("embedded broker").port();
    let mut p = probe(port, "bench").await;
    let seed = json!({"id": "seed", "type": "request", "operation": "create", "entity": "users", "data": {"name": "a", "email": "a@x"}});
    p.send("spec/bench/request", serde_json::to_vec(&seed).unwrap()).await;
    p.next().await;

    println!("sequential round trips, QoS 1, one client, n = {n} (SQLite file database)");
    type Payload = Box<dyn Fn(usize) -> Vec<u8>>;
    let rows: Vec<(&str, String, Payload)> = vec![
        ("broker echo (baseline)", "bench/bench/echo".into(), Box::new(|_| b"x".to_vec())),
        (
            "ping (broker + dispatch)",
            "spec/bench/request".into(),
            Box::new(|i| format!(r#"{{"id":"p{i}","type":"ping"}}"#).into_bytes()),
        ),
        (
            "read one",
            "spec/bench/request".into(),
            Box::new(|i| {
                format!(r#"{{"id":"r{i}","type":"request","operation":"read","entity":"users","record_id":1}}"#)
                    .into_bytes()
            }),
        ),
        (
            "read many (filter, sort, count)",
            "spec/bench/request".into(),
            Box::new(|i| {
                format!(r#"{{"id":"m{i}","type":"request","operation":"read","entity":"users","options":{{"filters":[{{"column":"name","operator":"eq","value":"a"}}],"sort":[{{"column":"email"}}],"limit":10}}}}"#).into_bytes()
            }),
        ),
        (
            "create",
            "spec/bench/request".into(),
            Box::new(|i| {
                format!(r#"{{"id":"c{i}","type":"request","operation":"create","entity":"users","data":{{"name":"b","email":"b{i}@x"}}}}"#).into_bytes()
            }),
        ),
    ];
    for (name, topic, payload) in &rows {
        let (p50, p99) = p50_p99(&mut sequential(&mut p, topic, n, payload, |_| {}).await);
        println!("  {name:<34} p50 {p50:>7.1} µs   p99 {p99:>7.1} µs");
    }
    println!("throughput, 8 clients × 16 in flight for 2 s");
    for (name, tag, body) in [
        ("ping (baseline)", "ping", json!({"type": "ping"})),
        ("read one", "read", json!({"type": "request", "operation": "read", "entity": "users", "record_id": 1})),
    ] {
        println!("  {name:<34} {:>9.0} requests/s", throughput(port, tag, body).await);
    }
    matching(10_000, 20_000);
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}
