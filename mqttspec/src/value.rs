//! Typed column values: what validation produces, what is bound to SQL, what rows decode to.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use uuid::Uuid;

/// The type class of a column, as `meta` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// Any integer width.
    Integer,
    /// `f32` / `f64`.
    Float,
    /// `bool`.
    Boolean,
    /// `String`.
    Text,
    /// `chrono::DateTime<Utc>`.
    Timestamp,
    /// `chrono::NaiveDate`.
    Date,
    /// `uuid::Uuid`.
    Uuid,
    /// `serde_json::Value`.
    Json,
}

impl ColumnType {
    /// Whether SQL has an ordering and equality for this class (JSON has not): such columns are
    /// filterable and sortable by default.
    pub const fn orderable(self) -> bool {
        !matches!(self, Self::Json)
    }

    /// The name used on the wire (`meta`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Integer => "integer",
            Self::Float => "float",
            Self::Boolean => "boolean",
            Self::Text => "text",
            Self::Timestamp => "timestamp",
            Self::Date => "date",
            Self::Uuid => "uuid",
            Self::Json => "json",
        }
    }
}

/// One column value, typed by its column.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// Any integer column (range-checked against the Rust field type).
    Int(i64),
    /// `f32` / `f64` columns.
    Float(f64),
    /// `bool` columns.
    Bool(bool),
    /// `String` columns.
    Text(String),
    /// `DateTime<Utc>` columns.
    Timestamp(DateTime<Utc>),
    /// `NaiveDate` columns.
    Date(NaiveDate),
    /// `Uuid` columns.
    Uuid(Uuid),
    /// `serde_json::Value` columns.
    Json(serde_json::Value),
}

impl Value {
    /// The JSON form sent to clients.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Null => J::Null,
            Value::Int(n) => J::from(*n),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Bool(b) => J::Bool(*b),
            Value::Text(s) => J::String(s.clone()),
            Value::Timestamp(t) => J::String(t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            Value::Date(d) => J::String(d.format("%Y-%m-%d").to_string()),
            Value::Uuid(u) => J::String(u.hyphenated().to_string()),
            Value::Json(v) => v.clone(),
        }
    }

    /// Orders two values of the same column; `None` when either is NULL or they differ in type.
    pub fn compare(&self, other: &Value) -> Option<Ordering> {
        match (self, other) {
            (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
            (Value::Float(a), Value::Float(b)) => a.partial_cmp(b),
            (Value::Int(a), Value::Float(b)) => (*a as f64).partial_cmp(b),
            (Value::Float(a), Value::Int(b)) => a.partial_cmp(&(*b as f64)),
            (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
            (Value::Text(a), Value::Text(b)) => Some(a.cmp(b)),
            (Value::Timestamp(a), Value::Timestamp(b)) => Some(a.cmp(b)),
            (Value::Date(a), Value::Date(b)) => Some(a.cmp(b)),
            (Value::Uuid(a), Value::Uuid(b)) => Some(a.cmp(b)),
            (Value::Json(a), Value::Json(b)) => (a == b).then_some(Ordering::Equal),
            _ => None,
        }
    }

    /// The column type a value naturally binds as (`None` for NULL).
    pub(crate) fn column_type(&self) -> Option<ColumnType> {
        Some(match self {
            Value::Null => return None,
            Value::Int(_) => ColumnType::Integer,
            Value::Float(_) => ColumnType::Float,
            Value::Bool(_) => ColumnType::Boolean,
            Value::Text(_) => ColumnType::Text,
            Value::Timestamp(_) => ColumnType::Timestamp,
            Value::Date(_) => ColumnType::Date,
            Value::Uuid(_) => ColumnType::Uuid,
            Value::Json(_) => ColumnType::Json,
        })
    }
}

/// Why a text value with U+0000 is refused: PostgreSQL cannot store it and SQLite's pattern
/// matching stops at it, so neither backend could honour it.
pub(crate) const NUL_IN_TEXT: &str = "text cannot contain the NUL character (U+0000)";

/// Case folding of the case-insensitive operators: each character to its simple lower case (one
/// character for one, no context such as Greek final sigma), as PostgreSQL's `lower()`/`ILIKE`
/// do in a Unicode locale. Used by the SQLite function `mqttspec_fold` and by subscription
/// matching alike, so both decide the same.
pub(crate) fn fold_case(text: &str) -> String {
    text.chars()
        .map(|c| {
            let mut lower = c.to_lowercase();
            match (lower.next(), lower.next()) {
                (Some(l), None) => l,
                // U+0130 (İ) is the one full mapping to several characters; its simple mapping is `i`.
                _ if c == '\u{130}' => 'i',
                _ => c,
            }
        })
        .collect()
}

/// Parses RFC 3339, plus the `YYYY-MM-DD HH:MM:SS[.f]` form SQLite's own clock functions write.
pub(crate) fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").ok().map(|t| t.and_utc())
}

/// The JSON type of a value, for error messages.
pub(crate) fn json_kind(json: &serde_json::Value) -> &'static str {
    match json {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(n) if n.is_f64() => "a fractional number",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Shortens client text quoted back in an error message.
pub(crate) fn clip(text: &str) -> String {
    const MAX: usize = 64;
    match text.char_indices().nth(MAX) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::fold_case;

    #[test]
    fn folding_is_per_character_simple_lower_case() {
        assert_eq!(fold_case("ÉCOLE"), "école");
        assert_eq!(fold_case("İstanbul"), "istanbul");
        assert_eq!(fold_case("ΣΑΣ"), "σασ", "no final-sigma context");
        assert_eq!(fold_case("σας"), "σας");
        assert_eq!(fold_case("\u{212A}elvin ẞ"), "kelvin ß");
        assert_eq!(fold_case("100%_x\\"), "100%_x\\", "wildcards and escapes unchanged");
    }
}
