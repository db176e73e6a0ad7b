//! Shared subscriptions (`$share/{group}/{filter}`, MQTT 5 §4.8.2): each message of a group goes to
//! one of its online members, in turn.

use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use rmqtt::context::ServerContext;
use rmqtt::subscribe::SharedSubscription;
use rmqtt::types::{
    ClientId, Id, IsOnline, NodeId, SharedGroup, SubscriptionIdentifier, SubscriptionOptions, TopicName,
};

/// Round robin over the group's online members; with none online, the first (its session queues it).
#[derive(Default)]
pub(super) struct RoundRobin(AtomicUsize);

type Member = (NodeId, ClientId, SubscriptionOptions, Option<Vec<SubscriptionIdentifier>>, Option<IsOnline>);

#[async_trait]
impl SharedSubscription for RoundRobin {
    fn is_supported(&self) -> bool {
        true
    }

    async fn choice(
        &self,
        scx: &ServerContext,
        _group: &SharedGroup,
        _publisher: &Id,
        _topic: &TopicName,
        members: &[Member],
    ) -> Option<(usize, IsOnline)> {
        if members.is_empty() {
            return None;
        }
        let start = self.0.fetch_add(1, Ordering::Relaxed);
        for offset in 0..members.len() {
            let index = (start + offset) % members.len();
            let (node, client, _, _, online) = &members[index];
            let online = match online {
                Some(online) => *online,
                None => scx.extends.router().await.is_online(*node, client).await,
            };
            if online {
                return Some((index, true));
            }
        }
        Some((0, false))
    }
}
