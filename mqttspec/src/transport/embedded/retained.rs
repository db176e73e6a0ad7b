//! Retained messages (MQTT 3.3.1.3) for topics outside the protocol's namespace: rmqtt's in-memory
//! tree, bounded in count and bytes, with MQTT 5 message expiry honoured. Nothing inside the
//! namespace is retained (a retained request would be replayed; replies are per client).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rmqtt::retain::{DefaultRetainStorage, RetainStorage};
use rmqtt::types::{Retain, TopicFilter, TopicName};
use tokio::time::Instant;

use crate::protocol::Topics;

/// The retained messages of one embedded broker.
pub(super) struct RetainedStore {
    tree: DefaultRetainStorage,
    topics: Topics,
    max_messages: usize,
    max_bytes: usize,
    /// Topic → (bytes, expiry): what the limits count. Held across the tree's update so that
    /// both change together.
    sizes: tokio::sync::Mutex<Sizes>,
}

#[derive(Default)]
struct Sizes {
    by_topic: HashMap<String, (usize, Option<Instant>)>,
    total: usize,
}

impl RetainedStore {
    pub fn new(topics: Topics, max_messages: usize, max_bytes: usize) -> Arc<Self> {
        Arc::new(Self { tree: DefaultRetainStorage::new(), topics, max_messages, max_bytes, sizes: Default::default() })
    }

    /// Drops expired messages every `period` (they are never delivered meanwhile: the tree
    /// checks expiry on read); ends when the store is gone.
    pub async fn sweep(store: std::sync::Weak<Self>, period: Duration) {
        loop {
            tokio::time::sleep(period).await;
            let Some(store) = store.upgrade() else { return };
            let mut sizes = store.sizes.lock().await;
            let now = Instant::now();
            sizes.by_topic.retain(|_, (_, expiry)| expiry.is_none_or(|at| at > now));
            sizes.total = sizes.by_topic.values().map(|(bytes, _)| bytes).sum();
            store.tree.remove_expired_messages().await;
        }
    }
}

/// The store as rmqtt's retain storage.
pub(super) struct Retained(pub Arc<RetainedStore>);

#[async_trait]
impl RetainStorage for Retained {
    fn enable(&self) -> bool {
        true
    }

    async fn set(&self, topic: &TopicName, retain: Retain, expiry: Option<Duration>) -> rmqtt::Result<()> {
        let store = &self.0;
        if store.topics.in_namespace(topic) {
            return Ok(());
        }
        // rmqtt passes the listener's default expiry, zero here, for messages without one.
        let expiry = expiry.filter(|d| !d.is_zero());
        let bytes = topic.len() + retain.publish.payload.len();
        let mut sizes = store.sizes.lock().await;
        let old = sizes.by_topic.get(&**topic).map_or(0, |(bytes, _)| *bytes);
        if retain.publish.payload.is_empty() {
            // An empty retained message clears the topic's.
            sizes.by_topic.remove(&**topic);
            sizes.total -= old;
        } else {
            let full = old == 0 && sizes.by_topic.len() >= store.max_messages;
            if full || sizes.total - old + bytes > store.max_bytes {
                tracing::debug!(topic = %crate::value::clip(topic), "retained message not kept: the store is full");
                return Ok(());
            }
            sizes.total = sizes.total - old + bytes;
            sizes.by_topic.insert(topic.to_string(), (bytes, expiry.map(|d| Instant::now() + d)));
        }
        store.tree.set_with_timeout(topic, retain, expiry).await
    }

    async fn get(&self, filter: &TopicFilter) -> rmqtt::Result<Vec<(TopicName, Retain)>> {
        self.0.tree.get_message(filter).await
    }

    async fn count(&self) -> isize {
        self.0.sizes.lock().await.by_topic.len() as isize
    }

    async fn max(&self) -> isize {
        self.0.max_messages as isize
    }
}
