//! EVE `flow` events from flow-end records: counters, times, state, reason,
//! TCP flags, and virga's flow variables (the server name, where it came
//! from, the platform) in `metadata.flowvars`, the schema's place for
//! variables attached to a flow.

use super::EventLines;
use crate::records::{AppProto, FlowEnd, FlowName};

impl EventLines {
    /// Writes the `flow` event of a flow that ended.
    pub fn flow_end(&mut self, r: &FlowEnd<'_>) {
        let f = r.entry;
        let mut start = String::new();
        let mut end = String::new();
        super::write_timestamp(f.start, &mut start);
        super::write_timestamp(f.last, &mut end);
        self.event("flow", &r.flow, None, r.ts, |w| {
            if r.app_proto != AppProto::Unknown {
                w.str("app_proto", r.app_proto.name());
            }
            if let Some((name, source)) = r.name.and_then(FlowName::name) {
                w.object("metadata").array("flowvars");
                w.begin_object()
                    .str("key", "virga.server_name")
                    .str("value", name)
                    .end_object();
                w.begin_object()
                    .str("key", "virga.name_source")
                    .str("value", source.name())
                    .end_object();
                if let Some(p) = r.name.and_then(|n| n.platform.as_ref()) {
                    w.begin_object()
                        .str("key", "virga.platform")
                        .str("value", p.id())
                        .end_object();
                }
                w.end_array().end_object();
            }
            w.object("flow")
                .u64("pkts_toserver", u64::from(f.pkts[0]))
                .u64("pkts_toclient", u64::from(f.pkts[1]))
                .u64("bytes_toserver", f.bytes[0])
                .u64("bytes_toclient", f.bytes[1])
                .str("start", &start)
                .str("end", &end)
                .u64("age", f.last.secs().saturating_sub(f.start.secs()))
                .str("state", f.state.name())
                .str("reason", r.reason.name())
                .bool("alerted", false)
                .end_object();
            if r.flow.tuple.proto == 6 {
                let flags = f.tcp_flags;
                let all = flags[0] | flags[1];
                let mut hex = String::new();
                w.object("tcp");
                for (k, v) in [
                    ("tcp_flags", all),
                    ("tcp_flags_ts", flags[0]),
                    ("tcp_flags_tc", flags[1]),
                ] {
                    hex.clear();
                    for nibble in [v >> 4, v & 0x0f] {
                        hex.push(char::from_digit(u32::from(nibble), 16).unwrap_or('0'));
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
                w.str("state", f.state.name()).end_object();
            }
        });
    }
}
