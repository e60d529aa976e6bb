//! `http::parse_request` and `http::probe_request` on real request heads
//! (fixtures shared with the parsers' tests).
// criterion_group! expands to an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use virga_parsers::http::{parse_request, probe_request};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../parsers/tests/fixtures/http"
);

fn bench_http(c: &mut Criterion) {
    let mut group = c.benchmark_group("http");
    for name in [
        "http_get_wget.bin",
        "http_get_ipv6_konqueror.bin",
        "http_get_cryptoapi_crl.bin",
    ] {
        let payload = std::fs::read(format!("{FIXTURES}/{name}")).expect("fixture");
        group.throughput(Throughput::Bytes(payload.len() as u64));
        group.bench_function(format!("parse_request/{name}"), |b| {
            b.iter(|| black_box(parse_request(black_box(&payload))))
        });
        group.bench_function(format!("probe_request/{name}"), |b| {
            b.iter(|| black_box(probe_request(black_box(&payload))))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_http);
criterion_main!(benches);
