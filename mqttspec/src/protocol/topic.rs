//! The topic scheme `{prefix}/{client_id}/request|response|notify/{sub}` and its access rules.

/// Topic names and access rules for one prefix.
#[derive(Debug, Clone)]
pub struct Topics {
    prefix: String,
}

impl Topics {
    /// Topics under `prefix` (default `spec`).
    pub fn new(prefix: impl Into<String>) -> Self {
        Self { prefix: prefix.into() }
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `{prefix}/{client}/request`.
    pub fn request(&self, client: &str) -> String {
        format!("{}/{client}/request", self.prefix)
    }

    /// `{prefix}/+/request`, what a server subscribes to on an external broker.
    pub fn request_filter(&self) -> String {
        format!("{}/+/request", self.prefix)
    }

    /// `{prefix}/{client}/response`.
    pub fn response(&self, client: &str) -> String {
        format!("{}/{client}/response", self.prefix)
    }

    /// `{prefix}/{client}/notify/{subscription}`.
    pub fn notify(&self, client: &str, subscription: &str) -> String {
        format!("{}/{client}/notify/{subscription}", self.prefix)
    }

    /// The client id of a request topic, when `topic` is one.
    pub fn request_client<'t>(&self, topic: &'t str) -> Option<&'t str> {
        let rest = topic.strip_prefix(&self.prefix)?.strip_prefix('/')?;
        let client = rest.strip_suffix("/request")?;
        (!client.is_empty() && !client.contains('/')).then_some(client)
    }

    /// Whether a topic name lies inside the namespace.
    pub fn in_namespace(&self, topic: &str) -> bool {
        topic.split('/').next() == Some(self.prefix.as_str())
    }

    /// A client id that can be used in topics (no `/`, `+`, `#`, not empty).
    pub fn valid_client_id(client: &str) -> bool {
        !client.is_empty() && !client.contains(['/', '+', '#'])
    }

    /// Whether `client` may publish to `topic`: `None` when the topic is outside the namespace
    /// (the application's ACL decides), else whether it is the client's own request topic.
    pub fn may_publish(&self, client: &str, topic: &str) -> Option<bool> {
        if !self.in_namespace(topic) {
            return None;
        }
        Some(self.request_client(topic) == Some(client))
    }

    /// Whether `client` may subscribe to `filter`: `None` when the filter cannot match a topic
    /// of the namespace; else whether it covers only the client's own response/notify topics.
    pub fn may_subscribe(&self, client: &str, filter: &str) -> Option<bool> {
        let mut levels = filter.split('/');
        match levels.next() {
            Some("#") => return Some(false),
            Some("+") => {}
            Some(first) if first == self.prefix => {}
            _ => return None,
        }
        if levels.next() != Some(client) {
            return Some(false);
        }
        // `{prefix}/{id}` alone and `{prefix}/{id}/#` cover only the client's own topics.
        Some(matches!(levels.next(), Some("response" | "notify" | "#") | None))
    }
}

#[cfg(test)]
mod tests {
    use super::Topics;

    #[test]
    fn access_rules() {
        let t = Topics::new("spec");
        assert_eq!(t.request_client("spec/alice/request"), Some("alice"));
        assert_eq!(t.request_client("spec/a/b/request"), None);
        assert_eq!(t.may_publish("alice", "spec/alice/request"), Some(true));
        assert_eq!(t.may_publish("alice", "spec/bob/request"), Some(false));
        assert_eq!(t.may_publish("alice", "spec/alice/response"), Some(false));
        assert_eq!(t.may_publish("alice", "other/topic"), None);
        for ok in
            ["spec/alice/response", "spec/alice/response/#", "spec/alice/notify/+", "spec/alice/#", "+/alice/notify/x"]
        {
            assert_eq!(t.may_subscribe("alice", ok), Some(true), "{ok}");
        }
        for bad in ["spec/bob/response", "spec/+/response", "spec/#", "#", "+/+/response", "spec/alice/request"] {
            assert_eq!(t.may_subscribe("alice", bad), Some(false), "{bad}");
        }
        assert_eq!(t.may_subscribe("alice", "sensors/#"), None);
        assert!(!Topics::valid_client_id("a/b") && !Topics::valid_client_id("a+") && !Topics::valid_client_id("#"));
    }
}
