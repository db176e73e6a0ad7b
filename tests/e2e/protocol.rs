//! Every operation and every error code of PROTOCOL.md over MQTT.

use mqttspec::{Error, HookPoint, hooks::hook_fn};
use serde_json::json;

use crate::harness::{Setup, TestServer, err, ok};
use crate::support::Backend;

pub async fn every_operation(setup: Setup) {
    let server = TestServer::start(setup).await;
    let mut c = server.client("alice").await;
    c.subscribe_own().await;

    let pong = c.request(json!({"id": "p1", "type": "ping"})).await;
    assert_eq!((pong["type"].clone(), pong["success"].clone()), (json!("pong"), json!(true)));
    let created = ok(&c
        .request(json!({"operation": "create", "schema": "public", "entity": "users", "data": {"name": "Ann", "email": "ann@x", "status": "active"}}))
        .await);
    let id = created["id"].as_i64().unwrap();
    assert_eq!(created, json!({"id": id, "name": "Ann", "email": "ann@x", "status": "active"}));
    let batch = ok(&c
        .request(json!({"operation": "create", "entity": "users", "data": [{"name": "Bo", "email": "bo@x"}, {"name": "Cy", "email": "cy@x", "status": "active"}]}))
        .await);
    assert_eq!(batch.as_array().unwrap().len(), 2);

    let one = c.request(json!({"operation": "read", "entity": "users", "record_id": id.to_string()})).await;
    assert_eq!(ok(&one), created);
    assert_eq!(one["metadata"], json!({"total": 1, "count": 1}));
    // The Go README's form: the key inside data.
    assert_eq!(ok(&c.request(json!({"operation": "read", "entity": "users", "data": {"id": id}})).await), created);
    let many = c
        .request(json!({"operation": "read", "entity": "users", "options": {
            "filters": [{"column": "status", "operator": "eq", "value": "active"}],
            "sort": [{"column": "name", "direction": "desc"}], "limit": 1, "columns": ["name"]}}))
        .await;
    assert_eq!(ok(&many), json!([{"id": id + 2, "name": "Cy"}]));
    assert_eq!(many["metadata"]["total"], 2);
    assert_eq!(many["metadata"]["count"], 1);
    assert_eq!(many["metadata"]["limit"], 1);
    assert!(many["metadata"]["next_cursor"].is_string());

    let updated = ok(&c
        .request(json!({"operation": "update", "entity": "users", "record_id": id, "data": {"status": null}}))
        .await);
    assert_eq!(updated["status"], json!(null));
    assert_eq!(updated["email"], "ann@x");
    let deleted = ok(&c.request(json!({"operation": "DELETE", "entity": "users", "data": {"id": id}})).await);
    assert_eq!(deleted, json!({"deleted": true, "id": id}));
    let meta = ok(&c.request(json!({"operation": "meta", "entity": "users"})).await);
    assert_eq!(meta["primary_key"], "id");
    assert_eq!(meta["columns"].as_array().unwrap().len(), 4);
    let all = ok(&c.request(json!({"operation": "meta"})).await);
    assert_eq!(all["entities"][0]["entity"], "users");

    let sub = ok(&c.request(json!({"type": "subscription", "operation": "subscribe", "entity": "users"})).await);
    let sub_id = sub["subscription_id"].as_str().unwrap().to_owned();
    assert_eq!(sub["notify_topic"], format!("spec/alice/notify/{sub_id}"));
    assert_eq!((sub["schema"].clone(), sub["entity"].clone()), (json!("public"), json!("users")));
    // `unsubscribe` as a request, with the id inside data (the Go README's form).
    let gone = ok(&c.request(json!({"operation": "unsubscribe", "data": {"subscription_id": sub_id}})).await);
    assert_eq!(gone, json!({"unsubscribed": true, "subscription_id": sub_id}));
    assert_eq!(server.server.subscription_count(), 0);
}

pub async fn every_error_code(setup: Setup) {
    let server = TestServer::start_with(setup, |b| {
        b.hook(
            HookPoint::BeforeHandle,
            0,
            "gate",
            hook_fn(|ctx| {
                Box::pin(async move {
                    match ctx.message_id() {
                        Some("refuse-handle") => Err(Error::forbidden("no").with_message("refused by before_handle")),
                        Some("unauthorized") => Err(Error::new(mqttspec::ErrorCode::Unauthorized, "who are you")),
                        _ => Ok(()),
                    }
                })
            }),
        )
        .hook(
            HookPoint::BeforeCreate,
            0,
            "rules",
            hook_fn(|ctx| {
                Box::pin(async move {
                    match ctx.data().and_then(|d| d.get("name")).and_then(|n| n.as_str()) {
                        Some("forbidden") => Err(Error::forbidden("names like that are not allowed")),
                        Some("hookfail") => Err(Error::new(mqttspec::ErrorCode::Conflict, "the hook gave up")),
                        Some("panic") => panic!("hook panicked on purpose"),
                        _ => Ok(()),
                    }
                })
            }),
        )
        .max_subscriptions_per_client(1)
    })
    .await;
    let mut c = server.client("alice").await;
    c.subscribe_own().await;
    let raw = |c: &crate::harness::TestClient, payload: &'static str| {
        let topic = format!("spec/{}/request", c.id);
        let client = c.client.clone();
        async move { client.publish(topic, rumqttc::QoS::AtLeastOnce, false, payload).await.unwrap() }
    };

    // invalid_message: not JSON, not an object, wrong envelope types, missing fields.
    raw(&c, "not json").await;
    err(&c.reply_with_id(&json!("")).await, "invalid_message");
    raw(&c, "[1,2]").await;
    err(&c.reply_with_id(&json!("")).await, "invalid_message");
    raw(&c, r#"{"id": 5, "type": "request", "operation": "read", "entity": "users"}"#).await;
    err(&c.reply_with_id(&json!("")).await, "invalid_message");
    // A missing `type` (sent as is: the helper below would add one).
    c.send(&json!({"id": "e1", "operation": "read", "entity": "users"})).await;
    err(&c.reply_with_id(&json!("e1")).await, "invalid_message");
    for request in [
        json!({"id": "e2", "type": "request", "entity": "users"}),
        json!({"id": "e3", "type": "request", "operation": "read"}),
        json!({"id": "e4", "type": "request", "operation": "read", "entity": "users", "options": "x"}),
        json!({"id": "e5", "type": "request", "operation": "create", "entity": "users", "data": 3}),
        json!({"id": "e6", "type": "request", "operation": "read", "entity": 7}),
        json!({"id": "e7", "type": "request", "operation": "read", "entity": "users", "record_id": true}),
        json!({"id": "e8", "type": "request", "operation": "unsubscribe"}),
        json!({"id": "e9", "type": "request", "operation": "read", "entity": "users", "data": 3}),
        json!({"id": "e10", "type": "request", "operation": "update", "entity": "users", "data": [1]}),
    ] {
        err(&c.request(request).await, "invalid_message");
    }
    c.send(&json!({"type": "ping"})).await;
    let pong = c.reply_with_id(&json!("")).await;
    assert_eq!((pong["type"].clone(), pong["id"].clone()), (json!("pong"), json!("")));
    err(&c.request(json!({"type": "query", "operation": "read", "entity": "users"})).await, "invalid_message_type");
    err(&c.request(json!({"operation": "drop", "entity": "users"})).await, "invalid_operation");
    err(&c.request(json!({"operation": "read", "entity": "nope"})).await, "model_not_found");
    err(
        &c.request(json!({"operation": "read", "entity": "users", "options": {"limit": "5"}})).await,
        "validation_error",
    );
    err(&c.request(json!({"operation": "read", "entity": "users", "record_id": 404})).await, "not_found");
    ok(&c.request(json!({"operation": "create", "entity": "users", "data": {"name": "A", "email": "same@x"}})).await);
    err(
        &c.request(json!({"operation": "create", "entity": "users", "data": {"name": "B", "email": "same@x"}})).await,
        "conflict",
    );
    err(&c.request(json!({"id": "unauthorized", "operation": "read", "entity": "users"})).await, "unauthorized");
    err(&c.request(json!({"id": "refuse-handle", "operation": "read", "entity": "users"})).await, "forbidden");
    err(
        &c.request(json!({"operation": "create", "entity": "users", "data": {"name": "forbidden", "email": "f@x"}}))
            .await,
        "forbidden",
    );
    let hook_error = c
        .request(json!({"operation": "create", "entity": "users", "data": {"name": "hookfail", "email": "h@x"}}))
        .await;
    err(&hook_error, "hook_error");
    assert_eq!(hook_error["error"]["message"], "the hook gave up");
    err(&c.request(json!({"operation": "unsubscribe", "subscription_id": "sub-nope"})).await, "subscription_not_found");
    ok(&c.request(json!({"type": "subscription", "entity": "users"})).await);
    err(
        &c.request(json!({"type": "subscription", "operation": "subscribe", "entity": "users"})).await,
        "too_many_subscriptions",
    );
    let panicked =
        c.request(json!({"operation": "create", "entity": "users", "data": {"name": "panic", "email": "p@x"}})).await;
    err(&panicked, "internal_error");
    assert!(!panicked["error"]["message"].as_str().unwrap().contains("purpose"), "no internals leak");
    // The server lives on; nothing was written by the refused creates.
    assert_eq!(server.user_count().await, 1);
    ok(&c.request(json!({"operation": "read", "entity": "users"})).await);
    // unavailable: the database goes away.
    server.server.engine().db().close().await;
    err(&c.request(json!({"operation": "read", "entity": "users"})).await, "unavailable");
}

pub async fn idempotent_redelivery(setup: Setup) {
    let server = TestServer::start(setup).await;
    let mut c = server.client("alice").await;
    c.subscribe_own().await;
    let request = json!({"id": "create-once", "type": "request", "operation": "create", "entity": "users", "data": {"name": "Once", "email": "once@x"}});
    c.send(&request).await;
    c.send(&request).await;
    let first = c.reply_with_id(&json!("create-once")).await;
    let second = c.reply_with_id(&json!("create-once")).await;
    assert_eq!(first, second, "the repeat gets the first reply, timestamp included");
    ok(&first);
    assert_eq!(server.user_count().await, 1, "one row");
    // Errors are remembered too; the same id from another client is another request.
    let next_id = first["data"]["id"].as_i64().unwrap() + 1;
    let bad = json!({"id": "x", "type": "request", "operation": "read", "entity": "users", "record_id": next_id});
    let e1 = c.request(bad.clone()).await;
    let created =
        ok(&c.request(json!({"operation": "create", "entity": "users", "data": {"name": "N", "email": "n@x"}})).await);
    assert_eq!(created["id"], next_id, "the row the first read missed exists now");
    let e2 = c.request(bad.clone()).await;
    assert_eq!(e1, e2);
    err(&e2, "not_found");
    let mut bob = server.client("bob").await;
    bob.subscribe_own().await;
    let mut for_bob = bad.clone();
    for_bob["id"] = json!("create-once");
    ok(&bob.request(for_bob).await);
    // Envelope errors with an id are remembered as well: a later valid request reusing that id
    // does not execute, and the id of a payload that is not JSON is recovered.
    let wrong_type = json!({"id": "env-1", "type": "zz", "operation": "create", "entity": "users"});
    let first = bob.request(wrong_type).await;
    err(&first, "invalid_message_type");
    let valid = json!({"id": "env-1", "type": "request", "operation": "create", "entity": "users", "data": {"name": "No", "email": "no@x"}});
    assert_eq!(bob.request(valid).await, first, "the stored error, not a second execution");
    assert_eq!(server.user_count().await, 2, "nothing was created under a reused id");
    bob.publish_raw("spec/bob/request", r#"{"id":"broken-1","type":"request","operation":"read""#).await;
    let broken = bob.reply_with_id(&json!("broken-1")).await;
    err(&broken, "invalid_message");
    bob.publish_raw("spec/bob/request", r#"{"id":"broken-1","type":"request","operation":"read""#).await;
    assert_eq!(bob.reply_with_id(&json!("broken-1")).await, broken, "repeat of a broken payload");
    // An empty id cannot serve as a key: refused, never executed, never remembered.
    let empty = json!({"id": "", "type": "request", "operation": "create", "entity": "users", "data": {"name": "E", "email": "e@x"}});
    bob.send(&empty).await;
    err(&bob.reply_with_id(&json!("")).await, "invalid_message");
    assert_eq!(server.user_count().await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_pool_built_elsewhere_is_refused_at_start() {
    // Only `Database::connect` registers the case-folding function the SQL relies on.
    let url = crate::support::fresh_database_url(Backend::Sqlite).await;
    let options = url.parse::<sqlx::sqlite::SqliteConnectOptions>().unwrap().create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    let error = mqttspec::Server::builder()
        .database(mqttspec::Database::from(pool))
        .without_discovery()
        .entity::<crate::harness::User>()
        .listen(([127, 0, 0, 1], 0).into())
        .start()
        .await
        .expect_err("refused");
    let mqttspec::StartError::Database(cause) = &error else { panic!("a database error: {error}") };
    assert_eq!(cause.code(), mqttspec::ErrorCode::Unavailable);
    assert!(error.message().contains("mqttspec_fold"), "{}", error.message());
    let good = mqttspec::Database::connect(&url).await.unwrap();
    good.check().await.expect("Database::connect registers it");
}
