//! The Sigma rules of `deploy/sigma` against virga's real alerts: each rule's
//! selection, evaluated on the EVE of real captures, matches exactly the
//! alerts of its detector, and every field it lists is one virga writes.
//! (`scripts/dev.sh sigma` checks the rules' syntax with sigma-cli and
//! converts them; this test checks their meaning.)

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use yaml_rust2::{Yaml, YamlLoader};

/// One rule: its file, the detector it is about (from its selection), the
/// selection's (field, accepted values) and its listed fields.
struct Rule {
    file: String,
    detector: String,
    selection: Vec<(String, Vec<Yaml>)>,
    fields: Vec<String>,
}

fn load_rules() -> Vec<Rule> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/sigma");
    let mut rules = Vec::new();
    for e in std::fs::read_dir(&dir).expect("deploy/sigma") {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "yml") {
            continue;
        }
        let file = p.file_name().unwrap().to_string_lossy().into_owned();
        let docs = YamlLoader::load_from_str(&std::fs::read_to_string(&p).unwrap())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let r = &docs[0];
        assert_eq!(r["logsource"]["product"].as_str(), Some("virga"), "{file}");
        assert_eq!(r["logsource"]["service"].as_str(), Some("eve"), "{file}");
        assert_eq!(
            r["detection"]["condition"].as_str(),
            Some("selection"),
            "{file}"
        );
        let sel = r["detection"]["selection"]
            .as_hash()
            .expect("a selection map");
        let selection: Vec<(String, Vec<Yaml>)> = sel
            .iter()
            .map(|(k, v)| {
                let k = k.as_str().unwrap().to_owned();
                assert!(
                    !k.contains('|'),
                    "{file}: modifiers are not evaluated here: {k}"
                );
                let vals = match v {
                    Yaml::Array(a) => a.clone(),
                    v => vec![v.clone()],
                };
                (k, vals)
            })
            .collect();
        let detector = selection
            .iter()
            .find(|(k, _)| k == "alert.context.virga.detector")
            .and_then(|(_, v)| v[0].as_str())
            .unwrap_or_else(|| panic!("{file}: selects no detector"))
            .to_owned();
        let fields = r["fields"]
            .as_vec()
            .map(|v| v.iter().map(|f| f.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        rules.push(Rule {
            file,
            detector,
            selection,
            fields,
        });
    }
    rules.sort_by(|a, b| a.file.cmp(&b.file));
    rules
}

/// The member at a dotted path.
fn at<'a>(e: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(e, |v, k| v.get(k))
}

/// Sigma's equality of an event's value and a rule's value (numbers as
/// numbers, strings case-insensitively as Sigma compares them).
fn equals(v: &Value, y: &Yaml) -> bool {
    match (v, y) {
        (Value::Number(n), Yaml::Integer(i)) => n.as_i64() == Some(*i),
        (Value::String(s), Yaml::String(t)) => s.eq_ignore_ascii_case(t),
        _ => false,
    }
}

fn matches(rule: &Rule, e: &Value) -> bool {
    rule.selection
        .iter()
        .all(|(k, vals)| at(e, k).is_some_and(|v| vals.iter().any(|y| equals(v, y))))
}

#[test]
fn sigma_rules_match_exactly_their_detectors_alerts() {
    let rules = load_rules();
    let detectors: Vec<&str> = rules.iter().map(|r| r.detector.as_str()).collect();
    assert_eq!(detectors, ["beacon", "dns", "client"]);

    let mut events = replay(&[pcap("clients/dns_anomalies.pcap")], true);
    let mut expected = vec!["dns"];
    match shared() {
        Some(s) => {
            let t = s.join("corpus/timelines/dev_beacon_fast_6h.pcap");
            events.extend(replay(&[t.to_string_lossy().into_owned()], true));
            expected.extend(["beacon", "client"]);
        }
        None => {
            eprintln!("note: ../shared absent: beacon and client rules not matched against alerts")
        }
    }
    for rule in &rules {
        let mut hits = 0;
        for e in &events {
            let is_its_alert = e["event_type"] == "alert"
                && e["alert"]["context"]["virga"]["detector"] == rule.detector.as_str();
            assert_eq!(matches(rule, e), is_its_alert, "{}: {e}", rule.file);
            if is_its_alert {
                hits += 1;
            }
        }
        if expected.contains(&rule.detector.as_str()) {
            assert!(hits > 0, "{}: no real alert to match", rule.file);
            for f in &rule.fields {
                assert!(
                    events
                        .iter()
                        .filter(|e| matches(rule, e))
                        .any(|e| at(e, f).is_some()),
                    "{}: field {f} is in none of its alerts",
                    rule.file
                );
            }
        }
    }
    // The check can fail: a rule for another signature matches nothing.
    let mut wrong = load_rules().remove(0);
    wrong.selection[1].1 = vec![Yaml::Integer(9_400_099)];
    assert!(events.iter().all(|e| !matches(&wrong, e)));
}
