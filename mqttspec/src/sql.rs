//! SQL text common to every layer that writes SQL: the dialects, quoted identifiers and
//! placeholders, and the name of the Unicode case-folding function. It depends on nothing else
//! in the crate.

use std::ffi::CStr;
use std::fmt::Write;

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
