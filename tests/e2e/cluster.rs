//! Several mqttspec instances on one Mosquitto and one PostgreSQL: every client is served by one
//! of them, every subscriber on every instance sees every change, and an instance killed under
//! load loses nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use mqttspec::{Database, Readiness, Server};
use serde_json::{Value as Json, json};

use crate::broker::{CLIENT_LOGIN, Mosquitto};
use crate::example::Example;
use crate::harness::{TestClient, User, WAIT, ok};
use crate::support::{Backend, fresh_database_url};

/// `n` instances (`inst-0`, `inst-1`, …) on one broker and one PostgreSQL database.
async fn instances(mosquitto: &Mosquitto, url: &str, n: usize) -> Vec<Server> {
    let mut servers = Vec::new();
    for i in 0..n {
        let db = Database::connect(url).await.expect("database");
        let server = Server::builder()
            .database(db)
            .without_discovery()
            .without_discovered_hooks()
            .entity::<User>()
            .create_tables(i == 0)
            .external_broker(mosquitto.instance_config(&format!("inst-{i}")))
            .start()
            .await
            .expect("instance starts");
        assert_eq!(server.ready(WAIT).await, Readiness::Connected);
        servers.push(server);
    }
    servers
}

async fn client(mosquitto: &Mosquitto, id: &str) -> TestClient {
    let will = format!("spec/{id}/status");
    let mut client = TestClient::connect_with(mosquitto.port, id, Some(CLIENT_LOGIN), Some(&will)).await.unwrap();
    client.subscribe_own().await;
    client
}

fn create(id: &str, email: &str) -> Json {
    json!({"id": id, "type": "request", "operation": "create", "entity": "users", "data": {"name": id, "email": email}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_serve_every_client_and_share_every_change() {
    let mosquitto = Mosquitto::start();
    let url = fresh_database_url(Backend::Postgres).await;
    let servers = instances(&mosquitto, &url, 3).await;
    let mut clients = Vec::new();
    for i in 0..6 {
        let mut c = client(&mosquitto, &format!("c{i}")).await;
        ok(&c.request(json!({"type": "subscription", "operation": "subscribe", "entity": "users"})).await);
        clients.push(c);
    }
    // Each subscription lives on its client's instance; the clients are spread over them.
    let held: Vec<usize> = servers.iter().map(Server::subscription_count).collect();
    assert_eq!(held.iter().sum::<usize>(), 6, "{held:?}");
    assert!(held.iter().filter(|n| **n > 0).count() >= 2, "clients spread over instances: {held:?}");

    // Every client creates 10 rows, pipelined; every subscriber sees all 60 once, seq gapless.
    for (i, c) in clients.iter().enumerate() {
        for k in 0..10 {
            c.send(&create(&format!("w{k}"), &format!("{i}-{k}@x"))).await;
        }
    }
    for c in &mut clients {
        for k in 0..10 {
            ok(&c.reply_with_id(&json!(format!("w{k}"))).await);
        }
    }
    for c in &mut clients {
        let mut seen = BTreeSet::new();
        for seq in 1..=60u64 {
            let n = c.notification().await;
            assert_eq!(n["seq"], seq, "{}: {n}", c.id);
            assert_eq!(n["scope"], "enter");
            assert!(seen.insert(n["data"]["email"].as_str().unwrap().to_owned()), "twice: {n}");
        }
        c.no_notification().await;
    }
    let db = Database::connect(&url).await.unwrap();
    let mut conn = db.acquire().await.unwrap();
    let rows = conn.conn().execute_with("SELECT 1 FROM users", &[]).await.unwrap();
    assert_eq!(rows, 60, "each create executed once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_pipelined_requests_come_back_in_order_across_instances() {
    let mosquitto = Mosquitto::start();
    let url = fresh_database_url(Backend::Postgres).await;
    let _servers = instances(&mosquitto, &url, 2).await;
    let mut c = client(&mosquitto, "pipeliner").await;
    let n = 1000;
    for k in 0..n {
        c.send(&create(&format!("p{k}"), &format!("{k}@x"))).await;
    }
    let mut order = Vec::new();
    while order.len() < n {
        let (_, reply) = c.message_on("spec/pipeliner/response", WAIT).await.expect("a reply");
        order.push(ok(&reply)["name"].as_str().unwrap().to_owned());
    }
    let expected: Vec<String> = (0..n).map(|k| format!("p{k}")).collect();
    assert_eq!(order, expected, "replies in request order, none twice");
    let db = Database::connect(&url).await.unwrap();
    let rows = db.acquire().await.unwrap().conn().execute_with("SELECT 1 FROM users", &[]).await.unwrap();
    assert_eq!(rows, n as u64, "no duplicate rows");
}

/// Two quickstart processes on Mosquitto and PostgreSQL; one is killed (SIGKILL) while clients
/// pipeline creates. Every request is answered, by the survivor where needed, none executed
/// twice; the figures go to stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_an_instance_under_load_loses_no_request() {
    let mosquitto = Mosquitto::start();
    let url = fresh_database_url(Backend::Postgres).await;
    let broker = format!("mqtt://127.0.0.1:{}", mosquitto.port);
    let start = |i: usize| {
        let dir = std::env::temp_dir().join(format!("mqttspec-cluster-{}-{}-{i}", std::process::id(), mosquitto.port));
        let id = format!("quick-{i}");
        let mut args = vec![
            "--database-url",
            &url,
            "--broker-url",
            &broker,
            "--broker-username",
            "mqttspec",
            "--broker-password",
            "mqttspec",
            "--broker-client-id",
            &id,
        ];
        // The survivor speaks MQTT 3.1.1: its adoption of the victim's session takes that path.
        if i == 1 {
            args.push("--broker-mqtt311");
        }
        Example::start_with("quickstart", mosquitto.port, dir, &args, &[])
    };
    let mut victim = start(0);
    let _survivor = start(1);

    let clients_n = 8;
    let per_client = 150;
    let mut clients = Vec::new();
    for i in 0..clients_n {
        clients.push(client(&mosquitto, &format!("k{i}")).await);
    }
    for c in &mut clients {
        ok(&c.request(subscribe_rare()).await);
    }
    // Wait until both instances serve (each answers a ping for one of its clients).
    for c in &mut clients {
        let pong = c.request(json!({"type": "ping", "id": "hello"})).await;
        assert_eq!(pong["type"], "pong");
    }
    let mut killed_at = None;
    for k in 0..per_client {
        for (i, c) in clients.iter().enumerate() {
            c.send(&create(&format!("r{k}"), &format!("{i}-{k}@x"))).await;
        }
        if k == per_client / 3 {
            victim.kill();
            killed_at = Some(Instant::now());
        }
    }
    let killed_at = killed_at.unwrap();
    let mut duplicates = 0;
    for c in &mut clients {
        let mut answered: BTreeMap<String, Json> = BTreeMap::new();
        while answered.len() < per_client {
            let (_, reply) = c
                .message_on(&format!("spec/{}/response", c.id), Duration::from_secs(20))
                .await
                .unwrap_or_else(|| panic!("{}: only {} of {per_client} answered", c.id, answered.len()));
            let id = reply["id"].as_str().unwrap().to_owned();
            if let Some(first) = answered.insert(id.clone(), reply.clone()) {
                assert_eq!(first["data"], reply["data"], "a repeated reply is the same reply");
                duplicates += 1;
            }
            ok(&reply);
        }
    }
    let recovered = killed_at.elapsed();
    // The victim's subscribers are told (by the survivor that adopted it); the others are not.
    let mut told = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    for c in &mut clients {
        let wait = deadline.saturating_duration_since(tokio::time::Instant::now()).max(Duration::from_millis(50));
        if let Some(notice) = resync_notice(c, wait).await {
            assert_eq!(notice["error"]["code"], "resync_required");
            told += 1;
        }
    }
    assert!(told > 0 && told < clients_n, "the victim's subscribers, and only they, are told: {told}");
    let db = Database::connect(&url).await.unwrap();
    let rows = db.acquire().await.unwrap().conn().execute_with("SELECT 1 FROM users", &[]).await.unwrap();
    assert_eq!(rows, (clients_n * per_client) as u64, "every create executed exactly once");
    eprintln!(
        "kill -9 under load: {} requests, 0 lost, 0 executed twice, {duplicates} replies repeated, last reply {recovered:?} after the kill; {told} of {clients_n} subscribers told to resync",
        clients_n * per_client
    );
}

/// The `resync` notice on a client's notify topics, if one comes within `wait`.
async fn resync_notice(c: &mut TestClient, wait: Duration) -> Option<Json> {
    let prefix = format!("spec/{}/notify/", c.id);
    loop {
        let (_, n) = c.message_on(&prefix, wait).await?;
        if n["operation"] == "resync" {
            return Some(n);
        }
    }
}

fn subscribe_rare() -> Json {
    json!({"type": "subscription", "operation": "subscribe", "entity": "users",
        "options": {"filters": [{"column": "name", "operator": "eq", "value": "rare"}]}})
}

/// A second instance joins: the clients that move to it are told to resync by the first, and
/// once they subscribe again every subscription delivers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_moving_to_a_new_instance_are_told_and_resubscribe() {
    let mosquitto = Mosquitto::start();
    let url = fresh_database_url(Backend::Postgres).await;
    let mut servers = instances(&mosquitto, &url, 1).await;
    let mut clients = Vec::new();
    for i in 0..8 {
        let mut c = client(&mosquitto, &format!("m{i}")).await;
        ok(&c.request(subscribe_rare()).await);
        clients.push(c);
    }
    assert_eq!(servers[0].subscription_count(), 8);
    let db = Database::connect(&url).await.unwrap();
    let joined = Server::builder()
        .database(db)
        .without_discovery()
        .without_discovered_hooks()
        .entity::<User>()
        .external_broker(mosquitto.instance_config("inst-1"))
        .start()
        .await
        .unwrap();
    assert_eq!(joined.ready(WAIT).await, Readiness::Connected);
    servers.push(joined);
    let mut moved = 0;
    for c in &mut clients {
        if let Some(notice) = resync_notice(c, Duration::from_millis(500)).await {
            assert_eq!(notice["error"]["code"], "resync_required", "{notice}");
            moved += 1;
            ok(&c.request(subscribe_rare()).await);
        }
    }
    assert!(moved > 0 && moved < 8, "some clients moved: {moved}");
    assert_eq!(servers[0].subscription_count(), 8 - moved);
    assert_eq!(servers[1].subscription_count(), moved);
    ok(&clients[0]
        .request(json!({"operation": "create", "entity": "users", "data": {"name": "rare", "email": "r@x"}}))
        .await);
    for c in &mut clients {
        assert_eq!(c.notification().await["data"]["name"], "rare", "{}", c.id);
    }
}

/// An instance shuts down gracefully while its clients keep sending: every request is answered
/// (by it, or after the handover by the other), its subscribers are told to resync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_shutdown_hands_the_clients_over() {
    let mosquitto = Mosquitto::start();
    let url = fresh_database_url(Backend::Postgres).await;
    let mut servers = instances(&mosquitto, &url, 2).await;
    let mut clients = Vec::new();
    for i in 0..8 {
        let mut c = client(&mosquitto, &format!("g{i}")).await;
        ok(&c.request(subscribe_rare()).await);
        clients.push(c);
    }
    let leaving = if servers[0].subscription_count() > 0 { 0 } else { 1 };
    let held = servers[leaving].subscription_count();
    assert!(held > 0);
    for (i, c) in clients.iter().enumerate() {
        for k in 0..20 {
            c.send(&create(&format!("h{k}"), &format!("{i}-{k}@h"))).await;
        }
    }
    servers.remove(leaving).shutdown().await;
    let mut told = 0;
    for c in &mut clients {
        for k in 0..20 {
            ok(&c.reply_with_id(&json!(format!("h{k}"))).await);
        }
        if resync_notice(c, Duration::from_millis(200)).await.is_some() {
            told += 1;
        }
    }
    assert_eq!(told, held, "every subscriber of the leaving instance is told");
    let db = Database::connect(&url).await.unwrap();
    let rows = db.acquire().await.unwrap().conn().execute_with("SELECT 1 FROM users", &[]).await.unwrap();
    assert_eq!(rows, 160, "each create executed once");
}
