//! The external broker: mqttspec as an MQTT client (rumqttc; MQTT 5, or 3.1.1) of a broker it does
//! not run.
//!
//! The broker's ACL makes the `{client_id}` of a request topic trustworthy (see `deploy/`), so
//! identity comes from the topic here. A client is learnt from its first request (where
//! `before_connect` runs) and forgotten at its Last Will on `{prefix}/{client_id}/status` or
//! after an idle time. A request is acknowledged to the broker only once its reply was handed to
//! the connection, so a crash leaves unanswered requests with the broker (persistent session).
//!
//! Several instances may share one broker (`cluster`): each receives every request and serves
//! the clients it owns; the survivor that adopts a departed instance's broker session answers
//! what it left unanswered; committed changes travel between instances on an internal topic.

mod cluster;
mod config;
mod link;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};

use cluster::{INTERNAL, Membership};
pub use config::{ExternalBrokerConfig, MqttVersion};
use link::{Client, EventLoop, Incoming, Message, Options};

use super::{
    Ack, ConnectDecision, ConnectRequest, Gate, InboundRequest, Outbound, Publisher, QoS, Readiness, Transport,
};
use crate::error::{Error, ErrorCode, Result};
use crate::protocol::Topics;

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

impl Drop for ExternalBroker {
    fn drop(&mut self) {
        if let Some(eventloop) = self.eventloop.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
            eventloop.abort();
        }
        self.intake.abort();
    }
}

impl std::fmt::Debug for ExternalBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExternalBroker").field("readiness", &*self.shared.readiness.borrow()).finish_non_exhaustive()
    }
}

/// One MQTT connection: the server's own, or one that adopts a departed instance's session.
struct Link {
    client: Client,
    /// Counts connections: an acknowledgement belongs to the connection its request came on.
    generation: AtomicU64,
}

/// What the event loop, the intake and the publisher share.
struct Shared {
    link: Arc<Link>,
    readiness: watch::Sender<Readiness>,
    /// Clients learnt from their requests, until their Last Will or idle expiry.
    clients: Mutex<HashMap<String, Known>>,
    next_session: AtomicU64,
    membership: Mutex<Membership>,
    names: Names,
    /// Set when the server shuts down: its announcement is cleared on purpose.
    leaving: std::sync::atomic::AtomicBool,
}

struct Known {
    session: u64,
    last_seen: Instant,
}

impl Shared {
    fn lock_clients(&self) -> std::sync::MutexGuard<'_, HashMap<String, Known>> {
        self.clients.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_membership(&self) -> std::sync::MutexGuard<'_, Membership> {
        self.membership.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The topics of this instance.
#[derive(Clone)]
struct Names {
    topics: Topics,
    /// `{prefix}/_mqttspec/instances/{me}`: retained while this instance lives.
    announcement: String,
    /// `{prefix}/_mqttspec/instances/+`.
    instances: String,
    /// `{prefix}/_mqttspec/changes/{me}`: committed changes this instance publishes.
    changes: String,
    /// `{prefix}/_mqttspec/changes/+`.
    all_changes: String,
}

impl Names {
    fn new(topics: Topics, me: &str) -> Self {
        let internal = format!("{}/{INTERNAL}", topics.prefix());
        Self {
            announcement: format!("{internal}/instances/{me}"),
            instances: format!("{internal}/instances/+"),
            changes: format!("{internal}/changes/{me}"),
            all_changes: format!("{internal}/changes/+"),
            topics,
        }
    }

    /// The instance an internal topic (`instances/{id}` or `changes/{id}`) names, and which kind.
    fn internal<'t>(&self, topic: &'t str) -> Option<(&'t str, &'t str)> {
        let rest = topic.strip_prefix(self.topics.prefix())?.strip_prefix('/')?.strip_prefix(INTERNAL)?;
        let mut levels = rest.strip_prefix('/')?.split('/');
        match (levels.next(), levels.next(), levels.next()) {
            (Some(kind @ ("instances" | "changes")), Some(id), None) if !id.is_empty() => Some((kind, id)),
            _ => None,
        }
    }
}

/// The acknowledgement of a request, sent when the server is done with it (its reply published,
/// or refused). A request from an earlier connection is not acknowledged: the broker sends it
/// again on the new one, and the idempotency store answers it without executing it twice.
fn ack(link: Arc<Link>, message: Message, generation: u64) -> Ack {
    Ack::new(move || {
        if !message.needs_ack() || link.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if !link.client.try_ack(&message) {
            let client = link.client.clone();
            tokio::spawn(async move { client.ack(&message).await });
        }
    })
}

enum Inbound {
    /// A request.
    Request {
        client_id: String,
        publish: Message,
        link: Arc<Link>,
        generation: u64,
    },
    Status {
        client_id: String,
        payload: Bytes,
    },
    /// An instance's announcement (`alive`) or its clearing.
    Member {
        instance: String,
        alive: bool,
    },
    /// An instance says it hands its clients over: its clearing follows, nothing to adopt.
    Leaving {
        instance: String,
    },
    /// Another instance's committed changes.
    Changes(Bytes),
    /// The server's connection is new: the membership is read again.
    Connected,
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
        // rustls needs one process-wide crypto provider for `mqtts://` and `wss://` (an application
        // that installed its own keeps it).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut options = config::mqtt_options(config, max_packet)?;
        let me = options.client_id();
        let names = Names::new(topics.clone(), &me);
        let adoption = options.clone();
        // Gone without a word (killed, cut off): the broker clears this instance's announcement.
        options.set_will(&names.announcement, Vec::new(), true);
        let (client, eventloop) = options.connect(16 * 1024);
        let (readiness, _) = watch::channel(Readiness::Connecting);
        let shared = Arc::new(Shared {
            link: Arc::new(Link { client, generation: AtomicU64::new(0) }),
            readiness,
            clients: Mutex::new(HashMap::new()),
            next_session: AtomicU64::new(1),
            membership: Mutex::new(Membership::new(&me)),
            names: names.clone(),
            leaving: std::sync::atomic::AtomicBool::new(false),
        });
        let (inbound, inbound_rx) = mpsc::unbounded_channel();
        let (first, first_rx) = oneshot::channel();
        let task = EventLoopTask {
            eventloop,
            shared: shared.clone(),
            request_qos,
            inbound,
            first: Some(first),
            config: config.clone(),
        };
        let eventloop = tokio::spawn(task.run());
        let intake = Intake { shared: shared.clone(), gate, adoption, held: Vec::new(), leaving: Default::default() };
        let intake = tokio::spawn(intake.run(inbound_rx, config.idle_expiry));
        let broker = Self { shared, eventloop: Mutex::new(Some(eventloop)), intake, topics };
        match first_rx.await {
            Ok(FirstOutcome::Connected) => {
                tracing::info!(url = %config.url, instance = %me, "connected to the external broker");
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
        // Hand the clients over: clear the announcement, and serve every request the broker routed
        // before that clearing (the other instances take those after it), then take no more.
        let link = &self.shared.link;
        let names = &self.shared.names;
        self.shared.leaving.store(true, Ordering::SeqCst);
        // First a word that this is a handover (nothing to adopt), then the clearing.
        let announcement = names.announcement.clone();
        let leaving = Bytes::from_static(LEAVING);
        let _ = link.client.publish(announcement.clone(), QoS::AtLeastOnce, false, leaving, None).await;
        let cleared = link.client.publish(announcement, QoS::AtLeastOnce, true, Bytes::new(), None).await;
        if cleared.is_ok() {
            let mut readiness = self.shared.readiness.subscribe();
            let handed_over = readiness.wait_for(|r| *r == Readiness::Stopped);
            let _ = tokio::time::timeout(Duration::from_secs(5), handed_over).await;
        }
        link.client.unsubscribe(self.topics.request_filter()).await;
    }

    async fn drain(&self, _deadline: Duration) {
        // Replies leave in the order they were handed to the connection; the DISCONNECT that
        // `disconnect_all` queues behind them is written after them.
    }

    async fn disconnect_all(&self) {
        // The session outlives this connection (for a crash's sake): leave nothing in it to fill.
        let names = &self.shared.names;
        for filter in [names.topics.status_filter(), names.instances.clone(), names.all_changes.clone()] {
            self.shared.link.client.unsubscribe(filter).await;
        }
        self.shared.link.client.disconnect().await;
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
                Ok(Incoming::ConnAck { session_present, retain_available }) => {
                    failures = 0;
                    let generation = self.shared.link.generation.fetch_add(1, Ordering::SeqCst) + 1;
                    tracing::info!(generation, session_present, "external broker connected");
                    if !retain_available {
                        tracing::error!(
                            "the broker keeps no retained messages: instances sharing it cannot see each other \
                             (one instance works; for several, enable retained messages, e.g. rmqtt's retainer plugin)"
                        );
                    }
                    let _ = self.inbound.send(Inbound::Connected);
                    // rumqttc does not subscribe again after a reconnect, and a broker may have
                    // lost the session: subscribe on every connection, then announce ourselves
                    // (the others' retained announcements arrive before our own comes back).
                    let names = &self.shared.names;
                    let filters = vec![
                        (names.instances.clone(), QoS::AtLeastOnce),
                        (names.all_changes.clone(), QoS::AtLeastOnce),
                        (names.topics.status_filter(), QoS::AtLeastOnce),
                        (names.topics.request_filter(), self.request_qos),
                    ];
                    let client = &self.shared.link.client;
                    if let Err(e) = client.try_subscribe_many(filters) {
                        tracing::error!(error = %e, "cannot subscribe to the request topics");
                    }
                    let me = Bytes::from(self.shared.lock_membership().me().to_owned());
                    let announce = client.try_publish(names.announcement.clone(), QoS::AtLeastOnce, true, me, None);
                    if let Err(e) = announce {
                        tracing::error!(error = %e, "cannot announce this instance");
                    }
                }
                Ok(Incoming::SubAck { refused: Some(codes) }) => {
                    tracing::error!(codes, "the broker refused the server's subscriptions: check its ACL (deploy/)");
                }
                Ok(Incoming::SubAck { refused: None }) => self.report(FirstOutcome::Connected),
                Ok(Incoming::Publish(message)) => self.route(message),
                Ok(Incoming::Disconnect(reason)) => {
                    tracing::warn!(reason, "the external broker disconnected the server");
                }
                Ok(Incoming::Closed) => return,
                Ok(Incoming::UnsubAck | Incoming::Other) => {}
                Err(e) => {
                    self.shared.readiness.send_replace(Readiness::Reconnecting);
                    failures = failures.saturating_add(1);
                    if e.refused_credentials {
                        self.report(FirstOutcome::Refused(e.text.clone()));
                    } else {
                        self.report(FirstOutcome::Unreachable(e.text.clone()));
                    }
                    if self.config.max_reconnects.is_some_and(|max| failures > max) {
                        tracing::error!(attempts = failures, error = %e.text, "external broker: giving up");
                        self.shared.readiness.send_replace(Readiness::Stopped);
                        return;
                    }
                    let delay = backoff(&self.config, failures);
                    tracing::warn!(attempt = failures, retry_in_ms = delay.as_millis() as u64, error = %e.text, "external broker connection lost");
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

    fn route(&self, publish: Message) {
        let link = &self.shared.link;
        let generation = link.generation.load(Ordering::SeqCst);
        if let Some(message) = classify(&self.shared.names, publish, link, generation) {
            let _ = self.inbound.send(message);
        }
    }
}

/// What a message on the server's subscriptions is; messages that need no reply are acknowledged
/// here, requests when they are answered.
fn classify(names: &Names, publish: Message, link: &Arc<Link>, generation: u64) -> Option<Inbound> {
    let ack_now = |publish: &Message| {
        if publish.needs_ack() {
            let _ = link.client.try_ack(publish);
        }
    };
    if let Some((kind, instance)) = names.internal(&publish.topic) {
        ack_now(&publish);
        return Some(match kind {
            "instances" if publish.payload == LEAVING => Inbound::Leaving { instance: instance.to_owned() },
            "instances" => Inbound::Member { instance: instance.to_owned(), alive: !publish.payload.is_empty() },
            _ if publish.retain || names.changes == publish.topic => return None,
            _ => Inbound::Changes(publish.payload.clone()),
        });
    }
    if publish.retain {
        // A retained message would be replayed to every (re)connecting instance: never a request.
        tracing::warn!(topic = %publish.topic, "retained message ignored");
        ack_now(&publish);
        return None;
    }
    if let Some(client) = names.topics.request_client(&publish.topic) {
        let client_id = client.to_owned();
        return Some(Inbound::Request { client_id, publish, link: link.clone(), generation });
    }
    ack_now(&publish);
    let client = names.topics.status_client(&publish.topic)?;
    Some(Inbound::Status { client_id: client.to_owned(), payload: publish.payload.clone() })
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

/// Hands requests to the server in the order they arrived, those of the clients this instance
/// owns; learns clients from their first request and forgets them at their Last Will or after the
/// idle expiry; follows the membership.
struct Intake {
    shared: Arc<Shared>,
    gate: Arc<dyn Gate>,
    /// The server's connection options, the model of an adopting connection's.
    adoption: Options,
    /// Requests that arrived before the membership settled.
    held: Vec<Inbound>,
    /// Instances that said they are leaving (a handover, not a death).
    leaving: std::collections::HashSet<String>,
}

impl Intake {
    async fn run(mut self, mut inbound: mpsc::UnboundedReceiver<Inbound>, idle_expiry: Duration) {
        let period = (idle_expiry / 4).clamp(Duration::from_millis(100), Duration::from_secs(60));
        let mut sweep = tokio::time::interval(period);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                message = inbound.recv() => match message {
                    Some(message) => self.handle(message).await,
                    None => return,
                },
                _ = sweep.tick() => {
                    let now = Instant::now();
                    let idle: Vec<String> = self
                        .shared
                        .lock_clients()
                        .iter()
                        .filter(|(_, known)| now.duration_since(known.last_seen) >= idle_expiry)
                        .map(|(id, _)| id.clone())
                        .collect();
                    for client_id in idle {
                        forget(&self.shared, &*self.gate, &client_id, "idle").await;
                    }
                }
            }
        }
    }

    async fn handle(&mut self, message: Inbound) {
        match message {
            Inbound::Request { .. } => {
                // Held until the membership settles, but never so many that they fill the
                // broker's window of unacknowledged messages (20 on Mosquitto): the
                // announcements we wait for queue behind them. Past that, the last view decides.
                let settled = self.shared.lock_membership().settled();
                if !settled && self.held.len() < HOLD_LIMIT {
                    self.held.push(message);
                    return;
                }
                for held in std::mem::take(&mut self.held) {
                    self.serve(held).await;
                }
                self.serve(message).await;
            }
            Inbound::Status { client_id, payload } => {
                if payload.trim_ascii().eq_ignore_ascii_case(b"offline") {
                    forget(&self.shared, &*self.gate, &client_id, "last will").await;
                }
            }
            Inbound::Member { instance, alive } => self.member(instance, alive).await,
            Inbound::Leaving { instance } => {
                self.leaving.insert(instance);
            }
            Inbound::Changes(payload) => self.gate.remote_changes(payload).await,
            Inbound::Connected => {
                self.shared.lock_membership().refresh();
            }
        }
    }

    /// Serves a request of a client this instance owns; another instance's is dropped (and so
    /// acknowledged: that instance answers it).
    async fn serve(&mut self, message: Inbound) {
        let Inbound::Request { client_id, publish, link, generation } = message else { return };
        if self.shared.lock_membership().owns(&client_id) {
            request(&self.shared, &*self.gate, client_id, publish, &link, generation).await;
        } else {
            drop(ack(link, publish, generation));
        }
    }

    async fn member(&mut self, instance: String, alive: bool) {
        let (me, was_settled, changed) = {
            let mut membership = self.shared.lock_membership();
            let was_settled = membership.settled();
            let changed = membership.update(&instance, alive);
            (membership.me().to_owned(), was_settled, changed)
        };
        if changed {
            let live: Vec<String> = self.shared.lock_membership().live().cloned().collect();
            tracing::info!(instance = %instance, alive, ?live, "membership changed");
            if self.shared.lock_membership().settled() {
                self.gate.ownership_changed().await;
            }
        }
        if instance == me {
            if alive && !was_settled {
                self.shared.readiness.send_replace(Readiness::Connected);
                for held in std::mem::take(&mut self.held) {
                    self.serve(held).await;
                }
            } else if !alive && self.shared.leaving.load(Ordering::SeqCst) {
                // Our own clearing came back (shutdown): the others serve our clients from here.
                self.shared.readiness.send_replace(Readiness::Stopped);
            } else if !alive {
                // Our Last Will, fired while the broker restarted: we are here, say so again.
                tracing::warn!("this instance's announcement was cleared; announcing again");
                let names = &self.shared.names;
                let _ = self.shared.link.client.try_publish(
                    names.announcement.clone(),
                    QoS::AtLeastOnce,
                    true,
                    Bytes::from(me),
                    None,
                );
            }
        } else if !alive && self.leaving.remove(&instance) {
            tracing::info!(instance = %instance, "an instance handed its clients over");
        } else if !alive && was_settled {
            let mut options = self.adoption.clone();
            options.set_client_id(instance);
            tokio::spawn(adopt(self.shared.clone(), self.gate.clone(), options));
        }
    }
}

/// The payload by which an instance announces a handover (not retained; its clearing follows).
const LEAVING: &[u8] = b"leaving";

/// Requests held while the membership settles, at most.
const HOLD_LIMIT: usize = 16;

/// How long a departed instance has to announce itself again (a broker restart fires every
/// instance's Last Will) before its session is adopted.
const ADOPTION_GRACE: Duration = Duration::from_millis(500);

/// Takes over a departed instance's broker session: what it had received and not answered is
/// published again on its request topic (properties kept), where the client's owner now serves it
/// (answering from its idempotency store what it has answered already); then the session ends.
async fn adopt(shared: Arc<Shared>, gate: Arc<dyn Gate>, mut options: Options) {
    let departed = options.client_id();
    tokio::time::sleep(ADOPTION_GRACE).await;
    {
        let membership = shared.lock_membership();
        if membership.live().any(|m| *m == departed) || !membership.adopts(&departed) {
            return;
        }
    }
    gate.instance_departed(&departed).await;
    let mut clean = options.clone();
    options.resume_then_end();
    let (client, mut eventloop) = options.connect(16 * 1024);
    let names = &shared.names;
    let quiet = Duration::from_millis(300);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let (mut adopted, mut unsubscribed) = (0usize, false);
    loop {
        let event = tokio::select! {
            event = eventloop.poll() => event,
            _ = tokio::time::sleep(quiet), if unsubscribed => break,
            _ = tokio::time::sleep_until(deadline) => break,
        };
        match event {
            Ok(Incoming::ConnAck { session_present, .. }) => {
                if !session_present {
                    break;
                }
                // Nothing new for this session: only what it already holds. (The broker handles
                // this connection's packets in order: the republished requests come after.)
                let filters = [
                    names.topics.request_filter(),
                    names.topics.status_filter(),
                    names.instances.clone(),
                    names.all_changes.clone(),
                ];
                for filter in filters {
                    client.try_unsubscribe(filter);
                }
            }
            Ok(Incoming::UnsubAck) => unsubscribed = true,
            Ok(Incoming::Publish(message)) => {
                if !message.retain && names.topics.request_client(&message.topic).is_some() {
                    let again = client.try_publish(
                        message.topic.clone(),
                        QoS::AtLeastOnce,
                        false,
                        message.payload.clone(),
                        Some(&message),
                    );
                    match again {
                        Ok(()) => adopted += 1,
                        Err(e) => {
                            tracing::error!(departed = %departed, error = %e, "an adopted request was not republished")
                        }
                    }
                }
                if message.needs_ack() {
                    let _ = client.try_ack(&message);
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(departed = %departed, error = %e.text, "adoption connection failed");
                return;
            }
        }
    }
    tracing::info!(departed = %departed, adopted, "adopted a departed instance's unanswered requests");
    // Everything queued on this connection leaves before its DISCONNECT; MQTT 5's expiry 0 ends the
    // session, 3.1.1 needs a clean connection for that.
    client.try_disconnect();
    close(&mut eventloop).await;
    if clean.is_v4() {
        clean.clean();
        let (client, mut eventloop) = clean.connect(16);
        client.try_disconnect();
        close(&mut eventloop).await;
    }
}

/// Polls a connection until its DISCONNECT left (at most 5 s).
async fn close(eventloop: &mut EventLoop) {
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    while let Ok(Ok(event)) = tokio::time::timeout_at(until, eventloop.poll()).await {
        if matches!(event, Incoming::Closed) {
            break;
        }
    }
}

async fn request(
    shared: &Arc<Shared>,
    gate: &dyn Gate,
    client_id: String,
    publish: Message,
    link: &Arc<Link>,
    generation: u64,
) {
    let known = {
        let mut clients = shared.lock_clients();
        clients.get_mut(&client_id).map(|known| {
            known.last_seen = Instant::now();
            known.session
        })
    };
    let inbound = InboundRequest {
        client_id: client_id.clone(),
        payload: publish.payload.clone(),
        correlation_data: publish.correlation_data.clone(),
        response_topic: publish.response_topic.clone(),
        ack: None,
    };
    let inbound = InboundRequest { ack: Some(ack(link.clone(), publish, generation)), ..inbound };
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
            // Whatever the client's session, the broker queues for it: the server does not know it.
            persistent: false,
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
        let link = &self.shared.link;
        link.client
            .publish(message.topic, message.qos, false, message.payload, message.correlation_data)
            .await
            .map_err(unavailable)
    }

    async fn is_connected(&self, client_id: &str) -> bool {
        self.shared.lock_clients().contains_key(client_id)
    }

    fn serves(&self, client_id: &str) -> bool {
        self.shared.lock_membership().owns(client_id)
    }

    fn instance(&self) -> Option<String> {
        Some(self.shared.lock_membership().me().to_owned())
    }

    async fn broadcast(&self, changes: Bytes) -> Result<()> {
        let topic = self.shared.names.changes.clone();
        self.shared.link.client.publish(topic, QoS::AtLeastOnce, false, changes, None).await.map_err(unavailable)
    }
}
