//! Record data for create and update: validated against the columns, then typed.

use serde_json::{Map, Value as Json};

use crate::entity::EntityDef;
use crate::error::{Error, Result};
use crate::value::{Value, clip, json_kind};

/// Typed column values of one create or update, in column order.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteData {
    /// `(column index, value)` pairs.
    pub values: Vec<(usize, Value)>,
}

/// Who wrote the data: clients may not set read-only columns, hooks may.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Data as the client sent it.
    Client,
    /// Data after hooks changed it.
    Trusted,
}

impl WriteData {
    /// Rejects keys a client may not send (unknown or read-only columns, a generated primary key
    /// on create), before hooks run.
    pub fn check_client_keys(def: &EntityDef, object: &Map<String, Json>, update: bool) -> Result<()> {
        for (key, value) in object {
            let (_, column) = def.column(key).ok_or_else(|| Error::invalid_column(&clip(key), "no such column"))?;
            if column.read_only && !(update && column.primary_key) {
                return Err(Error::invalid_column(column.name, "column is read-only"));
            }
            // A key the database generates is never chosen by a client: a chosen key could probe
            // for other tenants' rows (conflict) or exhaust the key space.
            if !update && column.primary_key && column.generated && !value.is_null() {
                return Err(Error::invalid_column(column.name, "the primary key is assigned by the database"));
            }
        }
        Ok(())
    }

    /// Validates the data of a create: every value typed, every required column present.
    pub fn for_create(def: &EntityDef, object: &Map<String, Json>, origin: Origin) -> Result<Self> {
        if origin == Origin::Client {
            Self::check_client_keys(def, object, false)?;
        }
        let mut values = Vec::with_capacity(object.len());
        for (index, column) in def.meta.columns.iter().enumerate() {
            match object.get(column.name) {
                Some(json) => {
                    let value = column.parse_json(json).map_err(|r| Error::invalid_column(column.name, r))?;
                    if value == Value::Null && !column.nullable && !column.generated {
                        return Err(Error::invalid_column(column.name, "cannot be null"));
                    }
                    // NULL for a generated column means "let the database choose".
                    if value == Value::Null && column.generated && !column.nullable {
                        continue;
                    }
                    values.push((index, value));
                }
                None if !column.nullable && !column.generated => {
                    return Err(Error::invalid_column(column.name, "required field is missing"));
                }
                None => {}
            }
        }
        Self::reject_unknown(def, object)?;
        Ok(Self { values })
    }

    /// Validates a partial update: only present keys change; the primary key is never changed.
    pub fn for_update(def: &EntityDef, object: &Map<String, Json>, origin: Origin) -> Result<Self> {
        if origin == Origin::Client {
            Self::check_client_keys(def, object, true)?;
        }
        let mut values = Vec::with_capacity(object.len());
        for (index, column) in def.meta.columns.iter().enumerate() {
            if column.primary_key {
                continue;
            }
            if let Some(json) = object.get(column.name) {
                let value = column.parse_json(json).map_err(|r| Error::invalid_column(column.name, r))?;
                if value == Value::Null && !column.nullable {
                    return Err(Error::invalid_column(column.name, "cannot be null"));
                }
                values.push((index, value));
            }
        }
        Self::reject_unknown(def, object)?;
        Ok(Self { values })
    }

    fn reject_unknown(def: &EntityDef, object: &Map<String, Json>) -> Result<()> {
        match object.keys().find(|k| def.column(k).is_none()) {
            Some(key) => Err(Error::invalid_column(&clip(key), "no such column")),
            None => Ok(()),
        }
    }
}

/// The primary key of a request: `record_id` (string or number) or the key inside `data`;
/// both given and different → `validation_error`.
pub fn target_key(def: &EntityDef, record_id: Option<&Json>, data: Option<&Json>) -> Result<Option<Value>> {
    let pk = def.meta.pk();
    let from_record_id = match record_id {
        None | Some(Json::Null) => None,
        Some(json) => Some(key_value(def, json)?),
    };
    let from_data = match data.and_then(|d| d.as_object()).and_then(|o| o.get(pk.name)) {
        None | Some(Json::Null) => None,
        Some(json) => Some(key_value(def, json)?),
    };
    match (from_record_id, from_data) {
        (Some(a), Some(b)) if a != b => {
            Err(Error::invalid_column(pk.name, "`record_id` and the key inside `data` differ"))
        }
        (a, b) => Ok(a.or(b)),
    }
}

/// Converts a key given as a JSON string or number to the key column's type.
pub fn key_value(def: &EntityDef, json: &Json) -> Result<Value> {
    let pk = def.meta.pk();
    let invalid = |reason: String| Error::invalid_column(pk.name, format!("invalid record id: {reason}"));
    match (pk.ty, json) {
        (crate::ColumnType::Integer, Json::String(text)) => {
            let n: i64 = text.trim().parse().map_err(|_| match text.trim().parse::<i128>() {
                Ok(_) => invalid(format!("`{}` is out of range", clip(text))),
                Err(_) => invalid(format!("`{}` is not an integer", clip(text))),
            })?;
            pk.parse_json(&Json::from(n)).map_err(invalid)
        }
        (crate::ColumnType::Float, Json::String(text)) => {
            let n: f64 = text.trim().parse().map_err(|_| invalid(format!("`{}` is not a number", clip(text))))?;
            Ok(Value::Float(n))
        }
        (crate::ColumnType::Text, Json::Number(n)) => Ok(Value::Text(n.to_string())),
        (_, Json::Array(_) | Json::Object(_) | Json::Bool(_)) if pk.ty != crate::ColumnType::Boolean => {
            Err(invalid(format!("got {}", json_kind(json))))
        }
        _ => match pk.parse_json(json).map_err(invalid)? {
            Value::Null => Err(invalid("null".into())),
            v => Ok(v),
        },
    }
}
