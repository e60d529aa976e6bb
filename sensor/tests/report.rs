//! `virga report` end to end: the command line's shape and errors, and the
//! report of a real timeline's alerts as a person sees it — rendered by
//! headless Chromium, which must show a non-blank page, one figure per
//! alerted pair (its timeline, and a histogram for a beaconing pair), run the page's own
//! script and style under its Content-Security-Policy, and log nothing to the
//! console. The page must name no external resource.
//!
//! The Chromium test needs `chromium` (Debian's package; `scripts/dev.sh
//! setup` installs it): without it the test is skipped with a note, except
//! when `CI` is set, where it fails.

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const VIRGA: &str = env!("CARGO_BIN_EXE_virga");

fn virga_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(VIRGA)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run virga")
}

fn fresh_dir(name: &str) -> PathBuf {
    let d = temp(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The default output name, `-o`, and one clear error with exit 2 for a bad
/// invocation.
#[test]
fn report_command_line() {
    let dir = fresh_dir("report-cli");
    let eve = dir.join("eve.json");
    let lines = replay_lines(&[pcap("sample.pcap")], true);
    std::fs::write(&eve, lines.join("\n") + "\n").unwrap();
    let eve_s = eve.to_str().unwrap();

    let o = virga_in(&dir, &["report", eve_s]);
    assert!(o.status.success(), "{o:?}");
    let page = std::fs::read_to_string(dir.join("virga-report.html")).expect("default output");
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(
        page.contains(&format!("({} lines)", lines.len())),
        "line count shown"
    );

    let o = virga_in(&dir, &["report", "-o", "r.html", eve_s, eve_s]);
    assert!(o.status.success(), "{o:?}");
    assert!(std::fs::read_to_string(dir.join("r.html"))
        .unwrap()
        .contains("from 2 EVE files"));

    for (args, says) in [
        (vec!["report"], "required"),
        (
            vec!["report", "missing.json"],
            "missing.json: cannot open EVE file",
        ),
        (
            vec!["report", "-o", "no/such/dir/r.html", eve_s],
            "cannot write the report",
        ),
        (vec!["report", "--bogus", eve_s], "unexpected argument"),
        (
            vec!["report", "-o", eve_s, eve_s],
            "would overwrite an EVE file it reads",
        ),
    ] {
        let o = virga_in(&dir, &args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        // virga's own errors are one line (clap's usage errors add a hint).
        if !matches!(says, "required" | "unexpected argument") {
            assert_eq!(err.lines().count(), 1, "{err}");
        }
    }
    // The input survived the attempt to overwrite it.
    assert_eq!(
        std::fs::read_to_string(&eve).unwrap().lines().count(),
        lines.len()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What a page may not contain: anything that loads or links outside it.
fn external_references(page: &str) -> Vec<&'static str> {
    let lower = page.to_ascii_lowercase();
    [
        "http:", "https:", "src=", "<link", "url(", "@import", "<iframe", "<object", "<embed",
        "<img", "//cdn", "ftp:",
    ]
    .into_iter()
    .filter(|p| lower.contains(p))
    .collect()
}

/// The first Chromium on PATH.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|b| std::env::split_paths(&path).map(move |d| d.join(b)))
        .find(|p| p.is_file())
}

/// Runs headless Chromium on `page` with `args`; stdout and stderr.
fn run_chromium(bin: &Path, profile: &Path, page: &Path, args: &[&str]) -> (String, String) {
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    // Read the pipes while waiting, so a large DOM cannot block it.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut so, &mut s).ok();
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut se, &mut s).ok();
        s
    });
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (out.join().unwrap(), err.join().unwrap())
}

/// Console messages the page logged (Chromium writes them as `:CONSOLE`).
fn console_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains(":CONSOLE")).collect()
}

/// Share of pixels that are not near-white, and whether the bars' blue
/// (#4a7ebb) is drawn.
fn png_ink(path: &Path) -> (f64, bool) {
    let decoder = png::Decoder::new(std::fs::File::open(path).expect("screenshot"));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let px = &buf[..info.buffer_size()];
    let (mut ink, mut blue, mut n) = (0u64, false, 0u64);
    for p in px.chunks_exact(channels) {
        n += 1;
        if p[..3].iter().any(|&c| c < 235) {
            ink += 1;
        }
        let near = |c: u8, want: u8| c.abs_diff(want) <= 16;
        blue |= near(p[0], 0x4a) && near(p[1], 0x7e) && near(p[2], 0xbb);
    }
    (ink as f64 / n.max(1) as f64, blue)
}

#[test]
fn report_of_a_timeline_renders_in_chromium() {
    let Some(shared) = shared() else {
        eprintln!(
            "note: ../shared absent: the report render test needs a corpus timeline; skipped"
        );
        return;
    };
    let dir = fresh_dir("report-render");
    let pcap = shared.join("corpus/timelines/dev_beacon_fast_6h.pcap");
    let eve = dir.join("eve.json");
    let o = Command::new(VIRGA)
        .args(["replay", "-o"])
        .arg(&eve)
        .arg(&pcap)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");

    // The alerted pairs, and which of them beacon, from the EVE itself.
    let mut pairs: BTreeMap<(String, String), bool> = BTreeMap::new();
    for l in std::fs::read_to_string(&eve).unwrap().lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        if v["event_type"] != "alert" {
            continue;
        }
        let ctx = &v["alert"]["context"]["virga"];
        let key = (
            v["src_ip"].as_str().unwrap().to_owned(),
            ctx["server_name"].as_str().unwrap().to_owned(),
        );
        *pairs.entry(key).or_default() |= ctx["detector"] == "beacon";
    }
    assert!(
        pairs.values().filter(|&&b| b).count() >= 4,
        "the timeline has beacons: {pairs:?}"
    );

    let html = dir.join("report.html");
    let o = Command::new(VIRGA)
        .args(["report", "-o"])
        .arg(&html)
        .arg(&eve)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let page = std::fs::read_to_string(&html).unwrap();
    let external = external_references(&page);
    assert!(external.is_empty(), "external references: {external:?}");
    assert!(page
        .contains("http-equiv=\"Content-Security-Policy\" content=\"default-src &#x27;none&#x27;"));
    assert_eq!(page.matches("<script").count(), 1);
    // The check can fail: an image from elsewhere is caught.
    assert_eq!(
        external_references("<img src=\"https://example.org/a.png\">"),
        ["https:", "src=", "<img"]
    );

    let Some(bin) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but chromium is not installed (scripts/dev.sh setup installs it)"
        );
        eprintln!("note: chromium not installed: the render part of the report test skipped");
        std::fs::remove_dir_all(&dir).unwrap();
        return;
    };
    let profile = dir.join("profile");

    // The DOM Chromium built: one article per pair, with its pictures, and
    // the page's script ran with its style applied.
    let (dom, log) = run_chromium(&bin, &profile, &html, &["--dump-dom"]);
    assert!(
        dom.contains("data-ready=\"styled\""),
        "script or style blocked: {log}"
    );
    assert_eq!(console_lines(&log), Vec::<&str>::new(), "console messages");
    let articles: Vec<&str> = dom.split("<article").skip(1).collect();
    assert_eq!(articles.len(), pairs.len(), "one section per alerted pair");
    let mut seen = BTreeSet::new();
    for ((client, name), beacon) in &pairs {
        let head = format!("<h3>{client} → {name}</h3>");
        let a = articles
            .iter()
            .find(|a| a.contains(&head))
            .unwrap_or_else(|| panic!("no section for {client} → {name}"));
        assert_eq!(a.matches("<svg").count(), 1, "{head}: one figure");
        assert_eq!(a.matches("<g class=\"timeline\"").count(), 1, "{head}");
        let hist = a.matches("<g class=\"histogram\"").count();
        assert_eq!(hist, usize::from(*beacon), "{head}");
        if *beacon {
            assert!(
                a.matches("class=\"beat\"").count() >= 3,
                "{head}: beats drawn"
            );
            assert!(a.contains("class=\"period\"") && a.contains("class=\"band\""));
        }
        seen.insert(head);
    }
    assert_eq!(seen.len(), pairs.len());
    assert_eq!(
        dom.matches("<svg").count(),
        pairs.len(),
        "one plot per pair"
    );

    // The table sorts: by period (column 7), up and down, through the
    // page's `#sort=` link.
    let periods = |dom: &str| -> Vec<f64> {
        let table = dom
            .split("class=\"sortable\"")
            .nth(1)
            .expect("the pairs table");
        let body = table.split("<tbody>").nth(1).unwrap();
        let body = body.split("</tbody>").next().unwrap();
        body.split("<tr>")
            .skip(1)
            .map(|row| {
                let cell = row.split("<td").nth(8).expect("a period cell");
                let v = cell.split("data-v=\"").nth(1).unwrap();
                v[..v.find('"').unwrap()].parse().unwrap()
            })
            .collect()
    };
    let shown = periods(&dom);
    assert_eq!(shown.len(), pairs.len());
    let mut up = shown.clone();
    up.sort_by(f64::total_cmp);
    assert_ne!(shown, up, "the corpus order is not already by period");
    let sorted_page = dir.join("report.html#sort=7");
    let (dom, _) = run_chromium(&bin, &profile, &sorted_page, &["--dump-dom"]);
    assert_eq!(periods(&dom), up);
    let sorted_page = dir.join("report.html#sort=7-desc");
    let (dom, _) = run_chromium(&bin, &profile, &sorted_page, &["--dump-dom"]);
    up.reverse();
    assert_eq!(periods(&dom), up);

    // The check can fail: with a wrong script hash the policy blocks the
    // script and the page is not marked.
    let tampered = dir.join("tampered.html");
    std::fs::write(
        &tampered,
        page.replacen("script-src &#x27;sha256-", "script-src &#x27;sha256-A", 1),
    )
    .unwrap();
    let (dom, _) = run_chromium(&bin, &profile, &tampered, &["--dump-dom"]);
    assert!(
        !dom.contains("data-ready="),
        "a blocked script must not run"
    );

    // What a person sees: a page with text and drawn bars, not blank.
    let shot = dir.join("report.png");
    let (_, log) = run_chromium(
        &bin,
        &profile,
        &html,
        &[
            "--window-size=1200,2400",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    assert_eq!(console_lines(&log), Vec::<&str>::new(), "console messages");
    let (ink, blue) = png_ink(&shot);
    eprintln!(
        "report screenshot: {:.1} % ink, bars drawn: {blue}",
        ink * 100.0
    );
    assert!(
        ink > 0.03,
        "the page looks blank ({:.2} % ink)",
        ink * 100.0
    );
    assert!(blue, "no histogram bar visible");

    // Printable: Chromium prints it to a PDF of several pages.
    let pdf = dir.join("report.pdf");
    run_chromium(
        &bin,
        &profile,
        &html,
        &[
            "--no-pdf-header-footer",
            &format!("--print-to-pdf={}", pdf.display()),
        ],
    );
    let pdf = std::fs::read(&pdf).expect("a printed PDF");
    let count = |needle: &[u8]| pdf.windows(needle.len()).filter(|w| *w == needle).count();
    let pages = count(b"/Type /Page") - count(b"/Type /Pages");
    assert!(pdf.starts_with(b"%PDF-") && pages >= 2, "{pages} pages");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Builds the report of `text` (one EVE file) in process.
fn report_of(text: &[u8]) -> (virga::report::model::Model, String) {
    let dir = fresh_dir("report-prop");
    let eve = dir.join("eve.json");
    std::fs::write(&eve, text).unwrap();
    let m = virga::report::read_model(std::slice::from_ref(&eve)).expect("readable");
    let page = virga::report::html::render(&m);
    std::fs::remove_dir_all(&dir).unwrap();
    (m, page)
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Any bytes: no panic, every line counted.
    #[test]
    fn any_bytes_make_a_report(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096)) {
        let (m, page) = report_of(&bytes);
        let lines = bytes.iter().filter(|&&b| b == b'\n').count()
            + usize::from(bytes.last().is_some_and(|&b| b != b'\n'));
        proptest::prop_assert_eq!(m.read.lines as usize, lines);
        proptest::prop_assert!(page.ends_with("</html>\n"));
    }

    /// Any string in any field an alert carries comes out as text: the page
    /// keeps exactly its own tags and names nothing external.
    #[test]
    fn any_string_in_an_alert_stays_text(s in "\\PC{0,80}", t in "[<>\"'&/a-z:= ]{0,40}") {
        let evil = format!("{s}{t}");
        let j = serde_json::Value::String(evil.clone()).to_string();
        let line = format!(
            r#"{{"timestamp":"2026-03-02T00:00:00.000000+0000","event_type":"alert","src_ip":{j},"dest_ip":{j},"community_id":{j},"host":{j},"alert":{{"signature":{j},"severity":1,"context":{{"virga":{{"detector":{j},"server_name":{j},"platform":{j},"ja4":{j},"name_source":{j},"client_class":{j},"client_reasons":[{j}],"kind":{j},"account":{j},"first_seen":{j},"beat_times":[0,30,60]}}}}}}}}"#
        );
        let (m, page) = report_of(line.as_bytes());
        proptest::prop_assert_eq!(m.read.alerts, 1);
        let (_, clean) = report_of(b"");
        // The tags of the page are the page's own.
        for tag in ["<script", "<img", "<iframe", "<link", "<style", "<a ", "<svg"] {
            let allowed = match tag {
                "<script" | "<style" => 1,
                "<svg" => 1,
                "<a " => page.matches("<a href=\"#pair-").count(),
                _ => 0,
            };
            proptest::prop_assert_eq!(page.matches(tag).count(), allowed, "{}", tag);
        }
        proptest::prop_assert!(clean.contains("<script"));
        proptest::prop_assert!(page.contains(&*virga::report::escape(&evil)));
    }
}
