//! Hostile input: injection attempts in every identifier position, odd values; every one is a
//! `validation_error` and no table changes.

use mqttspec::ErrorCode;
use serde_json::{Value as Json, json};

use crate::fixture::Fixture;
use crate::support::Backend;

pub async fn hostile_identifiers_and_values_leave_tables_unchanged(backend: Backend) {
    let f = Fixture::new(backend).await;
    f.item(json!({"name": "a"})).await;
    f.item(json!({"name": "b"})).await;
    let before = f.snapshot().await;
    let long = "x".repeat(100_000);
    let hostile_names = [
        "name; DROP TABLE items",
        "\"id\" OR 1=1",
        "id\" OR \"1\"=\"1",
        "id) OR (1=1",
        "name--",
        "*",
        "",
        "ÑAME",
        "名前",
        "\u{0}",
        long.as_str(),
    ];
    let in_list: Vec<i64> = (0..1001).collect();
    let mut requests: Vec<Json> = Vec::new();
    for name in hostile_names {
        requests.push(json!({"operation": "read", "entity": "items", "options": {"filters": [{"column": name, "operator": "eq", "value": 1}]}}));
        requests.push(json!({"operation": "read", "entity": "items", "options": {"sort": [{"column": name}]}}));
        requests.push(json!({"operation": "read", "entity": "items", "options": {"columns": [name]}}));
        requests.push(json!({"operation": "read", "entity": "items", "options": {"filters": [{"column": "name", "operator": name, "value": 1}]}}));
        requests.push(json!({"operation": "update", "entity": "items", "record_id": 1, "data": {name: 1}}));
        requests.push(json!({"operation": "create", "entity": "items", "data": {"name": "x", "qty": 1, "price": 1, "active": true, "created_at": "2026-01-01T00:00:00Z", name: 1}}));
        requests.push(json!({"operation": "read", "entity": "items", "options": {"sort": [{"column": "name", "direction": name}]}}));
        requests.push(json!({"operation": "delete", "entity": "items", "record_id": name}));
    }
    requests.extend([
        json!({"operation": "read", "entity": "items", "options": {"filters": [{"column": "id", "operator": "in", "value": in_list}]}}),
        json!({"operation": "read", "entity": "items", "options": {"limit": -1}}),
        json!({"operation": "read", "entity": "items", "options": {"limit": "5"}}),
        json!({"operation": "read", "entity": "items", "options": {"offset": "0; DROP TABLE items"}}),
        json!({"operation": "update", "entity": "items", "record_id": "1 OR 1=1", "data": {"qty": 1}}),
        json!({"operation": "delete", "entity": "items", "record_id": "1; DELETE FROM items"}),
        json!({"operation": "delete", "entity": "items", "record_id": [1, 2]}),
        json!({"operation": "delete", "entity": "items", "record_id": {"id": 1}}),
        json!({"operation": "delete", "entity": "items", "record_id": 1.5}),
        json!({"operation": "update", "entity": "items", "record_id": 1, "data": {"qty": "1; DROP TABLE items"}}),
        json!({"operation": "update", "entity": "items", "record_id": 1, "data": {"id": 2}}),
        json!({"operation": "read", "entity": "items", "options": {"filters": [{"column": "qty", "operator": "eq", "value": "1 OR 1=1"}]}}),
        json!({"operation": "read", "entity": "items", "options": {"filters": [{"column": "qty", "operator": "in", "value": ["1) OR (1=1"]}]}}),
        json!({"operation": "read", "entity": "items", "options": {"filters": [{"column": "created_at", "operator": "gt", "value": "2026' OR '1'='1"}]}}),
    ]);
    // Patterns past SQLite's LIKE limit (50,000 bytes) are refused before they reach it.
    for operator in ["like", "ilike", "contains", "starts_with", "ends_with"] {
        requests.push(json!({"operation": "read", "entity": "items", "options": {"filters": [{"column": "name", "operator": operator, "value": "%".repeat(60_000)}]}}));
    }
    for request in requests {
        let shown: String = request.to_string().chars().take(200).collect();
        let e = f.err(request).await;
        assert_eq!(e.code(), ErrorCode::ValidationError, "{shown}: {e}");
        assert!(e.message().len() < 400, "messages quote client text only briefly");
    }
    // Hostile text as a value is just text: it is stored and matched literally.
    let evil = "'; DROP TABLE items; --\"";
    let created = f.item(json!({"name": evil, "note": long})).await;
    let found = f.item_ids(json!({"filters": [{"column": "name", "operator": "eq", "value": evil}]})).await;
    assert_eq!(found, [created["id"].as_i64().unwrap()]);
    f.ok(json!({"operation": "delete", "entity": "items", "record_id": created["id"]})).await;
    assert_eq!(f.snapshot().await, before, "tables are unchanged");
}
