//! Fuzz the stream path: `tls::record::first_handshake_message`, then the
//! hello parsers and fingerprints on what it returns. Also checks that a
//! message found in a prefix is found, identical, in the whole stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use virga_parsers::fingerprint::{self, Transport};
use virga_parsers::tls::{self, record};

fuzz_target!(|data: &[u8]| {
    let _ = record::probe(data);
    let _ = record::is_sslv2_client_hello(data);
    let mut scratch = Vec::new();
    let Ok(m) = record::first_handshake_message(data, &mut scratch) else {
        return;
    };
    assert!(m.message.len() <= record::MAX_HANDSHAKE_LEN);
    assert_eq!(m.copied, m.records > 1);
    let message = m.message.to_vec();
    if let Ok(ch) = tls::parse_client_hello(&message) {
        let _ = fingerprint::ja3_hash(&ch);
        let _ = fingerprint::ja4(&ch, Transport::Tcp);
    }
    if let Ok(sh) = tls::parse_server_hello(&message) {
        let mut s = String::new();
        let _ = fingerprint::ja3s(&sh, &mut s);
    }
    // Feeding more bytes never changes an answer already given.
    let mut longer = data.to_vec();
    longer.extend_from_slice(&[0x16, 3, 3, 0, 1, 0]);
    let mut scratch2 = Vec::new();
    let again = record::first_handshake_message(&longer, &mut scratch2);
    assert_eq!(again.map(|m| m.message.to_vec()).ok(), Some(message));
});
