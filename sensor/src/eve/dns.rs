//! EVE `dns` events (version 3, Suricata 8's layout) from DNS transaction
//! records.

use super::expanded_v6;
use super::json::JsonWriter;
use super::EventLines;
use crate::app::dns::name_text;
use crate::records::DnsTransaction;
use std::fmt::Write as _;
use virga_parsers::dns::{self, DnsMessage, DnsType, Rdata, SvcParamKey, SvcParamValue};

/// Most answers (and authorities, additionals) written per section; the rest
/// are counted in the message but not logged, so one hostile message cannot
/// make a multi-megabyte line.
pub const MAX_LOGGED_RECORDS: usize = 64;

impl EventLines {
    /// Writes the `dns` event of a message.
    pub fn dns(&mut self, r: &DnsTransaction<'_>) {
        // The writer's text buffers, lent to the body (moved, not copied).
        let mut text = std::mem::take(&mut self.dns);
        let (msg, tx_id) = (r.message, r.tx_id);
        self.event("dns", &r.flow, Some(r.packet), r.packet.ts, |w| {
            write_dns_object(w, msg, tx_id, &mut text);
        });
        self.dns = text;
    }
}

/// Suricata's 4-bit RCODE string, or the number.
fn rcode_text(rcode: u16, out: &mut String) {
    out.clear();
    match dns::rcode_name(rcode) {
        Some(n) => out.push_str(n),
        None => {
            let _ = write!(out, "{rcode}");
        }
    }
}

/// Writes the type name (`A`, `HTTPS`, or the number for unknown types).
fn type_text(t: DnsType, out: &mut String) {
    out.clear();
    let _ = write!(out, "{t}");
}

/// Writes the `dns` object of an EVE event for `msg`.
pub fn write_dns_object(w: &mut JsonWriter<'_>, msg: &DnsMessage<'_>, tx_id: u64, s: &mut DnsText) {
    let h = msg.header();
    let response = h.flags & 0x8000 != 0;
    w.object("dns")
        .u64("version", 3)
        .str("type", if response { "response" } else { "request" })
        .u64("tx_id", tx_id)
        .u64("id", u64::from(h.id));
    s.a.clear();
    let _ = write!(s.a, "{:x}", h.flags);
    w.str("flags", &s.a);
    for (bit, key) in [
        (0x8000u16, "qr"),
        (0x0400, "aa"),
        (0x0200, "tc"),
        (0x0100, "rd"),
        (0x0080, "ra"),
        (0x0040, "z"),
    ] {
        if h.flags & bit != 0 {
            w.bool(key, true);
        }
    }
    w.u64("opcode", u64::from((h.flags >> 11) & 0x0f));
    rcode_text(msg.full_rcode(), &mut s.a);
    w.str("rcode", &s.a);
    let mut any = false;
    for q in msg
        .questions()
        .map_while(Result::ok)
        .take(MAX_LOGGED_RECORDS)
    {
        if !any {
            w.array("queries");
            any = true;
        }
        name_text(&q.name, &mut s.a);
        type_text(q.qtype, &mut s.b);
        w.begin_object()
            .str("rrname", &s.a)
            .str("rrtype", &s.b)
            .end_object();
    }
    if any {
        w.end_array();
    }
    if response {
        write_records(w, &ANSWERS, msg.answers(), s);
        write_grouped(w, msg, s);
        write_records(w, &AUTHORITIES, msg.authorities(), s);
    }
    write_records(w, &ADDITIONALS, msg.additionals(), s);
    w.end_object();
}

/// Reusable strings for names and record data while a `dns` object is
/// written (kept by the writer, so a message allocates nothing).
#[derive(Default)]
pub struct DnsText {
    a: String,
    b: String,
    c: String,
}

/// One record section of the EVE `dns` object and the structured record
/// forms Suricata's schema allows in it (its items are closed objects: an
/// `opt` list only in additionals, `soa` not in additionals, `srv` only in
/// answers). A record whose form the section does not allow is logged with
/// its name, type and TTL, which a crafted packet can ask for (an OPT
/// record among the answers, say).
struct Section {
    key: &'static str,
    soa: bool,
    srv: bool,
    opt: bool,
}

const ANSWERS: Section = Section {
    key: "answers",
    soa: true,
    srv: true,
    opt: false,
};
const AUTHORITIES: Section = Section {
    key: "authorities",
    soa: true,
    srv: false,
    opt: false,
};
const ADDITIONALS: Section = Section {
    key: "additionals",
    soa: false,
    srv: false,
    opt: true,
};

fn write_records(w: &mut JsonWriter<'_>, sec: &Section, recs: dns::Records<'_>, s: &mut DnsText) {
    let mut any = false;
    for r in recs.map_while(Result::ok).take(MAX_LOGGED_RECORDS) {
        if !any {
            w.array(sec.key);
            any = true;
        }
        name_text(&r.name, &mut s.a);
        type_text(r.rtype, &mut s.b);
        w.begin_object()
            .str("rrname", &s.a)
            .str("rrtype", &s.b)
            .u64("ttl", u64::from(r.ttl));
        match r.data() {
            Ok(Rdata::Soa(_)) if !sec.soa => {}
            Ok(Rdata::Srv { .. }) if !sec.srv => {}
            Ok(Rdata::Opt(_)) if !sec.opt => {}
            Ok(Rdata::Soa(soa)) => {
                w.object("soa");
                name_text(&soa.mname, &mut s.c);
                w.str("mname", &s.c);
                name_text(&soa.rname, &mut s.c);
                w.str("rname", &s.c)
                    .u64("serial", u64::from(soa.serial))
                    .u64("refresh", u64::from(soa.refresh))
                    .u64("retry", u64::from(soa.retry))
                    .u64("expire", u64::from(soa.expire))
                    .u64("minimum", u64::from(soa.minimum))
                    .end_object();
            }
            Ok(Rdata::Srv {
                priority,
                weight,
                port,
                target,
            }) => {
                name_text(&target, &mut s.c);
                w.object("srv")
                    .u64("priority", u64::from(priority))
                    .u64("weight", u64::from(weight))
                    .u64("port", u64::from(port))
                    .str("name", &s.c)
                    .end_object();
            }
            Ok(Rdata::Opt(edns)) => {
                let mut opened = false;
                for o in edns.options.clone().take(MAX_LOGGED_RECORDS) {
                    if !opened {
                        w.array("opt");
                        opened = true;
                    }
                    s.c.clear();
                    for b in o.data {
                        let _ = write!(s.c, "{b:02x}");
                    }
                    w.begin_object()
                        .u64("code", u64::from(o.code))
                        .str("data", &s.c)
                        .end_object();
                }
                if opened {
                    w.end_array();
                }
            }
            Ok(d) => {
                if rdata_text(&d, &mut s.c) {
                    w.str("rdata", &s.c);
                }
            }
            Err(_) => {}
        }
        w.end_object();
    }
    if any {
        w.end_array();
    }
}

/// Presentation text of simple record data; false when the type is logged
/// without `rdata` (as Suricata does for types it does not render).
pub fn rdata_text(d: &Rdata<'_>, out: &mut String) -> bool {
    out.clear();
    match d {
        Rdata::A(a) => {
            let _ = write!(out, "{a}");
        }
        Rdata::Aaaa(a) => expanded_v6(*a, out),
        Rdata::Cname(n) | Rdata::Ns(n) | Rdata::Ptr(n) => name_text(n, out),
        Rdata::Mx { exchange, .. } => name_text(exchange, out),
        Rdata::Txt(strings) => {
            for part in strings.clone() {
                out.push_str(&String::from_utf8_lossy(part));
            }
        }
        Rdata::Https(svcb) | Rdata::Svcb(svcb) => {
            let _ = write!(out, "{} ", svcb.priority);
            let mut t = String::new();
            name_text(&svcb.target, &mut t);
            out.push_str(if t.is_empty() { "." } else { &t });
            for p in svcb.params.clone() {
                match p.key.name() {
                    Some(n) => {
                        let _ = write!(out, " {n}");
                    }
                    None => {
                        let _ = write!(out, " key{}", p.key.0);
                    }
                }
                if let Ok(v) = p.decode() {
                    svc_value_text(&v, out);
                }
            }
        }
        _ => return false,
    }
    true
}

/// Writes `grouped`: answer data by type, for the types Suricata groups.
fn write_grouped(w: &mut JsonWriter<'_>, msg: &DnsMessage<'_>, s: &mut DnsText) {
    let groups = [
        DnsType::A,
        DnsType::AAAA,
        DnsType::CNAME,
        DnsType::TXT,
        DnsType::PTR,
        DnsType::MX,
        DnsType::NS,
    ];
    let mut opened = false;
    for g in groups {
        let mut arr = false;
        for r in msg
            .answers()
            .map_while(Result::ok)
            .take(MAX_LOGGED_RECORDS)
            .filter(|r| r.rtype == g)
        {
            let Ok(d) = r.data() else { continue };
            if !rdata_text(&d, &mut s.c) {
                continue;
            }
            if !opened {
                w.object("grouped");
                opened = true;
            }
            if !arr {
                type_text(g, &mut s.b);
                w.array_named(&s.b);
                arr = true;
            }
            w.elem_str(&s.c);
        }
        if arr {
            w.end_array();
        }
    }
    if opened {
        w.end_object();
    }
}

/// Appends `=value` of a SvcParam in presentation form (RFC 9460).
fn svc_value_text(v: &SvcParamValue<'_>, out: &mut String) {
    match v {
        SvcParamValue::NoDefaultAlpn => {}
        SvcParamValue::Mandatory(keys) => {
            out.push('=');
            for (i, k) in keys.clone().enumerate() {
                let sep = if i > 0 { "," } else { "" };
                match SvcParamKey(k).name() {
                    Some(n) => {
                        let _ = write!(out, "{sep}{n}");
                    }
                    None => {
                        let _ = write!(out, "{sep}key{k}");
                    }
                }
            }
        }
        SvcParamValue::Alpn(ids) => {
            out.push('=');
            for (i, id) in ids.clone().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&String::from_utf8_lossy(id));
            }
        }
        SvcParamValue::Port(p) => {
            let _ = write!(out, "={p}");
        }
        SvcParamValue::Ipv4Hint(a) => {
            out.push('=');
            for (i, ip) in a.clone().enumerate() {
                let _ = write!(out, "{}{ip}", if i > 0 { "," } else { "" });
            }
        }
        SvcParamValue::Ipv6Hint(a) => {
            out.push('=');
            for (i, ip) in a.clone().enumerate() {
                let _ = write!(out, "{}{ip}", if i > 0 { "," } else { "" });
            }
        }
        SvcParamValue::Ech(b) | SvcParamValue::Other(b) => {
            use base64::Engine as _;
            out.push('=');
            base64::engine::general_purpose::STANDARD.encode_string(b, out);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::pcap_file::PcapFile;
    use serde_json::Value;
    use virga_parsers::packet::{self, LinkType, Transport};

    /// Every DNS message in a real capture of the repository.
    fn messages() -> Vec<Vec<u8>> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/pcaps/clients/dns_anomalies.pcap"
        );
        let mut f = PcapFile::open(path).unwrap();
        let mut out = Vec::new();
        while let Some(p) = f.next_packet().unwrap() {
            let Ok(v) = packet::decode(LinkType(p.linktype), p.data) else {
                continue;
            };
            if let Transport::Udp(u) = v.transport {
                if (u.src_port == 53 || u.dst_port == 53) && u.payload.len() > 12 {
                    out.push(u.payload.to_vec());
                }
            }
        }
        out
    }

    fn counts(m: &[u8]) -> [u16; 3] {
        [6, 8, 10].map(|i| u16::from_be_bytes([m[i], m[i + 1]]))
    }

    /// The same records with the section counts set to `c` (answers,
    /// authorities, additionals): the records stay in place and are read as
    /// belonging to other sections, as a bit flip in the header does.
    fn recounted(m: &[u8], c: [u16; 3]) -> Vec<u8> {
        let mut m = m.to_vec();
        for (i, n) in [6, 8, 10].into_iter().zip(c) {
            m[i..i + 2].copy_from_slice(&n.to_be_bytes());
        }
        m
    }

    fn dns_object(payload: &[u8]) -> Value {
        let msg = dns::parse(payload).unwrap();
        let mut buf = Vec::new();
        let mut w = JsonWriter::new(&mut buf);
        w.begin_object();
        write_dns_object(&mut w, &msg, 0, &mut DnsText::default());
        w.end_object();
        serde_json::from_slice::<Value>(&buf).unwrap()["dns"].clone()
    }

    #[test]
    fn structured_record_forms_only_where_the_schema_allows_them() {
        let all = messages();
        // A message whose one additional is the EDNS OPT record (a cookie),
        // made a response (answers and authorities are logged for those).
        let mut with_opt = all
            .iter()
            .find(|m| {
                let [_, ns, ar] = counts(m);
                ns == 0 && ar == 1 && dns_object(m)["additionals"][0]["opt"].is_array()
            })
            .expect("a message with EDNS options")
            .clone();
        with_opt[2] |= 0x80;
        let [an, _, _] = counts(&with_opt);
        let as_authority = dns_object(&recounted(&with_opt, [an, 1, 0]));
        let as_answer = dns_object(&recounted(&with_opt, [an + 1, 0, 0]));
        for (rec, what) in [
            (&as_authority["authorities"][0], "authority"),
            (&as_answer["answers"][usize::from(an)], "answer"),
        ] {
            assert_eq!(rec["rrtype"], "OPT", "{what}: {rec}");
            assert!(rec.get("opt").is_none(), "{what}: {rec}");
        }
        // A real response with no records, given one SOA record after its
        // question (the capture's resolver sends none of its own).
        let mut with_soa = all
            .iter()
            .find(|m| m[2] & 0x80 != 0 && counts(m) == [0, 0, 0])
            .expect("a response without records")
            .clone();
        with_soa.extend_from_slice(&[0xc0, 0x0c, 0, 6, 0, 1, 0, 0, 0x0e, 0x10, 0, 31]);
        with_soa.extend_from_slice(&[2, b'n', b's', 0xc0, 0x0c, 3, b'd', b'n', b's', 0xc0, 0x0c]);
        with_soa.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0x1c, 0x20, 0, 0, 0x0e, 0x10]);
        with_soa.extend_from_slice(&[0, 0x12, 0x75, 0, 0, 0, 0x0e, 0x10]);
        let authority = dns_object(&recounted(&with_soa, [0, 1, 0]));
        assert_eq!(
            authority["authorities"][0]["soa"]["serial"], 1,
            "{authority}"
        );
        let moved = dns_object(&recounted(&with_soa, [0, 0, 1]));
        assert_eq!(moved["additionals"][0]["rrtype"], "SOA", "{moved}");
        assert!(moved["additionals"][0].get("soa").is_none(), "{moved}");
        // As an answer it keeps it, as Suricata's schema allows there.
        let answered = dns_object(&recounted(&with_soa, [1, 0, 0]));
        assert!(answered["answers"][0]["soa"].is_object(), "{answered}");
    }

    /// The root name is written as Suricata writes it: an empty string (its
    /// DNS parser gives the root no labels, and `rust/src/dns/log.rs` writes
    /// the name's bytes as they are), in the question and in every record
    /// name and name inside record data: `dig . NS` answered by the root's
    /// NS set, a null MX (RFC 7505) and an SRV "no service" target
    /// (RFC 2782), both `.`, and a SOA whose names are the root.
    #[test]
    fn the_root_is_an_empty_name_as_suricata_writes_it() {
        // The header of a real response of the capture, with one question and
        // seven answers: a root NS query and its answers.
        let real = messages()
            .into_iter()
            .find(|m| m[2] & 0x80 != 0)
            .expect("a response");
        let mut m = real[..12].to_vec();
        m[4..12].copy_from_slice(&[0, 1, 0, 7, 0, 0, 0, 0]);
        m.extend_from_slice(&[0, 0, 2, 0, 1]); // question: . NS IN
        let ttl = [0, 0, 0x0e, 0x10];
        let mut rr = |t: u16, rdata: &[u8]| {
            m.push(0); // owner: the root
            m.extend_from_slice(&t.to_be_bytes());
            m.extend_from_slice(&[0, 1]);
            m.extend_from_slice(&ttl);
            m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
            m.extend_from_slice(rdata);
        };
        rr(2, b"\x01a\x0croot-servers\x03net\x00"); // NS a.root-servers.net
        rr(2, &[0]); // NS .
        rr(5, &[0]); // CNAME .
        rr(12, &[0]); // PTR .
        rr(15, &[0, 0, 0]); // MX 0 .
        rr(33, &[0, 0, 0, 0, 0, 0, 0]); // SRV 0 0 0 .
        let mut soa = vec![0, 0]; // mname ., rname .
        soa.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0x1c, 0x20, 0, 0, 0x0e, 0x10]);
        soa.extend_from_slice(&[0, 0x12, 0x75, 0, 0, 0, 0x0e, 0x10]);
        rr(6, &soa);
        let o = dns_object(&m);
        assert_eq!(o["queries"][0]["rrname"], "", "{o}");
        assert_eq!(o["queries"][0]["rrtype"], "NS", "{o}");
        let answers = o["answers"].as_array().expect("answers");
        assert_eq!(answers.len(), 7, "{o}");
        for a in answers {
            assert_eq!(a["rrname"], "", "{a}");
        }
        assert_eq!(answers[0]["rdata"], "a.root-servers.net", "{o}");
        for a in &answers[1..5] {
            assert_eq!(a["rdata"], "", "{a}");
        }
        assert_eq!(answers[5]["srv"]["name"], "", "{o}");
        assert_eq!(answers[6]["soa"]["mname"], "", "{o}");
        assert_eq!(answers[6]["soa"]["rname"], "", "{o}");
        // Nothing else spells the root (no "." and no "<root>").
        let text = o.to_string();
        assert!(
            !text.contains("<root>") && !text.contains("\".\""),
            "{text}"
        );
    }
}
