//! A client's JSON value for a column, checked and typed by the column's metadata.

use chrono::NaiveDate;
use uuid::Uuid;

use super::{ColumnMeta, ColumnType};
use crate::value::{NUL_IN_TEXT, Value, clip, json_kind, parse_timestamp};

impl ColumnMeta {
    /// Converts a JSON value sent by a client into this column's type. `Null` is returned for
    /// JSON `null`; whether NULL is acceptable is the caller's decision.
    pub fn parse_json(&self, json: &serde_json::Value) -> Result<Value, String> {
        let column = self;
        use serde_json::Value as J;
        if json.is_null() {
            return Ok(Value::Null);
        }
        let expected = |what: &str| format!("expected {what}, got {}", json_kind(json));
        Ok::<_, String>(match column.ty {
            ColumnType::Integer => {
                let n = match json {
                    J::Number(n) => n.as_i64().ok_or_else(|| {
                        let whole =
                            n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0 && f.abs() >= i64::MAX as f64);
                        if whole { format!("{n} is out of range") } else { expected("an integer") }
                    })?,
                    _ => return Err(expected("an integer")),
                };
                if n < column.min || n > column.max {
                    return Err(format!("{n} is out of range ({}..={})", column.min, column.max));
                }
                Value::Int(n)
            }
            ColumnType::Float => match json {
                J::Number(n) => Value::Float(n.as_f64().ok_or_else(|| expected("a number"))?),
                _ => return Err(expected("a number")),
            },
            ColumnType::Boolean => Value::Bool(json.as_bool().ok_or_else(|| expected("a boolean"))?),
            ColumnType::Text => {
                let text = json.as_str().ok_or_else(|| expected("a string"))?;
                if text.contains('\0') {
                    return Err(NUL_IN_TEXT.to_owned());
                }
                Value::Text(text.to_owned())
            }
            ColumnType::Timestamp => {
                let text = json.as_str().ok_or_else(|| expected("an RFC 3339 timestamp string"))?;
                Value::Timestamp(
                    parse_timestamp(text).ok_or_else(|| format!("`{}` is not an RFC 3339 timestamp", clip(text)))?,
                )
            }
            ColumnType::Date => {
                let text = json.as_str().ok_or_else(|| expected("a date string (YYYY-MM-DD)"))?;
                Value::Date(
                    NaiveDate::parse_from_str(text, "%Y-%m-%d")
                        .map_err(|_| format!("`{}` is not a date (YYYY-MM-DD)", clip(text)))?,
                )
            }
            ColumnType::Uuid => {
                let text = json.as_str().ok_or_else(|| expected("a UUID string"))?;
                Value::Uuid(Uuid::parse_str(text).map_err(|_| format!("`{}` is not a UUID", clip(text)))?)
            }
            ColumnType::Json => Value::Json(json.clone()),
        })
        .and_then(|value| (column.check)(&value).map(|()| value))
    }
}
