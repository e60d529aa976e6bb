//! Offline source: a pcap or pcapng file read through libpcap.

use super::{CaptureError, RawPacket};
use crate::time::Timestamp;

/// An open capture file, read packet by packet.
pub struct PcapFile {
    cap: pcap::Capture<pcap::Offline>,
    path: String,
    linktype: u32,
    count: u64,
}

impl PcapFile {
    /// Opens `path` with nanosecond timestamp precision.
    pub fn open(path: &str) -> Result<Self, CaptureError> {
        let cap =
            pcap::Capture::from_file_with_precision(path, pcap::Precision::Nano).map_err(|e| {
                CaptureError::Open {
                    path: path.to_string(),
                    reason: e.to_string(),
                }
            })?;
        let linktype = cap.get_datalink().0 as u32;
        Ok(PcapFile {
            cap,
            path: path.to_string(),
            linktype,
            count: 0,
        })
    }

    /// Path as given when opening.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Packets read so far.
    pub fn packets_read(&self) -> u64 {
        self.count
    }

    /// Next packet, `Ok(None)` at the end of the file.
    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        match self.cap.next_packet() {
            Ok(p) => {
                self.count += 1;
                let ts = Timestamp::from_secs_nanos(
                    p.header.ts.tv_sec,
                    u32::try_from(p.header.ts.tv_usec).unwrap_or(0),
                );
                Ok(Some(RawPacket {
                    ts,
                    linktype: self.linktype,
                    data: p.data,
                    wire_len: p.header.len,
                    pcap_cnt: self.count,
                }))
            }
            Err(pcap::Error::NoMorePackets) => Ok(None),
            Err(e) => Err(CaptureError::Read {
                path: self.path.clone(),
                packets: self.count,
                reason: e.to_string(),
            }),
        }
    }
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

    #[test]
    fn not_a_capture_is_an_open_error() {
        let err = PcapFile::open(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
            .err()
            .unwrap();
        assert!(matches!(err, CaptureError::Open { .. }), "{err}");
    }
}
