//! The database: a pool of either backend, transactions, parameter binding and the mapping of
//! database errors onto wire error codes.

mod fold;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{Connection, PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool, Transaction};
use uuid::Uuid;

use crate::entity::{ColumnType, EntityDef};
use crate::error::{Error, ErrorCode, Result};
use crate::query::SqlBuilder;
use crate::sql::{Dialect, FOLD};
use crate::value::Value;

/// A connection pool to SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub enum Database {
    /// SQLite pool.
    Sqlite(SqlitePool),
    /// PostgreSQL pool.
    Postgres(PgPool),
}

impl Database {
    /// Connects by URL: `sqlite://file.db`, `sqlite::memory:`, `postgres://...`. A SQLite file is
    /// created when missing and runs in WAL mode with foreign keys on.
    pub async fn connect(url: &str) -> Result<Self> {
        let unavailable = |e: sqlx::Error| {
            Error::new(ErrorCode::Unavailable, format!("cannot connect to the database: {e}")).with_source(e)
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let options = PgConnectOptions::from_str(url).map_err(unavailable)?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(5))
                .connect_with(options)
                .await
                .map_err(unavailable)?;
            return Ok(Database::Postgres(pool));
        }
        if url.starts_with("sqlite:") {
            let memory = url.contains(":memory:") || url.contains("mode=memory");
            let options = SqliteConnectOptions::from_str(url)
                .map_err(unavailable)?
                .create_if_missing(true)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            let options = if memory { options } else { options.journal_mode(SqliteJournalMode::Wal) };
            let pool = SqlitePoolOptions::new()
                // An in-memory database exists once per connection: keep exactly one.
                .max_connections(if memory { 1 } else { 8 })
                .min_connections(if memory { 1 } else { 0 })
                .idle_timeout(if memory { None } else { Some(Duration::from_secs(600)) })
                .max_lifetime(if memory { None } else { Some(Duration::from_secs(1800)) })
                .acquire_timeout(Duration::from_secs(5))
                .after_connect(|conn, _| Box::pin(fold::register(conn)))
                .connect_with(options)
                .await
                .map_err(unavailable)?;
            return Ok(Database::Sqlite(pool));
        }
        Err(Error::new(
            ErrorCode::Unavailable,
            format!("unsupported database URL `{}`: use sqlite:… or postgres://…", crate::value::clip(url)),
        ))
    }

    /// The dialect of this backend.
    pub fn dialect(&self) -> Dialect {
        match self {
            Database::Sqlite(_) => Dialect::Sqlite,
            Database::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Creates the tables of these entities when they do not exist (handy for examples and tests;
    /// production schemas belong to migrations).
    pub async fn create_tables(&self, defs: &[EntityDef]) -> Result<()> {
        let mut conn = self.acquire().await?;
        for def in defs {
            if self.dialect() == Dialect::Postgres {
                let schema = format!("CREATE SCHEMA IF NOT EXISTS \"{}\"", def.meta.schema.replace('"', "\"\""));
                conn.conn().execute(&schema).await?;
            }
            conn.conn().execute(&def.create_table_sql(self.dialect())).await?;
        }
        Ok(())
    }

    /// Checks that the database answers and, for SQLite, that its connections carry the
    /// `mqttspec_fold` function that [`Database::connect`] registers (a pool built elsewhere lacks it).
    pub async fn check(&self) -> Result<()> {
        let mut conn = self.acquire().await?;
        match conn.conn() {
            Conn::Sqlite(c) => {
                let probe = format!("SELECT {FOLD}('A')");
                sqlx::raw_sql(&probe).execute(&mut *c).await.map(drop).map_err(|e| {
                    let message = format!("this SQLite pool lacks the {FOLD} function: open it with Database::connect");
                    Error::new(ErrorCode::Unavailable, message).with_source(e)
                })
            }
            mut other => other.ping().await,
        }
    }

    /// A pooled connection (for reads).
    pub async fn acquire(&self) -> Result<DbConn> {
        Ok(match self {
            Database::Sqlite(pool) => DbConn::Sqlite(pool.acquire().await.map_err(classify)?),
            Database::Postgres(pool) => DbConn::Postgres(pool.acquire().await.map_err(classify)?),
        })
    }

    /// Starts a write transaction (SQLite: `BEGIN IMMEDIATE`, so concurrent writers queue on the
    /// busy timeout instead of failing on lock upgrade).
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match self {
            Database::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await.map_err(classify)?),
            Database::Postgres(pool) => Tx::Postgres(pool.begin().await.map_err(classify)?),
        })
    }

    /// Closes the pool.
    pub async fn close(&self) {
        match self {
            Database::Sqlite(pool) => pool.close().await,
            Database::Postgres(pool) => pool.close().await,
        }
    }
}

/// A connection taken from the pool.
#[derive(Debug)]
pub enum DbConn {
    /// SQLite.
    Sqlite(PoolConnection<Sqlite>),
    /// PostgreSQL.
    Postgres(PoolConnection<Postgres>),
}

impl DbConn {
    /// Borrows the connection for the engine.
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            DbConn::Sqlite(c) => Conn::Sqlite(c),
            DbConn::Postgres(c) => Conn::Postgres(c),
        }
    }
}

/// An open transaction; dropped without `commit` it rolls back.
#[derive(Debug)]
pub enum Tx {
    /// SQLite.
    Sqlite(Transaction<'static, Sqlite>),
    /// PostgreSQL.
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    /// Borrows the transaction's connection for the engine.
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            Tx::Sqlite(t) => Conn::Sqlite(t),
            Tx::Postgres(t) => Conn::Postgres(t),
        }
    }

    /// Commits.
    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
        .map_err(classify)
    }

    /// Rolls back.
    pub async fn rollback(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.rollback().await,
            Tx::Postgres(t) => t.rollback().await,
        }
        .map_err(classify)
    }
}

/// A write's transaction, shared between the engine and the hooks that run inside the write.
#[derive(Debug, Clone)]
pub(crate) struct SharedTx(Arc<tokio::sync::Mutex<Tx>>);

impl SharedTx {
    pub(crate) fn new(tx: Tx) -> Self {
        Self(Arc::new(tokio::sync::Mutex::new(tx)))
    }

    /// The transaction, for the engine's own statements (no hook runs meanwhile, so it is free;
    /// a guard a hook leaked is an error, never a wait).
    pub(crate) fn engine(&self) -> Result<tokio::sync::MutexGuard<'_, Tx>> {
        self.0.try_lock().map_err(|_| Error::internal("a hook kept the write's transaction locked"))
    }

    /// The transaction, for a hook.
    pub(crate) async fn hook(&self) -> TxGuard<'_> {
        TxGuard(self.0.lock().await)
    }

    /// Commits; fails (the transaction then rolls back when its last handle drops) when a
    /// handle is still held elsewhere.
    pub(crate) async fn commit(self) -> Result<()> {
        match Arc::try_unwrap(self.0) {
            Ok(tx) => tx.into_inner().commit().await,
            Err(_) => Err(Error::internal("the write's transaction is still in use")),
        }
    }
}

/// A hook's use of a write's transaction, from
/// [`HookContext::transaction`](crate::HookContext::transaction); it cannot outlive the hook call.
#[derive(Debug)]
pub struct TxGuard<'a>(tokio::sync::MutexGuard<'a, Tx>);

impl TxGuard<'_> {
    /// The transaction's connection: run sqlx queries on it, or [`Conn::execute_with`].
    pub fn conn(&mut self) -> Conn<'_> {
        self.0.conn()
    }
}

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

type SqliteQuery<'q> = sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments<'q>>;
type PgQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

fn sqlite_query(b: &SqlBuilder) -> SqliteQuery<'_> {
    let mut query = sqlx::query(&b.sql);
    for (value, _) in &b.params {
        query = match value {
            Value::Null => query.bind(None::<String>),
            Value::Int(n) => query.bind(*n),
            Value::Float(f) => query.bind(*f),
            Value::Bool(v) => query.bind(*v),
            Value::Text(s) => query.bind(s.as_str()),
            Value::Timestamp(_) | Value::Date(_) | Value::Uuid(_) | Value::Json(_) => query.bind(value.sqlite_text()),
        };
    }
    query
}

fn pg_query(b: &SqlBuilder) -> PgQuery<'_> {
    let mut query = sqlx::query(&b.sql);
    for (value, ty) in &b.params {
        query = match value {
            Value::Null => match ty {
                ColumnType::Integer => query.bind(None::<i64>),
                ColumnType::Float => query.bind(None::<f64>),
                ColumnType::Boolean => query.bind(None::<bool>),
                ColumnType::Text => query.bind(None::<String>),
                ColumnType::Timestamp => query.bind(None::<DateTime<Utc>>),
                ColumnType::Date => query.bind(None::<NaiveDate>),
                ColumnType::Uuid => query.bind(None::<Uuid>),
                ColumnType::Json => query.bind(None::<sqlx::types::Json<serde_json::Value>>),
            },
            Value::Int(n) => query.bind(*n),
            Value::Float(f) => query.bind(*f),
            Value::Bool(v) => query.bind(*v),
            Value::Text(s) => query.bind(s.as_str()),
            Value::Timestamp(t) => query.bind(*t),
            Value::Date(d) => query.bind(*d),
            Value::Uuid(u) => query.bind(*u),
            Value::Json(v) => query.bind(sqlx::types::Json(v)),
        };
    }
    query
}

/// Maps a database error onto a wire code; the database's own text stays in the source.
pub(crate) fn classify(e: sqlx::Error) -> Error {
    use sqlx::error::ErrorKind;
    let error = match &e {
        sqlx::Error::Database(db) => match db.kind() {
            ErrorKind::UniqueViolation => {
                Error::new(ErrorCode::Conflict, "a record with the same unique value already exists")
            }
            ErrorKind::ForeignKeyViolation => {
                Error::new(ErrorCode::Conflict, "the change would break a reference between records")
            }
            ErrorKind::NotNullViolation => Error::validation("a required field is missing"),
            ErrorKind::CheckViolation => Error::validation("a value breaks a check constraint"),
            _ => {
                let code = db.code().unwrap_or_default();
                match code.as_ref() {
                    // SQLite: busy / locked.
                    "5" | "6" | "261" | "262" | "517" => {
                        Error::new(ErrorCode::Unavailable, "the database is busy; retry")
                    }
                    // PostgreSQL: connection, resources, shutdown, serialization.
                    c if c.starts_with("08")
                        || c.starts_with("53")
                        || c.starts_with("57")
                        || c == "40001"
                        || c == "40P01" =>
                    {
                        Error::new(ErrorCode::Unavailable, "the database is unavailable; retry")
                    }
                    // PostgreSQL: data exceptions (out of range, bad encoding, ...).
                    c if c.starts_with("22") => {
                        Error::validation("a value is out of range or malformed for its column")
                    }
                    _ => Error::new(ErrorCode::InternalError, "internal error"),
                }
            }
        },
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => Error::new(ErrorCode::Unavailable, "the database is unavailable; retry"),
        _ => Error::new(ErrorCode::InternalError, "internal error"),
    };
    error.with_source(e)
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        classify(e)
    }
}
