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
use crate::pipeline::Pipeline;
use crate::settings::pipeline_config;
use crate::signals::Signals;
use anyhow::Context as _;
use std::path::PathBuf;
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
    let mut run = Running::start(opts.config.clone(), opts, source.origin(), source.is_live())?;
    let mut summary = LiveSummary::default();
    let mut last_flush = Instant::now();
    let mut last_publish = last_flush;
    publish(opts, source, &mut run, 0);
    loop {
        if signals.shutdown_requested() {
            break;
        }
        if signals.take_reload() {
            match run.reload(opts, source.origin(), source.is_live()) {
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

/// What the loop holds: rebuilt on a reload that changes the settings.
struct Running {
    config: Config,
    targets: Vec<Target>,
    output: Output,
    pipeline: Option<Pipeline>,
    flush_interval: Duration,
    /// Flows of workers already finished.
    flows_done: u64,
    /// Counters of outputs already finished.
    output_done: OutputStats,
    /// The shipped table of known client fingerprints, read at start.
    known: Vec<KnownJa4>,
}

impl Running {
    fn start(config: Config, opts: &LiveOptions, origin: &str, live: bool) -> anyhow::Result<Self> {
        let known = virga_config::shipped_ja4()?;
        let targets = output_targets(&config, opts.output.as_ref());
        let output =
            Output::start_live(&targets, config.output.flush_interval, opts.metrics.clone())
                .with_context(|| format!("cannot open EVE output {:?}", targets[0]))?;
        let mut pipeline = Pipeline::start_live(
            pipeline_config(&config, opts.log_all, live, &known),
            &output.sender(),
            opts.metrics.clone(),
        )
        .context("cannot start workers")?;
        pipeline.set_origin(origin, live);
        Ok(Running {
            flush_interval: config.output.flush_interval,
            config,
            targets,
            output,
            pipeline: Some(pipeline),
            flows_done: 0,
            output_done: OutputStats::default(),
            known,
        })
    }

    /// Applies SIGHUP; `Err` when the file had errors (nothing changed
    /// but the output reopen).
    fn reload(&mut self, opts: &LiveOptions, origin: &str, live: bool) -> Result<(), ()> {
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
        match &new_output {
            // Same outputs: change the settings in place, keeping flows,
            // names and detector state.
            None => {
                let cfg = pipeline_config(&new, opts.log_all, live, &self.known);
                self.pipeline().reconfigure(cfg);
            }
            // Other outputs: the workers write to the new writer, so start
            // them under the new settings, then end the old ones' flows.
            Some(o) => {
                let mut fresh = match Pipeline::start_live(
                    pipeline_config(&new, opts.log_all, live, &self.known),
                    &o.sender(),
                    opts.metrics.clone(),
                ) {
                    Ok(p) => p,
                    Err(e) => {
                        eprintln!("virga: reload of {shown} refused, running configuration kept: cannot start workers: {e}");
                        self.output.reopen();
                        return Err(());
                    }
                };
                fresh.set_origin(origin, live);
                if let Some(old) = self.pipeline.replace(fresh) {
                    self.flows_done += old.finish().flows;
                }
            }
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

    /// Ends every flow, flushes, stops the writer: (flows, output counters).
    fn finish(mut self) -> (u64, OutputStats) {
        let flows = self.flows_done + self.pipeline.take().map_or(0, |p| p.finish().flows);
        let mut stats = self.output_done;
        add_stats(&mut stats, self.output.finish());
        (flows, stats)
    }
}

impl Running {
    /// The running pipeline (always present between start and finish).
    fn pipeline(&mut self) -> &mut Pipeline {
        match self.pipeline.as_mut() {
            Some(p) => p,
            None => unreachable_pipeline(),
        }
    }
}

/// `pipeline` is only `None` inside `reload` and `finish`, which never
/// return to the loop without a pipeline.
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
}
