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
    let json: Json = serde_json::from_slice(payload).map_err(|e| invalid("", format!("payload is not JSON: {e}")))?;
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
