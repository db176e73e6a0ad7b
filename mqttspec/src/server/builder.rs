//! Server configuration: a builder that keeps defaults for whatever is not set.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::Server;
use crate::db::Database;
use crate::entity::{Entity, EntityDef};
use crate::hooks::{Hook, HookPoint, HookRegistry};
use crate::transport::{ConnectRequest, EmbeddedConfig, ExternalBrokerConfig, QoS};

/// What a topic ACL callback is asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Publishing to a topic.
    Publish,
    /// Subscribing to a filter.
    Subscribe,
}

/// Decides access to topics outside the protocol's namespace: `(client_id, topic, access)`.
pub type AclCallback = Arc<dyn Fn(&str, &str, Access) -> bool + Send + Sync>;
/// Checks credentials at CONNECT; `false` refuses with "bad username or password".
pub type CredentialsCallback = Arc<dyn Fn(&ConnectRequest) -> bool + Send + Sync>;

/// Server settings.
#[derive(Clone)]
pub(crate) struct Config {
    pub database_url: String,
    pub database_options: crate::db::DatabaseOptions,
    pub database: Option<Database>,
    pub entities: Vec<EntityDef>,
    pub discover_entities: bool,
    pub create_tables: bool,
    /// Hooks added on the builder.
    pub hooks: HookRegistry,
    /// Whether the hooks declared with `#[hook]` run too.
    pub discover_hooks: bool,
    pub topic_prefix: String,
    pub request_qos: QoS,
    pub response_qos: QoS,
    pub notification_qos: QoS,
    pub max_limit: u64,
    pub max_subscriptions_per_client: usize,
    pub idempotency_window: Duration,
    pub idempotency_keep_last: usize,
    pub embedded: EmbeddedConfig,
    pub external: Option<ExternalBrokerConfig>,
    pub acl: Option<AclCallback>,
    pub credentials: Option<CredentialsCallback>,
    pub queue_per_client: usize,
    pub durable_replies: bool,
    pub subscription_log_len: usize,
    pub subscription_log_age: Duration,
    pub subscription_retention: Duration,
    pub metrics: Option<SocketAddr>,
}

/// Builds a [`Server`]: `Server::builder().database_url("sqlite://app.db").start().await`.
pub struct ServerBuilder {
    config: Config,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("database_url", &self.config.database_url)
            .field("listen", &self.config.embedded.tcp)
            .field("topic_prefix", &self.config.topic_prefix)
            .finish_non_exhaustive()
    }
}

impl Default for ServerBuilder {
    fn default() -> Self {
        Self {
            config: Config {
                database_url: "sqlite://mqttspec.db".into(),
                database_options: crate::db::DatabaseOptions::default(),
                database: None,
                metrics: None,
                entities: Vec::new(),
                discover_entities: true,
                create_tables: false,
                hooks: HookRegistry::default(),
                discover_hooks: true,
                topic_prefix: "spec".into(),
                request_qos: QoS::AtLeastOnce,
                response_qos: QoS::AtLeastOnce,
                notification_qos: QoS::AtLeastOnce,
                max_limit: crate::engine::DEFAULT_MAX_LIMIT,
                max_subscriptions_per_client: 100,
                idempotency_window: Duration::from_secs(60),
                idempotency_keep_last: 1000,
                embedded: EmbeddedConfig::default(),
                external: None,
                acl: None,
                credentials: None,
                queue_per_client: 64,
                durable_replies: true,
                subscription_log_len: 100,
                subscription_log_age: Duration::from_secs(300),
                subscription_retention: Duration::from_secs(300),
            },
        }
    }
}

impl ServerBuilder {
    /// Database URL (`sqlite://file.db`, `sqlite::memory:`, `postgres://...`). Default `sqlite://mqttspec.db`.
    pub fn database_url(mut self, url: impl Into<String>) -> Self {
        self.config.database_url = url.into();
        self
    }

    /// Pool options for the database opened from the URL: acquire and statement timeouts, size.
    pub fn database_options(mut self, options: crate::db::DatabaseOptions) -> Self {
        self.config.database_options = options;
        self
    }

    /// An already connected database (its own pool options apply).
    pub fn database(mut self, db: Database) -> Self {
        self.config.database = Some(db);
        self
    }

    /// Serves entity `E` (in addition to every entity found through `inventory`).
    pub fn entity<E: Entity>(mut self) -> Self {
        self.config.entities.push(EntityDef::of::<E>());
        self
    }

    /// Serves only the entities given with [`entity`](Self::entity), ignoring `inventory`.
    pub fn without_discovery(mut self) -> Self {
        self.config.discover_entities = false;
        self
    }

    /// Creates missing tables at start-up from the entities' metadata (examples, tests, prototypes).
    pub fn create_tables(mut self, create: bool) -> Self {
        self.config.create_tables = create;
        self
    }

    /// Adds a hook for every entity (see [`hook_fn`](crate::hooks::hook_fn)).
    pub fn hook(mut self, point: HookPoint, priority: i32, name: &str, hook: impl Hook) -> Self {
        self.config.hooks.add(point, None, priority, name, hook);
        self
    }

    /// Adds a hook with its options by name:
    /// `.add_hook(HookSpec::new(HookPoint::AfterCreate, hook_fn!(|ctx| async move { Ok(()) })).priority(5))`.
    pub fn add_hook(mut self, spec: crate::hooks::HookSpec) -> Self {
        self.config.hooks.add_spec(spec);
        self
    }

    /// Adds a hook that runs for entity `E` only.
    pub fn hook_for<E: Entity>(mut self, point: HookPoint, priority: i32, name: &str, hook: impl Hook) -> Self {
        self.config.hooks.add(point, Some(EntityDef::of::<E>()), priority, name, hook);
        self
    }

    /// Leaves out the hooks declared with `#[hook]`; hooks added on the builder (before or
    /// after this call) still run.
    pub fn without_discovered_hooks(mut self) -> Self {
        self.config.discover_hooks = false;
        self
    }

    /// Topic prefix (default `spec`).
    pub fn topic_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.config.topic_prefix = prefix.into();
        self
    }

    /// Same as [`topic_prefix`](Self::topic_prefix), under the Go package's name.
    pub fn with_topic_prefix(self, prefix: impl Into<String>) -> Self {
        self.topic_prefix(prefix)
    }

    /// QoS of requests (the server's subscription on an external broker), responses and notifications.
    pub fn qos(self, request: QoS, response: QoS, notification: QoS) -> Self {
        self.request_qos(request).response_qos(response).notification_qos(notification)
    }

    /// QoS of the server's subscription to request topics (default 1). With an external broker
    /// it is the QoS the broker delivers requests at; keep 1 for requests that survive a restart.
    pub fn request_qos(mut self, qos: QoS) -> Self {
        self.config.request_qos = qos;
        self
    }

    /// QoS of replies (default 1).
    pub fn response_qos(mut self, qos: QoS) -> Self {
        self.config.response_qos = qos;
        self
    }

    /// QoS of notifications (default 1).
    pub fn notification_qos(mut self, qos: QoS) -> Self {
        self.config.notification_qos = qos;
        self
    }

    /// Address of the embedded broker's TCP listener (default `127.0.0.1:1883`; port 0 picks one).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.config.embedded.tcp = addr;
        self
    }

    /// Serves through an external broker instead of the embedded one (Mosquitto, EMQX, an rmqtt
    /// cluster); the broker's ACL must confine each client to its own topics (see `deploy/`).
    /// `listen`, `websocket`, `credentials`, `acl` and `max_connections` are the embedded
    /// broker's and do not apply.
    pub fn external_broker(mut self, config: ExternalBrokerConfig) -> Self {
        self.config.external = Some(config);
        self
    }

    /// Same as [`external_broker`](Self::external_broker), under the Go package's name.
    pub fn with_external_broker(self, config: ExternalBrokerConfig) -> Self {
        self.external_broker(config)
    }

    /// Serves MQTT over TLS with this certificate chain and private key (PEM files): the TCP
    /// listener speaks TLS (`mqtts://`, port 8883 by convention) and the WebSocket one `wss://`.
    /// Unreadable files or a key that does not match fail [`start`](Self::start).
    pub fn tls(mut self, cert: impl Into<std::path::PathBuf>, key: impl Into<std::path::PathBuf>) -> Self {
        self.config.embedded.tls = Some(crate::transport::TlsFiles { cert: cert.into(), key: key.into() });
        self
    }

    /// Serves Prometheus metrics on `http://{addr}/metrics` (port 0 picks one; see
    /// [`Server::metrics_addr`]). This installs `metrics-exporter-prometheus` as the process's
    /// `metrics` recorder; without it the server still reports through whatever recorder the
    /// application installed. The names are listed in the crate documentation.
    pub fn metrics(mut self, addr: SocketAddr) -> Self {
        self.config.metrics = Some(addr);
        self
    }

    /// Adds a WebSocket listener to the embedded broker (clients send `Sec-WebSocket-Protocol: mqtt`).
    pub fn websocket(mut self, addr: SocketAddr) -> Self {
        self.config.embedded.ws = Some(addr);
        self
    }

    /// Largest PUBLISH accepted (default 1 MiB); larger packets are refused by the broker.
    pub fn max_payload(mut self, bytes: u32) -> Self {
        self.config.embedded.max_packet_size = bytes.max(64);
        self
    }

    /// Limits of the embedded broker's retained messages (topics outside the namespace): at most
    /// `messages` of them and `bytes` of topic and payload together (default 10,000 and 64 MiB);
    /// beyond, a new retained message is not kept (it is still delivered live).
    pub fn max_retained(mut self, messages: usize, bytes: usize) -> Self {
        self.config.embedded.max_retained_messages = messages;
        self.config.embedded.max_retained_bytes = bytes;
        self
    }

    /// Most simultaneous connections (default 10,000).
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.config.embedded.max_connections = connections.max(1);
        self
    }

    /// Cap on `limit` (default 1000).
    pub fn max_limit(mut self, max_limit: u64) -> Self {
        self.config.max_limit = max_limit.max(1);
        self
    }

    /// Subscriptions one client may hold (default 100).
    pub fn max_subscriptions_per_client(mut self, max: usize) -> Self {
        self.config.max_subscriptions_per_client = max;
        self
    }

    /// Idempotency window: replies are remembered at least this long and for the last `keep_last`
    /// requests of each client (defaults 60 s and 1000).
    pub fn idempotency_window(mut self, window: Duration, keep_last: usize) -> Self {
        self.config.idempotency_window = window;
        self.config.idempotency_keep_last = keep_last;
        self
    }

    /// Logs the reply of every write in the database, inside the write's transaction (default
    /// on): a redelivered write is then answered and never executed twice, also after a restart
    /// or on another instance. The table `mqttspec_replies` is created when missing; entries
    /// older than the idempotency window are swept. Off: replies are remembered in memory only.
    pub fn durable_replies(mut self, on: bool) -> Self {
        self.config.durable_replies = on;
        self
    }

    /// Each subscription keeps its last `len` notifications, none older than `max_age`
    /// (defaults 100 and 5 min): what a persistent session gets on its return, and what a
    /// `resume` can replay. Beyond it the oldest are dropped and the client sees a gap in `seq`.
    pub fn subscription_log(mut self, len: usize, max_age: Duration) -> Self {
        self.config.subscription_log_len = len.max(1);
        self.config.subscription_log_age = max_age;
        self
    }

    /// How long a subscription stays resumable after its client's session ended (default 5 min).
    pub fn subscription_retention(mut self, retention: Duration) -> Self {
        self.config.subscription_retention = retention;
        self
    }

    /// Decides access to topics outside the protocol's namespace (default: allowed).
    pub fn acl(mut self, acl: impl Fn(&str, &str, Access) -> bool + Send + Sync + 'static) -> Self {
        self.config.acl = Some(Arc::new(acl));
        self
    }

    /// Checks credentials at CONNECT (refusal: "bad username or password"); `before_connect`
    /// hooks run after it (refusal: "not authorized").
    pub fn credentials(mut self, check: impl Fn(&ConnectRequest) -> bool + Send + Sync + 'static) -> Self {
        self.config.credentials = Some(Arc::new(check));
        self
    }

    /// Connects the database, starts the broker and begins serving.
    pub async fn start(self) -> std::result::Result<Server, crate::StartError> {
        Server::start(self.config).await
    }
}
