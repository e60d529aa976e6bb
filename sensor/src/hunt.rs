//! `virga hunt`: the detectors over existing Zeek logs. Log files (TSV or
//! JSON lines, plain or gzip; files, flat folders or Zeek's daily archive)
//! are merged by time, their rows joined into the records the wire would
//! give (`zeek`), and the records go through the same detection stage as
//! `replay` (one sender, watermarks in log time), whose alerts are written
//! as EVE lines, followed by a final `stats` event. Memory is bounded: the
//! join, the name cache and the detectors' state have fixed capacities, and
//! records wait at most [`crate::zeek::records::HOLD_SECS`] of log time.

use crate::detect::engine::{Engine, StageSender};
use crate::output::{Output, OutputStats, Target};
use crate::pipeline::lines::{AlertLines, StatsExtras};
use crate::records::DetectionRecord;
use crate::settings;
use crate::telemetry::counters::{Counters, HuntCounters};
use crate::telemetry::snapshot::Snapshot;
use crate::time::Timestamp;
use crate::zeek::merge::Merge;
use crate::zeek::reader::Item;
use crate::zeek::records::{Joiner, Reorder};
use crate::zeek::{expand_paths, BadLine};
use anyhow::Context as _;
use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use virga_config::{BeaconScope, Config};

/// What to hunt through and where to write.
#[derive(Clone)]
pub struct HuntOptions {
    /// Zeek log files or folders.
    pub inputs: Vec<String>,
    /// EVE destination.
    pub output: Target,
    /// Settings (defaults when no file is given).
    pub config: Config,
    /// `--scope`: overrides `[detect.beacon] scope`.
    pub scope: Option<BeaconScope>,
    /// Where bad lines are reported (the first of each file); `None`: stderr.
    pub report_bad: Option<fn(&BadLine)>,
    /// Host events joined to the logs' connections and DNS queries (read
    /// with `attribution::load`); `None` = off.
    pub attribution: Option<crate::attribution::AttributionConfig>,
}

impl Default for HuntOptions {
    fn default() -> Self {
        HuntOptions {
            inputs: Vec::new(),
            output: Target::File("eve.json".into()),
            config: Config::default(),
            scope: None,
            report_bad: None,
            attribution: None,
        }
    }
}

/// Counts of a finished hunt.
#[derive(Debug, Default, Clone, Copy)]
pub struct HuntSummary {
    /// What was read and made.
    pub counters: HuntCounters,
    /// Alerts written.
    pub alerts: u64,
    /// Writer counters.
    pub output: OutputStats,
}

/// A new batch goes to the detection stage after this much log time.
const BATCH_NS: u64 = 10_000_000_000;

/// Most records in one batch to the detection stage (a longer release is
/// sent in several).
const BATCH_MAX_RECORDS: usize = 4096;

/// Messages queued in front of the detection stage. The reader outruns the
/// stage (with `scope = "all"` every connection is a record), so what waits
/// is bounded by this times [`BATCH_MAX_RECORDS`], whatever the logs' density.
const STAGE_QUEUE: usize = 64;

/// Hands `batch` to the stage in pieces of at most [`BATCH_MAX_RECORDS`],
/// then the watermark `upto`.
fn send(stage: &StageSender, batch: Vec<DetectionRecord>, upto: Timestamp) {
    let mut records = batch.into_iter();
    loop {
        let piece: Vec<DetectionRecord> = records.by_ref().take(BATCH_MAX_RECORDS).collect();
        if piece.is_empty() {
            break;
        }
        stage.records(piece);
    }
    stage.watermark(upto);
}

/// Hunts through the inputs.
///
/// # Errors
/// An input path that does not exist or a folder that cannot be listed
/// (nothing was written), an output that cannot be opened, the shipped
/// fingerprint table being invalid.
pub fn run(opts: &HuntOptions) -> anyhow::Result<HuntSummary> {
    run_until(opts, &AtomicBool::new(false))
}

/// As [`run`], stopping early (and still draining) once `stop` is set.
///
/// # Errors
/// As [`run`].
pub fn run_until(opts: &HuntOptions, stop: &AtomicBool) -> anyhow::Result<HuntSummary> {
    let mut files = expand_paths(&opts.inputs)?;
    // The EVE file being written is not an input, though it may sit in a
    // folder of logs.
    if let Target::File(out) = &opts.output {
        if let Ok(out) = std::fs::canonicalize(out) {
            files.retain(|f| std::fs::canonicalize(&f.path).ok().as_ref() != Some(&out));
        }
    }
    let mut cfg = opts.config.clone();
    if let Some(s) = opts.scope {
        cfg.detect.beacon.scope = s;
    }
    let known = virga_config::shipped_ja4()?;
    let join = settings::zeek_join_settings(&cfg, &known);
    let mut engine_cfg = settings::engine_config(&cfg);
    engine_cfg.attribution.clone_from(&opts.attribution);
    let mut targets = vec![opts.output.clone()];
    targets.extend(settings::redis_target(&cfg, true));
    let output = Output::start_all(&targets, cfg.output.flush_interval)
        .with_context(|| format!("cannot open EVE output {targets:?}"))?;
    let sender = output.sender();
    let extras = StatsExtras::default();
    let seed = Arc::new(AtomicU16::new(cfg.output.community_id_seed));
    let alerts = AlertLines::new(sender.clone(), seed, extras.clone());
    let engine = Engine::start_with_queue(engine_cfg, 1, Box::new(alerts), STAGE_QUEUE)
        .context("cannot start")?;
    let stage = engine.sender(0);

    let mut counters = HuntCounters {
        files: files.len() as u64,
        ..HuntCounters::default()
    };
    let mut merge = Merge::new(files);
    let mut joiner = Joiner::new(join);
    let mut reorder = Reorder::default();
    let mut reported: HashSet<PathBuf> = HashSet::new();
    let mut first: Option<Timestamp> = None;
    let mut sent_at = Timestamp(0);
    let mut progress = HuntProgress::new();
    let mut n: u64 = 0;
    while let Some(item) = merge.next() {
        match item {
            Item::Bad(b) => {
                if reported.insert(b.file.clone()) {
                    match opts.report_bad {
                        Some(f) => f(&b),
                        None => eprintln!("virga: {b} (further bad lines of this file counted)"),
                    }
                }
            }
            Item::Row(r) => {
                first.get_or_insert(r.ts);
                let origin = merge.last_origin().clone();
                joiner.row(r, &origin);
            }
        }
        counters.late_records += reorder.push(joiner.take());
        let now = joiner.now();
        if now.0.saturating_sub(sent_at.0) >= BATCH_NS || reorder.full() {
            sent_at = now;
            let (batch, upto) = reorder.release(Some(now));
            send(&stage, batch, upto);
        }
        n += 1;
        if n.is_multiple_of(65_536) {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            progress.tick(&merge.stats, merge.files_read);
        }
    }
    joiner.finish();
    counters.late_records += reorder.push(joiner.take());
    let (batch, upto) = reorder.release(None);
    send(&stage, batch, upto.max(joiner.now()));
    drop(stage);
    progress.finish(&merge.stats, merge.files_read);
    let engine_stats = engine.finish();

    let r = merge.stats;
    let j = joiner.stats;
    counters.files_read = merge.files_read;
    counters.lines = r.lines;
    counters.rows = r.rows;
    counters.bad_lines = r.bad;
    counters.other_lines = r.other;
    counters.conn_starts = j.conn_starts;
    counters.beats_inside = j.beats_inside;
    counters.dns_lookups = j.dns_lookups;
    counters.unnamed = j.unnamed;
    counters.late_rows = j.late_rows;
    counters.join_evicted = j.evicted;
    let now = joiner.now();
    let snap = Snapshot {
        ts: now,
        uptime_secs: now.secs().saturating_sub(first.unwrap_or(now).secs()),
        counters: Counters {
            alerts: engine_stats.alerts,
            alerts_suppressed: engine_stats.suppressed_allowlist
                + engine_stats.suppressed_quiet
                + engine_stats.beacon_browser_held,
            engine: Some(engine_stats),
            hunt: Some(counters),
            ..Counters::default()
        },
    };
    *extras.engine.lock().unwrap_or_else(|p| p.into_inner()) = Some(engine_stats);
    extras.send(&sender, snap, true);
    drop(sender);
    Ok(HuntSummary {
        counters,
        alerts: engine_stats.alerts,
        output: output.finish(),
    })
}

/// A progress line on a terminal: files, lines, bad lines, rate.
struct HuntProgress {
    on: bool,
    start: Instant,
    last: Instant,
}

impl HuntProgress {
    fn new() -> Self {
        let now = Instant::now();
        HuntProgress {
            on: std::io::stderr().is_terminal(),
            start: now,
            last: now,
        }
    }

    fn draw(&self, s: &crate::zeek::reader::ReadStats, files: u64, end: &str) {
        let secs = self.start.elapsed().as_secs_f64().max(1e-3);
        let _ = write!(
            std::io::stderr(),
            "\rvirga hunt: {files} files, {} lines ({:.0}/s), {} bad{end}",
            s.lines,
            s.lines as f64 / secs,
            s.bad
        );
    }

    fn tick(&mut self, s: &crate::zeek::reader::ReadStats, files: u64) {
        if self.on && self.last.elapsed() >= Duration::from_millis(500) {
            self.last = Instant::now();
            self.draw(s, files, "");
        }
    }

    fn finish(&self, s: &crate::zeek::reader::ReadStats, files: u64) {
        if self.on {
            self.draw(s, files, "\n");
        }
    }
}
