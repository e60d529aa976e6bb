//! Fuzz `tls::parse_client_hello` and the fingerprints computed from it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use virga_parsers::fingerprint::{self, Transport};
use virga_parsers::tls;

fuzz_target!(|data: &[u8]| {
    if let Ok(ch) = tls::parse_client_hello(data) {
        let _ = ch.max_version().name();
        let _ = ch.sni_str();
        let _ = ch.alpn_protocols().count();
        let _ = ch.key_share_groups().count();
        let mut s = String::new();
        let _ = fingerprint::ja3(&ch, &mut s);
        let j = fingerprint::ja4(&ch, Transport::Quic);
        assert_eq!(j.as_str().len(), 36);
        s.clear();
        let _ = fingerprint::ja4_r(&ch, Transport::Tcp, &mut s);
        let _ = fingerprint::ja4_o(&ch, Transport::Tcp);
        s.clear();
        let _ = fingerprint::ja4_ro(&ch, Transport::Tcp, &mut s);
    }
});
