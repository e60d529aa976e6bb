//! virga-eval: replays each timeline of `shared/corpus/timelines` through
//! virga, with a configuration holding that truth file's allowlist, and
//! scores the alerts against the truth file's pairs.
//!
//! usage: virga-eval TIMELINES_DIR [--markdown] [--scope serverless|all] [--pcaps DIR]
//!
//! `--scope` sets `[detect.beacon] scope` (default `serverless`). Alerts on
//! pairs the truth file does not list (with `scope = "all"`: destinations
//! that are not serverless names) are counted apart as "other pairs".
//!
//! Per scenario: beacon pairs detected (any `beacon` alert on the pair),
//! benign pairs alerted (a false positive is any beacon alert, or any alert of
//! severity 1–2, on a benign pair), and beats-to-detect (connections of the
//! pair up to its first beacon alert). A pair matches an alert by client
//! address and by its server name or one of its DNS names.
#![forbid(unsafe_code)]

use serde_json::Value;
use sha2::Digest as _;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Scores virga's alerts against labelled timelines.
#[derive(clap::Parser)]
#[command(name = "virga-eval")]
struct Args {
    /// Directory of `*.truth.json` files.
    timelines: PathBuf,
    /// Print a Markdown table.
    #[arg(long)]
    markdown: bool,
    /// `[detect.beacon] scope` of the replays.
    #[arg(long, value_parser = ["serverless", "all"], default_value = "serverless")]
    scope: String,
    /// Directory holding the captures the truth files name (default: the
    /// timelines directory). A truth file with `source.sha256` is checked
    /// against its capture.
    #[arg(long, value_name = "DIR")]
    pcaps: Option<PathBuf>,
}

fn main() -> ExitCode {
    let a = <Args as clap::Parser>::parse();
    let pcaps = a.pcaps.clone().unwrap_or_else(|| a.timelines.clone());
    match run(&a.timelines, &pcaps, a.markdown, &a.scope) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("virga-eval: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Scores of one scenario.
#[derive(Default)]
struct Score {
    beacon_pairs: usize,
    detected: usize,
    beacon_pairs_j50: usize,
    detected_j50: usize,
    benign_pairs: usize,
    false_positives: Vec<String>,
    client_alerts_benign: usize,
    beats: Vec<usize>,
    missed: Vec<String>,
    /// Distinct (client, server name) of beacon alerts on pairs the truth
    /// file does not list.
    other_pairs: usize,
}

fn run(dir: &Path, pcaps: &Path, markdown: bool, scope: &str) -> anyhow::Result<()> {
    let mut truths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".truth.json"))
        .collect();
    truths.sort();
    let mut rows = Vec::new();
    for t in &truths {
        let truth: Value = serde_json::from_str(&std::fs::read_to_string(t)?)?;
        let pcap = pcaps.join(truth["pcap"].as_str().unwrap_or_default());
        if let Some(want) = truth["source"]["sha256"].as_str() {
            let bytes = std::fs::read(&pcap)
                .map_err(|e| anyhow::anyhow!("{}: {e} (see {})", pcap.display(), t.display()))?;
            let got = format!("{:x}", sha2::Sha256::digest(&bytes));
            anyhow::ensure!(
                got == want,
                "{}: sha256 {got}, {} names {want}",
                pcap.display(),
                t.display()
            );
        }
        let alerts = replay(&pcap, &truth, scope)?;
        let s = score(&truth, &alerts);
        rows.push((truth["scenario"].as_str().unwrap_or("?").to_string(), s));
    }
    print_table(&rows, markdown);
    Ok(())
}

/// Replays a timeline with its allowlist and returns the alert events.
fn replay(pcap: &Path, truth: &Value, scope: &str) -> anyhow::Result<Vec<Value>> {
    let mut toml = format!("[detect.beacon]\nscope = \"{scope}\"\n");
    for a in truth["allowlist"].as_array().into_iter().flatten() {
        toml.push_str("[[allowlist]]\n");
        if let Some(c) = a["client_ip"].as_str() {
            let prefix = if c.contains(':') { 128 } else { 32 };
            toml.push_str(&format!("client = \"{c}/{prefix}\"\n"));
        }
        if let Some(n) = a["server_name"].as_str() {
            toml.push_str(&format!("server_name = \"{n}\"\n"));
        }
        let reason = a["reason"].as_str().unwrap_or("truth allowlist");
        toml.push_str(&format!("reason = \"{reason}\"\n"));
    }
    let config =
        virga_config::from_str(&toml, "<truth allowlist>").map_err(|e| anyhow::anyhow!("{e}"))?;
    let out = std::env::temp_dir().join(format!("virga-eval-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&out);
    let opts = virga::replay::ReplayOptions {
        inputs: vec![pcap.to_string_lossy().into_owned()],
        output: virga::output::Target::File(out.to_string_lossy().into_owned()),
        log_all: false,
        config,
        workers: None,
        attribution: None,
    };
    virga::replay::run(&opts)?;
    let text = std::fs::read_to_string(&out)?;
    let _ = std::fs::remove_file(&out);
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event_type"] == "alert")
        .collect())
}

fn epoch_secs(ts: &str) -> f64 {
    // "YYYY-MM-DDTHH:MM:SS.ffffff+0000" → seconds since the epoch.
    let parse = |a: usize, b: usize| {
        ts.get(a..b)
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let (y, mo, d) = (parse(0, 4), parse(5, 7), parse(8, 10));
    let (h, mi) = (parse(11, 13), parse(14, 16));
    let s: f64 = ts.get(17..26).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    (days * 86_400 + h * 3600 + mi * 60) as f64 + s
}

fn score(truth: &Value, alerts: &[Value]) -> Score {
    let start = truth["start_epoch"].as_f64().unwrap_or(0.0);
    let actors: HashMap<u64, &Value> = truth["actors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["actor"].as_u64().map(|i| (i, a)))
        .collect();
    let mut s = Score::default();
    let mut listed = std::collections::HashSet::new();
    for p in truth["pairs"].as_array().into_iter().flatten() {
        let client = p["client_ip"].as_str().unwrap_or_default();
        let mut names: Vec<&str> = p["dns_names"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if let Some(n) = p["server_name"].as_str().filter(|n| !n.is_empty()) {
            names.push(n);
        }
        for n in &names {
            listed.insert((client.to_string(), n.to_string()));
        }
        let matching: Vec<&Value> = alerts
            .iter()
            .filter(|a| a["src_ip"] == client)
            .filter(|a| {
                let n = a["alert"]["context"]["virga"]["server_name"]
                    .as_str()
                    .unwrap_or_default();
                names.contains(&n)
            })
            .collect();
        let beacon_alerts: Vec<&&Value> = matching
            .iter()
            .filter(|a| a["alert"]["context"]["virga"]["detector"] == "beacon")
            .collect();
        let label = p["label"].as_str().unwrap_or_default();
        let key = format!("{client} → {}", names.last().unwrap_or(&"?"));
        if label == "beacon" {
            let jitter = p["actors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i.as_u64().and_then(|i| actors.get(&i)))
                .filter_map(|a| a["jitter"].as_f64())
                .fold(0.0f64, f64::max);
            s.beacon_pairs += 1;
            let j50 = jitter <= 0.5 + 1e-9;
            if j50 {
                s.beacon_pairs_j50 += 1;
            }
            if let Some(first) = beacon_alerts
                .iter()
                .map(|a| epoch_secs(a["timestamp"].as_str().unwrap_or_default()))
                .min_by(|a, b| a.total_cmp(b))
            {
                s.detected += 1;
                if j50 {
                    s.detected_j50 += 1;
                }
                let mut times: Vec<f64> = p["actors"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|i| i.as_u64().and_then(|i| actors.get(&i)))
                    .flat_map(|a| a["event_times_s"].as_array().cloned().unwrap_or_default())
                    .filter_map(|t| t.as_f64())
                    .map(|t| t + start)
                    .collect();
                times.sort_by(f64::total_cmp);
                // Truth files without beat times (third-party captures)
                // leave beats-to-detect out.
                if !times.is_empty() {
                    s.beats
                        .push(times.iter().filter(|t| **t <= first + 1e-3).count());
                }
            } else {
                s.missed.push(key);
            }
        } else {
            s.benign_pairs += 1;
            let fp = !beacon_alerts.is_empty()
                || matching
                    .iter()
                    .any(|a| a["alert"]["severity"].as_u64().unwrap_or(3) <= 2);
            if fp {
                s.false_positives.push(key);
            }
            if matching
                .iter()
                .any(|a| a["alert"]["context"]["virga"]["detector"] == "client")
            {
                s.client_alerts_benign += 1;
            }
        }
    }
    let others: std::collections::HashSet<(String, String)> = alerts
        .iter()
        .filter(|a| a["alert"]["context"]["virga"]["detector"] == "beacon")
        .map(|a| {
            let client = a["src_ip"].as_str().unwrap_or_default().to_string();
            let name = a["alert"]["context"]["virga"]["server_name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            (client, name)
        })
        .filter(|k| !listed.contains(k))
        .collect();
    s.other_pairs = others.len();
    s
}

fn median(v: &[usize]) -> String {
    if v.is_empty() {
        return "-".into();
    }
    let mut v = v.to_vec();
    v.sort_unstable();
    v[v.len() / 2].to_string()
}

fn print_table(rows: &[(String, Score)], markdown: bool) {
    let header = [
        "scenario",
        "beacon pairs",
        "detected",
        "recall (j≤50%)",
        "benign pairs",
        "false positives",
        "benign w/ client alert",
        "median beats-to-detect",
        "other pairs alerted",
    ];
    if markdown {
        println!("| {} |", header.join(" | "));
        println!(
            "|{}|",
            header.iter().map(|_| "---").collect::<Vec<_>>().join("|")
        );
    } else {
        println!("{}", header.join("\t"));
    }
    let (mut bp, mut det, mut bp50, mut det50, mut ben, mut fp) = (0, 0, 0, 0, 0, 0);
    let mut other = 0;
    let mut all_beats = Vec::new();
    for (name, s) in rows {
        let recall = if s.beacon_pairs_j50 == 0 {
            1.0
        } else {
            s.detected_j50 as f64 / s.beacon_pairs_j50 as f64
        };
        let cells = [
            name.clone(),
            s.beacon_pairs.to_string(),
            s.detected.to_string(),
            format!("{recall:.2}"),
            s.benign_pairs.to_string(),
            s.false_positives.len().to_string(),
            s.client_alerts_benign.to_string(),
            median(&s.beats),
            s.other_pairs.to_string(),
        ];
        if markdown {
            println!("| {} |", cells.join(" | "));
        } else {
            println!("{}", cells.join("\t"));
        }
        bp += s.beacon_pairs;
        det += s.detected;
        bp50 += s.beacon_pairs_j50;
        det50 += s.detected_j50;
        ben += s.benign_pairs;
        fp += s.false_positives.len();
        all_beats.extend(&s.beats);
        other += s.other_pairs;
    }
    let recall = if bp50 == 0 {
        1.0
    } else {
        det50 as f64 / bp50 as f64
    };
    println!(
        "\ntotal: beacon pairs {bp}, detected {det}, recall (jitter ≤ 50 %) {recall:.3}, benign pairs {ben}, false positives {fp}, median beats-to-detect {}, other pairs alerted {other}",
        median(&all_beats)
    );
    for (name, s) in rows {
        for m in &s.missed {
            println!("missed   {name}: {m}");
        }
        for f in &s.false_positives {
            println!("false+   {name}: {f}");
        }
    }
}
