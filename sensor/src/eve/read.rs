//! Reading EVE back: typed views of `alert` lines, for `virga report`.
//!
//! The input may be any EVE file (virga's, or one with other tools' events
//! mixed in), huge, truncated or hostile. It is streamed line by line through
//! one reused buffer; a line longer than [`MAX_LINE_BYTES`] is skipped
//! without being held, a line that is not JSON or not an alert is counted and
//! skipped. Only lines that contain `"alert"` are parsed (every alert line
//! does; virga's `flow`, `dns`, `tls`, `quic` and `stats` lines do not), which
//! keeps a mostly non-alert file fast to read.
//!
//! Strings are borrowed from the line when they hold no escape, so a parsed
//! alert allocates little; the caller copies what it keeps.

use crate::time::Timestamp;
use serde::Deserialize;
use std::borrow::Cow;
use std::io::{self, BufRead};

/// Longest line read, in bytes; longer lines are skipped (virga's alert
/// lines are a few kilobytes).
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// An EVE `alert` line, as far as a report reads it. Unknown members are
/// ignored; every member may be absent.
#[derive(Debug, Deserialize)]
pub struct AlertLine<'a> {
    /// Event time, EVE form (`2026-03-02T00:00:04.655535+0000`).
    #[serde(borrow, default)]
    pub timestamp: Option<Cow<'a, str>>,
    /// The event type (`alert` for the lines handed out).
    #[serde(borrow, default)]
    pub event_type: Option<Cow<'a, str>>,
    /// Source address (the client, for virga's alerts).
    #[serde(borrow, default)]
    pub src_ip: Option<Cow<'a, str>>,
    /// Destination address.
    #[serde(borrow, default)]
    pub dest_ip: Option<Cow<'a, str>>,
    /// Destination port.
    #[serde(default)]
    pub dest_port: Option<u16>,
    /// Transport protocol name.
    #[serde(borrow, default)]
    pub proto: Option<Cow<'a, str>>,
    /// Community ID of the flow.
    #[serde(borrow, default)]
    pub community_id: Option<Cow<'a, str>>,
    /// Suricata's sensor name (`sensor-name`), when the writer sets one.
    #[serde(borrow, default)]
    pub host: Option<Cow<'a, str>>,
    /// Interface of a live capture.
    #[serde(borrow, default)]
    pub in_iface: Option<Cow<'a, str>>,
    /// The alert object.
    #[serde(borrow, default)]
    pub alert: Option<AlertBody<'a>>,
}

/// `alert` of an alert line.
#[derive(Debug, Deserialize)]
pub struct AlertBody<'a> {
    /// Signature id.
    #[serde(default)]
    pub signature_id: Option<u64>,
    /// Signature text.
    #[serde(borrow, default)]
    pub signature: Option<Cow<'a, str>>,
    /// Severity, 1 (highest) to 3 (or 4).
    #[serde(default)]
    pub severity: Option<u64>,
    /// `alert.context`.
    #[serde(borrow, default)]
    pub context: Option<AlertContext<'a>>,
}

/// `alert.context`.
#[derive(Debug, Deserialize)]
pub struct AlertContext<'a> {
    /// virga's evidence (`alert.context.virga`).
    #[serde(borrow, default)]
    pub virga: Option<VirgaContext<'a>>,
}

/// `alert.context.virga` (published in docs/eve-virga-extension.schema.json).
#[derive(Debug, Default, Deserialize)]
pub struct VirgaContext<'a> {
    /// `beacon`, `client` or `dns`.
    #[serde(borrow, default)]
    pub detector: Option<Cow<'a, str>>,
    /// Server name (or, for DNS alerts, the queried domain).
    #[serde(borrow, default)]
    pub server_name: Option<Cow<'a, str>>,
    /// Where the name came from (`sni`, `http_host`, `dns`).
    #[serde(borrow, default)]
    pub name_source: Option<Cow<'a, str>>,
    /// Platform id (`none` for a non-serverless name).
    #[serde(borrow, default)]
    pub platform: Option<Cow<'a, str>>,
    /// Detector score, 0 to 1.
    #[serde(default)]
    pub score: Option<f64>,
    /// Client class.
    #[serde(borrow, default)]
    pub client_class: Option<Cow<'a, str>>,
    /// Why the client was classed so.
    #[serde(borrow, default)]
    pub client_reasons: Vec<Cow<'a, str>>,
    /// JA4 of the client hello.
    #[serde(borrow, default)]
    pub ja4: Option<Cow<'a, str>>,
    /// Same-class clients of the name.
    #[serde(default)]
    pub prevalence: Option<u64>,
    /// Beacon: beats seen.
    #[serde(default)]
    pub beats: Option<u64>,
    /// Beacon: connections seen.
    #[serde(default)]
    pub connections: Option<u64>,
    /// Beacon: mean sleep, seconds.
    #[serde(default)]
    pub period_secs: Option<f64>,
    /// Beacon: jitter (band width over its longest sleep).
    #[serde(default)]
    pub jitter: Option<f64>,
    /// Beacon: shortest and longest sleep of the fitted band, seconds.
    #[serde(default)]
    pub band_secs: Option<(f64, f64)>,
    /// Beacon: periodicity posterior.
    #[serde(default)]
    pub periodicity: Option<f64>,
    /// Beacon: first connection of the pair, EVE time.
    #[serde(borrow, default)]
    pub first_seen: Option<Cow<'a, str>>,
    /// Beacon: latest connection of the pair, EVE time.
    #[serde(borrow, default)]
    pub last_seen: Option<Cow<'a, str>>,
    /// Beacon: beat starts, seconds after the first; the last at the event's time.
    #[serde(default)]
    pub beat_times: Vec<f64>,
    /// DNS: the anomaly's kind.
    #[serde(borrow, default)]
    pub kind: Option<Cow<'a, str>>,
    /// DNS: the account label.
    #[serde(borrow, default)]
    pub account: Option<Cow<'a, str>>,
}

/// What a read went through.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Lines read (skipped ones included).
    pub lines: u64,
    /// Alert lines handed out.
    pub alerts: u64,
    /// Lines that mention an alert but are not valid JSON (a truncated last
    /// line, for instance) or have a member of the wrong type.
    pub bad_lines: u64,
    /// Lines longer than [`MAX_LINE_BYTES`], skipped.
    pub long_lines: u64,
}

/// Reads EVE lines from `input` and calls `on_alert` with each `alert` line.
/// Errors only when the input cannot be read; bad lines are counted.
pub fn read_alerts<R: BufRead>(
    mut input: R,
    mut on_alert: impl FnMut(&AlertLine<'_>),
) -> io::Result<ReadStats> {
    let finder = memchr::memmem::Finder::new(b"\"alert\"");
    let mut stats = ReadStats::default();
    let mut line = Vec::with_capacity(16 * 1024);
    loop {
        line.clear();
        match read_line_bounded(&mut input, &mut line)? {
            Line::End => return Ok(stats),
            Line::TooLong => {
                stats.lines += 1;
                stats.long_lines += 1;
                continue;
            }
            Line::Read => stats.lines += 1,
        }
        if finder.find(&line).is_none() {
            continue;
        }
        match serde_json::from_slice::<AlertLine<'_>>(trim_line(&line)) {
            Ok(a) if a.event_type.as_deref() == Some("alert") => {
                stats.alerts += 1;
                on_alert(&a);
            }
            Ok(_) => {}
            Err(_) => stats.bad_lines += 1,
        }
    }
}

/// The line without its line ending.
fn trim_line(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// What [`read_line_bounded`] found.
enum Line {
    /// A line (possibly the last, without newline) is in the buffer.
    Read,
    /// The line was longer than [`MAX_LINE_BYTES`]; it was consumed, not kept.
    TooLong,
    /// End of input.
    End,
}

/// Reads one line into `out` (empty on entry), keeping at most
/// [`MAX_LINE_BYTES`] of it: std's `read_until` would grow the buffer without
/// bound on a file with no newline.
fn read_line_bounded<R: BufRead>(input: &mut R, out: &mut Vec<u8>) -> io::Result<Line> {
    let mut too_long = false;
    let mut any = false;
    loop {
        let buf = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(match (any, too_long) {
                (false, _) => Line::End,
                (true, true) => Line::TooLong,
                (true, false) => Line::Read,
            });
        }
        any = true;
        let (chunk, done) = match memchr::memchr(b'\n', buf) {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        if !too_long && out.len() + chunk.len() > MAX_LINE_BYTES + 1 {
            too_long = true;
            out.clear();
        }
        if !too_long {
            out.extend_from_slice(chunk);
        }
        let n = chunk.len();
        input.consume(n);
        if done {
            return Ok(if too_long { Line::TooLong } else { Line::Read });
        }
    }
}

/// Parses an EVE timestamp (`YYYY-MM-DDTHH:MM:SS[.ffffff]±HHMM`, the form
/// [`super::write_timestamp`] writes and Suricata uses) into packet time.
/// `None` for anything else, or a time before 1970.
///
/// Hand-written rather than through a date crate: the form is fixed, this is
/// the exact inverse of the writer beside it (a test checks the round trip),
/// and a dependency would bring far more than the 30 lines it replaces.
pub fn parse_timestamp(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let d = b.get(r)?;
        if d.is_empty() || !d.iter().all(u8::is_ascii_digit) {
            return None;
        }
        d.iter().try_fold(0i64, |n, &c| {
            n.checked_mul(10)?.checked_add(i64::from(c - b'0'))
        })
    };
    if b.len() < 24 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0i64;
    if b[i] == b'.' {
        let start = i + 1;
        let end = start + b[start..].iter().take_while(|c| c.is_ascii_digit()).count();
        if end == start || end - start > 9 {
            return None;
        }
        nanos = num(start..end)? * 10i64.pow(9 - (end - start) as u32);
        i = end;
    }
    let sign = match b.get(i)? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    if b.len() != i + 5 {
        return None;
    }
    let offset = sign * (num(i + 1..i + 3)? * 3600 + num(i + 3..i + 5)? * 60);
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset;
    let secs = u64::try_from(secs).ok()?;
    Some(Timestamp(
        secs.checked_mul(1_000_000_000)?
            .checked_add(u64::try_from(nanos).ok()?)?,
    ))
}

/// Days from 1970-01-01 to a civil date (proleptic Gregorian; H. Hinnant's
/// algorithm, the inverse of [`Timestamp::civil`]).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(input: &[u8]) -> (Vec<String>, ReadStats) {
        let mut names = Vec::new();
        let st = read_alerts(input, |a| {
            let v = a.alert.as_ref().and_then(|b| b.context.as_ref());
            let name = v
                .and_then(|c| c.virga.as_ref())
                .and_then(|v| v.server_name.as_deref())
                .unwrap_or("-");
            names.push(name.to_owned());
        })
        .unwrap();
        (names, st)
    }

    #[test]
    fn reads_alert_lines_and_counts_the_rest() {
        let mut input = Vec::new();
        input.extend_from_slice(
            br#"{"event_type":"flow","flow":{"alerted":false}}
{"event_type":"alert","src_ip":"10.0.0.1","alert":{"signature_id":9400002,"severity":1,"context":{"virga":{"detector":"beacon","server_name":"a\"<b>.workers.dev","beat_times":[0.0,30.1,60.3]}}}}
{"event_type": "alert", "alert": {"signature": "other tool", "severity": 2}}
{"event_type":"alert","alert":{"severity":"high"}}
"#,
        );
        input.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 10));
        input.extend_from_slice(b"\"alert\"\n");
        // A truncated last line.
        input.extend_from_slice(br#"{"event_type":"alert","alert":{"sig"#);
        let (names, st) = read(&input);
        assert_eq!(names, ["a\"<b>.workers.dev", "-"]);
        assert_eq!(
            st,
            ReadStats {
                lines: 6,
                alerts: 2,
                bad_lines: 2,
                long_lines: 1
            }
        );
        // No newline at all, longer than the bound: skipped, not held.
        let huge = vec![b'{'; 3 * MAX_LINE_BYTES];
        let (_, st) = read(&huge);
        assert_eq!((st.lines, st.long_lines), (1, 1));
        assert_eq!(read(b"").1, ReadStats::default());
    }

    #[test]
    fn timestamps_round_trip_with_the_writer() {
        for ns in [0u64, 1_772_409_604_655_535_000, 4_102_444_799_999_999_000] {
            let t = Timestamp(ns);
            assert_eq!(parse_timestamp(&super::super::timestamp_text(t)), Some(t));
        }
        let t = parse_timestamp("2026-03-02T01:00:00.5+0100").unwrap();
        assert_eq!(
            super::super::timestamp_text(t),
            "2026-03-02T00:00:00.500000+0000"
        );
        for bad in [
            "",
            "2026-03-02",
            "2026-13-02T00:00:00.000000+0000",
            "2026-03-02T00:00:00.000000",
            "2026-03-02T00:00:00.000000+00000",
            "1969-12-31T23:59:59.000000+0000",
            "2026-03-02T00:00:00.0000000000+0000",
            "+026-03-02T00:00:00.000000+0000",
            "2026-03-02T00:00:00.é+0000",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }
}
