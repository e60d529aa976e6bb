//! EVE output under failure: a full disk, a closed stdout pipe, space freed
//! again. virga says so once per outage, drops and counts whole lines, keeps
//! reading packets, resumes writing by itself, and every line that reaches
//! the output is complete JSON.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

const VIRGA: &str = env!("CARGO_BIN_EXE_virga");

fn sample() -> String {
    format!(
        "{}/tests/data/pcaps/sample.pcap",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn temp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("virga-outint-{}-{name}", std::process::id()))
}

/// The number in `... {N} of {M} EVE lines could not be written ...`.
fn lost_and_total(stderr: &str) -> (u64, u64) {
    let line = stderr
        .lines()
        .find(|l| l.contains("EVE lines could not be written"))
        .unwrap_or_else(|| panic!("no loss summary in {stderr}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let of = words.iter().position(|w| *w == "of").expect("'of'");
    (
        words[of - 1].parse().unwrap(),
        words[of + 1].parse().unwrap(),
    )
}

/// Every line parses as a JSON object.
fn all_json(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn full_disk_loses_every_line_counted_said_once_exit_1() {
    // Reference: the same replay into a file.
    let f = temp("ref.json");
    let _ = std::fs::remove_file(&f);
    let ok = Command::new(VIRGA)
        .args(["replay", "--log-all", "-o", f.to_str().unwrap(), &sample()])
        .output()
        .unwrap();
    assert!(ok.status.success());
    let expected = std::fs::read_to_string(&f).unwrap().lines().count() as u64;
    std::fs::remove_file(&f).unwrap();
    assert!(expected > 20);

    // /dev/full fails every write with ENOSPC, like a full disk.
    let out = Command::new(VIRGA)
        .args(["replay", "--log-all", "-o", "/dev/full", &sample()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        err.matches("cannot write EVE output /dev/full").count(),
        1,
        "{err}"
    );
    assert!(err.contains("No space left on device"), "{err}");
    assert_eq!(lost_and_total(&err), (expected, expected), "{err}");
}

#[test]
fn closed_stdout_pipe_is_reported_once_and_counted() {
    let mut child = Command::new(VIRGA)
        .args(["replay", "--log-all", "-o", "-", &sample()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read one line, then close the pipe: later writes get EPIPE.
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    serde_json::from_str::<Value>(&first).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    // The pipe buffer may have taken everything before it was closed.
    if err.contains("could not be written") {
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(
            err.matches("cannot write EVE output stdout").count(),
            1,
            "{err}"
        );
        assert!(err.contains("Broken pipe"), "{err}");
        let (lost, total) = lost_and_total(&err);
        assert!(lost > 0 && lost < total, "{err}");
    } else {
        assert!(out.status.success(), "{err}");
    }
}

fn shared() -> Option<PathBuf> {
    virga_test_support::shared()
}

/// Why the disk-full-then-freed test cannot run here, if it cannot.
fn cannot_mount() -> Option<&'static str> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root (a tmpfs is mounted in a private mount namespace)");
    }
    let ok = Command::new("unshare")
        .args(["--mount", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        return Some("unshare --mount does not work here");
    }
    None
}

#[test]
fn writing_resumes_when_space_is_freed_and_lines_stay_whole() {
    if let Some(why) = cannot_mount() {
        eprintln!("skipped: {why}");
        return;
    }
    let Some(shared) = shared() else {
        return;
    };
    let pcap = shared.join("corpus/timelines/dev_hard_48h.pcap");
    let dir = temp("resume");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("mnt")).unwrap();
    // In a private mount namespace: a 64 MiB tmpfs (the EVE output is ≈ 15 MB), filled; virga writes its
    // EVE file there; once it reports the failure the filler goes; at the
    // end the file is copied out beside the mount point.
    let script = r#"
set -eu
d="$1"; virga="$2"; pcap="$3"
mount -t tmpfs -o size=64m tmpfs "$d/mnt"
dd if=/dev/zero of="$d/mnt/filler" bs=4k 2>/dev/null || true
"$virga" replay --log-all -o "$d/mnt/eve.json" "$pcap" 2>"$d/stderr" &
pid=$!
i=0
until grep -q "cannot write EVE output" "$d/stderr"; do
  i=$((i+1)); [ $i -lt 2000 ] || { echo "no failure reported" >&2; kill $pid; exit 3; }
  sleep 0.01
done
rm "$d/mnt/filler"
rc=0; wait $pid || rc=$?
cp "$d/mnt/eve.json" "$d/eve.json"
echo $rc > "$d/rc"
"#;
    let st = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(&dir)
        .arg(VIRGA)
        .arg(&pcap)
        .status()
        .unwrap();
    assert!(st.success(), "script failed: {st}");
    let err = std::fs::read_to_string(dir.join("stderr")).unwrap();
    let rc: i32 = std::fs::read_to_string(dir.join("rc"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(rc, 1, "lines were lost, so replay exits 1: {err}");
    assert_eq!(err.matches("cannot write EVE output").count(), 1, "{err}");
    assert_eq!(err.matches("is writable again").count(), 1, "{err}");
    let (lost, total) = lost_and_total(&err);
    let text = std::fs::read_to_string(dir.join("eve.json")).unwrap();
    assert!(text.ends_with('\n'));
    let events = all_json(&text);
    // Every line is either in the file or counted as lost.
    assert_eq!(events.len() as u64 + lost, total, "{err}");
    assert!(lost > 0 && (events.len() as u64) > lost, "{err}");
    // The final stats event reached the file and counts the loss.
    let last = events.last().unwrap();
    assert_eq!(last["event_type"], "stats");
    assert_eq!(last["stats"]["virga"]["output"]["lines_lost"], lost);
    std::fs::remove_dir_all(&dir).unwrap();
}
