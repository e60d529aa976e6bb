//! Offline source: a pcap or pcapng file read through libpcap, with a second
//! reader (the `pcap-parser` crate, see `pcap_parser_file`) for the valid files libpcap
//! refuses, such as pcapng files whose interfaces have different link types.
//!
//! When libpcap cannot open a file, the second reader tries it from the start;
//! when libpcap fails partway, the second reader re-reads the file, skips the
//! packets libpcap already delivered and goes on, so each packet is delivered
//! once and `pcap_cnt` keeps counting.

use super::pcap_parser_file::PcapParserReader;
use super::{CaptureError, RawPacket};
use crate::time::Timestamp;

/// An open capture file, read packet by packet.
pub struct PcapFile {
    /// libpcap's reader, while it is in charge.
    cap: Option<pcap::Capture<pcap::Offline>>,
    /// The second reader, once libpcap gave up.
    pcap_parser: Option<PcapParserReader>,
    path: String,
    linktype: u32,
    count: u64,
    /// While libpcap reads a classic pcap file: the offset of the next record
    /// and the record header length (libpcap reports no offsets; the layout
    /// is fixed: 24-byte file header, then 16-byte header + caplen each).
    /// `None` for pcapng.
    lib_offset: Option<(u64, u64)>,
}

impl std::fmt::Debug for PcapFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapFile")
            .field("path", &self.path)
            .field("libpcap", &self.pcap_parser.is_none())
            .field("count", &self.count)
            .finish()
    }
}

impl PcapFile {
    /// Opens `path` with nanosecond timestamp precision.
    pub fn open(path: &str) -> Result<Self, CaptureError> {
        match pcap::Capture::from_file_with_precision(path, pcap::Precision::Nano) {
            Ok(cap) => {
                let linktype = linktype_of_dlt(cap.get_datalink().0);
                Ok(PcapFile {
                    cap: Some(cap),
                    pcap_parser: None,
                    path: path.to_string(),
                    linktype,
                    count: 0,
                    lib_offset: classic_record_header(path).map(|h| (24, h)),
                })
            }
            Err(e) => {
                let reason = e.to_string();
                let fallback = open_pcap_parser(path).map_err(|_| CaptureError::Open {
                    path: path.to_string(),
                    reason,
                })?;
                Ok(PcapFile {
                    cap: None,
                    pcap_parser: Some(fallback),
                    path: path.to_string(),
                    linktype: 0,
                    count: 0,
                    lib_offset: None,
                })
            }
        }
    }

    /// Path as given when opening.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Packets read so far.
    pub fn packets_read(&self) -> u64 {
        self.count
    }

    /// True once the second reader (not libpcap) reads the file.
    pub fn uses_pcap_parser(&self) -> bool {
        self.pcap_parser.is_some()
    }

    /// Next packet, `Ok(None)` at the end of the file.
    ///
    /// # Errors
    /// [`CaptureError::Corrupt`] with the byte offset of the first record or
    /// block that cannot be read; the packets before it were delivered.
    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        if self.pcap_parser.is_some() {
            self.cap = None;
        }
        if let Some(cap) = self.cap.as_mut() {
            match cap.next_packet() {
                Ok(p) => {
                    self.count += 1;
                    if let Some((at, header)) = self.lib_offset.as_mut() {
                        *at += *header + u64::from(p.header.caplen);
                    }
                    let ts = Timestamp::from_secs_nanos(
                        p.header.ts.tv_sec,
                        u32::try_from(p.header.ts.tv_usec).unwrap_or(0),
                    );
                    return Ok(Some(RawPacket {
                        ts,
                        linktype: self.linktype,
                        data: p.data,
                        wire_len: p.header.len,
                        pcap_cnt: self.count,
                    }));
                }
                Err(pcap::Error::NoMorePackets) => return Ok(None),
                Err(e) => {
                    // Hand over to the second reader, past the packets
                    // already delivered. If it cannot get that far either,
                    // libpcap's message is the one to show.
                    // The offset is libpcap's position (classic pcap), or
                    // where the second reader stopped.
                    let libpcap_reason = e.to_string();
                    let lib_at = self.lib_offset.map(|(at, _)| at);
                    let corrupt = |offset: u64, reason: String| CaptureError::Corrupt {
                        path: self.path.clone(),
                        offset,
                        packets: self.count,
                        reason,
                    };
                    let Ok(mut fb) = open_pcap_parser(&self.path) else {
                        return Err(corrupt(lib_at.unwrap_or(0), libpcap_reason));
                    };
                    for _ in 0..self.count {
                        if !matches!(fb.next_packet(), Ok(Some(_))) {
                            let at = lib_at.unwrap_or(fb.offset());
                            return Err(corrupt(at, libpcap_reason));
                        }
                    }
                    self.pcap_parser = Some(fb);
                }
            }
        }
        let Some(fb) = self.pcap_parser.as_mut() else {
            return Ok(None);
        };
        match fb.next_packet() {
            Ok(Some(mut p)) => {
                self.count += 1;
                p.pcap_cnt = self.count;
                Ok(Some(p))
            }
            Ok(None) => Ok(None),
            Err(b) => Err(CaptureError::Corrupt {
                path: self.path.clone(),
                offset: b.offset,
                packets: self.count,
                reason: b.reason,
            }),
        }
    }
}

/// The pcap LINKTYPE of a libpcap DLT. They are equal except for the few
/// DLTs whose number differs between platforms; libpcap maps those LINKTYPEs
/// to the local DLT when reading a file, and this maps them back (the reverse
/// of libpcap's `linktype_to_dlt`) so every reader reports LINKTYPE values.
pub(super) fn linktype_of_dlt(dlt: i32) -> u32 {
    match dlt {
        // DLT_RAW (12 on most systems, 14 on OpenBSD) -> LINKTYPE_RAW.
        12 | 14 => 101,
        // DLT_ATM_RFC1483 -> LINKTYPE_ATM_RFC1483.
        11 => 100,
        d => u32::try_from(d).unwrap_or(u32::MAX),
    }
}

/// Record header length of a classic pcap file (16, or 24 for the
/// "modified" format), from its magic number; `None` for anything else.
fn classic_record_header(path: &str) -> Option<u64> {
    use std::io::Read as _;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .ok()?
        .read_exact(&mut magic)
        .ok()?;
    match u32::from_le_bytes(magic) {
        0xa1b2_c3d4 | 0xd4c3_b2a1 | 0xa1b2_3c4d | 0x4d3c_b2a1 => Some(16),
        0xa1b2_cd34 | 0x34cd_b2a1 => Some(24),
        _ => None,
    }
}

fn open_pcap_parser(path: &str) -> Result<PcapParserReader, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    PcapParserReader::new(file)
}

impl super::PacketSource for PcapFile {
    fn next_packet(&mut self) -> Result<super::Next<'_>, CaptureError> {
        Ok(match PcapFile::next_packet(self)? {
            Some(p) => super::Next::Packet(p),
            None => super::Next::End,
        })
    }

    fn origin(&self) -> &str {
        &self.path
    }

    fn is_live(&self) -> bool {
        false
    }

    fn stats(&mut self) -> super::CaptureStats {
        super::CaptureStats {
            received: self.count,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_bundled_sample_with_nanosecond_precision() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/pcaps/sample.pcap");
        let mut f = PcapFile::open(path).unwrap();
        assert_eq!(f.linktype, 1);
        assert!(!f.uses_pcap_parser());
        let mut n = 0;
        let mut last = Timestamp(0);
        while let Some(p) = f.next_packet().unwrap() {
            assert!(p.ts >= last, "timestamps go backwards in the sample");
            assert!(p.ts.secs() > 1_700_000_000);
            assert!(!p.data.is_empty());
            last = p.ts;
            n += 1;
        }
        assert!(n > 10);
        assert_eq!(f.packets_read(), n);
    }

    /// The shared folder (`virga_test_support`: absent on a bare clone, a
    /// failure in CI).
    fn shared() -> Option<std::path::PathBuf> {
        virga_test_support::shared()
    }

    fn data(name: &str) -> String {
        format!("{}/tests/data/pcaps/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    /// gopacket's big-endian, multi-link-type pcapng test file, read from
    /// the shared folder (public captures are not copied into the
    /// repository); None, with a note, when it is absent on a bare clone.
    fn gopacket_test202() -> Option<String> {
        virga_test_support::shared_path("pcaps/public/gopacket/test202-be.pcapng")
            .map(|p| p.to_string_lossy().into_owned())
    }

    type Row = (u64, u32, Vec<u8>, u32, u64);

    fn rows(f: &mut PcapFile) -> (Vec<Row>, Option<CaptureError>) {
        let mut out = Vec::new();
        loop {
            match f.next_packet() {
                Ok(Some(p)) => {
                    out.push((p.ts.0, p.linktype, p.data.to_vec(), p.wire_len, p.pcap_cnt))
                }
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    /// libpcap stops at the second interface (another link type); the
    /// second reader delivers the remaining packets, matching tshark's view
    /// of the file packet by packet (caplen, len, link type, time; SPBs have
    /// no time and take the previous packet's).
    #[test]
    fn multi_linktype_pcapng_is_read_to_the_end() {
        let Some(file) = gopacket_test202() else {
            return;
        };
        let mut f = PcapFile::open(&file).unwrap();
        let (got, err) = rows(&mut f);
        assert!(err.is_none(), "{err:?}");
        assert!(
            f.uses_pcap_parser(),
            "libpcap read it all: the fallback was not exercised"
        );
        // (pkt, caplen, len, LINKTYPE, time µs past 1340954905 s) from
        // refs/gopacket/test202-be.pcapng.frames.jsonl (encap 1 = Ethernet,
        // 15 = NULL/LINKTYPE 0).
        let want: [(u64, usize, u32, u32, u64); 8] = [
            (1, 96, 314, 1, 298_858),
            (2, 96, 342, 1, 298_858),
            (3, 168, 168, 0, 301_858),
            (4, 128, 314, 1, 301_858), // SPB
            (5, 128, 342, 1, 298_858),
            (6, 128, 314, 1, 298_858), // SPB
            (7, 128, 342, 1, 298_858),
            (8, 168, 168, 0, 301_858),
        ];
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert_eq!(g.4, w.0);
            assert_eq!((g.2.len(), g.3, g.1), (w.1, w.2, w.3), "packet {}", w.0);
            assert_eq!(
                g.0,
                1_340_954_905_000_000_000 + w.4 * 1000,
                "packet {}",
                w.0
            );
        }
        // Packets 1-2 came from libpcap, 3-8 from the second reader: the
        // NULL-link packets start with the BSD loopback family (AF_INET = 2).
        // (The family is in the capturing host's order: little-endian here.)
        assert_eq!(&got[2].2[..4], &2u32.to_le_bytes());
        assert_eq!(&got[7].2[..4], &2u32.to_le_bytes());
    }

    /// The second reader agrees with libpcap packet for packet on every
    /// capture libpcap reads: the bundled ones and, when the shared folder is
    /// there, every public capture.
    #[test]
    fn fallback_reader_agrees_with_libpcap() {
        let mut files = vec![data("sample.pcap")];
        for e in std::fs::read_dir(data("clients")).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "pcap" || x == "pcapng") {
                files.push(p.to_string_lossy().into_owned());
            }
        }
        // On a bare clone, the bundled captures only.
        if let Some(s) = shared() {
            let public = s.join("pcaps/public");
            for dir in std::fs::read_dir(&public).unwrap() {
                let dir = dir.unwrap().path();
                if !dir.is_dir() || dir.ends_with("refs") {
                    continue;
                }
                for e in std::fs::read_dir(&dir).unwrap() {
                    files.push(e.unwrap().path().to_string_lossy().into_owned());
                }
            }
        }
        let mut compared = 0;
        let mut packets = 0;
        for path in &files {
            let mut lib = PcapFile::open(path).unwrap();
            let (want, lib_err) = rows(&mut lib);
            if lib.uses_pcap_parser() {
                continue; // libpcap could not read it: nothing to compare with
            }
            let mut fb = PcapFile {
                cap: None,
                pcap_parser: Some(open_pcap_parser(path).unwrap()),
                path: path.clone(),
                linktype: 0,
                count: 0,
                lib_offset: None,
            };
            let (got, fb_err) = rows(&mut fb);
            assert_eq!(got.len(), want.len(), "{path}");
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g, w, "{path}");
            }
            assert_eq!(
                lib_err.is_some(),
                fb_err.is_some(),
                "{path}: {lib_err:?} vs {fb_err:?}"
            );
            compared += 1;
            packets += want.len();
        }
        assert!(compared >= 10, "only {compared} files compared");
        eprintln!("fallback reader matched libpcap on {compared} files, {packets} packets");
    }

    /// Start offsets of the records of a classic little-endian pcap file.
    fn record_offsets(bytes: &[u8]) -> Vec<usize> {
        let mut at = 24;
        let mut out = Vec::new();
        while at + 16 <= bytes.len() {
            out.push(at);
            let caplen = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap());
            at += 16 + caplen as usize;
        }
        assert_eq!(at, bytes.len());
        out
    }

    fn temp_file(name: &str, bytes: &[u8]) -> String {
        let p = std::env::temp_dir().join(format!("virga-{}-{name}", std::process::id()));
        std::fs::write(&p, bytes).unwrap();
        p.to_string_lossy().into_owned()
    }

    /// A classic pcap cut inside record k, or with an absurd caplen in record
    /// k, delivers the k packets before and then fails naming the byte
    /// offset of record k (libpcap's reader, with the offset tracked here).
    #[test]
    fn corrupt_classic_pcap_names_the_offset_of_the_broken_record() {
        let whole = std::fs::read(data("sample.pcap")).unwrap();
        let recs = record_offsets(&whole);
        for k in [0, 1, recs.len() / 2, recs.len() - 1] {
            let at = recs[k];
            for (what, bytes) in [
                ("cut-header", whole[..at + 7].to_vec()),
                ("cut-data", whole[..at + 17].to_vec()),
                ("caplen", {
                    let mut b = whole.clone();
                    b[at + 8..at + 12].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
                    b
                }),
            ] {
                let path = temp_file(&format!("{what}-{k}.pcap"), &bytes);
                let mut f = PcapFile::open(&path).unwrap();
                let (got, err) = rows(&mut f);
                let _ = std::fs::remove_file(&path);
                assert_eq!(got.len(), k, "{what} {k}");
                match err {
                    Some(CaptureError::Corrupt {
                        offset, packets, ..
                    }) => assert_eq!((offset, packets), (at as u64, k as u64), "{what} {k}"),
                    e => panic!("{what} {k}: {e:?}"),
                }
            }
        }
    }

    /// A pcapng cut inside a block fails (in the second reader) naming the
    /// offset of that block, after delivering the packets before it.
    #[test]
    fn truncated_pcapng_names_the_offset_of_the_broken_block() {
        let Some(file) = gopacket_test202() else {
            return;
        };
        let whole = std::fs::read(&file).unwrap();
        // Block starts of the first (big-endian) section: type and total
        // length. The file's second section is little-endian; stop there.
        let be = |at: usize| u32::from_be_bytes(whole[at..at + 4].try_into().unwrap());
        let mut blocks = Vec::new();
        let mut at = 0;
        while blocks.is_empty() || be(at) != 0x0A0D_0D0A {
            blocks.push(at);
            at += be(at + 4) as usize;
        }
        // Packet blocks (Enhanced 6, Simple 3, obsolete 2) before the cut.
        let packets = blocks
            .iter()
            .filter(|&&b| matches!(be(b), 2 | 3 | 6))
            .count();
        assert!(packets > 0 && at < whole.len());
        let mut full = PcapFile::open(&file).unwrap();
        let (all, _) = rows(&mut full);
        // Cut in the middle of the second section's header block.
        let path = temp_file("cut.pcapng", &whole[..at + 10]);
        let mut f = PcapFile::open(&path).unwrap();
        let (got, err) = rows(&mut f);
        let _ = std::fs::remove_file(&path);
        assert_eq!(got, all[..packets]);
        let last = at;
        match err {
            Some(e @ CaptureError::Corrupt { offset, .. }) => {
                assert_eq!(offset, last as u64);
                let msg = e.to_string();
                assert!(
                    msg.contains(&format!("corrupt capture at byte {last} after packet")),
                    "{msg}"
                );
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn not_a_capture_is_an_open_error() {
        let err = PcapFile::open(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
            .err()
            .unwrap();
        assert!(matches!(err, CaptureError::Open { .. }), "{err}");
        // libpcap's own message is kept.
        assert!(
            err.to_string()
                .contains("Cargo.toml: cannot open capture: "),
            "{err}"
        );
    }
}
