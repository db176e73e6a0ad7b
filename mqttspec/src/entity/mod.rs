//! Entities: the metadata `#[derive(SpecEntity)]` generates, and the registry that holds them.

pub mod class;
mod column_json;
mod ddl;
mod field;
mod registry;
mod statements;

use std::any::TypeId;

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

#[doc(hidden)]
pub use field::parse_text;
pub use field::{FieldType, SqlTypes};
pub use registry::{EntityRegistration, EntityRegistry};

pub use statements::{EntitySql, Statements};

use crate::Value;
use crate::error::Error;
pub use crate::value::ColumnType;

/// Generated description of one column.
#[derive(Debug)]
pub struct ColumnMeta {
    /// Column name in SQL and on the wire.
    pub name: &'static str,
    /// Rust field name.
    pub field: &'static str,
    /// Rust type as written.
    pub rust_type: &'static str,
    /// Type class (from the field's [`FieldType`]).
    pub ty: ColumnType,
    /// Smallest accepted integer (integer columns).
    pub min: i64,
    /// Largest accepted integer (integer columns).
    pub max: i64,
    /// `Option<T>` field.
    pub nullable: bool,
    /// The primary key column.
    pub primary_key: bool,
    /// Set by the database: may be left out on create.
    pub generated: bool,
    /// SQL default for the generated `CREATE TABLE`.
    pub default_sql: Option<&'static str>,
    /// Returned but never written by clients.
    pub read_only: bool,
    /// Written but never returned.
    pub write_only: bool,
    /// Usable in filters.
    pub filterable: bool,
    /// Usable in sort.
    pub sortable: bool,
    /// Column types for `CREATE TABLE` (from the field's [`FieldType`]).
    pub sql: SqlTypes,
    /// The field type's check of a client's non-NULL value ([`FieldType::check`]).
    pub check: fn(&Value) -> Result<(), String>,
}

/// Which writes an entity allows (reads, `meta` and subscriptions are always allowed).
#[derive(Debug, Clone, Copy)]
pub struct Operations {
    /// `create` allowed.
    pub create: bool,
    /// `update` allowed.
    pub update: bool,
    /// `delete` allowed.
    pub delete: bool,
}

/// Generated description of one entity.
#[derive(Debug)]
pub struct EntityMeta {
    /// Rust struct name.
    pub rust_name: &'static str,
    /// Schema name on the wire (and in PostgreSQL).
    pub schema: &'static str,
    /// Table name.
    pub table: &'static str,
    /// Entity name on the wire.
    pub name: &'static str,
    /// Columns in field order.
    pub columns: &'static [ColumnMeta],
    /// Index of the primary key in `columns`.
    pub primary_key: usize,
    /// Allowed writes.
    pub operations: Operations,
}

impl EntityMeta {
    /// The primary key column.
    pub fn pk(&self) -> &'static ColumnMeta {
        &self.columns[self.primary_key]
    }

    /// `schema.entity`, for messages and logs.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

/// Implemented by `#[derive(SpecEntity)]`; not meant to be implemented by hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an mqttspec entity",
    label = "add `#[derive(mqttspec::SpecEntity)]` to `{Self}`"
)]
pub trait Entity: Sized + Send + Sync + 'static {
    /// Columns and names.
    const META: &'static EntityMeta;
    /// The fixed SQL of this entity, built from `META` on first use.
    fn sql() -> &'static EntitySql;
    /// Decodes a SQLite row selected with `META.sqlite.columns`.
    fn decode_sqlite(row: &SqliteRow) -> Result<Self, sqlx::Error>;
    /// Decodes a PostgreSQL row selected with `META.postgres.columns`.
    fn decode_postgres(row: &PgRow) -> Result<Self, sqlx::Error>;
    /// The column values in column order.
    fn into_values(self) -> Vec<Value>;
    /// Builds the struct from column values in column order.
    fn from_values(values: Vec<Value>) -> Result<Self, Error>;
    /// Index of the column with this wire name.
    fn column_index(name: &str) -> Option<usize>;
}

/// A type-erased entity: its metadata and the generated functions the engine calls.
#[derive(Clone, Copy)]
pub struct EntityDef {
    /// Generated metadata.
    pub meta: &'static EntityMeta,
    decode_sqlite: fn(&SqliteRow) -> Result<Vec<Value>, sqlx::Error>,
    decode_postgres: fn(&PgRow) -> Result<Vec<Value>, sqlx::Error>,
    column_index: fn(&str) -> Option<usize>,
    sql: fn() -> &'static EntitySql,
    type_id: fn() -> TypeId,
}

impl std::fmt::Debug for EntityDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntityDef").field("entity", &self.meta.qualified_name()).finish()
    }
}

fn decode_sqlite_values<E: Entity>(row: &SqliteRow) -> Result<Vec<Value>, sqlx::Error> {
    E::decode_sqlite(row).map(E::into_values)
}

fn decode_postgres_values<E: Entity>(row: &PgRow) -> Result<Vec<Value>, sqlx::Error> {
    E::decode_postgres(row).map(E::into_values)
}

impl EntityDef {
    /// The definition of entity `E`.
    pub const fn of<E: Entity>() -> Self {
        Self {
            meta: E::META,
            decode_sqlite: decode_sqlite_values::<E>,
            decode_postgres: decode_postgres_values::<E>,
            column_index: E::column_index,
            sql: E::sql,
            type_id: TypeId::of::<E>,
        }
    }

    /// The column with this wire name.
    pub fn column(&self, name: &str) -> Option<(usize, &'static ColumnMeta)> {
        (self.column_index)(name).map(|i| (i, &self.meta.columns[i]))
    }

    /// The fixed statements of this entity in `dialect`.
    pub fn statements(&self, dialect: crate::sql::Dialect) -> &'static Statements {
        (self.sql)().get(dialect)
    }

    /// Identifies the entity's Rust type (metadata addresses are not unique: it is a `const`).
    pub fn key(&self) -> TypeId {
        (self.type_id)()
    }

    /// Whether both definitions describe the same entity type.
    pub fn same(&self, other: &EntityDef) -> bool {
        self.key() == other.key()
    }

    /// Whether this is the entity of Rust type `E`.
    pub fn is<E: Entity>(&self) -> bool {
        (self.type_id)() == TypeId::of::<E>()
    }

    pub(crate) fn decode_sqlite(&self, row: &SqliteRow) -> Result<Vec<Value>, sqlx::Error> {
        (self.decode_sqlite)(row)
    }

    pub(crate) fn decode_postgres(&self, row: &PgRow) -> Result<Vec<Value>, sqlx::Error> {
        (self.decode_postgres)(row)
    }

    /// The `CREATE TABLE IF NOT EXISTS` statement for this entity.
    pub fn create_table_sql(&self, dialect: crate::sql::Dialect) -> String {
        ddl::create_table(self, dialect)
    }

    /// The JSON object of a row as clients see it (write-only columns left out).
    pub fn row_json(&self, row: &[Value]) -> serde_json::Map<String, serde_json::Value> {
        self.meta
            .columns
            .iter()
            .zip(row)
            .filter(|(c, _)| !c.write_only)
            .map(|(c, v)| (c.name.to_owned(), v.to_json()))
            .collect()
    }
}

#[doc(hidden)]
pub const STUB_META: EntityMeta = EntityMeta {
    rust_name: "",
    schema: "",
    table: "",
    name: "",
    columns: &[],
    primary_key: 0,
    operations: Operations { create: false, update: false, delete: false },
};
