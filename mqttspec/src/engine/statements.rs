//! The statements of each operation, per dialect: the fixed parts come from the entity's
//! generated metadata, the dynamic parts (conditions, order, paging, written columns) are
//! rendered here with every value as a bound parameter.

use super::WriteData;
use crate::entity::{EntityDef, Statements};
use crate::query::{Condition, SortKey, SqlBuilder};
use crate::sql::Dialect;
use crate::value::Value;

/// The fixed statements of the dialect.
pub(super) fn fixed(def: &EntityDef, dialect: Dialect) -> &'static Statements {
    def.statements(dialect)
}

/// One page: `SELECT … WHERE <filter> [AND <after cursor>] ORDER BY … LIMIT … OFFSET …`.
pub(crate) fn select_page(
    def: &EntityDef,
    dialect: Dialect,
    filter: &Condition,
    order: &[SortKey],
    after: Option<&[Value]>,
    limit: u64,
    offset: u64,
) -> SqlBuilder {
    let mut b = SqlBuilder::new(dialect, &fixed(def, dialect).select);
    let filtered = !filter.is_trivially_true();
    if filtered || after.is_some() {
        b.push(" WHERE ");
        if filtered {
            b.push_condition(def.meta, filter);
        }
        if let Some(values) = after {
            if filtered {
                b.push(" AND ");
            }
            b.push_after(def.meta, order, values);
        }
    }
    b.push_order_by(def.meta, order);
    b.push_limit_offset(limit, offset);
    b
}

/// `SELECT COUNT(*) … WHERE <filter>`.
pub(crate) fn count(def: &EntityDef, dialect: Dialect, filter: &Condition) -> SqlBuilder {
    let mut b = SqlBuilder::new(dialect, &fixed(def, dialect).count);
    b.push_where(def.meta, filter);
    b
}

/// A fixed `… WHERE pk = p1` statement, with ` AND <guard>` when there is one.
fn by_key(def: &EntityDef, dialect: Dialect, fixed: &str, pk: &Value, guard: &Condition) -> SqlBuilder {
    let mut b = SqlBuilder::new(dialect, fixed);
    b.params.push((pk.clone(), def.meta.pk().ty));
    if !guard.is_trivially_true() {
        b.push(" AND ");
        b.push_condition(def.meta, guard);
    }
    b
}

/// The row with this key that also satisfies `guard` (locked for update on PostgreSQL when asked).
pub(crate) fn select_by_key(
    def: &EntityDef,
    dialect: Dialect,
    pk: &Value,
    guard: &Condition,
    lock: bool,
) -> SqlBuilder {
    let mut b = by_key(def, dialect, &fixed(def, dialect).select_by_pk, pk, guard);
    if lock && dialect == Dialect::Postgres {
        b.push(" FOR UPDATE");
    }
    b
}

/// `DELETE … WHERE pk = p1 [AND <guard>] RETURNING …`.
pub(crate) fn delete_by_key(def: &EntityDef, dialect: Dialect, pk: &Value, guard: &Condition) -> SqlBuilder {
    let s = fixed(def, dialect);
    let mut b = by_key(def, dialect, &s.delete_by_pk, pk, guard);
    b.push(&s.returning);
    b
}

/// `INSERT INTO … (<given columns>) VALUES (…) RETURNING …`.
pub(crate) fn insert(def: &EntityDef, dialect: Dialect, data: &WriteData) -> SqlBuilder {
    let s = fixed(def, dialect);
    let mut b = SqlBuilder::new(dialect, &s.insert_into);
    if data.values.is_empty() {
        b.push(" DEFAULT VALUES");
    } else {
        b.push(" (");
        for (i, (column, _)) in data.values.iter().enumerate() {
            b.push(if i == 0 { "" } else { ", " }).push_ident(def.meta.columns[*column].name);
        }
        b.push(") VALUES (");
        for (i, (column, value)) in data.values.iter().enumerate() {
            b.push(if i == 0 { "" } else { ", " }).push_param(value.clone(), def.meta.columns[*column].ty);
        }
        b.push(")");
    }
    b.push(&s.returning);
    b
}

/// `UPDATE … SET <given columns> WHERE pk = pN RETURNING …`.
pub(crate) fn update(def: &EntityDef, dialect: Dialect, pk: &Value, data: &WriteData) -> SqlBuilder {
    let s = fixed(def, dialect);
    let mut b = SqlBuilder::new(dialect, &s.update);
    for (i, (column, value)) in data.values.iter().enumerate() {
        let c = &def.meta.columns[*column];
        b.push(if i == 0 { "" } else { ", " }).push_ident(c.name).push(" = ").push_param(value.clone(), c.ty);
    }
    let pk_column = def.meta.pk();
    b.push(" WHERE ").push_ident(pk_column.name).push(" = ").push_param(pk.clone(), pk_column.ty);
    b.push(&s.returning);
    b
}

#[cfg(test)]
mod tests {
    //! Snapshots of the exact SQL per dialect for representative requests.

    use serde_json::json;

    use super::*;
    use crate::engine::Origin;
    use crate::query::QueryOptions;
    use crate::{ColumnType, SpecEntity};

    #[derive(Debug, SpecEntity)]
    #[spec(schema = "shop", table = "orders")]
    struct Order {
        #[spec(primary_key, generated)]
        id: i64,
        customer: String,
        total: f64,
        note: Option<String>,
    }

    fn def() -> EntityDef {
        EntityDef::of::<Order>()
    }

    fn options(json: serde_json::Value) -> QueryOptions {
        QueryOptions::parse(&def(), Some(&json)).unwrap()
    }

    fn order(options: &QueryOptions) -> Vec<SortKey> {
        let mut keys = options.sort.clone();
        keys.push(SortKey { column: 0, desc: false });
        keys
    }

    const COLUMNS: &str = r#""id", "customer", "total", "note""#;

    #[test]
    fn fixed_statements() {
        let s = fixed(&def(), Dialect::Postgres);
        assert_eq!(s.select_by_pk, format!(r#"SELECT {COLUMNS} FROM "shop"."orders" WHERE "id" = $1"#));
        let s = fixed(&def(), Dialect::Sqlite);
        assert_eq!(s.select_by_pk, format!(r#"SELECT {COLUMNS} FROM "orders" WHERE "id" = ?1"#));
        assert_eq!(s.delete_by_pk, r#"DELETE FROM "orders" WHERE "id" = ?1"#);
    }

    #[test]
    fn page_with_filters_groups_sort_and_paging() {
        let o = options(json!({
            "filters": [
                {"column": "customer", "operator": "ilike", "value": "a%"},
                {"column": "total", "operator": "gt", "value": 10, "logic_operator": "OR"},
                {"or": [{"column": "note", "operator": "is_null"}, {"column": "id", "operator": "in", "value": [1, 2]}]},
                {"column": "customer", "operator": "contains", "value": "50%"}
            ],
            "sort": [{"column": "note", "direction": "desc"}],
        }));
        let pg = select_page(&def(), Dialect::Postgres, &o.filter, &order(&o), None, 11, 20);
        assert_eq!(
            pg.sql,
            format!(
                r#"SELECT {COLUMNS} FROM "shop"."orders" WHERE (("customer" ILIKE $1 ESCAPE '\' OR "total" > $2) AND ("note" IS NULL OR "id" IN ($3, $4)) AND "customer" ILIKE $5 ESCAPE '\') ORDER BY "note" DESC NULLS LAST, "id" ASC LIMIT $6 OFFSET $7"#
            )
        );
        assert_eq!(pg.params[4].0, Value::Text("%50\\%%".into()), "contains escapes % and _");
        assert_eq!(pg.params[5], (Value::Int(11), ColumnType::Integer));
        let sqlite = select_page(&def(), Dialect::Sqlite, &o.filter, &order(&o), None, 11, 0);
        assert_eq!(
            sqlite.sql,
            format!(
                r#"SELECT {COLUMNS} FROM "orders" WHERE ((mqttspec_fold("customer") LIKE mqttspec_fold(?1) ESCAPE '\' OR "total" > ?2) AND ("note" IS NULL OR "id" IN (?3, ?4)) AND mqttspec_fold("customer") LIKE mqttspec_fold(?5) ESCAPE '\') ORDER BY "note" DESC NULLS LAST, "id" ASC LIMIT ?6"#
            )
        );
    }

    #[test]
    fn like_is_glob_on_sqlite() {
        let o = options(json!({"filters": [{"column": "customer", "operator": "like", "value": "A_b%"}]}));
        let b = select_page(&def(), Dialect::Sqlite, &o.filter, &order(&o), None, 5, 0);
        assert!(b.sql.contains(r#""customer" GLOB ?1"#), "{}", b.sql);
        assert_eq!(b.params[0].0, Value::Text("A?b*".into()));
        let b = select_page(&def(), Dialect::Postgres, &o.filter, &order(&o), None, 5, 0);
        assert!(b.sql.contains(r#""customer" LIKE $1 ESCAPE '\'"#), "{}", b.sql);
    }

    #[test]
    fn case_insensitive_text_and_long_lists() {
        let o = options(json!({"filters": [
            {"column": "customer", "operator": "contains", "value": "50%"},
            {"column": "customer", "operator": "ilike", "value": "é%"},
            {"column": "id", "operator": "in", "value": (0..40).collect::<Vec<i64>>()},
        ]}));
        let b = select_page(&def(), Dialect::Sqlite, &o.filter, &order(&o), None, 5, 0);
        assert!(
            b.sql.contains(
                r#"mqttspec_fold("customer") LIKE mqttspec_fold(?1) ESCAPE '\' AND mqttspec_fold("customer") LIKE mqttspec_fold(?2) ESCAPE '\' AND "id" IN (SELECT value FROM json_each(?3))"#
            ),
            "{}",
            b.sql
        );
        assert_eq!(b.params[0].0, Value::Text("%50\\%%".into()));
        assert_eq!(b.params[2].0, Value::Text(serde_json::to_string(&(0..40).collect::<Vec<i64>>()).unwrap()));
        let b = select_page(&def(), Dialect::Postgres, &o.filter, &order(&o), None, 5, 0);
        assert!(
            b.sql.contains(r#""customer" ILIKE $1 ESCAPE '\' AND "customer" ILIKE $2 ESCAPE '\' AND "id" IN ($3, "#),
            "{}",
            b.sql
        );
    }

    #[test]
    fn keyset_predicate() {
        let o = options(json!({"sort": [{"column": "note"}, {"column": "total", "direction": "desc"}]}));
        let after = [Value::Text("n".into()), Value::Float(2.5), Value::Int(7)];
        let b = select_page(&def(), Dialect::Postgres, &o.filter, &order(&o), Some(&after), 3, 0);
        assert_eq!(
            b.sql,
            format!(
                r#"SELECT {COLUMNS} FROM "shop"."orders" WHERE ("note" > $1 OR ("note" = $2 AND (("total" < $3) OR ("total" = $4 AND ("id" > $5))))) ORDER BY "note" ASC NULLS FIRST, "total" DESC, "id" ASC LIMIT $6"#
            )
        );
        // A NULL boundary on a nullable column.
        let after = [Value::Null, Value::Float(2.5), Value::Int(7)];
        let b = select_page(&def(), Dialect::Sqlite, &o.filter, &order(&o), Some(&after), 3, 0);
        assert!(b.sql.contains(r#"WHERE ("note" IS NOT NULL OR ("note" IS NULL AND "#), "{}", b.sql);
    }

    #[test]
    fn writes() {
        let data =
            WriteData::for_create(&def(), json!({"customer": "c", "total": 1.5}).as_object().unwrap(), Origin::Client)
                .unwrap();
        let b = insert(&def(), Dialect::Postgres, &data);
        assert_eq!(
            b.sql,
            format!(r#"INSERT INTO "shop"."orders" ("customer", "total") VALUES ($1, $2) RETURNING {COLUMNS}"#)
        );
        let patch = WriteData::for_update(&def(), json!({"note": null}).as_object().unwrap(), Origin::Client).unwrap();
        let b = update(&def(), Dialect::Sqlite, &Value::Int(3), &patch);
        assert_eq!(b.sql, format!(r#"UPDATE "orders" SET "note" = ?1 WHERE "id" = ?2 RETURNING {COLUMNS}"#));
        assert_eq!(b.params[0], (Value::Null, ColumnType::Text), "NULL is bound with its column's type");
        let guard = Condition::parse_one(&def(), "customer", "eq", &json!("c")).unwrap();
        let b = delete_by_key(&def(), Dialect::Postgres, &Value::Int(3), &guard);
        assert_eq!(
            b.sql,
            format!(r#"DELETE FROM "shop"."orders" WHERE "id" = $1 AND "customer" = $2 RETURNING {COLUMNS}"#)
        );
        let b = select_by_key(&def(), Dialect::Postgres, &Value::Int(3), &Condition::all(), true);
        assert_eq!(b.sql, format!(r#"SELECT {COLUMNS} FROM "shop"."orders" WHERE "id" = $1 FOR UPDATE"#));
        let b = count(&def(), Dialect::Sqlite, &guard);
        assert_eq!(b.sql, r#"SELECT COUNT(*) FROM "orders" WHERE "customer" = ?1"#);
    }

    #[test]
    fn ddl() {
        assert_eq!(
            def().create_table_sql(Dialect::Postgres),
            "CREATE TABLE IF NOT EXISTS \"shop\".\"orders\" (\n  \"id\" BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,\n  \"customer\" TEXT NOT NULL,\n  \"total\" DOUBLE PRECISION NOT NULL,\n  \"note\" TEXT\n)"
        );
        assert!(def().create_table_sql(Dialect::Sqlite).contains("\"id\" INTEGER PRIMARY KEY AUTOINCREMENT"));
    }
}
