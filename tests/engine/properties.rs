//! Properties over random rows and random filters, on the real databases: every filter the
//! validator accepts runs (the SQL parses, placeholders and parameters agree), and the rows the
//! SQL `WHERE` selects are exactly those the in-memory subscription matcher selects — NULLs,
//! case folding, `in` lists and nested groups included.
//!
//! 512 cases per backend in the suite; more with `MQTTSPEC_PROPTEST_CASES=20000 cargo nextest run
//! --test engine sql_and_matcher` (a broken case fold in the matcher was caught within 2,000).

use mqttspec::query::Condition;
use mqttspec::{EntityDef, Value};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value as Json, json};

use crate::entities::Item;
use crate::fixture::Fixture;
use crate::support::Backend;

/// Texts chosen to meet case folding (ASCII and beyond), LIKE's wildcards and order.
const TEXTS: &[&str] = &["a", "A", "ab", "aB", "b", "ä", "Ä", "straße", "STRASSE", "a%b", "a_b", "x\\y", "", "Ωmega"];
const PRICES: &[f64] = &[-1.5, 0.0, 2.25, 7.0];

fn text() -> impl Strategy<Value = String> {
    proptest::sample::select(TEXTS).prop_map(str::to_owned)
}

fn row() -> impl Strategy<Value = Json> {
    (
        text(),
        -3i32..4,
        proptest::option::of(-2i16..3),
        proptest::sample::select(PRICES),
        any::<bool>(),
        proptest::option::of(text()),
    )
        .prop_map(|(name, qty, small, price, active, note)| {
            json!({"name": name, "qty": qty, "small": small, "price": price, "active": active, "note": note,
                "created_at": "2026-01-01T00:00:00Z"})
        })
}

/// One condition on one column, with an operator that column accepts and a value of its type.
fn leaf() -> impl Strategy<Value = Json> {
    let compare = proptest::sample::select(&["eq", "neq", "gt", "gte", "lt", "lte"][..]);
    let pattern = proptest::sample::select(&["like", "ilike", "contains", "starts_with", "ends_with"][..]);
    let null = proptest::sample::select(&["is_null", "is_not_null"][..]);
    let text_column = proptest::sample::select(&["name", "note"][..]);
    let int_column = proptest::sample::select(&["qty", "small"][..]);
    let patterns = proptest::sample::select(&["a%", "%b", "_", "%ß%", "A_", "a\\%b", "%", "ä%", "x\\\\y"][..]);
    prop_oneof![
        (text_column.clone(), compare.clone(), text())
            .prop_map(|(c, o, v)| json!({"column": c, "operator": o, "value": v})),
        (int_column.clone(), compare.clone(), -3i32..4)
            .prop_map(|(c, o, v)| json!({"column": c, "operator": o, "value": v})),
        (compare, proptest::sample::select(PRICES))
            .prop_map(|(o, v)| json!({"column": "price", "operator": o, "value": v})),
        (proptest::sample::select(&["eq", "neq"][..]), any::<bool>())
            .prop_map(|(o, v)| json!({"column": "active", "operator": o, "value": v})),
        (text_column.clone(), pattern, patterns).prop_map(|(c, o, v)| json!({"column": c, "operator": o, "value": v})),
        (text_column.clone(), proptest::sample::select(&["contains", "starts_with", "ends_with"][..]), text())
            .prop_map(|(c, o, v)| json!({"column": c, "operator": o, "value": v})),
        (
            int_column.clone(),
            proptest::sample::select(&["in", "not_in"][..]),
            proptest::collection::vec(-3i32..4, 0..4)
        )
            .prop_map(|(c, o, v)| json!({"column": c, "operator": o, "value": v})),
        (text_column.clone(), proptest::sample::select(&["in", "not_in"][..]), proptest::collection::vec(text(), 1..4))
            .prop_map(|(c, o, v)| json!({"column": c, "operator": o, "value": v})),
        (int_column.clone(), -3i32..4, -3i32..4)
            .prop_map(|(c, a, b)| json!({"column": c, "operator": "between", "value": [a, b]})),
        (text_column, null.clone()).prop_map(|(c, o)| json!({"column": c, "operator": o})),
        (int_column, null).prop_map(|(c, o)| json!({"column": c, "operator": o})),
    ]
}

/// A filter set: conditions and nested `or` / `and` groups, at most three deep.
fn filters() -> impl Strategy<Value = Json> {
    let node = leaf().prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 1..4).prop_map(|items| json!({"or": items})),
            proptest::collection::vec(inner, 1..4).prop_map(|items| json!({"and": items})),
        ]
    });
    proptest::collection::vec(node, 0..4).prop_map(Json::Array)
}

fn ids(rows: &Json) -> Vec<i64> {
    let mut ids: Vec<i64> = rows.as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect();
    ids.sort_unstable();
    ids
}

pub async fn sql_and_matcher_select_the_same_rows(backend: Backend) {
    let f = Fixture::new(backend).await;
    let def = EntityDef::of::<Item>();
    let cases = std::env::var("MQTTSPEC_PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(512);
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let strategy = (proptest::collection::vec(row(), 1..12), filters());
    let handle = tokio::runtime::Handle::current();
    let outcome = tokio::task::block_in_place(|| {
        runner.run(&strategy, |(rows, filters)| {
            handle.block_on(async {
                let mut conn = f.engine.db().acquire().await.unwrap();
                conn.conn().execute("DELETE FROM items").await.unwrap();
                drop(conn);
                f.ok(json!({"operation": "create", "entity": "items", "data": rows})).await;
                let all = f.ok(json!({"operation": "read", "entity": "items", "options": {"limit": 1000}})).await.0;
                let condition = Condition::parse_filters(&def, &filters).expect("generated filters are valid");
                let expected: Vec<i64> = {
                    let mut ids: Vec<i64> = all
                        .as_array()
                        .unwrap()
                        .iter()
                        .filter(|row| {
                            let values: Vec<Value> = def
                                .meta
                                .columns
                                .iter()
                                .map(|c| c.parse_json(row.get(c.name).unwrap_or(&Json::Null)).unwrap())
                                .collect();
                            condition.matches(&values)
                        })
                        .map(|r| r["id"].as_i64().unwrap())
                        .collect();
                    ids.sort_unstable();
                    ids
                };
                let selected = f
                    .run(
                        json!({"operation": "read", "entity": "items", "options": {"filters": filters, "limit": 1000}}),
                    )
                    .await
                    .map_err(|e| TestCaseError::fail(format!("the SQL of {filters} failed: {e:?}")))?;
                prop_assert_eq!(ids(&selected.data), expected, "filters {}", filters);
                Ok(())
            })
        })
    });
    if let Err(e) = outcome {
        panic!("{backend:?}: {e}");
    }
    eprintln!("{backend:?}: {cases} random row sets × filter sets agreed");
}

fn sort() -> impl Strategy<Value = Json> {
    let columns = vec!["name", "qty", "small", "price", "note", "active"];
    (proptest::sample::subsequence(columns, 0..3).prop_shuffle(), proptest::collection::vec(any::<bool>(), 3)).prop_map(
        |(columns, desc)| {
            let keys = columns
                .iter()
                .zip(desc)
                .map(|(column, desc)| json!({"column": column, "direction": if desc { "desc" } else { "asc" }}));
            Json::Array(keys.collect())
        },
    )
}

/// Pages walked with `cursor_after` (keyset predicates over NULLs, ties and mixed directions)
/// give exactly the rows of one sorted read, in its order; filters apply to every page.
pub async fn cursor_pages_equal_one_sorted_read(backend: Backend) {
    let f = Fixture::new(backend).await;
    let cases = std::env::var("MQTTSPEC_PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256);
    let mut runner = TestRunner::new(Config { cases, failure_persistence: None, ..Config::default() });
    let strategy = (proptest::collection::vec(row(), 1..14), filters(), sort(), 1u64..5);
    let handle = tokio::runtime::Handle::current();
    let outcome = tokio::task::block_in_place(|| {
        runner.run(&strategy, |(rows, filters, sort, limit)| {
            handle.block_on(async {
                let mut conn = f.engine.db().acquire().await.unwrap();
                conn.conn().execute("DELETE FROM items").await.unwrap();
                drop(conn);
                f.ok(json!({"operation": "create", "entity": "items", "data": rows})).await;
                let read = |options: Json| f.run(json!({"operation": "read", "entity": "items", "options": options}));
                let whole = read(json!({"filters": filters, "sort": sort, "limit": 1000}))
                    .await
                    .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
                let order = |data: &Json| -> Vec<i64> {
                    data.as_array().unwrap().iter().map(|r| r["id"].as_i64().unwrap()).collect()
                };
                let expected = order(&whole.data);
                let mut walked = Vec::new();
                let mut options = json!({"filters": filters, "sort": sort, "limit": limit});
                for _ in 0..=expected.len() {
                    let page = read(options.clone()).await.map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
                    walked.extend(order(&page.data));
                    match page.metadata.as_ref().and_then(|m| m["next_cursor"].as_str()) {
                        Some(cursor) => options["cursor_after"] = json!(cursor),
                        None => break,
                    }
                }
                prop_assert_eq!(walked, expected, "sort {} filters {} limit {}", sort, filters, limit);
                Ok(())
            })
        })
    });
    if let Err(e) = outcome {
        panic!("{backend:?}: {e}");
    }
    eprintln!("{backend:?}: {cases} random sorts and page sizes walked like one read");
}
