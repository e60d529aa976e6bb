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
    alerted: LruCache<(IpAddr, Arc<str>), Timestamp>,
}

impl ClientDetector {
    /// A detector that alerts a (client, name) pair at most once per
    /// `quiet_secs` of packet time.
    pub fn new(quiet_secs: u64) -> Self {
        ClientDetector {
            quiet_secs,
            alerted: LruCache::new(
                NonZeroUsize::new(MAX_ALERTED_PAIRS).unwrap_or(NonZeroUsize::MIN),
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
