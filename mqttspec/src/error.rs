//! The one error type of mqttspec, classified by the wire error codes of the protocol.

use std::fmt;

/// The stable error codes a client sees in `error.code` (PROTOCOL §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// Not JSON, not an object, wrong envelope field types, missing fields, too large.
    InvalidMessage,
    /// `type` is not `request`, `subscription` or `ping`.
    InvalidMessageType,
    /// Unknown `operation`.
    InvalidOperation,
    /// Unknown entity, or an entity name that is ambiguous without `schema`.
    ModelNotFound,
    /// Bad column, operator, value, sort, limit or record data.
    ValidationError,
    /// Read-one, update or delete of a missing record.
    NotFound,
    /// Unique or foreign-key violation.
    Conflict,
    /// A `before_connect` / `before_handle` hook refused the client.
    Unauthorized,
    /// A hook refused the operation.
    Forbidden,
    /// Any other hook error.
    HookError,
    /// Unsubscribe of an unknown or foreign subscription.
    SubscriptionNotFound,
    /// The per-client subscription cap is reached.
    TooManySubscriptions,
    /// A `resume` asks for changes its subscription's log no longer holds: re-read, subscribe anew.
    ResyncRequired,
    /// The database cannot be reached or timed out; the client may retry.
    Unavailable,
    /// A bug; the cause is logged.
    InternalError,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::InvalidMessage => "invalid_message",
            Self::InvalidMessageType => "invalid_message_type",
            Self::InvalidOperation => "invalid_operation",
            Self::ModelNotFound => "model_not_found",
            Self::ValidationError => "validation_error",
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::HookError => "hook_error",
            Self::SubscriptionNotFound => "subscription_not_found",
            Self::TooManySubscriptions => "too_many_subscriptions",
            Self::ResyncRequired => "resync_required",
            Self::Unavailable => "unavailable",
            Self::InternalError => "internal_error",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error with a wire code, a message for the client, optional structured details, and an
/// optional source that is logged but never sent.
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Error {
    code: ErrorCode,
    message: String,
    details: Option<serde_json::Value>,
    #[source]
    source: Option<Source>,
}

impl Error {
    /// An error with a code and a client-facing message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), details: None, source: None }
    }

    /// `validation_error` with a message.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ValidationError, message)
    }

    /// `validation_error` naming the column at fault (`details.column`).
    pub fn invalid_column(column: &str, reason: impl fmt::Display) -> Self {
        Self::validation(format!("column `{column}`: {reason}")).with_details(serde_json::json!({ "column": column }))
    }

    /// `forbidden`: a hook refuses the operation.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// `unauthorized`: the client is not who it must be (a `before_connect` refusal, say).
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    /// `conflict`: the write collides with the data (a duplicate, a stale version).
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }

    /// `internal_error` keeping `source` for the log; the client sees only a generic message.
    pub fn internal(source: impl Into<Source>) -> Self {
        Self::new(ErrorCode::InternalError, "internal error").with_source(source)
    }

    /// Attaches structured details sent with the error.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    /// Replaces the client-facing message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// Attaches the underlying cause (logged, never sent).
    pub fn with_source(mut self, source: impl Into<Source>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The wire code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The client-facing message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Structured details, if any.
    pub fn details(&self) -> Option<&serde_json::Value> {
        self.details.as_ref()
    }

    /// The `error` object of a reply.
    pub fn to_json(&self) -> serde_json::Value {
        let mut error = serde_json::json!({ "code": self.code, "message": self.message });
        if let Some(details) = &self.details {
            error["details"] = details.clone();
        }
        error
    }
}

/// JSON that does not fit what a hook expected (`serde_json::from_value` of the request's data,
/// say) is the client's mistake: `validation_error`, with serde's description.
impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Self::validation(format!("invalid data: {e}"))
    }
}

/// What a panic said (its `&str` or `String` payload), for the log.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Runs user code that is not async (a credentials or ACL callback): a panic is logged and
/// becomes `None`, so the caller refuses instead of losing its task.
pub(crate) fn guard_sync<T>(what: &str, f: impl FnOnce() -> T) -> Option<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(value) => Some(value),
        Err(panic) => {
            tracing::error!(callback = what, panic = %panic_message(&*panic), "user callback panicked");
            None
        }
    }
}

/// A `Result` with mqttspec's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a server did not start. Kept apart from the wire's [`ErrorCode`]s: no client ever sees
/// these, and each names what to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A setting of the builder is unusable.
    #[error("{setting}: {problem}")]
    Setting {
        /// The builder setting.
        setting: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The entities clash, or there are none.
    #[error("entities: {}", .0.message())]
    Entities(#[source] Error),
    /// The database could not be opened, checked or prepared.
    #[error("database: {}", .0.message())]
    Database(#[source] Error),
    /// The broker could not start (embedded), or refused the server or a setting (external).
    #[error("broker: {}", .0.message())]
    Broker(#[source] Error),
}

impl StartError {
    /// The whole message (as `Display`).
    pub fn message(&self) -> String {
        self.to_string()
    }
}
