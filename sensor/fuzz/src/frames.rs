//! The `sensor_frames` input format, a packet source over it, and a replay of
//! it through the sensor's real pipeline into an EVE file.
//!
//! Format: a sequence of records, each
//! `[link selector: u8][time delta: u16 BE][length: u16 BE][frame bytes]`.
//! The selector picks the link type from [`LINKS`] (modulo its length); the
//! delta advances packet time by that many milliseconds, or, when its top bit
//! is set, by its low 15 bits in seconds (so flow timeouts, beacon periods and
//! stats intervals are reachable); the frame is cut to the bytes left. A
//! trailing record shorter than its 5-byte header is ignored. Packet time
//! starts at [`BASE_SECS`].
//!
//! `benches/src/bin/virga-fuzz-seeds.rs` writes seeds in this format from
//! real captures.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use virga::capture::{CaptureError, CaptureStats, Next, PacketSource, RawPacket};
use virga::output::{Output, Target};
use virga::pipeline::Pipeline;
use virga::time::Timestamp;

/// Link types in selector order (the same table as the parsers'
/// `packet_decode` target: the supported types plus one unsupported).
pub const LINKS: [u32; 11] = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 147];

/// Packet time of the first record, seconds since the epoch.
pub const BASE_SECS: u64 = 1_700_000_000;

/// Capacity of the flow, name, beacon-pair, DNS-track and prevalence tables.
pub const SMALL_TABLE: usize = 64;

/// Bytes of a record header.
pub const HEADER_LEN: usize = 5;

/// A packet source that yields the records of a `sensor_frames` input.
#[derive(Debug)]
pub struct FrameSource<'a> {
    rest: &'a [u8],
    now_ns: u64,
    count: u64,
}

impl<'a> FrameSource<'a> {
    /// A source over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        FrameSource {
            rest: data,
            now_ns: BASE_SECS * 1_000_000_000,
            count: 0,
        }
    }
}

impl PacketSource for FrameSource<'_> {
    fn next_packet(&mut self) -> Result<Next<'_>, CaptureError> {
        let Some((head, tail)) = self.rest.split_at_checked(HEADER_LEN) else {
            return Ok(Next::End);
        };
        let link = LINKS[usize::from(head[0]) % LINKS.len()];
        let dt = u16::from_be_bytes([head[1], head[2]]);
        let step_ns = if dt & 0x8000 != 0 {
            u64::from(dt & 0x7fff) * 1_000_000_000
        } else {
            u64::from(dt) * 1_000_000
        };
        let len = usize::from(u16::from_be_bytes([head[3], head[4]])).min(tail.len());
        let (frame, next) = tail.split_at(len);
        self.rest = next;
        self.now_ns += step_ns;
        self.count += 1;
        Ok(Next::Packet(RawPacket {
            ts: Timestamp(self.now_ns),
            linktype: link,
            data: frame,
            wire_len: u32::try_from(len).unwrap_or(u32::MAX),
            pcap_cnt: self.count,
        }))
    }

    fn origin(&self) -> &str {
        "fuzz.pcap"
    }

    fn is_live(&self) -> bool {
        false
    }

    fn stats(&mut self) -> CaptureStats {
        CaptureStats {
            received: self.count,
            ..Default::default()
        }
    }
}

/// Replays `data` through a pipeline with the default configuration except
/// for [`SMALL_TABLE`]-sized tables (two workers, every flow logged, a
/// `stats` event each minute of packet time)
/// whose EVE lines go to the file `eve`; returns what was written and the
/// number of frames replayed.
pub fn replay(data: &[u8], eve: &Path) -> std::io::Result<(String, u64)> {
    // Output opens in append mode: start from an empty file.
    std::fs::File::create(eve)?;
    // Small tables: eviction paths become reachable, and starting a
    // pipeline per input stays cheap (the LRU tables allocate their full
    // capacity up front).
    let small = NonZeroUsize::new(SMALL_TABLE).unwrap_or(NonZeroUsize::MIN);
    let mut cfg = virga_config::Config::default();
    cfg.flow.max_flows = small;
    cfg.names.max_entries_per_worker = small;
    cfg.detect.beacon.max_pairs_per_worker = small;
    cfg.detect.dns.max_tracks_per_worker = small;
    cfg.detect.dns.max_accounts_per_worker = small;
    let known = virga_config::shipped_ja4().expect("the shipped JA4 table is valid");
    let mut pc = virga::settings::pipeline_config(&cfg, true, false, &known);
    pc.workers = 2;
    pc.stats_interval_secs = Some(60);
    pc.engine.prevalence_max_names = small;
    let target = Target::File(eve.to_string_lossy().into_owned());
    let output = Output::start(&target, Duration::from_millis(100))?;
    let mut pipeline = Pipeline::start(pc, &output.sender())?;
    let mut source = FrameSource::new(data);
    // The source never fails.
    let _ = pipeline.run_source(&mut source, &AtomicBool::new(false));
    pipeline.finish();
    output.finish();
    Ok((std::fs::read_to_string(eve)?, source.count))
}

/// The per-process EVE file the fuzz target writes.
fn temp_eve() -> PathBuf {
    std::env::temp_dir().join(format!("virga-sensor-fuzz-{}.eve", std::process::id()))
}

/// [`replay`] into a per-process temporary file. Panics when the file cannot
/// be written or read back (not an input problem: the fuzzer should stop).
pub fn replay_to_temp(data: &[u8]) -> (String, u64) {
    match replay(data, &temp_eve()) {
        Ok(s) => s,
        Err(e) => panic!("EVE temp file: {e}"),
    }
}

/// Checks EVE output of a replay of `frames` frames: every line is a JSON
/// object with a string `event_type`, and the last line is the final `stats`
/// event (written when there was at least one packet, else nothing is).
/// Returns the number of lines.
pub fn check_eve(eve: &str, frames: u64) -> Result<usize, String> {
    let mut n = 0;
    let mut last = String::new();
    for (i, line) in eve.lines().enumerate() {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("line {}: {e}: {line}", i + 1))?;
        let Some(t) = v.get("event_type").and_then(|t| t.as_str()) else {
            return Err(format!("line {}: no event_type: {line}", i + 1));
        };
        last = t.to_string();
        n += 1;
    }
    if !eve.is_empty() && !eve.ends_with('\n') {
        return Err("output does not end with a newline".into());
    }
    match (frames, last.as_str()) {
        (0, "") | (1.., "stats") => {}
        _ => return Err(format!("{frames} frames, last event {last:?}")),
    }
    Ok(n)
}
