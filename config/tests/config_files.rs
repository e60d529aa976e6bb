//! Integration tests over whole files:
//! - every `tests/valid/*.toml` loads;
//! - every `tests/invalid/*.toml` fails with exactly the problems its `# expect: LINE KEY`
//!   header lines name (`-` for a problem without key, such as a TOML syntax error);
//! - `deploy/virga.toml` loads and equals the defaults, and still loads with its commented-out
//!   examples (`#key = ...`, `#[[table]]`) switched on.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use virga_config::{from_str, load, Config, EveTarget};

fn dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(name)
}

fn toml_files(sub: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir(sub))
        .unwrap_or_else(|e| panic!("{sub}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no cases in {sub}");
    files
}

#[test]
fn valid_files_load() {
    for file in toml_files("tests/valid") {
        if let Err(e) = load(&file) {
            panic!("{} should load:\n{e}", file.display());
        }
    }
}

#[test]
fn full_file_sets_every_section() {
    let c = load(dir("tests/valid/full.toml")).unwrap();
    assert_eq!(c.capture.interface.as_deref(), Some("ens5"));
    assert_eq!(c.pipeline.workers.map(|n| n.get()), Some(8));
    assert_eq!(c.output.eve, EveTarget::Stdout);
    assert_eq!(c.output.stats_interval, None);
    assert!(c.catalogue.lookup("script.google.com").is_none());
    let m = c.catalogue.lookup("fn.tenant.edge.example.net").unwrap();
    assert_eq!(
        (m.platform.id(), m.account),
        ("example_edge", Some("tenant"))
    );
    let m = c
        .catalogue
        .lookup("fn.a1b2--tenant.edge.example.net")
        .unwrap();
    assert_eq!(
        (m.account, m.account_label),
        (Some("tenant"), Some("a1b2--tenant"))
    );
    let client = "10.20.3.4".parse().unwrap();
    assert_eq!(
        c.allowlist
            .matches(client, Some("x.corp-apps.workers.dev"), None),
        Some("internal apps on Workers")
    );
    assert!(!c.detect.beacon.enabled);
    assert_eq!(c.detect.beacon.scope, virga_config::BeaconScope::All);
    assert_eq!(c.detect.beacon.burst_idle, Duration::from_millis(2500));
    assert_eq!(c.detect.beacon.infrastructure_ports, vec![123, 445]);
    assert_eq!(c.flow.tcp_new_timeout, Duration::from_secs(10));
    assert_eq!(c.detect.client.quiet, Duration::from_secs(3600));
    assert_eq!(c.detect.prevalence.window, Duration::from_secs(604_800));
    assert_eq!(c.detect.prevalence.max_names.get(), 262_144);
    assert_ne!(c, Config::default());
}

fn expected(text: &str) -> BTreeSet<(Option<u32>, String)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(|rest| {
            let (line, key) = rest.split_once(' ').expect("`# expect: LINE KEY`");
            let key = if key == "-" {
                String::new()
            } else {
                key.to_owned()
            };
            (Some(line.parse().expect("line number")), key)
        })
        .collect()
}

#[test]
fn invalid_files_fail_with_expected_keys_and_lines() {
    for file in toml_files("tests/invalid") {
        let text = std::fs::read_to_string(&file).unwrap();
        let want = expected(&text);
        assert!(!want.is_empty(), "{}: no `# expect:` lines", file.display());
        let err = match load(&file) {
            Ok(_) => panic!("{} should fail", file.display()),
            Err(e) => e,
        };
        let got: BTreeSet<(Option<u32>, String)> =
            err.iter().map(|e| (e.line(), e.key().to_owned())).collect();
        assert_eq!(got, want, "{}:\n{err}", file.display());
        assert_eq!(err.len(), want.len(), "{}:\n{err}", file.display());
        // One problem per line, each naming the file.
        let shown = err.to_string();
        assert_eq!(shown.lines().count(), err.len());
        assert!(shown
            .lines()
            .all(|l| l.starts_with(&*file.to_string_lossy())));
    }
}

fn deploy_file() -> PathBuf {
    dir("../deploy/virga.toml")
}

#[test]
fn deploy_example_is_the_defaults() {
    let c = load(deploy_file()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c, Config::default());
}

#[test]
fn deploy_example_with_examples_switched_on() {
    let text = std::fs::read_to_string(deploy_file()).unwrap();
    // `#key = value` and `#[[table]]` (no space after `#`) are switchable examples.
    let on: String = text
        .lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if rest.starts_with(|c: char| c.is_ascii_lowercase() || c == '[') => rest,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    // `remove` appears twice (the default and the example); keep the example.
    let on = on.replacen("remove = []\n", "", 1);
    let c = from_str(&on, "virga.toml (examples on)").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.capture.interface.as_deref(), Some("eth0"));
    assert_eq!(c.run.run_as_user.as_deref(), Some("virga"));
    assert!(c.metrics.listen.is_some());
    assert!(c.output.socket_path.is_some());
    assert!(c.output.redis.is_some());
    assert!(c.detect.prevalence.redis_url.is_some());
    assert_eq!(c.allowlist.len(), 3);
    assert!(c.allowlist.entries()[2]
        .image()
        .is_some_and(|p| p.matches(r"C:\Jenkins\tools\node.exe")));
    assert_eq!(c.attribution.sysmon_paths.len(), 1);
    assert!(c.catalogue.platform("example_edge").is_some());
    assert!(c.catalogue.platform("google_apps_script").is_none());
}

#[test]
fn deploy_example_documents_every_key() {
    // Every key of the model appears in the example, set or as a commented-out example.
    let text = std::fs::read_to_string(deploy_file()).unwrap();
    for key in [
        "interface",
        "snaplen_bytes",
        "sysmon_paths",
        "skew_secs",
        "max_events",
        "image",
        "buffer_size_bytes",
        "bpf_filter",
        "promiscuous",
        "immediate_mode",
        "live_queue_full",
        "method",
        "workers",
        "batch_packets",
        "queue_batches",
        "max_flows",
        "tcp_idle_timeout_secs",
        "tcp_new_timeout_secs",
        "tcp_closed_timeout_secs",
        "udp_idle_timeout_secs",
        "first_flight_max_bytes",
        "first_flight_max_segments",
        "first_flight_memcap_bytes",
        "max_entries_per_worker",
        "max_ttl_secs",
        "min_ttl_secs",
        "eve_path",
        "socket_path",
        "flush_interval_ms",
        "log_all",
        "stats_interval_secs",
        "community_id_seed",
        "[output.redis]",
        "url",
        "mode",
        "stream_maxlen",
        "batch_lines",
        "redis_url",
        "run_as_user",
        "run_as_group",
        "allow_root",
        "listen",
        "remove",
        "[[catalogue.add]]",
        "account_label",
        "tenant",
        "[[allowlist]]",
        "client",
        "server_name",
        "ja4",
        "reason",
        "[detect.beacon]",
        "min_beats",
        "score_threshold",
        "beat_merge_ms",
        "prevalence_free_clients",
        "browser_score_threshold",
        "browser_min_jitter_fraction",
        "realert_quiet_secs",
        "scope",
        "burst_idle_ms",
        "infrastructure_ports",
        "max_pairs_per_worker",
        "[detect.client]",
        "quiet_secs",
        "[detect.dns]",
        "[detect.prevalence]",
        "max_names",
    ] {
        assert!(
            text.contains(key),
            "deploy/virga.toml does not mention `{key}`"
        );
    }
}
