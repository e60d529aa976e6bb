//! Fuzz `virga hunt`'s input side: any bytes as a Zeek log (TSV or JSON
//! lines, with and without a log type from the file name), read into rows
//! and joined into detection records. Must not panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::Arc;
use virga::zeek::reader::{Item, LogReader};
use virga::zeek::records::Joiner;
use virga::zeek::LogKind;

fuzz_target!(|data: &[u8]| {
    let cfg = virga_config::Config::default();
    let known = virga_config::shipped_ja4().expect("shipped table");
    let mut joiner = Joiner::new(virga::settings::zeek_join_settings(&cfg, &known));
    let origin: Arc<str> = Arc::from("fuzz.log");
    for kind in [
        None,
        Some(LogKind::Conn),
        Some(LogKind::Dns),
        Some(LogKind::Http),
    ] {
        let input = Box::new(std::io::Cursor::new(data.to_vec()));
        let mut r = LogReader::from_reader(PathBuf::from("fuzz.log"), kind, input);
        while let Some(item) = r.next_item() {
            if let Item::Row(row) = item {
                joiner.row(row, &origin);
            }
        }
    }
    joiner.finish();
    let _ = joiner.take();
});
