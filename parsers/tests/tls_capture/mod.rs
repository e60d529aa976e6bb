//! Test-only capture reading for the TLS tests: a tiny pcap/pcapng reader
//! (written here to keep the crate's dev-dependencies small), link-layer
//! stripping, `etherparse` for IP/TCP, and naive in-order TCP reassembly of
//! each direction's first bytes, fed to `tls::record::first_handshake_message`
//! after every segment, as the sensor will do.
//!
//! Reassembly is deliberately simple: segments must arrive in sequence order
//! (retransmitted bytes are trimmed); a direction with a gap (out-of-order
//! segment) is given up and counted in `Capture::gaps`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

use etherparse::{EtherType, NetSlice, SlicedPacket, TransportSlice};
use virga_parsers::tls::record::{first_handshake_message, RECORD_HEADER_LEN};
use virga_parsers::ParseError;

/// One captured packet: 1-based index, link type, bytes.
pub struct Packet {
    pub n: usize,
    pub linktype: u32,
    pub data: Vec<u8>,
}

fn u16_at(b: &[u8], off: usize, le: bool) -> Option<u16> {
    let x: [u8; 2] = b.get(off..off + 2)?.try_into().ok()?;
    Some(if le {
        u16::from_le_bytes(x)
    } else {
        u16::from_be_bytes(x)
    })
}

fn u32_at(b: &[u8], off: usize, le: bool) -> Option<u32> {
    let x: [u8; 4] = b.get(off..off + 4)?.try_into().ok()?;
    Some(if le {
        u32::from_le_bytes(x)
    } else {
        u32::from_be_bytes(x)
    })
}

/// Reads a classic pcap (µs or ns, either byte order) or a pcapng file.
pub fn read_packets(path: &Path) -> Vec<Packet> {
    let data = std::fs::read(path).expect("read capture");
    let mut out = Vec::new();
    let magic = u32_at(&data, 0, true).expect("magic");
    match magic {
        0xa1b2c3d4 | 0xa1b23c4d | 0xd4c3b2a1 | 0x4d3cb2a1 => {
            let le = matches!(magic, 0xa1b2c3d4 | 0xa1b23c4d);
            let linktype = u32_at(&data, 20, le).expect("linktype") & 0x0fff_ffff;
            let mut off = 24;
            while let Some(caplen) = u32_at(&data, off + 8, le) {
                let start = off + 16;
                let Some(pkt) = data.get(start..start + caplen as usize) else {
                    break;
                };
                out.push(Packet {
                    n: out.len() + 1,
                    linktype,
                    data: pkt.to_vec(),
                });
                off = start + caplen as usize;
            }
        }
        0x0a0d0d0a => {
            let mut off = 0;
            let mut le = true;
            let mut linktypes: Vec<u32> = Vec::new();
            while let Some(raw_type) = u32_at(&data, off, true) {
                if raw_type == 0x0a0d0d0a {
                    le = u32_at(&data, off + 8, true) == Some(0x1a2b3c4d);
                    linktypes.clear();
                }
                let Some(len) = u32_at(&data, off + 4, le) else {
                    break;
                };
                let block_type = u32_at(&data, off, le).unwrap_or(0);
                let Some(body) = data.get(off + 8..off + len as usize - 4) else {
                    break;
                };
                match block_type {
                    1 => linktypes.push(u32::from(u16_at(body, 0, le).unwrap_or(0))),
                    6 => {
                        let ifid = u32_at(body, 0, le).unwrap_or(0) as usize;
                        let caplen = u32_at(body, 12, le).unwrap_or(0) as usize;
                        out.push(Packet {
                            n: out.len() + 1,
                            linktype: linktypes.get(ifid).copied().unwrap_or(1),
                            data: body.get(20..20 + caplen).unwrap_or_default().to_vec(),
                        });
                    }
                    3 => {
                        let len = u32_at(body, 0, le).unwrap_or(0) as usize;
                        let pkt = body.get(4..4 + len).or_else(|| body.get(4..));
                        out.push(Packet {
                            n: out.len() + 1,
                            linktype: linktypes.first().copied().unwrap_or(1),
                            data: pkt.unwrap_or_default().to_vec(),
                        });
                    }
                    _ => {}
                }
                off += len as usize;
            }
        }
        _ => panic!("{}: not a capture", path.display()),
    }
    out
}

/// A TCP segment with its addresses.
pub struct Segment {
    pub n: usize,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub syn: bool,
    pub payload: Vec<u8>,
}

fn slice(p: &Packet) -> Option<SlicedPacket<'_>> {
    let d = &p.data;
    match p.linktype {
        1 => SlicedPacket::from_ethernet(d).ok(),
        0 => SlicedPacket::from_ip(d.get(4..)?).ok(),
        101 | 228 | 229 | 12 | 14 => SlicedPacket::from_ip(d).ok(),
        113 => SlicedPacket::from_ether_type(EtherType(u16_at(d, 14, false)?), d.get(16..)?).ok(),
        276 => SlicedPacket::from_ether_type(EtherType(u16_at(d, 0, false)?), d.get(20..)?).ok(),
        _ => None,
    }
}

/// Every TCP segment of the capture (fragments and non-TCP skipped).
pub fn tcp_segments(packets: &[Packet]) -> Vec<Segment> {
    let mut out = Vec::new();
    for p in packets {
        let Some(s) = slice(p) else { continue };
        let (src, dst) = match &s.net {
            Some(NetSlice::Ipv4(ip)) => (
                IpAddr::V4(ip.header().source_addr()),
                IpAddr::V4(ip.header().destination_addr()),
            ),
            Some(NetSlice::Ipv6(ip)) => (
                IpAddr::V6(ip.header().source_addr()),
                IpAddr::V6(ip.header().destination_addr()),
            ),
            _ => continue,
        };
        if let Some(TransportSlice::Tcp(tcp)) = &s.transport {
            out.push(Segment {
                n: p.n,
                src,
                dst,
                sport: tcp.source_port(),
                dport: tcp.destination_port(),
                seq: tcp.sequence_number(),
                syn: tcp.syn(),
                payload: tcp.payload().to_vec(),
            });
        }
    }
    out
}

/// Direction key: (src, sport, dst, dport).
pub type Dir = (IpAddr, u16, IpAddr, u16);

/// A hello handshake message found in a direction's stream.
pub struct Found {
    pub dir: Dir,
    /// Frame of the segment that completed the message.
    pub frame: usize,
    pub message: Vec<u8>,
    /// Records the message spanned, and whether it was copied.
    pub records: usize,
    pub copied: bool,
    /// Frames whose payload was appended before the message completed
    /// (for the first message of the stream).
    pub frames: Vec<usize>,
    /// `Incomplete` answers before the message completed.
    pub incompletes: usize,
    /// 1 for the first handshake message of the direction, 2 for the
    /// hello that follows a ClientHello / HelloRetryRequest.
    pub index: usize,
}

#[derive(Default)]
struct DirState {
    next_seq: Option<u32>,
    stream: Vec<u8>,
    frames: Vec<usize>,
    incompletes: usize,
    /// Where to look for the next hello, once the first message is found.
    next_at: Option<usize>,
    found: usize,
    done: bool,
}

/// The hellos of a capture and what the reassembly gave up on.
pub struct Capture {
    pub hellos: Vec<Found>,
    /// Directions abandoned because of a sequence gap.
    pub gaps: Vec<(Dir, usize)>,
    /// Directions whose first bytes were rejected (not TLS), with the error.
    pub rejected: Vec<(Dir, ParseError)>,
}

const STREAM_CAP: usize = 256 * 1024;

fn is_hrr(msg: &[u8]) -> bool {
    virga_parsers::tls::parse_server_hello(msg).is_ok_and(|sh| sh.is_hello_retry_request())
}

/// Finds the second hello after `pos`: skips ChangeCipherSpec records.
fn second_hello(
    stream: &[u8],
    mut pos: usize,
) -> Result<Option<(Vec<u8>, usize, bool)>, ParseError> {
    while stream.get(pos) == Some(&20) {
        let len = u16_at(stream, pos + 3, false).ok_or(ParseError::Incomplete {
            layer: virga_parsers::Layer::Tls,
            needed: 0,
        })?;
        pos += RECORD_HEADER_LEN + usize::from(len);
    }
    let rest = stream.get(pos..).unwrap_or_default();
    let mut scratch = Vec::new();
    let m = first_handshake_message(rest, &mut scratch)?;
    Ok(match m.message.first() {
        Some(1) | Some(2) => Some((m.message.to_vec(), m.records, m.copied)),
        _ => None,
    })
}

/// Reassembles each direction naively and collects its hellos.
pub fn hellos(segments: &[Segment]) -> Capture {
    let mut dirs: HashMap<Dir, DirState> = HashMap::new();
    let mut cap = Capture {
        hellos: Vec::new(),
        gaps: Vec::new(),
        rejected: Vec::new(),
    };
    let mut scratch = Vec::new();
    for s in segments {
        let dir = (s.src, s.sport, s.dst, s.dport);
        if s.syn {
            // A new connection on this 4-tuple starts over.
            dirs.insert(
                dir,
                DirState {
                    next_seq: Some(s.seq.wrapping_add(1)),
                    ..DirState::default()
                },
            );
            continue;
        }
        if s.payload.is_empty() {
            continue;
        }
        let st = dirs.entry(dir).or_default();
        if st.done {
            continue;
        }
        let next = *st.next_seq.get_or_insert(s.seq);
        let offset = s.seq.wrapping_sub(next) as i32;
        if offset > 0 {
            cap.gaps.push((dir, s.n));
            st.done = true;
            continue;
        }
        let skip = (-offset) as usize;
        if skip >= s.payload.len() {
            continue; // pure retransmission
        }
        let new = &s.payload[skip..];
        st.stream.extend_from_slice(new);
        st.next_seq = Some(next.wrapping_add(new.len() as u32));
        if st.found == 0 {
            st.frames.push(s.n);
        }
        if st.stream.len() > STREAM_CAP {
            st.done = true;
        }
        if st.found == 0 {
            match first_handshake_message(&st.stream, &mut scratch) {
                Ok(m) => {
                    let msg = m.message.to_vec();
                    st.found = 1;
                    if msg.first() == Some(&1) || is_hrr(&msg) {
                        st.next_at = Some(m.records_end);
                    } else {
                        st.done = true;
                    }
                    if matches!(msg.first(), Some(1) | Some(2)) {
                        cap.hellos.push(Found {
                            dir,
                            frame: s.n,
                            message: msg,
                            records: m.records,
                            copied: m.copied,
                            frames: st.frames.clone(),
                            incompletes: st.incompletes,
                            index: 1,
                        });
                    }
                }
                Err(e) if e.is_incomplete() => st.incompletes += 1,
                Err(e) => {
                    cap.rejected.push((dir, e));
                    st.done = true;
                }
            }
        }
        if let (1, Some(at)) = (st.found, st.next_at) {
            match second_hello(&st.stream, at) {
                Ok(Some((message, records, copied))) => {
                    st.done = true;
                    cap.hellos.push(Found {
                        dir,
                        frame: s.n,
                        message,
                        records,
                        copied,
                        frames: Vec::new(),
                        incompletes: 0,
                        index: 2,
                    });
                }
                Ok(None) => st.done = true,
                Err(e) if e.is_incomplete() => {}
                Err(_) => st.done = true,
            }
        }
    }
    cap
}
