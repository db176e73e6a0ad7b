//! The Prometheus endpoint: real traffic over MQTT, then a scrape of `GET /metrics` over HTTP.

use std::net::SocketAddr;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{TestClient, embedded_builder, err, ok};

/// One HTTP/1.1 GET; the status line and the body.
pub async fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("metrics endpoint accepts");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    (head.lines().next().unwrap_or_default().to_owned(), body.to_owned())
}

/// The value of the sample whose name and labels start with `series`.
pub fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with([' ', '{', ',']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_endpoint_counts_requests_notifications_and_clients() {
    let server = embedded_builder().await.metrics(([127, 0, 0, 1], 0).into()).start().await.expect("starts");
    let addr = server.metrics_addr().expect("metrics listening");
    let port = server.local_addr().unwrap().port();

    let mut c = TestClient::connect(port, "metrics-a", None).await.unwrap();
    c.subscribe_own().await;
    ok(&c.request(json!({"type": "subscription", "operation": "subscribe", "entity": "users"})).await);
    let created =
        ok(&c.request(json!({"operation": "create", "entity": "users", "data": {"name": "a", "email": "a@x"}})).await);
    c.notification().await;
    err(&c.request(json!({"operation": "read", "entity": "users", "record_id": 999_999})).await, "not_found");
    // The same id twice: the second is an idempotency hit.
    let read = json!({"id": "same", "operation": "read", "entity": "users", "record_id": created["id"]});
    ok(&c.request(read.clone()).await);
    ok(&c.request(read).await);
    c.publish_raw("spec/metrics-a/request", "not json").await;
    c.message_on("spec/metrics-a/response", crate::harness::WAIT).await.expect("the invalid message is answered");

    let (status, body) = get(addr, "/metrics").await;
    assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
    let count = |series: &str| sample(&body, series).unwrap_or_else(|| panic!("no `{series}` in\n{body}"));
    assert_eq!(count(r#"mqttspec_requests_total{operation="create",outcome="ok"}"#), 1.0);
    assert_eq!(count(r#"mqttspec_requests_total{operation="read",outcome="not_found"}"#), 1.0);
    assert_eq!(count(r#"mqttspec_requests_total{operation="read",outcome="ok"}"#), 1.0);
    assert_eq!(count(r#"mqttspec_requests_total{operation="read",outcome="repeat"}"#), 1.0);
    assert_eq!(count(r#"mqttspec_requests_total{operation="invalid",outcome="invalid_message"}"#), 1.0);
    assert_eq!(count("mqttspec_idempotency_hits_total"), 1.0);
    assert_eq!(count("mqttspec_notifications_sent_total"), 1.0);
    assert_eq!(count("mqttspec_connected_clients"), 1.0);
    assert_eq!(count("mqttspec_subscriptions"), 1.0);
    assert!(count(r#"mqttspec_db_connections{state="idle"}"#) >= 1.0, "{body}");
    assert_eq!(count(r#"mqttspec_request_duration_seconds_count{operation="read"}"#), 3.0);
    assert!(body.contains(r#"mqttspec_request_duration_seconds_bucket{operation="read",le="0.005"}"#), "{body}");
    assert!(body.contains("# HELP mqttspec_requests_total"), "{body}");

    // The gauges follow the clients.
    c.disconnect().await;
    let mut connected = f64::NAN;
    for _ in 0..200 {
        connected = sample(&get(addr, "/metrics").await.1, "mqttspec_connected_clients").unwrap();
        if connected == 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(connected, 0.0, "the disconnected client is no longer counted");

    let (status, _) = get(addr, "/other").await;
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    server.shutdown().await;
    let mut closed = false;
    for _ in 0..200 {
        closed = tokio::net::TcpStream::connect(addr).await.is_err();
        if closed {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(closed, "the endpoint closes with the server");
}
