//! Throughput harness: on one capture, in one run, the floor (a bare
//! libpcap read loop touching every byte), `virga replay` with every
//! detector on and EVE written to a file with 1 and with 2 workers, each
//! repeated and reported as the median, with the CPU per million packets
//! over all threads and the serial fraction (CPU of the threads other than
//! the workers over all CPU); then the bytes per tracked flow and the peak
//! RSS of generated SYN floods.
//!
//! `cargo build --release -p virga -p virga-benches && nice -n -10
//! target/release/virga-throughput /tmp/mix.pcap`
#![forbid(unsafe_code)]

use anyhow::{bail, Context, Result};
use clap::Parser;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;
use virga_benches::gen::flood::{self, Flood};
use virga_benches::gen::rng::Rng;
use virga_benches::gen::sink::Sink;
use virga_benches::measure::{self, runs, Medians, MEASURE_ARG};

/// Measures virga against the libpcap floor on one capture.
#[derive(Debug, Parser)]
#[command(name = "virga-throughput")]
struct Args {
    /// The capture (e.g. from `virga-gen mix`).
    pcap: PathBuf,
    /// Runs of each measurement (the median is reported).
    #[arg(short, long, default_value_t = 3)]
    repeat: usize,
    /// The virga binary (default: beside this one).
    #[arg(long)]
    virga: Option<PathBuf>,
    /// Pass --log-all to virga (every tls/quic/dns/http/flow event).
    #[arg(long)]
    log_all: bool,
    /// SYN flood size for the bytes-per-flow measurement (0: skip it).
    #[arg(long, default_value_t = 1_000_000)]
    flood_packets: u64,
    /// Scratch directory (configs, EVE output, floods).
    #[arg(long, default_value = "/tmp/virga-throughput")]
    dir: PathBuf,
}

/// The floor as a child: count packets and sum every byte of every packet.
fn floor(path: &OsString) -> Result<()> {
    let mut cap = pcap::Capture::from_file(Path::new(path))?;
    let (mut packets, mut bytes, mut sum) = (0u64, 0u64, 0u64);
    loop {
        match cap.next_packet() {
            Ok(p) => {
                packets += 1;
                bytes += p.data.len() as u64;
                sum = p
                    .data
                    .iter()
                    .fold(sum, |s, &b| s.wrapping_add(u64::from(b)));
            }
            Err(pcap::Error::NoMorePackets) => break,
            Err(e) => return Err(e.into()),
        }
    }
    println!("{packets} {bytes} {sum}");
    Ok(())
}

fn config(dir: &Path, name: &str, workers: usize, max_flows: Option<u64>) -> Result<PathBuf> {
    let p = dir.join(name);
    let mut s = format!("[pipeline]\nworkers = {workers}\n");
    if let Some(m) = max_flows {
        s.push_str(&format!("[flow]\nmax_flows = {m}\n"));
    }
    std::fs::write(&p, s)?;
    Ok(p)
}

fn os(parts: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    parts.iter().map(|p| p.as_ref().to_os_string()).collect()
}

/// (CPU s of the threads that are not workers, CPU s of all threads) of
/// one run's per-thread samples. Workers are the threads named
/// `virga-worker*`.
fn serial_fraction(threads: &[(String, Duration)]) -> (f64, f64) {
    let all: f64 = threads.iter().map(|t| t.1.as_secs_f64()).sum();
    let workers: f64 = threads
        .iter()
        .filter(|t| t.0.starts_with("virga-worker"))
        .map(|t| t.1.as_secs_f64())
        .sum();
    (all - workers, all)
}

fn gen_flood(path: &Path, packets: u64, seconds: u64) -> Result<()> {
    let mut sink = Sink::create(path)?;
    flood::generate(
        &mut sink,
        &mut Rng::new(1),
        Flood::Syn,
        packets,
        seconds,
        None,
        &[],
    )?;
    sink.finish()?;
    Ok(())
}

/// Flows the last `stats` event of an EVE file counts as created.
fn flows_total(eve: &Path) -> Result<u64> {
    let text = std::fs::read_to_string(eve)?;
    let last = text
        .lines()
        .rev()
        .find(|l| l.contains("\"event_type\":\"stats\""))
        .context("no stats event")?;
    let v: serde_json::Value = serde_json::from_str(last)?;
    v["stats"]["flow"]["total"]
        .as_u64()
        .context("no stats.flow.total")
}

fn main() -> Result<()> {
    let raw: Vec<OsString> = std::env::args_os().collect();
    if raw.get(1).is_some_and(|a| a == MEASURE_ARG) {
        return measure::helper(&raw[2..]);
    }
    if raw.get(1).is_some_and(|a| a == "__floor") {
        return floor(raw.get(2).context("__floor FILE")?);
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
    std::fs::create_dir_all(&a.dir)?;
    let eve = a.dir.join("eve.json");

    // (a) the floor
    let fl = runs(&os(&[&me, &"__floor", &a.pcap]), a.repeat)?;
    let f: Vec<u64> = fl
        .stdout
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let [packets, bytes, _] = f[..] else {
        bail!("floor printed {:?}", fl.stdout)
    };
    let mut rows = vec![("libpcap read loop (floor)".to_owned(), fl)];
    // (b), (c) virga replay, 1 and 2 workers
    for w in [1usize, 2] {
        let cfg = config(&a.dir, &format!("w{w}.toml"), w, None)?;
        let mut cmd = os(&[&virga, &"replay", &"-c", &cfg, &"-o", &eve]);
        if a.log_all {
            cmd.push("--log-all".into());
        }
        cmd.push(a.pcap.clone().into());
        let m = runs(&cmd, a.repeat)?;
        let s = if w > 1 { "s" } else { "" };
        rows.push((format!("virga replay, {w} worker{s}"), m));
    }
    let lines = std::fs::read_to_string(&eve)
        .map(|t| t.lines().count())
        .unwrap_or(0);
    println!(
        "capture {}: {packets} packets, {bytes} bytes ({:.0} B/packet); median of {} runs each; EVE lines (2 workers): {lines}\n",
        a.pcap.display(),
        bytes as f64 / packets.max(1) as f64,
        a.repeat
    );
    println!("| run | wall s | packets/s | Gbit/s | ns/packet | × floor packets/s | CPU s | busiest thread CPU s | packets/s by busiest thread | peak RSS MiB |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let floor_wall = rows[0].1.wall.as_secs_f64();
    let busiest = |m: &Medians| {
        m.threads
            .iter()
            .map(|t| t.1)
            .max()
            .unwrap_or(m.cpu)
            .as_secs_f64()
    };
    for (name, m) in &rows {
        let s = m.wall.as_secs_f64();
        println!(
            "| {name} | {s:.3} | {:.0} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2} | {:.0} | {:.1} |",
            packets as f64 / s,
            bytes as f64 * 8.0 / s / 1e9,
            s * 1e9 / packets as f64,
            floor_wall / s,
            m.cpu.as_secs_f64(),
            busiest(m),
            packets as f64 / busiest(m),
            m.rss_kib as f64 / 1024.0
        );
    }
    println!(
        "\n2 workers / 1 worker packets/s: {:.2} (wall), {:.2} (busiest thread)",
        rows[1].1.wall.as_secs_f64() / rows[2].1.wall.as_secs_f64(),
        busiest(&rows[1].1) / busiest(&rows[2].1)
    );
    // CPU per packet over all threads, and the serial fraction: the CPU of
    // every thread but the workers (capture, detection, output, ...) over
    // all CPU, from the per-thread samples of the median run.
    println!("\n| run | CPU s per million packets (all threads) | serial fraction |");
    println!("|---|---|---|");
    for (name, m) in &rows[1..] {
        let (serial, all) = serial_fraction(&m.threads);
        println!(
            "| {name} | {:.3} | {:.3} |",
            m.cpu.as_secs_f64() * 1e6 / packets.max(1) as f64,
            serial / all.max(f64::MIN_POSITIVE)
        );
    }
    println!("\nCPU s per thread (run with the median wall time):");
    for (name, m) in &rows[1..] {
        let t: Vec<String> = m
            .threads
            .iter()
            .map(|(n, d)| format!("{n} {:.2}", d.as_secs_f64()))
            .collect();
        println!("- {name}: {}", t.join(", "));
    }

    // Bytes per tracked flow: one worker on a SYN flood whose flows all
    // stay alive (30 s of packet time, the TCP new-flow timeout), with two
    // table sizes; both tables fill, so the RSS difference is the flows'.
    if a.flood_packets > 0 {
        let n = a.flood_packets;
        let small = a.dir.join("flood.pcap");
        let big = a.dir.join("flood2.pcap");
        gen_flood(&small, n, 30)?;
        gen_flood(&big, 2 * n, 60)?;
        let (lo, hi) = (65_536u64, (n / 2).max(131_072).next_power_of_two());
        let mut rss = Vec::new();
        for (m, file) in [(lo, &small), (hi, &small), (lo, &big)] {
            let cfg = config(&a.dir, &format!("flood{m}.toml"), 1, Some(m))?;
            let r = runs(
                &os(&[&virga, &"replay", &"-c", &cfg, &"-o", &eve, file]),
                a.repeat,
            )?;
            rss.push(r);
        }
        let total = flows_total(&eve)?;
        let rss: Vec<u64> = rss.iter().map(|m| m.rss_kib).collect();
        let per_flow = (rss[1] as f64 - rss[0] as f64) * 1024.0 / (hi - lo) as f64;
        println!("\nSYN flood, 1 worker, median of {} runs:", a.repeat);
        println!("| flood | flow.max_flows | peak RSS MiB |");
        println!("|---|---|---|");
        println!(
            "| {n} flows in 30 s | {lo} | {:.1} |",
            rss[0] as f64 / 1024.0
        );
        println!(
            "| {n} flows in 30 s | {hi} | {:.1} |",
            rss[1] as f64 / 1024.0
        );
        println!(
            "| {} flows in 60 s ({total} counted) | {lo} | {:.1} |",
            2 * n,
            rss[2] as f64 / 1024.0
        );
        println!("bytes per tracked flow (ΔRSS / Δmax_flows): {per_flow:.0}");
        println!(
            "memory once the table is full: {:+.1} MiB from {n} to {} flows",
            (rss[2] as f64 - rss[0] as f64) / 1024.0,
            2 * n
        );
        std::fs::remove_file(&small).ok();
        std::fs::remove_file(&big).ok();
    }
    std::fs::remove_file(&eve).ok();
    Ok(())
}
