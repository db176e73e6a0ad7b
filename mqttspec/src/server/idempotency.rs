//! Remembered replies per `(client_id, id)` (PROTOCOL §7): a repeated request gets the first
//! reply again, byte for byte, without executing twice. The replies of a client id belong to the
//! identity (MQTT username) that caused them: another identity connecting under that client id
//! never sees them.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;

/// A reply is kept while it is younger than `window` or among the client's last `keep_last`.
#[derive(Debug)]
pub(crate) struct ReplyCache {
    window: Duration,
    keep_last: usize,
    clients: Mutex<HashMap<String, ClientReplies>>,
}

#[derive(Debug, Default)]
struct ClientReplies {
    owner: Option<String>,
    order: VecDeque<(String, Instant)>,
    replies: HashMap<String, Bytes>,
}

/// However young, no client keeps more than this many multiples of `keep_last`.
const HARD_CAP_FACTOR: usize = 20;

impl ReplyCache {
    pub fn new(window: Duration, keep_last: usize) -> Self {
        Self { window, keep_last: keep_last.max(1), clients: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ClientReplies>> {
        self.clients.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn get(&self, client: &str, owner: Option<&str>, id: &str) -> Option<Bytes> {
        let clients = self.lock();
        let entry = clients.get(client).filter(|e| e.owner.as_deref() == owner)?;
        entry.replies.get(id).cloned()
    }

    pub fn put(&self, client: &str, owner: Option<&str>, id: &str, reply: Bytes) {
        let now = Instant::now();
        let mut clients = self.lock();
        let entry = clients.entry(client.to_owned()).or_default();
        if entry.owner.as_deref() != owner {
            *entry = ClientReplies { owner: owner.map(str::to_owned), ..ClientReplies::default() };
        }
        if entry.replies.insert(id.to_owned(), reply).is_none() {
            entry.order.push_back((id.to_owned(), now));
        }
        while entry.order.len() > self.keep_last {
            let (_, at) = entry.order.front().expect("non-empty");
            let expired = now.duration_since(*at) >= self.window;
            if !expired && entry.order.len() <= self.keep_last * HARD_CAP_FACTOR {
                break;
            }
            let (old, _) = entry.order.pop_front().expect("non-empty");
            entry.replies.remove(&old);
        }
    }

    /// Forgets the clients (not in `connected`) whose every reply is older than the window.
    pub fn sweep(&self, connected: impl Fn(&str) -> bool) {
        let now = Instant::now();
        self.lock().retain(|client, replies| {
            connected(client) || replies.order.back().is_some_and(|(_, at)| now.duration_since(*at) <= self.window)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_recent_and_last_n() {
        let cache = ReplyCache::new(Duration::from_secs(60), 2);
        for i in 0..5 {
            cache.put("a", None, &i.to_string(), Bytes::from(format!("r{i}")));
        }
        // All five are younger than the window: all kept.
        assert_eq!(cache.get("a", None, "0").as_deref(), Some(&b"r0"[..]));
        assert_eq!(cache.get("b", None, "0"), None, "ids are per client");
        let cache = ReplyCache::new(Duration::ZERO, 2);
        for i in 0..5 {
            cache.put("a", None, &i.to_string(), Bytes::from(format!("r{i}")));
        }
        cache.put("a", None, "5", Bytes::from_static(b"r5"));
        assert_eq!(cache.get("a", None, "0"), None, "old and beyond the last N: forgotten");
        assert!(cache.get("a", None, "4").is_some() && cache.get("a", None, "5").is_some(), "the last N stay");
    }

    #[test]
    fn replies_belong_to_the_identity_that_caused_them() {
        let cache = ReplyCache::new(Duration::from_secs(60), 10);
        cache.put("shared", Some("alice"), "1", Bytes::from_static(b"alice's"));
        assert_eq!(cache.get("shared", Some("alice"), "1").as_deref(), Some(&b"alice's"[..]));
        assert_eq!(cache.get("shared", Some("mallory"), "1"), None);
        assert_eq!(cache.get("shared", None, "1"), None);
        cache.put("shared", Some("mallory"), "2", Bytes::from_static(b"mallory's"));
        assert_eq!(cache.get("shared", Some("alice"), "1"), None, "a new identity starts afresh");
    }
}
