//! The time-windowed join of host events to records.
//!
//! Events wait in two maps: network connections (Sysmon event 3) by
//! (host address, source port, destination address, destination port,
//! protocol), DNS queries (event 22) by (host name, query name). A record
//! looks its key up and keeps the events whose time is within the skew of
//! its packet time:
//!
//! - none: no process (never a guess from another key);
//! - one program (source-port reuse gives several events of one key): the
//!   event nearest in time names it;
//! - several programs: [`Process::Ambiguous`], listing them.
//!
//! Memory is bounded: events older than the skew behind the time of the
//! records are dropped as records advance (a min-heap by event time), and
//! past `max_events` the oldest go first (counted). Every operation costs
//! O(log n) plus the handful of events sharing a key (capped at
//! [`MAX_PER_KEY`]).

use super::sysmon::{HostEvent, HostEventKind};
use crate::records::{HostEventSource, Process, ProcessInfo};
use crate::time::Timestamp;
use lru::LruCache;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;

/// Events kept per key: a port reused this often within twice the skew is
/// beyond telling apart anyway (the newest are kept).
pub const MAX_PER_KEY: usize = 8;
/// Addresses remembered with the host names that used them.
const MAX_HOST_ADDRESSES: usize = 65_536;
/// Host names remembered per address (DHCP reuse, several hosts behind one
/// address).
const MAX_HOSTS_PER_ADDRESS: usize = 4;
/// Candidate images listed in an ambiguous answer.
const MAX_CANDIDATES: usize = 8;

/// A host name as the join compares it: its first label (lowercased by the
/// reader), so that one collector's `WS-07` and another's
/// `ws-07.corp.example` are one host; an address literal stays whole.
fn short_host(h: &str) -> &str {
    // Only digits and dots (IPv4) or a colon (IPv6) can be an address.
    let literal = h.contains(':') || h.bytes().all(|c| c.is_ascii_digit() || c == b'.');
    if literal && h.parse::<IpAddr>().is_ok() {
        return h;
    }
    h.split('.').next().unwrap_or(h)
}

/// Key of a network connection event.
pub type ConnKey = (IpAddr, u16, IpAddr, u16, u8);
/// The maps' hasher: keyed per map, and far cheaper than SipHash on these
/// short keys (one lookup per connection start of the capture).
type Hasher = foldhash::fast::RandomState;

/// Key of a DNS query event: (host name, query name).
type DnsKey = (Arc<str>, Box<str>);

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    Conn(ConnKey),
    Dns(Arc<str>, Box<str>),
}

/// Counters of the index.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IndexStats {
    /// Events inserted.
    pub inserted: u64,
    /// Events dropped before they aged out, because `max_events` were held.
    pub evicted: u64,
    /// Event 3 of connections the process accepted (`Initiated: false`), not
    /// joined.
    pub inbound: u64,
    /// Event 22 without a host name (cannot be joined).
    pub hostless: u64,
}

/// The join index.
pub struct JoinIndex {
    skew_ns: u64,
    max_events: usize,
    conns: HashMap<ConnKey, Vec<Arc<HostEvent>>, Hasher>,
    dns: HashMap<DnsKey, Vec<Arc<HostEvent>>, Hasher>,
    hosts: LruCache<IpAddr, Vec<Arc<str>>>,
    expiry: BinaryHeap<Reverse<(Timestamp, Slot)>>,
    stats: IndexStats,
}

impl JoinIndex {
    /// An index matching events within `skew_ns` of a record, holding at
    /// most `max_events`.
    pub fn new(skew_ns: u64, max_events: NonZeroUsize) -> Self {
        JoinIndex {
            skew_ns,
            max_events: max_events.get(),
            conns: HashMap::default(),
            dns: HashMap::default(),
            hosts: LruCache::new(
                NonZeroUsize::new(MAX_HOST_ADDRESSES).unwrap_or(NonZeroUsize::MIN),
            ),
            expiry: BinaryHeap::new(),
            stats: IndexStats::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> IndexStats {
        self.stats
    }

    /// Events held.
    pub fn len(&self) -> usize {
        self.expiry.len()
    }

    /// True when no event is held.
    pub fn is_empty(&self) -> bool {
        self.expiry.is_empty()
    }

    /// Learns that host `host` used address `addr` (from its own events).
    pub fn learn_host(&mut self, addr: IpAddr, host: &Arc<str>) {
        let short = short_host(host);
        let list = self.hosts.get_or_insert_mut(addr, Vec::new);
        if !list.iter().any(|h| **h == *short) {
            if list.len() == MAX_HOSTS_PER_ADDRESS {
                list.remove(0);
            }
            list.push(Arc::from(short));
        }
    }

    /// Adds an event.
    pub fn insert(&mut self, e: Arc<HostEvent>) {
        let slot = match &e.kind {
            HostEventKind::Connection {
                proto,
                source,
                destination,
                initiated,
            } => {
                if !initiated {
                    self.stats.inbound += 1;
                    return;
                }
                if let Some(h) = &e.host {
                    self.learn_host(source.0, h);
                }
                Slot::Conn((source.0, source.1, destination.0, destination.1, *proto))
            }
            HostEventKind::Dns { name } => {
                let Some(h) = &e.host else {
                    self.stats.hostless += 1;
                    return;
                };
                Slot::Dns(Arc::from(short_host(h)), name.clone())
            }
        };
        let ts = e.ts;
        let list = match &slot {
            Slot::Conn(k) => self.conns.entry(*k).or_default(),
            Slot::Dns(h, n) => self.dns.entry((Arc::clone(h), n.clone())).or_default(),
        };
        if list.len() == MAX_PER_KEY {
            // The oldest goes; its heap entry finds nothing later.
            if let Some((i, _)) = list.iter().enumerate().min_by_key(|(_, x)| x.ts) {
                list.swap_remove(i);
            }
        }
        list.push(e);
        self.expiry.push(Reverse((ts, slot)));
        self.stats.inserted += 1;
        while self.expiry.len() > self.max_events {
            self.pop_oldest(true);
        }
    }

    /// Drops the events older than the skew behind `now`.
    pub fn expire(&mut self, now: Timestamp) {
        let cutoff = Timestamp(now.0.saturating_sub(self.skew_ns));
        while self
            .expiry
            .peek()
            .is_some_and(|Reverse((ts, _))| *ts < cutoff)
        {
            self.pop_oldest(false);
        }
    }

    fn pop_oldest(&mut self, evicting: bool) {
        let Some(Reverse((ts, slot))) = self.expiry.pop() else {
            return;
        };
        if evicting {
            self.stats.evicted += 1;
        }
        let keep = |e: &Arc<HostEvent>| e.ts > ts;
        match slot {
            Slot::Conn(k) => {
                if let Some(list) = self.conns.get_mut(&k) {
                    list.retain(keep);
                    if list.is_empty() {
                        self.conns.remove(&k);
                    }
                }
            }
            Slot::Dns(h, n) => {
                let k = (h, n);
                if let Some(list) = self.dns.get_mut(&k) {
                    list.retain(keep);
                    if list.is_empty() {
                        self.dns.remove(&k);
                    }
                }
            }
        }
    }

    /// The process of a connection from `client` to `server` over `proto`
    /// named at `ts`.
    pub fn join_conn(
        &self,
        client: (IpAddr, u16),
        server: (IpAddr, u16),
        proto: u8,
        ts: Timestamp,
    ) -> Option<Process> {
        let key = (
            client.0.to_canonical(),
            client.1,
            server.0.to_canonical(),
            server.1,
            proto,
        );
        let list = self.conns.get(&key)?;
        self.choose(list.iter(), ts, HostEventSource::SysmonConnection)
    }

    /// The process of `client`'s DNS query for `name` at `ts`: the hosts
    /// seen with that address, and their event 22 for the name.
    pub fn join_dns(&mut self, client: IpAddr, name: &str, ts: Timestamp) -> Option<Process> {
        // No query held (most of the time in logs with few events 22):
        // nothing to look up, nothing to allocate.
        if self.dns.is_empty() {
            return None;
        }
        let hosts = self.hosts.get(&client.to_canonical())?.clone();
        let name: Box<str> = super::sysmon::normalize_name(name).into();
        let lists: Vec<&Vec<Arc<HostEvent>>> = hosts
            .into_iter()
            .filter_map(|h| self.dns.get(&(h, name.clone())))
            .collect();
        self.choose(lists.into_iter().flatten(), ts, HostEventSource::SysmonDns)
    }

    fn choose<'a>(
        &self,
        events: impl Iterator<Item = &'a Arc<HostEvent>>,
        ts: Timestamp,
        source: HostEventSource,
    ) -> Option<Process> {
        let mut best: Option<(u64, &Arc<HostEvent>)> = None;
        let mut images: Vec<&Arc<str>> = Vec::new();
        for e in events {
            let d = e.ts.0.abs_diff(ts.0);
            if d > self.skew_ns {
                continue;
            }
            let img = &e.process.image;
            if !images.iter().any(|i| i.eq_ignore_ascii_case(img)) {
                images.push(img);
            }
            if best.is_none_or(|(bd, _)| d < bd) {
                best = Some((d, e));
            }
        }
        let (_, e) = best?;
        if images.len() > 1 {
            let mut list: Vec<Arc<str>> = images.into_iter().map(Arc::clone).collect();
            list.sort();
            list.truncate(MAX_CANDIDATES);
            return Some(Process::Ambiguous {
                images: list.into(),
                event: source,
            });
        }
        let skew_ns = i128::from(e.ts.0) - i128::from(ts.0);
        Some(Process::Known(ProcessInfo {
            image: Arc::clone(&e.process.image),
            pid: e.process.pid,
            user: e.process.user.clone(),
            host: e.host.clone(),
            event: source,
            skew_ms: i64::try_from(skew_ns / 1_000_000).unwrap_or(0),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attribution::sysmon::ProcessRef;

    const SEC: u64 = 1_000_000_000;

    fn conn(ts_ms: u64, image: &str, port: u16) -> Arc<HostEvent> {
        Arc::new(HostEvent {
            ts: Timestamp(ts_ms * 1_000_000),
            host: Some(Arc::from("ws1")),
            process: ProcessRef {
                image: Arc::from(image),
                pid: Some(7),
                user: None,
            },
            kind: HostEventKind::Connection {
                proto: 6,
                source: ("10.0.0.5".parse().unwrap(), port),
                destination: ("104.21.0.1".parse().unwrap(), 443),
                initiated: true,
            },
        })
    }

    fn ask(ix: &JoinIndex, ts_ms: u64, port: u16) -> Option<Process> {
        ix.join_conn(
            ("10.0.0.5".parse().unwrap(), port),
            ("::ffff:104.21.0.1".parse().unwrap(), 443),
            6,
            Timestamp(ts_ms * 1_000_000),
        )
    }

    fn nz(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).unwrap()
    }

    #[test]
    fn nearest_event_of_one_program_and_ambiguity() {
        let mut ix = JoinIndex::new(5 * SEC, nz(1024));
        ix.insert(conn(10_000, r"C:\a.exe", 50_000));
        ix.insert(conn(13_000, r"C:\A.EXE", 50_000));
        // Port reuse by one program: the nearest event names it.
        match ask(&ix, 12_400, 50_000) {
            Some(Process::Known(p)) => {
                assert_eq!(&*p.image, r"C:\A.EXE");
                assert_eq!(p.skew_ms, 600);
                assert_eq!(p.event.name(), "sysmon:3");
            }
            other => panic!("{other:?}"),
        }
        // Outside the skew: nothing.
        assert_eq!(ask(&ix, 4_999, 50_000), None);
        assert_eq!(ask(&ix, 18_001, 50_000), None);
        // Another port: nothing, never a guess.
        assert_eq!(ask(&ix, 10_000, 50_001), None);
        // Two programs within the skew: ambiguous, both listed.
        ix.insert(conn(11_000, r"C:\b.exe", 50_000));
        match ask(&ix, 11_000, 50_000) {
            Some(Process::Ambiguous { images, .. }) => {
                assert_eq!(images.len(), 2);
                assert!(images.iter().any(|i| &**i == r"C:\b.exe"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn memory_is_bounded() {
        let mut ix = JoinIndex::new(5 * SEC, nz(1024));
        for i in 0..10_000u64 {
            ix.insert(conn(i * 10, "C:\\a.exe", (i % 60_000) as u16));
            ix.expire(Timestamp(i * 10 * 1_000_000));
            assert!(ix.len() <= 1024);
        }
        // 5 s of events at one per 10 ms: 500 or so live, none evicted.
        assert!(ix.len() <= 502, "{}", ix.len());
        assert_eq!(ix.stats().evicted, 0);
        // A burst past the bound evicts the oldest.
        for i in 0..2_000u64 {
            ix.insert(conn(200_000, "C:\\a.exe", i as u16));
        }
        assert_eq!(ix.len(), 1024);
        assert!(ix.stats().evicted > 0);
        ix.expire(Timestamp(300 * SEC));
        assert!(ix.is_empty());
        assert!(ix.conns.is_empty());
        // One key holds at most MAX_PER_KEY events.
        for i in 0..100u64 {
            ix.insert(conn(400_000 + i, "C:\\a.exe", 1));
        }
        assert_eq!(ix.conns.values().map(Vec::len).max(), Some(MAX_PER_KEY));
    }

    #[test]
    fn dns_queries_through_the_hosts_addresses() {
        let mut ix = JoinIndex::new(5 * SEC, nz(1024));
        let q = Arc::new(HostEvent {
            ts: Timestamp(20 * SEC),
            host: Some(Arc::from("ws1.lab.example")),
            process: ProcessRef {
                image: Arc::from(r"C:\p.exe"),
                pid: None,
                user: None,
            },
            kind: HostEventKind::Dns {
                name: "x.workers.dev".into(),
            },
        });
        ix.insert(q);
        let client: IpAddr = "10.0.0.5".parse().unwrap();
        // The host's address is not known yet: no answer.
        assert_eq!(
            ix.join_dns(client, "x.workers.dev", Timestamp(20 * SEC)),
            None
        );
        // The host's connection event names it by its short name, the DNS
        // event (another collector) by its full name: one host.
        let mut c = (*conn(19_000, r"C:\a.exe", 1)).clone();
        c.host = Some(Arc::from("ws1"));
        ix.insert(Arc::new(c));
        match ix.join_dns(client, "X.Workers.Dev.", Timestamp(21 * SEC)) {
            Some(Process::Known(p)) => {
                assert_eq!(&*p.image, r"C:\p.exe");
                assert_eq!(p.skew_ms, -1000);
                assert_eq!(p.event.name(), "sysmon:22");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            ix.join_dns(client, "y.workers.dev", Timestamp(20 * SEC)),
            None
        );
    }
}
