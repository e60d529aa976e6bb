//! The QUIC record: a connection's ClientHello, from its decrypted Initials.

use super::{FlowRef, PacketRef};
use virga_parsers::quic::QuicVersion;
use virga_parsers::tls::ClientHello;

/// A QUIC connection's ClientHello.
#[derive(Debug, Clone, Copy)]
pub struct QuicHello<'a> {
    /// The connection, client → server.
    pub flow: FlowRef,
    /// The datagram that completed the hello.
    pub packet: PacketRef,
    /// The QUIC version of the Initials.
    pub version: QuicVersion,
    /// The client's hello.
    pub client: &'a ClientHello<'a>,
    /// True when the flow or the SNI touches a catalogued name.
    pub serverless: bool,
}
