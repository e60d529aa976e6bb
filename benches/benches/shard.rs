//! Choosing a packet's worker on the capture thread
//! (`virga::shard`): the header peek the pipeline uses against the full
//! decoder it falls back to, over every frame of the corpus captures.
#![forbid(unsafe_code)]
// criterion_group! generates an undocumented `pub fn benches`.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use virga::capture::pcap_file::PcapFile;
use virga::capture::RawPacket;
use virga::shard::{shard, shard_by_decode};
use virga::time::Timestamp;

fn frames() -> Vec<(u32, Vec<u8>, Timestamp)> {
    let mut out = Vec::new();
    for name in [
        "sample.pcap",
        "clients/curl.pcap",
        "clients/python-aioquic-h3.pcap",
    ] {
        let path = format!(
            "{}/../sensor/tests/data/pcaps/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut f = PcapFile::open(&path).expect("test capture");
        while let Some(p) = f.next_packet().expect("readable") {
            out.push((p.linktype, p.data.to_vec(), p.ts));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let frames = frames();
    let mut g = c.benchmark_group("shard_2_workers");
    g.throughput(Throughput::Elements(frames.len() as u64));
    let run = |f: fn(&RawPacket<'_>, usize) -> usize| {
        let mut sum = 0usize;
        for (i, (link, data, ts)) in frames.iter().enumerate() {
            let p = RawPacket {
                ts: *ts,
                linktype: *link,
                data,
                wire_len: data.len() as u32,
                pcap_cnt: i as u64,
            };
            sum += f(black_box(&p), 2);
        }
        sum
    };
    g.bench_function("peek", |b| b.iter(|| run(shard)));
    g.bench_function("full_decode", |b| b.iter(|| run(shard_by_decode)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
