//! The per-worker flow table: bidirectional lookup, originator detection,
//! TCP state, idle timeouts in packet time and a hard capacity with eviction
//! of the least recently active flow.
//!
//! Flows live in an LRU list ordered by last activity, so expiry and eviction
//! only ever look at the oldest entry: O(1) per packet whatever the table
//! holds. The same order serves idle timeouts: a flow is expired once it is
//! the oldest and has been idle longer than its state's timeout.

use super::key::{source_looks_like_server, Endpoint, FlowKey, Tuple};
pub use crate::telemetry::FlowStats;
use crate::time::Timestamp;
use lru::LruCache;

/// Which way a packet goes within its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client (originator) to server.
    ToServer = 0,
    /// Server to client.
    ToClient = 1,
}

/// TCP connection state as far as timeouts and `flow` events need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowState {
    /// Only the opening packets seen (SYN, or a first UDP datagram one way).
    New,
    /// Packets in both directions.
    Established,
    /// FIN from both sides, or a RST.
    Closed,
}

impl FlowState {
    /// Suricata's name for the state in `flow` events.
    pub fn name(self) -> &'static str {
        match self {
            FlowState::New => "new",
            FlowState::Established => "established",
            FlowState::Closed => "closed",
        }
    }
}

/// Idle timeouts in packet time, per state.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// TCP flow not yet established (SYN seen only).
    pub tcp_new_secs: u64,
    /// Established TCP flow.
    pub tcp_established_secs: u64,
    /// TCP flow after FIN/FIN or RST.
    pub tcp_closed_secs: u64,
    /// UDP and other flows.
    pub udp_secs: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp_new_secs: 30,
            tcp_established_secs: 300,
            tcp_closed_secs: 10,
            udp_secs: 60,
        }
    }
}

/// Why a flow left the table (`flow.reason` in EVE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// Idle longer than its timeout.
    Timeout,
    /// Evicted to make room (the table was full).
    Forced,
    /// End of the capture or sensor shutdown.
    Shutdown,
}

impl EndReason {
    /// Suricata's name for the reason.
    pub fn name(self) -> &'static str {
        match self {
            EndReason::Timeout => "timeout",
            EndReason::Forced => "forced",
            EndReason::Shutdown => "shutdown",
        }
    }
}

/// One tracked flow with its per-protocol state `A`.
#[derive(Debug)]
pub struct Flow<A: ?Sized> {
    /// The originator.
    pub client: Endpoint,
    /// The responder.
    pub server: Endpoint,
    /// IP protocol number.
    pub proto: u8,
    /// First packet time.
    pub start: Timestamp,
    /// Last packet time.
    pub last: Timestamp,
    /// Packets per direction (index: [`Direction`]).
    pub pkts: [u32; 2],
    /// IP bytes per direction.
    pub bytes: [u64; 2],
    /// OR of the TCP flags seen per direction.
    pub tcp_flags: [u8; 2],
    /// Connection state.
    pub state: FlowState,
    /// Application-layer state.
    pub app: A,
}

impl<A: ?Sized> Flow<A> {
    /// Stable hash of the flow key (for `flow_id`), computed from the
    /// endpoints rather than stored: 8 bytes less per tracked flow.
    pub fn key_hash(&self) -> u64 {
        FlowKey::of(&self.tuple()).stable_hash()
    }

    /// Suricata-style 51-bit flow id, shared by every event of the flow
    /// (see [`super::flow_id`]).
    pub fn id(&self) -> u64 {
        super::flow_id(self.key_hash(), self.start)
    }

    /// The flow's addresses as the client sends.
    pub fn tuple(&self) -> Tuple {
        Tuple {
            src: self.client,
            dst: self.server,
            proto: self.proto,
        }
    }

    /// Idle timeout of the flow in its current state.
    fn timeout_secs(&self, t: &Timeouts) -> u64 {
        match (self.proto, self.state) {
            (6, FlowState::New) => t.tcp_new_secs,
            (6, FlowState::Established) => t.tcp_established_secs,
            (6, FlowState::Closed) => t.tcp_closed_secs,
            _ => t.udp_secs,
        }
    }
}

/// What a packet carries that the table needs to place it.
#[derive(Debug, Clone, Copy)]
pub struct PacketMeta {
    /// Addresses as sent.
    pub tuple: Tuple,
    /// Packet time.
    pub ts: Timestamp,
    /// IP length of the packet.
    pub ip_len: u32,
    /// TCP flags (low 8 bits), 0 for other protocols.
    pub tcp_flags: u8,
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const FIN: u8 = 0x01;
const RST: u8 = 0x04;

/// A bounded flow table owned by one worker.
pub struct FlowTable<A> {
    map: LruCache<FlowKey, Flow<A>>,
    max_flows: usize,
    timeouts: Timeouts,
    stats: FlowStats,
}

impl<A: Default> FlowTable<A> {
    /// A table holding at most `max_flows` flows (at least 1).
    pub fn new(max_flows: usize, timeouts: Timeouts) -> Self {
        FlowTable {
            map: LruCache::unbounded(),
            max_flows: max_flows.max(1),
            timeouts,
            stats: FlowStats::default(),
        }
    }

    /// Number of flows held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no flow is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Counters so far.
    pub fn stats(&self) -> FlowStats {
        self.stats
    }

    /// Finds or creates the flow of a packet, updates its counters and TCP
    /// state, and returns it with the packet's direction. A flow evicted to
    /// make room is handed to `ended` first.
    pub fn track(
        &mut self,
        m: &PacketMeta,
        mut ended: impl FnMut(FlowKey, Flow<A>, EndReason),
    ) -> (&mut Flow<A>, Direction) {
        let key = FlowKey::of(&m.tuple);
        if !self.map.contains(&key) {
            while self.map.len() >= self.max_flows {
                match self.map.pop_lru() {
                    Some((k, f)) => {
                        self.stats.evicted += 1;
                        ended(k, f, EndReason::Forced);
                    }
                    None => break,
                }
            }
            let (client, server) = originator(m);
            self.stats.created += 1;
            self.map.put(
                key,
                Flow {
                    client,
                    server,
                    proto: m.tuple.proto,
                    start: m.ts,
                    last: m.ts,
                    pkts: [0; 2],
                    bytes: [0; 2],
                    tcp_flags: [0; 2],
                    state: FlowState::New,
                    app: A::default(),
                },
            );
        }
        // The entry exists: it was there or was just inserted.
        let flow = match self.map.get_mut(&key) {
            Some(f) => f,
            None => unreachable_flow(),
        };
        let dir = if m.tuple.src == flow.client {
            Direction::ToServer
        } else {
            Direction::ToClient
        };
        let d = dir as usize;
        flow.pkts[d] = flow.pkts[d].saturating_add(1);
        flow.bytes[d] = flow.bytes[d].saturating_add(u64::from(m.ip_len));
        if m.ts > flow.last {
            flow.last = m.ts;
        }
        if flow.proto == 6 {
            flow.tcp_flags[d] |= m.tcp_flags;
            if m.tcp_flags & RST != 0
                || (flow.tcp_flags[0] & FIN != 0 && flow.tcp_flags[1] & FIN != 0)
            {
                flow.state = FlowState::Closed;
            } else if flow.state == FlowState::New && flow.pkts[0] > 0 && flow.pkts[1] > 0 {
                flow.state = FlowState::Established;
            }
        } else if flow.state == FlowState::New && flow.pkts[0] > 0 && flow.pkts[1] > 0 {
            flow.state = FlowState::Established;
        }
        (flow, dir)
    }

    /// Ends flows idle for longer than their timeout at packet time `now`.
    pub fn expire(&mut self, now: Timestamp, mut ended: impl FnMut(FlowKey, Flow<A>, EndReason)) {
        while let Some((_, f)) = self.map.peek_lru() {
            let idle = now.nanos_since(f.last) / 1_000_000_000;
            if idle <= f.timeout_secs(&self.timeouts) {
                return;
            }
            if let Some((k, f)) = self.map.pop_lru() {
                self.stats.timed_out += 1;
                ended(k, f, EndReason::Timeout);
            }
        }
    }

    /// Ends every flow (end of capture, shutdown), oldest first.
    pub fn drain(&mut self, mut ended: impl FnMut(FlowKey, Flow<A>, EndReason)) {
        while let Some((k, f)) = self.map.pop_lru() {
            ended(k, f, EndReason::Shutdown);
        }
    }
}

/// The flow was inserted just above; a failed lookup cannot happen. Kept out
/// of line so the hot path has no panic site.
#[cold]
fn unreachable_flow() -> ! {
    unreachable!("flow inserted above is missing")
}

/// Decides the client and server of a new flow from its first packet: a SYN's
/// sender, a SYN-ACK's receiver, otherwise the side that does not look like a
/// server port.
fn originator(m: &PacketMeta) -> (Endpoint, Endpoint) {
    let t = m.tuple;
    let source_is_server = if t.proto == 6 && m.tcp_flags & SYN != 0 {
        m.tcp_flags & ACK != 0
    } else {
        source_looks_like_server(&t)
    };
    if source_is_server {
        (t.dst, t.src)
    } else {
        (t.src, t.dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(s: &str, sp: u16, d: &str, dp: u16, secs: i64, flags: u8, proto: u8) -> PacketMeta {
        PacketMeta {
            tuple: Tuple {
                src: Endpoint {
                    ip: s.parse().unwrap(),
                    port: sp,
                },
                dst: Endpoint {
                    ip: d.parse().unwrap(),
                    port: dp,
                },
                proto,
            },
            ts: Timestamp::from_secs_nanos(secs, 0),
            ip_len: 60,
            tcp_flags: flags,
        }
    }

    #[test]
    fn syn_ack_first_still_names_the_client() {
        let mut t: FlowTable<()> = FlowTable::new(10, Timeouts::default());
        let (f, dir) = t.track(
            &meta("1.1.1.1", 443, "10.0.0.1", 5000, 1, SYN | ACK, 6),
            |_, _, _| {},
        );
        assert_eq!(dir, Direction::ToClient);
        assert_eq!(f.client.port, 5000);
        let (f, dir) = t.track(
            &meta("10.0.0.1", 5000, "1.1.1.1", 443, 1, ACK, 6),
            |_, _, _| {},
        );
        assert_eq!(dir, Direction::ToServer);
        assert_eq!(f.state, FlowState::Established);
        assert_eq!(f.pkts, [1, 1]);
        t.track(
            &meta("10.0.0.1", 5000, "1.1.1.1", 443, 2, FIN | ACK, 6),
            |_, _, _| {},
        );
        let (f, _) = t.track(
            &meta("1.1.1.1", 443, "10.0.0.1", 5000, 2, FIN | ACK, 6),
            |_, _, _| {},
        );
        assert_eq!(f.state, FlowState::Closed);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn capacity_evicts_the_least_recently_active() {
        let mut t: FlowTable<u8> = FlowTable::new(2, Timeouts::default());
        let mut ended = Vec::new();
        t.track(
            &meta("10.0.0.1", 1000, "8.8.8.8", 53, 1, 0, 17),
            |k, _, r| ended.push((k, r)),
        );
        t.track(
            &meta("10.0.0.1", 1001, "8.8.8.8", 53, 2, 0, 17),
            |k, _, r| ended.push((k, r)),
        );
        // Touch the first so the second becomes the oldest.
        t.track(
            &meta("8.8.8.8", 53, "10.0.0.1", 1000, 3, 0, 17),
            |k, _, r| ended.push((k, r)),
        );
        t.track(
            &meta("10.0.0.1", 1002, "8.8.8.8", 53, 4, 0, 17),
            |k, _, r| ended.push((k, r)),
        );
        assert_eq!(ended.len(), 1);
        assert_eq!(ended[0].1, EndReason::Forced);
        let second = FlowKey::of(&meta("10.0.0.1", 1001, "8.8.8.8", 53, 0, 0, 17).tuple);
        assert_eq!(ended[0].0, second);
        assert_eq!(t.stats().evicted, 1);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn idle_flows_expire_in_packet_time() {
        let mut t: FlowTable<()> = FlowTable::new(100, Timeouts::default());
        t.track(
            &meta("10.0.0.1", 1000, "8.8.8.8", 53, 100, 0, 17),
            |_, _, _| {},
        );
        t.track(
            &meta("10.0.0.1", 2000, "1.1.1.1", 443, 140, SYN, 6),
            |_, _, _| {},
        );
        let mut n = 0;
        t.expire(Timestamp::from_secs_nanos(150, 0), |_, _, _| n += 1);
        assert_eq!(n, 0);
        t.expire(Timestamp::from_secs_nanos(161, 0), |_, _, r| {
            assert_eq!(r, EndReason::Timeout);
            n += 1
        });
        assert_eq!(n, 1, "the UDP flow idles out after 60 s");
        let mut drained = 0;
        t.drain(|_, _, r| {
            assert_eq!(r, EndReason::Shutdown);
            drained += 1
        });
        assert_eq!(drained, 1);
        assert!(t.is_empty());
    }
}
