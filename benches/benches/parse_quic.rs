//! QUIC Initial micro-benchmarks on real client Initials: Chromium 115's
//! one-packet hello (zeek `chromium-115.0.5790.110-api-cirrus-com.pcap`
//! frame 1, read from the shared folder) and the lab corpus's two-packet
//! Chromium hello (`parsers/tests/fixtures/quic`).
//!
//! Key derivation (HKDF-Extract plus four HKDF-Expand-Label, AES and GHASH
//! key schedules) is the expensive step and happens once per connection;
//! header parsing and decryption happen per packet.
#![forbid(unsafe_code)]
// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use virga_parsers::quic::{
    client_initial_keys, decrypt_initial, parse_long_header, ClientInitials, CryptoAssembler,
};

const CHROMIUM_1: &[u8] =
    include_bytes!("../../parsers/tests/fixtures/quic/quic_chromium_ch_1.bin");
const CHROMIUM_2: &[u8] =
    include_bytes!("../../parsers/tests/fixtures/quic/quic_chromium_ch_2.bin");

fn bench(c: &mut Criterion) {
    let Some(v1) =
        virga_benches::public::payload("zeek/chromium-115.0.5790.110-api-cirrus-com.pcap", 1)
    else {
        return;
    };
    let v1 = v1.as_slice();
    let (h, _) = parse_long_header(v1).expect("fixture header");
    let keys = client_initial_keys(h.version, h.dcid).expect("fixture keys");
    let mut out = [0u8; 2048];

    let mut g = c.benchmark_group("quic");
    g.throughput(Throughput::Bytes(v1.len() as u64));
    g.bench_function("parse_long_header", |b| {
        b.iter(|| parse_long_header(black_box(v1)))
    });
    g.bench_function("client_initial_keys", |b| {
        b.iter(|| client_initial_keys(black_box(h.version), black_box(h.dcid)))
    });
    g.bench_function("decrypt_initial", |b| {
        b.iter(|| decrypt_initial(black_box(v1), &keys, &mut out).map(|d| d.payload.len()))
    });
    let mut asm = CryptoAssembler::new();
    g.bench_function("header_keys_decrypt_assemble", |b| {
        b.iter(|| {
            let (h, _) = parse_long_header(black_box(v1)).expect("header");
            let keys = client_initial_keys(h.version, h.dcid).expect("keys");
            let d = decrypt_initial(v1, &keys, &mut out).expect("decrypt");
            asm.reset();
            let _ = asm.add_frames(d.payload);
            asm.client_hello().map(<[u8]>::len)
        })
    });
    g.throughput(Throughput::Bytes(
        (CHROMIUM_1.len() + CHROMIUM_2.len()) as u64,
    ));
    let mut ci = ClientInitials::new();
    g.bench_function("client_initials_chromium_2_datagrams", |b| {
        b.iter(|| {
            ci.reset();
            ci.on_datagram(black_box(CHROMIUM_1), &mut out);
            ci.on_datagram(black_box(CHROMIUM_2), &mut out);
            ci.client_hello().map(<[u8]>::len)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
