//! Interoperability: the README's quickstart server driven by mosquitto_pub/sub/rr (MQTT 3.1.1
//! and 5) and by Python paho-mqtt. `scripts/test` installs them.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::{Value as Json, json};

/// The quickstart example, started as a user starts it, on a free port and a fresh SQLite file.
struct Quickstart {
    child: Child,
    port: u16,
    _dir: PathBuf,
}

impl Quickstart {
    fn start() -> Self {
        // target/<profile>/deps/e2e-… → target/<profile>/examples/quickstart
        let exe = std::env::current_exe().unwrap();
        let binary = exe.parent().unwrap().parent().unwrap().join("examples").join("quickstart");
        assert!(binary.exists(), "{} is built with the tests", binary.display());
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = std::env::temp_dir().join(format!("mqttspec-quickstart-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut child = Command::new(binary)
            .args(["--port", &port.to_string(), "--database-url", &format!("sqlite://{}/qs.db", dir.display())])
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("quickstart starts");
        // Ready when it says so.
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        loop {
            let line = lines.next().expect("quickstart exited early").unwrap();
            if line.contains("quickstart serving") {
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Self { child, port, _dir: dir }
    }
}

impl Drop for Quickstart {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
    let server = Quickstart::start();
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
    let _ = json!(null);
}

#[test]
fn paho_mqtt_311_and_5() {
    let server = Quickstart::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/interop/paho_client.py");
    for version in ["311", "5"] {
        let out = run("python3", &[script, &server.port.to_string(), version]);
        assert!(out.contains("paho ok"), "{out}");
    }
}
