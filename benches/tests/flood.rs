//! Floods with a real beacon inside: state stays within its
//! bounds, evictions are counted in `stats`, and the beacon is still alerted.
//! The bounds are set small here so a debug-build test evicts heavily; the
//! default-configuration figures (peak RSS over 1–5 M flows and 1 M
//! subdomains) are in docs/RELIABILITY.md, made with `virga-gen`.

use serde_json::Value;
use std::path::PathBuf;
use virga::capture::pcap_file::PcapFile;
use virga_benches::gen::corpus::{self, Template};
use virga_benches::gen::flood::{self, Flood};
use virga_benches::gen::frames::{self, flags, Endpoint};
use virga_benches::gen::rng::Rng;
use virga_benches::gen::sink::Sink;
use virga_parsers::packet::{self, LinkType, Transport};

fn shared() -> Option<PathBuf> {
    virga_test_support::shared_path("corpus/clients/labels.jsonl")?;
    virga_test_support::shared()
}

/// curl's real connection to a workers.dev name, as `virga-gen --beacon` picks.
fn beacon(tpls: &[Template]) -> &Template {
    tpls.iter()
        .find(|t| {
            !t.quic
                && !t.browser
                && t.serverless
                && t.sni.ends_with(".workers.dev")
                && t.client == "curl"
        })
        .expect("curl to workers.dev in the corpus")
}

/// Generates the flood, replays it with `config`, returns the events.
fn flood_events(
    kind: Flood,
    packets: u64,
    config: &str,
) -> Option<(Vec<Value>, flood::BeaconInfo)> {
    let shared = shared()?;
    let tpls = corpus::load(&shared).unwrap();
    let dir = std::env::temp_dir().join(format!("virga-flood-{}-{kind:?}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pcap = dir.join("flood.pcap");
    let mut sink = Sink::create(&pcap).unwrap();
    let info = flood::generate(
        &mut sink,
        &mut Rng::new(7),
        kind,
        packets,
        300,
        Some(beacon(&tpls)),
        &tpls,
    )
    .unwrap()
    .expect("beacon info");
    sink.finish().unwrap();
    let events = replay(&pcap, config, 2);
    std::fs::remove_dir_all(&dir).unwrap();
    Some((events, info))
}

/// Replays `pcap` with `workers` workers and `config`; returns the events
/// (written to a temporary file of its own, removed after).
fn replay(pcap: &std::path::Path, config: &str, workers: usize) -> Vec<Value> {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let out = std::env::temp_dir().join(format!("virga-flood-{}-{n}.json", std::process::id()));
    let opts = virga::replay::ReplayOptions {
        inputs: vec![pcap.to_string_lossy().into_owned()],
        output: virga::output::Target::File(out.to_string_lossy().into_owned()),
        log_all: false,
        config: virga_config::from_str(config, "<flood test>").unwrap(),
        workers: Some(workers),
        attribution: None,
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

fn final_stats(events: &[Value]) -> &Value {
    &events
        .iter()
        .rev()
        .find(|e| e["event_type"] == "stats")
        .expect("a final stats event")["stats"]
}

/// The beacon host's address as EVE writes it.
fn host(info: &flood::BeaconInfo) -> String {
    let c = info.client;
    format!("{}.{}.{}.{}", c[0], c[1], c[2], c[3])
}

/// The beacon's host got a beaconing alert for the beacon's name.
fn beacon_alerted(events: &[Value], info: &flood::BeaconInfo) -> bool {
    let host = host(info);
    events.iter().any(|e| {
        e["event_type"] == "alert"
            && e["src_ip"] == host.as_str()
            && e["alert"]["signature"]
                .as_str()
                .is_some_and(|s| s.contains("beaconing"))
            && e["tls"]["sni"] == info.name.as_str()
    })
}

#[test]
fn syn_flood_evicts_counted_and_the_beacon_is_still_found() {
    let Some((events, info)) = flood_events(Flood::Syn, 150_000, "[flow]\nmax_flows = 2000\n")
    else {
        return;
    };
    let s = final_stats(&events);
    let evicted = s["flow"]["mgr"]["flows_evicted"].as_u64().unwrap();
    assert!(evicted > 100_000, "{s}");
    assert!(s["flow"]["total"].as_u64().unwrap() >= 150_000, "{s}");
    assert!(beacon_alerted(&events, &info), "beacon lost in the flood");
}

#[test]
fn subdomain_flood_bounds_the_name_cache_and_the_beacon_is_still_found() {
    let Some((events, info)) = flood_events(
        Flood::Subdomains,
        60_000,
        "[names]\nmax_entries_per_worker = 1000\n",
    ) else {
        return;
    };
    let s = final_stats(&events);
    let names = &s["virga"]["names"];
    assert!(names["evicted"].as_u64().unwrap() > 20_000, "{s}");
    assert!(
        names["learned"].as_u64().unwrap() - names["evicted"].as_u64().unwrap() <= 2 * 1000 + 1_000,
        "held names within the bound (some expire by TTL instead): {s}"
    );
    // The flood itself is an anomaly: random subdomains of one account.
    assert!(events.iter().any(|e| e["event_type"] == "alert"
        && e["alert"]["signature"]
            .as_str()
            .is_some_and(|x| x.contains("random subdomain"))));
    assert!(beacon_alerted(&events, &info), "beacon lost in the flood");
}

#[test]
fn half_sent_handshakes_stay_within_the_memcap_and_the_beacon_is_still_found() {
    // 1 MiB per worker: room for 64 QUIC buffers or 256 first flights.
    let Some((events, info)) = flood_events(
        Flood::Handshakes,
        40_000,
        "[flow]\nfirst_flight_memcap_bytes = 1048576\n\n[output]\nstats_interval_secs = 10\n",
    ) else {
        return;
    };
    let stats: Vec<&Value> = events
        .iter()
        .filter(|e| e["event_type"] == "stats")
        .map(|e| &e["stats"])
        .collect();
    assert!(stats.len() > 10, "periodic stats: {}", stats.len());
    let peak = stats
        .iter()
        .map(|s| s["tcp"]["reassembly_memuse"].as_u64().unwrap())
        .max()
        .unwrap();
    assert!(peak > 512 * 1024, "the flood fills the buffers: {peak}");
    assert!(peak <= 2 * 1_048_576, "two workers, 1 MiB each: {peak}");
    let last = final_stats(&events);
    assert!(
        last["tcp"]["segment_memcap_drop"].as_u64().unwrap() > 10_000,
        "{last}"
    );
    assert_eq!(
        last["tcp"]["reassembly_memuse"], 0,
        "all given back at the end"
    );
    assert!(beacon_alerted(&events, &info), "beacon lost in the flood");
    // Each of the beacon's connections still gets its tls event, and curl is
    // still seen as a non-browser client (a full memcap at the moment a
    // hello completes is the next test).
    let host = host(&info);
    let tls: Vec<&Value> = events
        .iter()
        .filter(|e| e["event_type"] == "tls" && e["src_ip"] == host.as_str())
        .collect();
    assert_eq!(tls.len(), info.beats, "a tls event per beat");
    assert!(tls.iter().all(|e| e["tls"]["ja4"].is_string()), "{tls:?}");
    assert!(
        events.iter().any(|e| e["event_type"] == "alert"
            && e["src_ip"] == host.as_str()
            && e["alert"]["signature"]
                .as_str()
                .is_some_and(|s| s.contains("non-browser client"))),
        "the beacon's client class lost in the flood"
    );
}

/// (src_ip, sni, ja4, ja3 hash, has ja3s) of every tls event.
fn tls_events(events: &[Value]) -> Vec<(String, String, String, String, bool)> {
    let mut v: Vec<_> = events
        .iter()
        .filter(|e| e["event_type"] == "tls")
        .map(|e| {
            let t = &e["tls"];
            (
                e["src_ip"].to_string(),
                t["sni"].to_string(),
                t["ja4"].to_string(),
                t["ja3"]["hash"].to_string(),
                t["ja3s"].is_object(),
            )
        })
        .collect();
    v.sort();
    v
}

/// (src_ip, signature, server name, client class) of every alert.
fn alert_keys(events: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = events
        .iter()
        .filter(|e| e["event_type"] == "alert")
        .map(|e| {
            let c = &e["alert"]["context"]["virga"];
            format!(
                "{} {} {} {}",
                e["src_ip"], e["alert"]["signature"], c["server_name"], c["client_class"]
            )
        })
        .collect();
    v.sort();
    v
}

/// Frames (µs, bytes) of a capture in the repository's test data.
fn test_capture(name: &str) -> Vec<(u64, Vec<u8>)> {
    let path = format!(
        "{}/../sensor/tests/data/pcaps/clients/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut f = PcapFile::open(&path).unwrap();
    let mut out = Vec::new();
    while let Some(p) = f.next_packet().unwrap() {
        out.push((p.ts.0 / 1000, p.data.to_vec()));
    }
    out
}

/// Writes `real` into `path` inside a flood that keeps the memcap full:
/// half-sent ClientHellos (`hello_start`, 100 bytes each) on other
/// connections, 800 at once a second before `real` starts, then 100 a
/// second until it ends — far more than 64 KiB held within the 30 s a flow
/// without a handshake is kept, and never a gap the size of a ClientHello or
/// a QUIC connection's state.
fn flood_around(real: &[(u64, Vec<u8>)], hello_start: &[u8], path: &std::path::Path) {
    let (first, last) = (real[0].0, real[real.len() - 1].0);
    let mut sink = Sink::create(path).unwrap();
    let dst = Endpoint {
        ip: [203, 0, 113, 7],
        port: 443,
    };
    let starts = (0..800u64)
        .map(|i| first - 1_000_000 + i)
        .chain((0..(last - first) / 10_000 + 200).map(|i| first + i * 10_000));
    for (i, t) in starts.enumerate() {
        let src = Endpoint {
            ip: [10, 250, (i >> 8) as u8, i as u8],
            port: 40_000 + (i % 20_000) as u16,
        };
        sink.push(
            t,
            frames::tcp(src, dst, 1, 1, flags::ACK | flags::PSH, hello_start),
        );
    }
    for (t, d) in real {
        sink.push(*t, d.clone());
    }
    sink.finish().unwrap();
}

/// The first 100 bytes of the first ClientHello over TCP in `frames`.
fn hello_start(frames: &[(u64, Vec<u8>)]) -> Vec<u8> {
    frames
        .iter()
        .find_map(|(_, d)| {
            let v = packet::decode(LinkType(1), d).ok()?;
            match v.transport {
                Transport::Tcp(t)
                    if t.payload.len() > 100 && t.payload[0] == 0x16 && t.payload[5] == 1 =>
                {
                    Some(t.payload[..100].to_vec())
                }
                _ => None,
            }
        })
        .expect("a ClientHello")
}

/// Replays `capture` alone and inside [`flood_around`], one worker with a
/// 64 KiB memcap; returns (alone, flooded) events.
fn alone_and_flooded(capture: &str) -> (Vec<Value>, Vec<Value>) {
    let real = test_capture(capture);
    let start = hello_start(&test_capture("curl.pcap"));
    let dir = std::env::temp_dir().join(format!("virga-memcap-{}-{capture}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let flooded = dir.join("flooded.pcap");
    flood_around(&real, &start, &flooded);
    let config = "[flow]\nfirst_flight_memcap_bytes = 65536\n";
    let alone = replay(
        std::path::Path::new(&format!(
            "{}/../sensor/tests/data/pcaps/clients/{capture}",
            env!("CARGO_MANIFEST_DIR")
        )),
        config,
        1,
    );
    let under = replay(&flooded, config, 1);
    std::fs::remove_dir_all(&dir).unwrap();
    let drops = final_stats(&under)["tcp"]["segment_memcap_drop"]
        .as_u64()
        .unwrap();
    assert!(drops > 100, "the memcap was full: {drops} drops");
    (alone, under)
}

/// A full memcap leaves no room to keep a complete ClientHello in its flow;
/// curl's real connections must still each get their `tls` event (without
/// the server's side, as when no ServerHello is seen) and their client
/// class: the same alerts as without the flood.
#[test]
fn a_full_memcap_still_logs_and_classifies_complete_client_hellos() {
    let (plain, under) = alone_and_flooded("curl.pcap");
    let (want, got) = (tls_events(&plain), tls_events(&under));
    assert!(want.len() >= 10 && want.iter().all(|t| t.4), "{want:?}");
    assert_eq!(got.len(), want.len(), "{got:#?}");
    for (w, g) in want.iter().zip(&got) {
        assert_eq!((&w.0, &w.1, &w.2, &w.3), (&g.0, &g.1, &g.2, &g.3));
        assert!(!g.4, "logged at once, without the server's side: {g:?}");
    }
    let alerts = alert_keys(&plain);
    assert!(
        alerts.iter().any(|a| a.contains("non-browser client")),
        "{alerts:#?}"
    );
    assert_eq!(alert_keys(&under), alerts);
}

/// The same for QUIC: with no room for a connection's CRYPTO state, a
/// ClientHello whole in its first Initial (aioquic's) is still logged and
/// classified.
#[test]
fn a_full_memcap_still_logs_and_classifies_quic_hellos_in_one_datagram() {
    let (plain, under) = alone_and_flooded("python-aioquic-h3.pcap");
    let quic = |ev: &[Value]| -> Vec<String> {
        let mut v: Vec<String> = ev
            .iter()
            .filter(|e| e["event_type"] == "quic")
            .map(|e| format!("{} {} {}", e["src_ip"], e["quic"]["sni"], e["quic"]["ja4"]))
            .collect();
        v.sort();
        v
    };
    let want = quic(&plain);
    assert!(!want.is_empty());
    assert_eq!(quic(&under), want);
    let alerts = alert_keys(&plain);
    assert!(
        alerts.iter().any(|a| a.contains("non-browser client")),
        "{alerts:#?}"
    );
    assert_eq!(alert_keys(&under), alerts);
}
