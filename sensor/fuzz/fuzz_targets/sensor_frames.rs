//! Fuzz the whole per-packet path: the input is a sequence of frames (see
//! `virga_sensor_fuzz::frames` for the format) replayed through a real
//! pipeline (two workers, decode, defragmentation, flow table, app handlers,
//! names, observations, detection stage, EVE writer thread into a file);
//! every line written must be a JSON object with an `event_type`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use virga_sensor_fuzz::frames;

fuzz_target!(|data: &[u8]| {
    let (eve, n) = frames::replay_to_temp(data);
    if let Err(e) = frames::check_eve(&eve, n) {
        panic!("bad EVE output: {e}");
    }
});
