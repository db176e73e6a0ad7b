//! The database: a pool of either backend, transactions, parameter binding and the mapping of
//! database errors onto wire error codes.

mod bind;
mod conn;
mod errors;
mod fold;
mod tx;
mod warm;

pub use conn::Conn;
pub(crate) use tx::SharedTx;
pub use tx::{DbConn, Tx, TxGuard};

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool};

use crate::entity::EntityDef;
use crate::error::{Error, ErrorCode, Result};
use crate::sql::{Dialect, FOLD};
use tx::Leased;
use warm::Shelf;

/// A connection pool to SQLite or PostgreSQL. Connections stay warm between requests (see
/// `db/warm.rs`); build one with [`Database::connect`], or from a sqlx pool with `From`.
#[derive(Clone)]
pub struct Database(Backend);

#[derive(Clone)]
enum Backend {
    Sqlite(Arc<Shelf<Sqlite>>),
    Postgres(Arc<Shelf<Postgres>>),
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (size, idle) = self.pool_status();
        f.debug_struct("Database").field("dialect", &self.dialect()).field("size", &size).field("idle", &idle).finish()
    }
}

impl From<SqlitePool> for Database {
    /// A pool built elsewhere; [`Database::check`] refuses it at start when it lacks what
    /// [`Database::connect`] registers on each connection.
    fn from(pool: SqlitePool) -> Self {
        Database(Backend::Sqlite(Shelf::new(pool, false)))
    }
}

impl From<PgPool> for Database {
    /// A pool built elsewhere.
    fn from(pool: PgPool) -> Self {
        Database(Backend::Postgres(Shelf::new(pool, true)))
    }
}

/// How the pool behaves when the database is slow or gone.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DatabaseOptions {
    /// How long a request waits for a connection before it is answered `unavailable` (default 5 s).
    pub acquire_timeout: Duration,
    /// PostgreSQL: statements running longer are cancelled and answered `unavailable` (default
    /// none). SQLite has no such limit; its writers wait at most `acquire_timeout` for the lock.
    pub statement_timeout: Option<Duration>,
    /// Most connections open at once (default 16 for PostgreSQL, 8 for a SQLite file).
    pub max_connections: Option<u32>,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        Self { acquire_timeout: Duration::from_secs(5), statement_timeout: None, max_connections: None }
    }
}

impl DatabaseOptions {
    /// The acquire timeout.
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// The statement timeout (PostgreSQL).
    pub fn statement_timeout(mut self, timeout: Duration) -> Self {
        self.statement_timeout = Some(timeout);
        self
    }

    /// The pool size.
    pub fn max_connections(mut self, max: u32) -> Self {
        self.max_connections = Some(max.max(1));
        self
    }
}

impl Database {
    /// Connects by URL: `sqlite://file.db`, `sqlite::memory:`, `postgres://...`. A SQLite file is
    /// created when missing and runs in WAL mode with foreign keys on.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, &DatabaseOptions::default()).await
    }

    /// [`connect`](Self::connect) with pool options.
    pub async fn connect_with(url: &str, settings: &DatabaseOptions) -> Result<Self> {
        let unavailable = |e: sqlx::Error| {
            Error::new(ErrorCode::Unavailable, format!("cannot connect to the database: {e}")).with_source(e)
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let mut options = PgConnectOptions::from_str(url).map_err(unavailable)?;
            if let Some(timeout) = settings.statement_timeout {
                let millis = timeout.as_millis().max(1).to_string();
                options = options.options([("statement_timeout", millis.as_str())]);
            }
            let pool = PgPoolOptions::new()
                .max_connections(settings.max_connections.unwrap_or(16))
                .acquire_timeout(settings.acquire_timeout)
                .connect_with(options)
                .await
                .map_err(unavailable)?;
            return Ok(pool.into());
        }
        if url.starts_with("sqlite:") {
            let memory = url.contains(":memory:") || url.contains("mode=memory");
            let options = SqliteConnectOptions::from_str(url)
                .map_err(unavailable)?
                .create_if_missing(true)
                .foreign_keys(true)
                .busy_timeout(settings.acquire_timeout);
            let options = if memory { options } else { options.journal_mode(SqliteJournalMode::Wal) };
            let pool = SqlitePoolOptions::new()
                // An in-memory database exists once per connection: keep exactly one.
                .max_connections(if memory { 1 } else { settings.max_connections.unwrap_or(8) })
                .min_connections(if memory { 1 } else { 0 })
                .idle_timeout(if memory { None } else { Some(Duration::from_secs(600)) })
                .max_lifetime(if memory { None } else { Some(Duration::from_secs(1800)) })
                .acquire_timeout(settings.acquire_timeout)
                // A local file does not go stale between uses: no ping before every acquire
                // (it was one database round trip per request).
                .test_before_acquire(false)
                .after_connect(|conn, _| Box::pin(fold::register(conn)))
                .connect_with(options)
                .await
                .map_err(unavailable)?;
            return Ok(pool.into());
        }
        Err(Error::new(
            ErrorCode::Unavailable,
            format!("unsupported database URL `{}`: use sqlite:… or postgres://…", crate::value::clip(url)),
        ))
    }

    /// The dialect of this backend.
    pub fn dialect(&self) -> Dialect {
        match self.0 {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
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
        Ok(DbConn(match &self.0 {
            Backend::Sqlite(shelf) => Leased::Sqlite(shelf.lease().await?),
            Backend::Postgres(shelf) => Leased::Postgres(shelf.lease().await?),
        }))
    }

    /// Starts a write transaction (SQLite: `BEGIN IMMEDIATE`, so concurrent writers queue on the
    /// busy timeout instead of failing on lock upgrade).
    pub async fn begin(&self) -> Result<Tx> {
        let mut conn = self.acquire().await?;
        match &mut conn.0 {
            Leased::Sqlite(lease) => lease.begin(Some("BEGIN IMMEDIATE")).await?,
            Leased::Postgres(lease) => lease.begin(None).await?,
        }
        Ok(Tx(conn))
    }

    /// Connections the pool holds now, and how many of them are idle.
    pub fn pool_status(&self) -> (u32, usize) {
        match &self.0 {
            Backend::Sqlite(shelf) => shelf.status(),
            Backend::Postgres(shelf) => shelf.status(),
        }
    }

    /// Closes the pool (waits for the connections in use).
    pub async fn close(&self) {
        match &self.0 {
            Backend::Sqlite(shelf) => shelf.close().await,
            Backend::Postgres(shelf) => shelf.close().await,
        }
    }
}
