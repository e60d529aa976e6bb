//! A flow leaving the table: what it still owes (a TLS handshake whose
//! server side was never seen), then its [`FlowEnd`] record.

use super::flow_ref;
use crate::app::tls::{self, HandshakeEnd};
use crate::app::{AppState, FlowApp};
use crate::flow::table::{EndReason, Flow};
use crate::records::{FlowEnd, RecordSink};
use crate::time::Timestamp;

/// Hands on the records of flow `f`, ended for `reason` at packet time `now`.
pub(super) fn end_flow(
    f: &mut Flow<FlowApp>,
    reason: EndReason,
    now: Timestamp,
    sink: &mut dyn RecordSink,
) {
    let fr = flow_ref(f);
    if let AppState::Tls(st) = &mut f.app.state {
        let end = HandshakeEnd {
            flow: fr,
            ts: f.last,
            packet: None,
            serverless: f.app.serverless,
        };
        tls::on_flow_end(st, &end, sink);
    }
    let ts = if reason == EndReason::Shutdown {
        f.last
    } else {
        now.max(f.last)
    };
    sink.flow_end(&FlowEnd {
        flow: fr,
        entry: f,
        ts,
        reason,
        app_proto: f.app.proto,
        name: f.app.name.as_deref(),
        serverless: f.app.serverless,
    });
}
