//! The TLS record: one connection's handshake as far as virga reads it.

use super::{FlowRef, PacketRef};
use crate::time::Timestamp;
use virga_parsers::tls::{ClientHello, ServerHello};

/// A TLS connection's ClientHello, and its ServerHello when one was seen.
#[derive(Debug, Clone, Copy)]
pub struct TlsHello<'a> {
    /// The connection, client → server.
    pub flow: FlowRef,
    /// The packet that completed the ClientHello, when known.
    pub packet: Option<PacketRef>,
    /// Time of the record: the ClientHello's packet, else the flow's end.
    pub ts: Timestamp,
    /// The client's hello.
    pub client: &'a ClientHello<'a>,
    /// The server's hello, when it was seen.
    pub server: Option<&'a ServerHello<'a>>,
    /// True when the flow touches a catalogued name.
    pub serverless: bool,
    /// The client hello's JA4 when the worker already computed it (for the
    /// detectors), so the event does not hash the hello again.
    pub ja4: Option<&'a str>,
}
