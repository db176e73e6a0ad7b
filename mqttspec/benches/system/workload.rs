//! What the clients ask: the operations, their request payloads (about 64 to 150 bytes of JSON) and
//! the replies' checks.

use std::sync::atomic::{AtomicU64, Ordering};

/// One kind of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// `ping`.
    Ping,
    /// `read` with a `record_id`.
    ReadById,
    /// `read` of a page: 10 rows of the 1,000 matching a filter on `status`, with `total`.
    ReadMany,
    /// `create` of one row.
    Create,
    /// `update` of one column of a seeded row.
    Update,
    /// `delete` of a row created earlier in the run.
    Delete,
}

impl Op {
    /// Every operation, in the order a round measures them (creates come before the deletes that
    /// remove their rows).
    pub const ALL: [Op; 6] = [Op::Ping, Op::ReadById, Op::ReadMany, Op::Create, Op::Update, Op::Delete];

    /// Its name in the tables.
    pub fn label(self) -> &'static str {
        match self {
            Op::Ping => "ping",
            Op::ReadById => "read by id",
            Op::ReadMany => "read many (10 of 1,000 matching in 2,000 rows, filter, total)",
            Op::Create => "create",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }

    /// Its short name (the chart).
    pub fn short(self) -> &'static str {
        match self {
            Op::ReadMany => "read many",
            op => op.label(),
        }
    }

    /// The request with message id `id` on record `target` (read by id, update, delete).
    pub fn request(self, id: &str, target: i64) -> Vec<u8> {
        match self {
            Op::Ping => format!(r#"{{"id":"{id}","type":"ping"}}"#),
            Op::ReadById => {
                format!(r#"{{"id":"{id}","type":"request","operation":"read","entity":"users","record_id":{target}}}"#)
            }
            Op::ReadMany => format!(
                r#"{{"id":"{id}","type":"request","operation":"read","entity":"users","options":{{"filters":[{{"column":"status","operator":"eq","value":"active"}}],"limit":10,"count":"exact"}}}}"#
            ),
            Op::Create => format!(
                r#"{{"id":"{id}","type":"request","operation":"create","entity":"users","data":{{"name":"bench","email":"{id}@example.org","status":"new"}}}}"#
            ),
            Op::Update => format!(
                r#"{{"id":"{id}","type":"request","operation":"update","entity":"users","record_id":{target},"data":{{"name":"{id}"}}}}"#
            ),
            Op::Delete => {
                format!(r#"{{"id":"{id}","type":"request","operation":"delete","entity":"users","record_id":{target}}}"#)
            }
        }
        .into_bytes()
    }
}

/// The database behind a system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Db {
    /// A SQLite file.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Db {
    /// Its name in the tables.
    pub fn label(self) -> &'static str {
        match self {
            Db::Sqlite => "SQLite",
            Db::Postgres => "PostgreSQL",
        }
    }
}

/// The quickstart's logging.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Log {
    /// `RUST_LOG` unset: `info,rmqtt=error`, one line per request.
    Default,
    /// `RUST_LOG=warn`.
    Warn,
}

impl Log {
    /// Its name in the tables.
    pub fn label(self) -> &'static str {
        match self {
            Log::Default => "default logging",
            Log::Warn => "RUST_LOG=warn",
        }
    }

    /// The `RUST_LOG` of the quickstart.
    pub fn rust_log(self) -> Option<&'static str> {
        match self {
            Log::Default => None,
            Log::Warn => Some("warn"),
        }
    }
}

/// A message id never used before in this run (replies are remembered by id).
pub fn next_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("b{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Panics unless `reply` is a success.
pub fn expect_success(reply: &[u8]) {
    if !reply.windows(14).any(|w| w == br#""success":true"#) {
        panic!("request failed: {}", String::from_utf8_lossy(reply));
    }
}

/// The `data.id` of a create's reply.
pub fn created_id(reply: &[u8]) -> i64 {
    let reply: serde_json::Value = serde_json::from_slice(reply).expect("JSON reply");
    reply["data"]["id"].as_i64().unwrap_or_else(|| panic!("no id in {reply}"))
}
