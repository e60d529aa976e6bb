//! Every counter the sensor keeps, as plain values: what each part counts
//! (capture, decoder, flow table, protocol parsers, name cache, detection
//! stage, EVE writer) and [`Counters`], the sum of those parts that a `stats`
//! event and the metrics endpoint show. Nothing here depends on the parts
//! that count: they import their counter types from here.

/// Counters a source keeps about itself (libpcap's view for live capture;
/// for AF_PACKET the kernel's per-socket counters, which add up over the
/// sockets of a fanout group).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CaptureStats {
    /// Packets received by the source (libpcap `ps_recv`, AF_PACKET
    /// `tp_packets`, or packets read).
    pub received: u64,
    /// Packets the kernel dropped for lack of buffer space (`ps_drop`,
    /// AF_PACKET `tp_drops`).
    pub kernel_drops: u64,
    /// Packets dropped by the interface or driver (`ps_ifdrop`; 0 for
    /// AF_PACKET sources).
    pub interface_drops: u64,
}

/// Counters of the flow table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FlowStats {
    /// Flows created.
    pub created: u64,
    /// Flows ended by idle timeout.
    pub timed_out: u64,
    /// Flows evicted because the table was full.
    pub evicted: u64,
}

/// Counters of the cache.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NameStats {
    /// Entries inserted or refreshed.
    pub learned: u64,
    /// Lookups that found a live entry.
    pub hits: u64,
    /// Entries dropped for capacity.
    pub evicted: u64,
}

/// Per-protocol parse counters.
#[derive(Debug, Default, Clone, Copy)]
pub struct AppCounters {
    /// DNS messages parsed.
    pub dns_messages: u64,
    /// DNS payloads that did not parse.
    pub dns_errors: u64,
    /// TLS ClientHellos parsed.
    pub tls_client_hellos: u64,
    /// TLS streams that were not valid TLS or hit a bound.
    pub tls_errors: u64,
    /// QUIC ClientHellos recovered.
    pub quic_client_hellos: u64,
    /// QUIC Initials that failed to parse or decrypt.
    pub quic_errors: u64,
    /// HTTP request heads parsed.
    pub http_requests: u64,
    /// HTTP heads that did not parse.
    pub http_errors: u64,
}

/// Decode counters of one worker.
#[derive(Debug, Default, Clone, Copy)]
pub struct DecodeCounters {
    /// Packets handed to the worker.
    pub packets: u64,
    /// Bytes of those packets on the wire.
    pub bytes: u64,
    /// Packets that did not decode to IP (other link payloads, errors).
    pub not_ip: u64,
    /// Packets whose decoding stopped early (truncated or invalid header).
    pub decode_errors: u64,
    /// IP fragments seen.
    pub fragments: u64,
    /// Datagrams rebuilt from fragments.
    pub reassembled: u64,
    /// IPv4 packets.
    pub ipv4: u64,
    /// IPv6 packets.
    pub ipv6: u64,
    /// TCP segments.
    pub tcp: u64,
    /// UDP datagrams.
    pub udp: u64,
}

impl std::ops::AddAssign for DecodeCounters {
    fn add_assign(&mut self, o: Self) {
        self.packets += o.packets;
        self.bytes += o.bytes;
        self.not_ip += o.not_ip;
        self.decode_errors += o.decode_errors;
        self.fragments += o.fragments;
        self.reassembled += o.reassembled;
        self.ipv4 += o.ipv4;
        self.ipv6 += o.ipv6;
        self.tcp += o.tcp;
        self.udp += o.udp;
    }
}

/// Counters of the stage: what was seen, alerted and suppressed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EngineStats {
    /// Connection starts to serverless names.
    pub serverless_conns: u64,
    /// DNS observations.
    pub dns_observations: u64,
    /// Alerts written.
    pub alerts: u64,
    /// Connections suppressed by the allowlist.
    pub suppressed_allowlist: u64,
    /// Client alerts held back by their quiet time.
    pub suppressed_quiet: u64,
    /// Accounts seen for the first time (informational, not alerted).
    pub dns_new_accounts: u64,
    /// Periodic browser-class pairs held back by the browser rules.
    pub beacon_browser_held: u64,
    /// Beacon pairs forgotten to stay within the pair bound.
    pub beacon_pairs_evicted: u64,
    /// DNS anomaly tracks forgotten to stay within the track bound.
    pub dns_tracks_evicted: u64,
    /// Serverless accounts forgotten to stay within the account bound.
    pub dns_accounts_evicted: u64,
    /// Alerts of the beacon detector (part of `alerts`).
    pub alerts_beacon: u64,
    /// Alerts of the client classifier (part of `alerts`).
    pub alerts_client: u64,
    /// Alerts of the DNS anomaly detector (part of `alerts`).
    pub alerts_dns: u64,
    /// Prevalence decisions made with this sensor's count alone because the
    /// shared Redis was unreachable (`[detect.prevalence] redis_url`).
    pub prevalence_local: u64,
    /// Process attribution is on (host events given): the `attribution_*`
    /// counters are published.
    pub attribution_on: bool,
    /// Host events read (Sysmon events 3 and 22).
    pub attribution_events: u64,
    /// Host events of other kinds, skipped.
    pub attribution_skipped: u64,
    /// Host event lines that could not be read.
    pub attribution_bad: u64,
    /// Records (connections, beats, DNS messages) given one process.
    pub attribution_named: u64,
    /// Records with events of several programs (no process chosen).
    pub attribution_ambiguous: u64,
    /// Connection records without a matching event.
    pub attribution_unmatched: u64,
    /// Host events dropped before they aged out (`[attribution] max_events`).
    pub attribution_evicted: u64,
}

/// Counters kept by the writer thread.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OutputStats {
    /// Lines the writer received (each output got them unless it counted
    /// them as lost).
    pub lines: u64,
    /// Bytes the writer received.
    pub bytes: u64,
    /// Failed write attempts to a file or stdout (an outage may count
    /// several; stderr reports each outage once).
    pub write_errors: u64,
    /// Lines a file or stdout never got because writing failed (disk full,
    /// closed pipe); counted per output.
    pub lost_lines: u64,
    /// Lines a Unix socket peer never got (absent, gone or too slow).
    pub socket_lost_lines: u64,
    /// Delay from capture to line per event type (live runs only; empty in
    /// a replay).
    pub latency: super::latency::LatencySummary,
    /// Lines Redis never got (unreachable, refused them, or too slow).
    pub redis_lost_lines: u64,
}

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
    pub engine: Option<EngineStats>,
    /// The EVE writer's counters, added by the writer when it writes the event.
    pub output: Option<WriterCounters>,
    /// What `virga hunt` read from Zeek logs and made of it.
    pub hunt: Option<HuntCounters>,
}

/// What `virga hunt` read from Zeek logs and made of it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct HuntCounters {
    /// Log files found.
    pub files: u64,
    /// Log files opened.
    pub files_read: u64,
    /// Lines read (headers included).
    pub lines: u64,
    /// Rows of conn, conn_long, ssl, dns and http logs.
    pub rows: u64,
    /// Lines that were not rows (bad JSON, a bad address or time, too long).
    pub bad_lines: u64,
    /// Lines of other logs, skipped.
    pub other_lines: u64,
    /// Connection starts made.
    pub conn_starts: u64,
    /// Beats inside connections (http requests, conn_long lines).
    pub beats_inside: u64,
    /// DNS lookups about serverless names.
    pub dns_lookups: u64,
    /// Connections without a name left out.
    pub unnamed: u64,
    /// Rows of a connection already made, dropped.
    pub late_rows: u64,
    /// Records older than what the detection stage had been given.
    pub late_records: u64,
    /// Connections made before their join window ended (join map full).
    pub join_evicted: u64,
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
    /// Lines Redis never got.
    pub redis_lost_lines: u64,
    /// Batches waiting in the writer's queue (output lag).
    pub lag_batches: u64,
    /// Delay from capture to line per event type (live runs only).
    pub latency: super::latency::LatencySummary,
}

/// Adds the writer's counters to a snapshot it is about to write, and the
/// detection stage's latest counters when the snapshot has none.
pub fn add_writer_counters(
    c: &mut Counters,
    o: OutputStats,
    lag_batches: u64,
    engine: Option<EngineStats>,
) {
    c.output = Some(WriterCounters {
        lines: o.lines,
        write_errors: o.write_errors,
        lost_lines: o.lost_lines,
        socket_lost_lines: o.socket_lost_lines,
        redis_lost_lines: o.redis_lost_lines,
        lag_batches,
        latency: o.latency,
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
        if o.hunt.is_some() {
            self.hunt = o.hunt;
        }
    }
}
