//! `options` of a request: filters, sort, paging, projection, count, cursors (PROTOCOL §4).

use serde_json::Value as Json;

use super::{Condition, Cursor};
use crate::entity::EntityDef;
use crate::error::{Error, Result};
use crate::value::{clip, json_kind};

/// One sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SortKey {
    /// Column index.
    pub column: usize,
    /// Descending.
    pub desc: bool,
}

/// Whether a read-many counts the matching rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CountMode {
    /// `COUNT(*)` with the filters: `metadata.total`.
    #[default]
    Exact,
    /// No count; `total` is left out.
    None,
}

/// Validated query options of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryOptions {
    /// Row filter (the client's, plus whatever hooks add).
    pub filter: Condition,
    /// Sort keys, in order; the primary key breaks ties.
    pub sort: Vec<SortKey>,
    /// Requested limit (capped to the server's `max_limit` by the engine).
    pub limit: Option<u64>,
    /// Rows to skip.
    pub offset: u64,
    /// Columns returned (`None`: all readable columns). The primary key is always included.
    pub projection: Option<Vec<usize>>,
    /// Count mode.
    pub count: CountMode,
    /// Keyset cursor.
    pub cursor: Option<Cursor>,
}

impl Default for QueryOptions {
    fn default() -> Self {
        Self {
            filter: Condition::all(),
            sort: Vec::new(),
            limit: None,
            offset: 0,
            projection: None,
            count: CountMode::Exact,
            cursor: None,
        }
    }
}

impl QueryOptions {
    /// Parses `options` (absent, `null` or `{}` mean defaults). Unknown keys are ignored.
    pub fn parse(def: &EntityDef, json: Option<&Json>) -> Result<Self> {
        let mut options = QueryOptions::default();
        let object = match json {
            None | Some(Json::Null) => return Ok(options),
            Some(Json::Object(object)) => object,
            Some(other) => {
                return Err(Error::new(
                    crate::ErrorCode::InvalidMessage,
                    format!("`options` must be an object, got {}", json_kind(other)),
                ));
            }
        };
        let present = |key: &str| object.get(key).filter(|v| !v.is_null());
        if let Some(filters) = present("filters") {
            options.filter = Condition::parse_filters(def, filters)?;
        }
        if let Some(sort) = present("sort") {
            options.sort = parse_sort(def, sort)?;
        }
        if let Some(limit) = present("limit") {
            options.limit = Some(non_negative("limit", limit)?);
        }
        if let Some(offset) = present("offset") {
            options.offset = non_negative("offset", offset)?;
        }
        let columns = present("columns").map(|c| column_list(def, "columns", c)).transpose()?;
        let omit = present("omit_columns").map(|c| column_list(def, "omit_columns", c)).transpose()?;
        if columns.is_some() || omit.is_some() {
            let pk = def.meta.primary_key;
            let projection = (0..def.meta.columns.len())
                .filter(|i| !def.meta.columns[*i].write_only)
                .filter(|i| *i == pk || columns.as_ref().is_none_or(|c| c.contains(i)))
                .filter(|i| *i == pk || omit.as_ref().is_none_or(|o| !o.contains(i)))
                .collect();
            options.projection = Some(projection);
        }
        if let Some(count) = present("count") {
            options.count = match count.as_str().map(str::to_ascii_lowercase).as_deref() {
                Some("exact") => CountMode::Exact,
                Some("none") => CountMode::None,
                _ => return Err(Error::validation("options.count must be \"exact\" or \"none\"")),
            };
        }
        let after = present("cursor_after");
        let before = present("cursor_before");
        options.cursor = match (after, before) {
            (Some(_), Some(_)) => return Err(Error::validation("give `cursor_after` or `cursor_before`, not both")),
            (Some(c), None) => Some(Cursor::parse(c, false)?),
            (None, Some(c)) => Some(Cursor::parse(c, true)?),
            (None, None) => None,
        };
        Ok(options)
    }

    /// Adds a validated filter that rows must also satisfy (AND).
    pub fn restrict(&mut self, condition: Condition) {
        let current = std::mem::replace(&mut self.filter, Condition::all());
        self.filter = current.and(condition);
    }
}

fn parse_sort(def: &EntityDef, json: &Json) -> Result<Vec<SortKey>> {
    let items = json
        .as_array()
        .ok_or_else(|| Error::validation(format!("options.sort must be an array, got {}", json_kind(json))))?;
    let mut keys: Vec<SortKey> = Vec::with_capacity(items.len());
    for item in items {
        let object = item
            .as_object()
            .ok_or_else(|| Error::validation(format!("a sort key must be an object, got {}", json_kind(item))))?;
        let name = match object.get("column") {
            Some(Json::String(name)) => name,
            _ => return Err(Error::validation("a sort key needs `column` (a string)")),
        };
        let (column, meta) = def
            .column(name)
            .filter(|(_, c)| !c.write_only)
            .ok_or_else(|| Error::invalid_column(&clip(name), "no such column"))?;
        if !meta.sortable {
            return Err(Error::invalid_column(meta.name, "column is not sortable"));
        }
        let desc = match object.get("direction") {
            None | Some(Json::Null) => false,
            Some(Json::String(d)) if d.eq_ignore_ascii_case("asc") => false,
            Some(Json::String(d)) if d.eq_ignore_ascii_case("desc") => true,
            Some(_) => return Err(Error::invalid_column(meta.name, "direction must be \"asc\" or \"desc\"")),
        };
        if keys.iter().any(|k| k.column == column) {
            return Err(Error::invalid_column(meta.name, "sorted twice"));
        }
        keys.push(SortKey { column, desc });
    }
    Ok(keys)
}

fn non_negative(key: &str, json: &Json) -> Result<u64> {
    let invalid = || Error::validation(format!("options.{key} must be a non-negative integer, got {}", describe(json)));
    match json {
        Json::Number(n) => {
            if let Some(v) = n.as_u64() {
                Ok(v)
            } else if let Some(f) = n.as_f64().filter(|f| *f >= 0.0 && f.fract() == 0.0) {
                Ok(f.min(u64::MAX as f64) as u64)
            } else {
                Err(invalid())
            }
        }
        _ => Err(invalid()),
    }
}

fn describe(json: &Json) -> String {
    match json {
        Json::Number(n) => n.to_string(),
        Json::String(s) => format!("\"{}\"", clip(s)),
        other => json_kind(other).to_owned(),
    }
}

fn column_list(def: &EntityDef, key: &str, json: &Json) -> Result<Vec<usize>> {
    let items =
        json.as_array().ok_or_else(|| Error::validation(format!("options.{key} must be an array of column names")))?;
    items
        .iter()
        .map(|item| {
            let name = item
                .as_str()
                .ok_or_else(|| Error::validation(format!("options.{key} must be an array of column names")))?;
            def.column(name)
                .filter(|(_, c)| !c.write_only)
                .map(|(i, _)| i)
                .ok_or_else(|| Error::invalid_column(&clip(name), "no such column"))
        })
        .collect()
}
