//! QUIC: decrypts the client's Initial packets of a connection, gathers their
//! CRYPTO frames until the ClientHello is whole, and writes one `quic` event
//! per connection.

use super::tls::write_alpns;
use super::{Emitter, EventPacket};
use crate::flow::key::Tuple;
use crate::flow::stream::Charge;
use crate::output::json::JsonWriter;
use virga_parsers::fingerprint::{self, Transport};
use virga_parsers::quic::{self, ClientInitials, PacketType, QuicVersion};
use virga_parsers::tls::{self, ClientHello};

/// Client datagrams examined per connection before giving up on its hello.
pub const MAX_INITIALS: u16 = 16;

/// Per-connection QUIC state.
#[derive(Debug)]
pub struct QuicState {
    initials: ClientInitials,
    datagrams: u16,
    /// True once the hello was logged or abandoned.
    pub done: bool,
    /// The CRYPTO buffer's share of the worker's first-flight memcap (none
    /// for the worker's [`QuicState::spare`]).
    _charge: Option<Charge>,
}

/// Bytes a connection's state holds (its CRYPTO reassembly buffer).
pub const STATE_BYTES: usize = virga_parsers::quic::CryptoAssembler::DEFAULT_CAPACITY;

impl QuicState {
    /// A fresh state, if its buffer fits in the worker's `memcap` (else
    /// None, counted as a memcap drop): a flood of Initial-looking datagrams
    /// cannot hold more than the memcap.
    pub fn try_new(memcap: usize) -> Option<Box<QuicState>> {
        let charge = Charge::try_new(STATE_BYTES, memcap)?;
        Some(Box::new(QuicState {
            initials: ClientInitials::default(),
            datagrams: 0,
            done: false,
            _charge: Some(charge),
        }))
    }

    /// The worker's one uncharged state, allocated once, for a connection
    /// whose own state the memcap refused: [`QuicState::reset`] before each
    /// use, so it finds a hello that is whole in one datagram (most are) and
    /// the connection is still logged and classified under memory pressure.
    pub fn spare() -> Box<QuicState> {
        Box::new(QuicState {
            initials: ClientInitials::default(),
            datagrams: 0,
            done: false,
            _charge: None,
        })
    }

    /// Forgets the previous connection (keeps the buffer).
    pub fn reset(&mut self) {
        self.initials.reset();
        self.datagrams = 0;
        self.done = false;
    }

    /// The ClientHello message, once complete.
    pub fn hello(&self) -> Option<&[u8]> {
        self.initials.client_hello().ok()
    }
}

/// True when a UDP payload starts with a client Initial of a version virga
/// decrypts.
pub fn probe(payload: &[u8]) -> bool {
    match quic::parse_long_header(payload) {
        Ok((h, _)) => h.packet_type == PacketType::Initial && h.version.is_supported(),
        Err(_) => false,
    }
}

/// True when a UDP payload starts with a QUIC long header of any version.
pub fn is_long_header(payload: &[u8]) -> bool {
    payload.first().is_some_and(|b| b & 0x80 != 0) && quic::parse_invariant_header(payload).is_ok()
}

/// What an event needs to know about its flow.
pub struct QuicCtx<'a> {
    /// Client → server tuple.
    pub tuple: &'a Tuple,
    /// Flow id.
    pub flow_id: u64,
    /// Whether metadata events are logged for this flow.
    pub log: bool,
}

/// Handles one client datagram; returns the SNI when the hello completed now.
pub fn on_client_datagram(
    st: &mut QuicState,
    datagram: &[u8],
    pkt: EventPacket,
    em: &mut Emitter,
    ctx: &QuicCtx<'_>,
    scratch: &mut [u8],
) -> Option<Option<Box<str>>> {
    if st.done {
        return None;
    }
    st.datagrams += 1;
    if st.datagrams > MAX_INITIALS {
        st.done = true;
        em.counters.quic_errors += 1;
        return None;
    }
    let report = st.initials.on_datagram(datagram, scratch);
    if report.error.is_some() && report.decrypted == 0 {
        em.counters.quic_errors += 1;
    }
    let version = st.initials.version().unwrap_or(QuicVersion::V1);
    let msg = st.initials.client_hello().ok()?;
    let ch = match tls::parse_client_hello(msg) {
        Ok(ch) => ch,
        Err(e) if e.is_incomplete() => return None,
        Err(_) => {
            st.done = true;
            em.counters.quic_errors += 1;
            return None;
        }
    };
    st.done = true;
    em.counters.quic_client_hellos += 1;
    let sni = ch
        .sni()
        .map(|s| String::from_utf8_lossy(s).into_owned().into_boxed_str());
    let log = ctx.log || sni.as_deref().is_some_and(|n| em.is_serverless(n));
    if log {
        em.event("quic", ctx.tuple, ctx.flow_id, Some(pkt), pkt.ts, |w| {
            write_quic_object(w, &ch, version);
        });
    }
    Some(sni)
}

/// Suricata's `quic.version` string: hex of the version number.
fn version_text(v: QuicVersion) -> String {
    format!("{:x}", v.0)
}

/// Writes the `quic` object: version, SNI, JA3, JA4 and ALPNs.
pub fn write_quic_object(w: &mut JsonWriter<'_>, ch: &ClientHello<'_>, version: QuicVersion) {
    w.object("quic").str("version", &version_text(version));
    if let Some(sni) = ch.sni() {
        w.bytes("sni", sni);
    }
    let mut ja3 = String::new();
    if let Ok(hash) = fingerprint::ja3(ch, &mut ja3) {
        w.object("ja3")
            .str("hash", hash.as_str())
            .str("string", &ja3)
            .end_object();
    }
    w.str("ja4", fingerprint::ja4(ch, Transport::Quic).as_str());
    let mut alpn = ch.alpn_protocols().peekable();
    if alpn.peek().is_some() {
        w.array("extensions")
            .begin_object()
            .str("name", "alpn")
            .u64("type", 16);
        write_alpns(w, "values", alpn);
        w.end_object().end_array();
    }
    w.end_object();
}
