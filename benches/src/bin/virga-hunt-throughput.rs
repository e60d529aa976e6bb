//! `virga hunt` throughput: generates Zeek conn.log lines (gzip, hourly
//! rotated files in daily folders, as Zeek archives them), then measures, in
//! one run, the floor (gunzip and split every line into fields, nothing
//! else) and `virga hunt` over the same files, each repeated and reported as
//! the median, in lines per second, with CPU time and peak RSS.
//!
//! `cargo build --release -p virga -p virga-benches && nice -n -10
//! target/release/virga-hunt-throughput --lines 10000000`
#![forbid(unsafe_code)]

use anyhow::{bail, Context, Result};
use clap::Parser;
use flate2::write::GzEncoder;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use virga_benches::gen::rng::Rng;
use virga_benches::measure::{self, runs, MEASURE_ARG};

/// Measures `virga hunt` on generated Zeek logs.
#[derive(Debug, Parser)]
#[command(name = "virga-hunt-throughput")]
struct Args {
    /// conn.log lines to generate.
    #[arg(long, default_value_t = 10_000_000)]
    lines: u64,
    /// Days the lines span (24 hourly files each).
    #[arg(long, default_value_t = 7)]
    days: u64,
    /// Runs of each measurement (the median is reported).
    #[arg(short, long, default_value_t = 3)]
    repeat: usize,
    /// `--scope` given to hunt.
    #[arg(long, default_value = "all")]
    scope: String,
    /// The virga binary (default: beside this one).
    #[arg(long)]
    virga: Option<PathBuf>,
    /// Scratch directory (logs, EVE output); logs already there for the
    /// same size are reused.
    #[arg(long, default_value = "/tmp/virga-hunt-throughput")]
    dir: PathBuf,
}

/// Changes when the generated workload does (logs of another are regenerated).
const WORKLOAD: &str = "conn-v2";

const FIELDS: &str = "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents";
const TYPES: &str = "time\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]";

/// Writes `lines` conn.log lines over `days` days: 2 000 clients browsing
/// 50 000 servers (popular ones more often), 20 clients beaconing every
/// 60–600 s ± 10 % to one address each.
fn generate(dir: &Path, lines: u64, days: u64) -> Result<()> {
    let _ = std::fs::remove_dir_all(dir);
    let files = days.max(1) * 24;
    let per_file = lines.div_ceil(files);
    let start = 1_700_006_400u64; // a midnight, UTC
    let mut rng = Rng::new(7);
    let mut written = 0u64;
    let beacons: Vec<(u64, f64)> = (0..20).map(|i| (i, rng.range(60, 600) as f64)).collect();
    let mut next_beat: Vec<f64> = beacons.iter().map(|(_, p)| start as f64 + p).collect();
    let services = ["ssl", "http", "dns", "-", "ssl", "ssl"];
    let states = ["SF", "SF", "SF", "S0", "REJ", "RSTO", "OTH"];
    for f in 0..files {
        if written >= lines {
            break;
        }
        let day = f / 24;
        let hour = f % 24;
        let folder = dir.join(format!("2023-11-{:02}", 15 + day));
        std::fs::create_dir_all(&folder)?;
        let path = folder.join(format!("conn.{hour:02}:00:00-{:02}:00:00.log.gz", hour + 1));
        let mut gz = GzEncoder::new(
            std::io::BufWriter::new(std::fs::File::create(&path)?),
            flate2::Compression::default(),
        );
        writeln!(gz, "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#open\t2023-11-15-00-00-00\n#fields\t{FIELDS}\n#types\t{TYPES}")?;
        let lo = (start + f * 3600) as f64;
        let n = per_file.min(lines - written);
        let step = 3600.0 / n as f64;
        for k in 0..n {
            let t = lo + k as f64 * step;
            let c = rng.below(2_000);
            let mut client = format!("10.1.{}.{}", c / 250, 1 + c % 250);
            // Popular servers more often: the square of a uniform pick.
            let u = rng.unit();
            let sv = ((u * u) * 50_000.0) as u64;
            let mut server = format!("{}.{}.7.{}", 23 + sv % 180, (sv / 180) % 256, 1 + sv % 250);
            let mut port = *rng.pick(&[443u16, 443, 443, 80, 53, 8080]);
            if let Some(b) = next_beat.iter().position(|nb| *nb <= t) {
                next_beat[b] += beacons[b].1 * (0.9 + 0.2 * rng.unit());
                client = format!("10.9.0.{}", 1 + b);
                server = format!("198.51.100.{}", 1 + b);
                port = 8443;
            }
            let uid = format!("C{:016x}", rng.next_u64() >> 1);
            let svc = rng.pick(&services);
            let state = rng.pick(&states);
            let ob = rng.below(20_000);
            let rb = rng.below(200_000);
            writeln!(
                gz,
                "{t:.6}\t{uid}\t{client}\t{}\t{server}\t{port}\ttcp\t{svc}\t{:.6}\t{ob}\t{rb}\t{state}\tT\tF\t0\tShADadFf\t{}\t{}\t{}\t{}\t-",
                1024 + rng.below(60_000),
                rng.unit() * 30.0,
                ob / 500 + 3,
                ob + 200,
                rb / 1400 + 3,
                rb + 200
            )?;
        }
        writeln!(gz, "#close\t2023-11-15-01-00-00")?;
        gz.finish()?.flush()?;
        written += n;
    }
    std::fs::write(dir.join(".complete"), format!("{WORKLOAD} {lines}"))?;
    Ok(())
}

/// The floor as a child: gunzip every file and split every line on tabs.
fn floor(dir: &Path) -> Result<()> {
    let mut files = Vec::new();
    for day in std::fs::read_dir(dir)? {
        let day = day?.path();
        if day.is_dir() {
            for f in std::fs::read_dir(&day)? {
                files.push(f?.path());
            }
        }
    }
    let (mut lines, mut cols) = (0u64, 0u64);
    let mut buf = Vec::new();
    for f in files {
        let mut r = BufReader::with_capacity(
            1 << 16,
            flate2::bufread::MultiGzDecoder::new(BufReader::with_capacity(
                1 << 16,
                std::fs::File::open(&f)?,
            )),
        );
        loop {
            buf.clear();
            if r.read_until(b'\n', &mut buf)? == 0 {
                break;
            }
            lines += 1;
            cols += buf.split(|&b| b == b'\t').count() as u64;
        }
    }
    println!("{lines} {cols}");
    Ok(())
}

fn os(parts: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    parts.iter().map(|p| p.as_ref().to_os_string()).collect()
}

fn main() -> Result<()> {
    let raw: Vec<OsString> = std::env::args_os().collect();
    if raw.get(1).is_some_and(|a| a == MEASURE_ARG) {
        return measure::helper(&raw[2..]);
    }
    if raw.get(1).is_some_and(|a| a == "__floor") {
        return floor(Path::new(raw.get(2).context("__floor DIR")?));
    }
    let a = Args::parse();
    let me = std::env::current_exe()?;
    let virga = a
        .virga
        .clone()
        .unwrap_or_else(|| me.with_file_name("virga"));
    if !virga.exists() {
        bail!(
            "{} not found: cargo build --release -p virga",
            virga.display()
        );
    }
    let logs = a.dir.join("logs");
    let done = std::fs::read_to_string(logs.join(".complete")).ok();
    if done.as_deref() != Some(format!("{WORKLOAD} {}", a.lines).as_str()) {
        eprintln!(
            "generating {} conn.log lines in {}",
            a.lines,
            logs.display()
        );
        generate(&logs, a.lines, a.days)?;
    }
    let stored: u64 = walk_size(&logs);
    let eve = a.dir.join("eve.json");
    let fl = runs(&os(&[&me, &"__floor", &logs]), a.repeat)?;
    let _ = std::fs::remove_file(&eve);
    let hunt_cmd = os(&[&virga, &"hunt", &"--scope", &a.scope, &"-o", &eve, &logs]);
    let h = runs(&hunt_cmd, a.repeat)?;
    let (fw, fc, frss) = (fl.wall, fl.cpu, fl.rss_kib);
    let (hw, hc, hrss, threads) = (h.wall, h.cpu, h.rss_kib, h.threads);
    let text = std::fs::read_to_string(&eve).unwrap_or_default();
    let alerts = text
        .lines()
        .filter(|l| l.contains("\"event_type\":\"alert\""))
        .count();
    let rate = |w: Duration| a.lines as f64 / w.as_secs_f64();
    println!(
        "conn.log lines {} ({} files, {:.1} MB gzip)",
        a.lines,
        a.days * 24,
        stored as f64 / 1e6
    );
    println!(
        "floor (gunzip + split):  wall {:>8.2?} cpu {:>8.2?} rss {:>7} KiB  {:>12.0} lines/s",
        fw,
        fc,
        frss,
        rate(fw)
    );
    println!("virga hunt --scope {}: wall {:>8.2?} cpu {:>8.2?} rss {:>7} KiB  {:>12.0} lines/s  ({:.2}x the floor's time; {alerts} alert lines over {} runs)", a.scope, hw, hc, hrss, rate(hw), hw.as_secs_f64() / fw.as_secs_f64(), a.repeat);
    for (name, cpu) in threads {
        println!("  thread {name}: cpu {cpu:.2?}");
    }
    Ok(())
}

fn walk_size(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.filter_map(Result::ok)
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                walk_size(&p)
            } else {
                e.metadata().map_or(0, |m| m.len())
            }
        })
        .sum()
}
