//! The 17 hook points fire with their documented context; hooks change what they may change.

use std::sync::{Arc, Mutex};

use mqttspec::hooks::hook_fn;
use mqttspec::{Error, HookContext, HookPoint, Server, SpecEntity};
use serde_json::{Value as Json, json};

use crate::harness::{Setup, TestClient, TestServer, User, WAIT, err, ok};
use crate::support::{Backend, fresh_database};

#[derive(Debug, Clone)]
struct Seen {
    point: HookPoint,
    client: String,
    entity: Option<String>,
    operation: Option<String>,
    record_id: Option<Json>,
    data: Option<Json>,
    result: Option<Json>,
    subscription: Option<String>,
    metadata: Option<Json>,
}

fn record(ctx: &HookContext) -> Seen {
    Seen {
        point: ctx.point(),
        client: ctx.client().id().to_owned(),
        entity: ctx.entity().map(|e| e.meta.name.to_owned()),
        operation: ctx.operation().map(|o| o.as_str().to_owned()),
        record_id: ctx.record_id(),
        data: ctx.data().map(|d| Json::Object(d.clone())),
        result: ctx.result().cloned(),
        subscription: ctx.subscription_id().map(str::to_owned),
        metadata: ctx.client().metadata("tag"),
    }
}

pub async fn every_hook_point_fires_with_its_context(setup: Setup) {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let recorder = seen.clone();
    let server = TestServer::start_with(setup, move |mut b| {
        for point in HookPoint::ALL {
            let seen = recorder.clone();
            let done = done_tx.clone();
            b = b.hook(
                point,
                0,
                point.as_str(),
                hook_fn(move |ctx| {
                    if ctx.point() == HookPoint::BeforeConnect {
                        ctx.client().set_metadata("tag", json!("from before_connect"));
                    }
                    seen.lock().unwrap().push(record(ctx));
                    if ctx.point() == HookPoint::AfterDisconnect {
                        let _ = done.send(());
                    }
                    Box::pin(async { Ok(()) })
                }),
            );
        }
        // Hooks that change things: a stamped field, a narrowed read, a redacted result, a typed view.
        b.hook(
            HookPoint::BeforeCreate,
            10,
            "stamp",
            hook_fn(|ctx| {
                ctx.set_field("status", json!("stamped"));
                Box::pin(async { Ok(()) })
            }),
        )
        .hook_for::<User>(
            HookPoint::AfterCreate,
            10,
            "typed",
            hook_fn(|ctx| {
                let user = ctx.record::<User>();
                Box::pin(async move {
                    match user {
                        Some(user) if user.status.as_deref() == Some("stamped") => Ok(()),
                        other => Err(Error::validation(format!("typed view: {other:?}"))),
                    }
                })
            }),
        )
        .hook(
            HookPoint::BeforeRead,
            10,
            "hide-secret",
            hook_fn(|ctx| {
                let result = ctx.add_filter("name", "neq", json!("secret"));
                Box::pin(async move { result })
            }),
        )
        .hook(
            HookPoint::AfterRead,
            10,
            "redact",
            hook_fn(|ctx| {
                redact(ctx.result_mut());
                Box::pin(async { Ok(()) })
            }),
        )
        .hook(
            HookPoint::AfterUpdate,
            10,
            "veto",
            hook_fn(|ctx| {
                let veto = ctx.result().is_some_and(|r| r["name"] == "vetoed");
                Box::pin(async move { if veto { Err(Error::forbidden("vetoed after the fact")) } else { Ok(()) } })
            }),
        )
    })
    .await;

    let mut c = server.client("alice").await;
    c.subscribe_own().await;
    let sub = ok(&c.request(json!({"type": "subscription", "entity": "users"})).await);
    let sub_id = sub["subscription_id"].as_str().unwrap().to_owned();
    let created = ok(&c
        .request(json!({"operation": "create", "entity": "users", "data": {"name": "Ann", "email": "ann@x"}}))
        .await);
    assert_eq!(created["status"], "stamped", "before_create changed the data");
    let n = c.notification().await;
    assert_eq!(n["data"]["email"], "***", "after_read runs on notifications");
    let id = created["id"].clone();
    ok(&c.request(json!({"operation": "create", "entity": "users", "data": {"name": "secret", "email": "s@x"}})).await);
    c.no_notification().await; // before_read at subscribe time narrowed the subscription too
    let read = ok(&c.request(json!({"operation": "read", "entity": "users"})).await);
    assert_eq!(read.as_array().unwrap().len(), 1, "before_read narrowed the read: {read}");
    assert_eq!(read[0]["email"], "***", "after_read redacted the result");
    ok(&c
        .request(json!({"operation": "update", "entity": "users", "record_id": id, "data": {"email": "new@x"}}))
        .await);
    let _ = c.notification().await;
    // A failing after-hook rolls the write back and sends no notification.
    err(
        &c.request(json!({"operation": "update", "entity": "users", "record_id": id, "data": {"name": "vetoed"}}))
            .await,
        "forbidden",
    );
    c.no_notification().await;
    let again = ok(&c.request(json!({"operation": "read", "entity": "users", "record_id": id})).await);
    assert_eq!(again["name"], "Ann", "rolled back");
    ok(&c.request(json!({"operation": "delete", "entity": "users", "record_id": id})).await);
    let _ = c.notification().await;
    ok(&c.request(json!({"operation": "unsubscribe", "subscription_id": sub_id})).await);
    c.disconnect().await;
    tokio::time::timeout(WAIT, done_rx.recv()).await.expect("after_disconnect").unwrap();

    let seen = seen.lock().unwrap().clone();
    for point in HookPoint::ALL {
        let first = seen.iter().find(|s| s.point == point).unwrap_or_else(|| panic!("{point} never fired"));
        assert_eq!(first.client, "alice", "{point}");
        if point != HookPoint::BeforeConnect {
            assert_eq!(
                first.metadata,
                Some(json!("from before_connect")),
                "{point}: metadata lives with the connection"
            );
        }
    }
    let at = |point: HookPoint, operation: &str| {
        seen.iter()
            .find(|s| s.point == point && s.operation.as_deref() == Some(operation))
            .unwrap_or_else(|| panic!("{point} for {operation}"))
            .clone()
    };
    let before_create = at(HookPoint::BeforeCreate, "create");
    assert_eq!(before_create.entity.as_deref(), Some("users"));
    assert_eq!(before_create.data.unwrap()["name"], "Ann");
    assert_eq!(at(HookPoint::AfterCreate, "create").result.unwrap()["name"], "Ann");
    let before_update = at(HookPoint::BeforeUpdate, "update");
    assert_eq!(before_update.record_id, Some(id.clone()));
    assert_eq!(before_update.data.unwrap()["email"], "new@x");
    assert_eq!(at(HookPoint::AfterUpdate, "update").result.unwrap()["email"], "new@x");
    assert_eq!(at(HookPoint::BeforeDelete, "delete").record_id, Some(id.clone()));
    assert_eq!(at(HookPoint::AfterDelete, "delete").result.unwrap(), json!({"deleted": true, "id": id}));
    assert!(at(HookPoint::AfterRead, "read").result.unwrap().is_array());
    assert_eq!(
        at(HookPoint::BeforeRead, "subscribe").entity.as_deref(),
        Some("users"),
        "before_read runs at subscribe time"
    );
    assert_eq!(at(HookPoint::AfterSubscribe, "subscribe").subscription.as_deref(), Some(sub_id.as_str()));
    assert_eq!(at(HookPoint::BeforeUnsubscribe, "unsubscribe").subscription.as_deref(), Some(sub_id.as_str()));
    assert_eq!(at(HookPoint::AfterUnsubscribe, "unsubscribe").result.unwrap()["unsubscribed"], true);
    let on_notification = seen
        .iter()
        .find(|s| s.point == HookPoint::AfterRead && s.subscription.is_some())
        .expect("after_read on a notification");
    assert_eq!(on_notification.subscription.as_deref(), Some(sub_id.as_str()));
    assert!(seen.iter().any(|s| s.point == HookPoint::BeforeHandle && s.operation.as_deref() == Some("create")));
}

fn redact(result: Option<&mut Json>) {
    match result {
        Some(Json::Array(rows)) => rows.iter_mut().for_each(|r| r["email"] = json!("***")),
        Some(row @ Json::Object(_)) => row["email"] = json!("***"),
        _ => {}
    }
}

/// Declared with the attribute macro: runs for `Gadget` only, found through `inventory`.
#[derive(Debug, SpecEntity)]
struct Gadget {
    #[spec(generated)]
    id: i64,
    label: String,
    origin: Option<String>,
}

#[mqttspec::hook(before_create, entity = Gadget, priority = 5)]
async fn stamp_origin(ctx: &mut HookContext) -> mqttspec::Result<()> {
    let origin = ctx.client().id().to_owned();
    ctx.set_field("origin", json!(origin));
    Ok(())
}

#[mqttspec::hook(before_delete, entity = Gadget)]
async fn gadgets_are_forever(_ctx: &mut HookContext) -> mqttspec::Result<()> {
    Err(Error::forbidden("gadgets cannot be deleted"))
}

/// A server with `Gadget` and `User` over a fresh SQLite database, on a free port, as `configure`
/// adds to it.
async fn gadget_server(configure: impl FnOnce(mqttspec::ServerBuilder) -> mqttspec::ServerBuilder) -> Server {
    let builder = Server::builder()
        .database(fresh_database(Backend::Sqlite).await)
        .without_discovery()
        .entity::<Gadget>()
        .entity::<User>()
        .create_tables(true)
        .listen(([127, 0, 0, 1], 0).into());
    configure(builder).start().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attribute_hooks_register_themselves() {
    let server = gadget_server(|b| b).await;
    let mut c = TestClient::connect(server.local_addr().expect("embedded broker").port(), "maker", None).await.unwrap();
    c.subscribe_own().await;
    let gadget = ok(&c.request(json!({"operation": "create", "entity": "gadgets", "data": {"label": "g"}})).await);
    assert_eq!(gadget["origin"], "maker");
    err(&c.request(json!({"operation": "delete", "entity": "gadgets", "record_id": gadget["id"]})).await, "forbidden");
    // Entity-scoped: other entities are untouched.
    let user =
        ok(&c.request(json!({"operation": "create", "entity": "users", "data": {"name": "u", "email": "u@x"}})).await);
    ok(&c.request(json!({"operation": "delete", "entity": "users", "record_id": user["id"]})).await);
}

/// Rows in `audit`, read beside the server.
async fn audit_rows(db: &mqttspec::Database) -> Vec<String> {
    use sqlx::Row;
    let mut conn = db.acquire().await.unwrap();
    let rows = match conn.conn() {
        mqttspec::Conn::Sqlite(c) => sqlx::query("SELECT what FROM audit ORDER BY what")
            .fetch_all(c)
            .await
            .map(|rows| rows.iter().map(|r| r.get::<String, _>(0)).collect::<Vec<_>>()),
        mqttspec::Conn::Postgres(c) => sqlx::query("SELECT what FROM audit ORDER BY what")
            .fetch_all(c)
            .await
            .map(|rows| rows.iter().map(|r| r.get::<String, _>(0)).collect::<Vec<_>>()),
    };
    rows.unwrap()
}

/// A hook's statements on `ctx.transaction()` commit with the write, and roll back with it.
pub async fn hooks_write_inside_the_transaction(setup: Setup) {
    let audit = hook_fn(|ctx| {
        Box::pin(async move {
            let what = format!("{}:{}", ctx.point(), ctx.result().and_then(|r| r.get("name")).unwrap_or(&json!(null)));
            let mut tx = ctx.transaction().await.expect("a write has a transaction");
            let n =
                tx.conn().execute_with("INSERT INTO audit (what) VALUES ($1)", &[mqttspec::Value::Text(what)]).await?;
            assert_eq!(n, 1);
            Ok(())
        })
    });
    let refuse_bad = hook_fn(|ctx| {
        Box::pin(async move {
            match ctx.result().and_then(|r| r.get("name")) {
                Some(name) if name == "bad" => Err(Error::validation("no bad names")),
                _ => Ok(()),
            }
        })
    });
    let no_tx_on_reads = hook_fn(|ctx| {
        Box::pin(async move {
            assert!(ctx.transaction().await.is_none(), "reads have no write transaction");
            Ok(())
        })
    });
    let server = TestServer::start_with(setup, |b| {
        b.hook(HookPoint::AfterCreate, 10, "audit", audit)
            .hook(HookPoint::AfterCreate, 0, "refuse-bad", refuse_bad)
            .hook(HookPoint::BeforeRead, 0, "no-tx", no_tx_on_reads)
    })
    .await;
    let db = &server.db;
    db.acquire().await.unwrap().conn().execute("CREATE TABLE audit (what TEXT NOT NULL)").await.unwrap();
    let mut c = server.client("auditor").await;
    c.subscribe_own().await;
    ok(&c.request(json!({"operation": "create", "entity": "users", "data": {"name": "good", "email": "g@x"}})).await);
    // The audit hook runs first and inserts its row; the next hook fails: both rows roll back.
    let batch = json!([{"name": "fine", "email": "f@x"}, {"name": "bad", "email": "b@x"}]);
    err(&c.request(json!({"operation": "create", "entity": "users", "data": batch})).await, "validation_error");
    assert_eq!(audit_rows(db).await, vec!["after_create:\"good\"".to_owned()]);
    let users = ok(&c.request(json!({"operation": "read", "entity": "users"})).await);
    assert_eq!(users.as_array().unwrap().len(), 1, "the failed batch left no user behind");
    server.server.shutdown().await;
}

/// `without_discovered_hooks` leaves out the `#[hook]` functions only: a builder hook added
/// before it still runs; and `serve_with_shutdown` serves until its signal, then stops the
/// server (its port is free again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builder_hooks_outlive_without_discovered_hooks_and_serve_with_shutdown_stops() {
    let server = gadget_server(|b| {
        b.hook(
            mqttspec::HookPoint::BeforeRead,
            0,
            "builder hook",
            mqttspec::hooks::hook_fn(|_ctx| Box::pin(async { Err(Error::unauthorized("the builder hook ran")) })),
        )
        .without_discovered_hooks()
    })
    .await;
    let port = server.local_addr().expect("embedded broker").port();
    let mut c = TestClient::connect(port, "maker", None).await.unwrap();
    c.subscribe_own().await;
    let reply = c.request(json!({"operation": "read", "entity": "gadgets"})).await;
    err(&reply, "unauthorized");
    assert_eq!(reply["error"]["message"], "the builder hook ran");
    // The discovered `stamp_origin` and `gadgets_are_forever` are left out.
    let gadget = ok(&c.request(json!({"operation": "create", "entity": "gadgets", "data": {"label": "g"}})).await);
    assert_eq!(gadget["origin"], Json::Null);
    ok(&c.request(json!({"operation": "delete", "entity": "gadgets", "record_id": gadget["id"]})).await);
    let (stop, signal) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve_with_shutdown(async {
        let _ = signal.await;
    }));
    drop(c);
    assert!(!serving.is_finished(), "serves until the signal");
    stop.send(()).unwrap();
    tokio::time::timeout(WAIT, serving).await.expect("stops after the signal").unwrap().unwrap();
    assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(), "the broker's port is free again");
}

/// A server dropped without `shutdown()` frees what it held (its hooks here) and its port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_server_frees_its_memory_and_port() {
    let token = Arc::new(());
    let held = token.clone();
    let server = crate::harness::embedded_builder()
        .await
        .hook(
            HookPoint::AfterRead,
            0,
            "holds the token",
            hook_fn(move |_ctx| {
                let _held = held.clone();
                Box::pin(async { Ok(()) })
            }),
        )
        .start()
        .await
        .unwrap();
    let port = server.local_addr().expect("embedded broker").port();
    let mut c = TestClient::connect(port, "reader", None).await.unwrap();
    c.subscribe_own().await;
    ok(&c.request(json!({"type": "subscription", "operation": "subscribe", "entity": "users"})).await);
    ok(&c.request(json!({"operation": "read", "entity": "users"})).await);
    assert!(Arc::strong_count(&token) > 1, "the server holds its hooks");
    drop(server);
    let deadline = std::time::Instant::now() + WAIT;
    while Arc::strong_count(&token) > 1 || std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "still held: {} references", Arc::strong_count(&token) - 1);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    drop(c);
}

/// `add_hook` names a hook's options; `hook_fn!` writes the `Box::pin`. Higher priorities run
/// first, so the lower one has the last word.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_hook_options_and_the_hook_fn_macro() {
    use mqttspec::hooks::HookSpec;
    let stamp = |origin: &'static str| {
        mqttspec::hook_fn!(move |ctx| async move {
            ctx.set_field("origin", json!(origin));
            Ok(())
        })
    };
    let server = gadget_server(|b| {
        b.without_discovered_hooks()
            .add_hook(HookSpec::new(HookPoint::BeforeCreate, stamp("low")).entity::<Gadget>().priority(1).name("low"))
            .add_hook(
                HookSpec::new(HookPoint::BeforeCreate, stamp("high")).entity::<Gadget>().priority(10).name("high"),
            )
            .add_hook(HookSpec::new(
                HookPoint::BeforeDelete,
                mqttspec::hook_fn!(|_ctx| async { Err(Error::conflict("kept")) }),
            ))
    })
    .await;
    let mut c = TestClient::connect(server.local_addr().expect("embedded broker").port(), "maker", None).await.unwrap();
    c.subscribe_own().await;
    let gadget = ok(&c.request(json!({"operation": "create", "entity": "gadgets", "data": {"label": "g"}})).await);
    assert_eq!(gadget["origin"], "low", "the lower priority ran last");
    let user =
        ok(&c.request(json!({"operation": "create", "entity": "users", "data": {"name": "u", "email": "u@x"}})).await);
    assert_eq!(user.get("origin"), None, "entity-scoped");
    let reply = c.request(json!({"operation": "delete", "entity": "gadgets", "record_id": gadget["id"]})).await;
    assert_eq!(reply["error"]["message"], "kept", "{reply}");
}

/// `Client::revoke` from a hook ends that connection's access at once: its requests are
/// `unauthorized` and its subscriptions stop; a new connection starts over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_client_gets_nothing_more() {
    let server = gadget_server(|b| {
        b.without_discovered_hooks().hook(
            HookPoint::BeforeHandle,
            0,
            "revoke on delete",
            hook_fn(|ctx| {
                Box::pin(async move {
                    if ctx.operation() == Some(mqttspec::Operation::Delete) {
                        ctx.client().revoke();
                        return Err(Error::unauthorized("revoked"));
                    }
                    Ok(())
                })
            }),
        )
    })
    .await;
    let port = server.local_addr().expect("embedded broker").port();
    let mut watcher = TestClient::connect(port, "watcher", None).await.unwrap();
    watcher.subscribe_own().await;
    ok(&watcher.request(json!({"type": "subscription", "operation": "subscribe", "entity": "users"})).await);
    let mut writer = TestClient::connect(port, "writer", None).await.unwrap();
    writer.subscribe_own().await;
    ok(&writer.request(json!({"operation": "create", "entity": "users", "data": {"name": "a", "email": "a@x"}})).await);
    assert_eq!(watcher.notification().await["seq"], 1);
    err(&watcher.request(json!({"operation": "delete", "entity": "users", "record_id": 1})).await, "unauthorized");
    ok(&writer.request(json!({"operation": "create", "entity": "users", "data": {"name": "b", "email": "b@x"}})).await);
    watcher.no_notification().await;
    err(&watcher.request(json!({"operation": "read", "entity": "users"})).await, "unauthorized");
    assert_eq!(server.subscription_count(), 0, "its subscription ended");
    watcher.disconnect().await;
    let mut again = TestClient::connect(port, "watcher", None).await.unwrap();
    again.subscribe_own().await;
    ok(&again.request(json!({"operation": "read", "entity": "users"})).await);
}
