//! A borrowed connection of either backend and the statements run on it.

use sqlx::{Connection, PgConnection, SqliteConnection};

use super::bind::{pg_query, sqlite_query};
use super::errors::classify;
use crate::entity::EntityDef;
use crate::error::{Error, Result};
use crate::query::SqlBuilder;
use crate::sql::Dialect;
use crate::value::Value;

/// A borrowed connection of either backend: what the engine runs statements on.
#[derive(Debug)]
pub enum Conn<'a> {
    /// SQLite.
    Sqlite(&'a mut SqliteConnection),
    /// PostgreSQL.
    Postgres(&'a mut PgConnection),
}

impl Conn<'_> {
    /// Reborrows.
    pub fn reborrow(&mut self) -> Conn<'_> {
        match self {
            Conn::Sqlite(c) => Conn::Sqlite(c),
            Conn::Postgres(c) => Conn::Postgres(c),
        }
    }

    /// Runs a statement without parameters or results.
    pub async fn execute(&mut self, sql: &str) -> Result<()> {
        match self {
            Conn::Sqlite(c) => sqlx::raw_sql(sql).execute(&mut **c).await.map(drop),
            Conn::Postgres(c) => sqlx::raw_sql(sql).execute(&mut **c).await.map(drop),
        }
        .map_err(classify)
    }

    /// Runs one statement with `params` bound in order to `$1`, `$2`, … (both backends) and
    /// returns the number of rows it changed. NULL is bound as text; cast it where the column's
    /// type differs (`CAST($1 AS INTEGER)`).
    pub async fn execute_with(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        match self {
            Conn::Sqlite(c) => {
                let b = SqlBuilder::raw(Dialect::Sqlite, sql, params);
                sqlite_query(&b).execute(&mut **c).await.map(|r| r.rows_affected())
            }
            Conn::Postgres(c) => {
                let b = SqlBuilder::raw(Dialect::Postgres, sql, params);
                pg_query(&b).execute(&mut **c).await.map(|r| r.rows_affected())
            }
        }
        .map_err(classify)
    }

    /// Runs a query with `params` bound to `$1`, `$2`, … and returns the first column of its
    /// first row as text, if there is a row (for queries of one row at most).
    pub(crate) async fn fetch_text(&mut self, sql: &str, params: &[Value]) -> Result<Option<String>> {
        Ok(self.fetch_texts(sql, params).await?.into_iter().next())
    }

    /// Runs a query with `params` bound to `$1`, `$2`, … and returns the first column of every
    /// row as text.
    pub(crate) async fn fetch_texts(&mut self, sql: &str, params: &[Value]) -> Result<Vec<String>> {
        use sqlx::Row;
        match self {
            Conn::Sqlite(c) => {
                let b = SqlBuilder::raw(Dialect::Sqlite, sql, params);
                let rows = sqlite_query(&b).fetch_all(&mut **c).await.map_err(classify)?;
                rows.iter().map(|r| r.try_get::<String, _>(0)).collect::<std::result::Result<_, _>>()
            }
            Conn::Postgres(c) => {
                let b = SqlBuilder::raw(Dialect::Postgres, sql, params);
                let rows = pg_query(&b).fetch_all(&mut **c).await.map_err(classify)?;
                rows.iter().map(|r| r.try_get::<String, _>(0)).collect::<std::result::Result<_, _>>()
            }
        }
        .map_err(classify)
    }

    /// Checks that the connection is alive.
    pub async fn ping(&mut self) -> Result<()> {
        match self {
            Conn::Sqlite(c) => c.ping().await,
            Conn::Postgres(c) => c.ping().await,
        }
        .map_err(classify)
    }

    /// Runs a query and decodes every row into the entity's column values.
    pub(crate) async fn fetch_rows(&mut self, def: &EntityDef, b: &SqlBuilder) -> Result<Vec<Vec<Value>>> {
        tracing::trace!(sql = %b.sql, params = b.params.len(), "query");
        match self {
            Conn::Sqlite(c) => {
                let rows = sqlite_query(b).fetch_all(&mut **c).await.map_err(classify)?;
                rows.iter().map(|r| def.decode_sqlite(r).map_err(Error::internal)).collect()
            }
            Conn::Postgres(c) => {
                let rows = pg_query(b).fetch_all(&mut **c).await.map_err(classify)?;
                rows.iter().map(|r| def.decode_postgres(r).map_err(Error::internal)).collect()
            }
        }
    }

    /// Runs a query returning one integer (a count).
    pub(crate) async fn fetch_count(&mut self, b: &SqlBuilder) -> Result<i64> {
        use sqlx::Row;
        tracing::trace!(sql = %b.sql, params = b.params.len(), "count");
        match self {
            Conn::Sqlite(c) => sqlite_query(b).fetch_one(&mut **c).await.and_then(|r| r.try_get::<i64, _>(0)),
            Conn::Postgres(c) => pg_query(b).fetch_one(&mut **c).await.and_then(|r| r.try_get::<i64, _>(0)),
        }
        .map_err(classify)
    }
}
