//! virga-conformance: replays every capture of `shared/pcaps/public` through
//! virga (with `--log-all`) and compares its EVE events with tshark's
//! reference outputs in `refs/`, and virga's JA4 with the `ja4plus` values in
//! `shared/corpus/clients/labels.jsonl`.
//!
//! usage: virga-conformance SHARED_DIR [--known FILE] [--verbose]
//!
//! Prints one line of counts per file and every difference. Exits 0 when
//! every difference is listed (with a reason) in the known-differences file,
//! 1 otherwise, 2 on bad arguments or unreadable inputs.
#![forbid(unsafe_code)]

mod compare;
mod eve;
mod known;
mod refs;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut shared: Option<PathBuf> = None;
    let mut known_path = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/conformance/known-differences.toml"
    ));
    let mut verbose = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--known" => match it.next() {
                Some(p) => known_path = PathBuf::from(p),
                None => return usage("--known needs a file"),
            },
            "--verbose" | "-v" => verbose = true,
            "-h" | "--help" => {
                println!("usage: virga-conformance SHARED_DIR [--known FILE] [--verbose]");
                return ExitCode::SUCCESS;
            }
            s if s.starts_with('-') => return usage(&format!("unknown option {s}")),
            s => shared = Some(PathBuf::from(s)),
        }
    }
    let Some(shared) = shared else {
        return usage("missing SHARED_DIR");
    };
    let known = match known::KnownDifferences::load(&known_path) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("virga-conformance: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&shared, &known, verbose) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("virga-conformance: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!(
        "virga-conformance: {msg}\nusage: virga-conformance SHARED_DIR [--known FILE] [--verbose]"
    );
    ExitCode::from(2)
}

/// Runs every comparison; true when no unexpected difference was found.
fn run(shared: &Path, known: &known::KnownDifferences, verbose: bool) -> anyhow::Result<bool> {
    let public = shared.join("pcaps/public");
    let manifest = std::fs::read_to_string(public.join("MANIFEST.tsv"))
        .map_err(|e| anyhow::anyhow!("{}: {e}", public.join("MANIFEST.tsv").display()))?;
    let files: Vec<String> = manifest
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').next())
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect();
    let mut total = compare::Tally::default();
    let mut unexpected = 0usize;
    let mut used_known = std::collections::HashSet::new();
    println!(
        "{:<62} {:>5} {:>5} {:>5} {:>5} {:>5} {:>6}",
        "file", "tls", "quic", "dns", "same", "known", "unexp"
    );
    for f in &files {
        let pcap = public.join(f);
        let events = eve::replay(&pcap)?;
        let refs = refs::Refs::load(&public.join("refs"), f)?;
        let mut diffs = Vec::new();
        let tally = compare::public_file(&events, &refs, &mut diffs);
        let (mut k, mut u) = (0, 0);
        for d in &diffs {
            if let Some(idx) = known.find(f, d) {
                used_known.insert(idx);
                k += 1;
                if verbose {
                    println!("  known   {f}: {d}");
                }
            } else {
                u += 1;
                println!("  DIFF    {f}: {d}");
            }
        }
        println!(
            "{:<62} {:>5} {:>5} {:>5} {:>5} {:>5} {:>6}",
            f, tally.tls, tally.quic, tally.dns, tally.same, k, u
        );
        total.add(&tally);
        unexpected += u;
    }
    // JA4 of every labelled connection of the lab corpus (ja4plus values).
    let clients = shared.join("corpus/clients");
    let labels = clients.join("labels.jsonl");
    let mut ja4_checked = 0usize;
    if labels.exists() {
        let mut diffs = Vec::new();
        ja4_checked = compare::ja4_labels(&clients, &labels, &mut diffs)?;
        for d in &diffs {
            if known.find("corpus/clients", d).is_none() {
                println!("  DIFF    corpus/clients: {d}");
                unexpected += 1;
            }
        }
        println!(
            "{:<62} ja4 checked {ja4_checked}, differences {}",
            "corpus/clients/labels.jsonl",
            diffs.len()
        );
    }
    for (i, k) in known.entries().iter().enumerate() {
        if !used_known.contains(&i) && k.file != "corpus/clients" {
            println!(
                "  note: known difference no longer seen: {} {}",
                k.file, k.key
            );
        }
    }
    println!(
        "total: tls {} quic {} dns {} compared, {} same, ja4 {ja4_checked}; unexpected differences: {unexpected}",
        total.tls, total.quic, total.dns, total.same
    );
    Ok(unexpected == 0)
}
