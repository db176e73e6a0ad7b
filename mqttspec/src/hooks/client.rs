//! The connected client as hooks see it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value as Json};

/// A client: its MQTT identity and a metadata map that lives as long as the connection.
#[derive(Debug, Clone)]
pub struct Client(Arc<ClientInner>);

#[derive(Debug)]
struct ClientInner {
    id: String,
    username: Option<String>,
    password: Option<String>,
    remote_addr: Option<SocketAddr>,
    metadata: Mutex<Map<String, Json>>,
}

impl Client {
    /// A client with this identity.
    pub fn new(
        id: impl Into<String>,
        username: Option<String>,
        password: Option<String>,
        remote_addr: Option<SocketAddr>,
    ) -> Self {
        Self(Arc::new(ClientInner { id: id.into(), username, password, remote_addr, metadata: Mutex::new(Map::new()) }))
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

    /// A metadata value (set by hooks, e.g. claims of a token in `before_connect`).
    pub fn metadata(&self, key: &str) -> Option<Json> {
        self.lock().get(key).cloned()
    }

    /// Sets a metadata value.
    pub fn set_metadata(&self, key: impl Into<String>, value: Json) {
        self.lock().insert(key.into(), value);
    }

    /// A copy of the whole metadata map.
    pub fn metadata_map(&self) -> Map<String, Json> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Map<String, Json>> {
        // A panic while holding the lock leaves a usable map: recover it.
        self.0.metadata.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
