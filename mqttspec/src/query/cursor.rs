//! Opaque keyset cursors: the sort-key values of a boundary row, bound to the sort and filters
//! they were made for.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value as Json;

use super::{Condition, SortKey};
use crate::entity::EntityDef;
use crate::error::{Error, Result};
use crate::value::Value;

/// A parsed `cursor_after` / `cursor_before`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    /// `cursor_before` (page backwards).
    pub before: bool,
    fingerprint: u64,
    values: Vec<Json>,
}

impl Cursor {
    pub(super) fn parse(json: &Json, before: bool) -> Result<Self> {
        let invalid = || Error::validation("invalid cursor");
        let text = json.as_str().ok_or_else(invalid)?;
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let (fingerprint, values): (u64, Vec<Json>) = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
        Ok(Self { before, fingerprint, values })
    }

    /// Encodes the cursor of a boundary row.
    pub(crate) fn encode(def: &EntityDef, keys: &[SortKey], filter: &Condition, row: &[Value]) -> String {
        let values: Vec<Json> = keys.iter().map(|k| row[k.column].to_json()).collect();
        let payload = serde_json::to_vec(&(fingerprint(def, keys, filter), values)).expect("serializable");
        URL_SAFE_NO_PAD.encode(payload)
    }

    /// The typed boundary values, checked against the sort and filters of this request.
    pub(crate) fn values(&self, def: &EntityDef, keys: &[SortKey], filter: &Condition) -> Result<Vec<Value>> {
        if self.fingerprint != fingerprint(def, keys, filter) || self.values.len() != keys.len() {
            return Err(Error::validation("the cursor belongs to another sort or filter set"));
        }
        keys.iter()
            .zip(&self.values)
            .map(|(k, json)| {
                def.meta.columns[k.column].parse_json(json).map_err(|_| Error::validation("invalid cursor"))
            })
            .collect()
    }
}

/// FNV-1a over the entity, sort keys and filters: stable across processes of one build.
fn fingerprint(def: &EntityDef, keys: &[SortKey], filter: &Condition) -> u64 {
    let text = format!("{}|{:?}|{:?}", def.meta.qualified_name(), keys, filter);
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}
