//! `virga run`: drives a live [`PacketSource`] through the pipeline until
//! shutdown, with the two hooks a long-running sensor needs:
//!
//! - shutdown ([`Signals::shutdown_requested`], checked between packets and
//!   whenever the source is idle): stop reading, end every flow, flush;
//! - reload ([`Signals::take_reload`], SIGHUP): read the configuration file
//!   again and reopen the EVE output. A file with errors keeps the running
//!   configuration (one error line on stderr). An unchanged file only reopens
//!   the output (the logrotate case). A changed one ends the flows in progress
//!   (their `flow` events are written) and starts a fresh worker with the new
//!   catalogue, allowlists, thresholds and output settings; `[capture]`
//!   changes need a restart and are reported as such.
//!
//! Worker lines are handed to the writer when the source is idle and at
//! least every output flush interval (wall clock, display-independent: it
//! only decides when buffered lines move, never what they say).

use crate::capture::{CaptureError, CaptureStats, Next, PacketSource};
use crate::output::{Output, OutputStats, Target};
use crate::pipeline::lines::StatsExtras;
use crate::pipeline::run_to_completion::{Feed, Keep, RunToCompletion};
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::settings::pipeline_config;
use crate::signals::Signals;
use anyhow::Context as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use virga_config::{Config, EveTarget, KnownJa4};

/// What `virga run` was asked to do.
#[derive(Debug, Clone, Default)]
pub struct LiveOptions {
    /// Settings at start.
    pub config: Config,
    /// The file `config` came from; SIGHUP reads it again. `None` (defaults):
    /// SIGHUP only reopens the output.
    pub config_path: Option<PathBuf>,
    /// EVE destination given on the command line (`-o`), which wins over the
    /// configuration's `output.eve_path`, also after a reload.
    pub output: Option<Target>,
    /// `--log-all`.
    pub log_all: bool,
    /// Where the metrics endpoint reads its counters (`[metrics] listen`).
    pub metrics: Option<std::sync::Arc<crate::telemetry::metrics::LatestCounters>>,
}

/// Counts of a finished live run.
#[derive(Debug, Default)]
pub struct LiveSummary {
    /// Packets processed.
    pub packets: u64,
    /// Flows tracked (over every worker the run had).
    pub flows: u64,
    /// Reloads applied (the file was read and was valid).
    pub reloads: u32,
    /// Reloads refused because the file had errors.
    pub reload_errors: u32,
    /// The source's counters at the end (received, kernel and interface drops).
    pub capture: CaptureStats,
    /// Writer counters (summed over every output the run had).
    pub output: OutputStats,
    /// Why the source stopped, if it failed (every event before it is written).
    pub error: Option<CaptureError>,
}

/// Shortest time between two hand-overs of the capture counters to the
/// metrics endpoint (each asks libpcap for its statistics).
const PUBLISH_EVERY: Duration = Duration::from_millis(200);

/// Packets between two looks at the flush clock.
const FLUSH_CHECK_EVERY: u64 = 32;

/// The EVE targets of a configuration: `cli` (from `-o`) or `output.eve_path`,
/// plus `output.socket_path` when set.
pub fn output_targets(config: &Config, cli: Option<&Target>) -> Vec<Target> {
    let main = cli.cloned().unwrap_or_else(|| match &config.output.eve {
        EveTarget::Stdout => Target::Stdout,
        EveTarget::File(p) => Target::File(p.to_string_lossy().into_owned()),
    });
    let mut targets = vec![main];
    if let Some(s) = &config.output.socket_path {
        targets.push(Target::UnixSocket(s.to_string_lossy().into_owned()));
    }
    targets.extend(crate::settings::redis_target(config, false));
    targets
}

/// Reads `source` until shutdown is requested, the source ends, or it fails;
/// then ends every flow and flushes every event.
///
/// # Errors
/// Only when the EVE output cannot be opened at start; a failing source is
/// reported in [`LiveSummary::error`] after everything before it is written.
pub fn run_live(
    source: &mut dyn PacketSource,
    opts: &LiveOptions,
    signals: &Signals,
) -> anyhow::Result<LiveSummary> {
    let mut run = Running::start(
        opts.config.clone(),
        opts,
        Start::Fed(source.origin().to_string(), source.is_live()),
    )?;
    let mut summary = LiveSummary::default();
    let mut last_flush = Instant::now();
    let mut last_publish = last_flush;
    publish(opts, source, &mut run, 0);
    loop {
        if signals.shutdown_requested() {
            break;
        }
        if signals.take_reload() {
            match run.reload(opts) {
                Ok(()) => summary.reloads += 1,
                Err(()) => summary.reload_errors += 1,
            }
        }
        match source.next_packet() {
            Ok(Next::Packet(p)) => {
                summary.packets += 1;
                if run.pipeline().packet(&p) {
                    run.pipeline().after_tick(source);
                }
                if summary.packets.is_multiple_of(FLUSH_CHECK_EVERY)
                    && last_flush.elapsed() >= run.flush_interval
                {
                    run.pipeline().idle();
                    last_flush = Instant::now();
                    if last_flush.duration_since(last_publish) >= PUBLISH_EVERY {
                        publish(opts, source, &mut run, summary.packets);
                        last_publish = last_flush;
                    }
                }
            }
            Ok(Next::Idle) => {
                run.pipeline().idle();
                last_flush = Instant::now();
                if last_flush.duration_since(last_publish) >= PUBLISH_EVERY {
                    publish(opts, source, &mut run, summary.packets);
                    last_publish = last_flush;
                }
            }
            Ok(Next::End) => break,
            Err(e) => {
                summary.error = Some(e);
                break;
            }
        }
    }
    summary.capture = source.stats();
    run.pipeline().set_capture_stats(summary.capture);
    publish(opts, source, &mut run, summary.packets);
    let (flows, output) = run.finish();
    summary.flows = flows;
    add_stats(&mut summary.output, output);
    Ok(summary)
}

/// Hands the capture loop's counters to the metrics endpoint (at most once
/// per flush interval while packets flow, and when the link is idle).
fn publish(opts: &LiveOptions, source: &mut dyn PacketSource, run: &mut Running, packets: u64) {
    if let Some(hub) = &opts.metrics {
        let capture = source.stats();
        hub.set_capture(capture, packets, run.pipeline().queue_drops());
    }
}

/// How often the loop of [`run_live_workers`] looks at its signals and
/// publishes the capture counters.
const WATCH_EVERY: Duration = Duration::from_millis(50);

/// Like [`run_live`] with one source per worker (the sockets of one fanout
/// group, each delivering its worker's share): every worker reads its own
/// source to completion, and this loop only watches the signals, applies
/// reloads and publishes counters.
///
/// # Errors
/// Only when the EVE output cannot be opened or the workers cannot start; a
/// failing source is reported in [`LiveSummary::error`] after everything
/// before it is written.
pub fn run_live_workers(
    sources: Vec<Box<dyn PacketSource + Send>>,
    opts: &LiveOptions,
    signals: &Signals,
) -> anyhow::Result<LiveSummary> {
    let mut run = Running::start(opts.config.clone(), opts, Start::Own(sources))?;
    let mut summary = LiveSummary::default();
    loop {
        if signals.shutdown_requested() {
            break;
        }
        if signals.take_reload() {
            match run.reload(opts) {
                Ok(()) => summary.reloads += 1,
                Err(()) => summary.reload_errors += 1,
            }
        }
        if let (Some(hub), Some(Workers::Own(w, _))) = (&opts.metrics, &run.workers) {
            let (capture, read) = w.capture_now();
            hub.set_capture(capture, read, 0);
        }
        if matches!(&run.workers, Some(Workers::Own(w, _)) if w.is_finished()) {
            break;
        }
        std::thread::sleep(WATCH_EVERY);
    }
    let (flows, output, last) = run.finish_all();
    if let Some(last) = last {
        summary.packets = last.pipeline.packets;
        summary.capture = last.pipeline.capture;
        summary.error = last.error;
        if let Some(hub) = &opts.metrics {
            hub.set_capture(summary.capture, summary.packets, 0);
        }
    }
    summary.flows = flows;
    add_stats(&mut summary.output, output);
    Ok(summary)
}

/// What the loop reads from.
enum Start {
    /// One source the loop reads and feeds to the workers: (origin, live).
    Fed(String, bool),
    /// One source per worker, read by the worker itself.
    Own(Vec<Box<dyn PacketSource + Send>>),
}

/// The running workers.
enum Workers {
    /// Fed by the loop, through the capture-thread pipeline.
    Fed(Box<Pipeline>),
    /// Reading their own sources; the flag stops them.
    Own(RunToCompletion, Arc<AtomicBool>),
}

impl Workers {
    /// Starts the workers of `start` writing to `output`.
    fn start(
        cfg: PipelineConfig,
        output: &Output,
        metrics: Option<Arc<crate::telemetry::metrics::LatestCounters>>,
        start: Start,
    ) -> std::io::Result<Workers> {
        match start {
            Start::Fed(origin, live) => {
                let mut p = Pipeline::start_live(cfg, &output.sender(), metrics)?;
                p.set_origin(&origin, live);
                Ok(Workers::Fed(Box::new(p)))
            }
            Start::Own(sources) => {
                let extras = StatsExtras {
                    periodic_extras: true,
                    metrics,
                    ..StatsExtras::default()
                };
                let feeds = sources
                    .into_iter()
                    .map(|s| Feed {
                        sources: Box::new(std::iter::once(Ok(s))),
                        keep: Keep::All,
                        progress: None,
                    })
                    .collect();
                let stop = Arc::new(AtomicBool::new(false));
                let w =
                    RunToCompletion::start(&cfg, feeds, &output.sender(), extras, stop.clone())?;
                Ok(Workers::Own(w, stop))
            }
        }
    }

    /// Ends the workers' flows and flushes: (flows, the run's counters when
    /// the workers read their own sources).
    fn finish(self) -> (u64, Option<crate::pipeline::run_to_completion::RunStats>) {
        match self {
            Workers::Fed(p) => (p.finish().flows, None),
            Workers::Own(w, stop) => {
                stop.store(true, Ordering::Relaxed);
                let s = w.finish();
                (s.pipeline.flows, Some(s))
            }
        }
    }
}

/// What the loop holds: rebuilt on a reload that changes the settings.
struct Running {
    config: Config,
    targets: Vec<Target>,
    output: Output,
    workers: Option<Workers>,
    /// Where the fed pipeline's packets come from: (origin, live).
    origin: (String, bool),
    flush_interval: Duration,
    /// Flows of workers already finished.
    flows_done: u64,
    /// Counters of outputs already finished.
    output_done: OutputStats,
    /// The shipped table of known client fingerprints, read at start.
    known: Vec<KnownJa4>,
}

impl Running {
    fn start(config: Config, opts: &LiveOptions, start: Start) -> anyhow::Result<Self> {
        let origin = match &start {
            Start::Fed(o, live) => (o.clone(), *live),
            Start::Own(_) => (String::new(), true),
        };
        let known = virga_config::shipped_ja4()?;
        let targets = output_targets(&config, opts.output.as_ref());
        let output =
            Output::start_live(&targets, config.output.flush_interval, opts.metrics.clone())
                .with_context(|| format!("cannot open EVE output {:?}", targets[0]))?;
        let workers = Workers::start(
            pipeline_config(&config, opts.log_all, origin.1, &known),
            &output,
            opts.metrics.clone(),
            start,
        )
        .context("cannot start workers")?;
        Ok(Running {
            flush_interval: config.output.flush_interval,
            config,
            targets,
            output,
            workers: Some(workers),
            origin,
            flows_done: 0,
            output_done: OutputStats::default(),
            known,
        })
    }

    /// Applies SIGHUP; `Err` when the file had errors (nothing changed
    /// but the output reopen).
    fn reload(&mut self, opts: &LiveOptions) -> Result<(), ()> {
        let Some(path) = opts.config_path.as_deref() else {
            self.output.reopen();
            eprintln!("virga: SIGHUP: EVE output reopened (no configuration file to reload)");
            return Ok(());
        };
        let shown = path.display();
        let mut new = match virga_config::load(path) {
            Ok(c) => c,
            Err(errs) => {
                let all: Vec<String> = errs.to_string().lines().map(str::to_owned).collect();
                eprintln!(
                    "virga: reload of {shown} refused, running configuration kept: {}",
                    all.join("; ")
                );
                self.output.reopen();
                return Err(());
            }
        };
        // The interface given on the command line stays in force.
        new.capture
            .interface
            .clone_from(&self.config.capture.interface);
        if new.capture != self.config.capture {
            eprintln!("virga: reload of {shown}: [capture] changes take effect at restart");
            new.capture = self.config.capture.clone();
        }
        // Privileges are dropped and the metrics port bound once, at start.
        if new.run != self.config.run || new.metrics != self.config.metrics {
            eprintln!(
                "virga: reload of {shown}: [run] and [metrics] changes take effect at restart"
            );
            new.run = self.config.run.clone();
            new.metrics = self.config.metrics.clone();
        }
        if new == self.config {
            self.output.reopen();
            eprintln!("virga: reloaded {shown} (unchanged); EVE output reopened");
            return Ok(());
        }
        let targets = output_targets(&new, opts.output.as_ref());
        let new_output = if targets == self.targets {
            None
        } else {
            match Output::start_live(&targets, new.output.flush_interval, opts.metrics.clone()) {
                Ok(o) => Some(o),
                Err(e) => {
                    eprintln!(
                        "virga: reload of {shown} refused, running configuration kept: \
                         cannot open EVE output {:?}: {e}",
                        targets[0]
                    );
                    self.output.reopen();
                    return Err(());
                }
            }
        };
        let cfg = pipeline_config(&new, opts.log_all, self.origin.1, &self.known);
        match (&new_output, self.workers.as_mut()) {
            // Same outputs: change the settings in place, keeping flows,
            // names and detector state.
            (None, Some(Workers::Fed(p))) => p.reconfigure(cfg),
            (None, Some(Workers::Own(w, _))) => w.reconfigure(&cfg),
            // Other outputs: the workers write to the new writer, so start
            // them under the new settings and end the old ones' flows (the
            // old workers first when the new ones take over their sources).
            (Some(o), _) => {
                if let Err(e) = self.restart_workers(cfg, o, opts) {
                    eprintln!("virga: reload of {shown} refused, running configuration kept: cannot start workers: {e}");
                    self.output.reopen();
                    return Err(());
                }
            }
            (None, None) => {}
        }
        match new_output {
            Some(o) => {
                let old = std::mem::replace(&mut self.output, o);
                let done = old.finish();
                if let Some(hub) = &opts.metrics {
                    hub.output_finished(done);
                }
                add_stats(&mut self.output_done, done);
            }
            None => self.output.reopen(),
        }
        self.flush_interval = new.output.flush_interval;
        self.config = new;
        self.targets = targets;
        eprintln!("virga: reloaded {shown}");
        Ok(())
    }

    /// Starts workers under `cfg` writing to `output` in place of the
    /// running ones, whose flows end.
    fn restart_workers(
        &mut self,
        cfg: PipelineConfig,
        output: &Output,
        opts: &LiveOptions,
    ) -> std::io::Result<()> {
        let metrics = opts.metrics.clone();
        match self.workers.take() {
            Some(Workers::Fed(old)) => {
                let (origin, live) = self.origin.clone();
                let start = Start::Fed(origin, live);
                match Workers::start(cfg, output, metrics, start) {
                    Ok(fresh) => {
                        self.workers = Some(fresh);
                        self.flows_done += old.finish().flows;
                        Ok(())
                    }
                    Err(e) => {
                        self.workers = Some(Workers::Fed(old));
                        Err(e)
                    }
                }
            }
            Some(own @ Workers::Own(..)) => {
                let (flows, stats) = own.finish();
                self.flows_done += flows;
                let sources = stats.map(|s| s.sources_left).unwrap_or_default();
                self.workers = Some(Workers::start(cfg, output, metrics, Start::Own(sources))?);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Ends every flow, flushes, stops the writer: (flows, output counters).
    fn finish(self) -> (u64, OutputStats) {
        let (flows, output, _) = self.finish_all();
        (flows, output)
    }

    /// As [`Running::finish`], with the last workers' own run counters.
    fn finish_all(
        mut self,
    ) -> (
        u64,
        OutputStats,
        Option<crate::pipeline::run_to_completion::RunStats>,
    ) {
        let (flows, last) = self.workers.take().map_or((0, None), Workers::finish);
        let mut stats = self.output_done;
        add_stats(&mut stats, self.output.finish());
        (self.flows_done + flows, stats, last)
    }

    /// The pipeline the loop feeds (always there in [`run_live`]'s loop).
    fn pipeline(&mut self) -> &mut Pipeline {
        match self.workers.as_mut() {
            Some(Workers::Fed(p)) => p,
            _ => unreachable_pipeline(),
        }
    }
}

/// The workers are only missing inside `reload` and `finish`, which never
/// return to the loop without them.
#[cold]
fn unreachable_pipeline() -> ! {
    unreachable!("live loop without a pipeline")
}

fn add_stats(sum: &mut OutputStats, s: OutputStats) {
    sum.lines += s.lines;
    sum.bytes += s.bytes;
    sum.write_errors += s.write_errors;
    sum.lost_lines += s.lost_lines;
    sum.socket_lost_lines += s.socket_lost_lines;
    sum.redis_lost_lines += s.redis_lost_lines;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::pcap_file::PcapFile;
    use crate::replay::{self, ReplayOptions};

    fn sample() -> String {
        format!(
            "{}/tests/data/pcaps/sample.pcap",
            env!("CARGO_MANIFEST_DIR")
        )
    }

    fn temp(name: &str) -> PathBuf {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        std::env::temp_dir().join(format!("virga-live-run-{}-{n}-{name}", std::process::id()))
    }

    /// A file source with actions at given packet numbers, and idle
    /// periods at the end until `signals` asks to stop.
    struct Scripted<'a> {
        file: PcapFile,
        at: Vec<(u64, Box<dyn FnMut() + 'a>)>,
        n: u64,
        idle_at_end: bool,
        idles: u64,
    }

    impl PacketSource for Scripted<'_> {
        fn next_packet(&mut self) -> Result<Next<'_>, CaptureError> {
            for (k, f) in &mut self.at {
                if *k == self.n {
                    f();
                }
            }
            match self.file.next_packet()? {
                Some(p) => {
                    self.n += 1;
                    Ok(Next::Packet(p))
                }
                None if self.idle_at_end && self.idles < 500 => {
                    self.idles += 1;
                    std::thread::sleep(Duration::from_millis(10));
                    Ok(Next::Idle)
                }
                None => Ok(Next::End),
            }
        }
        fn origin(&self) -> &str {
            self.file.path()
        }
        fn is_live(&self) -> bool {
            false
        }
        fn stats(&mut self) -> CaptureStats {
            CaptureStats {
                received: self.n,
                ..CaptureStats::default()
            }
        }
    }

    fn scripted<'a>(at: Vec<(u64, Box<dyn FnMut() + 'a>)>, idle_at_end: bool) -> Scripted<'a> {
        Scripted {
            file: PcapFile::open(&sample()).unwrap(),
            at,
            n: 0,
            idle_at_end,
            idles: 0,
        }
    }

    fn lines(p: &PathBuf) -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Driven to the end of a file, the live loop writes exactly the lines
    /// `virga replay` writes (the same pipeline; workers interleave their
    /// lines, so the order may differ). Only live periodic `stats` events
    /// carry `stats.virga` and the alert counts (writer and detector
    /// counters, wall-clock dependent), and the metrics hub sees the same
    /// counters.
    #[test]
    fn same_events_as_replay() {
        let live_out = temp("live.json");
        let replay_out = temp("replay.json");
        let hub = crate::telemetry::metrics::LatestCounters::new();
        let opts = LiveOptions {
            output: Some(Target::File(live_out.to_string_lossy().into_owned())),
            log_all: true,
            metrics: Some(hub.clone()),
            ..LiveOptions::default()
        };
        let mut src = scripted(Vec::new(), false);
        let s = run_live(&mut src, &opts, &Signals::inert()).unwrap();
        assert!(s.error.is_none());
        assert_eq!(s.packets, 255);
        replay::run(&ReplayOptions {
            inputs: vec![sample()],
            output: Target::File(replay_out.to_string_lossy().into_owned()),
            log_all: true,
            ..ReplayOptions::default()
        })
        .unwrap();
        let (live, replayed) = (lines(&live_out), lines(&replay_out));
        assert_eq!(s.output.lines, live.len() as u64);
        // Periodic live stats events: the writer's counters are there.
        let periodic: Vec<serde_json::Value> = live
            .iter()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v["event_type"] == "stats")
            .collect();
        assert!(periodic.len() >= 2, "{} stats events", periodic.len());
        assert!(periodic
            .iter()
            .all(|v| v["stats"]["virga"]["output"]["lines"].as_u64().is_some()));
        let strip = |ls: &[String]| {
            let mut out: Vec<String> = ls
                .iter()
                .map(|l| {
                    let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                    if let Some(st) = v.get_mut("stats").and_then(|x| x.as_object_mut()) {
                        st.remove("virga");
                        st.remove("detect");
                    }
                    v.to_string()
                })
                .collect();
            out.sort();
            out
        };
        let (a, b) = (strip(&live), strip(&replayed));
        assert!(a.len() > 20, "{} events", a.len());
        assert_eq!(a, b);
        // The final stats event (replay's too) carries the writer's count of
        // the lines before it.
        let last: serde_json::Value = serde_json::from_str(
            replayed
                .iter()
                .rfind(|l| l.contains("\"event_type\":\"stats\""))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            last["stats"]["virga"]["output"]["lines"].as_u64(),
            Some(replayed.len() as u64 - 1)
        );
        // The metrics hub: capture counters from the loop, the last snapshot
        // and the writer's lines.
        let v = hub.values();
        assert_eq!(v.capture.received, 255);
        assert_eq!(v.packets_read, 255);
        assert_eq!(v.snapshot.map(|c| c.decode.packets), Some(255));
        assert_eq!(v.output.lines, live.len() as u64);
        let _ = std::fs::remove_file(live_out);
        let _ = std::fs::remove_file(replay_out);
    }

    /// Shutdown between packets: reading stops there, and the flows seen so
    /// far end with reason "shutdown" in the output.
    #[test]
    fn shutdown_stops_between_packets_and_flushes() {
        let out = temp("stop.json");
        let signals = Signals::inert();
        let s2 = signals.clone();
        let opts = LiveOptions {
            output: Some(Target::File(out.to_string_lossy().into_owned())),
            log_all: true,
            ..LiveOptions::default()
        };
        let mut src = scripted(vec![(100, Box::new(move || s2.request_shutdown()))], false);
        let s = run_live(&mut src, &opts, &signals).unwrap();
        // The request comes while packet 101 is being read; that packet is
        // processed, the flag is seen before the next read.
        assert_eq!(s.packets, 101);
        let ev = lines(&out);
        let flows: Vec<&String> = ev
            .iter()
            .filter(|l| l.contains("\"event_type\":\"flow\""))
            .collect();
        assert!(!flows.is_empty());
        assert!(flows.iter().all(|l| l.contains("\"reason\":\"shutdown\"")));
        assert_eq!(s.output.lines, ev.len() as u64);
        let _ = std::fs::remove_file(out);
    }

    /// Events reach the file while the source is idle, before any shutdown
    /// (the loop hands lines to the writer on Idle; the writer flushes at its
    /// interval).
    #[test]
    fn idle_source_flushes_events_before_shutdown() {
        let out = temp("idle.json");
        let cfg_path = temp("idle.toml");
        std::fs::write(
            &cfg_path,
            "[output]\nflush_interval_ms = 20\nlog_all = true\n",
        )
        .unwrap();
        let config = virga_config::load(&cfg_path).unwrap();
        let signals = Signals::inert();
        let opts = LiveOptions {
            config,
            output: Some(Target::File(out.to_string_lossy().into_owned())),
            ..LiveOptions::default()
        };
        let seen_before_stop = std::thread::scope(|sc| {
            let watcher = sc.spawn(|| {
                let start = Instant::now();
                let mut dns = 0;
                while start.elapsed() < Duration::from_secs(4) {
                    dns = lines(&out)
                        .iter()
                        .filter(|l| l.contains("\"event_type\":\"dns\""))
                        .count();
                    if dns > 0 {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                signals.request_shutdown();
                dns
            });
            let mut src = scripted(Vec::new(), true);
            let s = run_live(&mut src, &opts, &signals).unwrap();
            assert_eq!(s.packets, 255);
            watcher.join().unwrap()
        });
        assert!(
            seen_before_stop > 0,
            "no dns event reached the file while idle"
        );
        let _ = std::fs::remove_file(out);
        let _ = std::fs::remove_file(cfg_path);
    }

    /// SIGHUP reload: a broken file keeps the running settings; a valid one
    /// with `log_all = true` makes the rest of the capture log everything.
    #[test]
    fn reload_applies_a_valid_file_and_refuses_a_broken_one() {
        let out = temp("reload.json");
        let cfg_path = temp("reload.toml");
        std::fs::write(&cfg_path, "[output]\nlog_all = false\n").unwrap();
        let signals = Signals::inert();
        let opts = LiveOptions {
            config: virga_config::load(&cfg_path).unwrap(),
            config_path: Some(cfg_path.clone()),
            output: Some(Target::File(out.to_string_lossy().into_owned())),
            log_all: false,
            metrics: None,
        };
        let (s1, s2, p1, p2) = (
            signals.clone(),
            signals.clone(),
            cfg_path.clone(),
            cfg_path.clone(),
        );
        let mut src = scripted(
            vec![
                (
                    10,
                    Box::new(move || {
                        std::fs::write(&p1, "[output]\nlog_all = maybe\n").unwrap();
                        s1.request_reload();
                    }),
                ),
                (
                    20,
                    Box::new(|| {
                        std::fs::write(&p2, "[output]\nlog_all = true\n").unwrap();
                        s2.request_reload();
                    }),
                ),
            ],
            false,
        );
        let s = run_live(&mut src, &opts, &signals).unwrap();
        assert_eq!((s.reloads, s.reload_errors), (1, 1));
        assert_eq!(s.packets, 255);
        // Without log_all only serverless names are logged; after the
        // reload the non-serverless name of the sample shows up too.
        let non_serverless = |ev: &[String]| {
            ev.iter()
                .filter(|l| {
                    l.contains("\"event_type\":\"dns\"")
                        && (l.contains(".google") || l.contains("updates.example.com"))
                })
                .count()
        };
        let all = lines(&out);
        assert!(non_serverless(&all) > 0, "reload did not turn on log_all");
        // The reload kept the flows: every flow ends once, at the end or on
        // its timeout, and none was cut short by the reload.
        let stats = all
            .iter()
            .rev()
            .find(|l| l.contains("\"event_type\":\"stats\""))
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(stats).unwrap();
        assert_eq!(
            v["stats"]["flow"]["total"], 53,
            "flows were split by the reload"
        );
        // Same run without the reload: strictly fewer events.
        let out2 = temp("noreload.json");
        let opts2 = LiveOptions {
            config_path: None,
            output: Some(Target::File(out2.to_string_lossy().into_owned())),
            ..opts.clone()
        };
        let mut src2 = scripted(Vec::new(), false);
        run_live(&mut src2, &opts2, &Signals::inert()).unwrap();
        let without = lines(&out2);
        assert_eq!(non_serverless(&without), 0);
        assert!(without.len() < all.len());
        for p in [out, out2, cfg_path] {
            let _ = std::fs::remove_file(p);
        }
    }

    /// One worker's share of the sample, as a fanout socket delivers it
    /// (the packets of the clients `shard` gives that worker).
    struct Share {
        file: PcapFile,
        mine: Vec<bool>,
        n: usize,
        read: u64,
    }

    impl Share {
        fn of(index: usize, workers: usize) -> Share {
            let mut f = PcapFile::open(&sample()).unwrap();
            let mut mine = Vec::new();
            while let Some(p) = f.next_packet().unwrap() {
                mine.push(crate::shard::shard(&p, workers) == index);
            }
            Share {
                file: PcapFile::open(&sample()).unwrap(),
                mine,
                n: 0,
                read: 0,
            }
        }
    }

    impl PacketSource for Share {
        fn next_packet(&mut self) -> Result<Next<'_>, CaptureError> {
            loop {
                let Some(&mine) = self.mine.get(self.n) else {
                    return Ok(Next::End);
                };
                self.n += 1;
                if !mine {
                    self.file.next_packet()?;
                    continue;
                }
                self.read += 1;
                return Ok(match self.file.next_packet()? {
                    Some(p) => Next::Packet(p),
                    None => Next::End,
                });
            }
        }
        fn origin(&self) -> &str {
            "test0"
        }
        fn is_live(&self) -> bool {
            true
        }
        fn stats(&mut self) -> CaptureStats {
            CaptureStats {
                received: self.read,
                kernel_drops: 1,
                ..CaptureStats::default()
            }
        }
    }

    /// Workers reading their own shares give the application-layer events
    /// and alerts a replay gives, every packet is counted once, the
    /// sources' drop counters add up, and the `stats` events are complete.
    #[test]
    fn workers_on_their_own_sources_see_what_replay_sees() {
        let live_out = temp("own.json");
        let replay_out = temp("own-replay.json");
        let hub = crate::telemetry::metrics::LatestCounters::new();
        let opts = LiveOptions {
            output: Some(Target::File(live_out.to_string_lossy().into_owned())),
            log_all: true,
            metrics: Some(hub.clone()),
            ..LiveOptions::default()
        };
        let sources: Vec<Box<dyn PacketSource + Send>> =
            vec![Box::new(Share::of(0, 2)), Box::new(Share::of(1, 2))];
        let s = run_live_workers(sources, &opts, &Signals::inert()).unwrap();
        assert!(s.error.is_none());
        assert_eq!(s.packets, 255);
        assert_eq!(s.capture.received, 255);
        assert_eq!(s.capture.kernel_drops, 2, "one per socket, added up");
        replay::run(&ReplayOptions {
            inputs: vec![sample()],
            output: Target::File(replay_out.to_string_lossy().into_owned()),
            log_all: true,
            ..ReplayOptions::default()
        })
        .unwrap();
        let events = |p: &PathBuf| {
            let mut out: Vec<String> = lines(p)
                .iter()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .filter(|v| !matches!(v["event_type"].as_str(), Some("flow" | "stats")))
                .map(|mut v| {
                    let o = v.as_object_mut().unwrap();
                    o.remove("in_iface");
                    o.remove("pcap_filename");
                    v.to_string()
                })
                .collect();
            out.sort();
            out
        };
        let (live, replayed) = (events(&live_out), events(&replay_out));
        assert!(live.len() > 20, "{} events", live.len());
        assert_eq!(live, replayed);
        let count = |p: &PathBuf, kind: &str| {
            lines(p)
                .iter()
                .filter(|l| l.contains(&format!("\"event_type\":\"{kind}\"")))
                .count()
        };
        assert_eq!(count(&live_out, "flow"), count(&replay_out, "flow"));
        let last: serde_json::Value = serde_json::from_str(
            lines(&live_out)
                .iter()
                .rfind(|l| l.contains("\"event_type\":\"stats\""))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(last["stats"]["decoder"]["pkts"].as_u64(), Some(255));
        assert_eq!(last["stats"]["capture"]["kernel_drops"].as_u64(), Some(2));
        let v = hub.values();
        assert_eq!(v.capture.received, 255);
        assert_eq!(v.packets_read, 255);
        let _ = std::fs::remove_file(live_out);
        let _ = std::fs::remove_file(replay_out);
    }
}
