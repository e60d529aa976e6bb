//! Prevalence shared by several sensors through Redis
//! (`[detect.prevalence] redis_url`): a sensor that sees 2 of the 44 hosts
//! polling a name learns of the other 42 from the sensors that see them.
//!
//! Each sensor adds the (name, client class) → client pairs it sees to one
//! HyperLogLog per bucket of packet time (a [`BUCKETS`]th of the window) in
//! Redis (`PFADD`, queued and sent in one pipelined round trip per second of
//! packet time, the stage's tick) and decides with `PFCOUNT` over the
//! current bucket and the [`BUCKETS`] before it — the clients of every
//! sensor over the window, plus at most one bucket — fetched once per name
//! and tick and cached until the next tick. It never decides with less than
//! its own exact count ([`Prevalence`]), which it keeps in any case. Keys
//! expire a window and two buckets (plus a margin) after their last write.
//!
//! HyperLogLog counts are exact for small sets (Redis keeps a sparse,
//! exact-for-few representation) and within 0.81 % (standard error) beyond;
//! prevalence only matters around `prevalence_free_clients`, where counts
//! are small.
//!
//! Replays that share prevalence keep in step by packet time (`lockstep`,
//! on for `virga replay`, off for live capture, where packet time is the wall
//! clock): each publishes how far it got (after sending its pairs) and,
//! before deciding at second `t`, waits until every other replay still
//! running has got to `t` — so two replays started together decide as live
//! sensors side by side would. A replay joins the clock when it starts and
//! makes its first decision no sooner than [`GATHER`] after, so that replays
//! started together by one command have all joined. A replay that stopped
//! without saying so is waited for at most [`ALIVE`] after its last sign of
//! life.
//!
//! While Redis is unreachable the sensor counts its own clients alone (as
//! without `redis_url`), says so once on stderr, counts every decision made
//! that way (`stats.virga.prevalence_local`), keeps up to
//! [`MAX_QUEUED`] pairs to add when Redis is back, and retries with a backoff
//! up to [`MAX_RETRY`].

use super::prevalence::Prevalence;
use crate::time::Timestamp;
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Pairs waiting to be added; past this, new ones are not queued (the
/// count then misses them until the client is seen again).
pub const MAX_QUEUED: usize = 65_536;

/// Longest interval between connection attempts.
pub const MAX_RETRY: Duration = Duration::from_secs(30);

/// First interval between connection attempts.
const MIN_RETRY: Duration = Duration::from_millis(250);

/// Deadline of a connection attempt and of each round trip: the detection
/// stage waits at most this on a Redis that does not answer.
const IO_TIMEOUT: Duration = Duration::from_millis(500);

/// Prefix of every key this module writes.
const KEY_PREFIX: &str = "virga:prevalence";

/// How long a replay in lockstep counts as running after its last sign of
/// life.
pub const ALIVE: Duration = Duration::from_secs(10);

/// Longest a replay waits for the others at one second of packet time.
const MAX_WAIT: Duration = Duration::from_secs(120);

/// Shortest wall-clock interval between two progress reports of a replay
/// (it also reports before it waits, and when it ends).
const PUBLISH_EVERY: Duration = Duration::from_millis(5);

/// A replay's place among the replays sharing Redis.
struct Lockstep {
    /// Unique among the replays (process, time, instance).
    id: String,
    /// Packet second last published.
    published: u64,
    at: Instant,
    /// When this replay started; its first decision waits until
    /// [`GATHER`] after it, for replays started together to join.
    born: Instant,
    gathered: bool,
}

/// How long after its start a replay in lockstep waits before its first
/// decision, so that replays started together (by one script, at the same
/// moment) have all joined the clock.
const GATHER: Duration = Duration::from_millis(300);

/// Distinct clients per name and class, over every sensor that shares the
/// Redis server.
pub struct SharedPrevalence {
    local: Prevalence,
    client: redis::Client,
    name: String,
    conn: Option<redis::Connection>,
    window_secs: u64,
    /// Second of packet time of the current tick.
    tick: u64,
    /// Pairs to add at the next round trip: key → members.
    queued: HashMap<Vec<u8>, Vec<String>>,
    queued_members: usize,
    /// Union counts fetched during the current tick: (name, class) → count.
    cache: HashMap<(Arc<str>, bool), u32>,
    retry: Duration,
    next_attempt: Instant,
    /// An outage is being reported (once, until Redis answers again).
    reported: bool,
    /// Decisions made with the local count because Redis was unreachable.
    local_decisions: u64,
    lockstep: Option<Lockstep>,
}

impl SharedPrevalence {
    /// A tracker over `window_secs` of packet time that shares its counts
    /// through the Redis server at `url`; connects at the first use.
    /// `lockstep`: keep in step with other replays (see the module doc).
    ///
    /// # Errors
    /// `url` is not a Redis URL the `redis` crate accepts.
    pub fn new(
        url: &str,
        max_names: NonZeroUsize,
        window_secs: u64,
        lockstep: bool,
    ) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        static INSTANCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let lockstep = lockstep.then(|| {
            // Wall time only tells this process from another with its id.
            let born = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos();
            let n = INSTANCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Lockstep {
                id: format!("{}-{born}-{n}", std::process::id()),
                published: 0,
                at: Instant::now(),
                born: Instant::now(),
                gathered: false,
            }
        });
        let mut shared = SharedPrevalence {
            local: Prevalence::new(max_names, window_secs),
            name: client.get_connection_info().addr.to_string(),
            client,
            conn: None,
            window_secs: window_secs.max(1),
            tick: u64::MAX,
            queued: HashMap::new(),
            queued_members: 0,
            cache: HashMap::new(),
            retry: MIN_RETRY,
            next_attempt: Instant::now(),
            reported: false,
            local_decisions: 0,
            lockstep,
        };
        if shared.lockstep.is_some() {
            // Join the replays' clock before the first packet, so that a
            // replay started at the same time waits for this one.
            shared.connect_if_due();
            shared.publish(0);
        }
        Ok(shared)
    }

    /// Decisions made so far with this sensor's count alone (Redis
    /// unreachable).
    pub fn local_decisions(&self) -> u64 {
        self.local_decisions
    }

    /// Records that `client` of class `browser` used `name` at `ts` and
    /// returns the number of distinct clients of that class for the name
    /// over every sensor (at least this sensor's own count).
    pub fn observe(
        &mut self,
        name: &Arc<str>,
        browser: bool,
        client: IpAddr,
        ts: Timestamp,
    ) -> u32 {
        let own = self.local.observe(name, browser, client, ts);
        let sec = ts.secs();
        self.advance(ts);
        let bucket = sec / bucket_secs(self.window_secs);
        if self.queued_members < MAX_QUEUED {
            self.queued
                .entry(key(self.window_secs, bucket, name, browser))
                .or_default()
                .push(client.to_string());
            self.queued_members += 1;
        }
        let ck = (name.clone(), browser);
        if let Some(n) = self.cache.get(&ck) {
            return (*n).max(own);
        }
        self.wait_for_others(sec);
        match self.fetch(bucket, name, browser) {
            Some(n) => {
                self.cache.insert(ck, n);
                n.max(own)
            }
            None => {
                self.local_decisions += 1;
                own
            }
        }
    }

    /// Every record up to `ts` was seen: at a new second, sends the queued
    /// pairs, forgets the cached counts and (in lockstep) says how far this
    /// replay got.
    pub fn advance(&mut self, ts: Timestamp) {
        let sec = ts.secs();
        if sec == self.tick {
            return;
        }
        self.tick = sec;
        self.cache.clear();
        self.send_queued();
        if self
            .lockstep
            .as_ref()
            .is_some_and(|l| l.at.elapsed() >= PUBLISH_EVERY)
        {
            self.publish(sec);
        }
    }

    /// Publishes this replay's progress: every pair before second `sec` is
    /// in Redis (they were sent first).
    fn publish(&mut self, sec: u64) {
        let (Some(l), Some(conn)) = (self.lockstep.as_mut(), self.conn.as_mut()) else {
            return;
        };
        if !self.queued.is_empty() {
            return; // not sent: the others must not count on them yet
        }
        let clock = format!("{KEY_PREFIX}:clock");
        let r = redis::pipe()
            .cmd("HSET")
            .arg(&clock)
            .arg(&l.id)
            .arg(sec)
            .ignore()
            .cmd("EXPIRE")
            .arg(&clock)
            .arg(86_400)
            .ignore()
            .cmd("SET")
            .arg(format!("{KEY_PREFIX}:alive:{}", l.id))
            .arg(1)
            .arg("PX")
            .arg(ALIVE.as_millis() as u64)
            .ignore()
            .query::<()>(conn);
        l.at = Instant::now();
        match r {
            Ok(()) => l.published = sec,
            Err(e) => self.failed(&e),
        }
    }

    /// In lockstep: waits until every other running replay got to `sec`.
    fn wait_for_others(&mut self, sec: u64) {
        let Some(l) = self.lockstep.as_mut() else {
            return;
        };
        if !l.gathered {
            l.gathered = true;
            std::thread::sleep(GATHER.saturating_sub(l.born.elapsed()));
        }
        self.send_queued();
        self.publish(sec);
        let start = Instant::now();
        let mut sleep = Duration::from_micros(200);
        loop {
            let Some(behind) = self.others_behind(sec) else {
                return;
            };
            if behind == 0 {
                return;
            }
            if start.elapsed() > MAX_WAIT {
                eprintln!(
                    "virga: prevalence Redis {}: another replay has not moved for {} s; going on \
                     without it",
                    self.name,
                    MAX_WAIT.as_secs()
                );
                return;
            }
            std::thread::sleep(sleep);
            sleep = (sleep * 2).min(Duration::from_millis(5));
            if self
                .lockstep
                .as_ref()
                .is_some_and(|l| l.at.elapsed() > ALIVE / 4)
            {
                self.publish(sec); // still alive
            }
        }
    }

    /// How many other running replays have not got to `sec` yet; `None`
    /// when Redis did not answer.
    fn others_behind(&mut self, sec: u64) -> Option<usize> {
        let l = self.lockstep.as_ref()?;
        let conn = self.conn.as_mut()?;
        let clock: HashMap<String, u64> = match redis::cmd("HGETALL")
            .arg(format!("{KEY_PREFIX}:clock"))
            .query(conn)
        {
            Ok(c) => c,
            Err(e) => {
                self.failed(&e);
                return None;
            }
        };
        let behind: Vec<&String> = clock
            .iter()
            .filter(|(id, t)| **id != l.id && **t < sec)
            .map(|(id, _)| id)
            .collect();
        if behind.is_empty() {
            return Some(0);
        }
        let mut p = redis::pipe();
        for id in &behind {
            p.cmd("EXISTS").arg(format!("{KEY_PREFIX}:alive:{id}"));
        }
        match p.query::<Vec<u8>>(conn) {
            Ok(alive) => {
                // A replay that died without leaving: forget it.
                let dead: Vec<&&String> = behind
                    .iter()
                    .zip(&alive)
                    .filter(|(_, a)| **a == 0)
                    .map(|(id, _)| id)
                    .collect();
                if !dead.is_empty() {
                    let _ = redis::cmd("HDEL")
                        .arg(format!("{KEY_PREFIX}:clock"))
                        .arg(dead)
                        .query::<()>(conn);
                }
                Some(alive.iter().filter(|a| **a > 0).count())
            }
            Err(e) => {
                self.failed(&e);
                None
            }
        }
    }

    /// Adds the queued pairs and counts the name's clients over the window
    /// that ends with `bucket` (the bucket and the [`BUCKETS`] before it),
    /// in one round trip.
    fn fetch(&mut self, bucket: u64, name: &str, browser: bool) -> Option<u32> {
        self.connect_if_due();
        let conn = self.conn.as_mut()?;
        let mut p = adds(&self.queued, self.window_secs);
        let count = p.cmd("PFCOUNT");
        for b in bucket.saturating_sub(BUCKETS)..=bucket {
            count.arg(key(self.window_secs, b, name, browser));
        }
        match p.query::<(u64,)>(conn) {
            Ok((n,)) => {
                self.queued.clear();
                self.queued_members = 0;
                self.back();
                Some(u32::try_from(n).unwrap_or(u32::MAX))
            }
            Err(e) => {
                self.failed(&e);
                None
            }
        }
    }

    /// Sends the queued pairs (at a tick).
    fn send_queued(&mut self) {
        if self.queued.is_empty() {
            return;
        }
        self.connect_if_due();
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        match adds(&self.queued, self.window_secs).query::<()>(conn) {
            Ok(()) => {
                self.queued.clear();
                self.queued_members = 0;
                self.back();
            }
            Err(e) => self.failed(&e),
        }
    }

    fn connect_if_due(&mut self) {
        if self.conn.is_some() || Instant::now() < self.next_attempt {
            return;
        }
        match crate::redis_conn::connect(&self.client, IO_TIMEOUT) {
            Ok(c) => self.conn = Some(c),
            Err(e) => self.failed(&e),
        }
    }

    /// Redis answered: the outage, if any, is over.
    fn back(&mut self) {
        self.retry = MIN_RETRY;
        if self.reported {
            eprintln!(
                "virga: prevalence Redis {}: shared counts again ({} decisions made with this \
                 sensor's count alone)",
                self.name, self.local_decisions
            );
            self.reported = false;
        }
    }

    fn failed(&mut self, e: &redis::RedisError) {
        self.conn = None;
        self.next_attempt = Instant::now() + self.retry;
        self.retry = (self.retry * 2).min(MAX_RETRY);
        if !self.reported {
            eprintln!(
                "virga: prevalence Redis {}: unreachable ({e}); counting this sensor's clients \
                 alone until it is back",
                self.name
            );
            self.reported = true;
        }
    }
}

impl Drop for SharedPrevalence {
    /// Sends what is queued and, in lockstep, leaves the replays' clock so
    /// that no other replay waits for this one.
    fn drop(&mut self) {
        self.send_queued();
        if let (Some(l), Some(conn)) = (&self.lockstep, self.conn.as_mut()) {
            let _ = redis::pipe()
                .cmd("HDEL")
                .arg(format!("{KEY_PREFIX}:clock"))
                .arg(&l.id)
                .ignore()
                .cmd("DEL")
                .arg(format!("{KEY_PREFIX}:alive:{}", l.id))
                .ignore()
                .query::<()>(conn);
        }
    }
}

/// A pipeline of `PFADD`s (and `EXPIRE`s) for the queued pairs.
fn adds(queued: &HashMap<Vec<u8>, Vec<String>>, window_secs: u64) -> redis::Pipeline {
    let mut p = redis::pipe();
    // A window and two buckets of life after the last write, plus a margin
    // for sensors whose clocks or captures lag a little.
    let ttl = window_secs
        .saturating_add(bucket_secs(window_secs).saturating_mul(2))
        .saturating_add(300);
    for (k, members) in queued {
        p.cmd("PFADD").arg(k).arg(members).ignore();
        p.cmd("EXPIRE").arg(k).arg(ttl).ignore();
    }
    p
}

/// Buckets of packet time per window: a count covers the current bucket and
/// the `BUCKETS` before it, a window plus at most one bucket (the local count
/// covers exactly the window).
pub const BUCKETS: u64 = 24;

/// Seconds of packet time per bucket (a 24 h window: 1 h).
fn bucket_secs(window_secs: u64) -> u64 {
    (window_secs / BUCKETS).max(1)
}

/// The HyperLogLog key of `name`, class `browser`, bucket number `bucket`
/// (packet seconds / bucket length) of a `window_secs` window. The name is
/// stored as given (Redis keys are binary).
fn key(window_secs: u64, bucket: u64, name: &str, browser: bool) -> Vec<u8> {
    let class = if browser { 'b' } else { 'n' };
    let mut k = format!("{KEY_PREFIX}:{window_secs}:{bucket}:{class}:").into_bytes();
    k.extend_from_slice(name.as_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_buckets_classes_and_window_lengths() {
        assert_eq!(
            key(3600, 7, "a.workers.dev", false),
            b"virga:prevalence:3600:7:n:a.workers.dev"
        );
        assert_ne!(key(3600, 7, "a", true), key(3600, 7, "a", false));
        assert_ne!(key(3600, 7, "a", true), key(60, 7, "a", true));
        assert_eq!(bucket_secs(86_400), 3600);
        assert_eq!(bucket_secs(60), 2);
    }

    #[test]
    fn unreachable_redis_falls_back_to_the_local_count() {
        // Nothing listens on port 1 of the loopback address.
        let mut p = SharedPrevalence::new(
            "redis://127.0.0.1:1",
            NonZeroUsize::new(8).unwrap(),
            3600,
            true,
        )
        .unwrap();
        let n: Arc<str> = Arc::from("agent.x.workers.dev");
        let t = |s| Timestamp::from_secs_nanos(s, 0);
        assert_eq!(p.observe(&n, false, "10.0.0.1".parse().unwrap(), t(0)), 1);
        assert_eq!(p.observe(&n, false, "10.0.0.2".parse().unwrap(), t(1)), 2);
        assert!(p.local_decisions() >= 1);
    }
}
