//! The pictures of a pair, as inline SVG: its timeline (beats, or alerts
//! when it has no beacon evidence) and the histogram of its intervals with
//! the detected period and jitter band.
//!
//! Colours and strokes come from CSS classes of the page (no `style`
//! attributes, which a strict Content-Security-Policy would block); every
//! text is escaped; every number drawn is finite (the model filters them).

use super::escape;
use super::model::{Beacon, Pair};
use crate::eve::timestamp_text;
use crate::time::Timestamp;
use std::fmt::Write as _;

/// Width of every picture, in SVG units (CSS scales it to the page).
const WIDTH: f64 = 720.0;
/// Left and right margin of the plot area.
const MARGIN: f64 = 40.0;
/// Histogram bins.
const BINS: usize = 30;

/// A duration for people: seconds, minutes, hours or days.
pub fn duration(secs: f64) -> String {
    if !secs.is_finite() {
        return "?".into();
    }
    if secs < 120.0 {
        format!("{secs:.1} s")
    } else if secs < 7200.0 {
        format!("{:.1} min", secs / 60.0)
    } else if secs < 172_800.0 {
        format!("{:.1} h", secs / 3600.0)
    } else {
        format!("{:.1} d", secs / 86_400.0)
    }
}

/// `x` of a value in `[0, max]` on the plot area.
fn x_of(v: f64, max: f64) -> f64 {
    let f = if max > 0.0 {
        (v / max).clamp(0.0, 1.0)
    } else {
        0.5
    };
    MARGIN + f * (WIDTH - 2.0 * MARGIN)
}

/// Opens an `<svg>` of height `h`, labelled for the pair `id`.
fn open(out: &mut String, id: usize, kind: &str, h: f64, title: &str) {
    let _ = write!(
        out,
        "<svg class=\"plot {kind}\" data-pair=\"{id}\" viewBox=\"0 0 {WIDTH} {h}\" role=\"img\" \
         aria-label=\"{t}\"><title>{t}</title>",
        t = escape(title)
    );
}

/// A text element.
fn text(out: &mut String, x: f64, y: f64, anchor: &str, s: &str) {
    let _ = write!(
        out,
        "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\">{}</text>",
        escape(s)
    );
}

/// The pair's timeline: beat starts of its latest beacon alert, else the
/// times of its alerts.
pub fn timeline(out: &mut String, id: usize, p: &Pair) {
    let (times, what): (Vec<f64>, &str) = match &p.beacon {
        Some(b) if !b.beat_times.is_empty() => (b.beat_times.clone(), "beats"),
        _ => {
            let t0 = p.alert_times.first().map_or(0.0, |t| t.as_secs_f64());
            (
                p.alert_times.iter().map(|t| t.as_secs_f64() - t0).collect(),
                "alerts",
            )
        }
    };
    let start = match &p.beacon {
        Some(b) if what == "beats" => {
            let last = times.last().copied().unwrap_or(0.0);
            Some(Timestamp(
                b.at.0.saturating_sub((last * 1e9).round() as u64),
            ))
        }
        _ => p.alert_times.first().copied(),
    };
    let span = times.last().copied().unwrap_or(0.0);
    let title = format!(
        "Timeline of {} {what} of {} to {}",
        times.len(),
        p.client,
        p.name
    );
    open(out, id, "timeline", 80.0, &title);
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{MARGIN}\" y1=\"50\" x2=\"{:.1}\" y2=\"50\"/>",
        WIDTH - MARGIN
    );
    for &t in &times {
        let x = x_of(t, span);
        if what == "beats" {
            let _ = write!(
                out,
                "<line class=\"beat\" x1=\"{x:.1}\" y1=\"18\" x2=\"{x:.1}\" y2=\"50\"/>"
            );
        } else {
            let _ = write!(
                out,
                "<circle class=\"hit\" cx=\"{x:.1}\" cy=\"34\" r=\"4\"/>"
            );
        }
    }
    if let Some(s) = start {
        text(out, MARGIN, 68.0, "start", &timestamp_text(s));
        let end = Timestamp(s.0.saturating_add((span * 1e9).round() as u64));
        text(out, WIDTH - MARGIN, 68.0, "end", &timestamp_text(end));
    }
    text(
        out,
        WIDTH / 2.0,
        12.0,
        "middle",
        &format!("{} {what} over {}", times.len(), duration(span)),
    );
    out.push_str("</svg>");
}

/// The histogram of a beacon's intervals, with its band and period.
pub fn histogram(out: &mut String, id: usize, p: &Pair, b: &Beacon) {
    let intervals = b.intervals();
    let title = format!("Intervals between the beats of {} to {}", p.client, p.name);
    open(out, id, "histogram", 170.0, &title);
    let band_hi = b.band_secs.map_or(0.0, |(_, hi)| hi);
    let longest = intervals.iter().copied().fold(0.0f64, f64::max);
    let max = (longest.max(band_hi).max(b.period_secs.unwrap_or(0.0)) * 1.1).max(1.0);
    let (top, bottom) = (20.0, 140.0);
    if let Some((lo, hi)) = b.band_secs {
        let (x0, x1) = (x_of(lo, max), x_of(hi, max));
        let _ = write!(
            out,
            "<rect class=\"band\" x=\"{x0:.1}\" y=\"{top}\" width=\"{:.1}\" height=\"{:.1}\"/>",
            (x1 - x0).max(1.0),
            bottom - top
        );
    }
    let mut bins = [0u32; BINS];
    for &i in &intervals {
        let k = ((i / max) * BINS as f64) as usize;
        bins[k.min(BINS - 1)] += 1;
    }
    let most = bins.iter().copied().max().unwrap_or(0).max(1);
    let bin_w = (WIDTH - 2.0 * MARGIN) / BINS as f64;
    for (k, &n) in bins.iter().enumerate() {
        if n == 0 {
            continue;
        }
        let h = (bottom - top) * f64::from(n) / f64::from(most);
        let _ = write!(
            out,
            "<rect class=\"bar\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\"><title>{n}</title></rect>",
            MARGIN + k as f64 * bin_w + 0.5,
            bottom - h,
            (bin_w - 1.0).max(0.5)
        );
    }
    if let Some(period) = b.period_secs {
        let x = x_of(period, max);
        let _ = write!(
            out,
            "<line class=\"period\" x1=\"{x:.1}\" y1=\"{top}\" x2=\"{x:.1}\" y2=\"{bottom}\"/>"
        );
    }
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{MARGIN}\" y1=\"{bottom}\" x2=\"{:.1}\" y2=\"{bottom}\"/>",
        WIDTH - MARGIN
    );
    text(out, MARGIN, 156.0, "start", "0");
    text(out, WIDTH / 2.0, 156.0, "middle", &duration(max / 2.0));
    text(out, WIDTH - MARGIN, 156.0, "end", &duration(max));
    text(out, MARGIN - 4.0, top + 8.0, "end", &most.to_string());
    let mut legend = format!("{} intervals", intervals.len());
    if let Some(period) = b.period_secs {
        legend += &format!("; period {}", duration(period));
    }
    if let Some((lo, hi)) = b.band_secs {
        legend += &format!("; band {} to {}", duration(lo), duration(hi));
    }
    if let Some(j) = b.jitter {
        legend += &format!("; jitter {:.0} %", j * 100.0);
    }
    text(out, WIDTH / 2.0, 12.0, "middle", &legend);
    out.push_str("</svg>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_escape_names_and_place_marks_on_the_plot() {
        let p = Pair {
            client: "10.0.0.1".into(),
            name: "<script>x</script>".into(),
            beacon: Some(Beacon {
                at: Timestamp(1_000_000_000_000),
                beat_times: vec![0.0, 30.0, 61.0, 90.0],
                period_secs: Some(30.0),
                band_secs: Some((29.0, 31.0)),
                jitter: Some(0.06),
                periodicity: Some(0.99),
                beats: Some(4),
                connections: Some(4),
            }),
            ..Pair::default()
        };
        let mut s = String::new();
        timeline(&mut s, 3, &p);
        histogram(&mut s, 3, &p, p.beacon.as_ref().unwrap());
        assert!(!s.contains("<script>"));
        assert!(s.contains("&lt;script&gt;"));
        assert_eq!(s.matches("class=\"beat\"").count(), 4);
        assert_eq!(s.matches("data-pair=\"3\"").count(), 2);
        // Three intervals in one or two bins, a band and a period line.
        assert_eq!(s.matches("class=\"period\"").count(), 1);
        assert_eq!(s.matches("class=\"band\"").count(), 1);
        let bars: u32 = s
            .match_indices("<title>")
            .filter_map(|(i, _)| s[i + 7..].split('<').next()?.parse::<u32>().ok())
            .sum();
        assert_eq!(bars, 3, "bar counts: {s}");
        // The timeline starts 90 s before the alert.
        assert!(s.contains(&timestamp_text(Timestamp(910_000_000_000))));
        // Alerts only: one dot per alert.
        let q = Pair {
            alert_times: vec![Timestamp(5), Timestamp(9)],
            ..Pair::default()
        };
        let mut s = String::new();
        timeline(&mut s, 0, &q);
        assert_eq!(s.matches("class=\"hit\"").count(), 2);
        assert_eq!(duration(90.0), "90.0 s");
        assert_eq!(duration(3600.0), "60.0 min");
        assert_eq!(duration(f64::NAN), "?");
    }
}
