//! Fuzz the DNS-over-TCP splitter: messages plus remainder cover the input
//! exactly, and each message goes through `dns::parse`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use virga_parsers::dns;

fuzz_target!(|data: &[u8]| {
    let mut it = dns::tcp_messages(data);
    let mut total = 0;
    for msg in it.by_ref() {
        total += dns::TCP_LEN_PREFIX + msg.len();
        if let Ok(m) = dns::parse(msg) {
            let _ = m.questions().count() + m.answers().count();
        }
    }
    assert_eq!(total, it.consumed());
    assert_eq!(it.consumed() + it.remainder().len(), data.len());
    // After the last complete message, the remainder is empty or incomplete.
    assert_eq!(it.needed() == 0, it.remainder().is_empty());
});
