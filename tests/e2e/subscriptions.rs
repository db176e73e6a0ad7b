//! Live subscriptions: filters, scopes, full rows on delete, seq without gaps, clean-up.

use serde_json::{Value as Json, json};

use crate::harness::{Setup, TestServer, ok};
use crate::support::Backend;

async fn subscribe(c: &mut crate::harness::TestClient, options: Json) -> String {
    let data = ok(&c
        .request(json!({"type": "subscription", "operation": "subscribe", "entity": "users", "options": options}))
        .await);
    data["subscription_id"].as_str().unwrap().to_owned()
}

pub async fn filters_scopes_and_full_rows(setup: Setup) {
    let (gone_tx, mut gone_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let server = TestServer::start_with(setup, move |b| {
        b.subscription_retention(std::time::Duration::from_millis(200)).hook(
            mqttspec::HookPoint::AfterDisconnect,
            0,
            "observe",
            mqttspec::hooks::hook_fn(move |ctx| {
                let _ = gone_tx.send(ctx.client().id().to_owned());
                Box::pin(async { Ok(()) })
            }),
        )
    })
    .await;
    let mut watcher = server.client("watcher").await;
    watcher.subscribe_own().await;
    let mut writer = server.client("writer").await;
    writer.subscribe_own().await;

    let active =
        subscribe(&mut watcher, json!({"filters": [{"column": "status", "operator": "eq", "value": "active"}]})).await;
    let named = subscribe(
        &mut watcher,
        json!({"filters": [{"column": "name", "operator": "ilike", "value": "a%"}], "columns": ["name"]}),
    )
    .await;
    let big_id = subscribe(&mut watcher, json!({"filters": [{"column": "id", "operator": "gt", "value": 2}]})).await;
    let nulls = subscribe(&mut watcher, json!({"filters": [{"column": "status", "operator": "is_null"}]})).await;
    let listed = subscribe(&mut watcher, json!({"filters": [{"column": "email", "operator": "in", "value": ["z@x"]}, {"column": "email", "operator": "contains", "value": "Q", "logic_operator": "OR"}]})).await;
    // An invalid filter is an error, never a subscription that matches everything.
    let bad = watcher.request(json!({"type": "subscription", "entity": "users", "options": {"filters": [{"column": "nope", "operator": "eq", "value": 1}]}})).await;
    crate::harness::err(&bad, "validation_error");
    assert_eq!(server.server.subscription_count(), 5);

    // Create (another client's change reaches the watcher): enter, with seq 1.
    let ann = ok(&writer.request(json!({"operation": "create", "entity": "users", "data": {"name": "Ann", "email": "ann@x", "status": "active"}})).await);
    let mut got: Vec<Json> = vec![watcher.notification().await, watcher.notification().await];
    got.sort_by_key(|n| n["subscription_id"].as_str().unwrap().to_owned());
    let by_sub = |got: &[Json], sub: &str| {
        got.iter()
            .find(|n| n["subscription_id"] == sub)
            .cloned()
            .unwrap_or_else(|| panic!("no notification for {sub}: {got:?}"))
    };
    let n = by_sub(&got, &active);
    assert_eq!(
        (n["type"].clone(), n["operation"].clone(), n["scope"].clone(), n["seq"].clone()),
        (json!("notification"), json!("create"), json!("enter"), json!(1))
    );
    assert_eq!((n["schema"].clone(), n["entity"].clone()), (json!("public"), json!("users")));
    assert_eq!(n["data"], ann);
    assert_eq!(by_sub(&got, &named)["data"], json!({"id": ann["id"], "name": "Ann"}), "projection applies");
    watcher.no_notification().await;

    let id = ann["id"].clone();
    // Update that keeps matching: stay. Update that stops matching: leave, carrying the new row.
    ok(&writer
        .request(json!({"operation": "update", "entity": "users", "record_id": id, "data": {"email": "ann2@x"}}))
        .await);
    let mut got = vec![watcher.notification().await, watcher.notification().await];
    got.sort_by_key(|n| n["subscription_id"].as_str().unwrap().to_owned());
    assert_eq!(by_sub(&got, &active)["scope"], "stay");
    assert_eq!(by_sub(&got, &active)["seq"], 2);
    assert_eq!(by_sub(&got, &named)["scope"], "stay");
    ok(&writer
        .request(json!({"operation": "update", "entity": "users", "record_id": id, "data": {"status": null}}))
        .await);
    let mut got = vec![watcher.notification().await, watcher.notification().await, watcher.notification().await];
    got.sort_by_key(|n| n["subscription_id"].as_str().unwrap().to_owned());
    let leave = by_sub(&got, &active);
    assert_eq!((leave["scope"].clone(), leave["seq"].clone()), (json!("leave"), json!(3)));
    assert_eq!(leave["data"]["status"], json!(null), "leave carries the new row");
    let enter = by_sub(&got, &nulls);
    assert_eq!(
        (enter["scope"].clone(), enter["seq"].clone(), enter["operation"].clone()),
        (json!("enter"), json!(1), json!("update"))
    );
    watcher.no_notification().await;

    // Rows that match nothing produce nothing; `in` / `contains` (case-insensitive) match.
    ok(&writer.request(json!({"operation": "create", "entity": "users", "data": {"name": "Bo", "email": "bo@x", "status": "idle"}})).await);
    watcher.no_notification().await;
    let zed = ok(&writer.request(json!({"operation": "create", "entity": "users", "data": {"name": "Zed", "email": "z@x", "status": "idle"}})).await);
    let got = vec![watcher.notification().await, watcher.notification().await];
    let n = by_sub(&got, &listed);
    assert_eq!((n["data"]["name"].clone(), n["seq"].clone()), (json!("Zed"), json!(1)));
    assert_eq!(by_sub(&got, &big_id)["data"]["id"], zed["id"], "id > 2");
    let q = ok(&writer
        .request(
            json!({"operation": "create", "entity": "users", "data": {"name": "Q", "email": "q@x", "status": "idle"}}),
        )
        .await);
    let mut got = vec![watcher.notification().await, watcher.notification().await];
    got.sort_by_key(|n| n["subscription_id"].as_str().unwrap().to_owned());
    assert_eq!(by_sub(&got, &listed)["data"]["id"], q["id"]);
    assert_eq!(by_sub(&got, &big_id)["data"]["id"], q["id"], "id > 2");
    watcher.no_notification().await;

    // Delete carries the full row, scope leave.
    ok(&writer.request(json!({"operation": "delete", "entity": "users", "record_id": q["id"]})).await);
    let mut got = vec![watcher.notification().await, watcher.notification().await];
    got.sort_by_key(|n| n["subscription_id"].as_str().unwrap().to_owned());
    let gone = by_sub(&got, &big_id);
    assert_eq!((gone["operation"].clone(), gone["scope"].clone()), (json!("delete"), json!("leave")));
    assert_eq!(gone["data"], q, "the deleted row, in full");

    // The client that makes a change gets its own notifications too.
    let own = subscribe(&mut writer, json!({})).await;
    ok(&writer
        .request(json!({"operation": "create", "entity": "users", "data": {"name": "Self", "email": "self@x"}}))
        .await);
    let n = writer.notification().await;
    assert_eq!(n["subscription_id"], own);
    let _ = watcher.notification().await; // big_id
    let _ = watcher.notification().await; // nulls (status is NULL)

    // Only the owner may cancel; unsubscribe stops delivery.
    let foreign = writer.request(json!({"operation": "unsubscribe", "subscription_id": active})).await;
    crate::harness::err(&foreign, "subscription_not_found");
    for sub in [&active, &named, &big_id, &nulls, &listed] {
        ok(&watcher.request(json!({"type": "subscription", "operation": "unsubscribe", "subscription_id": sub})).await);
    }
    ok(&writer.request(json!({"operation": "create", "entity": "users", "data": {"name": "Al", "email": "al@x", "status": "active"}})).await);
    let _ = writer.notification().await;
    watcher.no_notification().await;
    // A clean session's end leaves its subscriptions resumable for the retention time, then
    // they are gone.
    assert_eq!(server.server.subscription_count(), 1);
    writer.disconnect().await;
    let gone = tokio::time::timeout(crate::harness::WAIT, gone_rx.recv()).await.expect("after_disconnect fires");
    assert_eq!(gone.as_deref(), Some("writer"));
    let deadline = tokio::time::Instant::now() + crate::harness::WAIT;
    while server.server.subscription_count() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "subscriptions outlived their retention");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

pub async fn seq_has_no_gaps_under_rapid_changes(setup: Setup) {
    let server = TestServer::start(setup).await;
    let mut watcher = server.client("watcher").await;
    watcher.subscribe_own().await;
    let mut writer = server.client("writer").await;
    writer.subscribe_own().await;
    let row = ok(&writer
        .request(json!({"operation": "create", "entity": "users", "data": {"name": "n", "email": "e@x"}}))
        .await);
    let sub =
        subscribe(&mut watcher, json!({"filters": [{"column": "id", "operator": "eq", "value": row["id"]}]})).await;
    // 1,000 updates, published back to back without waiting for replies.
    for i in 0..1000 {
        writer
            .send(&json!({"id": format!("u{i}"), "type": "request", "operation": "update", "entity": "users", "record_id": row["id"], "data": {"name": format!("n{i}")}}))
            .await;
    }
    for i in 0..1000u64 {
        let n = watcher.notification().await;
        assert_eq!(n["subscription_id"], sub);
        assert_eq!(n["seq"], i + 1, "seq without gaps, in order");
        assert_eq!(n["data"]["name"], format!("n{i}"), "changes in commit order");
    }
    let last = writer.reply_with_id(&json!("u999")).await;
    ok(&last);
    watcher.no_notification().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_subscription_follows_that_record_only() {
    let server = TestServer::start(Backend::Sqlite).await;
    let mut c = server.client("follower").await;
    c.subscribe_own().await;
    let one = ok(&c
        .request(json!({"operation": "create", "entity": "users", "data": {"name": "One", "email": "1@x"}}))
        .await);
    let two = ok(&c
        .request(json!({"operation": "create", "entity": "users", "data": {"name": "Two", "email": "2@x"}}))
        .await);
    let sub = ok(&c
        .request(json!({"type": "subscription", "operation": "subscribe", "entity": "users", "record_id": one["id"].to_string()}))
        .await);
    let bad = c
        .request(json!({"type": "subscription", "operation": "subscribe", "entity": "users", "record_id": "abc"}))
        .await;
    crate::harness::err(&bad, "validation_error");
    let with = |extra: Json| {
        let mut request = json!({"type": "subscription", "operation": "subscribe", "entity": "users"});
        request.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        request
    };
    let by_data = ok(&c.request(with(json!({"data": {"id": two["id"]}}))).await);
    let mismatch = c.request(with(json!({"record_id": one["id"], "data": {"id": two["id"]}}))).await;
    crate::harness::err(&mismatch, "validation_error");
    crate::harness::err(&c.request(with(json!({"data": 3}))).await, "invalid_message");
    ok(&c
        .request(
            json!({"type": "subscription", "operation": "unsubscribe", "subscription_id": by_data["subscription_id"]}),
        )
        .await);
    ok(&c
        .request(json!({"operation": "update", "entity": "users", "record_id": two["id"], "data": {"status": "x"}}))
        .await);
    ok(&c
        .request(json!({"operation": "update", "entity": "users", "record_id": one["id"], "data": {"status": "y"}}))
        .await);
    let n = c.notification().await;
    assert_eq!(n["subscription_id"], sub["subscription_id"]);
    assert_eq!((n["data"]["id"].clone(), n["data"]["status"].clone()), (one["id"].clone(), json!("y")));
    c.no_notification().await;
}

/// A length-prefixed string, as a value.
fn mqtt_str(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    crate::raw::string(s, &mut out);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_session_gets_what_its_subscriptions_queued_while_away() {
    use crate::raw::packet;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = TestServer::start(Backend::Sqlite).await;
    // A raw 3.1.1 client with a persistent session that sends DISCONNECT but keeps its socket open.
    let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", server.port)).await.unwrap();
    let connect = [mqtt_str("MQTT"), vec![4, 0x00, 0, 60], mqtt_str("lingerer")].concat();
    raw.write_all(&packet(0x10, connect.clone())).await.unwrap();
    let subscribe = [vec![0, 1], mqtt_str("spec/lingerer/#"), vec![1]].concat();
    raw.write_all(&packet(0x82, subscribe.clone())).await.unwrap();
    let request = r#"{"id":"s1","type":"subscription","operation":"subscribe","entity":"users"}"#;
    raw.write_all(&packet(0x30, [mqtt_str("spec/lingerer/request"), request.as_bytes().to_vec()].concat()))
        .await
        .unwrap();
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains("notify_topic") {
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout(crate::harness::WAIT, raw.read(&mut buf)).await.expect("reply").unwrap();
        assert!(n > 0, "connection open");
        seen.extend_from_slice(&buf[..n]);
    }
    raw.write_all(&packet(0xE0, Vec::new())).await.unwrap();
    let mut writer = server.client("writer").await;
    writer.subscribe_own().await;
    // The writer's connect, subscribe and request take several broker round trips: the
    // lingerer's DISCONNECT, written before them, has been read by then.
    ok(&writer
        .request(json!({"operation": "create", "entity": "users", "data": {"name": "late", "email": "l@x"}}))
        .await);
    drop(raw);
    // Nothing went to the lingering socket after its DISCONNECT; the persistent session gets it
    // on its return.
    let mut options = rumqttc::MqttOptions::new("lingerer", "127.0.0.1", server.port);
    options.set_clean_session(false);
    let (_client, mut eventloop) = rumqttc::AsyncClient::new(options, 10);
    let queued = tokio::time::timeout(crate::harness::WAIT, async {
        loop {
            // (The unacknowledged reply to `s1` is redelivered on the response topic; that is fine.)
            if let Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p))) = eventloop.poll().await
                && p.topic.contains("/notify/")
            {
                return serde_json::from_slice::<Json>(&p.payload).unwrap();
            }
        }
    })
    .await
    .expect("the queued notification arrives");
    assert_eq!((queued["seq"].as_u64(), queued["data"]["name"].as_str()), (Some(1), Some("late")), "{queued}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writers_reply_waits_for_its_own_notifications_only() {
    // Bob's notifications are held in an `after_read` hook until the test lets them go. Alice's
    // reply to her write must arrive meanwhile, after her own notification of it; bob's follows
    // once released. (A reply that waited for every client's notifications would never come.)
    let release = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let held = release.clone();
    let server = TestServer::start_with(Backend::Sqlite, move |b| {
        b.hook(
            mqttspec::HookPoint::AfterRead,
            0,
            "hold-bob",
            mqttspec::hooks::hook_fn(move |ctx| {
                let hold = (ctx.subscription_id().is_some() && ctx.client().id() == "bob").then(|| held.clone());
                Box::pin(async move {
                    if let Some(held) = hold {
                        held.acquire().await.expect("open").forget();
                    }
                    Ok(())
                })
            }),
        )
    })
    .await;
    let mut bob = server.client("bob").await;
    bob.subscribe_own().await;
    let bobs = subscribe(&mut bob, json!({})).await;
    let mut alice = server.client("alice").await;
    alice.subscribe_own().await;
    let alices = subscribe(&mut alice, json!({})).await;

    let id = json!("w-1");
    alice
        .send(&json!({"id": id, "type": "request", "operation": "create", "entity": "users",
            "data": {"name": "Ann", "email": "ann@x"}}))
        .await;
    let wait = std::time::Duration::from_secs(10);
    let (topic, own) = alice.message_on("spec/alice/", wait).await.expect("a message for alice");
    assert_eq!(topic, format!("spec/alice/notify/{alices}"), "alice's own notification first: {own}");
    let (topic, reply) = alice.message_on("spec/alice/", wait).await.expect("the reply, while bob's is held");
    assert_eq!(topic, "spec/alice/response");
    assert_eq!(reply["id"], id);
    assert_eq!(ok(&reply)["name"], "Ann");
    bob.no_notification().await;

    release.add_permits(1);
    let n = bob.notification().await;
    assert_eq!(n["subscription_id"], bobs.as_str());
    assert_eq!(n["data"]["name"], "Ann");
}
