//! Round-trip latency and throughput of the server, side by side with baselines measured in the
//! same run: the bare broker (a client's publish echoed back to itself, no mqttspec in the path)
//! and `ping` (broker + dispatch, no database). Also subscription matching with the equality
//! index against a scan of every subscription.
//!
//! `cargo bench --bench roundtrip` (optionally `-- <round trips>`).

use std::time::{Duration, Instant};

use mqttspec::hooks::Client;
use mqttspec::query::Condition;
use mqttspec::subscription::SubscriptionRegistry;
use mqttspec::{EntityDef, Server, SpecEntity, Value};
use rumqttc::QoS;
use serde_json::json;

#[path = "common/probe.rs"]
mod probe;

use probe::{Probe, probe};

#[derive(Debug, SpecEntity)]
#[spec(table = "users")]
struct User {
    #[spec(generated)]
    id: i64,
    name: String,
    email: String,
    status: Option<String>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

async fn measure(p: &mut Probe, topic: &str, payload: impl Fn(usize) -> Vec<u8>, n: usize) -> (Duration, Duration) {
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let start = Instant::now();
        p.client.publish(topic, QoS::AtLeastOnce, false, payload(i)).await.unwrap();
        p.rx.recv().await.unwrap();
        samples.push(start.elapsed());
    }
    samples.sort();
    (percentile(&samples, 0.5), percentile(&samples, 0.99))
}

async fn throughput(port: u16, clients: usize, per_client: usize, body: serde_json::Value) -> f64 {
    let mut probes = Vec::new();
    for c in 0..clients {
        probes.push(probe(port, &format!("tp{c}-{}", body["operation"].as_str().unwrap_or("ping"))).await);
    }
    let start = Instant::now();
    let tasks: Vec<_> = probes
        .into_iter()
        .enumerate()
        .map(|(c, mut p)| {
            let body = body.clone();
            tokio::spawn(async move {
                let topic = format!("spec/tp{c}-{}/request", body["operation"].as_str().unwrap_or("ping"));
                for i in 0..per_client {
                    let mut b = body.clone();
                    b["id"] = json!(format!("{c}-{i}"));
                    p.client.publish(&topic, QoS::AtLeastOnce, false, serde_json::to_vec(&b).unwrap()).await.unwrap();
                }
                for _ in 0..per_client {
                    p.rx.recv().await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    (clients * per_client) as f64 / start.elapsed().as_secs_f64()
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
    p.client.publish("spec/bench/request", QoS::AtLeastOnce, false, serde_json::to_vec(&seed).unwrap()).await.unwrap();
    p.rx.recv().await.unwrap();

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
        let (p50, p99) = measure(&mut p, topic, payload, n).await;
        println!("  {name:<34} p50 {:>7.1} µs   p99 {:>7.1} µs", p50.as_secs_f64() * 1e6, p99.as_secs_f64() * 1e6);
    }
    println!("throughput, 8 clients × 500 pipelined requests");
    for (name, body) in [
        ("ping (baseline)", json!({"type": "ping"})),
        ("read one", json!({"type": "request", "operation": "read", "entity": "users", "record_id": 1})),
    ] {
        println!("  {name:<34} {:>9.0} requests/s", throughput(port, 8, 500, body).await);
    }
    matching(10_000, 20_000);
    server.shutdown().await;
    let _ = std::fs::remove_dir_all(dir);
}
