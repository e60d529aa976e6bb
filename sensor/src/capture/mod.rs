//! Packet sources: pcap/pcapng files (replay) and live interfaces, read
//! through libpcap (the `pcap` crate) or, on Linux, through AF_PACKET rings
//! ([`af_packet`], one per worker; [`open_sources`] picks by the
//! configured `capture.method`).
//!
//! A source yields [`RawPacket`]s in capture order with the packet's own
//! timestamp; the rest of the sensor never reads the wall clock.

pub mod cbpf;
pub mod live;
pub mod mapped_pcap;
mod os;
#[cfg(target_os = "linux")]
pub use os::af_packet;
pub mod pcap_file;
mod pcap_parser_file;

pub use crate::telemetry::CaptureStats;
use crate::time::Timestamp;

/// One captured frame as the source delivers it (borrowed from libpcap's buffer).
#[derive(Debug, Clone, Copy)]
pub struct RawPacket<'a> {
    /// Capture timestamp from the packet header.
    pub ts: Timestamp,
    /// pcap LINKTYPE of the frame.
    pub linktype: u32,
    /// Captured bytes (at most the snap length).
    pub data: &'a [u8],
    /// Length of the frame on the wire.
    pub wire_len: u32,
    /// 1-based index of the packet within its file (or since start, live).
    pub pcap_cnt: u64,
}

/// What a source returns when asked for its next packet.
#[derive(Debug)]
pub enum Next<'a> {
    /// A packet.
    Packet(RawPacket<'a>),
    /// No packet right now (live capture read timeout); ask again.
    Idle,
    /// The source is exhausted (end of file, interface gone after shutdown).
    End,
}

/// A packet source the pipeline reads from: a capture file or an interface.
pub trait PacketSource {
    /// The next packet. `Err` is fatal for the source.
    fn next_packet(&mut self) -> Result<Next<'_>, CaptureError>;
    /// `pcap_filename` (file path as given) or `in_iface` (interface name).
    fn origin(&self) -> &str;
    /// True for live capture (events carry `in_iface`).
    fn is_live(&self) -> bool;
    /// Counters so far.
    fn stats(&mut self) -> CaptureStats;
}

impl std::fmt::Debug for dyn PacketSource + Send {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketSource")
            .field("origin", &self.origin())
            .field("live", &self.is_live())
            .finish()
    }
}

/// A failure to open or read a packet source; fatal for that source.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file or directory could not be opened or is not a capture file.
    #[error("{path}: cannot open capture: {reason}")]
    Open {
        /// Path as given by the user.
        path: String,
        /// libpcap's or the OS's message.
        reason: String,
    },
    /// Live capture: reading failed after `packets` packets.
    #[error("{path}: read error after packet {packets}: {reason}")]
    Read {
        /// Path as given by the user.
        path: String,
        /// Number of packets read before the error.
        packets: u64,
        /// libpcap's message.
        reason: String,
    },
    /// A capture file is corrupt or truncated at byte `offset` (the start of
    /// the record or block that could not be read), after `packets` good
    /// packets; those packets were delivered.
    #[error("{path}: corrupt capture at byte {offset} after packet {packets}: {reason}")]
    Corrupt {
        /// Path as given by the user.
        path: String,
        /// Byte offset in the file of the broken record or block.
        offset: u64,
        /// Number of packets read before the error.
        packets: u64,
        /// What is wrong (the reader's message).
        reason: String,
    },
    /// Live capture: the interface does not exist.
    #[error("{interface}: no such interface ({reason})")]
    NoSuchInterface {
        /// Interface name as given.
        interface: String,
        /// libpcap's message.
        reason: String,
    },
    /// Live capture: not allowed to capture on the interface.
    #[error(
        "{interface}: permission denied: {reason} (live capture needs root or the \
         CAP_NET_RAW and CAP_NET_ADMIN capabilities)"
    )]
    PermissionDenied {
        /// Interface name as given.
        interface: String,
        /// libpcap's message.
        reason: String,
    },
    /// Live capture could not start for another reason (interface down, bad setting).
    #[error("{interface}: cannot capture: {reason}")]
    Interface {
        /// Interface name as given.
        interface: String,
        /// libpcap's message.
        reason: String,
    },
    /// The configured BPF filter does not compile for the interface.
    #[error("{interface}: bad BPF filter {filter:?}: {reason}")]
    Filter {
        /// Interface name as given.
        interface: String,
        /// The filter text.
        filter: String,
        /// libpcap's message.
        reason: String,
    },
}

/// Opens live capture on `settings.interface` by `settings.method`: for
/// `af_packet`, `workers` sources, source `i` receiving the packets of
/// worker `i` (see [`af_packet::open_group`]); for `pcap`, one source that
/// receives everything (the caller shards it).
///
/// # Errors
/// As [`live::LiveCapture::open`] and [`af_packet::open_group`].
pub fn open_sources(
    settings: &virga_config::Capture,
    workers: usize,
) -> Result<Vec<Box<dyn PacketSource + Send>>, CaptureError> {
    match settings.method {
        virga_config::CaptureMethod::Pcap => Ok(vec![Box::new(live::LiveCapture::open(settings)?)]),
        #[cfg(target_os = "linux")]
        virga_config::CaptureMethod::AfPacket => Ok(af_packet::open_group(settings, workers)?
            .into_iter()
            .map(|s| Box::new(s) as Box<dyn PacketSource + Send>)
            .collect()),
        // The configuration refuses `af_packet` off Linux; a value built in
        // code gets the same answer here.
        #[cfg(not(target_os = "linux"))]
        virga_config::CaptureMethod::AfPacket => {
            let _ = workers;
            Err(CaptureError::Interface {
                interface: settings.interface.clone().unwrap_or_default(),
                reason: "capture.method \"af_packet\" needs Linux".into(),
            })
        }
    }
}

/// Expands the user's replay arguments into capture files, in order: files as
/// given, and the files of a directory sorted by name (not recursive).
pub fn expand_inputs(args: &[String]) -> Result<Vec<String>, CaptureError> {
    let mut out = Vec::new();
    for a in args {
        let meta = std::fs::metadata(a).map_err(|e| CaptureError::Open {
            path: a.clone(),
            reason: e.to_string(),
        })?;
        if meta.is_dir() {
            let rd = std::fs::read_dir(a).map_err(|e| CaptureError::Open {
                path: a.clone(),
                reason: e.to_string(),
            })?;
            let mut files: Vec<String> = rd
                .filter_map(|e| e.ok())
                .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
                .map(|e| e.path().to_string_lossy().into_owned())
                .filter(|p| is_capture_name(p))
                .collect();
            files.sort();
            out.extend(files);
        } else {
            out.push(a.clone());
        }
    }
    Ok(out)
}

/// File names a directory scan picks up.
fn is_capture_name(p: &str) -> bool {
    let lower = p.to_ascii_lowercase();
    [".pcap", ".pcapng", ".cap", ".pcap.gz"]
        .iter()
        .any(|s| lower.ends_with(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_expansion_is_sorted_and_filtered() {
        let dir = std::env::temp_dir().join(format!("virga-expand-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for n in ["b.pcap", "a.pcapng", "notes.txt"] {
            std::fs::write(dir.join(n), b"x").unwrap();
        }
        let got = expand_inputs(&[dir.to_string_lossy().into_owned()]).unwrap();
        let names: Vec<_> = got
            .iter()
            .map(|p| p.rsplit('/').next().unwrap().to_string())
            .collect();
        assert_eq!(names, ["a.pcapng", "b.pcap"]);
        std::fs::remove_dir_all(&dir).unwrap();
        let err = expand_inputs(&["/nonexistent/x.pcap".into()]).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("/nonexistent/x.pcap: cannot open"));
    }
}
