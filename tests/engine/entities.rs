//! Entities of the engine suite: one with every supported type, and two related by a foreign key.

use chrono::{DateTime, NaiveDate, Utc};
use mqttspec::SpecEntity;
use uuid::Uuid;

/// Every supported column type.
#[derive(Debug, Clone, SpecEntity)]
#[spec(table = "items")]
pub struct Item {
    #[spec(primary_key, generated)]
    pub id: i64,
    pub name: String,
    pub qty: i32,
    pub small: Option<i16>,
    pub tiny: Option<u8>,
    pub price: f64,
    pub ratio: Option<f32>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub due: Option<NaiveDate>,
    pub ext_id: Option<Uuid>,
    pub attrs: Option<serde_json::Value>,
    pub note: Option<String>,
    #[spec(write_only)]
    pub secret: Option<String>,
}

/// Unique email (conflict), text key elsewhere.
#[derive(Debug, Clone, SpecEntity)]
#[spec(table = "accounts", rename_all = "camelCase")]
pub struct Account {
    #[spec(primary_key, generated)]
    pub id: i32,
    pub email: String,
    pub display_name: Option<String>,
    #[spec(read_only, default = "0")]
    pub login_count: i64,
}

/// Refers to an account (foreign-key conflict); a UUID primary key set by the client.
#[derive(Debug, Clone, SpecEntity)]
#[spec(schema = "app", entity = "notes")]
pub struct Note {
    #[spec(primary_key)]
    pub key: Uuid,
    pub account_id: i32,
    pub body: String,
}

/// Read-only entity.
#[derive(Debug, Clone, SpecEntity)]
#[spec(read_only, table = "audit")]
pub struct AuditEntry {
    pub id: i64,
    pub line: String,
}
