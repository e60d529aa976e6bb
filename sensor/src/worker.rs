//! A worker: decodes packets, tracks flows, runs the application-layer
//! handlers and collects EVE lines. Each worker owns all of its state; no
//! lock is taken on the packet path.

use crate::app::dns::{write_dns_object, Scratch as DnsScratch, TcpDnsState};
use crate::app::{self, AppProto, AppState, Emitter, EventPacket, FlowApp, Side};
use crate::capture::RawPacket;
use crate::detect::client::{classify_with_ja4, BrowserTable};
use crate::detect::engine::StageSender;
use crate::detect::observe::{ConnObs, DnsObs, ObsKind, Observation};
use crate::flow::key::{Endpoint, FlowKey, Tuple};
use crate::flow::table::{Direction, EndReason, Flow, FlowStats, FlowTable, PacketMeta, Timeouts};
use crate::names::{Learned, NameCache, NameSource};
use crate::output::eve::flow_id;
use crate::output::EventSender;
use crate::time::Timestamp;
use std::sync::Arc;
use virga_parsers::defrag::{DefragConfig, DefragOutcome, Defragmenter};
use virga_parsers::fingerprint::Transport;
use virga_parsers::packet::{self, LinkType, PacketView, Transport as L4};

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

/// Worker settings.
#[derive(Clone)]
pub struct WorkerConfig {
    /// Flow table capacity.
    pub max_flows: usize,
    /// Idle timeouts.
    pub timeouts: Timeouts,
    /// Emitter settings (catalogue, log_all, limits, Community ID seed).
    pub emit: app::EmitConfig,
    /// Entries of the per-client name cache.
    pub names_capacity: std::num::NonZeroUsize,
    /// Shortest lifetime of a learned name, seconds.
    pub names_min_ttl_secs: u64,
    /// Longest lifetime of a learned name, seconds.
    pub names_max_ttl_secs: u64,
    /// Browser/non-browser fingerprint table for the client classifier.
    pub browser_table: Arc<BrowserTable>,
}

/// One worker's state.
pub struct Worker {
    flows: FlowTable<FlowApp>,
    defrag: Defragmenter,
    emit: Emitter,
    sender: EventSender,
    dns_scratch: DnsBuffers,
    tls_scratch: app::tls::TlsBuffers,
    quic_scratch: Vec<u8>,
    quic_spare: Box<app::quic::QuicState>,
    reasm: Vec<u8>,
    names: NameCache,
    browser_table: Arc<BrowserTable>,
    stage: Option<StageSender>,
    ended: Vec<(FlowKey, Flow<FlowApp>, EndReason)>,
    now: Timestamp,
    /// Decode counters.
    pub decode: DecodeCounters,
}

impl Worker {
    /// A worker that sends its lines through `sender`.
    pub fn new(cfg: WorkerConfig, sender: EventSender) -> Worker {
        Worker {
            flows: FlowTable::new(cfg.max_flows, cfg.timeouts),
            defrag: Defragmenter::new(DefragConfig::default()),
            emit: Emitter::new(cfg.emit),
            sender,
            dns_scratch: DnsBuffers::default(),
            tls_scratch: app::tls::TlsBuffers::default(),
            // Decryption space for the largest UDP payload, allocated once.
            quic_scratch: vec![0; 65_536],
            quic_spare: app::quic::QuicState::spare(),
            reasm: Vec::new(),
            names: NameCache::new(
                cfg.names_capacity,
                cfg.names_min_ttl_secs,
                cfg.names_max_ttl_secs,
            ),
            browser_table: cfg.browser_table.clone(),
            stage: None,
            ended: Vec::new(),
            now: Timestamp(0),
            decode: DecodeCounters::default(),
        }
    }

    /// Sets where the following packets come from (`pcap_filename` or
    /// `in_iface` of their events).
    pub fn set_origin(&mut self, origin: &str, live: bool) {
        self.emit.origin.clear();
        self.emit.origin.push_str(origin);
        self.emit.origin_arc = Arc::from(origin);
        self.emit.live = live;
    }

    /// Applies new settings (SIGHUP) without losing state: the catalogue,
    /// `log_all`, first-flight limits, Community ID seed and client table
    /// change; flows, the name cache and fragments in progress are kept.
    /// Capacities (`max_flows`, name cache size) and timeouts apply at the
    /// next start.
    pub fn reconfigure(&mut self, cfg: WorkerConfig) {
        self.emit.cfg = cfg.emit;
        self.browser_table = cfg.browser_table;
    }

    /// Connects the worker to the detection stage.
    pub fn set_stage(&mut self, stage: StageSender) {
        self.stage = Some(stage);
    }

    /// Sends the observations gathered so far, then the watermark `now`.
    fn send_observations(&mut self, watermark: Option<Timestamp>) {
        let Some(stage) = &self.stage else {
            self.emit.obs.clear();
            return;
        };
        stage.observations(std::mem::take(&mut self.emit.obs));
        if let Some(t) = watermark {
            stage.watermark(t);
        }
    }

    /// Flow table counters.
    pub fn flow_stats(&self) -> FlowStats {
        self.flows.stats()
    }

    /// Parse counters.
    pub fn app_counters(&self) -> app::AppCounters {
        self.emit.counters
    }

    /// Every counter of this worker, for `stats` events.
    pub fn counters(&self) -> crate::stats::Counters {
        crate::stats::Counters {
            decode: self.decode,
            flows: self.flows.stats(),
            flows_active: self.flows.len() as u64,
            app: self.emit.counters,
            names: self.names.stats(),
            defrag_timeouts: self.defrag.stats().timeouts,
            // This worker's thread: first flights are charged where they live.
            flight_memuse: crate::flow::stream::held_bytes() as u64,
            flight_memcap_drops: crate::flow::stream::memcap_drops(),
            ..Default::default()
        }
    }

    /// Processes one packet.
    pub fn process(&mut self, pkt: &RawPacket<'_>) {
        self.decode.packets += 1;
        self.decode.bytes += u64::from(pkt.wire_len);
        let view = match packet::decode(LinkType(pkt.linktype), pkt.data) {
            Ok(v) => v,
            Err(_) => {
                self.decode.decode_errors += 1;
                return;
            }
        };
        if view.stop.is_some() {
            self.decode.decode_errors += 1;
        }
        let Some(ip) = view.ip.as_ref() else {
            self.decode.not_ip += 1;
            return;
        };
        if ip.version == 4 {
            self.decode.ipv4 += 1;
        } else {
            self.decode.ipv6 += 1;
        }
        match view.transport {
            L4::Tcp(_) => self.decode.tcp += 1,
            L4::Udp(_) => self.decode.udp += 1,
            _ => {}
        }
        let ev = EventPacket {
            ts: pkt.ts,
            pcap_cnt: pkt.pcap_cnt,
        };
        if ip.fragment.is_some() {
            self.decode.fragments += 1;
            let now_us = pkt.ts.max(self.now).0 / 1_000;
            if let DefragOutcome::Complete(bytes) = self.defrag.push(ip, now_us) {
                self.decode.reassembled += 1;
                self.reasm.clear();
                self.reasm.extend_from_slice(bytes);
                let buf = std::mem::take(&mut self.reasm);
                let whole = packet::decode_ip(&buf);
                self.handle(&whole, ev);
                self.reasm = buf;
            }
            return;
        }
        self.handle(&view, ev);
        self.sender.send_if_full(&mut self.emit.out);
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
        self.send_observations(Some(self.now));
    }

    fn finish_ended(&mut self) {
        while let Some((_k, mut f, r)) = self.ended.pop() {
            end_flow(&mut f, r, self.now, &mut self.emit);
        }
    }

    /// Ends every flow, writes the pending events and hands all lines to the
    /// writer.
    pub fn finish(&mut self) {
        self.finish_ended();
        // Oldest first, as drained, each flow ended as it leaves the table
        // (collecting them first would hold a second copy of a full table:
        // peak RSS ×2 at shutdown); lines go to the writer every MiB.
        let (flows, now) = (&mut self.flows, self.now);
        let (emit, sender) = (&mut self.emit, &self.sender);
        flows.drain(|_k, mut f, r| {
            end_flow(&mut f, r, now, emit);
            if emit.out.len() >= 1 << 20 {
                let out = std::mem::replace(&mut emit.out, Vec::with_capacity(64 * 1024));
                sender.send(out);
            }
        });
        self.flush();
        self.send_observations(None);
        self.stage = None;
    }

    /// Sends buffered lines to the writer.
    pub fn flush(&mut self) {
        if !self.emit.out.is_empty() {
            let out = std::mem::replace(&mut self.emit.out, Vec::with_capacity(64 * 1024));
            self.sender.send(out);
        }
    }

    fn handle(&mut self, view: &PacketView<'_>, ev: EventPacket) {
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
            ts: ev.ts,
            ip_len: ip.total_len,
            tcp_flags: flags,
        };
        let ended = &mut self.ended;
        let (flow, dir) = self.flows.track(&meta, |k, f, r| ended.push((k, f, r)));
        let d = dir as usize;
        if proto == 6 && flags & 0x02 != 0 {
            flow.app.isn[d] = Some(seq.wrapping_add(1));
        }
        if flow.pkts[0] + flow.pkts[1] == 1 && matches!(proto, 6 | 17) && !is_dns_port(&tuple) {
            if let Some(l) = self.names.lookup(flow.client.ip, flow.server.ip, ev.ts) {
                let em = &self.emit;
                if l.serverless_name.is_some() || em.is_serverless(&l.name) {
                    flow.app.serverless = true;
                }
                flow.app.dns_name = Some(Box::new(l));
            }
        }
        let fid = flow_id(flow.key_hash(), flow.start);
        let ctuple = flow.tuple();
        let em = &mut self.emit;
        match proto {
            17 => udp(
                flow,
                dir,
                &tuple,
                fid,
                payload,
                ev,
                em,
                &mut self.dns_scratch,
                &mut self.quic_scratch,
                &mut self.quic_spare,
                &mut self.names,
                &self.browser_table,
            ),
            6 if !payload.is_empty() => tcp(
                flow,
                dir,
                &tuple,
                &ctuple,
                fid,
                seq,
                payload,
                ev,
                em,
                &mut self.dns_scratch,
                &mut self.tls_scratch,
                &mut self.names,
                &self.browser_table,
            ),
            _ => {}
        }
        self.finish_ended();
    }
}

fn is_dns_port(t: &Tuple) -> bool {
    t.src.port == 53 || t.dst.port == 53
}

#[allow(clippy::too_many_arguments)]
fn udp(
    flow: &mut Flow<FlowApp>,
    dir: Direction,
    tuple: &Tuple,
    fid: u64,
    payload: &[u8],
    ev: EventPacket,
    em: &mut Emitter,
    s: &mut DnsBuffers,
    quic_s: &mut [u8],
    quic_spare: &mut app::quic::QuicState,
    names: &mut NameCache,
    table: &BrowserTable,
) {
    if payload.is_empty() {
        return;
    }
    if is_dns_port(tuple) {
        flow.app.proto = AppProto::Dns;
        dns_message(
            DnsFlow::of(&mut flow.app),
            tuple,
            fid,
            payload,
            ev,
            em,
            s,
            names,
        );
        return;
    }
    let ctuple = flow.tuple();
    match (&mut flow.app.state, dir) {
        (AppState::Quic(q), Direction::ToServer) => {
            let ctx = app::quic::QuicCtx {
                tuple: &ctuple,
                flow_id: fid,
                log: em.cfg.log_all || flow.app.serverless,
            };
            if let Some(sni) = app::quic::on_client_datagram(q, payload, ev, em, &ctx, quic_s) {
                note_name(&mut flow.app, sni, NameSource::Sni, em);
                observe_conn(flow, fid, ev, em, table);
            }
            release_finished_quic(flow);
        }
        (AppState::Idle, Direction::ToServer) if flow.app.proto == AppProto::Unknown => {
            if app::quic::probe(payload) {
                flow.app.proto = AppProto::Quic;
                let Some(mut q) = app::quic::QuicState::try_new(em.cfg.limits.memcap) else {
                    // Over the memcap (counted): the flow keeps no QUIC state,
                    // but a hello whole in this datagram is still logged and
                    // classified.
                    quic_spare.reset();
                    let ctx = app::quic::QuicCtx {
                        tuple: &ctuple,
                        flow_id: fid,
                        log: em.cfg.log_all || flow.app.serverless,
                    };
                    let sni =
                        app::quic::on_client_datagram(quic_spare, payload, ev, em, &ctx, quic_s);
                    if let Some(sni) = sni {
                        note_name(&mut flow.app, sni, NameSource::Sni, em);
                        let hello = quic_spare.hello().map(|h| (h, Transport::Quic));
                        observe_conn_with(flow, fid, ev, em, table, hello);
                    }
                    return;
                };
                let ctx = app::quic::QuicCtx {
                    tuple: &ctuple,
                    flow_id: fid,
                    log: em.cfg.log_all || flow.app.serverless,
                };
                let sni = app::quic::on_client_datagram(&mut q, payload, ev, em, &ctx, quic_s);
                flow.app.state = AppState::Quic(q);
                if let Some(sni) = sni {
                    note_name(&mut flow.app, sni, NameSource::Sni, em);
                    observe_conn(flow, fid, ev, em, table);
                }
                release_finished_quic(flow);
            } else if !app::quic::is_long_header(payload) || flow.pkts[0] > MAX_UNDECIDED_DATAGRAMS
            {
                // A long header of another version (a greased or reserved
                // one before version negotiation) leaves the flow open for
                // the client's next Initial.
                flow.app.proto = AppProto::Failed;
            }
        }
        _ => {}
    }
}

/// Client datagrams of a UDP flow that may pass before it is given up as
/// "not QUIC" while it only carries long headers of other versions.
const MAX_UNDECIDED_DATAGRAMS: u32 = 8;

/// Records the server name of a flow, its source, and whether it is serverless.
fn note_name(app: &mut FlowApp, name: Option<Box<str>>, source: NameSource, em: &Emitter) {
    if let Some(n) = name {
        if em.is_serverless(&n) {
            app.serverless = true;
        }
        app.server_name = Some(n);
        app.name_source = Some(source);
    }
}

/// Reusable buffers of the DNS path, so a message allocates nothing: the
/// event writer's, and the names formatted to match against the catalogue
/// and to learn.
#[derive(Default)]
struct DnsBuffers {
    event: DnsScratch,
    qname: String,
    target: String,
}

/// The parts of a flow's state a DNS message updates (borrowed apart from
/// the TCP stream state that yields the messages).
struct DnsFlow<'a> {
    tx_count: &'a mut u32,
    serverless: &'a mut bool,
}

impl<'a> DnsFlow<'a> {
    fn of(app: &'a mut FlowApp) -> Self {
        DnsFlow {
            tx_count: &mut app.tx_count,
            serverless: &mut app.serverless,
        }
    }
}

/// Parses one DNS message and writes its event.
#[allow(clippy::too_many_arguments)]
fn dns_message(
    app: DnsFlow<'_>,
    tuple: &Tuple,
    fid: u64,
    payload: &[u8],
    ev: EventPacket,
    em: &mut Emitter,
    s: &mut DnsBuffers,
    names: &mut NameCache,
) {
    let msg = match virga_parsers::dns::parse(payload) {
        Ok(m) => m,
        Err(_) => {
            em.counters.dns_errors += 1;
            return;
        }
    };
    em.counters.dns_messages += 1;
    let tx = u64::from(*app.tx_count);
    *app.tx_count = app.tx_count.saturating_add(1);
    let mut serverless = false;
    for q in msg.questions().map_while(Result::ok).take(8) {
        app::dns::name_text(&q.name, &mut s.qname);
        serverless |= em.is_serverless(&s.qname);
    }
    let response = msg.header().qr();
    if response {
        serverless |= learn_names(&msg, tuple.dst.ip, ev.ts, em, names, s);
    }
    if serverless {
        if let Some(q) = msg.first_question() {
            app::dns::name_text(&q.name, &mut s.qname);
            let (client, server) = if response {
                (tuple.dst, tuple.src)
            } else {
                (tuple.src, tuple.dst)
            };
            em.obs.push(Observation {
                ts: ev.ts,
                kind: ObsKind::Dns(Box::new(DnsObs {
                    client: client.ip,
                    client_port: client.port,
                    server,
                    flow_id: fid,
                    pcap_cnt: ev.pcap_cnt,
                    origin: em.origin_arc.clone(),
                    live: em.live,
                    qname: Arc::from(s.qname.as_str()),
                    qtype: q.qtype.0,
                    rcode: response.then(|| msg.full_rcode()),
                    answers: msg.header().ancount,
                })),
            });
        }
    }
    if serverless {
        *app.serverless = true;
    }
    if em.cfg.log_all || serverless {
        em.event("dns", tuple, fid, Some(ev), ev.ts, |w| {
            write_dns_object(w, &msg, tx, &mut s.event)
        });
    }
}

#[allow(clippy::too_many_arguments)]
fn tcp(
    flow: &mut Flow<FlowApp>,
    dir: Direction,
    tuple: &Tuple,
    ctuple: &Tuple,
    fid: u64,
    seq: u32,
    payload: &[u8],
    ev: EventPacket,
    em: &mut Emitter,
    dns_s: &mut DnsBuffers,
    tls_s: &mut app::tls::TlsBuffers,
    names: &mut NameCache,
    table: &BrowserTable,
) {
    let d = dir as usize;
    let lim = em.cfg.limits;
    if flow.app.proto == AppProto::Unknown {
        if is_dns_port(tuple) {
            flow.app.proto = AppProto::Dns;
            flow.app.state = AppState::DnsTcp(Box::default());
        } else if dir == Direction::ToServer && virga_parsers::tls::record::probe(payload) {
            flow.app.proto = AppProto::Tls;
            let mut st = Box::<app::tls::TlsState>::default();
            st.client = Side::new(flow.app.isn[0]);
            st.server = Side::new(flow.app.isn[1]);
            flow.app.state = AppState::Tls(st);
        } else if dir == Direction::ToServer && virga_parsers::http::probe_request(payload) {
            flow.app.proto = AppProto::Http;
            flow.app.state = AppState::Http(Box::new(Side::new(flow.app.isn[0])));
        } else {
            flow.app.proto = AppProto::Failed;
            // An opaque protocol: the client's DNS may still name it.
            if dir == Direction::ToServer {
                observe_conn(flow, fid, ev, em, table);
            }
            return;
        }
    }
    let log_all = em.cfg.log_all;
    let mut learned: Option<Option<Box<str>>> = None;
    match &mut flow.app.state {
        AppState::Tls(st) => {
            if dir == Direction::ToServer {
                learned = app::tls::on_client_data(st, seq, payload, ev, lim, em, tls_s);
            } else {
                let log = log_all || flow.app.serverless;
                let ctx = app::tls::EventCtx {
                    tuple: ctuple,
                    flow_id: fid,
                    log,
                };
                app::tls::on_server_data(st, seq, payload, ev, lim, em, tls_s, &ctx);
            }
        }
        AppState::Http(side) if dir == Direction::ToServer => {
            learned =
                app::http::on_client_data(side, seq, payload, ev, lim, em, ctuple, fid, log_all);
        }
        AppState::DnsTcp(st) => {
            let st: &mut TcpDnsState = st;
            let (tx_count, serverless) = (&mut flow.app.tx_count, &mut flow.app.serverless);
            st.push(d, seq, payload, |m| {
                let app = DnsFlow {
                    tx_count: &mut *tx_count,
                    serverless: &mut *serverless,
                };
                dns_message(app, tuple, fid, m, ev, em, dns_s, names);
            });
            return;
        }
        _ => {}
    }
    if let Some(name) = learned {
        let source = if flow.app.proto == AppProto::Http {
            NameSource::HttpHost
        } else {
            NameSource::Sni
        };
        note_name(&mut flow.app, name, source, em);
        let unkept = matches!(&flow.app.state, AppState::Tls(st) if st.unkept);
        let unkept_hello = unkept.then_some(tls_s.unkept.as_slice());
        observe_conn_with(
            flow,
            fid,
            ev,
            em,
            table,
            unkept_hello.map(|h| (h, Transport::Tcp)),
        );
        if let (AppState::Tls(st), Some(hello)) = (&mut flow.app.state, unkept_hello) {
            let ctx = app::tls::EventCtx {
                tuple: ctuple,
                flow_id: fid,
                log: log_all || flow.app.serverless,
            };
            app::tls::write_unkept_event(st, hello, em, &ctx);
        }
    }
}

/// Writes what a flow still owes when it ends: a pending `tls` event, and the
/// `flow` event when the flow is logged.
fn end_flow(f: &mut Flow<FlowApp>, reason: EndReason, now: Timestamp, em: &mut Emitter) {
    let fid = flow_id(f.key_hash(), f.start);
    let tuple = f.tuple();
    let log = em.cfg.log_all || f.app.serverless;
    if let AppState::Tls(st) = &mut f.app.state {
        let ctx = app::tls::EventCtx {
            tuple: &tuple,
            flow_id: fid,
            log,
        };
        app::tls::on_flow_end(st, f.last, em, &ctx);
    }
    if !log {
        return;
    }
    let ts = if reason == EndReason::Shutdown {
        f.last
    } else {
        now.max(f.last)
    };
    let (start, last) = (f.start, f.last);
    let vars = flow_vars(&f.app, em);
    let (pkts, bytes, flags, state, app_proto) =
        (f.pkts, f.bytes, f.tcp_flags, f.state, f.app.proto);
    em.event("flow", &tuple, fid, None, ts, |w| {
        if app_proto != AppProto::Unknown {
            w.str("app_proto", app_proto.name());
        }
        if !vars.is_empty() {
            w.object("metadata").array("flowvars");
            for (k, v) in &vars {
                w.begin_object().str("key", k).str("value", v).end_object();
            }
            w.end_array().end_object();
        }
        let mut t = String::new();
        w.object("flow")
            .u64("pkts_toserver", u64::from(pkts[0]))
            .u64("pkts_toclient", u64::from(pkts[1]))
            .u64("bytes_toserver", bytes[0])
            .u64("bytes_toclient", bytes[1]);
        start.write_eve(&mut t);
        w.str("start", &t);
        t.clear();
        last.write_eve(&mut t);
        w.str("end", &t)
            .u64("age", last.secs().saturating_sub(start.secs()))
            .str("state", state.name())
            .str("reason", reason.name())
            .bool("alerted", false)
            .end_object();
        if tuple.proto == 6 {
            let all = flags[0] | flags[1];
            let mut hex = String::new();
            for (k, v) in [
                ("tcp_flags", all),
                ("tcp_flags_ts", flags[0]),
                ("tcp_flags_tc", flags[1]),
            ] {
                hex.clear();
                use std::fmt::Write as _;
                let _ = write!(hex, "{v:02x}");
                if k == "tcp_flags" {
                    w.object("tcp");
                }
                w.str(k, &hex);
            }
            for (bit, k) in [
                (0x02u8, "syn"),
                (0x01, "fin"),
                (0x04, "rst"),
                (0x08, "psh"),
                (0x10, "ack"),
            ] {
                if all & bit != 0 {
                    w.bool(k, true);
                }
            }
            w.str("state", state.name()).end_object();
        }
    });
}

/// Most answers of one response fed to the name cache.
const MAX_LEARNED_PER_RESPONSE: usize = 32;

/// Learns, from a DNS response to `client`, which names its addresses stand
/// for: the queried name, reached through the CNAME chain. Returns true when a
/// name of the chain is serverless.
fn learn_names(
    msg: &virga_parsers::dns::DnsMessage<'_>,
    client: std::net::IpAddr,
    now: Timestamp,
    em: &Emitter,
    names: &mut NameCache,
    s: &mut DnsBuffers,
) -> bool {
    use virga_parsers::dns::{Rdata, SvcParamValue};
    let Some(q) = msg.first_question() else {
        return false;
    };
    let (qname, target) = (&mut s.qname, &mut s.target);
    app::dns::name_text(&q.name, qname);
    if qname.is_empty() {
        return false;
    }
    // The first serverless name of the chain: the query, or a CNAME target.
    let serverless_name: Option<&str> = if em.is_serverless(qname) {
        Some(qname)
    } else {
        let mut found = false;
        for r in msg
            .answers()
            .map_while(Result::ok)
            .take(MAX_LEARNED_PER_RESPONSE)
        {
            if let Ok(Rdata::Cname(t)) = r.data() {
                app::dns::name_text(&t, target);
                if em.is_serverless(target) {
                    found = true;
                    break;
                }
            }
        }
        found.then_some(target.as_str())
    };
    // Made at the first address, from the cache's own copy when it already
    // holds this answer for it (allocated only for a new name).
    let mut learned: Option<Learned> = None;
    let mut learn = |names: &mut NameCache, server: std::net::IpAddr, ttl: u32| {
        let l = learned.get_or_insert_with(|| {
            names
                .held(client, server, qname, serverless_name)
                .unwrap_or_else(|| {
                    let name: Arc<str> = Arc::from(qname.as_str());
                    let serverless_name = serverless_name.map(|n| {
                        if n == qname.as_str() {
                            name.clone()
                        } else {
                            Arc::from(n)
                        }
                    });
                    Learned {
                        name,
                        serverless_name,
                    }
                })
        });
        names.learn(client, server, l, ttl, now);
    };
    for r in msg
        .answers()
        .map_while(Result::ok)
        .take(MAX_LEARNED_PER_RESPONSE)
    {
        match r.data() {
            Ok(Rdata::A(a)) => learn(names, a.into(), r.ttl),
            Ok(Rdata::Aaaa(a)) => learn(names, a.into(), r.ttl),
            Ok(Rdata::Https(svcb)) | Ok(Rdata::Svcb(svcb)) => {
                for p in svcb.params.clone().take(MAX_LEARNED_PER_RESPONSE) {
                    match p.decode() {
                        Ok(SvcParamValue::Ipv4Hint(a)) => {
                            for ip in a.take(MAX_LEARNED_PER_RESPONSE) {
                                learn(names, ip.into(), r.ttl);
                            }
                        }
                        Ok(SvcParamValue::Ipv6Hint(a)) => {
                            for ip in a.take(MAX_LEARNED_PER_RESPONSE) {
                                learn(names, ip.into(), r.ttl);
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    serverless_name.is_some()
}

/// virga's flow variables for the `flow` event (`metadata.flowvars`, the
/// schema's place for variables attached to a flow): the server name, where
/// it came from, and the serverless platform.
fn flow_vars(app: &FlowApp, em: &Emitter) -> Vec<(&'static str, String)> {
    let mut vars = Vec::new();
    let (name, source) = match (&app.server_name, app.name_source, &app.dns_name) {
        (Some(n), Some(src), _) => (Some(n.to_string()), Some(src)),
        (_, _, Some(l)) => (Some(l.name.to_string()), Some(NameSource::Dns)),
        _ => (None, None),
    };
    let Some(name) = name else {
        return vars;
    };
    let platform = em
        .cfg
        .catalogue
        .lookup(&name)
        .or_else(|| {
            app.dns_name
                .as_ref()
                .and_then(|l| l.serverless_name.as_deref())
                .and_then(|n| em.cfg.catalogue.lookup(n))
        })
        .map(|m| m.platform.id().to_string());
    vars.push(("virga.server_name", name));
    if let Some(src) = source {
        vars.push(("virga.name_source", src.name().to_string()));
    }
    if let Some(p) = platform {
        vars.push(("virga.platform", p));
    }
    vars
}

/// Reports a connection start to the detection stage, once per flow, when
/// its server name is known (SNI, Host, or the client's DNS).
/// Frees a QUIC connection's CRYPTO buffer once its hello is logged (or
/// abandoned) and the connection reported: nothing reads it afterwards, and
/// a busy network holds many long-lived QUIC flows.
fn release_finished_quic(flow: &mut Flow<FlowApp>) {
    if let AppState::Quic(q) = &flow.app.state {
        if q.done && flow.app.observed {
            flow.app.state = AppState::Idle;
        }
    }
}

fn observe_conn(
    flow: &mut Flow<FlowApp>,
    fid: u64,
    ev: EventPacket,
    em: &mut Emitter,
    table: &BrowserTable,
) {
    observe_conn_with(flow, fid, ev, em, table, None);
}

/// As [`observe_conn`]; `unkept_hello` is the flow's ClientHello (and how
/// it came) when the memcap could not keep it in the flow.
fn observe_conn_with(
    flow: &mut Flow<FlowApp>,
    fid: u64,
    ev: EventPacket,
    em: &mut Emitter,
    table: &BrowserTable,
    unkept_hello: Option<(&[u8], Transport)>,
) {
    if flow.app.observed {
        return;
    }
    let (name, source) = match (
        &flow.app.server_name,
        flow.app.name_source,
        &flow.app.dns_name,
    ) {
        (Some(n), Some(src), _) => (Arc::<str>::from(&**n), src),
        (_, _, Some(l)) => (l.name.clone(), NameSource::Dns),
        _ => return,
    };
    flow.app.observed = true;
    let hello: Option<(&[u8], Transport)> = match &flow.app.state {
        AppState::Tls(st) => st.hello.as_deref().map(|h| (h, Transport::Tcp)),
        AppState::Quic(q) => q.hello().map(|h| (h, Transport::Quic)),
        _ => None,
    }
    .or(unkept_hello);
    let mut ja4 = None;
    let mut app_json = None;
    let mut client_class = None;
    let mut class_reasons = Vec::new();
    if let Some((bytes, transport)) = hello {
        if let Ok(ch) = virga_parsers::tls::parse_client_hello(bytes) {
            let fp = virga_parsers::fingerprint::ja4(&ch, transport);
            let c = classify_with_ja4(&ch, transport, &fp, table);
            client_class = Some(c.class.name());
            class_reasons = c.reasons.names().collect();
            ja4 = Some(Box::from(fp.as_str()));
            app_json = Some(render_app_json(&ch, transport));
        }
    }
    em.obs.push(Observation {
        ts: ev.ts,
        kind: ObsKind::Conn(Box::new(ConnObs {
            client: flow.client.ip,
            client_port: flow.client.port,
            server: flow.server,
            proto: flow.proto,
            flow_id: fid,
            pcap_cnt: ev.pcap_cnt,
            origin: em.origin_arc.clone(),
            live: em.live,
            name,
            name_source: source,
            dns_serverless: flow
                .app
                .dns_name
                .as_ref()
                .and_then(|l| l.serverless_name.clone()),
            ja4,
            client_class,
            class_reasons,
            client_bytes: flow.bytes[0],
            app_json,
        })),
    });
}

/// The connection's `"tls":{...}` (or `"quic":{...}`) member, client side.
fn render_app_json(ch: &virga_parsers::tls::ClientHello<'_>, transport: Transport) -> Box<str> {
    let mut buf = Vec::new();
    let mut w = crate::output::json::JsonWriter::new(&mut buf);
    w.begin_object();
    match transport {
        Transport::Quic => {
            app::quic::write_quic_object(&mut w, ch, virga_parsers::quic::QuicVersion::V1)
        }
        _ => app::tls::write_tls_object(&mut w, ch, None),
    }
    w.end_object();
    let s = String::from_utf8_lossy(&buf);
    // Strip the outer braces: the member is spliced into the alert object.
    let inner = s.get(1..s.len().saturating_sub(1)).unwrap_or_default();
    Box::from(inner)
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
