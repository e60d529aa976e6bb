//! TLS ClientHello parsing and JA3/JA4 on real hellos: curl (512-byte
//! hello, one record) and Chromium 156 (2031-byte post-quantum hello, the
//! sensor's worst common case, joined from its two TCP segments first).
#![forbid(unsafe_code)]
// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use virga_parsers::fingerprint::{self, Transport};
use virga_parsers::tls::{self, record};

const CURL: &[u8] = include_bytes!("../../parsers/tests/fixtures/tls/tls_curl_client_hello.bin");
const CHROMIUM_SEG1: &[u8] =
    include_bytes!("../../parsers/tests/fixtures/tls/tls_chromium_seg1.bin");
const CHROMIUM_SEG2: &[u8] =
    include_bytes!("../../parsers/tests/fixtures/tls/tls_chromium_seg2.bin");

fn curl_record() -> Vec<u8> {
    let mut r = vec![0x16, 3, 1, (CURL.len() >> 8) as u8, CURL.len() as u8];
    r.extend_from_slice(CURL);
    r
}

fn bench(c: &mut Criterion) {
    let streams = [
        ("curl", curl_record()),
        ("chromium", [CHROMIUM_SEG1, CHROMIUM_SEG2].concat()),
    ];
    let mut g = c.benchmark_group("parse_tls");
    for (name, stream) in &streams {
        g.throughput(Throughput::Bytes(stream.len() as u64));
        g.bench_function(format!("{name}/parse_client_hello"), |b| {
            let mut scratch = Vec::new();
            b.iter(|| {
                let m = record::first_handshake_message(black_box(stream), &mut scratch).unwrap();
                tls::parse_client_hello(m.message)
                    .unwrap()
                    .cipher_suites()
                    .len()
            })
        });
        g.bench_function(format!("{name}/parse+ja3+ja4"), |b| {
            let mut scratch = Vec::new();
            let mut ja3_string = String::with_capacity(512);
            b.iter(|| {
                let m = record::first_handshake_message(black_box(stream), &mut scratch).unwrap();
                let ch = tls::parse_client_hello(m.message).unwrap();
                ja3_string.clear();
                let ja3 = fingerprint::ja3(&ch, &mut ja3_string).unwrap();
                let ja4 = fingerprint::ja4(&ch, Transport::Tcp);
                (ja3, ja4, ch.sni().map(<[u8]>::len))
            })
        });
        let m = {
            let mut scratch = Vec::new();
            record::first_handshake_message(stream, &mut scratch)
                .unwrap()
                .message
                .to_vec()
        };
        let ch = tls::parse_client_hello(&m).unwrap();
        g.bench_function(format!("{name}/ja4"), |b| {
            b.iter(|| fingerprint::ja4(black_box(&ch), Transport::Tcp))
        });
        g.bench_function(format!("{name}/ja4_r"), |b| {
            let mut s = String::with_capacity(1024);
            b.iter(|| {
                s.clear();
                fingerprint::ja4_r(black_box(&ch), Transport::Tcp, &mut s).unwrap();
                s.len()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
