//! The beaconing detector on schedules drawn from the jitter laws of real C2 frameworks and on
//! irregular traffic, with a small deterministic PRNG (SplitMix64, hand-written so the draws
//! never change with a crate version).
//!
//! Laws (shared/notes/beacon-research.md §3): Cobalt Strike sleeps U[S(1−j), S]; Mythic/Havoc
//! U[S(1−j), S(1+j)]; Sliver S + U[0, J). Complications: missed beats, hosts asleep, working
//! hours, nightly long sleeps, several connections per beat. Negatives: Poisson arrivals,
//! browsing sessions, CI bursts, ad-hoc scripts.

use std::net::IpAddr;
use virga::detect::beacon::{BeaconAlert, BeaconDetector, Connection};
use virga::time::Timestamp;
use virga_config::BeaconDetect;

/// SplitMix64 (Steele, Lea, Flood 2014).
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }
}

#[derive(Clone, Copy, Debug)]
enum Law {
    /// Cobalt Strike: U[S(1−j), S].
    Cs,
    /// Mythic (Apollo), Havoc, Empire: U[S(1−j), S(1+j)].
    Mythic,
    /// Sliver: S + U[0, j·S).
    Sliver,
}

impl Law {
    fn sleep(self, r: &mut Rng, s: f64, j: f64) -> f64 {
        match self {
            Law::Cs => r.uniform(s * (1.0 - j), s),
            Law::Mythic => r.uniform(s * (1.0 - j), s * (1.0 + j)),
            Law::Sliver => s + r.uniform(0.0, j * s),
        }
    }
}

/// Schedule of a beacon: `law` sleeps from a random phase over `dur` seconds. A beat is
/// skipped with probability `drop` or while `asleep(t)`; `multi` adds a task fetch 0.2–0.7 s
/// and, half the time, a result post 1–1.9 s after each check-in.
struct Beacon<'a> {
    law: Law,
    sleep: f64,
    jitter: f64,
    dur: f64,
    drop: f64,
    multi: bool,
    asleep: &'a dyn Fn(f64) -> bool,
}

fn never(_: f64) -> bool {
    false
}

impl Beacon<'_> {
    fn plain(law: Law, sleep: f64, jitter: f64, dur: f64) -> Beacon<'static> {
        Beacon {
            law,
            sleep,
            jitter,
            dur,
            drop: 0.0,
            multi: false,
            asleep: &never,
        }
    }

    fn times(&self, r: &mut Rng) -> Vec<f64> {
        let mut out = Vec::new();
        let mut t = r.uniform(0.0, self.sleep);
        while t < self.dur {
            if r.unit() >= self.drop && !(self.asleep)(t) {
                out.push(t);
                if self.multi {
                    out.push(t + r.uniform(0.2, 0.7));
                    if r.unit() < 0.5 {
                        out.push(t + r.uniform(1.0, 1.9));
                    }
                }
            }
            t += self.law.sleep(r, self.sleep, self.jitter);
        }
        out.sort_by(f64::total_cmp);
        out
    }
}

/// Feeds the schedule of one pair; returns the alerts.
fn feed(times: &[f64], non_browser: Option<bool>) -> Vec<BeaconAlert> {
    feed_until(times, non_browser, usize::MAX)
}

/// The first alert only (stops feeding there).
fn first_alert(times: &[f64], non_browser: Option<bool>) -> Option<BeaconAlert> {
    feed_until(times, non_browser, 1).pop()
}

fn feed_until(times: &[f64], non_browser: Option<bool>, max_alerts: usize) -> Vec<BeaconAlert> {
    let mut d = BeaconDetector::new(&BeaconDetect::default());
    let client: IpAddr = "10.1.2.3".parse().unwrap();
    let mut out = Vec::new();
    for &t in times {
        let c = Connection {
            ts: Timestamp(1_772_409_600_000_000_000 + (t * 1e9) as u64),
            client,
            server_name: "relay.acme.workers.dev",
            client_bytes: 0,
            non_browser,
            source: virga::records::BeatSource::Connection,
        };
        if let Some(a) = d.on_conn(&c, 1) {
            out.push(a);
            if out.len() >= max_alerts {
                break;
            }
        }
    }
    out
}

const HOUR: f64 = 3600.0;
const DAY: f64 = 86_400.0;

/// Detection over `seeds` draws: (detected, beats to detect of each).
fn detect(b: &Beacon<'_>, seeds: u64, salt: u64) -> (usize, Vec<u32>) {
    let mut btd = Vec::new();
    for s in 0..seeds {
        let mut r = Rng(salt.wrapping_mul(1_000_003).wrapping_add(s));
        if let Some(a) = first_alert(&b.times(&mut r), Some(true)) {
            btd.push(a.beats_to_detect);
        }
    }
    (btd.len(), btd)
}

#[test]
fn every_jitter_law_up_to_half_is_caught_from_10_s_to_4_h() {
    let mut worst = 0;
    for (li, law) in [Law::Cs, Law::Mythic, Law::Sliver].into_iter().enumerate() {
        for (ji, jitter) in [0.0, 0.1, 0.25, 0.5].into_iter().enumerate() {
            for (si, sleep) in [10.0, 45.0, 300.0, 1200.0, 3600.0, 4.0 * HOUR]
                .into_iter()
                .enumerate()
            {
                // 48 h, or long enough for 40 beats.
                let b = Beacon::plain(law, sleep, jitter, (2.0 * DAY).max(40.0 * sleep));
                let (n, btd) = detect(&b, 10, (li * 100 + ji * 10 + si) as u64);
                let max = btd.iter().copied().max().unwrap_or(0);
                println!("{law:?} j={jitter:.2} S={sleep:>6}: {n}/10, beats to detect max {max}");
                assert_eq!(n, 10, "{law:?} jitter {jitter} sleep {sleep}: {n}/10");
                // Evidence grows by half a nat to a nat per interval at 50 % symmetric jitter
                // (docs/detection.md): within one window; a few beats when tighter.
                let bound = if jitter <= 0.25 { 16 } else { 64 };
                assert!(
                    max <= bound,
                    "{law:?} jitter {jitter} sleep {sleep}: {btd:?}"
                );
                worst = worst.max(max);
            }
        }
    }
    println!("slowest detection: {worst} beats");
}

#[test]
fn missed_beats_sleep_and_working_hours() {
    let asleep_at_night = |t: f64| (t % DAY) < 7.5 * HOUR || (t % DAY) >= 19.0 * HOUR;
    let office_hours = |t: f64| !(9.0 * HOUR..18.0 * HOUR).contains(&(t % DAY));
    let cases: Vec<(&str, Beacon<'_>)> = vec![
        (
            "10 % dropped beats, CS 25 % 300 s",
            Beacon {
                drop: 0.1,
                ..Beacon::plain(Law::Cs, 300.0, 0.25, 2.0 * DAY)
            },
        ),
        (
            "laptop asleep 12.5 h a night, Mythic 25 % 120 s",
            Beacon {
                asleep: &asleep_at_night,
                ..Beacon::plain(Law::Mythic, 120.0, 0.25, 3.0 * DAY)
            },
        ),
        (
            "working hours only, CS 30 % 240 s",
            Beacon {
                asleep: &office_hours,
                ..Beacon::plain(Law::Cs, 240.0, 0.3, 3.0 * DAY)
            },
        ),
        (
            "working hours, 5 % dropped, Sliver 50 % 900 s",
            Beacon {
                asleep: &office_hours,
                drop: 0.05,
                ..Beacon::plain(Law::Sliver, 900.0, 0.5, 5.0 * DAY)
            },
        ),
    ];
    for (i, (what, b)) in cases.iter().enumerate() {
        let (n, btd) = detect(b, 10, 7000 + i as u64);
        println!("{what}: {n}/10, beats to detect {btd:?}");
        assert_eq!(n, 10, "{what}");
    }

    // A nightly 8 h sleep between days of CS 20 % 420 s beats (as the `night_sleep` option of
    // some implants): the long interval is a pause, not a miss, and the alerts of the next
    // days, whose windows hold it, keep the sleep.
    for seed in 0..10 {
        let mut r = Rng(9000 + seed);
        let mut t = r.uniform(0.0, 420.0);
        let mut times = Vec::new();
        while t < 3.0 * DAY {
            times.push(t);
            t += if (t % DAY) > 22.0 * HOUR {
                r.uniform(0.95, 1.0) * 8.0 * HOUR
            } else {
                Law::Cs.sleep(&mut r, 420.0, 0.2)
            };
        }
        let alerts = feed(&times, Some(true));
        assert!(!alerts.is_empty(), "nightly sleep seed {seed}");
        let after_night: Vec<&BeaconAlert> = alerts.iter().filter(|a| a.pauses > 0).collect();
        assert!(
            !after_night.is_empty(),
            "seed {seed}: no alert spans a night"
        );
        for a in after_night {
            assert!((a.period_secs - 378.0).abs() < 40.0, "seed {seed}: {a:?}");
        }
    }
}

#[test]
fn four_hour_sleep_is_caught_within_two_days() {
    // CS 10 % on 4 h: U[3.6 h, 4 h], 12 or 13 connections in 48 h.
    for seed in 0..20 {
        let mut r = Rng(12_000 + seed);
        let times = Beacon::plain(Law::Cs, 4.0 * HOUR, 0.1, 2.0 * DAY).times(&mut r);
        assert!((12..=14).contains(&times.len()));
        let a = first_alert(&times, Some(true)).unwrap_or_else(|| panic!("seed {seed}"));
        assert!(a.beats_to_detect <= 8, "seed {seed}: {a:?}");
        // Five intervals of a 0.4 h band: the mean sleep is known to a few percent.
        assert!(
            (a.period_secs - 3.8 * HOUR).abs() < 0.05 * 3.8 * HOUR,
            "{a:?}"
        );
    }
}

#[test]
fn browser_pages_poll_but_headless_implants_are_caught() {
    let page = |r: &mut Rng, reuse: bool| {
        // A tab polling every 30 s (±1 %, 0.3 s of execution noise) for 2.5 h, twice a day;
        // with `reuse`, a connection carries 8 to 12 polls.
        let mut out = Vec::new();
        for day in 0..2 {
            let mut t = f64::from(day) * DAY + 9.0 * HOUR + r.uniform(2.0, 8.0);
            let mut left = 0;
            while t < f64::from(day) * DAY + 11.5 * HOUR {
                if left == 0 {
                    out.push(t + r.uniform(0.0, 0.3));
                    left = if reuse {
                        8 + (r.unit() * 5.0) as u32
                    } else {
                        1
                    };
                }
                left -= 1;
                t += 30.0 * r.uniform(0.99, 1.01);
            }
        }
        out
    };
    for reuse in [false, true] {
        for s in 0..20 {
            let mut r = Rng(31_000 + s);
            let times = page(&mut r, reuse);
            assert!(
                feed(&times, Some(false)).is_empty(),
                "reuse {reuse} seed {s}"
            );
            // The same schedule from a non-browser client is a beacon-like poller: alerted.
            assert!(
                first_alert(&times, Some(true)).is_some(),
                "reuse {reuse} seed {s}"
            );
        }
    }
    // Headless Chromium carrying a CS 30 % 180 s implant.
    for s in 0..20 {
        let mut r = Rng(32_000 + s);
        let times = Beacon::plain(Law::Cs, 180.0, 0.3, 6.0 * HOUR).times(&mut r);
        let a = first_alert(&times, Some(false)).unwrap_or_else(|| panic!("headless seed {s}"));
        assert!(a.browser && a.score >= 0.9);
    }
}

#[test]
fn several_connections_per_beat_count_once() {
    for (i, (sleep, jitter)) in [(30.0, 0.2), (600.0, 0.2), (3600.0, 0.5)]
        .into_iter()
        .enumerate()
    {
        let b = Beacon {
            multi: true,
            ..Beacon::plain(Law::Cs, sleep, jitter, (2.0 * DAY).max(40.0 * sleep))
        };
        for s in 0..10 {
            let mut r = Rng(500 + 10 * i as u64 + s);
            let times = b.times(&mut r);
            let a = first_alert(&times, None);
            let a = a.unwrap_or_else(|| panic!("sleep {sleep} seed {s}"));
            assert!(a.connections > u64::from(a.beats), "{a:?}");
            assert!(a.beats_to_detect <= 24, "{a:?}");
            // The merged beats recover the sleep, not the sub-second task fetch.
            let mean = sleep * (1.0 - jitter / 2.0);
            assert!((a.period_secs - mean).abs() < 0.2 * mean, "{a:?}");
        }
    }
}

/// Pairs alerted out of `n` draws of `gen`.
fn alerted(n: u64, salt: u64, gen: impl Fn(&mut Rng) -> Vec<f64>) -> usize {
    (0..n)
        .filter(|s| {
            let mut r = Rng(salt.wrapping_mul(7_777_777).wrapping_add(*s));
            first_alert(&gen(&mut r), Some(true)).is_some()
        })
        .count()
}

fn poisson(r: &mut Rng, mean: f64, dur: f64) -> Vec<f64> {
    let mut out = Vec::new();
    let mut t = r.exp(mean);
    while t < dur {
        out.push(t);
        t += r.exp(mean);
    }
    out
}

#[test]
fn irregular_traffic_is_not_a_beacon() {
    // Poisson arrivals from one every 20 s to one every 2 h, over a day (up to 4320 each) or
    // for 200 arrivals.
    for (i, mean) in [20.0, 60.0, 300.0, 1800.0, 7200.0].into_iter().enumerate() {
        let n = alerted(100, 10 + i as u64, |r| {
            poisson(r, mean, DAY.max(200.0 * mean))
        });
        println!("Poisson mean {mean} s: {n}/100 alerted");
        assert_eq!(n, 0, "Poisson mean {mean}");
    }
    // Browsing: sessions of page loads (1–6 connections within 2 s) separated by think times.
    let n = alerted(200, 20, |r| {
        let mut out = Vec::new();
        for _ in 0..30 {
            let mut t = r.uniform(0.0, DAY);
            for _ in 0..(1 + (r.unit() * 8.0) as usize) {
                for _ in 0..(1 + (r.unit() * 6.0) as usize) {
                    out.push(t + r.uniform(0.0, 2.0));
                }
                t += r.exp(60.0);
            }
        }
        out.sort_by(f64::total_cmp);
        out
    });
    println!("browsing: {n}/200 alerted");
    assert_eq!(n, 0);
    // CI: 40 calls within 2 minutes, three times a day, for two days.
    let n = alerted(200, 30, |r| {
        let mut out = Vec::new();
        for _ in 0..6 {
            let t0 = r.uniform(0.0, 2.0 * DAY);
            out.extend((0..40).map(|_| t0 + r.uniform(0.0, 120.0)));
        }
        out.sort_by(f64::total_cmp);
        out
    });
    println!("CI bursts: {n}/200 alerted");
    assert_eq!(n, 0);
    // Ad-hoc scripts: a handful of calls during a working day.
    let n = alerted(200, 40, |r| {
        let k = 3 + (r.unit() * 8.0) as usize;
        let mut out: Vec<f64> = (0..k).map(|_| r.uniform(9.0 * HOUR, 17.0 * HOUR)).collect();
        out.sort_by(f64::total_cmp);
        out
    });
    println!("ad-hoc: {n}/200 alerted");
    assert_eq!(n, 0);
}
