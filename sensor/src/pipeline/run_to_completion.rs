//! Run-to-completion workers: every worker reads its packets itself and takes
//! them through decoding, flows, the application layer and detection records,
//! with no capture thread in between.
//!
//! ```text
//! source 0 ──► worker 0 ─┬─ EVE lines ─────────────► output
//!   ...          ...     │                          ▲
//! source N ──► worker N ─┴─ records ─► detection ───┘ (alerts)
//! ```
//!
//! Two ways to share the packets ([`Keep`]):
//! - **capture files**: every worker walks the same files and keeps the
//!   packets of its shard (by client address, [`crate::shard::shard`]).
//!   Every worker sees every packet's time, so each ticks on the same
//!   seconds as the others and the events are the same for any number of
//!   workers, as with the capture thread;
//! - **fanout sockets**: the kernel gives each worker's socket its share of
//!   the packets (per client). A worker then knows only its own packets'
//!   times; the latest time any worker saw is shared, and a worker with
//!   nothing to read moves up to it, so quiet workers still end flows and
//!   let the detection stage release records.

use super::lines::{AlertLines, StatsExtras};
use super::{PipelineConfig, PipelineStats};
use crate::capture::{CaptureError, CaptureStats, Next, PacketSource};
use crate::detect::engine::Engine;
use crate::output::LineSender;
use crate::progress::Progress;
use crate::telemetry::snapshot::{SharedAggregator, Snapshot};
use crate::telemetry::Counters;
use crate::time::Timestamp;
use crate::worker::{Worker, WorkerSettings};
use crossbeam_channel::{unbounded, Receiver, Sender};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Which of its source's packets a worker processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Every worker reads the same packets and keeps its shard (files).
    Shard,
    /// The source delivers this worker's share only (a fanout socket).
    All,
}

/// One worker's packet sources, opened in the worker's own thread one after
/// the other; an `Err` ends the worker's reading.
pub type Sources =
    Box<dyn Iterator<Item = Result<Box<dyn PacketSource + Send>, CaptureError>> + Send>;

/// What a worker reads.
pub struct Feed {
    /// Its sources, in order.
    pub sources: Sources,
    /// Which of their packets it keeps.
    pub keep: Keep,
    /// Redrawn as the worker reads (give it to one worker only).
    pub progress: Option<Progress>,
}

/// How a worker's reading ended.
#[derive(Debug, Default)]
struct Ending {
    counters: Counters,
    /// Packets read from the sources (kept or not).
    read: u64,
    /// Sources opened.
    sources: usize,
    /// The last source's counters (a file), or the sum (sockets).
    capture: CaptureStats,
    error: Option<CaptureError>,
    /// The source being read when a stop request came (a socket, handed
    /// back so that a restart can go on reading it).
    left: Option<Box<dyn PacketSource + Send>>,
}

/// Counters of a finished run.
#[derive(Debug, Default)]
pub struct RunStats {
    /// As for the capture-thread pipeline.
    pub pipeline: PipelineStats,
    /// Sources the first worker opened (files, for a replay).
    pub sources: usize,
    /// The first source failure (a file that cannot be read further).
    pub error: Option<CaptureError>,
    /// Each worker's source at a stop request, in worker order (sockets a
    /// restarted run goes on reading); empty after files.
    pub sources_left: Vec<Box<dyn PacketSource + Send>>,
}

/// Each worker's capture counters and packets read, as last published
/// (sockets only; see [`RunToCompletion::capture_now`]).
#[derive(Default)]
struct LiveCounters {
    workers: Vec<[AtomicU64; 4]>,
}

impl LiveCounters {
    fn new(n: usize) -> LiveCounters {
        LiveCounters {
            workers: (0..n).map(|_| Default::default()).collect(),
        }
    }

    fn set(&self, me: usize, c: CaptureStats, read: u64) {
        if let Some(w) = self.workers.get(me) {
            for (slot, v) in w
                .iter()
                .zip([c.received, c.kernel_drops, c.interface_drops, read])
            {
                slot.store(v, Ordering::Relaxed);
            }
        }
    }

    fn sum(&self) -> (CaptureStats, u64) {
        let mut c = CaptureStats::default();
        let mut read = 0;
        for w in &self.workers {
            c.received += w[0].load(Ordering::Relaxed);
            c.kernel_drops += w[1].load(Ordering::Relaxed);
            c.interface_drops += w[2].load(Ordering::Relaxed);
            read += w[3].load(Ordering::Relaxed);
        }
        (c, read)
    }
}

/// Packet time shared by the workers: the first packet's and the latest.
#[derive(Default)]
struct SharedClock {
    first: AtomicU64,
    latest: AtomicU64,
}

/// How far workers that read the same packets may drift apart. What one
/// worker sends ahead of the others waits for them (detection records until
/// every worker's watermark passes them, `stats` parts until every part is
/// in), so a worker ahead by more than this waits for the slowest.
const MAX_LEAD_PACKETS: u64 = 65_536;
/// The same in packet time, nanoseconds (64 s: fewer `stats` intervals than
/// the snapshot aggregator keeps open, for any interval).
const MAX_LEAD_NS: u64 = 64_000_000_000;
/// Packets between two looks at the other workers' progress.
const PACE_EVERY: u64 = 256;

/// Each worker's progress through the shared packets: (packets read,
/// packet time), `u64::MAX` once it is done.
struct Pace {
    workers: Vec<Reached>,
}

/// One worker's (packets read, packet time), on a cache line of its own so
/// that one worker's writes do not evict the line the others write.
#[repr(align(64))]
#[derive(Default)]
struct Reached(AtomicU64, AtomicU64);

impl Pace {
    fn new(n: usize) -> Pace {
        Pace {
            workers: (0..n).map(|_| Reached::default()).collect(),
        }
    }

    fn publish(&self, me: usize, read: u64, now: Timestamp) {
        if let Some(Reached(r, t)) = self.workers.get(me) {
            r.store(read, Ordering::Relaxed);
            t.store(now.0, Ordering::Relaxed);
        }
    }

    fn done(&self, me: usize) {
        self.publish(me, u64::MAX, Timestamp(u64::MAX));
    }

    /// True while a worker at (`read`, `now`) is too far ahead of the
    /// slowest.
    fn ahead(&self, read: u64, now: Timestamp) -> bool {
        let slowest_read = self
            .workers
            .iter()
            .map(|w| w.0.load(Ordering::Relaxed))
            .min();
        let slowest_now = self
            .workers
            .iter()
            .map(|w| w.1.load(Ordering::Relaxed))
            .min();
        let (Some(r), Some(t)) = (slowest_read, slowest_now) else {
            return false;
        };
        read.saturating_sub(r) > MAX_LEAD_PACKETS || now.0.saturating_sub(t) > MAX_LEAD_NS
    }
}

/// Where workers that read the same packets stop on a stop request: each
/// offers how far it has read and none reads past the furthest offer, so
/// all stop after the same packet and the output is that of a capture cut
/// there. A worker whose sources ended offers all it read.
struct StopPoint {
    furthest: AtomicU64,
    offers: AtomicUsize,
    /// Which workers have made their offer (one each).
    offered: Vec<AtomicBool>,
}

impl StopPoint {
    fn new(workers: usize) -> StopPoint {
        StopPoint {
            furthest: AtomicU64::new(0),
            offers: AtomicUsize::new(0),
            offered: (0..workers).map(|_| AtomicBool::new(false)).collect(),
        }
    }

    /// Worker `me` offers to stop after `read` packets (its first offer
    /// counts, later ones are ignored).
    fn offer(&self, me: usize, read: u64) {
        let first = self
            .offered
            .get(me)
            .is_some_and(|o| !o.swap(true, Ordering::SeqCst));
        if first {
            self.furthest.fetch_max(read, Ordering::SeqCst);
            self.offers.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// True when a worker that has read `read` packets and made its offer
    /// stops now; false when it reads one more. Waits for the others' offers.
    fn reached(&self, read: u64, workers: usize) -> bool {
        loop {
            if read < self.furthest.load(Ordering::SeqCst) {
                return false;
            }
            if self.offers.load(Ordering::SeqCst) >= workers {
                return true;
            }
            std::thread::yield_now();
        }
    }
}

/// Both are written rarely (the first packet, then once per second of packet
/// time and at the end): an atomic written by every worker on every packet
/// would bounce its cache line between the cores.
impl SharedClock {
    fn saw_first(&self, ts: Timestamp) {
        let _ = self
            .first
            .compare_exchange(0, ts.0.max(1), Ordering::Relaxed, Ordering::Relaxed);
    }

    fn advance(&self, ts: Timestamp) {
        self.latest.fetch_max(ts.0, Ordering::Relaxed);
    }

    fn first(&self) -> Option<Timestamp> {
        match self.first.load(Ordering::Relaxed) {
            0 => None,
            t => Some(Timestamp(t)),
        }
    }

    fn latest(&self) -> Timestamp {
        Timestamp(self.latest.load(Ordering::Relaxed))
    }
}

/// Messages to a running worker.
enum Control {
    Reconfigure(Box<WorkerSettings>),
}

/// Running workers that read their own packets.
pub struct RunToCompletion {
    workers: Vec<(Sender<Control>, JoinHandle<Ending>)>,
    engine: Option<Engine>,
    keep: Keep,
    clock: Arc<SharedClock>,
    live: Arc<LiveCounters>,
    sender: LineSender,
    extras: StatsExtras,
    community_id_seed: Arc<AtomicU16>,
}

impl RunToCompletion {
    /// Starts one worker per feed and the detection stage; the workers stop
    /// at the end of their sources or once `stop` is set.
    pub fn start(
        cfg: &PipelineConfig,
        feeds: Vec<Feed>,
        sender: &LineSender,
        extras: StatsExtras,
        stop: Arc<AtomicBool>,
    ) -> std::io::Result<RunToCompletion> {
        let n = feeds.len().max(1);
        let keep = feeds.first().map_or(Keep::Shard, |f| f.keep);
        let community_id_seed = Arc::new(AtomicU16::new(cfg.worker.community_id_seed));
        let alerts = AlertLines::new(sender.clone(), community_id_seed.clone(), extras.clone());
        let engine = Engine::start(cfg.engine.clone(), n, Box::new(alerts))?;
        let snapshots = SharedAggregator::new(n);
        let clock = Arc::new(SharedClock::default());
        let stop_point = Arc::new(StopPoint::new(n));
        let pace = Arc::new(Pace::new(n));
        let live = Arc::new(LiveCounters::new(n));
        let mut workers = Vec::with_capacity(n);
        for (index, feed) in feeds.into_iter().enumerate() {
            let (tx, rx) = unbounded();
            let mut worker = Worker::new(cfg.worker.clone(), sender.clone());
            worker.set_detection(engine.sender(index));
            let reader = Reader {
                index,
                workers: n,
                worker,
                control: rx,
                stop: stop.clone(),
                stop_point: stop_point.clone(),
                pace: pace.clone(),
                live: live.clone(),
                clock: clock.clone(),
                snapshots: snapshots.clone(),
                lines: sender.clone(),
                extras: extras.clone(),
                stats_interval_secs: cfg.stats_interval_secs,
                now: Timestamp(0),
                last_tick: 0,
                stats_epoch: 0,
            };
            let join = std::thread::Builder::new()
                .name(format!("virga-worker-{index}"))
                .spawn(move || reader.run(feed))?;
            workers.push((tx, join));
        }
        Ok(RunToCompletion {
            workers,
            engine: Some(engine),
            keep,
            clock,
            live,
            sender: sender.clone(),
            extras,
            community_id_seed,
        })
    }

    /// Applies new settings to the workers (between two packets) and the
    /// detection stage, keeping their state.
    pub fn reconfigure(&mut self, cfg: &PipelineConfig) {
        for (tx, _) in &self.workers {
            let _ = tx.send(Control::Reconfigure(Box::new(cfg.worker.clone())));
        }
        if let Some(e) = &self.engine {
            e.reconfigure(cfg.engine.clone());
        }
        self.community_id_seed
            .store(cfg.worker.community_id_seed, Ordering::Relaxed);
    }

    /// The sockets' capture counters and the packets read, summed over the
    /// workers as they last published them (every few thousand packets and
    /// whenever a socket is idle).
    pub fn capture_now(&self) -> (CaptureStats, u64) {
        self.live.sum()
    }

    /// True once every worker has stopped reading.
    pub fn is_finished(&self) -> bool {
        self.workers.iter().all(|(_, j)| j.is_finished())
    }

    /// Waits for the workers (each ends its flows and flushes) and the
    /// detection stage, writes the final `stats` event and returns the
    /// counters.
    pub fn finish(mut self) -> RunStats {
        let mut run = RunStats::default();
        let mut total = Counters::default();
        let mut capture = CaptureStats::default();
        for (i, (tx, join)) in self.workers.drain(..).enumerate() {
            drop(tx);
            let Ok(end) = join.join() else { continue };
            let s = &mut run.pipeline;
            s.decode += end.counters.decode;
            s.flows += end.counters.flows.created;
            s.flows_evicted += end.counters.flows.evicted;
            total += end.counters;
            let first = i == 0;
            if first || self.keep == Keep::All {
                s.packets += end.read;
                capture.received += end.capture.received;
                capture.kernel_drops += end.capture.kernel_drops;
                capture.interface_drops += end.capture.interface_drops;
            }
            if first {
                run.sources = end.sources;
            }
            if run.error.is_none() {
                run.error = end.error;
            }
            run.sources_left.extend(end.left);
        }
        run.pipeline.capture = capture;
        total.capture = capture;
        if let Some(e) = self.engine.take() {
            let s = &mut run.pipeline;
            (s.engine, s.attribution) = e.finish_all();
            total.alerts = s.engine.alerts;
            total.alerts_suppressed = s.engine.suppressed_allowlist
                + s.engine.suppressed_quiet
                + s.engine.beacon_browser_held;
            total.engine = Some(s.engine);
        }
        if let Some(first) = self.clock.first() {
            let now = self.clock.latest();
            let snap = Snapshot {
                ts: now,
                uptime_secs: now.secs().saturating_sub(first.secs()),
                counters: total,
            };
            self.extras.send(&self.sender, snap, true);
        }
        run
    }
}

/// A worker thread and what it keeps between packets.
struct Reader {
    index: usize,
    workers: usize,
    worker: Worker,
    control: Receiver<Control>,
    stop: Arc<AtomicBool>,
    stop_point: Arc<StopPoint>,
    pace: Arc<Pace>,
    live: Arc<LiveCounters>,
    clock: Arc<SharedClock>,
    snapshots: SharedAggregator,
    lines: LineSender,
    extras: StatsExtras,
    stats_interval_secs: Option<u64>,
    now: Timestamp,
    last_tick: u64,
    stats_epoch: u64,
}

/// Skipped `stats` intervals a socket's worker gives its part to at once
/// (as many as the snapshot aggregator keeps open).
const MAX_PARTS_AT_ONCE: u64 = 255;
/// Packets between two publications of a socket's counters.
const PUBLISH_EVERY: u64 = 4096;
/// Packets between two looks at the control channel.
const CONTROL_EVERY: u64 = 1024;

impl Reader {
    fn run(mut self, mut feed: Feed) -> Ending {
        // However this thread ends (a panic included), the others stop
        // waiting for it.
        let _leaving = Leaving {
            index: self.index,
            pace: self.pace.clone(),
            stop_point: self.stop_point.clone(),
        };
        let mut end = Ending::default();
        let keep_all = feed.keep == Keep::All;
        'sources: for source in feed.sources.by_ref() {
            let mut source = match source {
                Ok(s) => s,
                Err(e) => {
                    end.error = Some(e);
                    break;
                }
            };
            end.sources += 1;
            self.worker.set_origin(source.origin(), source.is_live());
            loop {
                if self.stop.load(Ordering::Relaxed) && self.stops_here(end.read, keep_all) {
                    end.add_capture(source.stats(), keep_all);
                    if keep_all {
                        end.left = Some(source);
                    }
                    break 'sources;
                }
                if end.read % CONTROL_EVERY == 0 {
                    self.look_at_control();
                }
                if !keep_all && end.read % PACE_EVERY == 0 {
                    self.keep_pace(end.read);
                }
                if keep_all && end.read % PUBLISH_EVERY == 0 {
                    self.live.set(self.index, source.stats(), end.read);
                }
                match source.next_packet() {
                    Ok(Next::Packet(p)) => {
                        end.read += 1;
                        if let Some(progress) = feed.progress.as_mut() {
                            progress.tick(p.data.len() as u64);
                        }
                        if end.read == 1 {
                            self.clock.saw_first(p.ts);
                        }
                        let ticked = self.tick(p.ts);
                        if keep_all || crate::shard::shard(&p, self.workers) == self.index {
                            self.worker.process(&p);
                        }
                        if ticked {
                            self.maybe_stats(source.as_mut(), keep_all);
                        }
                    }
                    Ok(Next::Idle) => {
                        self.look_at_control();
                        self.live.set(self.index, source.stats(), end.read);
                        let latest = self.clock.latest();
                        if self.tick(latest) {
                            self.maybe_stats(source.as_mut(), keep_all);
                        }
                        // A repeat tick: write what is held, move the
                        // detection stage's watermark.
                        self.worker.advance(self.now);
                    }
                    Ok(Next::End) => break,
                    Err(e) => {
                        end.add_capture(source.stats(), keep_all);
                        end.error = Some(e);
                        break 'sources;
                    }
                }
            }
            end.add_capture(source.stats(), keep_all);
        }
        self.clock.advance(self.now);
        self.pace.done(self.index);
        // Workers still reading must read as far as this one did.
        self.stop_point.offer(self.index, end.read);
        if let Some(p) = feed.progress.as_mut() {
            p.finish();
        }
        // Counters at the end include the flows ended by finish(). Workers
        // on files all end together; a socket's worker may end alone.
        if keep_all {
            self.worker.finish_alone();
        } else {
            self.worker.finish();
        }
        end.counters = self.worker.counters();
        end.counters.flows_active = 0;
        end
    }

    /// Publishes this worker's progress and waits while it is too far ahead
    /// of the slowest (or until a stop request).
    fn keep_pace(&self, read: u64) {
        self.pace.publish(self.index, read, self.now);
        while self.pace.ahead(read, self.now) && !self.stop.load(Ordering::Relaxed) {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    }

    /// On a stop request: true when this worker stops before its next
    /// packet. Sockets stop at once; workers sharing files stop together.
    fn stops_here(&mut self, read: u64, keep_all: bool) -> bool {
        if keep_all {
            return true;
        }
        self.stop_point.offer(self.index, read);
        self.stop_point.reached(read, self.workers)
    }

    fn look_at_control(&mut self) {
        while let Ok(Control::Reconfigure(cfg)) = self.control.try_recv() {
            self.worker.reconfigure(*cfg);
        }
    }

    /// Moves packet time to `ts`; on a new second the worker ends idle
    /// flows (before the packet that moved it is processed). True then.
    fn tick(&mut self, ts: Timestamp) -> bool {
        if ts <= self.now {
            return false;
        }
        self.now = ts;
        let sec = ts.secs();
        if sec == self.last_tick {
            return false;
        }
        self.last_tick = sec;
        self.clock.advance(self.now);
        self.worker.advance(self.now);
        true
    }

    /// Adds this worker's part of a periodic `stats` event when packet time
    /// entered a new interval; the last part completes the event.
    fn maybe_stats(&mut self, source: &mut dyn PacketSource, keep_all: bool) {
        let (Some(iv), Some(first)) = (self.stats_interval_secs, self.clock.first()) else {
            return;
        };
        let uptime = self.now.secs().saturating_sub(first.secs());
        let epoch = uptime / iv.max(1);
        if epoch <= self.stats_epoch {
            return;
        }
        // Workers on sockets reach intervals on their own packets: one that
        // passed several at once (nothing to read in between) gives its part
        // to each, so that every snapshot gets all its parts. Workers on
        // files all pass the same intervals.
        let from = if keep_all {
            (self.stats_epoch + 1).max(epoch.saturating_sub(MAX_PARTS_AT_ONCE))
        } else {
            epoch
        };
        self.stats_epoch = epoch;
        self.worker.flush();
        let mut counters = self.worker.counters();
        if keep_all || self.index == 0 {
            counters.capture = source.stats();
        }
        let part = Snapshot {
            ts: self.now,
            uptime_secs: uptime,
            counters,
        };
        for e in from..=epoch {
            for snap in self.snapshots.add(e, part) {
                self.extras.send(&self.lines, snap, false);
            }
        }
    }
}

/// Marks a worker thread gone when dropped: its progress no longer holds
/// the others back, and it has made its stop offer (reading to the end, when
/// it had not).
struct Leaving {
    index: usize,
    pace: Arc<Pace>,
    stop_point: Arc<StopPoint>,
}

impl Drop for Leaving {
    fn drop(&mut self) {
        self.pace.done(self.index);
        self.stop_point.offer(self.index, u64::MAX);
    }
}

impl Ending {
    /// Keeps a finished source's counters: the last file's, or every
    /// socket's added up.
    fn add_capture(&mut self, c: CaptureStats, keep_all: bool) {
        if keep_all {
            self.capture.received += c.received;
            self.capture.kernel_drops += c.kernel_drops;
            self.capture.interface_drops += c.interface_drops;
        } else {
            self.capture = c;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_stop_after_the_furthest_offer() {
        let p = StopPoint::new(2);
        p.offer(0, 10);
        p.offer(0, 99); // a second offer does not count
        p.offer(1, 15);
        assert!(!p.reached(10, 2), "the first reads on to 15");
        assert!(!p.reached(14, 2));
        assert!(p.reached(15, 2));
    }

    #[test]
    fn a_worker_gone_makes_the_others_read_to_the_end() {
        let p = Arc::new(StopPoint::new(2));
        let pace = Arc::new(Pace::new(2));
        drop(Leaving {
            index: 1,
            pace: pace.clone(),
            stop_point: p.clone(),
        });
        p.offer(0, 10);
        assert!(!p.reached(1_000_000, 2));
        // Nor does it hold the pace.
        pace.publish(0, 1_000_000, Timestamp(1_000 * MAX_LEAD_NS));
        assert!(!pace.ahead(1_000_000, Timestamp(1_000 * MAX_LEAD_NS)));
    }

    #[test]
    fn a_worker_far_ahead_waits() {
        let pace = Pace::new(2);
        pace.publish(0, 100, Timestamp(1));
        pace.publish(1, 100 + MAX_LEAD_PACKETS + 1, Timestamp(2));
        assert!(pace.ahead(100 + MAX_LEAD_PACKETS + 1, Timestamp(2)));
        assert!(!pace.ahead(100 + MAX_LEAD_PACKETS, Timestamp(2)));
        assert!(pace.ahead(101, Timestamp(MAX_LEAD_NS + 2)));
        pace.done(0);
        assert!(!pace.ahead(100 + MAX_LEAD_PACKETS + 1, Timestamp(2)));
    }
}
