//! Runs virga on a capture and reads back its EVE events.

use anyhow::Context as _;
use serde_json::Value;
use std::path::Path;

/// Replays `pcap` with every metadata event on (`--log-all`) and returns the
/// events. A capture virga cannot open yields no events (the comparison then
/// reports whatever tshark saw in it).
pub fn replay(pcap: &Path) -> anyhow::Result<Vec<Value>> {
    let out = std::env::temp_dir().join(format!(
        "virga-conformance-{}-{}.json",
        std::process::id(),
        pcap.file_name().and_then(|s| s.to_str()).unwrap_or("x")
    ));
    let _ = std::fs::remove_file(&out);
    let opts = virga::replay::ReplayOptions {
        inputs: vec![pcap.to_string_lossy().into_owned()],
        output: virga::output::Target::File(out.to_string_lossy().into_owned()),
        log_all: true,
        ..virga::replay::ReplayOptions::default()
    };
    if let Err(e) = virga::replay::run(&opts) {
        eprintln!("  note: {}: {e:#}", pcap.display());
    }
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_file(&out);
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .with_context(|| format!("{}: EVE line {} is not JSON", pcap.display(), i + 1))
        })
        .collect()
}
