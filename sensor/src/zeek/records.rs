//! Log rows joined into detection records, as the wire would give them.
//!
//! - **Join by uid.** conn, ssl and http rows of one connection share its
//!   `uid` but sit in different files, and conn.log is written when the
//!   connection ends. The first row of a uid opens an entry that collects
//!   the others for [`JOIN_WINDOW_SECS`] of log time (bounded LRU map); then
//!   the connection start is made: the name from ssl `server_name` (SNI),
//!   else the http host (proxy-aware: a `CONNECT` or an absolute URI names
//!   the proxied host), else the client's own DNS answer for the server
//!   address (a bounded name cache fed by dns.log, as on the wire), else,
//!   with `[detect.beacon] scope = "all"`, the address as text. A row of a
//!   uid already made is a beat inside it (an http request after the
//!   client's silence, a conn_long interim line with new client bytes) or
//!   is late and dropped.
//! - **Client class.** No ClientHello is in a log: the `ja4` field (FoxIO's
//!   JA4 package) looked up in the browser table, else the user agent of a
//!   well-known non-browser tool, else unknown — so, as on the wire, only a
//!   known non-browser raises a non-browser client alert.
//! - **Time order.** Records leave through a reorder buffer that holds them
//!   [`HOLD_SECS`] of log time, so the detection stage gets them in time
//!   order although rows are only nearly ordered.

use super::files::LogKind;
use super::row::{Detail, LogRow};
use crate::client_class::{BrowserTable, ClientClass, Reason, Reasons};
use crate::flow::key::Endpoint;
use crate::name_cache::{Learned, NameCache};
use crate::records::{
    AppProto, BeatSource, ConnStart, DetectionRecord, DnsLookup, FlowName, NameSource,
    PacketOrigin, PacketRef,
};
use crate::time::Timestamp;
use lru::LruCache;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use virga_config::{Catalogue, Platform};

/// How long rows of one uid are collected before its connection start is
/// made (log time, seconds): ssl and http rows follow their connection's
/// start by a round trip or a few.
pub const JOIN_WINDOW_SECS: u64 = 10;
/// How long records wait in the reorder buffer (log time, seconds).
pub const HOLD_SECS: u64 = 60;
/// Records the reorder buffer holds at most before it releases the oldest.
pub const MAX_HELD: usize = 1 << 18;
/// Connections being joined at most (oldest made early beyond).
const MAX_PENDING: usize = 262_144;
/// Connections made, kept for the beats inside them.
const MAX_DONE: usize = 262_144;
/// HTTP requests kept per connection being joined.
const MAX_REQUESTS: usize = 16;

/// What the join needs from the configuration (`settings.rs` builds it).
#[derive(Clone)]
pub struct JoinSettings {
    /// Serverless catalogue.
    pub catalogue: Arc<Catalogue>,
    /// Known JA4s.
    pub browser_table: Arc<BrowserTable>,
    /// `[detect.beacon] scope = "all"` (and the beacon detector on).
    pub scope_all: bool,
    /// Server ports left out of `scope = "all"`.
    pub infrastructure_ports: Arc<[u16]>,
    /// Client silence that makes a request inside a connection a beat, ns.
    pub burst_idle_ns: u64,
    /// Name cache entries.
    pub names_capacity: NonZeroUsize,
    /// Name cache TTL bounds, seconds.
    pub names_min_ttl_secs: u64,
    /// Name cache TTL bounds, seconds.
    pub names_max_ttl_secs: u64,
}

/// Counts of the join.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JoinStats {
    /// Connection starts made.
    pub conn_starts: u64,
    /// Beats inside connections made (requests, bursts).
    pub beats_inside: u64,
    /// DNS lookups about serverless names made.
    pub dns_lookups: u64,
    /// Connections with no name left out (scope `serverless`, or an
    /// infrastructure destination).
    pub unnamed: u64,
    /// Rows of a uid already made, dropped.
    pub late_rows: u64,
    /// Records older than what the detection stage was already given.
    pub late_records: u64,
    /// Connections made early because the join map was full.
    pub evicted: u64,
}

struct Request {
    ts: Timestamp,
    host: Option<Arc<str>>,
}

struct Pending {
    uid: Option<Box<str>>,
    first_ts: Timestamp,
    /// The longest a conn row said the connection lasted, seconds.
    duration: Option<f64>,
    origin: Arc<str>,
    orig: Endpoint,
    resp: Endpoint,
    proto: u8,
    app_proto: AppProto,
    orig_bytes: u64,
    sni: Option<Arc<str>>,
    ja4: Option<Box<str>>,
    user_agent: Option<Box<str>>,
    requests: Vec<Request>,
}

/// A connection already made: what a beat inside it needs.
struct Made {
    start: Box<ConnStart>,
    last_beat: Timestamp,
    orig_bytes: u64,
}

/// Rows in, detection records out.
pub struct Joiner {
    s: JoinSettings,
    names: NameCache,
    /// Keyed by the uid's hash (the flow id).
    pending: LruCache<u64, Pending>,
    /// Keyed by the uid's hash; `None` for a connection known to be over
    /// within the join window (nothing can be a beat inside it).
    made: LruCache<u64, Option<Box<Made>>>,
    out: Vec<DetectionRecord>,
    now: Timestamp,
    /// Counts.
    pub stats: JoinStats,
}

fn flow_id_of(uid: &str) -> u64 {
    // SipHash with fixed keys: the same uid gives the same id on every run.
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new();
    uid.hash(&mut h);
    h.finish() & ((1 << 51) - 1)
}

/// The host a request goes to: the proxied host of a `CONNECT` or an
/// absolute URI, else the Host header; without a port, lower-cased.
pub fn request_host(
    method: Option<&str>,
    uri: Option<&str>,
    host: Option<&str>,
) -> Option<Arc<str>> {
    let from_uri = match (method, uri) {
        (Some(m), Some(u)) if m.eq_ignore_ascii_case("CONNECT") => Some(u),
        (_, Some(u)) => u
            .split_once("://")
            .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(rest)),
        _ => None,
    };
    let h = from_uri.or(host)?.trim();
    // user:pass@host
    let h = h.rsplit_once('@').map_or(h, |(_, h)| h);
    let h = match h.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.contains(':') => {
            name
        }
        _ => h,
    };
    let h = h.trim_start_matches('[').trim_end_matches(']');
    if h.is_empty() {
        return None;
    }
    Some(Arc::from(h.to_ascii_lowercase()))
}

/// User agents of well-known non-browser HTTP clients (prefix, any case).
const TOOL_AGENTS: &[&str] = &[
    "curl/",
    "wget/",
    "python-requests/",
    "python-urllib/",
    "python-httpx/",
    "aiohttp/",
    "go-http-client/",
    "okhttp/",
    "java/",
    "apache-httpclient/",
    "libwww-perl/",
    "powershell/",
    "winhttp",
    "microsoft bits/",
    "axios/",
    "node-fetch/",
    "undici",
    "ruby",
    "reqwest/",
];

/// The class a user agent shows: a known tool's is a non-browser; any other
/// (a browser's is trivially copied) tells nothing.
pub fn class_of_agent(ua: &str) -> ClientClass {
    let lower = ua.trim().to_ascii_lowercase();
    if TOOL_AGENTS.iter().any(|t| lower.starts_with(t)) || lower.contains("windowspowershell") {
        ClientClass::NonBrowser
    } else {
        ClientClass::Unknown
    }
}

/// Whether `scope = "all"` scores this server: not multicast, broadcast or
/// link-local, not an infrastructure port (as on the wire).
fn scored(server: &Endpoint, infra: &[u16]) -> bool {
    let local_only = match server.ip {
        IpAddr::V4(a) => {
            a.is_multicast() || a.is_broadcast() || a.is_link_local() || a.is_unspecified()
        }
        IpAddr::V6(a) => {
            a.is_multicast() || a.is_unspecified() || (a.segments()[0] & 0xffc0) == 0xfe80
        }
    };
    !local_only && !infra.contains(&server.port)
}

impl Joiner {
    /// A join with these settings.
    pub fn new(s: JoinSettings) -> Joiner {
        Joiner {
            names: NameCache::new(s.names_capacity, s.names_min_ttl_secs, s.names_max_ttl_secs),
            s,
            pending: LruCache::new(NonZeroUsize::new(MAX_PENDING).unwrap_or(NonZeroUsize::MIN)),
            made: LruCache::new(NonZeroUsize::new(MAX_DONE).unwrap_or(NonZeroUsize::MIN)),
            out: Vec::new(),
            now: Timestamp(0),
            stats: JoinStats::default(),
        }
    }

    /// The records made so far (taken).
    pub fn take(&mut self) -> Vec<DetectionRecord> {
        std::mem::take(&mut self.out)
    }

    /// The latest log time seen.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Takes one row from file `origin`.
    pub fn row(&mut self, r: LogRow, origin: &Arc<str>) {
        if r.ts > self.now {
            self.now = r.ts;
        }
        match &r.detail {
            Detail::Dns { .. } => self.dns(&r, origin),
            _ => self.conn_part(r, origin),
        }
        self.expire(false);
    }

    /// Makes every connection still being joined.
    pub fn finish(&mut self) {
        self.expire(true);
    }

    fn expire(&mut self, all: bool) {
        while let Some((_, p)) = self.pending.peek_lru() {
            if !all && p.first_ts.plus_secs(JOIN_WINDOW_SECS) > self.now {
                break;
            }
            if let Some((_, p)) = self.pending.pop_lru() {
                self.make(p);
            }
        }
    }

    fn dns(&mut self, r: &LogRow, origin: &Arc<str>) {
        let Detail::Dns {
            query: Some(query),
            qtype,
            rcode,
            answers,
            rtt,
        } = &r.detail
        else {
            return;
        };
        let cat = &self.s.catalogue;
        let query: Arc<str> = Arc::from(query.to_ascii_lowercase().trim_end_matches('.'));
        let mut serverless_name = cat.lookup(&query).is_some().then(|| query.clone());
        for (a, _) in answers {
            if serverless_name.is_none() && a.parse::<IpAddr>().is_err() {
                let n = a.to_ascii_lowercase();
                let n = n.trim_end_matches('.');
                // A CNAME target counts through tiers 1 and 2 only, as on the wire.
                if cat.lookup_cname_target(n).is_some() {
                    serverless_name = Some(Arc::from(n));
                }
            }
        }
        let learned = Learned {
            name: query.clone(),
            serverless_name: serverless_name.clone(),
        };
        for (a, ttl) in answers {
            if let Ok(ip) = a.parse::<IpAddr>() {
                self.names.learn(r.orig.ip, ip, &learned, *ttl, r.ts);
            }
        }
        if serverless_name.is_none() {
            return;
        }
        let flow_id = r.uid.as_deref().map_or(0, flow_id_of);
        let lookup = |ts: Timestamp, rcode: Option<u16>| DnsLookup {
            packet: PacketRef { ts, pcap_cnt: 0 },
            origin: PacketOrigin {
                name: origin.clone(),
                live: false,
            },
            flow_id,
            client: r.orig.ip,
            client_port: r.orig.port,
            server: r.resp,
            qname: query.clone(),
            qtype: *qtype,
            rcode,
            answers: u16::try_from(answers.len()).unwrap_or(u16::MAX),
            process: None,
        };
        self.out
            .push(DetectionRecord::DnsLookup(Box::new(lookup(r.ts, None))));
        self.stats.dns_lookups += 1;
        if let Some(rc) = rcode {
            let rtt_ns = rtt.map_or(0, |s| (s.min(60.0) * 1e9) as u64);
            let ts = Timestamp(r.ts.0.saturating_add(rtt_ns));
            self.out
                .push(DetectionRecord::DnsLookup(Box::new(lookup(ts, Some(*rc)))));
            self.stats.dns_lookups += 1;
        }
    }

    fn conn_part(&mut self, r: LogRow, origin: &Arc<str>) {
        let Some(uid) = r.uid.as_deref().filter(|u| !u.is_empty()) else {
            // No uid: nothing to join with; the row is its own connection.
            let mut p = self.new_pending(&r, origin);
            merge_part(&mut p, &r);
            self.make(p);
            return;
        };
        let key = flow_id_of(uid);
        // A short connection in which Zeek recognised another protocol than
        // TLS or HTTP will have no ssl or http row: it is made at once, not
        // joined.
        if let Detail::Conn {
            app_proto,
            service_seen: true,
            duration: Some(d),
            ..
        } = &r.detail
        {
            let alone = r.kind == LogKind::Conn
                && !matches!(app_proto, AppProto::Tls | AppProto::Http | AppProto::Quic)
                && *d < JOIN_WINDOW_SECS as f64;
            if alone && !self.pending.contains(&key) && !self.made.contains(&key) {
                let mut p = self.new_pending(&r, origin);
                merge_part(&mut p, &r);
                p.uid = r.uid;
                self.make_alone(p);
                return;
            }
        }
        if self.made.contains(&key) {
            self.inside(key, &r);
            return;
        }
        if let Some(p) = self.pending.get_mut(&key) {
            merge_part(p, &r);
            return;
        }
        let mut p = self.new_pending(&r, origin);
        merge_part(&mut p, &r);
        p.uid = r.uid;
        if let Some((k, old)) = self.pending.push(key, p) {
            if k != key {
                self.stats.evicted += 1;
                self.make(old);
            }
        }
    }

    fn new_pending(&self, r: &LogRow, origin: &Arc<str>) -> Pending {
        Pending {
            uid: None,
            first_ts: r.ts,
            duration: None,
            origin: origin.clone(),
            orig: r.orig,
            resp: r.resp,
            proto: 0,
            app_proto: AppProto::Unknown,
            orig_bytes: 0,
            sni: None,
            ja4: None,
            user_agent: None,
            requests: Vec::new(),
        }
    }

    /// A row of a connection already made: a beat inside it, or late.
    fn inside(&mut self, key: u64, r: &LogRow) {
        let scope_all = self.s.scope_all;
        let idle = self.s.burst_idle_ns;
        let Some(Some(m)) = self.made.get_mut(&key) else {
            self.stats.late_rows += 1;
            return;
        };
        let (ts, beat) = match &r.detail {
            Detail::Http {
                method, uri, host, ..
            } => {
                let h = request_host(method.as_deref(), uri.as_deref(), host.as_deref());
                // A request to another host through the same proxy
                // connection is a beat of that host.
                if let Some(h) = h.filter(|h| *h != m.start.name) {
                    let base = m.start.clone();
                    self.proxied(&base, h, r.ts);
                    return;
                }
                (r.ts, BeatSource::Request)
            }
            Detail::Conn {
                orig_bytes,
                duration,
                ..
            } if r.kind == LogKind::ConnLong => {
                let bytes = orig_bytes.unwrap_or(0);
                if bytes <= m.orig_bytes {
                    self.stats.late_rows += 1;
                    return;
                }
                m.orig_bytes = bytes;
                let at = duration.map_or(0, |d| (d.min(1e9) * 1e9) as u64);
                (Timestamp(r.ts.0.saturating_add(at)), BeatSource::Burst)
            }
            _ => {
                self.stats.late_rows += 1;
                return;
            }
        };
        if ts <= m.last_beat || ts.nanos_since(m.last_beat) < idle {
            return;
        }
        m.last_beat = ts;
        if m.start.platform.is_none() && !scope_all {
            return;
        }
        let mut c = m.start.clone();
        c.packet.ts = ts;
        c.beat = beat;
        self.out.push(DetectionRecord::ConnStart(c));
        self.stats.beats_inside += 1;
    }

    /// A request through a proxy connection to another host than the one
    /// that named the connection: a beat of that host, as RITA counts it.
    fn proxied(&mut self, base: &ConnStart, host: Arc<str>, ts: Timestamp) {
        let mut fname = FlowName::default();
        fname.set_sent(host.clone(), NameSource::HttpHost, &self.s.catalogue);
        if fname.platform.is_none() && !self.s.scope_all {
            return;
        }
        let mut c = Box::new(base.clone());
        c.packet.ts = ts;
        c.name = host;
        c.name_source = NameSource::HttpHost;
        c.platform = fname.platform;
        c.beat = BeatSource::Request;
        self.out.push(DetectionRecord::ConnStart(c));
        self.stats.beats_inside += 1;
    }

    fn classify(&self, p: &Pending) -> (ClientClass, Reasons) {
        let mut reasons = Reasons::default();
        if let Some(e) = p
            .ja4
            .as_deref()
            .and_then(|j| self.s.browser_table.lookup_str(j))
        {
            reasons.insert(match e.class {
                ClientClass::NonBrowser => Reason::Ja4InNonBrowserTable,
                _ => Reason::Ja4InBrowserTable,
            });
            return (e.class, reasons);
        }
        if let Some(ua) = &p.user_agent {
            let class = class_of_agent(ua);
            if class == ClientClass::NonBrowser {
                reasons.insert(Reason::ToolUserAgent);
            }
            return (class, reasons);
        }
        (ClientClass::Unknown, reasons)
    }

    /// Makes the connection start of a connection that has no other rows.
    fn make_alone(&mut self, p: Pending) {
        let mut p = p;
        // Nothing can follow it: no entry is kept for it.
        p.duration = Some(0.0);
        self.make_inner(p, false);
    }

    /// Makes the connection start of a joined connection.
    fn make(&mut self, p: Pending) {
        self.make_inner(p, true);
    }

    fn make_inner(&mut self, p: Pending, keep: bool) {
        let key = p.uid.as_deref().map(flow_id_of);
        let uid: Option<Arc<str>> = p.uid.as_deref().map(Arc::from);
        let ts = p.first_ts;
        let first_host = p.requests.iter().find_map(|q| q.host.clone());
        let mut fname = FlowName::default();
        let cat = &self.s.catalogue;
        if let Some(sni) = &p.sni {
            fname.set_sent(sni.clone(), NameSource::Sni, cat);
        } else if let Some(h) = first_host {
            fname.set_sent(h, NameSource::HttpHost, cat);
        } else if let Some(l) = self.names.lookup(p.orig.ip, p.resp.ip, ts) {
            fname.set_dns(l, cat);
        }
        let platform: Option<Platform> = fname.platform.clone();
        let named = fname.name().map(|(n, s)| (n.clone(), s));
        let (name, name_source) = match named {
            Some(n) if platform.is_some() => n,
            named if self.s.scope_all && scored(&p.resp, &self.s.infrastructure_ports) => {
                named.unwrap_or_else(|| (Arc::from(p.resp.ip.to_string()), NameSource::Address))
            }
            _ => {
                self.stats.unnamed += 1;
                return;
            }
        };
        let (client_class, class_reasons) = self.classify(&p);
        let app_proto = if p.sni.is_some() || p.ja4.is_some() {
            AppProto::Tls
        } else if !p.requests.is_empty() {
            AppProto::Http
        } else {
            p.app_proto
        };
        let start = Box::new(ConnStart {
            packet: PacketRef { ts, pcap_cnt: 0 },
            origin: PacketOrigin {
                name: p.origin.clone(),
                live: false,
            },
            flow_id: key.unwrap_or(0),
            client: p.orig,
            server: p.resp,
            proto: if p.proto == 0 { 6 } else { p.proto },
            app_proto,
            name,
            name_source,
            platform,
            hello: None,
            client_class,
            class_reasons,
            client_bytes: p.orig_bytes,
            beat: BeatSource::Connection,
            evidence_uid: uid,
            process: None,
        });
        self.stats.conn_starts += 1;
        // A connection that conn.log says was over within the join window
        // has nothing more to show; the others are kept for their beats.
        let over = p
            .duration
            .is_some_and(|d| d < JOIN_WINDOW_SECS as f64 && p.requests.len() <= 1);
        if over {
            self.out.push(DetectionRecord::ConnStart(start));
            if let (Some(k), true) = (key, keep) {
                self.made.put(k, None);
            }
            return;
        }
        self.out.push(DetectionRecord::ConnStart(start.clone()));
        let mut made = Made {
            start,
            last_beat: ts,
            orig_bytes: p.orig_bytes,
        };
        // Requests collected while joining: beats after the client's silence;
        // a request to another host through the same (proxy) connection is
        // a beat of that host.
        for q in p.requests.iter().skip(1) {
            if let Some(h) = q.host.as_ref().filter(|h| **h != made.start.name) {
                self.proxied(&made.start, h.clone(), q.ts);
                continue;
            }
            if q.ts <= made.last_beat || q.ts.nanos_since(made.last_beat) < self.s.burst_idle_ns {
                continue;
            }
            made.last_beat = q.ts;
            let mut c = made.start.clone();
            c.packet.ts = q.ts;
            c.beat = BeatSource::Request;
            self.out.push(DetectionRecord::ConnStart(c));
            self.stats.beats_inside += 1;
        }
        if let Some(k) = key {
            self.made.put(k, Some(Box::new(made)));
        }
    }
}

/// Adds what a row says to the connection being joined.
fn merge_part(p: &mut Pending, r: &LogRow) {
    if r.ts < p.first_ts {
        p.first_ts = r.ts;
    }
    match &r.detail {
        Detail::Conn {
            proto,
            app_proto,
            orig_bytes,
            duration,
            ..
        } => {
            p.duration = match (p.duration, *duration) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            // conn.log's addresses are the connection's own.
            p.orig = r.orig;
            p.resp = r.resp;
            p.proto = *proto;
            if *app_proto != AppProto::Unknown {
                p.app_proto = *app_proto;
            }
            p.orig_bytes = p.orig_bytes.max(orig_bytes.unwrap_or(0));
        }
        Detail::Ssl {
            server_name, ja4, ..
        } => {
            if let Some(n) = server_name {
                let n = n.to_ascii_lowercase();
                p.sni = Some(Arc::from(n.trim_end_matches('.')));
            }
            if ja4.is_some() {
                p.ja4.clone_from(ja4);
            }
        }
        Detail::Http {
            host,
            uri,
            method,
            user_agent,
        } => {
            if p.user_agent.is_none() {
                p.user_agent.clone_from(user_agent);
            }
            if p.requests.len() < MAX_REQUESTS {
                p.requests.push(Request {
                    ts: r.ts,
                    host: request_host(method.as_deref(), uri.as_deref(), host.as_deref()),
                });
            }
        }
        Detail::Dns { .. } => {}
    }
}

/// Records held until the log time has moved [`HOLD_SECS`] past them, then
/// released in time order.
pub struct Reorder {
    heap: BinaryHeap<Reverse<Held>>,
    seq: u64,
    released: Timestamp,
    cap: usize,
}

impl Default for Reorder {
    fn default() -> Self {
        Reorder::with_cap(MAX_HELD)
    }
}

struct Held(Timestamp, u64, DetectionRecord);

impl PartialEq for Held {
    fn eq(&self, o: &Self) -> bool {
        (self.0, self.1) == (o.0, o.1)
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Held {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.0, self.1).cmp(&(o.0, o.1))
    }
}

impl Reorder {
    /// A buffer that holds at most `cap` records (see [`Reorder::release`]).
    pub fn with_cap(cap: usize) -> Reorder {
        Reorder {
            heap: BinaryHeap::new(),
            seq: 0,
            released: Timestamp(0),
            cap: cap.max(2),
        }
    }

    /// Whether the buffer holds its cap or more: time to release.
    pub fn full(&self) -> bool {
        self.heap.len() >= self.cap
    }

    /// Holds records; returns how many are older than what was released.
    pub fn push(&mut self, records: Vec<DetectionRecord>) -> u64 {
        let mut late = 0;
        for r in records {
            let ts = r.ts();
            if ts < self.released {
                late += 1;
            }
            self.seq += 1;
            self.heap.push(Reverse(Held(ts, self.seq, r)));
        }
        late
    }

    /// Releases the records up to `now - HOLD_SECS` (all when `now` is
    /// `None`), in time order, and the oldest beyond half the cap when
    /// more are held (a log whose time stands still); returns them and the
    /// time released to (every record still held is at or after it).
    pub fn release(&mut self, now: Option<Timestamp>) -> (Vec<DetectionRecord>, Timestamp) {
        let upto = now.map(|n| Timestamp(n.0.saturating_sub(HOLD_SECS * 1_000_000_000)));
        let mut out = Vec::new();
        while let Some(Reverse(h)) = self.heap.peek() {
            if upto.is_some_and(|u| h.0 > u) && self.heap.len() <= self.cap / 2 {
                break;
            }
            if let Some(Reverse(Held(_, _, r))) = self.heap.pop() {
                out.push(r);
            }
        }
        let to = match (upto, out.last()) {
            (Some(u), Some(r)) => u.max(r.ts()),
            (Some(u), None) => u,
            (None, Some(r)) => r.ts().max(self.released),
            (None, None) => self.released,
        };
        self.released = self.released.max(to);
        (out, self.released)
    }

    /// Records held.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxied_requests_name_the_proxied_host() {
        let h = request_host;
        assert_eq!(
            h(Some("GET"), Some("/a"), Some("Example.com:8080")).as_deref(),
            Some("example.com")
        );
        assert_eq!(
            h(
                Some("CONNECT"),
                Some("c2.workers.dev:443"),
                Some("c2.workers.dev:443")
            )
            .as_deref(),
            Some("c2.workers.dev")
        );
        assert_eq!(
            h(
                Some("GET"),
                Some("http://evil.example/x?y"),
                Some("proxy.local")
            )
            .as_deref(),
            Some("evil.example")
        );
        assert_eq!(h(Some("GET"), Some("/"), None), None);
    }

    #[test]
    fn a_log_whose_time_stands_still_is_released_by_count() {
        let lookup = |ts: u64| {
            DetectionRecord::DnsLookup(Box::new(DnsLookup {
                packet: PacketRef {
                    ts: Timestamp(ts),
                    pcap_cnt: 0,
                },
                origin: PacketOrigin::default(),
                flow_id: 0,
                client: IpAddr::from([10, 0, 0, 1]),
                client_port: 1,
                server: Endpoint {
                    ip: IpAddr::from([10, 0, 0, 2]),
                    port: 53,
                },
                qname: Arc::from("a.workers.dev"),
                qtype: 1,
                rcode: None,
                answers: 0,
                process: None,
            }))
        };
        let mut r = Reorder::with_cap(100);
        let t = 1_000 * 1_000_000_000;
        assert_eq!(r.push((0..150).map(|_| lookup(t)).collect()), 0);
        assert!(r.full());
        let (out, to) = r.release(Some(Timestamp(t)));
        assert_eq!((out.len(), r.len()), (100, 50));
        assert_eq!(to, Timestamp(t), "the watermark follows what was released");
        // Time order, then arrival order.
        assert_eq!(r.push(vec![lookup(t - 1)]), 1, "older than released: late");
        let (out, _) = r.release(None);
        assert_eq!(out.first().map(DetectionRecord::ts), Some(Timestamp(t - 1)));
        assert!(r.is_empty());
    }

    #[test]
    fn agents_of_tools_are_non_browsers() {
        assert_eq!(class_of_agent("curl/8.5.0"), ClientClass::NonBrowser);
        assert_eq!(
            class_of_agent("Go-http-client/1.1"),
            ClientClass::NonBrowser
        );
        assert_eq!(
            class_of_agent("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120"),
            ClientClass::Unknown
        );
    }
}
