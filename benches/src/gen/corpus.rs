//! Real first flights from the client corpus: for every labelled connection
//! of `corpus/clients/labels.jsonl`, the payloads both sides sent, in order
//! (TCP retransmissions dropped), so the generator replays real ClientHellos,
//! server flights and QUIC Initial datagrams under new addresses.

use anyhow::{bail, Context, Result};
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;
use virga::capture::pcap_file::PcapFile;
use virga_parsers::packet::{self, LinkType, Transport};

/// Most payloads kept per connection.
const MAX_PAYLOADS: usize = 24;

/// One real connection's payloads.
#[derive(Debug, Clone)]
pub struct Template {
    /// The client program (`curl`, `chromium`, ...).
    pub client: String,
    /// The client is a browser.
    pub browser: bool,
    /// The TLS server name the client sent.
    pub sni: String,
    /// The name is in the corpus's serverless list.
    pub serverless: bool,
    /// QUIC (UDP) rather than TLS over TCP.
    pub quic: bool,
    /// The server's port.
    pub server_port: u16,
    /// (sent by the client, payload) in capture order.
    pub payloads: Vec<(bool, Vec<u8>)>,
}

struct Building {
    t: Template,
    /// Next expected TCP sequence number per direction (client, server).
    next: [Option<u32>; 2],
}

/// Loads every labelled connection's payloads from `shared/corpus/clients`.
pub fn load(shared: &Path) -> Result<Vec<Template>> {
    let corpus = shared.join("corpus");
    let names: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(corpus.join("lab_names.json")).context("lab_names.json")?,
    )?;
    let serverless: HashSet<String> = names["serverless"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let labels = std::fs::read_to_string(corpus.join("clients/labels.jsonl"))
        .context("clients/labels.jsonl")?;
    // (pcap, client ip, client port) -> connection being built
    let mut conns: HashMap<(String, IpAddr, u16), Building> = HashMap::new();
    let mut pcaps: Vec<String> = Vec::new();
    for line in labels.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line)?;
        let (Some(pcap), Some(ip), Some(port), Some(sni)) = (
            v["pcap"].as_str(),
            v["client_ip"]
                .as_str()
                .and_then(|s| s.parse::<IpAddr>().ok()),
            v["client_port"].as_u64(),
            v["sni"].as_str(),
        ) else {
            continue;
        };
        if !pcaps.iter().any(|p| p == pcap) {
            pcaps.push(pcap.to_owned());
        }
        conns.insert(
            (pcap.to_owned(), ip, port as u16),
            Building {
                t: Template {
                    client: v["client"].as_str().unwrap_or("?").to_owned(),
                    browser: v["is_browser"].as_bool().unwrap_or(false),
                    sni: sni.to_owned(),
                    serverless: serverless.contains(sni),
                    quic: v["transport"].as_str() == Some("quic"),
                    server_port: v["server_port"].as_u64().unwrap_or(443) as u16,
                    payloads: Vec::new(),
                },
                next: [None, None],
            },
        );
    }
    for pcap in &pcaps {
        let path = corpus.join("clients").join(pcap);
        let mut f =
            PcapFile::open(&path.to_string_lossy()).with_context(|| path.display().to_string())?;
        while let Some(p) = f.next_packet()? {
            let Ok(v) = packet::decode(LinkType(p.linktype), p.data) else {
                continue;
            };
            let Some(ip) = v.ip else { continue };
            let (sp, dp, payload, seq) = match v.transport {
                Transport::Tcp(t) => (t.src_port, t.dst_port, t.payload, Some(t.seq)),
                Transport::Udp(u) => (u.src_port, u.dst_port, u.payload, None),
                _ => continue,
            };
            if payload.is_empty() {
                continue;
            }
            let (key, from_client) = if let Some(k) =
                Some((pcap.clone(), ip.src, sp)).filter(|k| conns.contains_key(k))
            {
                (k, true)
            } else {
                ((pcap.clone(), ip.dst, dp), false)
            };
            let Some(b) = conns.get_mut(&key) else {
                continue;
            };
            if b.t.payloads.len() >= MAX_PAYLOADS {
                continue;
            }
            if let Some(seq) = seq {
                let next = &mut b.next[usize::from(!from_client)];
                if let Some(n) = *next {
                    // Retransmission or overlap: keep the first copy.
                    if (seq.wrapping_sub(n) as i32) < 0 {
                        continue;
                    }
                }
                *next = Some(seq.wrapping_add(payload.len() as u32));
            }
            b.t.payloads.push((from_client, payload.to_vec()));
        }
    }
    let mut out: Vec<Template> = conns
        .into_values()
        .map(|b| b.t)
        .filter(|t| t.payloads.first().is_some_and(|p| p.0))
        .collect();
    // HashMap order is random: sort so the same seed gives the same bytes.
    out.sort_by(|a, b| (&a.client, &a.sni, &a.payloads).cmp(&(&b.client, &b.sni, &b.payloads)));
    if out.is_empty() {
        bail!("no labelled connection found under {}", corpus.display());
    }
    Ok(out)
}
