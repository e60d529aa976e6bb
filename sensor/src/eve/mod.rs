//! EVE JSON, written the way Suricata 8 writes it: the only code in the
//! sensor that writes JSON. One file per event type, each serializing the
//! records (or alerts, or counters) it is about: [`dns`], [`tls`], [`quic`],
//! [`http`], [`flow`], [`alert`], [`stats`]; [`json`] is the streaming
//! writer they share. [`read`] reads alert lines back (for `virga report`).
//!
//! Each event is one line: the common head ([`Head`]) then the event's own
//! object. Field names, formats and nesting follow
//! `shared/eve/suricata-eve-schema.json`; the schema is closed, so virga's own
//! data on alerts goes in `alert.context.virga` only.
//!
//! Addresses are written in their standard text form (RFC 5952 for IPv6);
//! DNS AAAA data is written fully expanded, as Suricata does.

pub mod alert;
pub mod dns;
pub mod flow;
pub mod http;
pub mod json;
pub mod quic;
pub mod read;
pub mod stats;
pub mod tls;

use crate::flow::community_id::community_id_v1;
use crate::flow::key::Endpoint;
use crate::records::{FlowRef, PacketOrigin, PacketRef};
use crate::time::Timestamp;
use json::JsonWriter;
use std::fmt::Write as _;
use std::net::IpAddr;

/// Where the packets of an event came from, for `pcap_filename` / `in_iface`.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    /// Replay of a file: its path as given on the command line.
    File(&'a str),
    /// Live capture on an interface.
    Interface(&'a str),
}

/// The fields every flow-related EVE event starts with.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    /// Event time (packet time).
    pub ts: Timestamp,
    /// Suricata-style 51-bit flow id, shared by every event of the flow.
    pub flow_id: u64,
    /// Packet number in the file, for packet-triggered events.
    pub pcap_cnt: Option<u64>,
    /// `alert`, `tls`, `dns`, `quic`, `http`, `flow`.
    pub event_type: &'static str,
    /// Source as the logged transaction/packet goes.
    pub src: Endpoint,
    /// Destination as the logged transaction/packet goes.
    pub dst: Endpoint,
    /// IP protocol number.
    pub proto: u8,
    /// Community ID v1 of the flow, if it has one.
    pub community_id: Option<&'a str>,
}

/// Suricata's protocol name for an IP protocol number.
pub fn proto_name(p: u8) -> &'static str {
    match p {
        6 => "TCP",
        17 => "UDP",
        1 => "ICMP",
        58 => "IPv6-ICMP",
        132 => "SCTP",
        47 => "GRE",
        50 => "ESP",
        _ => "UNKNOWN",
    }
}

/// Writes the head of an event; the caller then writes its own fields and
/// calls [`finish`].
pub fn begin(w: &mut JsonWriter<'_>, h: &Head<'_>, scratch: &mut String) {
    scratch.clear();
    write_timestamp(h.ts, scratch);
    w.begin_object().str("timestamp", scratch);
    if h.flow_id != 0 {
        w.u64("flow_id", h.flow_id);
    }
    if let Some(c) = h.pcap_cnt {
        w.u64("pcap_cnt", c);
    }
    w.str("event_type", h.event_type);
    write_ip(w, "src_ip", h.src.ip, scratch);
    if matches!(h.proto, 6 | 17 | 132) {
        w.u64("src_port", u64::from(h.src.port));
    }
    write_ip(w, "dest_ip", h.dst.ip, scratch);
    if matches!(h.proto, 6 | 17 | 132) {
        w.u64("dest_port", u64::from(h.dst.port));
    }
    w.str("proto", proto_name(h.proto));
    w.u64("ip_v", if h.src.ip.is_ipv4() { 4 } else { 6 });
    w.str("pkt_src", "wire/pcap");
    if let Some(c) = h.community_id {
        w.str("community_id", c);
    }
}

/// Writes the trailing origin field and closes the event object.
pub fn finish(w: &mut JsonWriter<'_>, origin: Origin<'_>) {
    match origin {
        Origin::File(p) => w.str("pcap_filename", p),
        Origin::Interface(i) => w.str("in_iface", i),
    };
    w.end_object();
}

/// Writes the EVE form of a time, `YYYY-MM-DDTHH:MM:SS.ffffff+0000` (UTC,
/// microseconds, offset without a colon, as Suricata writes it).
pub fn write_timestamp(ts: Timestamp, out: &mut String) {
    let (y, mo, d, h, mi, s) = ts.civil();
    let Ok(year) = u32::try_from(y) else {
        // Before year 0 (and past 9999 below): the formatter's sign and
        // width.
        let _ = write!(
            out,
            "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:06}+0000",
            ts.subsec_micros()
        );
        return;
    };
    if year > 9999 {
        let _ = write!(
            out,
            "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:06}+0000",
            ts.subsec_micros()
        );
        return;
    }
    // Every EVE line starts with this: the digits go into a fixed layout
    // rather than through the formatter's padding machinery.
    let mut t = *b"0000-00-00T00:00:00.000000+0000";
    put_digits(&mut t[0..4], year);
    put_digits(&mut t[5..7], mo);
    put_digits(&mut t[8..10], d);
    put_digits(&mut t[11..13], h);
    put_digits(&mut t[14..16], mi);
    put_digits(&mut t[17..19], s);
    put_digits(&mut t[20..26], ts.subsec_micros());
    // Only ASCII digits were written into an ASCII layout.
    out.push_str(std::str::from_utf8(&t).unwrap_or_default());
}

/// Writes the low `field.len()` decimal digits of `v` into `field`.
fn put_digits(field: &mut [u8], mut v: u32) {
    for b in field.iter_mut().rev() {
        // The remainder is below 10: the cast cannot truncate.
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Writes `v` in decimal, zero-padded to at least `width` digits (as
/// `{v:0width$}`).
fn push_digits(out: &mut String, v: u32, width: usize) {
    let mut digits = [b'0'; 10];
    let mut n = v;
    let mut len = 0;
    while n > 0 || len == 0 {
        // The remainder is below 10: the cast cannot truncate.
        digits[len] = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
    }
    for _ in len..width {
        out.push('0');
    }
    for &b in digits[..len].iter().rev() {
        out.push(char::from(b));
    }
}

/// The packet time and `event_type` of a line this module wrote, read back
/// from its common head (`{"timestamp":"YYYY-MM-DDTHH:MM:SS.ffffff+0000",`
/// first, `event_type` within the first 256 bytes): the EVE writer uses it
/// to measure how late lines are. `None` for anything else.
pub fn line_head(line: &[u8]) -> Option<(Timestamp, &[u8])> {
    const TS: &[u8] = b"{\"timestamp\":\"";
    const TYPE: &[u8] = b"\"event_type\":\"";
    let t = line.strip_prefix(TS)?.get(..31)?;
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        t.get(r)?.iter().try_fold(0u64, |acc, b| {
            b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
        })
    };
    let sep = |i: usize, c: u8| t.get(i) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':'))
        || !(sep(19, b'.') && t.get(26..31) == Some(&b"+0000"[..]))
    {
        return None;
    }
    let days = crate::time::days_from_civil(
        i64::try_from(num(0..4)?).ok()?,
        u32::try_from(num(5..7)?).ok()?,
        u32::try_from(num(8..10)?).ok()?,
    )?;
    let secs =
        u64::try_from(days).ok()? * 86_400 + num(11..13)? * 3600 + num(14..16)? * 60 + num(17..19)?;
    let ts = Timestamp(secs * 1_000_000_000 + num(20..26)? * 1_000);
    let head = line.get(..line.len().min(256))?;
    let at = head.windows(TYPE.len()).position(|w| w == TYPE)? + TYPE.len();
    let rest = head.get(at..)?;
    let end = rest.iter().position(|b| *b == b'"')?;
    Some((ts, rest.get(..end)?))
}

/// The EVE form of a time as a new string.
pub fn timestamp_text(ts: Timestamp) -> String {
    let mut s = String::with_capacity(31);
    write_timestamp(ts, &mut s);
    s
}

/// Writes an address field in its standard text form.
pub fn write_ip(w: &mut JsonWriter<'_>, key: &'static str, ip: IpAddr, scratch: &mut String) {
    scratch.clear();
    match ip {
        // Dotted quad, digit by digit (two on every line).
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    scratch.push('.');
                }
                push_digits(scratch, u32::from(octet), 1);
            }
        }
        IpAddr::V6(_) => {
            let _ = write!(scratch, "{ip}");
        }
    }
    w.str(key, scratch);
}

/// Writes an IPv6 address fully expanded (`0000:0000:...:0001`), as Suricata
/// logs AAAA data.
pub fn expanded_v6(ip: std::net::Ipv6Addr, out: &mut String) {
    for (i, seg) in ip.segments().iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        let _ = write!(out, "{seg:04x}");
    }
}

/// A worker's EVE lines: each record it logs is serialized here into a
/// buffer of complete lines, which the worker hands to the output.
pub struct EventLines {
    /// Complete lines (each ending in `\n`) not yet handed on.
    pub out: Vec<u8>,
    origin: PacketOrigin,
    community_id_seed: u16,
    scratch: String,
    dns: dns::DnsText,
}

impl EventLines {
    /// An empty buffer; events carry Community IDs with `community_id_seed`.
    pub fn new(community_id_seed: u16) -> EventLines {
        EventLines {
            out: Vec::with_capacity(64 * 1024),
            origin: PacketOrigin::default(),
            community_id_seed,
            scratch: String::with_capacity(64),
            dns: dns::DnsText::default(),
        }
    }

    /// Sets where the following packets come from (`pcap_filename` or
    /// `in_iface` of their events).
    pub fn set_origin(&mut self, origin: PacketOrigin) {
        self.origin = origin;
    }

    /// Where the current packets come from.
    pub fn origin(&self) -> &PacketOrigin {
        &self.origin
    }

    /// Sets the Community ID seed (a reload may change it).
    pub fn set_community_id_seed(&mut self, seed: u16) {
        self.community_id_seed = seed;
    }

    /// Writes one event: the head for `flow` (in the event's direction),
    /// then `body` for the event's own fields, then the origin.
    fn event(
        &mut self,
        event_type: &'static str,
        flow: &FlowRef,
        pkt: Option<PacketRef>,
        ts: Timestamp,
        body: impl FnOnce(&mut JsonWriter<'_>),
    ) {
        let t = &flow.tuple;
        let cid = community_id_v1(
            self.community_id_seed,
            t.src.ip,
            t.dst.ip,
            t.proto,
            t.src.port,
            t.dst.port,
        );
        let head = Head {
            ts,
            flow_id: flow.flow_id,
            pcap_cnt: pkt.map(|p| p.pcap_cnt),
            event_type,
            src: t.src,
            dst: t.dst,
            proto: t.proto,
            community_id: cid.as_deref(),
        };
        let mut w = JsonWriter::new(&mut self.out);
        begin(&mut w, &head, &mut self.scratch);
        body(&mut w);
        finish(&mut w, Origin::of(&self.origin));
        self.out.push(b'\n');
    }
}

impl<'a> Origin<'a> {
    /// The origin field of packets from `o`.
    pub fn of(o: &'a PacketOrigin) -> Origin<'a> {
        if o.live {
            Origin::Interface(&o.name)
        } else {
            Origin::File(&o.name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The digit writers give what the formatter gives, over times from
    /// 1970 to past 9999 and every kind of IPv4 address.
    #[test]
    fn timestamps_and_addresses_are_written_as_the_formatter_writes_them() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let secs = match i % 4 {
                0 => x % 4_000_000_000,
                1 => x % 300_000_000_000,
                2 => i,
                _ => 253_402_300_799 + (x % 1_000),
            };
            let ts = Timestamp::from_secs_nanos(secs as i64, (x % 1_000_000_000) as u32);
            let (y, mo, d, h, mi, s) = ts.civil();
            let want = format!(
                "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:06}+0000",
                ts.subsec_micros()
            );
            let mut got = String::new();
            write_timestamp(ts, &mut got);
            assert_eq!(got, want);
            let ip = IpAddr::V4(std::net::Ipv4Addr::from((x >> 11) as u32 >> (i % 32)));
            let mut buf = Vec::new();
            let mut scratch = String::new();
            let mut w = JsonWriter::new(&mut buf);
            w.begin_object();
            write_ip(&mut w, "ip", ip, &mut scratch);
            w.end_object();
            assert_eq!(
                String::from_utf8(buf).unwrap(),
                format!("{{\"ip\":\"{ip}\"}}")
            );
        }
    }

    #[test]
    fn head_matches_suricata_layout() {
        let mut buf = Vec::new();
        let mut scratch = String::new();
        let mut w = JsonWriter::new(&mut buf);
        let h = Head {
            ts: Timestamp::from_secs_nanos(1_795_963_213, 622_303_000),
            flow_id: 1_476_414_780_417_689,
            pcap_cnt: Some(7),
            event_type: "tls",
            src: Endpoint {
                ip: "127.0.0.1".parse().unwrap(),
                port: 34150,
            },
            dst: Endpoint {
                ip: "127.0.0.1".parse().unwrap(),
                port: 8443,
            },
            proto: 6,
            community_id: Some("1:nMy0/bHyVsPisM39TJvB5hiuMyo="),
        };
        begin(&mut w, &h, &mut scratch);
        finish(&mut w, Origin::File("pcaps/x.pcap"));
        let s = String::from_utf8(buf).unwrap();
        assert_eq!(
            s,
            r#"{"timestamp":"2026-11-29T14:40:13.622303+0000","flow_id":1476414780417689,"pcap_cnt":7,"event_type":"tls","src_ip":"127.0.0.1","src_port":34150,"dest_ip":"127.0.0.1","dest_port":8443,"proto":"TCP","ip_v":4,"pkt_src":"wire/pcap","community_id":"1:nMy0/bHyVsPisM39TJvB5hiuMyo=","pcap_filename":"pcaps/x.pcap"}"#
        );
    }

    #[test]
    fn timestamps_match_suricata() {
        // 2026-11-29T14:40:13.622303+0000 is in shared/eve/examples/alert.json.
        let ts = Timestamp::from_secs_nanos(1_795_963_213, 622_303_456);
        assert_eq!(timestamp_text(ts), "2026-11-29T14:40:13.622303+0000");
        assert_eq!(
            timestamp_text(Timestamp(0)),
            "1970-01-01T00:00:00.000000+0000"
        );
    }

    #[test]
    fn aaaa_is_expanded() {
        let mut s = String::new();
        expanded_v6("::1".parse().unwrap(), &mut s);
        assert_eq!(s, "0000:0000:0000:0000:0000:0000:0000:0001");
    }

    /// `line_head` reads back what the head writer wrote: a real line of
    /// Suricata's own output (`shared/eve/examples/dns.json`, its head) and
    /// a line virga writes; anything else is `None`.
    #[test]
    fn line_head_reads_the_common_head_back() {
        let dns = br#"{"timestamp":"2026-11-29T14:40:16.717353+0000","flow_id":266261652586704,"pcap_cnt":3,"event_type":"dns","src_ip":"127.0.0.1"}"#;
        assert_eq!(
            line_head(dns),
            Some((Timestamp(1_795_963_216_717_353_000), &b"dns"[..]))
        );
        let ts = Timestamp::from_secs_nanos(1_772_409_600, 123_456_000);
        let mut line = String::from("{\"timestamp\":\"");
        write_timestamp(ts, &mut line);
        line.push_str("\",\"event_type\":\"stats\"}");
        assert_eq!(line_head(line.as_bytes()), Some((ts, &b"stats"[..])));
        for bad in [
            &b""[..],
            b"{\"timestamp\":\"2026-11-29T14:40:16.717353+0100\",\"event_type\":\"dns\"}",
            b"{\"timestamp\":\"2026-11-29 14:40:16.717353+0000\",\"event_type\":\"dns\"}",
            b"{\"timestamp\":\"2026-13-29T14:40:16.717353+0000\",\"event_type\":\"dns\"}",
            b"{\"flow_id\":1,\"timestamp\":\"2026-11-29T14:40:16.717353+0000\"}",
            b"{\"timestamp\":\"2026-11-29T14:40:16.717353+0000\"}",
        ] {
            assert_eq!(line_head(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}
