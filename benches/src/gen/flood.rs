//! Flood workloads: a SYN flood and a UDP scatter (one distinct flow per
//! packet), random subdomains under one workers.dev account (a query and an
//! answer per name), each optionally with a real beacon mixed in.

use super::corpus::Template;
use super::dns_wire::rtype;
use super::frames::{self, flags, Endpoint};
use super::rng::Rng;
use super::sink::Sink;
use super::world::{self, START_US};
use anyhow::{bail, Result};

/// Which flood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flood {
    /// TCP SYNs, each from a distinct (address, port).
    Syn,
    /// UDP datagrams, each from a distinct (address, port).
    Udp,
    /// DNS queries and answers for distinct random names under one account.
    Subdomains,
    /// Half-sent handshakes, one flow each: the first 100 bytes of a real
    /// TLS ClientHello, or the first Initial datagram of a real QUIC hello
    /// that spans two, never completed (state a sensor must buffer).
    Handshakes,
}

/// The account of the subdomain flood.
pub const FLOOD_ACCOUNT: &str = "floodacct.workers.dev";

/// The beacon mixed into a flood.
#[derive(Debug)]
pub struct BeaconInfo {
    /// The beacon's host.
    pub client: [u8; 4],
    /// The name it connects to (the hello's SNI).
    pub name: String,
    /// The client program whose hello is replayed.
    pub program: String,
    /// Seconds between beats.
    pub period_s: f64,
    /// Beats written.
    pub beats: usize,
}

/// The source of flow `i`: distinct for every `i` below 2^32 (address
/// 10.128.0.0/9 + port 1024..=64_023).
fn source(i: u64) -> Endpoint {
    let host = (i / 63_000) as u32;
    Endpoint {
        ip: [
            10,
            128 | ((host >> 16) as u8 & 0x7f),
            (host >> 8) as u8,
            host as u8,
        ],
        port: 1024 + (i % 63_000) as u16,
    }
}

/// The first 100 bytes of a real TLS ClientHello record and the first client
/// datagram of a real QUIC connection whose hello needs more than one.
fn half_handshakes(templates: &[Template]) -> Result<(Vec<u8>, Vec<u8>)> {
    let tls = templates
        .iter()
        .filter(|t| !t.quic)
        .find_map(|t| t.payloads.iter().find(|(c, p)| *c && p.len() > 200))
        .map(|(_, p)| p[..100].to_vec());
    let quic = templates
        .iter()
        .filter(|t| t.quic)
        .find(|t| t.payloads.iter().take_while(|(c, _)| *c).count() >= 2)
        .map(|t| t.payloads[0].1.clone());
    match (tls, quic) {
        (Some(t), Some(q)) => Ok((t, q)),
        _ => bail!("the corpus has no TLS hello or no two-datagram QUIC hello"),
    }
}

/// Writes `packets` packets of `kind` over `seconds`, with a beacon when
/// `beacon` is given (a non-browser template with a serverless name);
/// `templates` (the corpus) feed the handshake flood.
pub fn generate(
    sink: &mut Sink,
    rng: &mut Rng,
    kind: Flood,
    packets: u64,
    seconds: u64,
    beacon: Option<&Template>,
    templates: &[Template],
) -> Result<Option<BeaconInfo>> {
    let end = START_US + seconds * 1_000_000;
    let mut info = beacon.map(|t| BeaconInfo {
        client: [10, 9, 9, 9],
        name: t.sni.clone(),
        program: t.client.clone(),
        // At least 12 beats over the span, never faster than every 10 s.
        period_s: (seconds as f64 / 14.0).max(10.0),
        beats: 0,
    });
    let mut beats = match &info {
        Some(b) => world::beacon_times(rng, START_US, end, b.period_s, 0.1),
        None => Vec::new(),
    }
    .into_iter()
    .peekable();
    if kind == Flood::Subdomains && packets < 2 {
        bail!("the subdomain flood needs at least 2 packets");
    }
    let steps = if kind == Flood::Subdomains {
        packets / 2
    } else {
        packets
    };
    let step_us = (seconds * 1_000_000) as f64 / steps as f64;
    let mut payload = [0u8; 64];
    let halves = if kind == Flood::Handshakes {
        Some(half_handshakes(templates)?)
    } else {
        None
    };
    for i in 0..steps {
        let t = START_US + (i as f64 * step_us) as u64;
        while beats.peek().is_some_and(|&bt| bt <= t) {
            let bt = beats.next().expect("peeked");
            sink.release_before(bt)?;
            if let (Some(tpl), Some(b)) = (beacon, info.as_mut()) {
                let at = world::resolve(sink, rng, b.client, bt, &tpl.sni, false, None);
                world::replay(sink, rng, tpl, b.client, at + 500, 0);
                b.beats += 1;
            }
        }
        sink.release_before(t)?;
        match kind {
            Flood::Syn => {
                let dst = Endpoint {
                    ip: [203, 0, 113, rng.range(1, 254) as u8],
                    port: *rng.pick(&[80, 443, 8080]),
                };
                sink.push(
                    t,
                    frames::tcp(source(i), dst, rng.next_u64() as u32, 0, flags::SYN, &[]),
                );
            }
            Flood::Udp => {
                let dst = Endpoint {
                    ip: [
                        100,
                        64 + rng.below(64) as u8,
                        rng.below(256) as u8,
                        rng.range(1, 254) as u8,
                    ],
                    port: rng.range(1024, 65_535) as u16,
                };
                let n = rng.range(16, 64) as usize;
                rng.fill(&mut payload[..n]);
                sink.push(t, frames::udp(source(i), dst, &payload[..n]));
            }
            Flood::Handshakes => {
                let (tls_start, quic_first) = halves.as_ref().expect("set for Handshakes");
                let dst = Endpoint {
                    ip: [203, 0, 113, rng.range(1, 254) as u8],
                    port: 443,
                };
                let frame = if i % 2 == 0 {
                    frames::tcp(
                        source(i),
                        dst,
                        rng.next_u64() as u32,
                        0,
                        flags::ACK | flags::PSH,
                        tls_start,
                    )
                } else {
                    frames::udp(source(i), dst, quic_first)
                };
                sink.push(t, frame);
            }
            Flood::Subdomains => {
                // Random letters and digits, then the index in base 36 so
                // every name is distinct.
                let mut label: Vec<u8> = (0..rng.range(8, 20))
                    .map(|_| b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.below(36) as usize])
                    .collect();
                let mut k = i;
                loop {
                    label.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[(k % 36) as usize]);
                    k /= 36;
                    if k == 0 {
                        break;
                    }
                }
                let name = format!(
                    "{}.{FLOOD_ACCOUNT}",
                    String::from_utf8(label).expect("ascii")
                );
                let client = [10, 3, 0, 1 + (i % 8) as u8];
                world::lookup(sink, rng, client, t, &name, rtype::A, None, false, 60);
            }
        }
    }
    Ok(info)
}
