//! Process attribution: host events (Sysmon network connections, event 3,
//! and DNS queries, event 22) joined to the detection stage's records, so
//! alerts name the program behind a connection or a query.
//!
//! - [`sysmon`]: reads the JSON shapes collectors write into [`HostEvent`]s
//!   (through the lenient serde views of `raw.rs`);
//! - [`index`]: the time-windowed join;
//! - [`follow`]: follows event files as they grow and across rotation
//!   (`virga run`).
//!
//! The detection stage owns an [`Attributor`] (configured through
//! `EngineConfig::attribution`) and asks it about every record before the
//! detectors see it, in packet-time order; so any command that feeds records
//! to the stage (`replay`, and any other reader of connections) gets the
//! attribution by setting that one option, built with [`load`] for files read
//! whole or [`AttributionConfig::follow`] for files followed live.

pub mod follow;
pub mod index;
mod raw;
pub mod sysmon;

pub use index::{IndexStats, JoinIndex};
pub use sysmon::{HostEvent, HostEventKind, ProcessRef, ReadStats};

use crate::records::{BeatSource, ConnStart, DnsLookup, Process};
use crate::time::Timestamp;
use anyhow::Context as _;
use lru::LruCache;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Connections whose process is remembered for the beats inside them.
const MAX_FLOWS: usize = 65_536;
/// (client, name) pairs whose images are remembered for beacon alerts.
const MAX_PAIRS: usize = 65_536;
/// Images listed per pair.
pub const MAX_PAIR_IMAGES: usize = 8;
/// Files read from one folder.
const MAX_FILES_PER_DIR: usize = 10_000;

/// Where the host events come from.
#[derive(Clone)]
pub enum EventSource {
    /// Files read whole before the records (replay): every event, sorted by
    /// time, fed to the join as the records' time advances.
    Loaded(Arc<[Arc<HostEvent>]>),
    /// Files and folders followed as they grow (live).
    Follow(Vec<PathBuf>),
}

/// The attribution settings of the detection stage.
#[derive(Clone)]
pub struct AttributionConfig {
    /// The events.
    pub source: EventSource,
    /// Largest |event time − packet time|, nanoseconds.
    pub skew_ns: u64,
    /// Events held in the join at once.
    pub max_events: NonZeroUsize,
    /// What reading the loaded files counted (zero when following).
    pub read: ReadStats,
}

impl PartialEq for AttributionConfig {
    fn eq(&self, o: &Self) -> bool {
        let same_source = match (&self.source, &o.source) {
            (EventSource::Loaded(a), EventSource::Loaded(b)) => Arc::ptr_eq(a, b),
            (EventSource::Follow(a), EventSource::Follow(b)) => a == b,
            _ => false,
        };
        same_source && self.skew_ns == o.skew_ns && self.max_events == o.max_events
    }
}

impl AttributionStats {
    /// Copies the counters into the detection stage's.
    pub fn publish(&self, e: &mut crate::telemetry::EngineStats) {
        e.attribution_on = true;
        e.attribution_events = self.read.connections + self.read.dns;
        e.attribution_skipped = self.read.skipped;
        e.attribution_bad = self.read.bad;
        e.attribution_named = self.conns_known + self.dns_matched - self.dns_ambiguous;
        e.attribution_ambiguous = self.conns_ambiguous + self.dns_ambiguous;
        e.attribution_unmatched = self.conns_unmatched;
        e.attribution_evicted = self.index.evicted;
    }
}

impl AttributionConfig {
    /// Follows `[attribution] sysmon_paths` (`None` when there are none).
    pub fn follow(cfg: &virga_config::Attribution) -> Option<AttributionConfig> {
        (!cfg.sysmon_paths.is_empty()).then(|| AttributionConfig {
            source: EventSource::Follow(cfg.sysmon_paths.clone()),
            skew_ns: skew_ns(cfg),
            max_events: cfg.max_events,
            read: ReadStats::default(),
        })
    }

    /// How long the stage holds records back so that host events written
    /// a little after the packets can still join them: the skew when
    /// following live files, nothing when every event is read beforehand.
    pub fn hold_back_ns(&self) -> u64 {
        match self.source {
            EventSource::Loaded(_) => 0,
            EventSource::Follow(_) => self.skew_ns,
        }
    }
}

fn skew_ns(cfg: &virga_config::Attribution) -> u64 {
    u64::try_from(cfg.skew.as_nanos()).unwrap_or(u64::MAX)
}

/// What [`load`] read.
#[derive(Debug, Default, Clone)]
pub struct LoadSummary {
    /// Files read.
    pub files: usize,
    /// Their counts.
    pub stats: ReadStats,
}

/// Reads every event of `paths` (files, or folders whose files are read in
/// name order) for a replay, with `[attribution]`'s skew and bound.
///
/// # Errors
/// A path that does not exist or cannot be read, named.
pub fn load(
    paths: &[PathBuf],
    cfg: &virga_config::Attribution,
) -> anyhow::Result<(AttributionConfig, LoadSummary)> {
    let files = expand(paths)?;
    let mut intern = sysmon::Interner::default();
    let mut events = Vec::new();
    let mut summary = LoadSummary::default();
    for f in &files {
        let file =
            std::fs::File::open(f).with_context(|| format!("{}: cannot open", f.display()))?;
        let s = sysmon::read_all(file, &mut intern, &mut events)
            .with_context(|| format!("{}: cannot read", f.display()))?;
        summary.stats.add(&s);
        summary.files += 1;
    }
    // Sorted through (time, file order) pairs: the same order as a stable
    // sort of the events, without moving them.
    let mut order: Vec<(Timestamp, usize)> =
        events.iter().enumerate().map(|(i, e)| (e.ts, i)).collect();
    order.sort_unstable();
    let events: Vec<Arc<HostEvent>> = events.into_iter().map(Arc::new).collect();
    let events: Arc<[Arc<HostEvent>]> =
        order.iter().map(|(_, i)| Arc::clone(&events[*i])).collect();
    Ok((
        AttributionConfig {
            source: EventSource::Loaded(events),
            skew_ns: skew_ns(cfg),
            max_events: cfg.max_events,
            read: summary.stats,
        },
        summary,
    ))
}

/// The files of `paths`: files as given, folders' regular files in name
/// order.
///
/// # Errors
/// A path that does not exist or a folder that cannot be listed.
pub fn expand(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).with_context(|| format!("{}: cannot open", p.display()))?;
        if meta.is_dir() {
            out.extend(dir_files(p).with_context(|| format!("{}: cannot list", p.display()))?);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// The regular files of a folder, in name order (hidden files skipped).
pub fn dir_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .take(MAX_FILES_PER_DIR)
        .collect();
    files.sort();
    Ok(files)
}

/// Counters of the attribution.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AttributionStats {
    /// Connection starts and beats given one process.
    pub conns_known: u64,
    /// Connection starts and beats with several candidate programs.
    pub conns_ambiguous: u64,
    /// Connection starts and beats no event matched.
    pub conns_unmatched: u64,
    /// DNS records given a process (one or several candidates).
    pub dns_matched: u64,
    /// DNS records given several candidates (part of `dns_matched`).
    pub dns_ambiguous: u64,
    /// What reading the host event files counted (loaded files, or the
    /// followed ones so far).
    pub read: ReadStats,
    /// The join's counters.
    pub index: IndexStats,
}

/// The join as the detection stage runs it.
pub struct Attributor {
    skew_ns: u64,
    index: JoinIndex,
    loaded: Option<(Arc<[Arc<HostEvent>]>, usize)>,
    follower: Option<follow::Follower>,
    flows: LruCache<(u64, IpAddr), Option<Arc<Process>>>,
    pairs: LruCache<(IpAddr, Arc<str>), Vec<Arc<str>>>,
    read: ReadStats,
    stats: AttributionStats,
}

impl Attributor {
    /// The join for `cfg`.
    pub fn new(cfg: &AttributionConfig) -> Self {
        let mut index = JoinIndex::new(cfg.skew_ns, cfg.max_events);
        let (loaded, follower) = match &cfg.source {
            EventSource::Loaded(events) => {
                // Host names and their addresses come from the events
                // themselves: all of them, so a DNS query is joined even
                // when the host's first connection comes later.
                for e in events.iter() {
                    if let (HostEventKind::Connection { source, .. }, Some(h)) = (&e.kind, &e.host)
                    {
                        index.learn_host(source.0, h);
                    }
                }
                (Some((Arc::clone(events), 0)), None)
            }
            EventSource::Follow(paths) => (None, Some(follow::Follower::new(paths.clone()))),
        };
        Attributor {
            skew_ns: cfg.skew_ns,
            index,
            loaded,
            follower,
            flows: LruCache::new(NonZeroUsize::new(MAX_FLOWS).unwrap_or(NonZeroUsize::MIN)),
            pairs: LruCache::new(NonZeroUsize::new(MAX_PAIRS).unwrap_or(NonZeroUsize::MIN)),
            read: cfg.read,
            stats: AttributionStats::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> AttributionStats {
        AttributionStats {
            index: self.index.stats(),
            read: match &self.follower {
                Some(f) => f.stats(),
                None => self.read,
            },
            ..self.stats
        }
    }

    /// Reads what followed files added (live; call about once a second).
    pub fn poll(&mut self) {
        if let Some(f) = &mut self.follower {
            for e in f.poll() {
                self.index.insert(Arc::new(e));
            }
        }
    }

    /// Brings the join to packet time `now`: events up to the skew ahead
    /// enter, events older than the skew behind leave.
    pub fn advance(&mut self, now: Timestamp) {
        if let Some((events, next)) = &mut self.loaded {
            let until = Timestamp(now.0.saturating_add(self.skew_ns));
            while let Some(e) = events.get(*next).filter(|e| e.ts <= until) {
                self.index.insert(Arc::clone(e));
                *next += 1;
            }
        }
        self.index.expire(now);
    }

    /// The process of a connection start or beat (the beats of a
    /// connection share its start's answer).
    pub fn conn(&mut self, c: &ConnStart) -> Option<Arc<Process>> {
        let key = (c.flow_id, c.client.ip);
        if c.beat != BeatSource::Connection {
            if let Some(p) = self.flows.get(&key) {
                return p.clone();
            }
        }
        self.advance(c.packet.ts);
        let p = self
            .index
            .join_conn(
                (c.client.ip, c.client.port),
                (c.server.ip, c.server.port),
                c.proto,
                c.packet.ts,
            )
            .map(Arc::new);
        match p.as_deref() {
            Some(Process::Known(_)) => self.stats.conns_known += 1,
            Some(Process::Ambiguous { .. }) => self.stats.conns_ambiguous += 1,
            None => self.stats.conns_unmatched += 1,
        }
        self.flows.put(key, p.clone());
        p
    }

    /// The process of a client's DNS message.
    pub fn dns(&mut self, d: &DnsLookup) -> Option<Arc<Process>> {
        self.advance(d.packet.ts);
        let p = self
            .index
            .join_dns(d.client, &d.qname, d.packet.ts)
            .map(Arc::new);
        if let Some(p) = p.as_deref() {
            self.stats.dns_matched += 1;
            if matches!(p, Process::Ambiguous { .. }) {
                self.stats.dns_ambiguous += 1;
            }
        }
        p
    }

    /// Records the image of a (client, name) pair's connection; returns the
    /// images seen on the pair so far (sorted, at most [`MAX_PAIR_IMAGES`]).
    pub fn pair_images(
        &mut self,
        client: IpAddr,
        name: &Arc<str>,
        process: Option<&Process>,
    ) -> &[Arc<str>] {
        let list = self
            .pairs
            .get_or_insert_mut((client, Arc::clone(name)), Vec::new);
        if let Some(Process::Known(p)) = process {
            if list.len() < MAX_PAIR_IMAGES
                && !list.iter().any(|i| i.eq_ignore_ascii_case(&p.image))
            {
                list.push(Arc::clone(&p.image));
                list.sort();
            }
        }
        list
    }
}
