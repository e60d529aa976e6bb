//! Replicates a capture over more hosts: every packet is written `copies`
//! times at its own timestamp, copy `k` with each internal client moved to
//! another /16 (the second octet plus 16·k, modulo 256). A lab timeline of
//! a few dozen hosts becomes a handshake-heavy capture of hundreds with the
//! same protocol mix, per-host behaviour and timing; the servers (and the
//! addresses in DNS answers) stay as they are, shared by every copy.
//!
//! A client is an address of 10.0.0.0/8 that opens a TCP connection (sends
//! a SYN) or sends a DNS query, found in a first pass over the capture; a
//! moved client that would land on any address of the capture is refused.
//! Checksums are updated incrementally (RFC 1624), so truncated packets
//! (the timelines keep 96 bytes of payload) keep valid IPv4, TCP and UDP
//! checksums where they had them.

use anyhow::{bail, Context, Result};
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{LegacyPcapReader, PcapBlockOwned, PcapError};
use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Most copies: beyond 16 the shifted second octets wrap onto each other.
pub const MAX_COPIES: u32 = 16;

/// Counts of a replication.
#[derive(Debug, Default, Clone, Copy)]
pub struct Replicated {
    /// Packets read.
    pub read: u64,
    /// Packets written.
    pub written: u64,
}

/// Writes `copies` copies of every packet of the classic pcap `from` to
/// `out` (same file header, same link type).
pub fn replicate(from: &Path, out: &Path, copies: u32) -> Result<Replicated> {
    if copies == 0 || copies > MAX_COPIES {
        bail!("copies must be 1 to {MAX_COPIES}");
    }
    let (clients, seen) = clients_and_addresses(from)?;
    for c in &clients {
        for k in 1..copies {
            let moved = shifted(*c, k);
            if seen.contains(&moved) {
                bail!(
                    "{}: client {c:?} of copy {k} would be {moved:?}, an address of the capture",
                    from.display()
                );
            }
        }
    }
    let file = File::open(from).with_context(|| from.display().to_string())?;
    let mut reader = LegacyPcapReader::new(1 << 20, file)
        .map_err(|e| anyhow::anyhow!("{}: {e:?}", from.display()))?;
    let mut w = BufWriter::new(File::create(out).with_context(|| out.display().to_string())?);
    let mut n = Replicated::default();
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        if h.network.0 != 1 {
                            bail!(
                                "{}: link type {} (Ethernet only)",
                                from.display(),
                                h.network.0
                            );
                        }
                        // Written little-endian whatever the input's order;
                        // nanosecond files keep their magic.
                        let nano = matches!(h.magic_number, 0xa1b2_3c4d | 0x4d3c_b2a1);
                        let magic: u32 = if nano { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
                        let mut hdr = Vec::with_capacity(24);
                        hdr.extend_from_slice(&magic.to_le_bytes());
                        hdr.extend_from_slice(&2u16.to_le_bytes());
                        hdr.extend_from_slice(&4u16.to_le_bytes());
                        hdr.extend_from_slice(&h.thiszone.to_le_bytes());
                        hdr.extend_from_slice(&h.sigfigs.to_le_bytes());
                        hdr.extend_from_slice(&h.snaplen.to_le_bytes());
                        hdr.extend_from_slice(&1u32.to_le_bytes());
                        w.write_all(&hdr)?;
                    }
                    PcapBlockOwned::Legacy(b) => {
                        n.read += 1;
                        let data = &b.data[..(b.caplen as usize).min(b.data.len())];
                        for k in 0..copies {
                            let mut frame = data.to_vec();
                            shift_frame(&mut frame, k, &clients);
                            let put = |x: u32| x.to_le_bytes();
                            w.write_all(&put(b.ts_sec))?;
                            w.write_all(&put(b.ts_usec))?;
                            w.write_all(&put(frame.len() as u32))?;
                            w.write_all(&put(b.origlen))?;
                            w.write_all(&frame)?;
                            n.written += 1;
                        }
                    }
                    PcapBlockOwned::NG(_) => bail!("{}: pcapng is not supported", from.display()),
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                reader
                    .refill()
                    .map_err(|e| anyhow::anyhow!("{}: {e:?}", from.display()))?;
            }
            Err(e) => bail!("{}: {e:?}", from.display()),
        }
    }
    w.flush()?;
    Ok(n)
}

/// `ip` moved to copy `k`'s /16.
fn shifted(ip: [u8; 4], k: u32) -> [u8; 4] {
    [ip[0], ip[1].wrapping_add((16 * k) as u8), ip[2], ip[3]]
}

/// IPv4 addresses, as a set.
type Addresses = HashSet<[u8; 4]>;

/// What the first pass reads of an Ethernet/IPv4 frame.
struct Ipv4Frame {
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    /// Offset of the L4 header.
    l4: usize,
    /// The first (or only) fragment.
    first: bool,
}

/// The IPv4 header fields of an Ethernet frame, if it is IPv4.
fn ipv4(frame: &[u8]) -> Option<Ipv4Frame> {
    if frame.len() < 14 + 20 || frame[12..14] != [0x08, 0x00] || frame[14] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    if ihl < 20 || frame.len() < 14 + ihl {
        return None;
    }
    let first = u16::from_be_bytes([frame[20], frame[21]]) & 0x1fff == 0;
    let src = [frame[26], frame[27], frame[28], frame[29]];
    let dst = [frame[30], frame[31], frame[32], frame[33]];
    Some(Ipv4Frame {
        src,
        dst,
        proto: frame[23],
        l4: 14 + ihl,
        first,
    })
}

/// First pass: the internal clients (10/8 addresses that send a TCP SYN or
/// a DNS query) and every IPv4 address of the capture.
fn clients_and_addresses(from: &Path) -> Result<(Addresses, Addresses)> {
    let file = File::open(from).with_context(|| from.display().to_string())?;
    let mut reader = LegacyPcapReader::new(1 << 20, file)
        .map_err(|e| anyhow::anyhow!("{}: {e:?}", from.display()))?;
    let (mut clients, mut seen) = (HashSet::new(), HashSet::new());
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                if let PcapBlockOwned::Legacy(b) = block {
                    if let Some(Ipv4Frame {
                        src,
                        dst,
                        proto,
                        l4,
                        first,
                    }) = ipv4(b.data)
                    {
                        seen.insert(src);
                        seen.insert(dst);
                        let syn = proto == 6
                            && first
                            && b.data.len() > l4 + 13
                            && b.data[l4 + 13] & 0x12 == 0x02;
                        let query = proto == 17
                            && first
                            && b.data.len() >= l4 + 4
                            && b.data[l4 + 2..l4 + 4] == [0, 53];
                        if src[0] == 10 && (syn || query) {
                            clients.insert(src);
                        }
                    }
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => reader
                .refill()
                .map_err(|e| anyhow::anyhow!("{}: {e:?}", from.display()))?,
            Err(e) => bail!("{}: {e:?}", from.display()),
        }
    }
    Ok((clients, seen))
}

/// Moves the clients of an Ethernet/IPv4 frame to copy `k`'s /16 and
/// updates the checksums; other frames are left as they are.
fn shift_frame(frame: &mut [u8], k: u32, clients: &HashSet<[u8; 4]>) {
    if k == 0 || frame.len() < 14 + 20 || frame[12..14] != [0x08, 0x00] {
        return;
    }
    let ip = 14;
    let ihl = usize::from(frame[ip] & 0x0f) * 4;
    if frame[ip] >> 4 != 4 || ihl < 20 || frame.len() < ip + ihl {
        return;
    }
    let proto = frame[ip + 9];
    let fragment_offset = u16::from_be_bytes([frame[ip + 6], frame[ip + 7]]) & 0x1fff;
    for at in [ip + 12, ip + 16] {
        if !clients.contains(&[frame[at], frame[at + 1], frame[at + 2], frame[at + 3]]) {
            continue;
        }
        let old = u16::from_be_bytes([frame[at], frame[at + 1]]);
        let shifted = frame[at + 1].wrapping_add((16 * k) as u8);
        frame[at + 1] = shifted;
        let new = u16::from_be_bytes([frame[at], frame[at + 1]]);
        patch_checksum(frame, ip + 10, old, new);
        // TCP and UDP checksums cover the addresses through the pseudo
        // header (first fragment only: later ones carry no L4 header).
        if fragment_offset != 0 {
            continue;
        }
        let l4 = ip + ihl;
        match proto {
            6 if frame.len() >= l4 + 18 => patch_checksum(frame, l4 + 16, old, new),
            // A zero UDP checksum means "none" and stays zero.
            17 if frame.len() >= l4 + 8 && frame[l4 + 6..l4 + 8] != [0, 0] => {
                patch_checksum(frame, l4 + 6, old, new);
            }
            _ => {}
        }
    }
}

/// RFC 1624 incremental update of the checksum at `at` for one 16-bit word
/// changed from `old` to `new`: HC' = ~(~HC + ~m + m').
fn patch_checksum(frame: &mut [u8], at: usize, old: u16, new: u16) {
    let hc = u16::from_be_bytes([frame[at], frame[at + 1]]);
    let mut sum = u32::from(!hc) + u32::from(!old) + u32::from(new);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let out = !(sum as u16);
    frame[at..at + 2].copy_from_slice(&out.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gen::frames::{tcp, udp, Endpoint};

    fn ep(ip: [u8; 4], port: u16) -> Endpoint {
        Endpoint { ip, port }
    }

    /// A frame shifted by `shift_frame` equals the same frame built with
    /// the shifted addresses (etherparse computes its checksums afresh),
    /// from the EtherType on.
    #[test]
    fn shifted_frames_equal_frames_built_with_the_new_addresses() {
        for k in [1u32, 5, 15] {
            let s = |ip: [u8; 4]| {
                if ip[0] == 10 {
                    [10, ip[1].wrapping_add((16 * k) as u8), ip[2], ip[3]]
                } else {
                    ip
                }
            };
            let (c, srv) = ([10, 66, 0, 101], [10, 77, 0, 21]);
            let clients: HashSet<[u8; 4]> = [c].into();
            let pay = b"\x16\x03\x01 hello";
            let mut f = tcp(ep(c, 40_000), ep(srv, 443), 7, 9, 0x18, pay);
            shift_frame(&mut f, k, &clients);
            // From the EtherType on (the generator derives MACs from
            // addresses); the server stays.
            let want = tcp(ep(s(c), 40_000), ep(srv, 443), 7, 9, 0x18, pay);
            assert_eq!(f[12..], want[12..]);
            let ext = [198, 18, 1, 2];
            let mut u = udp(ep(c, 5353), ep(ext, 53), b"query");
            shift_frame(&mut u, k, &clients);
            let want = udp(ep(s(c), 5353), ep(ext, 53), b"query");
            assert_eq!(u[12..], want[12..]);
        }
    }

    #[test]
    fn copy_zero_and_other_frames_are_unchanged() {
        let f = tcp(
            ep([10, 66, 0, 1], 1),
            ep([10, 77, 0, 2], 2),
            1,
            1,
            0x10,
            b"",
        );
        let clients: HashSet<[u8; 4]> = [[10, 66, 0, 1]].into();
        let mut g = f.clone();
        shift_frame(&mut g, 0, &clients);
        assert_eq!(f, g);
        let mut short = vec![0u8; 20];
        shift_frame(&mut short, 3, &clients);
        assert_eq!(short, vec![0u8; 20]);
    }
}
