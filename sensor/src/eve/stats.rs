//! `stats` events: the sensor's counters, summed over the capture thread and
//! every worker, written every `output.stats_interval_secs` of packet time and
//! once at the end, in Suricata 8's `stats` layout (the schema is closed, so
//! only Suricata's own counter names are used; virga's own counters go in
//! `stats.virga`, published in docs/eve-virga-extension.schema.json).

use super::json::JsonWriter;
use crate::telemetry::snapshot::Snapshot;

/// Writes a complete `stats` event line (with its newline) into `out`.
pub fn write_event(out: &mut Vec<u8>, snap: &Snapshot) {
    let c = &snap.counters;
    let mut t = String::new();
    super::write_timestamp(snap.ts, &mut t);
    let mut w = JsonWriter::new(out);
    w.begin_object()
        .str("timestamp", &t)
        .str("event_type", "stats");
    w.object("stats").u64("uptime", snap.uptime_secs);
    w.object("capture")
        .u64("kernel_packets", c.capture.received)
        .u64("kernel_drops", c.capture.kernel_drops)
        .u64("kernel_ifdrops", c.capture.interface_drops)
        .end_object();
    let d = &c.decode;
    w.object("decoder")
        .u64("pkts", d.packets)
        .u64("bytes", d.bytes)
        .u64("invalid", d.decode_errors + d.not_ip)
        .u64("ipv4", d.ipv4)
        .u64("ipv6", d.ipv6)
        .u64("tcp", d.tcp)
        .u64("udp", d.udp)
        .end_object();
    w.object("flow")
        .u64("total", c.flows.created)
        .u64("active", c.flows_active)
        .object("mgr")
        .u64("flows_evicted", c.flows.evicted)
        .u64("flows_timeout", c.flows.timed_out)
        .end_object()
        .end_object();
    w.object("tcp")
        .u64("reassembly_memuse", c.flight_memuse)
        .u64("segment_memcap_drop", c.flight_memcap_drops)
        .end_object();
    w.object("defrag")
        .object("ipv4")
        .u64("fragments", d.fragments)
        .u64("reassembled", d.reassembled)
        .u64("timeouts", c.defrag_timeouts)
        .end_object()
        .end_object();
    w.object("detect")
        .u64("alert", c.alerts)
        .u64("alerts_suppressed", c.alerts_suppressed)
        .end_object();
    let a = &c.app;
    w.object("app_layer")
        .object("tx")
        .u64("dns_udp", a.dns_messages)
        .u64("tls", a.tls_client_hellos)
        .u64("quic", a.quic_client_hellos)
        .u64("http", a.http_requests)
        .end_object()
        .object("error");
    for (k, v) in [
        ("dns_udp", a.dns_errors),
        ("tls", a.tls_errors),
        ("quic", a.quic_errors),
        ("http", a.http_errors),
    ] {
        w.object(k).u64("parser", v).end_object();
    }
    w.end_object().end_object();
    if c.engine.is_some() || c.output.is_some() {
        // virga's own counters: `stats.virga`, published in
        // docs/eve-virga-extension.schema.json (the stock schema is closed).
        w.object("virga");
        if let Some(e) = &c.engine {
            w.object("suppressed")
                .u64("allowlist", e.suppressed_allowlist)
                .u64("client_quiet", e.suppressed_quiet)
                .u64("beacon_browser_held", e.beacon_browser_held)
                .u64("dns_new_account", e.dns_new_accounts)
                .end_object()
                .object("alerts")
                .u64("beacon", e.alerts_beacon)
                .u64("client", e.alerts_client)
                .u64("dns", e.alerts_dns)
                .end_object()
                .u64("serverless_connections", e.serverless_conns)
                .u64("prevalence_local", e.prevalence_local)
                .object("evicted")
                .u64("beacon_pairs", e.beacon_pairs_evicted)
                .u64("dns_tracks", e.dns_tracks_evicted)
                .u64("dns_accounts", e.dns_accounts_evicted)
                .end_object();
            if e.attribution_on {
                w.object("attribution")
                    .u64("events", e.attribution_events)
                    .u64("skipped", e.attribution_skipped)
                    .u64("bad", e.attribution_bad)
                    .u64("named", e.attribution_named)
                    .u64("ambiguous", e.attribution_ambiguous)
                    .u64("unmatched", e.attribution_unmatched)
                    .u64("evicted", e.attribution_evicted)
                    .end_object();
            }
        }
        if let Some(h) = &c.hunt {
            w.object("hunt")
                .u64("files", h.files)
                .u64("files_read", h.files_read)
                .u64("lines", h.lines)
                .u64("rows", h.rows)
                .u64("bad_lines", h.bad_lines)
                .u64("other_lines", h.other_lines)
                .u64("conn_starts", h.conn_starts)
                .u64("beats_inside", h.beats_inside)
                .u64("dns_lookups", h.dns_lookups)
                .u64("unnamed", h.unnamed)
                .u64("late_rows", h.late_rows)
                .u64("late_records", h.late_records)
                .u64("join_evicted", h.join_evicted)
                .end_object();
        }
        w.u64("queue_drops", c.queue_drops)
            .object("names")
            .u64("learned", c.names.learned)
            .u64("hits", c.names.hits)
            .u64("evicted", c.names.evicted)
            .end_object();
        if let Some(o) = &c.output {
            w.object("output")
                .u64("lines", o.lines)
                .u64("write_errors", o.write_errors)
                .u64("lines_lost", o.lost_lines)
                .u64("socket_lost_lines", o.socket_lost_lines)
                .u64("redis_lost_lines", o.redis_lost_lines)
                .u64("lag_batches", o.lag_batches)
                .end_object();
            // Wall-clock delays: live runs only, so a replay's output does
            // not depend on when it ran.
            if !o.latency.is_empty() {
                w.object("latency");
                for (kind, q) in o.latency.iter() {
                    w.object(kind)
                        .u64("count", q.count)
                        .u64("p50_us", q.p50_us)
                        .u64("p99_us", q.p99_us)
                        .u64("max_us", q.max_us)
                        .end_object();
                }
                w.end_object();
            }
        }
        w.end_object();
    }
    w.end_object().end_object();
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::{Counters, EngineStats, WriterCounters};
    use crate::time::Timestamp;

    fn line(counters: Counters) -> serde_json::Value {
        let snap = Snapshot {
            ts: Timestamp::from_secs_nanos(1_800_000_000, 0),
            uptime_secs: 60,
            counters,
        };
        let mut out = Vec::new();
        write_event(&mut out, &snap);
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1);
        assert_eq!(out.last(), Some(&b'\n'));
        serde_json::from_slice(&out).unwrap()
    }

    #[test]
    fn suricata_counters_and_virga_extension() {
        let plain = line(Counters::default());
        assert_eq!(plain["event_type"], "stats");
        assert_eq!(plain["stats"]["uptime"], 60);
        assert_eq!(plain["timestamp"], "2027-01-15T08:00:00.000000+0000");
        // Without the detection stage's or the writer's counters there is
        // no `stats.virga`.
        assert!(plain["stats"].get("virga").is_none());
        let mut c = Counters::default();
        c.app.quic_client_hellos = 4;
        c.engine = Some(EngineStats {
            alerts_beacon: 2,
            suppressed_quiet: 5,
            ..EngineStats::default()
        });
        c.output = Some(WriterCounters {
            lost_lines: 7,
            ..WriterCounters::default()
        });
        let full = line(c);
        assert_eq!(full["stats"]["app_layer"]["tx"]["quic"], 4);
        let virga = &full["stats"]["virga"];
        assert_eq!(virga["alerts"]["beacon"], 2);
        assert_eq!(virga["suppressed"]["client_quiet"], 5);
        assert_eq!(virga["output"]["lines_lost"], 7);
        assert!(virga.get("attribution").is_none());
        let with = line(Counters {
            engine: Some(EngineStats {
                attribution_on: true,
                attribution_named: 3,
                attribution_bad: 1,
                ..EngineStats::default()
            }),
            ..Counters::default()
        });
        let a = &with["stats"]["virga"]["attribution"];
        assert_eq!((a["named"].as_u64(), a["bad"].as_u64()), (Some(3), Some(1)));
        assert_eq!(a["events"], 0);
    }

    /// A live writer's delays go in `stats.virga.latency`, per event type,
    /// in the published extension's shape; without any (replay) there is
    /// no `latency` object.
    #[test]
    fn latency_only_when_measured_and_as_published() {
        use crate::telemetry::latency::{LatencyQuantiles, LatencySummary};
        let mut latency = LatencySummary::default();
        latency.by_type[1] = Some(LatencyQuantiles {
            count: 3,
            p50_us: 1_200,
            p99_us: 9_000,
            max_us: 9_100,
        });
        let mut c = Counters {
            output: Some(WriterCounters::default()),
            ..Counters::default()
        };
        let replayed = line(c);
        assert!(replayed["stats"]["virga"].get("latency").is_none());
        c.output = Some(WriterCounters {
            latency,
            ..WriterCounters::default()
        });
        let live = line(c);
        let virga = &live["stats"]["virga"];
        assert_eq!(
            virga["latency"],
            serde_json::json!({"dns": {"count": 3, "p50_us": 1200, "p99_us": 9000, "max_us": 9100}})
        );
        let ext: serde_json::Value = serde_json::from_str(include_str!(
            "../../../docs/eve-virga-extension.schema.json"
        ))
        .unwrap();
        let v = jsonschema::validator_for(&ext).unwrap();
        let errors: Vec<String> = v.iter_errors(virga).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}");
        let mut bad = virga.clone();
        bad["latency"]["dns"]["p95_us"] = 1.into();
        assert!(!v.is_valid(&bad));
    }
}
