//! Brokers behind one interface. The server sees inbound events through [`Gate`] (which it
//! implements) and sends through [`Publisher`]; nothing above this module knows which broker runs.

mod embedded;

use std::net::SocketAddr;

use bytes::Bytes;

pub use embedded::{EmbeddedBroker, EmbeddedConfig};

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
}

/// The answer to a connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectDecision {
    /// Accept.
    Accept,
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
#[derive(Debug, Clone)]
pub struct InboundRequest {
    /// The publishing client (from the MQTT session, never from the topic).
    pub client_id: String,
    /// Payload.
    pub payload: Bytes,
    /// MQTT 5 correlation data.
    pub correlation_data: Option<Bytes>,
    /// MQTT 5 response topic.
    pub response_topic: Option<String>,
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
    /// A session ended.
    async fn disconnected(&self, client_id: &str, session: u64);
    /// A request arrived (awaiting applies back-pressure to that client only). `false`: the
    /// server is closing and takes nothing more; the broker refuses the PUBLISH and drops the
    /// connection, so the client keeps the message unacknowledged and sends it again later.
    async fn request(&self, request: InboundRequest) -> bool;
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
    /// its socket closes). Notifications go only to connected clients (PROTOCOL §6).
    async fn is_connected(&self, client_id: &str) -> bool;
}
