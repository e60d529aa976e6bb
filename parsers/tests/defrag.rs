//! Integration tests of `defrag::Defragmenter` on real fragmented captures.
//!
//! Each capture is decoded frame by frame; fragments go to the defragmenter
//! and every completed datagram is decoded again with `decode_ip`. The frame
//! that completes a datagram must be the one tshark marks `reassembled`, and
//! the UDP header of the rebuilt datagram must match tshark's `l4` for it.

mod packet_support;

use packet_support::{read_capture, read_refs, shared_public, Frame};
use serde_json::Value;
use virga_parsers::defrag::{DefragConfig, DefragOutcome, DefragStats, Defragmenter};
use virga_parsers::packet::{decode, decode_ip, LinkType, Transport};

/// Runs a capture through decode + defrag; returns (datagrams rebuilt, differences).
fn run(name: &str, frames: &[Frame], refs: &[Value]) -> (usize, Vec<String>, DefragStats) {
    let refs: Vec<&Value> = refs.iter().filter(|r| !r["pkt"].is_null()).collect();
    assert_eq!(frames.len(), refs.len(), "{name}");
    let mut defrag = Defragmenter::new(DefragConfig::default());
    let mut rebuilt = 0;
    let mut diffs = Vec::new();
    for (frame, r) in frames.iter().zip(&refs) {
        let pkt = &r["pkt"];
        let expect = r["ip"]
            .as_array()
            .and_then(|a| a.first())
            .is_some_and(|ip| ip["reassembled"] == true);
        let view = decode(LinkType(frame.link), &frame.data).unwrap();
        let Some(ip) = view.ip else { continue };
        match defrag.push(&ip, frame.ts_us) {
            DefragOutcome::Complete(datagram) => {
                rebuilt += 1;
                if !expect {
                    diffs.push(format!("{name} pkt {pkt}: completed here, tshark did not"));
                    continue;
                }
                let whole = decode_ip(datagram);
                let wip = whole.ip.unwrap();
                if wip.is_fragment() || wip.truncated || whole.stop.is_some() {
                    diffs.push(format!(
                        "{name} pkt {pkt}: rebuilt datagram decodes badly: {whole:?}"
                    ));
                }
                if (wip.src, wip.dst) != (ip.src, ip.dst) {
                    diffs.push(format!("{name} pkt {pkt}: addresses changed"));
                }
                let l4 = &r["l4"][0];
                match whole.transport {
                    Transport::Udp(u) if l4["proto"] == "udp" => {
                        let ours = (u.src_port, u.dst_port, u.length, u.payload.len() + 8);
                        let len = l4["length"].as_u64().unwrap() as usize;
                        let theirs = (
                            l4["sport"].as_u64().unwrap() as u16,
                            l4["dport"].as_u64().unwrap() as u16,
                            len as u16,
                            len,
                        );
                        if ours != theirs {
                            diffs.push(format!(
                                "{name} pkt {pkt}: udp ours {ours:?} tshark {theirs:?}"
                            ));
                        }
                    }
                    other => diffs.push(format!(
                        "{name} pkt {pkt}: transport {other:?}, tshark {l4}"
                    )),
                }
            }
            _ if expect => diffs.push(format!(
                "{name} pkt {pkt}: tshark reassembled here, we did not"
            )),
            DefragOutcome::NotFragment if ip.is_fragment() => {
                diffs.push(format!("{name} pkt {pkt}: fragment reported as whole"))
            }
            _ => {}
        }
    }
    let stats = defrag.stats();
    assert_eq!(stats.reassembled as usize, rebuilt);
    assert_eq!(stats.overlaps, 0, "{name}: {stats:?}");
    (rebuilt, diffs, stats)
}

#[test]
fn public_fragment_captures_reassemble_like_tshark() {
    let Some(root) = shared_public() else {
        return;
    };
    // (capture, datagrams rebuilt, exact duplicate fragments ignored)
    let cases = [
        ("pcapplusplus/ip4_fragments.pcap", 6, 12),
        ("pcapplusplus/ip6_fragments.pcap", 4, 0),
        ("zeek/ipv6-fragmented-dns.pcap", 1, 0),
        ("zeek/dns-edns-ecs.pcap", 4, 0),
    ];
    for (name, want, duplicates) in cases {
        let frames = read_capture(&std::fs::read(root.join(name)).unwrap());
        let refs = read_refs(&root.join("refs").join(format!("{name}.frames.jsonl")));
        let (n, d, stats) = run(name, &frames, &refs);
        assert!(d.is_empty(), "{}", d.join("\n"));
        assert_eq!(n, want, "{name}");
        assert_eq!(stats.duplicates, duplicates, "{name}: {stats:?}");
    }
}
