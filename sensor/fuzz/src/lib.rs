//! Support for the `sensor_frames` fuzz target: the frame input format and
//! its replay through a real sensor pipeline. The module is also compiled
//! into the sensor's `fuzz_regressions` test, which replays kept inputs.
#![forbid(unsafe_code)]

pub mod frames;
