//! Replays the inputs kept from fuzzing the whole per-packet path
//! (`sensor/fuzz`, target `sensor_frames`) through the same harness the fuzz
//! target uses, and checks the harness itself on a real capture.

#[allow(dead_code)]
#[path = "../fuzz/src/frames.rs"]
mod frames;

use std::path::{Path, PathBuf};
use virga::capture::pcap_file::PcapFile;

fn eve_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "virga-fuzz-regress-{}-{name}.eve",
        std::process::id()
    ))
}

/// Frames of a real capture in the `sensor_frames` format (the same
/// encoding `virga-fuzz-seeds` writes).
fn frames_of(pcap: &str) -> Vec<u8> {
    let mut f = PcapFile::open(pcap).unwrap();
    let mut out = Vec::new();
    let mut last = None;
    while let Some(p) = f.next_packet().unwrap() {
        let sel = frames::LINKS.iter().position(|&l| l == p.linktype).unwrap();
        let dt_ms = last.map_or(0, |l: u64| (p.ts.0 - l) / 1_000_000);
        last = Some(p.ts.0);
        let dt = if dt_ms < 0x8000 {
            dt_ms as u16
        } else {
            0x8000 | (dt_ms / 1000).min(0x7fff) as u16
        };
        out.push(sel as u8);
        out.extend_from_slice(&dt.to_be_bytes());
        out.extend_from_slice(&(p.data.len() as u16).to_be_bytes());
        out.extend_from_slice(p.data);
    }
    out
}

/// The harness on a real capture: every frame is replayed and the sensor
/// writes its usual events (flows, TLS, DNS) and the final stats.
#[test]
fn harness_replays_a_real_capture() {
    let pcap = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/pcaps/sample.pcap");
    let data = frames_of(pcap);
    let eve = eve_path("sample");
    let (out, n) = frames::replay(&data, &eve).unwrap();
    let _ = std::fs::remove_file(&eve);
    let lines = frames::check_eve(&out, n).unwrap();
    let mut f = PcapFile::open(pcap).unwrap();
    let mut want = 0;
    while f.next_packet().unwrap().is_some() {
        want += 1;
    }
    assert_eq!(n, want);
    assert!(lines > 5, "{lines} lines");
    assert!(out.contains(r#""event_type":"flow""#));
    // A broken output is caught: a cut last line is not JSON.
    let cut = &out[..out.len() - 2];
    assert!(frames::check_eve(cut, n).is_err());
    // No frames, no events.
    let (empty, zero) = frames::replay(&[], &eve).unwrap();
    let _ = std::fs::remove_file(&eve);
    assert_eq!((empty.as_str(), zero), ("", 0));
    frames::check_eve(&empty, 0).unwrap();
}

/// Every kept crasher replays without a panic and with valid EVE output.
#[test]
fn kept_fuzz_inputs_replay_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz/sensor_frames");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_none_or(|e| e != "md"))
        .collect();
    files.sort();
    for f in &files {
        let data = std::fs::read(f).unwrap();
        let eve = eve_path("kept");
        let (out, n) = frames::replay(&data, &eve).unwrap();
        let _ = std::fs::remove_file(&eve);
        if let Err(e) = frames::check_eve(&out, n) {
            panic!("{}: {e}", f.display());
        }
    }
    assert!(!files.is_empty(), "no kept inputs in {}", dir.display());
    eprintln!("{} kept inputs replayed", files.len());
}
