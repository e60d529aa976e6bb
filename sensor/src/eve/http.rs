//! EVE `http` events from request-head records: hostname, URL, User-Agent,
//! method and protocol.

use super::EventLines;
use crate::records::HttpRequest;

impl EventLines {
    /// Writes the `http` event of a request head.
    pub fn http(&mut self, r: &HttpRequest<'_>) {
        let req = r.request;
        self.event("http", &r.flow, Some(r.packet), r.packet.ts, |w| {
            w.object("http");
            if let Some(h) = req.host {
                w.bytes("hostname", h);
            }
            w.bytes("url", req.target.as_bytes());
            if let Some(ua) = req.user_agent {
                w.bytes("http_user_agent", ua);
            }
            w.str("http_method", req.method)
                .str("protocol", req.version.as_str())
                .end_object();
        });
    }
}
