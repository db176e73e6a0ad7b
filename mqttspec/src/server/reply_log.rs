//! The durable half of idempotency: the reply of every write is stored in the database inside the
//! write's own transaction, so that a redelivered write is answered, not executed again, even
//! after a restart or by another instance (PROTOCOL §7). Reads are not logged: repeating one
//! changes nothing.
//!
//! The reply is the last statement of the write's transaction, inserted once: a second run of
//! the same request (a redelivery after a restart, or on another instance) finds it there and
//! rolls back (PostgreSQL makes it wait while the first run is in flight; SQLite has one writer
//! at a time). Such a run executes its statements (and hooks) before it finds out; it never
//! commits them. One statement per write: no separate claim up front.

use bytes::Bytes;

use crate::db::{Conn, Database};
use crate::error::Result;
use crate::value::Value;

const TABLE: &str = "mqttspec_replies";

/// Who sent a request: client id and principal (empty when there is none).
#[derive(Debug, Clone)]
pub(crate) struct Requester<'a> {
    pub client: &'a str,
    pub principal: Option<&'a str>,
    pub id: &'a str,
}

impl Requester<'_> {
    fn key(&self) -> [Value; 3] {
        [
            Value::Text(self.client.to_owned()),
            Value::Text(self.principal.unwrap_or_default().to_owned()),
            Value::Text(self.id.to_owned()),
        ]
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Creates the log's table when it is missing.
pub(crate) async fn create_table(db: &Database) -> Result<()> {
    let mut conn = db.acquire().await?;
    conn.conn()
        .execute(&format!(
            "CREATE TABLE IF NOT EXISTS {TABLE} (client_id TEXT NOT NULL, principal TEXT NOT NULL, \
             message_id TEXT NOT NULL, reply TEXT NOT NULL, created_at BIGINT NOT NULL, \
             PRIMARY KEY (client_id, principal, message_id))"
        ))
        .await
}

/// The stored reply of a write, if it committed.
pub(crate) async fn find(db: &Database, who: &Requester<'_>) -> Result<Option<Bytes>> {
    let mut conn = db.acquire().await?;
    let sql = format!("SELECT reply FROM {TABLE} WHERE client_id = $1 AND principal = $2 AND message_id = $3");
    Ok(conn.conn().fetch_text(&sql, &who.key()).await?.map(Bytes::from))
}

/// Logs the reply of a write inside its transaction, just before it commits; `false` when
/// another run of the same request committed first: this run must then roll back and answer
/// with that run's reply.
pub(crate) async fn record(conn: &mut Conn<'_>, who: &Requester<'_>, reply: &Bytes) -> Result<bool> {
    // Every write runs it: written once.
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "INSERT INTO {TABLE} (client_id, principal, message_id, reply, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (client_id, principal, message_id) DO NOTHING"
        )
    });
    let [client, principal, id] = who.key();
    let reply = Value::Text(String::from_utf8_lossy(reply).into_owned());
    Ok(conn.execute_with(&SQL, &[client, principal, id, reply, Value::Int(now_ms())]).await? == 1)
}

/// Forgets replies older than `window`.
pub(crate) async fn sweep(db: &Database, window: std::time::Duration) -> Result<u64> {
    let mut conn = db.acquire().await?;
    let before = now_ms() - window.as_millis() as i64;
    conn.conn().execute_with(&format!("DELETE FROM {TABLE} WHERE created_at < $1"), &[Value::Int(before)]).await
}
