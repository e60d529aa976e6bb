//! TLS over TCP: joins the client's first flight until a ClientHello parses,
//! and the server's until a ServerHello parses, then writes one `tls` event
//! per connection.

use super::{Bytes, Emitter, EventPacket, FlightLimits, Side};
use crate::flow::key::Tuple;
use crate::flow::stream::HeldBytes;
use crate::output::json::JsonWriter;
use crate::time::Timestamp;
use virga_parsers::fingerprint::{self, Transport};
use virga_parsers::tls::{self, ClientHello, ServerHello};
use virga_parsers::ParseError;

/// State of one TLS connection's handshake.
#[derive(Debug, Default)]
pub struct TlsState {
    /// Client → server first flight.
    pub client: Side,
    /// Server → client first flight.
    pub server: Side,
    /// The ClientHello message, kept until the event is written (charged to
    /// the worker's first-flight memcap; not kept when it does not fit).
    pub hello: Option<HeldBytes>,
    /// The ClientHello completed but did not fit in the memcap: it was
    /// copied to the worker's [`TlsBuffers::unkept`] instead, to be
    /// classified and logged at once ([`write_unkept_event`]).
    pub unkept: bool,
    /// When the ClientHello completed.
    pub hello_at: Option<EventPacket>,
    /// True once the `tls` event was written.
    pub logged: bool,
}

/// The worker's reusable TLS buffers.
#[derive(Debug, Default)]
pub struct TlsBuffers {
    /// Where a handshake message spanning records is joined.
    pub record: Vec<u8>,
    /// The last ClientHello that completed but did not fit in the memcap;
    /// valid until the next one.
    pub unkept: Vec<u8>,
    /// The last ServerHello, while its event is written.
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
    side: &mut Side,
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
    pkt: EventPacket,
    lim: FlightLimits,
    em: &mut Emitter,
    bufs: &mut TlsBuffers,
) -> Option<Option<Box<str>>> {
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
            em.counters.tls_client_hellos += 1;
            st.unkept = msg.is_none();
            st.hello = msg;
            st.hello_at = Some(pkt);
            st.client.finish();
            if st.unkept {
                // Its event is written now; the server's flight is not needed.
                st.server.finish();
            }
            Some(sni)
        }
        Step::Wait => None,
        Step::Fail => {
            em.counters.tls_errors += 1;
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
/// clearly not speaking TLS), the `tls` event is written.
#[allow(clippy::too_many_arguments)]
pub fn on_server_data(
    st: &mut TlsState,
    seq: u32,
    payload: &[u8],
    pkt: EventPacket,
    lim: FlightLimits,
    em: &mut Emitter,
    bufs: &mut TlsBuffers,
    ev: &EventCtx<'_>,
) {
    if st.server.done || payload.is_empty() {
        return;
    }
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
    write_event(st, sh.as_ref(), pkt.ts, Some(pkt), em, ev);
}

/// Writes the event of a ClientHello the memcap could not hold (`hello`,
/// from [`TlsBuffers::unkept`]) at once, without the server's side, as at
/// the end of a flow whose ServerHello was never seen.
pub fn write_unkept_event(st: &mut TlsState, hello: &[u8], em: &mut Emitter, ev: &EventCtx<'_>) {
    if st.logged || !st.unkept {
        return;
    }
    st.logged = true;
    let (Some(at), Ok(ch)) = (st.hello_at, tls::parse_client_hello(hello)) else {
        return;
    };
    if ev.log {
        em.event("tls", ev.tuple, ev.flow_id, Some(at), at.ts, |w| {
            write_tls_object(w, &ch, None);
        });
    }
}

/// Writes the pending event at the end of the flow (no ServerHello seen).
pub fn on_flow_end(st: &mut TlsState, ts: Timestamp, em: &mut Emitter, ev: &EventCtx<'_>) {
    write_event(st, None, ts, None, em, ev);
}

/// What an event needs to know about its flow.
pub struct EventCtx<'a> {
    /// Client → server tuple.
    pub tuple: &'a Tuple,
    /// Flow id.
    pub flow_id: u64,
    /// Whether metadata events are logged for this flow.
    pub log: bool,
}

fn write_event(
    st: &mut TlsState,
    sh: Option<&ServerHello<'_>>,
    ts: Timestamp,
    pkt: Option<EventPacket>,
    em: &mut Emitter,
    ev: &EventCtx<'_>,
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
    if !ev.log {
        return;
    }
    let at = st.hello_at.or(pkt);
    em.event(
        "tls",
        ev.tuple,
        ev.flow_id,
        at,
        at.map_or(ts, |p| p.ts),
        |w| {
            write_tls_object(w, &ch, sh);
        },
    );
}

/// Writes the `tls` object: SNI, version, JA3/JA3S, JA4, ALPNs.
pub fn write_tls_object(
    w: &mut JsonWriter<'_>,
    ch: &ClientHello<'_>,
    sh: Option<&ServerHello<'_>>,
) {
    w.object("tls");
    if let Some(sni) = ch.sni() {
        w.bytes("sni", sni);
    }
    let version = sh.map_or_else(|| ch.max_version(), |s| s.selected_version());
    w.str("version", version.name());
    let mut ja3s = String::new();
    if let Ok(hash) = fingerprint::ja3(ch, &mut ja3s) {
        w.object("ja3")
            .str("hash", hash.as_str())
            .str("string", &ja3s)
            .end_object();
    }
    if let Some(sh) = sh {
        ja3s.clear();
        if let Ok(hash) = fingerprint::ja3s(sh, &mut ja3s) {
            w.object("ja3s")
                .str("hash", hash.as_str())
                .str("string", &ja3s)
                .end_object();
        }
    }
    w.str("ja4", fingerprint::ja4(ch, Transport::Tcp).as_str());
    write_alpns(w, "client_alpns", ch.alpn_protocols());
    if let Some(a) = sh.and_then(|s| s.alpn()) {
        w.array("server_alpns").elem_bytes(a).end_array();
    }
    w.end_object();
}

/// Writes an ALPN list, or nothing when it is empty.
pub fn write_alpns<'a>(w: &mut JsonWriter<'_>, key: &str, alpns: impl Iterator<Item = &'a [u8]>) {
    let mut open = false;
    for a in alpns {
        if !open {
            w.array(key);
            open = true;
        }
        w.elem_bytes(a);
    }
    if open {
        w.end_array();
    }
}
