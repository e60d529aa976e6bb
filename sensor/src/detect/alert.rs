//! EVE `alert` events, in Suricata 8's format.
//!
//! Signature ids are in virga's range 9 400 000–9 400 099 (see
//! docs/detection.md for the table); `alert.metadata` carries the ATT&CK
//! tags as arrays of strings (as Suricata's rule metadata), and virga's own
//! data goes in `alert.context.virga` (the only open object of an alert).

use crate::flow::key::{Endpoint, Tuple};
use crate::output::eve::{self, Head, Origin};
use crate::output::json::JsonWriter;
use crate::time::Timestamp;
use std::net::IpAddr;

/// Base of virga's signature ids.
pub const SID_BASE: u32 = 9_400_000;
/// Beaconing to a serverless name.
pub const SID_BEACON: u32 = SID_BASE + 1;
/// Beaconing to a serverless name from a non-browser client.
pub const SID_BEACON_NON_BROWSER: u32 = SID_BASE + 2;
/// Non-browser client to a serverless endpoint.
pub const SID_NON_BROWSER_CLIENT: u32 = SID_BASE + 10;
/// First id of the DNS anomaly signatures (one per kind).
pub const SID_DNS_BASE: u32 = SID_BASE + 20;

/// One alert's rule part.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Signature id.
    pub sid: u32,
    /// Signature text (names the platform).
    pub signature: String,
    /// Category (classtype description).
    pub category: &'static str,
    /// Severity, 1 (highest) to 3.
    pub severity: u8,
}

/// Where the alert happened: the flow of the latest connection.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    /// Alert time (packet time).
    pub ts: Timestamp,
    /// Client.
    pub client: IpAddr,
    /// Server.
    pub server: Endpoint,
    /// Client port.
    pub client_port: u16,
    /// IP protocol.
    pub proto: u8,
    /// Flow id.
    pub flow_id: u64,
    /// Packet number.
    pub pcap_cnt: u64,
    /// `pcap_filename` or `in_iface`.
    pub origin: &'a str,
    /// True for live capture.
    pub live: bool,
    /// Application protocol of the flow (`tls`, `quic`, `dns`, `http`).
    pub app_proto: &'a str,
    /// Rendered `"tls":{...}` or `"quic":{...}` member, if any.
    pub app_json: Option<&'a str>,
}

/// Writes one alert line into `out`. `context` writes the members of
/// `alert.context.virga`.
pub fn write(
    out: &mut Vec<u8>,
    seed: u16,
    place: &Place<'_>,
    rule: &Rule,
    context: impl FnOnce(&mut JsonWriter<'_>),
) {
    let tuple = Tuple {
        src: Endpoint {
            ip: place.client,
            port: place.client_port,
        },
        dst: place.server,
        proto: place.proto,
    };
    let cid = crate::flow::community_id::community_id_v1(
        seed,
        tuple.src.ip,
        tuple.dst.ip,
        tuple.proto,
        tuple.src.port,
        tuple.dst.port,
    );
    let head = Head {
        ts: place.ts,
        flow_id: place.flow_id,
        pcap_cnt: Some(place.pcap_cnt),
        event_type: "alert",
        src: tuple.src,
        dst: tuple.dst,
        proto: tuple.proto,
        community_id: cid.as_deref(),
    };
    let mut scratch = String::new();
    let mut w = JsonWriter::new(out);
    eve::begin(&mut w, &head, &mut scratch);
    w.object("alert")
        .str("action", "allowed")
        .u64("gid", 1)
        .u64("signature_id", u64::from(rule.sid))
        .u64("rev", 1)
        .str("signature", &rule.signature)
        .str("category", rule.category)
        .u64("severity", u64::from(rule.severity));
    w.object("metadata")
        .array("mitre_technique_id")
        .elem_str("T1583.007")
        .elem_str("T1071.001")
        .end_array()
        .array("mitre_technique_name")
        .elem_str("Acquire Infrastructure: Serverless")
        .elem_str("Application Layer Protocol: Web Protocols")
        .end_array()
        .array("mitre_tactic_id")
        .elem_str("TA0042")
        .elem_str("TA0011")
        .end_array()
        .array("affected_product")
        .elem_str("Serverless")
        .end_array()
        .end_object();
    w.object("context").object("virga");
    context(&mut w);
    w.end_object().end_object().end_object();
    w.str("app_proto", place.app_proto);
    if let Some(j) = place.app_json {
        w.raw_member(j);
    }
    let origin = if place.live {
        Origin::Interface(place.origin)
    } else {
        Origin::File(place.origin)
    };
    eve::finish(&mut w, origin);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_line_has_suricata_shape() {
        let mut out = Vec::new();
        let place = Place {
            ts: Timestamp::from_secs_nanos(1_772_409_600, 0),
            client: "10.66.0.101".parse().unwrap(),
            server: Endpoint {
                ip: "10.77.0.21".parse().unwrap(),
                port: 443,
            },
            client_port: 40000,
            proto: 6,
            flow_id: 42,
            pcap_cnt: 7,
            origin: "x.pcap",
            live: false,
            app_proto: "tls",
            app_json: Some(r#""tls":{"sni":"a.b.workers.dev","version":"TLS 1.3"}"#),
        };
        let rule = Rule {
            sid: SID_BEACON,
            signature: "VIRGA beaconing to Cloudflare Workers".into(),
            category: "A Network Trojan was detected",
            severity: 2,
        };
        write(&mut out, 0, &place, &rule, |w| {
            w.str("detector", "beacon").f64("score", 0.9);
        });
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["event_type"], "alert");
        assert_eq!(v["alert"]["signature_id"], 9_400_001);
        assert_eq!(v["alert"]["metadata"]["mitre_technique_id"][0], "T1583.007");
        assert_eq!(v["alert"]["context"]["virga"]["detector"], "beacon");
        assert_eq!(v["tls"]["sni"], "a.b.workers.dev");
        assert_eq!(v["src_ip"], "10.66.0.101");
        assert!(v["community_id"].as_str().unwrap().starts_with("1:"));
    }
}
