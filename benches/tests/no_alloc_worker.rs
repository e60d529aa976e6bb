//! The worker's DNS path allocates nothing per message in its steady state:
//! a counting global allocator (`stats_alloc`) watches the real `Worker`
//! handle a second pass over the DNS packets of a generated enterprise mix
//! (browser-style A/AAAA/HTTPS lookups with CNAME chains and NXDOMAINs),
//! after a first pass has created the flows, learned the names and sized
//! every reusable buffer. Only names outside the serverless catalogue are
//! measured: a serverless message is an observation for the detectors,
//! which is allocated on purpose. Its own test binary, so no other test's
//! thread allocates while it counts.

use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use std::path::PathBuf;
use std::time::Duration;
use virga::capture::pcap_file::PcapFile;
use virga::capture::RawPacket;
use virga::output::{Output, Target};
use virga::time::Timestamp;
use virga::worker::Worker;
use virga_benches::gen::corpus;
use virga_benches::gen::mix::{self, MixOptions};
use virga_benches::gen::rng::Rng;
use virga_benches::gen::sink::Sink;
use virga_parsers::dns;
use virga_parsers::packet::{self, LinkType, Transport};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

fn shared() -> Option<PathBuf> {
    virga_test_support::shared_path("corpus/clients/labels.jsonl")?;
    virga_test_support::shared()
}

/// The UDP DNS frames of a generated mix whose question is not catalogued.
fn plain_dns_frames(
    shared: &std::path::Path,
    cfg: &virga_config::Config,
) -> Vec<(u32, Vec<u8>, Timestamp)> {
    let dir = std::env::temp_dir().join(format!("virga-noalloc-worker-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("mix.pcap");
    let tpls = corpus::load(shared).unwrap();
    let mut sink = Sink::create(&path).unwrap();
    let o = MixOptions {
        packets: 40_000,
        seconds: 600,
        clients: 50,
        beacons: 2,
    };
    mix::generate(&mut sink, &mut Rng::new(3), &tpls, &o).unwrap();
    sink.finish().unwrap();
    let mut f = PcapFile::open(&path.to_string_lossy()).unwrap();
    let mut out = Vec::new();
    let mut name = [0u8; dns::MAX_NAME_TEXT_LEN];
    while let Some(p) = f.next_packet().unwrap() {
        let Ok(v) = packet::decode(LinkType(p.linktype), p.data) else {
            continue;
        };
        let Transport::Udp(u) = v.transport else {
            continue;
        };
        if u.src_port != 53 && u.dst_port != 53 {
            continue;
        }
        let Ok(m) = dns::parse(u.payload) else {
            continue;
        };
        let Some(q) = m.first_question() else {
            continue;
        };
        let Some(text) = q.name.write_text_into(&mut name) else {
            continue;
        };
        if cfg.catalogue.lookup(text).is_none() {
            out.push((p.linktype, p.data.to_vec(), p.ts));
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    out
}

fn pass(w: &mut Worker, frames: &[(u32, Vec<u8>, Timestamp)]) {
    for (i, (link, data, ts)) in frames.iter().enumerate() {
        w.process(&RawPacket {
            ts: *ts,
            linktype: *link,
            data,
            wire_len: data.len() as u32,
            pcap_cnt: i as u64 + 1,
        });
    }
}

#[test]
fn worker_dns_path_does_not_allocate_per_message() {
    let Some(shared) = shared() else {
        return;
    };
    let cfg = virga_config::Config::default();
    let frames = plain_dns_frames(&shared, &cfg);
    let responses = frames
        .iter()
        .filter(|(_, d, _)| {
            let v = packet::decode(LinkType(1), d).unwrap();
            matches!(v.transport, Transport::Udp(u) if u.src_port == 53)
        })
        .count();
    assert!(
        frames.len() > 1000 && responses > 500,
        "{} DNS frames, {responses} responses",
        frames.len()
    );
    let out_file =
        std::env::temp_dir().join(format!("virga-noalloc-worker-{}.json", std::process::id()));
    let output = Output::start(
        &Target::File(out_file.to_string_lossy().into_owned()),
        Duration::from_secs(3600),
    )
    .unwrap();
    let known = virga_config::shipped_ja4().unwrap();
    let settings = virga::settings::worker_settings(&cfg, false, &known);
    let mut w = Worker::new(settings, output.sender());
    w.set_origin("mix.pcap", false);
    // First pass: flows, learned names and buffers come into being.
    pass(&mut w, &frames);
    let learned = w.counters().names.learned;
    assert!(learned > 500, "only {learned} names learned");
    // Second pass over the same messages: each is parsed, matched against
    // the catalogue and learned again; nothing may allocate.
    let region = Region::new(GLOBAL);
    pass(&mut w, &frames);
    let stats = region.change();
    assert_eq!(w.counters().names.learned, 2 * learned, "learned again");
    assert_eq!(
        stats.allocations + stats.reallocations,
        0,
        "{} allocations and {} reallocations over {} DNS messages",
        stats.allocations,
        stats.reallocations,
        frames.len()
    );
    drop(w);
    output.finish();
    std::fs::remove_file(&out_file).ok();
}
