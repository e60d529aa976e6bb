//! Beats inside one connection and to any destination: captures written
//! with the generator's frame builders (real curl ClientHello and server
//! flight from the lab corpus where a TLS connection is needed), replayed
//! through the real pipeline, alerts read from its EVE output.
//!
//! - a curl client that keeps one TLS connection to a Worker open and polls
//!   inside it (serverless scope: bursts are beats);
//! - curl connecting to a Worker every 2.2 s (shorter than the beat-merge
//!   window);
//! - `scope = "all"`: HTTP polling over one keep-alive connection with an
//!   address as `Host`, a raw TCP heartbeat with no name, a UDP datagram
//!   heartbeat; the same heartbeat to an infrastructure port is left out.

use serde_json::Value;
use std::path::{Path, PathBuf};
use virga_benches::gen::corpus::{self, Template};
use virga_benches::gen::frames::{self, Endpoint, TcpConn};
use virga_benches::gen::rng::Rng;
use virga_benches::gen::sink::Sink;

const CLIENT: [u8; 4] = [10, 40, 0, 7];
/// Microseconds.
const SEC: u64 = 1_000_000;
const START: u64 = 1_793_610_000 * SEC;

fn shared() -> Option<PathBuf> {
    virga_test_support::shared_path("corpus/clients/labels.jsonl")?;
    virga_test_support::shared()
}

fn curl_to_worker(tpls: &[Template]) -> &Template {
    tpls.iter()
        .find(|t| !t.quic && t.serverless && t.client == "curl" && t.sni.ends_with(".workers.dev"))
        .expect("curl to workers.dev in the corpus")
}

/// Writes a capture with `write`, replays it with `config`, returns the
/// beacon alerts.
fn beacon_alerts(name: &str, config: &str, write: impl FnOnce(&mut Sink)) -> Vec<Value> {
    let dir = std::env::temp_dir().join(format!("virga-beats-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("beats.pcap");
    let mut sink = Sink::create(&pcap).unwrap();
    write(&mut sink);
    sink.finish().unwrap();
    let events = replay(&pcap, config);
    std::fs::remove_dir_all(&dir).unwrap();
    events
        .into_iter()
        .filter(|e| e["event_type"] == "alert")
        .filter(|e| e["alert"]["context"]["virga"]["detector"] == "beacon")
        .collect()
}

fn replay(pcap: &Path, config: &str) -> Vec<Value> {
    let out = pcap.with_extension("json");
    let opts = virga::replay::ReplayOptions {
        inputs: vec![pcap.to_string_lossy().into_owned()],
        output: virga::output::Target::File(out.to_string_lossy().into_owned()),
        log_all: false,
        config: virga_config::from_str(config, "<beat test>").unwrap(),
        workers: Some(2),
        attribution: None,
    };
    virga::replay::run(&opts).unwrap();
    std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Sleep of about `period` seconds with ± `jitter` (fraction), microseconds.
fn sleep(rng: &mut Rng, period: f64, jitter: f64) -> u64 {
    let f = 1.0 + jitter * (2.0 * rng.unit() - 1.0);
    (period * f * SEC as f64) as u64
}

fn sources(a: &Value) -> Vec<&str> {
    a["alert"]["context"]["virga"]["beat_sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect()
}

/// One TCP connection: a handshake, `first` from the client and `reply` from
/// the server, then `polls` client messages `period` s (± `jitter`) apart,
/// each answered.
#[allow(clippy::too_many_arguments)]
fn polling_connection(
    sink: &mut Sink,
    rng: &mut Rng,
    server: Endpoint,
    opening: &[(bool, Vec<u8>)],
    poll: &[u8],
    polls: usize,
    period: f64,
    jitter: f64,
) {
    let client = Endpoint {
        ip: CLIENT,
        port: 40_000 + rng.below(20_000) as u16,
    };
    let mut c = TcpConn::open(sink, rng, client, server, START, 20_000);
    for (from_client, data) in opening {
        c.send(sink, *from_client, data, 100);
    }
    for _ in 0..polls {
        c.t += sleep(rng, period, jitter);
        c.send(sink, true, poll, 100);
        c.send(sink, false, &[0x42; 600], 100);
    }
    c.close(sink);
}

#[test]
fn polls_inside_one_tls_connection_to_a_worker_are_beats() {
    let Some(shared) = shared() else { return };
    let tpls = corpus::load(&shared).unwrap();
    let curl = curl_to_worker(&tpls);
    let server = Endpoint {
        ip: [104, 21, 7, 9],
        port: 443,
    };
    // TLS application data records, as a client sends its polls.
    let mut poll = vec![0x17, 0x03, 0x03, 0x01, 0x00];
    poll.resize(261, 0x5a);
    let alerts = beacon_alerts("tls", "", |sink| {
        let mut rng = Rng::new(3);
        polling_connection(sink, &mut rng, server, &curl.payloads, &poll, 24, 30.0, 0.2);
    });
    assert!(
        !alerts.is_empty(),
        "no beacon alert for polls inside one connection"
    );
    let a = &alerts[0];
    assert_eq!(a["dest_ip"], "104.21.7.9");
    assert_eq!(a["dest_port"], 443);
    let ctx = &a["alert"]["context"]["virga"];
    assert_eq!(ctx["server_name"], curl.sni.as_str());
    assert_eq!(ctx["name_source"], "sni");
    assert_eq!(sources(a), ["connections", "bursts"]);
    let period = ctx["period_secs"].as_f64().unwrap();
    assert!((20.0..=36.0).contains(&period), "{ctx}");
}

#[test]
fn connections_every_two_seconds_are_a_beacon() {
    let Some(shared) = shared() else { return };
    let tpls = corpus::load(&shared).unwrap();
    let curl = curl_to_worker(&tpls);
    let server = Endpoint {
        ip: [104, 21, 7, 10],
        port: 443,
    };
    let alerts = beacon_alerts("curl22", "", |sink| {
        let mut rng = Rng::new(5);
        let mut t = START;
        for i in 0..120u16 {
            let client = Endpoint {
                ip: CLIENT,
                port: 30_000 + i,
            };
            let mut c = TcpConn::open(sink, &mut rng, client, server, t, 20_000);
            for (from_client, data) in &curl.payloads {
                c.send(sink, *from_client, data, 100);
            }
            c.close(sink);
            t += sleep(&mut rng, 2.2, 0.05);
        }
    });
    assert!(!alerts.is_empty(), "curl every 2.2 s was not alerted");
    let ctx = &alerts[0]["alert"]["context"]["virga"];
    assert_eq!(sources(&alerts[0]), ["connections"]);
    let period = ctx["period_secs"].as_f64().unwrap();
    assert!((1.9..=2.6).contains(&period), "{ctx}");
}

const ALL: &str = "[detect.beacon]\nscope = \"all\"\n";

#[test]
fn http_polling_over_keep_alive_to_an_address() {
    let server = Endpoint {
        ip: [10, 9, 8, 7],
        port: 8080,
    };
    let request = b"GET /tasks HTTP/1.1\r\nHost: 10.9.8.7:8080\r\nUser-Agent: Mozilla/5.0\r\n\r\n";
    let write = |sink: &mut Sink| {
        let mut rng = Rng::new(9);
        let opening = vec![
            (true, request.to_vec()),
            (false, b"HTTP/1.1 200 OK\r\n\r\n".to_vec()),
        ];
        polling_connection(sink, &mut rng, server, &opening, request, 40, 5.0, 0.1);
    };
    let alerts = beacon_alerts("http-all", ALL, write);
    assert!(
        !alerts.is_empty(),
        "HTTP polling over one connection was not alerted"
    );
    let a = &alerts[0];
    assert_eq!(
        (a["dest_ip"].as_str(), a["dest_port"].as_u64()),
        (Some("10.9.8.7"), Some(8080))
    );
    let ctx = &a["alert"]["context"]["virga"];
    assert_eq!(ctx["server_name"], "10.9.8.7");
    assert_eq!(ctx["name_source"], "http_host");
    assert_eq!(ctx["platform"], "none");
    assert_eq!(sources(a), ["connections", "requests"]);
    // The serverless scope leaves a private address alone.
    assert!(beacon_alerts("http-serverless", "", write).is_empty());
}

#[test]
fn raw_heartbeats_without_a_name_and_infrastructure_left_out() {
    let heartbeat = |port: u16| {
        move |sink: &mut Sink| {
            let mut rng = Rng::new(11);
            let server = Endpoint {
                ip: [10, 9, 8, 6],
                port,
            };
            polling_connection(sink, &mut rng, server, &[], &[0x01; 20], 24, 20.0, 0.15);
        }
    };
    let alerts = beacon_alerts("raw-all", ALL, heartbeat(4444));
    assert!(!alerts.is_empty(), "a raw TCP heartbeat was not alerted");
    let ctx = &alerts[0]["alert"]["context"]["virga"];
    assert_eq!(ctx["server_name"], "10.9.8.6");
    assert_eq!(ctx["name_source"], "address");
    assert_eq!(sources(&alerts[0]), ["connections", "bursts"]);
    // SMB is in the default infrastructure ports.
    assert!(beacon_alerts("raw-smb", ALL, heartbeat(445)).is_empty());
    // UDP: one datagram every 30 s (one flow, under its idle timeout).
    let udp = beacon_alerts("udp-all", ALL, |sink| {
        let mut rng = Rng::new(13);
        let (client, server) = (
            Endpoint {
                ip: CLIENT,
                port: 50_000,
            },
            Endpoint {
                ip: [10, 9, 8, 5],
                port: 9999,
            },
        );
        let mut t = START;
        for _ in 0..24 {
            sink.push(t, frames::udp(client, server, &[0x07; 48]));
            t += sleep(&mut rng, 30.0, 0.15);
        }
    });
    assert!(!udp.is_empty(), "a UDP heartbeat was not alerted");
    assert_eq!(
        udp[0]["alert"]["context"]["virga"]["server_name"],
        "10.9.8.5"
    );
    assert_eq!(udp[0]["proto"], "UDP");
}
