//! Several instances on one broker: who is alive, and who serves which client.
//!
//! Every instance announces itself with a retained message on `{prefix}/_mqttspec/instances/{id}`
//! (cleared by its Last Will or at shutdown) and reads everyone's. A client belongs to the live
//! instance with the highest rendezvous score for its id: every instance computes the same owner
//! from the same membership, and when an instance leaves only its clients move.

use std::collections::BTreeSet;

/// The level under the prefix that holds the instances' internal topics. Client patterns of the
/// shipped ACLs (`{prefix}/%c/request|status|response|notify`) never reach below it.
pub(crate) const INTERNAL: &str = "_mqttspec";

/// The live instances, as this instance knows them.
#[derive(Debug)]
pub(crate) struct Membership {
    me: String,
    live: BTreeSet<String>,
    /// Announcements seen since the last (re)connection.
    confirmed: BTreeSet<String>,
    /// Whether our own announcement came back: the retained announcements of the others were
    /// delivered before it, so the membership is complete.
    settled: bool,
}

/// A stable 64-bit hash (FNV-1a, then a SplitMix64 finaliser): the same on every instance and
/// every build, unlike std's hashers.
fn stable_hash(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0xff)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash ^= hash >> 30;
    hash = hash.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash ^= hash >> 27;
    hash = hash.wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

/// The member with the highest score for `key` (rendezvous hashing).
fn winner<'a>(members: impl Iterator<Item = &'a String>, key: &str) -> Option<&'a String> {
    members.max_by_key(|member| (stable_hash(&[member, key]), *member))
}

impl Membership {
    pub fn new(me: impl Into<String>) -> Self {
        Self { me: me.into(), live: BTreeSet::new(), confirmed: BTreeSet::new(), settled: false }
    }

    pub fn me(&self) -> &str {
        &self.me
    }

    pub fn settled(&self) -> bool {
        self.settled
    }

    /// Records an announcement (`alive`) or its clearing; returns whether the set changed.
    /// Our own announcement settles the membership: members not re-announced since the last
    /// (re)connection are gone.
    pub fn update(&mut self, instance: &str, alive: bool) -> bool {
        let before = self.live.clone();
        if alive {
            self.live.insert(instance.to_owned());
            self.confirmed.insert(instance.to_owned());
        } else {
            self.live.remove(instance);
            self.confirmed.remove(instance);
        }
        if alive && instance == self.me && !self.settled {
            self.settled = true;
            let confirmed = &self.confirmed;
            self.live.retain(|m| confirmed.contains(m));
        }
        self.live != before
    }

    /// A new connection: the announcements are read again; until ours returns, the last known
    /// membership stands.
    pub fn refresh(&mut self) {
        self.confirmed.clear();
        self.settled = false;
    }

    /// Whether this instance serves `client` now.
    pub fn owns(&self, client: &str) -> bool {
        // Alone (or not yet settled, which callers wait for): everything is ours.
        winner(self.live.iter(), client).is_none_or(|owner| *owner == self.me)
    }

    /// Whether this instance takes over what `departed` left in the broker (its session).
    pub fn adopts(&self, departed: &str) -> bool {
        let key = format!("adopt:{departed}");
        winner(self.live.iter().filter(|m| *m != departed), &key).is_some_and(|adopter| *adopter == self.me)
    }

    pub fn live(&self) -> impl Iterator<Item = &String> {
        self.live.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(me: &str, all: &[&str]) -> Membership {
        let mut m = Membership::new(me);
        for id in all {
            m.update(id, true);
        }
        m
    }

    #[test]
    fn every_client_has_exactly_one_owner_and_only_a_leavers_clients_move() {
        let all = ["a", "b", "c"];
        let views: Vec<Membership> = all.iter().map(|me| members(me, &all)).collect();
        let clients: Vec<String> = (0..3000).map(|i| format!("client-{i}")).collect();
        let owner_of = |views: &[Membership], c: &str| {
            let owners: Vec<&str> = views.iter().filter(|v| v.owns(c)).map(|v| v.me()).collect();
            assert_eq!(owners.len(), 1, "{c}: {owners:?}");
            owners[0].to_owned()
        };
        let before: Vec<String> = clients.iter().map(|c| owner_of(&views, c)).collect();
        for id in all {
            let share = before.iter().filter(|o| *o == id).count();
            assert!((700..1300).contains(&share), "{id} owns {share} of 3000");
        }
        // `b` leaves: only its clients move.
        let mut after_views: Vec<Membership> = ["a", "c"].iter().map(|me| members(me, &all)).collect();
        for view in &mut after_views {
            view.update("b", false);
        }
        for (client, old) in clients.iter().zip(&before) {
            let new = owner_of(&after_views, client);
            if old != "b" {
                assert_eq!(&new, old, "{client} moved although its owner stayed");
            }
        }
        let adopters: Vec<_> = after_views.iter().filter(|v| v.adopts("b")).collect();
        assert_eq!(adopters.len(), 1, "one survivor adopts b's session");
    }

    #[test]
    fn a_refresh_keeps_the_last_view_until_it_settles() {
        let mut m = members("a", &["a", "b", "c"]);
        m.refresh();
        assert_eq!(m.live().count(), 3, "the last view stands meanwhile");
        m.update("b", true);
        m.update("a", true);
        assert_eq!(m.live().cloned().collect::<Vec<_>>(), ["a", "b"], "c did not announce itself again: gone");
    }

    #[test]
    fn settles_when_its_own_announcement_returns() {
        let mut m = Membership::new("a");
        assert!(!m.settled());
        m.update("b", true);
        assert!(!m.settled());
        m.update("a", true);
        assert!(m.settled());
        assert_eq!(stable_hash(&["x", "y"]), stable_hash(&["x", "y"]));
        assert_ne!(stable_hash(&["xy", ""]), stable_hash(&["x", "y"]));
    }
}
