//! Identity is the MQTT session: no impersonation, no eavesdropping, refused client ids.

use rumqttc::SubscribeReasonCode;
use serde_json::json;

use crate::harness::{TestClient, TestServer, ok};
use crate::support::Backend;

/// A server whose `point` hooks wait at a gate: `entered` fires as one starts waiting; each permit
/// added to `gate` lets one through.
async fn server_with_held_hook(
    point: mqttspec::HookPoint,
) -> (TestServer, std::sync::Arc<tokio::sync::Semaphore>, std::sync::Arc<tokio::sync::Notify>) {
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let entered = std::sync::Arc::new(tokio::sync::Notify::new());
    let (g, e) = (gate.clone(), entered.clone());
    let server = TestServer::start_with(Backend::Sqlite, move |b| {
        b.hook(
            point,
            0,
            "hold",
            mqttspec::hooks::hook_fn(move |_ctx| {
                let (g, e) = (g.clone(), e.clone());
                Box::pin(async move {
                    e.notify_one();
                    g.acquire().await.expect("open").forget();
                    Ok(())
                })
            }),
        )
    })
    .await;
    (server, gate, entered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impersonation_and_eavesdropping_are_refused() {
    let server = TestServer::start(Backend::Sqlite).await;
    let mut alice = server.client("alice").await;
    alice.subscribe_own().await;
    let mut mallory = server.client("mallory").await;
    mallory.subscribe_own().await;

    // Subscriptions to other clients' topics or wildcards over client ids: SUBACK failure.
    for filter in [
        "spec/alice/response",
        "spec/alice/notify/+",
        "spec/+/response",
        "spec/#",
        "#",
        "+/+/response",
        "spec/+/notify/#",
        "$share/g/spec/+/response",
        "$share/g/#",
    ] {
        let codes = mallory.subscribe(filter).await;
        assert_eq!(codes, vec![SubscribeReasonCode::Failure], "{filter}");
    }
    // ... and the connection stays open, other topics work (default application ACL: allowed).
    assert!(matches!(mallory.subscribe("chat/room1").await[0], SubscribeReasonCode::Success(_)));

    // Publishing to alice's request topic executes nothing and answers no one.
    mallory
        .publish_raw("spec/alice/request", serde_json::to_vec(&json!({"id": "evil", "type": "request", "operation": "create", "entity": "users", "data": {"name": "M", "email": "m@x"}})).unwrap())
        .await;
    mallory.publish_raw("spec/alice/response", b"{\"id\":\"fake\"}".to_vec()).await;
    // Alice's own traffic is invisible to mallory.
    let created = ok(&alice
        .request(json!({"operation": "create", "entity": "users", "data": {"name": "A", "email": "a@x"}}))
        .await);
    assert_eq!(server.user_count().await, 1, "the impersonated request never executed");
    assert!(alice.anything().await.is_none(), "nothing reached alice from mallory");
    assert!(mallory.anything().await.is_none(), "mallory saw nothing of alice");
    assert_eq!(created["name"], "A");
    ok(&mallory.request(json!({"operation": "read", "entity": "users"})).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_client_ids_are_refused_at_connect() {
    let server = TestServer::start(Backend::Sqlite).await;
    for id in ["a/b", "a+b", "a#"] {
        let refused = TestClient::connect(server.port, id, None).await.err().expect("refused");
        // rmqtt 0.24's authentication hook can only answer "not authorized" (code 5).
        assert!(refused.contains("NotAuthorized") || refused.contains("BadClientId"), "{id}: {refused}");
    }
    let mut ok_client = server.client("fine-id.1").await;
    ok_client.subscribe_own().await;
    ok(&ok_client.request(json!({"operation": "meta"})).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_and_before_connect_refusals_use_their_codes() {
    let server = TestServer::start_with(Backend::Sqlite, |b| {
        b.credentials(|c| c.password.as_deref() != Some("wrong")).hook(
            mqttspec::HookPoint::BeforeConnect,
            0,
            "only-known",
            mqttspec::hooks::hook_fn(|ctx| {
                Box::pin(async move {
                    match ctx.client().username() {
                        Some("banned") => Err(mqttspec::Error::forbidden("banned")),
                        Some(user) => {
                            ctx.client().set_metadata("user", json!(user));
                            Ok(())
                        }
                        None => Ok(()),
                    }
                })
            }),
        )
    })
    .await;
    let bad = TestClient::connect(server.port, "c1", Some(("u", "wrong"))).await.err().expect("refused");
    assert!(bad.contains("BadUserNamePassword"), "{bad}");
    let hooked = TestClient::connect(server.port, "c2", Some(("banned", "pw"))).await.err().expect("refused");
    assert!(hooked.contains("NotAuthorized"), "{hooked}");
    let mut fine = TestClient::connect(server.port, "c3", Some(("carol", "pw"))).await.expect("accepted");
    fine.subscribe_own().await;
    ok(&fine.request(json!({"operation": "meta"})).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_answers_requests_in_flight() {
    let (server, gate, entered) = server_with_held_hook(mqttspec::HookPoint::BeforeRead).await;
    let mut c = server.client("alice").await;
    c.subscribe_own().await;
    for i in 0..5 {
        c.send(&json!({"id": format!("r{i}"), "type": "request", "operation": "read", "entity": "users"})).await;
    }
    // Every request was acknowledged by the broker (PUBACK follows the hand-over to the server),
    // and the first one is inside its hook.
    c.wait_pubacks(5).await;
    entered.notified().await;
    let shutdown = tokio::spawn(server.server.shutdown());
    // A request arriving as the shutdown begins is answered too: executed, or refused as
    // `unavailable` (retry later), never dropped.
    c.send(&json!({"id": "late", "type": "request", "operation": "read", "entity": "users"})).await;
    c.wait_pubacks(6).await;
    gate.add_permits(6);
    for i in 0..5 {
        ok(&c.reply_with_id(&json!(format!("r{i}"))).await);
    }
    let late = c.reply_with_id(&json!("late")).await;
    assert!(late["success"] == true || late["error"]["code"] == "unavailable", "{late}");
    shutdown.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_payload_is_refused_and_others_carry_on() {
    let server = TestServer::start_with(Backend::Sqlite, |b| b.max_payload(64 * 1024)).await;
    let mut bystander = server.client("bystander").await;
    bystander.subscribe_own().await;
    let mut big = server.client("big").await;
    big.subscribe_own().await;
    let name = "x".repeat(128 * 1024);
    big.send(&json!({"id": "huge", "type": "request", "operation": "create", "entity": "users", "data": {"name": name, "email": "b@x"}})).await;
    // The broker closes the offender's connection (3.1.1: no DISCONNECT packet); no reply comes.
    assert!(big.wait_closed().await, "connection closed by the broker");
    assert!(big.message_on("", crate::harness::QUIET).await.is_none());
    assert_eq!(server.user_count().await, 0, "nothing executed");
    ok(&bystander
        .request(json!({"operation": "create", "entity": "users", "data": {"name": "fine", "email": "f@x"}}))
        .await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_takes_over_the_identity() {
    let server = TestServer::start_with(Backend::Sqlite, |b| {
        b.hook(
            mqttspec::HookPoint::BeforeConnect,
            0,
            "remember-user",
            mqttspec::hooks::hook_fn(|ctx| {
                let user = ctx.client().username().unwrap_or_default().to_owned();
                ctx.client().set_metadata("user", json!(user));
                Box::pin(async { Ok(()) })
            }),
        )
        .hook(
            mqttspec::HookPoint::BeforeCreate,
            0,
            "stamp-user",
            mqttspec::hooks::hook_fn(|ctx| {
                let user = ctx.client().metadata("user").unwrap_or_default();
                ctx.set_field("status", user);
                Box::pin(async { Ok(()) })
            }),
        )
    })
    .await;
    let mut first = TestClient::connect(server.port, "same", Some(("first-user", "pw"))).await.unwrap();
    first.subscribe_own().await;
    ok(&first.request(json!({"type": "subscription", "entity": "users"})).await);
    assert_eq!(server.server.subscription_count(), 1);
    // The same client id connects again with other credentials: the broker closes the first
    // connection, and nothing of its identity, metadata or subscriptions survives.
    let mut second = TestClient::connect(server.port, "same", Some(("second-user", "pw"))).await.unwrap();
    assert!(first.wait_closed().await, "the first connection is taken over");
    second.subscribe_own().await;
    assert_eq!(server.server.subscription_count(), 0, "the first connection's subscriptions ended");
    // (A fresh message id: the same client id within the window would get the remembered reply.)
    let created = ok(&second.request(json!({"id": "after-takeover", "operation": "create", "entity": "users", "data": {"name": "n", "email": "e@x"}})).await);
    assert_eq!(created["status"], "second-user", "hooks see the new connection identity: {created}");
    second.no_notification().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_limit_refuses_new_clients_but_not_reconnects() {
    let server = TestServer::start_with(Backend::Sqlite, |b| b.max_connections(2)).await;
    let mut first = server.client("first").await;
    let _second = server.client("second").await;
    let refused = TestClient::connect(server.port, "third", None).await.err().expect("refused when full");
    assert!(refused.contains("ServiceUnavailable"), "{refused}");
    // A reconnect of a connected client id takes its session over: it is not a new session.
    let mut again = server.client("first").await;
    assert!(first.wait_closed().await, "the old connection of `first` was closed");
    again.subscribe_own().await;
    ok(&again.request(json!({"operation": "meta"})).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_will_inside_the_namespace_is_refused_at_connect() {
    let server = TestServer::start(Backend::Sqlite).await;
    let mut victim = server.client("victim").await;
    victim.subscribe_own().await;
    for topic in ["spec/victim/response", "spec/victim/notify/sub-x", "spec/victim/request", "spec/forger/request"] {
        let refused = TestClient::connect_with(server.port, "forger", None, Some(topic)).await.err().expect("refused");
        assert!(refused.contains("NotAuthorized"), "{topic}: {refused}");
    }
    // A will outside the namespace is ordinary broker traffic; dropping that client forges nothing.
    let outside = TestClient::connect_with(server.port, "forger", None, Some("status/forger")).await.expect("accepted");
    outside.client.disconnect().await.ok();
    assert!(victim.anything().await.is_none(), "nothing reached the victim");
    ok(&victim.request(json!({"operation": "meta"})).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remembered_replies_belong_to_the_identity_that_caused_them() {
    let server = TestServer::start(Backend::Sqlite).await;
    let create = |name: &str| json!({"id": "c1", "type": "request", "operation": "create", "entity": "users", "data": {"name": name, "email": format!("{name}@x")}});
    let mut alice = TestClient::connect(server.port, "shared", Some(("alice", "pw"))).await.unwrap();
    alice.subscribe_own().await;
    let first = ok(&alice.request(create("alice")).await);
    // A redelivery to the same identity, even over a new connection, gets the first reply.
    let mut again = TestClient::connect(server.port, "shared", Some(("alice", "pw"))).await.unwrap();
    again.subscribe_own().await;
    assert_eq!(ok(&again.request(create("alice")).await), first);
    // Another identity under the same client id never sees alice's replies.
    let mut mallory = TestClient::connect(server.port, "shared", Some(("mallory", "pw"))).await.unwrap();
    mallory.subscribe_own().await;
    let own = ok(&mallory.request(create("mallory")).await);
    assert_eq!(own["name"], "mallory", "executed afresh, not alice's stored reply");
    // ... and leaves alice's replies alone: her next redelivery still gets her first reply.
    let mut back = TestClient::connect(server.port, "shared", Some(("alice", "pw"))).await.unwrap();
    back.subscribe_own().await;
    assert_eq!(ok(&back.request(create("alice")).await), first);
    assert_eq!(server.user_count().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivery_racing_its_first_run_executes_once() {
    let (server, gate, entered) = server_with_held_hook(mqttspec::HookPoint::BeforeCreate).await;
    let create = json!({"id": "r1", "type": "request", "operation": "create", "entity": "users", "data": {"name": "R", "email": "r@x"}});
    let first = server.client("racer").await;
    first.send(&create).await;
    entered.notified().await;
    // The client reconnects (taking its id over) and QoS 1 redelivers the request still running.
    let mut second = server.client("racer").await;
    second.subscribe_own().await;
    second.send(&create).await;
    second.wait_pubacks(1).await;
    gate.add_permits(2);
    // Both runs answer on the client's response topic: the first run's reply, then the
    // redelivery's, which must be the same reply (not a second execution's conflict).
    let a = second.reply_with_id(&json!("r1")).await;
    let b = second.reply_with_id(&json!("r1")).await;
    assert_eq!(ok(&a)["name"], "R");
    assert_eq!(a, b, "the redelivery gets the first run's reply");
    assert_eq!(server.user_count().await, 1, "executed once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_is_withheld_from_another_identity_that_took_the_client_id() {
    let (server, gate, entered) = server_with_held_hook(mqttspec::HookPoint::BeforeCreate).await;
    let alice = TestClient::connect(server.port, "shared-id", Some(("alice", "pw"))).await.unwrap();
    alice.send(&json!({"id": "a1", "type": "request", "operation": "create", "entity": "users", "data": {"name": "A", "email": "a@x"}})).await;
    entered.notified().await;
    let mut mallory = TestClient::connect(server.port, "shared-id", Some(("mallory", "pw"))).await.unwrap();
    mallory.subscribe_own().await;
    gate.add_permits(1);
    // Alice's create completes (her redelivery would get its reply), but mallory reads nothing of it.
    ok(&mallory.request(json!({"operation": "meta"})).await);
    assert!(mallory.anything().await.is_none(), "alice's reply reached mallory");
    assert_eq!(server.user_count().await, 1);
}
