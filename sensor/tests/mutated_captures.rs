//! Mutated captures end to end (a seeded subset of the `virga-mutate` run):
//! real captures damaged in the ways of `benches/src/mutate.rs` (truncation,
//! bit flips, absurd lengths, unknown link types, time going backwards,
//! unknown pcapng blocks) are replayed by the `virga` binary; no panic, no
//! hang, only JSON on stdout, and a corrupt file ends with one error naming
//! the file and the byte offset (exit 1) or the unreadable header (exit 2).
//! Every line is checked against the EVE schema when ../shared is present.

use virga_test_support::eve_schema;
#[allow(dead_code)]
#[path = "../../benches/src/mutate.rs"]
mod mutate;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn shared() -> PathBuf {
    virga_test_support::shared_location()
}

fn inputs() -> Vec<PathBuf> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pcaps");
    let mut v = vec![data.join("sample.pcap"), data.join("no_sni_lambda.pcap")];
    if let Some(zeek) = virga_test_support::shared_path("pcaps/public/zeek") {
        v.push(shared().join("pcaps/public/gopacket/test202-be.pcapng"));
        for n in [
            "ipv6-fragmented-dns.pcap",
            "quicv2-echo-443.pcap",
            "pcapng-multi-interface.pcapng",
        ] {
            v.push(zeek.join(n));
        }
    }
    v
}

#[test]
fn mutants_of_real_captures_never_panic_hang_or_lose_the_error_location() {
    let virga = Path::new(env!("CARGO_BIN_EXE_virga"));
    let schema = eve_schema::eve_validator(&shared());
    let schema_ok = |v: &serde_json::Value| match &schema {
        Some(s) => eve_schema::schema_result(s, v),
        None => Ok(()),
    };
    let scratch = std::env::temp_dir().join(format!("virga-mutants-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let mut kinds = BTreeSet::new();
    let mut codes = BTreeSet::new();
    let mut located = 0;
    let mut failures = Vec::new();
    for (fi, f) in inputs().iter().enumerate() {
        let orig = std::fs::read(f).unwrap();
        let ext = f.extension().unwrap().to_str().unwrap();
        for i in 0..20u64 {
            let mut rng = mutate::Rng::new(0x5eed ^ ((fi as u64) << 32) ^ i);
            let (kind, bytes) = mutate::mutate(&orig, &mut rng);
            let path = scratch.join(format!("m{fi}-{i}.{ext}"));
            std::fs::write(&path, &bytes).unwrap();
            let o = mutate::replay(virga, &path, &scratch, Duration::from_secs(60));
            kinds.insert(kind);
            codes.insert(o.code);
            let r = mutate::check_mutant(&orig, kind, bytes.len(), &o, &path, Some(&schema_ok))
                .map(|confirmed| located += usize::from(confirmed));
            match r {
                Ok(()) => {
                    let _ = std::fs::remove_file(&path);
                }
                Err(e) => failures.push(format!("{} #{i} {kind}: {e}", f.display())),
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    assert!(failures.is_empty(), "{failures:#?}");
    // The subset exercises clean ends, located breaks and header errors.
    assert!(
        codes.contains(&Some(0)) && codes.contains(&Some(1)),
        "{codes:?}"
    );
    assert!(kinds.len() >= 6, "{kinds:?}");
    assert!(located >= 1, "no truncation was checked against its offset");
}

/// [`mutate::check`] without a per-line check.
fn check_none(o: &mutate::Outcome, f: &Path) -> Result<(), String> {
    mutate::check(o, f, None)
}

fn outcome(code: i32, stdout: &str, stderr: &str) -> mutate::Outcome {
    mutate::Outcome {
        code: Some(code),
        timed_out: false,
        stdout: stdout.into(),
        stderr: stderr.into(),
        elapsed: Duration::ZERO,
    }
}

/// The check fails on each kind of bad outcome.
#[test]
fn the_check_rejects_bad_outcomes() {
    let f = Path::new("/x/a.pcap");
    let stats = "{\"event_type\":\"stats\"}\n";
    let located = "virga: /x/a.pcap: corrupt capture at byte 40 after packet 1: truncated\n";
    assert!(check_none(&outcome(0, stats, ""), f).is_ok());
    assert!(check_none(&outcome(1, stats, located), f).is_ok());
    let open = "virga: /x/a.pcap: cannot open capture: bad magic\n";
    assert!(check_none(&outcome(2, "", open), f).is_ok());
    for bad in [
        outcome(101, "", "thread 'main' panicked at x.rs:1:1\n"),
        outcome(0, "{\"event_type\":\"flow\"", ""),
        outcome(0, "not json\n", ""),
        outcome(0, "{}\n", ""),
        outcome(1, "", "virga: /x/a.pcap: read error\n"),
        outcome(1, "{\"event_type\":\"flow\"}\n", located),
        outcome(2, stats, open),
        outcome(1, stats, &format!("{located}{located}")),
    ] {
        assert!(check_none(&bad, f).is_err(), "{bad:?}");
    }
    let mut hang = outcome(0, "", "");
    hang.timed_out = true;
    hang.code = None;
    assert!(check_none(&hang, f).is_err());
    // The line check sees every line and its verdict fails the outcome.
    let reject = |v: &serde_json::Value| match v["event_type"].as_str() {
        Some("flow") => Err("no flows here".to_string()),
        _ => Ok(()),
    };
    let two = "{\"event_type\":\"dns\"}\n{\"event_type\":\"flow\"}\n";
    let e = mutate::check(&outcome(0, two, ""), f, Some(&reject)).unwrap_err();
    assert!(e.starts_with("stdout line 2: no flows here"), "{e}");
    assert!(mutate::check(&outcome(0, stats, ""), f, Some(&reject)).is_ok());
}

/// With ../shared present, the schema check used on mutants rejects a line
/// Suricata's schema does not allow and passes a real stats event.
#[test]
fn the_schema_line_check_rejects_invalid_eve() {
    let Some(s) = eve_schema::eve_validator(&shared()) else {
        return;
    };
    let bad = serde_json::json!({"event_type": "dns", "dns": {"no_such_field": 1}});
    assert!(eve_schema::schema_result(&s, &bad).is_err());
    let virga = Path::new(env!("CARGO_BIN_EXE_virga"));
    let out = std::process::Command::new(virga)
        .args(["replay", "-o", "-"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pcaps/sample.pcap"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["event_type"], "stats");
    assert_eq!(eve_schema::schema_result(&s, &last), Ok(()));
}

/// Truncation expectations on a real file: a cut on a record boundary is a
/// clean end, a cut inside names the record's start.
#[test]
fn truncation_expectations_follow_the_records() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pcaps/sample.pcap");
    let orig = std::fs::read(p).unwrap();
    let mutate::Layout::Pcap { records, .. } = mutate::layout(&orig) else {
        panic!("sample.pcap is a classic pcap");
    };
    assert_eq!(
        mutate::truncation_expectation(&orig, records[2]),
        Some((0, String::new()))
    );
    assert_eq!(
        mutate::truncation_expectation(&orig, records[2] + 5),
        Some((
            1,
            format!("corrupt capture at byte {} after packet 2:", records[2])
        ))
    );
    assert_eq!(mutate::truncation_expectation(&orig, 10), None);
}
