//! The beats of one (client, name) pair: the last [`WINDOW_BEATS`] beat starts, stored as the
//! start of the latest beat plus millisecond deltas between consecutive beats.

use crate::time::Timestamp;
use std::collections::VecDeque;

/// Beats kept per pair; scoring looks at the intervals between them.
pub const WINDOW_BEATS: usize = 64;

/// Nanoseconds per millisecond.
const NS_PER_MS: u64 = 1_000_000;

/// Beat starts of one pair, oldest first. 4 bytes per beat; a delta longer than `u32::MAX`
/// milliseconds (49.7 days) is stored as that maximum, which scoring treats as a pause anyway.
#[derive(Debug, Clone)]
pub(crate) struct BeatWindow {
    /// Start of the latest beat.
    last: Timestamp,
    /// Milliseconds between consecutive beat starts; at most `WINDOW_BEATS - 1`.
    deltas: VecDeque<u32>,
}

impl BeatWindow {
    /// A window holding one beat that started at `ts`.
    pub(crate) fn new(ts: Timestamp) -> Self {
        BeatWindow {
            last: ts,
            deltas: VecDeque::new(),
        }
    }

    /// Start of the latest beat.
    pub(crate) fn last_beat(&self) -> Timestamp {
        self.last
    }

    /// Seconds from the start of the latest beat to `ts` (0 if `ts` is earlier).
    pub(crate) fn secs_since_last_beat(&self, ts: Timestamp) -> f64 {
        ts.nanos_since(self.last) as f64 / 1e9
    }

    /// Records a new beat starting at `ts`, dropping the oldest beyond the window. A `ts` earlier
    /// than the latest beat is recorded as starting with it (zero interval).
    pub(crate) fn push(&mut self, ts: Timestamp) {
        let ms = u32::try_from(ts.nanos_since(self.last) / NS_PER_MS).unwrap_or(u32::MAX);
        if self.deltas.len() >= WINDOW_BEATS - 1 {
            self.deltas.pop_front();
        }
        self.deltas.push_back(ms);
        self.last = self.last.max(ts);
    }

    /// Beats in the window.
    pub(crate) fn beats(&self) -> usize {
        self.deltas.len() + 1
    }

    /// Replaces `out` with the intervals between consecutive beats, in seconds, oldest first.
    pub(crate) fn intervals_secs(&self, out: &mut Vec<f64>) {
        out.clear();
        out.extend(self.deltas.iter().map(|&ms| f64::from(ms) / 1e3));
    }

    /// The start of every beat in the window, in seconds after the first of them, oldest first
    /// (the first is 0, the last is the latest beat): the running sums of the intervals, so
    /// they show exactly the intervals scoring sees, at millisecond resolution.
    pub(crate) fn beat_times_secs(&self) -> Vec<f64> {
        let mut ms = 0u64;
        let mut out = Vec::with_capacity(self.beats());
        out.push(0.0);
        for &d in &self.deltas {
            ms += u64::from(d);
            out.push(ms as f64 / 1e3);
        }
        out
    }

    /// The latest `n` intervals, in seconds, oldest first.
    pub(crate) fn recent_intervals_secs(&self, n: usize) -> Vec<f64> {
        let skip = self.deltas.len().saturating_sub(n);
        self.deltas
            .iter()
            .skip(skip)
            .map(|&ms| f64::from(ms) / 1e3)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: f64) -> Timestamp {
        Timestamp((secs * 1e9) as u64)
    }

    #[test]
    fn keeps_the_last_window_of_beats() {
        let mut w = BeatWindow::new(at(100.0));
        assert_eq!(w.beats(), 1);
        for i in 1..=100 {
            w.push(at(100.0 + 30.5 * f64::from(i)));
        }
        assert_eq!(w.beats(), WINDOW_BEATS);
        let mut v = Vec::new();
        w.intervals_secs(&mut v);
        assert_eq!(v.len(), WINDOW_BEATS - 1);
        assert!(v.iter().all(|&g| (g - 30.5).abs() < 1e-9));
        assert_eq!(w.last_beat(), at(100.0 + 30.5 * 100.0));
        assert_eq!(w.recent_intervals_secs(16).len(), 16);
        assert_eq!(w.recent_intervals_secs(1000).len(), WINDOW_BEATS - 1);
        let times = w.beat_times_secs();
        assert_eq!(times.len(), WINDOW_BEATS);
        assert_eq!(times[0], 0.0);
        assert_eq!(times[WINDOW_BEATS - 1], 30.5 * (WINDOW_BEATS - 1) as f64);
        assert!(times.windows(2).all(|p| (p[1] - p[0] - 30.5).abs() < 1e-9));
    }

    #[test]
    fn out_of_order_and_huge_gaps_saturate() {
        let mut w = BeatWindow::new(at(1000.0));
        assert_eq!(w.secs_since_last_beat(at(10.0)), 0.0);
        w.push(at(10.0));
        assert_eq!(w.last_beat(), at(1000.0));
        w.push(Timestamp(u64::MAX));
        let mut v = Vec::new();
        w.intervals_secs(&mut v);
        assert_eq!(v[0], 0.0);
        assert_eq!(v[1], f64::from(u32::MAX) / 1e3);
    }
}
