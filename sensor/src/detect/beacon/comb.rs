//! Timer-comb test: are the intervals whole multiples of one shorter, exact timer period?
//!
//! A page that polls on an exact timer and reuses its HTTP connection for several polls opens
//! connections whose intervals are whole multiples of the timer (240, 270, ..., 360 s for a
//! 30 s timer reused 8 to 12 times). The spread looks like a jittered sleep, but the intervals
//! sit on a comb. The test is the Rayleigh statistic `m·R²` of the phases `2π·g/b` of the `m`
//! intervals, maximised over bases `b`; for intervals spread evenly over a band it is about
//! exponentially distributed with mean 1, for a comb it approaches `m`.

use std::f64::consts::TAU;

/// Strength from which the intervals are read as a timer comb. With about 32 independent bases
/// tried, chance reaches it with probability near `32·e^-12` (2·10⁻⁴).
pub(crate) const COMB_THRESHOLD: f64 = 12.0;

/// Shortest base tried, seconds.
const MIN_BASE_SECS: f64 = 2.0;

/// Most whole multiples of a base within a typical interval.
const MAX_MULTIPLE: f64 = 32.0;

/// Upper bound of bases tried (a guard; the step below needs about 770).
const MAX_STEPS: usize = 4096;

/// Largest `m·R²` over bases from `max(2 s, typical/32)` to half the band width (wider bases do
/// not wrap the band and would mimic a comb). `intervals` are the on-beat intervals, seconds.
pub(crate) fn comb_strength(intervals: &[f64], band_width_secs: f64, typical_secs: f64) -> f64 {
    let m = intervals.len();
    let g_max = intervals.iter().copied().fold(0.0f64, f64::max);
    let lo = MIN_BASE_SECS.max(typical_secs / MAX_MULTIPLE);
    let mut base = band_width_secs / 2.0;
    if m < 3 || base.is_nan() || base <= lo || g_max <= 0.0 || !g_max.is_finite() {
        return 0.0;
    }
    let mut best = 0.0f64;
    for _ in 0..MAX_STEPS {
        if base < lo {
            break;
        }
        let (mut c, mut s) = (0.0, 0.0);
        for &g in intervals {
            let (sin, cos) = (TAU * g / base).sin_cos();
            c += cos;
            s += sin;
        }
        best = best.max((c * c + s * s) / m as f64);
        // Step so the phase of the longest interval moves by at most 1/16 of a turn.
        base -= base * base / (16.0 * g_max);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reused_poll_connections_form_a_comb() {
        // 30 s timer, 8..=12 polls per connection, 0.4 s of noise.
        let v: Vec<f64> = (0..30)
            .map(|i| 30.0 * f64::from(8 + i % 5) + 0.4 * f64::from(i % 3) - 0.4)
            .collect();
        assert!(comb_strength(&v, 130.0, 300.0) > 25.0);
    }

    #[test]
    fn evenly_spread_sleeps_are_not_a_comb() {
        // Cobalt Strike 30 % around 180 s: [126, 180], spread by an irrational step.
        let v: Vec<f64> = (0..30)
            .map(|i| 126.0 + 54.0 * ((f64::from(i) * 0.618_033_988_7) % 1.0))
            .collect();
        let s = comb_strength(&v, 56.0, 153.0);
        assert!(s < COMB_THRESHOLD, "{s}");
    }

    #[test]
    fn degenerate_inputs() {
        assert_eq!(comb_strength(&[], 100.0, 100.0), 0.0);
        assert_eq!(comb_strength(&[10.0, 10.0], 100.0, 100.0), 0.0);
        // Band too narrow to hold two teeth.
        assert_eq!(comb_strength(&[30.0; 10], 1.0, 30.0), 0.0);
        assert_eq!(comb_strength(&[f64::NAN; 10], 100.0, 30.0), 0.0);
    }
}
