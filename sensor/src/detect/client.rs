//! The non-browser client detector: a connection start to a serverless
//! endpoint whose ClientHello says "not a browser" (see `client_class`) is
//! alerted, once per (client, server name) within a quiet time.

use crate::records::ConnStart;
use crate::time::Timestamp;
use lru::LruCache;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;

/// (client, name) pairs remembered for the quiet time.
const MAX_ALERTED_PAIRS: usize = 65_536;

/// What the detector decided about one connection start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientVerdict {
    /// Not a non-browser client: nothing to say.
    Quiet,
    /// A non-browser client, alerted for this pair within the quiet time.
    Suppressed,
    /// A non-browser client to alert.
    Alert,
}

/// Non-browser clients to serverless endpoints.
pub struct ClientDetector {
    quiet_secs: u64,
    alerted: LruCache<(IpAddr, Arc<str>), Timestamp, foldhash::fast::RandomState>,
}

impl ClientDetector {
    /// A detector that alerts a (client, name) pair at most once per
    /// `quiet_secs` of packet time.
    pub fn new(quiet_secs: u64) -> Self {
        ClientDetector {
            quiet_secs,
            alerted: LruCache::with_hasher(
                NonZeroUsize::new(MAX_ALERTED_PAIRS).unwrap_or(NonZeroUsize::MIN),
                foldhash::fast::RandomState::default(),
            ),
        }
    }

    /// Changes the quiet time; the pairs alerted so far are kept.
    pub fn set_quiet_secs(&mut self, quiet_secs: u64) {
        self.quiet_secs = quiet_secs;
    }

    /// Judges a connection start to a serverless endpoint.
    pub fn on_conn(&mut self, c: &ConnStart) -> ClientVerdict {
        if c.client_class.non_browser() != Some(true) {
            return ClientVerdict::Quiet;
        }
        let ts = c.packet.ts;
        let key = (c.client.ip, c.name.clone());
        let recent = self
            .alerted
            .get(&key)
            .is_some_and(|last| ts.nanos_since(*last) / 1_000_000_000 < self.quiet_secs);
        if recent {
            return ClientVerdict::Suppressed;
        }
        self.alerted.put(key, ts);
        ClientVerdict::Alert
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_class::{ClientClass, Reasons};
    use crate::flow::key::Endpoint;
    use crate::records::{AppProto, NameSource, PacketOrigin, PacketRef};

    fn conn(secs: u64, client: &str, class: ClientClass) -> ConnStart {
        let ep = |ip: &str, port| Endpoint {
            ip: ip.parse().unwrap(),
            port,
        };
        ConnStart {
            packet: PacketRef {
                ts: Timestamp::from_secs_nanos(1_772_409_600 + secs as i64, 0),
                pcap_cnt: secs,
            },
            origin: PacketOrigin::default(),
            flow_id: secs + 1,
            client: ep(client, 40_000),
            server: ep("104.21.0.1", 443),
            proto: 6,
            app_proto: AppProto::Tls,
            name: Arc::from("relay.acme.workers.dev"),
            name_source: NameSource::Sni,
            platform: None,
            hello: None,
            client_class: class,
            class_reasons: Reasons::default(),
            client_bytes: 517,
            beat: crate::records::BeatSource::Connection,
            evidence_uid: None,
            process: None,
        }
    }

    #[test]
    fn a_pair_alerts_once_per_quiet_time() {
        let mut d = ClientDetector::new(3600);
        let nb = ClientClass::NonBrowser;
        assert_eq!(d.on_conn(&conn(0, "10.0.0.5", nb)), ClientVerdict::Alert);
        assert_eq!(
            d.on_conn(&conn(60, "10.0.0.5", nb)),
            ClientVerdict::Suppressed
        );
        // Another client of the same name is its own pair.
        assert_eq!(d.on_conn(&conn(61, "10.0.0.6", nb)), ClientVerdict::Alert);
        assert_eq!(d.on_conn(&conn(3600, "10.0.0.5", nb)), ClientVerdict::Alert);
        // Browsers and unknown clients are never alerted.
        assert_eq!(
            d.on_conn(&conn(9000, "10.0.0.7", ClientClass::Browser)),
            ClientVerdict::Quiet
        );
        assert_eq!(
            d.on_conn(&conn(9001, "10.0.0.7", ClientClass::Unknown)),
            ClientVerdict::Quiet
        );
        // Beats inside a connection are the beacon detector's: the engine
        // asks this detector about connection starts only (see engine.rs).
        // No quiet time: every connection alerts.
        d.set_quiet_secs(0);
        assert_eq!(d.on_conn(&conn(9002, "10.0.0.5", nb)), ClientVerdict::Alert);
        assert_eq!(d.on_conn(&conn(9002, "10.0.0.5", nb)), ClientVerdict::Alert);
    }
}
