//! The `meta` reply (PROTOCOL §3): each entity's columns, types, operators and allowed writes,
//! rendered once per registry.

use serde_json::{Value as Json, json};

use crate::entity::{EntityDef, EntityRegistry};
use crate::error::{Error, ErrorCode, Result};
use crate::query::operators_for;
use crate::value::clip;

/// The `meta` objects of a registry's entities, in its order.
#[derive(Debug, Clone)]
pub struct Meta {
    entities: Vec<(EntityDef, Json)>,
}

impl Meta {
    /// Renders every entity of `registry`.
    pub fn new(registry: &EntityRegistry) -> Self {
        Self { entities: registry.entities().iter().map(|d| (*d, entity_meta(d))).collect() }
    }

    /// The `meta` object of one entity of the registry.
    pub fn entity(&self, def: &EntityDef) -> &Json {
        &self.entities.iter().find(|(d, _)| d.same(def)).expect("entity of this registry").1
    }

    /// The `meta` reply without an entity: `{"entities": [...]}`, of one schema when given
    /// (`model_not_found` when it has none).
    pub fn all(&self, schema: Option<&str>) -> Result<Json> {
        let of_schema: Vec<&Json> =
            self.entities.iter().filter(|(d, _)| schema.is_none_or(|s| d.meta.schema == s)).map(|(_, m)| m).collect();
        if let Some(schema) = schema
            && of_schema.is_empty()
        {
            return Err(Error::new(ErrorCode::ModelNotFound, format!("no entity in schema `{}`", clip(schema))));
        }
        Ok(json!({ "entities": of_schema }))
    }
}

/// The `meta` object of one entity (PROTOCOL §3), computed once per registry.
fn entity_meta(def: &EntityDef) -> Json {
    let meta = def.meta;
    let columns: Vec<_> = meta
        .columns
        .iter()
        .filter(|c| !c.write_only)
        .map(|c| {
            json!({
                "name": c.name,
                "type": c.ty.as_str(),
                "nullable": c.nullable,
                "primary_key": c.primary_key,
                "filterable": c.filterable,
                "sortable": c.sortable,
                "read_only": c.read_only,
                "generated": c.generated,
                "operators": if c.filterable { operators_for(c) } else { Vec::new() },
            })
        })
        .collect();
    json!({
        "schema": meta.schema,
        "entity": meta.name,
        "table_name": meta.table,
        "primary_key": meta.pk().name,
        "operations": {
            "read": true,
            "create": meta.operations.create,
            "update": meta.operations.update,
            "delete": meta.operations.delete,
        },
        "columns": columns,
    })
}
