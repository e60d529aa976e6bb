//! The flow record: a flow leaving the table, with its counters.

use super::{AppProto, FlowName, FlowRef};
use crate::flow::table::{EndReason, FlowState};
use crate::time::Timestamp;

/// A flow that ended (timed out, evicted, or ended at shutdown).
#[derive(Debug, Clone, Copy)]
pub struct FlowEnd<'a> {
    /// The flow, client → server.
    pub flow: FlowRef,
    /// Time of the record: the end (packet time), or the last packet at
    /// shutdown.
    pub ts: Timestamp,
    /// First packet time.
    pub start: Timestamp,
    /// Last packet time.
    pub last: Timestamp,
    /// Packets to server, to client.
    pub pkts: [u32; 2],
    /// IP bytes to server, to client.
    pub bytes: [u64; 2],
    /// OR of the TCP flags, to server and to client.
    pub tcp_flags: [u8; 2],
    /// The connection state at the end.
    pub state: FlowState,
    /// Why the flow ended.
    pub reason: EndReason,
    /// The flow's application protocol.
    pub app_proto: AppProto,
    /// The flow's server name, when known.
    pub name: Option<&'a FlowName>,
    /// True when the flow touches a catalogued name.
    pub serverless: bool,
}
