//! QUIC Initial decryption through the public API, against real captures.
//!
//! The lab-corpus fixture tests always run; the tests on single public
//! Initials read them from the shared folder (public captures are never
//! copied into the repository). The corpus tests read the pcaps in
//! the shared folder (public captures with tshark reference outputs, and the
//! lab client corpus) and skip with a note when that folder is absent on a
//! bare clone (a failure in CI). They
//! group client Initials per connection (client address and port, original
//! DCID), reassemble the ClientHello and compare SNI and ALPN per connection
//! with tshark's `*.tls.jsonl` (transport `quic`).

mod public_payloads;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use etherparse::{LaxNetSlice, LaxSlicedPacket, TransportSlice};
use pcap_parser::pcapng::Block;
use pcap_parser::{PcapBlockOwned, PcapError};
use serde_json::Value;
use virga_parsers::quic::{
    client_hello_from_initial, client_initial_keys, decrypt_initial, frames, packets,
    ClientInitials, CryptoAssembler, Frame, PacketType, QuicVersion,
};
use virga_parsers::{Layer, ParseError};

/// `shared/` relative to the crate: `<repo>/../shared` for the main checkout,
/// one level more for a worktree under `wt/<name>`.
const CHROMIUM_1: &[u8] = include_bytes!("fixtures/quic/quic_chromium_ch_1.bin");
const CHROMIUM_2: &[u8] = include_bytes!("fixtures/quic/quic_chromium_ch_2.bin");

// ---------------------------------------------------------------------------
// Test-only ClientHello reader: SNI and ALPN only, enough to compare with
// tshark. The real parser lives in `virga_parsers::tls`.

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct HelloInfo {
    sni: Option<String>,
    alpn: Option<Vec<String>>,
}

fn be16(b: &[u8], at: usize) -> Option<usize> {
    Some(usize::from(*b.get(at)?) << 8 | usize::from(*b.get(at + 1)?))
}

fn hello_info(ch: &[u8]) -> Option<HelloInfo> {
    if *ch.first()? != 1 {
        return None;
    }
    let mut p = 4 + 2 + 32; // header, legacy_version, random
    p += 1 + usize::from(*ch.get(p)?); // session id
    p += 2 + be16(ch, p)?; // cipher suites
    p += 1 + usize::from(*ch.get(p)?); // compression methods
    let ext_end = p + 2 + be16(ch, p)?;
    p += 2;
    let mut info = HelloInfo {
        sni: None,
        alpn: None,
    };
    while p + 4 <= ext_end {
        let ty = be16(ch, p)?;
        let len = be16(ch, p + 2)?;
        let body = ch.get(p + 4..p + 4 + len)?;
        match ty {
            // server_name_list: len16, then (type 0 = host_name, len16, name).
            0 if info.sni.is_none() && body.get(2) == Some(&0) => {
                let n = be16(body, 3)?;
                let name = body.get(5..5 + n)?;
                info.sni = Some(String::from_utf8_lossy(name).into_owned());
            }
            16 => {
                let mut list = Vec::new();
                let end = 2 + be16(body, 0)?;
                let mut q = 2;
                while q < end {
                    let n = usize::from(*body.get(q)?);
                    list.push(String::from_utf8_lossy(body.get(q + 1..q + 1 + n)?).into_owned());
                    q += 1 + n;
                }
                info.alpn = Some(list);
            }
            _ => {}
        }
        p += 4 + len;
    }
    Some(info)
}

// ---------------------------------------------------------------------------
// Test-only pcap reading: pcap / pcapng, Ethernet, BSD NULL, raw IP.

struct Datagram {
    frame: usize,
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
    payload: Vec<u8>,
}

fn udp_of(linktype: i32, data: &[u8]) -> Option<(IpAddr, u16, IpAddr, u16, Vec<u8>)> {
    let pkt = match linktype {
        1 => LaxSlicedPacket::from_ethernet(data).ok()?,
        0 => LaxSlicedPacket::from_ip(data.get(4..)?).ok()?,
        101 | 228 | 229 | 12 | 14 => LaxSlicedPacket::from_ip(data).ok()?,
        _ => return None,
    };
    let (src, dst) = match pkt.net? {
        LaxNetSlice::Ipv4(ip) => (
            IpAddr::V4(ip.header().source_addr()),
            IpAddr::V4(ip.header().destination_addr()),
        ),
        LaxNetSlice::Ipv6(ip) => (
            IpAddr::V6(ip.header().source_addr()),
            IpAddr::V6(ip.header().destination_addr()),
        ),
        LaxNetSlice::Arp(_) => return None,
    };
    match pkt.transport? {
        TransportSlice::Udp(u) => Some((
            src,
            u.source_port(),
            dst,
            u.destination_port(),
            u.payload().to_vec(),
        )),
        _ => None,
    }
}

fn read_udp(path: &Path) -> Vec<Datagram> {
    let file = std::fs::File::open(path).unwrap();
    let mut reader = pcap_parser::create_reader(1 << 20, file).unwrap();
    let mut out = Vec::new();
    let mut legacy_lt = 1;
    let mut ng_lts: Vec<i32> = Vec::new();
    let mut frame = 0;
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                let pkt = match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        legacy_lt = h.network.0;
                        None
                    }
                    PcapBlockOwned::Legacy(b) => Some((legacy_lt, b.data.to_vec())),
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                        ng_lts.clear();
                        None
                    }
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        ng_lts.push(idb.linktype.0);
                        None
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let lt = ng_lts.get(epb.if_id as usize).copied().unwrap_or(1);
                        let n = (epb.caplen as usize).min(epb.data.len());
                        Some((lt, epb.data[..n].to_vec()))
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                        let lt = ng_lts.first().copied().unwrap_or(1);
                        Some((lt, spb.data.to_vec()))
                    }
                    PcapBlockOwned::NG(_) => None,
                };
                if let Some((lt, data)) = pkt {
                    frame += 1;
                    if let Some((src, sport, dst, dport, payload)) = udp_of(lt, &data) {
                        out.push(Datagram {
                            frame,
                            src,
                            sport,
                            dst,
                            dport,
                            payload,
                        });
                    }
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => reader.refill().unwrap(),
            Err(e) => panic!("{}: {e:?}", path.display()),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Per-connection driver, as the sensor would do it.

#[derive(Debug, Default)]
struct Counts {
    datagrams: usize,
    initials: usize,
    decrypted: usize,
    hellos: usize,
    errors: BTreeMap<String, usize>,
}

/// One ClientHello per (client addr, client port, original DCID), with the
/// frame it completed in and the message length.
type Hellos = BTreeMap<(IpAddr, u16, Vec<u8>), (usize, HelloInfo, usize)>;

fn hellos_in(path: &Path) -> (Hellos, Counts) {
    let mut flows: BTreeMap<(IpAddr, u16, IpAddr, u16), ClientInitials> = BTreeMap::new();
    let mut hellos = Hellos::new();
    let mut counts = Counts::default();
    let mut scratch = vec![0u8; 65536];
    for d in read_udp(path) {
        if d.payload.first().is_none_or(|b| b & 0x80 == 0) {
            continue;
        }
        counts.datagrams += 1;
        let ci = flows.entry((d.src, d.sport, d.dst, d.dport)).or_default();
        let r = ci.on_datagram(&d.payload, &mut scratch);
        counts.initials += r.initials;
        counts.decrypted += r.decrypted;
        if let Some(e) = r.error {
            *counts.errors.entry(e.to_string()).or_default() += 1;
        }
        if let Ok(ch) = ci.client_hello() {
            let key = (d.src, d.sport, ci.original_dcid().unwrap().to_vec());
            if let std::collections::btree_map::Entry::Vacant(e) = hellos.entry(key) {
                let info = hello_info(ch).expect("hello parses");
                e.insert((d.frame, info, ch.len()));
                counts.hellos += 1;
            }
        }
    }
    (hellos, counts)
}

fn shared(rel: &str) -> Option<PathBuf> {
    virga_test_support::shared_path(rel)
}

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

type ConnKey = (IpAddr, u16, Option<String>, Option<Vec<String>>);

fn ours_as_set(h: &Hellos) -> BTreeSet<ConnKey> {
    h.iter()
        .map(|((ip, port, _), (_, i, _))| (*ip, *port, i.sni.clone(), i.alpn.clone()))
        .collect()
}

fn refs_as_set(tls: &[Value]) -> BTreeSet<ConnKey> {
    tls.iter()
        .filter(|r| r["transport"] == "quic" && r["msg"] == "client_hello")
        .map(|r| {
            let alpn = r["alpn"].as_array().map(|a| {
                a.iter()
                    .map(|s| s.as_str().unwrap().to_string())
                    .collect::<Vec<_>>()
            });
            (
                r["src"].as_str().unwrap().parse().unwrap(),
                r["sport"].as_u64().unwrap() as u16,
                r["sni"].as_str().map(str::to_string),
                alpn,
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------

#[test]
fn fixture_v2_through_low_level_api() {
    let Some(v2_echo) = public_payloads::payload("zeek/quicv2-echo-443.pcap", 1) else {
        return;
    };
    let v2_echo = v2_echo.as_slice();
    let mut it = packets(v2_echo);
    let p = it.next().unwrap().unwrap();
    assert!(it.next().is_none());
    assert_eq!(p.header.version, QuicVersion::V2);
    assert_eq!(p.header.packet_type, PacketType::Initial);
    let keys = client_initial_keys(p.header.version, p.header.dcid).unwrap();
    let mut out = [0u8; 2048];
    let d = decrypt_initial(p.bytes, &keys, &mut out).unwrap();
    let mut asm = CryptoAssembler::new();
    let mut n = 0;
    for f in frames(d.payload) {
        if let Frame::Crypto { offset, data } = f.unwrap() {
            asm.add(offset, data).unwrap();
            n += 1;
        }
    }
    assert!(n >= 1);
    let info = hello_info(asm.client_hello().unwrap()).unwrap();
    assert_eq!(info.sni.as_deref(), Some("localhost"));
    assert_eq!(info.alpn, Some(vec!["quic-echo-example".to_string()]));
}

#[test]
fn fixture_chromium_two_packets() {
    let mut scratch = [0u8; 1500];
    let mut ci = ClientInitials::new();
    ci.on_datagram(CHROMIUM_1, &mut scratch);
    assert!(matches!(
        ci.client_hello(),
        Err(ParseError::Incomplete {
            layer: Layer::Quic,
            ..
        })
    ));
    ci.on_datagram(CHROMIUM_2, &mut scratch);
    let info = hello_info(ci.client_hello().unwrap()).unwrap();
    assert_eq!(info.sni.as_deref(), Some("a1b2c3.someacct.workers.dev"));
    assert_eq!(info.alpn, Some(vec!["h3".to_string()]));
    let mut asm = CryptoAssembler::new();
    assert!(client_hello_from_initial(CHROMIUM_1, &mut scratch, &mut asm).is_err());
}

/// Every public capture with QUIC in its tshark refs: our per-connection
/// SNI/ALPN set equals tshark's, except for the documented tshark misses.
#[test]
fn public_pcaps_match_tshark_per_connection() {
    let Some(refs) = shared("pcaps/public/refs") else {
        return;
    };
    let mut files = 0;
    let mut total_hellos = 0;
    let mut sources: Vec<_> = std::fs::read_dir(&refs).unwrap().flatten().collect();
    sources.sort_by_key(|e| e.path());
    for src in sources {
        let mut entries: Vec<_> = std::fs::read_dir(src.path()).unwrap().flatten().collect();
        entries.sort_by_key(|e| e.path());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pcap_name) = name.strip_suffix(".quic.jsonl") else {
                continue;
            };
            if jsonl(&e.path()).is_empty() {
                continue;
            }
            let rel = format!(
                "pcaps/public/{}/{pcap_name}",
                src.file_name().to_string_lossy()
            );
            let Some(pcap) = shared(&rel) else { continue };
            let tls = jsonl(&src.path().join(format!("{pcap_name}.tls.jsonl")));
            let mut want = refs_as_set(&tls);
            let (hellos, counts) = hellos_in(&pcap);
            let got = ours_as_set(&hellos);
            if pcap_name == "quic_vn.pcap" {
                // README caveat 2: tshark misses this v1 hello.
                let h = hellos
                    .iter()
                    .find(|((_, _, dcid), _)| hex::encode(dcid) == "9d5728481287a3b4")
                    .expect("quic_vn: hello for DCID 9d5728481287a3b4");
                assert_eq!(h.1 .1.sni.as_deref(), Some("localhost"));
                assert_eq!(h.1 .1.alpn, Some(vec!["h3".to_string()]));
                want.extend(got.iter().cloned());
            }
            if pcap_name == "quic_handshake_truncated.pcap" {
                assert_eq!(counts.decrypted, 0);
                assert!(counts.errors.contains_key("quic: truncated"), "{counts:?}");
            }
            println!(
                "{rel}: {} quic datagrams, {} initials, {} decrypted, {} hellos (tshark {}), errors {:?}",
                counts.datagrams,
                counts.initials,
                counts.decrypted,
                counts.hellos,
                want.len(),
                counts.errors
            );
            assert_eq!(got, want, "{rel}");
            files += 1;
            total_hellos += hellos.len();
        }
    }
    println!("{files} public pcaps with QUIC compared, {total_hellos} hellos");
    assert!(files >= 5, "expected the QUIC pcaps of the public corpus");
}

/// The lab corpus: the labelled QUIC connection's SNI and ALPN are found.
#[test]
fn corpus_clients_match_labels() {
    for name in ["chromium-quic", "python-aioquic-h3"] {
        let Some(pcap) = shared(&format!("corpus/clients/{name}.pcap")) else {
            continue;
        };
        let labels = jsonl(&pcap.with_extension("labels.jsonl"));
        let (hellos, counts) = hellos_in(&pcap);
        println!(
            "{name}: {} initials, {} decrypted, {} hellos, errors {:?}",
            counts.initials, counts.decrypted, counts.hellos, counts.errors
        );
        let got = ours_as_set(&hellos);
        for l in labels.iter().filter(|l| l["transport"] == "quic") {
            let alpn = l["alpn"].as_array().map(|a| {
                a.iter()
                    .map(|s| s.as_str().unwrap().to_string())
                    .collect::<Vec<_>>()
            });
            let key = (
                l["client_ip"].as_str().unwrap().parse().unwrap(),
                l["client_port"].as_u64().unwrap() as u16,
                l["sni"].as_str().map(str::to_string),
                alpn,
            );
            assert!(got.contains(&key), "{name}: {key:?} not in {got:?}");
            // The label's client_hello_len is the handshake length field.
            let want_len = l["client_hello_len"].as_u64().unwrap() as usize;
            let lens: Vec<usize> = hellos
                .iter()
                .filter(|((ip, port, _), _)| (*ip, *port) == (key.0, key.1))
                .map(|(_, (_, _, len))| *len)
                .collect();
            assert_eq!(lens, [4 + want_len], "{name}");
        }
    }
}

/// Deterministic mutation smoke test: bit flips, cuts and splices of real
/// Initials (ciphertext and decrypted plaintext) never panic, and whatever
/// the assembler returns keeps its invariants.
#[test]
fn mutated_real_initials_keep_invariants() {
    let Some(v2_echo) = public_payloads::payload("zeek/quicv2-echo-443.pcap", 1) else {
        return;
    };
    let v2_echo = v2_echo.as_slice();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (h, _) = virga_parsers::quic::parse_long_header(CHROMIUM_1).unwrap();
    let keys = client_initial_keys(h.version, h.dcid).unwrap();
    let mut out = [0u8; 1500];
    let plain = decrypt_initial(CHROMIUM_1, &keys, &mut out)
        .unwrap()
        .payload
        .to_vec();
    let mut scratch = [0u8; 1500];
    for i in 0..3000 {
        let base: &[u8] = match i % 3 {
            0 => CHROMIUM_1,
            1 => v2_echo,
            _ => &plain,
        };
        let mut m = base.to_vec();
        for _ in 0..(1 + rnd() % 4) {
            let at = (rnd() as usize) % m.len();
            match rnd() % 3 {
                0 => m[at] ^= 1 << (rnd() % 8),
                1 => m.truncate(at.max(1)),
                _ => m[at] = (rnd() >> 8) as u8,
            }
        }
        if i % 3 == 2 {
            let mut asm = CryptoAssembler::with_capacity(2048);
            let _ = asm.add_frames(&m);
            assert!(asm.contiguous().len() <= asm.capacity());
            assert!(asm.range_count() <= CryptoAssembler::MAX_RANGES);
            if let Ok(ch) = asm.client_hello() {
                assert_eq!(ch[0], 1);
                let len = usize::from(ch[1]) << 16 | usize::from(ch[2]) << 8 | usize::from(ch[3]);
                assert_eq!(ch.len(), 4 + len);
            }
        } else {
            let mut ci = ClientInitials::new();
            let r = ci.on_datagram(&m, &mut scratch);
            assert!(r.decrypted <= r.initials && r.initials <= r.long_packets);
            // A flip after the packet's end (in padding) still decrypts.
            if r.decrypted == 1 {
                assert!(ci.assembler().contiguous().len() <= ci.assembler().capacity());
            }
        }
    }
}
