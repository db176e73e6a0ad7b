//! # mqttspec
//!
//! Annotated Rust structs served as a database API over MQTT.
//!
//! `#[derive(SpecEntity)]` generates, at compile time, the column metadata, filter validation
//! inputs, fixed SQL statements and row decoding of an entity, and registers it with
//! `inventory`. The [`Engine`] executes the protocol's operations against SQLite or PostgreSQL.
//!
//! ```no_run
//! use mqttspec::SpecEntity;
//!
//! #[derive(Debug, SpecEntity)]
//! #[spec(schema = "public", table = "users")]
//! struct User {
//!     #[spec(primary_key, generated)]
//!     id: i64,
//!     name: String,
//!     email: String,
//!     status: Option<String>,
//! }
//! ```
//!
//! ## `#[spec(...)]` on the struct
//! | key | meaning |
//! |---|---|
//! | `schema = "s"` | schema (default `public`) |
//! | `table = "t"` | table (default: snake_case plural of the struct name) |
//! | `entity = "e"` | name on the wire (default: the table name) |
//! | `rename_all = "camelCase"` | column naming rule (serde's rule names) |
//! | `read_only`, `no_create`, `no_update`, `no_delete` | restrict writes |
//! | `crate = "path"` | where `mqttspec` is when the application re-exports it (also on `#[hook]`) |
//!
//! ## `#[spec(...)]` on a field
//! | key | meaning |
//! |---|---|
//! | `primary_key` | the key (default: the field named `id`) |
//! | `rename = "c"` | column name |
//! | `generated` | set by the database (autoincrement, default): may be omitted on create; a generated primary key is never set by clients |
//! | `default = "SQL"` | default for the generated `CREATE TABLE`; implies `generated` |
//! | `read_only` | returned, never written by clients (hooks may set it) |
//! | `write_only` | written, never returned, never filtered on |
//! | `filterable = false`, `sortable = false` | exclude from filters / sort |
//!
//! ## Field types and typed columns
//! A field's Rust type says everything about its column through [`FieldType`] (class,
//! nullability, range, SQL type per dialect, decoding): integers, floats, `bool`, `String`,
//! `chrono::DateTime<Utc>`, `chrono::NaiveDate`, `uuid::Uuid`, `serde_json::Value`, `Option` of
//! these, aliases, and your own types through [`field_type!`]. The derive also gives each field a
//! typed [`Column`] constant, whose conditions the compiler checks:
//!
//! ```no_run
//! # #[derive(mqttspec::SpecEntity)] struct User { id: i64, tenant_id: String, age: i32, name: String }
//! # fn f(ctx: &mut mqttspec::HookContext) -> mqttspec::Result<()> {
//! ctx.filter(User::TENANT_ID.eq("acme").and(User::AGE.between(18, 65).or(User::NAME.ilike("a%"))))?;
//! # Ok(()) }
//! ```
//!
//! ## Layers
//! Each module uses only the ones below it (`scripts/layers` checks that no two use each other):
//!
//! ```text
//! server        lifecycle, dispatch, workers, notifier, the broker gate
//!   transport   embedded rmqtt broker | external broker (rumqttc)  -> protocol
//!   subscription live subscriptions, their logs                      -> query, entity, session
//!   hooks       the 17 points, HookContext, the registry             -> engine, db, query, session
//! engine        read / create / update / delete / meta on one database -> db, query, protocol, entity
//! protocol      envelopes, replies, notifications, topics, `meta`    -> query, entity
//! db            pools, transactions, binding, error classification  -> query, entity, sql
//! query         filters, options, cursors, typed columns, matcher, WHERE rendering -> entity, sql
//! entity        metadata, FieldType, registry, fixed statements, DDL -> value, sql
//! value · sql · session · operation · error                          (leaves)
//! ```

// Lets the derive's generated `::mqttspec::…` paths resolve inside this crate's own tests.
#[cfg(test)]
extern crate self as mqttspec;

pub mod db;
pub mod engine;
pub mod entity;
mod error;
pub mod hooks;
mod operation;
pub mod protocol;
pub mod query;
mod server;
pub mod session;
mod sql;
pub mod subscription;
pub mod transport;
mod value;

pub use db::{Conn, Database, DatabaseOptions, TxGuard};
pub use engine::{Engine, Outcome, Request};
pub use entity::class;
pub use entity::{
    ColumnMeta, ColumnType, Entity, EntityDef, EntityMeta, EntityRegistry, EntitySql, FieldType, SqlTypes,
};
pub use error::{Error, ErrorCode, Result, StartError};
pub use hooks::{Client, HookContext, HookPoint};
pub use mqttspec_derive::{SpecEntity, hook};
pub use operation::Operation;
pub use query::{Column, Filter, Operand};
pub use server::{Access, AclCallback, CredentialsCallback, Health, Server, ServerBuilder};
pub use sql::Dialect;
pub use transport::{ExternalBrokerConfig, MqttVersion, QoS, Readiness};
pub use value::Value;

/// What generated code refers to; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::entity::{
        ColumnMeta, ColumnType, Entity, EntityDef, EntityMeta, EntityRegistration, EntitySql, FieldType, Operations,
        STUB_META, SqlTypes, parse_text,
    };
    pub use crate::hooks::{HookContext, HookPoint, HookRegistration};
    pub use crate::query::Column;
    pub use crate::{Error, Result, Value};
    pub use futures::future::BoxFuture;
    pub use inventory;
    pub use sqlx;
    pub use sqlx::error::BoxDynError;
    pub use sqlx::postgres::PgRow;
    pub use sqlx::sqlite::SqliteRow;
    pub use std::string::String;
    pub use std::sync::OnceLock;
    pub use std::vec;
    pub use std::vec::Vec;
}
