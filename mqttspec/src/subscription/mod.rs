//! Live subscriptions: who watches which rows of which entity, indexed so that a change costs in
//! proportion to the subscriptions it can match.

mod index;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::entity::EntityDef;
use crate::error::{Error, ErrorCode, Result};
use crate::query::Condition;
use crate::session::Client;
use crate::value::Value;
use index::EntityIndex;

/// One live subscription.
#[derive(Debug)]
pub struct Subscription {
    /// Its id (server-generated).
    pub id: String,
    /// The owner.
    pub client: Client,
    /// The watched entity.
    pub entity: EntityDef,
    /// The rows watched: the client's filters and what `before_read` hooks added.
    pub filter: Condition,
    /// Columns sent (`None`: all readable columns).
    pub projection: Option<Vec<usize>>,
    /// The notify topic.
    pub topic: String,
    /// The filters as the client sent them (`null` when none): a resume repeats them.
    pub requested: serde_json::Value,
    seq: AtomicU64,
    state: Mutex<State>,
}

/// Whether the owner is there to receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Its connection is up: notifications are delivered.
    Attached,
    /// Its persistent session is away: notifications are queued in the log, delivered on return.
    Away,
    /// Its session ended at this instant: resumable until the retention time passes.
    Ended(Instant),
}

#[derive(Debug)]
struct State {
    presence: Presence,
    /// The last notifications, oldest first: `(seq, payload, when)`.
    log: VecDeque<(u64, Bytes, Instant)>,
    /// The last seq handed to a connection.
    delivered: u64,
}

impl Subscription {
    /// The next sequence number (from 1, no gaps).
    pub fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The last sequence number given out.
    pub fn seq(&self) -> u64 {
        self.seq.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether notifications go out now.
    pub fn presence(&self) -> Presence {
        self.lock().presence
    }

    /// Keeps a notification in the log (at most `keep` of them: the oldest go first).
    pub fn record(&self, seq: u64, payload: Bytes, keep: usize) {
        let mut state = self.lock();
        state.log.push_back((seq, payload, Instant::now()));
        while state.log.len() > keep {
            state.log.pop_front();
        }
    }

    /// Marks `seq` as handed to the owner's connection.
    pub fn delivered(&self, seq: u64) {
        let mut state = self.lock();
        state.delivered = state.delivered.max(seq);
    }

    /// The last seq handed to a connection.
    pub fn last_delivered(&self) -> u64 {
        self.lock().delivered
    }

    /// The logged notifications after `after`, oldest first.
    pub fn logged_after(&self, after: u64) -> Vec<(u64, Bytes)> {
        let state = self.lock();
        state.log.iter().filter(|(seq, ..)| *seq > after).map(|(seq, payload, _)| (*seq, payload.clone())).collect()
    }

    /// Whether the log holds every notification after `after` (nothing of them is lost).
    pub fn holds_after(&self, after: u64) -> bool {
        let state = self.lock();
        after >= self.seq() || state.log.front().is_some_and(|(first, ..)| *first <= after + 1)
    }

    /// Sets who receives.
    pub fn set_presence(&self, presence: Presence) {
        self.lock().presence = presence;
    }

    fn trim(&self, max_age: Duration, now: Instant) {
        let mut state = self.lock();
        while state.log.front().is_some_and(|(_, _, at)| now.duration_since(*at) > max_age) {
            state.log.pop_front();
        }
    }
}

/// What a change means to one subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// The row now matches and did not before.
    Enter,
    /// The row matched before and still does.
    Stay,
    /// The row matched before and no longer does.
    Leave,
}

impl Scope {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Enter => "enter",
            Scope::Stay => "stay",
            Scope::Leave => "leave",
        }
    }
}

#[derive(Default)]
struct Inner {
    by_id: HashMap<String, Arc<Subscription>>,
    by_client: HashMap<String, Vec<String>>,
    by_entity: HashMap<std::any::TypeId, EntityIndex>,
}

/// Every live subscription of a server.
pub struct SubscriptionRegistry {
    inner: RwLock<Inner>,
    max_per_client: usize,
}

impl std::fmt::Debug for SubscriptionRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriptionRegistry").field("count", &self.len()).finish()
    }
}

fn entity_key(def: &EntityDef) -> std::any::TypeId {
    def.key()
}

impl SubscriptionRegistry {
    /// An empty registry with a per-client cap.
    pub fn new(max_per_client: usize) -> Self {
        Self { inner: RwLock::new(Inner::default()), max_per_client }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Number of live subscriptions.
    pub fn len(&self) -> usize {
        self.read().by_id.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a subscription; `too_many_subscriptions` when the owner is at the cap.
    pub fn add(
        &self,
        client: Client,
        entity: EntityDef,
        filter: Condition,
        projection: Option<Vec<usize>>,
        requested: serde_json::Value,
        topic_of: impl FnOnce(&str) -> String,
    ) -> Result<Arc<Subscription>> {
        let mut inner = self.write();
        let owned = inner.by_client.get(client.id()).map_or(0, Vec::len);
        if owned >= self.max_per_client {
            return Err(Error::new(
                ErrorCode::TooManySubscriptions,
                format!("at most {} subscriptions per client", self.max_per_client),
            ));
        }
        let id = format!("sub-{}", uuid::Uuid::new_v4().simple());
        let topic = topic_of(&id);
        let subscription = Arc::new(Subscription {
            id: id.clone(),
            client,
            entity,
            filter,
            projection,
            topic,
            requested,
            seq: AtomicU64::new(0),
            state: Mutex::new(State { presence: Presence::Attached, log: VecDeque::new(), delivered: 0 }),
        });
        inner.by_client.entry(subscription.client.id().to_owned()).or_default().push(id.clone());
        inner.by_entity.entry(entity_key(&entity)).or_default().insert(&subscription);
        inner.by_id.insert(id, subscription.clone());
        Ok(subscription)
    }

    /// The subscription with this id when `client` owns it.
    pub fn get_owned(&self, client: &str, id: &str) -> Option<Arc<Subscription>> {
        self.read().by_id.get(id).filter(|s| s.client.id() == client).cloned()
    }

    /// Removes a subscription owned by `client`; `subscription_not_found` otherwise.
    pub fn remove(&self, client: &str, id: &str) -> Result<Arc<Subscription>> {
        let mut inner = self.write();
        let owned = inner.by_id.get(id).is_some_and(|s| s.client.id() == client);
        if !owned {
            return Err(Error::new(
                ErrorCode::SubscriptionNotFound,
                format!("no subscription `{}`", crate::value::clip(id)),
            ));
        }
        let subscription = inner.by_id.remove(id).expect("checked");
        if let Some(ids) = inner.by_client.get_mut(client) {
            ids.retain(|s| s != id);
            if ids.is_empty() {
                inner.by_client.remove(client);
            }
        }
        if let Some(index) = inner.by_entity.get_mut(&entity_key(&subscription.entity)) {
            index.remove(&subscription);
        }
        Ok(subscription)
    }

    /// Every subscription of a client.
    pub fn of_client(&self, client: &str) -> Vec<Arc<Subscription>> {
        let inner = self.read();
        let ids = inner.by_client.get(client).map(Vec::as_slice).unwrap_or_default();
        ids.iter().filter_map(|id| inner.by_id.get(id).cloned()).collect()
    }

    /// The owner's connection ended: its subscriptions wait (`Away`) while its persistent
    /// session lives, else they stay resumable only (`Ended`).
    pub fn detach_client(&self, client: &str, persistent: bool) {
        let presence = if persistent { Presence::Away } else { Presence::Ended(Instant::now()) };
        for subscription in self.of_client(client) {
            subscription.set_presence(presence);
        }
    }

    /// The owner's persistent session ended: its subscriptions stay resumable only.
    pub fn end_client_session(&self, client: &str) {
        for subscription in self.of_client(client) {
            if subscription.presence() != Presence::Attached {
                subscription.set_presence(Presence::Ended(Instant::now()));
            }
        }
    }

    /// Drops subscriptions whose session ended longer than `retention` ago, and log entries
    /// older than `max_age`.
    pub fn expire(&self, retention: Duration, max_age: Duration) -> Vec<String> {
        self.expire_bounded(retention, max_age, usize::MAX)
    }

    /// As [`expire`](Self::expire), and beyond that at most `max_ended` ended subscriptions stay
    /// resumable (the most recently ended): clients that come and go cannot grow memory without
    /// bound within the retention time.
    pub fn expire_bounded(&self, retention: Duration, max_age: Duration, max_ended: usize) -> Vec<String> {
        let now = Instant::now();
        let mut expired = Vec::new();
        let mut ended = Vec::new();
        for subscription in self.all() {
            subscription.trim(max_age, now);
            if let Presence::Ended(at) = subscription.presence() {
                if now.duration_since(at) >= retention {
                    if self.remove(subscription.client.id(), &subscription.id).is_ok() {
                        expired.push(subscription.id.clone());
                    }
                } else {
                    ended.push((at, subscription));
                }
            }
        }
        if ended.len() > max_ended {
            ended.sort_by_key(|(at, _)| *at);
            let excess = ended.len() - max_ended;
            for (_, subscription) in ended.into_iter().take(excess) {
                if self.remove(subscription.client.id(), &subscription.id).is_ok() {
                    expired.push(subscription.id.clone());
                }
            }
        }
        expired
    }

    /// Every subscription.
    pub fn all(&self) -> Vec<Arc<Subscription>> {
        self.read().by_id.values().cloned().collect()
    }

    /// Removes every subscription of a client; returns their ids.
    pub fn remove_client(&self, client: &str) -> Vec<String> {
        let ids = self.read().by_client.get(client).cloned().unwrap_or_default();
        ids.into_iter().filter(|id| self.remove(client, id).is_ok()).collect()
    }

    /// The subscriptions a change of `entity` from `old` to `new` concerns, with their scope.
    pub fn matching(
        &self,
        entity: &EntityDef,
        old: Option<&[Value]>,
        new: Option<&[Value]>,
    ) -> Vec<(Arc<Subscription>, Scope)> {
        let inner = self.read();
        let Some(index) = inner.by_entity.get(&entity_key(entity)) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for subscription in index.candidates(old, new) {
            let was = old.is_some_and(|row| subscription.filter.matches(row));
            let is = new.is_some_and(|row| subscription.filter.matches(row));
            let scope = match (was, is) {
                (false, true) => Scope::Enter,
                (true, true) => Scope::Stay,
                (true, false) => Scope::Leave,
                (false, false) => continue,
            };
            out.push((subscription, scope));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::SpecEntity;

    #[derive(SpecEntity)]
    struct Reading {
        id: i64,
        device: String,
        value: f64,
    }

    fn subscribe(registry: &SubscriptionRegistry, filters: serde_json::Value) -> Arc<Subscription> {
        let def = EntityDef::of::<Reading>();
        let filter = Condition::parse_filters(&def, &filters).unwrap();
        registry
            .add(Client::new("c", None, None, None), def, filter, None, serde_json::Value::Null, |id| id.to_owned())
            .unwrap()
    }

    fn row(id: i64, device: &str, value: f64) -> Vec<Value> {
        vec![Value::Int(id), Value::Text(device.into()), Value::Float(value)]
    }

    #[test]
    fn equality_subscriptions_are_found_by_value() {
        let registry = SubscriptionRegistry::new(100_000);
        let def = EntityDef::of::<Reading>();
        for i in 0..1000 {
            subscribe(&registry, json!([{"column": "device", "operator": "eq", "value": format!("d{i}")}]));
        }
        let listed = subscribe(&registry, json!([{"column": "device", "operator": "in", "value": ["d1", "x"]}]));
        let scanned = subscribe(&registry, json!([{"column": "value", "operator": "gt", "value": 5}]));
        {
            let inner = registry.read();
            // A change of device d1 considers d1's subscription, the `in` one and the scanned one only.
            let candidates = inner.by_entity[&def.key()].candidates(None, Some(&row(1, "d1", 9.0)));
            assert_eq!(candidates.len(), 3, "cost follows the subscriptions a change can match");
        }
        let matched = registry.matching(&def, None, Some(&row(1, "d1", 9.0)));
        assert_eq!(matched.len(), 3);
        assert!(matched.iter().any(|(s, scope)| Arc::ptr_eq(s, &listed) && *scope == Scope::Enter));
        // An update moving the row from x to d7 with a small value: `listed` leaves, d7 enters.
        let matched = registry.matching(&def, Some(&row(1, "x", 1.0)), Some(&row(1, "d7", 1.0)));
        let scopes: Vec<_> = matched.iter().map(|(s, scope)| (s.filter.clone(), *scope)).collect();
        assert_eq!(scopes.len(), 2, "{scopes:?}");
        assert!(matched.iter().any(|(s, scope)| Arc::ptr_eq(s, &listed) && *scope == Scope::Leave));
        assert!(!matched.iter().any(|(s, _)| Arc::ptr_eq(s, &scanned)));
        // Removal keeps the index consistent; ownership is checked.
        assert_eq!(registry.remove("someone-else", &listed.id).unwrap_err().code(), ErrorCode::SubscriptionNotFound);
        registry.remove("c", &listed.id).unwrap();
        assert_eq!(registry.matching(&def, None, Some(&row(1, "d1", 0.0))).len(), 1);
        assert_eq!(registry.remove_client("c").len(), 1001);
        assert!(registry.is_empty());
    }

    #[test]
    fn per_client_cap() {
        let registry = SubscriptionRegistry::new(2);
        subscribe(&registry, json!([]));
        subscribe(&registry, json!([]));
        let def = EntityDef::of::<Reading>();
        let error = registry.add(
            Client::new("c", None, None, None),
            def,
            Condition::all(),
            None,
            serde_json::Value::Null,
            |id| id.to_owned(),
        );
        assert_eq!(error.unwrap_err().code(), ErrorCode::TooManySubscriptions);
    }
}
