//! Interoperability: the README's quickstart server driven by mosquitto_pub/sub/rr (MQTT 3.1.1
//! and 5) and by Python paho-mqtt. `scripts/test` installs them.

use std::process::Command;

use crate::example::Example;

use serde_json::Value as Json;

fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} is required (scripts/test installs it): {e}"));
    assert!(output.status.success(), "{program} {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn mosquitto_clients_mqtt5_and_311() {
    let server = Example::start("quickstart", &[]);
    let port = server.port.to_string();
    // MQTT 5: mosquitto_rr publishes with a Response Topic and waits for the reply.
    let reply = run(
        "mosquitto_rr",
        &[
            "-p",
            &port,
            "-i",
            "rr",
            "-t",
            "spec/rr/request",
            "-e",
            "spec/rr/response",
            "-W",
            "10",
            "-m",
            r#"{"id":"1","type":"request","operation":"create","entity":"users","data":{"name":"Mo","email":"mo@x"}}"#,
        ],
    );
    let reply: Json = serde_json::from_str(reply.trim()).unwrap();
    assert_eq!(reply["success"], true, "{reply}");
    assert_eq!(reply["data"]["name"], "Mo");
    // MQTT 3.1.1: one client id for request and response, so the reply waits in a persistent session.
    run(
        "mosquitto_sub",
        &["-V", "mqttv311", "-p", &port, "-i", "old", "-c", "-q", "1", "-t", "spec/old/response", "-E"],
    );
    run(
        "mosquitto_pub",
        &[
            "-V",
            "mqttv311",
            "-p",
            &port,
            "-i",
            "old",
            "-c",
            "-q",
            "1",
            "-t",
            "spec/old/request",
            "-m",
            r#"{"id":"2","type":"request","operation":"read","entity":"users","options":{"filters":[{"column":"name","operator":"eq","value":"Mo"}]}}"#,
        ],
    );
    let reply = run(
        "mosquitto_sub",
        &[
            "-V",
            "mqttv311",
            "-p",
            &port,
            "-i",
            "old",
            "-c",
            "-q",
            "1",
            "-t",
            "spec/old/response",
            "-C",
            "1",
            "-W",
            "10",
        ],
    );
    let reply: Json = serde_json::from_str(reply.trim()).unwrap();
    assert_eq!(reply["id"], "2");
    assert_eq!(reply["data"][0]["email"], "mo@x", "{reply}");
    assert_eq!(reply["metadata"]["total"], 1);
    // A subscription to someone else's replies is refused.
    let refused = Command::new("mosquitto_sub")
        .args(["-p", &port, "-i", "eve", "-t", "spec/+/response", "-W", "2"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&refused.stderr).contains("denied"), "{refused:?}");
}

#[test]
fn paho_mqtt_311_and_5() {
    let server = Example::start("quickstart", &[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/interop/paho_client.py");
    for version in ["311", "5"] {
        let out = run("python3", &[script, &server.port.to_string(), version]);
        assert!(out.contains("paho ok"), "{out}");
    }
}

/// Outside the namespace the embedded broker is a plain MQTT broker: retained messages, persistent
/// sessions with offline queueing, shared subscriptions, MQTT 5 subscribe options and `$` topics,
/// checked by Paho clients (3.1.1 and 5) against the quickstart (tests/interop/broker_conformance.py).
#[test]
fn the_embedded_broker_is_a_conformant_mqtt_broker() {
    let server = Example::start("quickstart", &[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/interop/broker_conformance.py");
    let out = run("python3", &[script, &server.port.to_string()]);
    assert!(out.contains("conformance ok"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_over_websocket() {
    let server = crate::harness::TestServer::start_with(crate::support::Backend::Sqlite, |b| {
        b.websocket(([127, 0, 0, 1], 0).into())
    })
    .await;
    let ws_port = server.server.websocket_addr().expect("websocket listener").port().to_string();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/interop/paho_client.py");
    let out = tokio::task::spawn_blocking(move || run("python3", &[script, &ws_port, "ws"])).await.unwrap();
    assert!(out.contains("paho ok"), "{out}");
}

/// The shipped Mosquitto configuration and ACL, checked against a real Mosquitto with
/// mosquitto_pub/sub and raw MQTT packets: no client reaches another's topics (deploy/mosquitto/verify.sh).
#[test]
fn the_shipped_mosquitto_acl_confines_every_client() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/mosquitto/verify.sh");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let output = Command::new("bash").arg(script).env("PORT", port.to_string()).output().expect("bash runs");
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && log.contains("all checks passed"),
        "{log}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!log.contains("FAIL"), "{log}");
}

/// The quickstart as a user starts it with `--tls-cert/--tls-key` and `--metrics`: mosquitto_rr
/// verifies the broker's certificate and gets its reply over TLS; `/metrics` counts the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_over_tls_with_metrics() {
    let pki = crate::tls::Pki::new("quickstart-tls");
    let free = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (port, metrics) = (free(), free());
    let dir = pki.dir.join("run");
    let database = format!("sqlite://{}/example.db", dir.display());
    let (cert, key) = (pki.path("server.pem"), pki.path("server.key"));
    let metrics_addr = format!("127.0.0.1:{metrics}");
    let args = [
        "--port",
        &port.to_string(),
        "--database-url",
        &database,
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--metrics",
        &metrics_addr,
    ];
    let _server = Example::start_with("quickstart", port, dir, &args, &[]);
    let ca = pki.path("ca.pem");
    let (port, ca) = (port.to_string(), ca.to_str().unwrap().to_owned());
    let reply = tokio::task::spawn_blocking(move || {
        let request =
            r#"{"id":"1","type":"request","operation":"create","entity":"users","data":{"name":"T","email":"t@x"}}"#;
        let args = ["-h", "127.0.0.1", "-p", &port, "--cafile", &ca, "-i", "tls", "-t", "spec/tls/request"];
        run("mosquitto_rr", &[&args[..], &["-e", "spec/tls/response", "-W", "10", "-m", request]].concat())
    })
    .await
    .unwrap();
    let reply: Json = serde_json::from_str(reply.trim()).unwrap();
    assert_eq!(reply["success"], true, "{reply}");
    let (status, body) = crate::metrics::get(metrics_addr.parse().unwrap(), "/metrics").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    let created = crate::metrics::sample(&body, r#"mqttspec_requests_total{operation="create",outcome="ok"}"#);
    assert_eq!(created, Some(1.0), "{body}");
}
