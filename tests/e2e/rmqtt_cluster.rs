//! Two mqttspec instances on a two-node rmqtt cluster (`deploy/rmqtt/node`: rmqtt with its
//! cluster-broadcast, retainer and ACL plugins, the ACL as shipped in `deploy/rmqtt/rmqtt-acl.toml`)
//! and one PostgreSQL: clients on either node are answered, a client on node A sees every change
//! made through node B, and a client cannot reach another client's topics.
//!
//! The node binary is built by `scripts/rmqtt-node` (which `scripts/test` runs); its path can be
//! given in `MQTTSPEC_RMQTT_NODE`.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use mqttspec::{Database, ExternalBrokerConfig, Readiness, Server};
use serde_json::json;

use crate::harness::{TestClient, User, WAIT, ok};
use crate::support::{Backend, fresh_database_url};

/// The shipped ACL's logins (`deploy/rmqtt/rmqtt-acl.toml`).
const SERVER_LOGIN: (&str, &str) = ("mqttspec", "CHANGE-ME");
const CLIENT_LOGIN: (&str, &str) = ("client", "CHANGE-ME");

/// rmqtt nodes started for one test, killed (these processes only) when dropped.
struct Cluster {
    nodes: Vec<(Child, u16)>,
}

fn binary() -> PathBuf {
    std::env::var_os("MQTTSPEC_RMQTT_NODE").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/rmqtt-node/debug/mqttspec-rmqtt-node")
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Cluster {
    fn start(n: usize) -> Self {
        let binary = binary();
        assert!(
            binary.exists(),
            "{} is missing: scripts/rmqtt-node builds it (scripts/test runs that)",
            binary.display()
        );
        let ports: Vec<(u16, u16)> = (0..n).map(|_| (free_port(), free_port())).collect();
        let peers: Vec<String> =
            ports.iter().enumerate().map(|(i, (_, grpc))| format!("{}@127.0.0.1:{grpc}", i + 1)).collect();
        let nodes = ports
            .iter()
            .enumerate()
            .map(|(i, (mqtt, grpc))| {
                let mut command = Command::new(&binary);
                command.args(["--id", &(i + 1).to_string(), "--mqtt", &format!("127.0.0.1:{mqtt}")]);
                command.args(["--grpc", &format!("127.0.0.1:{grpc}")]);
                for peer in &peers {
                    command.args(["--peer", peer]);
                }
                let acl = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/rmqtt/rmqtt-acl.toml");
                command.arg("--acl").arg(acl);
                let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("node starts");
                let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
                let first = lines.next().and_then(Result::ok).unwrap_or_default();
                assert!(first.contains(" running on "), "node {} did not start: {first}", i + 1);
                std::thread::spawn(move || lines.for_each(drop));
                (child, *mqtt)
            })
            .collect();
        Self { nodes }
    }

    fn port(&self, node: usize) -> u16 {
        self.nodes[node].1
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (child, _) in &mut self.nodes {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn instance(url: &str, port: u16, name: &str, create_tables: bool) -> Server {
    let config = ExternalBrokerConfig::new(format!("mqtt://127.0.0.1:{port}"))
        .client_id(name)
        .credentials(SERVER_LOGIN.0, SERVER_LOGIN.1)
        .reconnect_delay(std::time::Duration::from_millis(300), std::time::Duration::from_secs(1));
    let server = Server::builder()
        .database(Database::connect(url).await.expect("database"))
        .without_discovery()
        .without_discovered_hooks()
        .entity::<User>()
        .create_tables(create_tables)
        .external_broker(config)
        .start()
        .await
        .expect("instance starts");
    // A node still joining its cluster, on a machine busy with the rest of the suite, can take
    // longer than the usual wait to accept the instance.
    assert_eq!(server.ready(std::time::Duration::from_secs(45)).await, Readiness::Connected);
    server
}

async fn client(port: u16, id: &str) -> TestClient {
    let will = format!("spec/{id}/status");
    let mut client =
        TestClient::connect_with(port, id, Some(CLIENT_LOGIN), Some(&will)).await.expect("client connects");
    // rmqtt-acl builds a client's `%c` rules in a background task after CONNACK, so a SUBSCRIBE
    // sent at once can be refused (deploy/README.md): clients subscribe again until granted.
    for filter in [format!("spec/{id}/response"), format!("spec/{id}/notify/+")] {
        let deadline = std::time::Instant::now() + WAIT;
        while !matches!(client.subscribe(&filter).await[0], rumqttc::SubscribeReasonCode::Success(_)) {
            assert!(std::time::Instant::now() < deadline, "{filter} never granted");
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_a_two_node_rmqtt_cluster() {
    let cluster = Cluster::start(2);
    let url = fresh_database_url(Backend::Postgres).await;
    let servers =
        [instance(&url, cluster.port(0), "inst-a", true).await, instance(&url, cluster.port(1), "inst-b", false).await];
    // Four subscribers on node A, four writers on node B.
    let mut readers = Vec::new();
    for i in 0..4 {
        let mut c = client(cluster.port(0), &format!("a{i}")).await;
        ok(&c.request(json!({"type": "subscription", "operation": "subscribe", "entity": "users"})).await);
        readers.push(c);
    }
    let held: Vec<usize> = servers.iter().map(Server::subscription_count).collect();
    assert_eq!(held.iter().sum::<usize>(), 4, "{held:?}");
    // Ownership is a stable hash of client and instance ids: these four are spread.
    assert!(held.iter().all(|n| *n > 0), "both instances serve subscribers: {held:?}");
    for i in 0..4 {
        let mut w = client(cluster.port(1), &format!("b{i}")).await;
        for k in 0..5 {
            let create = json!({"operation": "create", "entity": "users", "data": {"name": format!("b{i}"), "email": format!("{i}-{k}@x")}});
            ok(&w.request(create).await);
        }
    }
    for r in &mut readers {
        let mut seen = BTreeSet::new();
        for seq in 1..=20u64 {
            let n = r.notification().await;
            assert_eq!(n["seq"], seq, "{}: {n}", r.id);
            assert!(seen.insert(n["data"]["email"].as_str().unwrap().to_owned()), "twice: {n}");
        }
        r.no_notification().await;
    }
    // The ACL: no login, no connection; another client's request topic and replies are refused.
    let refused = TestClient::connect(cluster.port(0), "anon", None).await.err();
    assert!(refused.is_some(), "an anonymous client is refused");
    let mut intruder = client(cluster.port(1), "intruder").await;
    assert!(
        intruder.subscribe("spec/a0/notify/+").await.iter().all(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure)),
        "another client's notifications"
    );
    let forged = json!({"operation": "create", "entity": "users", "data": {"name": "forged", "email": "f@x"}});
    intruder.publish_raw("spec/a1/request", forged.to_string()).await;
    assert_eq!(readers[1].anything().await, None, "neither a reply nor a change: the forgery never arrived");
    let db = Database::connect(&url).await.unwrap();
    let mut conn = db.acquire().await.unwrap();
    assert_eq!(conn.conn().execute_with("SELECT 1 FROM users", &[]).await.unwrap(), 20, "each create ran once");
    for server in servers {
        server.shutdown().await;
    }
}
