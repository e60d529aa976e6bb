//! Packet time: the only clock virga uses for flows, timeouts and detectors.
//!
//! A [`Timestamp`] is nanoseconds since the Unix epoch, taken from the packet
//! header (pcap file or live capture), never from the wall clock, so replaying
//! a capture gives the same results as seeing it live.

/// Nanoseconds since 1970-01-01T00:00:00Z, from a packet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// Builds a timestamp from seconds and nanoseconds; negative seconds clamp to 0.
    pub fn from_secs_nanos(secs: i64, nanos: u32) -> Self {
        let secs = u64::try_from(secs).unwrap_or(0);
        Timestamp(
            secs.saturating_mul(1_000_000_000)
                .saturating_add(u64::from(nanos)),
        )
    }

    /// Whole seconds since the epoch.
    pub const fn secs(self) -> u64 {
        self.0 / 1_000_000_000
    }

    /// Microseconds within the second.
    pub const fn subsec_micros(self) -> u32 {
        ((self.0 % 1_000_000_000) / 1_000) as u32
    }

    /// Seconds since the epoch as a float, for interval arithmetic.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// `self - earlier` in nanoseconds, 0 if `earlier` is later.
    pub const fn nanos_since(self, earlier: Timestamp) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// Adds whole seconds.
    pub const fn plus_secs(self, secs: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(secs.saturating_mul(1_000_000_000)))
    }

    /// The UTC calendar date and time of the second: (year, month, day,
    /// hour, minute, second).
    pub fn civil(self) -> (i64, u32, u32, u32, u32, u32) {
        civil(self.secs())
    }
}

/// Splits epoch seconds into a proleptic Gregorian UTC date and time.
///
/// Hand-written (Howard Hinnant's `civil_from_days`) rather than pulling in
/// chrono/time: it is a dozen lines on the per-event path, allocation-free,
/// and only UTC is ever needed.
fn civil(secs: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (h, mi, s) = (
        (rem / 3600) as u32,
        ((rem % 3600) / 60) as u32,
        (rem % 60) as u32,
    );
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d, h, mi, s)
}

/// Days since 1970-01-01 of a proleptic Gregorian UTC date (Howard
/// Hinnant's `days_from_civil`, the inverse of [`Timestamp::civil`]'s
/// split); `None` for a month outside 1–12 or a day outside 1–31.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> Option<i64> {
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        // 2026-11-29T14:40:13 is in shared/eve/examples/alert.json.
        let ts = Timestamp::from_secs_nanos(1_795_963_213, 622_303_456);
        assert_eq!(ts.civil(), (2026, 11, 29, 14, 40, 13));
        assert_eq!(ts.subsec_micros(), 622_303);
        assert_eq!(Timestamp(0).civil(), (1970, 1, 1, 0, 0, 0));
        // Leap day and the 2026-03-02 timeline start.
        assert_eq!(
            Timestamp::from_secs_nanos(1_709_164_800, 0).civil(),
            (2024, 2, 29, 0, 0, 0)
        );
        assert_eq!(
            Timestamp::from_secs_nanos(1_772_409_600, 0).civil(),
            (2026, 3, 2, 0, 0, 0)
        );
        // And back.
        for secs in [0u64, 1_709_164_800, 1_772_409_600, 1_795_963_213] {
            let (y, m, d, ..) = Timestamp::from_secs_nanos(secs as i64, 0).civil();
            assert_eq!(days_from_civil(y, m, d), Some((secs / 86_400) as i64));
        }
        assert_eq!(days_from_civil(2026, 13, 1), None);
        assert_eq!(days_from_civil(2026, 1, 0), None);
    }

    #[test]
    fn arithmetic_saturates() {
        let a = Timestamp::from_secs_nanos(10, 0);
        let b = Timestamp::from_secs_nanos(12, 500);
        assert_eq!(b.nanos_since(a), 2_000_000_500);
        assert_eq!(a.nanos_since(b), 0);
        assert_eq!(Timestamp::from_secs_nanos(-5, 0), Timestamp(0));
        assert_eq!(Timestamp(u64::MAX).plus_secs(10), Timestamp(u64::MAX));
    }
}
