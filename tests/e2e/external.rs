//! The external broker mode against a real Mosquitto: faults, start-up errors, readiness.

use std::time::{Duration, Instant};

use mqttspec::{ExternalBrokerConfig, Readiness, Server};
use serde_json::json;

use crate::harness::{Broker, Setup, TestServer, WAIT, ok};
use crate::support::Backend;

fn mosquitto_sqlite() -> Setup {
    Setup { backend: Backend::Sqlite, broker: Broker::Mosquitto }
}

/// Mosquitto restarts: the server reconnects and subscribes again on its own, and every request
/// published while it was away is answered afterwards, once (the broker kept them for its
/// persistent session), with the reconnect time reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_loses_no_request() {
    let mut server = TestServer::start(mosquitto_sqlite()).await;
    let mut before = server.client("before").await;
    before.subscribe_own().await;
    ok(&before.request(json!({"operation": "create", "entity": "users", "data": {"name": "b", "email": "b@x"}})).await);

    server.mosquitto.as_mut().expect("mosquitto").restart();
    let back = Instant::now();
    // Published at once, while the server is still away (its first retry comes after 150 ms).
    let mut after = server.client("after").await;
    after.subscribe_own().await;
    let requests = 100;
    for i in 0..requests {
        after
            .send(&json!({"id": format!("c{i}"), "type": "request", "operation": "create", "entity": "users",
                "data": {"name": format!("n{i}"), "email": format!("{i}@x")}}))
            .await;
    }
    after.wait_pubacks(requests).await;
    assert_ne!(
        server.server.readiness(),
        Readiness::Connected,
        "the requests were published while the server was away"
    );
    let readiness = server.server.ready(Duration::from_secs(5)).await;
    let reconnect = back.elapsed();
    assert_eq!(readiness, Readiness::Connected, "reconnected and subscribed within 5 s");
    for i in 0..requests {
        let reply = after.reply_with_id(&json!(format!("c{i}"))).await;
        assert_eq!(ok(&reply)["name"], format!("n{i}"));
    }
    assert_eq!(server.user_count().await, requests + 1, "each request executed once");
    eprintln!("external broker: server ready {reconnect:?} after the broker was back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_settings_stop_start_up_naming_the_setting() {
    let mosquitto = crate::broker::Mosquitto::start();
    let start = |config: ExternalBrokerConfig| async move {
        let db = crate::support::fresh_database(Backend::Sqlite).await;
        Server::builder()
            .database(db)
            .without_discovery()
            .entity::<crate::harness::User>()
            .external_broker(config)
            .start()
            .await
    };
    let refused = start(mosquitto.server_config().credentials("mqttspec", "wrong")).await.unwrap_err();
    assert!(refused.message().contains("credentials") && refused.message().contains("refused"), "{refused}");
    let scheme = start(ExternalBrokerConfig::new("http://127.0.0.1:1")).await.unwrap_err();
    assert!(scheme.message().contains("url: unknown scheme `http`"), "{scheme}");
    let ca = start(ExternalBrokerConfig::new("mqtts://127.0.0.1:1").ca_file("/nonexistent.pem")).await.unwrap_err();
    assert!(ca.message().contains("ca_file"), "{ca}");
}

/// No broker at the address: start-up goes on, the server says it is reconnecting, and it
/// connects as soon as a broker appears there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_is_retried() {
    let mosquitto = crate::broker::Mosquitto::start();
    let (port, config) = (mosquitto.port, mosquitto.server_config());
    drop(mosquitto); // the port is free again: nothing listens there
    let db = crate::support::fresh_database(Backend::Sqlite).await;
    let server = Server::builder()
        .database(db)
        .without_discovery()
        .entity::<crate::harness::User>()
        .external_broker(config)
        .start()
        .await;
    let server = server.expect("start-up does not fail on an unreachable broker");
    assert_ne!(server.readiness(), Readiness::Connected);
    let health = server.health(WAIT).await;
    assert!(health.database && !health.ready(), "{health:?}");
    let _mosquitto = crate::broker::Mosquitto::start_on(port);
    assert_eq!(server.ready(WAIT).await, Readiness::Connected, "connected once a broker listens");
    assert!(server.health(WAIT).await.ready());
    server.shutdown().await;
}

/// `mqtts://` with a CA file: the server reaches Mosquitto's TLS listener, verifying its
/// certificate (issued for 127.0.0.1 by a CA made here), and serves clients of the plain listener.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtts_with_a_ca_file() {
    let pki = crate::tls::Pki::new("external-tls");
    let dir = &pki.dir;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let tls_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let extra = format!(
        "listener {tls_port} 127.0.0.1\ncafile {0}/ca.pem\ncertfile {0}/server.pem\nkeyfile {0}/server.key\n",
        dir.display()
    );
    let mosquitto = crate::broker::Mosquitto::start_with(port, &extra);
    let config = ExternalBrokerConfig::new(format!("mqtts://127.0.0.1:{tls_port}"))
        .credentials(crate::broker::SERVER_LOGIN.0, crate::broker::SERVER_LOGIN.1)
        .client_id("tls-server")
        .ca_file(dir.join("ca.pem"));
    let db = crate::support::fresh_database(Backend::Sqlite).await;
    let server = Server::builder()
        .database(db)
        .without_discovery()
        .entity::<crate::harness::User>()
        .create_tables(true)
        .external_broker(config)
        .start()
        .await
        .expect("starts over TLS");
    assert_eq!(server.ready(WAIT).await, Readiness::Connected, "TLS handshake and subscriptions");
    let will = "spec/tls-client/status";
    let mut c = crate::harness::TestClient::connect_with(
        mosquitto.port,
        "tls-client",
        Some(crate::broker::CLIENT_LOGIN),
        Some(will),
    )
    .await
    .unwrap();
    c.subscribe_own().await;
    ok(&c.request(json!({"operation": "create", "entity": "users", "data": {"name": "t", "email": "t@x"}})).await);
    server.shutdown().await;
}

/// With an external broker a client "connects" with its first request: a `before_connect` refusal
/// answers that request `unauthorized` (and the next one again); a client silent for the idle
/// expiry is taken as gone (its disconnect hooks run).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_request_connects_and_idle_clients_expire() {
    let (gone_tx, mut gone_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let mosquitto = crate::broker::Mosquitto::start();
    let config = mosquitto.server_config().idle_expiry(Duration::from_millis(300));
    let db = crate::support::fresh_database(Backend::Sqlite).await;
    let server = Server::builder()
        .database(db)
        .without_discovery()
        .without_discovered_hooks()
        .entity::<crate::harness::User>()
        .create_tables(true)
        .external_broker(config)
        .hook(
            mqttspec::HookPoint::BeforeConnect,
            0,
            "no intruders",
            mqttspec::hooks::hook_fn(|ctx| {
                let refused = ctx.client().id().starts_with("intruder");
                Box::pin(async move { if refused { Err(mqttspec::Error::forbidden("not you")) } else { Ok(()) } })
            }),
        )
        .hook(
            mqttspec::HookPoint::AfterDisconnect,
            0,
            "observe",
            mqttspec::hooks::hook_fn(move |ctx| {
                let _ = gone_tx.send(ctx.client().id().to_owned());
                Box::pin(async { Ok(()) })
            }),
        )
        .start()
        .await
        .unwrap();
    assert_eq!(server.ready(WAIT).await, Readiness::Connected);
    let login = Some(crate::broker::CLIENT_LOGIN);
    let mut intruder = crate::harness::TestClient::connect_with(mosquitto.port, "intruder", login, None).await.unwrap();
    intruder.subscribe_own().await;
    for _ in 0..2 {
        let reply = intruder.request(json!({"operation": "read", "entity": "users"})).await;
        crate::harness::err(&reply, "unauthorized");
    }
    let mut quiet = crate::harness::TestClient::connect_with(mosquitto.port, "quiet", login, None).await.unwrap();
    quiet.subscribe_own().await;
    ok(&quiet.request(json!({"operation": "read", "entity": "users"})).await);
    let gone = tokio::time::timeout(WAIT, gone_rx.recv()).await.expect("the idle client expires");
    assert_eq!(gone.as_deref(), Some("quiet"));
    server.shutdown().await;
}

/// One client's long queue does not hold up the others: with an external broker one task hands
/// every request over, and a client whose requests wait (here: held in a hook) must not block it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_does_not_hold_up_the_others() {
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let held = gate.clone();
    let server = TestServer::start_with(mosquitto_sqlite(), move |b| {
        b.hook(
            mqttspec::HookPoint::BeforeRead,
            0,
            "hold the slow one",
            mqttspec::hooks::hook_fn(move |ctx| {
                let slow = ctx.client().id() == "slow";
                let held = held.clone();
                Box::pin(async move {
                    if slow {
                        held.acquire().await.expect("open").forget();
                    }
                    Ok(())
                })
            }),
        )
    })
    .await;
    let mut slow = server.client("slow").await;
    slow.subscribe_own().await;
    let n = 200;
    for i in 0..n {
        slow.send(&json!({"id": format!("s{i}"), "type": "request", "operation": "read", "entity": "users"})).await;
    }
    slow.wait_pubacks(n).await;
    let mut quick = server.client("quick").await;
    quick.subscribe_own().await;
    ok(&quick.request(json!({"operation": "read", "entity": "users"})).await);
    gate.add_permits(n);
    for i in 0..n {
        ok(&slow.reply_with_id(&json!(format!("s{i}"))).await);
    }
}
