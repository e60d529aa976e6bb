//! Second reader for capture files that libpcap refuses: the `pcap-parser`
//! crate, streaming with a bounded buffer.
//!
//! libpcap rejects some valid pcapng files, notably those whose interfaces
//! have different link types ("an interface has a type 0 different from the
//! type of the first interface"). This reader follows the pcapng spec instead:
//! each packet carries its interface's link type, timestamps are scaled by the
//! interface's `if_tsresol` and shifted by `if_tsoffset`, sections reset the
//! interface list, and Simple Packet Blocks (which have no timestamp) take the
//! last timestamp seen. Classic pcap files are read too (micro- and nanosecond
//! magic), so any file can be handed over.

use super::RawPacket;
use crate::time::Timestamp;
use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{OptionCode, PcapBlockOwned, PcapError};
use std::io::Read;

/// Read buffer to start with; grown (doubling) for larger blocks.
const INITIAL_BUFFER: usize = 256 * 1024;
/// Largest block accepted (libpcap's own limit for pcapng blocks).
const MAX_BLOCK: usize = 16 * 1024 * 1024;
/// Obsolete pcapng Packet Block type, still delivered by libpcap.
const OBSOLETE_PACKET_BLOCK: u32 = 2;

/// A pcapng interface as its description block set it up.
#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: u32,
    snaplen: u32,
    /// Timestamp units per second (`if_tsresol`, default 10^6).
    units_per_sec: u64,
    /// Seconds added to every timestamp (`if_tsoffset`).
    offset_secs: i64,
}

/// File format state.
enum Format {
    /// Classic pcap: one link type for the file.
    Legacy {
        linktype: u32,
        nanos: bool,
        header_len: usize,
    },
    /// pcapng: interfaces of the current section.
    Ng {
        big_endian: bool,
        interfaces: Vec<Interface>,
    },
}

/// Where a packet's bytes sit in the reader's buffer, plus its header.
#[derive(Debug, Clone, Copy)]
struct Located {
    ts: Timestamp,
    linktype: u32,
    wire_len: u32,
    start: usize,
    len: usize,
    block_len: usize,
}

/// A streaming reader of pcap and pcapng files.
pub(super) struct PcapParserReader {
    reader: Box<dyn PcapReaderIterator + Send>,
    state: State,
    /// Bytes of the block last returned, consumed at the next call (the
    /// packet's data borrows the buffer until then).
    pending_consume: usize,
    capacity: usize,
    /// Bytes of the file consumed so far: the offset of the block being read.
    offset: u64,
}

/// What the reader remembers between blocks.
struct State {
    format: Format,
    /// Timestamp of the last packet that had one (for Simple Packet Blocks).
    last_ts: Timestamp,
}

/// Offset of the packet data from the start of its block, by the formats'
/// layouts: pcap record header 16 bytes (24 in the "modified" format);
/// Enhanced and obsolete Packet Block 28; Simple Packet Block 12.
const EPB_DATA: usize = 28;
const SPB_DATA: usize = 12;
const PB_DATA: usize = 28;

/// Interfaces per section kept; more is an error (bounded state).
const MAX_INTERFACES: usize = 65_536;

impl PcapParserReader {
    /// Starts reading `input` (a pcap or pcapng stream).
    pub(super) fn new<R: Read + Send + 'static>(input: R) -> Result<PcapParserReader, String> {
        let reader = pcap_parser::create_reader(INITIAL_BUFFER, input).map_err(describe)?;
        Ok(PcapParserReader {
            reader,
            state: State {
                format: Format::Ng {
                    big_endian: false,
                    interfaces: Vec::new(),
                },
                last_ts: Timestamp(0),
            },
            pending_consume: 0,
            capacity: INITIAL_BUFFER,
            offset: 0,
        })
    }

    /// Byte offset in the file of the block read last (after an error: of
    /// the block that could not be read).
    pub(super) fn offset(&self) -> u64 {
        self.offset
    }

    fn consume(&mut self, n: usize) {
        self.reader.consume(n);
        self.offset = self.offset.saturating_add(n as u64);
    }

    /// The next packet, `Ok(None)` at the end. After an error,
    /// [`PcapParserReader::offset`] is where the broken block starts.
    pub(super) fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, Broken> {
        let at = loop {
            if self.pending_consume > 0 {
                self.consume(self.pending_consume);
                self.pending_consume = 0;
            }
            let before = self.reader.data().len();
            let step = match self.reader.next() {
                Ok((block_len, block)) => self.state.handle(block_len, block),
                Err(PcapError::Eof) => return Ok(None),
                Err(PcapError::Incomplete(_)) => Step::Refill,
                Err(PcapError::BufferTooSmall) => Step::Grow,
                Err(PcapError::UnexpectedEof) => {
                    return Err(broken(
                        self.offset,
                        "file ends in the middle of a block (truncated)",
                    ))
                }
                Err(e) => return Err(broken(self.offset, describe(e))),
            };
            match step {
                Step::Packet(l) => break l,
                Step::Skip(n) => self.consume(n),
                Step::Fail(m) => return Err(broken(self.offset, m)),
                Step::Refill => {
                    let offset = self.offset;
                    self.reader
                        .refill()
                        .map_err(|e| broken(offset, describe(e)))?;
                    if self.reader.data().len() == before && !self.reader.reader_exhausted() {
                        self.grow().map_err(|e| broken(offset, e))?;
                    }
                }
                Step::Grow => self.grow().map_err(|e| broken(self.offset, e))?,
            }
        };
        self.pending_consume = at.block_len;
        if at.start.saturating_add(at.len) > at.block_len {
            return Err(broken(self.offset, "packet data longer than its block"));
        }
        let offset = self.offset;
        let data = self
            .reader
            .data()
            .get(at.start..at.start.saturating_add(at.len))
            .ok_or_else(|| broken(offset, "packet data outside its block"))?;
        Ok(Some(RawPacket {
            ts: at.ts,
            linktype: at.linktype,
            data,
            wire_len: at.wire_len,
            pcap_cnt: 0,
        }))
    }

    fn grow(&mut self) -> Result<(), String> {
        let want = self.capacity.saturating_mul(2);
        if want > MAX_BLOCK.saturating_mul(2) || !self.reader.grow(want) {
            return Err(format!("a block is larger than {MAX_BLOCK} bytes"));
        }
        self.capacity = want;
        Ok(())
    }
}

impl State {
    /// What to do with one block; packets are located in the buffer.
    fn handle(&mut self, block_len: usize, block: PcapBlockOwned<'_>) -> Step {
        match block {
            PcapBlockOwned::LegacyHeader(h) => {
                self.format = Format::Legacy {
                    linktype: linktype_u32(h.network.0),
                    nanos: h.is_nanosecond_precision(),
                    header_len: if h.is_modified_format() { 24 } else { 16 },
                };
                Step::Skip(block_len)
            }
            PcapBlockOwned::Legacy(b) => {
                let Format::Legacy {
                    linktype,
                    nanos,
                    header_len,
                } = self.format
                else {
                    return Step::Fail("pcap record outside a pcap file".into());
                };
                let sub = if nanos {
                    b.ts_usec.min(999_999_999)
                } else {
                    b.ts_usec.min(999_999).saturating_mul(1000)
                };
                let ts = Timestamp::from_secs_nanos(i64::from(b.ts_sec), sub);
                self.last_ts = ts;
                let len = (b.caplen as usize).min(b.data.len());
                Step::Packet(Located {
                    ts,
                    linktype,
                    wire_len: b.origlen,
                    start: header_len,
                    len,
                    block_len,
                })
            }
            PcapBlockOwned::NG(Block::SectionHeader(shb)) => {
                self.format = Format::Ng {
                    big_endian: shb.big_endian(),
                    interfaces: Vec::new(),
                };
                Step::Skip(block_len)
            }
            PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                let Format::Ng {
                    big_endian,
                    interfaces,
                } = &mut self.format
                else {
                    return Step::Fail("pcapng block in a pcap file".into());
                };
                if interfaces.len() >= MAX_INTERFACES {
                    return Step::Fail(format!("more than {MAX_INTERFACES} interfaces"));
                }
                let mut iface = Interface {
                    linktype: linktype_u32(idb.linktype.0),
                    snaplen: idb.snaplen,
                    units_per_sec: 1_000_000,
                    offset_secs: 0,
                };
                for opt in &idb.options {
                    if opt.code == OptionCode::IfTsresol {
                        if let Some(u) = opt.value.first().and_then(|r| units_per_sec(*r)) {
                            iface.units_per_sec = u.max(1);
                        }
                    } else if opt.code == OptionCode::IfTsoffset {
                        // Read in the section's byte order (pcap-parser's own
                        // field assumes little-endian).
                        if let Some(b) =
                            opt.value.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok())
                        {
                            iface.offset_secs = if *big_endian {
                                i64::from_be_bytes(b)
                            } else {
                                i64::from_le_bytes(b)
                            };
                        }
                    }
                }
                interfaces.push(iface);
                Step::Skip(block_len)
            }
            PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                let Some(iface) = self.interface(epb.if_id as usize) else {
                    return Step::Fail(format!("packet on undeclared interface {}", epb.if_id));
                };
                let raw = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                let ts = scale(raw, iface);
                self.last_ts = ts;
                let len = (epb.caplen as usize).min(epb.data.len());
                Step::Packet(Located {
                    ts,
                    linktype: iface.linktype,
                    wire_len: epb.origlen,
                    start: EPB_DATA,
                    len,
                    block_len,
                })
            }
            PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                let Some(iface) = self.interface(0) else {
                    return Step::Fail("simple packet block without an interface".into());
                };
                // The captured length is the original length cut to the
                // interface's snap length and to the block.
                let mut len = (spb.origlen as usize).min(spb.data.len());
                if iface.snaplen > 0 {
                    len = len.min(iface.snaplen as usize);
                }
                Step::Packet(Located {
                    ts: self.last_ts,
                    linktype: iface.linktype,
                    wire_len: spb.origlen,
                    start: SPB_DATA,
                    len,
                    block_len,
                })
            }
            PcapBlockOwned::NG(Block::Unknown(u)) if u.block_type == OBSOLETE_PACKET_BLOCK => {
                self.obsolete_packet(u.data, block_len)
            }
            // Name resolution, statistics, custom and other blocks carry no packet.
            PcapBlockOwned::NG(_) => Step::Skip(block_len),
        }
    }

    /// Obsolete Packet Block body: interface id (u16), drops (u16), timestamp
    /// high and low (u32), captured and original length (u32), data.
    fn obsolete_packet(&mut self, body: &[u8], block_len: usize) -> Step {
        let big_endian = matches!(
            self.format,
            Format::Ng {
                big_endian: true,
                ..
            }
        );
        let u16_at = |i: usize| {
            body.get(i..i + 2)
                .and_then(|b| <[u8; 2]>::try_from(b).ok())
                .map(|b| {
                    if big_endian {
                        u16::from_be_bytes(b)
                    } else {
                        u16::from_le_bytes(b)
                    }
                })
        };
        let u32_at = |i: usize| {
            body.get(i..i + 4)
                .and_then(|b| <[u8; 4]>::try_from(b).ok())
                .map(|b| {
                    if big_endian {
                        u32::from_be_bytes(b)
                    } else {
                        u32::from_le_bytes(b)
                    }
                })
        };
        let (Some(if_id), Some(hi), Some(lo), Some(caplen), Some(origlen)) =
            (u16_at(0), u32_at(4), u32_at(8), u32_at(12), u32_at(16))
        else {
            return Step::Fail("packet block too short".into());
        };
        let Some(iface) = self.interface(usize::from(if_id)) else {
            return Step::Fail(format!("packet on undeclared interface {if_id}"));
        };
        let data = body.get(20..).unwrap_or_default();
        let ts = scale((u64::from(hi) << 32) | u64::from(lo), iface);
        self.last_ts = ts;
        Step::Packet(Located {
            ts,
            linktype: iface.linktype,
            wire_len: origlen,
            start: PB_DATA,
            len: (caplen as usize).min(data.len()),
            block_len,
        })
    }

    fn interface(&self, id: usize) -> Option<Interface> {
        match &self.format {
            Format::Ng { interfaces, .. } => interfaces.get(id).copied(),
            Format::Legacy { .. } => None,
        }
    }
}

/// Why and where a file cannot be read further.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Broken {
    /// Byte offset in the file of the record or block that is broken.
    pub offset: u64,
    /// What is wrong with it.
    pub reason: String,
}

fn broken(offset: u64, reason: impl Into<String>) -> Broken {
    Broken {
        offset,
        reason: reason.into(),
    }
}

/// Outcome of looking at one block.
enum Step {
    /// A packet, located in the buffer.
    Packet(Located),
    /// Not a packet: consume this many bytes and go on.
    Skip(usize),
    /// More input is needed.
    Refill,
    /// The block does not fit the buffer.
    Grow,
    /// The file is broken here.
    Fail(String),
}

/// A pcapng timestamp in `iface`'s units, as nanoseconds since the epoch.
fn scale(raw: u64, iface: Interface) -> Timestamp {
    let per = iface.units_per_sec.max(1);
    let secs = i64::try_from(raw / per)
        .unwrap_or(i64::MAX)
        .saturating_add(iface.offset_secs);
    let frac = u128::from(raw % per) * 1_000_000_000 / u128::from(per);
    Timestamp::from_secs_nanos(secs, u32::try_from(frac).unwrap_or(999_999_999))
}

/// `if_tsresol`: units per second, 10^v or, with the top bit set, 2^(v & 0x7f).
/// (pcap-parser's `build_ts_resolution` refuses every power of two above 2^-63
/// because it checks the byte before masking the flag.)
fn units_per_sec(v: u8) -> Option<u64> {
    if v & 0x80 != 0 {
        let exp = u32::from(v & 0x7f);
        (exp <= 63).then(|| 1u64 << exp)
    } else {
        10u64.checked_pow(u32::from(v))
    }
}

fn linktype_u32(l: i32) -> u32 {
    u32::try_from(l).unwrap_or(u32::MAX)
}

fn describe<I>(e: PcapError<I>) -> String {
    match e {
        PcapError::Eof => "empty file".into(),
        PcapError::BufferTooSmall => format!("a block is larger than {MAX_BLOCK} bytes"),
        PcapError::UnexpectedEof | PcapError::Incomplete(_) => {
            "file ends in the middle of a block (truncated)".into()
        }
        PcapError::ReadError => "read error".into(),
        PcapError::HeaderNotRecognized => "not a pcap or pcapng file".into(),
        PcapError::NomError(_, k) | PcapError::OwnedNomError(_, k) => {
            format!("malformed block ({k:?})")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pcapng block: type, total length, body padded to 32 bits, total length.
    fn block(be: bool, ty: u32, body: &[u8]) -> Vec<u8> {
        let u32b = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut b = body.to_vec();
        while !b.len().is_multiple_of(4) {
            b.push(0);
        }
        let total = u32::try_from(b.len() + 12).unwrap();
        let mut out = Vec::new();
        out.extend_from_slice(&u32b(ty));
        out.extend_from_slice(&u32b(total));
        out.extend_from_slice(&b);
        out.extend_from_slice(&u32b(total));
        out
    }

    struct Ng {
        be: bool,
        bytes: Vec<u8>,
    }

    impl Ng {
        fn u16(&self, v: u16) -> [u8; 2] {
            if self.be {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        }
        fn u32(&self, v: u32) -> [u8; 4] {
            if self.be {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        }
        fn section(&mut self, be: bool) {
            self.be = be;
            let mut body = Vec::new();
            body.extend_from_slice(&self.u32(0x1A2B_3C4D));
            body.extend_from_slice(&self.u16(1));
            body.extend_from_slice(&self.u16(0));
            body.extend_from_slice(&(-1i64).to_le_bytes());
            self.bytes.extend(block(be, 0x0A0D_0D0A, &body));
        }
        /// IDB with optional if_tsresol and if_tsoffset options.
        fn interface(
            &mut self,
            linktype: u16,
            snaplen: u32,
            tsresol: Option<u8>,
            off: Option<i64>,
        ) {
            let mut body = Vec::new();
            body.extend_from_slice(&self.u16(linktype));
            body.extend_from_slice(&self.u16(0));
            body.extend_from_slice(&self.u32(snaplen));
            if let Some(r) = tsresol {
                body.extend_from_slice(&self.u16(9));
                body.extend_from_slice(&self.u16(1));
                body.extend_from_slice(&[r, 0, 0, 0]);
            }
            if let Some(o) = off {
                body.extend_from_slice(&self.u16(14));
                body.extend_from_slice(&self.u16(8));
                body.extend_from_slice(&if self.be {
                    o.to_be_bytes()
                } else {
                    o.to_le_bytes()
                });
            }
            if tsresol.is_some() || off.is_some() {
                body.extend_from_slice(&[0; 4]); // opt_endofopt
            }
            let be = self.be;
            self.bytes.extend(block(be, 1, &body));
        }
        fn epb(&mut self, if_id: u32, ts: u64, data: &[u8], orig: u32) {
            let mut body = Vec::new();
            body.extend_from_slice(&self.u32(if_id));
            body.extend_from_slice(&self.u32((ts >> 32) as u32));
            body.extend_from_slice(&self.u32(ts as u32));
            body.extend_from_slice(&self.u32(u32::try_from(data.len()).unwrap()));
            body.extend_from_slice(&self.u32(orig));
            body.extend_from_slice(data);
            let be = self.be;
            self.bytes.extend(block(be, 6, &body));
        }
        fn spb(&mut self, data: &[u8], orig: u32) {
            let mut body = self.u32(orig).to_vec();
            body.extend_from_slice(data);
            let be = self.be;
            self.bytes.extend(block(be, 3, &body));
        }
        fn obsolete(&mut self, if_id: u16, ts: u64, data: &[u8]) {
            let mut body = Vec::new();
            body.extend_from_slice(&self.u16(if_id));
            body.extend_from_slice(&self.u16(0));
            body.extend_from_slice(&self.u32((ts >> 32) as u32));
            body.extend_from_slice(&self.u32(ts as u32));
            let n = u32::try_from(data.len()).unwrap();
            body.extend_from_slice(&self.u32(n));
            body.extend_from_slice(&self.u32(n));
            body.extend_from_slice(data);
            let be = self.be;
            self.bytes.extend(block(be, 2, &body));
        }
        fn custom(&mut self) {
            let mut body = self.u32(32473).to_vec(); // PEN
            body.extend_from_slice(b"not a packet");
            let be = self.be;
            self.bytes.extend(block(be, 0x0000_0BAD, &body));
        }
    }

    type Row = (u64, u32, Vec<u8>, u32);

    fn read_all(bytes: Vec<u8>) -> (Vec<Row>, Option<String>) {
        let mut r = PcapParserReader::new(std::io::Cursor::new(bytes)).unwrap();
        let mut rows = Vec::new();
        loop {
            match r.next_packet() {
                Ok(Some(p)) => rows.push((p.ts.0, p.linktype, p.data.to_vec(), p.wire_len)),
                Ok(None) => return (rows, None),
                Err(e) => return (rows, Some(e.reason)),
            }
        }
    }

    const S: u64 = 1_000_000_000;

    #[test]
    fn per_interface_linktypes_resolutions_offsets_and_sections() {
        let mut ng = Ng {
            be: false,
            bytes: Vec::new(),
        };
        ng.section(false);
        ng.interface(1, 64, Some(9), None); // Ethernet, nanoseconds
        ng.interface(101, 0, Some(3), Some(100)); // raw IP, milliseconds, +100 s
        ng.custom();
        ng.epb(1, 1_500, b"\x45rawip", 6);
        ng.epb(0, 7 * S + 25, &[0xEE; 80], 80); // caplen 80 > snaplen: kept as recorded
        ng.spb(&[0xAB; 100], 1000); // cut to snaplen 64, time of the last packet
        ng.obsolete(1, 2_250, b"old");
        // A big-endian section with a power-of-two resolution (2^-10 s) and a
        // negative offset, and its own interface list.
        ng.section(true);
        ng.interface(0, 0, Some(0x80 | 10), Some(-1));
        ng.epb(0, 3 * 1024 + 512, b"null", 4);
        let (rows, err) = read_all(ng.bytes);
        assert_eq!(err, None);
        let want: Vec<Row> = vec![
            (101 * S + S / 2, 101, b"\x45rawip".to_vec(), 6),
            (7 * S + 25, 1, vec![0xEE; 80], 80),
            (7 * S + 25, 1, vec![0xAB; 64], 1000),
            (102 * S + S / 4, 101, b"old".to_vec(), 3),
            (2 * S + S / 2, 0, b"null".to_vec(), 4),
        ];
        assert_eq!(rows, want);
    }

    #[test]
    fn classic_pcap_micro_and_nano() {
        for (magic, sub, nanos) in [
            (0xA1B2_C3D4u32, 250_000u32, 250_000_000u64),
            (0xA1B2_3C4D, 250, 250),
        ] {
            let mut f = Vec::new();
            f.extend_from_slice(&magic.to_le_bytes());
            f.extend_from_slice(&2u16.to_le_bytes());
            f.extend_from_slice(&4u16.to_le_bytes());
            f.extend_from_slice(&[0; 8]);
            f.extend_from_slice(&65535u32.to_le_bytes());
            f.extend_from_slice(&1u32.to_le_bytes());
            for i in 0..3u32 {
                f.extend_from_slice(&(10 + i).to_le_bytes());
                f.extend_from_slice(&sub.to_le_bytes());
                f.extend_from_slice(&2u32.to_le_bytes());
                f.extend_from_slice(&60u32.to_le_bytes());
                f.extend_from_slice(&[i as u8, 0xFF]);
            }
            let (rows, err) = read_all(f);
            assert_eq!(err, None);
            assert_eq!(rows.len(), 3);
            assert_eq!(rows[2], ((12 * S) + nanos, 1, vec![2, 0xFF], 60));
        }
    }

    #[test]
    fn blocks_larger_than_the_buffer_are_read() {
        let mut ng = Ng {
            be: false,
            bytes: Vec::new(),
        };
        ng.section(false);
        ng.interface(1, 0, None, None);
        let big: Vec<u8> = (0..600_000u32).map(|i| i as u8).collect();
        ng.epb(0, 5_000_000, &big, 600_000);
        ng.epb(0, 6_000_000, b"after", 5);
        let (rows, err) = read_all(ng.bytes);
        assert_eq!(err, None);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].2, big);
        assert_eq!(rows[1].0, 6 * S);
    }

    #[test]
    fn broken_files_are_errors_not_panics() {
        let mut ng = Ng {
            be: false,
            bytes: Vec::new(),
        };
        ng.section(false);
        ng.interface(1, 0, None, None);
        ng.epb(0, 1, b"one", 3);
        ng.epb(0, 2, b"two", 3);
        let whole = ng.bytes.clone();
        // Cut inside the last block: the first packet, then an error.
        let (rows, err) = read_all(whole[..whole.len() - 6].to_vec());
        assert_eq!(rows.len(), 1);
        assert!(err.unwrap().contains("truncated"));
        // A packet on an interface that was never described.
        let mut ng = Ng {
            be: false,
            bytes: Vec::new(),
        };
        ng.section(false);
        ng.epb(3, 1, b"x", 1);
        let (rows, err) = read_all(ng.bytes);
        assert!(rows.is_empty());
        assert!(err.unwrap().contains("undeclared interface 3"));
        // Every prefix of a valid file ends cleanly or with an error.
        for n in 0..whole.len() {
            if let Ok(mut r) = PcapParserReader::new(std::io::Cursor::new(whole[..n].to_vec())) {
                for _ in 0..10 {
                    if !matches!(r.next_packet(), Ok(Some(_))) {
                        break;
                    }
                }
            }
        }
        assert!(PcapParserReader::new(std::io::Cursor::new(
            b"hello world, not a capture".to_vec()
        ))
        .is_err());
    }
}
