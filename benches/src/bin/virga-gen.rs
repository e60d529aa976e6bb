//! Writes a deterministic, seeded workload as a pcap file (never commit the
//! output): `virga-gen mix -o /tmp/mix.pcap`, `virga-gen flood-syn --beacon
//! -o /tmp/syn.pcap`, ... Same arguments, same bytes.
#![forbid(unsafe_code)]

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};
use std::path::PathBuf;
use virga_benches::gen::flood::{self, Flood};
use virga_benches::gen::mix::{self, MixOptions};
use virga_benches::gen::rng::Rng;
use virga_benches::gen::sink::Sink;
use virga_benches::gen::{corpus, in_connection, replicate, world};

/// The workload to write.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kind {
    /// Enterprise mix: TLS with real hellos, bulk TCP, QUIC, DNS, beacons.
    Mix,
    /// TCP SYN flood, one distinct flow per packet.
    FloodSyn,
    /// UDP scatter, one distinct flow per packet.
    FloodUdp,
    /// Half-sent TLS and QUIC handshakes, one distinct flow per packet.
    FloodHandshake,
    /// Random subdomains of one workers.dev account (query + answer each).
    Subdomains,
    /// A labelled timeline of beacons polling inside long-lived connections
    /// to serverless names, with benign long-lived connections; its truth
    /// file is written beside the pcap (`NAME.truth.json`) for `virga-eval`.
    InConnection,
    /// Every packet of `--from` (a classic pcap) written `--copies` times,
    /// copy k with its 10/8 addresses moved to another /16: a lab timeline
    /// over ten times the hosts is a handshake-heavy workload.
    Replicate,
}

/// Deterministic workload generator for virga's benchmarks and flood tests.
#[derive(Debug, Parser)]
#[command(name = "virga-gen")]
struct Args {
    /// Workload.
    #[arg(value_enum)]
    kind: Kind,
    /// Output pcap path.
    #[arg(short, long)]
    out: PathBuf,
    /// Packets to write (at least; default 6 000 000 for mix, 1 000 000
    /// for floods, 200 000 for subdomains = 100 000 names).
    #[arg(short = 'n', long)]
    packets: Option<u64>,
    /// Seed.
    #[arg(short, long, default_value_t = 1)]
    seed: u64,
    /// Packet-time span in seconds (default 1800 for mix, 300 for floods).
    #[arg(long)]
    seconds: Option<u64>,
    /// Mix a real beacon into a flood.
    #[arg(long)]
    beacon: bool,
    /// Internal client hosts of the mix.
    #[arg(long, default_value_t = 2000)]
    clients: u32,
    /// Serverless beacons in the mix.
    #[arg(long, default_value_t = 4)]
    beacons: usize,
    /// `replicate`: the capture to replicate.
    #[arg(long, value_name = "PCAP")]
    from: Option<PathBuf>,
    /// `replicate`: copies of every packet (1 to 16).
    #[arg(long, default_value_t = 10)]
    copies: u32,
    /// The shared directory (with corpus/); default VIRGA_SHARED_DIR or ../../shared.
    #[arg(long)]
    shared: Option<PathBuf>,
}

fn main() -> Result<()> {
    let a = Args::parse();
    if let Kind::Replicate = a.kind {
        let from = a.from.as_deref().context("replicate needs --from PCAP")?;
        let n = replicate::replicate(from, &a.out, a.copies)?;
        eprintln!(
            "wrote {}: {} packets ({} × {} of {})",
            a.out.display(),
            n.written,
            a.copies,
            n.read,
            from.display()
        );
        return Ok(());
    }
    let shared = a
        .shared
        .clone()
        .or_else(|| std::env::var_os("VIRGA_SHARED_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")));
    let tpls = corpus::load(&shared)?;
    let mut rng = Rng::new(a.seed);
    let mut sink = Sink::create(&a.out).with_context(|| a.out.display().to_string())?;
    let seconds;
    match a.kind {
        Kind::Mix => {
            seconds = a.seconds.unwrap_or(1800);
            let o = MixOptions {
                packets: a.packets.unwrap_or(6_000_000),
                seconds,
                clients: a.clients.max(1),
                beacons: a.beacons,
            };
            let s = mix::generate(&mut sink, &mut rng, &tpls, &o)?;
            eprintln!(
                "sessions: tls {} bulk {} quic {} dns {}",
                s.sessions[0], s.sessions[1], s.sessions[2], s.sessions[3]
            );
            for (host, name, period, beats) in &s.beacons {
                eprintln!("beacon: {host} -> {name} every {period} s, {beats} beats");
            }
        }
        Kind::InConnection => {
            seconds = a.seconds.unwrap_or(6 * 3600);
            let stem = a
                .out
                .file_stem()
                .and_then(|s| s.to_str())
                .context("output name")?
                .to_owned();
            let pcap_name = a
                .out
                .file_name()
                .and_then(|s| s.to_str())
                .context("output name")?
                .to_owned();
            let truth = in_connection::generate(
                &mut sink,
                &mut rng,
                &tpls,
                seconds.div_ceil(3600),
                &stem,
                &pcap_name,
            )?;
            let path = a.out.with_file_name(format!("{stem}.truth.json"));
            std::fs::write(&path, serde_json::to_string_pretty(&truth)? + "\n")
                .with_context(|| path.display().to_string())?;
            eprintln!("truth: {}", path.display());
        }
        Kind::Replicate => anyhow::bail!("replicate returns before the corpus is loaded"),
        Kind::FloodSyn | Kind::FloodUdp | Kind::FloodHandshake | Kind::Subdomains => {
            seconds = a.seconds.unwrap_or(300);
            let (kind, default) = match a.kind {
                Kind::FloodSyn => (Flood::Syn, 1_000_000),
                Kind::FloodUdp => (Flood::Udp, 1_000_000),
                Kind::FloodHandshake => (Flood::Handshakes, 1_000_000),
                _ => (Flood::Subdomains, 200_000),
            };
            // The beacon: a non-browser program's real connection to a
            // workers.dev name (curl's first, else any).
            let beacon = a.beacon.then(|| {
                let ok = |t: &&corpus::Template| {
                    !t.quic && !t.browser && t.serverless && t.sni.ends_with(".workers.dev")
                };
                tpls.iter()
                    .filter(ok)
                    .find(|t| t.client == "curl")
                    .or_else(|| tpls.iter().find(ok))
            });
            let beacon = match beacon {
                Some(None) => anyhow::bail!("no non-browser workers.dev connection in the corpus"),
                Some(Some(t)) => Some(t),
                None => None,
            };
            let info = flood::generate(
                &mut sink,
                &mut rng,
                kind,
                a.packets.unwrap_or(default),
                seconds,
                beacon,
                &tpls,
            )?;
            if let Some(b) = info {
                let ip = b.client;
                eprintln!(
                    "beacon: {}.{}.{}.{} ({}) -> {} every {:.1} s ±10 %, {} beats",
                    ip[0], ip[1], ip[2], ip[3], b.program, b.name, b.period_s, b.beats
                );
            }
        }
    }
    let (packets, bytes) = sink.finish()?;
    eprintln!(
        "wrote {}: {packets} packets, {bytes} bytes, {seconds} s of packet time from {} (seed {})",
        a.out.display(),
        world::START_US / 1_000_000,
        a.seed
    );
    Ok(())
}
