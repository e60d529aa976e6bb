//! `stats` events: the sensor's counters, summed over the capture thread and
//! every worker, written every `output.stats_interval_secs` of packet time and
//! once at the end, in Suricata 8's `stats` layout (the schema is closed, so
//! only Suricata's own counter names are used).

use crate::app::AppCounters;
use crate::capture::CaptureStats;
use crate::flow::table::FlowStats;
use crate::names::NameStats;
use crate::output::json::JsonWriter;
use crate::time::Timestamp;
use crate::worker::DecodeCounters;

/// Every counter the sensor keeps; parts from several threads add up.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counters {
    /// Decoder counters.
    pub decode: DecodeCounters,
    /// Flow table counters.
    pub flows: FlowStats,
    /// Flows held at the time of the snapshot.
    pub flows_active: u64,
    /// Application-layer counters.
    pub app: AppCounters,
    /// Name cache counters.
    pub names: NameStats,
    /// Fragment trackers that timed out.
    pub defrag_timeouts: u64,
    /// Bytes held by first-flight (TCP reassembly) buffers now.
    pub flight_memuse: u64,
    /// Segments not joined because the first-flight memcap was reached.
    pub flight_memcap_drops: u64,
    /// The capture source's counters (capture thread only).
    pub capture: CaptureStats,
    /// Packets dropped because a worker queue was full (capture thread only).
    pub queue_drops: u64,
    /// Alerts written by the detection stage.
    pub alerts: u64,
    /// Alerts suppressed (allowlist, quiet times).
    pub alerts_suppressed: u64,
    /// The detection stage's counters (the final ones in the final event,
    /// the latest the writer received in periodic ones).
    pub engine: Option<crate::detect::engine::EngineStats>,
    /// The EVE writer's counters, added by the writer when it writes the event.
    pub output: Option<WriterCounters>,
}

/// The EVE writer's own counters at the time it writes a `stats` event.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WriterCounters {
    /// Lines written before this event.
    pub lines: u64,
    /// Failed write attempts to a file or stdout.
    pub write_errors: u64,
    /// Lines a file or stdout never got because writing failed.
    pub lost_lines: u64,
    /// Lines a Unix socket peer never got.
    pub socket_lost_lines: u64,
    /// Batches waiting in the writer's queue (output lag).
    pub lag_batches: u64,
}

/// Adds the writer's counters to a snapshot it is about to write, and the
/// detection stage's latest counters when the snapshot has none.
pub fn add_writer_counters(
    c: &mut Counters,
    o: crate::output::OutputStats,
    lag_batches: u64,
    engine: Option<crate::detect::engine::EngineStats>,
) {
    c.output = Some(WriterCounters {
        lines: o.lines,
        write_errors: o.write_errors,
        lost_lines: o.lost_lines,
        socket_lost_lines: o.socket_lost_lines,
        lag_batches,
    });
    if let (None, Some(e)) = (c.engine, engine) {
        c.engine = Some(e);
        c.alerts = e.alerts;
        c.alerts_suppressed = e.suppressed_allowlist + e.suppressed_quiet + e.beacon_browser_held;
    }
}

impl std::ops::AddAssign for Counters {
    fn add_assign(&mut self, o: Self) {
        self.decode += o.decode;
        self.flows.created += o.flows.created;
        self.flows.timed_out += o.flows.timed_out;
        self.flows.evicted += o.flows.evicted;
        self.flows_active += o.flows_active;
        let (a, b) = (&mut self.app, o.app);
        a.dns_messages += b.dns_messages;
        a.dns_errors += b.dns_errors;
        a.tls_client_hellos += b.tls_client_hellos;
        a.tls_errors += b.tls_errors;
        a.quic_client_hellos += b.quic_client_hellos;
        a.quic_errors += b.quic_errors;
        a.http_requests += b.http_requests;
        a.http_errors += b.http_errors;
        self.names.learned += o.names.learned;
        self.names.hits += o.names.hits;
        self.names.evicted += o.names.evicted;
        self.defrag_timeouts += o.defrag_timeouts;
        self.flight_memuse += o.flight_memuse;
        self.flight_memcap_drops += o.flight_memcap_drops;
        self.capture.received += o.capture.received;
        self.capture.kernel_drops += o.capture.kernel_drops;
        self.capture.interface_drops += o.capture.interface_drops;
        self.queue_drops += o.queue_drops;
        self.alerts += o.alerts;
        self.alerts_suppressed += o.alerts_suppressed;
        if o.engine.is_some() {
            self.engine = o.engine;
        }
        if o.output.is_some() {
            self.output = o.output;
        }
    }
}

/// Writes a complete `stats` event line (with its newline) into `out`.
pub fn write_event(out: &mut Vec<u8>, ts: Timestamp, uptime_secs: u64, c: &Counters) {
    let mut t = String::new();
    ts.write_eve(&mut t);
    let mut w = JsonWriter::new(out);
    w.begin_object()
        .str("timestamp", &t)
        .str("event_type", "stats");
    w.object("stats").u64("uptime", uptime_secs);
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
                .object("evicted")
                .u64("beacon_pairs", e.beacon_pairs_evicted)
                .u64("dns_tracks", e.dns_tracks_evicted)
                .u64("dns_accounts", e.dns_accounts_evicted)
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
                .u64("lag_batches", o.lag_batches)
                .end_object();
        }
        w.end_object();
    }
    w.end_object().end_object();
    out.push(b'\n');
}

/// Collects the parts of one periodic snapshot (one per worker plus the
/// capture thread's) and writes the event once all have arrived. At most a
/// few snapshots are in flight; an incomplete old one is written as it is.
#[derive(Debug, Default)]
pub struct Aggregator {
    expected: usize,
    pending: Vec<(u64, usize, Timestamp, u64, Counters)>,
    written: Option<u64>,
}

/// Snapshots waiting for parts before the oldest is written incomplete
/// (a worker far behind the others); bounds the memory held here.
const MAX_PENDING: usize = 256;

impl Aggregator {
    /// Expects `parts` parts per snapshot.
    pub fn new(parts: usize) -> Self {
        Aggregator {
            expected: parts.max(1),
            pending: Vec::new(),
            written: None,
        }
    }

    /// Adds a part of snapshot `epoch`; writes finished snapshots into `out`.
    pub fn add(
        &mut self,
        epoch: u64,
        ts: Timestamp,
        uptime: u64,
        part: Counters,
        out: &mut Vec<u8>,
    ) {
        self.add_with(epoch, ts, uptime, part, out, |_| {});
    }

    /// Like [`Aggregator::add`], letting `finish` complete each snapshot
    /// (the writer's own counters) just before it is written.
    pub fn add_with(
        &mut self,
        epoch: u64,
        ts: Timestamp,
        uptime: u64,
        part: Counters,
        out: &mut Vec<u8>,
        mut finish: impl FnMut(&mut Counters),
    ) {
        if self.written.is_some_and(|w| epoch <= w) {
            // A late part of a snapshot already written incomplete.
            return;
        }
        match self.pending.iter_mut().find(|p| p.0 == epoch) {
            Some(p) => {
                p.1 += 1;
                p.4 += part;
            }
            None => self.pending.push((epoch, 1, ts, uptime, part)),
        }
        self.pending.sort_by_key(|p| p.0);
        while let Some(first) = self.pending.first() {
            if first.1 >= self.expected || self.pending.len() > MAX_PENDING {
                let (e, _, ts, up, mut c) = self.pending.remove(0);
                self.written = Some(e);
                finish(&mut c);
                write_event(out, ts, up, &c);
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_add_up_and_write_once() {
        let mut a = Aggregator::new(3);
        let mut out = Vec::new();
        let mut part = Counters::default();
        part.decode.packets = 10;
        part.flows.evicted = 2;
        let ts = Timestamp::from_secs_nanos(1_800_000_000, 0);
        a.add(1, ts, 60, part, &mut out);
        a.add(1, ts, 60, part, &mut out);
        assert!(out.is_empty());
        a.add(1, ts, 60, part, &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["event_type"], "stats");
        assert_eq!(v["stats"]["decoder"]["pkts"], 30);
        assert_eq!(v["stats"]["flow"]["mgr"]["flows_evicted"], 6);
        assert_eq!(v["stats"]["uptime"], 60);
    }
}
