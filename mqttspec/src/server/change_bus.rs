//! Committed changes between instances on one broker: encoded once by the instance that made
//! them, matched by every other instance against its own subscriptions.

use bytes::Bytes;
use serde_json::{Value as Json, json};

use crate::engine::Change;
use crate::entity::{EntityDef, EntityRegistry};
use crate::error::{Error, Result};
use crate::operation::Operation;
use crate::value::Value;

fn row_json(row: Option<&[Value]>) -> Json {
    row.map_or(Json::Null, |row| Json::Array(row.iter().map(Value::to_json).collect()))
}

fn row_values(def: &EntityDef, json: &Json) -> Result<Option<Vec<Value>>> {
    let Some(items) = json.as_array() else { return Ok(None) };
    if items.len() != def.meta.columns.len() {
        return Err(Error::internal("a change's row does not fit its entity"));
    }
    def.meta
        .columns
        .iter()
        .zip(items)
        .map(|(column, item)| column.parse_json(item).map_err(Error::internal))
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// `[{"schema", "entity", "operation", "old": [..] | null, "new": [..] | null}, ...]`.
pub(crate) fn encode(changes: &[Change]) -> Bytes {
    let items: Vec<Json> = changes
        .iter()
        .map(|c| {
            json!({
                "schema": c.entity.meta.schema,
                "entity": c.entity.meta.name,
                "operation": c.operation.as_str(),
                "old": row_json(c.old.as_deref()),
                "new": row_json(c.new.as_deref()),
            })
        })
        .collect();
    Bytes::from(serde_json::to_vec(&items).expect("serializable"))
}

/// The changes of a payload from another instance; an entity this instance does not serve is
/// skipped (instances of different versions may run side by side for a while).
pub(crate) fn decode(registry: &EntityRegistry, payload: &[u8]) -> Result<Vec<Change>> {
    let items: Vec<Json> = serde_json::from_slice(payload).map_err(Error::internal)?;
    let mut changes = Vec::with_capacity(items.len());
    for item in &items {
        let text = |key: &str| item.get(key).and_then(Json::as_str).unwrap_or_default();
        let Ok(def) = registry.find(Some(text("schema")), text("entity")) else { continue };
        let operation = Operation::parse(text("operation"))
            .filter(|o| o.is_write())
            .ok_or_else(|| Error::internal("a change without a write operation"))?;
        let old = row_values(def, &item["old"])?;
        let new = row_values(def, &item["new"])?;
        changes.push(Change { entity: *def, operation, old, new });
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SpecEntity;

    #[derive(SpecEntity)]
    struct Reading {
        id: i64,
        device: String,
        value: Option<f64>,
        at: chrono::DateTime<chrono::Utc>,
    }

    #[test]
    fn changes_survive_the_trip() {
        let def = EntityDef::of::<Reading>();
        let registry = EntityRegistry::new(vec![def]).unwrap();
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-30T10:00:00.123Z").unwrap().to_utc();
        let row = vec![Value::Int(7), Value::Text("d1".into()), Value::Null, Value::Timestamp(at)];
        let changed = vec![Value::Int(7), Value::Text("d1".into()), Value::Float(2.5), Value::Timestamp(at)];
        let changes = vec![
            Change { entity: def, operation: Operation::Update, old: Some(row.clone()), new: Some(changed.clone()) },
            Change { entity: def, operation: Operation::Delete, old: Some(changed.clone()), new: None },
        ];
        let decoded = decode(&registry, &encode(&changes)).unwrap();
        assert_eq!(decoded.len(), 2);
        assert_eq!((decoded[0].old.as_ref(), decoded[0].new.as_ref()), (Some(&row), Some(&changed)));
        assert_eq!((decoded[1].operation, decoded[1].new.as_ref()), (Operation::Delete, None));
        assert!(decode(&registry, b"not json").is_err());
    }
}
