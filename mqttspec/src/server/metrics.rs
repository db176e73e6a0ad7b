//! Metrics through the `metrics` facade (any recorder the application installs sees them), and
//! an optional Prometheus endpoint: [`ServerBuilder::metrics`](super::ServerBuilder::metrics)
//! installs `metrics-exporter-prometheus` as the process's recorder and serves `GET /metrics`.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `mqttspec_requests_total` | counter | `operation`, `outcome` (`ok`, `repeat` or the error code) |
//! | `mqttspec_request_duration_seconds` | histogram | `operation` |
//! | `mqttspec_idempotency_hits_total` | counter | |
//! | `mqttspec_notifications_sent_total` | counter | |
//! | `mqttspec_notifications_dropped_total` | counter | `reason` (`hook`, `revoked`, `publish_error`) |
//! | `mqttspec_connected_clients` | gauge | |
//! | `mqttspec_subscriptions` | gauge | |
//! | `mqttspec_db_connections` | gauge | `state` (`idle`, `in_use`) |

use std::net::SocketAddr;
use std::sync::{OnceLock, Weak};
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::Core;

const REQUESTS: &str = "mqttspec_requests_total";
const DURATION: &str = "mqttspec_request_duration_seconds";
const IDEMPOTENCY_HITS: &str = "mqttspec_idempotency_hits_total";
const SENT: &str = "mqttspec_notifications_sent_total";
const DROPPED: &str = "mqttspec_notifications_dropped_total";
const CLIENTS: &str = "mqttspec_connected_clients";
const SUBSCRIPTIONS: &str = "mqttspec_subscriptions";
const DB_CONNECTIONS: &str = "mqttspec_db_connections";

/// Latency buckets, seconds: 50 µs to 5 s.
const BUCKETS: &[f64] =
    &[0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// A request answered: its operation (`invalid` when the envelope did not parse) and outcome.
pub(super) fn request(operation: &'static str, outcome: &'static str, elapsed: Duration) {
    let operation = if operation.is_empty() { "invalid" } else { operation };
    metrics::counter!(REQUESTS, "operation" => operation, "outcome" => outcome).increment(1);
    metrics::histogram!(DURATION, "operation" => operation).record(elapsed.as_secs_f64());
    if outcome == "repeat" {
        metrics::counter!(IDEMPOTENCY_HITS).increment(1);
    }
}

/// A notification handed to the broker.
pub(super) fn notification_sent() {
    metrics::counter!(SENT).increment(1);
}

/// Why a notification was not sent.
#[derive(Debug, Clone, Copy)]
pub(super) enum Dropped {
    /// An `after_read` hook withheld it.
    Hook,
    /// The subscriber's access was revoked.
    Revoked,
    /// The broker refused it.
    PublishError,
}

pub(super) fn notification_dropped(reason: Dropped) {
    let reason = match reason {
        Dropped::Hook => "hook",
        Dropped::Revoked => "revoked",
        Dropped::PublishError => "publish_error",
    };
    metrics::counter!(DROPPED, "reason" => reason).increment(1);
}

/// The process's Prometheus recorder, installed by the first server that asks for it.
fn prometheus() -> Result<&'static PrometheusHandle, String> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(metrics_exporter_prometheus::Matcher::Full(DURATION.into()), BUCKETS)
                .map_err(|e| e.to_string())?
                .install_recorder()
                .map_err(|e| format!("{e} (another metrics recorder is installed in this process)"))?;
            describe();
            Ok(handle)
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn describe() {
    metrics::describe_counter!(REQUESTS, "Requests answered, by operation and outcome (ok, repeat or error code)");
    metrics::describe_histogram!(DURATION, metrics::Unit::Seconds, "Time from a request's arrival to its reply");
    metrics::describe_counter!(IDEMPOTENCY_HITS, "Repeated requests answered with their first reply");
    metrics::describe_counter!(SENT, "Notifications handed to the broker");
    metrics::describe_counter!(DROPPED, "Notifications not sent, by reason");
    metrics::describe_gauge!(CLIENTS, "Clients connected now");
    metrics::describe_gauge!(SUBSCRIPTIONS, "Live subscriptions");
    metrics::describe_gauge!(DB_CONNECTIONS, "Database pool connections, by state");
}

/// A running `/metrics` listener; it stops when dropped.
#[derive(Debug)]
pub(super) struct MetricsEndpoint {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for MetricsEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Installs the Prometheus recorder (once per process) and serves it on `addr`.
pub(super) async fn serve(addr: SocketAddr, core: Weak<Core>) -> Result<MetricsEndpoint, String> {
    let handle = prometheus()?;
    let listener = TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%addr, "metrics at http://{addr}/metrics");
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Out of descriptors, say: wait instead of spinning.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let core = core.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(10), answer(stream, handle, core)).await;
            });
        }
    });
    Ok(MetricsEndpoint { addr, task })
}

/// One HTTP/1.x exchange: `GET /metrics` gets the exposition, anything else 404 or 405.
async fn answer(mut stream: TcpStream, handle: &PrometheusHandle, core: Weak<Core>) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 512];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || head.len() > 8192 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, path) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let path = path.split(|&b| b == b'?').next().unwrap_or_default();
    let (status, body) = match (method, path) {
        (b"GET", b"/metrics") => {
            if let Some(core) = core.upgrade() {
                sample(&core);
            }
            handle.run_upkeep();
            ("200 OK", handle.render())
        }
        (b"GET", _) => ("404 Not Found", "not found: the metrics are at /metrics\n".to_owned()),
        _ => ("405 Method Not Allowed", "use GET /metrics\n".to_owned()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// The gauges, read at scrape time.
fn sample(core: &Core) {
    metrics::gauge!(CLIENTS).set(core.lock_clients().len() as f64);
    metrics::gauge!(SUBSCRIPTIONS).set(core.subscriptions.len() as f64);
    let (size, idle) = core.engine.db().pool_status();
    metrics::gauge!(DB_CONNECTIONS, "state" => "idle").set(idle as f64);
    metrics::gauge!(DB_CONNECTIONS, "state" => "in_use").set((size as usize).saturating_sub(idle) as f64);
}
