//! EVE JSON events, written the way Suricata 8 writes them.
//!
//! Each event is one line: the common head ([`Head`]) then the event's own
//! object. Field names, formats and nesting follow
//! `shared/eve/suricata-eve-schema.json`; the schema is closed, so virga's own
//! data on alerts goes in `alert.context.virga` only.
//!
//! Addresses are written in their standard text form (RFC 5952 for IPv6);
//! DNS AAAA data is written fully expanded, as Suricata does.

use crate::flow::key::Endpoint;
use crate::output::json::JsonWriter;
use crate::time::Timestamp;
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
    h.ts.write_eve(scratch);
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

/// Writes an address field in its standard text form.
pub fn write_ip(w: &mut JsonWriter<'_>, key: &str, ip: IpAddr, scratch: &mut String) {
    use std::fmt::Write as _;
    scratch.clear();
    let _ = write!(scratch, "{ip}");
    w.str(key, scratch);
}

/// Writes an IPv6 address fully expanded (`0000:0000:...:0001`), as Suricata
/// logs AAAA data.
pub fn expanded_v6(ip: std::net::Ipv6Addr, out: &mut String) {
    use std::fmt::Write as _;
    for (i, seg) in ip.segments().iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        let _ = write!(out, "{seg:04x}");
    }
}

/// Suricata-style 51-bit flow id from the flow key's hash and its start time,
/// so that it is stable across runs and worker counts.
pub fn flow_id(key_hash: u64, start: Timestamp) -> u64 {
    let mixed = key_hash ^ start.0.rotate_left(17).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let id = mixed & ((1u64 << 51) - 1);
    id.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn aaaa_is_expanded() {
        let mut s = String::new();
        expanded_v6("::1".parse().unwrap(), &mut s);
        assert_eq!(s, "0000:0000:0000:0000:0000:0000:0000:0001");
    }

    #[test]
    fn flow_id_fits_51_bits_and_is_stable() {
        let a = flow_id(0xdead_beef_dead_beef, Timestamp(123_456_789));
        assert!(a < 1 << 51 && a > 0);
        assert_eq!(a, flow_id(0xdead_beef_dead_beef, Timestamp(123_456_789)));
        assert_ne!(a, flow_id(0xdead_beef_dead_beef, Timestamp(123_456_790)));
    }
}
