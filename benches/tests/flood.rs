//! Floods with a real beacon inside (issue #7): state stays within its
//! bounds, evictions are counted in `stats`, and the beacon is still alerted.
//! The bounds are set small here so a debug-build test evicts heavily; the
//! default-configuration figures (peak RSS over 1–5 M flows and 1 M
//! subdomains) are in docs/RELIABILITY.md, made with `virga-gen`.

use serde_json::Value;
use std::path::PathBuf;
use virga_benches::gen::corpus::{self, Template};
use virga_benches::gen::flood::{self, Flood};
use virga_benches::gen::rng::Rng;
use virga_benches::gen::sink::Sink;

fn shared() -> Option<PathBuf> {
    let p = std::env::var_os("VIRGA_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")));
    if p.join("corpus/clients/labels.jsonl").exists() {
        Some(p)
    } else {
        eprintln!("note: {} has no corpus; flood tests skipped", p.display());
        None
    }
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
    let out = dir.join("eve.json");
    let opts = virga::replay::ReplayOptions {
        inputs: vec![pcap.to_string_lossy().into_owned()],
        output: virga::output::Target::File(out.to_string_lossy().into_owned()),
        log_all: false,
        config: virga_config::from_str(config, "<flood test>").unwrap(),
        workers: Some(2),
    };
    virga::replay::run(&opts).unwrap();
    let events = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    std::fs::remove_dir_all(&dir).unwrap();
    Some((events, info))
}

fn final_stats(events: &[Value]) -> &Value {
    &events
        .iter()
        .rev()
        .find(|e| e["event_type"] == "stats")
        .expect("a final stats event")["stats"]
}

/// The beacon's host got a beaconing alert for the beacon's name.
fn beacon_alerted(events: &[Value], info: &flood::BeaconInfo) -> bool {
    let host = format!(
        "{}.{}.{}.{}",
        info.client[0], info.client[1], info.client[2], info.client[3]
    );
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
}
