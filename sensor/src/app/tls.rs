//! TLS over TCP: joins the client's first flight until a ClientHello parses,
//! and the server's until a ServerHello parses, then hands one [`TlsHello`]
//! record per connection on.

use super::{Bytes, FlightLimits, HandlerCtx, StreamHead};
use crate::flow::first_flight::HeldBytes;
use crate::records::{FlowRef, PacketRef, RecordSink, TlsHello};
use crate::time::Timestamp;
use virga_parsers::tls::{self, ClientHello, ServerHello};
use virga_parsers::ParseError;

/// State of one TLS connection's handshake.
#[derive(Debug, Default)]
pub struct TlsState {
    /// Client → server first flight.
    pub client: StreamHead,
    /// Server → client first flight.
    pub server: StreamHead,
    /// The ClientHello message, kept until the event is written (charged to
    /// the worker's first-flight memcap; not kept when it does not fit).
    pub hello: Option<HeldBytes>,
    /// The ClientHello completed but did not fit in the memcap: it was
    /// copied to the worker's [`TlsBuffers::unkept`] instead, to be
    /// classified and logged at once ([`unkept_record`]).
    pub unkept: bool,
    /// When the ClientHello completed.
    pub hello_at: Option<PacketRef>,
    /// True once the handshake's record was handed on.
    pub logged: bool,
    /// The ClientHello's JA4, once computed for the detectors.
    pub ja4: Option<Box<str>>,
}

/// The worker's reusable TLS buffers.
#[derive(Debug, Default)]
pub struct TlsBuffers {
    /// Where a handshake message spanning records is joined.
    pub record: Vec<u8>,
    /// The last ClientHello that completed but did not fit in the memcap;
    /// valid until the next one.
    pub unkept: Vec<u8>,
    /// The last ServerHello, while its record is handed on.
    pub server: Vec<u8>,
}

/// Outcome of feeding a segment to one side.
enum Step<T> {
    Done(T),
    Wait,
    Fail,
}

/// Runs `parse` on the side's bytes, keeping the segment when it is a
/// prefix of a longer message.
fn feed<T>(
    side: &mut StreamHead,
    seq: u32,
    payload: &[u8],
    lim: FlightLimits,
    scratch: &mut Vec<u8>,
    mut parse: impl FnMut(&[u8]) -> Result<T, ParseError>,
) -> Step<T> {
    let in_place = side.in_place(seq);
    let res = match side.bytes(seq, payload, lim) {
        Bytes::Parse(b) => match tls::record::first_handshake_message(b, scratch) {
            Ok(m) => parse(m.message),
            Err(e) => Err(e),
        },
        Bytes::Wait => return Step::Wait,
        Bytes::Full => return Step::Fail,
    };
    match res {
        Ok(v) => Step::Done(v),
        Err(e) if e.is_incomplete() => {
            if in_place {
                side.keep(seq, payload, lim);
            }
            Step::Wait
        }
        Err(_) => Step::Fail,
    }
}

/// Handles a client payload; returns `Some(sni)` when the ClientHello
/// completed with this segment. A ClientHello the memcap cannot hold goes
/// to `bufs.unkept` and sets `st.unkept`: the caller classifies it and
/// writes its event at once, rather than losing both under memory pressure.
pub fn on_client_data(
    st: &mut TlsState,
    seq: u32,
    payload: &[u8],
    ctx: &mut HandlerCtx<'_>,
    bufs: &mut TlsBuffers,
) -> Option<Option<Box<str>>> {
    let lim = ctx.limits;
    if st.client.done || payload.is_empty() {
        return None;
    }
    let TlsBuffers { record, unkept, .. } = bufs;
    match feed(&mut st.client, seq, payload, lim, record, |m| {
        tls::parse_client_hello(m).map(|ch| {
            let held = HeldBytes::try_copy(m, lim.memcap);
            if held.is_none() {
                unkept.clear();
                unkept.extend_from_slice(m);
            }
            (held, sni_of(&ch))
        })
    }) {
        Step::Done((msg, sni)) => {
            ctx.counters.tls_client_hellos += 1;
            st.unkept = msg.is_none();
            st.hello = msg;
            st.hello_at = Some(ctx.packet);
            st.client.finish();
            if st.unkept {
                // Its record goes on now; the server's flight is not needed.
                st.server.finish();
            }
            Some(sni)
        }
        Step::Wait => None,
        Step::Fail => {
            ctx.counters.tls_errors += 1;
            st.client.finish();
            None
        }
    }
}

fn sni_of(ch: &ClientHello<'_>) -> Option<Box<str>> {
    ch.sni()
        .map(|s| String::from_utf8_lossy(s).into_owned().into_boxed_str())
}

/// Handles a server payload: once the ServerHello parses (or the server is
/// clearly not speaking TLS), the handshake's record goes on.
pub fn on_server_data(
    st: &mut TlsState,
    seq: u32,
    payload: &[u8],
    ctx: &mut HandlerCtx<'_>,
    bufs: &mut TlsBuffers,
) {
    if st.server.done || payload.is_empty() {
        return;
    }
    let lim = ctx.limits;
    let TlsBuffers { record, server, .. } = bufs;
    let parsed = match feed(&mut st.server, seq, payload, lim, record, |m| {
        tls::parse_server_hello(m).map(|_| {
            server.clear();
            server.extend_from_slice(m);
        })
    }) {
        Step::Done(()) => true,
        Step::Wait => return,
        Step::Fail => false,
    };
    st.server.finish();
    let sh = parsed
        .then(|| tls::parse_server_hello(server).ok())
        .flatten();
    let end = HandshakeEnd {
        flow: ctx.flow,
        ts: ctx.packet.ts,
        packet: Some(ctx.packet),
        serverless: ctx.serverless,
    };
    hand_on(st, sh.as_ref(), &end, ctx.sink);
}

/// Hands on the record of a ClientHello the memcap could not hold (`hello`,
/// from [`TlsBuffers::unkept`]) at once, without the server's side, as at
/// the end of a flow whose ServerHello was never seen.
pub fn unkept_record(st: &mut TlsState, hello: &[u8], ctx: &mut HandlerCtx<'_>) {
    if st.logged || !st.unkept {
        return;
    }
    st.logged = true;
    let (Some(at), Ok(ch)) = (st.hello_at, tls::parse_client_hello(hello)) else {
        return;
    };
    ctx.sink.tls(&TlsHello {
        flow: ctx.flow,
        packet: Some(at),
        ts: at.ts,
        client: &ch,
        server: None,
        serverless: ctx.serverless,
        ja4: st.ja4.as_deref(),
    });
}

/// Hands on the pending record at the end of the flow (no ServerHello seen).
pub fn on_flow_end(st: &mut TlsState, end: &HandshakeEnd, sink: &mut dyn RecordSink) {
    hand_on(st, None, end, sink);
}

/// How a handshake's record is finished: its flow, and when.
pub struct HandshakeEnd {
    /// The connection, client → server.
    pub flow: FlowRef,
    /// Time of the record when the ClientHello's packet is unknown.
    pub ts: Timestamp,
    /// The packet that finished it, if any.
    pub packet: Option<PacketRef>,
    /// True when the flow touches a catalogued name.
    pub serverless: bool,
}

fn hand_on(
    st: &mut TlsState,
    sh: Option<&ServerHello<'_>>,
    end: &HandshakeEnd,
    sink: &mut dyn RecordSink,
) {
    if st.logged {
        return;
    }
    let Some(msg) = st.hello.take() else {
        return;
    };
    st.logged = true;
    let Ok(ch) = tls::parse_client_hello(&msg) else {
        return;
    };
    let at = st.hello_at.or(end.packet);
    sink.tls(&TlsHello {
        flow: end.flow,
        packet: at,
        ts: at.map_or(end.ts, |p| p.ts),
        client: &ch,
        server: sh,
        serverless: end.serverless,
        ja4: st.ja4.as_deref(),
    });
}
