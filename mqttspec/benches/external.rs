//! The embedded broker against an external Mosquitto, side by side in one run: sequential QoS 1
//! round trips of a broker echo (the transport floor), `ping` and read-by-id, through each, in
//! alternating rounds. Needs `mosquitto` (Debian's package); starts its own on a free loopback port.
//!
//! `cargo bench --bench external` (optionally `-- <round trips per round>`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use mqttspec::{ExternalBrokerConfig, Readiness, Server};

// Also registers the `users` entity (`common::user`) that both servers serve.
mod common;

use common::measure::{p50_p99, pipelined, sequential};
use common::probe::{Probe, probe};

/// p50 and p99 of `n` sequential round trips, in µs.
async fn p50_p99_of(p: &mut Probe, topic: &str, payload: &dyn Fn(usize) -> Vec<u8>, n: usize) -> (f64, f64) {
    p50_p99(&mut sequential(p, topic, n, payload, |_| {}).await)
}

/// Round trips per second with `clients` clients keeping `window` requests in flight each for 2 s.
async fn rate(port: u16, tag: &str, clients: usize, window: usize, body: &str) -> f64 {
    let mut probes = Vec::new();
    for c in 0..clients {
        probes.push(probe(port, &format!("{tag}{c}")).await);
    }
    let (body, counter) = (body.to_owned(), Arc::new(AtomicU64::new(0)));
    let next =
        Arc::new(move |_| Some(body.replace("{i}", &counter.fetch_add(1, Ordering::Relaxed).to_string()).into_bytes()));
    let (probes, rate) =
        pipelined(probes, "spec/{id}/request", window, Duration::from_secs(2), next, Arc::new(|_| {})).await;
    for p in probes {
        p.close().await;
    }
    rate.per_second()
}

/// A Mosquitto of this run (anonymous, TCP_NODELAY), stopped when dropped.
struct Mosquitto(std::process::Child, u16, std::path::PathBuf);

impl Mosquitto {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("mqttspec-bench-mosquitto-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("mosquitto.conf");
        let user = Command::new("id").arg("-un").output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\nmax_queued_messages 100000\nuser {}\nlog_dest stderr\n",
                user.unwrap_or_default()
            ),
        )
        .unwrap();
        let binary =
            ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"].into_iter().find(|b| std::path::Path::new(b).exists());
        let mut child = Command::new(binary.unwrap_or("mosquitto"))
            .arg("-c")
            .arg(&conf)
            .stderr(Stdio::piped())
            .spawn()
            .expect("mosquitto is needed for this benchmark (apt install mosquitto)");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        for line in lines.by_ref() {
            if line.unwrap().contains(" running") {
                break;
            }
        }
        std::thread::spawn(move || lines.for_each(drop));
        Self(child, port, dir)
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.2);
    }
}

async fn server(dir: &std::path::Path, name: &str, external: Option<u16>) -> Server {
    let mut builder = Server::builder()
        .database_url(format!("sqlite://{}/{name}.db", dir.display()))
        .without_discovered_hooks()
        .create_tables(true)
        .listen(([127, 0, 0, 1], 0).into());
    if let Some(port) = external {
        builder = builder.external_broker(ExternalBrokerConfig::new(format!("mqtt://127.0.0.1:{port}")));
    }
    let server = builder.start().await.unwrap();
    assert_eq!(server.ready(Duration::from_secs(10)).await, Readiness::Connected);
    server
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2000);
    let dir = std::env::temp_dir().join(format!("mqttspec-bench-external-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mosquitto = Mosquitto::start();
    let embedded = server(&dir, "embedded", None).await;
    let external = server(&dir, "external", Some(mosquitto.1)).await;
    let ports = [("embedded rmqtt", embedded.local_addr().unwrap().port()), ("Mosquitto", mosquitto.1)];
    let mut probes = Vec::new();
    for (i, (_, port)) in ports.iter().enumerate() {
        let mut p = probe(*port, &format!("bench{i}")).await;
        let seed = format!(
            r#"{{"id":"seed","type":"request","operation":"create","entity":"users","data":{{"name":"a","email":"a{i}@x"}}}}"#
        );
        p.send(&format!("spec/bench{i}/request"), seed).await;
        p.next().await;
        probes.push(p);
    }
    type Payload = Box<dyn Fn(usize) -> Vec<u8>>;
    let rows: Vec<(&str, &str, Payload)> = vec![
        ("broker echo (floor)", "echo", Box::new(|_| b"x".to_vec())),
        ("ping", "request", Box::new(|i| format!(r#"{{"id":"p{i}","type":"ping"}}"#).into_bytes())),
        (
            "read by id",
            "request",
            Box::new(|i| {
                format!(r#"{{"id":"r{i}","type":"request","operation":"read","entity":"users","record_id":1}}"#)
                    .into_bytes()
            }),
        ),
    ];
    println!("sequential QoS 1 round trips, one client, SQLite; 3 alternating rounds of n = {n}; median of the rounds");
    println!("  {:<22} {:>26} {:>26}", "", ports[0].0, ports[1].0);
    for (name, kind, payload) in &rows {
        let mut results = [Vec::new(), Vec::new()];
        for _round in 0..3 {
            for (i, p) in probes.iter_mut().enumerate() {
                let topic = match *kind {
                    "echo" => format!("bench/bench{i}/echo"),
                    _ => format!("spec/bench{i}/{kind}"),
                };
                results[i].push(p50_p99_of(p, &topic, payload.as_ref(), n).await);
            }
        }
        let median = |r: &mut Vec<(f64, f64)>| {
            r.sort_by(|a, b| a.0.total_cmp(&b.0));
            r[r.len() / 2]
        };
        let (a, b) = (median(&mut results[0]), median(&mut results[1]));
        println!("  {name:<22} p50 {:>7.1} µs  p99 {:>7.1} µs   p50 {:>7.1} µs  p99 {:>7.1} µs", a.0, a.1, b.0, b.1);
    }
    println!("16 clients × 16 in flight for 2 s, round trips/s");
    let read = r#"{"id":"t{i}","type":"request","operation":"read","entity":"users","record_id":1}"#;
    let ping = r#"{"id":"t{i}","type":"ping"}"#;
    for (name, body) in [("ping", ping), ("read by id", read)] {
        let a = rate(ports[0].1, &format!("e-{}", name.len()), 16, 16, body).await;
        let b = rate(ports[1].1, &format!("m-{}", name.len()), 16, 16, body).await;
        println!("  {name:<22} {a:>26.0} {b:>26.0}");
    }
    external.shutdown().await;
    embedded.shutdown().await;
    drop(mosquitto);
    let _ = std::fs::remove_dir_all(dir);
}
