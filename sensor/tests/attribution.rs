//! Process attribution end to end: `replay` with host events names the
//! process on the alerts of the connections the events describe, and no
//! process where there is no matching event.
//!
//! What is real and what is not: the capture is the shared corpus's
//! `dev_beacon_fast_6h` timeline (real client handshakes re-timed into eight
//! beaconing hosts); no Sysmon ran in that lab. The host events are written
//! by this test, in the JSON shapes collectors produce (NXLog's flat event
//! data, Winlogbeat/ECS gzip-compressed in a folder), from the capture's own
//! connections (tuples and times read from a first replay's `tls` events).
//! Each beaconing host gets a different story:
//!
//! | host | events | expected |
//! |---|---|---|
//! | .101 | flat, a dropped executable | beacon alert names it |
//! | .102 | ECS, gzip, a Jenkins agent's node.exe | allowlisted by `image`: no alert |
//! | .103 | two programs per connection | `ambiguous`, both listed, none chosen |
//! | .104 | each event timed at the previous connection | outside the skew: no process |
//! | .105 | none | no process, alerts as without attribution |
//! | .106 | chrome.exe | class `browser` from the process, beacon rule for browsers |

mod common;

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

const UPD: &str = r"C:\Users\lab\AppData\Local\Temp\upd.exe";
const NODE: &str = r"C:\Jenkins\tools\node.exe";
const CHROME: &str = r"C:\Program Files\Google\Chrome\Application\chrome.exe";
const SVCHOST: &str = r"C:\Windows\System32\svchost.exe";

/// One TLS connection of the capture: source port, server address and
/// port, Sysmon `UtcTime` of its hello.
struct Conn {
    sport: u64,
    dst: String,
    dport: u64,
    utc: String,
}

/// Sysmon's `UtcTime` (millisecond precision) of an EVE timestamp.
fn utc_time(eve_ts: &str) -> String {
    eve_ts.replacen('T', " ", 1).chars().take(23).collect()
}

/// NXLog's flat shape of an event 3.
fn flat_event(client: &str, c: &Conn, utc: &str, image: &str, pid: u32) -> String {
    json!({
        "EventTime": "2026-03-02 01:00:00",
        "Hostname": format!("WS-{}", client.rsplit('.').next().unwrap_or("0")),
        "EventID": 3,
        "SourceName": "Microsoft-Windows-Sysmon",
        "Channel": "Microsoft-Windows-Sysmon/Operational",
        "UtcTime": utc,
        "ProcessId": pid.to_string(),
        "Image": image,
        "User": r"LAB\lab",
        "Protocol": "tcp",
        "Initiated": "true",
        "SourceIp": client,
        "SourcePort": c.sport.to_string(),
        "DestinationIp": c.dst,
        "DestinationPort": c.dport.to_string(),
    })
    .to_string()
}

/// Winlogbeat's ECS shape of an event 3.
fn ecs_event(client: &str, c: &Conn, image: &str) -> String {
    let ts = format!("{}Z", c.utc.replacen(' ', "T", 1));
    json!({
        "@timestamp": ts,
        "event": {"code": "3", "provider": "Microsoft-Windows-Sysmon"},
        "host": {"name": "build-01"},
        "process": {"executable": image, "pid": 4242},
        "user": {"name": "jenkins"},
        "source": {"ip": client, "port": c.sport},
        "destination": {"ip": c.dst, "port": c.dport},
        "network": {"transport": "tcp"},
        "winlog": {
            "event_id": 3,
            "provider_name": "Microsoft-Windows-Sysmon",
            "computer_name": "build-01",
            "event_data": {"UtcTime": c.utc, "Image": image, "ProcessId": "4242"}
        }
    })
    .to_string()
}

fn replay(pcap: &Path, config: &str, attribution: Option<&[PathBuf]>) -> (Vec<Value>, String) {
    let config = virga_config::from_str(config, "attribution-test.toml").expect("config");
    let attribution = attribution.map(|paths| {
        let (a, s) = virga::attribution::load(paths, &config.attribution).expect("sysmon files");
        assert_eq!(s.stats.bad, 0, "{s:?}");
        a
    });
    let out = common::temp("eve.json");
    let opts = virga::replay::ReplayOptions {
        inputs: vec![pcap.to_string_lossy().into_owned()],
        output: virga::output::Target::File(out.to_string_lossy().into_owned()),
        config,
        attribution,
        ..Default::default()
    };
    let summary = virga::replay::run(&opts).expect("replay");
    let text = std::fs::read_to_string(&out).expect("eve output");
    let _ = std::fs::remove_file(&out);
    let events = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    (events, format!("{:?}", summary.attribution))
}

fn alerts_of<'a>(events: &'a [Value], client: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["event_type"] == "alert" && e["src_ip"] == client)
        .collect()
}

fn beacons_of<'a>(events: &'a [Value], client: &str) -> Vec<&'a Value> {
    alerts_of(events, client)
        .into_iter()
        .filter(|a| a["alert"]["context"]["virga"]["detector"] == "beacon")
        .collect()
}

#[test]
fn replay_with_host_events_names_the_process() {
    let Some(pcap) = virga_test_support::shared_path("corpus/timelines/dev_beacon_fast_6h.pcap")
    else {
        return;
    };
    // Beacon detection as the rule asks: every destination scored.
    let base_cfg = "[detect.beacon]\nscope = \"all\"\n";
    let (plain, _) = replay(&pcap, base_cfg, None);
    let mut conns: BTreeMap<String, Vec<Conn>> = BTreeMap::new();
    for e in plain.iter().filter(|e| e["event_type"] == "tls") {
        let client = e["src_ip"].as_str().unwrap_or_default().to_string();
        conns.entry(client).or_default().push(Conn {
            sport: e["src_port"].as_u64().unwrap_or(0),
            dst: e["dest_ip"].as_str().unwrap_or_default().to_string(),
            dport: e["dest_port"].as_u64().unwrap_or(0),
            utc: utc_time(e["timestamp"].as_str().unwrap_or_default()),
        });
    }
    for host in 101..=106 {
        let c = format!("10.66.0.{host}");
        assert!(conns.get(&c).is_some_and(|v| v.len() > 100), "{c} connects");
        assert!(!beacons_of(&plain, &c).is_empty(), "{c} beacons");
    }

    let dir = common::temp("sysmon");
    std::fs::create_dir_all(dir.join("agents")).unwrap();
    let mut flat = String::new();
    let mut line = |s: String| {
        flat.push_str(&s);
        flat.push('\n');
    };
    let host = |n: u32| format!("10.66.0.{n}");
    for c in &conns[&host(101)] {
        line(flat_event(&host(101), c, &c.utc, UPD, 4312));
    }
    for c in &conns[&host(103)] {
        line(flat_event(&host(103), c, &c.utc, SVCHOST, 900));
        line(flat_event(
            &host(103),
            c,
            &c.utc,
            "&lt;unknown process&gt;",
            901,
        ));
    }
    for w in conns[&host(104)].windows(2) {
        // The tuple of one connection, the time of the one before.
        line(flat_event(&host(104), &w[1], &w[0].utc, UPD, 77));
    }
    for c in &conns[&host(106)] {
        line(flat_event(&host(106), c, &c.utc, CHROME, 6006));
    }
    // Other events of the log are skipped, not fatal.
    line(json!({"EventID": 1, "UtcTime": "2026-03-02 00:00:00.000", "Image": UPD}).to_string());
    std::fs::write(dir.join("ws.json"), flat).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for c in &conns[&host(102)] {
        writeln!(gz, "{}", ecs_event(&host(102), c, NODE)).unwrap();
    }
    std::fs::write(dir.join("agents/build-01.json.gz"), gz.finish().unwrap()).unwrap();
    let files = [dir.join("ws.json"), dir.join("agents")];

    // Without the allowlist, the CI agent's beacon names its program.
    let (named, _) = replay(&pcap, base_cfg, Some(&files));
    let b = beacons_of(&named, &host(102));
    assert!(!b.is_empty());
    assert_eq!(b[0]["alert"]["context"]["virga"]["process"]["image"], NODE);
    assert_eq!(
        b[0]["alert"]["context"]["virga"]["process"]["user"],
        "jenkins"
    );

    let allow =
        format!("{base_cfg}[[allowlist]]\nimage = '*\\jenkins\\*'\nreason = \"CI agent\"\n");
    let (events, stats) = replay(&pcap, &allow, Some(&files));
    // Every line, the new members included, validates against the published
    // schema.
    if let Some(shared) = virga_test_support::shared() {
        let validator = virga_test_support::eve_schema::eve_validator(&shared).expect("schema");
        for e in events.iter().chain(&named) {
            let errs = virga_test_support::eve_schema::schema_errors(&validator, e);
            assert!(errs.is_empty(), "{e}\n{errs:#?}");
        }
    }

    // .101: the dropped executable, on every alert of the host.
    let b = beacons_of(&events, &host(101));
    assert!(!b.is_empty(), "{stats}");
    for a in alerts_of(&events, &host(101)) {
        let v = &a["alert"]["context"]["virga"];
        assert_eq!(v["process"]["image"], UPD, "{a}");
        assert_eq!(v["process"]["pid"], 4312);
        assert_eq!(v["process"]["host"], "ws-101");
        assert_eq!(v["process"]["event"], "sysmon:3");
        assert!(v["process"]["skew_ms"].as_i64().unwrap().abs() <= 1);
        assert_eq!(v["client_class"], "non_browser");
        assert!(v["client_reasons"]
            .as_array()
            .unwrap()
            .contains(&json!("process")));
    }
    assert_eq!(
        b[0]["alert"]["context"]["virga"]["process_images"],
        json!([UPD])
    );

    // The counters, in the last stats event.
    let stats_event = events
        .iter()
        .rev()
        .find(|e| e["event_type"] == "stats")
        .expect("a stats event");
    let a = &stats_event["stats"]["virga"]["attribution"];
    let written: usize = [101, 102, 106]
        .iter()
        .map(|n| conns[&host(*n)].len())
        .sum::<usize>()
        + 2 * conns[&host(103)].len()
        + conns[&host(104)].len()
        - 1;
    assert_eq!(a["events"].as_u64(), Some(written as u64), "{a}");
    assert_eq!(a["skipped"], 1);
    assert_eq!(a["bad"], 0);
    assert!(a["named"].as_u64().unwrap() >= 3 * 100, "{a}");
    assert!(a["ambiguous"].as_u64().unwrap() >= 100, "{a}");
    assert!(a["unmatched"].as_u64().unwrap() >= 200, "{a}");

    // .102: allowlisted by program, no alert at all.
    assert!(alerts_of(&events, &host(102)).is_empty());

    // .103: ambiguous, never a choice.
    let b = beacons_of(&events, &host(103));
    assert!(!b.is_empty());
    let p = &b[0]["alert"]["context"]["virga"]["process"];
    assert_eq!(p["ambiguous"], true, "{p}");
    assert_eq!(p["images"], json!(["<unknown process>", SVCHOST]));
    assert!(p.get("image").is_none());
    assert!(b[0]["alert"]["context"]["virga"]
        .get("process_images")
        .is_none());

    // .104 (events outside the skew) and .105 (no events): no process, and
    // the same alerts as without attribution.
    for n in [104, 105] {
        let with = alerts_of(&events, &host(n));
        let without = alerts_of(&plain, &host(n));
        assert_eq!(with.len(), without.len(), "10.66.0.{n}");
        for (a, b) in with.iter().zip(&without) {
            assert!(a["alert"]["context"]["virga"].get("process").is_none());
            assert_eq!(a["alert"]["signature_id"], b["alert"]["signature_id"]);
        }
    }

    // .106: chrome.exe makes the client a browser, whatever its hello.
    let b = beacons_of(&events, &host(106));
    assert!(!b.is_empty());
    let v = &b[0]["alert"]["context"]["virga"];
    assert_eq!(v["client_class"], "browser");
    assert_eq!(b[0]["alert"]["signature_id"], 9_400_001);
    assert!(alerts_of(&events, &host(106))
        .iter()
        .all(|a| a["alert"]["context"]["virga"]["detector"] != "client"));
    let plain_106 = beacons_of(&plain, &host(106));
    assert_eq!(
        plain_106[0]["alert"]["context"]["virga"]["client_class"],
        "non_browser"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unreadable_sysmon_path_is_an_invocation_error() {
    let Some(pcap) = virga_test_support::shared_path("corpus/timelines/dev_edge_cases_6h.pcap")
    else {
        return;
    };
    let missing = common::temp("no-such-sysmon.json");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_virga"))
        .args(["replay", "-o", "-", "--sysmon"])
        .arg(&missing)
        .arg(&pcap)
        .output()
        .expect("run virga");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--sysmon") && err.contains(&*missing.to_string_lossy()),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "nothing written");
}

/// DNS alerts name the process that asked, through Sysmon event 22. The
/// capture is the shared corpus's `clients/dns_anomalies.pcap` (three hosts
/// whose DNS is anomalous); the events 22 are written by the test from the
/// capture's own queries (each host's events in one collector shape), with
/// one event 3 per host that tells its address (events 22 carry none). The
/// third host has no events.
#[test]
fn dns_alerts_name_the_querying_process() {
    let Some(pcap) = virga_test_support::shared_path("corpus/clients/dns_anomalies.pcap") else {
        return;
    };
    let (plain, _) = replay(&pcap, "", None);
    let ps = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe";
    let tunnel = r"C:\ProgramData\svc\dnscat.exe";
    let mut lines = String::new();
    let mut told = std::collections::BTreeSet::new();
    for e in plain
        .iter()
        .filter(|e| e["event_type"] == "dns" && e["dns"]["type"] == "request")
    {
        let client = e["src_ip"].as_str().unwrap_or_default();
        let name = e["dns"]["queries"][0]["rrname"]
            .as_str()
            .unwrap_or_default();
        let utc = utc_time(e["timestamp"].as_str().unwrap_or_default());
        let host = format!("WS-{}", client.rsplit('.').next().unwrap_or("0"));
        let (image, ecs) = match client {
            "10.66.0.50" => (ps, true),
            "10.66.0.51" => (tunnel, false),
            _ => continue,
        };
        if told.insert(client.to_string()) {
            // The host's address, from a network event of its own (the
            // DNS flow itself, as Sysmon logs UDP too).
            let c = Conn {
                sport: e["src_port"].as_u64().unwrap_or(0),
                dst: e["dest_ip"].as_str().unwrap_or_default().to_string(),
                dport: 53,
                utc: utc.clone(),
            };
            let mut ev: Value =
                serde_json::from_str(&flat_event(client, &c, &utc, image, 1)).unwrap();
            ev["Protocol"] = json!("udp");
            ev["Hostname"] = json!(host);
            lines.push_str(&format!("{ev}\n"));
        }
        let ev = if ecs {
            json!({
                "@timestamp": format!("{}Z", utc.replacen(' ', "T", 1)),
                "event": {"code": "22"},
                "host": {"name": host},
                "process": {"executable": image, "pid": 5120},
                "dns": {"question": {"name": name}},
                "winlog": {"event_id": "22", "provider_name": "Microsoft-Windows-Sysmon",
                           "computer_name": host,
                           "event_data": {"UtcTime": utc, "QueryName": name, "Image": image}}
            })
        } else {
            json!({"EventID": 22, "Computer": host, "UtcTime": utc, "Image": image,
                   "ProcessId": "66", "QueryName": name, "QueryStatus": "0"})
        };
        lines.push_str(&format!("{ev}\n"));
    }
    let file = common::temp("sysmon-dns.json");
    std::fs::write(&file, lines).unwrap();
    let (events, stats) = replay(&pcap, "", Some(std::slice::from_ref(&file)));
    let _ = std::fs::remove_file(&file);
    let dns_alerts = |client: &str| -> Vec<Value> {
        alerts_of(&events, client)
            .into_iter()
            .filter(|a| a["alert"]["context"]["virga"]["detector"] == "dns")
            .cloned()
            .collect()
    };
    for (client, image) in [("10.66.0.50", ps), ("10.66.0.51", tunnel)] {
        let alerts = dns_alerts(client);
        assert!(!alerts.is_empty(), "{client}: {stats}");
        for a in alerts {
            let p = &a["alert"]["context"]["virga"]["process"];
            assert_eq!(p["image"], image, "{a}");
            assert_eq!(p["event"], "sysmon:22");
            assert!(p["skew_ms"].as_i64().unwrap().abs() <= 1);
        }
    }
    let third = dns_alerts("10.66.0.52");
    assert!(!third.is_empty());
    assert!(third
        .iter()
        .all(|a| a["alert"]["context"]["virga"].get("process").is_none()));
}
