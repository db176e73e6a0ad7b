//! A server on a free port over a fresh database, and MQTT clients (rumqttc) that speak the protocol.

use std::collections::VecDeque;
use std::time::Duration;

use mqttspec::{Server, ServerBuilder, SpecEntity};
use rumqttc::{AsyncClient, ConnectReturnCode, Event, MqttOptions, Packet, QoS, SubscribeReasonCode};
use serde_json::{Value as Json, json};
use tokio::sync::mpsc;

use crate::broker::Mosquitto;
use crate::support::{Backend, fresh_database};

/// Which broker the server runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broker {
    /// The embedded rmqtt broker.
    Embedded,
    /// A Mosquitto started for the test with the shipped configuration (`deploy/mosquitto`);
    /// the server connects to it as user `mqttspec`, clients as user `client`.
    Mosquitto,
    /// The same, with the server's connection in MQTT 3.1.1.
    Mosquitto311,
}

/// A database and a broker.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    pub backend: Backend,
    pub broker: Broker,
}

impl From<Backend> for Setup {
    fn from(backend: Backend) -> Self {
        Self { backend, broker: Broker::Embedded }
    }
}

/// How long a test waits for a message that must come.
pub const WAIT: Duration = Duration::from_secs(10);
/// How long a test watches for a message that must not come.
pub const QUIET: Duration = Duration::from_millis(300);

/// The seed's model.
#[derive(Debug, Clone, PartialEq, SpecEntity)]
#[spec(schema = "public", table = "users")]
pub struct User {
    #[spec(primary_key, generated)]
    pub id: i64,
    pub name: String,
    pub email: String,
    pub status: Option<String>,
}

pub struct TestServer {
    pub server: Server,
    /// The port clients connect to (the embedded broker's, or Mosquitto's).
    pub port: u16,
    /// The server's database, for reading beside it.
    pub db: mqttspec::Database,
    pub broker: Broker,
    /// The Mosquitto of this test, stopped when the server is dropped.
    #[allow(dead_code)] // held for its lifetime; fault tests reach into it
    pub mosquitto: Option<Mosquitto>,
}

impl TestServer {
    pub async fn start(setup: impl Into<Setup>) -> Self {
        Self::start_with(setup, |b| b).await
    }

    pub async fn start_with(setup: impl Into<Setup>, configure: impl FnOnce(ServerBuilder) -> ServerBuilder) -> Self {
        let setup = setup.into();
        let db = fresh_database(setup.backend).await;
        Self::start_on(setup, db, configure).await
    }

    /// A server over an existing database (a restart, or a second instance).
    pub async fn start_on(
        setup: Setup,
        db: mqttspec::Database,
        configure: impl FnOnce(ServerBuilder) -> ServerBuilder,
    ) -> Self {
        let mut builder = Server::builder()
            .database(db.clone())
            .without_discovery()
            .without_discovered_hooks()
            .entity::<User>()
            .create_tables(true)
            .listen(([127, 0, 0, 1], 0).into());
        let mosquitto = match setup.broker {
            Broker::Embedded => None,
            Broker::Mosquitto | Broker::Mosquitto311 => {
                let mosquitto = Mosquitto::start();
                let mut config = mosquitto.server_config();
                if setup.broker == Broker::Mosquitto311 {
                    config = config.version(mqttspec::MqttVersion::V311);
                }
                builder = builder.external_broker(config);
                Some(mosquitto)
            }
        };
        let server = configure(builder).start().await.expect("server starts");
        assert_eq!(server.ready(WAIT).await, mqttspec::Readiness::Connected, "the server reaches its broker");
        let mut conn = db.acquire().await.unwrap();
        conn.conn().execute("CREATE UNIQUE INDEX IF NOT EXISTS users_email ON users (email)").await.unwrap();
        let port = match &mosquitto {
            Some(m) => m.port,
            None => server.local_addr().expect("embedded broker").port(),
        };
        Self { server, port, db, broker: setup.broker, mosquitto }
    }

    /// A connected client; with Mosquitto, as user `client` with a Last Will on its status topic.
    pub async fn client(&self, id: &str) -> TestClient {
        self.client_session(id, true).await
    }

    /// A connected client with a clean (`true`) or persistent session.
    pub async fn client_session(&self, id: &str, clean: bool) -> TestClient {
        let will = format!("spec/{id}/status");
        let (credentials, will) = match self.broker {
            Broker::Embedded => (None, None),
            Broker::Mosquitto | Broker::Mosquitto311 => (Some(crate::broker::CLIENT_LOGIN), Some(will.as_str())),
        };
        TestClient::connect_session(self.port, id, credentials, will, clean).await.expect("client connects")
    }

    /// Number of users in the table, read beside the server.
    pub async fn user_count(&self) -> usize {
        user_count(&self.server).await
    }
}

/// The builder of a plain embedded server: `User` over a fresh SQLite database, no discovered
/// entities or hooks, a free port.
pub async fn embedded_builder() -> ServerBuilder {
    Server::builder()
        .database(fresh_database(Backend::Sqlite).await)
        .without_discovery()
        .without_discovered_hooks()
        .entity::<User>()
        .create_tables(true)
        .listen(([127, 0, 0, 1], 0).into())
}

/// Number of users in `server`'s table, read through its engine (no MQTT).
pub async fn user_count(server: &Server) -> usize {
    let outcome = server
        .engine()
        .execute(mqttspec::Request {
            schema: None,
            entity: Some("users"),
            operation: mqttspec::Operation::Read,
            record_id: None,
            data: None,
            options: Some(&json!({"limit": 1, "count": "exact"})),
        })
        .await
        .unwrap();
    outcome.metadata.expect("a read's metadata")["total"].as_u64().expect("a total") as usize
}

#[derive(Debug)]
enum Incoming {
    Publish(String, Json),
    SubAck(Vec<SubscribeReasonCode>),
    PubAck,
}

/// A protocol client over rumqttc (MQTT 3.1.1).
pub struct TestClient {
    pub id: String,
    pub client: AsyncClient,
    rx: mpsc::UnboundedReceiver<Incoming>,
    pending: VecDeque<(String, Json)>,
    pub puback_count: usize,
    counter: u64,
    task: tokio::task::JoinHandle<()>,
}

impl TestClient {
    /// Connects; `Err` carries the CONNACK refusal.
    pub async fn connect(port: u16, id: &str, credentials: Option<(&str, &str)>) -> Result<Self, String> {
        Self::connect_with(port, id, credentials, None).await
    }

    /// Connects with an optional Last Will on `will` (topic); `Err` carries the CONNACK refusal.
    pub async fn connect_with(
        port: u16,
        id: &str,
        credentials: Option<(&str, &str)>,
        will: Option<&str>,
    ) -> Result<Self, String> {
        Self::connect_session(port, id, credentials, will, true).await
    }

    /// Connects with a clean (`true`) or persistent session. A CONNACK "server unavailable" is
    /// transient (rmqtt answers it to a reconnect racing the end of the client id's previous
    /// connection): the client connects again, as MQTT clients do.
    pub async fn connect_session(
        port: u16,
        id: &str,
        credentials: Option<(&str, &str)>,
        will: Option<&str>,
        clean: bool,
    ) -> Result<Self, String> {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            match Self::connect_once(port, id, credentials, will, clean).await {
                Err(refused) if refused == "ServiceUnavailable" && std::time::Instant::now() < deadline => {
                    tokio::task::yield_now().await;
                }
                outcome => return outcome,
            }
        }
    }

    async fn connect_once(
        port: u16,
        id: &str,
        credentials: Option<(&str, &str)>,
        will: Option<&str>,
        clean: bool,
    ) -> Result<Self, String> {
        let mut options = MqttOptions::new(id, "127.0.0.1", port);
        options.set_clean_session(clean);
        if let Some(topic) = will {
            // On the own status topic, the external brokers' convention; elsewhere a forgery attempt.
            let payload = if topic.ends_with("/status") { "offline" } else { r#"{"type":"response","success":true}"# };
            options.set_last_will(rumqttc::LastWill::new(topic, payload, QoS::AtLeastOnce, false));
        }
        if let Some((user, password)) = credentials {
            options.set_credentials(user, password);
        }
        Self::connect_options(options).await
    }

    /// Connects with these options (a TLS transport, say); the harness sets its own limits.
    pub async fn connect_options(mut options: MqttOptions) -> Result<Self, String> {
        let id = options.client_id();
        options.set_keep_alive(Duration::from_secs(30));
        options.set_max_packet_size(16 * 1024 * 1024, 16 * 1024 * 1024);
        options.set_request_channel_capacity(4096);
        options.set_inflight(1000);
        let (client, mut eventloop) = AsyncClient::new(options, 4096);
        let mut network = rumqttc::NetworkOptions::new();
        network.set_tcp_nodelay(true);
        eventloop.set_network_options(network);
        // The first event tells whether the connection was accepted.
        let first = tokio::time::timeout(WAIT, eventloop.poll()).await.map_err(|_| "no CONNACK".to_owned())?;
        match first {
            Ok(Event::Incoming(Packet::ConnAck(ack))) if ack.code == ConnectReturnCode::Success => {}
            Ok(other) => return Err(format!("unexpected first event {other:?}")),
            Err(rumqttc::ConnectionError::ConnectionRefused(code)) => return Err(format!("{code:?}")),
            Err(e) => return Err(e.to_string()),
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                let forwarded = match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let json = serde_json::from_slice(&p.payload)
                            .unwrap_or_else(|_| Json::String(String::from_utf8_lossy(&p.payload).into_owned()));
                        tx.send(Incoming::Publish(p.topic, json))
                    }
                    Ok(Event::Incoming(Packet::SubAck(ack))) => tx.send(Incoming::SubAck(ack.return_codes)),
                    Ok(Event::Incoming(Packet::PubAck(_))) => tx.send(Incoming::PubAck),
                    Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return,
                    Ok(_) => Ok(()),
                    Err(_) => return,
                };
                if forwarded.is_err() {
                    return;
                }
            }
        });
        Ok(Self { id, client, rx, pending: VecDeque::new(), puback_count: 0, counter: 0, task })
    }

    async fn next(&mut self, wait: Duration) -> Option<Incoming> {
        match tokio::time::timeout(wait, self.rx.recv()).await {
            Ok(Some(Incoming::PubAck)) => {
                self.puback_count += 1;
                Some(Incoming::PubAck)
            }
            Ok(message) => message,
            Err(_) => None,
        }
    }

    /// Subscribes and returns the SUBACK codes.
    pub async fn subscribe(&mut self, filter: &str) -> Vec<SubscribeReasonCode> {
        self.client.subscribe(filter, QoS::AtLeastOnce).await.unwrap();
        loop {
            match self.next(WAIT).await.expect("SUBACK") {
                Incoming::SubAck(codes) => return codes,
                Incoming::Publish(topic, json) => self.pending.push_back((topic, json)),
                Incoming::PubAck => {}
            }
        }
    }

    /// Subscribes to the client's own response and notify topics.
    pub async fn subscribe_own(&mut self) {
        let id = self.id.clone();
        for filter in [format!("spec/{id}/response"), format!("spec/{id}/notify/+")] {
            let codes = self.subscribe(&filter).await;
            assert!(matches!(codes[0], SubscribeReasonCode::Success(_)), "{filter}: {codes:?}");
        }
    }

    /// Publishes raw bytes to a topic.
    pub async fn publish_raw(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.client.publish(topic, QoS::AtLeastOnce, false, payload.into()).await.unwrap();
    }

    /// Publishes a request to the own request topic without waiting.
    pub async fn send(&self, request: &Json) {
        self.publish_raw(&format!("spec/{}/request", self.id), serde_json::to_vec(request).unwrap()).await;
    }

    /// Sends a request (with a fresh `id` unless it has one) and waits for its reply.
    pub async fn request(&mut self, mut request: Json) -> Json {
        if request.get("id").is_none() {
            self.counter += 1;
            request["id"] = json!(format!("m{}", self.counter));
        }
        if request.get("type").is_none() {
            request["type"] = json!("request");
        }
        let id = request["id"].clone();
        self.send(&request).await;
        self.reply_with_id(&id).await
    }

    /// Waits for the reply whose `id` is this one.
    pub async fn reply_with_id(&mut self, id: &Json) -> Json {
        let response = format!("spec/{}/response", self.id);
        let found = |(topic, json): &(String, Json)| *topic == response && json["id"] == *id;
        if let Some(at) = self.pending.iter().position(found) {
            return self.pending.remove(at).unwrap().1;
        }
        loop {
            match self.next(WAIT).await {
                Some(Incoming::Publish(topic, json)) => {
                    let message = (topic, json);
                    if found(&message) {
                        return message.1;
                    }
                    self.pending.push_back(message);
                }
                Some(_) => {}
                None => panic!("{}: no reply to {id} within {WAIT:?}", self.id),
            }
        }
    }

    /// The next message on a topic, waiting at most `wait`.
    pub async fn message_on(&mut self, topic_prefix: &str, wait: Duration) -> Option<(String, Json)> {
        if let Some(at) = self.pending.iter().position(|(t, _)| t.starts_with(topic_prefix)) {
            return self.pending.remove(at);
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Some(Incoming::Publish(topic, json)) if topic.starts_with(topic_prefix) => return Some((topic, json)),
                Some(Incoming::Publish(topic, json)) => self.pending.push_back((topic, json)),
                Some(_) => {}
                None => return None,
            }
        }
    }

    /// The next notification (any subscription).
    pub async fn notification(&mut self) -> Json {
        let prefix = format!("spec/{}/notify/", self.id);
        self.message_on(&prefix, WAIT).await.unwrap_or_else(|| panic!("{}: no notification", self.id)).1
    }

    /// Asserts that no notification arrives for a while.
    pub async fn no_notification(&mut self) {
        let prefix = format!("spec/{}/notify/", self.id);
        if let Some(m) = self.message_on(&prefix, QUIET).await {
            panic!("{}: unexpected notification {m:?}", self.id);
        }
    }

    /// Any message at all within `QUIET` (for eavesdropping checks).
    pub async fn anything(&mut self) -> Option<(String, Json)> {
        if let Some(m) = self.pending.pop_front() {
            return Some(m);
        }
        self.message_on("", QUIET).await
    }

    /// Waits until `n` PUBACKs were received in total.
    pub async fn wait_pubacks(&mut self, n: usize) {
        while self.puback_count < n {
            match self.next(WAIT).await {
                Some(Incoming::Publish(topic, json)) => self.pending.push_back((topic, json)),
                Some(_) => {}
                None => panic!("only {} PUBACKs", self.puback_count),
            }
        }
    }

    /// Whether the broker closed the connection (the event loop ended) within `WAIT`.
    pub async fn wait_closed(&mut self) -> bool {
        tokio::time::timeout(WAIT, &mut self.task).await.is_ok()
    }

    /// Says `offline` on its status topic (how an external broker's server learns of a clean
    /// disconnect), then sends DISCONNECT; the event loop ends once it is written.
    pub async fn disconnect(self) {
        let status = format!("spec/{}/status", self.id);
        let _ = self.client.publish(status, QoS::AtLeastOnce, false, "offline").await;
        let _ = self.client.disconnect().await;
        let _ = tokio::time::timeout(WAIT, self.task).await;
    }
}

/// Asserts a success reply and returns its `data`.
#[track_caller]
pub fn ok(reply: &Json) -> Json {
    assert_eq!(reply["success"], true, "expected success: {reply}");
    assert_eq!(reply["type"], "response");
    assert!(reply["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')), "timestamp: {reply}");
    reply["data"].clone()
}

/// Asserts an error reply with this code.
#[track_caller]
pub fn err(reply: &Json, code: &str) {
    assert_eq!(reply["success"], false, "expected {code}: {reply}");
    assert_eq!(reply["error"]["code"], code, "{reply}");
    assert!(reply["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{reply}");
}
