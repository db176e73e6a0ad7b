//! Notifications: committed changes are matched against subscriptions and published, in commit
//! order, by one task, so each subscription's `seq` has no gaps and leaves in order.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use bytes::Bytes;
use futures::FutureExt;
use tokio::sync::{mpsc, oneshot};

use super::Core;
use super::metrics::{self, Dropped};
use crate::engine::{Change, project};
use crate::hooks::{HookContext, HookPoint};
use crate::operation::Operation;
use crate::protocol::{Notice, timestamp};
use crate::subscription::{Presence, Scope, Subscription};
use crate::transport::Outbound;

enum Message {
    /// Changes committed here by a client (the writer): sent to the other instances, then
    /// notified here; the waiter is told once the writer's own notifications left.
    Changes(Vec<Change>, String, oneshot::Sender<()>),
    /// Changes committed by another instance on the same broker.
    Remote(Vec<Change>),
    /// A subscription's owner is back: its logged notifications after `after`, then live ones.
    Replay(Arc<Subscription>, u64, oneshot::Sender<()>),
    Flush(oneshot::Sender<()>),
}

/// The sending side, shared by the request workers.
#[derive(Clone)]
pub(crate) struct NotifierHandle(mpsc::UnboundedSender<Message>);

/// The task that publishes notifications.
pub(crate) struct Notifier(mpsc::UnboundedReceiver<Message>);

impl Notifier {
    pub fn new() -> (Self, NotifierHandle) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (Self(receiver), NotifierHandle(sender))
    }

    /// Publishes until every handle is gone. User code runs here (`after_read` hooks): a panic
    /// while handling one message is logged and the next message is handled, so notifications
    /// never stop silently.
    pub async fn run(mut self, core: Arc<Core>) {
        while let Some(message) = self.0.recv().await {
            if let Err(panic) = AssertUnwindSafe(handle(&core, message)).catch_unwind().await {
                let what = crate::error::panic_message(&*panic);
                tracing::error!(panic = %what, "notifier: handling a change panicked; its notifications are lost");
            }
        }
    }
}

/// One message: its notifications published, its waiter told.
async fn handle(core: &Arc<Core>, message: Message) {
    match message {
        Message::Changes(changes, writer, done) => {
            // Other instances get the changes first: they then notify in parallel with us.
            if core.config.external.is_some()
                && let Err(e) = core.publisher().broadcast(super::change_bus::encode(&changes)).await
            {
                tracing::warn!(error = %e, "changes not sent to the other instances");
            }
            // The writer's reply waits for the writer's own notifications only (they leave first
            // in each change), not for everyone else's.
            let mut done = Some(done);
            let last = changes.len().saturating_sub(1);
            for (i, change) in changes.into_iter().enumerate() {
                let release = if i == last { done.take() } else { None };
                notify(core, change, Some(&writer), release).await;
            }
            if let Some(done) = done {
                let _ = done.send(());
            }
        }
        Message::Remote(changes) => {
            for change in changes {
                notify(core, change, None, None).await;
            }
        }
        Message::Replay(subscription, after, done) => {
            replay(core, &subscription, after).await;
            let _ = done.send(());
        }
        Message::Flush(done) => {
            let _ = done.send(());
        }
    }
}

impl NotifierHandle {
    /// Publishes the notifications of changes `writer` committed; returns once the writer's own
    /// have left, so that the reply that follows leaves after them (a client's replies and
    /// notifications keep their order); other clients' notifications may still be on their way.
    pub async fn publish(&self, changes: Vec<Change>, writer: &str) {
        let (done, wait) = oneshot::channel();
        if self.0.send(Message::Changes(changes, writer.to_owned(), done)).is_ok() {
            let _ = wait.await;
        }
    }

    /// Notifies the changes another instance committed (in the order they arrive).
    pub fn publish_remote(&self, changes: Vec<Change>) {
        let _ = self.0.send(Message::Remote(changes));
    }

    /// Sends a subscription's logged notifications after `after` and attaches it: in order with
    /// the live ones, which follow.
    pub async fn replay(&self, subscription: Arc<Subscription>, after: u64) {
        let (done, wait) = oneshot::channel();
        if self.0.send(Message::Replay(subscription, after, done)).is_ok() {
            let _ = wait.await;
        }
    }

    /// Waits until every change queued before this call was published.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.0.send(Message::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }
}

/// A revoked client's subscription ends here, before it gets anything more.
async fn revoked(core: &Core, subscription: &Subscription) -> bool {
    if !subscription.client.is_revoked() {
        return false;
    }
    if core.subscriptions.remove(subscription.client.id(), &subscription.id).is_ok() {
        tracing::info!(client = subscription.client.id(), subscription = %subscription.id, "revoked: subscription ended");
        core.forget_subscriptions(std::slice::from_ref(&subscription.id)).await;
    }
    true
}

/// Notifies one change: the subscriptions of `writer` first, then `release` is told, then the
/// others.
async fn notify(core: &Core, change: Change, writer: Option<&str>, mut release: Option<oneshot::Sender<()>>) {
    let def = change.entity;
    let mut matches = core.subscriptions.matching(&def, change.old.as_deref(), change.new.as_deref());
    let own = match writer {
        Some(writer) => {
            matches.sort_by_key(|(subscription, _)| subscription.client.id() != writer);
            matches.iter().take_while(|(subscription, _)| subscription.client.id() == writer).count()
        }
        None => 0,
    };
    // `leave` carries the new row (so the client can drop it); a delete carries the deleted row.
    let row = match change.operation {
        Operation::Delete => change.old.as_deref(),
        _ => change.new.as_deref(),
    };
    let Some(row) = row else { return };
    let timestamp = timestamp();
    let hooked = core.hooks.has(HookPoint::AfterRead);
    // The row's JSON text per projection, when no hook changes it per subscription.
    let mut rendered: Vec<(Option<&[usize]>, Vec<u8>)> = Vec::new();
    for (i, (subscription, scope)) in matches.iter().enumerate() {
        if i == own
            && let Some(release) = release.take()
        {
            let _ = release.send(());
        }
        if revoked(core, subscription).await {
            metrics::notification_dropped(Dropped::Revoked);
            continue;
        }
        let projection = subscription.projection.as_deref();
        let rewritten;
        let data: &[u8] = if hooked {
            let data = project(&def, row, projection);
            let client = subscription.client.clone();
            let mut ctx = HookContext::notification(client, def, change.operation, &subscription.id, data);
            if let Err(e) = core.hooks.run(&mut ctx).await {
                tracing::debug!(subscription = %subscription.id, error = %e, "after_read withheld a notification");
                metrics::notification_dropped(Dropped::Hook);
                continue;
            }
            let Some(data) = ctx.result else {
                metrics::notification_dropped(Dropped::Hook);
                continue;
            };
            // The hook may have revoked the client (a token found expired).
            if revoked(core, subscription).await {
                metrics::notification_dropped(Dropped::Revoked);
                continue;
            }
            rewritten = serde_json::to_vec(&data).unwrap_or_default();
            &rewritten
        } else {
            match rendered.iter().position(|(p, _)| *p == projection) {
                Some(i) => &rendered[i].1,
                None => {
                    let text = serde_json::to_vec(&project(&def, row, projection)).unwrap_or_default();
                    rendered.push((projection, text));
                    &rendered[rendered.len() - 1].1
                }
            }
        };
        let scope = match change.operation {
            Operation::Create => Scope::Enter,
            Operation::Delete => Scope::Leave,
            _ => *scope,
        };
        let notice = Notice {
            operation: change.operation.as_str(),
            schema: def.meta.schema,
            entity: def.meta.name,
            data,
            scope: scope.as_str(),
            timestamp: &timestamp,
        };
        let seq = subscription.next_seq();
        let payload = Bytes::from(notice.encode(&subscription.id, seq));
        subscription.record(seq, payload.clone(), core.config.subscription_log_len);
        // Delivered to a connected owner; an absent one finds it in the log. A client that sent
        // DISCONNECT is absent even while its socket lingers. With an external broker the
        // broker itself queues for a persistent session, so notifications always go out there.
        let external = core.config.external.is_some();
        let deliver = match subscription.presence() {
            Presence::Attached => core.publisher().is_connected(subscription.client.id()).await,
            Presence::Away | Presence::Ended(_) => external,
        };
        if deliver {
            send(core, subscription, seq, payload).await;
        }
    }
    if let Some(release) = release {
        let _ = release.send(());
    }
}

async fn send(core: &Core, subscription: &Subscription, seq: u64, payload: Bytes) {
    let message = Outbound {
        topic: subscription.topic.clone(),
        payload,
        qos: core.config.notification_qos,
        correlation_data: None,
    };
    match core.publisher().publish(message).await {
        Ok(()) => {
            subscription.delivered(seq);
            metrics::notification_sent();
        }
        Err(e) => {
            metrics::notification_dropped(Dropped::PublishError);
            tracing::warn!(subscription = %subscription.id, error = %e, "notification not sent");
        }
    }
}

async fn replay(core: &Core, subscription: &Subscription, after: u64) {
    // What the log no longer holds is gone: the client sees the gap in `seq`.
    let missed = subscription.logged_after(after);
    subscription.set_presence(Presence::Attached);
    for (seq, payload) in missed {
        send(core, subscription, seq, payload).await;
    }
}
