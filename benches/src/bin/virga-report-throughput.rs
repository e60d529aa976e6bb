//! Report throughput: how long `virga report` takes over a large EVE file.
//!
//! Builds an EVE file of `--lines` lines (1 000 000 by default) by cycling
//! the lines of a real EVE file (e.g. `virga replay` of a corpus timeline),
//! giving each further copy its own client addresses so the pairs multiply as
//! they would over many hosts; `--alerts-only` keeps only the alert lines
//! (the worst case: every line parsed). Then it times the whole report —
//! streaming read, model, HTML — in process, repeated, and prints the median.
//!
//! `cargo build --release -p virga-benches && target/release/virga-report-throughput eve.json`
#![forbid(unsafe_code)]

use anyhow::{bail, Context, Result};
use clap::Parser;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

/// Times `virga report` over a generated EVE file.
#[derive(Debug, Parser)]
#[command(name = "virga-report-throughput")]
struct Args {
    /// A real EVE file whose lines are cycled.
    eve: PathBuf,
    /// Lines of the generated file.
    #[arg(short = 'n', long, default_value_t = 1_000_000)]
    lines: usize,
    /// Keep only the alert lines of the input.
    #[arg(long)]
    alerts_only: bool,
    /// Runs (the median is reported).
    #[arg(short, long, default_value_t = 3)]
    repeat: usize,
    /// Scratch directory (the generated EVE and the report).
    #[arg(long, default_value = "/tmp/virga-report-throughput")]
    dir: PathBuf,
}

/// `line` with its `src_ip` value replaced by one of copy `k` (the first
/// copy keeps its addresses).
fn with_client(line: &str, k: usize) -> String {
    const KEY: &str = "\"src_ip\":\"";
    let Some(at) = line.find(KEY).map(|i| i + KEY.len()) else {
        return line.to_owned();
    };
    let Some(len) = line[at..].find('"') else {
        return line.to_owned();
    };
    if k == 0 {
        return line.to_owned();
    }
    let old = &line[at..at + len];
    let last = old.rsplit(['.', ':']).next().unwrap_or("1");
    format!(
        "{}10.{}.{}.{last}{}",
        &line[..at],
        (k >> 8) & 255,
        k & 255,
        &line[at + len..]
    )
}

fn main() -> Result<()> {
    let args = Args::parse();
    let text = std::fs::read_to_string(&args.eve)
        .with_context(|| format!("reading {}", args.eve.display()))?;
    let source: Vec<&str> = text
        .lines()
        .filter(|l| !args.alerts_only || l.contains("\"event_type\":\"alert\""))
        .collect();
    if source.is_empty() {
        bail!("{}: no usable lines", args.eve.display());
    }
    std::fs::create_dir_all(&args.dir)?;
    let eve = args.dir.join("eve.json");
    let mut out = BufWriter::new(std::fs::File::create(&eve)?);
    for i in 0..args.lines {
        let l = with_client(source[i % source.len()], i / source.len());
        out.write_all(l.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    drop(out);
    let bytes = std::fs::metadata(&eve)?.len();
    let html = args.dir.join("report.html");
    let mut secs = Vec::new();
    let mut last = None;
    for _ in 0..args.repeat.max(1) {
        let t = Instant::now();
        let m = virga::report::write_report(std::slice::from_ref(&eve), &html)?;
        secs.push(t.elapsed().as_secs_f64());
        last = Some(m);
    }
    secs.sort_by(f64::total_cmp);
    let median = secs[secs.len() / 2];
    let m = last.expect("one run");
    println!(
        "{} lines ({:.0} MB, {} alerts, {} pairs; report {:.1} MB): median {:.3} s of {} runs \
         ({:.2} M lines/s, {:.0} MB/s); runs {:?}",
        m.read.lines,
        bytes as f64 / 1e6,
        m.read.alerts,
        m.pairs.len(),
        std::fs::metadata(&html)?.len() as f64 / 1e6,
        median,
        secs.len(),
        m.read.lines as f64 / median / 1e6,
        bytes as f64 / median / 1e6,
        secs.iter().map(|s| format!("{s:.3}")).collect::<Vec<_>>()
    );
    Ok(())
}
