//! Fuzz the QUIC Initial path: coalesced-packet walk, key derivation,
//! decryption, frames, CRYPTO reassembly and the per-connection driver.
#![no_main]

use libfuzzer_sys::fuzz_target;
use virga_parsers::quic::{
    client_hello_from_initial, client_initial_keys, decrypt_initial, frames, packets,
    parse_invariant_header, ClientInitials, CryptoAssembler, PacketType,
};

fuzz_target!(|data: &[u8]| {
    let mut scratch = [0u8; 2048];

    // The input as one datagram.
    let _ = parse_invariant_header(data);
    for p in packets(data) {
        let Ok(p) = p else { break };
        let _ = p.header.supported_versions().count();
        if p.header.packet_type == PacketType::Initial {
            if let Ok(keys) = client_initial_keys(p.header.version, p.header.dcid) {
                if let Ok(d) = decrypt_initial(p.bytes, &keys, &mut scratch) {
                    let _ = frames(d.payload).count();
                }
            }
        }
    }

    // The input as a decrypted payload (AEAD tags never verify on random
    // input, so reach the frame walk and the assembler directly).
    let mut asm = CryptoAssembler::with_capacity(4096);
    let _ = asm.add_frames(data);
    let _ = asm.client_hello();
    let _ = asm.contiguous().len();

    // The input as a sequence of datagrams, each prefixed by a 2-byte length,
    // fed to one connection.
    let mut ci = ClientInitials::with_capacity(4096);
    let mut rest = data;
    while let [hi, lo, tail @ ..] = rest {
        let n = (usize::from(*hi) << 8 | usize::from(*lo)).min(tail.len());
        let (d, next) = tail.split_at(n);
        let _ = ci.on_datagram(d, &mut scratch);
        rest = next;
    }
    let _ = ci.client_hello();

    let _ = client_hello_from_initial(data, &mut scratch, &mut asm);
});
