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

/// The sink's methods for records that are logged when due: each hands
/// the record to the `EventLines` method of the same name.
macro_rules! log_when_due {
    ($($method:ident: $record:ident),* $(,)?) => {
        $(
            fn $method(&mut self, r: &$record<'_>) {
                if self.logs(r.serverless) {
                    self.lines.$method(r);
                }
            }
        )*
    };
}

impl RecordSink for WorkerOutput {
    log_when_due!(
        dns: DnsTransaction,
        tls: TlsHello,
        quic: QuicHello,
        http: HttpRequest,
        flow_end: FlowEnd,
    );

    fn conn_start(&mut self, r: ConnStart) {
        self.detection.push(DetectionRecord::ConnStart(Box::new(r)));
    }

    fn dns_lookup(&mut self, r: DnsLookup) {
        self.detection.push(DetectionRecord::DnsLookup(Box::new(r)));
    }
}
