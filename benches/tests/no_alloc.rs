//! The steady state of the parsers, of the capture thread's choice of
//! worker and of the flow lookup allocates nothing per packet: a counting
//! global allocator (`stats_alloc`) watches a second pass over real
//! captures, after a first pass has created every flow and sized every
//! reusable buffer.

use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;
use virga::flow::key::{Endpoint, Tuple};
use virga::flow::table::{FlowTable, PacketMeta, Timeouts};
use virga::time::Timestamp;
use virga_parsers::packet::{self, LinkType, Transport};
use virga_parsers::{dns, fingerprint, quic, tls};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Frames of a capture, read with the sensor's own reader before measuring.
fn frames(name: &str) -> Vec<(u32, Vec<u8>, Timestamp)> {
    let path = format!(
        "{}/../sensor/tests/data/pcaps/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut f = virga::capture::pcap_file::PcapFile::open(&path).unwrap();
    let mut out = Vec::new();
    while let Some(p) = f.next_packet().unwrap() {
        out.push((p.linktype, p.data.to_vec(), p.ts));
    }
    out
}

/// Reusable state of one pass, created before measuring.
struct Scratch {
    tls: Vec<u8>,
    ja3: String,
    name: [u8; dns::MAX_NAME_TEXT_LEN],
    quic: Vec<u8>,
    initials: quic::ClientInitials,
    flows: FlowTable<()>,
}

/// Parses every packet as the sensor does (decode; DNS with every name
/// formatted; TLS ClientHello with JA3 and JA4; QUIC Initials) and tracks its
/// flow. Returns how many application messages were parsed.
fn pass(frames: &[(u32, Vec<u8>, Timestamp)], s: &mut Scratch) -> usize {
    let mut parsed = 0;
    for (link, data, ts) in frames {
        // The capture thread's choice of worker.
        let raw = virga::capture::RawPacket {
            ts: *ts,
            linktype: *link,
            data,
            wire_len: data.len() as u32,
            pcap_cnt: 0,
        };
        assert!(std::hint::black_box(virga::shard::shard(&raw, 2)) < 2);
        let Ok(v) = packet::decode(LinkType(*link), data) else {
            continue;
        };
        let Some(ip) = v.ip.as_ref() else { continue };
        let (proto, sp, dp, flags, payload) = match v.transport {
            Transport::Tcp(t) => (
                6u8,
                t.src_port,
                t.dst_port,
                (t.flags.0 & 0xff) as u8,
                t.payload,
            ),
            Transport::Udp(u) => (17u8, u.src_port, u.dst_port, 0, u.payload),
            _ => continue,
        };
        let tuple = Tuple {
            src: Endpoint {
                ip: ip.src,
                port: sp,
            },
            dst: Endpoint {
                ip: ip.dst,
                port: dp,
            },
            proto,
        };
        let meta = PacketMeta {
            tuple,
            ts: *ts,
            ip_len: ip.total_len,
            tcp_flags: flags,
        };
        s.flows.track(&meta, |_, _, _| {});
        if proto == 17 && (sp == 53 || dp == 53) {
            if let Ok(m) = dns::parse(payload) {
                for q in m.questions().map_while(Result::ok) {
                    let _ = q.name.write_text_into(&mut s.name);
                }
                for r in m.answers().map_while(Result::ok) {
                    let _ = r.name.write_text_into(&mut s.name);
                    if let Ok(dns::Rdata::Cname(n)) = r.data() {
                        let _ = n.write_text_into(&mut s.name);
                    }
                }
                parsed += 1;
            }
        } else if proto == 6 && tls::record::probe(payload) {
            if let Ok(m) = tls::record::first_handshake_message(payload, &mut s.tls) {
                if let Ok(ch) = tls::parse_client_hello(m.message) {
                    s.ja3.clear();
                    let _ = fingerprint::ja3(&ch, &mut s.ja3);
                    let _ = fingerprint::ja4(&ch, fingerprint::Transport::Tcp);
                    parsed += 1;
                }
            }
        } else if proto == 17 && payload.first().is_some_and(|b| b & 0x80 != 0) {
            s.initials.reset();
            let r = s.initials.on_datagram(payload, &mut s.quic);
            if r.decrypted > 0 {
                parsed += 1;
            }
        }
    }
    parsed
}

#[test]
fn parsers_and_flow_lookup_do_not_allocate_per_packet() {
    let mut all = frames("sample.pcap");
    all.extend(frames("clients/curl.pcap"));
    all.extend(frames("clients/python-aioquic-h3.pcap"));
    let mut s = Scratch {
        tls: Vec::with_capacity(tls::record::MAX_HANDSHAKE_LEN),
        ja3: String::with_capacity(8192),
        name: [0; dns::MAX_NAME_TEXT_LEN],
        quic: vec![0; 65_536],
        initials: quic::ClientInitials::new(),
        flows: FlowTable::new(100_000, Timeouts::default()),
    };
    // First pass: flows are created, buffers reach their size.
    let first = pass(&all, &mut s);
    assert!(first > 100, "only {first} messages parsed");
    // Second pass over the same packets: every flow exists; nothing may allocate.
    let region = Region::new(GLOBAL);
    let second = pass(&all, &mut s);
    let stats = region.change();
    assert_eq!(second, first);
    assert_eq!(
        stats.allocations + stats.reallocations,
        0,
        "{} allocations and {} reallocations over {} packets",
        stats.allocations,
        stats.reallocations,
        all.len()
    );
    // The counter does see allocations.
    let probe = Region::new(GLOBAL);
    let b = std::hint::black_box(Box::new([0u8; 64]));
    assert!(probe.change().allocations >= 1);
    drop(b);
}
