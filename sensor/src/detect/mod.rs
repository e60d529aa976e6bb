//! Detectors: pure, streaming analyses fed by the pipeline (which wires them in), each with
//! its own `[detect.*]` configuration section. Time comes from packet timestamps only.

pub mod client;
pub mod dns_anomaly;
