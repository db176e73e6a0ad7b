//! What every part of the running server shares (`Core`): the engine, hooks, subscriptions and
//! remembered replies, the clients and their sessions, the per-client workers, and the sweeper
//! that forgets what outlived its time.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::builder::Config;
use super::idempotency::ReplyCache;
use super::notifier::NotifierHandle;
use super::{dispatch, reply_log, subscription_rows};
use crate::engine::Engine;
use crate::error::Result;
use crate::hooks::{Client, HookContext, HookPoint, HookRegistry};
use crate::protocol::Topics;
use crate::subscription::SubscriptionRegistry;
use crate::transport::{InboundRequest, Publisher};

/// What the server keeps for clients that are gone (remembered replies, resumable subscriptions)
/// is kept for at most this many of them, the most recent: churn cannot grow memory without bound.
const MAX_DEPARTED: usize = 10_000;

/// A client's request queue with an external broker: above the connection's receive window.
const EXTERNAL_QUEUE_PER_CLIENT: usize = 1100;

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
    pub(super) clients: Mutex<HashMap<String, ClientEntry>>,
    /// The principal of the connection that last took each client id, while the broker may keep a
    /// session for it: a connection of another principal must not inherit that session.
    pub(super) owners: Mutex<HashMap<String, SessionOwner>>,
    pub(super) workers: Mutex<HashMap<String, mpsc::Sender<InboundRequest>>>,
    pub(super) worker_tasks: Mutex<Vec<JoinHandle<()>>>,
    pub(super) accepting: AtomicBool,
    /// Set at the end of a shutdown: requests are refused at the broker, not answered.
    pub(super) closing: AtomicBool,
    /// Refusals being answered now (shutdown waits for them before draining).
    pub(super) refusing: std::sync::atomic::AtomicUsize,
}

pub(super) struct ClientEntry {
    pub client: Client,
    pub session: u64,
    pub persistent: bool,
}

pub(super) struct SessionOwner {
    pub principal: Option<String>,
    pub session: u64,
}

/// Forgets remembered replies of clients long gone.
pub(super) async fn sweep(core: std::sync::Weak<Core>) {
    let period = match core.upgrade() {
        Some(core) => (core.config.subscription_retention / 4).clamp(Duration::from_millis(50), Duration::from_secs(5)),
        None => return,
    };
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        let Some(core) = core.upgrade() else { return };
        {
            let clients = core.lock_clients();
            core.replies.sweep(|id| clients.contains_key(id), MAX_DEPARTED);
        }
        let (retention, log_age) = (core.config.subscription_retention, core.config.subscription_log_age);
        let expired = core.subscriptions.expire_bounded(retention, log_age, MAX_DEPARTED);
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
    pub(super) fn lock_clients(&self) -> std::sync::MutexGuard<'_, HashMap<String, ClientEntry>> {
        self.clients.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn lock_workers(&self) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::Sender<InboundRequest>>> {
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
    pub(super) async fn end_with_resync(
        &self,
        id: &str,
        client: &str,
        schema: &str,
        entity: &str,
        last_seq: u64,
        why: &str,
    ) {
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

    pub(super) fn lock_owners(&self) -> std::sync::MutexGuard<'_, HashMap<String, SessionOwner>> {
        self.owners.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the connection now holding `client`'s id (if any) is the same principal.
    pub(super) fn holds_identity(&self, client: &Client) -> bool {
        self.lock_clients().get(client.id()).is_none_or(|e| e.client.principal() == client.principal())
    }

    pub(super) fn client(&self, id: &str) -> Client {
        self.lock_clients().get(id).map(|e| e.client.clone()).unwrap_or_else(|| Client::new(id, None, None, None))
    }

    /// The end of a connection: disconnect hooks around the detaching of its subscriptions
    /// (they wait while a persistent session lives, else stay resumable for a while) and the
    /// end of its queue.
    pub(super) async fn end_session(&self, client_id: &str, client: &Client, persistent: bool) {
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

    pub(super) async fn run_client_hook(&self, point: HookPoint, client: &Client) -> Result<()> {
        if !self.hooks.has(point) {
            return Ok(());
        }
        let mut ctx = HookContext::connection(point, client.clone());
        self.hooks.run(&mut ctx).await
    }

    /// The queue of a client's worker, spawning the worker on first use.
    pub(super) fn worker(self: &Arc<Self>, client_id: &str) -> mpsc::Sender<InboundRequest> {
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
