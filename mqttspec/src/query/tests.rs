//! Unit tests of the query language without a database: filter and options validation, cursor
//! round trips, and the typing of client values.

use serde_json::json;

use super::{Condition, Cursor, Operator, QueryOptions, SortKey, TextMatch};
use crate::entity::{Entity, EntityDef};
use crate::error::ErrorCode;
use crate::value::Value;
use crate::{SpecEntity, field_type};

#[derive(Debug, Clone, Copy)]
struct Small(u8);
field_type!(Small(u8));

#[derive(SpecEntity)]
#[spec(table = "gadgets")]
struct Gadget {
    id: i64,
    name: String,
    price: f64,
    active: bool,
    size: Option<Small>,
    made: chrono::DateTime<chrono::Utc>,
    day: Option<chrono::NaiveDate>,
    serial: Option<uuid::Uuid>,
    attrs: Option<serde_json::Value>,
    #[spec(write_only)]
    secret: Option<String>,
    #[spec(filterable = false)]
    note: Option<String>,
}

fn def() -> EntityDef {
    EntityDef::of::<Gadget>()
}

fn filters(json: serde_json::Value) -> crate::Result<Condition> {
    Condition::parse_filters(&def(), &json)
}

/// The message of a refused filter set.
fn refused(json: serde_json::Value) -> String {
    let error = filters(json).expect_err("refused");
    assert_eq!(error.code(), ErrorCode::ValidationError, "{error}");
    error.message().to_owned()
}

#[test]
fn filters_are_typed_by_their_column() {
    let c = filters(json!([
        {"column": "price", "operator": ">=", "value": 2},
        {"column": "name", "operator": "contains", "value": "a%"},
        {"column": "size", "operator": "in", "value": [1, 2]},
        {"column": "day", "operator": "is_null"},
        {"column": "made", "operator": "between", "value": ["2026-01-01T00:00:00Z", "2026-12-31T00:00:00+01:00"]},
    ]))
    .unwrap();
    let Condition::And(items) = c else { panic!("an AND: {c:?}") };
    assert_eq!(items[0], Condition::Compare { column: 2, op: Operator::Gte, value: Value::Float(2.0) });
    assert_eq!(items[1], Condition::Text { column: 1, kind: TextMatch::Contains, needle: "a%".into() });
    assert_eq!(items[2], Condition::In { column: 4, values: vec![Value::Int(1), Value::Int(2)], negated: false });
    assert_eq!(items[3], Condition::Null { column: 6, negated: false });
    let Condition::Between { high: Value::Timestamp(high), .. } = &items[4] else { panic!("{:?}", items[4]) };
    assert_eq!(high.to_rfc3339(), "2026-12-30T23:00:00+00:00", "normalised to UTC");
}

#[test]
fn bad_filters_name_what_is_wrong() {
    assert!(refused(json!([{"column": "nope", "operator": "eq", "value": 1}])).contains("no such column"));
    assert!(refused(json!([{"column": "secret", "operator": "eq", "value": "x"}])).contains("no such column"));
    assert!(refused(json!([{"column": "note", "operator": "eq", "value": "x"}])).contains("not filterable"));
    assert!(refused(json!([{"column": "name", "operator": "near", "value": "x"}])).contains("unknown operator"));
    assert!(refused(json!([{"column": "active", "operator": "gt", "value": true}])).contains("active"));
    assert!(refused(json!([{"column": "attrs", "operator": "eq", "value": {}}])).contains("attrs"));
    assert!(refused(json!([{"column": "size", "operator": "eq", "value": 256}])).contains("out of range"));
    assert!(refused(json!([{"column": "price", "operator": "eq", "value": "cheap"}])).contains("expected a number"));
    assert!(refused(json!([{"column": "name", "operator": "eq", "value": "a\u{0}b"}])).contains("NUL"));
    assert!(refused(json!([{"column": "name", "operator": "like", "value": "a\\"}])).contains("unescaped"));
    let long = "%".repeat(super::MAX_PATTERN_BYTES + 1);
    for op in ["like", "ilike", "contains", "starts_with", "ends_with"] {
        assert!(refused(json!([{"column": "name", "operator": op, "value": long}])).contains("longer than"), "{op}");
    }
    assert!(refused(json!([{"column": "size", "operator": "in", "value": 3}])).contains("needs an array"));
    assert!(refused(json!({"column": "name"})).contains("must be an array"));
    let too_long: Vec<i64> = (0..=super::MAX_IN_VALUES as i64).collect();
    assert!(!refused(json!([{"column": "size", "operator": "in", "value": too_long}])).is_empty());
    let mut deep = json!([{"column": "name", "operator": "eq", "value": "x"}]);
    for _ in 0..super::MAX_FILTER_DEPTH {
        deep = json!([{"or": deep}]);
    }
    assert!(!refused(deep).is_empty(), "nesting is bounded");
    let many: Vec<_> =
        (0..=super::MAX_CONDITIONS).map(|i| json!({"column": "price", "operator": "eq", "value": i})).collect();
    assert!(!refused(json!(many)).is_empty(), "the number of conditions is bounded");
}

#[test]
fn and_or_flatten_their_own_kind_only() {
    let a = || Condition::Null { column: 1, negated: false };
    let b = || Condition::Null { column: 2, negated: true };
    assert_eq!(a().and(b()).and(a()), Condition::And(vec![a(), b(), a()]));
    assert_eq!(a().or(b()).or(a()), Condition::Or(vec![a(), b(), a()]));
    assert_eq!(a().or(b()).and(a()), Condition::And(vec![Condition::Or(vec![a(), b()]), a()]));
    assert!(Condition::all().is_trivially_true() && !a().is_trivially_true());
}

#[test]
fn options_parse_and_refuse() {
    let o = QueryOptions::parse(
        &def(),
        Some(&json!({"sort": [{"column": "price", "direction": "DESC"}, {"column": "name"}], "limit": 5, "offset": 10,
            "columns": ["name", "price"], "count": "none"})),
    )
    .unwrap();
    assert_eq!(o.sort, vec![SortKey { column: 2, desc: true }, SortKey { column: 1, desc: false }]);
    assert_eq!((o.limit, o.offset), (Some(5), 10));
    assert_eq!(o.projection.as_deref(), Some(&[0, 1, 2][..]), "the key is always returned");
    assert_eq!(o.count, super::CountMode::None);
    assert!(QueryOptions::parse(&def(), None).unwrap().filter.is_trivially_true());
    for bad in [
        json!({"limit": -1}),
        json!({"offset": "x"}),
        json!({"sort": [{"column": "attrs"}]}),
        json!({"sort": [{"column": "name", "direction": "sideways"}]}),
        json!({"columns": ["secret"]}),
        json!({"count": "maybe"}),
        json!({"cursor_after": "x", "cursor_before": "y"}),
        json!({"cursor_after": "not a cursor"}),
        json!({"sort": ["name"]}),
    ] {
        let error = QueryOptions::parse(&def(), Some(&bad)).expect_err(&bad.to_string());
        assert_eq!(error.code(), ErrorCode::ValidationError, "{bad}: {error}");
    }
    let not_an_object = QueryOptions::parse(&def(), Some(&json!("options"))).expect_err("refused");
    assert_eq!(not_an_object.code(), ErrorCode::InvalidMessage);
}

#[test]
fn cursors_round_trip_and_are_bound_to_their_query() {
    let keys = [SortKey { column: 2, desc: true }, SortKey { column: 0, desc: false }];
    let filter = filters(json!([{"column": "active", "operator": "eq", "value": true}])).unwrap();
    let row = vec![
        Value::Int(7),
        Value::Text("g".into()),
        Value::Float(9.5),
        Value::Bool(true),
        Value::Null,
        Value::Null,
        Value::Null,
        Value::Null,
        Value::Null,
        Value::Null,
        Value::Null,
    ];
    assert_eq!(row.len(), Gadget::META.columns.len());
    let text = Cursor::encode(&def(), &keys, &filter, &row);
    let cursor = Cursor::parse(&json!(text), false).unwrap();
    assert_eq!(cursor.values(&def(), &keys, &filter).unwrap(), vec![Value::Float(9.5), Value::Int(7)]);
    let other_filter = Condition::all();
    assert!(cursor.values(&def(), &keys, &other_filter).is_err(), "another filter set");
    assert!(cursor.values(&def(), &keys[..1], &filter).is_err(), "another sort");
    let mut tampered = text.into_bytes();
    tampered[3] ^= 1;
    let tampered = String::from_utf8(tampered).unwrap();
    let refused = Cursor::parse(&json!(tampered), false).and_then(|c| c.values(&def(), &keys, &filter));
    assert!(refused.is_err(), "a tampered cursor is refused");
    assert!(Cursor::parse(&json!(42), true).is_err());
}

#[test]
fn client_values_are_typed_by_their_column() {
    let column = |name: &str| def().column(name).expect("a column").1;
    let ok = |name: &str, json: serde_json::Value| column(name).parse_json(&json).unwrap_or_else(|e| panic!("{e}"));
    let no = |name: &str, json: serde_json::Value| column(name).parse_json(&json).expect_err(&json.to_string());
    assert_eq!(ok("id", json!(9_007_199_254_740_993_i64)), Value::Int(9_007_199_254_740_993));
    assert!(no("id", json!(1.5)).contains("integer"));
    assert!(no("id", json!(u64::MAX)).contains("out of range"));
    assert!(no("size", json!(-1)).contains("out of range (0..=255)"));
    assert_eq!(ok("price", json!(3)), Value::Float(3.0));
    assert_eq!(ok("active", json!(false)), Value::Bool(false));
    assert!(no("active", json!("true")).contains("a boolean"));
    assert_eq!(ok("name", json!(null)), Value::Null, "NULL is the caller's to refuse");
    assert!(no("made", json!("yesterday")).contains("RFC 3339"));
    assert_eq!(ok("day", json!("2026-02-28")), Value::Date(chrono::NaiveDate::from_ymd_opt(2026, 2, 28).unwrap()));
    assert!(no("day", json!("2026-02-30")).contains("not a date"));
    assert!(no("serial", json!("not-a-uuid")).contains("not a UUID"));
    assert_eq!(ok("attrs", json!({"a": [1]})), Value::Json(json!({"a": [1]})));
    assert_eq!(Value::Float(f64::NAN).to_json(), json!(null), "no NaN on the wire");
}
