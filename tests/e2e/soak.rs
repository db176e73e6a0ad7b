//! Soak: the quickstart, out of process, under connect/disconnect churn with distinct client ids
//! (each connects, subscribes, reads, creates, leaves); its resident memory is sampled every
//! `SOAK_SAMPLE_SECONDS` and the slope over the second half of the run is reported. Memory that
//! keeps growing with the number of clients that came and went fails the test.
//!
//! Ignored in the suite (it is long); `scripts/soak` runs it, bounded by `SOAK_SECONDS` (default
//! 600) and `SOAK_CLIENTS` (default 100,000 distinct ids).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::example::Example;
use crate::harness::{TestClient, ok};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn visit(port: u16, id: String) {
    let mode = std::env::var("SOAK_MODE").unwrap_or_default();
    let mut c = TestClient::connect(port, &id, None).await.expect("connects");
    if mode == "connect" {
        c.disconnect().await;
        return;
    }
    c.subscribe_own().await;
    if mode == "subscribe" {
        c.disconnect().await;
        return;
    }
    if mode == "read" {
        ok(&c.request(json!({"operation": "read", "entity": "users", "options": {"limit": 1}})).await);
        c.disconnect().await;
        return;
    }
    ok(&c
        .request(json!({"type": "subscription", "operation": "subscribe", "entity": "users",
        "options": {"filters": [{"column": "name", "operator": "eq", "value": id}]}}))
        .await);
    ok(&c.request(json!({"operation": "read", "entity": "users", "options": {"limit": 1}})).await);
    ok(&c
        .request(json!({"operation": "create", "entity": "users", "data": {"name": id, "email": format!("{id}@x")}}))
        .await);
    c.disconnect().await;
}

/// Least-squares slope of (seconds, KiB).
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let (sx, sy) = points.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let num: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let den: f64 = points.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    if den == 0.0 { 0.0 } else { num / den }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: run by scripts/soak"]
async fn churn_keeps_memory_flat() {
    let (seconds, clients, sample) =
        (env("SOAK_SECONDS", 600), env("SOAK_CLIENTS", 100_000), env("SOAK_SAMPLE_SECONDS", 10));
    // `SOAK_PORT` (and `SOAK_PID`, whose memory is sampled): churn a server started elsewhere, under
    // a profiler for example, instead of the quickstart started here.
    let external = std::env::var("SOAK_PORT").ok().and_then(|p| p.parse::<u16>().ok());
    let example = match external {
        Some(_) => None,
        None => Some(Example::start("quickstart", &[("RUST_LOG", "warn,quickstart=info")])),
    };
    let pid = std::env::var("SOAK_PID").ok().and_then(|p| p.parse::<u32>().ok());
    let rss_kib = || match (&example, pid) {
        (Some(example), _) => example.rss_kib() as f64,
        (None, Some(pid)) => crate::example::rss_kib(pid) as f64,
        (None, None) => 0.0,
    };
    let port = external.or(example.as_ref().map(|e| e.port)).expect("a port");
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut samples = vec![(0.0, rss_kib())];
    let mut next_sample = started + Duration::from_secs(sample);
    let mut visited = 0u64;
    while visited < clients && Instant::now() < deadline {
        // 32 visitors at a time, each a new client id.
        let batch: Vec<_> = (0..32).map(|k| tokio::spawn(visit(port, format!("soak-{}", visited + k)))).collect();
        for task in batch {
            task.await.expect("a visit");
        }
        visited += 32;
        if Instant::now() >= next_sample {
            samples.push((started.elapsed().as_secs_f64(), rss_kib()));
            next_sample += Duration::from_secs(sample);
        }
    }
    samples.push((started.elapsed().as_secs_f64(), rss_kib()));
    let second_half: Vec<_> = samples[samples.len() / 2..].to_vec();
    let kib_per_min = slope(&second_half) * 60.0;
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!(
        "soak: {visited} distinct clients in {elapsed:.0} s; RSS {:.0} → {:.0} KiB (max {:.0}); slope over the second half {kib_per_min:.1} KiB/min",
        samples[0].1,
        samples.last().unwrap().1,
        samples.iter().map(|s| s.1).fold(0.0, f64::max)
    );
    eprintln!("soak samples (s, KiB): {samples:?}");
    // What each departed client may leave behind is bounded (its remembered replies until the
    // idempotency window, its ended subscriptions until their retention): growth must level off.
    let per_client_kib = (samples.last().unwrap().1 - samples[0].1) / visited.max(1) as f64;
    assert!(
        kib_per_min < 2048.0 || elapsed < 120.0,
        "memory still growing at {kib_per_min:.0} KiB/min after {elapsed:.0} s ({per_client_kib:.2} KiB per client)"
    );
}
