//! The topic scheme `{prefix}/{client_id}/request|response|notify/{sub}` and its access rules.
//! The prefix may have several levels (`myapp/spec`).

/// Topic names and access rules for one prefix.
#[derive(Debug, Clone)]
pub struct Topics {
    prefix: String,
    levels: Vec<String>,
}

impl Topics {
    /// Topics under `prefix` (default `spec`).
    pub fn new(prefix: impl Into<String>) -> Self {
        let prefix = prefix.into();
        let levels = prefix.split('/').map(str::to_owned).collect();
        Self { prefix, levels }
    }

    /// Whether a prefix can be used: not empty, no empty level, no wildcard, not a `$` topic.
    pub fn valid_prefix(prefix: &str) -> bool {
        !prefix.is_empty()
            && !prefix.starts_with('$')
            && !prefix.contains(['+', '#'])
            && prefix.split('/').all(|level| !level.is_empty())
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

    /// `{prefix}/{client}/status`: where a client's Last Will says it is gone (external brokers).
    pub fn status(&self, client: &str) -> String {
        format!("{}/{client}/status", self.prefix)
    }

    /// `{prefix}/+/status`.
    pub fn status_filter(&self) -> String {
        format!("{}/+/status", self.prefix)
    }

    /// The client id of a status topic, when `topic` is one.
    pub fn status_client<'t>(&self, topic: &'t str) -> Option<&'t str> {
        match self.after_prefix(topic)?.as_slice() {
            [client, "status"] if !client.is_empty() => Some(client),
            _ => None,
        }
    }

    /// `{prefix}/{client}/response`.
    pub fn response(&self, client: &str) -> String {
        format!("{}/{client}/response", self.prefix)
    }

    /// `{prefix}/{client}/notify/{subscription}`.
    pub fn notify(&self, client: &str, subscription: &str) -> String {
        format!("{}/{client}/notify/{subscription}", self.prefix)
    }

    /// The levels after the prefix, when `topic` lies inside the namespace.
    fn after_prefix<'t>(&self, topic: &'t str) -> Option<Vec<&'t str>> {
        let mut levels = topic.split('/');
        for expected in &self.levels {
            if levels.next() != Some(expected.as_str()) {
                return None;
            }
        }
        Some(levels.collect())
    }

    /// The client id of a request topic, when `topic` is one.
    pub fn request_client<'t>(&self, topic: &'t str) -> Option<&'t str> {
        match self.after_prefix(topic)?.as_slice() {
            [client, "request"] if !client.is_empty() => Some(client),
            _ => None,
        }
    }

    /// Whether a topic name (or a filter, literally) lies inside the namespace.
    pub fn in_namespace(&self, topic: &str) -> bool {
        self.after_prefix(topic).is_some()
    }

    /// A client id that can be used in topics (no `/`, `+`, `#`, not empty).
    pub fn valid_client_id(client: &str) -> bool {
        !client.is_empty() && !client.contains(['/', '+', '#'])
    }

    /// Whether `client` may publish to `topic`: `None` when the topic is outside the namespace
    /// (the application's ACL decides), else whether it is the client's own request or status topic.
    pub fn may_publish(&self, client: &str, topic: &str) -> Option<bool> {
        if !self.in_namespace(topic) {
            return None;
        }
        Some(self.request_client(topic) == Some(client) || self.status_client(topic) == Some(client))
    }

    /// The topic filter of a shared subscription (`$share/{group}/{filter}`, `$queue/{filter}`),
    /// or the filter itself.
    pub fn unshared(filter: &str) -> &str {
        if let Some(rest) = filter.strip_prefix("$share/") {
            rest.split_once('/').map_or("", |(_, filter)| filter)
        } else {
            filter.strip_prefix("$queue/").unwrap_or(filter)
        }
    }

    /// Whether `filter` matches some topic of the namespace: `{prefix}/{id}/request|response|status`
    /// or `{prefix}/{id}/notify/{subscription}`, for any client id.
    fn reaches_namespace(&self, filter: &str) -> bool {
        /// One level of a namespace topic: this literal, or any client id / subscription id.
        #[derive(Clone, Copy)]
        enum Slot<'a> {
            Literal(&'a str),
            Any,
        }
        fn matches(filter: &[&str], topic: &[Slot<'_>]) -> bool {
            match (filter.split_first(), topic.split_first()) {
                // `#` also matches the parent level (`a/#` matches `a`).
                (Some((&"#", _)), _) => true,
                (None, None) => true,
                (Some((level, rest)), Some((slot, more))) => {
                    let fits = match slot {
                        Slot::Literal(literal) => *level == "+" || level == literal,
                        Slot::Any => !level.is_empty(),
                    };
                    fits && matches(rest, more)
                }
                _ => false,
            }
        }
        let filter: Vec<&str> = filter.split('/').collect();
        let prefix: Vec<Slot<'_>> = self.levels.iter().map(|l| Slot::Literal(l.as_str())).collect();
        [
            &[Slot::Literal("request")][..],
            &[Slot::Literal("response")],
            &[Slot::Literal("status")],
            &[Slot::Literal("notify"), Slot::Any],
        ]
        .iter()
        .any(|tail| matches(&filter, &[&prefix[..], &[Slot::Any], tail].concat()))
    }

    /// Whether `client` may subscribe to `filter` (shared subscriptions judged by their filter): `None` when the filter cannot match a topic
    /// of the namespace (`+/+`, `sensors/#`: an ordinary subscription); else whether every
    /// namespace topic it matches is the client's own response or notify topic.
    pub fn may_subscribe(&self, client: &str, filter: &str) -> Option<bool> {
        if !self.reaches_namespace(Self::unshared(filter)) {
            return None;
        }
        let mut levels = Self::unshared(filter).split('/');
        for expected in &self.levels {
            match levels.next() {
                Some("#") => return Some(false),
                Some("+") => {}
                Some(level) if level == expected => {}
                // Fewer levels than the prefix, or another first level: outside the namespace.
                _ => return None,
            }
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
        assert_eq!(t.may_publish("alice", "spec/alice/status"), Some(true));
        assert_eq!(t.may_publish("alice", "spec/bob/status"), Some(false));
        assert_eq!(t.status_client("spec/bob/status"), Some("bob"));
        assert_eq!(t.may_publish("alice", "other/topic"), None);
        for ok in
            ["spec/alice/response", "spec/alice/response/#", "spec/alice/notify/+", "spec/alice/#", "+/alice/notify/x"]
        {
            assert_eq!(t.may_subscribe("alice", ok), Some(true), "{ok}");
        }
        for bad in [
            "spec/bob/response",
            "spec/+/response",
            "spec/#",
            "#",
            "+/+/response",
            "spec/alice/request",
            "spec/alice/+",
            "$share/g/spec/+/response",
            "$share/g/spec/+/+",
            "$share/g/#",
            "$queue/spec/+/response",
        ] {
            assert_eq!(t.may_subscribe("alice", bad), Some(false), "{bad}");
        }
        assert_eq!(t.may_subscribe("alice", "sensors/#"), None);
        // Filters that cannot match a namespace topic (too few levels, another third level) are
        // ordinary subscriptions, left to the application's ACL.
        for outside in ["+/+", "+", "+/B", "spec/+", "spec/alice", "+/+/C", "spec/bob/other", "spec/+/notify"] {
            assert_eq!(t.may_subscribe("alice", outside), None, "{outside}");
        }
        for inside in ["+/+/+", "+/#", "spec/+/#", "+/bob/notify/+", "+/+/status"] {
            assert_eq!(t.may_subscribe("alice", inside), Some(false), "{inside}");
        }
        assert_eq!(t.may_subscribe("alice", "$share/g/spec/alice/response"), Some(true));
        assert_eq!(t.may_subscribe("alice", "$share/g/sensors/#"), None);
        assert!(!Topics::valid_client_id("a/b") && !Topics::valid_client_id("a+") && !Topics::valid_client_id("#"));
    }

    #[test]
    fn multi_level_prefix() {
        let t = Topics::new("app/v1");
        assert_eq!(t.request_client("app/v1/alice/request"), Some("alice"));
        assert_eq!(t.may_publish("alice", "app/v1/bob/request"), Some(false));
        assert_eq!(t.may_publish("alice", "app/v2/bob/request"), None);
        assert_eq!(t.may_subscribe("alice", "app/v1/bob/response"), Some(false));
        assert_eq!(t.may_subscribe("alice", "app/+/bob/response"), Some(false));
        assert_eq!(t.may_subscribe("alice", "app/#"), Some(false));
        assert_eq!(t.may_subscribe("alice", "+/+/+/response"), Some(false));
        assert_eq!(t.may_subscribe("alice", "app/v1/alice/response"), Some(true));
        assert_eq!(t.may_subscribe("alice", "app"), None);
        assert!(Topics::valid_prefix("app/v1") && !Topics::valid_prefix("app/+") && !Topics::valid_prefix("a//b"));
    }
}
