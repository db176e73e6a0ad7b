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
        .hook(
            mqttspec::HookPoint::AfterRead,
            0,
            "signal",
            mqttspec::hooks::hook_fn(move |_ctx| {
                let signal = signal.clone();
                Box::pin(async move {
                    signal.notify_one();
                    Ok(())
                })
            }),
        )
    })
    .await;
    (server, read)
}

fn mosquitto(program: &str, version: &str, port: u16, user: &str, args: &[&str]) -> Output {
    let port = port.to_string();
    let base = ["-V", version, "-p", &port, "-i", "q-victim", "-u", user, "-P", "x", "-c", "-q", "1"];
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
