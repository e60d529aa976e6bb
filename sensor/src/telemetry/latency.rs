//! How late EVE lines are: per event type, the delay from a packet's capture
//! to its line being handed to the outputs, kept in HDR histograms
//! (`hdrhistogram`) by the writer thread during live runs.
//!
//! The writer only sees finished lines, so it reads the capture time back
//! from each line's own `timestamp` (the packet time, taken from the
//! kernel's capture timestamp on a live interface) and its type from
//! `event_type` (`eve::line_head`); carrying the packet time beside every
//! line would widen every batch for a figure only live runs report. The delay is wall clock
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

    /// Records one line of type `event_type` (lines of other types are not
    /// measured) that reached the outputs `delay_ns` after its packet was
    /// captured.
    pub fn record(&mut self, event_type: &[u8], delay_ns: u64) {
        let Some(kind) = EVENT_TYPES.iter().position(|t| t.as_bytes() == event_type) else {
            return;
        };
        if let Some(h) = self.hists.get_mut(kind) {
            h.saturating_record((delay_ns / 1_000).clamp(1, MAX_DELAY_US));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_per_event_type() {
        let mut r = LatencyRecorder::new();
        assert!(r.summary().is_empty());
        // 99 lines 2 ms after capture, one 1.5 s after, one "before" it
        // (packet time ahead of the clock: 0), and a type not measured.
        for _ in 0..99 {
            r.record(b"dns", 2_000_000);
        }
        r.record(b"dns", 1_500_000_000);
        r.record(b"dns", 0);
        r.record(b"anomaly", 5_000_000);
        r.record(b"alert", u64::MAX);
        let got: Vec<_> = r.summary().iter().collect();
        assert_eq!(got.len(), 2, "{got:?}");
        let (kind, a) = got[0];
        assert_eq!((kind, a.count), ("alert", 1));
        // Over the hour: counted as the hour (within 1 %).
        assert!((3_564_000_000..=3_636_000_000).contains(&a.max_us), "{a:?}");
        let (kind, q) = got[1];
        assert_eq!((kind, q.count), ("dns", 101));
        // Two significant digits: within 1 %.
        assert!((1_980..=2_020).contains(&q.p50_us), "{q:?}");
        assert!((1_980..=2_020).contains(&q.p99_us), "{q:?}");
        assert!((1_485_000..=1_515_000).contains(&q.max_us), "{q:?}");
    }
}
