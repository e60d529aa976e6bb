//! The HTTP record: a request head.

use super::{FlowRef, PacketRef};

/// An HTTP/1.x request head, borrowed from the packet or the joined
/// segments.
#[derive(Debug, Clone, Copy)]
pub struct HttpRequest<'a> {
    /// The connection, client → server.
    pub flow: FlowRef,
    /// The packet that completed the head.
    pub packet: PacketRef,
    /// The parsed head.
    pub request: &'a virga_parsers::http::HttpRequest<'a>,
    /// True when the Host is catalogued.
    pub serverless: bool,
}
