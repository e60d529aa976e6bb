//! HTTP/1.x: the first request head of a connection (method, path, Host,
//! User-Agent), handed on as an [`HttpRequest`] record. Apps Script and
//! Cloud Functions name the function in the path, so the URL matters.

use super::{Bytes, HandlerCtx, StreamHead};
use crate::records::HttpRequest;
use virga_parsers::http;

/// Handles client data of an HTTP flow; returns the Host when the head parsed.
pub fn on_client_data(
    side: &mut StreamHead,
    seq: u32,
    payload: &[u8],
    ctx: &mut HandlerCtx<'_>,
) -> Option<Option<Box<str>>> {
    if side.done || payload.is_empty() {
        return None;
    }
    let lim = ctx.limits;
    let in_place = side.in_place(seq);
    let res = match side.bytes(seq, payload, lim) {
        Bytes::Parse(b) => match http::parse_request(b) {
            Ok(req) => {
                let host = host_of(&req);
                ctx.counters.http_requests += 1;
                let serverless = host
                    .as_deref()
                    .is_some_and(|h| ctx.catalogue.lookup(h).is_some());
                ctx.sink.http(&HttpRequest {
                    flow: ctx.flow,
                    packet: ctx.packet,
                    request: &req,
                    serverless,
                });
                Ok(host)
            }
            Err(e) => Err(e),
        },
        Bytes::Wait => return None,
        Bytes::Full => {
            side.finish();
            ctx.counters.http_errors += 1;
            return None;
        }
    };
    match res {
        Ok(host) => {
            side.finish();
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
            ctx.counters.http_errors += 1;
            None
        }
    }
}

/// The Host header without a port, lower-cased.
fn host_of(r: &http::HttpRequest<'_>) -> Option<Box<str>> {
    let h = r.host_str()?;
    let h = match h.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.contains(':') => {
            name
        }
        _ => h,
    };
    Some(h.to_ascii_lowercase().into_boxed_str())
}
