//! Brokers behind one interface. The server sees inbound events through [`Gate`] (which it
//! implements) and sends through [`Publisher`]; nothing above this module knows which broker runs.

mod embedded;
mod external;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

pub use embedded::{EmbeddedBroker, EmbeddedConfig, TlsFiles};
pub use external::{ExternalBroker, ExternalBrokerConfig, MqttVersion};

/// MQTT quality of service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum QoS {
    /// At most once (0).
    AtMostOnce,
    /// At least once (1).
    #[default]
    AtLeastOnce,
    /// Exactly once (2).
    ExactlyOnce,
}

/// A client asking to connect.
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    /// MQTT client identifier.
    pub client_id: String,
    /// MQTT username.
    pub username: Option<String>,
    /// MQTT password (as text, lossily decoded).
    pub password: Option<String>,
    /// Peer address.
    pub remote_addr: Option<SocketAddr>,
    /// Protocol level (4 = 3.1.1, 5 = 5.0).
    pub protocol: u8,
    /// Identifies this connection among reconnects of the same client id.
    pub session: u64,
    /// Whether the broker keeps the session after the connection ends (3.1.1 clean session off,
    /// MQTT 5 clean start off with a session expiry).
    pub persistent: bool,
}

/// The answer to a connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectDecision {
    /// Accept; whatever the broker keeps of an earlier session of this client id may resume.
    Accept,
    /// Accept, but start clean: the broker's earlier session of this client id (its queued
    /// messages, in-flight messages and subscriptions) belonged to another principal and is discarded.
    AcceptFresh,
    /// Unusable client identifier.
    IdentifierRejected,
    /// Bad username or password.
    BadCredentials,
    /// Refused (by a hook).
    NotAuthorized,
    /// The server is at its connection limit or shutting down.
    Unavailable,
}

/// A request published by a client on its own request topic.
#[derive(Debug)]
pub struct InboundRequest {
    /// The publishing client (from the MQTT session, never from the topic).
    pub client_id: String,
    /// Payload.
    pub payload: Bytes,
    /// MQTT 5 correlation data.
    pub correlation_data: Option<Bytes>,
    /// MQTT 5 response topic.
    pub response_topic: Option<String>,
    /// Acknowledges the request to the broker when dropped (external brokers: once it is answered).
    pub ack: Option<Ack>,
}

/// Runs once when dropped: the broker's acknowledgement of a request that the server is done with.
pub struct Ack(Option<Box<dyn FnOnce() + Send + Sync>>);

impl Ack {
    /// An acknowledgement that runs `send` when dropped.
    pub fn new(send: impl FnOnce() + Send + Sync + 'static) -> Self {
        Self(Some(Box::new(send)))
    }

    /// Drops without acknowledging: the broker keeps the message.
    pub fn abandon(mut self) {
        self.0 = None;
    }
}

impl Drop for Ack {
    fn drop(&mut self) {
        if let Some(send) = self.0.take() {
            send();
        }
    }
}

impl std::fmt::Debug for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ack")
    }
}

/// Whether the server can be reached through its broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Not connected yet.
    Connecting,
    /// Serving.
    Connected,
    /// The broker connection was lost; reconnecting with backoff.
    Reconnecting,
    /// Stopped (shut down, or reconnecting gave up).
    Stopped,
}

/// A broker the server serves through: the embedded one, or a connection to an external one.
#[async_trait::async_trait]
pub trait Transport: Send + Sync + std::fmt::Debug + 'static {
    /// Sends messages to clients.
    fn publisher(&self) -> Arc<dyn Publisher>;
    /// Follows the readiness of the broker connection.
    fn readiness(&self) -> tokio::sync::watch::Receiver<Readiness>;
    /// The embedded broker's TCP address (`None` with an external broker).
    fn tcp_addr(&self) -> Option<SocketAddr> {
        None
    }
    /// The embedded broker's WebSocket address.
    fn ws_addr(&self) -> Option<SocketAddr> {
        None
    }
    /// Takes no new connections or requests.
    async fn stop_accepting(&self);
    /// Waits (at most `deadline`) until what was handed to clients' sessions was delivered.
    async fn drain(&self, deadline: Duration);
    /// Ends every connection.
    async fn disconnect_all(&self);
}

/// A message to send.
#[derive(Debug, Clone)]
pub struct Outbound {
    /// Topic.
    pub topic: String,
    /// Payload.
    pub payload: Bytes,
    /// QoS.
    pub qos: QoS,
    /// MQTT 5 correlation data.
    pub correlation_data: Option<Bytes>,
}

/// What a broker reports upwards; implemented by the server.
#[async_trait::async_trait]
pub trait Gate: Send + Sync + 'static {
    /// A client connects (embedded broker): decide.
    async fn connect(&self, request: ConnectRequest) -> ConnectDecision;
    /// A connect was accepted and the session is up.
    async fn connected(&self, client_id: &str, session: u64);
    /// A connection ended (a persistent session may live on in the broker).
    async fn disconnected(&self, client_id: &str, session: u64);
    /// The broker forgot a session: clean disconnect, expiry or discard.
    async fn session_ended(&self, client_id: &str, session: u64);
    /// A request arrived (awaiting applies back-pressure). `Err` gives it back: the server is
    /// closing and takes nothing more; the broker leaves the message unacknowledged, so that it is
    /// sent again later (to this server's next run or to another instance).
    async fn request(&self, request: InboundRequest) -> std::result::Result<(), InboundRequest>;
    /// A request from a client that its first-request connect refused (external brokers): the
    /// server answers `unauthorized`.
    async fn refused(&self, request: InboundRequest);
    /// Committed changes published by another instance on the same broker ([`Publisher::broadcast`]).
    async fn remote_changes(&self, changes: Bytes);
    /// The instances sharing the broker changed: clients may have moved (see [`Publisher::serves`]).
    async fn ownership_changed(&self);
    /// Another instance left without handing over; this one cleans up after it.
    async fn instance_departed(&self, instance: &str);
    /// Whether a client may publish to a topic outside the protocol's namespace.
    fn allow_publish(&self, client_id: &str, topic: &str) -> bool;
    /// Whether a client may subscribe to a filter outside the protocol's namespace.
    fn allow_subscribe(&self, client_id: &str, filter: &str) -> bool;
}

/// Sends messages to clients.
#[async_trait::async_trait]
pub trait Publisher: Send + Sync + 'static {
    /// Publishes one message.
    async fn publish(&self, message: Outbound) -> crate::Result<()>;

    /// Whether the client is connected now (a client that sent DISCONNECT is not, even before
    /// its socket closes). Notifications are delivered only to connected clients; an absent one
    /// finds them in its subscriptions' logs (PROTOCOL §6).
    async fn is_connected(&self, client_id: &str) -> bool;

    /// Whether this instance serves `client_id` now (several instances on one broker share the
    /// clients; alone, it serves everyone).
    fn serves(&self, client_id: &str) -> bool {
        let _ = client_id;
        true
    }

    /// This instance's name among those sharing the broker (external brokers).
    fn instance(&self) -> Option<String> {
        None
    }

    /// Sends committed changes to the other instances on the same broker (none with the
    /// embedded broker).
    async fn broadcast(&self, changes: Bytes) -> crate::Result<()> {
        let _ = changes;
        Ok(())
    }
}
