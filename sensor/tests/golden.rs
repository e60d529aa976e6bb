//! Golden tests: real client captures → EVE events, checked against the
//! corpus labels (JA4 from the `ja4plus` reference) and against the
//! algorithms' own definitions (Community ID).

mod common;

use common::*;
use serde_json::Value;
use std::collections::HashMap;

/// Every labelled connection of every client capture yields a `tls` or
/// `quic` event with the label's SNI and JA4 (Chromium's two-segment
/// post-quantum hello and its two-packet QUIC hello included).
#[test]
fn every_client_connection_has_its_sni_and_ja4() {
    let labels = std::fs::read_to_string(pcap("clients/labels.jsonl")).unwrap();
    let mut by_pcap: HashMap<String, Vec<Value>> = HashMap::new();
    for l in labels.lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        by_pcap
            .entry(v["pcap"].as_str().unwrap().to_string())
            .or_default()
            .push(v);
    }
    let mut checked = 0;
    for (file, rows) in &by_pcap {
        let events = replay(&[pcap(&format!("clients/{file}"))], true);
        let mut seen: HashMap<String, &Value> = HashMap::new();
        for e in events
            .iter()
            .filter(|e| e["event_type"] == "tls" || e["event_type"] == "quic")
        {
            seen.insert(tuple_key(e), e);
        }
        for r in rows {
            let key = format!(
                "{}:{}->{}:{}",
                r["client_ip"].as_str().unwrap(),
                r["client_port"],
                r["server_ip"].as_str().unwrap(),
                r["server_port"]
            );
            let e = seen
                .get(&key)
                .unwrap_or_else(|| panic!("{file}: no event for {key}"));
            let obj = if r["transport"] == "quic" {
                &e["quic"]
            } else {
                &e["tls"]
            };
            assert_eq!(obj["sni"], r["sni"], "{file} {key} sni");
            assert_eq!(obj["ja4"], r["ja4"], "{file} {key} ja4");
            if r["transport"] == "tcp" {
                let alpn: Vec<Value> = r["alpn"].as_array().cloned().unwrap_or_default();
                let got = obj["client_alpns"].as_array().cloned().unwrap_or_default();
                assert_eq!(got, alpn, "{file} {key} alpn");
            }
            checked += 1;
        }
        // One tls/quic event per connection, no more.
        assert_eq!(
            seen.len(),
            rows.len(),
            "{file}: events vs labelled connections"
        );
    }
    assert_eq!(checked, 161);
}

/// DNS events carry the answers, CNAME chains included.
#[test]
fn dns_answers_with_cname_chain() {
    let events = replay(&[pcap("sample.pcap")], true);
    let dns = of_type(&events, "dns");
    let resp = dns
        .iter()
        .find(|e| {
            e["dns"]["type"] == "response"
                && e["dns"]["queries"][0]["rrname"] == "fn-x.azurewebsites.net"
                && e["dns"]["queries"][0]["rrtype"] == "A"
        })
        .expect("response for fn-x.azurewebsites.net");
    let answers = resp["dns"]["answers"].as_array().unwrap();
    let chain: Vec<(&str, &str)> = answers
        .iter()
        .map(|a| (a["rrtype"].as_str().unwrap(), a["rdata"].as_str().unwrap()))
        .collect();
    assert_eq!(
        chain,
        [
            ("CNAME", "waws-prod-bl1-042.sip.azurewebsites.windows.net"),
            ("CNAME", "waws-prod-bl1-042-7f2e.eastus.cloudapp.azure.com"),
            ("A", "10.77.0.51"),
        ]
    );
    assert_eq!(resp["dns"]["rcode"], "NOERROR");
    assert_eq!(resp["dns"]["version"], 3);
    assert_eq!(resp["src_port"], 53, "a response goes from the server");
    // The AAAA answer is logged fully expanded, as Suricata does.
    let aaaa = dns
        .iter()
        .find(|e| {
            e["dns"]["type"] == "response"
                && e["dns"]["queries"][0]["rrname"] == "a1b2c3.someacct.workers.dev"
                && e["dns"]["queries"][0]["rrtype"] == "AAAA"
        })
        .expect("AAAA response");
    assert_eq!(
        aaaa["dns"]["answers"][0]["rdata"],
        "0000:0000:0000:0000:0000:ffff:0a4d:0015"
    );
}

/// Every flow event's Community ID is the spec's hash of its tuple.
#[test]
fn flow_events_carry_community_ids() {
    let events = replay(&[pcap("sample.pcap")], true);
    let flows = of_type(&events, "flow");
    assert!(flows.len() > 20, "only {} flow events", flows.len());
    for f in flows {
        let proto = match f["proto"].as_str().unwrap() {
            "TCP" => 6,
            "UDP" => 17,
            other => panic!("unexpected proto {other}"),
        };
        let want = virga::flow::community_id::community_id_v1(
            0,
            f["src_ip"].as_str().unwrap().parse().unwrap(),
            f["dest_ip"].as_str().unwrap().parse().unwrap(),
            proto,
            f["src_port"].as_u64().unwrap() as u16,
            f["dest_port"].as_u64().unwrap() as u16,
        )
        .unwrap();
        assert_eq!(f["community_id"], want.as_str());
        // Every other event of the flow shares the flow's id and Community ID.
        for e in events.iter().filter(|e| e["flow_id"] == f["flow_id"]) {
            assert_eq!(e["community_id"], f["community_id"]);
        }
    }
}

/// Without `--log-all`, only serverless names are logged.
#[test]
fn default_logs_only_serverless_names() {
    let events = replay(&[pcap("sample.pcap")], false);
    assert!(!events.is_empty());
    let cat = virga_config::Catalogue::builtin();
    for e in &events {
        let name = match e["event_type"].as_str().unwrap() {
            "tls" => e["tls"]["sni"].as_str().map(str::to_string),
            "quic" => e["quic"]["sni"].as_str().map(str::to_string),
            "dns" => e["dns"]["queries"][0]["rrname"]
                .as_str()
                .map(str::to_string),
            _ => None,
        };
        if let Some(n) = name {
            assert!(cat.lookup(&n).is_some(), "non-serverless name logged: {n}");
        }
    }
    let all = replay(&[pcap("sample.pcap")], true);
    assert!(all.len() > events.len());
    assert!(all.iter().any(|e| e["tls"]["sni"] == "updates.example.com"));
    assert!(!events
        .iter()
        .any(|e| e["tls"]["sni"] == "updates.example.com"));
}

/// A client that connects to an IP literal (no SNI) is named from its own
/// DNS answer: the flow is attributed to the Lambda URL it looked up, so it
/// is logged by default with the name, its source and the platform.
#[test]
fn flows_without_sni_are_named_from_the_clients_dns() {
    let events = replay(&[pcap("no_sni_lambda.pcap")], false);
    let tls = of_type(&events, "tls");
    assert!(tls.len() >= 10, "only {} tls events", tls.len());
    for t in &tls {
        assert!(t["tls"].get("sni").is_none(), "this client sends no SNI");
    }
    let flows: Vec<_> = of_type(&events, "flow")
        .into_iter()
        .filter(|f| f["proto"] == "TCP")
        .collect();
    assert_eq!(flows.len(), tls.len());
    for f in flows {
        let vars = f["metadata"]["flowvars"].as_array().expect("flowvars");
        let get = |k: &str| {
            vars.iter()
                .find(|v| v["key"] == k)
                .map(|v| v["value"].as_str().unwrap().to_string())
        };
        assert_eq!(
            get("virga.server_name").as_deref(),
            Some("4kq2v8zt6nmw3ryx5pbl7hcd9jsf1ega.lambda-url.eu-west-1.on.aws")
        );
        assert_eq!(get("virga.name_source").as_deref(), Some("dns"));
        assert_eq!(get("virga.platform").as_deref(), Some("aws_lambda_url"));
    }
}

/// The final `stats` event counts every packet of the capture, and the
/// periodic ones follow packet time.
#[test]
fn stats_events_count_the_capture() {
    let events = replay(&[pcap("no_sni_lambda.pcap")], false);
    let stats = of_type(&events, "stats");
    assert!(
        stats.len() >= 2,
        "periodic and final stats expected, got {}",
        stats.len()
    );
    let last = stats.last().unwrap();
    assert_eq!(last["stats"]["decoder"]["pkts"], 295);
    assert_eq!(last["stats"]["capture"]["kernel_packets"], 295);
    assert_eq!(last["stats"]["decoder"]["ipv4"], 295);
    assert!(
        last["stats"]["uptime"].as_u64().unwrap() > 3000,
        "an hour of packet time"
    );
    assert!(last["stats"]["app_layer"]["tx"]["tls"].as_u64().unwrap() >= 10);
    let mut prev = 0;
    for s in &stats {
        let up = s["stats"]["uptime"].as_u64().unwrap();
        assert!(up >= prev);
        prev = up;
    }
}

/// An HTTP/1.1 request behind three 802.1Q tags (Zeek's `vlan-qinqinq.pcap`,
/// read from the shared folder: public captures are not copied into the
/// repository) gives an `http` event with host, URL, User-Agent and method,
/// and names its flow from the Host.
#[test]
fn http_request_head_event() {
    let Some(shared) = shared() else {
        return;
    };
    let path = shared
        .join("pcaps/public/zeek/vlan-qinqinq.pcap")
        .to_string_lossy()
        .into_owned();
    let events = replay(&[path], true);
    let http = of_type(&events, "http");
    assert_eq!(http.len(), 1);
    let h = &http[0]["http"];
    assert_eq!(h["hostname"], "bro.org");
    assert_eq!(h["url"], "/download/CHANGES.bro-aux.txt");
    assert_eq!(h["http_user_agent"], "Wget/1.14 (darwin12.2.0)");
    assert_eq!(h["http_method"], "GET");
    assert_eq!(h["protocol"], "HTTP/1.1");
    let flow = of_type(&events, "flow")
        .into_iter()
        .find(|f| f["flow_id"] == http[0]["flow_id"])
        .unwrap();
    assert_eq!(flow["app_proto"], "http");
    assert_eq!(flow["metadata"]["flowvars"][1]["value"], "http_host");
}
