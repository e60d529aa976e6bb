//! The detection stage: one thread that receives every worker's
//! observations, merges them in packet-time order, and runs the detectors.
//!
//! Workers send their observations in batches followed by a watermark (the
//! packet time they have processed up to, sent on every tick). The engine
//! releases observations up to the smallest watermark of all workers and
//! sorts them by (time, client, flow), so the alerts are the same whatever the
//! number of workers and however their threads are scheduled. Prevalence and
//! "first sighting" need a view over all clients, which no worker has (the
//! pipeline shards by client); this stage has it.

use super::alert::{self, Place, Rule};
use super::beacon::{BeaconDetector, ConnStart};
use super::dns_anomaly::{DnsAnomalyDetector, DnsQueryObs, DnsResponseObs};
use super::observe::{ConnObs, DnsObs, ObsKind, Observation};
use super::prevalence::Prevalence;
use crate::output::EventSender;
use crate::time::Timestamp;
use crossbeam_channel::{bounded, Receiver, Sender};
use lru::LruCache;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::thread::JoinHandle;
use virga_config::{Allowlist, Catalogue};

/// Settings of the detection stage.
#[derive(Clone)]
pub struct EngineConfig {
    /// Community ID seed (alerts carry the flow's Community ID).
    pub community_id_seed: u16,
    /// Serverless catalogue.
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
    /// DNS anomaly detector settings (`None` = off).
    pub dns: Option<virga_config::DnsDetect>,
    /// Beacon detector settings (`None` = off).
    pub beacon: Option<virga_config::BeaconDetect>,
}

/// What workers send to the stage.
pub enum StageMsg {
    /// Observations of worker `w`, in its packet order.
    Obs(usize, Vec<Observation>),
    /// Worker `w` has processed every packet up to this time.
    Watermark(usize, Timestamp),
    /// New settings (SIGHUP).
    Reconfigure(Box<EngineConfig>),
}

/// Counters of the stage: what was seen, alerted and suppressed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EngineStats {
    /// Connection starts to serverless names.
    pub serverless_conns: u64,
    /// DNS observations.
    pub dns_observations: u64,
    /// Alerts written.
    pub alerts: u64,
    /// Connections suppressed by the allowlist.
    pub suppressed_allowlist: u64,
    /// Client alerts held back by their quiet time.
    pub suppressed_quiet: u64,
    /// Accounts seen for the first time (informational, not alerted).
    pub dns_new_accounts: u64,
    /// Periodic browser-class pairs held back by the browser rules.
    pub beacon_browser_held: u64,
    /// Beacon pairs forgotten to stay within the pair bound.
    pub beacon_pairs_evicted: u64,
    /// DNS anomaly tracks forgotten to stay within the track bound.
    pub dns_tracks_evicted: u64,
    /// Serverless accounts forgotten to stay within the account bound.
    pub dns_accounts_evicted: u64,
    /// Alerts of the beacon detector (part of `alerts`).
    pub alerts_beacon: u64,
    /// Alerts of the client classifier (part of `alerts`).
    pub alerts_client: u64,
    /// Alerts of the DNS anomaly detector (part of `alerts`).
    pub alerts_dns: u64,
}

/// A worker's handle on the stage.
#[derive(Clone)]
pub struct StageSender {
    tx: Sender<StageMsg>,
    worker: usize,
}

impl StageSender {
    /// Sends a batch of observations (nothing when empty).
    pub fn observations(&self, obs: Vec<Observation>) {
        if !obs.is_empty() {
            let _ = self.tx.send(StageMsg::Obs(self.worker, obs));
        }
    }

    /// Sends the worker's watermark.
    pub fn watermark(&self, ts: Timestamp) {
        let _ = self.tx.send(StageMsg::Watermark(self.worker, ts));
    }
}

/// The running stage.
pub struct Engine {
    tx: Sender<StageMsg>,
    join: JoinHandle<EngineStats>,
}

impl Engine {
    /// Starts the stage for `workers` workers, writing alerts through `out`.
    pub fn start(cfg: EngineConfig, workers: usize, out: EventSender) -> std::io::Result<Engine> {
        let (tx, rx) = bounded::<StageMsg>(1024);
        let n = workers.max(1);
        let join = std::thread::Builder::new()
            .name("virga-detect".into())
            .spawn(move || State::new(cfg, n, out).run(&rx))?;
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

    /// Waits until every worker's sender is gone and the last observations
    /// are processed; returns the counters.
    pub fn finish(self) -> EngineStats {
        drop(self.tx);
        self.join.join().unwrap_or_default()
    }
}

struct State {
    cfg: EngineConfig,
    out: EventSender,
    buf: Vec<u8>,
    pending: Vec<Vec<Observation>>,
    watermarks: Vec<Timestamp>,
    prevalence: Prevalence,
    client_alerted: LruCache<(IpAddr, Arc<str>), Timestamp>,
    dns: Option<DnsAnomalyDetector>,
    beacon: Option<BeaconDetector>,
    stats: EngineStats,
    /// The counters last handed to the writer (metrics, periodic `stats`).
    published: EngineStats,
}

/// (client, name) pairs remembered for the client alert's quiet time.
const MAX_CLIENT_ALERT_PAIRS: usize = 65_536;

impl State {
    fn new(cfg: EngineConfig, workers: usize, out: EventSender) -> State {
        let prevalence = Prevalence::new(cfg.prevalence_max_names, cfg.prevalence_window_secs);
        let dns = cfg
            .dns
            .clone()
            .map(|d| DnsAnomalyDetector::new(d, cfg.catalogue.clone()));
        let beacon = cfg.beacon.as_ref().map(BeaconDetector::new);
        State {
            dns,
            beacon,
            cfg,
            out,
            buf: Vec::new(),
            pending: (0..workers).map(|_| Vec::new()).collect(),
            watermarks: vec![Timestamp(0); workers],
            prevalence,
            client_alerted: LruCache::new(
                NonZeroUsize::new(MAX_CLIENT_ALERT_PAIRS).unwrap_or(NonZeroUsize::MIN),
            ),
            stats: EngineStats::default(),
            published: EngineStats::default(),
        }
    }

    fn run(mut self, rx: &Receiver<StageMsg>) -> EngineStats {
        for msg in rx.iter() {
            match msg {
                StageMsg::Obs(w, obs) => {
                    if let Some(p) = self.pending.get_mut(w) {
                        p.extend(obs);
                    }
                }
                StageMsg::Watermark(w, ts) => {
                    if let Some(m) = self.watermarks.get_mut(w) {
                        *m = ts;
                    }
                    let low = self
                        .watermarks
                        .iter()
                        .copied()
                        .min()
                        .unwrap_or(Timestamp(0));
                    self.release(Some(low));
                }
                StageMsg::Reconfigure(cfg) => {
                    if cfg.beacon != self.cfg.beacon {
                        self.beacon = cfg.beacon.as_ref().map(BeaconDetector::new);
                    }
                    if cfg.dns != self.cfg.dns {
                        self.dns = cfg
                            .dns
                            .clone()
                            .map(|d| DnsAnomalyDetector::new(d, cfg.catalogue.clone()));
                    }
                    self.cfg = *cfg;
                }
            }
        }
        self.release(None);
        if let Some(b) = &self.beacon {
            self.stats.beacon_browser_held = b.stats().browser_held;
            self.stats.beacon_pairs_evicted = b.stats().evictions;
        }
        if let Some(d) = &self.dns {
            let s = d.stats();
            self.stats.dns_tracks_evicted = s.tracks_evicted;
            self.stats.dns_accounts_evicted = s.accounts_evicted;
        }
        self.stats
    }

    /// Processes every pending observation up to `upto` (all when `None`),
    /// in (time, client, flow) order.
    fn release(&mut self, upto: Option<Timestamp>) {
        let mut ready = Vec::new();
        for p in &mut self.pending {
            match upto {
                Some(t) => {
                    let (now, later): (Vec<_>, Vec<_>) = p.drain(..).partition(|o| o.ts <= t);
                    ready.extend(now);
                    *p = later;
                }
                None => ready.append(p),
            }
        }
        ready.sort_by_key(order_key);
        for o in ready {
            match o.kind {
                ObsKind::Conn(c) => self.on_conn(o.ts, &c),
                ObsKind::Dns(d) => self.on_dns(o.ts, &d),
            }
        }
        if !self.buf.is_empty() {
            self.out.send(std::mem::take(&mut self.buf));
        }
        if let Some(b) = &self.beacon {
            self.stats.beacon_browser_held = b.stats().browser_held;
        }
        if self.stats != self.published {
            self.published = self.stats;
            self.out.engine_stats(self.stats);
        }
    }

    fn on_conn(&mut self, ts: Timestamp, c: &ConnObs) {
        let cat = self.cfg.catalogue.clone();
        let m = cat
            .lookup(&c.name)
            .or_else(|| c.dns_serverless.as_deref().and_then(|n| cat.lookup(n)));
        let Some(m) = m else {
            // `[detect.beacon] all_names`: every named connection is scored
            // for beaconing, not only serverless names.
            if self.cfg.beacon.as_ref().is_some_and(|b| b.all_names)
                && self
                    .cfg
                    .allowlist
                    .matches(c.client, Some(&c.name), c.ja4.as_deref())
                    .is_none()
            {
                let browser = c.client_class == Some("browser");
                let prevalence = self.prevalence.observe(&c.name, browser, c.client, ts);
                self.beacon(ts, c, None, prevalence);
            }
            return;
        };
        self.stats.serverless_conns += 1;
        if self
            .cfg
            .allowlist
            .matches(c.client, Some(&c.name), c.ja4.as_deref())
            .is_some()
        {
            self.stats.suppressed_allowlist += 1;
            return;
        }
        let browser = c.client_class == Some("browser");
        let prevalence = self.prevalence.observe(&c.name, browser, c.client, ts);
        self.beacon(ts, c, Some(m.platform), prevalence);
        if self.cfg.client_enabled && c.client_class == Some("non_browser") {
            let key = (c.client, c.name.clone());
            let quiet = self.cfg.client_quiet_secs;
            let recent = self
                .client_alerted
                .get(&key)
                .is_some_and(|last| ts.nanos_since(*last) / 1_000_000_000 < quiet);
            if recent {
                self.stats.suppressed_quiet += 1;
            } else {
                self.client_alerted.put(key, ts);
                let rule = Rule {
                    sid: alert::SID_NON_BROWSER_CLIENT,
                    signature: format!(
                        "VIRGA non-browser client to {} endpoint",
                        m.platform.name()
                    ),
                    category: "Potentially Bad Traffic",
                    severity: 3,
                };
                let ctx = ConnAlert {
                    detector: "client",
                    platform: m.platform.id(),
                    score: 1.0,
                    prevalence,
                };
                self.conn_alert(ts, c, &rule, &ctx, |_| {});
            }
        }
    }

    /// Feeds a connection start to the beacon detector; writes its alert.
    fn beacon(
        &mut self,
        ts: Timestamp,
        c: &ConnObs,
        platform: Option<&virga_config::Platform>,
        prevalence: u32,
    ) {
        let Some(det) = self.beacon.as_mut() else {
            return;
        };
        let non_browser = match c.client_class {
            Some("browser") => Some(false),
            Some("non_browser") => Some(true),
            _ => None,
        };
        let start = ConnStart {
            ts,
            client: c.client,
            server_name: &c.name,
            client_bytes: c.client_bytes,
            non_browser,
        };
        let Some(b) = det.on_conn(&start, prevalence) else {
            return;
        };
        let nb = non_browser == Some(true);
        let rule = Rule {
            sid: if nb {
                alert::SID_BEACON_NON_BROWSER
            } else {
                alert::SID_BEACON
            },
            signature: format!(
                "VIRGA beaconing to {} from a {} client",
                platform.map_or("a non-serverless name", |p| p.name()),
                if nb {
                    "non-browser"
                } else {
                    "browser or unknown"
                }
            ),
            category: "A Network Trojan was detected",
            severity: if nb { 1 } else { 2 },
        };
        let ctx = ConnAlert {
            detector: "beacon",
            platform: platform.map_or("none", |p| p.id()),
            score: b.score,
            prevalence: b.prevalence,
        };
        self.conn_alert(ts, c, &rule, &ctx, |w| {
            let mut t = String::new();
            w.u64("beats", u64::from(b.beats))
                .u64("connections", b.connections)
                .f64("period_secs", b.period_secs)
                .f64("jitter", b.jitter)
                .array("band_secs")
                .elem_f64(b.band_secs.0)
                .elem_f64(b.band_secs.1)
                .end_array()
                .f64("periodicity", b.periodicity)
                .u64("missed_beats", u64::from(b.missed_beats))
                .u64("pauses", u64::from(b.pauses))
                .u64("beats_to_detect", u64::from(b.beats_to_detect))
                .bool("repeat", b.repeat);
            b.first_seen.write_eve(&mut t);
            w.str("first_seen", &t);
            t.clear();
            b.last_seen.write_eve(&mut t);
            w.str("last_seen", &t);
            w.array("recent_intervals");
            for i in &b.recent_intervals {
                w.elem_f64((i * 1000.0).round() / 1000.0);
            }
            w.end_array();
        });
    }

    /// Writes an alert about a connection: its flow, the common members of
    /// `alert.context.virga`, then the detector's own (`extra`).
    fn conn_alert(
        &mut self,
        ts: Timestamp,
        c: &ConnObs,
        rule: &Rule,
        ctx: &ConnAlert<'_>,
        extra: impl FnOnce(&mut crate::output::json::JsonWriter<'_>),
    ) {
        let place = conn_place(ts, c);
        alert::write(
            &mut self.buf,
            self.cfg.community_id_seed,
            &place,
            rule,
            |w| {
                w.str("detector", ctx.detector);
                write_conn_context(w, c, ctx.platform, ctx.score, ctx.prevalence);
                extra(w);
            },
        );
        self.stats.alerts += 1;
        match ctx.detector {
            "beacon" => self.stats.alerts_beacon += 1,
            _ => self.stats.alerts_client += 1,
        }
    }

    fn on_dns(&mut self, ts: Timestamp, d: &DnsObs) {
        self.stats.dns_observations += 1;
        let Some(det) = self.dns.as_mut() else {
            return;
        };
        let found = match d.rcode {
            None => det.on_query(&DnsQueryObs {
                ts,
                client: d.client,
                qname: &d.qname,
                qtype: d.qtype,
            }),
            Some(rcode) => det.on_response(&DnsResponseObs {
                ts,
                client: d.client,
                qname: &d.qname,
                qtype: d.qtype,
                rcode,
                answers: d.answers,
            }),
        };
        let Some(a) = found else {
            return;
        };
        if a.kind.is_informational() {
            // First sighting of an account: counted, not alerted (every
            // first visit to a legitimate site would raise it).
            self.stats.dns_new_accounts += 1;
            return;
        }
        let rule = Rule {
            sid: alert::SID_DNS_BASE + a.kind as u32,
            signature: format!(
                "VIRGA DNS {} towards {}",
                a.kind.name().replace('_', " "),
                a.platform_name
            ),
            category: "Potentially Bad Traffic",
            severity: a.kind.severity().clamp(1, 3),
        };
        let place = Place {
            ts,
            client: d.client,
            server: d.server,
            client_port: d.client_port,
            proto: 17,
            flow_id: d.flow_id,
            pcap_cnt: d.pcap_cnt,
            origin: &d.origin,
            live: d.live,
            app_proto: "dns",
            app_json: None,
        };
        alert::write(
            &mut self.buf,
            self.cfg.community_id_seed,
            &place,
            &rule,
            |w| {
                w.str("detector", "dns")
                    .str("server_name", &a.name)
                    .str("platform", &a.platform)
                    .str("kind", a.kind.name())
                    .f64("score", a.score);
                if let Some(acct) = &a.account {
                    w.str("account", acct);
                }
                w.object("evidence")
                    .u64("count", u64::from(a.evidence.count))
                    .u64("threshold", u64::from(a.evidence.threshold))
                    .u64("window_secs", a.evidence.window_secs)
                    .f64("span_secs", a.evidence.span_secs)
                    .array("examples");
                for e in &a.evidence.examples {
                    w.elem_str(e);
                }
                w.end_array().end_object();
            },
        );
        self.stats.alerts += 1;
        self.stats.alerts_dns += 1;
    }
}

/// The common context of a connection alert.
struct ConnAlert<'a> {
    detector: &'static str,
    platform: &'a str,
    score: f64,
    prevalence: u32,
}

/// Sorting key that makes the processing order independent of the workers.
fn order_key(o: &Observation) -> (Timestamp, IpAddr, u64, u8) {
    match &o.kind {
        ObsKind::Conn(c) => (o.ts, c.client, c.flow_id, 0),
        ObsKind::Dns(d) => (o.ts, d.client, d.flow_id, 1),
    }
}

/// The alert's place: the connection's flow, client to server.
fn conn_place(ts: Timestamp, c: &ConnObs) -> Place<'_> {
    Place {
        ts,
        client: c.client,
        server: c.server,
        client_port: c.client_port,
        proto: c.proto,
        flow_id: c.flow_id,
        pcap_cnt: c.pcap_cnt,
        origin: &c.origin,
        live: c.live,
        app_proto: match (c.proto, c.name_source) {
            (17, _) => "quic",
            (_, crate::names::NameSource::HttpHost) => "http",
            _ => "tls",
        },
        app_json: c.app_json.as_deref(),
    }
}

/// The common members of `alert.context.virga` for a connection.
fn write_conn_context(
    w: &mut crate::output::json::JsonWriter<'_>,
    c: &ConnObs,
    platform: &str,
    score: f64,
    prevalence: u32,
) {
    w.str("server_name", &c.name)
        .str("name_source", c.name_source.name())
        .str("platform", platform)
        .f64("score", score)
        .str("client_class", c.client_class.unwrap_or("unknown"));
    if !c.class_reasons.is_empty() {
        w.array("client_reasons");
        for r in &c.class_reasons {
            w.elem_str(r);
        }
        w.end_array();
    }
    if let Some(j) = &c.ja4 {
        w.str("ja4", j);
    }
    w.u64("prevalence", u64::from(prevalence));
}
