//! How late EVE lines are: per event type, the delay from a packet's capture
//! to its line being handed to the outputs, kept in HDR histograms
//! (`hdrhistogram`) by the writer thread during live runs.
//!
//! The writer only sees finished lines, so the capture time is read back
//! from each line's own `timestamp` (the packet time, taken from the
//! kernel's capture timestamp on a live interface) and its type from
//! `event_type`; carrying the packet time beside every line would widen
//! every batch for a figure only live runs report. The delay is wall clock
//! minus packet time, so it means nothing in a replay: replays never record
//! it, and their output stays the same from run to run.
//!
//! Bounded: one histogram per event type, 1 µs to 1 h at two significant
//! digits (about 27 KiB each); a delay above the hour is counted as an hour,
//! a packet time in the future as 0.

use hdrhistogram::Histogram;

/// The event types whose delay is measured, in the order reported.
pub const EVENT_TYPES: [&str; 7] = ["alert", "dns", "tls", "quic", "http", "flow", "stats"];

/// Longest delay kept apart, microseconds (one hour).
const MAX_DELAY_US: u64 = 3_600_000_000;

/// The delay distribution of one event type.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LatencyQuantiles {
    /// Lines measured.
    pub count: u64,
    /// Median delay, microseconds.
    pub p50_us: u64,
    /// 99th percentile, microseconds.
    pub p99_us: u64,
    /// Largest delay, microseconds.
    pub max_us: u64,
}

/// The delays of every event type (`None`: no line of that type measured).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LatencySummary {
    /// One entry per [`EVENT_TYPES`] entry, in that order.
    pub by_type: [Option<LatencyQuantiles>; EVENT_TYPES.len()],
}

impl LatencySummary {
    /// True when no line was measured (always so in a replay).
    pub fn is_empty(&self) -> bool {
        self.by_type.iter().all(Option::is_none)
    }

    /// The measured event types with their delays.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, LatencyQuantiles)> + '_ {
        EVENT_TYPES
            .iter()
            .zip(self.by_type.iter())
            .filter_map(|(t, q)| q.map(|q| (*t, q)))
    }
}

/// The writer's histograms.
#[derive(Debug)]
pub struct LatencyRecorder {
    hists: Vec<Histogram<u64>>,
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyRecorder {
    /// Empty histograms, one per event type.
    pub fn new() -> Self {
        let hists = EVENT_TYPES
            .iter()
            .filter_map(|_| Histogram::new_with_bounds(1, MAX_DELAY_US, 2).ok())
            .collect();
        LatencyRecorder { hists }
    }

    /// Records every line of `batch` (complete EVE lines, each ending in a
    /// newline) as handed to the outputs at `now_ns` (nanoseconds since the
    /// epoch). Lines without a readable `timestamp` or of another type are
    /// skipped.
    pub fn record_batch(&mut self, batch: &[u8], now_ns: u64) {
        for line in batch.split(|b| *b == b'\n') {
            let (Some(ts), Some(kind)) = (line_time_ns(line), event_type_index(line)) else {
                continue;
            };
            let us = now_ns.saturating_sub(ts) / 1_000;
            if let Some(h) = self.hists.get_mut(kind) {
                h.saturating_record(us.clamp(1, MAX_DELAY_US));
            }
        }
    }

    /// p50, p99 and max of every event type seen so far.
    pub fn summary(&self) -> LatencySummary {
        let mut s = LatencySummary::default();
        for (slot, h) in s.by_type.iter_mut().zip(&self.hists) {
            if h.is_empty() {
                continue;
            }
            *slot = Some(LatencyQuantiles {
                count: h.len(),
                p50_us: h.value_at_quantile(0.5),
                p99_us: h.value_at_quantile(0.99),
                max_us: h.max(),
            });
        }
        s
    }
}

/// The index in [`EVENT_TYPES`] of a line's `event_type`.
fn event_type_index(line: &[u8]) -> Option<usize> {
    const KEY: &[u8] = b"\"event_type\":\"";
    // The common head puts it within the first 100 bytes or so.
    let head = line.get(..line.len().min(256))?;
    let at = head.windows(KEY.len()).position(|w| w == KEY)? + KEY.len();
    let rest = head.get(at..)?;
    let end = rest.iter().position(|b| *b == b'"')?;
    let name = rest.get(..end)?;
    EVENT_TYPES.iter().position(|t| t.as_bytes() == name)
}

/// The packet time of a line: its leading `{"timestamp":"YYYY-MM-DDTHH:MM:SS.ffffff+0000"`.
fn line_time_ns(line: &[u8]) -> Option<u64> {
    let t = line.strip_prefix(b"{\"timestamp\":\"")?.get(..31)?;
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let digits = t.get(r)?;
        digits.iter().try_fold(0u64, |acc, b| {
            b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
        })
    };
    let sep = |i: usize, c: u8| t.get(i) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':'))
        || !(sep(19, b'.') && t.get(26..31) == Some(b"+0000"))
    {
        return None;
    }
    let days = crate::time::days_from_civil(
        i64::try_from(num(0..4)?).ok()?,
        u32::try_from(num(5..7)?).ok()?,
        u32::try_from(num(8..10)?).ok()?,
    )?;
    let secs =
        u64::try_from(days).ok()? * 86_400 + num(11..13)? * 3600 + num(14..16)? * 60 + num(17..19)?;
    Some(secs * 1_000_000_000 + num(20..26)? * 1_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real line of Suricata's own output (`shared/eve/examples/dns.json`,
    /// copied here as the short head the writer reads).
    const DNS: &[u8] = br#"{"timestamp":"2026-11-29T14:40:16.717353+0000","flow_id":266261652586704,"pcap_cnt":3,"event_type":"dns","src_ip":"127.0.0.1"}"#;

    #[test]
    fn reads_time_and_type_of_real_lines() {
        assert_eq!(line_time_ns(DNS), Some(1_795_963_216_717_353_000));
        assert_eq!(event_type_index(DNS), Some(1));
        for bad in [
            &b""[..],
            b"{\"timestamp\":\"2026-11-29T14:40:16.717353+0100\"}",
            b"{\"timestamp\":\"2026-11-29 14:40:16.717353+0000\"}",
            b"{\"timestamp\":\"2026-13-29T14:40:16.717353+0000\"}",
            b"{\"flow_id\":1,\"timestamp\":\"2026-11-29T14:40:16.717353+0000\"}",
        ] {
            assert_eq!(line_time_ns(bad), None, "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(event_type_index(b"{\"event_type\":\"anomaly\"}"), None);
    }

    #[test]
    fn quantiles_per_event_type() {
        let mut r = LatencyRecorder::new();
        assert!(r.summary().is_empty());
        let t0 = line_time_ns(DNS).unwrap();
        let mut batch = Vec::new();
        for _ in 0..99 {
            batch.extend_from_slice(DNS);
            batch.push(b'\n');
        }
        // 99 lines written 2 ms after capture, one 1.5 s after.
        r.record_batch(&batch, t0 + 2_000_000);
        r.record_batch(&[DNS, b"\n"].concat(), t0 + 1_500_000_000);
        // Unreadable lines and a packet time ahead of the clock.
        r.record_batch(b"{\"x\":1}\nnot json\n", t0);
        r.record_batch(&[DNS, b"\n"].concat(), t0 - 1_000);
        let s = r.summary();
        let got: Vec<_> = s.iter().collect();
        assert_eq!(got.len(), 1, "{got:?}");
        let (kind, q) = got[0];
        assert_eq!(kind, "dns");
        assert_eq!(q.count, 101);
        // Two significant digits: within 1 %.
        assert!((1_980..=2_020).contains(&q.p50_us), "{q:?}");
        assert!((1_980..=2_020).contains(&q.p99_us), "{q:?}");
        assert!((1_485_000..=1_515_000).contains(&q.max_us), "{q:?}");
    }
}
