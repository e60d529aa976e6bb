//! The beaconing detector against the labelled timelines of `shared/corpus/timelines`.
//!
//! For every `*.truth.json` (and its pcap), each labelled (client, name) pair gets its
//! connection start times: from the actors' `event_times_s` when they account for all of the
//! pair's connections, otherwise (browser users, whose times are not listed) from the pcap,
//! replayed through virga and read back from its `tls`/`quic` events. All pairs' starts are
//! then fed in time order into ONE detector with the default configuration, as one worker would
//! see them, after what the pipeline does before the detector: allowlisted pairs are dropped,
//! only names in the serverless catalogue are fed (a name counts when it, or a name in the
//! CNAME chain the client resolved, is catalogued; a connection without SNI is named by the
//! client's own DNS lookup), and prevalence is the number of distinct clients of the same class
//! (browser or not) that contacted the name in the last 24 hours.
//!
//! Targets: recall ≥ 0.95 over beacon pairs with jitter ≤ 50 %, no benign pair alerted. The
//! table is printed (`cargo test --test beacon_truth -- --nocapture`). The truth files are
//! read from the shared folder (`virga_test_support`): they are over 500 KB together,
//! too big to copy into the repository; on a bare clone the test prints a note and passes
//! (in CI it fails).

mod common;

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use virga::detect::beacon::{BeaconAlert, BeaconDetector, Connection};
use virga::time::Timestamp;
use virga_config::{BeaconDetect, Catalogue};

/// Window of the prevalence count, seconds.
const PREVALENCE_WINDOW_SECS: f64 = 86_400.0;

/// Highest jitter in the recall target.
const MAX_JITTER: f64 = 0.5;

fn shared_dir() -> Option<PathBuf> {
    virga_test_support::shared()
}

/// One labelled pair with its connection starts (seconds from the timeline start).
#[derive(Debug)]
struct Pair {
    client: IpAddr,
    name: String,
    beacon: bool,
    browser: bool,
    categories: String,
    /// Largest jitter among the pair's actors (0 when none is given).
    jitter: f64,
    /// Largest period among the pair's actors, seconds (0 when none).
    period: f64,
    times: Vec<f64>,
    /// Where the times come from: "truth" or "pcap".
    source: &'static str,
    catalogued: bool,
    allowlisted: bool,
}

struct Timeline {
    scenario: String,
    start_epoch: f64,
    pairs: Vec<Pair>,
}

/// Seconds since the epoch of an EVE timestamp `YYYY-MM-DDTHH:MM:SS.ffffff+0000`.
fn eve_epoch(s: &str) -> Option<f64> {
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let frac: f64 = format!("0{}", s.get(19..26)?).parse().ok()?;
    // Days from civil (Howard Hinnant).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + mi * 60 + sec) as f64 + frac)
}

/// Connection starts per (client, SNI) from virga's own `tls` and `quic` events.
fn pcap_starts(pcap: &Path) -> HashMap<(String, String), Vec<f64>> {
    let events = common::replay(&[pcap.to_string_lossy().into_owned()], true);
    let mut out: HashMap<(String, String), Vec<f64>> = HashMap::new();
    for e in &events {
        let kind = e["event_type"].as_str().unwrap_or("");
        if kind != "tls" && kind != "quic" {
            continue;
        }
        let ts = eve_epoch(e["timestamp"].as_str().unwrap_or("")).expect("EVE timestamp");
        let src = e["src_ip"].as_str().unwrap_or("").to_owned();
        let sni = e[kind]["sni"].as_str().unwrap_or("").to_owned();
        out.entry((src, sni)).or_default().push(ts);
    }
    out
}

fn load(truth_path: &Path, catalogue: &Catalogue) -> Timeline {
    let truth: Value =
        serde_json::from_str(&std::fs::read_to_string(truth_path).expect("truth file"))
            .expect("truth JSON");
    let start_epoch = truth["start_epoch"].as_f64().expect("start_epoch");
    let actors = truth["actors"].as_array().expect("actors");
    let allow: Vec<(String, String)> = truth["allowlist"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            (
                a["client_ip"].as_str().unwrap_or("").to_owned(),
                a["server_name"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    let mut pcap: Option<HashMap<(String, String), Vec<f64>>> = None;
    let pcap_path = truth_path
        .parent()
        .unwrap()
        .join(truth["pcap"].as_str().unwrap_or(""));
    let mut pairs = Vec::new();
    for p in truth["pairs"].as_array().expect("pairs") {
        let client_s = p["client_ip"].as_str().unwrap_or("");
        let sni = p["server_name"].as_str().unwrap_or("");
        let dns_names: Vec<&str> = p["dns_names"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let n_conns = p["n_connections"].as_u64().unwrap_or(0) as usize;
        let its: Vec<&Value> = p["actors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| actors.get(a.as_u64()? as usize))
            .collect();
        // The pair's own actor times: actor host and name (SNI, or its DNS name when the
        // connection carries no SNI) equal to the pair's.
        let mut times: Vec<f64> = Vec::new();
        for a in &its {
            let a_name = a["sni"].as_str().unwrap_or("");
            let a_name = if a_name.is_empty() {
                a["dns_name"].as_str().unwrap_or("")
            } else {
                a_name
            };
            let matches_name = a_name == sni || (sni.is_empty() && dns_names.contains(&a_name));
            if a["host"].as_str() == Some(client_s) && matches_name {
                if let Some(ts) = a["event_times_s"].as_array() {
                    times.extend(ts.iter().filter_map(Value::as_f64));
                }
            }
        }
        let source = if times.len() == n_conns {
            "truth"
        } else {
            let starts = pcap.get_or_insert_with(|| {
                if pcap_path.is_file() {
                    pcap_starts(&pcap_path)
                } else {
                    HashMap::new()
                }
            });
            times = starts
                .get(&(client_s.to_owned(), sni.to_owned()))
                .map(|v| v.iter().map(|t| t - start_epoch).collect())
                .unwrap_or_default();
            assert!(
                times.is_empty() || times.len() == n_conns,
                "{client_s} {sni}: pcap has {} connections, truth {n_conns}",
                times.len()
            );
            "pcap"
        };
        let name = if sni.is_empty() {
            dns_names.first().copied().unwrap_or("")
        } else {
            sni
        };
        let beacon_actors = its.iter().filter(|a| a["label"] == "beacon");
        let jitter = beacon_actors
            .clone()
            .filter_map(|a| a["jitter"].as_f64())
            .fold(0.0, f64::max);
        let period = its
            .iter()
            .filter_map(|a| a["period_s"].as_f64())
            .fold(0.0, f64::max);
        pairs.push(Pair {
            client: client_s.parse().expect("client_ip"),
            name: name.to_owned(),
            beacon: p["label"] == "beacon",
            browser: p["is_browser"].as_bool().unwrap_or(false),
            categories: p["categories"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("+"),
            jitter,
            period,
            times,
            source,
            catalogued: std::iter::once(name)
                .chain(dns_names.iter().copied())
                .any(|n| catalogue.lookup(n).is_some()),
            allowlisted: allow.iter().any(|(c, n)| c == client_s && n == sni),
        });
    }
    Timeline {
        scenario: truth["scenario"].as_str().unwrap_or("?").to_owned(),
        start_epoch,
        pairs,
    }
}

/// Alerts per pair index, feeding one detector in time order.
fn run(t: &Timeline, cfg: &BeaconDetect, all_names: bool) -> BTreeMap<usize, Vec<BeaconAlert>> {
    let mut events: Vec<(f64, usize)> = Vec::new();
    for (i, p) in t.pairs.iter().enumerate() {
        if p.allowlisted || !(p.catalogued || all_names) || p.name.is_empty() {
            continue;
        }
        events.extend(p.times.iter().map(|&s| (s, i)));
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut det = BeaconDetector::new(cfg);
    let mut seen: HashMap<(String, bool), HashMap<IpAddr, f64>> = HashMap::new();
    let mut alerts: BTreeMap<usize, Vec<BeaconAlert>> = BTreeMap::new();
    for (s, i) in events {
        let p = &t.pairs[i];
        let clients = seen.entry((p.name.clone(), p.browser)).or_default();
        clients.insert(p.client, s);
        let prevalence = clients
            .values()
            .filter(|&&last| s - last <= PREVALENCE_WINDOW_SECS)
            .count() as u32;
        let c = Connection {
            ts: Timestamp((((t.start_epoch + s) * 1e6).round() as u64).saturating_mul(1000)),
            client: p.client,
            server_name: &p.name,
            client_bytes: 0,
            non_browser: Some(!p.browser),
            source: virga::records::BeatSource::Connection,
        };
        if let Some(a) = det.on_conn(&c, prevalence) {
            alerts.entry(i).or_default().push(a);
        }
    }
    alerts
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[test]
fn beaconing_against_labelled_timelines() {
    let Some(shared) = shared_dir() else {
        return;
    };
    let dir = shared.join("corpus/timelines");
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(".truth.json"))
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    assert!(!files.is_empty(), "no *.truth.json in {}", dir.display());
    let catalogue = Catalogue::builtin();
    let cfg = BeaconDetect::default();
    let (mut tot_beacons, mut tot_hit, mut fp_other, mut fp_browser) = (0, 0, 0, 0);
    let mut all_btd = Vec::new();
    let mut lines = Vec::new();
    println!(
        "{:<22} {:>5} {:>7} {:>6} {:>6} {:>8} {:>8} {:>6} {:>7}",
        "timeline", "fed", "beacons", "found", "recall", "FP(app)", "FP(brw)", "btd", "hours"
    );
    for f in &files {
        let t = load(f, &catalogue);
        let alerts = run(&t, &cfg, false);
        let fed = t
            .pairs
            .iter()
            .filter(|p| p.catalogued && !p.allowlisted && !p.name.is_empty())
            .count();
        let (mut beacons, mut hit, mut fpa, mut fpb) = (0, 0, 0, 0);
        let (mut btd, mut hours) = (Vec::new(), Vec::new());
        for (i, p) in t.pairs.iter().enumerate() {
            let a = alerts.get(&i).and_then(|v| v.first());
            if p.beacon && p.jitter <= MAX_JITTER && !p.times.is_empty() {
                beacons += 1;
                match a {
                    Some(a) => {
                        hit += 1;
                        btd.push(f64::from(a.beats_to_detect));
                        let first = p.times.iter().copied().fold(f64::INFINITY, f64::min);
                        let at = a.last_seen.as_secs_f64() - t.start_epoch;
                        hours.push((at - first) / 3600.0);
                        lines.push(format!(
                            "  hit  {:<22} {:<15} {:<45} P={:>6} j={:.2} beats={:>3} score={:.2} period={:.0}s jitter={:.2} prev={}",
                            t.scenario, p.client, p.name, p.period, p.jitter, a.beats_to_detect, a.score, a.period_secs, a.jitter, a.prevalence
                        ));
                    }
                    None => lines.push(format!(
                        "  MISS {:<22} {:<15} {:<45} P={:>6} j={:.2} browser={} conns={} ({})",
                        t.scenario,
                        p.client,
                        p.name,
                        p.period,
                        p.jitter,
                        p.browser,
                        p.times.len(),
                        p.source
                    )),
                }
            } else if !p.beacon {
                if let Some(a) = a {
                    if p.browser {
                        fpb += 1;
                    } else {
                        fpa += 1;
                    }
                    lines.push(format!(
                        "  FP   {:<22} {:<15} {:<45} {} browser={} conns={} beats={} score={:.2} period={:.0}s jitter={:.2}",
                        t.scenario, p.client, p.name, p.categories, p.browser, p.times.len(), a.beats_to_detect, a.score, a.period_secs, a.jitter
                    ));
                }
            }
        }
        all_btd.extend(btd.iter().copied());
        println!(
            "{:<22} {:>5} {:>7} {:>6} {:>6.3} {:>8} {:>8} {:>6.1} {:>7.2}",
            t.scenario,
            fed,
            beacons,
            hit,
            if beacons > 0 {
                f64::from(hit) / f64::from(beacons)
            } else {
                f64::NAN
            },
            fpa,
            fpb,
            median(&mut btd),
            median(&mut hours),
        );
        tot_beacons += beacons;
        tot_hit += hit;
        fp_other += fpa;
        fp_browser += fpb;

        // What `all_names = true` would add: periodic non-serverless services (not asserted).
        let wide = run(&t, &cfg, true);
        for (i, v) in &wide {
            let p = &t.pairs[*i];
            if !p.catalogued && !p.beacon {
                lines.push(format!(
                    "  info {:<22} {:<15} {:<45} {} alerts with all_names=true (not catalogued)",
                    t.scenario,
                    p.client,
                    p.name,
                    v.len()
                ));
            }
        }
    }
    let recall = f64::from(tot_hit) / f64::from(tot_beacons.max(1));
    println!(
        "{:<22} {:>5} {:>7} {:>6} {:>6.3} {:>8} {:>8} {:>6.1}",
        "all",
        "",
        tot_beacons,
        tot_hit,
        recall,
        fp_other,
        fp_browser,
        median(&mut all_btd)
    );
    println!(
        "(btd: median beats to detect; hours: median time from the first connection to the alert)"
    );
    for l in &lines {
        println!("{l}");
    }
    assert!(tot_beacons > 0, "no beacon pairs evaluated");
    assert!(recall >= 0.95, "recall {recall:.3} below 0.95");
    assert_eq!(fp_other, 0, "non-browser benign pairs alerted");
    assert_eq!(fp_browser, 0, "browser benign pairs alerted");
}

#[test]
fn eve_timestamps_parse() {
    assert_eq!(
        eve_epoch("2026-03-02T00:00:00.000000+0000"),
        Some(1_772_409_600.0)
    );
    let t = eve_epoch("2024-02-29T12:34:56.250000+0000").unwrap();
    assert!((t - 1_709_210_096.25).abs() < 1e-6);
    assert_eq!(eve_epoch("garbage"), None);
}
