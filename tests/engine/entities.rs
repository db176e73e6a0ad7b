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

/// Column types of the application's own: an alias, a newtype and a text enum.
pub type Cents = i64;

#[derive(Debug, Clone, PartialEq)]
pub struct Email(pub String);
mqttspec::field_type!(Email(String));

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Priority {
    Low,
    High,
}

impl std::fmt::Display for Priority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Priority::Low => "low",
            Priority::High => "high",
        })
    }
}

impl std::str::FromStr for Priority {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "low" => Ok(Priority::Low),
            "high" => Ok(Priority::High),
            _ => Err("expected low or high".into()),
        }
    }
}
mqttspec::field_type!(Priority as text);

#[derive(Debug, Clone, SpecEntity)]
#[spec(table = "tickets")]
pub struct Ticket {
    #[spec(primary_key, generated)]
    pub id: i64,
    pub reporter: Email,
    pub budget: Cents,
    pub priority: Option<Priority>,
}
