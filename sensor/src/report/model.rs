//! What a report shows, gathered from alert lines: the summary counts and one
//! entry per alerted (client, name) pair with its latest evidence.
//!
//! Everything is bounded whatever the input holds: at most [`MAX_PAIRS`]
//! pairs (alerts of further pairs are counted, not kept), at most
//! [`MAX_KEYS`] keys per summary table (the rest under `other`), strings cut
//! at [`MAX_TEXT`] bytes, and small caps on each pair's lists.

use crate::eve::read::{parse_timestamp, AlertLine, ReadStats, VirgaContext};
use crate::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Most pairs kept.
pub const MAX_PAIRS: usize = 10_000;
/// Most distinct keys per summary table (detectors, platforms, sensors).
pub const MAX_KEYS: usize = 64;
/// Longest string kept, in bytes.
pub const MAX_TEXT: usize = 256;
/// Most beat times kept for a pair (the detector writes at most 64).
pub const MAX_BEATS: usize = 64;
/// Most alert times kept for a pair (the latest).
pub const MAX_ALERT_TIMES: usize = 256;
/// Most Community IDs, signatures, sensors, reasons or kinds kept per pair.
pub const MAX_PER_PAIR: usize = 16;

/// The key a summary table files everything beyond [`MAX_KEYS`] under.
pub const OTHER: &str = "other";

/// A beacon alert's evidence: the latest one of its pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Beacon {
    /// Time of the alert (its last beat).
    pub at: Timestamp,
    /// Beat starts, seconds after the first, ascending, finite.
    pub beat_times: Vec<f64>,
    /// Mean sleep, seconds.
    pub period_secs: Option<f64>,
    /// The fitted band of sleeps, seconds.
    pub band_secs: Option<(f64, f64)>,
    /// Band width over its longest sleep.
    pub jitter: Option<f64>,
    /// Periodicity posterior.
    pub periodicity: Option<f64>,
    /// Beats seen for the pair.
    pub beats: Option<u64>,
    /// Connections seen for the pair.
    pub connections: Option<u64>,
}

impl Beacon {
    /// The intervals between consecutive beats, seconds.
    pub fn intervals(&self) -> Vec<f64> {
        self.beat_times.windows(2).map(|w| w[1] - w[0]).collect()
    }
}

/// One alerted (client, server name) pair.
#[derive(Debug, Clone, Default)]
pub struct Pair {
    /// Client address, as written.
    pub client: String,
    /// Server name (for DNS alerts the queried domain).
    pub name: String,
    /// Alerts about the pair.
    pub alerts: u64,
    /// Highest severity (lowest number) seen; 0 when none was given.
    pub severity: u8,
    /// Highest score seen.
    pub score: Option<f64>,
    /// Detectors that alerted.
    pub detectors: BTreeSet<String>,
    /// Signatures that fired.
    pub signatures: BTreeSet<String>,
    /// Sensors that saw it.
    pub sensors: BTreeSet<String>,
    /// Community IDs of the alerted flows (to pivot into Zeek or Suricata).
    pub community_ids: BTreeSet<String>,
    /// Community IDs beyond the [`MAX_PER_PAIR`] kept.
    pub more_community_ids: u64,
    /// Platform id.
    pub platform: Option<String>,
    /// Where the name came from.
    pub name_source: Option<String>,
    /// Client class.
    pub client_class: Option<String>,
    /// Why the client was classed so.
    pub client_reasons: Vec<String>,
    /// JA4 of the client.
    pub ja4: Option<String>,
    /// Prevalence of the name.
    pub prevalence: Option<u64>,
    /// DNS anomaly kinds (and accounts).
    pub dns_kinds: BTreeSet<String>,
    /// Server address and port of the latest alert.
    pub server: Option<String>,
    /// Earliest time known for the pair (alerts and `first_seen`).
    pub first_seen: Option<Timestamp>,
    /// Latest time known for the pair.
    pub last_seen: Option<Timestamp>,
    /// Times of its latest alerts, ascending.
    pub alert_times: Vec<Timestamp>,
    /// The latest beacon evidence.
    pub beacon: Option<Beacon>,
}

/// Everything a report shows.
#[derive(Debug, Default)]
pub struct Model {
    /// EVE files read.
    pub files: u64,
    /// What reading them went through.
    pub read: ReadStats,
    /// Alerts by detector.
    pub by_detector: BTreeMap<String, u64>,
    /// Alerts by severity (1 to 3; 4 and anything else under 0).
    pub by_severity: [u64; 4],
    /// Alerts by platform.
    pub by_platform: BTreeMap<String, u64>,
    /// Alerts by sensor.
    pub by_sensor: BTreeMap<String, u64>,
    /// Earliest and latest alert time.
    pub span: Option<(Timestamp, Timestamp)>,
    /// Alerts without a parsable time.
    pub untimed: u64,
    /// Pairs, in no order (see [`Model::ranked_pairs`], [`Model::pair`]),
    /// keyed by client and name joined with a NUL.
    pub pairs: HashMap<String, Pair>,
    /// Alerts of pairs beyond [`MAX_PAIRS`], not kept.
    pub dropped_alerts: u64,
    /// Scratch: the key being looked up.
    scratch: String,
}

/// A string cut to at most [`MAX_TEXT`] bytes, at a character boundary.
fn cut(s: &str) -> &str {
    if s.len() <= MAX_TEXT {
        return s;
    }
    let mut end = MAX_TEXT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// [`cut`], owned.
fn bounded(s: &str) -> String {
    cut(s).to_owned()
}

/// The key of a pair in [`Model::pairs`], written into `out`.
fn pair_key(out: &mut String, client: &str, name: &str) {
    out.clear();
    out.push_str(cut(client));
    out.push('\0');
    out.push_str(cut(name));
}

/// Counts one under `key` in a table of at most [`MAX_KEYS`] keys.
fn count(table: &mut BTreeMap<String, u64>, key: &str) {
    let key = cut(key);
    if let Some(n) = table.get_mut(key) {
        *n += 1;
    } else if table.len() < MAX_KEYS - 1 {
        table.insert(key.to_owned(), 1);
    } else {
        *table.entry(OTHER.to_owned()).or_default() += 1;
    }
}

/// Adds `v` to a set of at most [`MAX_PER_PAIR`] strings; false when full.
fn insert(set: &mut BTreeSet<String>, v: &str) -> bool {
    let v = cut(v);
    if set.contains(v) {
        true
    } else if set.len() < MAX_PER_PAIR {
        set.insert(v.to_owned());
        true
    } else {
        false
    }
}

impl Model {
    /// Adds the read statistics of one file.
    pub fn add_file(&mut self, read: ReadStats) {
        self.files += 1;
        self.read.lines += read.lines;
        self.read.alerts += read.alerts;
        self.read.bad_lines += read.bad_lines;
        self.read.long_lines += read.long_lines;
    }

    /// Adds one alert line; `file_sensor` names the sensor when the line
    /// does not (no `host`, no `in_iface`).
    pub fn add(&mut self, a: &AlertLine<'_>, file_sensor: &str) {
        let empty = VirgaContext::default();
        let body = a.alert.as_ref();
        let v = body
            .and_then(|b| b.context.as_ref())
            .and_then(|c| c.virga.as_ref())
            .unwrap_or(&empty);
        let ts = a.timestamp.as_deref().and_then(parse_timestamp);
        match ts {
            Some(t) => {
                let (lo, hi) = self.span.get_or_insert((t, t));
                *lo = (*lo).min(t);
                *hi = (*hi).max(t);
            }
            None => self.untimed += 1,
        }
        count(
            &mut self.by_detector,
            v.detector.as_deref().unwrap_or("(not virga)"),
        );
        let severity = body
            .and_then(|b| b.severity)
            .filter(|s| (1..=3).contains(s))
            .map_or(0, |s| s as u8);
        self.by_severity[usize::from(severity)] += 1;
        count(
            &mut self.by_platform,
            v.platform.as_deref().unwrap_or("(none given)"),
        );
        let sensor = a
            .host
            .as_deref()
            .or(a.in_iface.as_deref())
            .unwrap_or(file_sensor);
        count(&mut self.by_sensor, sensor);

        let client = a.src_ip.as_deref().unwrap_or("?");
        let name = v.server_name.as_deref().unwrap_or("?");
        pair_key(&mut self.scratch, client, name);
        if !self.pairs.contains_key(self.scratch.as_str()) {
            if self.pairs.len() >= MAX_PAIRS {
                self.dropped_alerts += 1;
                return;
            }
            let p = Pair {
                client: bounded(client),
                name: bounded(name),
                ..Pair::default()
            };
            self.pairs.insert(self.scratch.clone(), p);
        }
        if let Some(p) = self.pairs.get_mut(self.scratch.as_str()) {
            p.add(a, v, ts, severity, sensor);
        }
    }

    /// The pair of `client` and `name`, if alerted.
    pub fn pair(&self, client: &str, name: &str) -> Option<&Pair> {
        let mut k = String::new();
        pair_key(&mut k, client, name);
        self.pairs.get(&k)
    }

    /// The pairs, most serious first: severity, then score, then alerts.
    pub fn ranked_pairs(&self) -> Vec<&Pair> {
        let mut v: Vec<&Pair> = self.pairs.values().collect();
        v.sort_by(|a, b| {
            let sev = |p: &Pair| if p.severity == 0 { 9 } else { p.severity };
            sev(a)
                .cmp(&sev(b))
                .then(b.score.unwrap_or(0.0).total_cmp(&a.score.unwrap_or(0.0)))
                .then(b.alerts.cmp(&a.alerts))
                .then_with(|| (&a.client, &a.name).cmp(&(&b.client, &b.name)))
        });
        v
    }
}

impl Pair {
    fn add(
        &mut self,
        a: &AlertLine<'_>,
        v: &VirgaContext<'_>,
        ts: Option<Timestamp>,
        severity: u8,
        sensor: &str,
    ) {
        self.alerts += 1;
        if severity != 0 && (self.severity == 0 || severity < self.severity) {
            self.severity = severity;
        }
        if let Some(s) = v.score.filter(|s| s.is_finite()) {
            self.score = Some(self.score.map_or(s, |m| m.max(s)));
        }
        if let Some(d) = &v.detector {
            insert(&mut self.detectors, d);
        }
        if let Some(s) = a.alert.as_ref().and_then(|b| b.signature.as_deref()) {
            insert(&mut self.signatures, s);
        }
        insert(&mut self.sensors, sensor);
        if let Some(c) = &a.community_id {
            if !insert(&mut self.community_ids, c) {
                self.more_community_ids += 1;
            }
        }
        if let Some(k) = &v.kind {
            let kind = match &v.account {
                Some(acct) => format!("{k} (account {})", bounded(acct)),
                None => k.to_string(),
            };
            insert(&mut self.dns_kinds, &kind);
        }
        // The latest alert's view of the pair wins.
        let latest = match (ts, self.last_seen) {
            (Some(t), Some(l)) => t >= l,
            _ => true,
        };
        if latest {
            let keep = |dst: &mut Option<String>, src: &Option<std::borrow::Cow<'_, str>>| {
                if let Some(s) = src {
                    if dst.as_deref() != Some(cut(s)) {
                        *dst = Some(bounded(s));
                    }
                }
            };
            keep(&mut self.platform, &v.platform);
            keep(&mut self.name_source, &v.name_source);
            keep(&mut self.client_class, &v.client_class);
            keep(&mut self.ja4, &v.ja4);
            let same_reasons = v.client_reasons.len().min(MAX_PER_PAIR)
                == self.client_reasons.len()
                && v.client_reasons
                    .iter()
                    .zip(&self.client_reasons)
                    .all(|(a, b)| cut(a) == b);
            if !v.client_reasons.is_empty() && !same_reasons {
                self.client_reasons = v
                    .client_reasons
                    .iter()
                    .take(MAX_PER_PAIR)
                    .map(|r| bounded(r))
                    .collect();
            }
            self.prevalence = v.prevalence.or(self.prevalence);
            if let Some(ip) = &a.dest_ip {
                self.server = Some(match a.dest_port {
                    Some(port) if ip.contains(':') => format!("[{}]:{port}", bounded(ip)),
                    Some(port) => format!("{}:{port}", bounded(ip)),
                    None => bounded(ip),
                });
            }
        }
        let first = v.first_seen.as_deref().and_then(parse_timestamp);
        for t in [ts, first].into_iter().flatten() {
            self.first_seen = Some(self.first_seen.map_or(t, |f| f.min(t)));
        }
        let last = v.last_seen.as_deref().and_then(parse_timestamp);
        for t in [ts, last].into_iter().flatten() {
            self.last_seen = Some(self.last_seen.map_or(t, |l| l.max(t)));
        }
        if let Some(t) = ts {
            let at = self.alert_times.partition_point(|&x| x <= t);
            self.alert_times.insert(at, t);
            if self.alert_times.len() > MAX_ALERT_TIMES {
                self.alert_times.remove(0);
            }
            if !v.beat_times.is_empty() && self.beacon.as_ref().is_none_or(|b| t >= b.at) {
                self.beacon = Some(beacon_of(v, t));
            }
        }
    }
}

/// The beacon evidence of an alert at `at`: beat times made safe to draw
/// (finite, not negative, ascending, the latest [`MAX_BEATS`]).
fn beacon_of(v: &VirgaContext<'_>, at: Timestamp) -> Beacon {
    let mut beats: Vec<f64> = v
        .beat_times
        .iter()
        .copied()
        .filter(|t| t.is_finite() && *t >= 0.0)
        .collect();
    beats.sort_by(f64::total_cmp);
    let skip = beats.len().saturating_sub(MAX_BEATS);
    beats.drain(..skip);
    let finite = |x: Option<f64>| x.filter(|x| x.is_finite());
    Beacon {
        at,
        beat_times: beats,
        period_secs: finite(v.period_secs),
        band_secs: v
            .band_secs
            .filter(|(lo, hi)| lo.is_finite() && hi.is_finite() && lo <= hi),
        jitter: finite(v.jitter),
        periodicity: finite(v.periodicity),
        beats: v.beats,
        connections: v.connections,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eve::read::read_alerts;

    fn model(text: &str) -> Model {
        let mut m = Model::default();
        let st = read_alerts(text.as_bytes(), |a| m.add(a, "file.json")).unwrap();
        m.add_file(st);
        m
    }

    #[test]
    fn pairs_keep_the_latest_evidence_and_the_earliest_first_seen() {
        let line = |ts: &str, cid: &str, beats: &str| {
            format!(
                r#"{{"timestamp":"{ts}","event_type":"alert","src_ip":"10.0.0.1","dest_ip":"2001:db8::1","dest_port":443,"community_id":"{cid}","alert":{{"signature":"VIRGA beaconing","severity":1,"context":{{"virga":{{"detector":"beacon","server_name":"x.workers.dev","platform":"cloudflare_workers","score":0.9,"first_seen":"2026-03-02T00:00:00.000000+0000","beat_times":{beats},"period_secs":30.0,"band_secs":[29.0,31.0]}}}}}}}}"#
            )
        };
        let text = [
            line("2026-03-02T01:00:00.000000+0000", "1:b", "[90,0,-1,30,60]"),
            line("2026-03-02T00:10:00.000000+0000", "1:a", "[0,5]"),
            r#"{"timestamp":"bad","event_type":"alert","alert":{"severity":7}}"#.to_owned(),
        ]
        .join("\n");
        let m = model(&text);
        assert_eq!(m.read.alerts, 3);
        assert_eq!(m.pairs.len(), 2);
        assert_eq!(m.untimed, 1);
        assert_eq!(m.by_severity, [1, 2, 0, 0]);
        let p = m.pair("10.0.0.1", "x.workers.dev").unwrap();
        assert_eq!(p.alerts, 2);
        assert_eq!(p.severity, 1);
        assert_eq!(p.community_ids.len(), 2);
        assert_eq!(p.server.as_deref(), Some("[2001:db8::1]:443"));
        let b = p.beacon.as_ref().unwrap();
        assert_eq!(b.beat_times, [0.0, 30.0, 60.0, 90.0]);
        assert_eq!(b.intervals(), [30.0, 30.0, 30.0]);
        assert_eq!(
            crate::eve::timestamp_text(p.first_seen.unwrap()),
            "2026-03-02T00:00:00.000000+0000"
        );
        assert_eq!(p.alert_times.len(), 2);
        assert!(p.alert_times[0] < p.alert_times[1]);
        assert_eq!(m.ranked_pairs()[0].name, "x.workers.dev");
    }

    #[test]
    fn everything_is_bounded() {
        let mut text = String::new();
        for i in 0..(MAX_PAIRS + 5) {
            text += &format!(
                "{{\"event_type\":\"alert\",\"src_ip\":\"10.0.{}.{}\",\"alert\":{{\"context\":{{\"virga\":{{\"platform\":\"p{i}\",\"server_name\":\"{}\"}}}}}}}}\n",
                i / 256,
                i % 256,
                "n".repeat(1000)
            );
        }
        let m = model(&text);
        assert_eq!(m.pairs.len(), MAX_PAIRS);
        assert_eq!(m.dropped_alerts, 5);
        assert_eq!(m.by_platform.len(), MAX_KEYS);
        assert_eq!(
            m.by_platform[OTHER],
            (MAX_PAIRS + 5 - (MAX_KEYS - 1)) as u64
        );
        assert!(m.pairs.values().all(|p| p.name.len() == MAX_TEXT));
        assert_eq!(bounded(&"é".repeat(200)).len(), MAX_TEXT);
    }
}
