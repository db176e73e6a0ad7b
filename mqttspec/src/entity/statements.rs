//! The fixed SQL of an entity, built by the runtime from its metadata once per entity and
//! dialect: the derive writes no SQL.

use std::fmt::Write;

use super::EntityMeta;
use crate::sql::{Dialect, push_ident, quoted};

/// The fixed statements of one entity in one SQL dialect.
#[derive(Debug)]
pub struct Statements {
    /// The qualified, quoted table name.
    pub table: String,
    /// Every column, quoted, comma-separated.
    pub columns: String,
    /// `SELECT <columns> FROM <table>`.
    pub select: String,
    /// `SELECT ... WHERE <pk> = <p1>`.
    pub select_by_pk: String,
    /// `DELETE FROM <table> WHERE <pk> = <p1>`.
    pub delete_by_pk: String,
    /// ` RETURNING <columns>`.
    pub returning: String,
    /// `SELECT COUNT(*) FROM <table>`.
    pub count: String,
    /// `INSERT INTO <table>`.
    pub insert_into: String,
    /// `UPDATE <table> SET `.
    pub update: String,
}

/// The fixed statements of one entity in both dialects.
#[derive(Debug)]
pub struct EntitySql {
    sqlite: Statements,
    postgres: Statements,
}

impl EntitySql {
    /// Builds both dialects' statements.
    pub fn new(meta: &EntityMeta) -> Self {
        Self { sqlite: Statements::new(meta, Dialect::Sqlite), postgres: Statements::new(meta, Dialect::Postgres) }
    }

    /// The statements of `dialect`.
    pub fn get(&self, dialect: Dialect) -> &Statements {
        match dialect {
            Dialect::Sqlite => &self.sqlite,
            Dialect::Postgres => &self.postgres,
        }
    }
}

impl Statements {
    fn new(meta: &EntityMeta, dialect: Dialect) -> Self {
        let table = match dialect {
            Dialect::Sqlite => quoted(meta.table),
            Dialect::Postgres => format!("{}.{}", quoted(meta.schema), quoted(meta.table)),
        };
        let p1 = match dialect {
            Dialect::Sqlite => "?1",
            Dialect::Postgres => "$1",
        };
        let mut columns = String::new();
        for (i, c) in meta.columns.iter().enumerate() {
            if i > 0 {
                columns.push_str(", ");
            }
            push_ident(&mut columns, c.name);
        }
        let pk = quoted(meta.pk().name);
        let select = format!("SELECT {columns} FROM {table}");
        let mut select_by_pk = select.clone();
        let _ = write!(select_by_pk, " WHERE {pk} = {p1}");
        Self {
            delete_by_pk: format!("DELETE FROM {table} WHERE {pk} = {p1}"),
            returning: format!(" RETURNING {columns}"),
            count: format!("SELECT COUNT(*) FROM {table}"),
            insert_into: format!("INSERT INTO {table}"),
            update: format!("UPDATE {table} SET "),
            select,
            select_by_pk,
            table,
            columns,
        }
    }
}
