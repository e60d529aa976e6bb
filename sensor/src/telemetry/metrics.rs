//! The Prometheus text endpoint (`[metrics] listen`, off by default).
//!
//! Nothing here is on the packet path. Four threads publish into one
//! [`LatestCounters`] (a mutex held for a copy of a few counters):
//!
//! - the capture loop, every output flush interval and whenever the link is
//!   idle: libpcap's received/kernel/interface counters, packets read, worker
//!   queue drops;
//! - the detection stage, as its counters change (alerts per detector,
//!   suppressions);
//! - the EVE writer: its own counters after every message, and every `stats`
//!   snapshot as it is written (decoder, flows, parse errors, names);
//! - so the endpoint shows the same counters as the `stats` EVE events, the
//!   capture ones fresher.
//!
//! The server is one thread on a `std::net::TcpListener` that answers one
//! connection at a time: `GET /metrics` (or `/`), nothing else. A std loop
//! rather than a crate: the small HTTP servers (tiny_http) start a thread per
//! connection and set no read timeout on accepted sockets, so a client that
//! never finishes its request pins a thread forever. Here each connection has
//! a total deadline ([`CONN_DEADLINE`]), the request is at most
//! [`MAX_REQUEST_BYTES`] and is parsed by `httparse`; each hostile connection
//! holds the endpoint for at most the deadline (many can starve scrapes: keep
//! it on loopback or a management network), and none of it touches capture.

use super::counters::{CaptureStats, Counters, EngineStats, OutputStats};
use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest a scrape connection may take, from accept to the last byte sent.
pub const CONN_DEADLINE: Duration = Duration::from_secs(2);
/// Largest request accepted (request line and headers).
pub const MAX_REQUEST_BYTES: usize = 8 * 1024;

/// What the endpoint shows; see the module documentation for who writes what.
#[derive(Debug, Default, Clone, Copy)]
pub struct Values {
    /// libpcap's counters, as last published by the capture loop.
    pub capture: CaptureStats,
    /// Packets the capture loop read.
    pub packets_read: u64,
    /// Packets dropped because a worker queue was full.
    pub queue_drops: u64,
    /// The latest `stats` snapshot the writer wrote (None before the first).
    pub snapshot: Option<Counters>,
    /// The detection stage's latest counters.
    pub engine: EngineStats,
    /// The EVE writer's counters (summed over outputs replaced by reloads).
    pub output: OutputStats,
    /// Batches waiting for the writer.
    pub output_lag_batches: u64,
}

/// Where the counters meet; shared by the publishers and the server.
#[derive(Debug, Default)]
pub struct LatestCounters {
    values: Mutex<Values>,
    /// Writer counters of outputs already finished (a reload replaced them).
    output_base: Mutex<OutputStats>,
}

impl LatestCounters {
    /// A new, shareable hub.
    pub fn new() -> Arc<LatestCounters> {
        Arc::new(LatestCounters::default())
    }

    fn with(&self, f: impl FnOnce(&mut Values)) {
        // A poisoned lock only means a publisher panicked mid-copy; the
        // counters are still plain numbers.
        let mut v = self.values.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut v);
    }

    /// The capture loop's counters.
    pub fn set_capture(&self, capture: CaptureStats, packets_read: u64, queue_drops: u64) {
        self.with(|v| {
            v.capture = capture;
            v.packets_read = packets_read;
            v.queue_drops = queue_drops;
        });
    }

    /// A `stats` snapshot as it is written.
    pub fn set_snapshot(&self, c: Counters) {
        self.with(|v| v.snapshot = Some(c));
    }

    /// The detection stage's counters.
    pub fn set_engine(&self, e: EngineStats) {
        self.with(|v| v.engine = e);
    }

    /// The running writer's counters and queue length.
    pub fn set_output(&self, o: OutputStats, lag_batches: u64) {
        let base = *self.output_base.lock().unwrap_or_else(|p| p.into_inner());
        self.with(|v| {
            v.output = OutputStats {
                lines: base.lines + o.lines,
                bytes: base.bytes + o.bytes,
                write_errors: base.write_errors + o.write_errors,
                lost_lines: base.lost_lines + o.lost_lines,
                socket_lost_lines: base.socket_lost_lines + o.socket_lost_lines,
                // Kept by the running writer since it started.
                latency: o.latency,
                redis_lost_lines: base.redis_lost_lines + o.redis_lost_lines,
            };
            v.output_lag_batches = lag_batches;
        });
    }

    /// Counters of a writer that finished (replaced on reload): later ones
    /// add to them, so the totals never go back.
    pub fn output_finished(&self, o: OutputStats) {
        let mut b = self.output_base.lock().unwrap_or_else(|p| p.into_inner());
        b.lines += o.lines;
        b.bytes += o.bytes;
        b.write_errors += o.write_errors;
        b.lost_lines += o.lost_lines;
        b.socket_lost_lines += o.socket_lost_lines;
        b.redis_lost_lines += o.redis_lost_lines;
    }

    /// A copy of the current values.
    pub fn values(&self) -> Values {
        *self.values.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The Prometheus text exposition of the current values.
    pub fn render(&self) -> String {
        render(&self.values())
    }
}

/// Counter or gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Summary,
}

/// Every metric virga exposes, in one place (STYLE.md: names
/// `virga_<subsystem>_<name>_<unit>_total` for counters; gauges drop `_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Packets the kernel handed to libpcap.
    CaptureReceived,
    /// Packets the kernel dropped (buffer full).
    CaptureKernelDropped,
    /// Packets the interface (driver) dropped.
    CaptureInterfaceDropped,
    /// Packets the capture loop read.
    CaptureRead,
    /// Packets dropped because a worker queue was full.
    PipelineQueueDropped,
    /// Packets decoded by the workers (last snapshot).
    DecoderPackets,
    /// Packets that were not decodable IP (last snapshot).
    DecoderInvalid,
    /// Flows created (last snapshot).
    FlowCreated,
    /// Flows held (last snapshot).
    FlowActive,
    /// Flows evicted by the table's capacity (last snapshot).
    FlowEvicted,
    /// Flows ended by their timeout (last snapshot).
    FlowTimedOut,
    /// Application transactions parsed, by protocol (last snapshot).
    AppTransactions,
    /// Application parse errors, by protocol (last snapshot).
    AppParseErrors,
    /// Alerts written, by detector.
    DetectAlerts,
    /// Alerts or candidates suppressed, by reason.
    DetectSuppressed,
    /// Host events read for process attribution, by outcome.
    AttributionEvents,
    /// Records the process attribution was asked about, by result.
    AttributionRecords,
    /// EVE lines written.
    OutputLines,
    /// EVE write errors.
    OutputWriteErrors,
    /// EVE lines lost because an output could not be written.
    OutputLost,
    /// Lines a Unix socket peer never got.
    OutputSocketLost,
    /// Lines Redis never got.
    OutputRedisLost,
    /// Batches waiting for the writer.
    OutputLag,
    /// Delay from capture to EVE line, by event type (live runs).
    OutputLatency,
}

impl Metric {
    /// The exposed name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::CaptureReceived => "virga_capture_received_packets_total",
            Metric::CaptureKernelDropped => "virga_capture_kernel_dropped_packets_total",
            Metric::CaptureInterfaceDropped => "virga_capture_interface_dropped_packets_total",
            Metric::CaptureRead => "virga_capture_read_packets_total",
            Metric::PipelineQueueDropped => "virga_pipeline_queue_dropped_packets_total",
            Metric::DecoderPackets => "virga_decoder_decoded_packets_total",
            Metric::DecoderInvalid => "virga_decoder_invalid_packets_total",
            Metric::FlowCreated => "virga_flow_created_flows_total",
            Metric::FlowActive => "virga_flow_active_flows",
            Metric::FlowEvicted => "virga_flow_evicted_flows_total",
            Metric::FlowTimedOut => "virga_flow_timed_out_flows_total",
            Metric::AppTransactions => "virga_app_parsed_transactions_total",
            Metric::AppParseErrors => "virga_app_parse_errors_total",
            Metric::DetectAlerts => "virga_detect_written_alerts_total",
            Metric::DetectSuppressed => "virga_detect_suppressed_alerts_total",
            Metric::AttributionEvents => "virga_attribution_host_events_total",
            Metric::AttributionRecords => "virga_attribution_records_total",
            Metric::OutputLines => "virga_output_written_lines_total",
            Metric::OutputWriteErrors => "virga_output_write_errors_total",
            Metric::OutputLost => "virga_output_lost_lines_total",
            Metric::OutputSocketLost => "virga_output_socket_lost_lines_total",
            Metric::OutputRedisLost => "virga_output_redis_lost_lines_total",
            Metric::OutputLag => "virga_output_lag_batches",
            Metric::OutputLatency => "virga_output_event_latency_seconds",
        }
    }

    fn kind(self) -> Kind {
        match self {
            Metric::FlowActive | Metric::OutputLag => Kind::Gauge,
            Metric::OutputLatency => Kind::Summary,
            _ => Kind::Counter,
        }
    }

    fn help(self) -> &'static str {
        match self {
            Metric::CaptureReceived => "Packets the kernel passed to libpcap (pcap_stats ps_recv).",
            Metric::CaptureKernelDropped => {
                "Packets dropped by the kernel: capture buffer full (ps_drop)."
            }
            Metric::CaptureInterfaceDropped => {
                "Packets dropped by the interface or driver (ps_ifdrop)."
            }
            Metric::CaptureRead => "Packets read by the capture loop.",
            Metric::PipelineQueueDropped => "Packets dropped because a worker queue was full.",
            Metric::DecoderPackets => {
                "Packets decoded by the workers (as of the last stats event)."
            }
            Metric::DecoderInvalid => {
                "Packets that were not decodable IP (as of the last stats event)."
            }
            Metric::FlowCreated => "Flows created (as of the last stats event).",
            Metric::FlowActive => "Flows held in the flow tables (as of the last stats event).",
            Metric::FlowEvicted => "Flows evicted to make room (as of the last stats event).",
            Metric::FlowTimedOut => {
                "Flows ended by their idle timeout (as of the last stats event)."
            }
            Metric::AppTransactions => {
                "Application messages parsed, by protocol (as of the last stats event)."
            }
            Metric::AppParseErrors => {
                "Application parse errors, by protocol (as of the last stats event)."
            }
            Metric::DetectAlerts => "Alerts written, by detector.",
            Metric::DetectSuppressed => "Alerts or candidates not written, by reason.",
            Metric::AttributionEvents => {
                "Sysmon events read for process attribution: read (events 3 and 22), skipped \
                 (other events), bad (unreadable lines), evicted (dropped to stay within \
                 [attribution] max_events)."
            }
            Metric::AttributionRecords => {
                "Records joined to host events: named (one process), ambiguous (several \
                 programs), unmatched (connections without an event)."
            }
            Metric::OutputLines => "EVE lines written.",
            Metric::OutputWriteErrors => "Failed write attempts to an EVE file or stdout.",
            Metric::OutputLost => "EVE lines a file or stdout never got (dropped whole while it could not be written).",
            Metric::OutputSocketLost => "EVE lines the Unix socket peer never got.",
            Metric::OutputRedisLost => "EVE lines Redis never got ([output.redis]).",
            Metric::OutputLag => "Output lag: batches of EVE lines waiting for the writer.",
            Metric::OutputLatency => {
                "Delay from a packet's capture to its EVE line reaching the outputs, by event \
                 type, since the writer started (quantile 1 is the largest)."
            }
        }
    }
}

/// Writes `# HELP`, `# TYPE` and one sample per (labels, value).
fn family(out: &mut String, m: Metric, samples: &[(&str, u64)]) {
    let kind = match m.kind() {
        Kind::Counter => "counter",
        Kind::Gauge => "gauge",
        Kind::Summary => "summary",
    };
    let _ = writeln!(out, "# HELP {} {}", m.name(), m.help());
    let _ = writeln!(out, "# TYPE {} {kind}", m.name());
    for (labels, v) in samples {
        if labels.is_empty() {
            let _ = writeln!(out, "{} {v}", m.name());
        } else {
            let _ = writeln!(out, "{}{{{labels}}} {v}", m.name());
        }
    }
}

/// The Prometheus text format (version 0.0.4) of `v`.
pub fn render(v: &Values) -> String {
    let mut o = String::with_capacity(4096);
    let s = v.snapshot.unwrap_or_default();
    let e = v.engine;
    family(&mut o, Metric::CaptureReceived, &[("", v.capture.received)]);
    family(
        &mut o,
        Metric::CaptureKernelDropped,
        &[("", v.capture.kernel_drops)],
    );
    family(
        &mut o,
        Metric::CaptureInterfaceDropped,
        &[("", v.capture.interface_drops)],
    );
    family(&mut o, Metric::CaptureRead, &[("", v.packets_read)]);
    family(&mut o, Metric::PipelineQueueDropped, &[("", v.queue_drops)]);
    family(&mut o, Metric::DecoderPackets, &[("", s.decode.packets)]);
    family(
        &mut o,
        Metric::DecoderInvalid,
        &[("", s.decode.decode_errors + s.decode.not_ip)],
    );
    family(&mut o, Metric::FlowCreated, &[("", s.flows.created)]);
    family(&mut o, Metric::FlowActive, &[("", s.flows_active)]);
    family(&mut o, Metric::FlowEvicted, &[("", s.flows.evicted)]);
    family(&mut o, Metric::FlowTimedOut, &[("", s.flows.timed_out)]);
    let a = &s.app;
    family(
        &mut o,
        Metric::AppTransactions,
        &[
            ("protocol=\"dns\"", a.dns_messages),
            ("protocol=\"tls\"", a.tls_client_hellos),
            ("protocol=\"quic\"", a.quic_client_hellos),
            ("protocol=\"http\"", a.http_requests),
        ],
    );
    family(
        &mut o,
        Metric::AppParseErrors,
        &[
            ("protocol=\"dns\"", a.dns_errors),
            ("protocol=\"tls\"", a.tls_errors),
            ("protocol=\"quic\"", a.quic_errors),
            ("protocol=\"http\"", a.http_errors),
        ],
    );
    family(
        &mut o,
        Metric::DetectAlerts,
        &[
            ("detector=\"beacon\"", e.alerts_beacon),
            ("detector=\"client\"", e.alerts_client),
            ("detector=\"dns\"", e.alerts_dns),
        ],
    );
    family(
        &mut o,
        Metric::DetectSuppressed,
        &[
            ("reason=\"allowlist\"", e.suppressed_allowlist),
            ("reason=\"client_quiet\"", e.suppressed_quiet),
            ("reason=\"beacon_browser_held\"", e.beacon_browser_held),
        ],
    );
    if e.attribution_on {
        family(
            &mut o,
            Metric::AttributionEvents,
            &[
                ("outcome=\"read\"", e.attribution_events),
                ("outcome=\"skipped\"", e.attribution_skipped),
                ("outcome=\"bad\"", e.attribution_bad),
                ("outcome=\"evicted\"", e.attribution_evicted),
            ],
        );
        family(
            &mut o,
            Metric::AttributionRecords,
            &[
                ("result=\"named\"", e.attribution_named),
                ("result=\"ambiguous\"", e.attribution_ambiguous),
                ("result=\"unmatched\"", e.attribution_unmatched),
            ],
        );
    }
    family(&mut o, Metric::OutputLines, &[("", v.output.lines)]);
    family(
        &mut o,
        Metric::OutputWriteErrors,
        &[("", v.output.write_errors)],
    );
    family(&mut o, Metric::OutputLost, &[("", v.output.lost_lines)]);
    family(
        &mut o,
        Metric::OutputSocketLost,
        &[("", v.output.socket_lost_lines)],
    );
    family(
        &mut o,
        Metric::OutputRedisLost,
        &[("", v.output.redis_lost_lines)],
    );
    family(&mut o, Metric::OutputLag, &[("", v.output_lag_batches)]);
    latency(&mut o, &v.output.latency);
    o
}

/// The capture-to-line delays as a summary: p50, p99 and the largest
/// (quantile 1) in seconds, and the lines measured, per event type.
fn latency(out: &mut String, l: &super::latency::LatencySummary) {
    let m = Metric::OutputLatency;
    family(out, m, &[]);
    for (kind, q) in l.iter() {
        for (quantile, us) in [("0.5", q.p50_us), ("0.99", q.p99_us), ("1", q.max_us)] {
            let secs = us as f64 / 1e6;
            let _ = writeln!(
                out,
                "{}{{event_type=\"{kind}\",quantile=\"{quantile}\"}} {secs}",
                m.name()
            );
        }
        let _ = writeln!(
            out,
            "{}_count{{event_type=\"{kind}\"}} {}",
            m.name(),
            q.count
        );
    }
}

/// Binds `addr` (before privileges are dropped, so a port below 1024 works).
///
/// # Errors
/// The address cannot be bound.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
}

/// Serves `hub` on `listener` in a thread of its own, until the process
/// ends.
///
/// # Errors
/// The thread cannot be started.
pub fn serve(listener: TcpListener, hub: Arc<LatestCounters>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("virga-metrics".into())
        .spawn(move || {
            for conn in listener.incoming() {
                match conn {
                    Ok(c) => answer(c, &hub),
                    // EMFILE and the like: back off instead of spinning.
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        })?;
    Ok(())
}

/// Reads one request (bounded in size and time) and answers it; every
/// failure just closes the connection.
fn answer(mut c: TcpStream, hub: &LatestCounters) {
    let end = Instant::now() + CONN_DEADLINE;
    let mut buf = vec![0u8; MAX_REQUEST_BYTES];
    let mut len = 0;
    let reply = loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() || c.set_read_timeout(Some(left)).is_err() {
            return;
        }
        let n = match c.read(&mut buf[len..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        len += n;
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf[..len]) {
            Ok(httparse::Status::Complete(_)) => break respond(req.method, req.path, hub),
            Ok(httparse::Status::Partial) if len < buf.len() => continue,
            Ok(httparse::Status::Partial) => break status(431, "Request Header Fields Too Large"),
            Err(_) => break status(400, "Bad Request"),
        }
    };
    let left = end
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(10));
    if c.set_write_timeout(Some(left)).is_ok() {
        let _ = c.write_all(&reply);
    }
    let _ = c.shutdown(std::net::Shutdown::Both);
}

fn respond(method: Option<&str>, path: Option<&str>, hub: &LatestCounters) -> Vec<u8> {
    let path = path.unwrap_or("").split('?').next().unwrap_or("");
    match (method, path) {
        (Some("GET" | "HEAD"), "/metrics" | "/") => {
            let body = hub.render();
            let mut r = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            if method == Some("GET") {
                r.extend_from_slice(body.as_bytes());
            }
            r
        }
        (Some("GET" | "HEAD"), _) => status(404, "Not Found"),
        _ => status(405, "Method Not Allowed"),
    }
}

fn status(code: u16, text: &str) -> Vec<u8> {
    format!("HTTP/1.1 {code} {text}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").into_bytes()
}

/// `virga health`: asks the endpoint at `addr` for its metrics; `Ok` with
/// the packets received when it answers 200 with virga's metrics.
///
/// # Errors
/// A one-line reason: no connection, timeout, another status, no metrics.
pub fn probe(addr: SocketAddr, timeout: Duration) -> Result<u64, String> {
    let mut c = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("{addr}: {e}"))?;
    c.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    c.set_write_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    c.write_all(b"GET /metrics HTTP/1.1\r\nHost: virga\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("{addr}: {e}"))?;
    let mut body = Vec::new();
    // Bounded: the answer is a few KiB.
    (&mut c)
        .take(1 << 20)
        .read_to_end(&mut body)
        .map_err(|e| format!("{addr}: {e}"))?;
    let text = String::from_utf8_lossy(&body);
    if !text.starts_with("HTTP/1.1 200 ") {
        let first = text.lines().next().unwrap_or("(no answer)");
        return Err(format!("{addr}: {first}"));
    }
    sample(&text, Metric::CaptureReceived.name(), "")
        .ok_or_else(|| format!("{addr}: answer without {}", Metric::CaptureReceived.name()))
}

/// The value of `name{labels}` (labels as written, "" for none) in a
/// Prometheus text body.
pub fn sample(text: &str, name: &str, labels: &str) -> Option<u64> {
    let key = if labels.is_empty() {
        format!("{name} ")
    } else {
        format!("{name}{{{labels}}} ")
    };
    text.lines()
        .find_map(|l| l.strip_prefix(key.as_str()))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every family the endpoint exposes (read from its own output, so a
    /// new metric is checked without being listed here) follows the naming
    /// convention, is exposed once, and is documented in deploy/README.md.
    #[test]
    fn names_follow_the_convention() {
        let text = render(&Values::default());
        let families: Vec<(&str, &str)> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_once(' '))
            .collect();
        assert!(families.len() >= 20, "{text}");
        let docs = include_str!("../../../deploy/README.md");
        let mut seen = std::collections::BTreeSet::new();
        for (n, kind) in families {
            assert!(seen.insert(n), "{n} exposed twice");
            assert!(n.starts_with("virga_"), "{n}");
            assert!(
                n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{n}"
            );
            // virga_<subsystem>_<name>_<unit>[_total]: at least four parts.
            assert!(n.split('_').count() >= 4, "{n}");
            assert_eq!(n.ends_with("_total"), kind == "counter", "{n} {kind}");
            assert!(
                text.contains(&format!("# HELP {n} ")),
                "{n} has no HELP line"
            );
            assert!(docs.contains(n), "deploy/README.md does not list {n}");
        }
    }

    #[test]
    fn render_shows_each_source() {
        let hub = LatestCounters::new();
        hub.set_capture(
            CaptureStats {
                received: 120,
                kernel_drops: 3,
                interface_drops: 1,
            },
            117,
            2,
        );
        let mut c = Counters::default();
        c.decode.packets = 115;
        c.flows_active = 7;
        c.app.tls_errors = 4;
        hub.set_snapshot(c);
        hub.set_engine(EngineStats {
            alerts_dns: 5,
            suppressed_quiet: 6,
            attribution_on: true,
            attribution_ambiguous: 3,
            ..EngineStats::default()
        });
        hub.output_finished(OutputStats {
            lines: 10,
            ..OutputStats::default()
        });
        hub.set_output(
            OutputStats {
                lines: 32,
                write_errors: 1,
                ..OutputStats::default()
            },
            9,
        );
        let t = hub.render();
        let get = |n: &str, l: &str| sample(&t, n, l);
        assert_eq!(get("virga_capture_received_packets_total", ""), Some(120));
        assert_eq!(
            get("virga_capture_kernel_dropped_packets_total", ""),
            Some(3)
        );
        assert_eq!(
            get("virga_capture_interface_dropped_packets_total", ""),
            Some(1)
        );
        assert_eq!(get("virga_capture_read_packets_total", ""), Some(117));
        assert_eq!(
            get("virga_pipeline_queue_dropped_packets_total", ""),
            Some(2)
        );
        assert_eq!(get("virga_decoder_decoded_packets_total", ""), Some(115));
        assert_eq!(get("virga_flow_active_flows", ""), Some(7));
        assert_eq!(
            get("virga_app_parse_errors_total", "protocol=\"tls\""),
            Some(4)
        );
        assert_eq!(
            get("virga_detect_written_alerts_total", "detector=\"dns\""),
            Some(5)
        );
        assert_eq!(
            get(
                "virga_detect_suppressed_alerts_total",
                "reason=\"client_quiet\""
            ),
            Some(6)
        );
        // The finished writer's lines plus the running one's.
        assert_eq!(get("virga_output_written_lines_total", ""), Some(42));
        assert_eq!(get("virga_output_write_errors_total", ""), Some(1));
        assert_eq!(get("virga_output_lag_batches", ""), Some(9));
        assert_eq!(
            get("virga_attribution_records_total", "result=\"ambiguous\""),
            Some(3)
        );
        assert!(t.contains("# TYPE virga_flow_active_flows gauge\n"));
        assert!(t.contains("# TYPE virga_capture_received_packets_total counter\n"));
    }

    fn exchange(addr: SocketAddr, req: &[u8]) -> String {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.write_all(req).unwrap();
        let mut out = String::new();
        let _ = c.read_to_string(&mut out);
        out
    }

    /// The server answers scrapes, refuses what is not a scrape, and a
    /// client that sends half a request and stalls, or floods it, holds it
    /// for at most the deadline.
    #[test]
    fn server_answers_and_survives_hostile_clients() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let hub = LatestCounters::new();
        hub.set_capture(
            CaptureStats {
                received: 77,
                ..CaptureStats::default()
            },
            77,
            0,
        );
        serve(listener, hub.clone()).unwrap();
        assert_eq!(probe(addr, Duration::from_secs(2)), Ok(77));
        let r = exchange(addr, b"GET /nope HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 404 "), "{r}");
        let r = exchange(addr, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 405 "), "{r}");
        let r = exchange(addr, b"\x00\x01garbage\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 400 "), "{r}");
        // Headers beyond the size limit.
        let mut big = b"GET /metrics HTTP/1.1\r\n".to_vec();
        while big.len() < MAX_REQUEST_BYTES + 100 {
            big.extend_from_slice(b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = c.write_all(&big);
        let mut r = String::new();
        let _ = c.read_to_string(&mut r);
        assert!(
            r.starts_with("HTTP/1.1 431 ") || r.starts_with("HTTP/1.1 400 ") || r.is_empty(),
            "{r}"
        );
        // A stalled client: the next scrape is answered within the deadline.
        let mut stalled = TcpStream::connect(addr).unwrap();
        stalled.write_all(b"GET /metr").unwrap();
        let t = Instant::now();
        assert_eq!(probe(addr, Duration::from_secs(5)), Ok(77));
        assert!(t.elapsed() <= CONN_DEADLINE + Duration::from_secs(1));
        // The stalled one was cut off: it reads end of file, no answer.
        stalled
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut rest = String::new();
        let _ = stalled.read_to_string(&mut rest);
        assert!(rest.is_empty(), "{rest}");
    }

    #[test]
    fn probe_reports_a_closed_port() {
        // Bind then drop: the port is (very likely) closed now.
        let addr = bind("127.0.0.1:0".parse().unwrap())
            .unwrap()
            .local_addr()
            .unwrap();
        let e = probe(addr, Duration::from_secs(1)).unwrap_err();
        assert!(e.starts_with(&addr.to_string()), "{e}");
    }

    /// The capture-to-line delays are a summary per event type, in seconds.
    #[test]
    fn latency_is_a_summary_per_event_type() {
        use crate::telemetry::latency::{LatencyQuantiles, LatencySummary};
        let mut latency = LatencySummary::default();
        latency.by_type[0] = Some(LatencyQuantiles {
            count: 4,
            p50_us: 250_000,
            p99_us: 1_500_000,
            max_us: 2_000_000,
        });
        let hub = LatestCounters::new();
        let t = hub.render();
        assert!(t.contains("# TYPE virga_output_event_latency_seconds summary\n"));
        assert!(!t.contains("virga_output_event_latency_seconds{"), "{t}");
        hub.set_output(
            OutputStats {
                latency,
                ..OutputStats::default()
            },
            0,
        );
        let t = hub.render();
        for want in [
            "virga_output_event_latency_seconds{event_type=\"alert\",quantile=\"0.5\"} 0.25\n",
            "virga_output_event_latency_seconds{event_type=\"alert\",quantile=\"0.99\"} 1.5\n",
            "virga_output_event_latency_seconds{event_type=\"alert\",quantile=\"1\"} 2\n",
            "virga_output_event_latency_seconds_count{event_type=\"alert\"} 4\n",
        ] {
            assert!(t.contains(want), "{want} not in\n{t}");
        }
    }
}
