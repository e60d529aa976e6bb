//! Observations a worker reports to the detection stage.

use crate::flow::key::Endpoint;
use crate::names::NameSource;
use crate::time::Timestamp;
use std::net::IpAddr;
use std::sync::Arc;

/// One observation, stamped with packet time.
#[derive(Debug, Clone)]
pub struct Observation {
    /// Packet time of the observation.
    pub ts: Timestamp,
    /// What was seen.
    pub kind: ObsKind,
}

/// The kinds of observation.
#[derive(Debug, Clone)]
pub enum ObsKind {
    /// A connection start whose server name is known.
    Conn(Box<ConnObs>),
    /// A DNS question or response of a client.
    Dns(Box<DnsObs>),
}

/// A connection start: TLS/QUIC ClientHello, HTTP request, or a flow named
/// from the client's DNS.
#[derive(Debug, Clone)]
pub struct ConnObs {
    /// The client.
    pub client: IpAddr,
    /// The client's port.
    pub client_port: u16,
    /// The server.
    pub server: Endpoint,
    /// IP protocol.
    pub proto: u8,
    /// Flow id of the connection.
    pub flow_id: u64,
    /// Packet number of the naming packet.
    pub pcap_cnt: u64,
    /// `pcap_filename` / `in_iface` of the packet.
    pub origin: Arc<str>,
    /// True when `origin` is an interface.
    pub live: bool,
    /// Server name.
    pub name: Arc<str>,
    /// Where the name came from.
    pub name_source: NameSource,
    /// A serverless name from the client's DNS chain for this address (a
    /// custom domain CNAMEd to a platform).
    pub dns_serverless: Option<Arc<str>>,
    /// JA4 of the ClientHello, if any.
    pub ja4: Option<Box<str>>,
    /// Client class from the ClientHello: `browser`, `non_browser`, `unknown`.
    pub client_class: Option<&'static str>,
    /// Why the client was classified so.
    pub class_reasons: Vec<&'static str>,
    /// Bytes the client sent in the connection so far.
    pub client_bytes: u64,
    /// The connection's `tls` or `quic` EVE object, rendered (`"tls":{...}`).
    pub app_json: Option<Box<str>>,
}

/// A DNS message of a client.
#[derive(Debug, Clone)]
pub struct DnsObs {
    /// The client (the querier).
    pub client: IpAddr,
    /// The client's port.
    pub client_port: u16,
    /// The resolver.
    pub server: Endpoint,
    /// Flow id of the DNS flow.
    pub flow_id: u64,
    /// Packet number.
    pub pcap_cnt: u64,
    /// `pcap_filename` / `in_iface`.
    pub origin: Arc<str>,
    /// True when `origin` is an interface.
    pub live: bool,
    /// Question name.
    pub qname: Arc<str>,
    /// Question type.
    pub qtype: u16,
    /// `Some(rcode)` for a response, `None` for a query.
    pub rcode: Option<u16>,
    /// Answer records in a response.
    pub answers: u16,
}
