//! The flow table (`virga::flow::table`): a packet of a tracked flow in a
//! table with room (the hit path: key, hash lookup, LRU touch, counters), and a new flow in a full
//! table (a SYN flood: eviction of the oldest flow, then an insert).
#![forbid(unsafe_code)]
// criterion_group! generates an undocumented `pub fn benches`.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use virga::flow::key::{Endpoint, Tuple};
use virga::flow::table::{FlowTable, PacketMeta, Timeouts};
use virga::time::Timestamp;

const FLOWS: u32 = 65_536;

fn meta(i: u32, ts: u64) -> PacketMeta {
    PacketMeta {
        tuple: Tuple {
            src: Endpoint {
                ip: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (i >> 12))),
                port: 32_768 + (i & 0xfff) as u16,
            },
            dst: Endpoint {
                ip: IpAddr::V4(Ipv4Addr::new(198, 18, (i >> 8) as u8, i as u8)),
                port: 443,
            },
            proto: 6,
        },
        ts: Timestamp(ts),
        ip_len: 1500,
        tcp_flags: 0x10,
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("flow_table");
    g.throughput(Throughput::Elements(u64::from(FLOWS)));
    let metas: Vec<PacketMeta> = (0..FLOWS).map(|i| meta(i, 1_000_000_000)).collect();
    // Room for twice as many: the table is not full (a full table is the
    // flood case below).
    let mut table: FlowTable<()> = FlowTable::new(2 * FLOWS as usize, Timeouts::default());
    for m in &metas {
        table.track(m, |_, _, _| {});
    }
    g.bench_function("hit_65536_flows", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for m in &metas {
                let (f, _) = table.track(black_box(m), |_, _, _| {});
                n += u64::from(f.pkts[0]);
            }
            n
        })
    });
    // New flows into a full table: every insert evicts the oldest flow.
    let fresh: Vec<PacketMeta> = (FLOWS..2 * FLOWS).map(|i| meta(i, 2_000_000_000)).collect();
    g.bench_function("insert_evict_full_table", |b| {
        b.iter_batched_ref(
            || {
                let mut t: FlowTable<()> = FlowTable::new(FLOWS as usize, Timeouts::default());
                for m in &metas {
                    t.track(m, |_, _, _| {});
                }
                t
            },
            |t| {
                let mut evicted = 0u32;
                for m in &fresh {
                    t.track(black_box(m), |_, _, _| evicted += 1);
                }
                evicted
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
