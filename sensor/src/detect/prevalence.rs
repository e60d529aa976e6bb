//! Prevalence: how many distinct internal clients talked to a name within a
//! window of packet time. An implant lives on few hosts; a name polled by a
//! large part of the network is a company service (or a SaaS agent).
//!
//! Bounded: at most `max_names` names (least recently seen evicted) and at
//! most [`MAX_CLIENTS_PER_NAME`] clients remembered per name; a name at that
//! cap is simply "very prevalent".

use crate::time::Timestamp;
use lru::LruCache;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;

/// Clients remembered per name.
pub const MAX_CLIENTS_PER_NAME: usize = 64;

/// A name and a client class (true = browser).
type ClassKey = (Arc<str>, bool);

/// Distinct clients per name in a sliding window.
pub struct Prevalence {
    names: LruCache<ClassKey, Vec<(IpAddr, Timestamp)>, foldhash::fast::RandomState>,
    window_secs: u64,
}

impl Prevalence {
    /// A tracker of `max_names` names over `window_secs` of packet time.
    pub fn new(max_names: NonZeroUsize, window_secs: u64) -> Self {
        Prevalence {
            names: LruCache::with_hasher(max_names, foldhash::fast::RandomState::default()),
            window_secs,
        }
    }

    /// Records that `client`, of client class `browser`, used `name` at `ts`
    /// and returns the number of distinct clients of the same class seen for
    /// the name within the window (this one included). Classes are counted
    /// apart: many browsers visiting a name say nothing about the one script
    /// that polls it.
    pub fn observe(
        &mut self,
        name: &Arc<str>,
        browser: bool,
        client: IpAddr,
        ts: Timestamp,
    ) -> u32 {
        let window = self.window_secs;
        let list = self
            .names
            .get_or_insert_mut((name.clone(), browser), Vec::new);
        list.retain(|(_, seen)| ts.nanos_since(*seen) / 1_000_000_000 <= window);
        match list.iter_mut().find(|(c, _)| *c == client) {
            Some(e) => e.1 = ts,
            None => {
                if list.len() >= MAX_CLIENTS_PER_NAME {
                    // Replace the least recently seen client.
                    if let Some(oldest) = list.iter_mut().min_by_key(|(_, s)| *s) {
                        *oldest = (client, ts);
                    }
                } else {
                    list.push((client, ts));
                }
            }
        }
        list.len() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_distinct_clients_in_the_window() {
        let mut p = Prevalence::new(NonZeroUsize::new(4).unwrap(), 3600);
        let n: Arc<str> = Arc::from("agent.x.workers.dev");
        let t = |s| Timestamp::from_secs_nanos(s, 0);
        assert_eq!(p.observe(&n, false, "10.0.0.1".parse().unwrap(), t(0)), 1);
        assert_eq!(p.observe(&n, false, "10.0.0.1".parse().unwrap(), t(10)), 1);
        assert_eq!(p.observe(&n, false, "10.0.0.2".parse().unwrap(), t(20)), 2);
        // Browsers are counted apart.
        assert_eq!(p.observe(&n, true, "10.0.0.9".parse().unwrap(), t(20)), 1);
        // 10.0.0.1 was last seen at 10 s: outside the window at 3611 s.
        assert_eq!(
            p.observe(&n, false, "10.0.0.3".parse().unwrap(), t(3615)),
            2
        );
    }

    #[test]
    fn bounded_per_name() {
        let mut p = Prevalence::new(NonZeroUsize::new(4).unwrap(), 3600);
        let n: Arc<str> = Arc::from("popular.example");
        let mut last = 0;
        for i in 0..200u32 {
            let ip = std::net::Ipv4Addr::from(0x0a00_0000 + i);
            last = p.observe(
                &n,
                false,
                IpAddr::V4(ip),
                Timestamp::from_secs_nanos(i64::from(i), 0),
            );
        }
        assert_eq!(last as usize, MAX_CLIENTS_PER_NAME);
    }
}
