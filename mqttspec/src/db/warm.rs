//! Connections kept warm: taken from the sqlx pool once and handed from request to request.
//!
//! sqlx 0.8 pings every connection it gets back (a task spawned per release, one more database
//! round trip per request; on SQLite a hop to the connection's worker thread and back) and, for
//! PostgreSQL, pings again before handing it out. A profile of read-by-id on SQLite put 9 % of the
//! server's CPU in that release ping. Here a connection goes back on a shelf instead, and is only
//! pinged when it has been idle for a while (a PostgreSQL server may have restarted meanwhile).
//!
//! A connection whose lease saw a connection-level error (I/O, protocol, a crashed worker:
//! anything but an error the database answered) goes back to sqlx, which tests and closes it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::pool::PoolConnection;
use sqlx::{Connection, Pool, TransactionManager};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::errors::classify;
use crate::error::Result;

/// Connection-level errors seen so far (any connection): a lease during which this moved does
/// not put its connection back on the shelf.
static FAULTS: AtomicU64 = AtomicU64::new(0);

/// Counts a connection-level error (called by `classify`).
pub(super) fn fault(e: &sqlx::Error) {
    use sqlx::Error::*;
    if !matches!(
        e,
        Database(_)
            | RowNotFound
            | TypeNotFound { .. }
            | ColumnIndexOutOfBounds { .. }
            | ColumnNotFound(_)
            | ColumnDecode { .. }
            | Decode(_)
            | Encode(_)
            | InvalidArgument(_)
    ) {
        FAULTS.fetch_add(1, Ordering::Relaxed);
    }
}

/// A connection idle longer than this is pinged before it is handed out (PostgreSQL only: a
/// SQLite file does not go away).
const PING_AFTER: Duration = Duration::from_secs(2);

/// Connections older than this go back to sqlx, which closes them (as its `max_lifetime` would).
const MAX_LIFETIME: Duration = Duration::from_secs(1800);

struct Idle<DB: sqlx::Database> {
    conn: PoolConnection<DB>,
    born: Instant,
    since: Instant,
}

/// The idle connections of one pool, and a permit per connection the pool may open.
pub(crate) struct Shelf<DB: sqlx::Database> {
    pool: Pool<DB>,
    idle: Mutex<Vec<Idle<DB>>>,
    permits: Arc<Semaphore>,
    timeout: Duration,
    ping_idle: bool,
}

impl<DB: sqlx::Database> Shelf<DB> {
    pub(crate) fn new(pool: Pool<DB>, ping_idle: bool) -> Arc<Self> {
        let options = pool.options();
        let (max, timeout) = (options.get_max_connections() as usize, options.get_acquire_timeout());
        Arc::new(Self {
            pool,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(max)),
            timeout,
            ping_idle,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Idle<DB>>> {
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A connection: the most recently used idle one, else a new one from sqlx; waits at most
    /// the pool's acquire timeout for one to be free.
    pub(crate) async fn lease(self: &Arc<Self>) -> Result<Lease<DB>> {
        let permit = match tokio::time::timeout(self.timeout, self.permits.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) => return Err(classify(sqlx::Error::PoolClosed)),
            Err(_) => return Err(classify(sqlx::Error::PoolTimedOut)),
        };
        loop {
            let idle = self.lock().pop();
            let (conn, born) = match idle {
                Some(mut idle) => {
                    if self.ping_idle && idle.since.elapsed() >= PING_AFTER && idle.conn.ping().await.is_err() {
                        continue;
                    }
                    (idle.conn, idle.born)
                }
                None => (self.pool.acquire().await.map_err(classify)?, Instant::now()),
            };
            let faults = FAULTS.load(Ordering::Relaxed);
            return Ok(Lease { conn: Some(conn), born, faults, shelf: self.clone(), _permit: permit });
        }
    }

    /// Connections the pool holds, and how many of them are idle (on the shelf or in sqlx's pool).
    pub(crate) fn status(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle() + self.lock().len())
    }

    /// Hands every idle connection back to sqlx and closes the pool (which waits for the
    /// connections in use); no lease is granted afterwards.
    pub(crate) async fn close(&self) {
        self.permits.close();
        drop(std::mem::take(&mut *self.lock()));
        self.pool.close().await;
    }
}

/// A connection on loan from a [`Shelf`]; back on the shelf when dropped (a transaction left
/// open is rolled back first).
pub(crate) struct Lease<DB: sqlx::Database> {
    conn: Option<PoolConnection<DB>>,
    born: Instant,
    faults: u64,
    shelf: Arc<Shelf<DB>>,
    _permit: OwnedSemaphorePermit,
}

impl<DB: sqlx::Database> std::fmt::Debug for Lease<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease").field("born", &self.born).finish_non_exhaustive()
    }
}

impl<DB: sqlx::Database> Lease<DB> {
    pub(crate) fn conn(&mut self) -> &mut DB::Connection {
        self.conn.as_mut().expect("leased until dropped")
    }

    /// Opens a transaction (`statement`, else `BEGIN`); rolled back when the lease drops before
    /// [`commit`](Self::commit).
    pub(crate) async fn begin(&mut self, statement: Option<&'static str>) -> Result<()> {
        DB::TransactionManager::begin(self.conn(), statement.map(Into::into)).await.map_err(classify)
    }

    pub(crate) async fn commit(&mut self) -> Result<()> {
        DB::TransactionManager::commit(self.conn()).await.map_err(classify)
    }

    pub(crate) async fn rollback(&mut self) -> Result<()> {
        DB::TransactionManager::rollback(self.conn()).await.map_err(classify)
    }
}

impl<DB: sqlx::Database> Drop for Lease<DB> {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else { return };
        let faulted = FAULTS.load(Ordering::Relaxed) != self.faults;
        if faulted || self.born.elapsed() >= MAX_LIFETIME || self.shelf.permits.is_closed() {
            // sqlx rolls back, tests and keeps or closes it.
            return;
        }
        // Queued, one per open level: runs before the connection's next statement, whoever
        // leases it (as sqlx's own `Transaction` does when dropped).
        for _ in 0..DB::TransactionManager::get_transaction_depth(&conn) {
            DB::TransactionManager::start_rollback(&mut conn);
        }
        self.shelf.lock().push(Idle { conn, born: self.born, since: Instant::now() });
    }
}
