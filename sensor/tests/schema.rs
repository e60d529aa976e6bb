//! Every EVE line virga writes validates against Suricata 8's schema
//! (`shared/eve/suricata-eve-schema.json`, read from the shared folder; it is
//! GPL-covered data and is not copied into this repository), extended only by
//! virga's published `stats.virga` and `alert.context.virga` objects
//! (docs/eve-virga-extension.schema.json).

mod common;
use virga_test_support::eve_schema;

use common::*;

#[test]
fn all_output_validates_against_the_eve_schema() {
    let Some(shared) = shared() else {
        return;
    };
    let validator = eve_schema::eve_validator(&shared).expect("shared/eve present");
    let mut inputs = vec![
        pcap("sample.pcap"),
        pcap("no_sni_lambda.pcap"),
        // An HTTP request (public captures are read where they are).
        shared
            .join("pcaps/public/zeek/vlan-qinqinq.pcap")
            .to_string_lossy()
            .into_owned(),
    ];
    for e in std::fs::read_dir(pcap("clients")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "pcap") {
            inputs.push(p.to_string_lossy().into_owned());
        }
    }
    // Beacon alerts, with their beat times.
    for t in ["dev_beacon_fast_6h.pcap", "dev_edge_cases_6h.pcap"] {
        let p = shared.join("corpus/timelines").join(t);
        inputs.push(p.to_string_lossy().into_owned());
    }
    let mut lines = 0;
    let mut beacon_alerts = 0;
    for input in &inputs {
        for log_all in [false, true] {
            for l in replay_lines(std::slice::from_ref(input), log_all) {
                let v: serde_json::Value = serde_json::from_str(&l).unwrap();
                let errs = eve_schema::schema_errors(&validator, &v);
                assert!(errs.is_empty(), "{input}: invalid EVE line {l}\n{errs:#?}");
                lines += 1;
                beacon_alerts += usize::from(
                    v["alert"]["context"]["virga"]["beat_times"]
                        .as_array()
                        .is_some_and(|b| !b.is_empty()),
                );
            }
        }
    }
    assert!(lines > 500, "only {lines} lines validated");
    // The check can fail: a line with a field the closed schema does not know.
    let bad = serde_json::json!({"timestamp": "2026-01-01T00:00:00.000000+0000", "event_type": "tls", "tls": {"serverless": true}});
    assert!(!validator.is_valid(&bad));
    assert!(beacon_alerts > 10, "only {beacon_alerts} beacon alerts");
    // alert.context.virga is closed too, and beat_times bounded.
    let alert = |virga: serde_json::Value| {
        serde_json::json!({"timestamp": "2026-01-01T00:00:00.000000+0000", "event_type": "alert",
            "alert": {"signature_id": 9400001, "context": {"virga": virga}}})
    };
    let base = serde_json::json!({"detector": "beacon", "server_name": "a", "platform": "none", "score": 1.0});
    assert!(validator.is_valid(&alert(base.clone())));
    let mut unknown = base.clone();
    unknown["serverless"] = true.into();
    assert!(!validator.is_valid(&alert(unknown)));
    let mut long = base;
    long["beat_times"] = (0..65).map(f64::from).collect::<Vec<_>>().into();
    assert!(!validator.is_valid(&alert(long)));
}

/// `virga hunt`'s output (alerts with `zeek_uids`, `stats.virga.hunt`)
/// validates against the same extended schema.
#[test]
fn hunt_output_validates_against_the_eve_schema() {
    let Some(shared) = shared() else {
        return;
    };
    let validator = eve_schema::eve_validator(&shared).expect("shared/eve present");
    let dir = std::env::temp_dir().join(format!("virga-schema-hunt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut ssl = String::new();
    let mut conn = String::from(
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\n#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\n",
    );
    for n in 0..40u64 {
        let t = 1_700_000_000 + n * 300 + (n * 7919) % 23;
        ssl.push_str(&format!(
            "{{\"_path\":\"ssl\",\"ts\":{t}.5,\"uid\":\"S{n}\",\"id.orig_h\":\"10.3.0.8\",\"id.orig_p\":{},\"id.resp_h\":\"104.21.9.9\",\"id.resp_p\":443,\"server_name\":\"relay.acme.workers.dev\",\"established\":true}}\n",
            45_000 + n
        ));
        conn.push_str(&format!(
            "{t}.25\tC{n}\t10.3.0.9\t{}\t203.0.113.5\t8443\ttcp\t-\t30.0\t512\n",
            46_000 + n
        ));
    }
    std::fs::write(dir.join("ssl.json"), ssl).unwrap();
    std::fs::write(dir.join("conn.log"), conn).unwrap();
    let out = dir.join("out.eve");
    let opts = virga::hunt::HuntOptions {
        inputs: vec![dir.display().to_string()],
        output: virga::output::Target::File(out.display().to_string()),
        scope: Some(virga_config::BeaconScope::All),
        ..virga::hunt::HuntOptions::default()
    };
    virga::hunt::run(&opts).unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let mut uids = 0;
    let mut hunt_stats = 0;
    for l in text.lines() {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let errs = eve_schema::schema_errors(&validator, &v);
        assert!(errs.is_empty(), "invalid EVE line {l}\n{errs:#?}");
        uids += usize::from(v["alert"]["context"]["virga"]["zeek_uids"].is_array());
        hunt_stats += usize::from(v["stats"]["virga"]["hunt"].is_object());
    }
    assert!(uids >= 2, "alerts with zeek_uids: {uids}\n{text}");
    assert_eq!(hunt_stats, 1);
    let _ = std::fs::remove_dir_all(&dir);
}
