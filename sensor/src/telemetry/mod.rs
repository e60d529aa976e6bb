//! Telemetry, at the bottom of the sensor: the counters every part keeps
//! ([`counters`]), the periodic snapshots summed from them ([`snapshot`]),
//! the delay from capture to EVE line per event type during live runs
//! ([`latency`]), and the Prometheus endpoint that shows them ([`metrics`]). It depends on
//! nothing above it; the parts that count import their counter types from
//! here, and `eve::stats` writes snapshots as `stats` events.

pub mod counters;
pub mod latency;
pub mod metrics;
pub mod snapshot;

pub use counters::{
    AppCounters, CaptureStats, Counters, DecodeCounters, EngineStats, FlowStats, NameStats,
    OutputStats, WriterCounters,
};
