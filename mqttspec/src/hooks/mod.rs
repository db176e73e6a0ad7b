//! Lifecycle hooks: the 17 hook points of PROTOCOL §8, their context, and their registry.
//!
//! Declare a hook with `#[mqttspec::hook(before_create, entity = User, priority = 10)]` on an
//! `async fn(ctx: &mut HookContext) -> mqttspec::Result<()>`; it registers itself through
//! `inventory`. Or add one at run time with [`ServerBuilder::hook`](crate::ServerBuilder::hook)
//! and [`hook_fn`].

mod context;
mod registry;

pub use crate::session::Client;
pub use context::HookContext;
pub use registry::{Hook, HookRegistration, HookRegistry, HookSpec, hook_fn};

/// Where a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HookPoint {
    /// Every request, after parsing and before anything else; an error refuses it.
    BeforeHandle,
    /// Before a read (and at subscribe time): may change filters, sort, limit, target.
    BeforeRead,
    /// After a read (and on each notification's row): may change or drop the result.
    AfterRead,
    /// Before a create (per record): may change the data.
    BeforeCreate,
    /// After a create, inside the transaction.
    AfterCreate,
    /// Before an update: may change the data, the target and the guard filters.
    BeforeUpdate,
    /// After an update, inside the transaction.
    AfterUpdate,
    /// Before a delete: may change the target and the guard filters.
    BeforeDelete,
    /// After a delete, inside the transaction.
    AfterDelete,
    /// Before a subscription is created.
    BeforeSubscribe,
    /// After a subscription is created.
    AfterSubscribe,
    /// Before a subscription is cancelled.
    BeforeUnsubscribe,
    /// After a subscription is cancelled.
    AfterUnsubscribe,
    /// At MQTT CONNECT (embedded broker); an error refuses the connection.
    BeforeConnect,
    /// After a client connected.
    AfterConnect,
    /// When a client's disconnect is seen, before its subscriptions are removed.
    BeforeDisconnect,
    /// After a client's subscriptions were removed.
    AfterDisconnect,
}

impl HookPoint {
    /// Every hook point.
    pub const ALL: [HookPoint; 17] = [
        Self::BeforeHandle,
        Self::BeforeRead,
        Self::AfterRead,
        Self::BeforeCreate,
        Self::AfterCreate,
        Self::BeforeUpdate,
        Self::AfterUpdate,
        Self::BeforeDelete,
        Self::AfterDelete,
        Self::BeforeSubscribe,
        Self::AfterSubscribe,
        Self::BeforeUnsubscribe,
        Self::AfterUnsubscribe,
        Self::BeforeConnect,
        Self::AfterConnect,
        Self::BeforeDisconnect,
        Self::AfterDisconnect,
    ];

    /// The snake_case name used in `#[hook(...)]`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BeforeHandle => "before_handle",
            Self::BeforeRead => "before_read",
            Self::AfterRead => "after_read",
            Self::BeforeCreate => "before_create",
            Self::AfterCreate => "after_create",
            Self::BeforeUpdate => "before_update",
            Self::AfterUpdate => "after_update",
            Self::BeforeDelete => "before_delete",
            Self::AfterDelete => "after_delete",
            Self::BeforeSubscribe => "before_subscribe",
            Self::AfterSubscribe => "after_subscribe",
            Self::BeforeUnsubscribe => "before_unsubscribe",
            Self::AfterUnsubscribe => "after_unsubscribe",
            Self::BeforeConnect => "before_connect",
            Self::AfterConnect => "after_connect",
            Self::BeforeDisconnect => "before_disconnect",
            Self::AfterDisconnect => "after_disconnect",
        }
    }
}

impl std::fmt::Display for HookPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
