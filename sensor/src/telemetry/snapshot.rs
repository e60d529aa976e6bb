//! Periodic snapshots: the parts of one `stats` snapshot (one per worker, the
//! capture thread's riding with the first) are summed here, and the snapshot
//! is handed on once every part has arrived.

use super::counters::Counters;
use crate::time::Timestamp;
use std::sync::{Arc, Mutex};

/// One finished snapshot: when it was taken and the counters summed.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    /// Packet time of the snapshot.
    pub ts: Timestamp,
    /// Seconds of packet time since the first packet.
    pub uptime_secs: u64,
    /// The counters of every part, added up.
    pub counters: Counters,
}

/// Collects the parts of periodic snapshots. At most a few snapshots are in
/// flight; an incomplete old one is handed on as it is.
#[derive(Debug, Default)]
pub struct Aggregator {
    expected: usize,
    pending: Vec<(u64, usize, Snapshot)>,
    finished: Option<u64>,
}

/// Snapshots waiting for parts before the oldest is handed on incomplete
/// (a worker far behind the others); bounds the memory held here.
const MAX_PENDING: usize = 256;

impl Aggregator {
    /// Expects `parts` parts per snapshot.
    pub fn new(parts: usize) -> Self {
        Aggregator {
            expected: parts.max(1),
            pending: Vec::new(),
            finished: None,
        }
    }

    /// Adds a part of snapshot `epoch`; calls `done` for each snapshot that
    /// is now complete, oldest first.
    pub fn add(&mut self, epoch: u64, part: Snapshot, mut done: impl FnMut(Snapshot)) {
        if self.finished.is_some_and(|w| epoch <= w) {
            // A late part of a snapshot already handed on incomplete.
            return;
        }
        match self.pending.iter_mut().find(|p| p.0 == epoch) {
            Some(p) => {
                p.1 += 1;
                p.2.counters += part.counters;
            }
            None => self.pending.push((epoch, 1, part)),
        }
        self.pending.sort_by_key(|p| p.0);
        while let Some(first) = self.pending.first() {
            if first.1 >= self.expected || self.pending.len() > MAX_PENDING {
                let (e, _, snap) = self.pending.remove(0);
                self.finished = Some(e);
                done(snap);
            } else {
                break;
            }
        }
    }
}

/// An [`Aggregator`] shared by the workers: each adds its part when it
/// reaches the snapshot in its packet stream, and the one that completes a
/// snapshot gets it. Locked once per part, every `stats` interval of packet
/// time: never on the packet path.
#[derive(Debug, Clone, Default)]
pub struct SharedAggregator(Arc<Mutex<Aggregator>>);

impl SharedAggregator {
    /// Expects `parts` parts per snapshot.
    pub fn new(parts: usize) -> Self {
        SharedAggregator(Arc::new(Mutex::new(Aggregator::new(parts))))
    }

    /// Adds a part; returns the snapshots it completed.
    pub fn add(&self, epoch: u64, part: Snapshot) -> Vec<Snapshot> {
        // A poisoned lock only means another worker panicked mid-add; the
        // counters are plain numbers.
        let mut a = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let mut done = Vec::new();
        a.add(epoch, part, |s| done.push(s));
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_add_up_and_finish_once() {
        let a = SharedAggregator::new(3);
        let mut counters = Counters::default();
        counters.decode.packets = 10;
        counters.flows.evicted = 2;
        let part = Snapshot {
            ts: Timestamp::from_secs_nanos(1_800_000_000, 0),
            uptime_secs: 60,
            counters,
        };
        assert!(a.add(1, part).is_empty());
        assert!(a.add(1, part).is_empty());
        let done = a.add(1, part);
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].counters.decode.packets, 30);
        assert_eq!(done[0].counters.flows.evicted, 6);
        assert_eq!(done[0].uptime_secs, 60);
        // A late part of a finished snapshot is ignored.
        assert!(a.add(1, part).is_empty());
    }
}
