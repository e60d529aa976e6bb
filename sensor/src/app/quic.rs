//! QUIC: decrypts the client's Initial packets of a connection, gathers their
//! CRYPTO frames until the ClientHello is whole, and hands one [`QuicHello`]
//! record per connection on.

use super::HandlerCtx;
use crate::flow::first_flight::Charge;
use crate::records::QuicHello;
use virga_parsers::quic::{self, ClientInitials, PacketType, QuicVersion};
use virga_parsers::tls;

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

    /// The version of the connection's Initials (v1 until one decrypted).
    pub fn version(&self) -> QuicVersion {
        self.initials.version().unwrap_or(QuicVersion::V1)
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

/// Handles one client datagram; returns the SNI when the hello completed now.
pub fn on_client_datagram(
    st: &mut QuicState,
    datagram: &[u8],
    ctx: &mut HandlerCtx<'_>,
    scratch: &mut [u8],
) -> Option<Option<Box<str>>> {
    if st.done {
        return None;
    }
    st.datagrams += 1;
    if st.datagrams > MAX_INITIALS {
        st.done = true;
        ctx.counters.quic_errors += 1;
        return None;
    }
    let report = st.initials.on_datagram(datagram, scratch);
    if report.error.is_some() && report.decrypted == 0 {
        ctx.counters.quic_errors += 1;
    }
    let version = st.initials.version().unwrap_or(QuicVersion::V1);
    let msg = st.initials.client_hello().ok()?;
    let ch = match tls::parse_client_hello(msg) {
        Ok(ch) => ch,
        Err(e) if e.is_incomplete() => return None,
        Err(_) => {
            st.done = true;
            ctx.counters.quic_errors += 1;
            return None;
        }
    };
    st.done = true;
    ctx.counters.quic_client_hellos += 1;
    let sni = ch
        .sni()
        .map(|s| String::from_utf8_lossy(s).into_owned().into_boxed_str());
    let serverless = ctx.serverless
        || sni
            .as_deref()
            .is_some_and(|n| ctx.catalogue.lookup(n).is_some());
    ctx.sink.quic(&QuicHello {
        flow: ctx.flow,
        packet: ctx.packet,
        version,
        client: &ch,
        serverless,
    });
    Some(sni)
}
