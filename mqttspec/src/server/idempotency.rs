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
    /// By client id and the identity (MQTT username) under which the requests came.
    clients: Mutex<HashMap<(String, Option<String>), ClientReplies>>,
}

#[derive(Debug, Default)]
struct ClientReplies {
    /// Requests being executed now: a second arrival of one waits for its reply.
    running: HashMap<String, tokio::sync::watch::Receiver<()>>,
    order: VecDeque<(String, Instant)>,
    replies: HashMap<String, Bytes>,
}

/// What to do with a request id (see [`ReplyCache::claim`]).
#[derive(Debug)]
pub(crate) enum Claim {
    /// Answered before: re-send this.
    Stored(Bytes),
    /// Being executed now: wait until this changes or closes, then claim again.
    Wait(tokio::sync::watch::Receiver<()>),
    /// Execute it; release afterwards.
    Execute(Running),
}

/// The right to execute one request; waiters wake when it is dropped.
#[derive(Debug)]
pub(crate) struct Running {
    client: (String, Option<String>),
    id: String,
    _done: tokio::sync::watch::Sender<()>,
}

fn key(client: &str, owner: Option<&str>) -> (String, Option<String>) {
    (client.to_owned(), owner.map(str::to_owned))
}

/// However young, no client keeps more than this many multiples of `keep_last`.
const HARD_CAP_FACTOR: usize = 20;

impl ReplyCache {
    pub fn new(window: Duration, keep_last: usize) -> Self {
        Self { window, keep_last: keep_last.max(1), clients: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, Option<String>), ClientReplies>> {
        self.clients.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Claims `(client, id)` for execution: the stored reply when there is one; else, when the
    /// same request is running (a redelivery after a reconnect), something to wait on before
    /// claiming again; else the right to execute it, released when the [`Running`] drops.
    pub fn claim(&self, client: &str, owner: Option<&str>, id: &str) -> Claim {
        let mut clients = self.lock();
        let entry = clients.entry(key(client, owner)).or_default();
        if let Some(reply) = entry.replies.get(id) {
            return Claim::Stored(reply.clone());
        }
        if let Some(running) = entry.running.get(id) {
            // A mark whose executor is gone (it never released) no longer holds anyone up.
            if running.has_changed().is_ok() {
                return Claim::Wait(running.clone());
            }
        }
        let (done, watch) = tokio::sync::watch::channel(());
        entry.running.insert(id.to_owned(), watch);
        Claim::Execute(Running { client: key(client, owner), id: id.to_owned(), _done: done })
    }

    /// Ends a claim: remembers its reply (when given) and drops the running mark, waking those
    /// who wait, who then find the reply (or, without one, execute themselves).
    pub fn finish(&self, running: Running, reply: Option<Bytes>) {
        let mut clients = self.lock();
        let entry = clients.entry(running.client.clone()).or_default();
        entry.running.remove(&running.id);
        if let Some(reply) = reply {
            self.store(entry, &running.id, reply);
        }
    }

    #[cfg(test)]
    pub fn get(&self, client: &str, owner: Option<&str>, id: &str) -> Option<Bytes> {
        let clients = self.lock();
        let entry = clients.get(&key(client, owner))?;
        entry.replies.get(id).cloned()
    }

    #[cfg(test)]
    pub fn put(&self, client: &str, owner: Option<&str>, id: &str, reply: Bytes) {
        self.store(self.lock().entry(key(client, owner)).or_default(), id, reply);
    }

    fn store(&self, entry: &mut ClientReplies, id: &str, reply: Bytes) {
        let now = Instant::now();
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
    /// Beyond the window, the replies of at most `max_departed` clients that are gone stay
    /// remembered (those answered last): clients that come and go cannot grow memory without
    /// bound within the window.
    pub fn sweep(&self, connected: impl Fn(&str) -> bool, max_departed: usize) {
        let now = Instant::now();
        let mut clients = self.lock();
        clients.retain(|(client, _), replies| {
            connected(client) || replies.order.back().is_some_and(|(_, at)| now.duration_since(*at) <= self.window)
        });
        let mut departed: Vec<(Instant, (String, Option<String>))> = clients
            .iter()
            .filter(|((client, _), _)| !connected(client))
            .map(|(key, replies)| (replies.order.back().map_or(now, |(_, at)| *at), key.clone()))
            .collect();
        if departed.len() > max_departed {
            departed.sort_by_key(|(at, _)| *at);
            let excess = departed.len() - max_departed;
            for (_, key) in departed.into_iter().take(excess) {
                clients.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn departed_clients_are_bounded() {
        let cache = ReplyCache::new(Duration::from_secs(60), 10);
        for c in 0..50 {
            cache.put(&format!("gone-{c}"), None, "r", Bytes::from_static(b"x"));
        }
        cache.put("here", None, "r", Bytes::from_static(b"y"));
        cache.sweep(|client| client == "here", 20);
        assert_eq!(cache.lock().len(), 21, "20 departed kept, the connected one too");
        assert!(cache.get("gone-49", None, "r").is_some(), "the most recent departed kept");
        assert!(cache.get("gone-0", None, "r").is_none(), "the oldest departed forgotten");
        assert!(cache.get("here", None, "r").is_some());
    }

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

    #[tokio::test]
    async fn a_request_running_twice_executes_once() {
        let cache = ReplyCache::new(Duration::from_secs(60), 10);
        let Claim::Execute(first) = cache.claim("c", None, "7") else { panic!("the first claim executes") };
        let Claim::Wait(mut waiting) = cache.claim("c", None, "7") else { panic!("the second waits") };
        let waiter = tokio::spawn(async move { waiting.changed().await.is_err() });
        cache.finish(first, Some(Bytes::from_static(b"reply")));
        assert!(waiter.await.unwrap(), "the waiter wakes when the first run ends");
        assert!(matches!(cache.claim("c", None, "7"), Claim::Stored(r) if r == "reply"));
        // An executor that vanished without releasing holds nobody up.
        let Claim::Execute(lost) = cache.claim("c", None, "8") else { panic!() };
        drop(lost);
        assert!(matches!(cache.claim("c", None, "8"), Claim::Execute(_)));
    }

    #[test]
    fn replies_belong_to_the_identity_that_caused_them() {
        let cache = ReplyCache::new(Duration::from_secs(60), 10);
        cache.put("shared", Some("alice"), "1", Bytes::from_static(b"alice's"));
        assert_eq!(cache.get("shared", Some("alice"), "1").as_deref(), Some(&b"alice's"[..]));
        assert_eq!(cache.get("shared", Some("mallory"), "1"), None);
        assert_eq!(cache.get("shared", None, "1"), None);
        cache.put("shared", Some("mallory"), "1", Bytes::from_static(b"mallory's"));
        assert_eq!(cache.get("shared", Some("mallory"), "1").as_deref(), Some(&b"mallory's"[..]));
        assert_eq!(
            cache.get("shared", Some("alice"), "1").as_deref(),
            Some(&b"alice's"[..]),
            "another identity's requests leave alice's replies alone"
        );
    }
}
