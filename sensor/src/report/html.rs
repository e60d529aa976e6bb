//! The report page: one self-contained HTML document (inline CSS, inline
//! SVG, one small inline script that sorts the table), under its own strict
//! Content-Security-Policy: nothing may load, and only the page's own style
//! and script run (allowed by their SHA-256 hashes). Without script the page
//! reads the same; only sorting needs it. Printable: sections do not break
//! inside a pair, and links print as plain text.

use super::escape;
use super::model::{Model, Pair, MAX_PAIRS};
use super::svg;
use crate::eve::timestamp_text;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Pairs given a section with their pictures and evidence (the table lists
/// every pair kept); the most serious first.
pub const MAX_DETAILED: usize = 1_000;

/// Top pairs in the summary.
const TOP_PAIRS: usize = 10;

/// The page's style sheet.
const CSS: &str = "\
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1a1a1a;background:#fff;margin:0 auto;max-width:1280px;padding:1.5em}
h1{font-size:1.6em;margin:0 0 .2em}h2{border-bottom:2px solid #1f4e79;padding-bottom:.2em;margin-top:2em}
h3{font-size:1.1em;margin:.2em 0 .5em;word-break:break-all}
table{border-collapse:collapse;margin:.5em 0 1em}th,td{border:1px solid #c8c8c8;padding:.25em .55em;text-align:left;vertical-align:top}
th{background:#eef2f7}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}td.nw{white-space:nowrap}
.sortable{font-size:.9em}
th button{font:inherit;font-weight:bold;background:none;border:0;padding:0;cursor:pointer;color:#1a1a1a}
th[aria-sort=ascending] button::after{content:' \\25B2'}th[aria-sort=descending] button::after{content:' \\25BC'}
.grid{display:flex;flex-wrap:wrap;align-items:flex-start;gap:0 2em}.wide{overflow-x:auto}.muted{color:#555}
.sev1{color:#9b1c1c;font-weight:bold}.sev2{color:#8a4b00;font-weight:bold}.sev3{color:#1f4e79}
article.pair{border:1px solid #c8c8c8;border-radius:6px;padding:.8em 1em;margin:1em 0;break-inside:avoid;page-break-inside:avoid}
svg.plot{display:block;width:100%;height:auto;max-width:720px;margin:.3em 0;font-size:11px;fill:#1a1a1a}
svg .axis{stroke:#555;stroke-width:1}svg .beat{stroke:#1f4e79;stroke-width:2}svg .hit{fill:#9b1c1c}
svg .bar{fill:#4a7ebb}svg .band{fill:#ffe08a;opacity:.7}svg .period{stroke:#9b1c1c;stroke-width:2;stroke-dasharray:5 3}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.15em 1em;margin:.5em 0}dt{font-weight:bold}dd{margin:0;word-break:break-all}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.92em}
a{color:#1f4e79}
@media print{body{max-width:none;padding:0;font-size:11pt}.wide{overflow:visible}.sortable{font-size:8pt}a{color:inherit;text-decoration:none}th button::after{content:''}h2{break-after:avoid}}
";

/// The table sorter: a click on a column header sorts the rows by the
/// cells' `data-v` (numbers when the header says so), again to reverse; a
/// link ending in `#sort=N` (or `#sort=N-desc`) opens the page sorted by
/// column N (from 0). Then it marks the document `data-ready="styled"` when
/// the style sheet applies (`unstyled` otherwise), so a test can see that the
/// page's policy lets both its script and its style run.
const SCRIPT: &str = "\
function sortBy(th,asc){\
var tb=th.closest('table').tBodies[0],col=th.cellIndex,num=th.dataset.k==='n';\
th.parentNode.querySelectorAll('th').forEach(function(h){h.removeAttribute('aria-sort')});\
th.setAttribute('aria-sort',asc?'ascending':'descending');\
var rows=Array.prototype.slice.call(tb.rows);\
rows.sort(function(r,s){var x=r.cells[col].dataset.v,y=s.cells[col].dataset.v,\
c=num?(parseFloat(x)-parseFloat(y)):x.localeCompare(y);return asc?c:-c});\
rows.forEach(function(r){tb.appendChild(r)})}\
document.querySelectorAll('th[data-k] button').forEach(function(b){b.addEventListener('click',function(){\
var th=b.parentNode;sortBy(th,th.getAttribute('aria-sort')!=='ascending')})});\
var m=/^#sort=([0-9]+)(-desc)?$/.exec(location.hash);\
if(m){var th=document.querySelectorAll('table.sortable th')[+m[1]];if(th){sortBy(th,!m[2])}}\
document.documentElement.setAttribute('data-ready',\
getComputedStyle(document.body).maxWidth==='1280px'?'styled':'unstyled');";

/// `sha256-…` of a text, for a CSP source list.
fn csp_hash(text: &str) -> String {
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
    )
}

/// The page's Content-Security-Policy.
pub fn content_security_policy() -> String {
    format!(
        "default-src 'none'; style-src {}; script-src {}; base-uri 'none'; form-action 'none'",
        csp_hash(CSS),
        csp_hash(SCRIPT)
    )
}

/// Renders the page.
pub fn render(m: &Model) -> String {
    let pairs = m.ranked_pairs();
    let mut out = String::with_capacity(64 * 1024 + pairs.len() * 600);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\">\
         <title>virga report</title><style>{CSS}</style></head><body>\n",
        escape(&content_security_policy())
    );
    header(&mut out, m, pairs.len());
    summary(&mut out, m, &pairs);
    table(&mut out, &pairs);
    details(&mut out, &pairs);
    notes(&mut out, m);
    let _ = writeln!(out, "<script>{SCRIPT}</script></body></html>");
    out
}

fn header(out: &mut String, m: &Model, n_pairs: usize) {
    let _ = write!(
        out,
        "<header><h1>virga report</h1><p>{} alert{} about {} pair{} (client, server name), from {} EVE \
         file{} ({} lines).",
        m.read.alerts,
        plural(m.read.alerts),
        n_pairs,
        plural(n_pairs as u64),
        m.files,
        plural(m.files),
        m.read.lines
    );
    if let Some((lo, hi)) = m.span {
        let _ = write!(
            out,
            " Alerts from {} to {} (packet time, UTC; {}).",
            timestamp_text(lo),
            timestamp_text(hi),
            svg::duration(hi.as_secs_f64() - lo.as_secs_f64())
        );
    }
    out.push_str("</p></header>\n");
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// A two-column count table, largest count first (or in key order).
fn count_table(out: &mut String, title: &str, rows: &BTreeMap<String, u64>, by_key: bool) {
    let _ = write!(
        out,
        "<table><thead><tr><th>{}</th><th>alerts</th></tr></thead><tbody>",
        escape(title)
    );
    let mut rows: Vec<(&String, &u64)> = rows.iter().collect();
    if !by_key {
        rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    }
    for (k, n) in rows {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"n\">{n}</td></tr>",
            escape(k)
        );
    }
    out.push_str("</tbody></table>");
}

fn summary(out: &mut String, m: &Model, pairs: &[&Pair]) {
    out.push_str("<section id=\"summary\"><h2>Summary</h2><div class=\"grid\">");
    count_table(out, "detector", &m.by_detector, false);
    let sev: BTreeMap<String, u64> = m
        .by_severity
        .iter()
        .enumerate()
        .filter(|(_, &n)| n > 0)
        .map(|(s, &n)| {
            let k = if s == 0 {
                "other".to_owned()
            } else {
                s.to_string()
            };
            (k, n)
        })
        .collect();
    count_table(out, "severity", &sev, true);
    count_table(out, "platform", &m.by_platform, false);
    count_table(out, "sensor", &m.by_sensor, false);
    out.push_str(
        "</div><h3>Top pairs</h3><table><thead><tr><th>client</th><th>server name</th>\
                  <th>severity</th><th>score</th><th>alerts</th></tr></thead><tbody>",
    );
    for (i, p) in pairs.iter().take(TOP_PAIRS).enumerate() {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            link(i, &p.client),
            escape(&p.name),
            severity(p.severity),
            num(p.score, 3),
            p.alerts
        );
    }
    out.push_str("</tbody></table></section>\n");
}

/// The client address, linked to the pair's section when it has one.
fn link(i: usize, text: &str) -> String {
    if i < MAX_DETAILED {
        format!("<a href=\"#pair-{i}\">{}</a>", escape(text))
    } else {
        escape(text).into_owned()
    }
}

fn severity(s: u8) -> String {
    if s == 0 {
        "-".into()
    } else {
        format!("<span class=\"sev{s}\">{s}</span>")
    }
}

fn num(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.decimals$}"))
}

fn table(out: &mut String, pairs: &[&Pair]) {
    out.push_str(
        "<section id=\"pairs\"><h2>Pairs</h2><p class=\"muted\">Click a column header to sort.</p>\
         <div class=\"wide\"><table class=\"sortable\"><thead><tr>",
    );
    for (name, kind) in [
        ("client", "t"),
        ("server name", "t"),
        ("platform", "t"),
        ("detectors", "t"),
        ("severity", "n"),
        ("score", "n"),
        ("alerts", "n"),
        ("period", "n"),
        ("jitter", "n"),
        ("first seen", "t"),
        ("last seen", "t"),
    ] {
        let _ = write!(
            out,
            "<th data-k=\"{kind}\"><button type=\"button\">{name}</button></th>"
        );
    }
    out.push_str("</tr></thead><tbody>\n");
    for (i, p) in pairs.iter().enumerate() {
        let detectors = p.detectors.iter().cloned().collect::<Vec<_>>().join(", ");
        let b = p.beacon.as_ref();
        let period = b.and_then(|b| b.period_secs);
        let jitter = b.and_then(|b| b.jitter);
        let time = |t: Option<crate::time::Timestamp>| t.map_or_else(String::new, timestamp_text);
        let (fs, ls) = (time(p.first_seen), time(p.last_seen));
        let _ = writeln!(
            out,
            "<tr><td data-v=\"{i:06}\">{}</td><td data-v=\"{n}\">{n}</td><td data-v=\"{pl}\">{pl}</td>\
             <td data-v=\"{d}\">{d}</td><td class=\"n\" data-v=\"{sv}\">{}</td>\
             <td class=\"n\" data-v=\"{sc}\">{}</td><td class=\"n\" data-v=\"{al}\">{al}</td>\
             <td class=\"n\" data-v=\"{pv}\">{}</td><td class=\"n\" data-v=\"{jv}\">{}</td>\
             <td class=\"nw\" data-v=\"{fs}\">{}</td><td class=\"nw\" data-v=\"{ls}\">{}</td></tr>",
            link(i, &p.client),
            severity(p.severity),
            num(p.score, 3),
            period.map_or_else(|| "-".into(), svg::duration),
            jitter.map_or_else(|| "-".into(), |j| format!("{:.0} %", j * 100.0)),
            short_time(&fs),
            short_time(&ls),
            n = escape(&p.name),
            pl = escape(p.platform.as_deref().unwrap_or("")),
            d = escape(&detectors),
            sv = if p.severity == 0 { 9 } else { p.severity },
            sc = p.score.unwrap_or(-1.0),
            al = p.alerts,
            pv = period.unwrap_or(-1.0),
            jv = jitter.unwrap_or(-1.0),
        );
    }
    out.push_str("</tbody></table></div></section>\n");
}

/// An EVE time to the second, for a table cell (`2026-03-02 00:00:04`).
fn short_time(t: &str) -> String {
    t.get(..19).unwrap_or(t).replacen('T', " ", 1)
}

fn details(out: &mut String, pairs: &[&Pair]) {
    out.push_str("<section id=\"evidence\"><h2>Evidence per pair</h2>");
    if pairs.len() > MAX_DETAILED {
        let _ = write!(
            out,
            "<p class=\"muted\">The {MAX_DETAILED} most serious pairs are shown; the other {} are in \
             the table above.</p>",
            pairs.len() - MAX_DETAILED
        );
    }
    for (i, p) in pairs.iter().take(MAX_DETAILED).enumerate() {
        let _ = write!(
            out,
            "<article class=\"pair\" id=\"pair-{i}\"><h3>{} → {}</h3>",
            escape(&p.client),
            escape(&p.name)
        );
        svg::figure(out, i, p);
        out.push_str("<dl>");
        let mut row = |k: &str, v: String| {
            if !v.is_empty() {
                let _ = write!(out, "<dt>{k}</dt><dd>{v}</dd>");
            }
        };
        let list = |items: &mut dyn Iterator<Item = &String>| {
            items
                .map(|s| format!("<code>{}</code>", escape(s)))
                .collect::<Vec<_>>()
                .join(" ")
        };
        row(
            "severity, score",
            format!("{}, {}", severity(p.severity), num(p.score, 3)),
        );
        row("alerts", p.alerts.to_string());
        row("signatures", {
            let v: Vec<String> = p
                .signatures
                .iter()
                .map(|s| escape(s).into_owned())
                .collect();
            v.join("<br>")
        });
        row("detectors", list(&mut p.detectors.iter()));
        if let Some(b) = &p.beacon {
            let mut s = String::new();
            if let Some(n) = b.beats {
                let _ = write!(s, "{n} beats");
            }
            if let Some(n) = b.connections {
                let _ = write!(s, ", {n} connections");
            }
            if let Some(v) = b.periodicity {
                let _ = write!(s, ", periodicity {v:.3}");
            }
            if let Some(v) = b.period_secs {
                let _ = write!(s, ", period {}", svg::duration(v));
            }
            if let Some((lo, hi)) = b.band_secs {
                let _ = write!(s, ", band {} to {}", svg::duration(lo), svg::duration(hi));
            }
            if let Some(v) = b.jitter {
                let _ = write!(s, ", jitter {:.0} %", v * 100.0);
            }
            row("beacon", s);
        }
        row(
            "platform",
            escape(p.platform.as_deref().unwrap_or("")).into(),
        );
        row("server", escape(p.server.as_deref().unwrap_or("")).into());
        row(
            "name source",
            escape(p.name_source.as_deref().unwrap_or("")).into(),
        );
        row(
            "client class",
            escape(p.client_class.as_deref().unwrap_or("")).into(),
        );
        row("client reasons", list(&mut p.client_reasons.iter()));
        row(
            "JA4",
            p.ja4
                .as_deref()
                .map_or_else(String::new, |j| format!("<code>{}</code>", escape(j))),
        );
        row(
            "prevalence",
            p.prevalence.map_or_else(String::new, |n| {
                format!("{n} client{} of its class", plural(n))
            }),
        );
        row("DNS anomalies", list(&mut p.dns_kinds.iter()));
        let mut cids = list(&mut p.community_ids.iter());
        if p.more_community_ids > 0 {
            let _ = write!(cids, " and {} more", p.more_community_ids);
        }
        row("Community IDs", cids);
        row("sensors", list(&mut p.sensors.iter()));
        row(
            "first seen",
            p.first_seen.map_or_else(String::new, timestamp_text),
        );
        row(
            "last seen",
            p.last_seen.map_or_else(String::new, timestamp_text),
        );
        out.push_str("</dl></article>\n");
    }
    out.push_str("</section>\n");
}

fn notes(out: &mut String, m: &Model) {
    out.push_str("<footer><h2>Notes</h2><ul>");
    out.push_str(
        "<li>Times are packet times in UTC. A beacon's timeline shows the beats of its latest \
         alert (the detector's window, at most 64); the histogram, the intervals between them, \
         with the detected period (dashed line) and the fitted band of sleeps (shaded).</li>\
         <li>Community IDs match Zeek's <code>conn.log</code> (community-id package) and \
         Suricata's <code>community_id</code>.</li>",
    );
    if m.read.bad_lines + m.read.long_lines + m.untimed > 0 {
        let _ = write!(
            out,
            "<li>Skipped: {} unreadable alert line{} (not JSON, truncated, or a member of the \
             wrong type), {} line{} over the length limit; {} alert{} without a readable time.</li>",
            m.read.bad_lines,
            plural(m.read.bad_lines),
            m.read.long_lines,
            plural(m.read.long_lines),
            m.untimed,
            plural(m.untimed)
        );
    }
    if m.dropped_alerts > 0 {
        let _ = write!(
            out,
            "<li>{} alerts of pairs beyond the first {MAX_PAIRS} are counted in the summary but \
             not listed.</li>",
            m.dropped_alerts
        );
    }
    out.push_str("</ul></footer>\n");
}
