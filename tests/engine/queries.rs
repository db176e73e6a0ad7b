//! Reads: every operator on every type it supports, groups, sort, paging, projection, count, meta.

use mqttspec::query::Condition;
use mqttspec::{EntityDef, ErrorCode, Value};
use serde_json::{Value as Json, json};

use crate::entities::Item;
use crate::fixture::Fixture;
use crate::support::Backend;

const U1: &str = "11111111-1111-4111-8111-111111111111";
const U2: &str = "22222222-2222-4222-8222-222222222222";

/// Five items covering every type, NULLs included. Ids are 1..=5.
async fn seeded(backend: Backend) -> Fixture {
    let f = Fixture::new(backend).await;
    for row in [
        json!({"name": "Alice", "qty": 10, "small": 1, "price": 1.5, "ratio": 0.5, "active": true,
               "created_at": "2026-01-01T00:00:00Z", "due": "2026-03-01", "ext_id": U1, "note": "50% off_sale"}),
        json!({"name": "bob", "qty": 20, "tiny": 7, "price": 2.5, "active": false,
               "created_at": "2026-02-01T00:00:00Z", "ext_id": U2}),
        json!({"name": "Carol", "qty": 30, "small": 3, "tiny": 8, "price": 3.5, "ratio": 1.5, "active": true,
               "created_at": "2026-03-01T00:00:00Z", "due": "2026-01-15", "note": "plain"}),
        json!({"name": "alice smith", "qty": 40, "small": 4, "tiny": 9, "price": 4.5, "ratio": 2.0, "active": false,
               "created_at": "2026-04-01T12:30:00Z", "due": "2026-05-01", "ext_id": U1, "note": "50 percent"}),
        json!({"name": "Dave_X", "qty": 50, "small": 5, "price": 5.5, "active": true,
               "created_at": "2026-05-01T00:00:00Z", "note": "ÉCOLE"}),
    ] {
        f.item(row).await;
    }
    f
}

/// The typed values of a row as the client saw it (write-only columns are NULL here).
fn row_values(def: &EntityDef, row: &Json) -> Vec<Value> {
    def.meta.columns.iter().map(|c| c.parse_json(row.get(c.name).unwrap_or(&Json::Null)).unwrap()).collect()
}

/// Asserts that the database returns `expected` for these filters, and that the in-memory
/// matcher used for subscriptions agrees with the database on every row.
async fn check(f: &Fixture, filters: Json, expected: &[i64]) {
    let ids = f.item_ids(json!({"filters": filters})).await;
    assert_eq!(ids, expected, "filters {filters}");
    let def = EntityDef::of::<Item>();
    let condition = Condition::parse_filters(&def, &filters).unwrap();
    let (all, _) = f.items(json!({})).await;
    let matched: Vec<i64> = all
        .iter()
        .filter(|row| condition.matches(&row_values(&def, row)))
        .map(|row| row["id"].as_i64().unwrap())
        .collect();
    assert_eq!(matched, expected, "in-memory matcher disagrees for {filters}");
}

fn f1(column: &str, operator: &str, value: Json) -> Json {
    json!([{"column": column, "operator": operator, "value": value}])
}

pub async fn every_operator_on_every_type(backend: Backend) {
    let f = seeded(backend).await;
    let cases: Vec<(Json, Vec<i64>)> = vec![
        // integers
        (f1("qty", "eq", json!(20)), vec![2]),
        (f1("qty", "=", json!(20)), vec![2]),
        (f1("qty", "EQ", json!(20)), vec![2]),
        (f1("qty", "neq", json!(20)), vec![1, 3, 4, 5]),
        (f1("qty", "<>", json!(20)), vec![1, 3, 4, 5]),
        (f1("qty", "!=", json!(20)), vec![1, 3, 4, 5]),
        (f1("qty", "gt", json!(30)), vec![4, 5]),
        (f1("qty", ">", json!(30)), vec![4, 5]),
        (f1("qty", "gte", json!(30)), vec![3, 4, 5]),
        (f1("qty", ">=", json!(30)), vec![3, 4, 5]),
        (f1("qty", "lt", json!(20)), vec![1]),
        (f1("qty", "<", json!(20)), vec![1]),
        (f1("qty", "lte", json!(20)), vec![1, 2]),
        (f1("qty", "<=", json!(20)), vec![1, 2]),
        (f1("qty", "in", json!([10, 50, 999])), vec![1, 5]),
        (f1("qty", "not_in", json!([10, 50])), vec![2, 3, 4]),
        (f1("qty", "in", json!([])), vec![]),
        (f1("qty", "not_in", json!([])), vec![1, 2, 3, 4, 5]),
        (f1("qty", "between", json!([20, 40])), vec![2, 3, 4]),
        (f1("small", "is_null", json!(null)), vec![2]),
        (json!([{"column": "small", "operator": "is_not_null"}]), vec![1, 3, 4, 5]),
        (f1("small", "eq", json!(null)), vec![2]),
        (f1("small", "neq", json!(null)), vec![1, 3, 4, 5]),
        (f1("qty", "is_null", json!(null)), vec![]),
        (f1("tiny", "gt", json!(7)), vec![3, 4]),
        (f1("tiny", "not_in", json!([7])), vec![3, 4]),
        (f1("id", "between", json!([2, 3])), vec![2, 3]),
        // floats
        (f1("price", "gte", json!(3.5)), vec![3, 4, 5]),
        (f1("price", "between", json!([2, 4])), vec![2, 3]),
        (f1("price", "eq", json!(2.5)), vec![2]),
        (f1("ratio", "lt", json!(1)), vec![1]),
        (f1("ratio", "is_null", json!(null)), vec![2, 5]),
        // booleans
        (f1("active", "eq", json!(true)), vec![1, 3, 5]),
        (f1("active", "neq", json!(true)), vec![2, 4]),
        (f1("active", "in", json!([false])), vec![2, 4]),
        // timestamps
        (f1("created_at", "gt", json!("2026-03-01T00:00:00Z")), vec![4, 5]),
        (f1("created_at", "between", json!(["2026-02-01T00:00:00Z", "2026-04-01T12:30:00Z"])), vec![2, 3, 4]),
        (f1("created_at", "eq", json!("2026-04-01T14:30:00+02:00")), vec![4]),
        (f1("created_at", "lte", json!("2026-01-01T00:00:00Z")), vec![1]),
        (f1("created_at", "in", json!(["2026-01-01T00:00:00Z", "2026-05-01T00:00:00Z"])), vec![1, 5]),
        // dates
        (f1("due", "lt", json!("2026-03-01")), vec![3]),
        (f1("due", "gte", json!("2026-03-01")), vec![1, 4]),
        (f1("due", "is_null", json!(null)), vec![2, 5]),
        (f1("due", "between", json!(["2026-01-01", "2026-03-01"])), vec![1, 3]),
        // uuids
        (f1("ext_id", "eq", json!(U1)), vec![1, 4]),
        (f1("ext_id", "eq", json!(U1.to_uppercase())), vec![1, 4]),
        (f1("ext_id", "in", json!([U2])), vec![2]),
        (f1("ext_id", "neq", json!(U1)), vec![2]),
        (f1("ext_id", "is_not_null", json!(null)), vec![1, 2, 4]),
        // text
        (f1("name", "eq", json!("bob")), vec![2]),
        (f1("name", "eq", json!("BOB")), vec![]),
        (f1("name", "like", json!("A%")), vec![1]),
        (f1("name", "like", json!("%ice%")), vec![1, 4]),
        (f1("name", "like", json!("_ob")), vec![2]),
        (f1("name", "like", json!("Dave\\_X")), vec![5]),
        (f1("name", "ilike", json!("a%")), vec![1, 4]),
        (f1("name", "ilike", json!("%CAROL")), vec![3]),
        (f1("name", "contains", json!("ICE")), vec![1, 4]),
        (f1("name", "starts_with", json!("alice")), vec![1, 4]),
        (f1("name", "ends_with", json!("_x")), vec![5]),
        (f1("name", "contains", json!("_")), vec![5]),
        (f1("name", "between", json!(["C", "D"])), vec![3]),
        (f1("name", "in", json!(["bob", "Carol"])), vec![2, 3]),
        (f1("note", "contains", json!("%")), vec![1]),
        (f1("note", "contains", json!("50%")), vec![1]),
        (f1("note", "like", json!("50%")), vec![1, 4]),
        (f1("note", "starts_with", json!("50 ")), vec![4]),
        (f1("note", "neq", json!("plain")), vec![1, 4, 5]),
        // case folding beyond ASCII, the same on every backend and in the matcher
        (f1("note", "contains", json!("éco")), vec![5]),
        (f1("note", "ilike", json!("%école")), vec![5]),
        (f1("note", "starts_with", json!("É")), vec![5]),
        (f1("note", "like", json!("é%")), vec![]),
        (f1("name", "contains", json!("İ")), vec![1, 4]),
    ];
    for (filters, expected) in cases {
        check(&f, filters.clone(), &expected).await;
        // Long lists take another path on SQLite (one JSON parameter): repeat the values.
        let list = &filters[0]["value"];
        if filters[0]["operator"].as_str().is_some_and(|o| o.ends_with("in"))
            && list.as_array().is_some_and(|l| !l.is_empty())
        {
            let long: Vec<Json> = list.as_array().unwrap().iter().cycle().take(100).cloned().collect();
            let mut padded = filters.clone();
            padded[0]["value"] = json!(long);
            check(&f, padded, &expected).await;
        }
    }
    // Case folding is per character (no final-sigma context, İ → i): the database and the
    // matcher agree on both backends.
    for name in ["ΣΑΣ", "σας", "İstanbul"] {
        f.item(json!({"name": name})).await;
    }
    for (filters, expected) in [
        (f1("name", "ends_with", json!("ς")), vec![7]),
        (f1("name", "contains", json!("ΑΣ")), vec![6]),
        (f1("name", "ilike", json!("σ%")), vec![6, 7]),
        (f1("name", "ilike", json!("istanbul")), vec![8]),
    ] {
        check(&f, filters, &expected).await;
    }
    // The largest request the limits allow: 64 lists of 1,000 values.
    let lists: Vec<Json> = (0..64)
        .map(|i| json!({"column": "id", "operator": "in", "value": (i..i + 1000).collect::<Vec<i64>>()}))
        .collect();
    assert_eq!(
        f.item_ids(json!({"filters": lists})).await,
        Vec::<i64>::new(),
        "only ids 63..=999 are in every list: none exist"
    );
    let lists: Vec<Json> = (0..64)
        .map(|_| json!({"column": "id", "operator": "not_in", "value": (6..1006).collect::<Vec<i64>>()}))
        .collect();
    assert_eq!(f.item_ids(json!({"filters": lists})).await, vec![1, 2, 3, 4, 5]);

    // Operators that do not suit the column's type, and values that do not convert.
    for (filters, column) in [
        (f1("qty", "like", json!("1%")), "qty"),
        (f1("name", "contains", json!("\u{0}")), "name"),
        (f1("name", "like", json!("a\u{0}%")), "name"),
        (f1("name", "eq", json!("a\u{0}")), "name"),
        (f1("active", "gt", json!(true)), "active"),
        (f1("ext_id", "contains", json!("1")), "ext_id"),
        (f1("created_at", "starts_with", json!("2026")), "created_at"),
        (f1("qty", "eq", json!("20")), "qty"),
        (f1("qty", "eq", json!(2.5)), "qty"),
        (f1("qty", "in", json!(5)), "qty"),
        (f1("qty", "in", json!([1, null])), "qty"),
        (f1("qty", "between", json!([1])), "qty"),
        (f1("qty", "between", json!({"low": 1})), "qty"),
        (f1("qty", "gt", json!(null)), "qty"),
        (f1("price", "eq", json!("1.5")), "price"),
        (f1("active", "eq", json!("true")), "active"),
        (f1("created_at", "gt", json!("2026-01-01")), "created_at"),
        (f1("due", "eq", json!("01/02/2026")), "due"),
        (f1("ext_id", "eq", json!("zzz")), "ext_id"),
        (f1("name", "like", json!(5)), "name"),
        (f1("name", "like", json!("abc\\")), "name"),
        (f1("name", "regex", json!(".*")), "name"),
        (f1("attrs", "eq", json!({})), "attrs"),
        (f1("secret", "eq", json!("x")), "secret"),
    ] {
        let e = f
            .expect_code(
                json!({"operation": "read", "entity": "items", "options": {"filters": filters}}),
                ErrorCode::ValidationError,
            )
            .await;
        assert_eq!(e.details().unwrap()["column"], column, "{filters}: {}", e.message());
    }
}

pub async fn or_groups_and_nesting(backend: Backend) {
    let f = seeded(backend).await;
    let eq = |c: &str, v: Json| json!({"column": c, "operator": "eq", "value": v});
    let or = |mut filter: Json| {
        filter["logic_operator"] = json!("OR");
        filter
    };
    check(&f, json!([eq("qty", json!(10)), or(eq("qty", json!(20)))]), &[1, 2]).await;
    check(&f, json!([eq("qty", json!(10)), or(eq("qty", json!(20))), eq("active", json!(false))]), &[2]).await;
    // Consecutive ORs form one group; a lower-case "or" and an explicit AND work too.
    check(
        &f,
        json!([eq("qty", json!(10)), or(eq("qty", json!(20))), or(eq("qty", json!(30))), {"column": "active", "operator": "eq", "value": true, "logic_operator": "and"}]),
        &[1, 3],
    )
    .await;
    check(
        &f,
        json!([eq("active", json!(true)), {"column": "qty", "operator": "gt", "value": 40, "logic_operator": "or"}]),
        &[1, 3, 5],
    )
    .await;
    check(&f, json!([{"or": [eq("qty", json!(10)), eq("qty", json!(50))]}, eq("active", json!(true))]), &[1, 5]).await;
    // Nested: (name ilike a% OR name ilike c%) AND (qty > 10 OR ratio is null)
    check(
        &f,
        json!([{"and": [
            {"or": [{"column": "name", "operator": "ilike", "value": "a%"}, {"column": "name", "operator": "ilike", "value": "c%"}]},
            {"or": [{"column": "qty", "operator": "gt", "value": 10}, {"column": "ratio", "operator": "is_null"}]}
        ]}]),
        &[3, 4],
    )
    .await;
    // A group carrying logic_operator OR-ed with the filter before it.
    check(
        &f,
        json!([eq("qty", json!(50)), {"or": [eq("qty", json!(10)), eq("qty", json!(20))], "logic_operator": "OR"}]),
        &[1, 2, 5],
    )
    .await;
    check(&f, json!([{"or": []}]), &[]).await;
    check(&f, json!([{"and": []}]), &[1, 2, 3, 4, 5]).await;

    // Invalid structures.
    let mut deep = eq("qty", json!(1));
    for _ in 0..9 {
        deep = json!({"and": [deep]});
    }
    let many: Vec<Json> = (0..65).map(|i| eq("qty", json!(i))).collect();
    for filters in [
        json!([{"or": [or(eq("qty", json!(1))), eq("qty", json!(2))]}]),
        json!([{"column": "qty", "operator": "eq", "value": 1, "logic_operator": "XOR"}]),
        json!([{"column": "qty", "operator": "eq", "value": 1, "logic_operator": 1}]),
        json!([deep]),
        Json::Array(many),
        json!({"column": "qty"}),
        json!(["qty"]),
        json!([{"or": {"column": "qty"}}]),
        json!([{"operator": "eq", "value": 1}]),
        json!([{"column": "qty", "value": 1}]),
        json!([{"or": [eq("qty", json!(1))], "and": [eq("qty", json!(2))]}]),
        json!([{"or": [eq("qty", json!(1))], "column": "qty", "operator": "eq", "value": 2}]),
        json!([{"or": [eq("qty", json!(1))], "value": 2}]),
        json!([{"OR": [eq("qty", json!(1))]}]),
    ] {
        f.expect_code(
            json!({"operation": "read", "entity": "items", "options": {"filters": filters}}),
            ErrorCode::ValidationError,
        )
        .await;
    }
}

pub async fn sort_on_several_columns(backend: Backend) {
    let f = seeded(backend).await;
    let sort = |keys: Json| json!({"sort": keys});
    assert_eq!(f.item_ids(json!({})).await, [1, 2, 3, 4, 5], "primary-key order by default");
    assert_eq!(f.item_ids(sort(json!([{"column": "qty", "direction": "desc"}]))).await, [5, 4, 3, 2, 1]);
    assert_eq!(
        f.item_ids(sort(json!([{"column": "active", "direction": "DESC"}, {"column": "qty", "direction": "desc"}])))
            .await,
        [5, 3, 1, 4, 2]
    );
    assert_eq!(
        f.item_ids(sort(json!([{"column": "active"}, {"column": "price", "direction": "asc"}]))).await,
        [2, 4, 1, 3, 5]
    );
    // NULL sorts as the smallest value on both backends.
    assert_eq!(f.item_ids(sort(json!([{"column": "small"}]))).await, [2, 1, 3, 4, 5]);
    assert_eq!(f.item_ids(sort(json!([{"column": "small", "direction": "desc"}]))).await, [5, 4, 3, 1, 2]);
    assert_eq!(
        f.item_ids(sort(json!([{"column": "due"}, {"column": "id", "direction": "desc"}]))).await,
        [5, 2, 3, 1, 4]
    );
    for bad in [
        json!({}),
        json!("qty"),
        json!([{"column": "nope"}]),
        json!([{"column": "qty", "direction": "up"}]),
        json!([{"column": "attrs"}]),
        json!([{"column": "secret"}]),
        json!([{"column": "qty"}, {"column": "qty"}]),
        json!([{"direction": "asc"}]),
    ] {
        f.expect_code(
            json!({"operation": "read", "entity": "items", "options": {"sort": bad}}),
            ErrorCode::ValidationError,
        )
        .await;
    }
}

pub async fn limit_offset_and_max_limit(backend: Backend) {
    let f = Fixture::with_max_limit(backend, 3).await;
    for i in 0..5 {
        f.item(json!({"qty": i})).await;
    }
    let (rows, metadata) = f.items(json!({})).await;
    assert_eq!(rows.len(), 3);
    assert_eq!(metadata["limit"], 3, "without limit, max_limit applies");
    assert_eq!(metadata["offset"], 0);
    assert_eq!(metadata["total"], 5);
    assert_eq!(metadata["count"], 3);
    let (rows, metadata) = f.items(json!({"limit": 1_000_000_000_000u64})).await;
    assert_eq!((rows.len(), metadata["limit"].clone()), (3, json!(3)), "a huge limit is capped");
    assert_eq!(f.item_ids(json!({"limit": 2, "offset": 1})).await, [2, 3]);
    assert_eq!(f.item_ids(json!({"limit": 2, "offset": 4})).await, [5]);
    assert_eq!(f.item_ids(json!({"offset": 10})).await, Vec::<i64>::new());
    let (rows, metadata) = f.items(json!({"limit": 0})).await;
    assert_eq!((rows.len(), metadata["total"].clone()), (0, json!(5)));
    let (_, metadata) = f.items(json!({"limit": null, "offset": null})).await;
    assert_eq!(metadata["limit"], 3);
    for options in [
        json!({"limit": -1}),
        json!({"limit": "5"}),
        json!({"limit": 2.5}),
        json!({"offset": -3}),
        json!({"offset": "1"}),
        json!({"limit": true}),
    ] {
        f.expect_code(json!({"operation": "read", "entity": "items", "options": options}), ErrorCode::ValidationError)
            .await;
    }
    f.expect_code(json!({"operation": "read", "entity": "items", "options": "x"}), ErrorCode::InvalidMessage).await;
}

pub async fn projection(backend: Backend) {
    let f = seeded(backend).await;
    let (rows, _) = f.items(json!({"columns": ["name"], "limit": 1})).await;
    assert_eq!(rows[0], json!({"id": 1, "name": "Alice"}), "the primary key is always included");
    let (rows, _) = f.items(json!({"omit_columns": ["attrs", "note", "ext_id", "due", "created_at", "ratio", "price", "tiny", "small", "active"], "limit": 1})).await;
    assert_eq!(rows[0], json!({"id": 1, "name": "Alice", "qty": 10}));
    let (row, _) = f
        .ok(json!({"operation": "read", "entity": "items", "record_id": 2, "options": {"columns": ["qty", "id"]}}))
        .await;
    assert_eq!(row, json!({"id": 2, "qty": 20}));
    for options in [
        json!({"columns": ["secret"]}),
        json!({"columns": ["nope"]}),
        json!({"columns": "name"}),
        json!({"omit_columns": [1]}),
    ] {
        f.expect_code(json!({"operation": "read", "entity": "items", "options": options}), ErrorCode::ValidationError)
            .await;
    }
}

pub async fn count_modes(backend: Backend) {
    let f = seeded(backend).await;
    let (_, metadata) = f.items(json!({"count": "none", "limit": 2})).await;
    assert!(metadata.get("total").is_none(), "count none omits total: {metadata}");
    assert_eq!(metadata["count"], 2);
    let (_, metadata) =
        f.items(json!({"count": "EXACT", "limit": 2, "filters": f1("active", "eq", json!(true))})).await;
    assert_eq!(metadata["total"], 3);
    f.expect_code(
        json!({"operation": "read", "entity": "items", "options": {"count": "estimate"}}),
        ErrorCode::ValidationError,
    )
    .await;
}

pub async fn meta(backend: Backend) {
    let f = Fixture::new(backend).await;
    let (data, _) = f.ok(json!({"operation": "meta", "entity": "items"})).await;
    assert_eq!(data["schema"], "public");
    assert_eq!(data["entity"], "items");
    assert_eq!(data["table_name"], "items");
    assert_eq!(data["primary_key"], "id");
    let columns = data["columns"].as_array().unwrap();
    let names: Vec<_> = columns.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "id",
            "name",
            "qty",
            "small",
            "tiny",
            "price",
            "ratio",
            "active",
            "created_at",
            "due",
            "ext_id",
            "attrs",
            "note"
        ]
    );
    let column = |name: &str| columns.iter().find(|c| c["name"] == name).unwrap().clone();
    assert_eq!(column("qty")["type"], "integer");
    assert_eq!(column("qty")["nullable"], false);
    assert_eq!(column("small")["nullable"], true);
    assert_eq!(column("id")["primary_key"], true);
    assert_eq!(column("price")["type"], "float");
    assert_eq!(column("active")["type"], "boolean");
    assert_eq!(column("created_at")["type"], "timestamp");
    assert_eq!(column("due")["type"], "date");
    assert_eq!(column("ext_id")["type"], "uuid");
    assert_eq!(column("attrs")["type"], "json");
    assert_eq!(column("attrs")["filterable"], false);
    assert_eq!(column("name")["type"], "text");
    let ops = |name: &str| {
        column(name)["operators"].as_array().unwrap().iter().map(|o| o.as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert!(ops("name").contains(&"ilike".to_owned()));
    assert!(ops("qty").contains(&"between".to_owned()));
    assert!(!ops("qty").contains(&"like".to_owned()));
    assert!(!ops("active").contains(&"gt".to_owned()));
    let (all, _) = f.ok(json!({"operation": "meta"})).await;
    let entities: Vec<_> = all["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| format!("{}.{}", e["schema"].as_str().unwrap(), e["entity"].as_str().unwrap()))
        .collect();
    assert_eq!(entities, ["app.notes", "public.accounts", "public.audit", "public.items", "public.tickets"]);
    let (accounts, _) = f.ok(json!({"operation": "meta", "entity": "accounts"})).await;
    assert_eq!(accounts["columns"][2]["name"], "displayName", "rename_all applies");
    f.expect_code(json!({"operation": "meta", "entity": "nope"}), ErrorCode::ModelNotFound).await;
    let (app, _) = f.ok(json!({"operation": "meta", "schema": "app"})).await;
    assert_eq!(app["entities"].as_array().unwrap().len(), 1, "the entities of one schema");
    assert_eq!(app["entities"][0]["entity"], "notes");
    f.expect_code(json!({"operation": "meta", "schema": "nope"}), ErrorCode::ModelNotFound).await;
}

/// Typed conditions (`Item::QTY.between(..)`, through `Engine::find`) select the same rows as
/// their JSON twins in `options.filters`; what the types let through but SQL would refuse is a
/// `validation_error`.
pub async fn typed_filters_match_their_json_twins(backend: Backend) {
    let f = Fixture::new(backend).await;
    for (name, qty, active, note) in [
        ("apple", 1, true, None),
        ("avocado", 3, false, Some("ripe")),
        ("banana", 4, true, Some("Ripe")),
        ("cherry", 5, false, None),
        ("apricot", 7, true, None),
    ] {
        f.item(json!({"name": name, "qty": qty, "active": active, "note": note})).await;
    }
    let typed = f
        .engine
        .find(
            Item::QTY
                .between(2, 7)
                .and(Item::NAME.starts_with("A").or(Item::ACTIVE.eq(false)).or(Item::NOTE.ilike("rip%")))
                .and(Item::NAME.not_in(["apricot"])),
        )
        .await
        .unwrap();
    let typed: Vec<i64> = typed.iter().map(|item| item.id).collect();
    let twins = f
        .item_ids(json!({"filters": [
            {"column": "qty", "operator": "between", "value": [2, 7]},
            {"or": [
                {"column": "name", "operator": "starts_with", "value": "A"},
                {"column": "active", "operator": "eq", "value": false},
                {"column": "note", "operator": "ilike", "value": "rip%"},
            ]},
            {"column": "name", "operator": "not_in", "value": ["apricot"]},
        ]}))
        .await;
    assert_eq!(typed, twins);
    assert_eq!(typed.len(), 3, "avocado, banana, cherry");
    let nothing = f.engine.find(Item::NOTE.is_null().and(Item::QTY.gt(100))).await.unwrap();
    assert!(nothing.is_empty());
    let refused = f.engine.find(Item::NAME.like("50\\")).await.unwrap_err();
    assert_eq!(refused.code(), ErrorCode::ValidationError, "{refused:?}");
}
