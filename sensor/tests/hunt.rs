//! `virga hunt`: Zeek logs read in both formats, plain and gzip, from files,
//! flat folders and daily folders of rotated logs, joined into records and
//! run through the detectors; bad lines reported and counted, never fatal.

use flate2::write::GzEncoder;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use virga::hunt::{self, HuntOptions};
use virga::output::Target;
use virga::zeek::reader::Item;
use virga::zeek::{Detail, LogKind, LogReader};
use virga_config::BeaconScope;

fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("virga-hunt-{}-{n}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn rows_of(
    name: &str,
    kind: Option<LogKind>,
    data: &[u8],
) -> (Vec<virga::zeek::LogRow>, Vec<String>) {
    let mut r = LogReader::from_reader(
        PathBuf::from(name),
        kind,
        Box::new(std::io::Cursor::new(data.to_vec())),
    );
    let (mut rows, mut bad) = (Vec::new(), Vec::new());
    while let Some(i) = r.next_item() {
        match i {
            Item::Row(row) => rows.push(row),
            Item::Bad(b) => bad.push(b.to_string()),
        }
    }
    (rows, bad)
}

/// A Zeek TSV header as Zeek writes it.
fn tsv_header(path: &str, fields: &[&str]) -> String {
    format!(
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\t{path}\n#open\t2024-01-01-00-00-00\n#fields\t{}\n#types\t{}\n",
        fields.join("\t"),
        fields.iter().map(|_| "string").collect::<Vec<_>>().join("\t")
    )
}

const CONN_FIELDS: &[&str] = &[
    "ts",
    "uid",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "service",
    "duration",
    "orig_bytes",
    "resp_bytes",
    "conn_state",
    "local_orig",
    "history",
    "community_id",
];

fn conn_line(ts: f64, uid: &str, client: &str, port: u16, server: &str, sport: u16) -> String {
    format!("{ts:.6}\t{uid}\t{client}\t{port}\t{server}\t{sport}\ttcp\t-\t0.120000\t310\t1024\tSF\tT\tShADadFf\t1:abc=\n")
}

#[test]
fn tsv_reads_every_header_directive_escapes_unset_empty_and_sets() {
    let mut log = String::from("#separator \\x09\n#set_separator\t;\n#empty_field\tEMPTY\n#unset_field\tNONE\n#path\tdns\n");
    log.push_str("#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tquery\tqtype\trcode\tanswers\tTTLs\textra\n");
    log.push_str("#types\ttime\tstring\taddr\tport\taddr\tport\tstring\tcount\tcount\tvector[string]\tvector[interval]\tstring\n");
    log.push_str("1700000000.250000\tCq\\x09x\t10.0.0.5\t5353\t10.0.0.1\t53\ta\\x2eworkers.dev\t1\t0\t104.21.0.1;cname.example\t300.0;60.0\tz\n");
    log.push_str(
        "1700000001.000000\tCr\t10.0.0.5\t5354\t10.0.0.1\t53\tEMPTY\t1\tNONE\tEMPTY\tNONE\tz\n",
    );
    let (rows, bad) = rows_of("x.log", None, log.as_bytes());
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].kind, LogKind::Dns, "#path names the log");
    assert_eq!(rows[0].uid.as_deref(), Some("Cq\tx"), "\\x09 unescaped");
    assert_eq!(rows[0].ts.subsec_micros(), 250_000);
    match &rows[0].detail {
        Detail::Dns {
            query,
            answers,
            rcode,
            ..
        } => {
            assert_eq!(query.as_deref(), Some("a.workers.dev"));
            assert_eq!(*rcode, Some(0));
            let a: Vec<_> = answers.iter().map(|(a, t)| (a.to_string(), *t)).collect();
            assert_eq!(
                a,
                [
                    ("104.21.0.1".to_string(), 300),
                    ("cname.example".to_string(), 60)
                ]
            );
        }
        d => panic!("{d:?}"),
    }
    match &rows[1].detail {
        Detail::Dns {
            query,
            answers,
            rcode,
            ..
        } => {
            assert_eq!(query, &None, "empty field");
            assert_eq!(*rcode, None, "unset field");
            assert!(answers.is_empty());
        }
        d => panic!("{d:?}"),
    }
}

#[test]
fn json_lines_with_epoch_and_iso_times_renamed_nested_fields_and_path() {
    let log = br#"{"_path":"ssl","ts":1700000000.5,"uid":"C1","id.orig_h":"10.0.0.5","id.orig_p":40000,"id.resp_h":"104.21.0.1","id.resp_p":443,"server_name":"a.workers.dev","ja4":"t13d1516h2_8daaf6152771_02713d6af862","established":true,"unknown":[1,2]}
{"_path":"conn","ts":"2023-11-14T22:13:20.500000Z","uid":"C1","id_orig_h":"10.0.0.5","id_orig_p":40000,"id_resp_h":"104.21.0.1","id_resp_p":443,"proto":"tcp","service":"ssl","orig_bytes":512}
{"_path":"http","ts":1700000002,"uid":"C2","id":{"orig_h":"10.0.0.6","orig_p":40001,"resp_h":"10.0.0.9","resp_p":3128},"method":"CONNECT","uri":"c2.example:443","host":"c2.example:443"}
{"_path":"weird","ts":1700000003,"name":"x"}
"#;
    let (rows, bad) = rows_of("zeek.json", None, log);
    assert!(bad.is_empty(), "{bad:?}");
    assert_eq!(rows.len(), 3, "the weird line is another log's");
    assert_eq!(rows[0].kind, LogKind::Ssl);
    assert_eq!(rows[0].ts, rows[1].ts, "epoch and ISO 8601 are one time");
    assert_eq!(rows[1].kind, LogKind::Conn);
    assert_eq!(rows[1].orig.port, 40000, "shipper renames");
    assert_eq!(rows[2].resp.port, 3128, "nested id object");
    match &rows[0].detail {
        Detail::Ssl {
            server_name,
            ja4,
            established,
        } => {
            assert_eq!(server_name.as_deref(), Some("a.workers.dev"));
            assert!(ja4.is_some());
            assert!(established);
        }
        d => panic!("{d:?}"),
    }
}

#[test]
fn hostile_lines_are_counted_not_fatal() {
    let mut log = tsv_header("conn", CONN_FIELDS);
    log.push_str("not\ta\tline\n");
    log.push_str("1700000000.0\tC1\t999.1.1.1\t1\t10.0.0.1\t80\ttcp\n");
    log.push_str("1700000000.0\tC1\t10.0.0.2\t99999\t10.0.0.1\t80\ttcp\n");
    log.push_str("\u{0}\u{ff}garbage\n");
    log.push_str(&conn_line(
        1_700_000_001.0,
        "C2",
        "10.0.0.2",
        1000,
        "10.0.0.1",
        80,
    ));
    let mut bytes = log.into_bytes();
    bytes.extend(std::iter::repeat_n(b'a', 2 << 20));
    bytes.push(b'\n');
    bytes.extend_from_slice(&[0xff, 0xfe, b'\t', b'\n']);
    let (rows, bad) = rows_of("conn.log", Some(LogKind::Conn), &bytes);
    assert_eq!(rows.len(), 1);
    assert_eq!(bad.len(), 6, "{bad:?}");
    assert!(
        bad[0].starts_with("conn.log:9: "),
        "FILE:LINE: REASON, {}",
        bad[0]
    );
    assert!(bad.iter().any(|b| b.contains("longer than")), "{bad:?}");
}

fn gz(path: &Path, text: &str) {
    let f = std::fs::File::create(path).unwrap();
    let mut e = GzEncoder::new(f, flate2::Compression::fast());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap();
}

/// Hunts `inputs`, returns the EVE lines.
fn hunt(
    inputs: &[&Path],
    scope: Option<BeaconScope>,
) -> (Vec<serde_json::Value>, hunt::HuntSummary) {
    let out = inputs[0].with_extension("eve.json");
    let opts = HuntOptions {
        inputs: inputs.iter().map(|p| p.display().to_string()).collect(),
        output: Target::File(out.display().to_string()),
        scope,
        report_bad: Some(|_| {}),
        ..HuntOptions::default()
    };
    let s = hunt::run(&opts).unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    (
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        s,
    )
}

fn beacon_alerts<'a>(events: &'a [serde_json::Value], name: &str) -> Vec<&'a serde_json::Value> {
    events
        .iter()
        .filter(|e| e["event_type"] == "alert")
        .filter(|e| e["alert"]["context"]["virga"]["detector"] == "beacon")
        .filter(|e| e["alert"]["context"]["virga"]["server_name"] == name)
        .collect()
}

/// Deterministic jitter in [0, 1).
fn jitter(i: u64) -> f64 {
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ 0x5851_F42D_4C95_7F2D;
    (x % 10_000) as f64 / 10_000.0
}

#[test]
fn ip_beacon_in_hourly_rotated_gzip_logs_over_two_days_found_with_scope_all() {
    let root = temp_dir("rotated");
    let start = 1_700_006_400.0; // 2023-11-15 00:00:00 UTC
    let mut beacon_times = Vec::new();
    let mut t = start + 13.0;
    let mut i = 0;
    while t < start + 2.0 * 86_400.0 {
        beacon_times.push(t);
        // 200–350 s between check-ins.
        t += 200.0 + 150.0 * jitter(i);
        i += 1;
    }
    for hour in 0..48u64 {
        let day = if hour < 24 {
            "2023-11-15"
        } else {
            "2023-11-16"
        };
        let dir = root.join(day);
        std::fs::create_dir_all(&dir).unwrap();
        let h = hour % 24;
        let lo = start + hour as f64 * 3600.0;
        let hi = lo + 3600.0;
        let mut conn = tsv_header("conn", CONN_FIELDS);
        let mut k = 0;
        let mut noise = lo + 1.0;
        for (n, bt) in beacon_times
            .iter()
            .enumerate()
            .filter(|(_, t)| **t >= lo && **t < hi)
        {
            // Browsing noise to many servers between beats.
            while noise < *bt {
                k += 1;
                let server = format!("93.184.{}.{}", (k % 200) + 1, (hour % 50) + 1);
                conn.push_str(&conn_line(
                    noise,
                    &format!("N{hour}x{k}"),
                    "10.1.0.7",
                    50_000 + (k % 1000) as u16,
                    &server,
                    443,
                ));
                noise += 37.0 + 11.0 * jitter(k + 7);
            }
            conn.push_str(&conn_line(
                *bt,
                &format!("B{n}"),
                "10.1.0.9",
                40_000 + (n % 20_000) as u16,
                "203.0.113.77",
                8443,
            ));
        }
        gz(
            &dir.join(format!("conn.{h:02}:00:00-{:02}:00:00.log.gz", h + 1)),
            &conn,
        );
        gz(
            &dir.join(format!("weird.{h:02}:00:00-{:02}:00:00.log.gz", h + 1)),
            "#separator \\x09\n",
        );
    }
    let (events, s) = hunt(&[&root], Some(BeaconScope::All));
    assert_eq!(s.counters.files, 48, "weird logs are skipped");
    assert_eq!(s.counters.bad_lines, 0);
    let found = beacon_alerts(&events, "203.0.113.77");
    assert!(!found.is_empty(), "the IP beacon is found");
    let v = &found[0]["alert"]["context"]["virga"];
    assert_eq!(v["name_source"], "address");
    let period = v["period_secs"].as_f64().unwrap();
    assert!((200.0..=350.0).contains(&period), "period {period}");
    let uids = v["zeek_uids"].as_array().unwrap();
    assert!(!uids.is_empty() && uids.len() <= 5);
    assert!(
        uids.iter().all(|u| u.as_str().unwrap().starts_with('B')),
        "{uids:?}"
    );
    assert!(events
        .iter()
        .any(|e| e["event_type"] == "stats"
            && e["stats"]["virga"]["hunt"]["rows"].as_u64() > Some(1000)));
    // Scoring serverless names only, an address is not scored.
    let (events, _) = hunt(&[&root], Some(BeaconScope::Serverless));
    assert!(beacon_alerts(&events, "203.0.113.77").is_empty());
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn http_beacon_through_a_proxy_is_attributed_to_the_proxied_host() {
    let root = temp_dir("proxy");
    let fields = [
        "ts",
        "uid",
        "id.orig_h",
        "id.orig_p",
        "id.resp_h",
        "id.resp_p",
        "trans_depth",
        "method",
        "host",
        "uri",
        "user_agent",
    ];
    let mut http = tsv_header("http", &fields);
    let mut conn = tsv_header("conn", CONN_FIELDS);
    let start = 1_700_000_000.0;
    for n in 0..60u64 {
        let t = start + n as f64 * 120.0 + 5.0 * jitter(n);
        let uid = format!("P{n}");
        conn.push_str(&conn_line(
            t,
            &uid,
            "10.2.0.4",
            41_000 + n as u16,
            "10.2.0.1",
            3128,
        ));
        http.push_str(&format!("{:.6}\t{uid}\t10.2.0.4\t{}\t10.2.0.1\t3128\t1\tGET\tupdates.example.org\thttp://updates.example.org/check?id={n}\tcurl/8.5.0\n", t + 0.01, 41_000 + n));
        // Other users' browsing through the same proxy.
        let b = t + 40.0;
        conn.push_str(&conn_line(
            b,
            &format!("W{n}"),
            "10.2.0.5",
            42_000 + n as u16,
            "10.2.0.1",
            3128,
        ));
        http.push_str(&format!("{:.6}\tW{n}\t10.2.0.5\t{}\t10.2.0.1\t3128\t1\tCONNECT\tsite{n}.example:443\tsite{n}.example:443\tMozilla/5.0\n", b + 0.01, 42_000 + n));
    }
    std::fs::write(root.join("conn.log"), conn).unwrap();
    std::fs::write(root.join("http.log"), http).unwrap();
    let (events, s) = hunt(&[&root], Some(BeaconScope::All));
    assert_eq!(s.counters.bad_lines, 0);
    let found = beacon_alerts(&events, "updates.example.org");
    assert!(!found.is_empty(), "the proxied host beacons");
    let v = &found[0]["alert"]["context"]["virga"];
    assert_eq!(v["name_source"], "http_host");
    assert_eq!(v["client_class"], "non_browser", "curl's user agent");
    assert_eq!(v["client_reasons"], serde_json::json!(["tool_user_agent"]));
    assert!(
        beacon_alerts(&events, "10.2.0.1").is_empty(),
        "not the proxy's address"
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn tls_beacon_to_a_serverless_name_from_json_ssl_and_dns_logs_only() {
    let root = temp_dir("ssl-dns");
    let mut ssl = String::new();
    let mut dns = String::new();
    let start = 1_700_000_000.0;
    for n in 0..40u64 {
        let t = start + n as f64 * 300.0 + 20.0 * jitter(n);
        dns.push_str(&format!(
            "{{\"ts\":{:.6},\"uid\":\"D{n}\",\"id.orig_h\":\"10.3.0.8\",\"id.orig_p\":5{n:04},\"id.resp_h\":\"10.3.0.1\",\"id.resp_p\":53,\"proto\":\"udp\",\"query\":\"relay.acme.workers.dev\",\"qtype\":1,\"rcode\":0,\"answers\":[\"104.21.9.9\"],\"TTLs\":[300.0],\"rtt\":0.01}}\n",
            t - 0.2
        ));
        ssl.push_str(&format!(
            "{{\"ts\":\"{}\",\"uid\":\"S{n}\",\"id.orig_h\":\"10.3.0.8\",\"id.orig_p\":{},\"id.resp_h\":\"104.21.9.9\",\"id.resp_p\":443,\"version\":\"TLSv13\",\"server_name\":\"relay.acme.workers.dev\",\"established\":true}}\n",
            iso(t),
            45_000 + n
        ));
    }
    std::fs::write(root.join("dns.log"), dns).unwrap();
    gz(&root.join("ssl.log.gz"), &ssl);
    let (events, s) = hunt(&[&root.join("dns.log"), &root.join("ssl.log.gz")], None);
    assert_eq!(s.counters.bad_lines, 0);
    assert!(s.counters.dns_lookups > 0);
    let found = beacon_alerts(&events, "relay.acme.workers.dev");
    assert!(
        !found.is_empty(),
        "serverless TLS beacon from ssl.log alone"
    );
    assert_eq!(
        found[0]["alert"]["context"]["virga"]["platform"],
        "cloudflare_workers"
    );
    let _ = std::fs::remove_dir_all(&root);
}

fn iso(t: f64) -> String {
    let secs = t.floor() as i64;
    let micros = ((t - t.floor()) * 1e6) as i64;
    let ts = jiff::Timestamp::from_second(secs).unwrap();
    let s = ts.strftime("%Y-%m-%dT%H:%M:%S").to_string();
    format!("{s}.{micros:06}Z")
}

#[test]
fn bad_lines_are_reported_once_per_file_and_counted_in_stats() {
    static REPORTED: AtomicU64 = AtomicU64::new(0);
    let root = temp_dir("bad");
    let mut conn = tsv_header("conn", CONN_FIELDS);
    conn.push_str("garbage\n");
    conn.push_str(&conn_line(
        1_700_000_000.0,
        "C1",
        "10.0.0.2",
        1000,
        "10.0.0.1",
        80,
    ));
    conn.push_str("1700000001.0\tC2\tnot-an-ip\t1\t10.0.0.1\t80\n");
    std::fs::write(root.join("conn.log"), conn).unwrap();
    std::fs::write(root.join("dns.log"), "{\"ts\": oops}\n").unwrap();
    let out = root.join("eve.out");
    let opts = HuntOptions {
        inputs: vec![root.display().to_string()],
        output: Target::File(out.display().to_string()),
        report_bad: Some(|b| {
            assert!(b.to_string().contains(".log:"), "{b}");
            REPORTED.fetch_add(1, Ordering::Relaxed);
        }),
        ..HuntOptions::default()
    };
    let s = hunt::run(&opts).unwrap();
    assert_eq!(s.counters.bad_lines, 3);
    assert_eq!(REPORTED.load(Ordering::Relaxed), 2, "once per file");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains("\"bad_lines\":3"), "{text}");
    let _ = std::fs::remove_dir_all(&root);
}

mod hostile {
    use super::*;
    use proptest::prelude::*;

    fn header_or_json() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(tsv_header("conn", CONN_FIELDS).into_bytes()),
            Just(b"{\"_path\":\"dns\",".to_vec()),
            Just(Vec::new()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Any bytes after a real header or a JSON start: read and joined
        /// without a panic, every line a row or a bad line.
        #[test]
        fn any_bytes_read_and_joined_without_panic(
            head in header_or_json(),
            body in proptest::collection::vec(any::<u8>(), 0..4096),
            lines in proptest::collection::vec("[0-9.\\t:a-fC-]{0,80}", 0..20),
        ) {
            let mut data = head;
            data.extend_from_slice(&body);
            for l in &lines {
                data.push(b'\n');
                data.extend_from_slice(l.as_bytes());
            }
            let cfg = virga_config::Config::default();
            let known = virga_config::shipped_ja4().unwrap();
            let mut joiner = virga::zeek::records::Joiner::new(virga::settings::zeek_join_settings(&cfg, &known));
            let origin: std::sync::Arc<str> = std::sync::Arc::from("p.log");
            for kind in [None, Some(LogKind::Conn), Some(LogKind::Http)] {
                let mut r = LogReader::from_reader(PathBuf::from("p.log"), kind, Box::new(std::io::Cursor::new(data.clone())));
                while let Some(item) = r.next_item() {
                    if let Item::Row(row) = item {
                        joiner.row(row, &origin);
                    }
                }
                prop_assert!(r.stats.rows + r.stats.bad + r.stats.other <= r.stats.lines + 1);
            }
            joiner.finish();
            let _ = joiner.take();
        }
    }
}

#[test]
fn cli_refuses_a_missing_path_and_a_bad_scope_with_status_2() {
    let bin = env!("CARGO_BIN_EXE_virga");
    let dir = temp_dir("cli");
    let out = dir.join("eve.json");
    let missing = std::process::Command::new(bin)
        .args(["hunt", "-o"])
        .arg(&out)
        .arg(dir.join("no-such-dir"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such-dir"));
    let scope = std::process::Command::new(bin)
        .args(["hunt", "--scope", "some", "-o"])
        .arg(&out)
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(scope.status.code(), Some(2));
    let mut conn = tsv_header("conn", CONN_FIELDS);
    conn.push_str("garbage line\n");
    conn.push_str(&conn_line(
        1_700_000_000.0,
        "C1",
        "10.0.0.2",
        1000,
        "10.0.0.1",
        80,
    ));
    std::fs::write(dir.join("conn.log"), conn).unwrap();
    let ok = std::process::Command::new(bin)
        .args(["hunt", "--scope", "all", "-o"])
        .arg(&out)
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0));
    let err = String::from_utf8_lossy(&ok.stderr);
    assert!(err.contains("conn.log:9: "), "{err}");
    assert!(std::fs::read_to_string(&out)
        .unwrap()
        .contains("\"event_type\":\"stats\""));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn requests_to_many_hosts_on_one_proxy_connection_are_beats_of_each_host() {
    let root = temp_dir("keepalive");
    let fields = [
        "ts",
        "uid",
        "id.orig_h",
        "id.orig_p",
        "id.resp_h",
        "id.resp_p",
        "trans_depth",
        "method",
        "host",
        "uri",
        "user_agent",
    ];
    let mut http = tsv_header("http", &fields);
    let start = 1_700_000_000.0;
    let mut conn = tsv_header("conn", CONN_FIELDS);
    // One keep-alive connection to the proxy for two hours.
    conn.push_str(&format!(
        "{start:.6}\tK1\t10.4.0.4\t43000\t10.4.0.1\t8080\ttcp\thttp\t7200.000000\t90000\t900000\tSF\tT\tShADadFf\t-\n"
    ));
    for n in 0..60u64 {
        let t = start + 1.0 + n as f64 * 120.0 + 3.0 * jitter(n);
        http.push_str(&format!("{t:.6}\tK1\t10.4.0.4\t43000\t10.4.0.1\t8080\t{}\tGET\tnews{}.example\thttp://news{}.example/\tMozilla/5.0\n", 2 * n + 1, n % 7, n % 7));
        http.push_str(&format!("{:.6}\tK1\t10.4.0.4\t43000\t10.4.0.1\t8080\t{}\tPOST\tc2.example.net\thttp://c2.example.net/beat\tMozilla/5.0\n", t + 30.0, 2 * n + 2));
    }
    std::fs::write(root.join("conn.log"), conn).unwrap();
    std::fs::write(root.join("http.log"), http).unwrap();
    let (events, s) = hunt(&[&root], Some(BeaconScope::All));
    assert_eq!(s.counters.bad_lines, 0);
    assert!(s.counters.beats_inside >= 100, "{:?}", s.counters);
    let found = beacon_alerts(&events, "c2.example.net");
    assert!(
        !found.is_empty(),
        "the beacon host on a shared proxy connection"
    );
    let uids = found[0]["alert"]["context"]["virga"]["zeek_uids"]
        .as_array()
        .unwrap();
    assert_eq!(uids.len(), 1, "one connection: {uids:?}");
    let _ = std::fs::remove_dir_all(&root);
}

/// `virga hunt --sysmon`: the logs' connections are joined to the host's
/// network-connection events as packets are, so the beacon alert names the
/// program. The events are written by the test in NXLog's flat shape, one
/// per ssl.log connection (its tuple, its time), all but the last five: the
/// alert still names the program seen on the pair.
#[test]
fn hunt_with_sysmon_names_the_beaconing_program() {
    let root = temp_dir("ssl-sysmon");
    let (mut ssl, mut sysmon) = (String::new(), String::new());
    let start = 1_700_000_000.0;
    let image = r"C:\Users\lab\AppData\Local\Temp\upd.exe";
    for n in 0..40u64 {
        let t = start + n as f64 * 300.0 + 20.0 * jitter(n);
        let port = 45_000 + n;
        ssl.push_str(&format!(
            "{{\"ts\":{t:.6},\"uid\":\"S{n}\",\"id.orig_h\":\"10.3.0.9\",\"id.orig_p\":{port},\"id.resp_h\":\"104.21.9.9\",\"id.resp_p\":443,\"proto\":\"tcp\",\"version\":\"TLSv13\",\"server_name\":\"relay.acme.workers.dev\",\"established\":true}}\n"
        ));
        if n < 35 {
            let utc = iso(t + 0.4).replacen('T', " ", 1);
            let utc: String = utc.chars().take(23).collect();
            sysmon.push_str(
                &serde_json::json!({
                    "EventID": 3,
                    "SourceName": "Microsoft-Windows-Sysmon",
                    "Hostname": "WS-9",
                    "UtcTime": utc,
                    "ProcessId": "4242",
                    "Image": image,
                    "User": r"LAB\lab",
                    "Protocol": "tcp",
                    "Initiated": "true",
                    "SourceIp": "10.3.0.9",
                    "SourcePort": port.to_string(),
                    "DestinationIp": "104.21.9.9",
                    "DestinationPort": "443",
                })
                .to_string(),
            );
            sysmon.push('\n');
        }
    }
    std::fs::write(root.join("ssl.log"), ssl).unwrap();
    std::fs::write(root.join("sysmon.json"), sysmon).unwrap();
    let config = virga_config::Config::default();
    let (attribution, summary) =
        virga::attribution::load(&[root.join("sysmon.json")], &config.attribution).unwrap();
    assert_eq!(summary.stats.connections, 35);
    let out = root.join("eve.json");
    let opts = HuntOptions {
        inputs: vec![root.join("ssl.log").display().to_string()],
        output: Target::File(out.display().to_string()),
        report_bad: Some(|_| {}),
        attribution: Some(attribution),
        ..HuntOptions::default()
    };
    hunt::run(&opts).unwrap();
    let events: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let found = beacon_alerts(&events, "relay.acme.workers.dev");
    assert!(!found.is_empty(), "no beacon alert");
    for a in &found {
        let ctx = &a["alert"]["context"]["virga"];
        assert_eq!(ctx["process_images"][0], image, "{a}");
        assert!(
            ctx["zeek_uids"].as_array().is_some_and(|u| !u.is_empty()),
            "{a}"
        );
    }
    // The alerts raised on a connection with its event name the process.
    assert!(
        found
            .iter()
            .any(|a| a["alert"]["context"]["virga"]["process"]["image"] == image),
        "{found:?}"
    );
    let _ = std::fs::remove_dir_all(&root);
}
