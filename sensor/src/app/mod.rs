//! The application layer: per-flow protocol state, and the protocol
//! handlers that turn a flow's payload into records.
//!
//! Each protocol has its own file: [`dns`], [`tls`], [`quic`], [`http`]. A
//! flow's protocol is decided from its first payload (port 53 → DNS; a TLS
//! handshake record → TLS; an HTTP/1.x request line → HTTP; a QUIC long
//! header Initial → QUIC); after that, only that protocol's handler sees it.
//! Handlers hand their records to a [`RecordSink`] and count into
//! [`AppCounters`]; they write nothing themselves.

pub mod dns;
pub mod http;
pub mod quic;
pub mod tls;

use crate::client_class::ClientClass;
use crate::flow::first_flight::{FirstFlight, Push};
use crate::records::{AppProto, FlowName, FlowRef, PacketRef, RecordSink};
use crate::telemetry::AppCounters;
use crate::time::Timestamp;
use virga_config::Catalogue;

/// Per-protocol state, boxed so an idle flow stays small.
#[derive(Debug, Default)]
pub enum AppState {
    /// Nothing parsed yet, or nothing more to parse.
    #[default]
    Idle,
    /// TLS handshake in progress.
    Tls(Box<tls::TlsState>),
    /// QUIC Initials being gathered.
    Quic(Box<quic::QuicState>),
    /// DNS over TCP framing.
    DnsTcp(Box<dns::TcpDnsState>),
    /// HTTP request head across segments.
    Http(Box<StreamHead>),
}

/// Application-layer part of a flow.
#[derive(Debug, Default)]
pub struct FlowApp {
    /// Decided protocol.
    pub proto: AppProto,
    /// Protocol state.
    pub state: AppState,
    /// Initial sequence number + 1 per direction, from the SYNs.
    pub isn: [Option<u32>; 2],
    /// The server's name (SNI, HTTP Host, the client's DNS), once known.
    pub name: Option<Box<FlowName>>,
    /// Transactions logged (DNS messages, hellos, requests).
    pub tx_count: u32,
    /// True once the flow touched a catalogue name (its `flow` event is
    /// logged by default).
    pub serverless: bool,
    /// True once the flow's connection start was reported to the detectors.
    pub observed: bool,
    /// The client's class from its ClientHello, once reported (beats inside the
    /// connection carry it).
    pub client_class: ClientClass,
    /// Time of the client's latest payload (0 before any): a payload after
    /// `[detect.beacon] burst_idle_ms` of client silence is a beat of its own.
    pub client_data_at: Timestamp,
}

/// The head of one direction of a TCP stream, joined until its first
/// message (a hello, a request head) parses.
#[derive(Debug, Default)]
pub struct StreamHead {
    flight: Option<FirstFlight>,
    /// Sequence number of the first data byte, when known.
    base: Option<u32>,
    /// True once the side is parsed or abandoned.
    pub done: bool,
}

/// Bounds of first-flight reassembly.
#[derive(Debug, Clone, Copy)]
pub struct FlightLimits {
    /// Bytes joined per direction.
    pub max_bytes: usize,
    /// Segments joined per direction.
    pub max_segments: u16,
    /// Bytes all buffers of one worker may hold together.
    pub memcap: usize,
}

impl Default for FlightLimits {
    fn default() -> Self {
        FlightLimits {
            max_bytes: 16 * 1024,
            max_segments: 16,
            memcap: 32 << 20,
        }
    }
}

/// What the caller of [`StreamHead::bytes`] should parse.
pub enum Bytes<'a> {
    /// Parse these bytes (the segment alone or the joined prefix).
    Parse(&'a [u8]),
    /// Nothing new to parse.
    Wait,
    /// The bounds were hit; give up on this side.
    Full,
}

impl StreamHead {
    /// A stream whose first data byte has sequence number `base`, if known.
    pub fn new(base: Option<u32>) -> StreamHead {
        StreamHead {
            flight: None,
            base,
            done: false,
        }
    }

    /// Adds a segment and returns the bytes to try. While no buffer exists,
    /// a segment that starts the stream is parsed in place (zero copy).
    pub fn bytes<'a>(&'a mut self, seq: u32, payload: &'a [u8], lim: FlightLimits) -> Bytes<'a> {
        if self.flight.is_none() {
            let base = *self.base.get_or_insert(seq);
            if seq == base {
                return Bytes::Parse(payload);
            }
            self.flight = Some(FirstFlight::new(
                base,
                lim.max_bytes,
                lim.max_segments,
                lim.memcap,
            ));
        }
        let Some(f) = self.flight.as_mut() else {
            return Bytes::Wait;
        };
        match f.push(seq, payload) {
            Push::Grew => Bytes::Parse(f.contiguous()),
            Push::Unchanged => Bytes::Wait,
            Push::Full => Bytes::Full,
        }
    }

    /// After an in-place parse came back incomplete: keep the segment so the
    /// next one can be joined to it.
    pub fn keep(&mut self, seq: u32, payload: &[u8], lim: FlightLimits) {
        if self.flight.is_none() {
            let base = *self.base.get_or_insert(seq);
            let mut f = FirstFlight::new(base, lim.max_bytes, lim.max_segments, lim.memcap);
            let _ = f.push(seq, payload);
            self.flight = Some(f);
        }
    }

    /// True when a segment with sequence number `seq` would be parsed in
    /// place (no buffer yet, and it starts the stream).
    pub fn in_place(&self, seq: u32) -> bool {
        self.flight.is_none() && self.base.is_none_or(|b| b == seq)
    }

    /// Marks the side finished and frees its buffer.
    pub fn finish(&mut self) {
        self.done = true;
        self.flight = None;
    }
}

/// What a protocol handler works with besides its own state: the flow and
/// packet, the bounds, the catalogue, its counters, and where records go.
pub struct HandlerCtx<'a> {
    /// The flow, client → server.
    pub flow: FlowRef,
    /// The packet being handled.
    pub packet: PacketRef,
    /// First-flight bounds.
    pub limits: FlightLimits,
    /// The serverless catalogue (for names a handler finds).
    pub catalogue: &'a Catalogue,
    /// True when the flow already touches a catalogued name.
    pub serverless: bool,
    /// Parse counters.
    pub counters: &'a mut AppCounters,
    /// Where records go.
    pub sink: &'a mut dyn RecordSink,
}
