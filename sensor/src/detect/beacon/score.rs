//! Scores the beat intervals of one pair: how much more likely they are under a jittered
//! beacon (a flat band of sleeps, some beats missed) than under irregular traffic (exponential
//! intervals). The model and its constants are explained in `docs/detection.md`, "Beaconing".

use super::window::WINDOW_BEATS;
use std::ops::Range;

/// Prior log-odds against a pair being a beacon, ln(10⁵): one pair in a hundred thousand. The
/// periodicity score is the posterior probability `1 / (1 + exp(PRIOR_LOG_ODDS − evidence))`.
pub(crate) const PRIOR_LOG_ODDS: f64 = 11.512_925_464_970_229;

/// Beats merge only within this fraction of the typical interval (a beacon with up to 50 %
/// jitter never sleeps less than half its typical interval).
pub(crate) const MERGE_FRACTION: f64 = 0.25;

/// Share ε of intervals the beacon model leaves to chance (operator tasking, retries that were
/// not merged, a sleep change).
const OUTLIER_SHARE: f64 = 0.05;

/// Share π of intervals that span missed beats (host busy, packet loss, dropped check-ins).
const MISSED_SHARE: f64 = 0.10;

/// Longest interval, in typical intervals, still read as missed beats; longer ones are pauses
/// (host asleep, outside working hours, a long sleep) and take no part in the score.
const MAX_MISSED_SPAN: u32 = 3;

/// Narrowest band of sleeps, in seconds: the timing noise of connection starts (DNS, TCP and TLS
/// set-up, scheduler).
const BAND_FLOOR_SECS: f64 = 1.0;

/// Narrowest band of sleeps as a fraction of the typical interval.
const BAND_FLOOR_FRACTION: f64 = 0.02;

/// Fewest on-beat intervals a band is fitted to.
const MIN_ON_BEAT: usize = 4;

/// Shortest typical interval scored, as a multiple of the beat-merge window. Shorter regularity
/// is a burst (CI loops, page loads, rate-limited clients), whose intervals are bounded below by
/// request processing rather than set by a sleep; sleeps that short are out of scope.
const MIN_TYPICAL_MERGE_MULTIPLE: f64 = 2.0;

/// What the intervals of one pair say.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Assessment {
    /// Log-likelihood ratio, beacon model against irregular traffic (nats).
    pub evidence: f64,
    /// Median interval, seconds.
    pub typical_secs: f64,
    /// Lower end of the fitted band of sleeps, seconds (not below 0).
    pub band_lo_secs: f64,
    /// Upper end of the fitted band of sleeps, seconds.
    pub band_hi_secs: f64,
    /// Positions of the on-beat intervals (half to one and a half typical intervals) in the
    /// sorted intervals passed back through `sorted`.
    pub on_beat: Range<usize>,
    /// Intervals shorter than half the typical one.
    pub early: usize,
    /// Beats missed inside intervals of 2 to `MAX_MISSED_SPAN` typical intervals.
    pub missed_beats: u32,
    /// Intervals read as pauses.
    pub pauses: usize,
}

impl Assessment {
    /// Mean sleep: the middle of the band, seconds.
    pub(crate) fn period_secs(&self) -> f64 {
        (self.band_lo_secs + self.band_hi_secs) / 2.0
    }

    /// Width of the band as a fraction of its upper end: Cobalt Strike's jitter `j` reads as
    /// `j`, a symmetric ±`j` as `2j/(1+j)`, Sliver's additive `J` on a sleep `S` as `J/(S+J)`.
    pub(crate) fn jitter(&self) -> f64 {
        if self.band_hi_secs > 0.0 {
            (1.0 - self.band_lo_secs / self.band_hi_secs).clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}

/// `1 / (1 + exp(PRIOR_LOG_ODDS − evidence))`.
pub(crate) fn posterior(evidence: f64) -> f64 {
    let p = 1.0 / (1.0 + (PRIOR_LOG_ODDS - evidence).exp());
    if p.is_finite() {
        p
    } else {
        0.0
    }
}

/// Evidence owed for having looked at a pair `looks` times: ln(1 + looks / (window / 2)).
/// Each new beat is a new look at a window that shares all but one interval with the previous
/// one; windows half a window apart are close to independent, so a pair scored `looks` times has
/// had about `1 + looks / 32` independent chances to look periodic by chance, and the evidence
/// must clear the prior by the log of that count (Bonferroni). A beacon caught within its first
/// window pays under 0.7 nats; an irregular pair scored for two days at one beat every 10 s pays
/// about 6.
pub(crate) fn multiplicity(looks: u32) -> f64 {
    (1.0 + f64::from(looks) / (WINDOW_BEATS / 2) as f64).ln()
}

/// Connections closer than this to the start of a beat belong to it, seconds: the configured
/// window, but never more than `MERGE_FRACTION` of the typical interval once one is known.
pub(crate) fn merge_window_secs(merge_secs: f64, typical_secs: Option<f64>) -> f64 {
    match typical_secs {
        Some(p) if p > 0.0 => merge_secs.min(MERGE_FRACTION * p),
        _ => merge_secs,
    }
}

/// Median of sorted values (0 when empty).
pub(crate) fn median_sorted(s: &[f64]) -> f64 {
    let n = s.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => s[n / 2],
        _ => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

/// Scores `intervals` (seconds between beat starts; only the latest `WINDOW_BEATS - 1` are
/// used). `sorted` is scratch space and receives the intervals in ascending order (see
/// [`Assessment::on_beat`]). `None` when there is too little to score: fewer than
/// [`MIN_ON_BEAT`] on-beat intervals, or a typical interval under
/// [`MIN_TYPICAL_MERGE_MULTIPLE`] beat-merge windows. O(n log n) for n ≤ 63 intervals.
pub(crate) fn assess(
    intervals: &[f64],
    merge_secs: f64,
    sorted: &mut Vec<f64>,
) -> Option<Assessment> {
    let intervals = &intervals[intervals.len().saturating_sub(WINDOW_BEATS - 1)..];
    sorted.clear();
    sorted.extend(
        intervals
            .iter()
            .copied()
            .filter(|g| g.is_finite() && *g >= 0.0),
    );
    // Equal under `total_cmp` means the same bits: an unstable sort gives the
    // same order.
    sorted.sort_unstable_by(f64::total_cmp);
    let p = median_sorted(sorted);
    if sorted.len() < 2 || p <= 0.0 || p < MIN_TYPICAL_MERGE_MULTIPLE * merge_secs {
        return None;
    }
    let on_start = sorted.partition_point(|&g| g < 0.5 * p);
    let on_end = sorted.partition_point(|&g| g < 1.5 * p);
    let usable_end = sorted.partition_point(|&g| g < (f64::from(MAX_MISSED_SPAN) + 0.5) * p);
    let on = &sorted[on_start..on_end];
    let usable = &sorted[..usable_end];
    let m = on.len();
    if m < MIN_ON_BEAT {
        return None;
    }

    // Irregular reference: intervals of at least θ (shorter ones were merged), exponential above.
    let theta = merge_window_secs(merge_secs, Some(p)).min(usable[0]);
    let mean = usable.iter().sum::<f64>() / usable.len() as f64;
    let mu = (mean - theta).max(1e-3 * p);

    // Band of sleeps: the trimmed range of on-beat intervals, widened to an unbiased estimate of
    // a uniform's width, (k+1)/(k-1) times the range of k samples. The trim (up to m/8 on each
    // side) is chosen by the likelihood of the on-beat intervals.
    let floor = BAND_FLOOR_SECS.max(BAND_FLOOR_FRACTION * p);
    let in_band = (1.0 - OUTLIER_SHARE) * (1.0 - MISSED_SHARE);
    let trim = m / 8;
    let mut prefix = [0.0f64; WINDOW_BEATS];
    for (k, g) in on.iter().enumerate() {
        prefix[k + 1] = prefix[k] + g;
    }
    let mut best: Option<(f64, f64, f64)> = None; // (criterion, centre, width)
    for i in 0..=trim {
        for j in (m - 1 - trim)..m {
            if j < i + 2 {
                continue;
            }
            let k = (j - i + 1) as f64;
            let width = ((on[j] - on[i]) * (k + 1.0) / (k - 1.0)).max(floor);
            let crit = k * (in_band * mu / width).ln()
                + (prefix[j + 1] - prefix[i] - k * theta) / mu
                + (m as f64 - k) * OUTLIER_SHARE.ln();
            if best.is_none_or(|(c, _, _)| crit > c) {
                best = Some((crit, (on[i] + on[j]) / 2.0, width));
            }
        }
    }
    let (_, centre, width) = best?;
    let (lo, hi) = (centre - width / 2.0, centre + width / 2.0);

    // Evidence: Σ ln(f_beacon / f_irregular) over usable intervals, with
    // f_beacon = (1-ε)[(1-π)·U(lo,hi) + Σ_k π/(K-1)·U(k·lo, k·hi)] + ε·f_irregular.
    let missed_share = (1.0 - OUTLIER_SHARE) * MISSED_SHARE / f64::from(MAX_MISSED_SPAN - 1);
    let mut evidence = 0.0;
    for &g in usable {
        let mut density = 0.0;
        if (lo..=hi).contains(&g) {
            density += in_band * mu / width;
        }
        for k in 2..=MAX_MISSED_SPAN {
            let kf = f64::from(k);
            if (kf * lo..=kf * hi).contains(&g) {
                density += missed_share * mu / (kf * width);
            }
        }
        evidence += (OUTLIER_SHARE + density * ((g - theta) / mu).exp()).ln();
    }
    let missed_beats = sorted[on_end..usable_end]
        .iter()
        .map(|&g| ((g / p).round() as u32).saturating_sub(1))
        .sum();
    Some(Assessment {
        evidence,
        typical_secs: p,
        band_lo_secs: lo.max(0.0),
        band_hi_secs: hi,
        on_beat: on_start..on_end,
        early: on_start,
        missed_beats,
        pauses: sorted.len() - usable_end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(v: &[f64]) -> Option<Assessment> {
        assess(v, 3.0, &mut Vec::new())
    }

    #[test]
    fn exact_period_is_strong_evidence() {
        let a = score(&[60.0; 10]).unwrap();
        // Band floor 1.2 s around 60 s: each interval weighs ln(0.855 * 57 / 1.2) + 1 ≈ 4.7.
        assert!(a.evidence > 40.0, "{a:?}");
        assert!((a.period_secs() - 60.0).abs() < 0.01);
        assert!(a.jitter() < 0.03);
        assert!(posterior(a.evidence) > 0.999);
        assert_eq!((a.early, a.missed_beats, a.pauses), (0, 0, 0));
    }

    #[test]
    fn uniform_band_gives_about_one_nat_per_interval() {
        // Cobalt Strike, 50 % jitter: sleeps evenly spread over [30, 60].
        let v: Vec<f64> = (0..40)
            .map(|i| 30.0 + 30.0 * f64::from(i * 17 % 40) / 39.0)
            .collect();
        let a = score(&v).unwrap();
        // Expected per interval: ln(0.855 * 1.5) + 1 ≈ 1.25 nats (docs/detection.md).
        let per = a.evidence / 40.0;
        assert!((0.9..1.5).contains(&per), "{per} {a:?}");
        assert!((a.jitter() - 0.5).abs() < 0.06, "{}", a.jitter());
        assert!((a.period_secs() - 45.0).abs() < 2.0);
    }

    #[test]
    fn missed_beats_and_pauses() {
        let mut v = vec![300.0; 20];
        v[3] = 600.5;
        v[7] = 899.0;
        v[12] = 8.0 * 3600.0;
        let a = score(&v).unwrap();
        assert_eq!(a.missed_beats, 3);
        assert_eq!(a.pauses, 1);
        assert!(posterior(a.evidence) > 0.99);
    }

    #[test]
    fn geometric_spread_scores_low() {
        // Quantiles of an exponential with mean 300 s: what irregular traffic looks like.
        let v: Vec<f64> = (0..40)
            .map(|i| -300.0 * (1.0 - (f64::from(i) + 0.5) / 40.0).ln())
            .collect();
        let a = score(&v).unwrap();
        assert!(a.evidence < 0.0, "{a:?}");
        assert!(posterior(a.evidence) < 1e-4);
        assert!(a.early > 5);
    }

    #[test]
    fn too_little_or_too_fast_is_not_scored() {
        assert!(score(&[]).is_none());
        assert!(score(&[60.0]).is_none());
        assert!(score(&[60.0, 600.0, 6000.0]).is_none());
        // Typical interval under two merge windows: a burst.
        assert!(score(&[5.0; 20]).is_none());
        assert!(assess(&[5.0; 20], 2.0, &mut Vec::new()).is_some());
        // Non-finite and negative values are ignored, not propagated.
        let a = score(&[60.0, f64::NAN, f64::INFINITY, -1.0, 60.0, 60.0, 60.0]).unwrap();
        assert!(a.evidence.is_finite());
    }

    #[test]
    fn posterior_is_bounded() {
        assert_eq!(posterior(f64::NEG_INFINITY), 0.0);
        assert_eq!(posterior(f64::INFINITY), 1.0);
        assert!((posterior(PRIOR_LOG_ODDS) - 0.5).abs() < 1e-12);
        assert_eq!(merge_window_secs(3.0, None), 3.0);
        assert_eq!(merge_window_secs(3.0, Some(8.0)), 2.0);
        assert_eq!(merge_window_secs(3.0, Some(600.0)), 3.0);
    }
}
