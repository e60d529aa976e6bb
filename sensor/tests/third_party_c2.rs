//! Real implant traffic from third-party captures (see
//! `tests/data/pcaps/third-party/README.md`): a RAT's heartbeat inside one
//! raw TCP connection is a beacon with `scope = "all"`, and Windows' own
//! connection to a Microsoft name hosted on Azure VMs is not a serverless
//! endpoint.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/pcaps/third-party")
        .join(name)
}

/// Replays `pcap` with `config` and returns its EVE events.
fn replay(pcap: &Path, config: &str, log_all: bool) -> Vec<Value> {
    static RUN: AtomicUsize = AtomicUsize::new(0);
    let out = std::env::temp_dir().join(format!(
        "virga-third-party-{}-{}.json",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_file(&out);
    let opts = virga::replay::ReplayOptions {
        inputs: vec![pcap.to_string_lossy().into_owned()],
        output: virga::output::Target::File(out.to_string_lossy().into_owned()),
        log_all,
        config: virga_config::from_str(config, "<third-party test>").unwrap(),
        workers: Some(2),
        ..Default::default()
    };
    virga::replay::run(&opts).unwrap();
    let events = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    std::fs::remove_file(&out).unwrap();
    events
}

fn alerts(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["event_type"] == "alert")
        .collect()
}

#[test]
fn strrat_heartbeat_in_one_tcp_connection_is_a_beacon_with_scope_all() {
    let pcap = data("strrat-c2.pcap");
    let events = replay(&pcap, "[detect.beacon]\nscope = \"all\"\n", false);
    let found = alerts(&events);
    assert!(!found.is_empty(), "no alert on STRRAT's heartbeat");
    for a in &found {
        // Every alert is the one C2 pair: no other pair of the capture.
        assert_eq!(a["src_ip"], "192.168.100.11", "{a}");
        assert_eq!(a["dest_ip"], "185.255.114.40", "{a}");
        assert_eq!(a["dest_port"], 8219, "{a}");
        let ctx = &a["alert"]["context"]["virga"];
        assert_eq!(ctx["detector"], "beacon", "{a}");
        let period = ctx["period_secs"].as_f64().unwrap();
        assert!((4.0..=6.0).contains(&period), "period {period}");
        let sources: Vec<&str> = ctx["beat_sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert!(sources.contains(&"bursts"), "{sources:?}");
    }
}

#[test]
fn strrat_is_not_a_serverless_beacon() {
    let pcap = data("strrat-c2.pcap");
    let events = replay(&pcap, "", false);
    assert!(alerts(&events).is_empty(), "{:?}", alerts(&events));
}

#[test]
fn windows_telemetry_behind_azure_vm_names_is_not_serverless() {
    let pcap = data("windows-settings-cname.pcap");
    // The capture holds what the rule is about: the CNAME chain to an Azure
    // VM DNS label and Windows' TLS connection to the name.
    let all = replay(&pcap, "", true);
    let chain = all.iter().any(|e| {
        e["event_type"] == "dns"
            && e["dns"]["answers"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|a| {
                    a["rdata"]
                        .as_str()
                        .is_some_and(|r| r.ends_with(".cloudapp.azure.com"))
                })
    });
    assert!(chain, "no CNAME to cloudapp.azure.com in the capture");
    let hello = all
        .iter()
        .any(|e| e["event_type"] == "tls" && e["tls"]["sni"] == "settings-win.data.microsoft.com");
    assert!(hello, "no ClientHello for settings-win.data.microsoft.com");
    for e in &all {
        if let Some(f) = e["metadata"]["flowvars"].as_array() {
            assert!(
                !f.iter().any(|v| v["key"] == "virga.platform"),
                "flow put on a platform: {e}"
            );
        }
    }
    assert!(alerts(&all).is_empty(), "{:?}", alerts(&all));
    // Without --log-all nothing of it is logged: it is not serverless.
    let quiet = replay(&pcap, "", false);
    assert!(
        quiet.iter().all(|e| e["event_type"] == "stats"),
        "{quiet:?}"
    );
}
