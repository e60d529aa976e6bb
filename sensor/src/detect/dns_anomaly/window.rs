//! Fixed-capacity sliding windows of observations and the query-rate buckets of one
//! (client, account) track.

use std::collections::VecDeque;

use crate::time::Timestamp;

/// One observation in a [`Window`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seen {
    /// Hash of the (lower-cased) name.
    pub name: u64,
    /// Packet time.
    pub ts: Timestamp,
    /// The name's randomness score.
    pub randomness: f32,
    /// Whether the score reached the detector's threshold.
    pub random: bool,
}

/// The last `cap` observations within a time window, oldest first. The buffer is allocated on
/// first use and never grows past `cap`.
#[derive(Debug, Clone)]
pub struct Window {
    cap: usize,
    items: VecDeque<Seen>,
}

impl Window {
    /// An empty window holding at most `cap` observations (at least 1).
    pub fn new(cap: usize) -> Self {
        Window {
            cap: cap.max(1),
            items: VecDeque::new(),
        }
    }

    /// Drops observations older than `window_ns` before `now`. Time that went backwards counts
    /// as no time.
    pub fn prune(&mut self, now: Timestamp, window_ns: u64) {
        while self
            .items
            .front()
            .is_some_and(|s| now.nanos_since(s.ts) > window_ns)
        {
            self.items.pop_front();
        }
    }

    /// Adds `s` unless an observation of the same name is already held; returns whether it
    /// was added. The oldest observation makes room when the window is full.
    pub fn insert_distinct(&mut self, s: Seen) -> bool {
        if self.items.iter().any(|x| x.name == s.name) {
            return false;
        }
        self.push(s);
        true
    }

    /// Adds `s` (repeats allowed); the oldest observation makes room when the window is full.
    pub fn push(&mut self, s: Seen) {
        if self.items.len() >= self.cap {
            self.items.pop_front();
        }
        if self.items.capacity() == 0 {
            self.items.reserve_exact(self.cap);
        }
        self.items.push_back(s);
    }

    /// Observations held.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when `cap` observations are held.
    pub fn is_full(&self) -> bool {
        self.items.len() >= self.cap
    }

    /// Mean randomness of the held observations (0 when empty).
    pub fn mean_randomness(&self) -> f64 {
        if self.items.is_empty() {
            return 0.0;
        }
        self.items
            .iter()
            .map(|s| f64::from(s.randomness))
            .sum::<f64>()
            / self.items.len() as f64
    }

    /// Share of the held observations that are random-looking (0 when empty).
    pub fn random_share(&self) -> f64 {
        if self.items.is_empty() {
            return 0.0;
        }
        self.items.iter().filter(|s| s.random).count() as f64 / self.items.len() as f64
    }

    /// Time from the oldest held observation to `now`, in nanoseconds.
    pub fn span_ns(&self, now: Timestamp) -> u64 {
        self.items.front().map_or(0, |s| now.nanos_since(s.ts))
    }
}

/// Queries per bucket of fixed length and the usual rate: an exponentially weighted mean of
/// the closed buckets (empty buckets included).
#[derive(Debug, Clone, Default)]
pub struct Rate {
    start: Option<Timestamp>,
    count: u32,
    baseline: f64,
}

/// Weight of the newest bucket in the usual rate.
pub const RATE_ALPHA: f64 = 0.1;
/// Empty buckets decayed one by one at most; beyond this the usual rate is simply 0.
const MAX_DECAY_STEPS: u64 = 1000;

impl Rate {
    /// Start of the current bucket (`None` before the first query).
    pub fn bucket_start(&self) -> Option<Timestamp> {
        self.start
    }

    /// Counts one query at `ts`; returns (queries in the current bucket, usual rate before it).
    pub fn add(&mut self, ts: Timestamp, bucket_ns: u64) -> (u32, f64) {
        let bucket_ns = bucket_ns.max(1);
        let start = *self.start.get_or_insert(ts);
        let elapsed = ts.nanos_since(start);
        if elapsed >= bucket_ns {
            let passed = elapsed / bucket_ns;
            self.baseline = self.baseline * (1.0 - RATE_ALPHA) + f64::from(self.count) * RATE_ALPHA;
            let empty = passed - 1;
            self.baseline = if empty >= MAX_DECAY_STEPS {
                0.0
            } else {
                // `empty` < 1000 fits an i32.
                self.baseline * (1.0 - RATE_ALPHA).powi(i32::try_from(empty).unwrap_or(i32::MAX))
            };
            self.start = Some(Timestamp(
                start.0.saturating_add(passed.saturating_mul(bucket_ns)),
            ));
            self.count = 0;
        }
        self.count = self.count.saturating_add(1);
        (self.count, self.baseline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Timestamp {
        Timestamp(secs * 1_000_000_000)
    }

    fn seen(name: u64, ts: Timestamp, randomness: f32) -> Seen {
        Seen {
            name,
            ts,
            randomness,
            random: randomness >= 0.5,
        }
    }

    #[test]
    fn distinct_window_slides_and_stays_bounded() {
        let mut w = Window::new(3);
        assert_eq!(w.len(), 0);
        assert!(w.insert_distinct(seen(1, at(0), 1.0)));
        assert!(!w.insert_distinct(seen(1, at(1), 1.0)));
        assert!(w.insert_distinct(seen(2, at(2), 0.0)));
        assert!(w.insert_distinct(seen(3, at(3), 1.0)));
        assert!(w.is_full());
        assert!(w.insert_distinct(seen(4, at(4), 1.0)));
        assert_eq!(w.len(), 3);
        assert_eq!(w.span_ns(at(4)), 2_000_000_000);
        assert!((w.mean_randomness() - 2.0 / 3.0).abs() < 1e-6);
        assert!((w.random_share() - 2.0 / 3.0).abs() < 1e-6);
        w.prune(at(14), 10_000_000_000);
        assert_eq!(w.len(), 1);
        // Time going backwards keeps everything.
        w.prune(at(0), 1);
        assert_eq!(w.len(), 1);
        w.push(seen(4, at(14), 0.0));
        assert_eq!(w.len(), 2);
    }

    #[test]
    fn rate_buckets_and_usual_rate() {
        let mut r = Rate::default();
        let b = 10_000_000_000;
        for _ in 0..20 {
            assert_eq!(r.add(at(1), b).1, 0.0);
        }
        // Next bucket: the first closed with 20 queries → usual rate 2.0.
        let (count, usual) = r.add(at(12), b);
        assert_eq!(count, 1);
        assert!((usual - 2.0).abs() < 1e-9);
        // Two buckets later (one empty in between): 0.9·(0.9·2 + 0.1·1).
        let (count, usual) = r.add(at(31), b);
        assert_eq!(count, 1);
        assert!((usual - 0.9 * (0.9 * 2.0 + 0.1)).abs() < 1e-9, "{usual}");
        // A very long silence forgets the rate.
        let (_, usual) = r.add(at(1_000_000), b);
        assert_eq!(usual, 0.0);
        // Time going backwards stays in the current bucket.
        assert_eq!(r.add(at(5), b).0, 2);
    }
}
