//! The server: embedded broker + dispatch + hooks + query engine + live subscriptions.

mod builder;
mod change_bus;
mod dispatch;
mod gate;
mod idempotency;
mod metrics;
mod notifier;
mod operations;
mod reply_log;
mod shared;
mod subscription_rows;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

use builder::Config;
pub use builder::{Access, AclCallback, CredentialsCallback, ServerBuilder};
use idempotency::ReplyCache;
use notifier::Notifier;
use shared::{Core, sweep};

use crate::db::Database;
use crate::engine::Engine;
use crate::entity::{EntityDef, EntityRegistry};
use crate::error::{Result, StartError};
use crate::hooks::HookRegistry;
use crate::protocol::Topics;
use crate::subscription::SubscriptionRegistry;
use crate::transport::{EmbeddedBroker, ExternalBroker, Readiness, Transport};

/// How long shutdown waits for replies to be delivered before it disconnects everyone.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);

/// A running mqttspec server.
pub struct Server {
    core: Arc<Core>,
    broker: Box<dyn Transport>,
    notifier: JoinHandle<()>,
    sweeper: JoinHandle<()>,
    metrics: Option<metrics::MetricsEndpoint>,
}

/// What [`Server::health`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    /// The broker connection.
    pub broker: Readiness,
    /// Whether the database answered.
    pub database: bool,
}

impl Health {
    /// Ready to serve: connected to the broker, the database answers.
    pub fn ready(&self) -> bool {
        self.broker == Readiness::Connected && self.database
    }
}

/// A server dropped without [`Server::shutdown`] stops at once: its tasks end, its broker
/// closes its listeners (with the embedded one), and its memory is freed. Requests in flight are
/// not answered; use `shutdown` for a graceful end.
impl Drop for Server {
    fn drop(&mut self) {
        self.notifier.abort();
        self.sweeper.abort();
        // Closing the queues ends the workers once their current request is done.
        self.core.lock_workers().clear();
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("broker", &self.broker).finish_non_exhaustive()
    }
}

impl Server {
    /// A builder with defaults: embedded broker on 127.0.0.1:1883, SQLite `mqttspec.db`.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    async fn start(config: Config) -> std::result::Result<Self, StartError> {
        if !Topics::valid_prefix(&config.topic_prefix) {
            return Err(StartError::Setting {
                setting: "topic_prefix",
                problem: format!(
                    "`{}` is unusable: no wildcards, no empty levels, no leading `$`",
                    config.topic_prefix
                ),
            });
        }
        let mut defs: Vec<EntityDef> = config.entities.clone();
        if config.discover_entities {
            defs.extend(EntityRegistry::discovered());
        }
        let registry = EntityRegistry::new(defs).map_err(StartError::Entities)?;
        let db = prepare_database(&config, &registry).await.map_err(StartError::Database)?;
        let engine = Engine::new(db, Arc::new(registry)).with_max_limit(config.max_limit);
        let (notifier, notifier_handle) = Notifier::new();
        let core = Arc::new(Core {
            engine,
            hooks: {
                let mut hooks =
                    if config.discover_hooks { HookRegistry::discovered() } else { HookRegistry::default() };
                hooks.extend(&config.hooks);
                hooks
            },
            topics: Topics::new(config.topic_prefix.clone()),
            subscriptions: SubscriptionRegistry::new(config.max_subscriptions_per_client),
            replies: ReplyCache::new(config.idempotency_window, config.idempotency_keep_last),
            config,
            publisher: std::sync::OnceLock::new(),
            instance: std::sync::OnceLock::new(),
            notifier: notifier_handle,
            clients: Mutex::new(HashMap::new()),
            owners: Mutex::new(HashMap::new()),
            workers: Mutex::new(HashMap::new()),
            worker_tasks: Mutex::new(Vec::new()),
            accepting: AtomicBool::new(true),
            closing: AtomicBool::new(false),
            refusing: std::sync::atomic::AtomicUsize::new(0),
        });
        let gate = Arc::new(gate::CoreGate::new(&core));
        let broker: Box<dyn Transport> = match &core.config.external {
            Some(external) => {
                let max_packet = core.config.embedded.max_packet_size;
                let qos = core.config.request_qos;
                let broker = ExternalBroker::start(external, max_packet, qos, core.topics.clone(), gate).await;
                Box::new(broker.map_err(StartError::Broker)?)
            }
            None => {
                let broker = EmbeddedBroker::start(&core.config.embedded, core.topics.clone(), gate).await;
                Box::new(broker.map_err(StartError::Broker)?)
            }
        };
        core.publisher.set(broker.publisher()).ok().expect("set once");
        core.instance.set(core.publisher().instance()).expect("set once");
        let metrics = match core.config.metrics {
            Some(addr) => Some(
                metrics::serve(addr, Arc::downgrade(&core))
                    .await
                    .map_err(|problem| StartError::Setting { setting: "metrics", problem })?,
            ),
            None => None,
        };
        let notifier = tokio::spawn(notifier.run(core.clone()));
        let sweeper = tokio::spawn(sweep(Arc::downgrade(&core)));
        Ok(Self { core, broker, notifier, sweeper, metrics })
    }

    /// The embedded broker's TCP address (`None` with an external broker).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.broker.tcp_addr()
    }

    /// The embedded broker's WebSocket address, when one is configured.
    pub fn websocket_addr(&self) -> Option<SocketAddr> {
        self.broker.ws_addr()
    }

    /// The address of the Prometheus endpoint (`GET /metrics`), when [`ServerBuilder::metrics`] set one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|m| m.addr)
    }

    /// Whether the server is reachable through its broker now (always `Connected` with the
    /// embedded broker; with an external one, `Reconnecting` while the connection is down).
    pub fn readiness(&self) -> Readiness {
        *self.broker.readiness().borrow()
    }

    /// Health for a readiness probe: the broker connection and a database round trip (at most
    /// `timeout`).
    pub async fn health(&self, timeout: Duration) -> Health {
        let database = tokio::time::timeout(timeout, async {
            let mut conn = self.core.engine.db().acquire().await?;
            conn.conn().ping().await
        })
        .await;
        Health { broker: self.readiness(), database: matches!(database, Ok(Ok(()))) }
    }

    /// Waits until the server is reachable through its broker, at most `timeout`; returns the
    /// readiness reached.
    pub async fn ready(&self, timeout: Duration) -> Readiness {
        let mut readiness = self.broker.readiness();
        let _ = tokio::time::timeout(timeout, readiness.wait_for(|r| *r == Readiness::Connected)).await;
        *readiness.borrow()
    }

    /// Number of live subscriptions.
    pub fn subscription_count(&self) -> usize {
        self.core.subscriptions.len()
    }

    /// The query engine (for direct use next to the server).
    pub fn engine(&self) -> &Engine {
        &self.core.engine
    }

    /// Serves until Ctrl-C or SIGTERM, then shuts down gracefully.
    pub async fn run(self) -> Result<()> {
        self.serve_with_shutdown(async {
            shutdown_signal().await;
            tracing::info!("shutdown signal received");
        })
        .await
    }

    /// Serves until `signal` completes (a channel, a test's trigger, the application's own
    /// signal handling), then shuts down gracefully.
    pub async fn serve_with_shutdown(self, signal: impl std::future::Future<Output = ()>) -> Result<()> {
        signal.await;
        self.shutdown().await;
        Ok(())
    }

    /// Graceful shutdown: stops accepting requests and connections, finishes the requests in
    /// flight and sends their replies and notifications, then disconnects everyone.
    pub async fn shutdown(self) {
        // The broker first: with an external broker this hands the clients to the other
        // instances, serving every request routed here before the handover.
        self.broker.stop_accepting().await;
        self.core.accepting.store(false, Ordering::SeqCst);
        // Closing the queues lets every worker finish what it holds, then end; a request that
        // slipped in as accepting stopped may have started one more worker: wait for those too.
        self.core.lock_workers().clear();
        loop {
            let tasks =
                std::mem::take(&mut *self.core.worker_tasks.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
            if tasks.is_empty() {
                break;
            }
            for task in tasks {
                let _ = task.await;
            }
            self.core.lock_workers().clear();
        }
        self.core.notifier.flush().await;
        if self.core.config.external.is_some() {
            // The clients go on with the other instances: their subscriptions end here.
            self.core.hand_over_subscriptions(true, "the instance that held the subscription stopped").await;
        }
        self.notifier.abort();
        self.sweeper.abort();
        // From here requests are refused at the broker (no PUBACK: the client sends them again
        // to the next server); refusals already being answered finish first.
        self.core.closing.store(true, Ordering::SeqCst);
        while self.core.refusing.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // Replies were handed to the sessions; wait until they are delivered (acknowledged at QoS ≥ 1).
        self.broker.drain(SHUTDOWN_DRAIN).await;
        self.broker.disconnect_all().await;
        self.core.engine.db().close().await;
        tracing::info!("server stopped");
    }
}

/// Opens (or takes) the database, checks it, and creates what the configuration asks for.
async fn prepare_database(config: &Config, registry: &EntityRegistry) -> Result<Database> {
    let db = match &config.database {
        Some(db) => db.clone(),
        None => Database::connect_with(&config.database_url, &config.database_options).await?,
    };
    db.check().await?;
    if config.create_tables {
        db.create_tables(registry.entities()).await?;
    }
    if config.durable_replies {
        reply_log::create_table(&db).await?;
    }
    if config.external.is_some() {
        subscription_rows::create_table(&db).await?;
    }
    Ok(db)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
