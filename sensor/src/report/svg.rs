//! The picture of a pair, as one inline SVG ([`figure`]): its timeline
//! (beats, or alerts when it has no beacon evidence) and, for a beacon, the
//! histogram of its intervals with the detected period and jitter band below.
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
    x_in(v, 0.0, max)
}

/// `x` of a value in `[min, max]` on the plot area.
fn x_in(v: f64, min: f64, max: f64) -> f64 {
    let f = if max > min {
        ((v - min) / (max - min)).clamp(0.0, 1.0)
    } else {
        0.5
    };
    MARGIN + f * (WIDTH - 2.0 * MARGIN)
}

/// Height of the timeline panel.
const TIMELINE_H: f64 = 80.0;
/// Height of the histogram panel.
const HISTOGRAM_H: f64 = 170.0;

/// Opens a panel: a group `kind` moved down by `y`, with its own title.
fn open(out: &mut String, kind: &str, y: f64, title: &str) {
    let _ = write!(
        out,
        "<g class=\"{kind}\" transform=\"translate(0,{y})\"><title>{}</title>",
        escape(title)
    );
}

/// The pair's figure: one `<svg>` (marked `data-pair="{id}"`) holding its
/// timeline and, when it has beacon evidence with intervals, the histogram.
pub fn figure(out: &mut String, id: usize, p: &Pair) {
    let beacon = p.beacon.as_ref().filter(|b| b.beat_times.len() >= 2);
    let h = TIMELINE_H + beacon.map_or(0.0, |_| HISTOGRAM_H);
    let what = if beacon.is_some() {
        "Beat timeline and intervals"
    } else {
        "Alert timeline"
    };
    let _ = write!(
        out,
        "<svg class=\"plot\" data-pair=\"{id}\" viewBox=\"0 0 {WIDTH} {h}\" role=\"img\" \
         aria-label=\"{t}\">",
        t = escape(&format!("{what} of {} to {}", p.client, p.name))
    );
    timeline(out, p);
    if let Some(b) = beacon {
        histogram(out, TIMELINE_H, p, b);
    }
    out.push_str("</svg>");
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
fn timeline(out: &mut String, p: &Pair) {
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
    open(out, "timeline", 0.0, &title);
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
        &format!(
            "{} {} over {}",
            times.len(),
            if times.len() == 1 {
                what.trim_end_matches('s')
            } else {
                what
            },
            duration(span)
        ),
    );
    out.push_str("</g>");
}

/// The histogram of a beacon's intervals, with its band and period.
fn histogram(out: &mut String, y: f64, p: &Pair, b: &Beacon) {
    let intervals = b.intervals();
    let title = format!("Intervals between the beats of {} to {}", p.client, p.name);
    open(out, "histogram", y, &title);
    // The range: every interval, the band and the period, with a margin,
    // so the spread of a jittered sleep is visible (0 when it is near).
    let marks = intervals
        .iter()
        .copied()
        .chain(b.band_secs.into_iter().flat_map(|(lo, hi)| [lo, hi]))
        .chain(b.period_secs);
    let (lo_v, hi_v) = marks.fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let lo_v = lo_v.min(hi_v);
    let pad = ((hi_v - lo_v) * 0.15).max(hi_v * 0.05).max(0.5);
    let min = if lo_v - pad < hi_v * 0.25 {
        0.0
    } else {
        lo_v - pad
    };
    let max = hi_v + pad;
    let (top, bottom) = (20.0, 140.0);
    if let Some((lo, hi)) = b.band_secs {
        let (x0, x1) = (x_in(lo, min, max), x_in(hi, min, max));
        let _ = write!(
            out,
            "<rect class=\"band\" x=\"{x0:.1}\" y=\"{top}\" width=\"{:.1}\" height=\"{:.1}\"/>",
            (x1 - x0).max(1.0),
            bottom - top
        );
    }
    let mut bins = [0u32; BINS];
    for &i in &intervals {
        let k = (((i - min) / (max - min)).max(0.0) * BINS as f64) as usize;
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
        let x = x_in(period, min, max);
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
    let start = if min > 0.0 { duration(min) } else { "0".into() };
    text(out, MARGIN, 156.0, "start", &start);
    text(
        out,
        WIDTH / 2.0,
        156.0,
        "middle",
        &duration((min + max) / 2.0),
    );
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
    out.push_str("</g>");
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
        figure(&mut s, 3, &p);
        assert_eq!(s.matches("<svg").count(), 1);
        assert!(s.contains("<g class=\"timeline\"") && s.contains("<g class=\"histogram\""));
        assert!(!s.contains("<script>"));
        assert!(s.contains("&lt;script&gt;"));
        assert_eq!(s.matches("class=\"beat\"").count(), 4);
        assert_eq!(s.matches("data-pair=\"3\"").count(), 1);
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
        figure(&mut s, 0, &q);
        assert_eq!(s.matches("class=\"hit\"").count(), 2);
        assert!(!s.contains("histogram"));
        assert_eq!(duration(90.0), "90.0 s");
        assert_eq!(duration(3600.0), "60.0 min");
        assert_eq!(duration(f64::NAN), "?");
    }
}
