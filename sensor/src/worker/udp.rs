//! A UDP flow's datagrams to their protocol's handler: DNS on port 53,
//! QUIC when the client's first datagram is an Initial of a version virga
//! decrypts.

use super::{conn, dns, flow_ref, is_dns_port, Parts};
use crate::app::{quic, AppState, FlowApp};
use crate::flow::key::Tuple;
use crate::flow::table::{Direction, Flow};
use crate::records::{AppProto, NameSource, PacketRef};
use virga_parsers::fingerprint::Transport;

/// Client datagrams of a UDP flow that may pass before it is given up as
/// "not QUIC" while it only carries long headers of other versions.
const MAX_UNDECIDED_DATAGRAMS: u32 = 8;

/// Handles one datagram (non-empty) of `flow`, going as `tuple`.
pub(super) fn on_datagram(
    flow: &mut Flow<FlowApp>,
    dir: Direction,
    tuple: &Tuple,
    payload: &[u8],
    at: PacketRef,
    p: &mut Parts,
) {
    if is_dns_port(tuple) {
        flow.app.proto = AppProto::Dns;
        let fid = flow.id();
        dns::on_message(dns::DnsFlow::of(&mut flow.app), tuple, fid, payload, at, p);
        return;
    }
    if dir != Direction::ToServer {
        return;
    }
    conn::client_data(flow, at, payload, &mut p.handler);
    let fr = flow_ref(flow);
    if let AppState::Quic(q) = &mut flow.app.state {
        let mut ctx = p.handler.ctx(fr, at, flow.app.serverless);
        if let Some(sni) = quic::on_client_datagram(q, payload, &mut ctx, &mut p.bufs.quic) {
            conn::note_name(&mut flow.app, sni, NameSource::Sni, &p.handler);
            conn::observe(flow, at, &mut p.handler, None);
        }
        release_finished_quic(flow);
        return;
    }
    if flow.app.proto == AppProto::Failed {
        opaque_datagram(flow, at, p);
        return;
    }
    if !matches!(flow.app.state, AppState::Idle) || flow.app.proto != AppProto::Unknown {
        return;
    }
    if !quic::probe(payload) {
        if !quic::is_long_header(payload) || flow.pkts[0] > MAX_UNDECIDED_DATAGRAMS {
            // A long header of another version (a greased or reserved one
            // before version negotiation) leaves the flow open for the
            // client's next Initial.
            flow.app.proto = AppProto::Failed;
            opaque_datagram(flow, at, p);
        }
        return;
    }
    flow.app.proto = AppProto::Quic;
    let Some(mut q) = quic::QuicState::try_new(p.handler.settings.limits.memcap) else {
        // Over the memcap (counted): the flow keeps no QUIC state, but a
        // hello whole in this datagram is still logged and classified.
        let spare = &mut p.bufs.quic_spare;
        spare.reset();
        let mut ctx = p.handler.ctx(fr, at, flow.app.serverless);
        let sni = quic::on_client_datagram(spare, payload, &mut ctx, &mut p.bufs.quic);
        if let Some(sni) = sni {
            conn::note_name(&mut flow.app, sni, NameSource::Sni, &p.handler);
            let spare = &p.bufs.quic_spare;
            let hello = spare
                .hello()
                .map(|h| (h, Transport::Quic, Some(spare.version())));
            conn::observe(flow, at, &mut p.handler, hello);
        }
        return;
    };
    let mut ctx = p.handler.ctx(fr, at, flow.app.serverless);
    let sni = quic::on_client_datagram(&mut q, payload, &mut ctx, &mut p.bufs.quic);
    flow.app.state = AppState::Quic(q);
    if let Some(sni) = sni {
        conn::note_name(&mut flow.app, sni, NameSource::Sni, &p.handler);
        conn::observe(flow, at, &mut p.handler, None);
    }
    release_finished_quic(flow);
}

/// A client datagram of a flow that is no protocol virga parses: scoring
/// every destination, its start is a beat (DNS may still name it).
fn opaque_datagram(flow: &mut Flow<FlowApp>, at: PacketRef, p: &mut Parts) {
    if p.handler.settings.beats.all_destinations {
        conn::observe(flow, at, &mut p.handler, None);
    }
}

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
