//! The pipeline: one capture thread feeding `workers` worker threads over
//! bounded channels, in batches, sharded by the client address so that a
//! client's DNS answers and its connections meet on one worker.
//!
//! ```text
//! PacketSource ──► capture thread ──batches──► worker 0 ─┬─ EVE lines ─────────────► output
//!   (file, iface)   (shard by client)  ...     worker N ─┴─ records ─► detection ─┘ (alerts)
//! ```
//!
//! Packet time is the only clock: the capture thread sends every worker a
//! tick each second of packet time, and workers expire flows only on ticks, so
//! the events are the same whatever the number of workers. Replay blocks when
//! a worker is behind (nothing is lost); live capture drops the batch and
//! counts it when the policy says so.

pub mod lines;
pub mod run_to_completion;

use crate::capture::{CaptureError, Next, PacketSource, RawPacket};
use crate::detect::engine::{Engine, EngineConfig};
use crate::output::LineSender;
use crate::telemetry::metrics::LatestCounters;
use crate::telemetry::snapshot::{SharedAggregator, Snapshot};
use crate::telemetry::{CaptureStats, Counters, DecodeCounters, EngineStats};
use crate::time::Timestamp;
use crate::worker::{Worker, WorkerSettings};
use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};
use lines::{AlertLines, StatsExtras};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Pipeline settings.
#[derive(Clone)]
pub struct PipelineConfig {
    /// Number of worker threads (at least 1).
    pub workers: usize,
    /// Packets per batch.
    pub batch_packets: usize,
    /// Batches queued per worker.
    pub queue_batches: usize,
    /// On a full queue, drop the batch (live) instead of waiting (replay).
    pub drop_when_full: bool,
    /// Interval of `stats` events in packet time; `None` = only the final one.
    pub stats_interval_secs: Option<u64>,
    /// Worker settings.
    pub worker: WorkerSettings,
    /// Detection stage settings.
    pub engine: EngineConfig,
}

/// Counters of a finished pipeline run.
#[derive(Debug, Default, Clone, Copy)]
pub struct PipelineStats {
    /// Packets read from the sources.
    pub packets: u64,
    /// Packets dropped because a worker queue was full.
    pub queue_drops: u64,
    /// Sum of the workers' decode counters.
    pub decode: DecodeCounters,
    /// Flows created over all workers.
    pub flows: u64,
    /// Flows evicted for capacity over all workers.
    pub flows_evicted: u64,
    /// The last source's own counters.
    pub capture: CaptureStats,
    /// Detection stage counters.
    pub engine: EngineStats,
    /// Process attribution counters (zero without it).
    pub attribution: crate::attribution::AttributionStats,
}

/// Packet bytes after which a batch is sent whatever its packet count, so a
/// queue's memory is bounded by its length in batches however large the
/// packets (a batch holds at most this plus one packet).
const BATCH_MAX_BYTES: usize = 128 * 1024;

/// Packets copied out of the capture buffer, with their metadata.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    meta: Vec<Meta>,
}

#[derive(Clone, Copy)]
struct Meta {
    start: usize,
    len: usize,
    ts: Timestamp,
    linktype: u32,
    wire_len: u32,
    pcap_cnt: u64,
}

impl Batch {
    fn push(&mut self, p: &RawPacket<'_>) {
        self.meta.push(Meta {
            start: self.bytes.len(),
            len: p.data.len(),
            ts: p.ts,
            linktype: p.linktype,
            wire_len: p.wire_len,
            pcap_cnt: p.pcap_cnt,
        });
        self.bytes.extend_from_slice(p.data);
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.meta.clear();
    }
}

enum Msg {
    Batch(Batch),
    Origin(String, bool),
    Tick(Timestamp),
    /// New settings (SIGHUP).
    Reconfigure(Box<WorkerSettings>),
    /// Send a `stats` part: (epoch, time, uptime, capture-thread counters
    /// to add, given to worker 0 only).
    Stats(u64, Timestamp, u64, Option<Box<Counters>>),
}

struct WorkerHandle {
    tx: Sender<Msg>,
    join: JoinHandle<Counters>,
}

/// A running pipeline: feed it sources, then finish it.
pub struct Pipeline {
    cfg: PipelineConfig,
    workers: Vec<WorkerHandle>,
    pending: Vec<Batch>,
    pool_rx: Receiver<Batch>,
    last_tick: u64,
    now: Timestamp,
    first: Option<Timestamp>,
    stats_epoch: u64,
    sender: LineSender,
    engine: Option<Engine>,
    stats: PipelineStats,
    community_id_seed: Arc<AtomicU16>,
    extras: StatsExtras,
}

impl Pipeline {
    /// Starts the worker threads and the detection stage; each sends its
    /// lines through a clone of `sender`.
    pub fn start(cfg: PipelineConfig, sender: &LineSender) -> std::io::Result<Pipeline> {
        Pipeline::start_with(cfg, sender, StatsExtras::default())
    }

    /// Like [`Pipeline::start`] for a live capture: periodic `stats` events
    /// also carry the writer's and the detection stage's counters, and every
    /// snapshot and detection counter is published to `metrics`.
    pub fn start_live(
        cfg: PipelineConfig,
        sender: &LineSender,
        metrics: Option<Arc<LatestCounters>>,
    ) -> std::io::Result<Pipeline> {
        let extras = StatsExtras {
            periodic_extras: true,
            metrics,
            ..StatsExtras::default()
        };
        Pipeline::start_with(cfg, sender, extras)
    }

    fn start_with(
        cfg: PipelineConfig,
        sender: &LineSender,
        extras: StatsExtras,
    ) -> std::io::Result<Pipeline> {
        let n = cfg.workers.max(1);
        let (pool_tx, pool_rx) = bounded::<Batch>(n * (cfg.queue_batches + 2));
        let mut workers = Vec::with_capacity(n);
        let community_id_seed = Arc::new(AtomicU16::new(cfg.worker.community_id_seed));
        let alerts = AlertLines::new(sender.clone(), community_id_seed.clone(), extras.clone());
        let engine = Engine::start(cfg.engine.clone(), n, Box::new(alerts))?;
        let snapshots = SharedAggregator::new(n);
        for i in 0..n {
            let (tx, rx) = bounded::<Msg>(cfg.queue_batches.max(1));
            let mut w = Worker::new(cfg.worker.clone(), sender.clone());
            w.set_detection(engine.sender(i));
            let thread = WorkerThread {
                pool: pool_tx.clone(),
                lines: sender.clone(),
                snapshots: snapshots.clone(),
                extras: extras.clone(),
            };
            let join = std::thread::Builder::new()
                .name(format!("virga-worker-{i}"))
                .spawn(move || thread.run(&mut w, &rx))?;
            workers.push(WorkerHandle { tx, join });
        }
        let pending = (0..n).map(|_| Batch::default()).collect();
        Ok(Pipeline {
            cfg,
            workers,
            pending,
            pool_rx,
            last_tick: 0,
            now: Timestamp(0),
            first: None,
            stats_epoch: 0,
            sender: sender.clone(),
            engine: Some(engine),
            stats: PipelineStats::default(),
            community_id_seed,
            extras,
        })
    }

    /// Applies new settings to the running workers and detection stage
    /// without losing their state (see [`Worker::reconfigure`] and
    /// [`Engine::reconfigure`]); packets already queued are processed under
    /// the old settings.
    pub fn reconfigure(&mut self, cfg: PipelineConfig) {
        self.flush_all();
        for w in &self.workers {
            let _ = w.tx.send(Msg::Reconfigure(Box::new(cfg.worker.clone())));
        }
        if let Some(e) = &self.engine {
            e.reconfigure(cfg.engine.clone());
        }
        self.community_id_seed
            .store(cfg.worker.community_id_seed, Ordering::Relaxed);
        self.cfg.drop_when_full = cfg.drop_when_full;
        self.cfg.stats_interval_secs = cfg.stats_interval_secs;
        self.cfg.worker = cfg.worker;
        self.cfg.engine = cfg.engine;
    }

    /// Tells the workers where the following packets come from.
    pub fn set_origin(&mut self, origin: &str, live: bool) {
        self.flush_all();
        for w in &self.workers {
            let _ = w.tx.send(Msg::Origin(origin.to_string(), live));
        }
    }

    /// Queues one packet of `source` (a live loop's step); returns true when
    /// packet time moved into a new second, so the caller should then call
    /// [`Pipeline::after_tick`].
    pub fn packet(&mut self, p: &RawPacket<'_>) -> bool {
        self.dispatch(p)
    }

    /// Packets dropped so far because a worker queue was full.
    pub fn queue_drops(&self) -> u64 {
        self.stats.queue_drops
    }

    /// Records the source's own counters for the final `stats` event.
    pub fn set_capture_stats(&mut self, c: CaptureStats) {
        self.stats.capture = c;
    }

    /// Sends a periodic `stats` request when one is due (call after a tick).
    pub fn after_tick(&mut self, source: &mut dyn PacketSource) {
        self.maybe_stats(source);
    }

    /// The source is idle: hand pending packets to the workers and let them
    /// write what they hold (a repeat tick at the current packet time).
    pub fn idle(&mut self) {
        self.flush_all();
        if self.first.is_some() {
            for w in &self.workers {
                let _ = w.tx.send(Msg::Tick(self.now));
            }
        }
    }

    /// Reads `source` to its end (or until `stop` is set). Returns the
    /// source's error, if any; the packets before it are processed.
    pub fn run_source(
        &mut self,
        source: &mut dyn PacketSource,
        stop: &AtomicBool,
    ) -> Result<(), CaptureError> {
        self.flush_all();
        let origin = source.origin().to_string();
        let live = source.is_live();
        for w in &self.workers {
            let _ = w.tx.send(Msg::Origin(origin.clone(), live));
        }
        let result = loop {
            if stop.load(Ordering::Relaxed) {
                break Ok(());
            }
            match source.next_packet() {
                Ok(Next::Packet(p)) => {
                    if self.dispatch(&p) {
                        self.maybe_stats(source);
                    }
                }
                Ok(Next::Idle) => self.flush_all(),
                Ok(Next::End) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        self.flush_all();
        self.stats.capture = source.stats();
        result
    }

    /// Sends a `stats` request to the workers, and the capture part to the
    /// writer, when packet time entered a new stats interval.
    fn maybe_stats(&mut self, source: &mut dyn PacketSource) {
        let (Some(iv), Some(first)) = (self.cfg.stats_interval_secs, self.first) else {
            return;
        };
        let uptime = self.now.secs().saturating_sub(first.secs());
        let epoch = uptime / iv.max(1);
        if epoch <= self.stats_epoch {
            return;
        }
        self.stats_epoch = epoch;
        self.flush_all();
        let mut part = Some(Box::new(Counters {
            capture: source.stats(),
            queue_drops: self.stats.queue_drops,
            ..Default::default()
        }));
        for w in &self.workers {
            let _ = w.tx.send(Msg::Stats(epoch, self.now, uptime, part.take()));
        }
    }

    /// Queues a packet for its worker; true when a packet-time tick was sent.
    fn dispatch(&mut self, p: &RawPacket<'_>) -> bool {
        self.stats.packets += 1;
        self.first.get_or_insert(p.ts);
        let mut ticked = false;
        if p.ts > self.now {
            self.now = p.ts;
            let sec = p.ts.secs();
            if sec != self.last_tick {
                self.last_tick = sec;
                self.flush_all();
                for w in &self.workers {
                    let _ = w.tx.send(Msg::Tick(self.now));
                }
                ticked = true;
            }
        }
        let i = shard(p, self.workers.len());
        let b = &mut self.pending[i];
        b.push(p);
        if b.meta.len() >= self.cfg.batch_packets.max(1) || b.bytes.len() >= BATCH_MAX_BYTES {
            self.send(i);
        }
        ticked
    }

    fn send(&mut self, i: usize) {
        if self.pending[i].meta.is_empty() {
            return;
        }
        let fresh = match self.pool_rx.try_recv() {
            Ok(mut b) => {
                b.clear();
                // One packet past the cap at most; give back anything larger
                // (a batch that once held a jumbo burst).
                b.bytes.shrink_to(BATCH_MAX_BYTES + 65_536);
                b
            }
            Err(_) => Batch::default(),
        };
        let batch = std::mem::replace(&mut self.pending[i], fresh);
        let n = batch.meta.len() as u64;
        let tx = &self.workers[i].tx;
        if self.cfg.drop_when_full {
            match tx.try_send(Msg::Batch(batch)) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => self.stats.queue_drops += n,
                Err(TrySendError::Disconnected(_)) => {}
            }
        } else {
            let _ = tx.send(Msg::Batch(batch));
        }
    }

    fn flush_all(&mut self) {
        for i in 0..self.workers.len() {
            self.send(i);
        }
    }

    /// Sends what is pending, stops the workers (each ends its flows and
    /// flushes), writes the final `stats` event and returns the counters.
    pub fn finish(mut self) -> PipelineStats {
        self.flush_all();
        let mut stats = self.stats;
        let mut total = Counters {
            capture: stats.capture,
            queue_drops: stats.queue_drops,
            ..Default::default()
        };
        for w in self.workers.drain(..) {
            drop(w.tx);
            if let Ok(c) = w.join.join() {
                stats.decode += c.decode;
                stats.flows += c.flows.created;
                stats.flows_evicted += c.flows.evicted;
                total += c;
            }
        }
        if let Some(e) = self.engine.take() {
            (stats.engine, stats.attribution) = e.finish_all();
            total.alerts = stats.engine.alerts;
            total.alerts_suppressed = stats.engine.suppressed_allowlist
                + stats.engine.suppressed_quiet
                + stats.engine.beacon_browser_held;
            total.engine = Some(stats.engine);
        }
        if let Some(first) = self.first {
            let snap = Snapshot {
                ts: self.now,
                uptime_secs: self.now.secs().saturating_sub(first.secs()),
                counters: total,
            };
            self.extras.send(&self.sender, snap, true);
        }
        stats
    }
}

/// What a worker thread holds besides its worker.
struct WorkerThread {
    pool: Sender<Batch>,
    lines: LineSender,
    snapshots: SharedAggregator,
    extras: StatsExtras,
}

impl WorkerThread {
    fn run(self, w: &mut Worker, rx: &Receiver<Msg>) -> Counters {
        for msg in rx.iter() {
            match msg {
                Msg::Batch(b) => {
                    for m in &b.meta {
                        let data = b.bytes.get(m.start..m.start + m.len).unwrap_or_default();
                        w.process(&RawPacket {
                            ts: m.ts,
                            linktype: m.linktype,
                            data,
                            wire_len: m.wire_len,
                            pcap_cnt: m.pcap_cnt,
                        });
                    }
                    let _ = self.pool.try_send(b);
                }
                Msg::Origin(o, live) => w.set_origin(&o, live),
                Msg::Tick(t) => w.advance(t),
                Msg::Reconfigure(cfg) => w.reconfigure(*cfg),
                Msg::Stats(epoch, ts, uptime_secs, capture) => {
                    w.flush();
                    let mut counters = w.counters();
                    if let Some(extra) = capture {
                        counters += *extra;
                    }
                    let part = Snapshot {
                        ts,
                        uptime_secs,
                        counters,
                    };
                    for snap in self.snapshots.add(epoch, part) {
                        self.extras.send(&self.lines, snap, false);
                    }
                }
            }
        }
        // Counters at the end include the flows ended by finish().
        w.finish();
        let mut c = w.counters();
        c.flows_active = 0;
        c
    }
}

pub use crate::shard::shard;

/// A stop flag nobody sets, for runs without signal handling.
pub fn never_stop() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}
