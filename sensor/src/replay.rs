//! `virga replay`: reads capture files in order, as one capture, through a
//! worker, and writes EVE events. Time comes only from packet timestamps.

use crate::attribution::{AttributionConfig, AttributionStats};
use crate::capture::{expand_inputs, pcap_file::PcapFile, Next, PacketSource};
use crate::output::{Output, OutputStats, Target};
use crate::pipeline::Pipeline;
use crate::progress::Progress;
use crate::settings::Settings;
use anyhow::Context as _;
use std::sync::atomic::AtomicBool;
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
pub fn run_until(opts: &ReplayOptions, stop: &AtomicBool) -> anyhow::Result<ReplaySummary> {
    let files = expand_inputs(&opts.inputs)?;
    let mut cfg = Settings::new(&opts.config, opts.log_all, false, opts.workers)?.pipeline;
    cfg.engine.attribution.clone_from(&opts.attribution);
    let mut targets = vec![opts.output.clone()];
    targets.extend(crate::settings::redis_target(&opts.config, true));
    let output = Output::start_all(&targets, opts.config.output.flush_interval)
        .with_context(|| format!("cannot open EVE output {targets:?}"))?;
    let mut pipeline = Pipeline::start(cfg, &output.sender()).context("cannot start workers")?;
    let mut summary = ReplaySummary::default();
    let mut failure = None;
    let total_bytes: u64 = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let mut progress = Progress::on_stderr_terminal(total_bytes);
    for path in &files {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            break;
        }
        let mut f = match PcapFile::open(path) {
            Ok(f) => f,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        summary.files += 1;
        let mut shown = Progressed {
            file: &mut f,
            progress: &mut progress,
        };
        if let Err(e) = pipeline.run_source(&mut shown, stop) {
            failure = Some(e);
            break;
        }
    }
    progress.finish();
    let stats = pipeline.finish();
    summary.packets = stats.packets;
    summary.flows = stats.flows;
    summary.attribution = stats.attribution;
    summary.output = output.finish();
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(summary),
    }
}

/// A capture file that moves the progress display as it is read.
struct Progressed<'a> {
    file: &'a mut PcapFile,
    progress: &'a mut Progress,
}

impl PacketSource for Progressed<'_> {
    fn next_packet(&mut self) -> Result<Next<'_>, crate::capture::CaptureError> {
        let n = PacketSource::next_packet(self.file)?;
        if let Next::Packet(p) = &n {
            self.progress.tick(p.data.len() as u64);
        }
        Ok(n)
    }

    fn origin(&self) -> &str {
        self.file.origin()
    }

    fn is_live(&self) -> bool {
        false
    }

    fn stats(&mut self) -> crate::capture::CaptureStats {
        PacketSource::stats(self.file)
    }
}
