//! Per-client name attribution: which name a client had in mind when it
//! connected to an address, learned from that client's own DNS answers.
//!
//! Every `*.workers.dev` name resolves to the same Cloudflare anycast
//! addresses, so a global address → name map would be wrong; the cache is
//! keyed by (client, server address) and fed only by answers the client
//! itself received (the pipeline shards by client, so they reach the same
//! worker as its connections). A–AAAA answers are followed back through the
//! CNAME chain to the name the client asked for; HTTPS/SVCB address hints
//! count as answers too. Entries live as long as the answer's TTL, clamped to
//! `[min_ttl, max_ttl]`, in packet time; the cache holds a fixed number of
//! entries and evicts the least recently used.

pub use crate::telemetry::NameStats;
use crate::time::Timestamp;
use lru::LruCache;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;

/// What the client's DNS said about an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Learned {
    /// The name the client queried.
    pub name: Arc<str>,
    /// The first name of the answer chain (the queried name or a CNAME
    /// target) that is under a serverless suffix, if any.
    pub serverless_name: Option<Arc<str>>,
}

struct Entry {
    learned: Learned,
    expires: Timestamp,
}

/// A bounded, TTL-aware (client, server address) → name cache.
pub struct NameCache {
    map: LruCache<(IpAddr, IpAddr), Entry>,
    min_ttl_secs: u64,
    max_ttl_secs: u64,
    stats: NameStats,
}

impl NameCache {
    /// A cache of at most `capacity` entries with TTLs clamped to the bounds.
    pub fn new(capacity: NonZeroUsize, min_ttl_secs: u64, max_ttl_secs: u64) -> Self {
        NameCache {
            map: LruCache::new(capacity),
            min_ttl_secs,
            max_ttl_secs: max_ttl_secs.max(min_ttl_secs),
            stats: NameStats::default(),
        }
    }

    /// Records that `client` was told `server` is `learned`, valid for `ttl` seconds from `now`.
    pub fn learn(
        &mut self,
        client: IpAddr,
        server: IpAddr,
        learned: &Learned,
        ttl: u32,
        now: Timestamp,
    ) {
        let ttl = u64::from(ttl).clamp(self.min_ttl_secs, self.max_ttl_secs);
        let entry = Entry {
            learned: learned.clone(),
            expires: now.plus_secs(ttl),
        };
        let key = (client, canonical(server));
        if !self.map.contains(&key) && self.map.len() == self.map.cap().get() {
            self.stats.evicted += 1;
        }
        self.map.put(key, entry);
        self.stats.learned += 1;
    }

    /// The name `client` resolved `server` from, if its answer is still live.
    pub fn lookup(&mut self, client: IpAddr, server: IpAddr, now: Timestamp) -> Option<Learned> {
        let key = (client, canonical(server));
        let live = match self.map.get(&key) {
            Some(e) if e.expires >= now => Some(e.learned.clone()),
            Some(_) => None,
            None => return None,
        };
        match live {
            Some(l) => {
                self.stats.hits += 1;
                Some(l)
            }
            None => {
                self.map.pop(&key);
                None
            }
        }
    }

    /// The names already held for `client` and `server` when they are
    /// `name` and `serverless_name`, shared rather than allocated again (a
    /// client re-resolving a name gets the same answer): a peek that neither
    /// refreshes the entry nor counts.
    pub fn held(
        &self,
        client: IpAddr,
        server: IpAddr,
        name: &str,
        serverless_name: Option<&str>,
    ) -> Option<Learned> {
        let e = self.map.peek(&(client, canonical(server)))?;
        (*e.learned.name == *name && e.learned.serverless_name.as_deref() == serverless_name)
            .then(|| e.learned.clone())
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Counters so far.
    pub fn stats(&self) -> NameStats {
        self.stats
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are the IPv4 address: a
/// client given such an AAAA answer connects over IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(name: &str) -> Learned {
        Learned {
            name: Arc::from(name),
            serverless_name: None,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn held_shares_only_the_same_answer_and_changes_nothing() {
        let mut c = NameCache::new(NonZeroUsize::new(2).unwrap(), 30, 3600);
        let t0 = Timestamp::from_secs_nanos(1000, 0);
        let (client, server) = (ip("10.0.0.1"), ip("104.16.0.1"));
        let name: Arc<str> = Arc::from("a.acct1.workers.dev");
        let first = Learned {
            name: name.clone(),
            serverless_name: Some(name.clone()),
        };
        c.learn(client, server, &first, 300, t0);
        let sl = Some("a.acct1.workers.dev");
        let held = c.held(client, server, "a.acct1.workers.dev", sl).unwrap();
        assert!(Arc::ptr_eq(&held.name, &name), "the cache's own copy");
        // Another name, another serverless name, another client or address.
        assert!(c.held(client, server, "b.acct1.workers.dev", sl).is_none());
        assert!(c
            .held(client, server, "a.acct1.workers.dev", None)
            .is_none());
        assert!(c
            .held(ip("10.0.0.2"), server, "a.acct1.workers.dev", sl)
            .is_none());
        assert!(c
            .held(client, ip("104.16.0.2"), "a.acct1.workers.dev", sl)
            .is_none());
        // The IPv4-mapped form of the address is the same address.
        assert!(c
            .held(client, ip("::ffff:104.16.0.1"), "a.acct1.workers.dev", sl)
            .is_some());
        // A peek: no hit counted, no refresh of the LRU order.
        assert_eq!(c.stats().hits, 0);
        c.learn(client, ip("104.16.0.2"), &l("x"), 300, t0);
        let _ = c.held(client, server, "a.acct1.workers.dev", sl);
        c.learn(client, ip("104.16.0.3"), &l("y"), 300, t0);
        assert!(
            c.lookup(client, server, t0).is_none(),
            "evicted as least recent"
        );
    }

    #[test]
    fn per_client_and_ttl_bounded() {
        let mut c = NameCache::new(NonZeroUsize::new(8).unwrap(), 30, 3600);
        let t0 = Timestamp::from_secs_nanos(1000, 0);
        // Two clients, the same anycast address, two different names.
        c.learn(
            ip("10.0.0.1"),
            ip("104.16.0.1"),
            &l("a.acct1.workers.dev"),
            300,
            t0,
        );
        c.learn(
            ip("10.0.0.2"),
            ip("104.16.0.1"),
            &l("b.acct2.workers.dev"),
            300,
            t0,
        );
        assert_eq!(
            &*c.lookup(ip("10.0.0.1"), ip("104.16.0.1"), t0).unwrap().name,
            "a.acct1.workers.dev"
        );
        assert_eq!(
            &*c.lookup(ip("10.0.0.2"), ip("104.16.0.1"), t0).unwrap().name,
            "b.acct2.workers.dev"
        );
        assert!(c.lookup(ip("10.0.0.3"), ip("104.16.0.1"), t0).is_none());
        // Expired after the TTL.
        assert!(c
            .lookup(ip("10.0.0.1"), ip("104.16.0.1"), t0.plus_secs(301))
            .is_none());
        // A TTL of 0 is raised to the floor.
        c.learn(ip("10.0.0.1"), ip("1.2.3.4"), &l("x.example"), 0, t0);
        assert!(c
            .lookup(ip("10.0.0.1"), ip("1.2.3.4"), t0.plus_secs(29))
            .is_some());
        assert!(c
            .lookup(ip("10.0.0.1"), ip("1.2.3.4"), t0.plus_secs(31))
            .is_none());
    }

    #[test]
    fn mapped_v6_answers_name_v4_connections() {
        let mut c = NameCache::new(NonZeroUsize::new(8).unwrap(), 30, 3600);
        let t0 = Timestamp::from_secs_nanos(1000, 0);
        c.learn(
            ip("10.66.0.11"),
            ip("::ffff:10.77.0.21"),
            &l("a1b2c3.someacct.workers.dev"),
            300,
            t0,
        );
        assert!(c.lookup(ip("10.66.0.11"), ip("10.77.0.21"), t0).is_some());
    }

    #[test]
    fn capacity_evicts_least_recent() {
        let mut c = NameCache::new(NonZeroUsize::new(2).unwrap(), 30, 3600);
        let t0 = Timestamp::from_secs_nanos(1000, 0);
        c.learn(ip("10.0.0.1"), ip("1.1.1.1"), &l("one"), 300, t0);
        c.learn(ip("10.0.0.1"), ip("2.2.2.2"), &l("two"), 300, t0);
        c.lookup(ip("10.0.0.1"), ip("1.1.1.1"), t0);
        c.learn(ip("10.0.0.1"), ip("3.3.3.3"), &l("three"), 300, t0);
        assert_eq!(c.len(), 2);
        assert!(c.lookup(ip("10.0.0.1"), ip("2.2.2.2"), t0).is_none());
        assert!(c.lookup(ip("10.0.0.1"), ip("1.1.1.1"), t0).is_some());
        assert_eq!(c.stats().evicted, 1);
    }
}
