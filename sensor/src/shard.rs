//! Which worker a packet goes to, decided on the capture thread.
//!
//! A packet goes to the worker of its flow's client address: the side not on
//! a server port, else the higher port, else the lower address — the same
//! for both directions, so a client's DNS answers and its connections meet on
//! one worker. IP fragments and other non-TCP/UDP packets go by their
//! address pair; frames without IP go to worker 0.
//!
//! The capture thread runs this for every packet, and with two workers it is
//! the pipeline's busiest thread, so the common frames — Ethernet with up to
//! two VLAN tags, then IPv4 (no fragment) or IPv6 (no extension header), then
//! a complete TCP or UDP header inside the captured bytes — are read by
//! [`peek`], a few fixed-offset reads. Every other frame (other link types,
//! fragments, extension headers, truncation, bad lengths) takes the full
//! decoder, exactly as the workers decode it. A test checks that both give
//! the same worker for every packet of the corpus and for every truncation
//! of it.

use crate::capture::RawPacket;
use crate::flow::key::{source_looks_like_server, Endpoint, Fnv1a, Tuple};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use virga_parsers::packet::{self, LinkType, Transport};

/// LINKTYPE_ETHERNET.
const ETHERNET: u32 = 1;

/// The worker for `p` among `workers`.
pub fn shard(p: &RawPacket<'_>, workers: usize) -> usize {
    if workers <= 1 {
        return 0;
    }
    match peek(p.linktype, p.data) {
        Some(t) => (hash_ip(client_of(&t)) % workers as u64) as usize,
        None => shard_by_decode(p, workers),
    }
}

fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*d.get(at)?, *d.get(at + 1)?]))
}

/// The addresses and ports of a plain Ethernet TCP/UDP frame, or `None` when
/// the frame needs the full decoder.
fn peek(linktype: u32, d: &[u8]) -> Option<Tuple> {
    if linktype != ETHERNET {
        return None;
    }
    let mut at = 12;
    let mut ether = be16(d, at)?;
    for _ in 0..2 {
        if !matches!(ether, 0x8100 | 0x88a8 | 0x9100) {
            break;
        }
        at += 4;
        ether = be16(d, at)?;
    }
    at += 2;
    let ip = d.get(at..)?;
    let (src, dst, proto, l4) = match ether {
        0x0800 => {
            let b0 = *ip.first()?;
            let ihl = usize::from(b0 & 0x0f) * 4;
            let total = usize::from(be16(ip, 2)?);
            let frag = be16(ip, 6)?;
            if b0 >> 4 != 4 || ihl < 20 || total < ihl || total > ip.len() || frag & 0x3fff != 0 {
                return None;
            }
            let s: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let t: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            (
                IpAddr::V4(Ipv4Addr::from(s)),
                IpAddr::V4(Ipv4Addr::from(t)),
                ip[9],
                &ip[ihl..total],
            )
        }
        0x86dd => {
            if *ip.first()? >> 4 != 6 {
                return None;
            }
            let len = usize::from(be16(ip, 4)?);
            if len == 0 || 40 + len > ip.len() {
                return None;
            }
            let s: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let t: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            (
                IpAddr::V6(Ipv6Addr::from(s)),
                IpAddr::V6(Ipv6Addr::from(t)),
                ip[6],
                &ip[40..40 + len],
            )
        }
        _ => return None,
    };
    let header = match proto {
        6 => usize::from(*l4.get(12)? >> 4) * 4,
        17 => 8,
        _ => return None,
    };
    if header < 8 || (proto == 6 && header < 20) || header > l4.len() {
        return None;
    }
    Some(Tuple {
        src: Endpoint {
            ip: src,
            port: be16(l4, 0)?,
        },
        dst: Endpoint {
            ip: dst,
            port: be16(l4, 2)?,
        },
        proto: 0,
    })
}

/// The worker by the full decoder (the workers' own view of the packet).
pub fn shard_by_decode(p: &RawPacket<'_>, workers: usize) -> usize {
    if workers <= 1 {
        return 0;
    }
    let Ok(view) = packet::decode(LinkType(p.linktype), p.data) else {
        return 0;
    };
    let Some(ip) = view.ip.as_ref() else {
        return 0;
    };
    let (sport, dport) = match view.transport {
        Transport::Tcp(t) => (t.src_port, t.dst_port),
        Transport::Udp(u) => (u.src_port, u.dst_port),
        _ => {
            let lo = if ip.src <= ip.dst { ip.src } else { ip.dst };
            return (hash_ip(lo) % workers as u64) as usize;
        }
    };
    let t = Tuple {
        src: Endpoint {
            ip: ip.src,
            port: sport,
        },
        dst: Endpoint {
            ip: ip.dst,
            port: dport,
        },
        proto: 0,
    };
    (hash_ip(client_of(&t)) % workers as u64) as usize
}

/// The client address of a packet's flow, the same for both directions.
fn client_of(t: &Tuple) -> IpAddr {
    let rev = t.reversed();
    let src_srv = source_looks_like_server(t);
    let dst_srv = source_looks_like_server(&rev);
    if src_srv != dst_srv {
        return if src_srv { t.dst.ip } else { t.src.ip };
    }
    if t.src.port != t.dst.port {
        return if t.src.port > t.dst.port {
            t.src.ip
        } else {
            t.dst.ip
        };
    }
    if t.src.ip <= t.dst.ip {
        t.src.ip
    } else {
        t.dst.ip
    }
}

fn hash_ip(ip: IpAddr) -> u64 {
    let mut h = Fnv1a::new();
    h.ip(ip);
    let h = h.finish();
    h ^ (h >> 29)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::pcap_file::PcapFile;

    fn tup(s: &str, sp: u16, d: &str, dp: u16) -> Tuple {
        Tuple {
            src: Endpoint {
                ip: s.parse().unwrap(),
                port: sp,
            },
            dst: Endpoint {
                ip: d.parse().unwrap(),
                port: dp,
            },
            proto: 6,
        }
    }

    #[test]
    fn client_is_the_same_for_both_directions() {
        for t in [
            tup("10.0.0.1", 40000, "1.1.1.1", 443),
            tup("10.0.0.1", 40000, "10.0.0.53", 53),
            tup("10.0.0.1", 40000, "10.0.0.2", 50000),
            tup("10.0.0.1", 5000, "10.0.0.2", 5000),
            tup("10.0.0.1", 22, "10.0.0.2", 443),
        ] {
            assert_eq!(client_of(&t), client_of(&t.reversed()), "{t:?}");
        }
        assert_eq!(
            client_of(&tup("1.1.1.1", 443, "10.0.0.1", 40000)),
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client_of(&tup("10.0.0.53", 53, "10.0.0.1", 40000)),
            "10.0.0.1".parse::<IpAddr>().unwrap()
        );
    }

    /// Every capture of the repository's test data and of the shared corpus.
    fn captures() -> Vec<String> {
        let mut out = Vec::new();
        let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")];
        dirs.extend(virga_test_support::shared_path("corpus/clients"));
        dirs.extend(virga_test_support::shared_path("corpus/clients_hard"));
        while let Some(d) = dirs.pop() {
            let rd = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
                    out.push(p.to_string_lossy().into_owned());
                }
            }
        }
        out.sort();
        out
    }

    /// The fast path gives the same worker as the decoder for every packet,
    /// for every truncation of the first bytes of every packet and every bit
    /// flip in the headers of some (so short, cut and malformed headers agree
    /// too); most packets take it.
    #[test]
    fn fast_path_agrees_with_the_decoder_on_every_packet_and_truncation() {
        let (mut packets, mut fast, mut cuts, mut flips) = (0u64, 0u64, 0u64, 0u64);
        for path in captures() {
            let Ok(mut f) = PcapFile::open(&path) else {
                continue;
            };
            while let Ok(Some(p)) = f.next_packet() {
                packets += 1;
                fast += u64::from(peek(p.linktype, p.data).is_some());
                for n in [2, 3, 4, 7] {
                    assert_eq!(
                        shard(&p, n),
                        shard_by_decode(&p, n),
                        "{path} #{}",
                        p.pcap_cnt
                    );
                }
                for len in 0..p.data.len().min(80) {
                    let cut = RawPacket {
                        data: &p.data[..len],
                        ..p
                    };
                    cuts += 1;
                    assert_eq!(
                        shard(&cut, 3),
                        shard_by_decode(&cut, 3),
                        "{path} #{} cut at {len}",
                        p.pcap_cnt
                    );
                }
                // Every single-bit flip of the headers of one packet in 8.
                if p.pcap_cnt % 8 == 0 {
                    let mut copy = p.data.to_vec();
                    for bit in 0..copy.len().min(80) * 8 {
                        copy[bit / 8] ^= 1 << (bit % 8);
                        let flipped = RawPacket { data: &copy, ..p };
                        assert_eq!(
                            shard(&flipped, 3),
                            shard_by_decode(&flipped, 3),
                            "{path} #{} bit {bit}",
                            p.pcap_cnt
                        );
                        copy[bit / 8] ^= 1 << (bit % 8);
                        flips += 1;
                    }
                }
            }
        }
        eprintln!(
            "{packets} packets, {fast} on the fast path, {cuts} truncations, {flips} bit flips"
        );
        assert!(packets > 1000, "only {packets} packets found");
        assert!(
            fast * 10 > packets * 9,
            "{fast} of {packets} on the fast path"
        );
    }
}
