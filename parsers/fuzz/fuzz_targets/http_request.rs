//! Fuzz `http::parse_request` and `http::probe_request`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use virga_parsers::http::{parse_request, probe_request};

fuzz_target!(|data: &[u8]| {
    let _ = probe_request(data);
    if let Ok(req) = parse_request(data) {
        assert!(req.head_len <= data.len());
        let _ = (req.host_str(), req.user_agent_str());
    }
});
