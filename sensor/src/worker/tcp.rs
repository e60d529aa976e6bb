//! A TCP flow's segments to their protocol's handler: DNS on port 53, TLS
//! when the client opens with a handshake record, HTTP when it opens with a
//! request line; anything else is opaque (its connection start is still
//! reported when the client's DNS names it).

use super::{conn, dns, flow_ref, is_dns_port, Parts};
use crate::app::tls::{self, TlsState};
use crate::app::{http, AppState, FlowApp, StreamHead};
use crate::flow::key::Tuple;
use crate::flow::table::{Direction, Flow};
use crate::records::{AppProto, NameSource, PacketRef};
use virga_parsers::fingerprint::Transport;

/// Handles one segment (with payload) of `flow`, going as `tuple`.
pub(super) fn on_segment(
    flow: &mut Flow<FlowApp>,
    dir: Direction,
    tuple: &Tuple,
    seq: u32,
    payload: &[u8],
    at: PacketRef,
    p: &mut Parts,
) {
    if dir == Direction::ToServer && !is_dns_port(tuple) {
        conn::client_data(flow, at, payload, &mut p.handler);
    }
    if flow.app.proto == AppProto::Unknown && !decide(flow, dir, tuple, payload) {
        // An opaque protocol: the client's DNS may still name it.
        if dir == Direction::ToServer {
            conn::observe(flow, at, &mut p.handler, None);
        }
        return;
    }
    let fr = flow_ref(flow);
    let serverless = flow.app.serverless;
    let learned = match &mut flow.app.state {
        AppState::Tls(st) => {
            let mut ctx = p.handler.ctx(fr, at, serverless);
            if dir == Direction::ToServer {
                tls::on_client_data(st, seq, payload, &mut ctx, &mut p.bufs.tls)
            } else {
                tls::on_server_data(st, seq, payload, &mut ctx, &mut p.bufs.tls);
                None
            }
        }
        AppState::Http(head) if dir == Direction::ToServer => {
            let mut ctx = p.handler.ctx(fr, at, serverless);
            http::on_client_data(head, seq, payload, &mut ctx)
        }
        AppState::DnsTcp(st) => {
            let fid = fr.flow_id;
            let (tx_count, serverless) = (&mut flow.app.tx_count, &mut flow.app.serverless);
            st.push(dir as usize, seq, payload, |m| {
                let app = dns::DnsFlow {
                    tx_count: &mut *tx_count,
                    serverless: &mut *serverless,
                };
                dns::on_message(app, tuple, fid, m, at, p);
            });
            return;
        }
        _ => None,
    };
    let Some(name) = learned else {
        return;
    };
    let source = if flow.app.proto == AppProto::Http {
        NameSource::HttpHost
    } else {
        NameSource::Sni
    };
    conn::note_name(&mut flow.app, name, source, &p.handler);
    let unkept = matches!(&flow.app.state, AppState::Tls(st) if st.unkept);
    let unkept_hello = unkept.then_some(p.bufs.tls.unkept.as_slice());
    conn::observe(
        flow,
        at,
        &mut p.handler,
        unkept_hello.map(|h| (h, Transport::Tcp, None)),
    );
    if let (AppState::Tls(st), Some(hello)) = (&mut flow.app.state, unkept_hello) {
        let mut ctx = p.handler.ctx(fr, at, flow.app.serverless);
        tls::unkept_record(st, hello, &mut ctx);
    }
}

/// Decides the protocol of a flow from its first payload; false when it is
/// none that virga parses.
fn decide(flow: &mut Flow<FlowApp>, dir: Direction, tuple: &Tuple, payload: &[u8]) -> bool {
    let app = &mut flow.app;
    if is_dns_port(tuple) {
        app.proto = AppProto::Dns;
        app.state = AppState::DnsTcp(Box::default());
    } else if dir == Direction::ToServer && virga_parsers::tls::record::probe(payload) {
        app.proto = AppProto::Tls;
        let mut st = Box::<TlsState>::default();
        st.client = StreamHead::new(app.isn[0]);
        st.server = StreamHead::new(app.isn[1]);
        app.state = AppState::Tls(st);
    } else if dir == Direction::ToServer && virga_parsers::http::probe_request(payload) {
        app.proto = AppProto::Http;
        app.state = AppState::Http(Box::new(StreamHead::new(app.isn[0])));
    } else {
        app.proto = AppProto::Failed;
        return false;
    }
    true
}
