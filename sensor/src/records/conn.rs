//! The connection record the detectors read: a connection start whose
//! server name is known, with the client's class.

use super::{AppProto, NameSource, PacketOrigin, PacketRef, Process};
use crate::client_class::{ClientClass, Reasons};
use crate::flow::key::Endpoint;
use std::sync::Arc;
use virga_config::Platform;
use virga_parsers::fingerprint::Transport;
use virga_parsers::quic::QuicVersion;

/// A named connection start (TLS or QUIC ClientHello, HTTP request, or a
/// flow named from the client's DNS), owned, for the detection stage.
#[derive(Debug, Clone)]
pub struct ConnStart {
    /// The packet that named the connection.
    pub packet: PacketRef,
    /// Where the packet came from.
    pub origin: PacketOrigin,
    /// Flow id of the connection.
    pub flow_id: u64,
    /// The client.
    pub client: Endpoint,
    /// The server.
    pub server: Endpoint,
    /// IP protocol.
    pub proto: u8,
    /// The flow's application protocol.
    pub app_proto: AppProto,
    /// Server name.
    pub name: Arc<str>,
    /// Where the name came from.
    pub name_source: NameSource,
    /// The serverless platform of the name or of its DNS chain.
    pub platform: Option<Platform>,
    /// The ClientHello, when the connection has one.
    pub hello: Option<Hello>,
    /// Client class from the ClientHello (`Unknown` without one).
    pub client_class: ClientClass,
    /// Why the client was classified so.
    pub class_reasons: Reasons,
    /// Bytes the client sent in the connection so far.
    pub client_bytes: u64,
    /// What kind of beat this is: the connection's start, or a request or burst inside it.
    pub beat: BeatSource,
    /// The Zeek `uid` of the log rows this record was made from (`virga
    /// hunt`); `None` on the wire.
    pub evidence_uid: Option<Arc<str>>,
    /// The process that made the connection, when host events name it (set by the detection
    /// stage; workers leave it `None`).
    pub process: Option<Arc<Process>>,
}

/// Where a beat of a (client, destination) pair comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BeatSource {
    /// A connection start (ClientHello, QUIC Initial, the first request, the first packet).
    Connection,
    /// An HTTP/1.x request on a keep-alive connection, after the client was silent.
    Request,
    /// A client→server burst inside a connection after the client was silent (TLS, HTTP/2,
    /// WebSocket, raw TCP or UDP).
    Burst,
}

impl BeatSource {
    /// Every source, in the order alerts list them.
    pub const ALL: [BeatSource; 3] = [
        BeatSource::Connection,
        BeatSource::Request,
        BeatSource::Burst,
    ];

    /// `connections`, `requests` or `bursts`, as alerts list them.
    pub const fn name(self) -> &'static str {
        match self {
            BeatSource::Connection => "connections",
            BeatSource::Request => "requests",
            BeatSource::Burst => "bursts",
        }
    }

    /// This source's bit in a set of sources.
    pub const fn bit(self) -> u8 {
        match self {
            BeatSource::Connection => 1,
            BeatSource::Request => 2,
            BeatSource::Burst => 4,
        }
    }
}

/// A connection's ClientHello, owned (an alert shows its fields).
#[derive(Debug, Clone)]
pub struct Hello {
    /// The handshake message.
    pub message: Box<[u8]>,
    /// TLS over TCP or QUIC.
    pub transport: Transport,
    /// The QUIC version, for QUIC.
    pub quic_version: Option<QuicVersion>,
    /// Its JA4.
    pub ja4: Box<str>,
}
