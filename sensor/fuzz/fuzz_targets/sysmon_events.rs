//! Fuzz the Sysmon event reader: any bytes as a host-event file (JSON lines,
//! an array, pretty-printed objects, gzip or not) read into events, then
//! line by line. Must not panic; every event read names what the join needs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use virga::attribution::sysmon::{parse_line, read_all, Interner};

fuzz_target!(|data: &[u8]| {
    let mut intern = Interner::default();
    let mut out = Vec::new();
    let _ = read_all(std::io::Cursor::new(data), &mut intern, &mut out);
    for line in data.split(|b| *b == b'\n') {
        let _ = parse_line(line, &mut intern);
    }
});
