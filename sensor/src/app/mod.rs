//! Application-layer state per flow, and the event emitter the per-protocol
//! handlers write into.
//!
//! Each protocol has its own file: [`dns`], [`tls`], [`quic`], [`http`]. A
//! flow's protocol is decided from its first payload (port 53 → DNS; a TLS
//! handshake record → TLS; an HTTP/1.x request line → HTTP; a QUIC long
//! header Initial → QUIC); after that, only that protocol's handler sees it.

pub mod dns;
pub mod http;
pub mod quic;
pub mod tls;

use crate::flow::key::Tuple;
use crate::flow::stream::{FirstFlight, Push};
use crate::output::eve::{self, Head, Origin};
use crate::output::json::JsonWriter;
use crate::time::Timestamp;
use std::sync::Arc;
use virga_config::Catalogue;

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
    Http(Box<Side>),
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
    /// Name of the server (SNI, HTTP Host), once known.
    pub server_name: Option<Box<str>>,
    /// Where `server_name` came from.
    pub name_source: Option<crate::names::NameSource>,
    /// What the client's own DNS answers said about the server address.
    pub dns_name: Option<Box<crate::names::Learned>>,
    /// Transactions logged (DNS messages, hellos, requests).
    pub tx_count: u32,
    /// True once the flow touched a catalogue name (its `flow` event is
    /// logged by default).
    pub serverless: bool,
    /// True once the flow's connection start was reported to the detectors.
    pub observed: bool,
}

/// One side of a TCP stream being joined until a message parses.
#[derive(Debug, Default)]
pub struct Side {
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

/// What the caller of [`Side::bytes`] should parse.
pub enum Bytes<'a> {
    /// Parse these bytes (the segment alone or the joined prefix).
    Parse(&'a [u8]),
    /// Nothing new to parse.
    Wait,
    /// The bounds were hit; give up on this side.
    Full,
}

impl Side {
    /// A side whose first data byte has sequence number `base`, if known.
    pub fn new(base: Option<u32>) -> Side {
        Side {
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

/// Settings the emitter needs.
#[derive(Clone)]
pub struct EmitConfig {
    /// Log metadata events for all traffic, not only serverless names.
    pub log_all: bool,
    /// Community ID seed.
    pub community_id_seed: u16,
    /// The serverless catalogue.
    pub catalogue: Arc<Catalogue>,
    /// First-flight bounds.
    pub limits: FlightLimits,
}

/// Per-protocol parse counters.
#[derive(Debug, Default, Clone, Copy)]
pub struct AppCounters {
    /// DNS messages parsed.
    pub dns_messages: u64,
    /// DNS payloads that did not parse.
    pub dns_errors: u64,
    /// TLS ClientHellos parsed.
    pub tls_client_hellos: u64,
    /// TLS streams that were not valid TLS or hit a bound.
    pub tls_errors: u64,
    /// QUIC ClientHellos recovered.
    pub quic_client_hellos: u64,
    /// QUIC Initials that failed to parse or decrypt.
    pub quic_errors: u64,
    /// HTTP request heads parsed.
    pub http_requests: u64,
    /// HTTP heads that did not parse.
    pub http_errors: u64,
}

/// Collects EVE lines for one worker.
pub struct Emitter {
    /// Settings.
    pub cfg: EmitConfig,
    /// Complete lines not yet sent to the writer.
    pub out: Vec<u8>,
    /// Where the current packets come from.
    pub origin: String,
    /// True when `origin` is an interface rather than a file.
    pub live: bool,
    /// Parse counters.
    pub counters: AppCounters,
    /// Observations for the detection stage, sent on every tick.
    pub obs: Vec<crate::detect::observe::Observation>,
    /// `origin` shared with observations.
    pub origin_arc: std::sync::Arc<str>,
    scratch: String,
}

/// The packet an event is about.
#[derive(Debug, Clone, Copy)]
pub struct EventPacket {
    /// Packet time.
    pub ts: Timestamp,
    /// Packet number in its file.
    pub pcap_cnt: u64,
}

impl Emitter {
    /// An emitter with an empty buffer.
    pub fn new(cfg: EmitConfig) -> Emitter {
        Emitter {
            cfg,
            out: Vec::with_capacity(64 * 1024),
            origin: String::new(),
            live: false,
            counters: AppCounters::default(),
            obs: Vec::new(),
            origin_arc: std::sync::Arc::from(""),
            scratch: String::with_capacity(64),
        }
    }

    /// True when `name` is under a catalogue suffix.
    pub fn is_serverless(&self, name: &str) -> bool {
        self.cfg.catalogue.lookup(name).is_some()
    }

    /// Writes one event: the head for `tuple` (in the event's direction),
    /// then `body` for the event's own fields, then the origin.
    pub fn event(
        &mut self,
        event_type: &'static str,
        tuple: &Tuple,
        flow_id: u64,
        pkt: Option<EventPacket>,
        ts: Timestamp,
        body: impl FnOnce(&mut JsonWriter<'_>),
    ) {
        let cid = crate::flow::community_id::community_id_v1(
            self.cfg.community_id_seed,
            tuple.src.ip,
            tuple.dst.ip,
            tuple.proto,
            tuple.src.port,
            tuple.dst.port,
        );
        let head = Head {
            ts,
            flow_id,
            pcap_cnt: pkt.map(|p| p.pcap_cnt),
            event_type,
            src: tuple.src,
            dst: tuple.dst,
            proto: tuple.proto,
            community_id: cid.as_deref(),
        };
        let mut w = JsonWriter::new(&mut self.out);
        eve::begin(&mut w, &head, &mut self.scratch);
        body(&mut w);
        let origin = if self.live {
            Origin::Interface(&self.origin)
        } else {
            Origin::File(&self.origin)
        };
        eve::finish(&mut w, origin);
        self.out.push(b'\n');
    }
}
