//! Jitter-robust beaconing: finds (client, server name) pairs whose connections come back on a
//! sleep timer, as command-and-control implants do, whatever jitter law the implant applies.
//!
//! Streaming and pure: the worker calls [`BeaconDetector::on_conn`] once per connection start
//! (TLS ClientHello, QUIC Initial, HTTP request) with packet time, the client address, the server
//! name, whether the client software is a browser, and how many clients of that class contact
//! the name (prevalence, counted by the caller). The detector merges the connections of one
//! check-in into a beat, keeps the last [`WINDOW_BEATS`] beats per pair and, on each new beat,
//! weighs how much more likely the intervals are under a jittered beacon than under irregular
//! traffic. The method, its constants and its measured behaviour are in `docs/detection.md`
//! ("Beaconing").
//!
//! What is fed is the caller's choice: by default only names in the serverless catalogue
//! (`[detect.beacon] all_names`), allowlisted traffic removed, nothing when `enabled = false`.
//!
//! Memory: about 450 bytes per tracked pair with a full window (beats, key, LRU links), at most
//! `max_pairs_per_worker` pairs; the least recently active pair is evicted past that. An
//! alert's beat times are rebuilt from the window's intervals, so they cost a pair nothing.

mod comb;
mod score;
mod window;

pub use window::WINDOW_BEATS;

use crate::records::BeatSource;
use crate::time::Timestamp;
use comb::{comb_strength, COMB_THRESHOLD};
use lru::LruCache;
use score::{assess, median_sorted, merge_window_secs, multiplicity, posterior};
use std::net::IpAddr;
use std::num::NonZeroUsize;
use virga_config::BeaconDetect;

/// Intervals reported in an alert ([`BeaconAlert::recent_intervals`]).
pub const RECENT_INTERVALS: usize = 16;

/// Longest server name kept, in bytes (DNS names have at most 253); longer ones are cut.
const MAX_NAME_BYTES: usize = 253;

/// Fewest on-beat intervals before a browser-class pair may alert: the timer-comb test needs
/// them to be able to reach [`COMB_THRESHOLD`].
const BROWSER_MIN_ON_BEAT: usize = 16;

/// One connection start, as the beacon detector reads it (made from a
/// [`crate::records::ConnStart`] by [`BeaconDetector::on_record`]).
#[derive(Debug, Clone, Copy)]
pub struct Connection<'a> {
    /// Packet time of the connection's first client packet.
    pub ts: Timestamp,
    /// Internal client address.
    pub client: IpAddr,
    /// Server name (SNI, HTTP Host, or the name the client resolved to the server address).
    /// Compared ASCII case-insensitively, without a trailing dot.
    pub server_name: &'a str,
    /// Client payload bytes of the connection, 0 when unknown. Not scored yet: sizes are not
    /// in the labelled corpus, and TLS padding and HTTP/2 coalescing blur them.
    pub client_bytes: u64,
    /// Whether the client software is not a browser (from its TLS/QUIC fingerprint); `None`
    /// when unknown, which is treated as not a browser.
    pub non_browser: Option<bool>,
    /// A connection start, or a request or burst inside a connection.
    pub source: BeatSource,
}

/// A pair found beaconing.
#[derive(Debug, Clone, PartialEq)]
pub struct BeaconAlert {
    /// Client address.
    pub client: IpAddr,
    /// Server name (lower case, no trailing dot).
    pub server_name: String,
    /// Beats seen for the pair while tracked (connections of one check-in count once).
    pub beats: u32,
    /// Connections seen for the pair while tracked.
    pub connections: u64,
    /// Mean sleep between beats, seconds (middle of the fitted band of intervals).
    pub period_secs: f64,
    /// Shortest and longest sleep of the fitted band, seconds. For Cobalt Strike the longest is
    /// the configured sleep.
    pub band_secs: (f64, f64),
    /// Width of the band as a fraction of the longest sleep (Cobalt Strike's jitter `j` reads
    /// as `j`; a symmetric ±`j` as `2j/(1+j)`; Sliver's `S + [0, J)` as `J/(S+J)`).
    pub jitter: f64,
    /// Beacon score, 0 to 1: `periodicity` times the prevalence factor.
    pub score: f64,
    /// Posterior probability of a beacon from the intervals alone, 0 to 1.
    pub periodicity: f64,
    /// Log-likelihood ratio behind `periodicity`, nats.
    pub evidence: f64,
    /// Prevalence given with the connection (clients of the same class contacting the name).
    pub prevalence: u32,
    /// The client software is a browser (the stricter browser rules applied).
    pub browser: bool,
    /// Beats missed inside the window (intervals of two or three periods).
    pub missed_beats: u32,
    /// Pauses inside the window (intervals over three and a half periods: sleep, off hours).
    pub pauses: u32,
    /// First connection of the pair while tracked.
    pub first_seen: Timestamp,
    /// Latest connection of the pair.
    pub last_seen: Timestamp,
    /// The latest intervals between beats, seconds, oldest first (at most
    /// [`RECENT_INTERVALS`]).
    pub recent_intervals: Vec<f64>,
    /// Start of every beat in the window (at most [`WINDOW_BEATS`]), seconds after the first
    /// of them, oldest first, at millisecond resolution; the last is the beat of this alert's
    /// connection, so it happened at the alert's time.
    pub beat_times: Vec<f64>,
    /// Beats the pair had when it first alerted.
    pub beats_to_detect: u32,
    /// A repeat alert for the pair (after `realert_quiet_secs`).
    pub repeat: bool,
    /// What fed the pair's beats: connection starts, requests, bursts (a set of
    /// [`BeatSource::bit`]s).
    pub beat_sources: u8,
}

/// Counters of one detector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BeaconStats {
    /// Pairs tracked now.
    pub pairs: usize,
    /// Pairs evicted to stay within `max_pairs_per_worker`.
    pub evictions: u64,
    /// Connection starts fed.
    pub connections: u64,
    /// Beats recorded (connection starts not merged into a beat).
    pub beats: u64,
    /// Alerts returned.
    pub alerts: u64,
    /// Browser-class pairs that reached the browser threshold but were held back as exact page
    /// timers (too little jitter, or a timer comb), counted per beat.
    pub browser_held: u64,
}

/// Settings taken from `[detect.beacon]`.
#[derive(Debug, Clone, Copy)]
struct Settings {
    min_beats: usize,
    threshold: f64,
    browser_threshold: f64,
    browser_min_jitter: f64,
    realert_quiet_ns: u64,
    merge_secs: f64,
    prevalence_free: f64,
}

/// State of one (client, name) pair.
#[derive(Debug, Clone)]
struct Pair {
    window: window::BeatWindow,
    first_seen: Timestamp,
    last_seen: Timestamp,
    connections: u64,
    beats: u32,
    /// Median interval at the latest beat, seconds; 0 while unknown.
    typical_secs: f32,
    /// Beats when the pair first alerted; 0 before.
    beats_to_detect: u32,
    /// Beats at which the pair was scored.
    looks: u32,
    last_alert: Option<Timestamp>,
    /// What fed the pair (a set of [`BeatSource::bit`]s).
    sources: u8,
}

impl Pair {
    fn new(ts: Timestamp) -> Self {
        Pair {
            window: window::BeatWindow::new(ts),
            first_seen: ts,
            last_seen: ts,
            connections: 1,
            beats: 1,
            typical_secs: 0.0,
            beats_to_detect: 0,
            looks: 0,
            last_alert: None,
            sources: 0,
        }
    }

    fn typical(&self) -> Option<f64> {
        (self.typical_secs > 0.0).then_some(f64::from(self.typical_secs))
    }
}

/// The beaconing detector of one worker.
pub struct BeaconDetector {
    settings: Settings,
    /// Key: address family byte, address octets, lower-cased name bytes.
    pairs: LruCache<Box<[u8]>, Pair, foldhash::fast::RandomState>,
    stats: BeaconStats,
    /// Scratch: the key being looked up, the intervals, the sorted intervals.
    key: Vec<u8>,
    intervals: Vec<f64>,
    sorted: Vec<f64>,
}

impl std::fmt::Debug for BeaconDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BeaconDetector")
            .field("settings", &self.settings)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl BeaconDetector {
    /// A detector with the settings of `[detect.beacon]` (`enabled` and `all_names` are for the
    /// caller: they decide what is fed).
    pub fn new(cfg: &BeaconDetect) -> Self {
        let settings = Settings {
            min_beats: usize::try_from(cfg.min_beats)
                .unwrap_or(WINDOW_BEATS)
                .clamp(3, WINDOW_BEATS),
            threshold: cfg.score_threshold,
            browser_threshold: cfg.browser_score_threshold,
            browser_min_jitter: cfg.browser_min_jitter,
            realert_quiet_ns: u64::try_from(cfg.realert_quiet.as_nanos()).unwrap_or(u64::MAX),
            merge_secs: cfg.beat_merge.as_secs_f64(),
            prevalence_free: f64::from(cfg.prevalence_free_clients.max(1)),
        };
        BeaconDetector {
            settings,
            pairs: LruCache::with_hasher(
                NonZeroUsize::new(cfg.max_pairs_per_worker.get()).unwrap_or(NonZeroUsize::MIN),
                foldhash::fast::RandomState::default(),
            ),
            stats: BeaconStats::default(),
            key: Vec::with_capacity(1 + 16 + MAX_NAME_BYTES),
            intervals: Vec::with_capacity(WINDOW_BEATS),
            sorted: Vec::with_capacity(WINDOW_BEATS),
        }
    }

    /// Feeds a connection-start record (see [`BeaconDetector::on_conn`]).
    pub fn on_record(
        &mut self,
        c: &crate::records::ConnStart,
        prevalence: u32,
    ) -> Option<BeaconAlert> {
        let start = Connection {
            ts: c.packet.ts,
            client: c.client.ip,
            server_name: &c.name,
            client_bytes: c.client_bytes,
            non_browser: c.client_class.non_browser(),
            source: c.beat,
        };
        self.on_conn(&start, prevalence)
    }

    /// Feeds one connection start. `prevalence` is the number of distinct internal clients of
    /// the same class (browser or not) that contacted `c.server_name` in the caller's window,
    /// this one included (0 is read as 1); beyond `prevalence_free_clients` it divides the
    /// score (see [`BeaconAlert::score`]). Returns an alert when the pair's score first reaches
    /// the threshold with at least `min_beats` beats in its window, and again only once
    /// `realert_quiet_secs` have passed since the previous alert.
    ///
    /// Cost: a hash lookup; on a new beat, a sort and a pass over at most 63 intervals.
    pub fn on_conn(&mut self, c: &Connection<'_>, prevalence: u32) -> Option<BeaconAlert> {
        self.stats.connections += 1;
        encode_key(&mut self.key, c.client, c.server_name);
        let Some(pair) = self.pairs.get_mut(self.key.as_slice()) else {
            let key = self.key.clone().into_boxed_slice();
            let mut pair = Pair::new(c.ts);
            pair.sources = c.source.bit();
            if self.pairs.push(key, pair).is_some() {
                self.stats.evictions += 1;
            }
            self.stats.beats += 1;
            return None;
        };
        let s = self.settings;
        pair.connections = pair.connections.saturating_add(1);
        pair.sources |= c.source.bit();
        pair.last_seen = pair.last_seen.max(c.ts);
        let merge = merge_window_secs(s.merge_secs, pair.typical());
        if c.ts <= pair.window.last_beat() || pair.window.secs_since_last_beat(c.ts) < merge {
            return None;
        }
        pair.window.push(c.ts);
        pair.beats = pair.beats.saturating_add(1);
        self.stats.beats += 1;

        pair.window.intervals_secs(&mut self.intervals);
        self.sorted.clear();
        self.sorted.extend_from_slice(&self.intervals);
        // Equal under `total_cmp` means the same bits: an unstable sort gives
        // the same order.
        self.sorted.sort_unstable_by(f64::total_cmp);
        pair.typical_secs = median_sorted(&self.sorted) as f32;
        if pair.window.beats() < s.min_beats
            || pair
                .last_alert
                .is_some_and(|t| c.ts.nanos_since(t) < s.realert_quiet_ns)
        {
            return None;
        }

        // Judged against the window the pair's beats were merged with: a short period
        // (curl every 2 s) shrinks it below the configured one.
        let merged_with = merge_window_secs(s.merge_secs, pair.typical());
        let a = assess(&self.intervals, merged_with, &mut self.sorted)?;
        pair.looks = pair.looks.saturating_add(1);
        let periodicity = posterior(a.evidence - multiplicity(pair.looks));
        let prevalence = prevalence.max(1);
        let score = periodicity * (s.prevalence_free / f64::from(prevalence)).min(1.0);
        let browser = c.non_browser == Some(false);
        if browser {
            if score < s.browser_threshold {
                return None;
            }
            let on_beat = &self.sorted[a.on_beat.clone()];
            if a.jitter() < s.browser_min_jitter
                || on_beat.len() < BROWSER_MIN_ON_BEAT
                || comb_strength(on_beat, a.band_hi_secs - a.band_lo_secs, a.typical_secs)
                    >= COMB_THRESHOLD
            {
                self.stats.browser_held += 1;
                return None;
            }
        } else if score < s.threshold {
            return None;
        }

        let repeat = pair.last_alert.is_some();
        pair.last_alert = Some(c.ts);
        if pair.beats_to_detect == 0 {
            pair.beats_to_detect = pair.beats;
        }
        self.stats.alerts += 1;
        let (client, server_name) = decode_key(&self.key);
        Some(BeaconAlert {
            client,
            server_name,
            beats: pair.beats,
            connections: pair.connections,
            period_secs: a.period_secs(),
            band_secs: (a.band_lo_secs, a.band_hi_secs),
            jitter: a.jitter(),
            score,
            periodicity,
            evidence: a.evidence,
            prevalence,
            browser,
            missed_beats: a.missed_beats,
            pauses: u32::try_from(a.pauses).unwrap_or(u32::MAX),
            first_seen: pair.first_seen,
            last_seen: pair.last_seen,
            recent_intervals: pair.window.recent_intervals_secs(RECENT_INTERVALS),
            beat_times: pair.window.beat_times_secs(),
            beats_to_detect: pair.beats_to_detect,
            repeat,
            beat_sources: pair.sources,
        })
    }

    /// Current counters.
    pub fn stats(&self) -> BeaconStats {
        BeaconStats {
            pairs: self.pairs.len(),
            ..self.stats
        }
    }
}

/// Writes the pair key: family byte, address octets, the name lower-cased without a trailing
/// dot and cut at [`MAX_NAME_BYTES`].
fn encode_key(out: &mut Vec<u8>, client: IpAddr, name: &str) {
    out.clear();
    match client {
        IpAddr::V4(a) => {
            out.push(4);
            out.extend_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            out.push(6);
            out.extend_from_slice(&a.octets());
        }
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    out.extend(
        name.bytes()
            .take(MAX_NAME_BYTES)
            .map(|b| b.to_ascii_lowercase()),
    );
}

/// Reverses [`encode_key`] (a name cut inside a UTF-8 sequence gets a replacement character).
fn decode_key(key: &[u8]) -> (IpAddr, String) {
    let (client, name) = match key.first() {
        Some(4) if key.len() >= 5 => {
            let mut o = [0u8; 4];
            o.copy_from_slice(&key[1..5]);
            (IpAddr::from(o), &key[5..])
        }
        Some(6) if key.len() >= 17 => {
            let mut o = [0u8; 16];
            o.copy_from_slice(&key[1..17]);
            (IpAddr::from(o), &key[17..])
        }
        _ => (IpAddr::from([0u8; 4]), key),
    };
    (client, String::from_utf8_lossy(name).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cfg() -> BeaconDetect {
        BeaconDetect::default()
    }

    fn conn(secs: f64, client: [u8; 4], name: &str, non_browser: Option<bool>) -> Connection<'_> {
        Connection {
            ts: Timestamp((secs * 1e9) as u64),
            client: IpAddr::from(client),
            server_name: name,
            client_bytes: 0,
            non_browser,
            source: BeatSource::Connection,
        }
    }

    /// Feeds a schedule for one pair; returns the alerts.
    fn feed(
        d: &mut BeaconDetector,
        times: &[f64],
        prevalence: u32,
        nb: Option<bool>,
    ) -> Vec<BeaconAlert> {
        times
            .iter()
            .filter_map(|&t| d.on_conn(&conn(t, [10, 0, 0, 1], "x.workers.dev", nb), prevalence))
            .collect()
    }

    /// Cobalt-Strike-like sleeps over [0.8·S, S] spread by the golden ratio (deterministic).
    fn schedule(period: f64, n: usize) -> Vec<f64> {
        let mut t = 1000.0;
        (0..n)
            .map(|i| {
                t += period * (0.8 + 0.2 * ((i as f64 * 0.618_033_988_7) % 1.0));
                t
            })
            .collect()
    }

    #[test]
    fn alerts_once_then_after_quiet_time() {
        let mut d = BeaconDetector::new(&cfg());
        let alerts = feed(&mut d, &schedule(60.0, 200), 1, Some(true));
        // 200 beats of ~54 s span ~3 h: first alert, then one per quiet hour.
        assert!((3..=4).contains(&alerts.len()), "{}", alerts.len());
        let first = &alerts[0];
        assert!(!first.repeat && alerts[1].repeat);
        assert_eq!(first.beats, first.beats_to_detect);
        // 20 % jitter: about 3 nats per interval against a prior of 11.5 (docs/detection.md).
        assert_eq!(first.beats_to_detect, 7);
        assert_eq!(alerts[1].beats_to_detect, 7);
        assert!(alerts[1].first_seen == first.first_seen && alerts[1].last_seen > first.last_seen);
        assert!(alerts[1..]
            .windows(2)
            .chain(std::iter::once(&alerts[..2]))
            .all(|w| w[1].last_seen.nanos_since(w[0].last_seen) >= 3_600_000_000_000));
        assert!((first.period_secs - 54.0).abs() < 3.0, "{first:?}");
        assert!(first.jitter < 0.3 && first.score >= 0.7);
        assert_eq!(first.server_name, "x.workers.dev");
        assert_eq!(alerts[2].recent_intervals.len(), RECENT_INTERVALS);
        // The window's beats, relative to the first; the last is the alert's own connection.
        assert_eq!(first.beat_times.len(), first.beats as usize);
        assert_eq!(alerts[2].beat_times.len(), WINDOW_BEATS);
        let span = alerts[2].beat_times[WINDOW_BEATS - 1];
        let sched = schedule(60.0, 200);
        let last = sched
            .iter()
            .position(|&t| (t - alerts[2].last_seen.0 as f64 / 1e9).abs() < 1e-6)
            .expect("the alert's connection is a beat");
        assert!((span - (sched[last] - sched[last + 1 - WINDOW_BEATS])).abs() < 0.064);
        let st = d.stats();
        assert_eq!(
            (st.pairs, st.connections, st.beats, st.alerts),
            (1, 200, 200, alerts.len() as u64)
        );
    }

    #[test]
    fn a_period_shorter_than_the_merge_window_is_scored() {
        // curl every 2.2 s (± 5 %): under the default 3 s merge window. The first
        // connections merge in pairs; once the pair's typical interval is known the window
        // shrinks to a quarter of it, and the intervals are judged against that window.
        let mut d = BeaconDetector::new(&cfg());
        let times: Vec<f64> = (0..60)
            .map(|i| 1000.0 + 2.2 * i as f64 + 0.11 * ((i as f64 * 0.618_033_988_7) % 1.0))
            .collect();
        let alerts = feed(&mut d, &times, 1, Some(true));
        assert!(!alerts.is_empty(), "{:?}", d.stats());
        assert!((alerts[0].period_secs - 2.2).abs() < 0.2, "{:?}", alerts[0]);
    }

    #[test]
    fn connections_of_one_checkin_are_one_beat() {
        let mut d = BeaconDetector::new(&cfg());
        let mut times = Vec::new();
        for t in schedule(300.0, 12) {
            times.extend([t, t + 0.4, t + 1.7]);
        }
        let alerts = feed(&mut d, &times, 1, None);
        assert_eq!(alerts.len(), 1);
        // The alert comes with the first connection of the seventh beat.
        assert_eq!((alerts[0].beats, alerts[0].connections), (7, 19));
        assert_eq!(d.stats().beats, 12);
    }

    #[test]
    fn names_compare_case_insensitively_and_clients_apart() {
        let mut d = BeaconDetector::new(&cfg());
        assert!(d
            .on_conn(&conn(0.0, [10, 0, 0, 1], "A.Workers.Dev.", None), 1)
            .is_none());
        assert!(d
            .on_conn(&conn(60.0, [10, 0, 0, 1], "a.workers.dev", None), 1)
            .is_none());
        assert!(d
            .on_conn(&conn(60.0, [10, 0, 0, 2], "a.workers.dev", None), 1)
            .is_none());
        let v6 = Connection {
            client: "2001:db8::1".parse().unwrap(),
            ..conn(60.0, [0; 4], "a.workers.dev", None)
        };
        assert!(d.on_conn(&v6, 1).is_none());
        assert_eq!(d.stats().pairs, 3);
        assert_eq!(d.stats().beats, 4);
        let mut k = Vec::new();
        encode_key(&mut k, v6.client, "A.b.");
        assert_eq!(decode_key(&k), (v6.client, "a.b".to_owned()));
        encode_key(&mut k, v6.client, &"é".repeat(200));
        assert_eq!(k.len(), 17 + MAX_NAME_BYTES);
        assert!(decode_key(&k).1.ends_with('\u{fffd}'));
        assert_eq!(decode_key(&[]).0, IpAddr::from([0u8; 4]));
    }

    #[test]
    fn pairs_are_bounded_least_recent_evicted() {
        let mut c = cfg();
        c.max_pairs_per_worker = NonZeroUsize::new(3).unwrap();
        let mut d = BeaconDetector::new(&c);
        for i in 0..10u8 {
            d.on_conn(&conn(f64::from(i), [10, 0, 0, i], "a.workers.dev", None), 1);
        }
        assert_eq!(d.stats().pairs, 3);
        assert_eq!(d.stats().evictions, 7);
        // A beacon whose pair is evicted between beats never builds a window.
        let mut times = Vec::new();
        for (k, t) in schedule(60.0, 20).into_iter().enumerate() {
            times.push((t, [10, 0, 1, 0]));
            for j in 0..3u8 {
                times.push((
                    t + 1.0 + f64::from(j),
                    [10, 0, 2, (k as u8).wrapping_mul(3) + j],
                ));
            }
        }
        let n: usize = times
            .iter()
            .filter_map(|&(t, ip)| d.on_conn(&conn(t, ip, "a.workers.dev", None), 1))
            .count();
        assert_eq!(n, 0);
    }

    #[test]
    fn prevalence_divides_the_score() {
        let times = schedule(300.0, 40);
        let mut d = BeaconDetector::new(&cfg());
        let a = feed(&mut d, &times, 3, None);
        assert_eq!(a[0].score, a[0].periodicity);
        // Twelve same-class clients: at most 3/12 of a perfect score.
        let mut d = BeaconDetector::new(&cfg());
        assert!(feed(&mut d, &times, 12, None).is_empty());
        let mut c = cfg();
        c.score_threshold = 0.2;
        let mut d = BeaconDetector::new(&c);
        let a = feed(&mut d, &times, 12, None);
        assert!((a[0].score - a[0].periodicity / 4.0).abs() < 1e-12);
        assert_eq!(a[0].prevalence, 12);
    }

    #[test]
    fn browsers_need_jitter_and_no_timer_comb() {
        // An exact 30 s page timer: periodic, but a browser's.
        let exact: Vec<f64> = (0..200)
            .map(|i| 100.0 + 30.0 * f64::from(i) + 0.1 * f64::from(i % 3))
            .collect();
        let mut d = BeaconDetector::new(&cfg());
        assert!(feed(&mut d, &exact, 1, Some(false)).is_empty());
        assert!(d.stats().browser_held > 0);
        let mut d = BeaconDetector::new(&cfg());
        assert!(!feed(&mut d, &exact, 1, Some(true)).is_empty());
        // The same timer with the connection reused for 8..=12 polls.
        let mut t = 0.0;
        let reused: Vec<f64> = (0..60)
            .map(|i| {
                t += 30.0 * f64::from(8 + (i * 7) % 5) + 0.3 * f64::from(i % 2);
                t
            })
            .collect();
        let mut d = BeaconDetector::new(&cfg());
        assert!(feed(&mut d, &reused, 1, Some(false)).is_empty());
        assert!(d.stats().browser_held > 0);
        // A jittered sleep through a browser engine (headless Chromium as implant transport).
        let jittered: Vec<f64> = {
            let mut t = 0.0;
            (0..60)
                .map(|i| {
                    t += 180.0 * (0.7 + 0.3 * ((f64::from(i) * 0.618_033_988_7) % 1.0));
                    t
                })
                .collect()
        };
        let mut d = BeaconDetector::new(&cfg());
        let a = feed(&mut d, &jittered, 1, Some(false));
        assert!(!a.is_empty() && a[0].browser);
        assert!(a[0].beats_to_detect > BROWSER_MIN_ON_BEAT as u32);
    }

    #[test]
    fn realert_zero_alerts_every_scored_beat_and_min_beats_holds() {
        let mut c = cfg();
        c.realert_quiet = Duration::ZERO;
        c.min_beats = 10;
        let mut d = BeaconDetector::new(&c);
        let a = feed(&mut d, &schedule(60.0, 20), 1, None);
        assert_eq!(a.len(), 11);
        assert_eq!(a[0].beats, 10);
    }

    #[test]
    fn out_of_order_and_duplicate_starts_do_not_panic() {
        let mut d = BeaconDetector::new(&cfg());
        let mut times = schedule(60.0, 30);
        times.extend([0.0, 5.0, 1e12, 1e12, 3.0]);
        let _ = feed(&mut d, &times, 0, None);
        let mut c = cfg();
        c.beat_merge = Duration::ZERO;
        let mut d = BeaconDetector::new(&c);
        let same = vec![50.0; 100];
        assert!(feed(&mut d, &same, 1, None).is_empty());
        assert_eq!(d.stats().beats, 1);
    }
}
