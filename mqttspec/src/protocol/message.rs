//! Parsing of a request payload into an envelope (PROTOCOL §2, §9): every wrong shape becomes
//! an error with the right code, and the message `id` is recovered whenever it can be.

use serde_json::{Map, Value as Json};

use crate::error::{Error, ErrorCode};
use crate::operation::Operation;
use crate::value::json_kind;

/// `type` of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    /// `request`
    Request,
    /// `subscription`
    Subscription,
    /// `ping`
    Ping,
}

/// A parsed request envelope.
#[derive(Debug, Clone)]
pub struct Envelope {
    /// `id` (`""` for a ping without one).
    pub id: String,
    /// `type`.
    pub kind: MessageType,
    /// `operation` (absent for ping).
    pub operation: Option<Operation>,
    /// `schema`.
    pub schema: Option<String>,
    /// `entity`.
    pub entity: Option<String>,
    /// `record_id` (a string or a number).
    pub record_id: Option<Json>,
    /// `data`.
    pub data: Option<Json>,
    /// `options` (an object, or absent).
    pub options: Option<Json>,
    /// `subscription_id`, top-level or inside `data`.
    pub subscription_id: Option<String>,
}

/// Parses a payload. On error, returns the recovered `id` (or `""`) with the error.
pub fn parse_envelope(payload: &[u8]) -> Result<Envelope, (String, Error)> {
    let invalid = |id: &str, message: String| (id.to_owned(), Error::new(ErrorCode::InvalidMessage, message));
    let json = serde_json::from_slice::<Strict>(payload).map(|s| s.0).map_err(|e| {
        let message = if e.is_data() { format!("ambiguous JSON: {e}") } else { format!("payload is not JSON: {e}") };
        invalid(&recover_id(payload), message)
    })?;
    let Json::Object(mut object) = json else {
        return Err(invalid("", format!("payload must be a JSON object, got {}", json_kind(&json))));
    };
    let id = match object.remove("id") {
        None | Some(Json::Null) => None,
        Some(Json::String(id)) => Some(id),
        Some(other) => return Err(invalid("", format!("`id` must be a string, got {}", json_kind(&other)))),
    };
    let rid = id.clone().unwrap_or_default();
    let kind = match object.get("type") {
        None | Some(Json::Null) => return Err(invalid(&rid, "`type` is required".into())),
        Some(Json::String(t)) => match t.to_ascii_lowercase().as_str() {
            "request" => MessageType::Request,
            "subscription" => MessageType::Subscription,
            "ping" => MessageType::Ping,
            _ => {
                let message = format!("unknown message type `{}`", crate::value::clip(t));
                return Err((rid, Error::new(ErrorCode::InvalidMessageType, message)));
            }
        },
        Some(other) => return Err(invalid(&rid, format!("`type` must be a string, got {}", json_kind(other)))),
    };
    if kind == MessageType::Ping {
        return Ok(Envelope {
            id: rid,
            kind,
            operation: None,
            schema: None,
            entity: None,
            record_id: None,
            data: None,
            options: None,
            subscription_id: None,
        });
    }
    let Some(id) = id else {
        return Err(invalid("", "`id` is required".into()));
    };
    if id.is_empty() {
        return Err(invalid("", "`id` must not be empty".into()));
    }
    let text = |object: &mut Map<String, Json>, key: &str| -> Result<Option<String>, (String, Error)> {
        match object.remove(key) {
            None | Some(Json::Null) => Ok(None),
            Some(Json::String(s)) => Ok(Some(s)),
            Some(other) => Err(invalid(&id, format!("`{key}` must be a string, got {}", json_kind(&other)))),
        }
    };
    let operation_name = text(&mut object, "operation")?;
    let operation = match (operation_name, kind) {
        (Some(name), _) => Some(Operation::parse(&name).ok_or_else(|| {
            (
                id.clone(),
                Error::new(ErrorCode::InvalidOperation, format!("unknown operation `{}`", crate::value::clip(&name))),
            )
        })?),
        (None, MessageType::Subscription) => Some(Operation::Subscribe),
        (None, _) => return Err(invalid(&id, "`operation` is required".into())),
    };
    if kind == MessageType::Subscription && !matches!(operation, Some(Operation::Subscribe | Operation::Unsubscribe)) {
        return Err((
            id,
            Error::new(ErrorCode::InvalidOperation, "a `subscription` message carries `subscribe` or `unsubscribe`"),
        ));
    }
    let schema = text(&mut object, "schema")?;
    let entity = text(&mut object, "entity")?;
    let record_id = match object.remove("record_id") {
        None | Some(Json::Null) => None,
        Some(v @ (Json::String(_) | Json::Number(_))) => Some(v),
        Some(other) => {
            return Err(invalid(&id, format!("`record_id` must be a string or a number, got {}", json_kind(&other))));
        }
    };
    let data = object.remove("data").filter(|d| !d.is_null());
    let options = match object.remove("options") {
        None | Some(Json::Null) => None,
        Some(v @ Json::Object(_)) => Some(v),
        Some(other) => return Err(invalid(&id, format!("`options` must be an object, got {}", json_kind(&other)))),
    };
    let mut subscription_id = text(&mut object, "subscription_id")?;
    if subscription_id.is_none()
        && let Some(Json::String(s)) = data.as_ref().and_then(|d| d.get("subscription_id"))
    {
        subscription_id = Some(s.clone());
    }
    let operation_needs_entity = !matches!(operation, Some(Operation::Meta | Operation::Unsubscribe));
    if entity.is_none() && operation_needs_entity {
        return Err(invalid(&id, "`entity` is required".into()));
    }
    Ok(Envelope { id, kind, operation, schema, entity, record_id, data, options, subscription_id })
}

/// The top-level `"id"` string of a payload that does not parse as a whole (truncated, invalid
/// UTF-8 elsewhere, a number out of range, nested too deep...), or `""`.
pub fn recover_id(payload: &[u8]) -> String {
    let mut depth = 0usize;
    let mut i = 0;
    while i < payload.len() {
        match payload[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'"' => {
                let Some(end) = string_end(payload, i) else { break };
                if depth == 1 && &payload[i..=end] == b"\"id\"" {
                    let mut j = skip_space(payload, end + 1);
                    if payload.get(j) == Some(&b':') {
                        j = skip_space(payload, j + 1);
                        if payload.get(j) == Some(&b'"')
                            && let Some(close) = string_end(payload, j)
                        {
                            return serde_json::from_slice::<String>(&payload[j..=close]).unwrap_or_default();
                        }
                    }
                    return String::new();
                }
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    String::new()
}

/// Index of the quote that closes the string opening at `start`.
fn string_end(payload: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < payload.len() {
        match payload[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

fn skip_space(payload: &[u8], mut i: usize) -> usize {
    while payload.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

/// JSON that names no key twice in an object, at any depth: `{"id":"1","id":"2"}` means two
/// different things to different parsers (serde_json keeps the last, others the first), so it is
/// refused instead of guessed at.
struct Strict(Json);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut access: A) -> Result<Json, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!(
                    "the key `{}` appears twice",
                    crate::value::clip(&key)
                )));
            }
            let Strict(value) = access.next_value()?;
            map.insert(key, value);
        }
        Ok(Json::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_of_a_broken_payload_is_recovered() {
        let cases: [(&[u8], &str); 9] = [
            (br#"{"id":"tg1","type":"ping"} xyz"#, "tg1"),
            (br#"{"id":"trunc1","type":"request","operation":"read""#, "trunc1"),
            (br#"{"id": "bt1", type: ping}"#, "bt1"),
            (b"{\"x\":\"\xff\xfe\",\"id\":\"u1\"}", "u1"),
            (br#"{"data":{"id":"inner"},"n":1e400,"id":"outer"}"#, "outer"),
            (br#"{"s":"a \" \"id\":\"fake\"","id":"real","#, "real"),
            (br#"[{"id":"in-array"}]"#, ""),
            (br#"{"id":5,"#, ""),
            (b"\xff\xfe", ""),
        ];
        for (payload, id) in cases {
            assert_eq!(recover_id(payload), id, "{}", String::from_utf8_lossy(payload));
            assert_eq!(parse_envelope(payload).unwrap_err().0, id);
        }
    }

    #[test]
    fn an_empty_id_is_refused() {
        let (id, error) = parse_envelope(br#"{"id":"","type":"request","operation":"meta"}"#).unwrap_err();
        assert_eq!((id.as_str(), error.code()), ("", ErrorCode::InvalidMessage));
        assert!(parse_envelope(br#"{"id":"","type":"ping"}"#).is_ok(), "a ping needs no id");
    }

    #[test]
    fn a_key_named_twice_is_refused_at_any_depth() {
        for payload in [
            &br#"{"id":"1","type":"request","operation":"read","id":"2"}"#[..],
            br#"{"id":"1","type":"request","operation":"create","entity":"u","data":{"name":"a","name":"b"}}"#,
            br#"{"id":"1","type":"request","operation":"read","options":{"filters":[{"column":"a","column":"b"}]}}"#,
        ] {
            let (id, error) = parse_envelope(payload).unwrap_err();
            assert_eq!((id.as_str(), error.code()), ("1", ErrorCode::InvalidMessage));
            assert!(error.message().contains("appears twice"), "{}", error.message());
        }
    }
}
