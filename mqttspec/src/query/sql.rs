//! Rendering of the dynamic parts of a statement: conditions, sort, keyset predicates. Column
//! names come only from the entity's generated metadata; every value becomes a bound parameter.

use super::{Condition, Operator, SortKey, TextMatch};
use crate::entity::{ColumnType, EntityMeta};
use crate::sql::{Dialect, FOLD};
use crate::value::Value;

/// Longest `in` list that SQLite gets as one parameter per value; longer ones are bound as one
/// JSON array.
const SQLITE_INLINE_LIST: usize = 32;

/// A statement under construction and its parameters (each with its column type, so that a
/// NULL is bound with the right SQL type).
#[derive(Debug)]
pub(crate) struct SqlBuilder {
    pub dialect: Dialect,
    pub sql: String,
    pub params: Vec<(Value, ColumnType)>,
}

impl SqlBuilder {
    pub fn new(dialect: Dialect, start: &str) -> Self {
        Self { dialect, sql: String::from(start), params: Vec::new() }
    }

    /// A statement written by the application (a hook), with its values bound in order; a NULL
    /// is bound as text.
    pub fn raw(dialect: Dialect, sql: &str, params: &[Value]) -> Self {
        let params = params.iter().map(|v| (v.clone(), v.column_type().unwrap_or(ColumnType::Text))).collect();
        Self { dialect, sql: sql.to_owned(), params }
    }

    /// Appends SQL text that comes from generated metadata or from this module.
    pub fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Appends a quoted identifier; `name` comes from the generated metadata.
    pub fn push_ident(&mut self, name: &str) -> &mut Self {
        crate::sql::push_ident(&mut self.sql, name);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn push_param(&mut self, value: Value, ty: ColumnType) -> &mut Self {
        self.params.push((value, ty));
        let n = self.params.len();
        self.dialect.push_placeholder(&mut self.sql, n);
        self
    }

    /// SQLite's case-insensitive match: both sides through `mqttspec_fold` (Unicode lower case),
    /// as its own `LIKE` folds ASCII only.
    fn push_folded_like(&mut self, column: &str, pattern: String, ty: ColumnType) {
        let fold = FOLD;
        self.push(fold).push("(").push_ident(column).push(") LIKE ").push(fold).push("(");
        self.push_param(Value::Text(pattern), ty).push(") ESCAPE '\\'");
    }

    /// Appends ` WHERE <condition>` unless the condition is trivially true.
    pub fn push_where(&mut self, meta: &EntityMeta, condition: &Condition) -> &mut Self {
        if !condition.is_trivially_true() {
            self.push(" WHERE ");
            self.push_condition(meta, condition);
        }
        self
    }

    /// Appends a condition as a boolean SQL expression.
    pub fn push_condition(&mut self, meta: &EntityMeta, condition: &Condition) {
        let col = |i: usize| &meta.columns[i];
        match condition {
            Condition::Compare { column, op, value } => {
                let c = col(*column);
                let sym = match op {
                    Operator::Eq => " = ",
                    Operator::Neq => " <> ",
                    Operator::Gt => " > ",
                    Operator::Gte => " >= ",
                    Operator::Lt => " < ",
                    _ => " <= ",
                };
                self.push_ident(c.name).push(sym).push_param(value.clone(), c.ty);
            }
            Condition::Like { column, pattern, case_insensitive } => {
                let c = col(*column);
                match (self.dialect, case_insensitive) {
                    (Dialect::Postgres, false) => self.push_ident(c.name).push(" LIKE "),
                    (Dialect::Postgres, true) => self.push_ident(c.name).push(" ILIKE "),
                    // SQLite's LIKE ignores ASCII case; GLOB is its case-sensitive match.
                    (Dialect::Sqlite, false) => {
                        self.push_ident(c.name).push(" GLOB ").push_param(Value::Text(like_to_glob(pattern)), c.ty);
                        return;
                    }
                    (Dialect::Sqlite, true) => {
                        self.push_folded_like(c.name, pattern.clone(), c.ty);
                        return;
                    }
                };
                self.push_param(Value::Text(pattern.clone()), c.ty).push(" ESCAPE '\\'");
            }
            Condition::Text { column, kind, needle } => {
                let c = col(*column);
                let escaped = escape_like(needle);
                let pattern = match kind {
                    TextMatch::Contains => format!("%{escaped}%"),
                    TextMatch::StartsWith => format!("{escaped}%"),
                    TextMatch::EndsWith => format!("%{escaped}"),
                };
                match self.dialect {
                    Dialect::Postgres => {
                        self.push_ident(c.name)
                            .push(" ILIKE ")
                            .push_param(Value::Text(pattern), c.ty)
                            .push(" ESCAPE '\\'");
                    }
                    Dialect::Sqlite => self.push_folded_like(c.name, pattern, c.ty),
                }
            }
            Condition::In { column, values, negated } => {
                if values.is_empty() {
                    self.push(if *negated { "1 = 1" } else { "1 = 0" });
                    return;
                }
                let c = col(*column);
                self.push_ident(c.name).push(if *negated { " NOT IN (" } else { " IN (" });
                if self.dialect == Dialect::Sqlite && values.len() > SQLITE_INLINE_LIST {
                    // One JSON parameter instead of one per value: SQLite allows 32,766
                    // parameters per statement, 64 lists of 1,000 would exceed it.
                    let list = serde_json::Value::Array(values.iter().map(crate::sql::sqlite_json).collect());
                    self.push("SELECT value FROM json_each(")
                        .push_param(Value::Text(list.to_string()), ColumnType::Text);
                    self.push("))");
                    return;
                }
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        self.push(", ");
                    }
                    self.push_param(value.clone(), c.ty);
                }
                self.push(")");
            }
            Condition::Null { column, negated } => {
                self.push_ident(col(*column).name).push(if *negated { " IS NOT NULL" } else { " IS NULL" });
            }
            Condition::Between { column, low, high } => {
                let c = col(*column);
                self.push_ident(c.name).push(" BETWEEN ").push_param(low.clone(), c.ty);
                self.push(" AND ").push_param(high.clone(), c.ty);
            }
            Condition::And(items) | Condition::Or(items) => {
                let (joiner, empty) = match condition {
                    Condition::And(_) => (" AND ", "1 = 1"),
                    _ => (" OR ", "1 = 0"),
                };
                if items.is_empty() {
                    self.push(empty);
                    return;
                }
                self.push("(");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        self.push(joiner);
                    }
                    self.push_condition(meta, item);
                }
                self.push(")");
            }
        }
    }

    /// Appends ` ORDER BY ...`; NULL sorts as the smallest value on both backends.
    pub fn push_order_by(&mut self, meta: &EntityMeta, keys: &[SortKey]) -> &mut Self {
        self.push(" ORDER BY ");
        for (i, key) in keys.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            let c = &meta.columns[key.column];
            self.push_ident(c.name);
            self.push(match (key.desc, c.nullable) {
                (false, false) => " ASC",
                (true, false) => " DESC",
                (false, true) => " ASC NULLS FIRST",
                (true, true) => " DESC NULLS LAST",
            });
        }
        self
    }

    /// Appends a predicate true for rows strictly after `values` in the order of `keys`.
    pub fn push_after(&mut self, meta: &EntityMeta, keys: &[SortKey], values: &[Value]) {
        let Some((key, rest)) = keys.split_first() else {
            self.push("1 = 0");
            return;
        };
        let value = &values[0];
        let c = &meta.columns[key.column];
        self.push("(");
        // Strictly after on this key (NULL is the smallest value).
        match (key.desc, value) {
            (false, Value::Null) => {
                self.push_ident(c.name).push(" IS NOT NULL");
            }
            (true, Value::Null) => {
                self.push("1 = 0");
            }
            (false, v) => {
                self.push_ident(c.name).push(" > ").push_param(v.clone(), c.ty);
            }
            (true, v) => {
                self.push("(").push_ident(c.name).push(" < ").push_param(v.clone(), c.ty);
                if c.nullable {
                    self.push(" OR ").push_ident(c.name).push(" IS NULL");
                }
                self.push(")");
            }
        }
        if !rest.is_empty() {
            self.push(" OR (");
            match value {
                Value::Null => self.push_ident(c.name).push(" IS NULL"),
                v => self.push_ident(c.name).push(" = ").push_param(v.clone(), c.ty),
            };
            self.push(" AND ");
            self.push_after(meta, rest, &values[1..]);
            self.push(")");
        }
        self.push(")");
    }

    /// Appends ` LIMIT n OFFSET m` as bound integers.
    pub fn push_limit_offset(&mut self, limit: u64, offset: u64) -> &mut Self {
        let clamp = |n: u64| Value::Int(i64::try_from(n).unwrap_or(i64::MAX));
        self.push(" LIMIT ").push_param(clamp(limit), ColumnType::Integer);
        if offset > 0 {
            self.push(" OFFSET ").push_param(clamp(offset), ColumnType::Integer);
        }
        self
    }
}

/// Escapes `%`, `_` and `\` so that a LIKE pattern matches them literally.
pub(crate) fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// Translates a LIKE pattern (`%`, `_`, `\` escapes) into the GLOB pattern with the same meaning.
pub(crate) fn like_to_glob(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars();
    while let Some(ch) = chars.next() {
        match ch {
            '%' => out.push('*'),
            '_' => out.push('?'),
            '\\' => match chars.next() {
                Some(escaped) => push_glob_literal(&mut out, escaped),
                None => push_glob_literal(&mut out, '\\'),
            },
            other => push_glob_literal(&mut out, other),
        }
    }
    out
}

fn push_glob_literal(out: &mut String, ch: char) {
    match ch {
        '*' | '?' | '[' => {
            out.push('[');
            out.push(ch);
            out.push(']');
        }
        other => out.push(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_translation() {
        assert_eq!(like_to_glob("a%b_c"), "a*b?c");
        assert_eq!(like_to_glob("50\\%*[x]?"), "50%[*][[]x][?]");
        assert_eq!(escape_like("100%_\\"), "100\\%\\_\\\\");
    }
}
