//! The embedded broker: rmqtt on the application's runtime. Identity comes from the MQTT
//! session; the topic ACL of PROTOCOL §1 is enforced in rmqtt's ACL hooks, and requests are
//! taken at the publish-ACL point, after the ACL allowed them (rmqtt runs its publish hook
//! before the ACL check). Outside the namespace it is a plain MQTT broker: retained messages
//! (`retained`), shared subscriptions (`shared`) and persistent sessions.

mod retained;
mod shared;

use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytestring::ByteString;
use rmqtt::codec::types::Publish as CodecPublish;
use rmqtt::codec::v5::{PublishProperties, SubscribeAckReason};
use rmqtt::context::ServerContext;
use rmqtt::hook::{Handler, HookResult, Parameter, ReturnType, Type};
use rmqtt::net::Builder;
use rmqtt::server::MqttServer;
use rmqtt::session::SessionState;
use rmqtt::types::{AuthResult, ClientId, From, Id, Publish, PublishAclResult, SubscribeAclResult};

use super::{ConnectDecision, ConnectRequest, Gate, InboundRequest, Outbound, Publisher, QoS, Readiness, Transport};
use crate::error::{Error, ErrorCode, Result};
use crate::protocol::Topics;

/// Settings of the embedded broker.
#[derive(Debug, Clone)]
pub struct EmbeddedConfig {
    /// TCP listener (MQTT 3.1.1 and 5 on one port).
    pub tcp: SocketAddr,
    /// Optional WebSocket listener.
    pub ws: Option<SocketAddr>,
    /// Certificate chain and private key (PEM files): with them every listener speaks TLS
    /// (MQTT over TLS on `tcp`, secure WebSocket on `ws`).
    pub tls: Option<TlsFiles>,
    /// Largest accepted PUBLISH packet.
    pub max_packet_size: u32,
    /// Most simultaneous sessions.
    pub max_connections: usize,
    /// Messages queued per client beyond the in-flight window.
    pub max_queued_messages: usize,
    /// Most retained messages kept (topics outside the namespace).
    pub max_retained_messages: usize,
    /// Most bytes of retained messages kept (topic and payload).
    pub max_retained_bytes: usize,
}

impl Default for EmbeddedConfig {
    fn default() -> Self {
        Self {
            tcp: SocketAddr::from(([127, 0, 0, 1], 1883)),
            ws: None,
            tls: None,
            max_packet_size: 1024 * 1024,
            max_connections: 10_000,
            max_queued_messages: 100_000,
            max_retained_messages: 10_000,
            max_retained_bytes: 64 * 1024 * 1024,
        }
    }
}

/// The PEM files of the embedded broker's TLS identity.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: std::path::PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key: std::path::PathBuf,
}

/// A running embedded broker.
pub struct EmbeddedBroker {
    scx: ServerContext,
    tcp_addr: SocketAddr,
    ws_addr: Option<SocketAddr>,
    accept: tokio::task::JoinHandle<()>,
    retained_sweep: tokio::task::JoinHandle<()>,
    readiness: tokio::sync::watch::Sender<Readiness>,
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        // The accept loop owns the listeners: ending it frees the ports.
        self.accept.abort();
        self.retained_sweep.abort();
    }
}

impl std::fmt::Debug for EmbeddedBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBroker").field("tcp", &self.tcp_addr).field("ws", &self.ws_addr).finish()
    }
}

fn listener(name: &str, addr: SocketAddr, config: &EmbeddedConfig) -> Builder {
    let tls = config.tls.as_ref();
    let path = |p: &std::path::Path| p.to_string_lossy().into_owned();
    Builder::new()
        .tls_cert(tls.map(|t| path(&t.cert)))
        .tls_key(tls.map(|t| path(&t.key)))
        .name(name)
        .laddr(addr)
        .nodelay(true)
        .reuseaddr(Some(true))
        .max_packet_size(config.max_packet_size)
        .allow_anonymous(false)
        .max_mqueue_len(config.max_queued_messages)
        .max_inflight(std::num::NonZeroU16::new(64).expect("non-zero"))
        // No default expiry on forwarded MQTT 5 messages.
        .message_expiry_interval(Duration::ZERO)
        // Unacknowledged messages are sent again when the session resumes, never on a timer
        // (MQTT 5 §4.4 forbids it; 3.1.1 §4.4 resends on reconnect only): a slow client would
        // otherwise get replies twice.
        .message_retry_interval(Duration::ZERO)
        .handshake_timeout(Duration::from_secs(10))
}

fn unavailable(e: impl std::fmt::Display) -> Error {
    Error::new(ErrorCode::Unavailable, format!("embedded broker: {e}"))
}

impl EmbeddedBroker {
    /// Starts the broker on the current runtime; `gate` receives its events.
    pub async fn start(config: &EmbeddedConfig, topics: Topics, gate: Arc<dyn Gate>) -> Result<Self> {
        let scx = ServerContext::new()
            // rmqtt's busy check refuses connects under CPU load: never wanted here.
            .busy_check_enable(false)
            .mqtt_max_sessions(config.max_connections as isize)
            .build()
            .await;
        let register = scx.extends.hook_mgr().register();
        let hooks = Arc::new(BrokerHooks { scx: scx.clone(), topics, gate });
        for typ in [
            Type::ClientAuthenticate,
            Type::ClientConnected,
            Type::ClientDisconnected,
            Type::SessionTerminated,
            Type::ClientSubscribeCheckAcl,
            Type::MessagePublishCheckAcl,
        ] {
            register.add(typ, Box::new(HookHandle(hooks.clone()))).await;
        }
        register.start().await;
        let retained =
            retained::RetainedStore::new(hooks.topics.clone(), config.max_retained_messages, config.max_retained_bytes);
        *scx.extends.retain_mut().await = Box::new(retained::Retained(retained.clone()));
        let retained_sweep =
            tokio::spawn(retained::RetainedStore::sweep(Arc::downgrade(&retained), Duration::from_secs(10)));
        *scx.extends.shared_subscription_mut().await = Box::new(shared::RoundRobin::default());

        let secure = config.tls.is_some();
        let tcp = listener("tcp", config.tcp, config)
            .bind()
            .and_then(|l| if secure { l.tls() } else { l.tcp() })
            .map_err(unavailable)?;
        let tcp_addr = tcp.local_addr().map_err(unavailable)?;
        let mut server = MqttServer::new(scx.clone()).listener_by_id(tcp, tcp_addr.port());
        let mut ws_addr = None;
        if let Some(ws) = config.ws {
            let ws = listener("ws", ws, config)
                .bind()
                .and_then(|l| if secure { l.wss() } else { l.ws() })
                .map_err(unavailable)?;
            let addr = ws.local_addr().map_err(unavailable)?;
            server = server.listener_by_id(ws, addr.port());
            ws_addr = Some(addr);
        }
        let server = server.build();
        let accept = tokio::spawn(async move {
            if let Err(e) = server.run().await {
                tracing::error!(error = %e, "embedded broker stopped");
            }
        });
        tracing::info!(tcp = %tcp_addr, ws = ?ws_addr, tls = secure, "embedded broker listening");
        let (readiness, _) = tokio::sync::watch::channel(Readiness::Connected);
        Ok(Self { scx, tcp_addr, ws_addr, accept, retained_sweep, readiness })
    }
}

#[async_trait]
impl Transport for EmbeddedBroker {
    fn tcp_addr(&self) -> Option<SocketAddr> {
        Some(self.tcp_addr)
    }

    fn ws_addr(&self) -> Option<SocketAddr> {
        self.ws_addr
    }

    fn publisher(&self) -> Arc<dyn Publisher> {
        Arc::new(EmbeddedPublisher { scx: self.scx.clone() })
    }

    fn readiness(&self) -> tokio::sync::watch::Receiver<Readiness> {
        self.readiness.subscribe()
    }

    async fn stop_accepting(&self) {
        self.accept.abort();
    }

    /// Waits until every message handed to a connected session so far is delivered (acknowledged
    /// at QoS ≥ 1), or `deadline` passes (a client that stopped reading must not hold up shutdown).
    async fn drain(&self, deadline: Duration) {
        let until = tokio::time::Instant::now() + deadline;
        let entries: Vec<_> =
            self.scx.extends.shared().await.iter().filter_map(|e| Some((e.session()?, e.tx()?))).collect();
        // A session task handles its channel in order: once an (empty) subscribe sent behind the
        // forwarded messages is answered, they have all reached the session's queue or socket.
        // Sessions that do not answer (offline, closing) have nobody to deliver to.
        let mut live = Vec::with_capacity(entries.len());
        for (session, tx) in entries {
            let (done, answered) = tokio::sync::oneshot::channel();
            if tx.unbounded_send(rmqtt::types::Message::Subscribes(Vec::new(), Some(done))).is_ok()
                && matches!(tokio::time::timeout_at(until, answered).await, Ok(Ok(_)))
            {
                live.push(session);
            }
        }
        // A message moves from the queue to the in-flight window after it was written; two empty
        // looks in a row step over that instant.
        let mut empty_looks = 0;
        while empty_looks < 2 {
            let mut pending = 0;
            for session in &live {
                if session.connected().await.unwrap_or(false) {
                    pending += session.deliver_queue().len() + session.out_inflight().read().await.len();
                }
            }
            empty_looks = if pending == 0 { empty_looks + 1 } else { 0 };
            if pending > 0 && tokio::time::Instant::now() >= until {
                tracing::warn!(pending, "shutdown: undelivered messages left");
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Disconnects every session (after the replies queued for them were handed to their tasks).
    async fn disconnect_all(&self) {
        let ids: Vec<Id> = self.scx.extends.shared().await.iter().map(|e| e.id()).collect();
        for id in ids {
            let mut entry = self.scx.extends.shared().await.entry(id);
            let _ = entry.kick(true, true, true).await;
        }
        self.readiness.send_replace(Readiness::Stopped);
    }
}

struct EmbeddedPublisher {
    scx: ServerContext,
}

#[async_trait]
impl Publisher for EmbeddedPublisher {
    async fn publish(&self, message: Outbound) -> Result<()> {
        let qos = match message.qos {
            QoS::AtMostOnce => rmqtt::types::QoS::AtMostOnce,
            QoS::AtLeastOnce => rmqtt::types::QoS::AtLeastOnce,
            QoS::ExactlyOnce => rmqtt::types::QoS::ExactlyOnce,
        };
        let properties = PublishProperties { correlation_data: message.correlation_data, ..Default::default() };
        let publish = CodecPublish {
            dup: false,
            retain: false,
            qos,
            topic: ByteString::from(message.topic),
            packet_id: None,
            payload: message.payload,
            properties: Some(properties),
        };
        let publish = Publish::from(publish).create_time(rmqtt::utils::timestamp_millis());
        let from =
            From::from_system(Id::new(self.scx.node.id(), 0, None, None, ClientId::from_static("$mqttspec"), None));
        SessionState::forwards(&self.scx, from, publish, false, None).await.map_err(unavailable)
    }

    async fn is_connected(&self, client_id: &str) -> bool {
        let id = Id::new(self.scx.node.id(), 0, None, None, ClientId::from(client_id), None);
        let Some(session) = self.scx.extends.shared().await.entry(id).session() else { return false };
        session.connected().await.unwrap_or(false)
    }
}

struct BrokerHooks {
    scx: ServerContext,
    topics: Topics,
    gate: Arc<dyn Gate>,
}

struct HookHandle(Arc<BrokerHooks>);

/// rmqtt 0.24 races when a client id connects again while its previous session, a clean one, is
/// ending: the takeover's kick can fail (CONNACK "server unavailable") or hand the ending session
/// over (session present after a clean session, its subscriptions revived). Such a session is
/// discarded here, before rmqtt looks for it.
async fn settle_clean_session(scx: &ServerContext, id: &Id) {
    let mut entry = scx.extends.shared().await.entry(id.clone());
    let Some(old) = entry.session() else { return };
    let persistent = match old.connect_info().await.as_deref() {
        Ok(rmqtt::types::ConnectInfo::V3(_, connect)) => !connect.clean_session,
        Ok(rmqtt::types::ConnectInfo::V5(..)) => {
            let disconnect = old.disconnect().await.ok().flatten();
            !old.fitter.session_expiry_interval(disconnect.as_ref()).is_zero()
        }
        Err(_) => false,
    };
    if persistent {
        return;
    }
    // Discarded now, so that rmqtt's own takeover finds nothing to hand over. A kick that meets the
    // session task as it ends fails; the next one, once the task is gone, removes the entry.
    let until = tokio::time::Instant::now() + Duration::from_millis(500);
    while entry.exist() && entry.kick(true, true, true).await.is_err() && tokio::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// A number that tells apart the sessions of one client id (rmqtt's `Id` includes its creation time).
fn session_token(id: &Id) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut hasher);
    hasher.finish()
}

#[allow(elided_lifetimes_in_paths)]
#[async_trait]
impl Handler for HookHandle {
    async fn hook(&self, param: &Parameter, acc: Option<HookResult>) -> ReturnType {
        let hooks = &self.0;
        match param {
            Parameter::ClientAuthenticate(info) => {
                let client_id = info.client_id().to_string();
                let will = info.last_will().map(|will| match will {
                    rmqtt::types::LastWill::V3(w) => w.topic.to_string(),
                    rmqtt::types::LastWill::V5(w) => w.topic.to_string(),
                });
                // A will is published by the broker on the client's behalf, past the publish ACL:
                // inside the namespace it could forge another client's replies, so it is refused
                // there, except on the client's own status topic (the external brokers' convention).
                let will_allowed = will.as_deref().is_none_or(|topic| {
                    if hooks.topics.in_namespace(topic) {
                        topic == hooks.topics.status(&client_id)
                    } else {
                        hooks.gate.allow_publish(&client_id, topic)
                    }
                });
                let decision = if !Topics::valid_client_id(&client_id) {
                    ConnectDecision::IdentifierRejected
                } else if !will_allowed {
                    tracing::warn!(client = %client_id, will = ?will, "will topic refused");
                    ConnectDecision::NotAuthorized
                } else {
                    let request = ConnectRequest {
                        client_id: client_id.clone(),
                        username: info.username().map(|u| u.to_string()),
                        password: info.password().map(|p| String::from_utf8_lossy(p).into_owned()),
                        remote_addr: info.ipaddress(),
                        protocol: info.proto_ver(),
                        session: session_token(info.id()),
                        persistent: !info.clean_start()
                            && match info {
                                rmqtt::types::ConnectInfo::V3(..) => true,
                                rmqtt::types::ConnectInfo::V5(_, connect) => connect.session_expiry_interval_secs > 0,
                            },
                    };
                    hooks.gate.connect(request).await
                };
                if decision == ConnectDecision::Accept {
                    settle_clean_session(&hooks.scx, info.id()).await;
                }
                if decision == ConnectDecision::AcceptFresh {
                    // The session the broker keeps for this client id is another principal's: discard
                    // it (queue, in-flight, subscriptions) so that this connection finds no session.
                    let mut entry = hooks.scx.extends.shared().await.entry(info.id().clone());
                    if let Err(e) = entry.kick(true, true, true).await {
                        tracing::warn!(client = %client_id, error = %e, "earlier session not discarded; refusing");
                        return (false, Some(HookResult::AuthResult(AuthResult::NotAuthorized)));
                    }
                }
                let result = match decision {
                    // Never a superuser: superusers bypass the ACL hooks.
                    ConnectDecision::Accept | ConnectDecision::AcceptFresh => AuthResult::Allow(false, None),
                    ConnectDecision::BadCredentials => AuthResult::BadUsernameOrPassword,
                    // rmqtt 0.24's auth hook cannot answer "identifier rejected"; refuse as not authorized.
                    ConnectDecision::IdentifierRejected | ConnectDecision::NotAuthorized => AuthResult::NotAuthorized,
                    ConnectDecision::Unavailable => AuthResult::NotAuthorized,
                };
                if !matches!(decision, ConnectDecision::Accept | ConnectDecision::AcceptFresh) {
                    tracing::info!(client = %client_id, ?decision, "connection refused");
                }
                (false, Some(HookResult::AuthResult(result)))
            }
            Parameter::ClientConnected(session) => {
                hooks.gate.connected(&session.id.client_id, session_token(&session.id)).await;
                (true, acc)
            }
            Parameter::ClientDisconnected(session, _reason) => {
                hooks.gate.disconnected(&session.id.client_id, session_token(&session.id)).await;
                (true, acc)
            }
            Parameter::SessionTerminated(session, _reason) => {
                hooks.gate.session_ended(&session.id.client_id, session_token(&session.id)).await;
                (true, acc)
            }
            Parameter::ClientSubscribeCheckAcl(session, subscribe) => {
                let client = &*session.id.client_id;
                let filter = &*subscribe.topic_filter;
                // Refused here, before rmqtt's router logs the failure (naming the client by its
                // username, often a credential) and answers a bare "failure".
                let unshared = Topics::unshared(filter);
                if unshared.is_empty() || unshared.parse::<rmqtt::topic::Topic>().is_err() {
                    let failure = SubscribeAclResult::new_failure(SubscribeAckReason::TopicFilterInvalid);
                    return (false, Some(HookResult::SubscribeAclResult(failure)));
                }
                let allowed = match hooks.topics.may_subscribe(client, filter) {
                    Some(false) => false,
                    // A filter with a wildcard before the client id also matches topics outside the namespace.
                    Some(true) if hooks.topics.in_namespace(Topics::unshared(filter)) => true,
                    Some(true) | None => hooks.gate.allow_subscribe(client, filter),
                };
                if allowed {
                    (true, acc)
                } else {
                    // Debug: one client's misbehaviour must not be able to fill the log.
                    tracing::debug!(client, filter, "subscription refused");
                    let failure = SubscribeAclResult::new_failure(SubscribeAckReason::NotAuthorized);
                    (false, Some(HookResult::SubscribeAclResult(failure)))
                }
            }
            Parameter::MessagePublishCheckAcl(session, publish) => {
                let client = &*session.id.client_id;
                let topic = &*publish.topic;
                let allowed = match hooks.topics.may_publish(client, topic) {
                    Some(allowed) => allowed,
                    None => hooks.gate.allow_publish(client, topic),
                };
                if !allowed {
                    tracing::debug!(client, topic, "publish refused");
                    let refused = PublishAclResult::rejected(false, Some(ByteString::from_static("not authorized")));
                    return (false, Some(HookResult::PublishAclResult(refused)));
                }
                if hooks.topics.request_client(topic).is_some() {
                    let properties = publish.properties.as_ref();
                    let taken = hooks
                        .gate
                        .request(InboundRequest {
                            client_id: client.to_owned(),
                            payload: publish.payload.clone(),
                            correlation_data: properties.and_then(|p| p.correlation_data.clone()),
                            response_topic: properties.and_then(|p| p.response_topic.as_ref().map(|t| t.to_string())),
                            ack: None,
                        })
                        .await;
                    if taken.is_err() {
                        let closing = PublishAclResult::rejected(true, Some(ByteString::from_static("server closing")));
                        return (false, Some(HookResult::PublishAclResult(closing)));
                    }
                }
                (false, Some(HookResult::PublishAclResult(PublishAclResult::allow())))
            }
            _ => (true, acc),
        }
    }
}
