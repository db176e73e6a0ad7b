//! Which instance holds which subscription, in the database (external broker only): when an
//! instance dies, the survivor that adopts it tells each of its subscribers to resync.

use crate::db::Database;
use crate::error::Result;
use crate::value::Value;

const TABLE: &str = "mqttspec_subscriptions";

/// Creates the table when it is missing.
pub(crate) async fn create_table(db: &Database) -> Result<()> {
    let mut conn = db.acquire().await?;
    conn.conn()
        .execute(&format!(
            "CREATE TABLE IF NOT EXISTS {TABLE} (subscription_id TEXT PRIMARY KEY, client_id TEXT NOT NULL, \
             instance TEXT NOT NULL, schema_name TEXT NOT NULL, entity TEXT NOT NULL)"
        ))
        .await
}

/// A subscription this instance now holds.
pub(crate) async fn insert(
    db: &Database,
    id: &str,
    client: &str,
    instance: &str,
    schema: &str,
    entity: &str,
) -> Result<()> {
    let mut conn = db.acquire().await?;
    let sql = format!(
        "INSERT INTO {TABLE} (subscription_id, client_id, instance, schema_name, entity) VALUES ($1, $2, $3, $4, $5)"
    );
    let params = [id, client, instance, schema, entity].map(|t| Value::Text(t.to_owned()));
    conn.conn().execute_with(&sql, &params).await.map(drop)
}

/// Subscriptions that ended.
pub(crate) async fn delete(db: &Database, ids: &[String]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut conn = db.acquire().await?;
    for id in ids {
        let sql = format!("DELETE FROM {TABLE} WHERE subscription_id = $1");
        conn.conn().execute_with(&sql, &[Value::Text(id.clone())]).await?;
    }
    Ok(())
}

/// A departed instance's subscriptions, `(id, client, schema, entity)`; they are deleted.
pub(crate) async fn take_instance(db: &Database, instance: &str) -> Result<Vec<[String; 4]>> {
    let mut conn = db.acquire().await?;
    let sql = format!(
        "SELECT subscription_id || '/' || client_id || '/' || schema_name || '/' || entity FROM {TABLE} WHERE instance = $1"
    );
    let rows = conn.conn().fetch_texts(&sql, &[Value::Text(instance.to_owned())]).await?;
    conn.conn()
        .execute_with(&format!("DELETE FROM {TABLE} WHERE instance = $1"), &[Value::Text(instance.to_owned())])
        .await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let mut parts = row.splitn(4, '/');
            Some([
                parts.next()?.to_owned(),
                parts.next()?.to_owned(),
                parts.next()?.to_owned(),
                parts.next()?.to_owned(),
            ])
        })
        .collect())
}
