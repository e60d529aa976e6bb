//! The name cache (`virga::name_cache::NameCache`): learning a (client, server)
//! → name entry from a DNS answer, a lookup that finds a live entry (a new
//! flow named from its client's DNS), and a lookup that finds nothing.
#![forbid(unsafe_code)]
// criterion_group! generates an undocumented `pub fn benches`.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroUsize;
use std::sync::Arc;
use virga::name_cache::{Learned, NameCache};
use virga::time::Timestamp;

const ENTRIES: u32 = 65_536;

fn addrs(i: u32) -> (IpAddr, IpAddr) {
    (
        IpAddr::V4(Ipv4Addr::from(0x0a01_0000 | (i & 0x7ff))),
        IpAddr::V4(Ipv4Addr::from(0xc612_0000 | (i >> 11) << 8 | (i & 0xff))),
    )
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("name_cache");
    g.throughput(Throughput::Elements(u64::from(ENTRIES)));
    let learned = Learned {
        name: Arc::from("a1b2c3.someacct.workers.dev"),
        serverless_name: Some(Arc::from("a1b2c3.someacct.workers.dev")),
    };
    let now = Timestamp(1_000_000_000_000);
    let cap = NonZeroUsize::new(ENTRIES as usize).expect("non-zero");
    let mut cache = NameCache::new(cap, 30, 86_400);
    g.bench_function("learn_65536", |b| {
        b.iter(|| {
            for i in 0..ENTRIES {
                let (c, s) = addrs(i);
                cache.learn(black_box(c), s, &learned, 300, now);
            }
        })
    });
    g.bench_function("lookup_hit_65536", |b| {
        b.iter(|| {
            let mut hits = 0u32;
            for i in 0..ENTRIES {
                let (c, s) = addrs(i);
                hits += u32::from(cache.lookup(black_box(c), s, now).is_some());
            }
            assert_eq!(hits, ENTRIES);
            hits
        })
    });
    g.bench_function("lookup_miss_65536", |b| {
        b.iter(|| {
            let mut hits = 0u32;
            for i in 0..ENTRIES {
                let (c, s) = addrs(i + ENTRIES);
                hits += u32::from(cache.lookup(black_box(c), s, now).is_some());
            }
            hits
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
