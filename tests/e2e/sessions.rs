//! A persistent session belongs to its principal: what the broker queued for it (replies,
//! notifications) reaches a later connection of the same principal only, never another identity
//! that takes over the client id (PROTOCOL §1, §7). Driven with mosquitto_pub/sub, MQTT 3.1.1 and 5.

use std::process::{Command, Output};
use std::sync::Arc;

use serde_json::{Value as Json, json};
use tokio::sync::Notify;

use crate::harness::{TestClient, TestServer, WAIT, ok};
use crate::support::Backend;

/// A server whose principal is the username up to `:` (`bob:token-2` refreshes `bob:token-1`),
/// with a signal when a read has produced its result (its reply is then handed to the broker).
async fn server() -> (TestServer, Arc<Notify>) {
    let read = Arc::new(Notify::new());
    let signal = read.clone();
    let server = TestServer::start_with(Backend::Sqlite, move |b| {
        b.hook(
            mqttspec::HookPoint::BeforeConnect,
            0,
            "principal",
            mqttspec::hooks::hook_fn(|ctx| {
                Box::pin(async move {
                    let principal = ctx.client().username().and_then(|u| u.split(':').next()).map(str::to_owned);
                    if let Some(principal) = principal {
                        ctx.client().set_principal(principal);
                    }
                    Ok(())
                })
            }),
        )
        .hook(mqttspec::HookPoint::AfterRead, 0, "signal", signal_hook(signal))
    })
    .await;
    (server, read)
}

/// A hook that signals `signal` (a read's result exists: its reply is then handed to the broker).
fn signal_hook(signal: Arc<Notify>) -> impl mqttspec::hooks::Hook {
    mqttspec::hooks::hook_fn(move |_ctx| {
        let signal = signal.clone();
        Box::pin(async move {
            signal.notify_one();
            Ok(())
        })
    })
}

fn mosquitto(program: &str, version: &str, port: u16, user: &str, args: &[&str]) -> Output {
    mosquitto_as(program, version, port, (user, "x"), "q-victim", args)
}

fn mosquitto_as(program: &str, version: &str, port: u16, login: (&str, &str), id: &str, args: &[&str]) -> Output {
    let port = port.to_string();
    let (user, password) = login;
    let base = ["-V", version, "-p", &port, "-i", id, "-u", user, "-P", password, "-c", "-q", "1"];
    Command::new(program)
        .args(base)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} is required (scripts/test installs it): {e}"))
}

/// Victim (principal `bob`) leaves a persistent session with a read's reply queued in it; then
/// `taker` connects with the same client id and a persistent session. Returns what `taker` got
/// (mosquitto_sub's exit code 27 is its `-W` timeout: it connected and nothing came).
async fn queued_reply_seen_by(version: &str, taker: &str) -> (String, Option<i32>) {
    let (server, read) = server().await;
    let port = server.port;
    let sub = mosquitto("mosquitto_sub", version, port, "bob:t1", &["-t", "spec/q-victim/response", "-E"]);
    assert!(sub.status.success(), "{sub:?}");
    let request = r#"{"id":"r1","type":"request","operation":"read","entity":"users"}"#;
    let publish = tokio::task::spawn_blocking({
        let version = version.to_owned();
        move || mosquitto("mosquitto_pub", &version, port, "bob:t1", &["-t", "spec/q-victim/request", "-m", request])
    });
    tokio::time::timeout(WAIT, read.notified()).await.expect("the read ran");
    assert!(publish.await.unwrap().status.success());
    let taker = taker.to_owned();
    let version = version.to_owned();
    let out = tokio::task::spawn_blocking(move || {
        mosquitto("mosquitto_sub", &version, port, &taker, &["-t", "spec/q-victim/response", "-C", "1", "-W", "1"])
    })
    .await
    .unwrap();
    (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_identity_inherits_nothing_queued_mqtt311() {
    let seen = queued_reply_seen_by("mqttv311", "alice:t1").await;
    assert_eq!(seen, (String::new(), Some(27)), "alice connected and received nothing of bob's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_identity_inherits_nothing_queued_mqtt5() {
    let seen = queued_reply_seen_by("mqttv5", "alice:t1").await;
    assert_eq!(seen, (String::new(), Some(27)), "alice connected and received nothing of bob's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refreshed_token_of_the_same_principal_resumes_its_session() {
    for version in ["mqttv311", "mqttv5"] {
        let (seen, _) = queued_reply_seen_by(version, "bob:t2").await;
        let reply: Json = serde_json::from_str(seen.trim()).unwrap_or_else(|_| panic!("{version}: got {seen:?}"));
        assert_eq!(reply["id"], "r1", "{version}: {reply}");
        assert_eq!(reply["success"], true, "{version}: {reply}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivery_under_a_refreshed_token_is_not_executed_again() {
    let (server, _read) = server().await;
    let create = json!({"id": "c1", "type": "request", "operation": "create", "entity": "users", "data": {"name": "B", "email": "b@x"}});
    let mut first = TestClient::connect(server.port, "phone", Some(("bob:t1", "x"))).await.unwrap();
    first.subscribe_own().await;
    let reply = first.request(create.clone()).await;
    ok(&reply);
    first.disconnect().await;
    let mut refreshed = TestClient::connect(server.port, "phone", Some(("bob:t2", "x"))).await.unwrap();
    refreshed.subscribe_own().await;
    assert_eq!(refreshed.request(create.clone()).await, reply, "the first reply, byte for byte");
    assert_eq!(server.user_count().await, 1, "executed once");
    // Another principal under that client id is another requester: its `c1` executes.
    let mut other = TestClient::connect(server.port, "phone", Some(("alice:t1", "x"))).await.unwrap();
    other.subscribe_own().await;
    let mut theirs = create;
    theirs["data"]["email"] = json!("a@x");
    assert_eq!(ok(&other.request(theirs).await)["email"], "a@x");
    assert_eq!(server.user_count().await, 2);
}

/// With an external broker the session belongs to the broker's account: the shipped ACL plus
/// `use_username_as_clientid` on the clients' listener (deploy/README.md) make the account the
/// client id, so another account asking for `bob`'s client id becomes itself and inherits nothing.
mod external {
    use super::*;
    use crate::broker::Mosquitto;

    const BOB: (&str, &str) = ("bob", "bob");
    const ALICE: (&str, &str) = ("alice", "alice");

    /// Mosquitto with a second listener for clients, where the client id is the username, and a
    /// server on the first one. Returns the server and the clients' port.
    async fn setup() -> (mqttspec::Server, Mosquitto, u16, Arc<Notify>) {
        let free = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let (port, clients) = (free(), free());
        let mosquitto =
            Mosquitto::start_with(port, &format!("listener {clients} 127.0.0.1\nuse_username_as_clientid true\n"));
        let read = Arc::new(Notify::new());
        let signal = read.clone();
        let server = mqttspec::Server::builder()
            .database(crate::support::fresh_database(Backend::Sqlite).await)
            .without_discovery()
            .without_discovered_hooks()
            .entity::<crate::harness::User>()
            .create_tables(true)
            .external_broker(mosquitto.server_config())
            .hook(mqttspec::HookPoint::AfterRead, 0, "signal", signal_hook(signal))
            .start()
            .await
            .expect("server starts");
        assert_eq!(server.ready(WAIT).await, mqttspec::Readiness::Connected);
        (server, mosquitto, clients, read)
    }

    /// `bob` leaves a persistent session with a read's reply queued; `alice` asks for client id
    /// `bob` and gets nothing; `bob` comes back and gets it.
    async fn queued_reply_goes_to_its_account_only(version: &str) {
        let (server, _mosquitto, port, read) = setup().await;
        let sub = mosquitto_as("mosquitto_sub", version, port, BOB, "bob", &["-t", "spec/bob/response", "-E"]);
        assert!(sub.status.success(), "{sub:?}");
        let request = r#"{"id":"r1","type":"request","operation":"read","entity":"users"}"#;
        let publish = tokio::task::spawn_blocking({
            let version = version.to_owned();
            move || {
                mosquitto_as("mosquitto_pub", &version, port, BOB, "bob", &["-t", "spec/bob/request", "-m", request])
            }
        });
        tokio::time::timeout(WAIT, read.notified()).await.expect("the read ran");
        assert!(publish.await.unwrap().status.success());
        let version = version.to_owned();
        let take = |login: (&'static str, &'static str)| {
            let version = version.clone();
            tokio::task::spawn_blocking(move || {
                let out = mosquitto_as(
                    "mosquitto_sub",
                    &version,
                    port,
                    login,
                    "bob",
                    &["-t", "spec/bob/response", "-C", "1", "-W", "2"],
                );
                (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code())
            })
        };
        let taken = take(ALICE).await.unwrap();
        assert_eq!(taken, (String::new(), Some(27)), "{version}: alice connected and received nothing of bob's");
        let (back, _) = take(BOB).await.unwrap();
        let reply: Json = serde_json::from_str(back.trim()).unwrap_or_else(|_| panic!("{version}: bob got {back:?}"));
        assert_eq!((&reply["id"], &reply["success"]), (&json!("r1"), &json!(true)), "{version}: {reply}");
        server.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn another_account_inherits_no_queued_reply_mqtt311() {
        queued_reply_goes_to_its_account_only("mqttv311").await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn another_account_inherits_no_queued_reply_mqtt5() {
        queued_reply_goes_to_its_account_only("mqttv5").await;
    }

    /// `bob`'s subscription queues a notification while he is away; `alice` under his client id
    /// sees none of it; `bob` gets it on his return. A redelivery of `bob`'s create from a new
    /// connection of the same account is answered from the idempotency store.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn notifications_and_redeliveries_stay_with_the_account() {
        let (server, _mosquitto, port, _read) = setup().await;
        let will = Some("spec/bob/status");
        let connect = |login: (&'static str, &'static str)| {
            crate::harness::TestClient::connect_session(port, "bob", Some(login), will, false)
        };
        let mut bob = connect(BOB).await.unwrap();
        bob.subscribe_own().await;
        let subscribe = json!({"type": "subscription", "operation": "subscribe", "entity": "users"});
        ok(&bob.request(subscribe).await);
        let create = json!({"id": "c1", "type": "request", "operation": "create", "entity": "users",
            "data": {"name": "B", "email": "b@x"}});
        let reply = bob.request(create.clone()).await;
        ok(&reply);
        let first = bob.notification().await;
        assert_eq!(first["seq"], 1, "{first}");
        bob.disconnect().await;

        let mut writer = crate::harness::TestClient::connect_session(port, "w", Some(ALICE), None, true).await.unwrap();
        // On this listener the client id is the account: alice writes as `alice`.
        writer.id = "alice".into();
        writer.subscribe_own().await;
        ok(&writer
            .request(json!({"operation": "create", "entity": "users", "data": {"name": "A", "email": "a@x"}}))
            .await);
        writer.disconnect().await;

        let mut intruder = connect(ALICE).await.unwrap();
        intruder.subscribe_own().await;
        assert_eq!(intruder.anything().await, None, "alice under client id bob receives nothing of bob's");
        intruder.disconnect().await;

        let mut back = connect(BOB).await.unwrap();
        let missed = back.notification().await;
        assert_eq!((&missed["seq"], &missed["data"]["name"]), (&json!(2), &json!("A")), "{missed}");
        back.subscribe_own().await;
        assert_eq!(back.request(create).await, reply, "the first reply, byte for byte");
        assert_eq!(crate::harness::user_count(&server).await, 2, "bob's create ran once");
        server.shutdown().await;
    }
}

/// A clean session that ends while its client id connects again at once (DISCONNECT, then a new
/// CONNECT without clean start on a second socket): rmqtt 0.24 alone answered some of these
/// CONNACK "server unavailable" or handed the ended session over (session present, its
/// subscriptions revived). Every round must be accepted with no session present.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_session_is_never_revived_by_a_quick_reconnect() {
    use crate::raw::{connect_v5, packet, read_packet, string};
    use tokio::io::AsyncWriteExt;
    let server = TestServer::start(Backend::Sqlite).await;
    let addr = ("127.0.0.1", server.port);
    let mut outcomes = std::collections::BTreeMap::new();
    for round in 0..150u16 {
        let id = "racer";
        let mut first = tokio::net::TcpStream::connect(addr).await.unwrap();
        first.write_all(&connect_v5(id, true)).await.unwrap();
        let connack = read_packet(&mut first).await.expect("CONNACK");
        assert_eq!((connack[0], connack[2]), (0x20, 0), "CONNACK success: {connack:?}");
        let mut subscribe = (round + 1).to_be_bytes().to_vec();
        subscribe.push(0); // no properties
        string("spec/racer/response", &mut subscribe);
        subscribe.push(1);
        first.write_all(&packet(0x82, subscribe)).await.unwrap();
        assert_eq!(read_packet(&mut first).await.expect("SUBACK")[0], 0x90);
        first.write_all(&[0xE0, 0]).await.unwrap();
        let mut second = tokio::net::TcpStream::connect(addr).await.unwrap();
        second.write_all(&connect_v5(id, false)).await.unwrap();
        let connack = read_packet(&mut second).await.expect("CONNACK");
        // 0x20, flags (bit 0: session present), reason code, properties.
        *outcomes.entry((connack[1] & 1, connack[2])).or_insert(0) += 1;
        second.write_all(&[0xE0, 0]).await.unwrap();
        drop(first);
    }
    assert_eq!(outcomes.into_iter().collect::<Vec<_>>(), [((0, 0), 150)], "(session present, reason) × rounds");
}
