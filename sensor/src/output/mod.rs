//! EVE output: a writer thread that owns the sinks (file, stdout, Unix
//! socket, Redis), receives batches of finished lines, and flushes at a bounded
//! interval and always on shutdown. It only moves lines: what they say is
//! decided above it (`eve`); it counts what it wrote and lost
//! ([`OutputStats`]) and publishes that to the metrics when asked. In live
//! runs it also measures how late each line is (`telemetry::latency`).

mod lines;
mod redis;
mod socket;

pub use self::redis::{RedisMode, RedisTarget};
use crate::telemetry::latency::LatencyRecorder;

use crate::telemetry::metrics::LatestCounters;
pub use crate::telemetry::OutputStats;

use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender};
use std::fs::OpenOptions;
use std::io;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Where EVE lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Append to a file (created if missing).
    File(String),
    /// Standard output, flushed after every batch (line-buffered behaviour).
    Stdout,
    /// A Unix stream socket virga connects to as a client; never blocks the
    /// writer (see `socket`: bounded buffer, losses counted, reconnects).
    UnixSocket(String),
    /// Redis (list, channel or stream); never blocks the writer (see
    /// `redis`: a thread of its own, bounded queue, losses counted,
    /// reconnects).
    Redis(RedisTarget),
}

impl Target {
    /// `-` means stdout, anything else a file path.
    pub fn parse(s: &str) -> Target {
        if s == "-" {
            Target::Stdout
        } else {
            Target::File(s.to_string())
        }
    }
}

/// A line made by the writer thread when it reaches it, from its own
/// counters at that point and its queue length: a `stats` event that
/// reports every line written before it.
pub type LateLine = Box<dyn FnOnce(&OutputStats, u64) -> Vec<u8> + Send>;

/// Messages to the writer thread.
enum Msg {
    Lines(Vec<u8>),
    Late(LateLine),
    Reopen,
}

/// Handle on the writer thread; cloneable senders go to the workers.
pub struct Output {
    tx: Sender<Msg>,
    /// Written batches' buffers, handed back to the producers.
    pool: Receiver<Vec<u8>>,
    join: JoinHandle<OutputStats>,
}

/// A producer's side of the output: sends batches of finished lines.
#[derive(Clone)]
pub struct LineSender {
    tx: Sender<Msg>,
    pool: Receiver<Vec<u8>>,
}

/// Written buffers kept for reuse (each at most [`POOLED_MAX_BYTES`]): the
/// producers fill them again instead of allocating, and the writer does not
/// free on its thread what another thread allocated.
const POOLED_BUFFERS: usize = 64;
/// Larger buffers (a drain at shutdown) are freed, not kept.
const POOLED_MAX_BYTES: usize = 256 * 1024;

/// Batches flush to the writer once they hold this many bytes.
const BATCH_BYTES: usize = 64 * 1024;

impl LineSender {
    /// Sends a batch of complete lines (each ending in `\n`); blocks when the
    /// writer is behind, so replay never loses events.
    pub fn send(&self, lines: Vec<u8>) {
        if !lines.is_empty() {
            // The receiver only goes away after every sender is dropped.
            let _ = self.tx.send(Msg::Lines(lines));
        }
    }

    /// Sends a line the writer makes when it reaches it (see [`LateLine`]).
    pub fn send_late(&self, line: LateLine) {
        let _ = self.tx.send(Msg::Late(line));
    }

    /// Sends `buf` if it is large enough and leaves an empty buffer behind.
    pub fn send_if_full(&self, buf: &mut Vec<u8>) {
        if buf.len() >= BATCH_BYTES {
            self.send_and_renew(buf);
        }
    }

    /// Sends what `buf` holds (if anything) and leaves an empty buffer
    /// behind, one the writer handed back when there is one.
    pub fn send_and_renew(&self, buf: &mut Vec<u8>) {
        if buf.is_empty() {
            return;
        }
        let fresh = match self.pool.try_recv() {
            Ok(b) => b,
            Err(_) => Vec::with_capacity(BATCH_BYTES),
        };
        self.send(std::mem::replace(buf, fresh));
    }
}

enum Sink {
    File(lines::LineSink, String),
    Stdout(lines::LineSink),
    Socket(socket::SocketSink),
    Redis(self::redis::RedisSink),
}

impl Sink {
    /// Opens a file or stdout; a socket sink never fails to open (it
    /// connects when the peer is there).
    fn open(t: &Target, flush_interval: Duration) -> io::Result<Sink> {
        Ok(match t {
            Target::File(p) => {
                let f = OpenOptions::new().create(true).append(true).open(p)?;
                Sink::File(lines::LineSink::new(f, p), p.clone())
            }
            Target::Stdout => Sink::Stdout(lines::LineSink::stdout()?),
            Target::UnixSocket(p) => Sink::Socket(socket::SocketSink::new(p, flush_interval)),
            Target::Redis(r) => Sink::Redis(self::redis::RedisSink::start(r)?),
        })
    }

    /// Hands a batch to the sink (a failing sink counts what it drops).
    fn push(&mut self, b: &[u8]) {
        match self {
            Sink::File(s, _) | Sink::Stdout(s) => {
                s.push(b);
            }
            Sink::Socket(s) => s.push(b),
            Sink::Redis(s) => s.push(b),
        }
    }

    /// Writes what is held (retrying a failing output).
    fn flush(&mut self) {
        match self {
            Sink::File(s, _) | Sink::Stdout(s) => {
                s.drain();
            }
            Sink::Socket(s) => s.poll(),
            Sink::Redis(_) => {}
        }
    }

    /// True when lines wait to be written.
    fn has_pending(&self) -> bool {
        match self {
            Sink::File(s, _) | Sink::Stdout(s) => s.has_pending(),
            Sink::Socket(_) | Sink::Redis(_) => false,
        }
    }

    /// Adds this sink's loss counters to `stats`.
    fn add_losses(&self, stats: &mut OutputStats) {
        match self {
            Sink::File(s, _) | Sink::Stdout(s) => {
                stats.lost_lines += s.lost_lines();
                stats.write_errors += s.errors();
            }
            Sink::Socket(s) => stats.socket_lost_lines += s.lost_lines(),
            Sink::Redis(s) => stats.redis_lost_lines += s.lost_lines(),
        }
    }
}

/// `stats` with every sink's loss counters added.
fn losses(mut stats: OutputStats, sinks: &[(Target, Sink)]) -> OutputStats {
    for (_, sink) in sinks {
        sink.add_losses(&mut stats);
    }
    stats
}

impl Output {
    /// Opens the target and starts the writer thread. `flush_interval` bounds
    /// how long a written line may sit in the file buffer.
    pub fn start(target: &Target, flush_interval: Duration) -> io::Result<Output> {
        Output::start_all(std::slice::from_ref(target), flush_interval)
    }

    /// Like [`Output::start`] with several targets (say the EVE file and a
    /// Unix socket), each getting every line.
    pub fn start_all(targets: &[Target], flush_interval: Duration) -> io::Result<Output> {
        Output::start_inner(targets, flush_interval, None, false)
    }

    /// Like [`Output::start_all`] for a live capture: publishes the writer's
    /// counters to `metrics` (the endpoint's source) as they change, and
    /// measures the delay from capture to line per event type (wall clock
    /// against packet time, which only means something live).
    pub fn start_live(
        targets: &[Target],
        flush_interval: Duration,
        metrics: Option<std::sync::Arc<LatestCounters>>,
    ) -> io::Result<Output> {
        Output::start_inner(targets, flush_interval, metrics, true)
    }

    fn start_inner(
        targets: &[Target],
        flush_interval: Duration,
        metrics: Option<std::sync::Arc<LatestCounters>>,
        measure_latency: bool,
    ) -> io::Result<Output> {
        let mut sinks = Vec::with_capacity(targets.len());
        for t in targets {
            sinks.push((t.clone(), Sink::open(t, flush_interval)?));
        }
        let (tx, rx) = bounded::<Msg>(256);
        let (pool_tx, pool) = bounded::<Vec<u8>>(POOLED_BUFFERS);
        let join = std::thread::Builder::new()
            .name("virga-output".into())
            .spawn(move || {
                let latency = measure_latency.then(Latency::default);
                let ends = Ends {
                    rx: &rx,
                    pool: &pool_tx,
                };
                writer_loop(
                    &mut sinks,
                    ends,
                    flush_interval,
                    metrics.as_deref(),
                    latency,
                )
            })?;
        Ok(Output { tx, pool, join })
    }

    /// A sender for a producer of lines.
    pub fn sender(&self) -> LineSender {
        LineSender {
            tx: self.tx.clone(),
            pool: self.pool.clone(),
        }
    }

    /// Asks the writer to reopen its file (after logrotate moved it).
    pub fn reopen(&self) {
        let _ = self.tx.send(Msg::Reopen);
    }

    /// Drops this handle's sender, waits for every other sender to go, then
    /// flushes and returns the writer's counters.
    pub fn finish(self) -> OutputStats {
        drop(self.tx);
        self.join.join().unwrap_or_default()
    }
}

/// How long the writer keeps trying to hand pending lines to a socket peer
/// at shutdown.
const SOCKET_FINISH: Duration = Duration::from_secs(1);

/// The writer's latency histograms and when their summary was last taken.
#[derive(Default)]
struct Latency {
    recorder: LatencyRecorder,
    summarised: Option<Instant>,
}

impl Latency {
    /// Records how late each line of `batch` reached the outputs, at `now_ns`
    /// (wall clock, nanoseconds since the epoch).
    fn measure(&mut self, batch: &[u8], now_ns: u64) {
        for line in batch.split(|b| *b == b'\n') {
            if let Some((ts, kind)) = crate::eve::line_head(line) {
                self.recorder.record(kind, now_ns.saturating_sub(ts.0));
            }
        }
    }

    /// Puts the current quantiles in `stats`, at most once a second unless
    /// `now` (a `stats` event is being made).
    fn summarise(&mut self, stats: &mut OutputStats, now: bool) {
        if now
            || self
                .summarised
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            stats.latency = self.recorder.summary();
            self.summarised = Some(Instant::now());
        }
    }
}

/// Wall-clock nanoseconds since the epoch.
fn wall_clock_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The writer's channels: lines in, written buffers back.
struct Ends<'a> {
    rx: &'a Receiver<Msg>,
    pool: &'a Sender<Vec<u8>>,
}

fn writer_loop(
    sinks: &mut [(Target, Sink)],
    ends: Ends<'_>,
    flush_interval: Duration,
    metrics: Option<&LatestCounters>,
    mut latency: Option<Latency>,
) -> OutputStats {
    let mut stats = OutputStats::default();
    let mut dirty_since: Option<Instant> = None;
    loop {
        let mut wait = match dirty_since {
            Some(t) => flush_interval.saturating_sub(t.elapsed()),
            None => Duration::from_secs(3600),
        };
        for (_, sink) in sinks.iter() {
            if let Sink::Socket(s) = sink {
                if let Some(w) = s.wake_in() {
                    wait = wait.min(w);
                }
            }
        }
        let msg = match ends.rx.recv_timeout(wait) {
            Ok(Msg::Late(make)) => {
                if let Some(l) = latency.as_mut() {
                    l.summarise(&mut stats, true);
                }
                Ok(Msg::Lines(make(
                    &losses(stats, sinks),
                    ends.rx.len() as u64,
                )))
            }
            other => other,
        };
        match msg {
            Ok(Msg::Lines(mut b)) => {
                for (_, sink) in sinks.iter_mut() {
                    sink.push(&b);
                }
                stats.lines += memchr::memchr_iter(b'\n', &b).count() as u64;
                stats.bytes += b.len() as u64;
                if let Some(l) = latency.as_mut() {
                    l.measure(&b, wall_clock_ns());
                }
                dirty_since.get_or_insert_with(Instant::now);
                if b.capacity() <= POOLED_MAX_BYTES {
                    b.clear();
                    let _ = ends.pool.try_send(b);
                }
            }
            Ok(Msg::Reopen) => {
                for (_, sink) in sinks.iter_mut() {
                    let Sink::File(s, path) = sink else {
                        continue;
                    };
                    match OpenOptions::new().create(true).append(true).open(&*path) {
                        Ok(f) => s.switch_to(f),
                        Err(e) => eprintln!(
                            "virga: cannot reopen EVE output {path}: {e}; keeping the old file"
                        ),
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                for (_, sink) in sinks.iter_mut() {
                    sink.flush();
                }
                // A failing output keeps its lines: retry at the next interval.
                dirty_since = sinks
                    .iter()
                    .any(|(_, s)| s.has_pending())
                    .then(Instant::now);
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Ok(Msg::Late(_)) => {}
        }
        if let Some(m) = metrics {
            if let Some(l) = latency.as_mut() {
                l.summarise(&mut stats, false);
            }
            m.set_output(losses(stats, sinks), ends.rx.len() as u64);
        }
        if let Some(t) = dirty_since {
            if t.elapsed() >= flush_interval {
                for (_, sink) in sinks.iter_mut() {
                    sink.flush();
                }
                dirty_since = sinks
                    .iter()
                    .any(|(_, s)| s.has_pending())
                    .then(Instant::now);
            }
        }
    }
    for (_, sink) in sinks.iter_mut() {
        match sink {
            Sink::Socket(s) => s.finish(SOCKET_FINISH),
            Sink::Redis(s) => s.finish(),
            Sink::File(s, _) | Sink::Stdout(s) => {
                s.close();
            }
        }
        sink.add_losses(&mut stats);
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_appends_lines_and_flushes_on_finish() {
        let path = std::env::temp_dir().join(format!("virga-out-{}.json", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let target = Target::File(path.to_string_lossy().into_owned());
        let out = Output::start(&target, Duration::from_millis(50)).unwrap();
        let s1 = out.sender();
        let s2 = out.sender();
        std::thread::scope(|sc| {
            sc.spawn(|| s1.send(b"{\"a\":1}\n".to_vec()));
            sc.spawn(|| s2.send(b"{\"b\":2}\n{\"c\":3}\n".to_vec()));
        });
        drop((s1, s2));
        let stats = out.finish();
        assert_eq!(stats.lines, 3);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(text.contains("{\"c\":3}"));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn file_and_socket_both_get_every_line_and_a_missing_peer_is_counted() {
        use std::io::Read as _;
        let dir = std::env::temp_dir();
        let file = dir.join(format!("virga-out2-{}.json", std::process::id()));
        let sock = dir.join(format!("vg-out2-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&file);
        let _ = std::fs::remove_file(&sock);
        let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let targets = [
            Target::File(file.to_string_lossy().into_owned()),
            Target::UnixSocket(sock.to_string_lossy().into_owned()),
        ];
        let out = Output::start_all(&targets, Duration::from_millis(20)).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        let reader = std::thread::spawn(move || {
            let mut got = String::new();
            peer.read_to_string(&mut got).unwrap();
            got
        });
        let s = out.sender();
        for i in 0..1000 {
            s.send(format!("{{\"n\":{i}}}\n").into_bytes());
        }
        drop(s);
        let stats = out.finish();
        assert_eq!(stats.lines, 1000);
        assert_eq!(stats.socket_lost_lines, 0);
        let got = reader.join().unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(got, text);
        assert_eq!(got.lines().count(), 1000);
        assert!(got.ends_with("{\"n\":999}\n"));
        // No listener: the file still gets everything, the socket counts.
        drop(listener);
        std::fs::remove_file(&sock).unwrap();
        let out = Output::start_all(&targets, Duration::from_millis(20)).unwrap();
        out.sender().send(b"{\"late\":1}\n{\"late\":2}\n".to_vec());
        let stats = out.finish();
        assert_eq!(stats.lines, 2);
        assert_eq!(stats.socket_lost_lines, 2);
        assert_eq!(
            std::fs::read_to_string(&file).unwrap().lines().count(),
            1002
        );
        std::fs::remove_file(&file).unwrap();
    }

    #[test]
    fn unwritable_target_fails_to_open() {
        let t = Target::File("/nonexistent-dir/eve.json".into());
        assert!(Output::start(&t, Duration::from_secs(1)).is_err());
        assert_eq!(Target::parse("-"), Target::Stdout);
    }

    /// A live writer measures each line's delay from its packet time to the
    /// wall clock, per event type, and hands it to the `stats` line it
    /// completes; a replay's writer measures nothing.
    #[test]
    fn live_writer_measures_delays_and_replay_does_not() {
        let dir = std::env::temp_dir();
        for live in [true, false] {
            let path = dir.join(format!("virga-out-lat-{}-{live}.json", std::process::id()));
            let _ = std::fs::remove_file(&path);
            let target = Target::File(path.to_string_lossy().into_owned());
            let out = if live {
                Output::start_live(
                    std::slice::from_ref(&target),
                    Duration::from_millis(20),
                    None,
                )
            } else {
                Output::start(&target, Duration::from_millis(20))
            }
            .unwrap();
            // Two lines captured a second ago (as a live packet is), one 1 ms ago.
            let now = crate::time::Timestamp(wall_clock_ns());
            let line = |ts: crate::time::Timestamp, kind: &str| {
                format!(
                    "{{\"timestamp\":\"{}\",\"flow_id\":1,\"event_type\":\"{kind}\"}}\n",
                    crate::eve::timestamp_text(ts)
                )
            };
            let s = out.sender();
            let earlier = crate::time::Timestamp(now.0 - 1_000_000_000);
            s.send((line(earlier, "alert") + &line(earlier, "alert")).into_bytes());
            s.send(line(crate::time::Timestamp(now.0 - 1_000_000), "dns").into_bytes());
            let (tx, rx) = std::sync::mpsc::channel();
            s.send_late(Box::new(move |o, _| {
                let _ = tx.send(o.latency);
                Vec::new()
            }));
            drop(s);
            out.finish();
            let latency = rx.recv().unwrap();
            let _ = std::fs::remove_file(&path);
            if !live {
                assert!(latency.is_empty(), "{latency:?}");
                continue;
            }
            let got: Vec<_> = latency.iter().collect();
            assert_eq!(got.len(), 2, "{got:?}");
            let (kind, alert) = got[0];
            assert_eq!((kind, alert.count), ("alert", 2));
            // At least the second it waited, and not much more (loaded CI).
            assert!((990_000..60_000_000).contains(&alert.p50_us), "{alert:?}");
            let (kind, dns) = got[1];
            assert_eq!((kind, dns.count), ("dns", 1));
            assert!((990..60_000_000).contains(&dns.max_us), "{dns:?}");
        }
    }
}
