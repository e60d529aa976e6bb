//! The `virga` binary's command line: exit statuses and messages of
//! `check-config`, `run` and `replay` (documented at the top of main.rs).

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

const VIRGA: &str = env!("CARGO_BIN_EXE_virga");

fn virga(args: &[&str]) -> Output {
    Command::new(VIRGA).args(args).output().expect("run virga")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn temp(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("virga-cli-{}-{n}-{name}", std::process::id()))
}

fn data(name: &str) -> String {
    format!("{}/tests/data/pcaps/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The shared folder; None on a bare clone (a failure in CI).
fn shared() -> Option<PathBuf> {
    virga_test_support::shared()
}

#[test]
fn check_config_accepts_valid_files() {
    let f = temp("ok.toml");
    std::fs::write(
        &f,
        "[capture]\ninterface = \"eth0\"\n[flow]\nmax_flows = 1000\n",
    )
    .unwrap();
    let out = virga(&["check-config", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{}: ok\n", f.display()));
    let deploy = format!("{}/../deploy/virga.toml", env!("CARGO_MANIFEST_DIR"));
    let out = virga(&["check-config", &deploy]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).ends_with("virga.toml: ok\n"));
    std::fs::remove_file(f).unwrap();
}

#[test]
fn check_config_lists_every_error_with_file_line_key_reason() {
    let f = temp("bad.toml");
    std::fs::write(
        &f,
        "[flow]\nmax_flows = 0\nidle = 5\n\n[capture]\nsnaplen_bytes = 1\n",
    )
    .unwrap();
    let out = virga(&["check-config", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    let p = f.display().to_string();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines[0].starts_with(&format!("{p}:2: flow.max_flows: ")),
        "{err}"
    );
    assert!(
        lines[1].starts_with(&format!("{p}:3: flow.idle: unknown key")),
        "{err}"
    );
    assert!(
        lines[2].starts_with(&format!("{p}:6: capture.snaplen_bytes: ")),
        "{err}"
    );
    // A file that cannot be read is one error, exit 2 too.
    let out = virga(&["check-config", "/nonexistent/virga.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/nonexistent/virga.toml: cannot read"));
    // `run` and `replay` refuse the bad file the same way, before any work.
    let eve = temp("never.json");
    let out = virga(&[
        "replay",
        "-c",
        f.to_str().unwrap(),
        "-o",
        eve.to_str().unwrap(),
        &data("sample.pcap"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains(&format!("{p}:2: flow.max_flows: ")));
    assert!(!eve.exists());
    let out = virga(&[
        "run",
        "-i",
        "lo",
        "-c",
        f.to_str().unwrap(),
        "-o",
        eve.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains(&format!("{p}:6: capture.snaplen_bytes: ")));
    assert!(!eve.exists());
    std::fs::remove_file(f).unwrap();
}

#[test]
fn run_on_a_missing_interface_names_it_and_exits_2() {
    let iface = format!("vgnone{}", std::process::id() % 100_000);
    let eve = temp("run.json");
    let out = virga(&["run", "-i", &iface, "-o", eve.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with(&format!("virga: {iface}: ")), "{err}");
    // Root gets "no such interface"; others are refused the socket first.
    assert!(
        err.contains("no such interface") || err.contains("permission denied"),
        "{err}"
    );
    let _ = std::fs::remove_file(eve);
    // No interface anywhere.
    let out = virga(&["run"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("give -i IFACE or set capture.interface"));
    // The interface may come from the configuration.
    let cfg = temp("iface.toml");
    std::fs::write(&cfg, format!("[capture]\ninterface = \"{iface}\"\n")).unwrap();
    let out = virga(&["run", "-c", cfg.to_str().unwrap(), "-o", "-"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with(&format!("virga: {iface}: ")));
    std::fs::remove_file(cfg).unwrap();
}

#[test]
fn run_with_af_packet_on_a_missing_interface_exits_2_naming_it() {
    let cfg = temp("method.toml");
    std::fs::write(&cfg, "[capture]\nmethod = \"af_packet\"\n").unwrap();
    let iface = "virga-nosuch0";
    let out = virga(&["run", "-i", iface, "-c", cfg.to_str().unwrap(), "-o", "-"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    if cfg!(target_os = "linux") {
        assert!(err.contains(iface), "{err}");
    } else {
        assert!(
            err.contains("capture.method: \"af_packet\" needs Linux"),
            "{err}"
        );
    }
    std::fs::remove_file(cfg).unwrap();
}

#[test]
fn run_with_a_bad_bpf_filter_or_output_exits_2() {
    let cfg = temp("bpf.toml");
    std::fs::write(&cfg, "[capture]\nbpf_filter = \"tcp and and\"\n").unwrap();
    let eve = temp("bpf.json");
    let out = virga(&[
        "run",
        "-i",
        "lo",
        "-c",
        cfg.to_str().unwrap(),
        "-o",
        eve.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    // As root the filter is compiled and refused; otherwise capture is.
    assert!(err.starts_with("virga: lo: "), "{err}");
    assert!(
        err.contains("bad BPF filter") || err.contains("permission denied"),
        "{err}"
    );
    let out = virga(&[
        "run",
        "-i",
        "lo",
        "--allow-root",
        "-o",
        "/nonexistent-dir/eve.json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot open EVE output /nonexistent-dir/eve.json")
            || err.contains("permission denied"),
        "{err}"
    );
    std::fs::remove_file(cfg).unwrap();
    let _ = std::fs::remove_file(eve);
}

/// Once the capture is open (root only): still root without `allow_root`
/// is refused, and so is a `run_as_user` that does not exist; each is one
/// line naming the file and key, exit 2, before any packet is read.
#[test]
fn run_as_root_is_refused_and_unknown_accounts_are_named() {
    let is_root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| text(&o.stdout).trim() == "0");
    if !is_root {
        eprintln!("note: not root: capture is refused before the privilege checks; skipped");
        return;
    }
    let eve = temp("root.json");
    let out = virga(&["run", "-i", "lo", "-o", eve.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("virga: (defaults): refusing to process packets as root"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    // Nothing was written: the refusal comes before the EVE output opens.
    assert!(!eve.exists());
    let cfg = temp("nouser.toml");
    // Without the capture capabilities (an unprivileged account, through
    // util-linux's setpriv): the interface and the reason, exit 2.
    let unprivileged = std::process::Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(env!("CARGO_BIN_EXE_virga"))
        .args(["run", "-i", "lo", "-o", "-"])
        .output();
    match unprivileged {
        // Anything not from virga is setpriv's own failure (no such account).
        Ok(out) if text(&out.stderr).starts_with("virga: ") => {
            assert_eq!(out.status.code(), Some(2));
            let err = text(&out.stderr);
            assert!(err.starts_with("virga: lo: permission denied: "), "{err}");
            assert!(err.contains("CAP_NET_RAW"), "{err}");
        }
        _ => eprintln!(
            "note: setpriv (util-linux) or nobody/nogroup missing; permission case skipped"
        ),
    }
    std::fs::write(&cfg, "[run]\nrun_as_user = \"vg-no-such-user\"\n").unwrap();
    let out = virga(&["run", "-i", "lo", "-c", cfg.to_str().unwrap(), "-o", "-"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert_eq!(
        err.trim_end(),
        format!(
            "virga: {}: run.run_as_user: no user `vg-no-such-user` on this system",
            cfg.display()
        )
    );
    std::fs::remove_file(cfg).unwrap();
}

#[test]
fn replay_of_a_missing_or_non_capture_file_exits_2_before_writing() {
    let eve = temp("missing.json");
    let out = virga(&[
        "replay",
        "-o",
        eve.to_str().unwrap(),
        &data("sample.pcap"),
        "/nonexistent/x.pcap",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("/nonexistent/x.pcap: cannot open capture"));
    assert!(!eve.exists(), "nothing is written when an input is missing");
    let toml = format!("{}/Cargo.toml", env!("CARGO_MANIFEST_DIR"));
    let out = virga(&["replay", "-o", eve.to_str().unwrap(), &toml]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("Cargo.toml: cannot open capture"));
    let empty = temp("emptydir");
    std::fs::create_dir_all(&empty).unwrap();
    let out = virga(&[
        "replay",
        "-o",
        eve.to_str().unwrap(),
        empty.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no capture files"));
    std::fs::remove_dir(empty).unwrap();
    let out = virga(&[
        "replay",
        "-o",
        "/nonexistent-dir/eve.json",
        &data("sample.pcap"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!eve.exists());
}

/// The pcapng libpcap gives up on (several link types) replays to the end:
/// every packet counted, and flows from both link types (Ethernet DHCP and
/// the NULL-link Dropbox LAN sync) in the output.
#[test]
fn replay_of_a_multi_linktype_pcapng_reads_every_packet() {
    let Some(shared) = shared() else {
        return;
    };
    // Public captures are read where they are, not copied into the repository.
    let path = shared
        .join("pcaps/public/gopacket/test202-be.pcapng")
        .to_string_lossy()
        .into_owned();
    let meta = shared.join("pcaps/public/refs/gopacket/test202-be.pcapng.meta.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(meta).unwrap()).unwrap();
    let want_packets = v["packets"].as_u64().unwrap();
    let eve = temp("t202.json");
    let summary = virga::replay::run(&virga::replay::ReplayOptions {
        inputs: vec![path.clone()],
        output: virga::output::Target::File(eve.to_string_lossy().into_owned()),
        log_all: true,
        ..Default::default()
    })
    .expect("replay without error");
    assert_eq!(summary.packets, want_packets);
    let _ = std::fs::remove_file(&eve);
    let out = virga(&["replay", "--log-all", "-o", eve.to_str().unwrap(), &path]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let flows: Vec<Value> = std::fs::read_to_string(&eve)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["event_type"] == "flow")
        .collect();
    let has = |src: &str, sport: u64| {
        flows
            .iter()
            .any(|e| e["src_ip"] == src && e["src_port"] == sport && e["proto"] == "UDP")
    };
    assert!(has("0.0.0.0", 68), "Ethernet DHCP flow: {flows:#?}");
    assert!(has("192.168.1.139", 17500), "NULL-link flow: {flows:#?}");
    std::fs::remove_file(eve).unwrap();
}

#[test]
fn version_help_and_bad_arguments() {
    let out = virga(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        format!("virga {}\n", env!("CARGO_PKG_VERSION"))
    );
    let out = virga(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for cmd in ["replay", "run", "check-config"] {
        assert!(help.contains(cmd), "{help}");
    }
    let out = virga(&["run", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("--interface <IFACE>"));
    for bad in [
        &["frobnicate"][..],
        &["replay"],
        &["run", "--bogus"],
        &["check-config"],
        &[],
    ] {
        let out = virga(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        assert!(!out.stderr.is_empty());
    }
}

/// `virga health` (the container HEALTHCHECK): 1 for every failure, since
/// Docker reserves status 2: no endpoint configured, nothing listening.
#[test]
fn health_fails_with_1() {
    let out = virga(&["health"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no metrics endpoint"));
    let cfg = temp("health.toml");
    std::fs::write(&cfg, "[metrics]\nlisten = \"127.0.0.1:1\"\n").unwrap();
    let out = virga(&["health", "-c", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("virga: unhealthy: 127.0.0.1:1: "),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(&cfg, "[metrics]\nlisten = \"nowhere\"\n").unwrap();
    let out = virga(&["health", "-c", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("metrics.listen"));
    std::fs::remove_file(cfg).unwrap();
}
