//! Attacker-chosen strings in EVE output, as property tests: DNS names with
//! any label bytes (NUL, control characters, quotes, backslashes, dots,
//! invalid UTF-8, 63-byte labels up to 255-byte names), TXT and CNAME data,
//! TLS SNI with any bytes, HTTP Host / User-Agent / URL with any bytes but
//! CR and LF. Each case is a capture built from real bytes (the SNI is
//! patched into a real ClientHello from the sample capture) and replayed by
//! the real pipeline; every output line must parse as JSON, validate against
//! the EVE schema (when ../shared is present), and carry the string in the
//! documented form: DNS names in presentation form (`\DDD` escapes), byte
//! strings with U+FFFD for invalid UTF-8.

mod common;
use virga_test_support::eve_schema;
#[path = "common/hellos.rs"]
mod hellos;

use common::*;
use etherparse::PacketBuilder;
use proptest::prelude::*;
use serde_json::Value;

const CLIENT: [u8; 4] = [10, 1, 2, 3];
const SERVER: [u8; 4] = [10, 9, 8, 7];
const RESOLVER: [u8; 4] = [10, 0, 0, 53];

/// A classic pcap file being built (Ethernet link type).
struct Pcap {
    bytes: Vec<u8>,
    usec: u64,
}

impl Pcap {
    fn new() -> Pcap {
        let mut bytes = 0xa1b2_c3d4u32.to_le_bytes().to_vec();
        bytes.extend_from_slice(&2u16.to_le_bytes());
        bytes.extend_from_slice(&4u16.to_le_bytes());
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&65535u32.to_le_bytes());
        bytes.extend_from_slice(&1u32.to_le_bytes());
        Pcap {
            bytes,
            usec: 1_800_000_000_000_000,
        }
    }

    fn frame(&mut self, f: &[u8]) {
        self.usec += 1_000;
        let (s, us) = (self.usec / 1_000_000, self.usec % 1_000_000);
        for v in [s as u32, us as u32, f.len() as u32, f.len() as u32] {
            self.bytes.extend_from_slice(&v.to_le_bytes());
        }
        self.bytes.extend_from_slice(f);
    }

    fn udp(&mut self, src: ([u8; 4], u16), dst: ([u8; 4], u16), payload: &[u8]) {
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4(src.0, dst.0, 64)
            .udp(src.1, dst.1);
        let mut f = Vec::new();
        b.write(&mut f, payload).unwrap();
        self.frame(&f);
    }

    /// A TCP handshake, one client data segment, and the server's ACK.
    fn tcp_session(&mut self, sport: u16, dport: u16, data: &[u8]) {
        let tcp = |src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, seq: u32| {
            PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
                .ipv4(src, dst, 64)
                .tcp(sp, dp, seq, 64240)
        };
        let mut f = Vec::new();
        tcp(CLIENT, SERVER, sport, dport, 1000)
            .syn()
            .write(&mut f, &[])
            .unwrap();
        self.frame(&f);
        f.clear();
        tcp(SERVER, CLIENT, dport, sport, 5000)
            .syn()
            .ack(1001)
            .write(&mut f, &[])
            .unwrap();
        self.frame(&f);
        f.clear();
        tcp(CLIENT, SERVER, sport, dport, 1001)
            .ack(5001)
            .psh()
            .write(&mut f, data)
            .unwrap();
        self.frame(&f);
        f.clear();
        tcp(SERVER, CLIENT, dport, sport, 5001)
            .ack(1001 + data.len() as u32)
            .write(&mut f, &[])
            .unwrap();
        self.frame(&f);
    }
}

/// DNS wire name from labels.
fn wire_name(labels: &[Vec<u8>]) -> Vec<u8> {
    let mut w = Vec::new();
    for l in labels {
        w.push(l.len() as u8);
        w.extend_from_slice(l);
    }
    w.push(0);
    w
}

/// The presentation form virga writes (RFC 1035 §5.1 `\DDD` escapes).
fn presentation(labels: &[Vec<u8>]) -> String {
    let mut s = String::new();
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        for &b in l {
            if (0x20..=0x7e).contains(&b) && b != b'.' && b != b'\\' {
                s.push(b as char);
            } else {
                s.push_str(&format!("\\{b:03}"));
            }
        }
    }
    s
}

/// A DNS response: one question, a CNAME to `target`, a TXT with `txt`.
fn dns_response(id: u16, name: &[u8], target: &[u8], txt: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0]);
    m.extend_from_slice(name);
    m.extend_from_slice(&[0, 1, 0, 1]);
    m.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 1, 44]);
    m.extend_from_slice(&(target.len() as u16).to_be_bytes());
    m.extend_from_slice(target);
    let mut rdata = Vec::new();
    for chunk in txt.chunks(255) {
        rdata.push(chunk.len() as u8);
        rdata.extend_from_slice(chunk);
    }
    m.extend_from_slice(&[0xc0, 12, 0, 16, 0, 1, 0, 0, 1, 44]);
    m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    m.extend_from_slice(&rdata);
    m
}

fn dns_query(id: u16, name: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(name);
    m.extend_from_slice(&[0, 16, 0, 1]);
    m
}

/// A real ClientHello handshake message from the sample capture.
fn real_hello() -> Vec<u8> {
    let path = pcap("sample.pcap");
    let hellos = hellos::client_hellos(&path);
    hellos
        .into_iter()
        .find(|h| h.transport == virga_parsers::fingerprint::Transport::Tcp)
        .expect("a TCP ClientHello in sample.pcap")
        .message
}

/// `hello` with its server_name extension replaced by one naming `sni`,
/// every length fixed, wrapped in one TLS record.
fn with_sni(hello: &[u8], sni: &[u8]) -> Vec<u8> {
    let body = &hello[4..];
    let mut at = 2 + 32;
    at += 1 + body[at] as usize; // session id
    at += 2 + u16::from_be_bytes([body[at], body[at + 1]]) as usize; // ciphers
    at += 1 + body[at] as usize; // compression
    let ext_len = u16::from_be_bytes([body[at], body[at + 1]]) as usize;
    let exts = &body[at + 2..at + 2 + ext_len];
    let mut new_exts = Vec::new();
    let mut e = 0;
    while e + 4 <= exts.len() {
        let ty = u16::from_be_bytes([exts[e], exts[e + 1]]);
        let len = u16::from_be_bytes([exts[e + 2], exts[e + 3]]) as usize;
        if ty == 0 {
            let mut ext = Vec::new();
            ext.extend_from_slice(&((sni.len() + 3) as u16).to_be_bytes());
            ext.push(0);
            ext.extend_from_slice(&(sni.len() as u16).to_be_bytes());
            ext.extend_from_slice(sni);
            new_exts.extend_from_slice(&[0, 0]);
            new_exts.extend_from_slice(&(ext.len() as u16).to_be_bytes());
            new_exts.extend_from_slice(&ext);
        } else {
            new_exts.extend_from_slice(&exts[e..e + 4 + len]);
        }
        e += 4 + len;
    }
    let mut new_body = body[..at].to_vec();
    new_body.extend_from_slice(&(new_exts.len() as u16).to_be_bytes());
    new_body.extend_from_slice(&new_exts);
    let mut msg = vec![1];
    msg.extend_from_slice(&(new_body.len() as u32).to_be_bytes()[1..]);
    msg.extend_from_slice(&new_body);
    let mut rec = vec![0x16, 3, 1];
    rec.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    rec.extend_from_slice(&msg);
    rec
}

/// The EVE schema with virga's extension, when ../shared is present.
fn validator() -> Option<jsonschema::Validator> {
    eve_schema::eve_validator(&shared()?)
}

/// Replays `p` and returns the parsed lines, each checked against the
/// schema when there is one.
fn replay_checked(p: &Pcap, schema: Option<&jsonschema::Validator>) -> Vec<Value> {
    let f = temp("hostile.pcap");
    std::fs::write(&f, &p.bytes).unwrap();
    let lines = replay_lines(&[f.to_string_lossy().into_owned()], true);
    std::fs::remove_file(&f).unwrap();
    lines
        .iter()
        .map(|l| {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}"));
            if let Some(s) = schema {
                let errs = eve_schema::schema_errors(s, &v);
                assert!(errs.is_empty(), "invalid EVE line {l}: {errs:?}");
            }
            v
        })
        .collect()
}

/// A JSON string's text ("<not a string>" otherwise).
fn text(v: &Value) -> String {
    v.as_str().unwrap_or("<not a string>").to_string()
}

fn label() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 1..=63),
        // Hostile favourites, more often than chance gives them.
        proptest::collection::vec(
            prop_oneof![
                Just(0u8),
                Just(b'"'),
                Just(b'\\'),
                Just(b'.'),
                Just(0x7f),
                Just(0xff),
                Just(b'\n')
            ],
            1..=63
        ),
        Just(vec![b'x'; 63]),
    ]
}

/// 1 to 4 labels, the wire name at most 255 bytes.
fn name() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(label(), 1..=4)
        .prop_map(|mut ls| {
            while ls.iter().map(|l| l.len() + 1).sum::<usize>() + 1 > 255 {
                ls.pop();
            }
            ls
        })
        .prop_filter("non-empty", |ls| !ls.is_empty())
}

/// Header value bytes as HTTP allows them (RFC 9110 field-vchar, SP, HTAB,
/// obs-text: quotes, backslashes and invalid UTF-8 included).
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            Just(b'\t'),
            0x20u8..=0x7e,
            0x80u8..=0xff,
            Just(b'"'),
            Just(b'\\')
        ],
        1..200,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn hostile_strings_stay_valid_json_and_round_trip(
        qname in name(),
        target in name(),
        txt in proptest::collection::vec(any::<u8>(), 0..600),
        sni in proptest::collection::vec(any::<u8>(), 1..=255),
        host in header_value(),
        ua in header_value(),
        path in proptest::collection::vec(0x21u8..=0x7e, 0..100),
    ) {
        thread_local!(static SCHEMA: Option<jsonschema::Validator> = validator());
        let mut p = Pcap::new();
        let qn = wire_name(&qname);
        p.udp((CLIENT, 40000), (RESOLVER, 53), &dns_query(7, &qn));
        p.udp((RESOLVER, 53), (CLIENT, 40000), &dns_response(7, &qn, &wire_name(&target), &txt));
        p.tcp_session(40001, 443, &with_sni(&real_hello(), &sni));
        let mut req = b"GET /".to_vec();
        req.extend_from_slice(&path);
        req.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        req.extend_from_slice(&host);
        req.extend_from_slice(b"\r\nUser-Agent: ");
        req.extend_from_slice(&ua);
        req.extend_from_slice(b"\r\n\r\n");
        p.tcp_session(40002, 80, &req);
        let events = SCHEMA.with(|s| replay_checked(&p, s.as_ref()));

        let dns: Vec<&Value> = events.iter().filter(|e| e["event_type"] == "dns").collect();
        prop_assert_eq!(dns.len(), 2, "query and response: {:?}", dns);
        for e in &dns {
            prop_assert_eq!(text(&e["dns"]["queries"][0]["rrname"]), presentation(&qname));
        }
        let answers = &dns.iter().find(|e| e["dns"]["type"] == "response").unwrap()["dns"]["answers"];
        prop_assert_eq!(text(&answers[0]["rdata"]), presentation(&target));
        let tls: Vec<&Value> = events.iter().filter(|e| e["event_type"] == "tls").collect();
        prop_assert_eq!(tls.len(), 1);
        prop_assert_eq!(text(&tls[0]["tls"]["sni"]), String::from_utf8_lossy(&sni));
        let http: Vec<&Value> = events.iter().filter(|e| e["event_type"] == "http").collect();
        prop_assert_eq!(http.len(), 1);
        prop_assert_eq!(text(&http[0]["http"]["http_user_agent"]), String::from_utf8_lossy(&ua).trim().to_string());
    }
}
