//! Shutdown during a replay: SIGTERM or SIGINT stops reading, ends every
//! flow, writes every pending event and alert, flushes and exits 0. What is
//! written must be exactly what a replay of the packets read up to the signal
//! gives: nothing pending is lost, nothing is cut.
//!
//! (Live capture's SIGTERM drain is tested in live_netns.rs.)

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const VIRGA: &str = env!("CARGO_BIN_EXE_virga");

fn shared() -> Option<PathBuf> {
    virga_test_support::shared()
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("virga-shutdown-{}-{name}", std::process::id()))
}

/// The first `n` packets of a classic pcap file, as a pcap file.
fn pcap_prefix(bytes: &[u8], n: u64) -> Vec<u8> {
    assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    let mut at = 24;
    for _ in 0..n {
        let incl = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        at += 16 + incl;
    }
    bytes[..at].to_vec()
}

/// The lines as JSON without `pcap_filename` (the reference reads another
/// file), sorted (workers write concurrently, so line order may differ).
fn normalized(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .map(|l| {
            let mut e: serde_json::Value = serde_json::from_str(l).unwrap();
            e.as_object_mut().unwrap().remove("pcap_filename");
            e.to_string()
        })
        .collect();
    v.sort();
    v
}

/// Packets read, from "stopped by signal after N packets".
fn packets_read(stderr: &str) -> Option<u64> {
    let l = stderr
        .lines()
        .find(|l| l.contains("stopped by signal after"))?;
    l.split_whitespace()
        .skip_while(|w| *w != "after")
        .nth(1)?
        .parse()
        .ok()
}

/// Replays `pcap` and sends `signal` after `delay`; returns (exit code,
/// stderr, EVE text), or None when the replay ended before the signal.
fn interrupted(pcap: &Path, signal: &str, delay: Duration) -> Option<(i32, String, String)> {
    let eve = temp(&format!("{signal}.json"));
    let _ = std::fs::remove_file(&eve);
    let child = Command::new(VIRGA)
        .args(["replay", "--log-all", "-o"])
        .arg(&eve)
        .arg(pcap)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    std::thread::sleep(delay);
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &pid])
        .status()
        .unwrap()
        .success();
    let t = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(t.elapsed() < Duration::from_secs(30), "drain took too long");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let text = std::fs::read_to_string(&eve).unwrap_or_default();
    let _ = std::fs::remove_file(&eve);
    if !sent || !err.contains("stopped by signal") {
        return None; // finished first
    }
    Some((out.status.code().unwrap_or(-1), err, text))
}

#[test]
fn signal_during_replay_writes_everything_up_to_it_and_exits_0() {
    let Some(shared) = shared() else {
        return;
    };
    let pcap = shared.join("corpus/timelines/dev_hard_48h.pcap");
    let bytes = std::fs::read(&pcap).unwrap();
    for signal in ["TERM", "INT"] {
        // Signal early enough to land mid-file on a fast machine too.
        let mut delay = Duration::from_millis(1500);
        let (code, err, text) = loop {
            if let Some(r) = interrupted(&pcap, signal, delay) {
                break r;
            }
            delay /= 2;
            assert!(
                delay > Duration::from_millis(5),
                "replay always ended first"
            );
        };
        assert_eq!(code, 0, "SIG{signal}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        let n = packets_read(&err).unwrap_or_else(|| panic!("{err}"));
        assert!(n > 0, "{err}");
        // The reference: the same packets, replayed to their end.
        let prefix = temp(&format!("{signal}-prefix.pcap"));
        std::fs::write(&prefix, pcap_prefix(&bytes, n)).unwrap();
        let reference = temp(&format!("{signal}-ref.json"));
        let _ = std::fs::remove_file(&reference);
        let st = Command::new(VIRGA)
            .args(["replay", "--log-all", "-o"])
            .arg(&reference)
            .arg(&prefix)
            .status()
            .unwrap();
        assert!(st.success());
        let want = std::fs::read_to_string(&reference).unwrap();
        std::fs::remove_file(&prefix).unwrap();
        std::fs::remove_file(&reference).unwrap();
        assert!(text.ends_with('\n'));
        let (got, want) = (normalized(&text), normalized(&want));
        assert_eq!(got.len(), want.len(), "SIG{signal} after {n} packets");
        assert!(got == want, "SIG{signal} after {n} packets: output differs");
        assert!(
            text.contains("\"event_type\":\"alert\""),
            "some alert was pending"
        );
    }
}
