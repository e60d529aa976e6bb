//! The validated configuration, built only from a [`RawConfig`] through `TryFrom` (or the
//! loaders in the crate root). Every value here is in range; durations are [`Duration`]s, counts
//! that must be positive are `NonZero*`, addresses and networks are parsed.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use crate::allowlist::{check_ja4, Allowlist};
use crate::catalogue::{Catalogue, Tier};
use crate::error::{ConfigError, ConfigErrors, Problem, Problems};
use crate::path::KeyPath;
use crate::raw::{
    RawAttribution, RawBeacon, RawBeaconScope, RawCapture, RawCaptureMethod, RawClientDetect,
    RawConfig, RawDetect, RawDnsDetect, RawFlow, RawMetrics, RawNames, RawOutput, RawPipeline,
    RawPrevalence, RawQueueFull, RawRedisMode, RawRedisOutput, RawRun,
};

/// The validated sensor configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `[capture]`: packet capture.
    pub capture: Capture,
    /// `[pipeline]`: worker threads and queues.
    pub pipeline: Pipeline,
    /// `[flow]`: flow table and timeouts.
    pub flow: Flow,
    /// `[names]`: per-client DNS name attribution cache.
    pub names: Names,
    /// `[output]`: EVE JSON output.
    pub output: Output,
    /// `[run]`: process identity.
    pub run: Run,
    /// `[metrics]`: metrics endpoint.
    pub metrics: Metrics,
    /// The serverless catalogue: built-in entries changed by `[catalogue]`. Default: built-in.
    pub catalogue: Catalogue,
    /// `[[allowlist]]`. Default: empty.
    pub allowlist: Allowlist,
    /// `[detect]`: detectors.
    pub detect: Detect,
    /// `[attribution]`: host events naming the process behind connections.
    pub attribution: Attribution,
}

impl Default for Config {
    /// Every key at its documented default (the same as an empty file).
    fn default() -> Self {
        Config::build(&RawConfig::default(), &mut Problems::default())
    }
}

impl TryFrom<RawConfig> for Config {
    type Error = ConfigErrors;

    /// Validates a raw configuration. The errors have key paths but no lines, and name the file
    /// `<config>`; use [`crate::from_str`] or [`crate::load`] to get lines.
    fn try_from(raw: RawConfig) -> Result<Self, Self::Error> {
        let (config, problems) = Config::validate(&raw);
        if problems.is_empty() {
            return Ok(config);
        }
        let file = std::path::Path::new("<config>");
        Err(ConfigErrors::new(
            problems
                .into_iter()
                .map(|p| ConfigError::new(file, None, p.path.to_string(), p.reason))
                .collect(),
        ))
    }
}

impl Config {
    /// Validates `raw`: the configuration (bad values replaced by defaults) and every problem.
    pub(crate) fn validate(raw: &RawConfig) -> (Config, Vec<Problem>) {
        let mut problems = Problems::default();
        let config = Config::build(raw, &mut problems);
        (config, problems.into_vec())
    }

    fn build(raw: &RawConfig, p: &mut Problems) -> Config {
        let at = KeyPath::keys;
        Config {
            capture: Capture::build(&raw.capture, &at("capture"), p),
            pipeline: Pipeline::build(&raw.pipeline, &at("pipeline"), p),
            flow: Flow::build(&raw.flow, &at("flow"), p),
            names: Names::build(&raw.names, &at("names"), p),
            output: Output::build(&raw.output, &at("output"), p),
            run: Run::build(&raw.run, &at("run"), p),
            metrics: Metrics::build(&raw.metrics, &at("metrics"), p),
            catalogue: Catalogue::from_raw(&raw.catalogue, &at("catalogue"), p),
            allowlist: Allowlist::from_raw(&raw.allowlist, &at("allowlist"), p),
            detect: Detect::build(&raw.detect, &at("detect"), p),
            attribution: Attribution::build(&raw.attribution, &at("attribution"), p),
        }
    }
}

/// `value` if within `lo..=hi`, else `fallback` (and a problem is recorded).
fn ranged(p: &mut Problems, path: &KeyPath, value: u64, lo: u64, hi: u64, fallback: u64) -> u64 {
    if p.range(path, value, lo, hi) {
        value
    } else {
        fallback
    }
}

/// A validated count ≥ 1 as `NonZeroUsize` (ranges used here all fit 32-bit `usize`).
fn non_zero(value: u64) -> NonZeroUsize {
    usize::try_from(value)
        .ok()
        .and_then(NonZeroUsize::new)
        .unwrap_or(NonZeroUsize::MIN)
}

/// A validated count as `usize`.
fn to_usize(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// Records a problem if `text` is empty or holds NUL or other control characters.
fn plain_text(p: &mut Problems, path: &KeyPath, text: &str) -> bool {
    if text.trim().is_empty() {
        p.push(path.clone(), "must not be empty");
        false
    } else if text.chars().any(char::is_control) {
        p.push(path.clone(), "must not contain control characters");
        false
    } else {
        true
    }
}

/// What the capture thread does when a worker queue is full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum QueueFullPolicy {
    /// Drop the batch and count it. The default.
    #[default]
    Drop,
    /// Wait for room.
    Block,
}

/// How live capture reads the interface.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CaptureMethod {
    /// libpcap on one capture thread that hands packets to the workers. The default.
    #[default]
    Pcap,
    /// Linux AF_PACKET: one socket and TPACKET_V3 ring per worker in a fanout group that sends
    /// each packet to the worker of its client address. Linux only: choosing it on another
    /// system is a configuration error.
    AfPacket,
}

/// `[capture]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capture {
    /// Interface for live capture. Default: none (given on the command line).
    pub interface: Option<String>,
    /// Bytes captured per packet. Default: 65535 bytes; 64 to 262144.
    pub snaplen_bytes: u32,
    /// Kernel capture buffer. Default: 33554432 bytes (32 MiB); 65536 to 2147483647 (fits the
    /// `i32` libpcap takes).
    pub buffer_size_bytes: u32,
    /// BPF filter, libpcap syntax, compiled by the sensor at start. Default: `""` (no filter).
    pub bpf_filter: String,
    /// Promiscuous mode. Default: true.
    pub promiscuous: bool,
    /// libpcap immediate mode. Default: true.
    pub immediate_mode: bool,
    /// Live capture policy when a worker queue is full. Default: [`QueueFullPolicy::Drop`].
    pub live_queue_full: QueueFullPolicy,
    /// How live capture reads the interface. Default: [`CaptureMethod::Pcap`].
    pub method: CaptureMethod,
}

impl Default for Capture {
    /// The documented defaults.
    fn default() -> Self {
        Capture::build(
            &RawCapture::default(),
            &KeyPath::root(),
            &mut Problems::default(),
        )
    }
}

impl Capture {
    fn build(raw: &RawCapture, path: &KeyPath, p: &mut Problems) -> Self {
        let d = RawCapture::default();
        let interface = raw.interface.as_ref().filter(|i| {
            let at = path.key("interface");
            if i.chars().any(char::is_whitespace) && !i.trim().is_empty() {
                p.push(at, "must not contain whitespace");
                return false;
            }
            plain_text(p, &at, i)
        });
        if raw.bpf_filter.contains('\0') {
            p.push(path.key("bpf_filter"), "must not contain NUL characters");
        }
        Capture {
            interface: interface.cloned(),
            snaplen_bytes: u32::try_from(ranged(
                p,
                &path.key("snaplen_bytes"),
                raw.snaplen_bytes,
                64,
                262_144,
                d.snaplen_bytes,
            ))
            .unwrap_or(u32::MAX),
            buffer_size_bytes: u32::try_from(ranged(
                p,
                &path.key("buffer_size_bytes"),
                raw.buffer_size_bytes,
                65_536,
                2_147_483_647,
                d.buffer_size_bytes,
            ))
            .unwrap_or(u32::MAX),
            bpf_filter: raw.bpf_filter.replace('\0', ""),
            promiscuous: raw.promiscuous,
            immediate_mode: raw.immediate_mode,
            live_queue_full: match raw.live_queue_full {
                RawQueueFull::Drop => QueueFullPolicy::Drop,
                RawQueueFull::Block => QueueFullPolicy::Block,
            },
            method: capture_method(raw.method, &path.key("method"), p),
        }
    }
}

/// The capture method; `af_packet` is a problem (and `pcap` is used) where it cannot work.
fn capture_method(raw: RawCaptureMethod, at: &KeyPath, p: &mut Problems) -> CaptureMethod {
    match raw {
        RawCaptureMethod::Pcap => CaptureMethod::Pcap,
        RawCaptureMethod::AfPacket if cfg!(target_os = "linux") => CaptureMethod::AfPacket,
        RawCaptureMethod::AfPacket => {
            p.push(
                at.clone(),
                format!(
                    "\"af_packet\" needs Linux (this is {}); use \"pcap\"",
                    std::env::consts::OS
                ),
            );
            CaptureMethod::Pcap
        }
    }
}

/// `[pipeline]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipeline {
    /// Worker threads; `None` (key value 0, the default) = one per available core. At most 1024.
    pub workers: Option<NonZeroUsize>,
    /// Packets per batch. Default: 64 packets; 1 to 4096.
    pub batch_packets: NonZeroUsize,
    /// Worker queue capacity. Default: 256 batches; 1 to 1048576.
    pub queue_batches: NonZeroUsize,
}

impl Default for Pipeline {
    /// The documented defaults.
    fn default() -> Self {
        Pipeline::build(
            &RawPipeline::default(),
            &KeyPath::root(),
            &mut Problems::default(),
        )
    }
}

impl Pipeline {
    /// The number of workers to start: `workers`, or the available parallelism (1 if unknown).
    pub fn worker_count(&self) -> NonZeroUsize {
        self.workers
            .unwrap_or_else(|| std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN))
    }

    fn build(raw: &RawPipeline, path: &KeyPath, p: &mut Problems) -> Self {
        let d = RawPipeline::default();
        let workers = ranged(p, &path.key("workers"), raw.workers, 0, 1024, d.workers);
        Pipeline {
            workers: usize::try_from(workers).ok().and_then(NonZeroUsize::new),
            batch_packets: non_zero(ranged(
                p,
                &path.key("batch_packets"),
                raw.batch_packets,
                1,
                4096,
                d.batch_packets,
            )),
            queue_batches: non_zero(ranged(
                p,
                &path.key("queue_batches"),
                raw.queue_batches,
                1,
                1 << 20,
                d.queue_batches,
            )),
        }
    }
}

/// `[flow]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// Flows per worker. Default: 65536 flows; 1 to 16777216.
    pub max_flows: NonZeroUsize,
    /// Idle timeout of established TCP flows. Default: 600 s; 1 s to 86400 s.
    pub tcp_idle_timeout: Duration,
    /// Idle timeout of TCP flows whose handshake is not complete, as configured. Default: 30 s;
    /// 1 s to 86400 s. Such a flow expires after the smaller of this and `tcp_idle_timeout`.
    pub tcp_new_timeout: Duration,
    /// Timeout after TCP close. Default: 10 s; 0 to 3600 s.
    pub tcp_closed_timeout: Duration,
    /// Idle timeout of UDP flows. Default: 60 s; 1 s to 86400 s.
    pub udp_idle_timeout: Duration,
    /// Client bytes buffered for the first flight. Default: 16384 bytes; 1024 to 1048576.
    pub first_flight_max_bytes: usize,
    /// Client segments/datagrams looked at for the first flight. Default: 16; 1 to 1024.
    pub first_flight_max_segments: NonZeroUsize,
    /// Bytes all first-flight buffers of one worker may hold together. Default: 32 MiB;
    /// 64 KiB to 16 GiB.
    pub first_flight_memcap_bytes: usize,
}

impl Default for Flow {
    /// The documented defaults.
    fn default() -> Self {
        Flow::build(
            &RawFlow::default(),
            &KeyPath::root(),
            &mut Problems::default(),
        )
    }
}

impl Flow {
    fn build(raw: &RawFlow, path: &KeyPath, p: &mut Problems) -> Self {
        let d = RawFlow::default();
        let secs = |p: &mut Problems, key: &str, v: u64, lo: u64, hi: u64, dv: u64| {
            Duration::from_secs(ranged(p, &path.key(key), v, lo, hi, dv))
        };
        Flow {
            max_flows: non_zero(ranged(
                p,
                &path.key("max_flows"),
                raw.max_flows,
                1,
                1 << 24,
                d.max_flows,
            )),
            tcp_idle_timeout: secs(
                p,
                "tcp_idle_timeout_secs",
                raw.tcp_idle_timeout_secs,
                1,
                86_400,
                d.tcp_idle_timeout_secs,
            ),
            tcp_new_timeout: secs(
                p,
                "tcp_new_timeout_secs",
                raw.tcp_new_timeout_secs,
                1,
                86_400,
                d.tcp_new_timeout_secs,
            ),
            tcp_closed_timeout: secs(
                p,
                "tcp_closed_timeout_secs",
                raw.tcp_closed_timeout_secs,
                0,
                3600,
                d.tcp_closed_timeout_secs,
            ),
            udp_idle_timeout: secs(
                p,
                "udp_idle_timeout_secs",
                raw.udp_idle_timeout_secs,
                1,
                86_400,
                d.udp_idle_timeout_secs,
            ),
            first_flight_max_bytes: to_usize(ranged(
                p,
                &path.key("first_flight_max_bytes"),
                raw.first_flight_max_bytes,
                1024,
                1 << 20,
                d.first_flight_max_bytes,
            )),
            first_flight_max_segments: non_zero(ranged(
                p,
                &path.key("first_flight_max_segments"),
                raw.first_flight_max_segments,
                1,
                1024,
                d.first_flight_max_segments,
            )),
            first_flight_memcap_bytes: to_usize(ranged(
                p,
                &path.key("first_flight_memcap_bytes"),
                raw.first_flight_memcap_bytes,
                1 << 16,
                1 << 34,
                d.first_flight_memcap_bytes,
            )),
        }
    }
}

/// `[names]`: per-client DNS name attribution cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// Entries per worker. Default: 65536 entries; 1 to 16777216.
    pub max_entries_per_worker: NonZeroUsize,
    /// Longest lifetime of an entry. Default: 86400 s; 1 s to 604800 s.
    pub max_ttl: Duration,
    /// Shortest lifetime of an entry. Default: 30 s; 0 to `max_ttl`.
    pub min_ttl: Duration,
}

impl Default for Names {
    /// The documented defaults.
    fn default() -> Self {
        Names::build(
            &RawNames::default(),
            &KeyPath::root(),
            &mut Problems::default(),
        )
    }
}

impl Names {
    fn build(raw: &RawNames, path: &KeyPath, p: &mut Problems) -> Self {
        let d = RawNames::default();
        let max_ttl = ranged(
            p,
            &path.key("max_ttl_secs"),
            raw.max_ttl_secs,
            1,
            604_800,
            d.max_ttl_secs,
        );
        let min_ttl = if raw.min_ttl_secs > max_ttl {
            p.push(
                path.key("min_ttl_secs"),
                format!(
                    "{} is greater than max_ttl_secs ({max_ttl})",
                    raw.min_ttl_secs
                ),
            );
            d.min_ttl_secs.min(max_ttl)
        } else {
            raw.min_ttl_secs
        };
        Names {
            max_entries_per_worker: non_zero(ranged(
                p,
                &path.key("max_entries_per_worker"),
                raw.max_entries_per_worker,
                1,
                1 << 24,
                d.max_entries_per_worker,
            )),
            max_ttl: Duration::from_secs(max_ttl),
            min_ttl: Duration::from_secs(min_ttl),
        }
    }
}

/// Where EVE JSON goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EveTarget {
    /// Standard output (`eve_path = "-"`).
    Stdout,
    /// This file, appended to (relative paths are relative to the working directory).
    File(PathBuf),
}

/// `[output]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// EVE destination. Default: file `eve.json`.
    pub eve: EveTarget,
    /// Unix stream socket EVE lines are also sent to. Default: none; at most 107 bytes.
    pub socket_path: Option<PathBuf>,
    /// Flush interval. Default: 1000 ms; 0 to 60000 ms (0 = after every batch of events).
    pub flush_interval: Duration,
    /// Log every parsed record, not only those involving catalogued platforms. Default: false.
    pub log_all: bool,
    /// Interval of `stats` events; `None` = off (key value 0). Default: 60 s; at most 86400 s.
    pub stats_interval: Option<Duration>,
    /// Community ID seed. Default: 0.
    pub community_id_seed: u16,
    /// `[output.redis]`: EVE lines also sent to Redis. Default: none.
    pub redis: Option<RedisOutput>,
}

/// How EVE lines are written to Redis.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RedisMode {
    /// `LPUSH` (Suricata's default `list`).
    #[default]
    List,
    /// `RPUSH`.
    Rpush,
    /// `PUBLISH`.
    Channel,
    /// `XADD key MAXLEN ~ N * eve line`.
    Stream,
}

/// `[output.redis]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisOutput {
    /// Server URL (`redis://`, `rediss://` or `redis+unix://`; credentials in it).
    pub url: String,
    /// Command that writes each line. Default: `List`.
    pub mode: RedisMode,
    /// List, channel or stream key. Default: `virga`.
    pub key: String,
    /// `Stream` mode: approximate number of entries kept. Default: 100000.
    pub stream_maxlen: u64,
    /// Lines per pipelined round trip. Default: 256; 1 to 65536.
    pub batch_lines: NonZeroUsize,
}

impl Default for RedisOutput {
    /// The documented defaults (the section present, every key at its default).
    fn default() -> Self {
        RedisOutput::build(
            &RawRedisOutput::default(),
            &KeyPath::root(),
            &mut Problems::default(),
        )
    }
}

impl RedisOutput {
    fn build(raw: &RawRedisOutput, path: &KeyPath, p: &mut Problems) -> Self {
        let d = RawRedisOutput::default();
        let url = if redis_url(p, &path.key("url"), &raw.url) {
            raw.url.clone()
        } else {
            d.url.clone()
        };
        let key_at = path.key("key");
        let key = if !plain_text(p, &key_at, &raw.key) {
            d.key.clone()
        } else if raw.key.len() > 512 {
            p.push(
                key_at,
                format!("{} bytes is too long; at most 512", raw.key.len()),
            );
            d.key.clone()
        } else {
            raw.key.clone()
        };
        RedisOutput {
            url,
            mode: match raw.mode {
                RawRedisMode::List => RedisMode::List,
                RawRedisMode::Rpush => RedisMode::Rpush,
                RawRedisMode::Channel => RedisMode::Channel,
                RawRedisMode::Stream => RedisMode::Stream,
            },
            key,
            stream_maxlen: ranged(
                p,
                &path.key("stream_maxlen"),
                raw.stream_maxlen,
                1,
                1_000_000_000,
                d.stream_maxlen,
            ),
            batch_lines: non_zero(ranged(
                p,
                &path.key("batch_lines"),
                raw.batch_lines,
                1,
                65_536,
                d.batch_lines,
            )),
        }
    }
}

/// Records a problem unless `text` is a Redis URL virga can use: `redis://host[:port][/db]`,
/// `rediss://…` or `redis+unix:///path[?db=N]`. The reasons never repeat the URL, which may hold
/// a password.
fn redis_url(p: &mut Problems, path: &KeyPath, text: &str) -> bool {
    if !plain_text(p, path, text) {
        return false;
    }
    let reason = match url::Url::parse(text) {
        Err(e) => Some(format!(
            "not a URL ({e}); expected redis://host:port/db, rediss://… or redis+unix:///path"
        )),
        Ok(u) => match u.scheme() {
            "redis" | "rediss" => {
                let db = u.path().trim_start_matches('/');
                if u.host_str().is_none_or(str::is_empty) {
                    Some("has no host; expected redis://host:port/db".to_owned())
                } else if !db.is_empty() && db.parse::<u32>().is_err() {
                    Some("the path must be a database number (redis://host:port/0)".to_owned())
                } else {
                    None
                }
            }
            "redis+unix" | "unix" => {
                if u.path().is_empty() || u.path() == "/" {
                    Some("has no socket path; expected redis+unix:///path/to/redis.sock".to_owned())
                } else {
                    None
                }
            }
            other => Some(format!(
                "scheme `{other}` is not one of redis, rediss, redis+unix"
            )),
        },
    };
    match reason {
        Some(r) => {
            p.push(path.clone(), r);
            false
        }
        None => true,
    }
}

impl Default for Output {
    /// The documented defaults.
    fn default() -> Self {
        Output::build(
            &RawOutput::default(),
            &KeyPath::root(),
            &mut Problems::default(),
        )
    }
}

impl Output {
    fn build(raw: &RawOutput, path: &KeyPath, p: &mut Problems) -> Self {
        let d = RawOutput::default();
        let eve = if raw.eve_path == "-" {
            EveTarget::Stdout
        } else if plain_text(p, &path.key("eve_path"), &raw.eve_path) {
            EveTarget::File(PathBuf::from(&raw.eve_path))
        } else {
            EveTarget::File(PathBuf::from(&d.eve_path))
        };
        let socket_path = raw.socket_path.as_ref().filter(|s| {
            let at = path.key("socket_path");
            if !plain_text(p, &at, s) {
                return false;
            }
            // sun_path holds 108 bytes including the terminating NUL.
            if s.len() > 107 {
                p.push(
                    at,
                    format!(
                        "{} bytes is too long for a Unix socket path; at most 107",
                        s.len()
                    ),
                );
                return false;
            }
            true
        });
        let stats = ranged(
            p,
            &path.key("stats_interval_secs"),
            raw.stats_interval_secs,
            0,
            86_400,
            d.stats_interval_secs,
        );
        Output {
            eve,
            socket_path: socket_path.map(PathBuf::from),
            flush_interval: Duration::from_millis(ranged(
                p,
                &path.key("flush_interval_ms"),
                raw.flush_interval_ms,
                0,
                60_000,
                d.flush_interval_ms,
            )),
            log_all: raw.log_all,
            stats_interval: (stats > 0).then(|| Duration::from_secs(stats)),
            community_id_seed: u16::try_from(ranged(
                p,
                &path.key("community_id_seed"),
                raw.community_id_seed,
                0,
                u64::from(u16::MAX),
                d.community_id_seed,
            ))
            .unwrap_or(0),
            redis: raw
                .redis
                .as_ref()
                .map(|r| RedisOutput::build(r, &path.key("redis"), p)),
        }
    }
}

/// `[run]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Run {
    /// User to switch to after opening capture. Default: none.
    pub run_as_user: Option<String>,
    /// Group to switch to after opening capture. Default: none.
    pub run_as_group: Option<String>,
    /// Allow processing packets as root. Default: false.
    pub allow_root: bool,
}

impl Run {
    fn build(raw: &RawRun, path: &KeyPath, p: &mut Problems) -> Self {
        let mut account = |key: &str, v: &Option<String>| {
            v.as_ref()
                .filter(|name| {
                    let ok = is_account_name(name);
                    if !ok {
                        p.push(
                            path.key(key),
                            format!(
                                "`{name}` is not a user/group name or numeric id (letters, digits, \
                                 `_`, `-`, `.`, at most 32 bytes, not starting with `-`)"
                            ),
                        );
                    }
                    ok
                })
                .cloned()
        };
        Run {
            run_as_user: account("run_as_user", &raw.run_as_user),
            run_as_group: account("run_as_group", &raw.run_as_group),
            allow_root: raw.allow_root,
        }
    }
}

/// POSIX-portable user/group names, or a numeric id.
fn is_account_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// `[attribution]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribution {
    /// Sysmon event files or folders `virga run` follows. Default: none.
    pub sysmon_paths: Vec<PathBuf>,
    /// Largest |event time − packet time| for an event to name a process. Default: 5 s.
    pub skew: Duration,
    /// Host events held at once. Default: 262144.
    pub max_events: NonZeroUsize,
}

impl Default for Attribution {
    fn default() -> Self {
        Attribution::build(
            &RawAttribution::default(),
            &KeyPath::keys("attribution"),
            &mut Problems::default(),
        )
    }
}

impl Attribution {
    fn build(raw: &RawAttribution, path: &KeyPath, p: &mut Problems) -> Self {
        let d = RawAttribution::default();
        let sysmon_paths = raw
            .sysmon_paths
            .iter()
            .enumerate()
            .filter(|(i, text)| plain_text(p, &path.key("sysmon_paths").index(*i), text))
            .map(|(_, text)| PathBuf::from(text))
            .collect();
        let skew = ranged(
            p,
            &path.key("skew_secs"),
            raw.skew_secs,
            0,
            300,
            d.skew_secs,
        );
        let max_events = ranged(
            p,
            &path.key("max_events"),
            raw.max_events,
            1024,
            16_777_216,
            d.max_events,
        );
        Attribution {
            sysmon_paths,
            skew: Duration::from_secs(skew),
            max_events: non_zero(max_events),
        }
    }
}

/// `[metrics]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Address of the metrics endpoint; `None` = off. Default: none.
    pub listen: Option<SocketAddr>,
}

impl Metrics {
    fn build(raw: &RawMetrics, path: &KeyPath, p: &mut Problems) -> Self {
        let listen = raw
            .listen
            .as_deref()
            .and_then(|text| match text.parse::<SocketAddr>() {
                Ok(addr) if addr.port() == 0 => {
                    p.push(path.key("listen"), "port 0 is not allowed; choose a port");
                    None
                }
                Ok(addr) => Some(addr),
                Err(_) => {
                    p.push(
                        path.key("listen"),
                        format!("`{text}` is not an address:port (`127.0.0.1:9911`, `[::1]:9911`)"),
                    );
                    None
                }
            });
        Metrics { listen }
    }
}

/// `[detect]`: one section per detector.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Detect {
    /// `[detect.beacon]`.
    pub beacon: BeaconDetect,
    /// `[detect.client]`.
    pub client: ClientDetect,
    /// `[detect.dns]`.
    pub dns: DnsDetect,
    /// `[detect.prevalence]`.
    pub prevalence: Prevalence,
}

impl Detect {
    fn build(raw: &RawDetect, path: &KeyPath, p: &mut Problems) -> Self {
        Detect {
            beacon: BeaconDetect::build(&raw.beacon, &path.key("beacon"), p),
            client: ClientDetect::build(&raw.client, &path.key("client"), p),
            dns: DnsDetect::build(&raw.dns, &path.key("dns"), p),
            prevalence: Prevalence::build(&raw.prevalence, &path.key("prevalence"), p),
        }
    }
}

/// `[detect.beacon]`: periodic client→function traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct BeaconDetect {
    /// Run the detector. Default: true.
    pub enabled: bool,
    /// Beats before a pair is scored. Default: 6; 3 to 64.
    pub min_beats: u32,
    /// Alert threshold of the beacon score. Default: 0.7; 0.0 to 1.0.
    pub score_threshold: f64,
    /// Connections starting within this time of a beat's first are the same beat.
    /// Default: 3 s; 0 to 600 s.
    pub beat_merge: Duration,
    /// Same-class clients of a name expected of one intrusion. Default: 3; 1 to 1000000.
    pub prevalence_free_clients: u32,
    /// Alert threshold for browser-class pairs. Default: 0.9; 0.0 to 1.0.
    pub browser_score_threshold: f64,
    /// Least jitter (fraction of the longest interval) for a browser-class alert.
    /// Default: 0.1; 0.0 to 1.0.
    pub browser_min_jitter: f64,
    /// Quiet time per pair after an alert. Default: 3600 s; 0 to 604800 s.
    pub realert_quiet: Duration,
    /// Which pairs are scored. Default: [`BeaconScope::Serverless`].
    pub scope: BeaconScope,
    /// Client silence inside a connection after which a client→server burst is a beat of
    /// its own. Default: 1 s; 0.1 to 600 s.
    pub burst_idle: Duration,
    /// With [`BeaconScope::All`]: server ports of infrastructure protocols left out.
    pub infrastructure_ports: Vec<u16>,
    /// Pairs tracked per worker. Default: 65536; 1 to 16777216.
    pub max_pairs_per_worker: NonZeroUsize,
}

impl Default for BeaconDetect {
    /// The documented defaults.
    fn default() -> Self {
        BeaconDetect::build(
            &RawBeacon::default(),
            &KeyPath::root(),
            &mut Problems::default(),
        )
    }
}

/// Which (client, destination) pairs the beacon detector scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeaconScope {
    /// Destinations whose name, or a name of its DNS chain, is catalogued.
    Serverless,
    /// Every destination: a name, or the address when the client used none.
    All,
}

/// Port numbers of a list, each checked to be 1 to 65535 (problems under `path[i]`).
fn ports(p: &mut Problems, path: &KeyPath, raw: &[u64]) -> Vec<u16> {
    raw.iter()
        .enumerate()
        .filter_map(|(i, &v)| {
            let ok = p.range(&path.index(i), v, 1, 65_535);
            ok.then(|| u16::try_from(v).ok()).flatten()
        })
        .collect()
}

impl BeaconDetect {
    fn build(raw: &RawBeacon, path: &KeyPath, p: &mut Problems) -> Self {
        let d = RawBeacon::default();
        if raw.all_names.is_some() {
            p.push(
                path.key("all_names"),
                "replaced by `scope`: write scope = \"all\" to score every destination \
                 (without the key, scope = \"serverless\")",
            );
        }
        let mut fraction = |key: &str, value: f64, fallback: f64| {
            if p.range(&path.key(key), value, 0.0, 1.0) {
                value
            } else {
                fallback
            }
        };
        let score_threshold = fraction("score_threshold", raw.score_threshold, d.score_threshold);
        let browser_score_threshold = fraction(
            "browser_score_threshold",
            raw.browser_score_threshold,
            d.browser_score_threshold,
        );
        let browser_min_jitter = fraction(
            "browser_min_jitter_fraction",
            raw.browser_min_jitter_fraction,
            d.browser_min_jitter_fraction,
        );
        BeaconDetect {
            enabled: raw.enabled,
            min_beats: u32::try_from(ranged(
                p,
                &path.key("min_beats"),
                raw.min_beats,
                3,
                64,
                d.min_beats,
            ))
            .unwrap_or(u32::MAX),
            score_threshold,
            beat_merge: Duration::from_millis(ranged(
                p,
                &path.key("beat_merge_ms"),
                raw.beat_merge_ms,
                0,
                600_000,
                d.beat_merge_ms,
            )),
            prevalence_free_clients: u32::try_from(ranged(
                p,
                &path.key("prevalence_free_clients"),
                raw.prevalence_free_clients,
                1,
                1_000_000,
                d.prevalence_free_clients,
            ))
            .unwrap_or(u32::MAX),
            browser_score_threshold,
            browser_min_jitter,
            realert_quiet: Duration::from_secs(ranged(
                p,
                &path.key("realert_quiet_secs"),
                raw.realert_quiet_secs,
                0,
                604_800,
                d.realert_quiet_secs,
            )),
            scope: match raw.scope {
                RawBeaconScope::Serverless => BeaconScope::Serverless,
                RawBeaconScope::All => BeaconScope::All,
            },
            burst_idle: Duration::from_millis(ranged(
                p,
                &path.key("burst_idle_ms"),
                raw.burst_idle_ms,
                100,
                600_000,
                d.burst_idle_ms,
            )),
            infrastructure_ports: ports(
                p,
                &path.key("infrastructure_ports"),
                &raw.infrastructure_ports,
            ),
            max_pairs_per_worker: non_zero(ranged(
                p,
                &path.key("max_pairs_per_worker"),
                raw.max_pairs_per_worker,
                1,
                1 << 24,
                d.max_pairs_per_worker,
            )),
        }
    }
}

/// `[detect.client]`: browser or not, from the ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientDetect {
    /// Run the detector. Default: true.
    pub enabled: bool,
    /// JA4s added to the shipped browser table. Default: none.
    pub browser_ja4: Vec<String>,
    /// JA4s always classified as non-browser; they win over browser entries. Default: none.
    pub non_browser_ja4: Vec<String>,
    /// Quiet time per (client, server name) after a non-browser-client alert.
    /// Default: 86400 s; 0 to 2592000 s.
    pub quiet: Duration,
}

impl Default for ClientDetect {
    /// The documented defaults.
    fn default() -> Self {
        ClientDetect::build(
            &RawClientDetect::default(),
            &KeyPath::root(),
            &mut Problems::default(),
        )
    }
}

impl ClientDetect {
    fn build(raw: &RawClientDetect, path: &KeyPath, p: &mut Problems) -> Self {
        let d = RawClientDetect::default();
        let list = |key: &str, values: &[String], p: &mut Problems| -> Vec<String> {
            let at = path.key(key);
            values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| match check_ja4(v) {
                    Ok(()) => Some(v.clone()),
                    Err(reason) => {
                        p.push(at.index(i), reason);
                        None
                    }
                })
                .collect()
        };
        ClientDetect {
            enabled: raw.enabled,
            browser_ja4: list("browser_ja4", &raw.browser_ja4, p),
            non_browser_ja4: list("non_browser_ja4", &raw.non_browser_ja4, p),
            quiet: Duration::from_secs(ranged(
                p,
                &path.key("quiet_secs"),
                raw.quiet_secs,
                0,
                2_592_000,
                d.quiet_secs,
            )),
        }
    }
}

/// `[detect.prevalence]`: distinct internal clients of each class per server name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prevalence {
    /// Window over which distinct clients per server name are counted. Default: 86400 s;
    /// 60 s to 2592000 s.
    pub window: Duration,
    /// Server names tracked; the least recently seen is forgotten. Default: 65536;
    /// 1 to 16777216.
    pub max_names: NonZeroUsize,
    /// Redis server through which several sensors share the counts. Default: none.
    pub redis_url: Option<String>,
}

impl Default for Prevalence {
    /// The documented defaults.
    fn default() -> Self {
        Prevalence::build(
            &RawPrevalence::default(),
            &KeyPath::root(),
            &mut Problems::default(),
        )
    }
}

impl Prevalence {
    fn build(raw: &RawPrevalence, path: &KeyPath, p: &mut Problems) -> Self {
        let d = RawPrevalence::default();
        Prevalence {
            window: Duration::from_secs(ranged(
                p,
                &path.key("window_secs"),
                raw.window_secs,
                60,
                2_592_000,
                d.window_secs,
            )),
            max_names: non_zero(ranged(
                p,
                &path.key("max_names"),
                raw.max_names,
                1,
                1 << 24,
                d.max_names,
            )),
            redis_url: raw
                .redis_url
                .as_ref()
                .filter(|u| redis_url(p, &path.key("redis_url"), u))
                .cloned(),
        }
    }
}

/// `[detect.dns]`: DNS anomalies under catalogued names, per client and per account label.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsDetect {
    /// Run the detector. Default: true.
    pub enabled: bool,
    /// Sliding window of the random-subdomain, NXDOMAIN and TXT counts. Default: 300 s;
    /// 10 s to 86400 s.
    pub window: Duration,
    /// Randomness score (0 to 1) from which a subdomain is random-looking. Default: 0.35.
    pub randomness_threshold: f64,
    /// Distinct random-looking subdomains in the window for an alert. Default: 10; 2 to 256.
    pub random_names_min: u32,
    /// Distinct NXDOMAIN names in the window for an alert. Default: 10; 2 to 256.
    pub nxdomain_names_min: u32,
    /// TXT/NULL/ANY queries in the window for an alert. Default: 5; 2 to 256.
    pub txt_queries_min: u32,
    /// Rate bucket length. Default: 10 s; 1 s to 3600 s.
    pub rate_bucket: Duration,
    /// Queries in one bucket for a rate spike. Default: 50; 2 to 1000000.
    pub rate_queries_min: u32,
    /// Spike factor over the usual rate. Default: 10.0; 1.0 to 1000.0.
    pub rate_factor: f64,
    /// First sightings of accounts are reported for platforms of this tier or a
    /// lower-numbered one; `None` (key value 0) = never. Default: tier 1.
    pub new_account_max_tier: Option<Tier>,
    /// Quiet time per (client, account, kind) after an alert. Default: 3600 s; 0 to 604800 s.
    pub realert_quiet: Duration,
    /// (client, account) pairs tracked per worker. Default: 16384; 1 to 16777216.
    pub max_tracks_per_worker: NonZeroUsize,
    /// Accounts remembered per worker for first sightings. Default: 65536; 1 to 16777216.
    pub max_accounts_per_worker: NonZeroUsize,
}

impl Default for DnsDetect {
    /// The documented defaults.
    fn default() -> Self {
        DnsDetect::build(
            &RawDnsDetect::default(),
            &KeyPath::root(),
            &mut Problems::default(),
        )
    }
}

impl DnsDetect {
    fn build(raw: &RawDnsDetect, path: &KeyPath, p: &mut Problems) -> Self {
        let d = RawDnsDetect::default();
        let float = |p: &mut Problems, key: &str, v: f64, lo: f64, hi: f64, dv: f64| {
            if p.range(&path.key(key), v, lo, hi) {
                v
            } else {
                dv
            }
        };
        let count = |p: &mut Problems, key: &str, v: u64, lo: u64, hi: u64, dv: u64| {
            u32::try_from(ranged(p, &path.key(key), v, lo, hi, dv)).unwrap_or(u32::MAX)
        };
        let tier = ranged(
            p,
            &path.key("new_account_max_tier"),
            raw.new_account_max_tier,
            0,
            3,
            d.new_account_max_tier,
        );
        DnsDetect {
            enabled: raw.enabled,
            window: Duration::from_secs(ranged(
                p,
                &path.key("window_secs"),
                raw.window_secs,
                10,
                86_400,
                d.window_secs,
            )),
            randomness_threshold: float(
                p,
                "randomness_threshold",
                raw.randomness_threshold,
                0.0,
                1.0,
                d.randomness_threshold,
            ),
            random_names_min: count(
                p,
                "random_names_min",
                raw.random_names_min,
                2,
                256,
                d.random_names_min,
            ),
            nxdomain_names_min: count(
                p,
                "nxdomain_names_min",
                raw.nxdomain_names_min,
                2,
                256,
                d.nxdomain_names_min,
            ),
            txt_queries_min: count(
                p,
                "txt_queries_min",
                raw.txt_queries_min,
                2,
                256,
                d.txt_queries_min,
            ),
            rate_bucket: Duration::from_secs(ranged(
                p,
                &path.key("rate_bucket_secs"),
                raw.rate_bucket_secs,
                1,
                3600,
                d.rate_bucket_secs,
            )),
            rate_queries_min: count(
                p,
                "rate_queries_min",
                raw.rate_queries_min,
                2,
                1_000_000,
                d.rate_queries_min,
            ),
            rate_factor: float(
                p,
                "rate_factor",
                raw.rate_factor,
                1.0,
                1000.0,
                d.rate_factor,
            ),
            new_account_max_tier: Tier::from_number(tier),
            realert_quiet: Duration::from_secs(ranged(
                p,
                &path.key("realert_quiet_secs"),
                raw.realert_quiet_secs,
                0,
                604_800,
                d.realert_quiet_secs,
            )),
            max_tracks_per_worker: non_zero(ranged(
                p,
                &path.key("max_tracks_per_worker"),
                raw.max_tracks_per_worker,
                1,
                1 << 24,
                d.max_tracks_per_worker,
            )),
            max_accounts_per_worker: non_zero(ranged(
                p,
                &path.key("max_accounts_per_worker"),
                raw.max_accounts_per_worker,
                1,
                1 << 24,
                d.max_accounts_per_worker,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(raw: &RawConfig) -> Vec<String> {
        Config::validate(raw)
            .1
            .into_iter()
            .map(|p| p.path.to_string())
            .collect()
    }

    #[test]
    fn defaults_validate_cleanly_and_match_default() {
        let (c, p) = Config::validate(&RawConfig::default());
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(c, Config::default());
        assert_eq!(
            Config::try_from(RawConfig::default()).ok(),
            Some(Config::default())
        );
        assert_eq!(c.capture.snaplen_bytes, 65_535);
        assert_eq!(c.capture.buffer_size_bytes, 32 << 20);
        assert_eq!(c.capture.live_queue_full, QueueFullPolicy::Drop);
        assert_eq!(c.pipeline.workers, None);
        assert!(c.pipeline.worker_count().get() >= 1);
        assert_eq!(c.pipeline.batch_packets.get(), 64);
        assert_eq!(c.flow.tcp_idle_timeout, Duration::from_secs(600));
        assert_eq!(c.flow.tcp_new_timeout, Duration::from_secs(30));
        assert_eq!(c.flow.tcp_closed_timeout, Duration::from_secs(10));
        assert_eq!(c.flow.udp_idle_timeout, Duration::from_secs(60));
        assert_eq!(c.names.min_ttl, Duration::from_secs(30));
        assert_eq!(c.output.eve, EveTarget::File("eve.json".into()));
        assert_eq!(c.output.flush_interval, Duration::from_millis(1000));
        assert_eq!(c.output.stats_interval, Some(Duration::from_secs(60)));
        assert_eq!(c.metrics.listen, None);
        assert!(!c.run.allow_root);
        assert_eq!(c.detect.beacon.min_beats, 6);
        assert_eq!(c.detect.beacon.score_threshold, 0.7);
        assert_eq!(c.detect.beacon.realert_quiet, Duration::from_secs(3600));
        assert_eq!(c.detect.beacon.beat_merge, Duration::from_secs(3));
        assert_eq!(c.detect.beacon.prevalence_free_clients, 3);
        assert_eq!(c.detect.beacon.browser_score_threshold, 0.9);
        assert_eq!(c.detect.beacon.browser_min_jitter, 0.1);
        assert!(c.detect.client.enabled && c.detect.dns.enabled);
        assert_eq!(c.detect.client.quiet, Duration::from_secs(86_400));
        assert_eq!(c.detect.prevalence.window, Duration::from_secs(86_400));
        assert_eq!(c.detect.prevalence.max_names.get(), 65_536);
        assert_eq!(Prevalence::default(), c.detect.prevalence);
        assert_eq!(c.catalogue, Catalogue::builtin());
        assert!(c.allowlist.is_empty());
        assert_eq!(Capture::default(), c.capture);
        assert_eq!(Pipeline::default(), c.pipeline);
        assert_eq!(Flow::default(), c.flow);
        assert_eq!(Names::default(), c.names);
        assert_eq!(Output::default(), c.output);
        assert_eq!(BeaconDetect::default(), c.detect.beacon);
    }

    #[test]
    fn special_values() {
        let mut raw = RawConfig::default();
        raw.pipeline.workers = 4;
        raw.output.eve_path = "-".into();
        raw.output.stats_interval_secs = 0;
        raw.output.community_id_seed = 65_535;
        raw.metrics.listen = Some("[::1]:9911".into());
        raw.capture.live_queue_full = RawQueueFull::Block;
        let c = Config::try_from(raw).unwrap();
        assert_eq!(c.pipeline.workers.map(NonZeroUsize::get), Some(4));
        assert_eq!(c.pipeline.worker_count().get(), 4);
        assert_eq!(c.output.eve, EveTarget::Stdout);
        assert_eq!(c.output.stats_interval, None);
        assert_eq!(c.output.community_id_seed, 65_535);
        assert_eq!(c.metrics.listen, Some("[::1]:9911".parse().unwrap()));
        assert_eq!(c.capture.live_queue_full, QueueFullPolicy::Block);
    }

    #[test]
    fn every_range_problem_is_reported() {
        let mut raw = RawConfig::default();
        raw.capture.interface = Some("eth 0".into());
        raw.capture.snaplen_bytes = 10;
        raw.capture.buffer_size_bytes = 1 << 31;
        raw.capture.bpf_filter = "tcp\0".into();
        raw.pipeline.workers = 5000;
        raw.pipeline.batch_packets = 0;
        raw.pipeline.queue_batches = 0;
        raw.flow.max_flows = 0;
        raw.flow.tcp_idle_timeout_secs = 0;
        raw.flow.tcp_new_timeout_secs = 0;
        raw.flow.tcp_closed_timeout_secs = 3601;
        raw.flow.udp_idle_timeout_secs = 0;
        raw.flow.first_flight_max_bytes = 10;
        raw.flow.first_flight_max_segments = 0;
        raw.names.max_entries_per_worker = 0;
        raw.names.max_ttl_secs = 100;
        raw.names.min_ttl_secs = 200;
        raw.output.eve_path = String::new();
        raw.output.socket_path = Some("/".repeat(108));
        raw.output.flush_interval_ms = 60_001;
        raw.output.stats_interval_secs = 86_401;
        raw.output.community_id_seed = 65_536;
        raw.run.run_as_user = Some("-root".into());
        raw.run.run_as_group = Some("wheel group".into());
        raw.metrics.listen = Some("localhost:9911".into());
        raw.detect.beacon.min_beats = 2;
        raw.detect.beacon.score_threshold = f64::NAN;
        raw.detect.beacon.realert_quiet_secs = 604_801;
        raw.detect.beacon.max_pairs_per_worker = 0;
        raw.detect.beacon.beat_merge_ms = 600_001;
        raw.detect.beacon.prevalence_free_clients = 0;
        raw.detect.beacon.browser_score_threshold = 1.5;
        raw.detect.beacon.browser_min_jitter_fraction = -0.1;
        let got = problems(&raw);
        let want = [
            "capture.interface",
            "capture.bpf_filter",
            "capture.snaplen_bytes",
            "capture.buffer_size_bytes",
            "pipeline.workers",
            "pipeline.batch_packets",
            "pipeline.queue_batches",
            "flow.max_flows",
            "flow.tcp_idle_timeout_secs",
            "flow.tcp_new_timeout_secs",
            "flow.tcp_closed_timeout_secs",
            "flow.udp_idle_timeout_secs",
            "flow.first_flight_max_bytes",
            "flow.first_flight_max_segments",
            "names.min_ttl_secs",
            "names.max_entries_per_worker",
            "output.eve_path",
            "output.socket_path",
            "output.stats_interval_secs",
            "output.flush_interval_ms",
            "output.community_id_seed",
            "run.run_as_user",
            "run.run_as_group",
            "metrics.listen",
            "detect.beacon.score_threshold",
            "detect.beacon.browser_score_threshold",
            "detect.beacon.browser_min_jitter_fraction",
            "detect.beacon.min_beats",
            "detect.beacon.beat_merge_ms",
            "detect.beacon.prevalence_free_clients",
            "detect.beacon.realert_quiet_secs",
            "detect.beacon.max_pairs_per_worker",
        ];
        assert_eq!(got, want);
        // Invalid values fall back to defaults in the (discarded) model.
        let (c, _) = Config::validate(&raw);
        assert_eq!(c.capture.snaplen_bytes, 65_535);
        assert!(c.names.min_ttl <= c.names.max_ttl);
        assert!(Config::try_from(raw).is_err());
    }

    #[test]
    fn detect_client_and_dns_defaults_and_problems() {
        let c = Config::default();
        let dns = &c.detect.dns;
        assert_eq!(dns.window, Duration::from_secs(300));
        assert_eq!(dns.randomness_threshold, 0.35);
        assert_eq!(
            (
                dns.random_names_min,
                dns.nxdomain_names_min,
                dns.txt_queries_min
            ),
            (10, 10, 5)
        );
        assert_eq!(dns.rate_bucket, Duration::from_secs(10));
        assert_eq!((dns.rate_queries_min, dns.rate_factor), (50, 10.0));
        assert_eq!(dns.new_account_max_tier, Some(Tier::One));
        assert_eq!(dns.realert_quiet, Duration::from_secs(3600));
        assert_eq!(dns.max_tracks_per_worker.get(), 16_384);
        assert_eq!(dns.max_accounts_per_worker.get(), 65_536);
        assert_eq!(DnsDetect::default(), *dns);
        assert_eq!(ClientDetect::default(), c.detect.client);
        assert!(
            c.detect.client.browser_ja4.is_empty() && c.detect.client.non_browser_ja4.is_empty()
        );

        let mut raw = RawConfig::default();
        raw.detect.client.browser_ja4 = vec![
            "t13d1516h2_8daaf6152771_02713d6af862".into(),
            "t13d1516h2_8daaf6152771".into(),
        ];
        raw.detect.client.non_browser_ja4 = vec!["not a ja4".into()];
        raw.detect.client.quiet_secs = 2_592_001;
        raw.detect.dns.window_secs = 5;
        raw.detect.dns.randomness_threshold = 1.5;
        raw.detect.dns.random_names_min = 1;
        raw.detect.dns.nxdomain_names_min = 257;
        raw.detect.dns.txt_queries_min = 0;
        raw.detect.dns.rate_bucket_secs = 0;
        raw.detect.dns.rate_queries_min = 1;
        raw.detect.dns.rate_factor = 0.5;
        raw.detect.dns.new_account_max_tier = 4;
        raw.detect.dns.realert_quiet_secs = 604_801;
        raw.detect.dns.max_tracks_per_worker = 0;
        raw.detect.dns.max_accounts_per_worker = 0;
        assert_eq!(
            problems(&raw),
            [
                "detect.client.browser_ja4[1]",
                "detect.client.non_browser_ja4[0]",
                "detect.client.quiet_secs",
                "detect.dns.new_account_max_tier",
                "detect.dns.window_secs",
                "detect.dns.randomness_threshold",
                "detect.dns.random_names_min",
                "detect.dns.nxdomain_names_min",
                "detect.dns.txt_queries_min",
                "detect.dns.rate_bucket_secs",
                "detect.dns.rate_queries_min",
                "detect.dns.rate_factor",
                "detect.dns.realert_quiet_secs",
                "detect.dns.max_tracks_per_worker",
                "detect.dns.max_accounts_per_worker",
            ]
        );
        let (c, _) = Config::validate(&raw);
        assert_eq!(
            c.detect.client.browser_ja4,
            ["t13d1516h2_8daaf6152771_02713d6af862"]
        );
        assert_eq!(c.detect.dns, DnsDetect::default());
        assert_eq!(c.detect.client.quiet, Duration::from_secs(86_400));

        raw = RawConfig::default();
        raw.detect.dns.new_account_max_tier = 0;
        let c = Config::try_from(raw).unwrap();
        assert_eq!(c.detect.dns.new_account_max_tier, None);
    }

    #[test]
    fn new_timeout_quiet_and_prevalence_ranges() {
        let mut raw = RawConfig::default();
        raw.flow.tcp_new_timeout_secs = 86_400;
        raw.detect.client.quiet_secs = 0;
        raw.detect.prevalence.window_secs = 60;
        raw.detect.prevalence.max_names = 1;
        let c = Config::try_from(raw.clone()).unwrap();
        assert_eq!(c.flow.tcp_new_timeout, Duration::from_secs(86_400));
        assert_eq!(c.detect.client.quiet, Duration::ZERO);
        assert_eq!(c.detect.prevalence.window, Duration::from_secs(60));
        assert_eq!(c.detect.prevalence.max_names.get(), 1);

        raw.flow.tcp_new_timeout_secs = 86_401;
        raw.detect.client.quiet_secs = 2_592_000;
        raw.detect.prevalence.window_secs = 59;
        raw.detect.prevalence.max_names = 0;
        assert_eq!(
            problems(&raw),
            [
                "flow.tcp_new_timeout_secs",
                "detect.prevalence.window_secs",
                "detect.prevalence.max_names",
            ]
        );
        raw.detect.prevalence.window_secs = 2_592_001;
        raw.detect.prevalence.max_names = (1 << 24) + 1;
        let (c, p) = Config::validate(&raw);
        assert_eq!(p.len(), 3);
        // Out-of-range values fall back to the defaults.
        assert_eq!(c.flow.tcp_new_timeout, Duration::from_secs(30));
        assert_eq!(c.detect.prevalence, Prevalence::default());
        assert_eq!(c.detect.client.quiet, Duration::from_secs(2_592_000));
    }

    #[test]
    fn port_zero_and_account_names() {
        let mut raw = RawConfig::default();
        raw.metrics.listen = Some("127.0.0.1:0".into());
        raw.run.run_as_user = Some("virga".into());
        raw.run.run_as_group = Some("995".into());
        assert_eq!(problems(&raw), ["metrics.listen"]);
        assert!(is_account_name("_virga-1.x"));
        assert!(!is_account_name(""));
        assert!(!is_account_name(&"a".repeat(33)));
    }
}
