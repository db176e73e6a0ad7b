//! The fuzz targets, shared by the AFL++ binaries (`fuzz_targets/`) and the corpus replay of the
//! engine suite. Each takes arbitrary bytes and panics only on a finding:
//!
//! - `envelope`: the request parser never panics, and recovers an id for every message.
//! - `options`: filter, sort, projection and cursor validation never panics.
//! - `cursor`: any string as `cursor_after`/`cursor_before` of a real read is answered with a
//!   client error or rows, never `internal_error`.
//! - `engine`: any envelope run by the engine on a real SQLite database is answered with a client
//!   error or a result, never `internal_error` (which is what invalid SQL, a bind count that does
//!   not match the placeholders, or an unmapped database error would become).

#![allow(dead_code)]

use std::sync::{Arc, OnceLock};

use mqttspec::query::QueryOptions;
use mqttspec::{Database, DatabaseOptions, Engine, EntityDef, EntityRegistry, ErrorCode, Request, SpecEntity};
use serde_json::{Value as Json, json};

/// Every column class: numbers, text, a flag, times, a UUID, JSON, nullable ones.
#[derive(Debug, Clone, SpecEntity)]
#[spec(table = "fuzz_items")]
pub struct FuzzItem {
    #[spec(primary_key, generated)]
    pub id: i64,
    pub name: String,
    pub qty: i32,
    pub price: f64,
    pub active: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub due: Option<chrono::NaiveDate>,
    pub ext_id: Option<uuid::Uuid>,
    pub attrs: Option<serde_json::Value>,
    pub note: Option<String>,
}

struct Harness {
    runtime: tokio::runtime::Runtime,
    engine: Engine,
    def: EntityDef,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let def = EntityDef::of::<FuzzItem>();
        let engine = runtime.block_on(async {
            // One connection: an in-memory SQLite database per connection otherwise.
            let options = DatabaseOptions::default().max_connections(1);
            let db = Database::connect_with("sqlite::memory:", &options).await.expect("sqlite");
            db.create_tables(std::slice::from_ref(&def)).await.expect("table");
            let registry = Arc::new(EntityRegistry::new(vec![def]).expect("registry"));
            let engine = Engine::new(db, registry).with_max_limit(100);
            for i in 0..20 {
                let data = json!({
                    "name": format!("Item {i} ümlaut %_"), "qty": i - 5, "price": f64::from(i) * 1.5,
                    "active": i % 2 == 0, "created_at": format!("2026-01-{:02}T10:00:00Z", i + 1),
                    "due": if i % 3 == 0 { Json::Null } else { json!(format!("2026-02-{:02}", i + 1)) },
                    "note": if i % 4 == 0 { Json::Null } else { json!(format!("note {i}")) },
                    "attrs": {"k": i},
                });
                let request = Request {
                    schema: None,
                    entity: Some("fuzz_items"),
                    operation: mqttspec::Operation::Create,
                    record_id: None,
                    data: Some(&data),
                    options: None,
                };
                engine.execute(request).await.expect("seed row");
            }
            engine
        });
        Harness { runtime, engine, def }
    })
}

/// Runs a request; `internal_error` and `unavailable` are findings.
fn execute(what: &str, request: Request<'_>) {
    let h = harness();
    if let Err(e) = h.runtime.block_on(h.engine.execute(request)) {
        assert!(
            !matches!(e.code(), ErrorCode::InternalError | ErrorCode::Unavailable),
            "{what}: {e} (source: {:?})",
            std::error::Error::source(&e)
        );
    }
}

pub fn envelope(data: &[u8]) {
    match mqttspec::protocol::parse_envelope(data) {
        Ok(envelope) => assert!(!envelope.id.is_empty() || envelope.kind == mqttspec::protocol::MessageType::Ping),
        Err((id, error)) => {
            assert_eq!(id, mqttspec::protocol::recover_id(data), "the id of the refusal is the recovered one");
            assert!(!error.message().is_empty());
        }
    }
}

pub fn options(data: &[u8]) {
    let Ok(json) = serde_json::from_slice::<Json>(data) else { return };
    let _ = QueryOptions::parse(&harness().def, Some(&json));
}

/// The two reads the cursor target pages through: (cursor key, sort).
fn cursor_reads() -> [(&'static str, Json); 2] {
    [
        ("cursor_after", json!([{"column": "price", "direction": "desc"}, {"column": "name"}])),
        ("cursor_before", json!([{"column": "created_at"}])),
    ]
}

fn cursor_options(key: &str, sort: &Json, cursor: &str) -> Json {
    json!({ key: cursor, "sort": sort, "limit": 5, "filters": [{"column": "qty", "operator": "gt", "value": -3}] })
}

fn read_request(options: &Json) -> Request<'_> {
    Request {
        schema: None,
        entity: Some("fuzz_items"),
        operation: mqttspec::Operation::Read,
        record_id: None,
        data: None,
        options: Some(options),
    }
}

/// A real cursor of each read (the first page's `next_cursor`), for the fuzzer to mutate.
fn real_cursors() -> &'static [String; 2] {
    static CURSORS: OnceLock<[String; 2]> = OnceLock::new();
    CURSORS.get_or_init(|| {
        let h = harness();
        cursor_reads().map(|(_, sort)| {
            let options = json!({"sort": sort, "limit": 5});
            let outcome = h.runtime.block_on(h.engine.execute(read_request(&options))).expect("first page");
            outcome.metadata.and_then(|m| m["next_cursor"].as_str().map(str::to_owned)).expect("a next cursor")
        })
    })
}

pub fn cursor(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else { return };
    for ((key, sort), real) in cursor_reads().into_iter().zip(real_cursors()) {
        // Raw bytes, or a real cursor with bytes overwritten, or cut short.
        let text = match mode % 3 {
            0 => String::from_utf8_lossy(rest).into_owned(),
            1 => {
                let mut bytes = real.clone().into_bytes();
                for pair in rest.chunks(2) {
                    if let [at, byte] = pair {
                        let at = usize::from(*at) % bytes.len().max(1);
                        if let Some(b) = bytes.get_mut(at) {
                            *b = *byte;
                        }
                    }
                }
                String::from_utf8_lossy(&bytes).into_owned()
            }
            _ => real.chars().take(rest.first().map_or(0, |n| usize::from(*n))).collect(),
        };
        let options = cursor_options(key, &sort, &text);
        execute(&format!("{key} {text:?}"), read_request(&options));
    }
}

pub fn engine(data: &[u8]) {
    let Ok(envelope) = mqttspec::protocol::parse_envelope(data) else { return };
    if !matches!(envelope.kind, mqttspec::protocol::MessageType::Request) {
        return;
    }
    let Some(request) = Request::from_envelope(&envelope) else { return };
    execute(&String::from_utf8_lossy(data), request);
}
