//! `virga-fuzz-seeds OUT_DIR INPUT...`: writes fuzzing seed corpora from real
//! captures, one directory per fuzz target under `OUT_DIR`.
//!
//! Every pcap/pcapng file under the INPUT paths (files or directories, walked
//! recursively) is read with the sensor's own capture reader and decoded with
//! the parsers; the payloads each target takes are written as one file each,
//! named by a hash of their content (so reruns and duplicates collapse):
//!
//! | directory          | content                                                   |
//! |--------------------|-----------------------------------------------------------|
//! | `dns_parse`        | DNS messages (UDP payloads on port 53/5353/5355)          |
//! | `dns_tcp`          | TCP payloads on port 53 (length-prefixed messages)        |
//! | `tls_client_hello` | ClientHello handshake messages (TCP and decrypted QUIC)   |
//! | `tls_server_hello` | ServerHello handshake messages                            |
//! | `tls_records`      | TCP payloads that start with a TLS handshake record       |
//! | `quic_initial`     | UDP datagrams that start with a QUIC long header          |
//! | `http_request`     | TCP payloads that start with an HTTP/1.x request line     |
//! | `packet_decode`    | whole frames, prefixed by the link selector byte          |
//! | `defrag`           | the IP fragments of a capture, each length-prefixed       |
//! | `sensor_frames`    | runs of whole frames in the `sensor/fuzz` frame format    |
//!
//! The selector tables and the `sensor_frames` format must match
//! `parsers/fuzz/fuzz_targets/packet_decode.rs` and
//! `sensor/fuzz/fuzz_targets/sensor_frames.rs`.
#![forbid(unsafe_code)]

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::Context;
use virga::capture::pcap_file::PcapFile;
use virga_parsers::packet::{self, LinkType, Transport};
use virga_parsers::quic::{client_hello_from_initial, CryptoAssembler};
use virga_parsers::tls::record;

/// Link types in selector order (same table as the fuzz targets).
const LINKS: [u32; 11] = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276, 147];

/// Seeds kept per target (the first ones found, in file order).
const MAX_PER_TARGET: usize = 1500;
/// Seeds one capture may give one target, so no single file dominates.
const MAX_PER_FILE: usize = 60;
/// Frames per `sensor_frames` seed, and at most this many bytes.
const FRAMES_PER_SEED: usize = 200;
const FRAME_SEED_BYTES: usize = 48 * 1024;
/// `sensor_frames` seeds per capture.
const FRAME_SEEDS_PER_FILE: usize = 3;

struct Seeds {
    out: PathBuf,
    total: HashMap<&'static str, usize>,
    this_file: HashMap<&'static str, usize>,
}

impl Seeds {
    fn add(&mut self, target: &'static str, bytes: &[u8]) -> anyhow::Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        let t = self.total.entry(target).or_default();
        let f = self.this_file.entry(target).or_default();
        if *t >= MAX_PER_TARGET || *f >= MAX_PER_FILE {
            return Ok(());
        }
        let mut h = DefaultHasher::new();
        bytes.hash(&mut h);
        let path = self.out.join(target).join(format!("{:016x}", h.finish()));
        if !path.exists() {
            std::fs::write(&path, bytes).with_context(|| format!("{}", path.display()))?;
        }
        *t += 1;
        *f += 1;
        Ok(())
    }
}

const TARGETS: [&str; 10] = [
    "dns_parse",
    "dns_tcp",
    "tls_client_hello",
    "tls_server_hello",
    "tls_records",
    "quic_initial",
    "http_request",
    "packet_decode",
    "defrag",
    "sensor_frames",
];

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((out, inputs)) = args.split_first() else {
        eprintln!("usage: virga-fuzz-seeds OUT_DIR INPUT...");
        std::process::exit(2);
    };
    let mut files = Vec::new();
    for i in inputs {
        collect(Path::new(i), &mut files);
    }
    files.sort();
    let mut seeds = Seeds {
        out: PathBuf::from(out),
        total: HashMap::new(),
        this_file: HashMap::new(),
    };
    for t in TARGETS {
        std::fs::create_dir_all(seeds.out.join(t))?;
    }
    for f in &files {
        seeds.this_file.clear();
        if let Err(e) = one_file(f, &mut seeds) {
            eprintln!("{}: {e:#}", f.display());
        }
    }
    for t in TARGETS {
        println!("{t}: {}", seeds.total.get(t).copied().unwrap_or(0));
    }
    Ok(())
}

fn collect(p: &Path, files: &mut Vec<PathBuf>) {
    if p.is_dir() {
        if let Ok(rd) = std::fs::read_dir(p) {
            for e in rd.flatten() {
                collect(&e.path(), files);
            }
        }
    } else if is_capture(p) {
        files.push(p.to_path_buf());
    }
}

/// True for `.pcap`, `.pcapng` and `.cap` files.
fn is_capture(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("pcap" | "pcapng" | "cap")
    )
}

const HTTP_METHODS: [&[u8]; 8] = [
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"CONNECT ",
    b"PATCH ",
];

fn one_file(path: &Path, seeds: &mut Seeds) -> anyhow::Result<()> {
    let name = path.to_string_lossy().into_owned();
    let mut pcap = PcapFile::open(&name)?;
    let mut frames: Vec<u8> = Vec::new();
    let mut frame_count = 0;
    let mut frame_seeds = 0;
    let mut last_ts = None;
    let mut fragments: Vec<u8> = Vec::new();
    let mut scratch = vec![0u8; 65_536];
    let mut asm = CryptoAssembler::with_capacity(16 * 1024);
    let mut tls_scratch = Vec::new();
    while let Some(p) = pcap.next_packet()? {
        let sel = LINKS.iter().position(|&l| l == p.linktype);
        if let Some(sel) = sel {
            let sel = sel as u8;
            let mut pd = vec![sel];
            pd.extend_from_slice(p.data);
            seeds.add("packet_decode", &pd)?;
            if frame_seeds < FRAME_SEEDS_PER_FILE {
                let dt_ms = last_ts.map_or(0, |l: virga::time::Timestamp| {
                    p.ts.0.saturating_sub(l.0) / 1_000_000
                });
                last_ts = Some(p.ts);
                // Delta: milliseconds below 0x8000, else whole seconds with the top bit.
                let dt: u16 = if dt_ms < 0x8000 {
                    dt_ms as u16
                } else {
                    0x8000 | (dt_ms / 1000).min(0x7fff) as u16
                };
                let len = p.data.len().min(usize::from(u16::MAX));
                frames.push(sel);
                frames.extend_from_slice(&dt.to_be_bytes());
                frames.extend_from_slice(&(len as u16).to_be_bytes());
                frames.extend_from_slice(&p.data[..len]);
                frame_count += 1;
                if frame_count >= FRAMES_PER_SEED || frames.len() >= FRAME_SEED_BYTES {
                    seeds.add("sensor_frames", &frames)?;
                    frames.clear();
                    frame_count = 0;
                    frame_seeds += 1;
                }
            }
        }
        let Ok(v) = packet::decode(LinkType(p.linktype), p.data) else {
            continue;
        };
        if let Some(ip) = v.ip {
            if ip.is_fragment() && fragments.len() < 32 * 1024 {
                let n = ip.datagram.len().min(usize::from(u16::MAX));
                fragments.extend_from_slice(&(n as u16).to_be_bytes());
                fragments.extend_from_slice(&ip.datagram[..n]);
            }
        }
        match v.transport {
            Transport::Udp(u) => {
                let pl = u.payload;
                let ports = [u.src_port, u.dst_port];
                if ports.iter().any(|p| matches!(p, 53 | 5353 | 5355)) {
                    seeds.add("dns_parse", pl)?;
                }
                if pl.first().is_some_and(|b| b & 0xc0 == 0xc0) && pl.len() >= 7 {
                    seeds.add("quic_initial", pl)?;
                    if let Ok(ch) = client_hello_from_initial(pl, &mut scratch, &mut asm) {
                        let msg = ch.to_vec();
                        seeds.add("tls_client_hello", &msg)?;
                    }
                }
            }
            Transport::Tcp(t) => {
                let pl = t.payload;
                if t.src_port == 53 || t.dst_port == 53 {
                    seeds.add("dns_tcp", pl)?;
                }
                if HTTP_METHODS.iter().any(|m| pl.starts_with(m)) {
                    seeds.add("http_request", pl)?;
                }
                if pl.first() == Some(&record::CONTENT_TYPE_HANDSHAKE) {
                    seeds.add("tls_records", pl)?;
                    if let Ok(m) = record::first_handshake_message(pl, &mut tls_scratch) {
                        let msg = m.message.to_vec();
                        match msg.first() {
                            Some(1) => seeds.add("tls_client_hello", &msg)?,
                            Some(2) => seeds.add("tls_server_hello", &msg)?,
                            _ => {}
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if frame_count > 0 {
        seeds.add("sensor_frames", &frames)?;
    }
    seeds.add("defrag", &fragments)?;
    Ok(())
}
