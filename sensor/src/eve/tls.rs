//! EVE `tls` events from TLS handshake records: SNI, version, JA3/JA3S,
//! JA4 and ALPNs, as Suricata 8 writes them. Alerts about a TLS connection
//! carry the same object, client side.

use super::json::JsonWriter;
use super::EventLines;
use crate::records::TlsHello;
use virga_parsers::fingerprint::{self, Transport};
use virga_parsers::tls::{ClientHello, ServerHello};

impl EventLines {
    /// Writes the `tls` event of a handshake.
    pub fn tls(&mut self, r: &TlsHello<'_>) {
        let (client, server, ja4) = (r.client, r.server, r.ja4);
        self.event("tls", &r.flow, r.packet, r.ts, |w| {
            write_tls_object(w, client, server, ja4);
        });
    }
}

/// Writes the `tls` object: SNI, version, JA3/JA3S, JA4 (`ja4` when the
/// hello's is known already, else computed), ALPNs.
pub fn write_tls_object(
    w: &mut JsonWriter<'_>,
    ch: &ClientHello<'_>,
    sh: Option<&ServerHello<'_>>,
    ja4: Option<&str>,
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
    match ja4 {
        Some(j) => w.str("ja4", j),
        None => w.str("ja4", fingerprint::ja4(ch, Transport::Tcp).as_str()),
    };
    write_alpns(w, "client_alpns", ch.alpn_protocols());
    if let Some(a) = sh.and_then(|s| s.alpn()) {
        w.array("server_alpns").elem_bytes(a).end_array();
    }
    w.end_object();
}

/// Writes an ALPN list, or nothing when it is empty.
pub fn write_alpns<'a>(
    w: &mut JsonWriter<'_>,
    key: &'static str,
    alpns: impl Iterator<Item = &'a [u8]>,
) {
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
