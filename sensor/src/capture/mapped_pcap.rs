//! Zero-copy replay of classic pcap files: the file is mapped into memory and
//! each packet handed on is a slice of the map, so every worker can walk the
//! same file (keeping its own shard) without a read or a copy per packet.
//!
//! The walk takes only what it reads exactly as libpcap does: a classic pcap
//! header of version 2.4 with a link type whose number libpcap keeps, and
//! records whose time fields are in range and whose captured length fits the
//! snap length and the file. At the first record that is anything else (a
//! truncated or corrupt record, an oversized one) it hands over to
//! [`PcapFile`], which re-reads the file past the packets already delivered
//! and goes on as it would have from the start, so the packets, their
//! numbering and the errors are the same as without the map. Files that are
//! not plain classic pcap (pcapng, other versions, files that cannot be
//! mapped) are read by [`PcapFile`] from the start.
#![forbid(unsafe_code)]

use super::os::MappedBytes;
use super::pcap_file::PcapFile;
use super::{CaptureError, CaptureStats, Next, PacketSource, RawPacket};
use crate::time::Timestamp;

/// Largest captured length libpcap reads without special handling
/// (`MAXIMUM_SNAPLEN`, its limit for these link types).
const MAX_SNAPLEN: u32 = 262_144;
/// Link types whose number libpcap hands back unchanged (Null, Ethernet,
/// raw IP, Linux cooked v1 and v2, raw IPv4 and IPv6); others go to libpcap.
const PLAIN_LINKTYPES: [u32; 7] = [0, 1, 101, 113, 276, 228, 229];
/// Bytes walked between two releases of the pages behind the walk, so the
/// resident set holds at most about this much of the file.
/// (Small in tests, so that the committed captures are walked across
/// releases.)
const RELEASE_EVERY: usize = if cfg!(test) { 128 << 10 } else { 32 << 20 };
/// File header and record header lengths.
const FILE_HEADER: usize = 24;
const RECORD_HEADER: usize = 16;

/// Opens a capture file for replay: mapped when it is plain classic pcap,
/// else through libpcap (and its second reader).
///
/// # Errors
/// As [`PcapFile::open`].
pub fn open(path: &str) -> Result<Box<dyn PacketSource + Send>, CaptureError> {
    match MappedPcap::open(path) {
        Some(m) => Ok(Box::new(m)),
        None => Ok(Box::new(PcapFile::open(path)?)),
    }
}

/// Layout of a classic pcap file, from its header.
#[derive(Debug, Clone, Copy)]
struct Layout {
    big_endian: bool,
    nanos: bool,
    linktype: u32,
    snaplen: u32,
}

impl Layout {
    /// The header's layout when the fast walk can read the file.
    fn of(header: &[u8]) -> Option<Layout> {
        let magic: [u8; 4] = header.get(0..4)?.try_into().ok()?;
        let (big_endian, nanos) = match u32::from_le_bytes(magic) {
            0xa1b2_c3d4 => (false, false),
            0xd4c3_b2a1 => (true, false),
            0xa1b2_3c4d => (false, true),
            0x4d3c_b2a1 => (true, true),
            _ => return None,
        };
        let l = Layout {
            big_endian,
            nanos,
            linktype: 0,
            snaplen: 0,
        };
        let (major, minor) = (l.u16_at(header, 4)?, l.u16_at(header, 6)?);
        let snaplen = l.u32_at(header, 16)?;
        let linktype = l.u32_at(header, 20)?;
        if (major, minor) != (2, 4) || !PLAIN_LINKTYPES.contains(&linktype) {
            return None;
        }
        Some(Layout {
            linktype,
            // libpcap's rule: a snap length of 0 or past the maximum is the
            // maximum.
            snaplen: if snaplen == 0 || snaplen > MAX_SNAPLEN {
                MAX_SNAPLEN
            } else {
                snaplen
            },
            ..l
        })
    }

    fn u16_at(&self, b: &[u8], at: usize) -> Option<u16> {
        let v: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
        Some(if self.big_endian {
            u16::from_be_bytes(v)
        } else {
            u16::from_le_bytes(v)
        })
    }

    fn u32_at(&self, b: &[u8], at: usize) -> Option<u32> {
        let v: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if self.big_endian {
            u32::from_be_bytes(v)
        } else {
            u32::from_le_bytes(v)
        })
    }
}

/// A mapped classic pcap file, walked record by record.
pub struct MappedPcap {
    map: MappedBytes,
    layout: Layout,
    path: String,
    /// Offset of the next record.
    at: usize,
    /// Packets delivered.
    count: u64,
    /// Where the pages given back to the kernel end (see
    /// [`MappedBytes::release`]).
    released: usize,
    /// libpcap's reader, once the walk met a record it does not take.
    handed: Option<PcapFile>,
}

impl std::fmt::Debug for MappedPcap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedPcap")
            .field("path", &self.path)
            .field("at", &self.at)
            .field("count", &self.count)
            .field("handed_over", &self.handed.is_some())
            .finish()
    }
}

/// A record the walk delivers: time, captured and wire lengths.
struct Record {
    ts: Timestamp,
    caplen: usize,
    wire_len: u32,
}

impl MappedPcap {
    /// Maps `path` when it is a classic pcap file the walk can read;
    /// `None` for anything else (the caller opens it with libpcap, which
    /// gives the right error for a file that cannot be read at all).
    pub fn open(path: &str) -> Option<MappedPcap> {
        let file = std::fs::File::open(path).ok()?;
        let map = MappedBytes::map(&file).ok()?;
        let layout = Layout::of(map.bytes().get(..FILE_HEADER)?)?;
        Some(MappedPcap {
            map,
            layout,
            path: path.to_string(),
            at: FILE_HEADER,
            count: 0,
            released: 0,
            handed: None,
        })
    }

    /// True once libpcap reads the rest of the file.
    pub fn handed_over(&self) -> bool {
        self.handed.is_some()
    }

    /// The record at the current offset if the walk takes it as it is.
    fn plain_record(&self) -> Option<Record> {
        let bytes = self.map.bytes();
        let l = &self.layout;
        let header = bytes.get(self.at..self.at.checked_add(RECORD_HEADER)?)?;
        let secs = l.u32_at(header, 0)?;
        let frac = l.u32_at(header, 4)?;
        let caplen = l.u32_at(header, 8)?;
        let wire_len = l.u32_at(header, 12)?;
        let frac_limit = if l.nanos { 1_000_000_000 } else { 1_000_000 };
        if secs > i32::MAX as u32 || frac >= frac_limit || caplen > l.snaplen {
            return None;
        }
        let end = (self.at + RECORD_HEADER).checked_add(caplen as usize)?;
        if end > bytes.len() {
            return None;
        }
        let nanos = if l.nanos { frac } else { frac * 1_000 };
        Some(Record {
            ts: Timestamp::from_secs_nanos(i64::from(secs), nanos),
            caplen: caplen as usize,
            wire_len,
        })
    }

    /// Opens libpcap's reader past the packets delivered.
    fn hand_over(&mut self) -> Result<(), CaptureError> {
        let mut f = PcapFile::open(&self.path)?;
        for _ in 0..self.count {
            if f.next_packet()?.is_none() {
                break;
            }
        }
        self.handed = Some(f);
        Ok(())
    }

    /// Next packet, `Ok(None)` at the end of the file.
    ///
    /// # Errors
    /// As [`PcapFile::next_packet`], for a file that breaks off.
    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        if self.handed.is_none() && self.at < self.map.bytes().len() {
            if self.at - self.released >= RELEASE_EVERY {
                // The packets behind the walk are done with (a packet's
                // slice does not outlive the next call).
                self.released = self.map.release(self.released, self.at);
            }
            match self.plain_record() {
                Some(r) => {
                    let start = self.at + RECORD_HEADER;
                    self.at = start + r.caplen;
                    self.count += 1;
                    let data = self
                        .map
                        .bytes()
                        .get(start..start + r.caplen)
                        .unwrap_or_default();
                    return Ok(Some(RawPacket {
                        ts: r.ts,
                        linktype: self.layout.linktype,
                        data,
                        wire_len: r.wire_len,
                        pcap_cnt: self.count,
                    }));
                }
                None => self.hand_over()?,
            }
        }
        match self.handed.as_mut() {
            Some(f) => f.next_packet(),
            None => Ok(None),
        }
    }
}

impl PacketSource for MappedPcap {
    fn next_packet(&mut self) -> Result<Next<'_>, CaptureError> {
        Ok(match MappedPcap::next_packet(self)? {
            Some(p) => Next::Packet(p),
            None => Next::End,
        })
    }

    fn origin(&self) -> &str {
        &self.path
    }

    fn is_live(&self) -> bool {
        false
    }

    fn stats(&mut self) -> CaptureStats {
        let received = match self.handed.as_ref() {
            Some(f) => f.packets_read(),
            None => self.count,
        };
        CaptureStats {
            received,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    /// Every packet of `path` as (time, link type, bytes, wire length,
    /// number), and the error that ended the file, if any.
    type Packets = (Vec<(u64, u32, Vec<u8>, u32, u64)>, Option<String>);

    fn through_mapped(path: &str) -> (Packets, bool) {
        let mut m = MappedPcap::open(path).expect("a plain classic pcap file");
        let mut out = Vec::new();
        let err = loop {
            match m.next_packet() {
                Ok(Some(p)) => {
                    out.push((p.ts.0, p.linktype, p.data.to_vec(), p.wire_len, p.pcap_cnt))
                }
                Ok(None) => break None,
                Err(e) => break Some(e.to_string()),
            }
        };
        let handed = m.handed_over();
        ((out, err), handed)
    }

    fn through_libpcap(path: &str) -> Packets {
        let mut f = PcapFile::open(path).unwrap();
        let mut out = Vec::new();
        let err = loop {
            match f.next_packet() {
                Ok(Some(p)) => {
                    out.push((p.ts.0, p.linktype, p.data.to_vec(), p.wire_len, p.pcap_cnt))
                }
                Ok(None) => break None,
                Err(e) => break Some(e.to_string()),
            }
        };
        (out, err)
    }

    fn classic_captures(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                classic_captures(&p, out);
            } else if std::fs::read(&p)
                .ok()
                .and_then(|b| Layout::of(b.get(..FILE_HEADER)?))
                .is_some()
            {
                out.push(p);
            }
        }
    }

    fn temp(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("virga-mapped-{}-{name}", std::process::id()))
    }

    #[test]
    fn the_walk_gives_what_libpcap_gives_for_every_committed_capture() {
        let mut files = Vec::new();
        classic_captures(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data"),
            &mut files,
        );
        assert!(files.len() >= 5, "classic captures found: {files:?}");
        for f in &files {
            let path = f.to_str().unwrap();
            let (mapped, _) = through_mapped(path);
            assert_eq!(mapped, through_libpcap(path), "{path}");
        }
    }

    #[test]
    fn a_broken_record_hands_over_and_gives_the_same_packets_and_error() {
        let sample = format!(
            "{}/tests/data/pcaps/sample.pcap",
            env!("CARGO_MANIFEST_DIR")
        );
        let bytes = std::fs::read(&sample).unwrap();
        // The second record: its captured length past the file, then past
        // the snap length; its microseconds out of range; the file cut in
        // its header and in its data.
        let l = Layout::of(&bytes[..FILE_HEADER]).unwrap();
        let second =
            FILE_HEADER + RECORD_HEADER + l.u32_at(&bytes, FILE_HEADER + 8).unwrap() as usize;
        let put = |b: &mut Vec<u8>, at: usize, v: u32| {
            let v = if l.big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            };
            b[at..at + 4].copy_from_slice(&v);
        };
        let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
        let mut huge = bytes.clone();
        put(&mut huge, second + 8, 0x00ff_ffff);
        cases.push(("huge", huge));
        let mut past_snap = bytes.clone();
        put(&mut past_snap, second + 8, 300_000);
        cases.push(("past-snap", past_snap));
        cases.push(("cut-header", bytes[..second + 7].to_vec()));
        cases.push(("cut-data", bytes[..second + RECORD_HEADER + 5].to_vec()));
        let mut bad_usec = bytes.clone();
        put(&mut bad_usec, second + 4, 2_000_000);
        cases.push(("bad-usec", bad_usec));
        for (name, b) in cases {
            let p = temp(name);
            std::fs::write(&p, &b).unwrap();
            let path = p.to_str().unwrap();
            let (mapped, handed) = through_mapped(path);
            assert!(handed, "{name}: handed over");
            assert_eq!(mapped, through_libpcap(path), "{name}");
            std::fs::remove_file(&p).unwrap();
        }
    }

    /// Pages handed back are read again as the same bytes.
    #[test]
    fn released_pages_read_back_the_same() {
        let p = temp("release");
        let bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&p, &bytes).unwrap();
        let file = std::fs::File::open(&p).unwrap();
        let map = MappedBytes::map(&file).unwrap();
        assert_eq!(map.bytes(), &bytes[..]);
        let end = map.release(100, 2_500_000);
        assert_eq!(end % super::super::os::RELEASE_ALIGN, 0);
        assert!(end > 2_000_000 && end <= 2_500_000);
        assert_eq!(map.release(end, end + 10), end, "nothing to release");
        assert_eq!(map.bytes(), &bytes[..]);
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn pcapng_and_other_files_are_left_to_libpcap() {
        assert!(Layout::of(&[0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0]).is_none());
        let p = temp("empty");
        std::fs::write(&p, b"").unwrap();
        assert!(MappedPcap::open(p.to_str().unwrap()).is_none());
        let err = open(p.to_str().unwrap()).err().unwrap();
        assert!(err.to_string().contains("cannot open capture"), "{err}");
        std::fs::remove_file(&p).unwrap();
    }
}
