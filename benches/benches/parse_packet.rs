//! `packet::decode` on every frame of real captures, and IPv4 reassembly of a
//! fragmented DNS answer (fixtures shared with the parsers' tests).
// criterion_group! expands to an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use virga_parsers::defrag::{DefragConfig, DefragOutcome, Defragmenter};
use virga_parsers::packet::{decode, decode_ip, LinkType};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../parsers/tests/fixtures");

/// Frames of a little-endian microsecond/nanosecond classic pcap (enough for
/// the fixtures used here).
fn pcap_frames(bytes: &[u8]) -> (LinkType, Vec<&[u8]>) {
    let le32 =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    assert!(
        matches!(le32(0), 0xa1b2_c3d4 | 0xa1b2_3c4d),
        "little-endian pcap expected"
    );
    let link = LinkType(le32(20));
    let mut frames = Vec::new();
    let mut pos = 24;
    while pos + 16 <= bytes.len() {
        let len = le32(pos + 8) as usize;
        frames.push(&bytes[pos + 16..pos + 16 + len]);
        pos += 16 + len;
    }
    (link, frames)
}

fn bench_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("packet_decode");
    for name in [
        "packet/packet_null_ipv6_tls.pcap",
        "packet/packet_vlan_qinqinq_http.pcap",
        "packet/packet_raw_ipv4_quic.pcap",
        "packet/packet_sll_tcp_handshake_nano.pcap",
    ] {
        let bytes = std::fs::read(format!("{FIXTURES}/{name}")).expect("fixture");
        let (link, frames) = pcap_frames(&bytes);
        group.throughput(Throughput::Elements(frames.len() as u64));
        group.bench_function(name.trim_start_matches("packet/"), |b| {
            b.iter(|| {
                for f in &frames {
                    let _ = black_box(decode(link, black_box(f)));
                }
            })
        });
    }
    group.finish();
}

fn bench_defrag(c: &mut Criterion) {
    let bytes = std::fs::read(format!("{FIXTURES}/defrag/defrag_ipv4_dns.pcap")).expect("fixture");
    let (link, frames) = pcap_frames(&bytes);
    let mut defrag = Defragmenter::new(DefragConfig::default());
    let mut group = c.benchmark_group("defrag");
    group.throughput(Throughput::Elements(frames.len() as u64));
    group.bench_function("ipv4_dns_2x2_fragments", |b| {
        b.iter(|| {
            let mut n = 0;
            for f in &frames {
                let Ok(view) = decode(link, f) else { continue };
                let Some(ip) = view.ip else { continue };
                if let DefragOutcome::Complete(d) = defrag.push(&ip, 0) {
                    n += decode_ip(d).payload().len();
                }
            }
            black_box(n)
        })
    });
    group.finish();
}

criterion_group!(benches, bench_decode, bench_defrag);
criterion_main!(benches);
