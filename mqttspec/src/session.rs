//! The session: who a connected client is (id, credentials, principal) and what the server keeps
//! for it while it is connected. Hooks and subscriptions both see it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value as Json};

/// A client: its MQTT identity and a metadata map that lives as long as the connection.
///
/// Its *principal* is who it is: by default its MQTT username; a `before_connect` hook that
/// authenticates a token sets it ([`set_principal`](Self::set_principal)) to the token's subject,
/// so that a refreshed token is the same principal. Whatever the server keeps for a client id
/// (queued replies and notifications, remembered replies, subscriptions) is handed only to a
/// connection of the same principal.
#[derive(Debug, Clone)]
pub struct Client(Arc<ClientInner>);

#[derive(Debug)]
struct ClientInner {
    id: String,
    username: Option<String>,
    password: Option<String>,
    remote_addr: Option<SocketAddr>,
    state: Mutex<State>,
    revoked: std::sync::atomic::AtomicBool,
}

#[derive(Debug, Default)]
struct State {
    metadata: Map<String, Json>,
    principal: Option<String>,
}

impl Client {
    /// A client with this identity.
    pub fn new(
        id: impl Into<String>,
        username: Option<String>,
        password: Option<String>,
        remote_addr: Option<SocketAddr>,
    ) -> Self {
        let state = Mutex::new(State { metadata: Map::new(), principal: username.clone() });
        let revoked = std::sync::atomic::AtomicBool::new(false);
        Self(Arc::new(ClientInner { id: id.into(), username, password, remote_addr, state, revoked }))
    }

    /// Ends this connection's access (an expired or withdrawn token, say): its later requests are
    /// answered `unauthorized`, and its subscriptions end: no notification reaches it any more.
    /// A new connection (with fresh credentials) starts over.
    pub fn revoke(&self) {
        self.0.revoked.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether [`revoke`](Self::revoke) was called.
    pub fn is_revoked(&self) -> bool {
        self.0.revoked.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The MQTT client identifier.
    pub fn id(&self) -> &str {
        &self.0.id
    }

    /// The MQTT username (often a token).
    pub fn username(&self) -> Option<&str> {
        self.0.username.as_deref()
    }

    /// The MQTT password, as text.
    pub fn password(&self) -> Option<&str> {
        self.0.password.as_deref()
    }

    /// The peer address, when known.
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.0.remote_addr
    }

    /// Who the client is (default: its MQTT username).
    pub fn principal(&self) -> Option<String> {
        self.lock().principal.clone()
    }

    /// Names the authenticated principal (a token's subject, say); set it in `before_connect`.
    pub fn set_principal(&self, principal: impl Into<String>) {
        self.lock().principal = Some(principal.into());
    }

    /// A metadata value (set by hooks, e.g. claims of a token in `before_connect`).
    pub fn metadata(&self, key: &str) -> Option<Json> {
        self.lock().metadata.get(key).cloned()
    }

    /// Sets a metadata value.
    pub fn set_metadata(&self, key: impl Into<String>, value: Json) {
        self.lock().metadata.insert(key.into(), value);
    }

    /// A copy of the whole metadata map.
    pub fn metadata_map(&self) -> Map<String, Json> {
        self.lock().metadata.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves usable state: recover it.
        self.0.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
