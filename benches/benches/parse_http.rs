//! `http::parse_request` and `http::probe_request` on real request heads of
//! public captures, read from the shared folder: wget behind three VLAN tags
//! (zeek `vlan-qinqinq.pcap` frame 4), Konqueror over IPv6 and a CryptoAPI
//! CRL fetch (PcapPlusPlus `raw_ip.pcap` frames 4 and 55).
#![forbid(unsafe_code)]
// criterion_group! expands to an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use virga_parsers::http::{parse_request, probe_request};

fn bench_http(c: &mut Criterion) {
    let mut group = c.benchmark_group("http");
    for (name, capture, frame) in [
        ("wget", "zeek/vlan-qinqinq.pcap", 4),
        ("konqueror_ipv6", "pcapplusplus/raw_ip.pcap", 4),
        ("cryptoapi_crl", "pcapplusplus/raw_ip.pcap", 55),
    ] {
        let Some(payload) = virga_benches::public::payload(capture, frame) else {
            return;
        };
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
