//! A worker: decodes packets, tracks flows, runs the protocol handlers and
//! hands their records on (EVE lines to the output, connection starts and
//! DNS lookups to the detection stage). Each worker owns all of its state;
//! no lock is taken on the packet path.
//!
//! - this file: decoding, the flow table, ticks and shutdown;
//! - [`udp`] and [`tcp`]: a flow's payload to its protocol's handler;
//! - [`dns`]: DNS messages, and the names a client learns from them;
//! - [`conn`]: a flow's name and its connection-start record;
//! - [`flow_end`]: the record of a flow leaving the table;
//! - [`output`]: where the records go.

mod conn;
mod dns;
mod flow_end;
pub mod output;
mod tcp;
mod udp;

use crate::app::{quic::QuicState, tls::TlsBuffers, FlightLimits, FlowApp, HandlerCtx};
use crate::capture::RawPacket;
use crate::client_class::BrowserTable;
use crate::detect::engine::StageSender;
use crate::flow::key::{Endpoint, FlowKey, Tuple};
use crate::flow::table::{EndReason, Flow, FlowTable, PacketMeta, Timeouts};
use crate::name_cache::NameCache;
use crate::output::LineSender;
use crate::records::{FlowRef, PacketOrigin, PacketRef};
use crate::telemetry::{AppCounters, Counters, DecodeCounters};
use crate::time::Timestamp;
use output::WorkerOutput;
use std::sync::Arc;
use virga_config::Catalogue;
use virga_parsers::defrag::{DefragConfig, DefragOutcome, Defragmenter};
use virga_parsers::packet::{self, LinkType, PacketView, Transport as L4};

/// Worker settings, built from the configuration in `settings`.
#[derive(Clone)]
pub struct WorkerSettings {
    /// Flow table capacity.
    pub max_flows: usize,
    /// Idle timeouts.
    pub timeouts: Timeouts,
    /// Entries of the per-client name cache.
    pub names_capacity: std::num::NonZeroUsize,
    /// Shortest lifetime of a learned name, seconds.
    pub names_min_ttl_secs: u64,
    /// Longest lifetime of a learned name, seconds.
    pub names_max_ttl_secs: u64,
    /// Browser/non-browser fingerprint table for the client classifier.
    pub browser_table: Arc<BrowserTable>,
    /// Log metadata events for all traffic, not only serverless names.
    pub log_all: bool,
    /// Community ID seed.
    pub community_id_seed: u16,
    /// The serverless catalogue.
    pub catalogue: Arc<Catalogue>,
    /// First-flight bounds.
    pub limits: FlightLimits,
    /// Which flows report beats to the beacon detector.
    pub beats: BeatSettings,
}

/// Which flows report beats, and when a burst inside a connection is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BeatSettings {
    /// `[detect.beacon] scope = "all"`: every destination, named or not, not
    /// only serverless names.
    pub all_destinations: bool,
    /// Client silence inside a connection, in nanoseconds, after which a
    /// client payload is a beat of its own.
    pub burst_idle_ns: u64,
    /// With `all_destinations`: server ports left out (infrastructure).
    pub infrastructure_ports: Arc<[u16]>,
}

/// The worker's reusable buffers, so that a packet allocates nothing.
struct Buffers {
    dns: dns::DnsBuffers,
    tls: TlsBuffers,
    /// Decryption space for the largest UDP payload, allocated once.
    quic: Vec<u8>,
    /// The uncharged QUIC state for a hello the memcap could not take.
    quic_spare: Box<QuicState>,
    /// A datagram rebuilt from fragments.
    reassembled: Vec<u8>,
}

/// What the per-protocol code of a worker works with.
struct Parts {
    handler: HandlerParts,
    names: NameCache,
    bufs: Buffers,
}

/// The parts a protocol handler is lent (apart from the buffers, so both
/// can be borrowed at once).
struct HandlerParts {
    settings: WorkerSettings,
    out: WorkerOutput,
    counters: AppCounters,
}

impl HandlerParts {
    /// The handler context for `flow` and `packet`; `serverless` says
    /// whether the flow already touches a catalogued name.
    fn ctx(&mut self, flow: FlowRef, packet: PacketRef, serverless: bool) -> HandlerCtx<'_> {
        HandlerCtx {
            flow,
            packet,
            limits: self.settings.limits,
            catalogue: &self.settings.catalogue,
            serverless,
            counters: &mut self.counters,
            sink: &mut self.out,
        }
    }
}

/// One worker's state.
pub struct Worker {
    flows: FlowTable<FlowApp>,
    defrag: Defragmenter,
    parts: Parts,
    lines: LineSender,
    detection: Option<StageSender>,
    ended: Vec<(FlowKey, Flow<FlowApp>, EndReason)>,
    now: Timestamp,
    decode: DecodeCounters,
}

impl Worker {
    /// A worker that hands its lines to `lines`.
    pub fn new(settings: WorkerSettings, lines: LineSender) -> Worker {
        let names = NameCache::new(
            settings.names_capacity,
            settings.names_min_ttl_secs,
            settings.names_max_ttl_secs,
        );
        Worker {
            flows: FlowTable::new(settings.max_flows, settings.timeouts),
            defrag: Defragmenter::new(DefragConfig::default()),
            parts: Parts {
                handler: HandlerParts {
                    out: WorkerOutput::new(settings.log_all, settings.community_id_seed),
                    settings,
                    counters: AppCounters::default(),
                },
                names,
                bufs: Buffers {
                    dns: dns::DnsBuffers::default(),
                    tls: TlsBuffers::default(),
                    quic: vec![0; 65_536],
                    quic_spare: QuicState::spare(),
                    reassembled: Vec::new(),
                },
            },
            lines,
            detection: None,
            ended: Vec::new(),
            now: Timestamp(0),
            decode: DecodeCounters::default(),
        }
    }

    /// Sets where the following packets come from (`pcap_filename` or
    /// `in_iface` of their events).
    pub fn set_origin(&mut self, origin: &str, live: bool) {
        self.parts.handler.out.lines.set_origin(PacketOrigin {
            name: Arc::from(origin),
            live,
        });
    }

    /// Applies new settings (SIGHUP) without losing state: the catalogue,
    /// `log_all`, first-flight limits, Community ID seed and client table
    /// change; flows, the name cache and fragments in progress are kept.
    /// Capacities (`max_flows`, name cache size) and timeouts apply at the
    /// next start.
    pub fn reconfigure(&mut self, settings: WorkerSettings) {
        self.parts.handler.out.log_all = settings.log_all;
        self.parts
            .handler
            .out
            .lines
            .set_community_id_seed(settings.community_id_seed);
        self.parts.handler.settings = settings;
    }

    /// Connects the worker to the detection stage.
    pub fn set_detection(&mut self, stage: StageSender) {
        self.detection = Some(stage);
    }

    /// Sends the detection records gathered so far, then the watermark.
    fn send_detection(&mut self, watermark: Option<Timestamp>) {
        let records = std::mem::take(&mut self.parts.handler.out.detection);
        let Some(stage) = &self.detection else {
            return;
        };
        stage.records(records);
        if let Some(t) = watermark {
            stage.watermark(t);
        }
    }

    /// Every counter of this worker, for `stats` events.
    pub fn counters(&self) -> Counters {
        Counters {
            decode: self.decode,
            flows: self.flows.stats(),
            flows_active: self.flows.len() as u64,
            app: self.parts.handler.counters,
            names: self.parts.names.stats(),
            defrag_timeouts: self.defrag.stats().timeouts,
            // This worker's thread: first flights are charged where they live.
            flight_memuse: crate::flow::first_flight::held_bytes() as u64,
            flight_memcap_drops: crate::flow::first_flight::memcap_drops(),
            ..Default::default()
        }
    }

    /// Processes one packet.
    pub fn process(&mut self, pkt: &RawPacket<'_>) {
        let d = &mut self.decode;
        d.packets += 1;
        d.bytes += u64::from(pkt.wire_len);
        let view = match packet::decode(LinkType(pkt.linktype), pkt.data) {
            Ok(v) => v,
            Err(_) => {
                d.decode_errors += 1;
                return;
            }
        };
        if view.stop.is_some() {
            d.decode_errors += 1;
        }
        let Some(ip) = view.ip.as_ref() else {
            d.not_ip += 1;
            return;
        };
        if ip.version == 4 {
            d.ipv4 += 1;
        } else {
            d.ipv6 += 1;
        }
        match view.transport {
            L4::Tcp(_) => d.tcp += 1,
            L4::Udp(_) => d.udp += 1,
            _ => {}
        }
        let at = PacketRef {
            ts: pkt.ts,
            pcap_cnt: pkt.pcap_cnt,
        };
        if ip.fragment.is_some() {
            d.fragments += 1;
            let now_us = pkt.ts.max(self.now).0 / 1_000;
            if let DefragOutcome::Complete(bytes) = self.defrag.push(ip, now_us) {
                d.reassembled += 1;
                let mut buf = std::mem::take(&mut self.parts.bufs.reassembled);
                buf.clear();
                buf.extend_from_slice(bytes);
                let whole = packet::decode_ip(&buf);
                self.handle(&whole, at);
                self.parts.bufs.reassembled = buf;
            }
            return;
        }
        self.handle(&view, at);
        self.lines
            .send_if_full(&mut self.parts.handler.out.lines.out);
    }

    /// Advances packet time to `now` (a tick from the capture thread, sent to
    /// every worker each second of packet time): ends idle flows and hands
    /// buffered lines to the writer. Expiry runs only here, so the events do
    /// not depend on how packets are spread over workers.
    pub fn advance(&mut self, now: Timestamp) {
        if now > self.now {
            self.now = now;
        }
        let ended = &mut self.ended;
        self.flows.expire(self.now, |k, f, r| ended.push((k, f, r)));
        self.finish_ended();
        self.defrag.expire(self.now.0 / 1_000);
        self.flush();
        self.send_detection(Some(self.now));
    }

    fn finish_ended(&mut self) {
        while let Some((_k, mut f, r)) = self.ended.pop() {
            flow_end::end_flow(&mut f, r, self.now, &mut self.parts.handler.out);
        }
    }

    /// Ends every flow, hands on the pending records and all lines.
    pub fn finish(&mut self) {
        self.finish_ended();
        // Oldest first, as drained, each flow ended as it leaves the table
        // (collecting them first would hold a second copy of a full table:
        // peak RSS ×2 at shutdown); lines go to the writer every MiB.
        let (flows, now) = (&mut self.flows, self.now);
        let (out, lines) = (&mut self.parts.handler.out, &self.lines);
        flows.drain(|_k, mut f, r| {
            flow_end::end_flow(&mut f, r, now, out);
            if out.lines.out.len() >= 1 << 20 {
                lines.send_and_renew(&mut out.lines.out);
            }
        });
        self.flush();
        self.send_detection(None);
        self.detection = None;
    }

    /// As [`Worker::finish`] for a worker that ends while the others read
    /// on (its socket failed): the detection stage stops waiting for its
    /// watermark. (Workers that end together keep their last watermark, so
    /// the records they send at the end are released together, as one
    /// worker's would be.)
    pub fn finish_alone(&mut self) {
        let stage = self.detection.clone();
        self.finish();
        if let Some(stage) = stage {
            stage.done();
        }
    }

    /// Hands buffered lines to the writer.
    pub fn flush(&mut self) {
        self.lines
            .send_and_renew(&mut self.parts.handler.out.lines.out);
    }

    fn handle(&mut self, view: &PacketView<'_>, at: PacketRef) {
        let Some(ip) = view.ip.as_ref() else {
            return;
        };
        let (proto, sport, dport, flags, seq, payload) = match view.transport {
            L4::Tcp(t) => (
                6u8,
                t.src_port,
                t.dst_port,
                (t.flags.0 & 0xff) as u8,
                t.seq,
                t.payload,
            ),
            L4::Udp(u) => (17u8, u.src_port, u.dst_port, 0u8, 0u32, u.payload),
            L4::Other { protocol } => (protocol.0, 0, 0, 0, 0, &[][..]),
            L4::None => return,
        };
        let tuple = Tuple {
            src: Endpoint {
                ip: ip.src,
                port: sport,
            },
            dst: Endpoint {
                ip: ip.dst,
                port: dport,
            },
            proto,
        };
        let meta = PacketMeta {
            tuple,
            ts: at.ts,
            ip_len: ip.total_len,
            tcp_flags: flags,
        };
        let ended = &mut self.ended;
        let (flow, dir) = self.flows.track(&meta, |k, f, r| ended.push((k, f, r)));
        if proto == 6 && flags & 0x02 != 0 {
            flow.app.isn[dir as usize] = Some(seq.wrapping_add(1));
        }
        let p = &mut self.parts;
        if flow.pkts[0] + flow.pkts[1] == 1 && matches!(proto, 6 | 17) && !is_dns_port(&tuple) {
            conn::name_from_dns(flow, at.ts, p);
        }
        match proto {
            17 if !payload.is_empty() => udp::on_datagram(flow, dir, &tuple, payload, at, p),
            6 if !payload.is_empty() => tcp::on_segment(flow, dir, &tuple, seq, payload, at, p),
            _ => {}
        }
        self.finish_ended();
    }
}

fn is_dns_port(t: &Tuple) -> bool {
    t.src.port == 53 || t.dst.port == 53
}

/// The flow's identity as its client sends.
fn flow_ref(flow: &Flow<FlowApp>) -> FlowRef {
    FlowRef {
        flow_id: flow.id(),
        tuple: flow.tuple(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Per-flow memory: the flow record as stored in the table, plus the
    /// key and the LRU list's two links. Boxed protocol state (TLS first
    /// flight, QUIC Initials, DNS-over-TCP framing) is allocated only while a
    /// handshake is in progress and freed after it.
    #[test]
    fn flow_record_stays_small() {
        let flow = std::mem::size_of::<Flow<FlowApp>>();
        let key = std::mem::size_of::<FlowKey>();
        let per_flow = flow + key + 2 * std::mem::size_of::<usize>();
        eprintln!("flow record {flow} B, key {key} B, per tracked flow ≈ {per_flow} B + hash slot");
        assert!(per_flow <= 256, "{per_flow} bytes per flow");
    }
}
