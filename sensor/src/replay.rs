//! `virga replay`: reads capture files in order, as one capture, through a
//! worker, and writes EVE events. Time comes only from packet timestamps.

use crate::app::{EmitConfig, FlightLimits};
use crate::capture::{expand_inputs, pcap_file::PcapFile};
use crate::flow::table::Timeouts;
use crate::output::{Output, OutputStats, Target};
use crate::worker::{Worker, WorkerConfig};
use anyhow::Context as _;
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
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            inputs: Vec::new(),
            output: Target::File("eve.json".into()),
            log_all: false,
            config: Config::default(),
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
        emit: EmitConfig {
            log_all: log_all || cfg.output.log_all,
            community_id_seed: cfg.output.community_id_seed,
            catalogue: Arc::new(cfg.catalogue.clone()),
            limits: FlightLimits {
                max_bytes: f.first_flight_max_bytes,
                max_segments: u16::try_from(f.first_flight_max_segments.get()).unwrap_or(u16::MAX),
            },
        },
    }
}

/// Replays the inputs. A file that cannot be opened or breaks off ends the
/// replay with an error naming it; every event produced before is written.
pub fn run(opts: &ReplayOptions) -> anyhow::Result<ReplaySummary> {
    let files = expand_inputs(&opts.inputs)?;
    let output = Output::start(&opts.output, opts.config.output.flush_interval)
        .with_context(|| format!("cannot open EVE output {:?}", opts.output))?;
    let mut worker = Worker::new(worker_config(&opts.config, opts.log_all), output.sender());
    let mut summary = ReplaySummary::default();
    let mut failure = None;
    for path in &files {
        let mut f = match PcapFile::open(path) {
            Ok(f) => f,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        worker.set_origin(path, false);
        summary.files += 1;
        loop {
            match f.next_packet() {
                Ok(Some(p)) => {
                    summary.packets += 1;
                    worker.process(&p);
                }
                Ok(None) => break,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if failure.is_some() {
            break;
        }
    }
    worker.finish();
    summary.flows = worker.flow_stats().created;
    drop(worker);
    summary.output = output.finish();
    match failure {
        Some(e) => Err(e.into()),
        None => Ok(summary),
    }
}
