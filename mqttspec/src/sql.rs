//! SQL text common to every layer that writes SQL: the dialects, quoted identifiers and
//! placeholders, the name of the Unicode case-folding function, and how SQLite stores the values
//! it has no type for. It depends only on `value`.

use std::ffi::CStr;
use std::fmt::Write;

use chrono::{DateTime, Utc};

use crate::value::Value;

/// The SQL dialect of a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// SQLite (embedded default).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Dialect {
    /// Appends placeholder number `n` (1-based): `?n` or `$n`.
    pub(crate) fn push_placeholder(self, sql: &mut String, n: usize) {
        match self {
            Dialect::Sqlite => write!(sql, "?{n}"),
            Dialect::Postgres => write!(sql, "${n}"),
        }
        .expect("write to String");
    }
}

/// Appends a quoted identifier (both dialects use double quotes; embedded quotes are doubled).
/// Identifiers come from generated metadata only.
pub(crate) fn push_ident(sql: &mut String, name: &str) {
    sql.push('"');
    for ch in name.chars() {
        if ch == '"' {
            sql.push('"');
        }
        sql.push(ch);
    }
    sql.push('"');
}

/// A quoted identifier.
pub(crate) fn quoted(name: &str) -> String {
    let mut sql = String::with_capacity(name.len() + 2);
    push_ident(&mut sql, name);
    sql
}

/// The SQLite function that folds case as the in-memory matcher does (registered by `db`).
pub(crate) const FOLD_NAME: &CStr = c"mqttspec_fold";
/// Its SQL name.
pub(crate) const FOLD: &str = match FOLD_NAME.to_str() {
    Ok(name) => name,
    Err(_) => panic!("the name is ASCII"),
};

/// The text SQLite stores for the types it has no type of its own for (timestamps, dates,
/// UUIDs, JSON); `None` for the others.
pub(crate) fn sqlite_text(value: &Value) -> Option<String> {
    Some(match value {
        Value::Timestamp(t) => sqlite_timestamp(t),
        Value::Date(d) => d.format("%Y-%m-%d").to_string(),
        Value::Uuid(u) => u.hyphenated().to_string(),
        Value::Json(v) => v.to_string(),
        _ => return None,
    })
}

/// The value as SQLite stores it, in JSON (for lists bound as one JSON array).
pub(crate) fn sqlite_json(value: &Value) -> serde_json::Value {
    if let Some(text) = sqlite_text(value) {
        return text.into();
    }
    match value {
        Value::Int(n) => (*n).into(),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into),
        Value::Bool(b) => i64::from(*b).into(),
        Value::Text(s) => s.as_str().into(),
        _ => serde_json::Value::Null,
    }
}

/// The canonical text form used for SQLite storage of timestamps: fixed width, so text order is time order.
pub(crate) fn sqlite_timestamp(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_placeholders() {
        assert_eq!(quoted("a\"b"), "\"a\"\"b\"");
        let mut sql = String::new();
        Dialect::Sqlite.push_placeholder(&mut sql, 3);
        Dialect::Postgres.push_placeholder(&mut sql, 12);
        assert_eq!(sql, "?3$12");
        assert_eq!(FOLD, "mqttspec_fold");
    }
}
