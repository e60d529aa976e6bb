//! `virga replay`: reads capture files in order, as one capture, through a
//! worker, and writes EVE events. Time comes only from packet timestamps.

use crate::attribution::{AttributionConfig, AttributionStats};
use crate::capture::expand_inputs;
use crate::output::{Output, OutputStats, Target};
use crate::pipeline::lines::StatsExtras;
use crate::pipeline::run_to_completion::{Feed, Keep, RunToCompletion, Sources};
use crate::progress::Progress;
use crate::settings::Settings;
use anyhow::Context as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use virga_config::Config;

/// What to replay and where to write.
#[derive(Clone)]
pub struct ReplayOptions {
    /// Files or directories, in order.
    pub inputs: Vec<String>,
    /// EVE destination.
    pub output: Target,
    /// Log metadata events for all traffic.
    pub log_all: bool,
    /// Settings (defaults when no file is given).
    pub config: Config,
    /// Worker threads; `None` = the configuration's `pipeline.workers`.
    pub workers: Option<usize>,
    /// Host events that name the processes behind connections (`--sysmon`,
    /// read with `attribution::load`); `None` = off.
    pub attribution: Option<AttributionConfig>,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            inputs: Vec::new(),
            output: Target::File("eve.json".into()),
            log_all: false,
            config: Config::default(),
            workers: None,
            attribution: None,
        }
    }
}

/// Counts of a finished replay.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReplaySummary {
    /// Files read.
    pub files: usize,
    /// Packets read.
    pub packets: u64,
    /// Flows tracked.
    pub flows: u64,
    /// Writer counters.
    pub output: OutputStats,
    /// Process attribution counters.
    pub attribution: AttributionStats,
}

/// Replays the inputs. A file that cannot be opened or breaks off ends the
/// replay with an error naming it; every event produced before is written.
pub fn run(opts: &ReplayOptions) -> anyhow::Result<ReplaySummary> {
    run_until(opts, &AtomicBool::new(false))
}

/// As [`run`], stopping early (and still draining) once `stop` is set.
pub fn run_until(opts: &ReplayOptions, outer_stop: &AtomicBool) -> anyhow::Result<ReplaySummary> {
    let files = expand_inputs(&opts.inputs)?;
    let mut cfg = Settings::new(&opts.config, opts.log_all, false, opts.workers)?.pipeline;
    cfg.engine.attribution.clone_from(&opts.attribution);
    let mut targets = vec![opts.output.clone()];
    targets.extend(crate::settings::redis_target(&opts.config, true));
    let output = Output::start_all(&targets, opts.config.output.flush_interval)
        .with_context(|| format!("cannot open EVE output {targets:?}"))?;
    let workers = cfg.workers.max(1);
    let total_bytes: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let mut progress = Some(Progress::on_stderr_terminal(total_bytes));
    // Every worker walks the files and keeps its shard: no capture thread.
    let feeds = (0..workers)
        .map(|_| Feed {
            sources: file_sources(files.clone()),
            keep: Keep::Shard,
            progress: progress.take(),
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let run = RunToCompletion::start(
        &cfg,
        feeds,
        &output.sender(),
        StatsExtras::default(),
        stop.clone(),
    )
    .context("cannot start workers")?;
    while !run.is_finished() {
        if outer_stop.load(Ordering::Relaxed) {
            stop.store(true, Ordering::Relaxed);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let stats = run.finish();
    let summary = ReplaySummary {
        files: stats.sources,
        packets: stats.pipeline.packets,
        flows: stats.pipeline.flows,
        attribution: stats.pipeline.attribution,
        output: output.finish(),
    };
    match stats.error {
        Some(e) => Err(e.into()),
        None => Ok(summary),
    }
}

/// The capture files, opened one after the other.
fn file_sources(files: Vec<String>) -> Sources {
    Box::new(
        files
            .into_iter()
            .map(|path| crate::capture::mapped_pcap::open(&path)),
    )
}
