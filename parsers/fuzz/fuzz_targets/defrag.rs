//! Fuzz `defrag::Defragmenter`: the input is a sequence of raw IP datagrams,
//! each prefixed by a 2-byte big-endian length; a small table makes eviction,
//! timeouts and limits reachable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use virga_parsers::defrag::{DefragConfig, DefragOutcome, Defragmenter};
use virga_parsers::packet::decode_ip;

fuzz_target!(|data: &[u8]| {
    let mut defrag = Defragmenter::new(DefragConfig {
        max_datagrams: 4,
        max_payload_len: 4096,
        max_fragments: 8,
        timeout_us: 1_000,
    });
    let mut rest = data;
    let mut now = 0u64;
    // Bounded by the input: each round consumes at least 2 bytes.
    while let [hi, lo, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (datagram, next) = tail.split_at(len);
        rest = next;
        now += u64::from(*lo) * 10;
        let view = decode_ip(datagram);
        let Some(ip) = view.ip else { continue };
        if let DefragOutcome::Complete(whole) = defrag.push(&ip, now) {
            let again = decode_ip(whole);
            assert!(again.ip.is_some_and(|i| !i.is_fragment()));
        }
    }
});
