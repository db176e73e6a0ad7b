//! Reply and notification payloads (PROTOCOL §5, §6).

use serde_json::{Value as Json, json};

use crate::error::Error;

/// RFC 3339 UTC with milliseconds.
pub fn timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `{"id", "type": "response", "success": true, "data", "metadata"?, "timestamp"}`.
pub fn success_reply(id: &str, data: Json, metadata: Option<Json>) -> Json {
    let mut reply = json!({"id": id, "type": "response", "success": true, "data": data, "timestamp": timestamp()});
    if let Some(metadata) = metadata {
        reply["metadata"] = metadata;
    }
    reply
}

/// `{"id", "type": "response", "success": false, "error": {...}, "timestamp"}`.
pub fn error_reply(id: &str, error: &Error) -> Json {
    json!({"id": id, "type": "response", "success": false, "error": error.to_json(), "timestamp": timestamp()})
}

/// `{"id", "type": "pong", "success": true, "timestamp"}`.
pub fn pong(id: &str) -> Json {
    json!({"id": id, "type": "pong", "success": true, "timestamp": timestamp()})
}

/// A change notification.
pub fn notification(
    operation: &str,
    subscription_id: &str,
    schema: &str,
    entity: &str,
    data: Json,
    seq: u64,
    scope: &str,
) -> Json {
    json!({
        "type": "notification",
        "operation": operation,
        "subscription_id": subscription_id,
        "schema": schema,
        "entity": entity,
        "data": data,
        "seq": seq,
        "scope": scope,
        "timestamp": timestamp(),
    })
}

/// The end of a subscription the server could not keep (its instance stopped, or its client moved
/// to another instance): `{"type": "notification", "operation": "resync", "subscription_id",
/// "schema", "entity", "seq", "error": {"code": "resync_required", "message"}, "timestamp"}`.
/// `seq` is the last one sent; the client re-reads and subscribes anew.
pub fn resync_notice(subscription_id: &str, schema: &str, entity: &str, last_seq: u64, why: &str) -> Json {
    json!({
        "type": "notification",
        "operation": "resync",
        "subscription_id": subscription_id,
        "schema": schema,
        "entity": entity,
        "seq": last_seq,
        "error": {"code": "resync_required", "message": why},
        "timestamp": timestamp(),
    })
}
