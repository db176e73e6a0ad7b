//! Transactions: the engine's, and the one a write shares with its hooks.

use std::sync::Arc;

use sqlx::{Postgres, Sqlite};

use super::Conn;
use super::warm::Lease;
use crate::error::{Error, Result};

/// A connection taken from the pool; back in the pool when dropped.
#[derive(Debug)]
pub struct DbConn(pub(super) Leased);

#[derive(Debug)]
pub(super) enum Leased {
    Sqlite(Lease<Sqlite>),
    Postgres(Lease<Postgres>),
}

impl DbConn {
    /// Borrows the connection for the engine.
    pub fn conn(&mut self) -> Conn<'_> {
        match &mut self.0 {
            Leased::Sqlite(c) => Conn::Sqlite(c.conn()),
            Leased::Postgres(c) => Conn::Postgres(c.conn()),
        }
    }
}

/// An open transaction; dropped without `commit` it rolls back.
#[derive(Debug)]
pub struct Tx(pub(super) DbConn);

impl Tx {
    /// Borrows the transaction's connection for the engine.
    pub fn conn(&mut self) -> Conn<'_> {
        self.0.conn()
    }

    /// Commits.
    pub async fn commit(mut self) -> Result<()> {
        match &mut self.0.0 {
            Leased::Sqlite(c) => c.commit().await,
            Leased::Postgres(c) => c.commit().await,
        }
    }

    /// Rolls back.
    pub async fn rollback(mut self) -> Result<()> {
        match &mut self.0.0 {
            Leased::Sqlite(c) => c.rollback().await,
            Leased::Postgres(c) => c.rollback().await,
        }
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
