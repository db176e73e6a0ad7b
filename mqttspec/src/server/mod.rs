//! The server: embedded broker + dispatch + hooks + query engine + live subscriptions.

mod builder;
mod change_bus;
mod dispatch;
mod gate;
mod idempotency;
mod notifier;
mod operations;
mod reply_log;
mod subscription_rows;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use builder::Config;
pub use builder::{Access, AclCallback, CredentialsCallback, ServerBuilder};
use idempotency::ReplyCache;
use notifier::{Notifier, NotifierHandle};

use crate::db::Database;
use crate::engine::Engine;
use crate::entity::{EntityDef, EntityRegistry};
use crate::error::{Result, StartError};
use crate::hooks::{Client, HookContext, HookPoint, HookRegistry};
use crate::protocol::Topics;
use crate::subscription::SubscriptionRegistry;
use crate::transport::{EmbeddedBroker, ExternalBroker, InboundRequest, Publisher, Readiness, Transport};

/// A client's request queue with an external broker: above the connection's receive window.
const EXTERNAL_QUEUE_PER_CLIENT: usize = 1100;

/// How long shutdown waits for replies to be delivered before it disconnects everyone.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);

/// A running mqttspec server.
pub struct Server {
    core: Arc<Core>,
    broker: Box<dyn Transport>,
    notifier: JoinHandle<()>,
    sweeper: JoinHandle<()>,
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

/// What every part of the running server shares.
pub(crate) struct Core {
    pub engine: Engine,
    pub hooks: HookRegistry,
    pub topics: Topics,
    pub subscriptions: SubscriptionRegistry,
    pub replies: ReplyCache,
    pub config: Config,
    pub publisher: std::sync::OnceLock<Arc<dyn Publisher>>,
    /// This instance's name among those sharing an external broker (logged with every request).
    pub instance: std::sync::OnceLock<Option<String>>,
    pub notifier: NotifierHandle,
    clients: Mutex<HashMap<String, ClientEntry>>,
    /// The principal of the connection that last took each client id, while the broker may keep a
    /// session for it: a connection of another principal must not inherit that session.
    owners: Mutex<HashMap<String, SessionOwner>>,
    workers: Mutex<HashMap<String, mpsc::Sender<InboundRequest>>>,
    worker_tasks: Mutex<Vec<JoinHandle<()>>>,
    accepting: AtomicBool,
    /// Set at the end of a shutdown: requests are refused at the broker, not answered.
    closing: AtomicBool,
    /// Refusals being answered now (shutdown waits for them before draining).
    refusing: std::sync::atomic::AtomicUsize,
}

struct ClientEntry {
    client: Client,
    session: u64,
    persistent: bool,
}

struct SessionOwner {
    principal: Option<String>,
    session: u64,
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
        let notifier = tokio::spawn(notifier.run(core.clone()));
        let sweeper = tokio::spawn(sweep(Arc::downgrade(&core)));
        Ok(Self { core, broker, notifier, sweeper })
    }

    /// The embedded broker's TCP address (`None` with an external broker).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.broker.tcp_addr()
    }

    /// The embedded broker's WebSocket address, when one is configured.
    pub fn websocket_addr(&self) -> Option<SocketAddr> {
        self.broker.ws_addr()
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
        None => Database::connect(&config.database_url).await?,
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

/// Forgets remembered replies of clients long gone.
async fn sweep(core: std::sync::Weak<Core>) {
    let period = match core.upgrade() {
        Some(core) => {
            (core.config.subscription_retention / 4).clamp(Duration::from_millis(50), Duration::from_secs(30))
        }
        None => return,
    };
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        let Some(core) = core.upgrade() else { return };
        {
            let clients = core.lock_clients();
            core.replies.sweep(|id| clients.contains_key(id));
        }
        let expired = core.subscriptions.expire(core.config.subscription_retention, core.config.subscription_log_age);
        if !expired.is_empty() {
            tracing::debug!(expired = expired.len(), "subscriptions past their retention ended");
            core.forget_subscriptions(&expired).await;
        }
        if core.config.durable_replies
            && let Err(e) = reply_log::sweep(core.engine.db(), core.config.idempotency_window).await
        {
            tracing::warn!(error = %e, "logged replies not swept");
        }
    }
}

impl Core {
    fn lock_clients(&self) -> std::sync::MutexGuard<'_, HashMap<String, ClientEntry>> {
        self.clients.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_workers(&self) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::Sender<InboundRequest>>> {
        self.workers.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn publisher(&self) -> &Arc<dyn Publisher> {
        self.publisher.get().expect("publisher set at start")
    }

    /// Ended subscriptions leave the shared record of who holds what (external brokers).
    pub(crate) async fn forget_subscriptions(&self, ids: &[String]) {
        if self.config.external.is_some()
            && let Err(e) = subscription_rows::delete(self.engine.db(), ids).await
        {
            tracing::warn!(error = %e, "ended subscriptions not removed from the database");
        }
    }

    /// Records a new subscription as held here (external brokers).
    pub(crate) async fn record_subscription(&self, subscription: &crate::subscription::Subscription) -> Result<()> {
        let Some(instance) = self.publisher().instance().filter(|_| self.config.external.is_some()) else {
            return Ok(());
        };
        let meta = &subscription.entity.meta;
        subscription_rows::insert(
            self.engine.db(),
            &subscription.id,
            subscription.client.id(),
            &instance,
            meta.schema,
            meta.name,
        )
        .await
    }

    /// Ends a subscription this instance cannot keep, telling its client to resync.
    async fn end_with_resync(&self, id: &str, client: &str, schema: &str, entity: &str, last_seq: u64, why: &str) {
        let notice = crate::protocol::resync_notice(id, schema, entity, last_seq, why);
        let message = crate::transport::Outbound {
            topic: self.topics.notify(client, id),
            payload: bytes::Bytes::from(serde_json::to_vec(&notice).expect("serializable")),
            qos: self.config.notification_qos,
            correlation_data: None,
        };
        if let Err(e) = self.publisher().publish(message).await {
            tracing::warn!(subscription = id, error = %e, "resync notice not sent");
        }
    }

    /// Ends every local subscription whose client this instance no longer serves, or all of them
    /// (`all`: the instance stops), each with a resync notice.
    pub(crate) async fn hand_over_subscriptions(&self, all: bool, why: &str) {
        let mut ended = Vec::new();
        for subscription in self.subscriptions.all() {
            let client = subscription.client.id();
            if !all && self.publisher().serves(client) {
                continue;
            }
            if self.subscriptions.remove(client, &subscription.id).is_ok() {
                let meta = &subscription.entity.meta;
                self.end_with_resync(&subscription.id, client, meta.schema, meta.name, subscription.seq(), why).await;
                ended.push(subscription.id.clone());
            }
        }
        self.forget_subscriptions(&ended).await;
    }

    fn lock_owners(&self) -> std::sync::MutexGuard<'_, HashMap<String, SessionOwner>> {
        self.owners.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the connection now holding `client`'s id (if any) is the same principal.
    fn holds_identity(&self, client: &Client) -> bool {
        self.lock_clients().get(client.id()).is_none_or(|e| e.client.principal() == client.principal())
    }

    fn client(&self, id: &str) -> Client {
        self.lock_clients().get(id).map(|e| e.client.clone()).unwrap_or_else(|| Client::new(id, None, None, None))
    }

    /// The end of a connection: disconnect hooks around the detaching of its subscriptions
    /// (they wait while a persistent session lives, else stay resumable for a while) and the
    /// end of its queue.
    async fn end_session(&self, client_id: &str, client: &Client, persistent: bool) {
        tracing::debug!(client = client_id, "disconnected");
        if let Err(e) = self.run_client_hook(HookPoint::BeforeDisconnect, client).await {
            tracing::warn!(client = client_id, error = %e, "before_disconnect hook failed");
        }
        self.subscriptions.detach_client(client_id, persistent);
        self.lock_workers().remove(client_id);
        if let Err(e) = self.run_client_hook(HookPoint::AfterDisconnect, client).await {
            tracing::warn!(client = client_id, error = %e, "after_disconnect hook failed");
        }
    }

    async fn run_client_hook(&self, point: HookPoint, client: &Client) -> Result<()> {
        if !self.hooks.has(point) {
            return Ok(());
        }
        let mut ctx = HookContext::connection(point, client.clone());
        self.hooks.run(&mut ctx).await
    }

    /// The queue of a client's worker, spawning the worker on first use.
    fn worker(self: &Arc<Self>, client_id: &str) -> mpsc::Sender<InboundRequest> {
        let mut workers = self.lock_workers();
        if let Some(sender) = workers.get(client_id)
            && !sender.is_closed()
        {
            return sender.clone();
        }
        // With an external broker one task hands every client's requests over: a full queue would
        // hold up everyone. Requests are acknowledged once answered, so the broker's window (1024)
        // bounds what can wait here, and a queue larger than it never fills for QoS ≥ 1.
        let capacity = if self.config.external.is_some() {
            self.config.queue_per_client.max(EXTERNAL_QUEUE_PER_CLIENT)
        } else {
            self.config.queue_per_client
        };
        let (sender, receiver) = mpsc::channel(capacity);
        workers.insert(client_id.to_owned(), sender.clone());
        drop(workers);
        let core = self.clone();
        let client = self.client(client_id);
        let task = tokio::spawn(dispatch::worker(core, client, receiver));
        let mut tasks = self.worker_tasks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
        sender
    }
}
