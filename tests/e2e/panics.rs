//! User code can panic anywhere: a hook at each of the 17 points panics once, in the part that
//! makes its future (sync) or in the future (async), and the server answers the next client as
//! if nothing happened, notifications included. Credentials and ACL callbacks may panic too.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mqttspec::HookPoint;
use serde_json::json;

use crate::harness::{TestClient, WAIT, embedded_builder, ok};

/// A hook that panics on its first call only, in the sync or the async part.
fn panics_once(fired: Arc<AtomicBool>, sync: bool) -> impl mqttspec::hooks::Hook {
    mqttspec::hooks::hook_fn(move |_ctx| {
        let first = !fired.swap(true, Ordering::SeqCst);
        if first && sync {
            panic!("a hook panicked before returning its future");
        }
        Box::pin(async move {
            if first {
                panic!("a hook panicked in its future");
            }
            Ok(())
        })
    })
}

/// Every operation once; with `check`, whether all of them succeeded, notifications included
/// (without, it only sets them off: the client meeting the panic waits for nothing).
async fn every_operation(port: u16, id: &str, check: bool) -> Result<(), String> {
    let mut c = TestClient::connect(port, id, None).await?;
    c.subscribe_own().await;
    let sub = c.request(json!({"type": "subscription", "operation": "subscribe", "entity": "users"})).await;
    let sub_id = sub["data"]["subscription_id"].clone();
    let created = c
        .request(json!({"operation": "create", "entity": "users", "data": {"name": id, "email": format!("{id}@x")}}))
        .await;
    let user = created["data"]["id"].clone();
    if !check {
        let _ = c.request(json!({"operation": "read", "entity": "users", "record_id": user})).await;
        let _ = c
            .request(json!({"operation": "update", "entity": "users", "record_id": user, "data": {"status": "x"}}))
            .await;
        let _ = c.request(json!({"operation": "delete", "entity": "users", "record_id": user})).await;
        let _ = c.request(json!({"type": "subscription", "operation": "unsubscribe", "subscription_id": sub_id})).await;
        c.disconnect().await;
        return Ok(());
    }
    for reply in [&sub, &created] {
        if reply["success"] != true {
            return Err(format!("{reply}"));
        }
    }
    let first = c.notification().await;
    let read = c.request(json!({"operation": "read", "entity": "users", "record_id": user})).await;
    let updated =
        c.request(json!({"operation": "update", "entity": "users", "record_id": user, "data": {"status": "x"}})).await;
    let second = c.notification().await;
    let deleted = c.request(json!({"operation": "delete", "entity": "users", "record_id": user})).await;
    let third = c.notification().await;
    let gone = c.request(json!({"type": "subscription", "operation": "unsubscribe", "subscription_id": sub_id})).await;
    c.disconnect().await;
    for reply in [&read, &updated, &deleted, &gone] {
        if reply["success"] != true {
            return Err(format!("{reply}"));
        }
    }
    let seqs = [&first, &second, &third].map(|n| n["seq"].as_u64());
    if seqs != [Some(1), Some(2), Some(3)] {
        return Err(format!("notifications {first} {second} {third}"));
    }
    Ok(())
}

/// The first client meets the panic (whatever it gets); the second one gets every answer.
async fn survives(point: HookPoint, sync: bool) {
    let fired = Arc::new(AtomicBool::new(false));
    let server =
        embedded_builder().await.hook(point, 0, "panics once", panics_once(fired.clone(), sync)).start().await.unwrap();
    let port = server.local_addr().expect("embedded broker").port();
    let _ = tokio::time::timeout(WAIT, every_operation(port, "first", false)).await;
    let deadline = std::time::Instant::now() + WAIT;
    while !fired.load(Ordering::SeqCst) {
        assert!(std::time::Instant::now() < deadline, "{point:?}: the hook never ran");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    if let Err(e) = every_operation(port, "second", true).await {
        panic!("{point:?} ({}): after the panic: {e}", if sync { "sync" } else { "async" });
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_panicking_in_its_sync_part_at_any_point_leaves_the_server_serving() {
    for point in HookPoint::ALL {
        survives(point, true).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_panicking_in_its_future_at_any_point_leaves_the_server_serving() {
    for point in HookPoint::ALL {
        survives(point, false).await;
    }
}

/// A panicking credentials or ACL callback refuses that client (logged), and the broker lives on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_credentials_and_acl_callbacks_refuse_and_the_broker_lives_on() {
    let server = embedded_builder()
        .await
        .credentials(|c| {
            assert!(c.username.as_deref() != Some("boom"), "a credentials callback panicked");
            true
        })
        .acl(|client, _topic, _access| {
            assert!(client != "acl-boom", "an ACL callback panicked");
            true
        })
        .start()
        .await
        .unwrap();
    let port = server.local_addr().expect("embedded broker").port();
    let refused = TestClient::connect(port, "c1", Some(("boom", "x"))).await.err();
    assert!(refused.is_some(), "refused when the callback panicked");
    let mut denied = TestClient::connect(port, "acl-boom", None).await.unwrap();
    assert!(
        denied.subscribe("elsewhere/topic").await.iter().all(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure)),
        "denied when the ACL callback panicked"
    );
    let mut c = TestClient::connect(port, "fine", Some(("ok", "x"))).await.unwrap();
    c.subscribe_own().await;
    ok(&c.request(json!({"operation": "read", "entity": "users"})).await);
    server.shutdown().await;
}
