//! DNS anomaly detection on real bytes: the labelled DNS-anomaly capture and the lab client
//! captures are replayed through `virga::replay` (`log_all`), and the `dns` EVE events are fed
//! to the detector as queries and responses, in capture order, with their packet times.
//!
//! - `clients/dns_anomalies.pcap`: each labelled anomalous host must raise its kind
//!   (tunnel → random-subdomain burst, NXDOMAIN burst → NXDOMAIN run, TXT polling → TXT
//!   lookups), and the benign host must raise nothing but the informational first sighting of
//!   an account;
//! - every other client capture (Chromium browsing with its NXDOMAIN background lookups and
//!   HTTPS queries, curl, wget, Python, Node, ...) must raise nothing but first sightings.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use serde_json::Value;
use virga::detect::dns_anomaly::{
    DnsAnomalyAlert, DnsAnomalyDetector, DnsAnomalyKind, DnsQueryObs, DnsResponseObs,
};
use virga::time::Timestamp;
use virga_config::{Catalogue, DnsDetect};

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses EVE's `YYYY-MM-DDTHH:MM:SS.ffffff+0000`.
fn eve_time(s: &str) -> Timestamp {
    let n = |a: usize, b: usize| s[a..b].parse::<i64>().unwrap();
    let days = days_from_civil(n(0, 4), n(5, 7), n(8, 10));
    let secs = days * 86_400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19);
    let micros = n(20, 26);
    assert_eq!(&s[26..], "+0000", "{s}");
    Timestamp::from_secs_nanos(secs, u32::try_from(micros * 1000).unwrap())
}

fn qtype(name: &str) -> u16 {
    match name {
        "A" => 1,
        "NS" => 2,
        "CNAME" => 5,
        "SOA" => 6,
        "NULL" => 10,
        "PTR" => 12,
        "MX" => 15,
        "TXT" => 16,
        "AAAA" => 28,
        "SRV" => 33,
        "SVCB" => 64,
        "HTTPS" => 65,
        "ANY" => 255,
        other => other.parse().unwrap_or(0),
    }
}

fn rcode(name: &str) -> u16 {
    match name {
        "NOERROR" => 0,
        "FORMERR" => 1,
        "SERVFAIL" => 2,
        "NXDOMAIN" => 3,
        "NOTIMP" => 4,
        "REFUSED" => 5,
        other => other.parse().unwrap_or(0),
    }
}

/// Replays `pcaps` and feeds every DNS question to a detector with the default settings and
/// the built-in catalogue; returns the alerts and the detector.
fn run(pcaps: &[String]) -> (Vec<DnsAnomalyAlert>, DnsAnomalyDetector) {
    let events = common::replay(pcaps, true);
    let mut det = DnsAnomalyDetector::new(DnsDetect::default(), Arc::new(Catalogue::builtin()));
    let mut alerts = Vec::new();
    let mut fed = 0;
    for e in common::of_type(&events, "dns") {
        let d = &e["dns"];
        let ts = eve_time(e["timestamp"].as_str().unwrap());
        let ip = |k: &str| e[k].as_str().unwrap().parse::<IpAddr>().unwrap();
        let Some(q) = d["queries"].as_array().and_then(|q| q.first()) else {
            continue;
        };
        let qname = q["rrname"].as_str().unwrap();
        let qt = qtype(q["rrtype"].as_str().unwrap());
        let alert = if d["type"] == "request" {
            det.on_query(&DnsQueryObs {
                ts,
                client: ip("src_ip"),
                qname,
                qtype: qt,
            })
        } else {
            det.on_response(&DnsResponseObs {
                ts,
                client: ip("dest_ip"),
                qname,
                qtype: qt,
                rcode: rcode(d["rcode"].as_str().unwrap()),
                answers: u16::try_from(d["answers"].as_array().map_or(0, Vec::len)).unwrap(),
            })
        };
        fed += 1;
        alerts.extend(alert);
    }
    assert!(fed > 0, "no DNS events in {pcaps:?}");
    (alerts, det)
}

fn print_alerts(title: &str, alerts: &[DnsAnomalyAlert]) {
    println!("\n== {title}: {} alerts", alerts.len());
    for a in alerts {
        println!(
            "   {} {:<22} sev {} {}/{} score {:.2} count {}/{} over {:.1}s (window {} s) e.g. {:?}",
            a.client,
            a.kind.name(),
            a.severity(),
            a.platform,
            a.account.as_deref().unwrap_or("-"),
            a.score,
            a.evidence.count,
            a.evidence.threshold,
            a.evidence.span_secs,
            a.evidence.window_secs,
            a.evidence.examples.first()
        );
    }
}

/// The kind a labelled pattern must raise.
fn expected_kind(pattern: &str) -> Option<DnsAnomalyKind> {
    if pattern.contains("tunnel") || pattern.contains("entropy") {
        Some(DnsAnomalyKind::RandomSubdomainBurst)
    } else if pattern.contains("nxdomain") {
        Some(DnsAnomalyKind::NxdomainRun)
    } else if pattern.contains("txt") {
        Some(DnsAnomalyKind::TxtLookups)
    } else {
        None
    }
}

#[test]
fn labelled_dns_anomalies_raise_their_kind_and_the_baseline_does_not() {
    let (alerts, det) = run(&[common::pcap("clients/dns_anomalies.pcap")]);
    print_alerts("dns_anomalies.pcap", &alerts);
    let mut by_client: BTreeMap<IpAddr, BTreeSet<&'static str>> = BTreeMap::new();
    for a in &alerts {
        by_client.entry(a.client).or_default().insert(a.kind.name());
    }
    println!("   per client: {by_client:?}");
    println!("   {:?}", det.stats());
    let labels = std::fs::read_to_string(common::pcap("clients/dns_anomalies.labels.jsonl"))
        .expect("labels");
    let mut anomalous = 0;
    for l in labels.lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        let client: IpAddr = v["client_ip"].as_str().unwrap().parse().unwrap();
        let pattern = v["pattern"].as_str().unwrap();
        let mine: Vec<&DnsAnomalyAlert> = alerts.iter().filter(|a| a.client == client).collect();
        if v["label"] == "anomalous" {
            anomalous += 1;
            let want = expected_kind(pattern).unwrap_or_else(|| panic!("pattern {pattern}"));
            let hit = mine
                .iter()
                .find(|a| a.kind == want)
                .unwrap_or_else(|| panic!("{client} ({pattern}): no {want:?} in {mine:?}"));
            // The alert names the zone the label gives, when it gives one.
            if let Some(zone) = v["zone"].as_str() {
                let account = zone.split('.').next().unwrap();
                assert_eq!(hit.account.as_deref(), Some(account), "{client}");
            }
            assert_eq!(hit.platform, "cloudflare_workers");
            assert!(hit.evidence.count >= hit.evidence.threshold);
            assert!(!hit.evidence.examples.is_empty() && hit.evidence.examples.len() <= 5);
        } else {
            // A benign baseline may be the first to look up an account: that is reported as
            // informational context, never as an anomaly.
            assert!(
                mine.iter().all(|a| a.kind.is_informational()),
                "benign {client}: {mine:?}"
            );
        }
    }
    assert_eq!(anomalous, 3);
    // One alert per (client, account, kind): no repeats within the quiet time.
    let mut seen = BTreeSet::new();
    for a in &alerts {
        assert!(
            seen.insert((a.client, a.account.clone(), a.kind.name())),
            "repeated {a:?}"
        );
    }
}

#[test]
fn benign_client_captures_raise_no_anomaly() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pcaps/clients");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .filter(|p| !p.ends_with("dns_anomalies.pcap"))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files.len(), 12);
    let mut total = 0;
    for f in &files {
        let (alerts, det) = run(std::slice::from_ref(f));
        let name = f.rsplit('/').next().unwrap();
        print_alerts(name, &alerts);
        let s = det.stats();
        total += s.queries + s.responses;
        assert!(
            alerts.iter().all(|a| a.kind.is_informational()),
            "{name}: {alerts:?}"
        );
        if name == "chromium.pcap" {
            // Chromium's background lookups are answered NXDOMAIN in the lab, and it asks
            // HTTPS records: none of that is under a catalogued name, so none of it counts.
            assert!(s.catalogued > 0 && s.catalogued < s.queries + s.responses);
        }
    }
    assert!(total > 500, "{total} DNS messages fed");
}

#[test]
fn eve_time_parses_the_eve_form() {
    let t = Timestamp::from_secs_nanos(1_795_964_577, 968_207_000);
    assert_eq!(eve_time(&virga::eve::timestamp_text(t)), t);
    assert_eq!(eve_time("1970-01-01T00:00:00.000001+0000"), Timestamp(1000));
}
