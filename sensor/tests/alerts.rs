//! Alerts end to end: real captures through the whole pipeline, checked
//! against the corpus labels.

mod common;

use common::*;
use serde_json::Value;
use std::collections::HashMap;

fn alerts(events: &[Value]) -> Vec<&Value> {
    of_type(events, "alert")
}

/// Each labelled DNS anomaly raises a DNS alert of the expected kind; the
/// benign baseline raises none.
#[test]
fn dns_anomalies_alert_and_the_baseline_does_not() {
    let events = replay(&[pcap("clients/dns_anomalies.pcap")], false);
    let labels = std::fs::read_to_string(pcap("clients/dns_anomalies.labels.jsonl")).unwrap();
    let mut kinds: HashMap<String, Vec<String>> = HashMap::new();
    for a in alerts(&events) {
        assert_eq!(a["alert"]["context"]["virga"]["detector"], "dns");
        let sid = a["alert"]["signature_id"].as_u64().unwrap();
        assert!((9_400_020..9_400_030).contains(&sid), "sid {sid}");
        let sev = a["alert"]["severity"].as_u64().unwrap();
        assert!((1..=3).contains(&sev));
        kinds
            .entry(a["src_ip"].as_str().unwrap().to_string())
            .or_default()
            .push(
                a["alert"]["context"]["virga"]["kind"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
    }
    for l in labels.lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        let ip = v["client_ip"].as_str().unwrap();
        let got = kinds.get(ip).cloned().unwrap_or_default();
        match v["pattern"].as_str().unwrap() {
            "benign_baseline_lookups" => assert!(got.is_empty(), "benign {ip} alerted: {got:?}"),
            "dns_tunnel_high_entropy_subdomains" => {
                assert!(
                    got.iter().any(|k| k == "random_subdomain_burst"),
                    "{ip}: {got:?}"
                );
                assert!(got.iter().any(|k| k == "txt_lookups"), "{ip}: {got:?}");
            }
            "nxdomain_burst_random_subdomains" => {
                assert!(got.iter().any(|k| k == "nxdomain_run"), "{ip}: {got:?}")
            }
            "txt_record_polling" => {
                assert!(got.iter().any(|k| k == "txt_lookups"), "{ip}: {got:?}")
            }
            other => panic!("unknown pattern {other}"),
        }
    }
}

/// Non-browser clients calling serverless endpoints raise the low-severity
/// client alert; Chromium (pages calling the same APIs) raises none. The
/// alert carries the connection's tls object and Community ID.
#[test]
fn non_browser_clients_alert_browsers_do_not() {
    for (file, browser) in [
        ("chromium.pcap", true),
        ("chromium-quic.pcap", true),
        ("curl.pcap", false),
        ("python-aioquic-h3.pcap", false),
        ("node-fetch.pcap", false),
    ] {
        let events = replay(&[pcap(&format!("clients/{file}"))], false);
        let client: Vec<&Value> = alerts(&events)
            .into_iter()
            .filter(|a| a["alert"]["context"]["virga"]["detector"] == "client")
            .collect();
        if browser {
            assert!(client.is_empty(), "{file}: browser alerted");
            continue;
        }
        assert!(!client.is_empty(), "{file}: no client alert");
        for a in client {
            assert_eq!(a["alert"]["severity"], 3);
            assert_eq!(a["alert"]["signature_id"], 9_400_010);
            let ctx = &a["alert"]["context"]["virga"];
            assert_eq!(ctx["client_class"], "non_browser");
            let name = ctx["server_name"].as_str().unwrap();
            // Either the name is under a serverless suffix, or the client's
            // DNS chain for it is (a custom domain CNAMEd to a platform).
            let platform = ctx["platform"].as_str().unwrap();
            if let Some(m) = virga_config::Catalogue::builtin().lookup(name) {
                assert_eq!(m.platform.id(), platform);
            } else {
                assert_eq!((name, platform), ("api.contoso-hr.com", "azure_functions"));
            }
            assert!(ctx["ja4"].as_str().is_some());
            let app = if a["app_proto"] == "quic" {
                &a["quic"]
            } else {
                &a["tls"]
            };
            assert_eq!(app["sni"], name);
            assert!(a["community_id"].as_str().unwrap().starts_with("1:"));
            assert_eq!(a["alert"]["metadata"]["mitre_technique_id"][0], "T1583.007");
        }
    }
}

/// The allowlisted monitor of the office timeline (curl to a Worker every
/// 60 s, no jitter, for 24 h) raises no alert, and every connection it
/// made is counted as suppressed in the final `stats` event.
#[test]
fn allowlisted_monitor_is_suppressed_and_counted() {
    let Some(shared) = shared() else {
        return;
    };
    let tl = shared.join("corpus/timelines/dev_office_day_24h.pcap");
    let config = virga_config::from_str(
        "[[allowlist]]\nclient = \"10.66.0.150/32\"\nserver_name = \"status-probe.ops-team.workers.dev\"\nreason = \"uptime monitor\"\n",
        "<test>",
    )
    .unwrap();
    let out = temp("office.json");
    virga::replay::run(&virga::replay::ReplayOptions {
        inputs: vec![tl.to_string_lossy().into_owned()],
        output: virga::output::Target::File(out.to_string_lossy().into_owned()),
        config,
        ..Default::default()
    })
    .unwrap();
    let events: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let _ = std::fs::remove_file(&out);
    assert!(
        !alerts(&events).iter().any(|a| a["src_ip"] == "10.66.0.150"),
        "allowlisted monitor alerted"
    );
    let last = of_type(&events, "stats").into_iter().last().unwrap();
    let suppressed = last["stats"]["virga"]["suppressed"]["allowlist"]
        .as_u64()
        .unwrap();
    // One connection a minute for 24 h.
    assert!(
        (1400..=1450).contains(&suppressed),
        "{suppressed} suppressed"
    );
    assert!(
        last["stats"]["detect"]["alerts_suppressed"]
            .as_u64()
            .unwrap()
            >= suppressed
    );
    // The three beacons of the timeline are still found.
    let beacons: std::collections::HashSet<&str> = alerts(&events)
        .iter()
        .filter(|a| a["alert"]["context"]["virga"]["detector"] == "beacon")
        .map(|a| a["src_ip"].as_str().unwrap())
        .collect();
    for ip in ["10.66.0.125", "10.66.0.126", "10.66.0.127"] {
        assert!(beacons.contains(ip), "beacon {ip} missed: {beacons:?}");
    }
}

/// `[detect.beacon] scope = "all"` scores every destination: the hourly
/// non-serverless updater of the office timeline then alerts (with platform
/// `none`); by default it is not fed to the detector at all. The former
/// `all_names` switch is refused with an error naming `scope`.
#[test]
fn scope_all_extends_beaconing_beyond_the_catalogue() {
    let Some(shared) = shared() else {
        return;
    };
    let tl = shared
        .join("corpus/timelines/dev_office_day_24h.pcap")
        .to_string_lossy()
        .into_owned();
    let run = |toml: &str| -> Vec<Value> {
        let out = temp("allnames.json");
        virga::replay::run(&virga::replay::ReplayOptions {
            inputs: vec![tl.clone()],
            output: virga::output::Target::File(out.to_string_lossy().into_owned()),
            config: virga_config::from_str(toml, "<test>").unwrap(),
            ..Default::default()
        })
        .unwrap();
        let v = std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let _ = std::fs::remove_file(&out);
        v
    };
    let updater = |events: &[Value]| {
        events.iter().any(|a| {
            a["event_type"] == "alert"
                && a["alert"]["context"]["virga"]["detector"] == "beacon"
                && a["alert"]["context"]["virga"]["server_name"] == "updates.example.com"
                && a["alert"]["context"]["virga"]["platform"] == "none"
        })
    };
    assert!(!updater(&run("")));
    assert!(updater(&run("[detect.beacon]\nscope = \"all\"\n")));
    let old = virga_config::from_str("[detect.beacon]\nall_names = true\n", "v.toml").unwrap_err();
    assert!(
        old.to_string()
            .starts_with("v.toml:2: detect.beacon.all_names: replaced by `scope`"),
        "{old}"
    );
}
