//! The detection stage: one thread that receives every worker's detection
//! records, merges them in packet-time order, runs the detectors and hands
//! their alerts to an [`AlertSink`].
//!
//! Workers send their records in batches followed by a watermark (the packet
//! time they have processed up to, sent on every tick). The stage releases
//! records up to the smallest watermark of all workers and sorts them by
//! (time, client, flow), so the alerts are the same whatever the number of
//! workers and however their threads are scheduled. A record whose packet
//! time is behind its worker's last watermark (packets out of order, a file
//! whose clock goes back) is released at that watermark. Prevalence and "first
//! sighting" need a view over all clients, which no worker has (the
//! pipeline shards by client); this stage has it.
//!
//! With host events (`EngineConfig::attribution`), the stage first joins
//! each record to the event that names its process (`crate::attribution`):
//! the process goes on the record, a known program sets the client class,
//! and the allowlist can match it. Live, records wait the attribution's skew
//! before they are released, so events written a little after the packets
//! still join.

use super::alert::{self, Alert, ConnAlert, ConnDetector, DnsAlert};
use super::beacon::BeaconDetector;
use super::client::{ClientDetector, ClientVerdict};
use super::dns_anomaly::DnsAnomalyDetector;
use super::prevalence::Prevalence;
use super::prevalence_shared::SharedPrevalence;
use crate::attribution::{AttributionConfig, AttributionStats, Attributor};
use crate::client_class::{ClientClass, Reason};
use crate::records::{BeatSource, ConnStart, DetectionRecord, DnsLookup, Process};
use crate::telemetry::EngineStats;
use crate::time::Timestamp;
use crossbeam_channel::{bounded, Receiver, Sender};
use lru::LruCache;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::thread::JoinHandle;
use virga_config::{Allowlist, BeaconScope, Catalogue, Platform};

/// Names whose prevalence key is remembered.
const PREVALENCE_KEYS: usize = 4096;

/// The watermark of a worker that has sent its last records.
const DONE: Timestamp = Timestamp(u64::MAX);

/// Zeek uids an alert carries at most (`alert.context.virga.zeek_uids`).
const MAX_ZEEK_UIDS: usize = 5;
/// (client, name) pairs whose Zeek uids are kept.
const MAX_EVIDENCE_PAIRS: usize = 65_536;

/// Settings of the detection stage.
#[derive(Clone)]
pub struct EngineConfig {
    /// Serverless catalogue (the DNS anomaly detector splits names with it).
    pub catalogue: Arc<Catalogue>,
    /// Operator allowlist (suppresses alerts).
    pub allowlist: Allowlist,
    /// Alert on non-browser clients to serverless endpoints.
    pub client_enabled: bool,
    /// Quiet time between two client alerts for one (client, name), seconds.
    pub client_quiet_secs: u64,
    /// Window of the prevalence count, seconds.
    pub prevalence_window_secs: u64,
    /// Names tracked for prevalence.
    pub prevalence_max_names: NonZeroUsize,
    /// Redis server through which sensors share prevalence (`None`: this
    /// sensor's count alone, deterministic).
    pub prevalence_redis_url: Option<String>,
    /// Replays sharing prevalence keep in step by packet time (see
    /// `prevalence_shared`); live sensors never wait for each other.
    pub prevalence_lockstep: bool,
    /// DNS anomaly detector settings (`None` = off).
    pub dns: Option<virga_config::DnsDetect>,
    /// Beacon detector settings (`None` = off).
    pub beacon: Option<virga_config::BeaconDetect>,
    /// Host events that name the process behind records (`None` = off).
    pub attribution: Option<AttributionConfig>,
}

/// Where the stage's alerts and counters go (the pipeline writes alerts as
/// EVE lines and publishes the counters).
pub trait AlertSink: Send {
    /// One alert, as it is raised.
    fn alert(&mut self, a: &Alert<'_>);
    /// The end of a batch of released records: hand buffered alerts on.
    fn flush(&mut self);
    /// The stage's counters, when they changed.
    fn counters(&mut self, c: &EngineStats);
}

/// What workers send to the stage.
pub enum StageMsg {
    /// Records of worker `w`, in its packet order.
    Records(usize, Vec<DetectionRecord>),
    /// Worker `w` has processed every packet up to this time.
    Watermark(usize, Timestamp),
    /// Worker `w` has sent its last records: it no longer holds the others
    /// back (a worker whose source ended while the others read on).
    Done(usize),
    /// New settings (SIGHUP).
    Reconfigure(Box<EngineConfig>),
}

/// A worker's handle on the stage.
#[derive(Clone)]
pub struct StageSender {
    tx: Sender<StageMsg>,
    worker: usize,
}

impl StageSender {
    /// Sends a batch of records (nothing when empty).
    pub fn records(&self, records: Vec<DetectionRecord>) {
        if !records.is_empty() {
            let _ = self.tx.send(StageMsg::Records(self.worker, records));
        }
    }

    /// Sends the worker's watermark.
    pub fn watermark(&self, ts: Timestamp) {
        let _ = self.tx.send(StageMsg::Watermark(self.worker, ts));
    }

    /// Says the worker has sent its last records.
    pub fn done(&self) {
        let _ = self.tx.send(StageMsg::Done(self.worker));
    }
}

/// The running stage.
pub struct Engine {
    tx: Sender<StageMsg>,
    join: JoinHandle<(EngineStats, AttributionStats)>,
}

impl Engine {
    /// Starts the stage for `workers` workers, handing alerts to `sink`.
    pub fn start(
        cfg: EngineConfig,
        workers: usize,
        sink: Box<dyn AlertSink>,
    ) -> std::io::Result<Engine> {
        Engine::start_with_queue(cfg, workers, sink, 1024)
    }

    /// As [`Engine::start`] with a queue of `queue` messages (batches and
    /// watermarks) in front of the stage: a sender that can outrun the
    /// stage (a log reader) bounds what waits by its batch size times this.
    pub fn start_with_queue(
        cfg: EngineConfig,
        workers: usize,
        sink: Box<dyn AlertSink>,
        queue: usize,
    ) -> std::io::Result<Engine> {
        let (tx, rx) = bounded::<StageMsg>(queue.max(1));
        let n = workers.max(1);
        let join = std::thread::Builder::new()
            .name("virga-detect".into())
            .spawn(move || State::new(cfg, n, sink).run(&rx))?;
        Ok(Engine { tx, join })
    }

    /// Applies new settings: catalogue, allowlist and thresholds change;
    /// prevalence, quiet times and the DNS detector's state are kept (the DNS
    /// detector starts afresh only when its own section changed).
    pub fn reconfigure(&self, cfg: EngineConfig) {
        let _ = self.tx.send(StageMsg::Reconfigure(Box::new(cfg)));
    }

    /// A sender for worker `w`.
    pub fn sender(&self, worker: usize) -> StageSender {
        StageSender {
            tx: self.tx.clone(),
            worker,
        }
    }

    /// Waits until every worker's sender is gone and the last records are
    /// processed; returns the counters.
    pub fn finish(self) -> EngineStats {
        self.finish_all().0
    }

    /// As [`Engine::finish`], with the attribution's counters.
    pub fn finish_all(self) -> (EngineStats, AttributionStats) {
        drop(self.tx);
        self.join.join().unwrap_or_default()
    }
}

/// This sensor's own prevalence count, or the one shared through Redis.
enum PrevalenceCount {
    Local(Prevalence),
    Shared(Box<SharedPrevalence>),
}

impl PrevalenceCount {
    fn new(cfg: &EngineConfig) -> Self {
        let local = || Prevalence::new(cfg.prevalence_max_names, cfg.prevalence_window_secs);
        let Some(url) = &cfg.prevalence_redis_url else {
            return PrevalenceCount::Local(local());
        };
        match SharedPrevalence::new(
            url,
            cfg.prevalence_max_names,
            cfg.prevalence_window_secs,
            cfg.prevalence_lockstep,
        ) {
            Ok(s) => PrevalenceCount::Shared(Box::new(s)),
            Err(e) => {
                // The configuration checked the URL; the redis crate refusing
                // it still leaves the sensor running, on its own count.
                eprintln!(
                    "virga: prevalence Redis URL not usable ({:?}); counting alone",
                    e.kind()
                );
                PrevalenceCount::Local(local())
            }
        }
    }

    fn observe(&mut self, name: &Arc<str>, browser: bool, client: IpAddr, ts: Timestamp) -> u32 {
        match self {
            PrevalenceCount::Local(p) => p.observe(name, browser, client, ts),
            PrevalenceCount::Shared(p) => p.observe(name, browser, client, ts),
        }
    }

    /// Every record up to `ts` was processed.
    fn advance(&mut self, ts: Timestamp) {
        if let PrevalenceCount::Shared(p) = self {
            p.advance(ts);
        }
    }

    fn local_decisions(&self) -> u64 {
        match self {
            PrevalenceCount::Local(_) => 0,
            PrevalenceCount::Shared(p) => p.local_decisions(),
        }
    }
}

struct State {
    cfg: EngineConfig,
    sink: Box<dyn AlertSink>,
    /// Each worker's records not yet released, with their release time.
    pending: Vec<Vec<(Timestamp, DetectionRecord)>>,
    /// Records being released (a buffer kept between releases).
    ready: Vec<(Timestamp, DetectionRecord)>,
    watermarks: Vec<Timestamp>,
    prevalence: PrevalenceCount,
    client: ClientDetector,
    dns: Option<DnsAnomalyDetector>,
    beacon: Option<BeaconDetector>,
    attribution: Option<Attributor>,
    stats: EngineStats,
    /// Prevalence keys of the names seen last (see
    /// [`State::cached_prevalence_key`]); emptied when the catalogue may
    /// have changed.
    prevalence_keys: LruCache<Arc<str>, Arc<str>, foldhash::fast::RandomState>,
    /// The latest Zeek uids per (client, name), for records from logs.
    evidence: LruCache<(IpAddr, Arc<str>), Vec<Arc<str>>>,
    /// The counters last handed to the sink.
    published: EngineStats,
}

impl State {
    fn new(cfg: EngineConfig, workers: usize, sink: Box<dyn AlertSink>) -> State {
        let prevalence = PrevalenceCount::new(&cfg);
        let dns = cfg
            .dns
            .clone()
            .map(|d| DnsAnomalyDetector::new(d, cfg.catalogue.clone()));
        let beacon = cfg.beacon.as_ref().map(BeaconDetector::new);
        let attribution = cfg.attribution.as_ref().map(Attributor::new);
        State {
            dns,
            beacon,
            attribution,
            client: ClientDetector::new(cfg.client_quiet_secs),
            cfg,
            sink,
            pending: (0..workers).map(|_| Vec::new()).collect(),
            ready: Vec::new(),
            watermarks: vec![Timestamp(0); workers],
            prevalence,
            stats: EngineStats::default(),
            evidence: LruCache::new(
                NonZeroUsize::new(MAX_EVIDENCE_PAIRS).unwrap_or(NonZeroUsize::MIN),
            ),
            prevalence_keys: LruCache::with_hasher(
                NonZeroUsize::new(PREVALENCE_KEYS).unwrap_or(NonZeroUsize::MIN),
                foldhash::fast::RandomState::default(),
            ),
            published: EngineStats::default(),
        }
    }

    fn run(mut self, rx: &Receiver<StageMsg>) -> (EngineStats, AttributionStats) {
        for msg in rx.iter() {
            match msg {
                StageMsg::Records(w, records) => {
                    // A record's release time is its packet time, or the
                    // worker's last watermark when its packet came earlier
                    // (packets out of time order, files whose clocks go
                    // back): every worker has passed the same watermarks at
                    // the same packet, so this does not depend on how
                    // records and watermarks of different workers
                    // interleave here.
                    let floor = match self.watermarks.get(w) {
                        Some(&m) if m != DONE => m,
                        _ => Timestamp(0),
                    };
                    if let Some(p) = self.pending.get_mut(w) {
                        p.extend(records.into_iter().map(|r| (r.ts().max(floor), r)));
                    }
                }
                StageMsg::Watermark(w, ts) => self.on_watermark(w, ts),
                StageMsg::Done(w) => self.on_watermark(w, DONE),
                StageMsg::Reconfigure(cfg) => self.reconfigure(*cfg),
            }
        }
        self.release(None);
        self.stats.prevalence_local = self.prevalence.local_decisions();
        if let Some(b) = &self.beacon {
            self.stats.beacon_browser_held = b.stats().browser_held;
            self.stats.beacon_pairs_evicted = b.stats().evictions;
        }
        if let Some(d) = &self.dns {
            let s = d.stats();
            self.stats.dns_tracks_evicted = s.tracks_evicted;
            self.stats.dns_accounts_evicted = s.accounts_evicted;
        }
        let attribution = self
            .attribution
            .as_ref()
            .map(Attributor::stats)
            .unwrap_or_default();
        (self.stats, attribution)
    }

    /// Worker `w` is at `ts`: releases what every worker has passed.
    fn on_watermark(&mut self, w: usize, ts: Timestamp) {
        if let Some(m) = self.watermarks.get_mut(w) {
            *m = ts;
        }
        let low = self
            .watermarks
            .iter()
            .copied()
            .min()
            .unwrap_or(Timestamp(0));
        if low == DONE {
            // Every worker is done: the end of the run releases the rest.
            return;
        }
        // Live host events are written a little after the packets: records
        // wait the skew for them.
        let hold = self
            .cfg
            .attribution
            .as_ref()
            .map_or(0, AttributionConfig::hold_back_ns);
        if let Some(a) = &mut self.attribution {
            a.poll();
        }
        self.release(Some(Timestamp(low.0.saturating_sub(hold))));
    }

    fn reconfigure(&mut self, cfg: EngineConfig) {
        if cfg.beacon != self.cfg.beacon {
            self.beacon = cfg.beacon.as_ref().map(BeaconDetector::new);
        }
        if cfg.dns != self.cfg.dns {
            self.dns = cfg
                .dns
                .clone()
                .map(|d| DnsAnomalyDetector::new(d, cfg.catalogue.clone()));
        }
        if cfg.attribution != self.cfg.attribution {
            self.attribution = cfg.attribution.as_ref().map(Attributor::new);
        }
        self.client.set_quiet_secs(cfg.client_quiet_secs);
        self.prevalence_keys.clear();
        self.cfg = cfg;
    }

    /// Processes every pending record released before `upto` (all when `None`), in
    /// (time, client, flow) order.
    fn release(&mut self, upto: Option<Timestamp>) {
        let mut ready = std::mem::take(&mut self.ready);
        for p in &mut self.pending {
            match upto {
                // In place: what stays keeps its order and its buffer.
                // Strictly before: a record at the watermark's own time may
                // still come (the packet that moved the worker's time is
                // processed after the watermark is sent).
                Some(t) => ready.extend(p.extract_if(.., |(at, _)| *at < t)),
                None => ready.append(p),
            }
        }
        ready.sort_by_key(|(at, r)| order_key(*at, r));
        for (_, r) in ready.drain(..) {
            match r {
                DetectionRecord::ConnStart(mut c) => {
                    self.attribute_conn(&mut c);
                    self.on_conn(&c);
                }
                DetectionRecord::DnsLookup(mut d) => {
                    if let Some(a) = &mut self.attribution {
                        d.process = a.dns(&d);
                    }
                    self.on_dns(&d);
                }
            }
        }
        self.ready = ready;
        if let (Some(a), Some(t)) = (&mut self.attribution, upto) {
            a.advance(t);
        }
        if let Some(t) = upto {
            self.prevalence.advance(t);
        }
        self.sink.flush();
        if let Some(b) = &self.beacon {
            self.stats.beacon_browser_held = b.stats().browser_held;
        }
        self.stats.prevalence_local = self.prevalence.local_decisions();
        if let Some(a) = &self.attribution {
            a.stats().publish(&mut self.stats);
        }
        if self.stats != self.published {
            self.published = self.stats;
            self.sink.counters(&self.stats);
        }
    }

    /// Names the connection's process from host events; a known program
    /// decides the client class (a browser's or not), over the ClientHello.
    fn attribute_conn(&mut self, c: &mut ConnStart) {
        let Some(a) = &mut self.attribution else {
            return;
        };
        c.process = a.conn(c);
        if let Some(image) = c.process.as_deref().and_then(Process::image) {
            c.client_class = if virga_config::is_browser_image(image) {
                ClientClass::Browser
            } else {
                ClientClass::NonBrowser
            };
            c.class_reasons.insert(Reason::Process);
        }
    }

    fn allowed(&self, c: &ConnStart) -> bool {
        let ja4 = c.hello.as_ref().map(|h| &*h.ja4);
        let image = c.process.as_deref().and_then(Process::image);
        self.cfg
            .allowlist
            .matches_process(c.client.ip, Some(&c.name), ja4, image)
            .is_some()
    }

    /// Keeps the Zeek uid of a record from logs, the last few per (client,
    /// name).
    fn note_uid(&mut self, c: &ConnStart) {
        let Some(uid) = &c.evidence_uid else {
            return;
        };
        let key = (c.client.ip, Arc::clone(&c.name));
        let uids = self.evidence.get_or_insert_mut(key, Vec::new);
        if uids.last() != Some(uid) {
            if uids.len() == MAX_ZEEK_UIDS {
                uids.remove(0);
            }
            uids.push(Arc::clone(uid));
        }
    }

    /// The Zeek uids of the latest evidence of `c`'s (client, name).
    fn zeek_uids(&self, c: &ConnStart) -> Vec<Arc<str>> {
        uids_of(&self.evidence, c)
    }

    fn on_conn(&mut self, c: &ConnStart) {
        self.note_uid(c);
        let browser = c.client_class.non_browser() == Some(false);
        let start = c.beat == BeatSource::Connection;
        let Some(platform) = c.platform.as_ref() else {
            // `[detect.beacon] scope = "all"`: every destination is scored
            // for beaconing, not only serverless names.
            let all = self.cfg.beacon.as_ref().map(|b| b.scope) == Some(BeaconScope::All);
            if all && !self.allowed(c) {
                let prevalence =
                    self.prevalence
                        .observe(&c.name, browser, c.client.ip, c.packet.ts);
                self.beacon(c, None, prevalence);
            }
            return;
        };
        // Beats inside a connection are scored; the counters and the client
        // detector see connection starts only.
        if start {
            self.stats.serverless_conns += 1;
        }
        if self.allowed(c) {
            if start {
                self.stats.suppressed_allowlist += 1;
            }
            return;
        }
        let key = self.cached_prevalence_key(&c.name);
        let prevalence = self
            .prevalence
            .observe(&key, browser, c.client.ip, c.packet.ts);
        self.beacon(c, Some(platform), prevalence);
        if !self.cfg.client_enabled || !start {
            return;
        }
        match self.client.on_conn(c) {
            ClientVerdict::Quiet => {}
            ClientVerdict::Suppressed => self.stats.suppressed_quiet += 1,
            ClientVerdict::Alert => {
                let uids = self.zeek_uids(c);
                let rule = alert::client_rule(platform);
                self.sink.alert(&Alert::Conn(ConnAlert {
                    rule: &rule,
                    detector: ConnDetector::Client,
                    conn: c,
                    platform: Some(platform),
                    score: 1.0,
                    prevalence,
                    beacon: None,
                    zeek_uids: &uids,
                    images: &[],
                }));
                self.stats.alerts += 1;
                self.stats.alerts_client += 1;
            }
        }
    }

    /// [`State::prevalence_key`], remembered for the names seen last (most
    /// connections go to names seen before: no catalogue lookup, no new
    /// string).
    fn cached_prevalence_key(&mut self, name: &Arc<str>) -> Arc<str> {
        if let Some(k) = self.prevalence_keys.get(name) {
            return Arc::clone(k);
        }
        let key = self.prevalence_key(name);
        self.prevalence_keys.put(Arc::clone(name), Arc::clone(&key));
        key
    }

    /// What prevalence counts clients of for a catalogued name: its tenant
    /// (`<platform>:<tenant>`, which no DNS name can be) when the catalogue
    /// finds one, so the deployments and sibling functions of one tenant
    /// share a count; else the name itself.
    fn prevalence_key(&self, name: &Arc<str>) -> Arc<str> {
        match self.cfg.catalogue.lookup(name) {
            Some(m) => match m.account {
                Some(tenant) => Arc::from(format!(
                    "{}:{}",
                    m.platform.id(),
                    tenant.to_ascii_lowercase()
                )),
                None => Arc::clone(name),
            },
            None => Arc::clone(name),
        }
    }

    /// Feeds a connection start to the beacon detector; hands its alert on.
    fn beacon(&mut self, c: &ConnStart, platform: Option<&Platform>, prevalence: u32) {
        let Some(det) = self.beacon.as_mut() else {
            return;
        };
        // The programs seen on the pair, for its alert.
        let images = match &mut self.attribution {
            Some(a) => a.pair_images(c.client.ip, &c.name, c.process.as_deref()),
            None => &[],
        };
        let Some(b) = det.on_record(c, prevalence) else {
            return;
        };
        let uids = uids_of(&self.evidence, c);
        let rule = alert::beacon_rule(platform, c.client_class.non_browser() == Some(true));
        self.sink.alert(&Alert::Conn(ConnAlert {
            rule: &rule,
            detector: ConnDetector::Beacon,
            conn: c,
            platform,
            score: b.score,
            prevalence: b.prevalence,
            beacon: Some(&b),
            zeek_uids: &uids,
            images,
        }));
        self.stats.alerts += 1;
        self.stats.alerts_beacon += 1;
    }

    fn on_dns(&mut self, d: &DnsLookup) {
        self.stats.dns_observations += 1;
        let Some(det) = self.dns.as_mut() else {
            return;
        };
        let Some(a) = det.on_lookup(d) else {
            return;
        };
        if a.kind.is_informational() {
            // First sighting of an account: counted, not alerted (every
            // first visit to a legitimate site would raise it).
            self.stats.dns_new_accounts += 1;
            return;
        }
        let rule = alert::dns_rule(&a);
        self.sink.alert(&Alert::Dns(DnsAlert {
            rule: &rule,
            lookup: d,
            anomaly: &a,
        }));
        self.stats.alerts += 1;
        self.stats.alerts_dns += 1;
    }
}

/// Sorting key that makes the processing order independent of the workers:
/// release time, then packet time, client, flow.
fn order_key(at: Timestamp, r: &DetectionRecord) -> (Timestamp, Timestamp, IpAddr, u64, u8) {
    match r {
        DetectionRecord::ConnStart(c) => (at, c.packet.ts, c.client.ip, c.flow_id, 0),
        DetectionRecord::DnsLookup(d) => (at, d.packet.ts, d.client, d.flow_id, 1),
    }
}

/// The Zeek uids of the latest evidence of `c`'s (client, name), from
/// `evidence` (empty for a record from the wire).
fn uids_of(evidence: &LruCache<(IpAddr, Arc<str>), Vec<Arc<str>>>, c: &ConnStart) -> Vec<Arc<str>> {
    if c.evidence_uid.is_none() {
        return Vec::new();
    }
    evidence
        .peek(&(c.client.ip, Arc::clone(&c.name)))
        .cloned()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct NoSink;

    impl AlertSink for NoSink {
        fn alert(&mut self, _: &Alert<'_>) {}
        fn flush(&mut self) {}
        fn counters(&mut self, _: &EngineStats) {}
    }

    /// The built-in catalogue, no detector but the client one (when
    /// `client_enabled`), no host events.
    fn test_config(client_enabled: bool) -> EngineConfig {
        EngineConfig {
            catalogue: Arc::new(Catalogue::builtin()),
            allowlist: Allowlist::default(),
            client_enabled,
            client_quiet_secs: 0,
            prevalence_window_secs: 3600,
            prevalence_max_names: NonZeroUsize::MIN,
            prevalence_redis_url: None,
            prevalence_lockstep: false,
            dns: None,
            beacon: None,
            attribution: None,
        }
    }

    /// A TLS connection start from 10.0.0.5:`port` to `name` at `ts`.
    fn conn_start(name: &str, ts: Timestamp, port: u16, class: ClientClass) -> DetectionRecord {
        use crate::client_class::Reasons;
        use crate::flow::key::Endpoint;
        use crate::records::{AppProto, NameSource, PacketOrigin, PacketRef};
        let platform = Catalogue::builtin()
            .lookup(name)
            .map(|m| m.platform.clone());
        DetectionRecord::ConnStart(Box::new(ConnStart {
            packet: PacketRef { ts, pcap_cnt: 1 },
            origin: PacketOrigin::default(),
            flow_id: u64::from(port),
            client: Endpoint {
                ip: "10.0.0.5".parse().unwrap(),
                port,
            },
            server: Endpoint {
                ip: "104.21.0.1".parse().unwrap(),
                port: 443,
            },
            proto: 6,
            app_proto: AppProto::Tls,
            name: Arc::from(name),
            name_source: NameSource::Sni,
            platform,
            hello: None,
            client_class: class,
            class_reasons: Reasons::default(),
            client_bytes: 517,
            beat: BeatSource::Connection,
            process: None,
            evidence_uid: None,
        }))
    }

    #[test]
    fn prevalence_counts_a_tenant_across_its_names() {
        let cfg = test_config(false);
        let mut state = State::new(cfg, 1, Box::new(NoSink));
        let key = |s: &State, n: &str| s.prevalence_key(&Arc::from(n)).to_string();
        assert_eq!(
            key(&state, "api-7f3k2j9xq-Acme.vercel.app"),
            key(&state, "web-4hq2k8x1z-acme.vercel.app")
        );
        assert_eq!(key(&state, "a1b2--mysite.netlify.app"), "netlify:mysite");
        assert_eq!(
            key(&state, "relay.acme.workers.dev"),
            "cloudflare_workers:acme"
        );
        // Without a tenant, and outside the catalogue: the name itself.
        for name in ["x.trycloudflare.com", "www.example.com"] {
            assert_eq!(key(&state, name), name);
        }
        let ts = Timestamp(0);
        let mut seen = 0;
        for (i, name) in ["a1b2--mysite.netlify.app", "c3d4--mysite.netlify.app"]
            .into_iter()
            .enumerate()
        {
            let k = state.prevalence_key(&Arc::from(name));
            let client = IpAddr::from([10, 0, 0, i as u8 + 1]);
            seen = state.prevalence.observe(&k, false, client, ts);
        }
        assert_eq!(seen, 2, "two clients of one site, through two deploy names");
    }

    /// Images of the alerts, as the sink saw them (`-` for none, `?` for
    /// ambiguous).
    struct Images(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

    impl AlertSink for Images {
        fn alert(&mut self, a: &Alert<'_>) {
            if let Alert::Conn(c) = a {
                let shown = match c.conn.process.as_deref() {
                    Some(Process::Known(p)) => p.image.to_string(),
                    Some(Process::Ambiguous { .. }) => "?".into(),
                    None => "-".into(),
                };
                self.0.lock().unwrap().push(shown);
            }
        }
        fn flush(&mut self) {}
        fn counters(&mut self, _: &EngineStats) {}
    }

    #[test]
    fn live_attribution_follows_files_and_waits_the_skew() {
        use crate::attribution::{AttributionConfig, EventSource};
        let dir = std::env::temp_dir().join(format!("virga-engine-follow-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let name = "relay.acme.workers.dev";
        let cfg = EngineConfig {
            attribution: Some(AttributionConfig {
                source: EventSource::Follow(vec![dir.clone()]),
                skew_ns: 5_000_000_000,
                max_events: NonZeroUsize::new(1024).unwrap(),
                read: Default::default(),
            }),
            ..test_config(true)
        };
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let engine = Engine::start(cfg, 1, Box::new(Images(seen.clone()))).unwrap();
        let tx = engine.sender(0);
        let t0 = 1_772_445_600; // 2026-03-02 10:00:00 UTC
        let conn = |secs: i64, port: u16| {
            conn_start(
                name,
                Timestamp::from_secs_nanos(secs, 0),
                port,
                ClientClass::Unknown,
            )
        };
        // First poll: the folder is empty.
        tx.watermark(Timestamp::from_secs_nanos(t0, 0));
        // The connection is seen; its host event is written a moment later.
        tx.records(vec![conn(t0 + 1, 50_001), conn(t0 + 2, 50_002)]);
        tx.watermark(Timestamp::from_secs_nanos(t0 + 2, 0));
        let line = format!(
            concat!(
                r#"{{"EventID":3,"UtcTime":"2026-03-02 10:00:01.200","Image":"C:\\Temp\\upd.exe","#,
                r#""ProcessId":"9","Protocol":"tcp","SourceIp":"10.0.0.5","SourcePort":"{}","#,
                r#""DestinationIp":"104.21.0.1","DestinationPort":"443","Computer":"WS1"}}"#,
                "\n"
            ),
            50_001
        );
        std::fs::write(dir.join("sysmon.json"), line).unwrap();
        // Packet time moves past the skew: the records are released.
        tx.watermark(Timestamp::from_secs_nanos(t0 + 10, 0));
        drop(tx);
        let (_, stats) = engine.finish_all();
        let seen = seen.lock().unwrap().clone();
        // Unknown class without the process: only the named one is alerted,
        // as a non-browser, because of its program.
        assert_eq!(seen, [r"C:\Temp\upd.exe"]);
        assert_eq!(stats.conns_known, 1);
        assert_eq!(stats.conns_unmatched, 1);
        assert_eq!(stats.read.connections, 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A worker that has sent its last records (its source ended) no longer
    /// holds back the records of the workers still reading.
    #[test]
    fn a_done_worker_does_not_hold_the_others_back() {
        let cfg = test_config(true);
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let engine = Engine::start(cfg, 2, Box::new(Images(seen.clone()))).unwrap();
        let (first, second) = (engine.sender(0), engine.sender(1));
        let t0 = 1_772_445_600;
        let at = |secs| Timestamp::from_secs_nanos(secs, 0);
        first.watermark(at(t0));
        // The first worker's last records come after its last watermark.
        first.records(vec![conn_start(
            "relay.acme.workers.dev",
            at(t0 + 5),
            50_000,
            ClientClass::NonBrowser,
        )]);
        first.done();
        second.watermark(at(t0 + 10));
        // Released while the second worker still reads.
        let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while seen.lock().unwrap().is_empty() {
            assert!(
                std::time::Instant::now() < end,
                "held back by a done worker"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        drop((first, second));
        let stats = engine.finish();
        assert_eq!(stats.alerts, 1);
    }
}
