//! DNS anomalies under catalogued serverless names, per client and per account (tenant).
//!
//! Fed one DNS query or response at a time ([`DnsAnomalyDetector::on_query`],
//! [`DnsAnomalyDetector::on_response`]), with packet time. Names outside the catalogue are
//! ignored. A name with extra labels left of a catalogued one (`x.y.acme.workers.dev`, which
//! `*.*.workers.dev` does not match) is attributed to the catalogued name it ends in, so data
//! packed into several labels still counts for its account. The *subdomain* scored for
//! randomness is what lies left of the account label (without one: the labels dropped, or the
//! wildcard labels left of the pattern's fixed suffix). The account is the catalogue's tenant:
//! the account label, or the part of it a platform's tenant rule cuts out, so the deployments
//! of one Netlify site (`<deploy-id>--<site>.netlify.app`) or one Vercel team count together.
//!
//! For each (client, platform, account) the detector keeps a *track*:
//! - [`DnsAnomalyKind::RandomSubdomainBurst`]: distinct random-looking subdomains (the labels
//!   left of the account label, scored by [`randomness`]) within the window;
//! - [`DnsAnomalyKind::NxdomainRun`]: distinct names answered NXDOMAIN within the window; and,
//!   per (client, platform), distinct *account labels* answered NXDOMAIN, so lookups of random
//!   account names (`<random>.vercel.app`) are caught too;
//! - [`DnsAnomalyKind::TxtLookups`]: TXT, NULL and ANY queries within the window;
//! - [`DnsAnomalyKind::RateSpike`]: queries per bucket against the track's usual rate;
//! - [`DnsAnomalyKind::NewAccount`]: the first sighting of an account label on this detector
//!   (informational, lowest severity; not evidence of misuse on its own).
//!
//! Each kind alerts once per (client, account) and then stays quiet for `realert_quiet`. At
//! most one alert is returned per observation; another kind that holds at the same time is
//! returned with the next observation of that track (its condition still holds then).
//!
//! # Bounds
//! Tracks live in an LRU map of at most `max_tracks_per_worker` entries, the accounts already
//! seen in one of at most `max_accounts_per_worker`; evictions are counted in
//! [`DnsAnomalyStats`]. A track holds three windows of at most `random_names_min`,
//! `nxdomain_names_min` and `txt_queries_min` observations and five example names: about
//! 1.5 KB at the defaults. Nothing else grows.

mod randomness;
mod window;

pub use randomness::{name_stats, randomness, NameStats, MIN_CHARS};

use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use lru::LruCache;
use virga_config::{Catalogue, DnsDetect, Platform};

use crate::time::Timestamp;
use window::{Rate, Seen, Window};

/// Example names kept per track and reported per alert.
pub const MAX_EXAMPLES: usize = 5;

/// DNS TXT.
const QTYPE_TXT: u16 = 16;
/// DNS NULL (used by iodine and other tunnels).
const QTYPE_NULL: u16 = 10;
/// DNS ANY (QTYPE `*`).
const QTYPE_ANY: u16 = 255;
/// DNS RCODE NXDOMAIN.
const RCODE_NXDOMAIN: u16 = 3;

/// A DNS query seen from a client.
#[derive(Debug, Clone, Copy)]
pub struct DnsQueryObs<'a> {
    /// Packet time.
    pub ts: Timestamp,
    /// The querying client.
    pub client: IpAddr,
    /// The queried name, presentation form (a trailing dot is allowed).
    pub qname: &'a str,
    /// The query type (1 A, 16 TXT, 28 AAAA, 65 HTTPS, ...).
    pub qtype: u16,
}

/// A DNS response sent to a client.
#[derive(Debug, Clone, Copy)]
pub struct DnsResponseObs<'a> {
    /// Packet time.
    pub ts: Timestamp,
    /// The client the response goes to.
    pub client: IpAddr,
    /// The name of the (first) question.
    pub qname: &'a str,
    /// The question's type.
    pub qtype: u16,
    /// The response code (3 = NXDOMAIN).
    pub rcode: u16,
    /// Answer records.
    pub answers: u16,
}

/// What kind of anomaly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DnsAnomalyKind {
    /// Many distinct random-looking subdomains of one account (tunnelling, exfiltration).
    RandomSubdomainBurst,
    /// Many distinct names of one account or platform answered NXDOMAIN.
    NxdomainRun,
    /// Repeated TXT/NULL/ANY lookups of one account's names (tasking over DNS).
    TxtLookups,
    /// A sudden rise in the query rate for one account.
    RateSpike,
    /// The first sighting of an account label on this sensor (informational).
    NewAccount,
}

impl DnsAnomalyKind {
    /// Every kind, in the order they are checked.
    pub const ALL: [DnsAnomalyKind; 5] = [
        DnsAnomalyKind::RandomSubdomainBurst,
        DnsAnomalyKind::NxdomainRun,
        DnsAnomalyKind::TxtLookups,
        DnsAnomalyKind::RateSpike,
        DnsAnomalyKind::NewAccount,
    ];

    /// Stable snake_case name, e.g. `random_subdomain_burst`.
    pub const fn name(self) -> &'static str {
        match self {
            DnsAnomalyKind::RandomSubdomainBurst => "random_subdomain_burst",
            DnsAnomalyKind::NxdomainRun => "nxdomain_run",
            DnsAnomalyKind::TxtLookups => "txt_lookups",
            DnsAnomalyKind::RateSpike => "rate_spike",
            DnsAnomalyKind::NewAccount => "new_account",
        }
    }

    /// Suricata-style severity: 1 high … 4 informational.
    pub const fn severity(self) -> u8 {
        match self {
            DnsAnomalyKind::RandomSubdomainBurst => 1,
            DnsAnomalyKind::NxdomainRun | DnsAnomalyKind::TxtLookups => 2,
            DnsAnomalyKind::RateSpike => 3,
            DnsAnomalyKind::NewAccount => 4,
        }
    }

    /// True for context-only kinds ([`DnsAnomalyKind::NewAccount`]).
    pub const fn is_informational(self) -> bool {
        matches!(self, DnsAnomalyKind::NewAccount)
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// What an alert is based on.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsAnomalyEvidence {
    /// The count that reached the threshold: distinct random names, distinct NXDOMAIN names,
    /// TXT/NULL/ANY queries, or queries in the bucket (1 for a new account).
    pub count: u32,
    /// The configured threshold.
    pub threshold: u32,
    /// Seconds the count was taken over (the window, or the rate bucket).
    pub window_secs: u64,
    /// Seconds from the oldest counted observation to this one.
    pub span_secs: f64,
    /// Rate spikes: the usual queries per bucket before it; 0 for the other kinds.
    pub usual_rate: f64,
    /// Up to [`MAX_EXAMPLES`] names behind the alert, oldest first.
    pub examples: Vec<String>,
}

/// An anomaly.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsAnomalyAlert {
    /// Packet time of the observation that raised it.
    pub ts: Timestamp,
    /// What kind.
    pub kind: DnsAnomalyKind,
    /// The client.
    pub client: IpAddr,
    /// The name of the observation that raised it.
    pub name: String,
    /// The account label, when the platform has one (`None` for platform-wide NXDOMAIN runs
    /// and platforms without account labels).
    pub account: Option<String>,
    /// Platform id, e.g. `cloudflare_workers`.
    pub platform: String,
    /// Platform name, e.g. `Cloudflare Workers`.
    pub platform_name: String,
    /// Platform tier, 1 to 3.
    pub tier: u8,
    /// Confidence 0 to 1: mean randomness for bursts, `0.5 + 0.5·random share` for NXDOMAIN
    /// runs and TXT lookups, `count / (count + threshold)` for rate spikes, 0.1 for new
    /// accounts.
    pub score: f64,
    /// What it is based on.
    pub evidence: DnsAnomalyEvidence,
}

impl DnsAnomalyAlert {
    /// The kind's severity (1 high … 4 informational).
    pub fn severity(&self) -> u8 {
        self.kind.severity()
    }
}

/// Counters of a detector.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DnsAnomalyStats {
    /// Queries seen.
    pub queries: u64,
    /// Responses seen.
    pub responses: u64,
    /// Queries and responses whose name is catalogued.
    pub catalogued: u64,
    /// Tracks evicted to stay within `max_tracks_per_worker`.
    pub tracks_evicted: u64,
    /// Accounts forgotten to stay within `max_accounts_per_worker`.
    pub accounts_evicted: u64,
    /// Alerts returned.
    pub alerts: u64,
}

/// Per-(client, platform, account) state.
#[derive(Debug)]
struct Track {
    account: Option<Box<str>>,
    random: Window,
    nxdomain: Window,
    txt: Window,
    rate: Rate,
    last_alert: [Option<Timestamp>; 5],
    examples: Vec<Box<str>>,
}

impl Track {
    fn new(cfg: &DnsDetect, account: Option<&str>) -> Self {
        let cap = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
        Track {
            account: account.map(Into::into),
            random: Window::new(cap(cfg.random_names_min)),
            nxdomain: Window::new(cap(cfg.nxdomain_names_min)),
            txt: Window::new(cap(cfg.txt_queries_min)),
            rate: Rate::default(),
            last_alert: [None; 5],
            examples: Vec::new(),
        }
    }

    fn prune(&mut self, now: Timestamp, window_ns: u64) {
        self.random.prune(now, window_ns);
        self.nxdomain.prune(now, window_ns);
        self.txt.prune(now, window_ns);
    }

    /// Remembers `name` as an example (lower-cased, no trailing dot), dropping the oldest.
    fn example(&mut self, name: &str) {
        let name = name.strip_suffix('.').unwrap_or(name);
        if self.examples.iter().any(|e| e.eq_ignore_ascii_case(name)) {
            return;
        }
        if self.examples.len() >= MAX_EXAMPLES {
            self.examples.remove(0);
        }
        self.examples.push(name.to_ascii_lowercase().into());
    }

    fn quiet(&self, kind: DnsAnomalyKind, now: Timestamp, quiet_ns: u64) -> bool {
        self.last_alert
            .get(kind.index())
            .copied()
            .flatten()
            .is_some_and(|t| now.nanos_since(t) < quiet_ns)
    }
}

/// Which aggregation a track is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Level {
    /// (client, platform, account) — or (client, platform) for platforms without accounts.
    Account,
    /// (client, platform) for platforms with accounts: NXDOMAIN runs over random accounts.
    Platform,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct TrackKey {
    client: IpAddr,
    zone: u64,
    level: Level,
}

/// A catalogued name, split.
struct Resolved<'c, 'n> {
    platform: &'c Platform,
    account: Option<&'n str>,
    subdomain: &'n str,
}

/// The streaming DNS anomaly detector of one worker.
#[derive(Debug)]
pub struct DnsAnomalyDetector {
    cfg: DnsDetect,
    catalogue: Arc<Catalogue>,
    tracks: LruCache<TrackKey, Track>,
    accounts: LruCache<u64, ()>,
    stats: DnsAnomalyStats,
}

impl DnsAnomalyDetector {
    /// A detector with the `[detect.dns]` settings `cfg`, for the names of `catalogue`.
    /// The maps start empty and grow up to their caps (nothing is reserved up front).
    pub fn new(cfg: DnsDetect, catalogue: Arc<Catalogue>) -> Self {
        let tracks = LruCache::unbounded();
        let accounts = LruCache::unbounded();
        DnsAnomalyDetector {
            cfg,
            catalogue,
            tracks,
            accounts,
            stats: DnsAnomalyStats::default(),
        }
    }

    /// The counters.
    pub fn stats(&self) -> DnsAnomalyStats {
        self.stats
    }

    /// Tracks held now.
    pub fn tracks(&self) -> usize {
        self.tracks.len()
    }

    /// Feeds a DNS lookup record: a query to [`DnsAnomalyDetector::on_query`],
    /// a response to [`DnsAnomalyDetector::on_response`].
    pub fn on_lookup(&mut self, d: &crate::records::DnsLookup) -> Option<DnsAnomalyAlert> {
        match d.rcode {
            None => self.on_query(&DnsQueryObs {
                ts: d.packet.ts,
                client: d.client,
                qname: &d.qname,
                qtype: d.qtype,
            }),
            Some(rcode) => self.on_response(&DnsResponseObs {
                ts: d.packet.ts,
                client: d.client,
                qname: &d.qname,
                qtype: d.qtype,
                rcode,
                answers: d.answers,
            }),
        }
    }

    /// Observes a query; returns an alert when one is due.
    pub fn on_query(&mut self, q: &DnsQueryObs<'_>) -> Option<DnsAnomalyAlert> {
        self.stats.queries += 1;
        if !self.cfg.enabled {
            return None;
        }
        let catalogue = Arc::clone(&self.catalogue);
        let r = resolve(&catalogue, q.qname)?;
        self.stats.catalogued += 1;
        let new_account = self.first_sighting(&r);
        let cfg = &self.cfg;
        let window_ns = duration_ns(cfg.window);
        let key = TrackKey {
            client: q.client,
            zone: zone_hash(r.platform, r.account),
            level: Level::Account,
        };
        let track = track(&mut self.tracks, &mut self.stats, key, cfg, r.account);
        track.prune(q.ts, window_ns);
        let (bucket_count, usual) = track.rate.add(q.ts, duration_ns(cfg.rate_bucket));
        let stats = name_stats(r.subdomain);
        let random = stats.score >= cfg.randomness_threshold;
        let seen = Seen {
            name: name_hash(q.qname),
            ts: q.ts,
            randomness: stats.score as f32,
            random,
        };
        if random && track.random.insert_distinct(seen) {
            track.example(q.qname);
        }
        if matches!(q.qtype, QTYPE_TXT | QTYPE_NULL | QTYPE_ANY) {
            track.txt.push(seen);
            track.example(q.qname);
        }
        let rate_spike = bucket_count >= cfg.rate_queries_min
            && f64::from(bucket_count) >= cfg.rate_factor * usual;
        let quiet_ns = duration_ns(cfg.realert_quiet);
        let kind = if track.random.is_full()
            && !track.quiet(DnsAnomalyKind::RandomSubdomainBurst, q.ts, quiet_ns)
        {
            DnsAnomalyKind::RandomSubdomainBurst
        } else if track.txt.is_full() && !track.quiet(DnsAnomalyKind::TxtLookups, q.ts, quiet_ns) {
            DnsAnomalyKind::TxtLookups
        } else if rate_spike && !track.quiet(DnsAnomalyKind::RateSpike, q.ts, quiet_ns) {
            DnsAnomalyKind::RateSpike
        } else if new_account && !track.quiet(DnsAnomalyKind::NewAccount, q.ts, quiet_ns) {
            DnsAnomalyKind::NewAccount
        } else {
            return None;
        };
        if kind == DnsAnomalyKind::RateSpike || kind == DnsAnomalyKind::NewAccount {
            track.example(q.qname);
        }
        let evidence = match kind {
            DnsAnomalyKind::RandomSubdomainBurst => evidence(
                &track.random,
                cfg.random_names_min,
                cfg.window.as_secs(),
                q.ts,
            ),
            DnsAnomalyKind::TxtLookups => {
                evidence(&track.txt, cfg.txt_queries_min, cfg.window.as_secs(), q.ts)
            }
            DnsAnomalyKind::RateSpike => DnsAnomalyEvidence {
                count: bucket_count,
                threshold: cfg.rate_queries_min,
                window_secs: cfg.rate_bucket.as_secs(),
                span_secs: track
                    .rate
                    .bucket_start()
                    .map_or(0.0, |s| q.ts.nanos_since(s) as f64 / 1e9),
                usual_rate: usual,
                examples: Vec::new(),
            },
            _ => DnsAnomalyEvidence {
                count: 1,
                threshold: 1,
                window_secs: 0,
                span_secs: 0.0,
                usual_rate: 0.0,
                examples: Vec::new(),
            },
        };
        let score = match kind {
            DnsAnomalyKind::RandomSubdomainBurst => track.random.mean_randomness(),
            DnsAnomalyKind::TxtLookups => 0.5 + 0.5 * track.txt.random_share(),
            DnsAnomalyKind::RateSpike => {
                f64::from(bucket_count)
                    / (f64::from(bucket_count) + f64::from(cfg.rate_queries_min))
            }
            _ => 0.1,
        };
        Some(self.raise(key, kind, q.client, q.qname, &r, score, evidence, q.ts))
    }

    /// Observes a response; returns an alert when one is due.
    pub fn on_response(&mut self, resp: &DnsResponseObs<'_>) -> Option<DnsAnomalyAlert> {
        self.stats.responses += 1;
        if !self.cfg.enabled {
            return None;
        }
        let catalogue = Arc::clone(&self.catalogue);
        let r = resolve(&catalogue, resp.qname)?;
        self.stats.catalogued += 1;
        // Mark the account as seen (the query may not have been captured); the first-sighting
        // report itself comes with queries only.
        self.first_sighting(&r);
        if resp.rcode != RCODE_NXDOMAIN {
            return None;
        }
        let threshold = self.cfg.randomness_threshold;
        let score = name_stats(r.subdomain).score;
        let seen = Seen {
            name: name_hash(resp.qname),
            ts: resp.ts,
            randomness: score as f32,
            random: score >= threshold,
        };
        let zone = zone_hash(r.platform, r.account);
        let mut levels = [Some((Level::Account, zone, seen)), None];
        if let Some(account) = r.account {
            // Platform level: distinct *accounts* answered NXDOMAIN (a run inside one account
            // is the account level's), scored by the account label's randomness.
            let score = name_stats(account).score;
            let by_account = Seen {
                name: zone,
                randomness: score as f32,
                random: score >= threshold,
                ..seen
            };
            levels[1] = Some((Level::Platform, zone_hash(r.platform, None), by_account));
        }
        let mut due = None;
        for (level, zone, seen) in levels.into_iter().flatten() {
            let key = TrackKey {
                client: resp.client,
                zone,
                level,
            };
            let account = match level {
                Level::Account => r.account,
                Level::Platform => None,
            };
            let cfg = &self.cfg;
            let track = track(&mut self.tracks, &mut self.stats, key, cfg, account);
            track.prune(resp.ts, duration_ns(cfg.window));
            if track.nxdomain.insert_distinct(seen) {
                track.example(resp.qname);
            }
            let kind = DnsAnomalyKind::NxdomainRun;
            if due.is_none()
                && track.nxdomain.is_full()
                && !track.quiet(kind, resp.ts, duration_ns(cfg.realert_quiet))
            {
                due = Some((
                    key,
                    evidence(
                        &track.nxdomain,
                        cfg.nxdomain_names_min,
                        cfg.window.as_secs(),
                        resp.ts,
                    ),
                    0.5 + 0.5 * track.nxdomain.random_share(),
                ));
            }
        }
        let (key, evidence, score) = due?;
        Some(self.raise(
            key,
            DnsAnomalyKind::NxdomainRun,
            resp.client,
            resp.qname,
            &r,
            score,
            evidence,
            resp.ts,
        ))
    }

    /// Marks the account of `r` as seen; true when it had not been and its platform's tier is
    /// reported.
    fn first_sighting(&mut self, r: &Resolved<'_, '_>) -> bool {
        let Some(account) = r.account else {
            return false;
        };
        let key = zone_hash(r.platform, Some(account));
        if self.accounts.get(&key).is_some() {
            return false;
        }
        if self.accounts.len() >= self.cfg.max_accounts_per_worker.get() {
            self.accounts.pop_lru();
            self.stats.accounts_evicted += 1;
        }
        self.accounts.put(key, ());
        self.cfg
            .new_account_max_tier
            .is_some_and(|max| r.platform.tier() <= max)
    }

    /// Builds the alert, records it on the track (quiet time starts) and counts it.
    #[allow(clippy::too_many_arguments)]
    fn raise(
        &mut self,
        key: TrackKey,
        kind: DnsAnomalyKind,
        client: IpAddr,
        name: &str,
        r: &Resolved<'_, '_>,
        score: f64,
        mut evidence: DnsAnomalyEvidence,
        ts: Timestamp,
    ) -> DnsAnomalyAlert {
        let mut account = r.account.map(str::to_ascii_lowercase);
        if let Some(track) = self.tracks.peek_mut(&key) {
            if let Some(slot) = track.last_alert.get_mut(kind.index()) {
                *slot = Some(ts);
            }
            evidence.examples = track.examples.iter().map(|e| e.to_string()).collect();
            account = track.account.as_deref().map(str::to_ascii_lowercase);
        }
        self.stats.alerts += 1;
        DnsAnomalyAlert {
            ts,
            kind,
            client,
            name: name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase(),
            account,
            platform: r.platform.id().to_owned(),
            platform_name: r.platform.name().to_owned(),
            tier: r.platform.tier().number(),
            score: score.clamp(0.0, 1.0),
            evidence,
        }
    }
}

/// The track for `key`, created (evicting the least recently used one when full) if needed.
fn track<'t>(
    tracks: &'t mut LruCache<TrackKey, Track>,
    stats: &mut DnsAnomalyStats,
    key: TrackKey,
    cfg: &DnsDetect,
    account: Option<&str>,
) -> &'t mut Track {
    if !tracks.contains(&key) && tracks.len() >= cfg.max_tracks_per_worker.get() {
        tracks.pop_lru();
        stats.tracks_evicted += 1;
    }
    tracks.get_or_insert_mut(key, || Track::new(cfg, account))
}

/// Evidence from a window.
fn evidence(w: &Window, threshold: u32, window_secs: u64, now: Timestamp) -> DnsAnomalyEvidence {
    DnsAnomalyEvidence {
        count: u32::try_from(w.len()).unwrap_or(u32::MAX),
        threshold,
        window_secs,
        span_secs: w.span_ns(now) as f64 / 1e9,
        usual_rate: 0.0,
        examples: Vec::new(),
    }
}

fn duration_ns(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Hash of a name, ASCII case-insensitive, one trailing dot ignored. Deterministic (SipHash
/// with fixed keys), no allocation.
fn name_hash(name: &str) -> u64 {
    let name = name.strip_suffix('.').unwrap_or(name);
    let mut h = DefaultHasher::new();
    for b in name.bytes() {
        h.write_u8(b.to_ascii_lowercase());
    }
    h.finish()
}

/// Hash of (platform, account or none).
fn zone_hash(platform: &Platform, account: Option<&str>) -> u64 {
    let mut h = DefaultHasher::new();
    platform.id().hash(&mut h);
    match account {
        Some(a) => {
            h.write_u8(1);
            for b in a.bytes() {
                h.write_u8(b.to_ascii_lowercase());
            }
        }
        None => h.write_u8(0),
    }
    h.finish()
}

/// The catalogued name `name` belongs to: the name itself, or the longest catalogued name it
/// ends in (leading labels dropped one at a time). Bounded by the label count (≤ 127).
fn resolve<'c, 'n>(catalogue: &'c Catalogue, name: &'n str) -> Option<Resolved<'c, 'n>> {
    let full = name.strip_suffix('.').unwrap_or(name);
    let mut rest = full;
    loop {
        if let Some(m) = catalogue.lookup(rest) {
            // The subdomain is everything left of the account label (the whole label, also
            // when the tenant is only a part of it). Without an account label it is the
            // labels dropped to find the catalogued name or, when none were, the labels left
            // of the pattern's fixed suffix (`<tunnel>.trycloudflare.com`).
            // `m.account_label` and `rest` are slices of `full`, so their offsets locate them.
            let offset = |s: &str| (s.as_ptr() as usize).checked_sub(full.as_ptr() as usize);
            let cut = match m.account_label {
                Some(a) => offset(a),
                None if rest.len() < full.len() => offset(rest),
                None => full.len().checked_sub(m.pattern.fixed_suffix().len()),
            };
            let subdomain = cut
                .and_then(|c| full.get(..c))
                .map_or("", |s| s.strip_suffix('.').unwrap_or(s));
            return Some(Resolved {
                platform: m.platform,
                account: m.account,
                subdomain,
            });
        }
        let (_, tail) = rest.split_once('.')?;
        if !tail.contains('.') {
            return None;
        }
        rest = tail;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroUsize;
    use std::time::Duration;

    fn non_zero(n: usize) -> NonZeroUsize {
        NonZeroUsize::new(n).unwrap()
    }

    fn det(cfg: DnsDetect) -> DnsAnomalyDetector {
        DnsAnomalyDetector::new(cfg, Arc::new(Catalogue::builtin()))
    }

    fn at(ms: u64) -> Timestamp {
        Timestamp(ms * 1_000_000)
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    fn query(
        d: &mut DnsAnomalyDetector,
        ms: u64,
        c: u8,
        name: &str,
        qtype: u16,
    ) -> Option<DnsAnomalyAlert> {
        d.on_query(&DnsQueryObs {
            ts: at(ms),
            client: ip(c),
            qname: name,
            qtype,
        })
    }

    fn nx(d: &mut DnsAnomalyDetector, ms: u64, c: u8, name: &str) -> Option<DnsAnomalyAlert> {
        d.on_response(&DnsResponseObs {
            ts: at(ms),
            client: ip(c),
            qname: name,
            qtype: 1,
            rcode: 3,
            answers: 0,
        })
    }

    const RANDOM: [&str; 12] = [
        "r7wjyax4r3o9aj2xkvn",
        "e6vzfbd6of12h1i",
        "kd9k6fz044y8bfmqwxyt",
        "vxx66lby1c7bo1c",
        "s344pk39xlmoarvlp",
        "cphx86jburho7645wq2k",
        "p5idf3m38lyhlj",
        "v0gh5lx9jryvtxwv",
        "hvp2o76disnu95etygk",
        "axxrm1so7j6vk63",
        "q8zk2mvt5wr9ybx",
        "n4jw7fqz2kx8vlp",
    ];

    #[test]
    fn resolve_splits_subdomain_and_account() {
        let c = Catalogue::builtin();
        let r = resolve(&c, "relay.ACME.workers.dev.").unwrap();
        assert_eq!(
            (r.platform.id(), r.account, r.subdomain),
            ("cloudflare_workers", Some("ACME"), "relay")
        );
        let r = resolve(&c, "x1.y2.acme.workers.dev").unwrap();
        assert_eq!((r.account, r.subdomain), (Some("acme"), "x1.y2"));
        let r = resolve(
            &c,
            "4kq2v8zt6nmw3ryx5pbl7hcd9jsf1ega.lambda-url.eu-west-1.on.aws",
        )
        .unwrap();
        assert_eq!(r.subdomain, "");
        assert_eq!(r.account, Some("4kq2v8zt6nmw3ryx5pbl7hcd9jsf1ega"));
        let r = resolve(&c, "abc.def.trycloudflare.com").unwrap();
        assert_eq!((r.account, r.subdomain), (None, "abc"));
        let r = resolve(&c, "def.trycloudflare.com").unwrap();
        assert_eq!((r.account, r.subdomain), (None, "def"));
        let r = resolve(&c, "data.script.google.com").unwrap();
        assert_eq!(
            (r.platform.id(), r.subdomain),
            ("google_apps_script", "data")
        );
        assert!(resolve(&c, "www.example.com").is_none());
        assert!(resolve(&c, "workers.dev").is_none());
        assert!(resolve(&c, "").is_none() && resolve(&c, ".").is_none());
        assert!(resolve(&c, &"a.".repeat(200)).is_none());
    }

    #[test]
    fn random_subdomain_burst_fires_once_then_quiet() {
        let mut d = det(DnsDetect {
            new_account_max_tier: None,
            ..DnsDetect::default()
        });
        let mut alerts = Vec::new();
        for (i, r) in RANDOM.iter().enumerate() {
            if let Some(a) = query(
                &mut d,
                i as u64 * 500,
                1,
                &format!("{r}.acme.workers.dev"),
                1,
            ) {
                alerts.push((i, a));
            }
        }
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        let (i, a) = &alerts[0];
        assert_eq!(*i, 9, "the 10th distinct random name");
        assert_eq!(a.kind, DnsAnomalyKind::RandomSubdomainBurst);
        assert_eq!(a.account.as_deref(), Some("acme"));
        assert_eq!(a.platform, "cloudflare_workers");
        assert_eq!(a.tier, 1);
        assert_eq!(a.evidence.count, 10);
        assert_eq!(a.evidence.threshold, 10);
        assert_eq!(a.evidence.examples.len(), MAX_EXAMPLES);
        assert!(a.score >= 0.35 && a.score <= 1.0, "{}", a.score);
        assert!((a.evidence.span_secs - 4.5).abs() < 1e-9);
        // Another client, same account: its own track.
        let mut other = 0;
        for (i, r) in RANDOM.iter().enumerate() {
            other += usize::from(
                query(
                    &mut d,
                    10_000 + i as u64,
                    2,
                    &format!("{r}.acme.workers.dev"),
                    1,
                )
                .is_some(),
            );
        }
        assert_eq!(other, 1);
        // Past the quiet time the same pair alerts again.
        let later = 3_600_000 + 20_000;
        let mut again = 0;
        for (i, r) in RANDOM.iter().enumerate() {
            again += usize::from(
                query(
                    &mut d,
                    later + i as u64,
                    1,
                    &format!("{r}.acme.workers.dev"),
                    1,
                )
                .is_some(),
            );
        }
        assert_eq!(again, 1);
        assert_eq!(d.stats().alerts, 3);
    }

    #[test]
    fn bursts_under_other_platforms_and_hex_payloads() {
        let mut d = det(DnsDetect {
            new_account_max_tier: None,
            ..DnsDetect::default()
        });
        let zones = [
            "proj.pages.dev",
            "abcdefghij.lambda-url.us-east-1.on.aws",
            "x1y2z3.execute-api.eu-west-1.amazonaws.com",
            "quiet-lake-1234.trycloudflare.com",
        ];
        for (z, zone) in zones.iter().enumerate() {
            let mut got = Vec::new();
            for i in 0..12u64 {
                // dnscat2-style hex payload labels, a sequence number first.
                let payload = format!(
                    "{:04x}{:016x}",
                    i,
                    (i + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15)
                );
                let name = format!("{payload}.{zone}");
                got.extend(query(&mut d, i * 200, z as u8, &name, 1).map(|a| a.kind));
            }
            assert_eq!(got, [DnsAnomalyKind::RandomSubdomainBurst], "{zone}");
        }
    }

    #[test]
    fn word_like_names_and_slow_bursts_do_not_alert() {
        let mut d = det(DnsDetect {
            new_account_max_tier: None,
            ..DnsDetect::default()
        });
        let words = [
            "api",
            "status-probe",
            "cdn-sync",
            "webhook",
            "relay",
            "auth-proxy",
            "og-image",
            "newsletter",
            "uploads",
            "metrics",
            "search",
            "checkout",
            "analytics",
            "docs",
        ];
        for (i, w) in words.iter().enumerate() {
            assert!(query(
                &mut d,
                i as u64 * 100,
                1,
                &format!("{w}.acme.workers.dev"),
                1
            )
            .is_none());
        }
        // Random names, but one every 40 s: never 10 within 300 s.
        for (i, r) in RANDOM.iter().enumerate() {
            assert!(query(
                &mut d,
                10_000 + i as u64 * 40_000,
                3,
                &format!("{r}.acme.workers.dev"),
                1
            )
            .is_none());
        }
    }

    #[test]
    fn nxdomain_run_per_account_and_per_platform() {
        let mut d = det(DnsDetect {
            new_account_max_tier: None,
            ..DnsDetect::default()
        });
        let mut kinds = Vec::new();
        for i in 0..12u64 {
            if let Some(a) = nx(&mut d, i * 100, 1, &format!("n{i}word.acme.workers.dev")) {
                kinds.push((a.kind, a.account.clone(), a.score));
            }
        }
        assert_eq!(kinds.len(), 1, "{kinds:?}");
        assert_eq!(kinds[0].0, DnsAnomalyKind::NxdomainRun);
        assert_eq!(kinds[0].1.as_deref(), Some("acme"));
        // Random *account* labels, each NX once: caught at the platform level.
        let mut platform = Vec::new();
        for (i, r) in RANDOM.iter().enumerate() {
            if let Some(a) = nx(&mut d, 5_000 + i as u64, 2, &format!("www.{r}.workers.dev")) {
                platform.push(a);
            }
        }
        assert_eq!(platform.len(), 1);
        assert_eq!(platform[0].account, None);
        assert!(platform[0].score > 0.5);
        // Successful answers never count.
        let ok = d.on_response(&DnsResponseObs {
            ts: at(9_000),
            client: ip(3),
            qname: "a.acme.workers.dev",
            qtype: 1,
            rcode: 0,
            answers: 1,
        });
        assert!(ok.is_none());
    }

    #[test]
    fn deployments_of_one_tenant_count_together() {
        let mut d = det(DnsDetect {
            new_account_max_tier: None,
            ..DnsDetect::default()
        });
        // Netlify deploy previews of one site, each answered NXDOMAIN: one run, on the site.
        let mut alerts = Vec::new();
        for (i, r) in RANDOM.iter().enumerate() {
            let name = format!("{r}--mysite.netlify.app");
            alerts.extend(nx(&mut d, i as u64 * 100, 1, &name));
        }
        assert_eq!(alerts.len(), 1, "{alerts:?}");
        assert_eq!(alerts[0].kind, DnsAnomalyKind::NxdomainRun);
        assert_eq!(alerts[0].account.as_deref(), Some("mysite"));
        // The subdomain scored is left of the whole label, not the deploy id.
        let c = Catalogue::builtin();
        let r = resolve(&c, "x9.5f8e1a2b--mysite.netlify.app").unwrap();
        assert_eq!((r.account, r.subdomain), (Some("mysite"), "x9"));
        let r = resolve(&c, "api-7f3k2j9xq-acme.vercel.app").unwrap();
        assert_eq!((r.account, r.subdomain), (Some("acme"), ""));
    }

    #[test]
    fn txt_lookups_and_rate_spike() {
        let mut d = det(DnsDetect {
            new_account_max_tier: None,
            ..DnsDetect::default()
        });
        let mut got = Vec::new();
        for i in 0..6u64 {
            got.extend(query(&mut d, i * 1000, 1, "cfg.acme.workers.dev", 16).map(|a| a.kind));
        }
        assert_eq!(got, [DnsAnomalyKind::TxtLookups]);
        // Rate: 60 A queries of one name within a second.
        let mut got = Vec::new();
        for i in 0..60u64 {
            got.extend(
                query(&mut d, 100_000 + i * 10, 2, "api.acme.workers.dev", 1)
                    .map(|a| (a.kind, a.evidence.count)),
            );
        }
        assert_eq!(got, [(DnsAnomalyKind::RateSpike, 50)]);
        // A steady 60 per bucket becomes the usual rate: after the quiet time it is no spike.
        let mut d = det(DnsDetect {
            new_account_max_tier: None,
            realert_quiet: Duration::ZERO,
            ..DnsDetect::default()
        });
        let mut spikes = [0usize; 30];
        for (b, n) in spikes.iter_mut().enumerate() {
            for i in 0..60u64 {
                let ms = b as u64 * 10_000 + i * 100;
                *n += usize::from(query(&mut d, ms, 3, "api.acme.workers.dev", 1).is_some());
            }
        }
        // The first bucket spikes (no usual rate yet: 11 alerts with no quiet time), then the
        // usual rate catches up and the same rate is no longer a spike.
        assert_eq!(spikes[0], 11, "{spikes:?}");
        assert!(spikes[5..].iter().all(|&n| n == 0), "{spikes:?}");
    }

    #[test]
    fn new_account_is_informational_and_once() {
        let mut d = det(DnsDetect::default());
        let a = query(&mut d, 0, 1, "relay.acme.workers.dev", 1).unwrap();
        assert_eq!(a.kind, DnsAnomalyKind::NewAccount);
        assert!(a.kind.is_informational());
        assert_eq!(a.severity(), 4);
        assert_eq!(a.evidence.examples, ["relay.acme.workers.dev"]);
        assert!(query(&mut d, 1, 2, "relay.acme.workers.dev", 1).is_none());
        // Tier 2 platforms are not reported at the default tier limit.
        assert!(query(&mut d, 2, 1, "d111111abcdef8.cloudfront.net", 1).is_none());
        // Non-catalogued names are ignored entirely.
        assert!(query(&mut d, 3, 1, "www.example.com", 16).is_none());
        let s = d.stats();
        assert_eq!((s.queries, s.catalogued, s.alerts), (4, 3, 1));
    }

    #[test]
    fn state_is_bounded_and_evictions_counted() {
        let mut d = det(DnsDetect {
            max_tracks_per_worker: non_zero(8),
            max_accounts_per_worker: non_zero(4),
            ..DnsDetect::default()
        });
        for i in 0..100u64 {
            let name = format!("w.acct{i}.workers.dev");
            query(&mut d, i, (i % 7) as u8, &name, 1);
            nx(&mut d, i, (i % 7) as u8, &name);
        }
        assert!(d.tracks() <= 8);
        assert!(d.accounts.len() <= 4);
        let s = d.stats();
        assert!(s.tracks_evicted > 0 && s.accounts_evicted == 96, "{s:?}");
    }

    #[test]
    fn disabled_detector_is_silent() {
        let mut d = det(DnsDetect {
            enabled: false,
            ..DnsDetect::default()
        });
        for (i, r) in RANDOM.iter().enumerate() {
            assert!(query(&mut d, i as u64, 1, &format!("{r}.acme.workers.dev"), 16).is_none());
            assert!(nx(&mut d, i as u64, 1, &format!("{r}.acme.workers.dev")).is_none());
        }
        assert_eq!(d.stats().catalogued, 0);
    }

    #[test]
    fn hostile_names_do_not_panic() {
        let mut d = det(DnsDetect::default());
        let long = format!("{}.acme.workers.dev", "a".repeat(300));
        for name in [
            "",
            ".",
            "..",
            "a..workers.dev",
            "é.acme.workers.dev",
            &long,
            "\\000.acme.workers.dev",
        ] {
            let alerts: Vec<_> = [query(&mut d, 0, 1, name, 255), nx(&mut d, 0, 1, name)]
                .into_iter()
                .flatten()
                .map(|a| (a.kind, a.account))
                .collect();
            // Only the escaped name (a real label `\000` of account `acme`) is catalogued:
            // its first sighting is reported; the others belong to no catalogued name.
            let want = if name.starts_with('\\') {
                vec![(DnsAnomalyKind::NewAccount, Some("acme".to_string()))]
            } else {
                vec![]
            };
            assert_eq!(alerts, want, "{name:?}");
        }
        let s = d.stats();
        assert_eq!((s.queries, s.responses, s.catalogued), (7, 7, 2));
        assert_eq!(d.tracks(), 2);
    }
}
