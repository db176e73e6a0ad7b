//! The per-entity index: subscriptions whose filter requires `column = value` (or `column in
//! [...]`) are found by that value; the rest are scanned.

use std::collections::HashMap;
use std::sync::Arc;

use super::Subscription;
use crate::query::{Condition, Operator};
use crate::value::Value;

/// `in` lists longer than this are scanned rather than indexed.
const MAX_INDEXED_VALUES: usize = 32;

#[derive(Default)]
pub(super) struct EntityIndex {
    /// column → value key → subscriptions.
    by_value: HashMap<usize, HashMap<String, Vec<Arc<Subscription>>>>,
    scan: Vec<Arc<Subscription>>,
}

/// A hashable form of a value (values of one column share a type).
fn key(value: &Value) -> Option<String> {
    Some(match value {
        Value::Null | Value::Json(_) => return None,
        Value::Int(n) => format!("i{n}"),
        Value::Float(f) => format!("f{}", f.to_bits()),
        Value::Bool(b) => format!("b{b}"),
        Value::Text(s) => format!("t{s}"),
        Value::Timestamp(t) => format!("s{}", t.timestamp_nanos_opt().unwrap_or_default()),
        Value::Date(d) => format!("d{d}"),
        Value::Uuid(u) => format!("u{u}"),
    })
}

/// The equality a filter requires of every matching row: a column and its possible values.
fn required_values(filter: &Condition) -> Option<(usize, Vec<String>)> {
    let conjuncts: &[Condition] = match filter {
        Condition::And(items) => items,
        single => std::slice::from_ref(single),
    };
    conjuncts.iter().find_map(|c| match c {
        Condition::Compare { column, op: Operator::Eq, value } if !matches!(value, Value::Float(_)) => {
            Some((*column, vec![key(value)?]))
        }
        Condition::In { column, values, negated: false }
            if values.len() <= MAX_INDEXED_VALUES && !values.iter().any(|v| matches!(v, Value::Float(_))) =>
        {
            Some((*column, values.iter().map(key).collect::<Option<Vec<_>>>()?))
        }
        _ => None,
    })
}

impl EntityIndex {
    pub fn insert(&mut self, subscription: &Arc<Subscription>) {
        match required_values(&subscription.filter) {
            Some((column, keys)) => {
                let by_key = self.by_value.entry(column).or_default();
                for k in keys {
                    by_key.entry(k).or_default().push(subscription.clone());
                }
            }
            None => self.scan.push(subscription.clone()),
        }
    }

    pub fn remove(&mut self, subscription: &Arc<Subscription>) {
        let same = |s: &Arc<Subscription>| !Arc::ptr_eq(s, subscription);
        match required_values(&subscription.filter) {
            Some((column, keys)) => {
                if let Some(by_key) = self.by_value.get_mut(&column) {
                    for k in keys {
                        if let Some(list) = by_key.get_mut(&k) {
                            list.retain(same);
                            if list.is_empty() {
                                by_key.remove(&k);
                            }
                        }
                    }
                    if by_key.is_empty() {
                        self.by_value.remove(&column);
                    }
                }
            }
            None => self.scan.retain(same),
        }
    }

    /// Subscriptions that may match the old or the new row (each once).
    pub fn candidates(&self, old: Option<&[Value]>, new: Option<&[Value]>) -> Vec<Arc<Subscription>> {
        let mut out: Vec<Arc<Subscription>> = self.scan.clone();
        for (column, by_key) in &self.by_value {
            for row in [old, new].into_iter().flatten() {
                if let Some(list) = key(&row[*column]).and_then(|k| by_key.get(&k)) {
                    out.extend(list.iter().cloned());
                }
            }
        }
        if !self.by_value.is_empty() {
            out.sort_by_key(|s| Arc::as_ptr(s) as usize);
            out.dedup_by(|a, b| Arc::ptr_eq(a, b));
        }
        out
    }
}
