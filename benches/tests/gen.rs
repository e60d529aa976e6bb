//! The workload generator: the same seed writes the same bytes, every frame
//! decodes, the hellos are the corpus's own, and the floods hold one distinct
//! flow per packet.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use virga::capture::pcap_file::PcapFile;
use virga_benches::gen::corpus;
use virga_benches::gen::flood::{self, Flood};
use virga_benches::gen::mix::{self, MixOptions};
use virga_benches::gen::rng::Rng;
use virga_benches::gen::sink::Sink;
use virga_parsers::packet::{self, LinkType, Transport};
use virga_parsers::tls;

fn shared() -> Option<PathBuf> {
    virga_test_support::shared_path("corpus/clients/labels.jsonl")?;
    virga_test_support::shared()
}

/// A file in a directory of this test's own: tests run in parallel, and each
/// removes its directory when done, so none may share one.
fn tmp(test: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("virga-gen-test-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn write_mix(shared: &Path, seed: u64, out: &Path) {
    let tpls = corpus::load(shared).unwrap();
    let mut sink = Sink::create(out).unwrap();
    let o = MixOptions {
        packets: 30_000,
        seconds: 1200,
        clients: 50,
        beacons: 3,
    };
    let s = mix::generate(&mut sink, &mut Rng::new(seed), &tpls, &o).unwrap();
    assert_eq!(s.beacons.len(), 3);
    assert!(s.beacons.iter().all(|b| b.3 >= 6), "{:?}", s.beacons);
    assert!(s.sessions.iter().all(|&n| n > 0), "{:?}", s.sessions);
    sink.finish().unwrap();
}

/// (frames, TCP payloads starting a ClientHello, distinct 5-tuples) after
/// checking that every frame decodes and time never goes back.
fn read(path: &Path) -> (u64, Vec<Vec<u8>>, usize) {
    let mut f = PcapFile::open(&path.to_string_lossy()).unwrap();
    let (mut n, mut last) = (0u64, 0u64);
    let mut hellos = Vec::new();
    let mut flows = HashSet::new();
    while let Some(p) = f.next_packet().unwrap() {
        n += 1;
        assert!(p.ts.0 >= last, "packet {n} goes back in time");
        last = p.ts.0;
        let v = packet::decode(LinkType(p.linktype), p.data).unwrap();
        assert_eq!(v.stop, None, "packet {n}");
        let ip = v.ip.unwrap();
        let (a, b) = (ip.src.min(ip.dst), ip.src.max(ip.dst));
        match v.transport {
            Transport::Tcp(t) => {
                if tls::record::probe(t.payload) && t.payload.get(5) == Some(&1) {
                    hellos.push(t.payload.to_vec());
                }
                flows.insert((
                    a,
                    b,
                    t.src_port.min(t.dst_port),
                    t.src_port.max(t.dst_port),
                    6,
                ));
            }
            Transport::Udp(u) => {
                flows.insert((
                    a,
                    b,
                    u.src_port.min(u.dst_port),
                    u.src_port.max(u.dst_port),
                    17,
                ));
            }
            other => panic!("packet {n}: {other:?}"),
        }
    }
    (n, hellos, flows.len())
}

#[test]
fn mix_is_deterministic_decodes_and_carries_the_corpus_hellos() {
    let Some(shared) = shared() else { return };
    let (a, b, c) = (
        tmp("mix", "a.pcap"),
        tmp("mix", "b.pcap"),
        tmp("mix", "c.pcap"),
    );
    write_mix(&shared, 5, &a);
    write_mix(&shared, 5, &b);
    write_mix(&shared, 6, &c);
    let (ba, bb, bc) = (
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        std::fs::read(&c).unwrap(),
    );
    assert_eq!(ba, bb, "same seed, different bytes");
    assert_ne!(ba, bc, "another seed, same bytes");
    let (n, hellos, flows) = read(&a);
    assert!(n >= 30_000, "{n} packets");
    assert!(flows > 1000, "{flows} flows");
    // Every hello's first segment is byte for byte a corpus connection's.
    let tpls = corpus::load(&shared).unwrap();
    let real: HashSet<&[u8]> = tpls
        .iter()
        .filter(|t| !t.quic)
        .map(|t| t.payloads[0].1.as_slice())
        .collect();
    assert!(hellos.len() > 200, "{} hellos", hellos.len());
    for h in &hellos {
        assert!(
            real.contains(h.as_slice()),
            "a hello that is not in the corpus"
        );
    }
    // And they parse as ClientHellos with the corpus's names.
    let mut buf = Vec::new();
    let m = tls::record::first_handshake_message(&hellos[0], &mut buf).unwrap();
    assert!(tls::parse_client_hello(m.message).is_ok());
    std::fs::remove_dir_all(a.parent().unwrap()).ok();
}

#[test]
fn floods_hold_one_distinct_flow_per_packet_plus_the_beacon() {
    let Some(shared) = shared() else { return };
    let tpls = corpus::load(&shared).unwrap();
    let beacon = tpls
        .iter()
        .find(|t| t.client == "curl" && t.serverless && !t.quic)
        .unwrap();
    for (kind, name) in [(Flood::Syn, "syn.pcap"), (Flood::Udp, "udp.pcap")] {
        let path = tmp("flood", name);
        let mut sink = Sink::create(&path).unwrap();
        let info = flood::generate(
            &mut sink,
            &mut Rng::new(1),
            kind,
            100_000,
            300,
            Some(beacon),
            &[],
        )
        .unwrap()
        .unwrap();
        sink.finish().unwrap();
        assert!(info.beats >= 12, "{} beats", info.beats);
        let (n, hellos, flows) = read(&path);
        // 100 000 flood flows, then per beat one TLS connection and one or two DNS lookups.
        assert_eq!(hellos.len(), info.beats);
        assert!(n > 100_000);
        assert!(
            (100_000 + info.beats..=100_000 + 3 * info.beats).contains(&flows),
            "{flows} flows"
        );
        std::fs::remove_file(&path).ok();
    }
    let path = tmp("flood", "sub.pcap");
    let mut sink = Sink::create(&path).unwrap();
    flood::generate(
        &mut sink,
        &mut Rng::new(1),
        Flood::Subdomains,
        20_000,
        300,
        None,
        &[],
    )
    .unwrap();
    sink.finish().unwrap();
    let mut f = PcapFile::open(&path.to_string_lossy()).unwrap();
    let mut names = HashSet::new();
    let mut name = [0u8; virga_parsers::dns::MAX_NAME_TEXT_LEN];
    while let Some(p) = f.next_packet().unwrap() {
        let v = packet::decode(LinkType(p.linktype), p.data).unwrap();
        let Transport::Udp(u) = v.transport else {
            panic!("not UDP")
        };
        let m = virga_parsers::dns::parse(u.payload).unwrap();
        let q = m.questions().next().unwrap().unwrap();
        let s = q.name.write_text_into(&mut name).unwrap();
        assert!(s.ends_with(".floodacct.workers.dev"), "{s}");
        names.insert(s.to_owned());
    }
    assert_eq!(names.len(), 10_000);
    std::fs::remove_dir_all(path.parent().unwrap()).ok();
}
