//! Shared helpers of the sensor's integration tests: replay a capture in
//! process and read back the EVE lines.

#![allow(dead_code)]

use serde_json::Value;
use std::path::PathBuf;

/// Path of a file under `sensor/tests/data/pcaps`.
pub fn pcap(name: &str) -> String {
    format!("{}/tests/data/pcaps/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The shared folder beside the project (`../shared`); None, with a note, on a
/// bare clone (a failure in CI).
pub fn shared() -> Option<PathBuf> {
    virga_test_support::shared()
}

/// A unique temporary file path.
pub fn temp(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("virga-test-{}-{n}-{name}", std::process::id()))
}

/// Replays `inputs` with `--log-all` as set and returns the EVE lines as text.
pub fn replay_lines(inputs: &[String], log_all: bool) -> Vec<String> {
    replay_lines_with(inputs, log_all, None)
}

/// As [`replay_lines`] with a given number of workers.
pub fn replay_lines_with(inputs: &[String], log_all: bool, workers: Option<usize>) -> Vec<String> {
    let out = temp("eve.json");
    let opts = virga::replay::ReplayOptions {
        inputs: inputs.to_vec(),
        output: virga::output::Target::File(out.to_string_lossy().into_owned()),
        log_all,
        workers,
        ..Default::default()
    };
    virga::replay::run(&opts).expect("replay");
    let text = std::fs::read_to_string(&out).expect("eve output");
    let _ = std::fs::remove_file(&out);
    text.lines().map(str::to_string).collect()
}

/// Replays and parses every line (each must be JSON).
pub fn replay(inputs: &[String], log_all: bool) -> Vec<Value> {
    replay_lines(inputs, log_all)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// Events of one type.
pub fn of_type<'a>(events: &'a [Value], t: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event_type"] == t).collect()
}

/// `src_ip:src_port->dest_ip:dest_port` of an event.
pub fn tuple_key(e: &Value) -> String {
    format!(
        "{}:{}->{}:{}",
        e["src_ip"].as_str().unwrap_or(""),
        e["src_port"],
        e["dest_ip"].as_str().unwrap_or(""),
        e["dest_port"]
    )
}
