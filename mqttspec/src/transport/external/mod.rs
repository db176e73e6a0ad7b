//! The external broker: mqttspec as an MQTT 5 client (rumqttc) of a broker it does not run.
//!
//! The broker's ACL makes the `{client_id}` of a request topic trustworthy (see `deploy/`), so
//! identity comes from the topic here. A client is learnt from its first request (where
//! `before_connect` runs) and forgotten at its Last Will on `{prefix}/{client_id}/status` or
//! after an idle time. A request is acknowledged to the broker only once its reply was handed to
//! the connection, so a crash leaves unanswered requests with the broker (persistent session).

mod config;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use rumqttc::v5::mqttbytes::QoS as MqttQoS;
use rumqttc::v5::mqttbytes::v5::{Filter, Packet, Publish, PublishProperties, SubscribeReasonCode};
use rumqttc::v5::{AsyncClient, ConnectionError, Event, EventLoop};
use tokio::sync::{mpsc, oneshot, watch};

pub use config::ExternalBrokerConfig;

use super::{
    Ack, ConnectDecision, ConnectRequest, Gate, InboundRequest, Outbound, Publisher, QoS, Readiness, Transport,
};
use crate::error::{Error, ErrorCode, Result};
use crate::protocol::Topics;

fn mqtt_qos(qos: QoS) -> MqttQoS {
    match qos {
        QoS::AtMostOnce => MqttQoS::AtMostOnce,
        QoS::AtLeastOnce => MqttQoS::AtLeastOnce,
        QoS::ExactlyOnce => MqttQoS::ExactlyOnce,
    }
}

fn unavailable(e: impl std::fmt::Display) -> Error {
    Error::new(ErrorCode::Unavailable, format!("external broker: {e}"))
}

/// A connection to an external broker.
pub struct ExternalBroker {
    shared: Arc<Shared>,
    eventloop: Mutex<Option<tokio::task::JoinHandle<()>>>,
    intake: tokio::task::JoinHandle<()>,
    topics: Topics,
}

impl std::fmt::Debug for ExternalBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalBroker").field("readiness", &*self.shared.readiness.borrow()).finish_non_exhaustive()
    }
}

/// What the event loop, the intake and the publisher share.
struct Shared {
    client: AsyncClient,
    /// Counts connections: an acknowledgement belongs to the connection its request came on.
    generation: AtomicU64,
    readiness: watch::Sender<Readiness>,
    /// Clients learnt from their requests, until their Last Will or idle expiry.
    clients: Mutex<HashMap<String, Known>>,
    next_session: AtomicU64,
}

struct Known {
    session: u64,
    last_seen: Instant,
}

impl Shared {
    fn lock_clients(&self) -> std::sync::MutexGuard<'_, HashMap<String, Known>> {
        self.clients.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The acknowledgement of a request, sent when the server is done with it (its reply published,
/// or refused). A request from an earlier connection is not acknowledged: the broker sends it
/// again on the new one, and the idempotency store answers it without executing it twice.
fn ack(shared: Arc<Shared>, publish: Publish, generation: u64) -> Ack {
    Ack::new(move || {
        if publish.qos == MqttQoS::AtMostOnce || shared.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if let Err(rumqttc::v5::ClientError::TryRequest(_)) = shared.client.try_ack(&publish) {
            let client = shared.client.clone();
            tokio::spawn(async move { client.ack(&publish).await.ok() });
        }
    })
}

enum Inbound {
    Request { client_id: String, publish: Publish, generation: u64 },
    Status { client_id: String, payload: Bytes },
}

/// The first outcome of connecting, which decides whether start-up goes on.
enum FirstOutcome {
    Connected,
    Refused(String),
    Unreachable(String),
}

impl ExternalBroker {
    /// Connects to the broker and serves `gate`. Bad settings and refused credentials fail here; an
    /// unreachable broker is retried in the background (see [`Readiness`]).
    pub async fn start(
        config: &ExternalBrokerConfig,
        max_packet: u32,
        request_qos: QoS,
        topics: Topics,
        gate: Arc<dyn Gate>,
    ) -> Result<Self> {
        let options = config::mqtt_options(config, max_packet)?;
        let client_id = options.client_id();
        let (client, eventloop) = AsyncClient::new(options, 16 * 1024);
        let (readiness, _) = watch::channel(Readiness::Connecting);
        let shared = Arc::new(Shared {
            client,
            generation: AtomicU64::new(0),
            readiness,
            clients: Mutex::new(HashMap::new()),
            next_session: AtomicU64::new(1),
        });
        let (inbound, inbound_rx) = mpsc::unbounded_channel();
        let (first, first_rx) = oneshot::channel();
        let task = EventLoopTask {
            eventloop,
            shared: shared.clone(),
            topics: topics.clone(),
            request_qos,
            inbound,
            first: Some(first),
            config: config.clone(),
        };
        let eventloop = tokio::spawn(task.run());
        let intake = tokio::spawn(intake(shared.clone(), gate, inbound_rx, config.idle_expiry));
        let broker = Self { shared, eventloop: Mutex::new(Some(eventloop)), intake, topics };
        match first_rx.await {
            Ok(FirstOutcome::Connected) => {
                tracing::info!(url = %config.url, client_id = %client_id, "connected to the external broker");
            }
            Ok(FirstOutcome::Unreachable(e)) => {
                tracing::warn!(url = %config.url, error = %e, "external broker unreachable; retrying in the background");
            }
            Ok(FirstOutcome::Refused(reason)) => {
                broker.stop().await;
                return Err(Error::new(
                    ErrorCode::ValidationError,
                    format!(
                        "external broker: credentials: the broker at {} refused the connection ({reason})",
                        config.url
                    ),
                ));
            }
            Err(_) => {
                broker.stop().await;
                return Err(unavailable("the connection task ended at start-up"));
            }
        }
        Ok(broker)
    }

    async fn stop(&self) {
        let task = self.eventloop.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(task) = task {
            task.abort();
        }
        self.intake.abort();
        self.shared.readiness.send_replace(Readiness::Stopped);
    }
}

#[async_trait]
impl Transport for ExternalBroker {
    fn publisher(&self) -> Arc<dyn Publisher> {
        Arc::new(ExternalPublisher { shared: self.shared.clone() })
    }

    fn readiness(&self) -> watch::Receiver<Readiness> {
        self.shared.readiness.subscribe()
    }

    async fn stop_accepting(&self) {
        // Requests published from here on wait in the broker for this session's return, or go
        // to the other instances.
        let _ = self.shared.client.unsubscribe(self.topics.request_filter()).await;
    }

    async fn drain(&self, _deadline: Duration) {
        // Replies leave in the order they were handed to the connection; the DISCONNECT that
        // `disconnect_all` queues behind them is written after them.
    }

    async fn disconnect_all(&self) {
        let _ = self.shared.client.disconnect().await;
        let task = self.eventloop.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(mut task) = task
            && tokio::time::timeout(Duration::from_secs(5), &mut task).await.is_err()
        {
            task.abort();
        }
        self.intake.abort();
        self.shared.readiness.send_replace(Readiness::Stopped);
    }
}

struct EventLoopTask {
    eventloop: EventLoop,
    shared: Arc<Shared>,
    topics: Topics,
    request_qos: QoS,
    inbound: mpsc::UnboundedSender<Inbound>,
    first: Option<oneshot::Sender<FirstOutcome>>,
    config: ExternalBrokerConfig,
}

impl EventLoopTask {
    /// Polls the connection forever: never awaits a publish here (rumqttc would deadlock when its
    /// request channel is full); reconnects with exponential backoff and jitter.
    async fn run(mut self) {
        let mut failures: u32 = 0;
        loop {
            match self.eventloop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    failures = 0;
                    let generation = self.shared.generation.fetch_add(1, Ordering::SeqCst) + 1;
                    tracing::info!(generation, session_present = ack.session_present, "external broker connected");
                    // rumqttc does not subscribe again after a reconnect, and a broker may have
                    // lost the session: subscribe on every connection.
                    let filters = vec![
                        Filter::new(self.topics.request_filter(), mqtt_qos(self.request_qos)),
                        Filter::new(self.topics.status_filter(), MqttQoS::AtLeastOnce),
                    ];
                    if let Err(e) = self.shared.client.try_subscribe_many(filters) {
                        tracing::error!(error = %e, "cannot subscribe to the request topics");
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(ack))) => {
                    let refused = ack.return_codes.iter().any(|c| !matches!(c, SubscribeReasonCode::Success(_)));
                    if refused {
                        tracing::error!(codes = ?ack.return_codes, "the broker refused the server's subscriptions: check its ACL (deploy/)");
                    } else {
                        self.shared.readiness.send_replace(Readiness::Connected);
                        self.report(FirstOutcome::Connected);
                    }
                }
                Ok(Event::Incoming(Packet::Publish(publish))) => self.route(publish),
                Ok(Event::Incoming(Packet::Disconnect(disconnect))) => {
                    tracing::warn!(reason = ?disconnect.reason_code, "the external broker disconnected the server");
                }
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return,
                Ok(_) => {}
                Err(e) => {
                    self.shared.readiness.send_replace(Readiness::Reconnecting);
                    failures = failures.saturating_add(1);
                    if let ConnectionError::ConnectionRefused(code) = &e
                        && matches!(
                            code,
                            rumqttc::v5::mqttbytes::v5::ConnectReturnCode::BadUserNamePassword
                                | rumqttc::v5::mqttbytes::v5::ConnectReturnCode::NotAuthorized
                        )
                    {
                        self.report(FirstOutcome::Refused(format!("{code:?}")));
                    } else {
                        self.report(FirstOutcome::Unreachable(e.to_string()));
                    }
                    if self.config.max_reconnects.is_some_and(|max| failures > max) {
                        tracing::error!(attempts = failures, error = %e, "external broker: giving up");
                        self.shared.readiness.send_replace(Readiness::Stopped);
                        return;
                    }
                    let delay = backoff(&self.config, failures);
                    tracing::warn!(attempt = failures, retry_in_ms = delay.as_millis() as u64, error = %e, "external broker connection lost");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    fn report(&mut self, outcome: FirstOutcome) {
        if let Some(first) = self.first.take() {
            let _ = first.send(outcome);
        }
    }

    fn route(&self, publish: Publish) {
        let topic = String::from_utf8_lossy(&publish.topic).into_owned();
        if publish.retain {
            // A retained message would be replayed to every (re)connecting instance: never a request.
            tracing::warn!(topic, "retained message ignored");
            let _ = self.shared.client.try_ack(&publish);
            return;
        }
        let generation = self.shared.generation.load(Ordering::SeqCst);
        let message = if let Some(client) = self.topics.request_client(&topic) {
            Inbound::Request { client_id: client.to_owned(), publish, generation }
        } else if let Some(client) = self.topics.status_client(&topic) {
            let payload = publish.payload.clone();
            // Status messages need no reply: acknowledge at once.
            if publish.qos != MqttQoS::AtMostOnce {
                let _ = self.shared.client.try_ack(&publish);
            }
            Inbound::Status { client_id: client.to_owned(), payload }
        } else {
            let _ = self.shared.client.try_ack(&publish);
            return;
        };
        let _ = self.inbound.send(message);
    }
}

/// The delay before reconnect attempt `failures`: doubling from the first delay up to the cap,
/// with jitter over its upper half (instances that lost the broker together do not return together).
fn backoff(config: &ExternalBrokerConfig, failures: u32) -> Duration {
    let base = config.reconnect_delay.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    let capped = base.min(config.max_reconnect_delay);
    let random = u64::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..8].try_into().expect("8 bytes"));
    let half = capped / 2;
    half + Duration::from_nanos(random % (half.as_nanos().max(1) as u64))
}

/// Hands requests to the server in the order they arrived; learns clients from their first
/// request and forgets them at their Last Will or after `idle_expiry`.
async fn intake(
    shared: Arc<Shared>,
    gate: Arc<dyn Gate>,
    mut inbound: mpsc::UnboundedReceiver<Inbound>,
    idle_expiry: Duration,
) {
    let mut sweep = tokio::time::interval((idle_expiry / 4).clamp(Duration::from_millis(100), Duration::from_secs(60)));
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            message = inbound.recv() => match message {
                Some(Inbound::Request { client_id, publish, generation }) => {
                    request(&shared, &*gate, client_id, publish, generation).await;
                }
                Some(Inbound::Status { client_id, payload }) => {
                    if payload.trim_ascii().eq_ignore_ascii_case(b"offline") {
                        forget(&shared, &*gate, &client_id, "last will").await;
                    }
                }
                None => return,
            },
            _ = sweep.tick() => {
                let now = Instant::now();
                let idle: Vec<String> = shared
                    .lock_clients()
                    .iter()
                    .filter(|(_, known)| now.duration_since(known.last_seen) >= idle_expiry)
                    .map(|(id, _)| id.clone())
                    .collect();
                for client_id in idle {
                    forget(&shared, &*gate, &client_id, "idle").await;
                }
            }
        }
    }
}

async fn request(shared: &Arc<Shared>, gate: &dyn Gate, client_id: String, publish: Publish, generation: u64) {
    let known = {
        let mut clients = shared.lock_clients();
        clients.get_mut(&client_id).map(|known| {
            known.last_seen = Instant::now();
            known.session
        })
    };
    let properties = publish.properties.as_ref();
    let inbound = InboundRequest {
        client_id: client_id.clone(),
        payload: publish.payload.clone(),
        correlation_data: properties.and_then(|p| p.correlation_data.clone()),
        response_topic: properties.and_then(|p| p.response_topic.clone()),
        ack: None,
    };
    let inbound = InboundRequest { ack: Some(ack(shared.clone(), publish, generation)), ..inbound };
    if known.is_none() {
        // A client's first request: this is where it "connects" (PROTOCOL §8).
        let session = shared.next_session.fetch_add(1, Ordering::Relaxed);
        let connect = ConnectRequest {
            client_id: client_id.clone(),
            username: None,
            password: None,
            remote_addr: None,
            protocol: 5,
            session,
        };
        match gate.connect(connect).await {
            ConnectDecision::Accept | ConnectDecision::AcceptFresh => {
                shared.lock_clients().insert(client_id.clone(), Known { session, last_seen: Instant::now() });
                gate.connected(&client_id, session).await;
            }
            decision => {
                tracing::info!(client = %client_id, ?decision, "first request refused");
                gate.refused(inbound).await;
                return;
            }
        }
    }
    if let Err(refused) = gate.request(inbound).await {
        // Closing: the broker keeps the request for this session's return.
        if let Some(ack) = refused.ack {
            ack.abandon();
        }
    }
}

async fn forget(shared: &Shared, gate: &dyn Gate, client_id: &str, why: &str) {
    let known = shared.lock_clients().remove(client_id);
    if let Some(known) = known {
        tracing::debug!(client = client_id, why, "client gone");
        gate.disconnected(client_id, known.session).await;
        gate.session_ended(client_id, known.session).await;
    }
}

struct ExternalPublisher {
    shared: Arc<Shared>,
}

#[async_trait]
impl Publisher for ExternalPublisher {
    async fn publish(&self, message: Outbound) -> Result<()> {
        let properties = PublishProperties { correlation_data: message.correlation_data, ..Default::default() };
        self.shared
            .client
            .publish_with_properties(message.topic, mqtt_qos(message.qos), false, message.payload, properties)
            .await
            .map_err(unavailable)
    }

    async fn is_connected(&self, client_id: &str) -> bool {
        self.shared.lock_clients().contains_key(client_id)
    }
}
