//! The in-connection timeline (`virga-gen in-connection`): beacons polling
//! inside long-lived connections to serverless names are all found, and no
//! benign long-lived connection is alerted, with either beacon scope —
//! scored by `virga-eval` against the timeline's own truth file.

use std::path::PathBuf;
use std::process::Command;
use virga_benches::gen::corpus;
use virga_benches::gen::in_connection;
use virga_benches::gen::rng::Rng;
use virga_benches::gen::sink::Sink;

fn shared() -> Option<PathBuf> {
    virga_test_support::shared_path("corpus/clients/labels.jsonl")?;
    virga_test_support::shared()
}

/// The `total:` line of `virga-eval DIR --scope SCOPE`.
fn eval_total(dir: &std::path::Path, scope: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_virga-eval"))
        .arg(dir)
        .args(["--scope", scope])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .find(|l| l.starts_with("total:"))
        .unwrap_or_else(|| panic!("no total line in {text}"))
        .to_owned()
}

#[test]
fn beacons_inside_connections_found_and_benign_connections_quiet() {
    let Some(shared) = shared() else { return };
    let tpls = corpus::load(&shared).unwrap();
    for seed in [1, 2] {
        let dir =
            std::env::temp_dir().join(format!("virga-in-connection-{}-{seed}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pcap = dir.join("in_connection.pcap");
        let mut sink = Sink::create(&pcap).unwrap();
        let truth = in_connection::generate(
            &mut sink,
            &mut Rng::new(seed),
            &tpls,
            6,
            "in_connection",
            "in_connection.pcap",
        )
        .unwrap();
        sink.finish().unwrap();
        assert_eq!(truth["counts"]["beacon_pairs"], 3);
        std::fs::write(
            dir.join("in_connection.truth.json"),
            serde_json::to_string(&truth).unwrap(),
        )
        .unwrap();
        for scope in ["serverless", "all"] {
            let total = eval_total(&dir, scope);
            assert!(
                total.contains("beacon pairs 3, detected 3,"),
                "seed {seed}, scope {scope}: {total}"
            );
            assert!(
                total.contains("false positives 0,") && total.ends_with("other pairs alerted 0"),
                "seed {seed}, scope {scope}: {total}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
