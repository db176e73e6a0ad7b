//! The operations of the protocol.

/// An operation named in a request (`operation`, case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Read one record or many.
    Read,
    /// Create one record or a batch.
    Create,
    /// Partial update of one record.
    Update,
    /// Delete one record.
    Delete,
    /// Describe one entity or all.
    Meta,
    /// Start a live subscription.
    Subscribe,
    /// End a subscription.
    Unsubscribe,
}

impl Operation {
    /// Parses an operation name, case-insensitively.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_lowercase().as_str() {
            "read" => Self::Read,
            "create" => Self::Create,
            "update" => Self::Update,
            "delete" => Self::Delete,
            "meta" => Self::Meta,
            "subscribe" => Self::Subscribe,
            "unsubscribe" => Self::Unsubscribe,
            _ => return None,
        })
    }

    /// The lower-case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Create => "create",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::Meta => "meta",
            Self::Subscribe => "subscribe",
            Self::Unsubscribe => "unsubscribe",
        }
    }

    /// Whether the operation changes data.
    pub const fn is_write(self) -> bool {
        matches!(self, Self::Create | Self::Update | Self::Delete)
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
