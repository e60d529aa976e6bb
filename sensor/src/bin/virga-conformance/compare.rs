//! Field-by-field comparison of virga's EVE events with tshark's refs.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;
use std::path::Path;

/// One difference between virga and the reference.
#[derive(Debug)]
pub struct Diff {
    /// `tls`, `quic`, `dns` or `ja4`.
    pub kind: &'static str,
    /// Connection or message key.
    pub key: String,
    /// Field that differs (`count` when one side has more records).
    pub field: String,
    /// virga's value.
    pub ours: String,
    /// The reference's value.
    pub theirs: String,
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}: virga {} / ref {}",
            self.kind,
            self.key,
            self.field,
            clip(&self.ours),
            clip(&self.theirs)
        )
    }
}

/// Shortens a long value for display.
fn clip(s: &str) -> String {
    const MAX: usize = 200;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}… ({} bytes)", &s[..i], s.len()),
        None => s.to_string(),
    }
}

/// Counts of compared records.
#[derive(Debug, Default)]
pub struct Tally {
    /// TCP ClientHellos compared.
    pub tls: usize,
    /// QUIC connections compared.
    pub quic: usize,
    /// DNS messages compared.
    pub dns: usize,
    /// Records with no difference.
    pub same: usize,
}

impl Tally {
    /// Adds another file's counts.
    pub fn add(&mut self, o: &Tally) {
        self.tls += o.tls;
        self.quic += o.quic;
        self.dns += o.dns;
        self.same += o.same;
    }
}

fn s(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(x)) => x.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

/// `src:sport->dst:dport` from a ref record.
fn ref_key(v: &Value) -> String {
    format!(
        "{}:{}->{}:{}",
        s(v, "src"),
        s(v, "sport"),
        s(v, "dst"),
        s(v, "dport")
    )
}

/// `src:sport->dst:dport` from an EVE event.
fn eve_key(v: &Value) -> String {
    format!(
        "{}:{}->{}:{}",
        norm_ip(&s(v, "src_ip")),
        s(v, "src_port"),
        norm_ip(&s(v, "dest_ip")),
        s(v, "dest_port")
    )
}

fn norm_ip(x: &str) -> String {
    x.parse::<IpAddr>()
        .map(|i| i.to_string())
        .unwrap_or_else(|_| x.to_string())
}

/// tshark's SNI, from `sni_hex` when the name is not printable.
fn ref_sni(v: &Value) -> String {
    if let Some(h) = v.get("sni_hex").and_then(Value::as_str) {
        let bytes: Vec<u8> = h
            .split(':')
            .filter_map(|b| u8::from_str_radix(b, 16).ok())
            .collect();
        return String::from_utf8_lossy(&bytes).into_owned();
    }
    s(v, "sni")
}

fn list(v: Option<&Value>) -> String {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| x.to_string())
            })
            .collect::<Vec<_>>()
            .join(","),
        _ => String::new(),
    }
}

fn check(
    diffs: &mut Vec<Diff>,
    kind: &'static str,
    key: &str,
    field: &str,
    ours: String,
    theirs: String,
) -> bool {
    if ours == theirs {
        return true;
    }
    diffs.push(Diff {
        kind,
        key: key.to_string(),
        field: field.to_string(),
        ours,
        theirs,
    });
    false
}

/// Compares one public capture; differences are appended to `diffs`.
pub fn public_file(events: &[Value], refs: &crate::refs::Refs, diffs: &mut Vec<Diff>) -> Tally {
    let mut t = Tally::default();
    tls_tcp(events, refs, diffs, &mut t);
    quic(events, refs, diffs, &mut t);
    dns(events, refs, diffs, &mut t);
    t
}

fn by_type<'a>(events: &'a [Value], ty: &str) -> impl Iterator<Item = &'a Value> + 'a {
    let ty = ty.to_string();
    events
        .iter()
        .filter(move |e| e.get("event_type").and_then(Value::as_str) == Some(&ty))
}

fn tls_tcp(events: &[Value], refs: &crate::refs::Refs, diffs: &mut Vec<Diff>, t: &mut Tally) {
    let mut theirs: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for r in &refs.tls {
        if s(r, "transport") == "tcp" && s(r, "msg") == "client_hello" {
            theirs.entry(ref_key(r)).or_default().push(r);
        }
    }
    let mut ours: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for e in by_type(events, "tls") {
        ours.entry(eve_key(e)).or_default().push(e);
    }
    for (key, rs) in &theirs {
        let Some(es) = ours.get(key) else {
            diffs.push(Diff {
                kind: "tls",
                key: key.clone(),
                field: "missing".into(),
                ours: "no tls event".into(),
                theirs: format!("{} ClientHello(s), sni {}", rs.len(), ref_sni(rs[0])),
            });
            t.tls += rs.len();
            continue;
        };
        t.tls += 1;
        let mut ok = check(
            diffs,
            "tls",
            key,
            "count",
            es.len().to_string(),
            rs.len().to_string(),
        ) || rs.len() > 1;
        let (r, e) = (rs[0], es[0]);
        let tls = e.get("tls").cloned().unwrap_or(Value::Null);
        ok &= check(diffs, "tls", key, "sni", s(&tls, "sni"), ref_sni(r));
        ok &= check(
            diffs,
            "tls",
            key,
            "alpn",
            list(tls.get("client_alpns")),
            list(r.get("alpn")),
        );
        let ja3 = tls.get("ja3").cloned().unwrap_or(Value::Null);
        ok &= check(diffs, "tls", key, "ja3", s(&ja3, "hash"), s(r, "ja3"));
        ok &= check(
            diffs,
            "tls",
            key,
            "ja3_string",
            s(&ja3, "string"),
            s(r, "ja3_full"),
        );
        if ok {
            t.same += 1;
        }
    }
    for (key, es) in &ours {
        if !theirs.contains_key(key) {
            diffs.push(Diff {
                kind: "tls",
                key: key.clone(),
                field: "extra".into(),
                ours: format!(
                    "{} tls event(s), sni {}",
                    es.len(),
                    s(es[0].get("tls").unwrap_or(&Value::Null), "sni")
                ),
                theirs: "no ClientHello".into(),
            });
        }
    }
}

fn quic(events: &[Value], refs: &crate::refs::Refs, diffs: &mut Vec<Diff>, t: &mut Tally) {
    let mut theirs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in &refs.tls {
        if s(r, "transport") == "quic" && s(r, "msg") == "client_hello" {
            theirs.entry(ref_key(r)).or_default().insert(ref_sni(r));
        }
    }
    let mut ours: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in by_type(events, "quic") {
        let sni = s(e.get("quic").unwrap_or(&Value::Null), "sni");
        ours.entry(eve_key(e)).or_default().insert(sni);
    }
    let keys: BTreeSet<&String> = theirs.keys().chain(ours.keys()).collect();
    for key in keys {
        t.quic += 1;
        let fmt = |x: Option<&BTreeSet<String>>| {
            x.map(|v| v.iter().cloned().collect::<Vec<_>>().join(","))
                .unwrap_or_else(|| "-".into())
        };
        if check(
            diffs,
            "quic",
            key,
            "sni",
            fmt(ours.get(key)),
            fmt(theirs.get(key)),
        ) {
            t.same += 1;
        }
    }
}

/// Numeric DNS type → the name virga writes.
fn type_name(n: u64) -> String {
    virga_parsers::dns::DnsType(n as u16).to_string()
}

fn rcode_name(n: u64) -> String {
    virga_parsers::dns::rcode_name(n as u16)
        .map(str::to_string)
        .unwrap_or_else(|| n.to_string())
}

/// Normalises answer data for comparison (IPv6 forms differ; a CNAME to the
/// root is tshark's `<Root>`, Suricata's and virga's "").
fn norm_data(ty: &str, d: &str) -> String {
    if ty == "CNAME" && d == ROOT {
        return String::new();
    }
    if ty == "AAAA" {
        if let Ok(ip) = d.parse::<std::net::Ipv6Addr>() {
            return ip.to_string();
        }
    }
    d.to_string()
}

/// How tshark writes the root name; EVE writes it as "", as Suricata does.
const ROOT: &str = "<Root>";

/// A name of tshark's references as EVE writes it.
fn ref_name(v: &Value) -> String {
    let n = s(v, "name");
    if n == ROOT {
        String::new()
    } else {
        n
    }
}

fn dns(events: &[Value], refs: &crate::refs::Refs, diffs: &mut Vec<Diff>, t: &mut Tally) {
    let mut theirs: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for r in &refs.dns {
        if s(r, "proto") != "dns" {
            continue;
        }
        let dir = if r.get("response").and_then(Value::as_bool) == Some(true) {
            "response"
        } else {
            "request"
        };
        theirs
            .entry(format!("{} id {} {dir}", ref_key(r), s(r, "id")))
            .or_default()
            .push(r);
    }
    let mut ours: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for e in by_type(events, "dns") {
        let d = e.get("dns").cloned().unwrap_or(Value::Null);
        ours.entry(format!(
            "{} id {} {}",
            eve_key(e),
            s(&d, "id"),
            s(&d, "type")
        ))
        .or_default()
        .push(e);
    }
    for (key, rs) in &theirs {
        let es = ours.get(key).map(Vec::as_slice).unwrap_or(&[]);
        for (i, r) in rs.iter().enumerate() {
            t.dns += 1;
            let Some(e) = es.get(i) else {
                diffs.push(Diff {
                    kind: "dns",
                    key: key.clone(),
                    field: "missing".into(),
                    ours: "no dns event".into(),
                    theirs: format!(
                        "message with {} queries",
                        r.get("queries")
                            .and_then(Value::as_array)
                            .map_or(0, Vec::len)
                    ),
                });
                continue;
            };
            let d = e.get("dns").cloned().unwrap_or(Value::Null);
            let mut ok = check(
                diffs,
                "dns",
                key,
                "rcode",
                s(&d, "rcode"),
                rcode_name(r.get("rcode").and_then(Value::as_u64).unwrap_or(0)),
            );
            let rq: Vec<String> = r
                .get("queries")
                .and_then(Value::as_array)
                .map(|qs| {
                    qs.iter()
                        .map(|q| {
                            format!(
                                "{}/{}",
                                ref_name(q),
                                type_name(q.get("type").and_then(Value::as_u64).unwrap_or(0))
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let oq: Vec<String> = d
                .get("queries")
                .and_then(Value::as_array)
                .map(|qs| {
                    qs.iter()
                        .map(|q| format!("{}/{}", s(q, "rrname"), s(q, "rrtype")))
                        .collect()
                })
                .unwrap_or_default();
            ok &= check(diffs, "dns", key, "queries", oq.join(" "), rq.join(" "));
            // Answers: A, AAAA and CNAME with name, type, ttl and data.
            let compared = ["A", "AAAA", "CNAME"];
            let ra: Vec<String> = r
                .get("answers")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| {
                            let ty = type_name(x.get("type").and_then(Value::as_u64).unwrap_or(0));
                            compared.contains(&ty.as_str()).then(|| {
                                format!(
                                    "{} {} {} {}",
                                    ref_name(x),
                                    ty,
                                    s(x, "ttl"),
                                    norm_data(&ty, &s(x, "data"))
                                )
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            let oa: Vec<String> = d
                .get("answers")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|x| {
                            let ty = s(x, "rrtype");
                            compared.contains(&ty.as_str()).then(|| {
                                format!(
                                    "{} {} {} {}",
                                    s(x, "rrname"),
                                    ty,
                                    s(x, "ttl"),
                                    norm_data(&ty, &s(x, "rdata"))
                                )
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            ok &= check(diffs, "dns", key, "answers", oa.join(" | "), ra.join(" | "));
            if ok {
                t.same += 1;
            }
        }
        if es.len() > rs.len() {
            diffs.push(Diff {
                kind: "dns",
                key: key.clone(),
                field: "count".into(),
                ours: es.len().to_string(),
                theirs: rs.len().to_string(),
            });
        }
    }
    for (key, es) in &ours {
        if !theirs.contains_key(key) {
            diffs.push(Diff {
                kind: "dns",
                key: key.clone(),
                field: "extra".into(),
                ours: format!("{} dns event(s)", es.len()),
                theirs: "no message".into(),
            });
        }
    }
}

/// Checks virga's JA4 for every connection in `labels.jsonl`; returns the
/// number of connections checked.
pub fn ja4_labels(clients: &Path, labels: &Path, diffs: &mut Vec<Diff>) -> anyhow::Result<usize> {
    let rows = crate::refs::read_jsonl(labels)?;
    let mut by_pcap: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for r in &rows {
        by_pcap.entry(s(r, "pcap")).or_default().push(r);
    }
    let mut n = 0;
    for (pcap, rs) in by_pcap {
        let events = crate::eve::replay(&clients.join(&pcap))?;
        let mut ours: BTreeMap<String, String> = BTreeMap::new();
        for e in events.iter() {
            let obj = match e.get("event_type").and_then(Value::as_str) {
                Some("tls") => e.get("tls"),
                Some("quic") => e.get("quic"),
                _ => None,
            };
            if let Some(o) = obj {
                ours.insert(
                    format!("{} {}", s(e, "proto").to_lowercase(), eve_key(e)),
                    s(o, "ja4"),
                );
            }
        }
        for r in rs {
            n += 1;
            let proto = if s(r, "transport") == "quic" {
                "udp"
            } else {
                "tcp"
            };
            let key = format!(
                "{proto} {}:{}->{}:{}",
                s(r, "client_ip"),
                s(r, "client_port"),
                s(r, "server_ip"),
                s(r, "server_port")
            );
            let got = ours.get(&key).cloned().unwrap_or_else(|| "-".into());
            check(
                diffs,
                "ja4",
                &format!("{pcap} {key}"),
                "ja4",
                got,
                s(r, "ja4"),
            );
        }
    }
    Ok(n)
}
