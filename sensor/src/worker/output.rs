//! Where a worker's records go: the events it logs are serialized into its
//! EVE line buffer, connection starts and DNS lookups are kept for the
//! detection stage.

use crate::eve::EventLines;
use crate::records::{
    ConnStart, DetectionRecord, DnsLookup, DnsTransaction, FlowEnd, HttpRequest, QuicHello,
    RecordSink, TlsHello,
};

/// A worker's [`RecordSink`]. Metadata events are logged for every flow
/// with `log_all`, otherwise only for records that touch a catalogued name.
pub struct WorkerOutput {
    /// EVE lines of the logged records.
    pub lines: EventLines,
    /// Records for the detection stage, sent on every tick.
    pub detection: Vec<DetectionRecord>,
    /// Log metadata events for all traffic.
    pub log_all: bool,
}

impl WorkerOutput {
    /// An empty output.
    pub fn new(log_all: bool, community_id_seed: u16) -> Self {
        WorkerOutput {
            lines: EventLines::new(community_id_seed),
            detection: Vec::new(),
            log_all,
        }
    }

    fn logs(&self, serverless: bool) -> bool {
        self.log_all || serverless
    }
}

impl RecordSink for WorkerOutput {
    fn dns(&mut self, r: &DnsTransaction<'_>) {
        if self.logs(r.serverless) {
            self.lines.dns(r);
        }
    }

    fn tls(&mut self, r: &TlsHello<'_>) {
        if self.logs(r.serverless) {
            self.lines.tls(r);
        }
    }

    fn quic(&mut self, r: &QuicHello<'_>) {
        if self.logs(r.serverless) {
            self.lines.quic(r);
        }
    }

    fn http(&mut self, r: &HttpRequest<'_>) {
        if self.logs(r.serverless) {
            self.lines.http(r);
        }
    }

    fn flow_end(&mut self, r: &FlowEnd<'_>) {
        if self.logs(r.serverless) {
            self.lines.flow(r);
        }
    }

    fn conn_start(&mut self, r: ConnStart) {
        self.detection.push(DetectionRecord::ConnStart(Box::new(r)));
    }

    fn dns_lookup(&mut self, r: DnsLookup) {
        self.detection.push(DetectionRecord::DnsLookup(Box::new(r)));
    }
}
