//! `virga-mutate [--virga BIN] [--per-file N] [--seed S] [--timeout SECS]
//! [--keep DIR] [--shared DIR] INPUT...`: writes seeded mutants of every
//! pcap/pcapng file under the INPUT paths (truncations, bit flips in headers
//! and payloads, absurd lengths, unknown link types, time going backwards,
//! unknown pcapng blocks), replays each with `virga replay --log-all -o -`
//! under a timeout, and checks the outcome (see
//! `virga_benches::mutate::check_mutant`; truncations of well-formed files
//! must also name the exact record/block offset). Every EVE line is also
//! validated against Suricata's schema with virga's extension, read from
//! `--shared DIR` (default `../shared`; skipped with a note when absent).
//! Prints a summary; exits 1 if any mutant failed a check (failing mutants
//! are copied to `--keep DIR` when given).
#![forbid(unsafe_code)]

// The helper that builds the extended schema, shared with the sensor's tests
// so both validate against the same thing.
use virga_test_support::eve_schema;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use virga_benches::mutate::{self, Rng};

fn main() -> anyhow::Result<()> {
    let mut virga = PathBuf::from("target/release/virga");
    let mut per_file = 100usize;
    let mut seed = 1u64;
    let mut timeout = Duration::from_secs(20);
    let mut keep: Option<PathBuf> = None;
    let mut shared = PathBuf::from("../shared");
    let mut inputs = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next().unwrap_or_else(|| {
                eprintln!("virga-mutate: {a} needs a value");
                std::process::exit(2)
            })
        };
        match a.as_str() {
            "--virga" => virga = PathBuf::from(val()),
            "--per-file" => per_file = val().parse()?,
            "--seed" => seed = val().parse()?,
            "--timeout" => timeout = Duration::from_secs(val().parse()?),
            "--keep" => keep = Some(PathBuf::from(val())),
            "--shared" => shared = PathBuf::from(val()),
            _ => inputs.push(PathBuf::from(a)),
        }
    }
    if inputs.is_empty() {
        eprintln!("usage: virga-mutate [--virga BIN] [--per-file N] [--seed S] [--timeout SECS] [--keep DIR] [--shared DIR] INPUT...");
        std::process::exit(2);
    }
    let schema = eve_schema::eve_validator(&shared);
    let schema_check = |v: &serde_json::Value| match &schema {
        Some(s) => eve_schema::schema_result(s, v),
        None => Ok(()),
    };
    let files: Vec<PathBuf> = inputs.iter().flat_map(|i| mutate::captures(i)).collect();
    let scratch = std::env::temp_dir().join(format!("virga-mutate-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;
    if let Some(k) = &keep {
        std::fs::create_dir_all(k)?;
    }
    let start = Instant::now();
    let mut kinds: BTreeMap<&str, u64> = BTreeMap::new();
    let mut codes: BTreeMap<String, u64> = BTreeMap::new();
    let mut failures = 0u64;
    let mut truncations_located = 0u64;
    let mut slowest = Duration::ZERO;
    let mut total = 0u64;
    for (fi, f) in files.iter().enumerate() {
        let orig = std::fs::read(f)?;
        if orig.is_empty() {
            continue;
        }
        let ext = f.extension().and_then(|e| e.to_str()).unwrap_or("pcap");
        for i in 0..per_file {
            let mut rng = Rng::new(seed ^ ((fi as u64) << 32) ^ i as u64);
            let (kind, bytes) = mutate::mutate(&orig, &mut rng);
            let path = scratch.join(format!("mutant.{ext}"));
            std::fs::write(&path, &bytes)?;
            let o = mutate::replay(&virga, &path, &scratch, timeout);
            total += 1;
            *kinds.entry(kind).or_default() += 1;
            let code = o
                .code
                .map_or("signal/timeout".to_string(), |c| c.to_string());
            *codes.entry(code).or_default() += 1;
            slowest = slowest.max(o.elapsed);
            let result =
                mutate::check_mutant(&orig, kind, bytes.len(), &o, &path, Some(&schema_check))
                    .map(|confirmed| truncations_located += u64::from(confirmed));
            if let Err(e) = result {
                failures += 1;
                println!("FAIL {} mutant {i} ({kind}, seed {seed}): {e}", f.display());
                if let Some(k) = &keep {
                    let name = format!(
                        "{}-{i}-{kind}.{ext}",
                        f.file_stem().and_then(|s| s.to_str()).unwrap_or("x")
                    );
                    std::fs::write(k.join(name), &bytes)?;
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    println!(
        "files {} mutants {total} failures {failures} truncations located exactly {truncations_located} \
         slowest {:.2}s total {:.0}s",
        files.len(),
        slowest.as_secs_f64(),
        start.elapsed().as_secs_f64()
    );
    println!("kinds: {kinds:?}");
    println!("exit codes: {codes:?}");
    println!(
        "EVE schema check: {}",
        if schema.is_some() {
            "on"
        } else {
            "off (no schema found)"
        }
    );
    if failures > 0 {
        std::process::exit(1);
    }
    Ok(())
}
