//! Create, update, delete: round trips, atomicity, missing rows, constraint violations.

use mqttspec::ErrorCode;
use serde_json::json;

use crate::fixture::Fixture;
use crate::support::Backend;

pub async fn crud_round_trip(backend: Backend) {
    let f = Fixture::new(backend).await;
    let created = f.item(json!({"name": "alpha", "qty": 3})).await;
    let id = created["id"].as_i64().expect("generated integer key");
    assert_eq!(created["name"], "alpha");
    assert_eq!(created["qty"], 3);
    assert!(created.get("secret").is_none(), "write-only column is never returned");

    // Read one by record_id as string, as number, and by the key inside data.
    for request in [
        json!({"operation": "read", "entity": "items", "record_id": id.to_string()}),
        json!({"operation": "read", "entity": "items", "record_id": id}),
        json!({"operation": "read", "entity": "items", "data": {"id": id}}),
        json!({"operation": "READ", "schema": "public", "entity": "items", "record_id": id}),
    ] {
        let (data, metadata) = f.ok(request).await;
        assert_eq!(data, created);
        assert_eq!(metadata, json!({"total": 1, "count": 1}));
    }

    let (updated, _) =
        f.ok(json!({"operation": "update", "entity": "items", "record_id": id, "data": {"qty": 4}})).await;
    assert_eq!(updated["qty"], 4);
    assert_eq!(updated["name"], "alpha", "untouched columns keep their values");

    let (deleted, _) = f.ok(json!({"operation": "delete", "entity": "items", "record_id": id.to_string()})).await;
    assert_eq!(deleted, json!({"deleted": true, "id": id}), "delete reply carries the key with its JSON type");
    f.expect_code(json!({"operation": "read", "entity": "items", "record_id": id}), ErrorCode::NotFound).await;
}

pub async fn every_type_round_trips(backend: Backend) {
    let f = Fixture::new(backend).await;
    let record = json!({
        "name": "héllo ✓ \"quoted\" 'single'",
        "qty": -2147483648i64,
        "small": 32767,
        "tiny": 255,
        "price": 12.5,
        "ratio": 0.25,
        "active": false,
        "created_at": "2026-11-25T17:00:00.123456Z",
        "due": "2027-02-28",
        "ext_id": "67e55044-10b1-426f-9247-bb680e5fe0c8",
        "attrs": {"tags": ["a", "b"], "n": 1, "nested": {"ok": true}},
        "note": null,
        "secret": "hunter2",
    });
    let (created, _) = f.ok(json!({"operation": "create", "entity": "items", "data": record})).await;
    let id = created["id"].clone();
    let mut expected = record.clone();
    expected.as_object_mut().unwrap().remove("secret");
    expected["id"] = id.clone();
    assert_eq!(created, expected);
    let (read, _) = f.ok(json!({"operation": "read", "entity": "items", "record_id": id})).await;
    assert_eq!(read, expected);

    // Timestamps with an offset are stored in UTC.
    let other = f.item(json!({"created_at": "2026-11-25T19:00:00+02:00"})).await;
    assert_eq!(other["created_at"], "2026-11-25T17:00:00Z");
    // u8 range is enforced.
    let e = f
        .expect_code(
            json!({"operation": "create", "entity": "items", "data": {"name": "x", "qty": 1, "price": 1, "active": true, "created_at": "2026-01-01T00:00:00Z", "tiny": 256}}),
            ErrorCode::ValidationError,
        )
        .await;
    assert!(e.message().contains("tiny"), "{}", e.message());
}

pub async fn partial_update_and_null(backend: Backend) {
    let f = Fixture::new(backend).await;
    let created = f.item(json!({"name": "a", "note": "keep me", "small": 5})).await;
    let id = created["id"].as_i64().unwrap();
    // Target by the key inside data.
    let (updated, _) =
        f.ok(json!({"operation": "update", "entity": "items", "data": {"id": id, "note": null, "qty": 9}})).await;
    assert_eq!(updated["note"], json!(null));
    assert_eq!(updated["qty"], 9);
    assert_eq!(updated["small"], 5);
    assert_eq!(updated["name"], "a");
    // NULL into a NOT NULL column.
    f.expect_code(
        json!({"operation": "update", "entity": "items", "record_id": id, "data": {"name": null}}),
        ErrorCode::ValidationError,
    )
    .await;
    // record_id and data key disagree.
    f.expect_code(
        json!({"operation": "update", "entity": "items", "record_id": id, "data": {"id": id + 1, "qty": 1}}),
        ErrorCode::ValidationError,
    )
    .await;
    // Unknown column, wrong type, nothing to change.
    for data in [json!({"nope": 1}), json!({"qty": "3"}), json!({})] {
        f.expect_code(
            json!({"operation": "update", "entity": "items", "record_id": id, "data": data}),
            ErrorCode::ValidationError,
        )
        .await;
    }
    // Update of a read-only column by a client.
    let (account, _) =
        f.ok(json!({"operation": "create", "entity": "accounts", "data": {"email": "a@x", "displayName": "A"}})).await;
    assert_eq!(account["loginCount"], 0, "database default read back");
    f.expect_code(
        json!({"operation": "update", "entity": "accounts", "record_id": account["id"], "data": {"loginCount": 5}}),
        ErrorCode::ValidationError,
    )
    .await;
    let (read, _) = f.ok(json!({"operation": "read", "entity": "items", "record_id": id})).await;
    assert_eq!(read, updated, "failed updates changed nothing");
}

pub async fn batch_create_is_atomic(backend: Backend) {
    let f = Fixture::new(backend).await;
    let good = |name: &str| json!({"name": name, "qty": 1, "price": 1.0, "active": true, "created_at": "2026-01-01T00:00:00Z"});
    let (created, _) =
        f.ok(json!({"operation": "create", "entity": "items", "data": [good("a"), good("b"), good("c")]})).await;
    let names: Vec<_> = created.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    let before = f.snapshot().await;

    // A row that fails validation in the middle.
    let mut bad = good("bad");
    bad["qty"] = json!("many");
    let e = f
        .expect_code(
            json!({"operation": "create", "entity": "items", "data": [good("d"), bad, good("e")]}),
            ErrorCode::ValidationError,
        )
        .await;
    assert_eq!(e.details().unwrap()["index"], 1);
    // A row that fails in the database in the middle (unique violation on the second account).
    f.expect_code(
        json!({"operation": "create", "entity": "accounts", "data": [{"email": "x@y"}, {"email": "z@y"}, {"email": "x@y"}]}),
        ErrorCode::Conflict,
    )
    .await;
    assert_eq!(f.snapshot().await, before, "a failed batch leaves nothing behind");
}

pub async fn missing_records_are_not_found(backend: Backend) {
    let f = Fixture::new(backend).await;
    f.item(json!({})).await;
    for request in [
        json!({"operation": "read", "entity": "items", "record_id": 999}),
        json!({"operation": "update", "entity": "items", "record_id": 999, "data": {"qty": 1}}),
        json!({"operation": "delete", "entity": "items", "record_id": "999"}),
        json!({"operation": "delete", "entity": "items", "data": {"id": 999}}),
    ] {
        f.expect_code(request, ErrorCode::NotFound).await;
    }
    f.expect_code(json!({"operation": "read", "entity": "nope"}), ErrorCode::ModelNotFound).await;
    f.expect_code(json!({"operation": "read", "schema": "other", "entity": "items"}), ErrorCode::ModelNotFound).await;
    f.expect_code(json!({"operation": "delete", "entity": "items"}), ErrorCode::ValidationError).await;
    f.expect_code(json!({"operation": "read", "entity": "items", "record_id": "abc"}), ErrorCode::ValidationError)
        .await;
}

pub async fn unique_and_foreign_key_violations_are_conflicts(backend: Backend) {
    let f = Fixture::new(backend).await;
    let (account, _) = f.ok(json!({"operation": "create", "entity": "accounts", "data": {"email": "a@x"}})).await;
    let e = f
        .expect_code(
            json!({"operation": "create", "entity": "accounts", "data": {"email": "a@x"}}),
            ErrorCode::Conflict,
        )
        .await;
    assert!(!e.message().to_lowercase().contains("accounts_email"), "no database text leaks: {}", e.message());
    assert!(std::error::Error::source(&e).is_some(), "the database error is kept as the source");
    // Foreign key: a note for a missing account; schema-qualified entity.
    let key = "6f0e4b56-3c2a-4f0e-9f43-2d4b5b0f6a11";
    f.expect_code(
        json!({"operation": "create", "schema": "app", "entity": "notes", "data": {"key": key, "account_id": 424242, "body": "x"}}),
        ErrorCode::Conflict,
    )
    .await;
    let (note, _) = f
        .ok(json!({"operation": "create", "entity": "notes", "data": {"key": key, "account_id": account["id"], "body": "x"}}))
        .await;
    assert_eq!(note["key"], key);
    // Deleting the referenced account is a conflict too.
    f.expect_code(
        json!({"operation": "delete", "entity": "accounts", "record_id": account["id"]}),
        ErrorCode::Conflict,
    )
    .await;
    let (read, _) = f.ok(json!({"operation": "read", "entity": "notes", "record_id": key})).await;
    assert_eq!(read, note);
}

pub async fn read_only_entity_refuses_writes(backend: Backend) {
    let f = Fixture::new(backend).await;
    f.expect_code(
        json!({"operation": "create", "entity": "audit", "data": {"id": 1, "line": "x"}}),
        ErrorCode::Forbidden,
    )
    .await;
    f.expect_code(json!({"operation": "delete", "entity": "audit", "record_id": 1}), ErrorCode::Forbidden).await;
    let (rows, _) = f.ok(json!({"operation": "read", "entity": "audit"})).await;
    assert_eq!(rows, json!([]));
}

pub async fn create_validation(backend: Backend) {
    let f = Fixture::new(backend).await;
    let base = json!({"name": "x", "qty": 1, "price": 1.0, "active": true, "created_at": "2026-01-01T00:00:00Z"});
    // Wrong JSON type for every column type.
    for (column, bad) in [
        ("name", json!(5)),
        ("qty", json!("5")),
        ("qty", json!(1.5)),
        ("qty", json!(2147483648i64)),
        ("small", json!(40000)),
        ("price", json!("1.0")),
        ("active", json!("true")),
        ("active", json!(1)),
        ("created_at", json!("yesterday")),
        ("created_at", json!(1700000000)),
        ("due", json!("2026-13-01")),
        ("ext_id", json!("not-a-uuid")),
        ("ext_id", json!(12)),
        ("name", json!(null)),
        ("name", json!("a\u{0}b")),
        // The database assigns a generated key; a client cannot choose it.
        ("id", json!(9223372036854775807i64)),
        ("id", json!(1)),
    ] {
        let mut data = base.clone();
        data[column] = bad.clone();
        let e = f
            .expect_code(json!({"operation": "create", "entity": "items", "data": data}), ErrorCode::ValidationError)
            .await;
        assert_eq!(e.details().unwrap()["column"], column, "{column} = {bad}: {}", e.message());
    }
    // `"id": null` lets the database choose, like leaving it out.
    let mut data = base.clone();
    data["id"] = json!(null);
    let (created, _) = f.ok(json!({"operation": "create", "entity": "items", "data": data})).await;
    assert!(created["id"].as_i64().is_some_and(|id| id > 0));
    f.ok(json!({"operation": "delete", "entity": "items", "record_id": created["id"]})).await;
    // Missing required field, unknown field.
    let mut data = base.clone();
    data.as_object_mut().unwrap().remove("qty");
    f.expect_code(json!({"operation": "create", "entity": "items", "data": data}), ErrorCode::ValidationError).await;
    let mut data = base.clone();
    data["bogus"] = json!(1);
    f.expect_code(json!({"operation": "create", "entity": "items", "data": data}), ErrorCode::ValidationError).await;
    // Envelope-level problems.
    f.expect_code(json!({"operation": "create", "entity": "items", "data": 3}), ErrorCode::InvalidMessage).await;
    f.expect_code(json!({"operation": "create", "entity": "items"}), ErrorCode::InvalidMessage).await;
    f.expect_code(json!({"operation": "create", "entity": "items", "data": []}), ErrorCode::ValidationError).await;
    f.expect_code(json!({"operation": "create", "entity": "items", "data": [base, 3]}), ErrorCode::ValidationError)
        .await;
    assert_eq!(f.snapshot().await["items"], json!([]));
}

/// An alias, a newtype and a text enum (`field_type!`) are columns like any other; a value the
/// enum does not parse is refused before anything is written.
pub async fn custom_field_types(backend: Backend) {
    let f = Fixture::new(backend).await;
    let create = |data: serde_json::Value| json!({"operation": "create", "entity": "tickets", "data": data});
    let (a, _) = f.ok(create(json!({"reporter": "a@x", "budget": 1200, "priority": "high"}))).await;
    assert_eq!((&a["reporter"], &a["budget"], &a["priority"]), (&json!("a@x"), &json!(1200), &json!("high")));
    f.ok(create(json!({"reporter": "b@x", "budget": 5, "priority": null}))).await;
    let e = f
        .expect_code(create(json!({"reporter": "c@x", "budget": 1, "priority": "urgent"})), ErrorCode::ValidationError)
        .await;
    assert!(e.message().contains("expected low or high"), "{e:?}");
    let e = f.expect_code(create(json!({"reporter": 7, "budget": 1})), ErrorCode::ValidationError).await;
    assert!(e.message().contains("expected a string"), "{e:?}");
    let (high, _) = f
        .ok(json!({"operation": "read", "entity": "tickets",
            "options": {"filters": [{"column": "priority", "operator": "eq", "value": "high"}]}}))
        .await;
    assert_eq!(high.as_array().map(Vec::len), Some(1), "{high}");
    let (all, metadata) =
        f.ok(json!({"operation": "read", "entity": "tickets", "options": {"sort": [{"column": "budget"}]}})).await;
    assert_eq!(metadata["total"], 2, "nothing of the refused creates was written");
    assert_eq!(all[0]["priority"], json!(null));
}

/// Connections are reused between requests (`db/warm.rs`): a transaction dropped without commit
/// must be rolled back before its connection's next use, and a committed one must stay.
pub async fn a_dropped_transaction_is_rolled_back_before_its_connection_is_reused(backend: Backend) {
    let url = crate::support::fresh_database_url(backend).await;
    // One connection: whatever the dropped transaction left is what the next lease gets.
    let options = mqttspec::DatabaseOptions::default().max_connections(1);
    let db = mqttspec::Database::connect_with(&url, &options).await.unwrap();
    db.acquire().await.unwrap().conn().execute("CREATE TABLE marks (x INTEGER)").await.unwrap();
    let rows = || async {
        // An UPDATE that changes nothing counts the rows.
        db.acquire().await.unwrap().conn().execute_with("UPDATE marks SET x = x", &[]).await.unwrap()
    };

    let mut tx = db.begin().await.unwrap();
    tx.conn().execute("INSERT INTO marks VALUES (1)").await.unwrap();
    drop(tx);
    assert_eq!(rows().await, 0, "the dropped transaction's insert is gone");
    assert_eq!(db.pool_status(), (1, 1), "the one connection is back and idle");

    let mut tx = db.begin().await.expect("a new transaction on the reused connection");
    tx.conn().execute("INSERT INTO marks VALUES (2)").await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(rows().await, 1, "the committed insert stays");

    let mut tx = db.begin().await.unwrap();
    tx.conn().execute("INSERT INTO marks VALUES (3)").await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(rows().await, 1, "the rolled back insert is gone");
    db.close().await;
}
