//! Typed records: what a worker makes of packets, and everything after the
//! worker consumes. A record is a plain Rust value (borrowing the packet or
//! the flow's parsed message, or small and owned when it crosses threads);
//! nothing in it is formatted text. Each carries its flow, its packet time
//! and whether it touches a catalogued serverless name; the EVE serializers
//! (`eve`) and the detectors (`detect`) read them.
//!
//! - [`dns`]: [`DnsTransaction`] (one DNS message) and [`DnsLookup`] (its
//!   summary for the DNS anomaly detector);
//! - [`tls`]: [`TlsHello`], the client's hello and the server's when seen;
//! - [`quic`]: [`QuicHello`], the client's hello from its Initials;
//! - [`http`]: [`HttpRequest`], a request head;
//! - [`conn`]: [`ConnStart`], a named connection start for the detectors;
//! - [`flow_end`]: [`FlowEnd`], a flow leaving the table;
//! - [`name`]: a flow's server name, where it came from and its platform;
//! - [`process`]: the process behind a record, when host events name it.

pub mod conn;
pub mod dns;
pub mod flow_end;
pub mod http;
pub mod name;
pub mod process;
pub mod quic;
pub mod tls;

pub use conn::{BeatSource, ConnStart, Hello};
pub use dns::{DnsLookup, DnsTransaction};
pub use flow_end::FlowEnd;
pub use http::HttpRequest;
pub use name::{FlowName, NameSource};
pub use process::{HostEventSource, Process, ProcessInfo};
pub use quic::QuicHello;
pub use tls::TlsHello;

use crate::flow::key::Tuple;
use crate::time::Timestamp;
use std::sync::Arc;

/// The packet a record is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketRef {
    /// Packet time.
    pub ts: Timestamp,
    /// Packet number in its file (`pcap_cnt`).
    pub pcap_cnt: u64,
}

/// The flow a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowRef {
    /// Suricata-style flow id, shared by every event of the flow.
    pub flow_id: u64,
    /// Addresses as the record's message goes (client → server for a
    /// request or a hello, server → client for a DNS response).
    pub tuple: Tuple,
}

/// Where the packets come from: a capture file's path as given, or an
/// interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketOrigin {
    /// `pcap_filename` or `in_iface`.
    pub name: Arc<str>,
    /// True for an interface (live capture).
    pub live: bool,
}

impl Default for PacketOrigin {
    fn default() -> Self {
        PacketOrigin {
            name: Arc::from(""),
            live: false,
        }
    }
}

/// The application protocol of a flow (`app_proto` in EVE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AppProto {
    /// Not decided yet.
    #[default]
    Unknown,
    /// TLS over TCP.
    Tls,
    /// QUIC.
    Quic,
    /// DNS over UDP or TCP.
    Dns,
    /// HTTP/1.x.
    Http,
    /// Payload seen, no supported protocol.
    Failed,
}

impl AppProto {
    /// Suricata's `app_proto` value.
    pub fn name(self) -> &'static str {
        match self {
            AppProto::Unknown => "unknown",
            AppProto::Tls => "tls",
            AppProto::Quic => "quic",
            AppProto::Dns => "dns",
            AppProto::Http => "http",
            AppProto::Failed => "failed",
        }
    }
}

/// A record the detection stage receives: owned, stamped with packet time.
#[derive(Debug, Clone)]
pub enum DetectionRecord {
    /// A connection start whose server name is known.
    ConnStart(Box<ConnStart>),
    /// A client's DNS message about a serverless name.
    DnsLookup(Box<DnsLookup>),
}

impl DetectionRecord {
    /// Packet time of the record.
    pub fn ts(&self) -> Timestamp {
        match self {
            DetectionRecord::ConnStart(c) => c.packet.ts,
            DetectionRecord::DnsLookup(d) => d.packet.ts,
        }
    }
}

/// Where a worker hands its records: the EVE serializer for the events it
/// logs, the detection stage for connection starts and DNS lookups.
pub trait RecordSink {
    /// A DNS message.
    fn dns(&mut self, r: &DnsTransaction<'_>);
    /// A TLS handshake (client hello, and the server's when seen).
    fn tls(&mut self, r: &TlsHello<'_>);
    /// A QUIC client hello.
    fn quic(&mut self, r: &QuicHello<'_>);
    /// An HTTP request head.
    fn http(&mut self, r: &HttpRequest<'_>);
    /// A flow that ended.
    fn flow_end(&mut self, r: &FlowEnd<'_>);
    /// A connection start for the detectors.
    fn conn_start(&mut self, r: ConnStart);
    /// A DNS message for the detectors.
    fn dns_lookup(&mut self, r: DnsLookup);
}
