//! HTTP/1.x: the first request head of a connection (method, path, Host,
//! User-Agent) as an EVE `http` event. Apps Script and Cloud Functions name
//! the function in the path, so the URL matters.

use super::{Bytes, Emitter, EventPacket, FlightLimits, Side};
use crate::flow::key::Tuple;
use virga_parsers::http::{self, HttpRequest};

/// Handles client data of an HTTP flow; returns the Host when the head parsed.
#[allow(clippy::too_many_arguments)]
pub fn on_client_data(
    side: &mut Side,
    seq: u32,
    payload: &[u8],
    pkt: EventPacket,
    lim: FlightLimits,
    em: &mut Emitter,
    tuple: &Tuple,
    flow_id: u64,
    log_all: bool,
) -> Option<Option<Box<str>>> {
    if side.done || payload.is_empty() {
        return None;
    }
    let in_place = side.in_place(seq);
    let res = match side.bytes(seq, payload, lim) {
        Bytes::Parse(b) => http::parse_request(b).map(|r| (host_of(&r), render(&r))),
        Bytes::Wait => return None,
        Bytes::Full => {
            side.finish();
            em.counters.http_errors += 1;
            return None;
        }
    };
    match res {
        Ok((host, fields)) => {
            side.finish();
            em.counters.http_requests += 1;
            let log = log_all || host.as_deref().is_some_and(|h| em.is_serverless(h));
            if log {
                em.event("http", tuple, flow_id, Some(pkt), pkt.ts, |w| {
                    w.object("http");
                    if let Some(h) = &fields.host {
                        w.bytes("hostname", h);
                    }
                    w.bytes("url", &fields.url);
                    if let Some(ua) = &fields.ua {
                        w.bytes("http_user_agent", ua);
                    }
                    w.str("http_method", &fields.method)
                        .str("protocol", &fields.protocol)
                        .end_object();
                });
            }
            Some(host)
        }
        Err(e) if e.is_incomplete() => {
            if in_place {
                side.keep(seq, payload, lim);
            }
            None
        }
        Err(_) => {
            side.finish();
            em.counters.http_errors += 1;
            None
        }
    }
}

/// The request's fields, owned so the event can be written after parsing.
struct Fields {
    host: Option<Vec<u8>>,
    url: Vec<u8>,
    ua: Option<Vec<u8>>,
    method: String,
    protocol: String,
}

fn render(r: &HttpRequest<'_>) -> Fields {
    Fields {
        host: r.host.map(<[u8]>::to_vec),
        url: r.target.as_bytes().to_vec(),
        ua: r.user_agent.map(<[u8]>::to_vec),
        method: r.method.to_string(),
        protocol: r.version.as_str().to_string(),
    }
}

/// The Host header without a port, lower-cased.
fn host_of(r: &HttpRequest<'_>) -> Option<Box<str>> {
    let h = r.host_str()?;
    let h = match h.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.contains(':') => {
            name
        }
        _ => h,
    };
    Some(h.to_ascii_lowercase().into_boxed_str())
}
