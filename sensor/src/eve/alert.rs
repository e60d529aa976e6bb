//! EVE `alert` events, in Suricata 8's format, from the detectors' alerts.
//!
//! `alert.metadata` carries the ATT&CK tags as arrays of strings (as
//! Suricata's rule metadata), and virga's own data goes in
//! `alert.context.virga` (the only open object of an alert; its members are
//! published in docs/eve-virga-extension.schema.json). An alert about a TLS
//! or QUIC connection carries the connection's `tls` or `quic` object, client
//! side, as Suricata does.

use super::json::JsonWriter;
use super::{begin, finish, Head, Origin};
use crate::detect::alert::{Alert, ConnAlert, DnsAlert, Rule};
use crate::flow::community_id::community_id_v1;
use crate::flow::key::Endpoint;
use crate::records::{AppProto, BeatSource, ConnStart, NameSource, PacketOrigin, Process};
use crate::time::Timestamp;
use virga_parsers::fingerprint::Transport;
use virga_parsers::quic::QuicVersion;

/// Where an alert happened: the flow it is about, client to server.
struct Place<'a> {
    ts: Timestamp,
    client: Endpoint,
    server: Endpoint,
    proto: u8,
    flow_id: u64,
    pcap_cnt: u64,
    origin: &'a PacketOrigin,
}

/// Writes one alert line (with its newline) into `out`; Community IDs use
/// `seed`.
pub fn write(out: &mut Vec<u8>, seed: u16, alert: &Alert<'_>) {
    match alert {
        Alert::Conn(a) => write_conn(out, seed, a),
        Alert::Dns(a) => write_dns(out, seed, a),
    }
}

fn write_conn(out: &mut Vec<u8>, seed: u16, a: &ConnAlert<'_>) {
    let c = a.conn;
    let place = Place {
        ts: c.packet.ts,
        client: c.client,
        server: c.server,
        proto: c.proto,
        flow_id: c.flow_id,
        pcap_cnt: c.packet.pcap_cnt,
        origin: &c.origin,
    };
    let context = |w: &mut JsonWriter<'_>| {
        w.str("detector", a.detector.name());
        write_conn_context(w, a);
        if let Some(b) = a.beacon {
            let mut t = String::new();
            w.u64("beats", u64::from(b.beats))
                .u64("connections", b.connections);
            w.array("beat_sources");
            for src in BeatSource::ALL {
                if b.beat_sources & src.bit() != 0 {
                    w.elem_str(src.name());
                }
            }
            w.end_array()
                .f64("period_secs", b.period_secs)
                .f64("jitter", b.jitter)
                .array("band_secs")
                .elem_f64(b.band_secs.0)
                .elem_f64(b.band_secs.1)
                .end_array()
                .f64("periodicity", b.periodicity)
                .u64("missed_beats", u64::from(b.missed_beats))
                .u64("pauses", u64::from(b.pauses))
                .u64("beats_to_detect", u64::from(b.beats_to_detect))
                .bool("repeat", b.repeat);
            super::write_timestamp(b.first_seen, &mut t);
            w.str("first_seen", &t);
            t.clear();
            super::write_timestamp(b.last_seen, &mut t);
            w.str("last_seen", &t);
            w.array("recent_intervals");
            for i in &b.recent_intervals {
                w.elem_f64((i * 1000.0).round() / 1000.0);
            }
            w.end_array();
            w.array("beat_times");
            for t in &b.beat_times {
                w.elem_f64((t * 1000.0).round() / 1000.0);
            }
            w.end_array();
        }
    };
    let after = |w: &mut JsonWriter<'_>| {
        w.str("app_proto", conn_app_proto(c));
        let Some(h) = &c.hello else {
            return;
        };
        let Ok(ch) = virga_parsers::tls::parse_client_hello(&h.message) else {
            return;
        };
        match h.transport {
            Transport::Quic => {
                super::quic::write_quic_object(w, &ch, h.quic_version.unwrap_or(QuicVersion::V1))
            }
            _ => super::tls::write_tls_object(w, &ch, None, Some(&h.ja4)),
        }
    };
    write_alert(out, seed, &place, a.rule, context, after);
}

/// The alert's `app_proto`: QUIC for UDP, HTTP for a name from the Host
/// header, else TLS (a TCP connection named from DNS included).
fn conn_app_proto(c: &ConnStart) -> &'static str {
    match (c.proto, c.name_source) {
        (17, _) => AppProto::Quic.name(),
        (_, NameSource::HttpHost) => AppProto::Http.name(),
        _ => AppProto::Tls.name(),
    }
}

/// The common members of `alert.context.virga` for a connection.
fn write_conn_context(w: &mut JsonWriter<'_>, a: &ConnAlert<'_>) {
    let c = a.conn;
    w.str("server_name", &c.name)
        .str("name_source", c.name_source.name())
        .str("platform", a.platform.map_or("none", |p| p.id()))
        .f64("score", a.score)
        .str("client_class", c.client_class.name());
    let mut reasons = c.class_reasons.names().peekable();
    if reasons.peek().is_some() {
        w.array("client_reasons");
        for r in reasons {
            w.elem_str(r);
        }
        w.end_array();
    }
    if let Some(h) = &c.hello {
        w.str("ja4", &h.ja4);
    }
    w.u64("prevalence", u64::from(a.prevalence));
    if !a.zeek_uids.is_empty() {
        w.array("zeek_uids");
        for u in a.zeek_uids {
            w.elem_str(u);
        }
        w.end_array();
    }
    if let Some(p) = &c.process {
        write_process(w, p);
    }
    if !a.images.is_empty() {
        w.array("process_images");
        for i in a.images {
            w.elem_str(i);
        }
        w.end_array();
    }
}

/// `alert.context.virga.process`: the process host events name, or the
/// candidates when several programs match (`ambiguous`, no choice made).
fn write_process(w: &mut JsonWriter<'_>, p: &Process) {
    w.object("process");
    match p {
        Process::Known(k) => {
            w.str("image", &k.image);
            if let Some(pid) = k.pid {
                w.u64("pid", u64::from(pid));
            }
            if let Some(u) = &k.user {
                w.str("user", u);
            }
            if let Some(h) = &k.host {
                w.str("host", h);
            }
            w.str("event", k.event.name()).i64("skew_ms", k.skew_ms);
        }
        Process::Ambiguous { images, event } => {
            w.bool("ambiguous", true).array("images");
            for i in images.iter() {
                w.elem_str(i);
            }
            w.end_array().str("event", event.name());
        }
    }
    w.end_object();
}

fn write_dns(out: &mut Vec<u8>, seed: u16, a: &DnsAlert<'_>) {
    let d = a.lookup;
    let an = a.anomaly;
    let place = Place {
        ts: d.packet.ts,
        client: Endpoint {
            ip: d.client,
            port: d.client_port,
        },
        server: d.server,
        proto: 17,
        flow_id: d.flow_id,
        pcap_cnt: d.packet.pcap_cnt,
        origin: &d.origin,
    };
    let context = |w: &mut JsonWriter<'_>| {
        w.str("detector", "dns")
            .str("server_name", &an.name)
            .str("platform", &an.platform)
            .str("kind", an.kind.name())
            .f64("score", an.score);
        if let Some(acct) = &an.account {
            w.str("account", acct);
        }
        w.object("evidence")
            .u64("count", u64::from(an.evidence.count))
            .u64("threshold", u64::from(an.evidence.threshold))
            .u64("window_secs", an.evidence.window_secs)
            .f64("span_secs", an.evidence.span_secs)
            .array("examples");
        for e in &an.evidence.examples {
            w.elem_str(e);
        }
        w.end_array().end_object();
        if let Some(p) = &d.process {
            write_process(w, p);
        }
    };
    let after = |w: &mut JsonWriter<'_>| {
        w.str("app_proto", AppProto::Dns.name());
    };
    write_alert(out, seed, &place, a.rule, context, after);
}

/// Writes an alert: the head for `place`, the rule and ATT&CK metadata,
/// `alert.context.virga` (`context`), then the event's own members
/// (`after`) and the origin.
fn write_alert(
    out: &mut Vec<u8>,
    seed: u16,
    place: &Place<'_>,
    rule: &Rule,
    context: impl FnOnce(&mut JsonWriter<'_>),
    after: impl FnOnce(&mut JsonWriter<'_>),
) {
    let (src, dst) = (place.client, place.server);
    let cid = community_id_v1(seed, src.ip, dst.ip, place.proto, src.port, dst.port);
    let head = Head {
        ts: place.ts,
        flow_id: place.flow_id,
        pcap_cnt: Some(place.pcap_cnt),
        event_type: "alert",
        src,
        dst,
        proto: place.proto,
        community_id: cid.as_deref(),
    };
    let mut scratch = String::new();
    let mut w = JsonWriter::new(out);
    begin(&mut w, &head, &mut scratch);
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
    after(&mut w);
    finish(&mut w, Origin::of(place.origin));
    out.push(b'\n');
}
