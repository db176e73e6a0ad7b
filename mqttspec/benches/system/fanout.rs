//! Notification fan-out: `subscriptions` subscriptions on `users`, 100 per connection (the
//! per-client default cap), a tenth of them matching the rows a writer keeps updating; per write,
//! the time from its reply (and from its request) to the last matching notification.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::common::measure::p50_p99;
use super::common::probe::{Probe, Received, probe, probe_with};
use super::workload::{created_id, expect_success, next_id};

/// What a fan-out run measured.
#[derive(Debug, Clone, Default)]
pub struct Fanout {
    /// Subscriptions in all.
    pub subscriptions: usize,
    /// Those matching each write.
    pub matching: usize,
    /// Subscriber connections.
    pub connections: usize,
    /// Writes measured.
    pub writes: usize,
    /// Seconds taken to subscribe them all.
    pub subscribe_secs: f64,
    /// p50 and p99, µs, from the write's reply to the last notification.
    pub after_reply: (f64, f64),
    /// p50 and p99, µs, from sending the write to the last notification.
    pub after_request: (f64, f64),
    /// p50 of the write's own round trip, µs.
    pub write_p50: f64,
}

fn subscribe(id: &str, status: &str) -> String {
    format!(
        r#"{{"id":"{id}","type":"subscription","operation":"subscribe","entity":"users","options":{{"filters":[{{"column":"status","operator":"eq","value":"{status}"}}]}}}}"#
    )
}

/// Receives the next `count` notifications; the arrival time of the last one.
async fn last_of(rx: &mut mpsc::UnboundedReceiver<Received>, count: usize) -> Instant {
    let mut last = None;
    for received in 0..count {
        match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
            Ok(Some(n)) => last = Some(last.map_or(n.at, |l: Instant| l.max(n.at))),
            _ => panic!("fan-out: {received} of {count} notifications within 30 s"),
        }
    }
    last.expect("at least one notification")
}

/// Measures on the quickstart at `port` (tag: client id prefix).
pub async fn run(port: u16, tag: &str, subscriptions: usize, writes: usize) -> Fanout {
    let connections = subscriptions.div_ceil(100);
    let started = Instant::now();
    let mut subscribers: Vec<Probe> = Vec::new();
    let mut matching = 0;
    for c in 0..connections {
        let mut p = probe_with(port, &format!("{tag}-fan{c}"), &["spec/{id}/notify/+"]).await;
        let here = (subscriptions - c * 100).min(100);
        let topic = p.request_topic();
        for k in 0..here {
            let status = if k % 10 == 0 { "hot".to_owned() } else { format!("cold-{c}-{k}") };
            matching += usize::from(k % 10 == 0);
            p.send(&topic, subscribe(&next_id(), &status)).await;
        }
        for _ in 0..here {
            expect_success(&p.next().await.payload);
        }
        subscribers.push(p);
    }
    let subscribe_secs = started.elapsed().as_secs_f64();
    // One channel of every notification, stamped on arrival by each connection.
    let (tx, mut notifications) = mpsc::unbounded_channel();
    for p in &mut subscribers {
        let (_, empty) = mpsc::unbounded_channel();
        let mut rx = std::mem::replace(&mut p.rx, empty);
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Some(received) = rx.recv().await {
                if received.topic.contains("/notify/") && tx.send(received).is_err() {
                    return;
                }
            }
        });
    }
    let mut writer = probe(port, &format!("{tag}-fanw")).await;
    let topic = writer.request_topic();
    let create = format!(
        r#"{{"id":"{}","type":"request","operation":"create","entity":"users","data":{{"name":"fan","email":"fan-{tag}@example.org","status":"hot"}}}}"#,
        next_id()
    );
    writer.send(&topic, create).await;
    let reply = writer.next().await;
    expect_success(&reply.payload);
    let row = created_id(&reply.payload);
    last_of(&mut notifications, matching).await;
    let (mut after_reply, mut after_request, mut write) = (Vec::new(), Vec::new(), Vec::new());
    for w in 0..writes {
        let id = next_id();
        let update = format!(
            r#"{{"id":"{id}","type":"request","operation":"update","entity":"users","record_id":{row},"data":{{"name":"fan{w}"}}}}"#
        );
        let sent = Instant::now();
        writer.send(&topic, update).await;
        let reply = writer.next().await;
        expect_success(&reply.payload);
        let last = last_of(&mut notifications, matching).await;
        let signed = |from: Instant| {
            if last >= from {
                last.duration_since(from).as_secs_f64()
            } else {
                -from.duration_since(last).as_secs_f64()
            }
        };
        after_reply.push(signed(reply.at) * 1e6);
        after_request.push(signed(sent) * 1e6);
        write.push(reply.at.duration_since(sent).as_secs_f64() * 1e6);
    }
    writer.close().await;
    for p in subscribers {
        p.close().await;
    }
    Fanout {
        subscriptions,
        matching,
        connections,
        writes,
        subscribe_secs,
        after_reply: p50_p99(&mut after_reply),
        after_request: p50_p99(&mut after_request),
        write_p50: p50_p99(&mut write).0,
    }
}
