//! Fuzz `tls::parse_server_hello` and JA3S.
#![no_main]

use libfuzzer_sys::fuzz_target;
use virga_parsers::{fingerprint, tls};

fuzz_target!(|data: &[u8]| {
    if let Ok(sh) = tls::parse_server_hello(data) {
        let _ = sh.selected_version().name();
        let _ = sh.is_hello_retry_request();
        let _ = sh.alpn();
        let _ = sh.extension_types().count();
        let mut s = String::new();
        let _ = fingerprint::ja3s(&sh, &mut s);
    }
});
