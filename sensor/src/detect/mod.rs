//! Detectors: streaming analyses of connection metadata that raise alerts.
//!
//! Each detector is pure: it is fed events carrying packet timestamps, keeps state bounded by
//! its configuration and returns alerts; the worker decides what to feed it and how to emit.

pub mod beacon;
