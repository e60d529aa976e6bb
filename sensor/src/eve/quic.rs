//! EVE `quic` events from QUIC hello records: version, SNI, JA3, JA4 and
//! ALPNs, as Suricata 8 writes them. Alerts about a QUIC connection carry
//! the same object.

use super::json::JsonWriter;
use super::tls::write_alpns;
use super::EventLines;
use crate::records::QuicHello;
use virga_parsers::fingerprint::{self, Transport};
use virga_parsers::quic::QuicVersion;
use virga_parsers::tls::ClientHello;

impl EventLines {
    /// Writes the `quic` event of a connection's hello.
    pub fn quic(&mut self, r: &QuicHello<'_>) {
        let (client, version) = (r.client, r.version);
        self.event("quic", &r.flow, Some(r.packet), r.packet.ts, |w| {
            write_quic_object(w, client, version);
        });
    }
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
