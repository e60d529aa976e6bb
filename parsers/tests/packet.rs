//! Integration tests of `packet::decode` against tshark's per-frame references.
//!
//! Every packet of every capture is decoded and compared field by field with
//! the `.frames.jsonl` reference tshark 4.0 wrote for it (see
//! `shared/pcaps/public/README.md`): VLAN ids, IP version, addresses,
//! protocol, TTL, lengths and fragment fields, TCP ports, seq/ack, flags and
//! payload length, UDP ports and length. The public captures are read in
//! the shared folder (never copied into the repository); without it these
//! tests pass without checking, with a note, on a bare clone (in CI they
//! fail).

mod packet_support;

use std::net::IpAddr;

use packet_support::{
    public_record, public_records, read_capture, read_refs, shared_captures, shared_public, Frame,
};
use serde_json::Value;
use virga_parsers::packet::{decode, LinkType, Transport};
use virga_parsers::{Layer, ParseError};

fn ip_of(v: &Value) -> Option<IpAddr> {
    v.as_str().map(|s| s.parse().expect("ip address"))
}

/// Compares one frame with its reference; returns the differences.
fn compare_frame(frame: &Frame, r: &Value) -> Vec<String> {
    let mut diffs = Vec::new();
    let mut check = |what: &str, ours: String, theirs: String| {
        if ours != theirs {
            diffs.push(format!("{what}: ours {ours} tshark {theirs}"));
        }
    };
    let view = match decode(LinkType(frame.link), &frame.data) {
        Ok(v) => v,
        Err(e) => return vec![format!("decode error {e}")],
    };
    let ref_vlan: Vec<u16> = r["vlan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u16)
        .collect();
    let kept = ref_vlan.len().min(3);
    check(
        "vlan",
        format!("{:?}", view.vlan.ids()),
        format!("{:?}", &ref_vlan[..kept]),
    );
    check(
        "vlan count",
        view.vlan.count().to_string(),
        ref_vlan.len().to_string(),
    );

    let ref_ips = r["ip"].as_array().unwrap();
    let Some(rip) = ref_ips.first() else {
        if let Some(ip) = view.ip {
            check("ip", format!("{:?}", ip.src), "none".into());
        }
        return diffs;
    };
    if rip["src"].is_null() {
        // tshark could not read the addresses: the IP header was cut.
        check("ip", format!("{:?}", view.ip.map(|i| i.src)), "None".into());
        check(
            "stop",
            format!("{:?}", view.stop),
            format!("{:?}", Some(ParseError::Truncated { layer: Layer::Ip })),
        );
        return diffs;
    }
    let Some(ip) = view.ip else {
        diffs.push(format!("no ip decoded (stop {:?})", view.stop));
        return diffs;
    };
    let v = rip["v"].as_u64().unwrap();
    check("version", ip.version.to_string(), v.to_string());
    check(
        "src",
        format!("{:?}", Some(ip.src)),
        format!("{:?}", ip_of(&rip["src"])),
    );
    check(
        "dst",
        format!("{:?}", Some(ip.dst)),
        format!("{:?}", ip_of(&rip["dst"])),
    );
    let frag = ip.fragment;
    if v == 4 {
        check("proto", ip.protocol.0.to_string(), rip["proto"].to_string());
        check("ttl", ip.ttl.to_string(), rip["ttl"].to_string());
        check(
            "total_len",
            ip.total_len.to_string(),
            rip["total_len"].to_string(),
        );
        check("id", ip.ipv4_id.to_string(), rip["id"].to_string());
        check("df", ip.dont_fragment.to_string(), rip["df"].to_string());
        check(
            "mf",
            frag.is_some_and(|f| f.more).to_string(),
            rip["mf"].to_string(),
        );
        check(
            "frag_offset",
            frag.map_or(0, |f| f.offset / 8).to_string(),
            rip["frag_offset"].to_string(),
        );
    } else {
        check("hlim", ip.ttl.to_string(), rip["hlim"].to_string());
        let plen = rip["plen"].as_u64().unwrap();
        if plen != 0 {
            check("plen", (ip.total_len - 40).to_string(), plen.to_string());
        }
        match rip.get("frag") {
            Some(f)
                if !f.is_null()
                    && (f["offset"].as_u64() != Some(0) || f["more"].as_bool() == Some(true)) =>
            {
                let ours = frag.map(|x| (x.offset / 8, x.more, x.id, x.protocol.0));
                let theirs = Some((
                    f["offset"].as_u64().unwrap() as u16,
                    f["more"].as_bool().unwrap(),
                    f["id"].as_u64().unwrap() as u32,
                    f["nxt"].as_u64().unwrap() as u8,
                ));
                check("frag", format!("{ours:?}"), format!("{theirs:?}"));
            }
            Some(f) if !f.is_null() => {
                check("frag", format!("{frag:?}"), "None (atomic)".into());
                check("proto", ip.protocol.0.to_string(), f["nxt"].to_string());
            }
            _ => {
                check("frag", format!("{frag:?}"), "None".into());
                let nxt = rip["nxt"].as_u64().unwrap();
                if !matches!(nxt, 0 | 43 | 51 | 60) {
                    check("proto", ip.protocol.0.to_string(), nxt.to_string());
                }
            }
        }
    }

    let reassembled = rip["reassembled"].as_bool() == Some(true);
    let ref_l4 = r["l4"].as_array().unwrap();
    match (view.transport, ref_l4.first()) {
        // A reassembled frame's l4 describes the whole datagram (defrag test).
        (Transport::None, Some(_)) if reassembled && frag.is_some() => {}
        (Transport::Tcp(t), Some(l4)) if l4["proto"] == "tcp" => {
            check("sport", t.src_port.to_string(), l4["sport"].to_string());
            check("dport", t.dst_port.to_string(), l4["dport"].to_string());
            check("seq", t.seq.to_string(), l4["seq"].to_string());
            check("ack", t.ack.to_string(), l4["ack"].to_string());
            check("flags", t.flags.0.to_string(), l4["flags"].to_string());
            check(
                "payload_len",
                t.wire_payload_len.to_string(),
                l4["payload_len"].to_string(),
            );
            let cut = frame.data.len() < frame.orig_len as usize;
            if !cut {
                check(
                    "payload bytes",
                    t.payload.len().to_string(),
                    l4["payload_len"].to_string(),
                );
            }
        }
        (Transport::Udp(u), Some(l4)) if l4["proto"] == "udp" => {
            check("sport", u.src_port.to_string(), l4["sport"].to_string());
            check("dport", u.dst_port.to_string(), l4["dport"].to_string());
            check("length", u.length.to_string(), l4["length"].to_string());
            if !u.payload_truncated {
                check(
                    "udp payload",
                    (u.payload.len() + 8).to_string(),
                    l4["length"].to_string(),
                );
            }
        }
        // ICMP errors quote an inner header that tshark lists in l4.
        (Transport::Other { .. }, _) => {}
        (Transport::None, None) => {}
        (ours, theirs) => diffs.push(format!(
            "transport: ours {ours:?} tshark {theirs:?} (stop {:?})",
            view.stop
        )),
    }
    diffs
}

/// Compares a whole capture; returns (frames checked, differences).
fn compare_capture(name: &str, capture: &[u8], refs: &[Value]) -> (usize, Vec<String>) {
    let frames = read_capture(capture);
    let refs: Vec<&Value> = refs.iter().filter(|r| !r["pkt"].is_null()).collect();
    let mut diffs = Vec::new();
    if frames.len() != refs.len() {
        diffs.push(format!(
            "{name}: {} frames, {} refs",
            frames.len(),
            refs.len()
        ));
    }
    for (frame, r) in frames.iter().zip(&refs) {
        for d in compare_frame(frame, r) {
            diffs.push(format!("{name} pkt {}: {d}", r["pkt"]));
        }
    }
    (frames.len(), diffs)
}

/// Public captures (provenance in `shared/pcaps/public/MANIFEST.tsv`) with
/// the link types and corner cases the decoder must handle: 802.1ad QinQ,
/// Linux SLL v1 (nanosecond pcap) and v2, DLT_NULL with IPv6,
/// LINKTYPE_IPV6, LINKTYPE_RAW over IPv6 and IPv4, three VLAN tags, snap
/// lengths cutting TCP options, IPv4 and IPv6 extension headers. The whole
/// public corpus is compared with tshark below; these are mutated too.
const EDGE_CAPTURES: &[&str] = &[
    "tcpdump/802.1ad_QinQ.pcap",
    "tcpdump/tcp-handshake-nano.pcap",
    "zeek/linux_dlt_sll2.pcap",
    "ja4/tls-alpn-h2.pcap",
    "tcpdump/LINKTYPE_IPV6.pcap",
    "zeek/dns-ech.pcap",
    "suricata-verify/quic-frag-unordered.pcap",
    "zeek/vlan-qinqinq.pcap",
    "zeek/tcp-truncated-header.pcap",
    "zeek/ip4-trunc.pcap",
    "zeek/ip6-ext-trunc.pcap",
];

#[test]
fn public_corpus_matches_tshark() {
    let Some(root) = shared_public() else {
        return;
    };
    let mut total = 0;
    let mut all = Vec::new();
    for name in shared_captures(&root) {
        let capture = std::fs::read(root.join(&name)).unwrap();
        let refs = read_refs(&root.join("refs").join(format!("{name}.frames.jsonl")));
        let (n, d) = compare_capture(&name, &capture, &refs);
        total += n;
        all.extend(d);
    }
    eprintln!("checked {total} frames of the public corpus");
    assert!(total > 2000, "only {total} frames");
    assert!(
        all.is_empty(),
        "{} differences:\n{}",
        all.len(),
        all.join("\n")
    );
}

#[test]
fn snaplen_cut_is_reported_per_layer() {
    // zeek/tcp-truncated-header.pcap pkt 1: 68 of 74 bytes, TCP options cut.
    let Some(frame) = public_record("zeek/tcp-truncated-header.pcap", 1) else {
        return;
    };
    let view = decode(LinkType(frame.link), &frame.data).unwrap();
    assert_eq!(view.stop, Some(ParseError::Truncated { layer: Layer::Tcp }));
    let Transport::Tcp(t) = view.transport else {
        panic!("expected partial tcp, got {:?}", view.transport)
    };
    assert_eq!((t.src_port, t.dst_port, t.seq), (60827, 25, 1_041_724_894));
    assert!(t.payload.is_empty());
    assert_eq!(t.header_len, 40);

    // zeek/ip4-trunc.pcap: Ethernet plus 6 bytes of IPv4.
    let frame = public_record("zeek/ip4-trunc.pcap", 1).unwrap();
    let view = decode(LinkType(frame.link), &frame.data).unwrap();
    assert!(view.ip.is_none());
    assert_eq!(view.stop, Some(ParseError::Truncated { layer: Layer::Ip }));
}

/// Deterministic mutation run over the edge-case captures (a cheap stand-in for
/// the cargo-fuzz targets): byte flips, cuts and link-type swaps must never
/// panic, and every slice in the view must lie inside the frame.
#[test]
fn mutated_edge_case_frames_never_panic() {
    use virga_parsers::defrag::{DefragConfig, DefragOutcome, Defragmenter};
    use virga_parsers::packet::decode_ip;

    let links = [0, 1, 12, 14, 101, 108, 113, 228, 229, 276];
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut defrag = Defragmenter::new(DefragConfig {
        max_datagrams: 4,
        ..DefragConfig::default()
    });
    let mut decoded_ip = 0;
    for pcap in EDGE_CAPTURES {
        let Some(frames) = public_records(pcap) else {
            return;
        };
        for frame in &frames {
            for _ in 0..300 {
                let mut f = frame.data.clone();
                for _ in 0..(rand() % 4) {
                    let i = (rand() as usize) % f.len().max(1);
                    if let Some(b) = f.get_mut(i) {
                        *b ^= 1 << (rand() % 8);
                    }
                }
                f.truncate(
                    (rand() as usize) % (f.len() + 1) + if rand() % 2 == 0 { f.len() } else { 0 },
                );
                let link = if rand() % 4 == 0 {
                    LinkType(links[(rand() as usize) % links.len()])
                } else {
                    LinkType(frame.link)
                };
                let Ok(view) = decode(link, &f) else { continue };
                if let Some(ip) = view.ip {
                    decoded_ip += 1;
                    assert!(ip.datagram.len() <= f.len() && ip.payload.len() <= ip.datagram.len());
                    assert!(view.payload().len() <= ip.payload.len());
                    if let DefragOutcome::Complete(d) = defrag.push(&ip, rand() % 1_000_000) {
                        let _ = decode_ip(d);
                    }
                }
            }
        }
    }
    assert!(
        decoded_ip > 5_000,
        "only {decoded_ip} mutated frames had IP"
    );
}
