//! Test helper: every client ClientHello in a capture, as handshake-message bytes with its
//! connection 4-tuple and transport. Reads the capture with the sensor's own reader
//! (`virga::capture::pcap_file`), decodes with `virga_parsers::packet`, joins TCP first flights
//! with the sensor's `virga::flow::first_flight::FirstFlight` and decrypts QUIC Initials with
//! `virga_parsers::quic::ClientInitials`. IP fragments are not reassembled (none of the
//! captures used needs it).

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;

use virga::capture::pcap_file::PcapFile;
use virga::flow::first_flight::FirstFlight;
use virga_parsers::fingerprint::Transport as HelloTransport;
use virga_parsers::packet::{decode, LinkType, Transport};
use virga_parsers::quic::ClientInitials;
use virga_parsers::tls::record::first_handshake_message;

/// One ClientHello found in a capture.
pub struct Hello {
    /// Client address and port.
    pub client: (IpAddr, u16),
    /// Server address and port.
    pub server: (IpAddr, u16),
    /// TCP or QUIC.
    pub transport: HelloTransport,
    /// The handshake message (type 1, 3-byte length, body).
    pub message: Vec<u8>,
}

type Dir = (IpAddr, u16, IpAddr, u16);

enum TcpDir {
    Collecting(FirstFlight),
    Done,
}

/// `rel` in the shared folder; None, with a note, on a bare clone (a failure in CI).
pub fn shared_path(rel: &str) -> Option<PathBuf> {
    virga_test_support::shared_path(rel)
}

/// Every client ClientHello of the capture at `path`, in the order they completed.
pub fn client_hellos(path: &str) -> Vec<Hello> {
    let mut f = PcapFile::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut tcp: HashMap<Dir, TcpDir> = HashMap::new();
    let mut syn_base: HashMap<Dir, u32> = HashMap::new();
    let mut quic: HashMap<Dir, Option<ClientInitials>> = HashMap::new();
    let mut scratch = Vec::new();
    let mut quic_scratch = vec![0u8; 65_536];
    let mut out = Vec::new();
    while let Some(p) = f.next_packet().unwrap_or_else(|e| panic!("{path}: {e}")) {
        let Ok(view) = decode(LinkType(p.linktype), p.data) else {
            continue;
        };
        let Some(ip) = view.ip else { continue };
        match view.transport {
            Transport::Tcp(t) => {
                let dir = (ip.src, t.src_port, ip.dst, t.dst_port);
                // SYN without ACK: the client's ISN; its data starts at ISN + 1.
                if t.flags.0 & 0x02 != 0 && t.flags.0 & 0x10 == 0 {
                    syn_base.insert(dir, t.seq.wrapping_add(1));
                    continue;
                }
                if t.payload.is_empty() {
                    continue;
                }
                let state = tcp.entry(dir).or_insert_with(|| {
                    let base = syn_base.get(&dir).copied().unwrap_or(t.seq);
                    TcpDir::Collecting(FirstFlight::new(base, 65_536, 64, usize::MAX))
                });
                let TcpDir::Collecting(flight) = state else {
                    continue;
                };
                flight.push(t.seq, t.payload);
                match first_handshake_message(flight.contiguous(), &mut scratch) {
                    Ok(m) => {
                        if m.handshake_type().0 == 1 {
                            out.push(Hello {
                                client: (ip.src, t.src_port),
                                server: (ip.dst, t.dst_port),
                                transport: HelloTransport::Tcp,
                                message: m.message.to_vec(),
                            });
                        }
                        *state = TcpDir::Done;
                    }
                    Err(virga_parsers::ParseError::Incomplete { .. }) => {}
                    Err(_) => *state = TcpDir::Done,
                }
            }
            Transport::Udp(u) => {
                // Long-header packets only (Initials live there).
                if u.payload.first().is_none_or(|b| b & 0x80 == 0) {
                    continue;
                }
                let dir = (ip.src, u.src_port, ip.dst, u.dst_port);
                let slot = quic
                    .entry(dir)
                    .or_insert_with(|| Some(ClientInitials::new()));
                let Some(initials) = slot else { continue };
                initials.on_datagram(u.payload, &mut quic_scratch);
                if let Ok(m) = initials.client_hello() {
                    out.push(Hello {
                        client: (ip.src, u.src_port),
                        server: (ip.dst, u.dst_port),
                        transport: HelloTransport::Quic,
                        message: m.to_vec(),
                    });
                    *slot = None;
                }
            }
            _ => {}
        }
    }
    out
}
