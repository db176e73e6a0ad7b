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

/// What the notifications of one change share; [`Notice::encode`] writes one subscription's
/// `{"type": "notification", "operation", "subscription_id", "schema", "entity", "data", "seq",
/// "scope", "timestamp"}`. `data` is the row's JSON text, serialized once per change and projection
/// rather than once per subscription.
#[derive(Debug, Clone, Copy)]
pub struct Notice<'a> {
    /// `create`, `update` or `delete`.
    pub operation: &'a str,
    /// The entity's schema.
    pub schema: &'a str,
    /// The entity.
    pub entity: &'a str,
    /// The row, as JSON text.
    pub data: &'a [u8],
    /// `enter`, `stay` or `leave`.
    pub scope: &'a str,
    /// When the change was notified ([`timestamp`]).
    pub timestamp: &'a str,
}

impl Notice<'_> {
    /// The notification for one subscription (keys in the order `serde_json` writes a map).
    pub fn encode(&self, subscription_id: &str, seq: u64) -> Vec<u8> {
        fn text(out: &mut Vec<u8>, key: &[u8], value: &str) {
            out.extend_from_slice(key);
            serde_json::to_writer(&mut *out, value).expect("a string serializes");
        }
        // Exact unless a string needs escapes: the payload is kept in the subscription's log.
        let strings = [self.entity, self.operation, self.schema, self.scope, subscription_id, self.timestamp];
        let capacity = self.data.len() + 132 + strings.iter().map(|s| s.len() + 2).sum::<usize>();
        let mut out = Vec::with_capacity(capacity);
        out.extend_from_slice(br#"{"data":"#);
        out.extend_from_slice(self.data);
        text(&mut out, br#","entity":"#, self.entity);
        text(&mut out, br#","operation":"#, self.operation);
        text(&mut out, br#","schema":"#, self.schema);
        text(&mut out, br#","scope":"#, self.scope);
        out.extend_from_slice(format!(r#","seq":{seq}"#).as_bytes());
        text(&mut out, br#","subscription_id":"#, subscription_id);
        text(&mut out, br#","timestamp":"#, self.timestamp);
        out.extend_from_slice(br#","type":"notification"}"#);
        out
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_encodes_as_the_json_it_stands_for() {
        let data = serde_json::to_vec(&json!({"id": 7, "name": "Zoë \"Z\""})).unwrap();
        let notice = Notice {
            operation: "update",
            schema: "public",
            entity: "users",
            data: &data,
            scope: "leave",
            timestamp: "2026-12-01T00:00:00.000Z",
        };
        let bytes = notice.encode("sub-\"1\"", 42);
        let parsed: Json = serde_json::from_slice(&bytes).expect("valid JSON");
        let expected = json!({
            "type": "notification", "operation": "update", "subscription_id": "sub-\"1\"", "schema": "public",
            "entity": "users", "data": {"id": 7, "name": "Zoë \"Z\""}, "seq": 42, "scope": "leave",
            "timestamp": "2026-12-01T00:00:00.000Z",
        });
        assert_eq!(parsed, expected);
        assert_eq!(bytes, serde_json::to_vec(&expected).unwrap(), "the same bytes as serde_json writes");
        // Kept in the subscription's log: no more than the seq's unused digits to spare (plus
        // what escaping added).
        assert!(bytes.capacity() <= bytes.len() + 20, "{}", bytes.capacity());
    }
}
