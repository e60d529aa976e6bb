//! The lines the pipeline makes besides the workers' events: the detection
//! stage's alerts, and `stats` events from snapshots. Both are serialized by
//! `eve` and handed to the output as finished lines.

use crate::detect::alert::Alert;
use crate::detect::engine::AlertSink;
use crate::eve;
use crate::output::LineSender;
use crate::telemetry::counters::add_writer_counters;
use crate::telemetry::metrics::LatestCounters;
use crate::telemetry::snapshot::Snapshot;
use crate::telemetry::EngineStats;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

/// What `stats` lines report beyond the snapshot, shared by the threads
/// that make them.
#[derive(Clone, Default)]
pub struct StatsExtras {
    /// Periodic events carry the writer's counters and the detection
    /// stage's latest ones (wall-clock dependent, so a replay leaves them
    /// to the final event).
    pub periodic_extras: bool,
    /// Where every snapshot is published as it is written.
    pub metrics: Option<Arc<LatestCounters>>,
    /// The detection stage's latest counters.
    pub engine: Arc<Mutex<Option<EngineStats>>>,
}

impl StatsExtras {
    fn latest_engine(&self) -> Option<EngineStats> {
        *self.engine.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands `snap` to the output as a `stats` line the writer completes
    /// with its own counters when it reaches it (always for the final
    /// event, for periodic ones when [`StatsExtras::periodic_extras`]).
    pub fn send(&self, lines: &LineSender, snap: Snapshot, final_event: bool) {
        let extras = self.clone();
        lines.send_late(Box::new(move |written, lag| {
            let mut snap = snap;
            if final_event || extras.periodic_extras {
                let engine = extras.latest_engine();
                add_writer_counters(&mut snap.counters, *written, lag, engine);
            }
            if let Some(m) = &extras.metrics {
                m.set_snapshot(snap.counters);
            }
            let mut out = Vec::new();
            eve::stats::write_event(&mut out, &snap);
            out
        }));
    }
}

/// The detection stage's [`AlertSink`]: alerts as EVE lines, counters to
/// the `stats` extras and the metrics.
pub struct AlertLines {
    buf: Vec<u8>,
    community_id_seed: Arc<AtomicU16>,
    lines: LineSender,
    extras: StatsExtras,
}

impl AlertLines {
    /// A sink writing through `lines`, with the Community ID seed shared with
    /// the pipeline (a reload changes it).
    pub fn new(lines: LineSender, community_id_seed: Arc<AtomicU16>, extras: StatsExtras) -> Self {
        AlertLines {
            buf: Vec::new(),
            community_id_seed,
            lines,
            extras,
        }
    }
}

impl AlertSink for AlertLines {
    fn alert(&mut self, a: &Alert<'_>) {
        let seed = self.community_id_seed.load(Ordering::Relaxed);
        eve::alert::write(&mut self.buf, seed, a);
    }

    fn flush(&mut self) {
        if !self.buf.is_empty() {
            self.lines.send(std::mem::take(&mut self.buf));
        }
    }

    fn counters(&mut self, c: &EngineStats) {
        *self.extras.engine.lock().unwrap_or_else(|p| p.into_inner()) = Some(*c);
        if let Some(m) = &self.extras.metrics {
            m.set_engine(*c);
        }
    }
}
