//! Offline clients and resume (PROTOCOL §6): a persistent session gets what its subscriptions
//! queued while it was away, in `seq` order; any client can resume a subscription from its `seq`
//! while the subscription's log holds it; past that, `resync_required`.

use std::time::Duration;

use rumqttc::v5::mqttbytes::QoS as QoS5;
use rumqttc::v5::mqttbytes::v5::Packet as Packet5;
use serde_json::{Value as Json, json};

use crate::harness::{Setup, TestServer, WAIT, err, ok};
use crate::support::Backend;

fn active(name: &str) -> Json {
    json!({"operation": "create", "entity": "users", "data": {"name": name, "email": format!("{name}@x"), "status": "active"}})
}

fn subscribe_active() -> Json {
    json!({"type": "subscription", "operation": "subscribe", "entity": "users",
        "options": {"filters": [{"column": "status", "operator": "eq", "value": "active"}]}})
}

/// A writer, and a persistent 3.1.1 session `away` that subscribed to active users and left.
async fn writer_and_one_away(server: &TestServer) -> crate::harness::TestClient {
    let mut writer = server.client("writer").await;
    writer.subscribe_own().await;
    let mut away = server.client_session("away", false).await;
    away.subscribe_own().await;
    ok(&away.request(subscribe_active()).await);
    away.disconnect().await;
    writer
}

/// A persistent 3.1.1 session disconnects; 50 matching changes (and others) are made; on its
/// return it gets the 50 in `seq` order, then live ones.
pub async fn a_persistent_session_gets_every_missed_change_in_order(setup: Setup) {
    let server = TestServer::start(setup).await;
    let mut writer = writer_and_one_away(&server).await;
    for i in 0..50 {
        ok(&writer.request(active(&format!("u{i}"))).await);
        if i % 10 == 0 {
            ok(&writer.request(json!({"operation": "create", "entity": "users", "data": {"name": format!("x{i}"), "email": format!("x{i}@x")}})).await);
        }
    }
    let mut back = server.client_session("away", false).await;
    for i in 0..50u64 {
        let n = back.notification().await;
        assert_eq!(
            (n["seq"].as_u64(), n["data"]["name"].as_str()),
            (Some(i + 1), Some(format!("u{i}").as_str())),
            "{n}"
        );
    }
    ok(&writer.request(active("live")).await);
    let n = back.notification().await;
    assert_eq!((n["seq"].as_u64(), n["data"]["name"].as_str()), (Some(51), Some("live")), "then live ones: {n}");
}

async fn next_publish(eventloop: &mut rumqttc::v5::EventLoop) -> (String, Json) {
    loop {
        if let rumqttc::v5::Event::Incoming(Packet5::Publish(p)) =
            tokio::time::timeout(WAIT, eventloop.poll()).await.expect("a message").expect("connected")
        {
            return (
                String::from_utf8_lossy(&p.topic).into_owned(),
                serde_json::from_slice::<Json>(&p.payload).unwrap(),
            );
        }
    }
}

/// The same with MQTT 5: clean start off and a session expiry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mqtt5_persistent_session_gets_every_missed_change_in_order() {
    let server = TestServer::start(Backend::Sqlite).await;
    let mut writer = server.client("writer").await;
    writer.subscribe_own().await;
    let connect = || {
        let mut options = rumqttc::v5::MqttOptions::new("away5", "127.0.0.1", server.port);
        options.set_clean_start(false);
        options.set_session_expiry_interval(Some(3600));
        rumqttc::v5::AsyncClient::new(options, 100)
    };
    let (client, mut eventloop) = connect();
    client.subscribe("spec/away5/response", QoS5::AtLeastOnce).await.unwrap();
    client.subscribe("spec/away5/notify/+", QoS5::AtLeastOnce).await.unwrap();
    let mut request = subscribe_active();
    request["id"] = json!("s1");
    client.publish("spec/away5/request", QoS5::AtLeastOnce, false, request.to_string()).await.unwrap();
    let (_, reply) = next_publish(&mut eventloop).await;
    ok(&reply);
    client.disconnect().await.unwrap();
    while !matches!(eventloop.poll().await, Ok(rumqttc::v5::Event::Outgoing(rumqttc::Outgoing::Disconnect)) | Err(_)) {}
    drop(eventloop);
    for i in 0..50 {
        ok(&writer.request(active(&format!("u{i}"))).await);
    }
    let (_client, mut eventloop) = connect();
    for i in 0..50u64 {
        let (topic, n) = next_publish(&mut eventloop).await;
        assert!(topic.starts_with("spec/away5/notify/"), "{topic}");
        assert_eq!(
            (n["seq"].as_u64(), n["data"]["name"].as_str()),
            (Some(i + 1), Some(format!("u{i}").as_str())),
            "{n}"
        );
    }
}

/// A clean-session client comes back and resumes from the last `seq` it saw: exactly the missed
/// changes with their original `seq`, then live ones.
pub async fn a_clean_session_resumes_from_its_last_seq(setup: Setup) {
    let server = TestServer::start(setup).await;
    let mut writer = server.client("writer").await;
    writer.subscribe_own().await;
    let mut reader = server.client("reader").await;
    reader.subscribe_own().await;
    let sub = ok(&reader.request(subscribe_active()).await)["subscription_id"].as_str().unwrap().to_owned();
    for name in ["a", "b"] {
        ok(&writer.request(active(name)).await);
        reader.notification().await;
    }
    reader.disconnect().await;
    for i in 0..5 {
        ok(&writer.request(active(&format!("m{i}"))).await);
    }
    let mut back = server.client("reader").await;
    back.subscribe_own().await;
    let mut resume = subscribe_active();
    resume["id"] = json!("resume");
    resume["options"]["resume"] = json!({"subscription_id": sub, "after_seq": 2});
    let data = ok(&back.request(resume).await);
    assert_eq!(data["subscription_id"], sub.as_str(), "the old subscription continues");
    for i in 0..5u64 {
        let n = back.notification().await;
        assert_eq!(
            (n["seq"].as_u64(), n["data"]["name"].as_str()),
            (Some(3 + i), Some(format!("m{i}").as_str())),
            "{n}"
        );
        assert_eq!(n["subscription_id"], sub.as_str());
    }
    ok(&writer.request(active("live")).await);
    let n = back.notification().await;
    assert_eq!((n["seq"].as_u64(), n["data"]["name"].as_str()), (Some(8), Some("live")), "{n}");
    back.no_notification().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_the_log_cannot_serve_is_resync_required() {
    let server = TestServer::start_with(Backend::Sqlite, |b| b.subscription_log(3, Duration::from_secs(300))).await;
    let mut writer = server.client("writer").await;
    writer.subscribe_own().await;
    let mut reader = server.client("reader").await;
    reader.subscribe_own().await;
    let sub = ok(&reader.request(subscribe_active()).await)["subscription_id"].as_str().unwrap().to_owned();
    reader.disconnect().await;
    for i in 0..10 {
        ok(&writer.request(active(&format!("m{i}"))).await);
    }
    let mut back = server.client("reader").await;
    back.subscribe_own().await;
    let resume = |id: &str, after: u64, filters: Json| {
        json!({"id": format!("resume-{id}-{after}-{filters}"), "type": "subscription", "operation": "subscribe", "entity": "users",
            "options": {"filters": filters, "resume": {"subscription_id": id, "after_seq": after}}})
    };
    let filters = subscribe_active()["options"]["filters"].clone();
    err(&back.request(resume(&sub, 0, filters.clone())).await, "resync_required");
    err(&back.request(resume("sub-unknown", 0, filters.clone())).await, "resync_required");
    err(&back.request(resume(&sub, 8, json!([]))).await, "validation_error");
    err(&back.request(resume(&sub, 11, filters.clone())).await, "validation_error");
    // Within the log's reach it resumes: seq 8, 9, 10.
    ok(&back.request(resume(&sub, 7, filters)).await);
    for seq in 8..=10u64 {
        assert_eq!(back.notification().await["seq"], seq);
    }
    // Another client cannot resume it.
    let mut other = server.client("other").await;
    other.subscribe_own().await;
    let mut theirs = subscribe_active();
    theirs["id"] = json!("resume");
    theirs["options"]["resume"] = json!({"subscription_id": sub, "after_seq": 9});
    err(&other.request(theirs).await, "resync_required");
}

/// The log bounds what waits for a persistent session: the oldest go, the gap shows in `seq`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_bound_drops_the_oldest_and_the_gap_shows() {
    let server = TestServer::start_with(Backend::Sqlite, |b| b.subscription_log(5, Duration::from_secs(300))).await;
    let mut writer = writer_and_one_away(&server).await;
    for i in 0..12 {
        ok(&writer.request(active(&format!("u{i}"))).await);
    }
    let mut back = server.client_session("away", false).await;
    for seq in 8..=12u64 {
        let n = back.notification().await;
        assert_eq!(
            (n["seq"].as_u64(), n["data"]["name"].as_str()),
            (Some(seq), Some(format!("u{}", seq - 1).as_str()))
        );
    }
    back.no_notification().await;
}

/// Subscriptions of a clean session end for good once the retention time passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_ends_after_its_retention() {
    let server =
        TestServer::start_with(Backend::Sqlite, |b| b.subscription_retention(Duration::from_millis(100))).await;
    let mut reader = server.client("reader").await;
    reader.subscribe_own().await;
    let sub = ok(&reader.request(subscribe_active()).await)["subscription_id"].as_str().unwrap().to_owned();
    reader.disconnect().await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while server.server.subscription_count() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the subscription outlived its retention");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut back = server.client("reader").await;
    back.subscribe_own().await;
    let mut resume = subscribe_active();
    resume["id"] = json!("resume");
    resume["options"]["resume"] = json!({"subscription_id": sub, "after_seq": 0});
    err(&back.request(resume).await, "resync_required");
}
