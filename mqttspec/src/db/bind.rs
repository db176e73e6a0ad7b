//! Binding: every value of a statement as a parameter of the backend's own type.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Postgres, Sqlite};
use uuid::Uuid;

use crate::entity::ColumnType;
use crate::query::SqlBuilder;
use crate::value::Value;

type SqliteQuery<'q> = sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>;
type PgQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

pub(super) fn sqlite_query(b: &SqlBuilder) -> SqliteQuery<'_> {
    let mut query = sqlx::query(&b.sql);
    for (value, _) in &b.params {
        query = match value {
            Value::Null => query.bind(None::<String>),
            Value::Int(n) => query.bind(*n),
            Value::Float(f) => query.bind(*f),
            Value::Bool(v) => query.bind(*v),
            Value::Text(s) => query.bind(s.as_str()),
            Value::Timestamp(_) | Value::Date(_) | Value::Uuid(_) | Value::Json(_) => {
                query.bind(crate::sql::sqlite_text(value))
            }
        };
    }
    query
}

pub(super) fn pg_query(b: &SqlBuilder) -> PgQuery<'_> {
    let mut query = sqlx::query(&b.sql);
    for (value, ty) in &b.params {
        query = match value {
            Value::Null => match ty {
                ColumnType::Integer => query.bind(None::<i64>),
                ColumnType::Float => query.bind(None::<f64>),
                ColumnType::Boolean => query.bind(None::<bool>),
                ColumnType::Text => query.bind(None::<String>),
                ColumnType::Timestamp => query.bind(None::<DateTime<Utc>>),
                ColumnType::Date => query.bind(None::<NaiveDate>),
                ColumnType::Uuid => query.bind(None::<Uuid>),
                ColumnType::Json => query.bind(None::<sqlx::types::Json<serde_json::Value>>),
            },
            Value::Int(n) => query.bind(*n),
            Value::Float(f) => query.bind(*f),
            Value::Bool(v) => query.bind(*v),
            Value::Text(s) => query.bind(s.as_str()),
            Value::Timestamp(t) => query.bind(*t),
            Value::Date(d) => query.bind(*d),
            Value::Uuid(u) => query.bind(*u),
            Value::Json(v) => query.bind(sqlx::types::Json(v)),
        };
    }
    query
}
