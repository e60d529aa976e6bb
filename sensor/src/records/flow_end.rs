//! The flow record: a flow leaving the table, with its counters.

use super::{AppProto, FlowName, FlowRef};
use crate::flow::table::{EndReason, Flow};
use crate::time::Timestamp;
use std::any::Any;

/// A flow that ended (timed out, evicted, or ended at shutdown).
#[derive(Debug, Clone, Copy)]
pub struct FlowEnd<'a> {
    /// The flow, client → server.
    pub flow: FlowRef,
    /// The table's entry: endpoints, first and last packet times, packet,
    /// byte and TCP flag counts per direction, the connection state (its
    /// protocol state is the worker's own).
    pub entry: &'a Flow<dyn Any>,
    /// Time of the record: the end (packet time), or the last packet at
    /// shutdown.
    pub ts: Timestamp,
    /// Why the flow ended.
    pub reason: EndReason,
    /// The flow's application protocol.
    pub app_proto: AppProto,
    /// The flow's server name, when known.
    pub name: Option<&'a FlowName>,
    /// True when the flow touches a catalogued name.
    pub serverless: bool,
}
