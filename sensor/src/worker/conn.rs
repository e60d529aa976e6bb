//! A flow's server name and its connection start: the name comes from the
//! SNI or HTTP Host the client sent, else from the client's own DNS answers
//! for the server address; the first time a client→server packet finds it
//! known, a [`ConnStart`] record goes to the detectors with the client's
//! class from its ClientHello.

use super::{BeatSettings, HandlerParts, Parts};
use crate::app::{AppState, FlowApp};
use crate::client_class::{classify_with_ja4, ClientClass, Reasons};
use crate::flow::table::Flow;
use crate::records::{
    AppProto, BeatSource, ConnStart, FlowName, Hello, NameSource, PacketRef, RecordSink,
};
use crate::time::Timestamp;
use std::net::IpAddr;
use std::sync::Arc;
use virga_parsers::fingerprint::Transport;
use virga_parsers::quic::QuicVersion;

/// Names a new flow from what its client's DNS said about the server
/// address, if anything.
pub(super) fn name_from_dns(flow: &mut Flow<FlowApp>, now: Timestamp, p: &mut Parts) {
    let Some(l) = p.names.lookup(flow.client.ip, flow.server.ip, now) else {
        return;
    };
    let name = flow.app.name.get_or_insert_with(Box::default);
    if name.set_dns(l, &p.handler.settings.catalogue) {
        flow.app.serverless = true;
    }
}

/// Records the name the client sent (SNI, Host) and where it came from.
pub(super) fn note_name(
    app: &mut FlowApp,
    name: Option<Box<str>>,
    source: NameSource,
    h: &HandlerParts,
) {
    let Some(n) = name else {
        return;
    };
    let fname = app.name.get_or_insert_with(Box::<FlowName>::default);
    if fname.set_sent(Arc::from(n), source, &h.settings.catalogue) {
        app.serverless = true;
    }
}

/// Notes a client payload of the flow: after `burst_idle` of client silence
/// in a connection already reported, it is a beat of its own (a request on
/// an HTTP keep-alive connection, a burst in any other), reported to the
/// beacon detector when the flow's destination is scored. Call before the
/// payload's protocol handler.
pub(super) fn client_data(
    flow: &mut Flow<FlowApp>,
    at: PacketRef,
    payload: &[u8],
    h: &mut HandlerParts,
) {
    let since = at.ts.nanos_since(flow.app.client_data_at);
    let first = flow.app.client_data_at.0 == 0;
    flow.app.client_data_at = at.ts;
    let beats = &h.settings.beats;
    if first || !flow.app.observed || since < beats.burst_idle_ns {
        return;
    }
    if !flow.app.serverless && !beats.all_destinations {
        return;
    }
    let Some((name, source)) = destination(flow, beats) else {
        return;
    };
    let beat = if flow.app.proto == AppProto::Http && virga_parsers::http::probe_request(payload) {
        BeatSource::Request
    } else {
        BeatSource::Burst
    };
    let class = (flow.app.client_class, Reasons::default());
    report(flow, at, h, (name, source), None, class, beat);
}

/// The flow's destination as the beacon detector keys it: its name, else
/// (scoring every destination) its server address as text; `None` for a
/// destination that scoring every destination leaves out.
fn destination(flow: &Flow<FlowApp>, beats: &BeatSettings) -> Option<(Arc<str>, NameSource)> {
    let named = flow
        .app
        .name
        .as_deref()
        .and_then(FlowName::name)
        .map(|(n, src)| (n.clone(), src));
    if !beats.all_destinations || flow.app.serverless {
        return named;
    }
    if !scored_destination(flow, beats) {
        return None;
    }
    named.or_else(|| Some((Arc::from(flow.server.ip.to_string()), NameSource::Address)))
}

/// Whether scoring every destination covers this flow's server: not
/// multicast, broadcast or link-local, not an infrastructure port.
fn scored_destination(flow: &Flow<FlowApp>, beats: &BeatSettings) -> bool {
    let ip = flow.server.ip;
    let local_only = match ip {
        IpAddr::V4(a) => {
            a.is_multicast() || a.is_broadcast() || a.is_link_local() || a.is_unspecified()
        }
        IpAddr::V6(a) => {
            a.is_multicast() || a.is_unspecified() || (a.segments()[0] & 0xffc0) == 0xfe80
        }
    };
    !local_only && !beats.infrastructure_ports.contains(&flow.server.port)
}

/// Reports the flow's connection start to the detectors, once per flow,
/// when its server name is known. `unkept` is the flow's ClientHello (how
/// it came, and its QUIC version) when the memcap could not keep it in the
/// flow.
pub(super) fn observe(
    flow: &mut Flow<FlowApp>,
    at: PacketRef,
    h: &mut HandlerParts,
    unkept: Option<(&[u8], Transport, Option<QuicVersion>)>,
) {
    if flow.app.observed {
        return;
    }
    let Some((name, source)) = destination(flow, &h.settings.beats) else {
        return;
    };
    flow.app.observed = true;
    let kept = match &flow.app.state {
        AppState::Tls(st) => st.hello.as_deref().map(|m| (m, Transport::Tcp, None)),
        AppState::Quic(q) => q.hello().map(|m| (m, Transport::Quic, Some(q.version()))),
        _ => None,
    };
    let mut hello = None;
    let mut client_class = ClientClass::Unknown;
    let mut class_reasons = Reasons::default();
    let mut kept_ja4 = None;
    if let Some((message, transport, quic_version)) = kept.or(unkept) {
        if let Ok(ch) = virga_parsers::tls::parse_client_hello(message) {
            let fp = virga_parsers::fingerprint::ja4(&ch, transport);
            let c = classify_with_ja4(&ch, transport, &fp, &h.settings.browser_table);
            client_class = c.class;
            class_reasons = c.reasons;
            let ja4: Box<str> = Box::from(fp.as_str());
            kept_ja4 = Some(ja4.clone());
            hello = Some(Hello {
                message: Box::from(message),
                transport,
                quic_version,
                ja4,
            });
        }
    }
    // The tls event, written later, reuses the hello's JA4.
    if let AppState::Tls(st) = &mut flow.app.state {
        st.ja4 = kept_ja4;
    }
    flow.app.client_class = client_class;
    let class = (client_class, class_reasons);
    report(
        flow,
        at,
        h,
        (name, source),
        hello,
        class,
        BeatSource::Connection,
    );
}

/// Hands the detectors a beat of the flow (its start, or a request or
/// burst inside it) with the flow's identity, name and platform.
fn report(
    flow: &Flow<FlowApp>,
    at: PacketRef,
    h: &mut HandlerParts,
    (name, name_source): (Arc<str>, NameSource),
    hello: Option<Hello>,
    (client_class, class_reasons): (ClientClass, Reasons),
    beat: BeatSource,
) {
    h.out.conn_start(ConnStart {
        packet: at,
        origin: h.out.lines.origin().clone(),
        flow_id: flow.id(),
        client: flow.client,
        server: flow.server,
        proto: flow.proto,
        app_proto: flow.app.proto,
        name,
        name_source,
        platform: flow.app.name.as_ref().and_then(|n| n.platform.clone()),
        hello,
        client_class,
        class_reasons,
        client_bytes: flow.bytes[0],
        beat,
        evidence_uid: None,
        process: None,
    });
}
