//! `packet::decode` on every frame of real public captures, and IPv4
//! reassembly of a fragmented DNS answer; the captures are read from the
//! shared folder (never copied into the repository).
#![forbid(unsafe_code)]
// criterion_group! expands to an undocumented `pub fn`.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use virga_parsers::defrag::{DefragConfig, DefragOutcome, Defragmenter};
use virga_parsers::packet::{decode, decode_ip, LinkType};

fn bench_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("packet_decode");
    for (name, capture) in [
        ("null_ipv6_tls", "ja4/tls-alpn-h2.pcap"),
        ("vlan_qinqinq_http", "zeek/vlan-qinqinq.pcap"),
        ("raw_ipv4_quic", "suricata-verify/quic-frag-unordered.pcap"),
        ("sll_tcp_handshake_nano", "tcpdump/tcp-handshake-nano.pcap"),
    ] {
        let Some(frames) = virga_benches::public::records(capture) else {
            return;
        };
        group.throughput(Throughput::Elements(frames.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                for (link, f) in &frames {
                    let _ = black_box(decode(LinkType(*link), black_box(f)));
                }
            })
        });
    }
    group.finish();
}

fn bench_defrag(c: &mut Criterion) {
    // zeek `dns-edns-ecs.pcap` records 53, 54, 58 and 59: two DNS answers,
    // each in two IPv4 fragments.
    let Some(all) = virga_benches::public::records("zeek/dns-edns-ecs.pcap") else {
        return;
    };
    let frames: Vec<(u32, Vec<u8>)> = [53, 54, 58, 59].map(|n| all[n - 1].clone()).into();
    let mut defrag = Defragmenter::new(DefragConfig::default());
    let mut group = c.benchmark_group("defrag");
    group.throughput(Throughput::Elements(frames.len() as u64));
    group.bench_function("ipv4_dns_2x2_fragments", |b| {
        b.iter(|| {
            let mut n = 0;
            for (link, f) in &frames {
                let Ok(view) = decode(LinkType(*link), f) else {
                    continue;
                };
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
