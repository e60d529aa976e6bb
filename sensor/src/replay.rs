//! `virga replay`: reads capture files in order, as one capture, through a
//! worker, and writes EVE events. Time comes only from packet timestamps.

use crate::app::{EmitConfig, FlightLimits};
use crate::capture::{expand_inputs, pcap_file::PcapFile, Next, PacketSource};
use crate::detect::engine::EngineConfig;
use crate::flow::table::Timeouts;
use crate::output::{Output, OutputStats, Target};
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::progress::Progress;
use crate::worker::WorkerConfig;
use anyhow::Context as _;
use std::sync::atomic::AtomicBool;
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
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            inputs: Vec::new(),
            output: Target::File("eve.json".into()),
            log_all: false,
            config: Config::default(),
            workers: None,
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
}

/// Builds the worker settings from the configuration.
pub fn worker_config(cfg: &Config, log_all: bool) -> WorkerConfig {
    let f = &cfg.flow;
    WorkerConfig {
        max_flows: f.max_flows.get(),
        timeouts: Timeouts {
            tcp_new_secs: f.tcp_idle_timeout.as_secs().min(30),
            tcp_established_secs: f.tcp_idle_timeout.as_secs(),
            tcp_closed_secs: f.tcp_closed_timeout.as_secs(),
            udp_secs: f.udp_idle_timeout.as_secs(),
        },
        names_capacity: cfg.names.max_entries_per_worker,
        names_min_ttl_secs: cfg.names.min_ttl.as_secs(),
        names_max_ttl_secs: cfg.names.max_ttl.as_secs(),
        browser_table: Arc::new(crate::detect::client::BrowserTable::from_config(
            &cfg.detect.client,
        )),
        emit: EmitConfig {
            log_all: log_all || cfg.output.log_all,
            community_id_seed: cfg.output.community_id_seed,
            catalogue: Arc::new(cfg.catalogue.clone()),
            limits: FlightLimits {
                max_bytes: f.first_flight_max_bytes,
                max_segments: u16::try_from(f.first_flight_max_segments.get()).unwrap_or(u16::MAX),
                memcap: f.first_flight_memcap_bytes,
            },
        },
    }
}

/// Builds the pipeline settings from the configuration. `live` applies the
/// capture's queue-full policy (replay always waits).
pub fn pipeline_config(cfg: &Config, log_all: bool, live: bool) -> PipelineConfig {
    let p = &cfg.pipeline;
    PipelineConfig {
        workers: p.worker_count().get(),
        batch_packets: p.batch_packets.get(),
        queue_batches: p.queue_batches.get(),
        drop_when_full: live && cfg.capture.live_queue_full == virga_config::QueueFullPolicy::Drop,
        stats_interval_secs: cfg.output.stats_interval.map(|d| d.as_secs().max(1)),
        worker: worker_config(cfg, log_all),
        engine: engine_config(cfg),
    }
}

/// Builds the detection stage settings from the configuration.
pub fn engine_config(cfg: &Config) -> EngineConfig {
    EngineConfig {
        community_id_seed: cfg.output.community_id_seed,
        catalogue: Arc::new(cfg.catalogue.clone()),
        allowlist: cfg.allowlist.clone(),
        client_enabled: cfg.detect.client.enabled,
        client_quiet_secs: 86_400,
        prevalence_window_secs: 86_400,
        prevalence_max_names: std::num::NonZeroUsize::new(65_536)
            .unwrap_or(std::num::NonZeroUsize::MIN),
        dns: cfg.detect.dns.enabled.then(|| cfg.detect.dns.clone()),
        beacon: cfg.detect.beacon.enabled.then(|| cfg.detect.beacon.clone()),
    }
}

/// Replays the inputs. A file that cannot be opened or breaks off ends the
/// replay with an error naming it; every event produced before is written.
pub fn run(opts: &ReplayOptions) -> anyhow::Result<ReplaySummary> {
    run_until(opts, &AtomicBool::new(false))
}

/// As [`run`], stopping early (and still draining) once `stop` is set.
pub fn run_until(opts: &ReplayOptions, stop: &AtomicBool) -> anyhow::Result<ReplaySummary> {
    let files = expand_inputs(&opts.inputs)?;
    let output = Output::start(&opts.output, opts.config.output.flush_interval)
        .with_context(|| format!("cannot open EVE output {:?}", opts.output))?;
    let p = &opts.config.pipeline;
    let cfg = PipelineConfig {
        workers: opts.workers.unwrap_or_else(|| p.worker_count().get()),
        batch_packets: p.batch_packets.get(),
        queue_batches: p.queue_batches.get(),
        drop_when_full: false,
        stats_interval_secs: opts
            .config
            .output
            .stats_interval
            .map(|d| d.as_secs().max(1)),
        worker: worker_config(&opts.config, opts.log_all),
        engine: engine_config(&opts.config),
    };
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
