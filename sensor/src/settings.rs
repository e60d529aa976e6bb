//! The configuration turned into runtime settings, in one place: every knob
//! the workers, the detection stage and the pipeline use comes from the
//! validated configuration here, and nowhere else.

use crate::app::FlightLimits;
use crate::attribution::AttributionConfig;
use crate::client_class::BrowserTable;
use crate::detect::engine::EngineConfig;
use crate::flow::table::Timeouts;
use crate::output::{RedisTarget, Target};
use crate::pipeline::PipelineConfig;
use crate::worker::{BeatSettings, WorkerSettings};
use crate::zeek::records::JoinSettings;
use std::sync::Arc;
use virga_config::{BeaconScope, Config, ConfigErrors, KnownJa4};

/// Everything the sensor runs with, built from one configuration.
#[derive(Clone)]
pub struct Settings {
    /// Pipeline, worker and detection settings.
    pub pipeline: PipelineConfig,
}

impl Settings {
    /// The settings for `cfg`; `log_all` (`--log-all`) adds to
    /// `output.log_all`, `live` applies the capture's queue-full policy
    /// (a replay always waits). `workers` overrides `pipeline.workers`.
    ///
    /// # Errors
    /// The shipped table of known client fingerprints is invalid (reported
    /// like configuration errors).
    pub fn new(
        cfg: &Config,
        log_all: bool,
        live: bool,
        workers: Option<usize>,
    ) -> Result<Settings, ConfigErrors> {
        let known = virga_config::shipped_ja4()?;
        let mut pipeline = pipeline_config(cfg, log_all, live, &known);
        if let Some(n) = workers {
            pipeline.workers = n;
        }
        Ok(Settings { pipeline })
    }
}

/// The worker settings of `cfg`, with the known fingerprints `known`.
pub fn worker_settings(cfg: &Config, log_all: bool, known: &[KnownJa4]) -> WorkerSettings {
    let f = &cfg.flow;
    WorkerSettings {
        max_flows: f.max_flows.get(),
        timeouts: Timeouts {
            // A handshake that never completes ends at the smaller timeout.
            tcp_new_secs: f.tcp_new_timeout.min(f.tcp_idle_timeout).as_secs(),
            tcp_established_secs: f.tcp_idle_timeout.as_secs(),
            tcp_closed_secs: f.tcp_closed_timeout.as_secs(),
            udp_secs: f.udp_idle_timeout.as_secs(),
        },
        names_capacity: cfg.names.max_entries_per_worker,
        names_min_ttl_secs: cfg.names.min_ttl.as_secs(),
        names_max_ttl_secs: cfg.names.max_ttl.as_secs(),
        browser_table: Arc::new(BrowserTable::from_config(known, &cfg.detect.client)),
        log_all: log_all || cfg.output.log_all,
        community_id_seed: cfg.output.community_id_seed,
        catalogue: Arc::new(cfg.catalogue.clone()),
        limits: FlightLimits {
            max_bytes: f.first_flight_max_bytes,
            max_segments: u16::try_from(f.first_flight_max_segments.get()).unwrap_or(u16::MAX),
            memcap: f.first_flight_memcap_bytes,
        },
        beats: beat_settings(cfg),
    }
}

/// Which flows report beats to the beacon detector (`[detect.beacon]`).
fn beat_settings(cfg: &Config) -> BeatSettings {
    let b = &cfg.detect.beacon;
    BeatSettings {
        all_destinations: b.enabled && b.scope == BeaconScope::All,
        burst_idle_ns: u64::try_from(b.burst_idle.as_nanos()).unwrap_or(u64::MAX),
        infrastructure_ports: b.infrastructure_ports.iter().copied().collect(),
    }
}

/// The Redis output of `cfg` (`[output.redis]`), if any; `replay`: a full
/// queue waits for Redis instead of dropping lines.
pub fn redis_target(cfg: &Config, replay: bool) -> Option<Target> {
    cfg.output.redis.as_ref().map(|r| {
        Target::Redis(RedisTarget {
            url: r.url.clone(),
            mode: r.mode,
            key: r.key.clone(),
            stream_maxlen: r.stream_maxlen,
            batch_lines: r.batch_lines.get(),
            wait_when_full: replay,
        })
    })
}

/// The settings of `virga hunt`'s join of Zeek log rows into records: the
/// same catalogue, known JA4s, beacon scope and name cache bounds as a
/// worker's.
pub fn zeek_join_settings(cfg: &Config, known: &[KnownJa4]) -> JoinSettings {
    let w = worker_settings(cfg, false, known);
    JoinSettings {
        catalogue: w.catalogue,
        browser_table: w.browser_table,
        scope_all: w.beats.all_destinations,
        infrastructure_ports: w.beats.infrastructure_ports,
        burst_idle_ns: w.beats.burst_idle_ns,
        names_capacity: w.names_capacity,
        names_min_ttl_secs: w.names_min_ttl_secs,
        names_max_ttl_secs: w.names_max_ttl_secs,
    }
}

/// The detection stage settings of `cfg`.
pub fn engine_config(cfg: &Config) -> EngineConfig {
    let d = &cfg.detect;
    EngineConfig {
        catalogue: Arc::new(cfg.catalogue.clone()),
        allowlist: cfg.allowlist.clone(),
        client_enabled: d.client.enabled,
        client_quiet_secs: d.client.quiet.as_secs(),
        prevalence_window_secs: d.prevalence.window.as_secs(),
        prevalence_max_names: d.prevalence.max_names,
        prevalence_redis_url: d.prevalence.redis_url.clone(),
        prevalence_lockstep: false,
        dns: d.dns.enabled.then(|| d.dns.clone()),
        beacon: d.beacon.enabled.then(|| d.beacon.clone()),
        attribution: None,
    }
}

/// The pipeline settings of `cfg`.
pub fn pipeline_config(
    cfg: &Config,
    log_all: bool,
    live: bool,
    known: &[KnownJa4],
) -> PipelineConfig {
    let p = &cfg.pipeline;
    PipelineConfig {
        workers: p.worker_count().get(),
        batch_packets: p.batch_packets.get(),
        queue_batches: p.queue_batches.get(),
        drop_when_full: live && cfg.capture.live_queue_full == virga_config::QueueFullPolicy::Drop,
        stats_interval_secs: cfg.output.stats_interval.map(|d| d.as_secs().max(1)),
        worker: worker_settings(cfg, log_all, known),
        engine: EngineConfig {
            prevalence_lockstep: !live,
            // Live runs follow `[attribution] sysmon_paths`; a replay is
            // given its host event files (`--sysmon`) instead.
            attribution: if live {
                AttributionConfig::follow(&cfg.attribution)
            } else {
                None
            },
            ..engine_config(cfg)
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_knob_comes_from_the_configuration() {
        let known = virga_config::shipped_ja4().unwrap();
        let text = "[flow]\ntcp_idle_timeout_secs = 20\ntcp_new_timeout_secs = 45\n\
                    [detect.client]\nquiet_secs = 600\n\
                    [detect.prevalence]\nwindow_secs = 7200\nmax_names = 100\n";
        let cfg = virga_config::from_str(text, "t.toml").unwrap();
        let p = pipeline_config(&cfg, false, false, &known);
        // The smaller of the two: a handshake never outlives an idle flow.
        assert_eq!(p.worker.timeouts.tcp_new_secs, 20);
        assert_eq!(p.worker.timeouts.tcp_established_secs, 20);
        assert_eq!(p.engine.client_quiet_secs, 600);
        assert_eq!(p.engine.prevalence_window_secs, 7200);
        assert_eq!(p.engine.prevalence_max_names.get(), 100);
        let defaults = pipeline_config(&Config::default(), false, false, &known);
        assert_eq!(defaults.worker.timeouts.tcp_new_secs, 30);
        assert_eq!(defaults.engine.client_quiet_secs, 86_400);
        assert_eq!(defaults.engine.prevalence_window_secs, 86_400);
        assert_eq!(defaults.engine.prevalence_max_names.get(), 65_536);
        assert_eq!(defaults.worker.browser_table.len(), known.len());
    }
}
