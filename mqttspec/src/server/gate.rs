//! The broker's way into the server ([`Gate`]): connects, requests, disconnects, and the
//! cluster's events. The broker holds it weakly, so that a server dropped without `shutdown()`
//! is freed (no `Arc` cycle between the core and its broker).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use tokio::sync::mpsc;

use super::shared::{ClientEntry, Core, SessionOwner};
use super::{change_bus, dispatch, subscription_rows};
use crate::hooks::{Client, HookPoint};
use crate::server::Access;
use crate::transport::{ConnectDecision, ConnectRequest, Gate, InboundRequest};

/// What the broker holds: the core while it lives.
pub(super) struct CoreGate(Weak<Core>);

impl CoreGate {
    pub(super) fn new(core: &Arc<Core>) -> Self {
        Self(Arc::downgrade(core))
    }

    fn live(&self) -> Option<LiveGate> {
        self.0.upgrade().map(LiveGate)
    }
}

#[async_trait::async_trait]
impl Gate for CoreGate {
    async fn connect(&self, request: ConnectRequest) -> ConnectDecision {
        match self.live() {
            Some(gate) => gate.connect(request).await,
            None => ConnectDecision::Unavailable,
        }
    }

    async fn session_ended(&self, client_id: &str, session: u64) {
        if let Some(gate) = self.live() {
            gate.session_ended(client_id, session).await;
        }
    }

    async fn connected(&self, client_id: &str, session: u64) {
        if let Some(gate) = self.live() {
            gate.connected(client_id, session).await;
        }
    }

    async fn disconnected(&self, client_id: &str, session: u64) {
        if let Some(gate) = self.live() {
            gate.disconnected(client_id, session).await;
        }
    }

    async fn request(&self, request: InboundRequest) -> std::result::Result<(), InboundRequest> {
        match self.live() {
            Some(gate) => gate.request(request).await,
            None => Err(request),
        }
    }

    async fn remote_changes(&self, changes: bytes::Bytes) {
        if let Some(gate) = self.live() {
            gate.remote_changes(changes).await;
        }
    }

    async fn ownership_changed(&self) {
        if let Some(gate) = self.live() {
            gate.ownership_changed().await;
        }
    }

    async fn instance_departed(&self, instance: &str) {
        if let Some(gate) = self.live() {
            gate.instance_departed(instance).await;
        }
    }

    async fn refused(&self, request: InboundRequest) {
        if let Some(gate) = self.live() {
            gate.refused(request).await;
        }
    }

    fn allow_publish(&self, client_id: &str, topic: &str) -> bool {
        self.live().is_some_and(|gate| gate.allow_publish(client_id, topic))
    }

    fn allow_subscribe(&self, client_id: &str, filter: &str) -> bool {
        self.live().is_some_and(|gate| gate.allow_subscribe(client_id, filter))
    }
}

/// The broker's view of the server.
/// The gate of a live core: what the broker's events do to the server.
struct LiveGate(Arc<Core>);

impl std::ops::Deref for LiveGate {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.0
    }
}

#[async_trait::async_trait]
impl Gate for LiveGate {
    async fn connect(&self, request: ConnectRequest) -> ConnectDecision {
        if !self.accepting.load(Ordering::SeqCst) {
            return ConnectDecision::Unavailable;
        }
        if let Some(check) = &self.config.credentials
            && !crate::error::guard_sync("credentials", || check(&request)).unwrap_or(false)
        {
            return ConnectDecision::BadCredentials;
        }
        let client = Client::new(request.client_id.clone(), request.username, request.password, request.remote_addr);
        if let Err(e) = self.run_client_hook(HookPoint::BeforeConnect, &client).await {
            tracing::info!(client = %request.client_id, error = %e, "before_connect refused the client");
            return ConnectDecision::NotAuthorized;
        }
        // The broker may keep an earlier session of this client id (queued replies and
        // notifications): only the same principal inherits it.
        let principal = client.principal();
        let owner = SessionOwner { principal: principal.clone(), session: request.session };
        let inherits = match self.lock_owners().insert(request.client_id.clone(), owner) {
            Some(previous) => previous.principal == principal,
            None => true,
        };
        let entry = ClientEntry { client, session: request.session, persistent: request.persistent };
        let previous = self.lock_clients().insert(request.client_id.clone(), entry);
        // A reconnect takes over the client id: the previous connection's identity, metadata,
        // subscriptions and queue end here (its own disconnect, reported later, is then ignored).
        if let Some(previous) = previous.filter(|p| p.session != request.session) {
            self.end_session(&request.client_id, &previous.client, previous.persistent).await;
        }
        if !inherits {
            // Another principal's subscriptions are not this one's to resume.
            let ended = self.subscriptions.remove_client(&request.client_id);
            self.forget_subscriptions(&ended).await;
        }
        if inherits {
            ConnectDecision::Accept
        } else {
            tracing::info!(client = %request.client_id, "another principal's session discarded");
            ConnectDecision::AcceptFresh
        }
    }

    async fn session_ended(&self, client_id: &str, session: u64) {
        let ended = {
            let mut owners = self.lock_owners();
            let ended = owners.get(client_id).is_some_and(|o| o.session == session);
            if ended {
                owners.remove(client_id);
            }
            ended
        };
        if ended {
            // Resumable for the retention time, then gone.
            self.subscriptions.end_client_session(client_id);
        }
    }

    async fn connected(&self, client_id: &str, _session: u64) {
        tracing::debug!(client = client_id, "connected");
        let client = self.client(client_id);
        // A persistent session is back: what its subscriptions queued meanwhile, in seq order.
        let persistent = self.lock_clients().get(client_id).is_some_and(|e| e.persistent);
        if persistent {
            for subscription in self.subscriptions.of_client(client_id) {
                if subscription.presence() == crate::subscription::Presence::Away {
                    let after = subscription.last_delivered();
                    self.notifier.replay(subscription, after).await;
                }
            }
        }
        if let Err(e) = self.run_client_hook(HookPoint::AfterConnect, &client).await {
            tracing::warn!(client = client_id, error = %e, "after_connect hook failed");
        }
    }

    async fn disconnected(&self, client_id: &str, session: u64) {
        // A reconnect of the same client id can be reported before the old session's end.
        let (client, persistent) = match self.lock_clients().get(client_id) {
            Some(entry) if entry.session == session => (entry.client.clone(), entry.persistent),
            _ => return,
        };
        {
            let mut clients = self.lock_clients();
            if clients.get(client_id).is_some_and(|e| e.session == session) {
                clients.remove(client_id);
            }
        }
        self.end_session(client_id, &client, persistent).await;
    }

    async fn request(&self, request: InboundRequest) -> std::result::Result<(), InboundRequest> {
        if !self.accepting.load(Ordering::SeqCst) {
            // Counted before `closing` is read: shutdown waits for every refusal that saw it unset.
            self.refusing.fetch_add(1, Ordering::SeqCst);
            let closing = self.closing.load(Ordering::SeqCst);
            let outcome = if closing {
                Err(request)
            } else {
                tracing::info!(client = %request.client_id, "request refused: shutting down");
                let error =
                    crate::Error::new(crate::ErrorCode::Unavailable, "the server is shutting down; retry later");
                dispatch::refuse(&self.0, request, &error).await;
                Ok(())
            };
            self.refusing.fetch_sub(1, Ordering::SeqCst);
            return outcome;
        }
        let sender = self.0.worker(&request.client_id);
        if let Err(mpsc::error::SendError(request)) = sender.send(request).await {
            // The worker ended under us (its client reconnected): hand it to a fresh one.
            if self.0.worker(&request.client_id).send(request).await.is_err() {
                tracing::error!("request dropped: no worker takes it");
            }
        }
        Ok(())
    }

    async fn remote_changes(&self, changes: bytes::Bytes) {
        match change_bus::decode(self.engine.registry(), &changes) {
            Ok(changes) if !changes.is_empty() => self.notifier.publish_remote(changes),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "undecodable changes from another instance"),
        }
    }

    async fn ownership_changed(&self) {
        self.hand_over_subscriptions(false, "the client is now served by another instance").await;
    }

    async fn instance_departed(&self, instance: &str) {
        match subscription_rows::take_instance(self.engine.db(), instance).await {
            Ok(rows) => {
                for [id, client, schema, entity] in rows {
                    let why = "the instance that held the subscription stopped";
                    self.end_with_resync(&id, &client, &schema, &entity, 0, why).await;
                }
            }
            Err(e) => tracing::warn!(instance, error = %e, "a departed instance's subscriptions not found"),
        }
    }

    async fn refused(&self, request: InboundRequest) {
        let error = crate::Error::new(crate::ErrorCode::Unauthorized, "refused by before_connect");
        dispatch::refuse(&self.0, request, &error).await;
    }

    fn allow_publish(&self, client_id: &str, topic: &str) -> bool {
        let acl = |acl: &crate::server::AclCallback| {
            crate::error::guard_sync("acl", || acl(client_id, topic, Access::Publish)).unwrap_or(false)
        };
        self.config.acl.as_ref().is_none_or(acl)
    }

    fn allow_subscribe(&self, client_id: &str, filter: &str) -> bool {
        let acl = |acl: &crate::server::AclCallback| {
            crate::error::guard_sync("acl", || acl(client_id, filter, Access::Subscribe)).unwrap_or(false)
        };
        self.config.acl.as_ref().is_none_or(acl)
    }
}
