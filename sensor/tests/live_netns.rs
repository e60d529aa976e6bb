//! Live capture end to end: `virga run` on one end of a veth pair between two
//! network namespaces made for the test, `tcpreplay` sending the sample
//! capture into the other end, then SIGTERM. The events seen live must be
//! those `virga replay` finds in the same file, and every one of them must be
//! written when virga exits 0.
//!
//! The deployment test runs virga as root with `run_as_user =
//! "nobody"`: it checks the ids of the running process, the metrics
//! endpoint, the logrotate move-and-SIGHUP and the SIGTERM flush as the
//! unprivileged user, on a capture of ../shared/corpus.
//!
//! Needs root, `ip` (iproute2) and `tcpreplay`; without them each test prints
//! a note and returns, except under CI, where it fails. Traffic stays on the
//! veth pair inside the two namespaces; they are deleted at the end, also
//! when a test fails.

#[path = "common/netns.rs"]
mod netns;

use netns::{must, prerequisites_met, runs, Netns};
use virga_test_support::eve_schema;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const VIRGA: &str = env!("CARGO_BIN_EXE_virga");

fn sample() -> String {
    format!(
        "{}/tests/data/pcaps/sample.pcap",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A temporary path unique to this process and call.
fn temp(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("virga-netns-{}-{n}-{name}", std::process::id()))
}

/// `virga run` in namespace B, with its stderr lines forwarded to a channel.
struct Sensor {
    child: Child,
    stderr: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Sensor {
    fn start(net: &Netns, args: &[&str]) -> Sensor {
        Sensor::start_under(net, &[], args)
    }

    /// As [`Sensor::start`], with virga exec'd by `wrapper` (a command that
    /// execs its arguments, such as `setpriv ...`).
    fn start_under(net: &Netns, wrapper: &[&str], args: &[&str]) -> Sensor {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &net.ns_b])
            .args(wrapper)
            .args([VIRGA, "run", "-i", &net.veth_b])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn virga");
        let err = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut s = Sensor {
            child,
            stderr: rx,
            log: Vec::new(),
        };
        s.wait_for("capturing on", Duration::from_secs(20));
        s
    }

    /// Waits for a stderr line containing `what`.
    fn wait_for(&mut self, what: &str, limit: Duration) {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            match self.stderr.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    let hit = line.contains(what);
                    self.log.push(line);
                    if hit {
                        return;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        let _ = self.child.kill();
        panic!("virga never said {what:?}; stderr so far: {:#?}", self.log);
    }

    /// `ip netns exec` (and any wrapper) execs virga, so the child's pid is
    /// virga's.
    fn signal(&self, sig: &str) {
        must("kill", &[&format!("-{sig}"), &self.child.id().to_string()]);
    }

    /// Sends SIGTERM and returns the exit code (None: killed by a signal).
    fn terminate(self) -> (Option<i32>, Vec<String>) {
        self.stop_with("TERM")
    }

    /// Sends `sig` and returns the exit code (None: killed by a signal).
    fn stop_with(mut self, sig: &str) -> (Option<i32>, Vec<String>) {
        self.signal(sig);
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                while let Ok(l) = self.stderr.recv_timeout(Duration::from_millis(200)) {
                    self.log.push(l);
                }
                return (st.code(), std::mem::take(&mut self.log));
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                panic!(
                    "virga did not stop within 20 s of SIG{sig}: {:#?}",
                    self.log
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Sensor {
    fn drop(&mut self) {
        // Only reached on a failed test; a passing one consumed `self`.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// What must agree between live and replay: event type, 5-tuple and the
/// application fields (SNI and JA4 for tls/quic; id, type and names for
/// dns). Timestamps, pcap_cnt, pcap_filename/in_iface and flow_id differ by
/// nature. Sorted, so duplicates and misses both show.
fn normalised(ev: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = ev
        .iter()
        .filter_map(|e| {
            let t = e["event_type"].as_str()?;
            let tuple = format!(
                "{} {}:{} -> {}:{}",
                e["proto"], e["src_ip"], e["src_port"], e["dest_ip"], e["dest_port"]
            );
            let app = match t {
                "tls" | "quic" => format!("sni={} ja4={}", e[t]["sni"], e[t]["ja4"]),
                "dns" => {
                    let names: Vec<String> = e["dns"]["queries"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|q| format!("{}/{}", q["rrname"], q["rrtype"]))
                        .collect();
                    format!(
                        "{} id={} rcode={} {}",
                        e["dns"]["type"],
                        e["dns"]["id"],
                        e["dns"]["rcode"],
                        names.join(",")
                    )
                }
                _ => return None,
            };
            Some(format!("{t} {tuple} {app}"))
        })
        .collect();
    out.sort();
    out
}

fn replay_events(pcap: &str) -> Vec<Value> {
    let out = temp("replay.json");
    let _ = std::fs::remove_file(&out);
    let st = Command::new(VIRGA)
        .args(["replay", "--log-all", "-o"])
        .arg(&out)
        .arg(pcap)
        .status()
        .unwrap();
    assert!(st.success());
    let ev = events(&out);
    let _ = std::fs::remove_file(&out);
    ev
}

#[test]
fn live_capture_matches_replay_and_sigterm_flushes_everything() {
    if !prerequisites_met("live capture test") {
        return;
    }
    live_matches_replay("pcap", 1, "m");
}

/// The same with AF_PACKET and two workers, each reading its own ring of
/// one fanout group: the same events, every packet counted once, and the
/// kernel's drop counter in the `stats` event, the metrics and the summary.
#[test]
fn af_packet_with_two_workers_matches_replay_and_counts_kernel_drops() {
    if !prerequisites_met("live capture test") {
        return;
    }
    live_matches_replay("af_packet", 2, "f");
}

/// `virga run` with `method` and `workers` on the veth pair, the sample
/// replayed into it: tls/quic/dns events as `virga replay` gives them.
fn live_matches_replay(method: &str, workers: usize, tag: &str) {
    let net = Netns::create(tag);
    let port = 19_200 + u16::from(tag.as_bytes()[0]);
    let eve = temp("live.json");
    let _ = std::fs::remove_file(&eve);
    // EVE lines also go to a Unix socket (output.socket_path), read here.
    let sock = temp("eve.sock");
    let _ = std::fs::remove_file(&sock);
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    // A long flush interval: the file is only complete if the shutdown
    // drain flushes it. The socket gets each batch as it comes, which tells
    // the test when every packet has been processed.
    let cfg = temp("live.toml");
    std::fs::write(
        &cfg,
        format!(
            "[capture]\nmethod = \"{method}\"\n[pipeline]\nworkers = {workers}\n\
             [metrics]\nlisten = \"127.0.0.1:{port}\"\n\
             [output]\nsocket_path = {:?}\nflush_interval_ms = 60000\n",
            sock.to_str().unwrap()
        ),
    )
    .unwrap();
    let replayed = replay_events(&sample());
    let r = normalised(&replayed);
    assert!(
        r.len() > 100,
        "replay gave only {} tls/quic/dns events",
        r.len()
    );
    listener.set_nonblocking(true).unwrap();
    let (line_tx, line_rx) = mpsc::channel::<String>();
    let peer = std::thread::spawn(move || {
        // Bounded wait: a sensor that never connects fails the test below
        // instead of hanging it.
        let end = Instant::now() + Duration::from_secs(30);
        let conn = loop {
            match listener.accept() {
                Ok((c, _)) => break c,
                Err(_) if Instant::now() < end => std::thread::sleep(Duration::from_millis(20)),
                Err(_) => return,
            }
        };
        conn.set_nonblocking(false).unwrap();
        for line in BufReader::new(conn).lines().map_while(Result::ok) {
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    let sensor = Sensor::start(
        &net,
        &[
            "-c",
            cfg.to_str().unwrap(),
            "-o",
            eve.to_str().unwrap(),
            "--log-all",
            "--allow-root",
        ],
    );
    net.replay_from_a(&sample(), &["--pps", "2000"]);
    // Wait until the socket has every tls/quic/dns event: all packets are
    // processed (the worker hands its lines over when the link goes idle).
    let mut from_socket: Vec<Value> = Vec::new();
    let end = Instant::now() + Duration::from_secs(20);
    while normalised(&from_socket).len() < r.len() && Instant::now() < end {
        if let Ok(l) = line_rx.recv_timeout(Duration::from_millis(100)) {
            from_socket.push(serde_json::from_str(&l).unwrap());
        }
    }
    // The metrics endpoint: every packet received once (over every ring
    // with af_packet), and the kernel's drop counter, zero at this rate.
    // (Published when the link goes idle: wait for it.)
    let packets = replayed_packets(&sample());
    let end = Instant::now() + Duration::from_secs(10);
    let mut text = scrape(&net, port);
    while metric(&text, "virga_capture_received_packets_total") < packets && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
        text = scrape(&net, port);
    }
    assert_eq!(
        metric(&text, "virga_capture_received_packets_total"),
        packets,
        "{method}"
    );
    assert_eq!(
        metric(&text, "virga_capture_kernel_dropped_packets_total"),
        0
    );
    let (code, log) = sensor.terminate();
    assert_eq!(code, Some(0), "virga exit status; stderr: {log:#?}");
    let started = log
        .iter()
        .find(|l| l.contains("capturing on"))
        .expect("start line");
    if method == "af_packet" {
        assert!(started.contains("AF_PACKET, 2 workers"), "{started}");
    }
    let stopped = log
        .iter()
        .find(|l| l.contains("stopped:"))
        .expect("summary line");
    assert!(
        stopped.contains(&format!("virga: stopped: {packets} packets processed ({packets} received, 0 dropped by the kernel")),
        "{stopped}"
    );
    // The rest of the socket's lines: the flows ended by the drain.
    while let Ok(l) = line_rx.recv_timeout(Duration::from_secs(2)) {
        from_socket.push(serde_json::from_str(&l).unwrap());
    }
    peer.join().unwrap();

    // Everything reached the file at exit, the same lines as the socket.
    let live = events(&eve);
    assert_eq!(live, from_socket, "file and socket differ");
    let _ = std::fs::remove_file(&sock);
    let _ = std::fs::remove_file(&cfg);
    let l = normalised(&live);
    if l != r {
        let only_live: Vec<_> = l.iter().filter(|x| !r.contains(x)).collect();
        let only_replay: Vec<_> = r.iter().filter(|x| !l.contains(x)).collect();
        panic!(
            "live and replay differ ({} vs {} events)\nonly live: {only_live:#?}\nonly replay: {only_replay:#?}",
            l.len(),
            r.len()
        );
    }
    for t in ["tls", "quic", "dns"] {
        assert!(l.iter().any(|x| x.starts_with(t)), "no {t} event live");
    }
    // Live events name the interface, not a file (stats events carry
    // neither, as in Suricata).
    assert!(live
        .iter()
        .filter(|e| e["event_type"] != "stats")
        .all(|e| e["in_iface"] == net.veth_b.as_str()));
    assert!(live.iter().all(|e| e.get("pcap_filename").is_none()));
    // The drain at SIGTERM wrote the flows still open: the last flow events
    // of the capture are there, ended by "shutdown".
    let flows_live = live.iter().filter(|e| e["event_type"] == "flow").count();
    let flows_replay = replayed
        .iter()
        .filter(|e| e["event_type"] == "flow")
        .count();
    assert!(
        flows_live > 0 && flows_live <= flows_replay + 5,
        "{flows_live} vs {flows_replay}"
    );
    assert!(live
        .iter()
        .any(|e| e["event_type"] == "flow" && e["flow"]["reason"] == "shutdown"));
    // The final stats event: every packet decoded once, the kernel's drops.
    let last = live
        .iter()
        .rfind(|e| e["event_type"] == "stats")
        .expect("a final stats event");
    assert_eq!(last["stats"]["decoder"]["pkts"].as_u64(), Some(packets));
    assert_eq!(
        last["stats"]["capture"]["kernel_packets"].as_u64(),
        Some(packets)
    );
    assert_eq!(last["stats"]["capture"]["kernel_drops"].as_u64(), Some(0));
    let _ = std::fs::remove_file(&eve);
}

/// Packets in a classic pcap file.
fn replayed_packets(pcap: &str) -> u64 {
    let b = std::fs::read(pcap).unwrap();
    let (mut at, mut n) = (24, 0);
    while at + 16 <= b.len() {
        at += 16 + u32::from_le_bytes(b[at + 8..at + 12].try_into().unwrap()) as usize;
        n += 1;
    }
    n
}

/// The second capture replayed around a SIGHUP, and what `virga replay`
/// gives for the sample and for it.
fn two_captures() -> (String, Vec<String>, Vec<String>) {
    let second_pcap = format!(
        "{}/tests/data/pcaps/clients/openssl-s_client.pcap",
        env!("CARGO_MANIFEST_DIR")
    );
    let want_first = normalised(&replay_events(&sample()));
    let want_second = normalised(&replay_events(&second_pcap));
    assert!(!want_second.is_empty());
    (second_pcap, want_first, want_second)
}

/// SIGHUP after logrotate moved the file: virga reopens its EVE path, so
/// the events of traffic after the signal land in the new file and the ones
/// before stay in the old; a quiet link still stops promptly on SIGTERM.
#[test]
fn sighup_reopens_the_eve_file() {
    if !prerequisites_met("live capture test") {
        return;
    }
    let (second_pcap, want_first, want_second) = two_captures();
    let net = Netns::create("h");
    let eve = temp("rot.json");
    let rotated = temp("rot.json.1");
    let _ = std::fs::remove_file(&eve);
    let _ = std::fs::remove_file(&rotated);
    let mut sensor = Sensor::start(
        &net,
        &["-o", eve.to_str().unwrap(), "--log-all", "--allow-root"],
    );
    net.replay_from_a(&sample(), &["--pps", "2000"]);
    // Wait until every event of the first capture is in the file (the
    // worker hands lines over when idle, the writer flushes every second).
    let end = Instant::now() + Duration::from_secs(15);
    while normalised(&events(&eve)).len() < want_first.len() {
        assert!(
            Instant::now() < end,
            "first capture's events not all written while running"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::rename(&eve, &rotated).unwrap();
    sensor.signal("HUP");
    sensor.wait_for("EVE output reopened", Duration::from_secs(10));
    net.replay_from_a(&second_pcap, &["--pps", "2000"]);
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    let (code, log) = sensor.terminate();
    assert_eq!(code, Some(0), "{log:#?}");
    assert!(t.elapsed() < Duration::from_secs(5));
    assert_eq!(normalised(&events(&rotated)), want_first);
    assert_eq!(normalised(&events(&eve)), want_second);
    let _ = std::fs::remove_file(&eve);
    let _ = std::fs::remove_file(&rotated);
}

/// Alerts, reduced to what must agree between live and replay: rule,
/// detector, 5-tuple and server name. Sorted.
fn alerts(ev: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = ev
        .iter()
        .filter(|e| e["event_type"] == "alert")
        .map(|e| {
            format!(
                "{} {} {} {}:{} -> {}:{} {}",
                e["alert"]["signature_id"],
                e["alert"]["context"]["virga"]["detector"],
                e["proto"],
                e["src_ip"],
                e["src_port"],
                e["dest_ip"],
                e["dest_port"],
                e["alert"]["context"]["virga"]["server_name"]
            )
        })
        .collect();
    out.sort();
    out
}

/// `id`-style lookup: the uid of a user and the gid of a group, if both exist.
fn account(user: &str, group: &str) -> Option<(u32, u32)> {
    let num = |args: &[&str]| -> Option<u32> {
        let o = Command::new(args[0]).args(&args[1..]).output().ok()?;
        if !o.status.success() {
            return None;
        }
        let t = String::from_utf8_lossy(&o.stdout).into_owned();
        // `id -u NAME` prints the number; `getent group NAME` prints name:x:GID:...
        t.trim()
            .rsplit(':')
            .find_map(|f| f.parse().ok())
            .or_else(|| t.split(':').nth(2).and_then(|f| f.parse().ok()))
    };
    Some((num(&["id", "-u", user])?, num(&["getent", "group", group])?))
}

/// Every capability set of every thread of `pid` (`CapInh`, `CapPrm`,
/// `CapEff`, `CapAmb`), as `task key value` lines with a non-zero value.
fn capabilities_held(pid: u32) -> Vec<String> {
    let mut held = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = task.unwrap().path();
        let st = std::fs::read_to_string(task.join("status")).unwrap();
        for key in ["CapInh:", "CapPrm:", "CapEff:", "CapAmb:"] {
            let v = st.lines().find_map(|l| l.strip_prefix(key)).unwrap().trim();
            if v != "0000000000000000" {
                held.push(format!("{} {key} {v}", task.display()));
            }
        }
    }
    held
}

/// The numbers of the `key` line of /proc/PID/status.
fn status_line(pid: u32, key: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// GET /metrics from inside the namespace (its loopback is its own).
fn scrape(net: &Netns, port: u16) -> String {
    let script = format!(
        "exec 3<>/dev/tcp/127.0.0.1/{port}; printf 'GET /metrics HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' >&3; cat <&3"
    );
    let out = Command::new("ip")
        .args(["netns", "exec", &net.ns_b, "bash", "-c", &script])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// With AF_PACKET, a SIGHUP that moves the EVE file to another path starts
/// workers for the new file on the same rings (the old ones end their flows
/// into the old file): the first capture's events stay in the first file,
/// the second capture's go to the new one, nothing is read twice or lost.
#[test]
fn af_packet_reload_to_a_new_eve_path_keeps_reading_the_rings() {
    if !prerequisites_met("live capture test") {
        return;
    }
    let (second_pcap, want_first, want_second) = two_captures();
    let net = Netns::create("r");
    let (first, second) = (temp("ring1.json"), temp("ring2.json"));
    let _ = std::fs::remove_file(&first);
    let _ = std::fs::remove_file(&second);
    let cfg = temp("ring.toml");
    let write_cfg = |eve: &Path| {
        std::fs::write(
            &cfg,
            format!(
                "[capture]\nmethod = \"af_packet\"\n[pipeline]\nworkers = 2\n\
                 [output]\neve_path = {:?}\n",
                eve.to_str().unwrap()
            ),
        )
        .unwrap();
    };
    write_cfg(&first);
    let mut sensor = Sensor::start(
        &net,
        &["-c", cfg.to_str().unwrap(), "--log-all", "--allow-root"],
    );
    net.replay_from_a(&sample(), &["--pps", "2000"]);
    let end = Instant::now() + Duration::from_secs(15);
    while normalised(&events(&first)).len() < want_first.len() {
        assert!(
            Instant::now() < end,
            "first capture's events not all written"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    write_cfg(&second);
    sensor.signal("HUP");
    sensor.wait_for("reloaded", Duration::from_secs(10));
    net.replay_from_a(&second_pcap, &["--pps", "2000"]);
    std::thread::sleep(Duration::from_millis(500));
    let (code, log) = sensor.terminate();
    assert_eq!(code, Some(0), "{log:#?}");
    assert_eq!(normalised(&events(&first)), want_first);
    assert_eq!(normalised(&events(&second)), want_second);
    for p in [&first, &second, &cfg] {
        let _ = std::fs::remove_file(p);
    }
}

/// A metric's value in a scrape.
fn metric(text: &str, name_and_labels: &str) -> u64 {
    let key = format!("{name_and_labels} ");
    text.lines()
        .find_map(|l| l.strip_prefix(key.as_str()))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name_and_labels} in\n{text}"))
}

/// Started as root with `run_as_user = "nobody"`, virga
/// runs as nobody:nogroup with no capabilities left; live EVE equals replay
/// (tls/quic/dns events and alerts) on a corpus capture; the metrics
/// endpoint counts the packets with no kernel drops; a logrotate-style move
/// plus SIGHUP makes the unprivileged process create a new file; SIGTERM
/// exits 0 with everything flushed.
#[test]
fn deployed_as_nobody_matches_replay_serves_metrics_and_rotates() {
    if !prerequisites_met("live deployment test") {
        return;
    }
    let Some((uid, gid)) = account("nobody", "nogroup") else {
        eprintln!("note: live deployment test skipped: no nobody user or nogroup group");
        return;
    };
    let shared = virga_test_support::shared_location();
    let first = match virga_test_support::shared_path("corpus/clients/curl.pcap") {
        Some(corpus) => corpus.to_string_lossy().into_owned(),
        // A bare clone: the repository's own sample instead.
        None => sample(),
    };
    // No 5-tuple in common with either first capture (a tuple still in the
    // flow table would continue the old flow, as one capture would).
    let second = format!(
        "{}/tests/data/pcaps/clients/openssl-s_client.pcap",
        env!("CARGO_MANIFEST_DIR")
    );
    let replay_first = replay_events(&first);
    let (want_first, want_alerts) = (normalised(&replay_first), alerts(&replay_first));
    let want_second = normalised(&replay_events(&second));
    assert!(!want_first.is_empty() && !want_alerts.is_empty() && !want_second.is_empty());
    let packets_first = replay_first
        .iter()
        .rfind(|e| e["event_type"] == "stats")
        .and_then(|e| e["stats"]["decoder"]["pkts"].as_u64())
        .unwrap();

    let net = Netns::create("d");
    // The EVE directory belongs to the unprivileged user: virga opens (and
    // after SIGHUP re-creates) its file as that user.
    let dir = temp("evedir");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
    let eve = dir.join("eve.json");
    let rotated = dir.join("eve.json.1");
    let port = 9911;
    let cfg = temp("deploy.toml");
    std::fs::write(
        &cfg,
        format!(
            "[run]\nrun_as_user = \"nobody\"\nrun_as_group = \"nogroup\"\n\n\
             [metrics]\nlisten = \"127.0.0.1:{port}\"\n\n\
             [output]\nstats_interval_secs = 1\n"
        ),
    )
    .unwrap();
    let mut sensor = Sensor::start(
        &net,
        &[
            "-c",
            cfg.to_str().unwrap(),
            "-o",
            eve.to_str().unwrap(),
            "--log-all",
        ],
    );
    assert!(
        sensor
            .log
            .iter()
            .any(|l| l.contains(&format!("privileges dropped to uid {uid} gid {gid}"))),
        "{:#?}",
        sensor.log
    );
    // The running process: every id is nobody/nogroup, no other groups, no
    // capability left (the open capture socket is all it keeps).
    let pid = sensor.child.id();
    assert_eq!(
        status_line(pid, "Uid:"),
        format!("{uid}\t{uid}\t{uid}\t{uid}")
    );
    assert_eq!(
        status_line(pid, "Gid:"),
        format!("{gid}\t{gid}\t{gid}\t{gid}")
    );
    assert_eq!(status_line(pid, "Groups:"), gid.to_string());
    assert_eq!(capabilities_held(pid), Vec::<String>::new());
    // Every thread too (workers, writer, detection, metrics).
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let st = std::fs::read_to_string(task.unwrap().path().join("status")).unwrap();
        assert!(
            st.contains(&format!("\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n")),
            "{st}"
        );
    }
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&eve).unwrap()),
        uid,
        "the EVE file is created by the unprivileged user"
    );

    net.replay_from_a(&first, &["--pps", "2000"]);
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let ev = events(&eve);
        if normalised(&ev).len() >= want_first.len() && alerts(&ev).len() >= want_alerts.len() {
            break;
        }
        assert!(
            Instant::now() < end,
            "the first capture's events were not all written while running"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The metrics endpoint: every packet received and read, none dropped,
    // the alerts counted per detector, the lines written.
    let m = scrape(&net, port);
    assert!(m.starts_with("HTTP/1.1 200 OK\r\n"), "{m}");
    assert!(metric(&m, "virga_capture_received_packets_total") >= packets_first);
    assert!(metric(&m, "virga_capture_read_packets_total") >= packets_first);
    assert_eq!(metric(&m, "virga_capture_kernel_dropped_packets_total"), 0);
    assert_eq!(metric(&m, "virga_pipeline_queue_dropped_packets_total"), 0);
    let by_detector: u64 = ["beacon", "client", "dns"]
        .iter()
        .map(|d| {
            metric(
                &m,
                &format!("virga_detect_written_alerts_total{{detector=\"{d}\"}}"),
            )
        })
        .sum();
    assert_eq!(by_detector, want_alerts.len() as u64);
    assert!(metric(&m, "virga_output_written_lines_total") > 0);
    assert_eq!(metric(&m, "virga_output_write_errors_total"), 0);
    // `virga health` (the container HEALTHCHECK) agrees.
    let health = Command::new("ip")
        .args(["netns", "exec", &net.ns_b, VIRGA, "health", "--address"])
        .arg(format!("127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert!(health.status.success(), "{health:?}");

    // logrotate: move, then SIGHUP; the unprivileged process creates the
    // new file (the configuration is read again: unchanged).
    std::fs::rename(&eve, &rotated).unwrap();
    sensor.signal("HUP");
    sensor.wait_for("EVE output reopened", Duration::from_secs(10));
    net.replay_from_a(&second, &["--pps", "2000"]);
    // Some events of the second capture are only written when their flows
    // end: the SIGTERM drain must write them.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&eve).unwrap()),
        uid
    );
    let (code, log) = sensor.terminate();
    assert_eq!(code, Some(0), "{log:#?}");
    let stopped = log
        .iter()
        .find(|l| l.contains("stopped:"))
        .expect("summary line");
    assert!(stopped.contains(" 0 dropped by the kernel"), "{stopped}");

    // Live equals replay, file by file; both files are complete JSON lines,
    // and the drain at SIGTERM wrote the final stats event.
    let (old, new) = (events(&rotated), events(&eve));
    assert_eq!(normalised(&old), want_first);
    assert_eq!(alerts(&old), want_alerts);
    assert_eq!(normalised(&new), want_second);
    let last = new.last().expect("events after the rotation");
    assert_eq!(last["event_type"], "stats", "the final stats event is last");
    // Live periodic stats events (every second here) carry the writer's and
    // the detectors' counters in `stats.virga`; every line validates against
    // the EVE schema plus virga's extension.
    // (Packet time drives them: the second capture, seconds after the
    // first, starts a new interval.)
    let periodic: Vec<&Value> = old
        .iter()
        .chain(&new[..new.len() - 1])
        .filter(|e| e["event_type"] == "stats")
        .collect();
    assert!(
        !periodic.is_empty(),
        "no periodic stats event while running"
    );
    assert!(periodic
        .iter()
        .all(|e| e["stats"]["virga"]["output"]["lag_batches"].is_u64()));
    if let Some(validator) = eve_schema::eve_validator(&shared) {
        for e in old.iter().chain(&new) {
            let errs = eve_schema::schema_errors(&validator, e);
            assert!(errs.is_empty(), "invalid live EVE line {e}: {errs:#?}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&cfg);
}

#[test]
fn sigint_drains_everything_and_kill_9_loses_at_most_the_flush_interval() {
    if !prerequisites_met("live capture test") {
        return;
    }
    let want = normalised(&replay_events(&sample()));
    assert!(want.len() > 100);
    // flush_interval_ms = 200: a line reaches the file at most two flush
    // intervals after its packet (the workers hand over what they hold
    // every interval; the writer flushes within one more).
    let cfg = temp("kill.toml");
    std::fs::write(&cfg, "[output]\nflush_interval_ms = 200\n").unwrap();
    for sig in ["KILL", "INT"] {
        let net = Netns::create(if sig == "KILL" { "k" } else { "i" });
        let eve = temp(&format!("{sig}.json"));
        let _ = std::fs::remove_file(&eve);
        let s = Sensor::start(
            &net,
            &[
                "--allow-root",
                "--log-all",
                "-c",
                cfg.to_str().unwrap(),
                "-o",
                eve.to_str().unwrap(),
            ],
        );
        net.replay_from_a(&sample(), &["--pps", "2000"]);
        // Well past two flush intervals after the last packet.
        std::thread::sleep(Duration::from_millis(1500));
        let (code, log) = s.stop_with(sig);
        let got = events(&eve);
        let _ = std::fs::remove_file(&eve);
        if sig == "KILL" {
            assert_eq!(code, None, "killed: {log:#?}");
        } else {
            assert_eq!(code, Some(0), "SIGINT: {log:#?}");
            assert_eq!(
                got.last().map(|e| e["event_type"].clone()),
                Some(Value::from("stats")),
                "the drain ends with the final stats event"
            );
            assert!(got.iter().any(|e| e["event_type"] == "flow"), "flows ended");
        }
        assert_eq!(
            normalised(&got),
            want,
            "SIG{sig}: every tls/quic/dns event is in the file"
        );
    }
    let _ = std::fs::remove_file(&cfg);
}

/// The systemd deployment (deploy/virga.service): started as an unprivileged
/// user holding `CAP_NET_RAW` and `CAP_NET_ADMIN` as ambient capabilities
/// (`setpriv` does what `User=` plus `AmbientCapabilities=` does), virga
/// opens the interface, then gives both up: no thread holds a capability
/// while packets are read, and the capture still works.
#[test]
fn started_with_ambient_capabilities_gives_them_up_after_opening_the_interface() {
    if !prerequisites_met("ambient capabilities test") {
        return;
    }
    if !runs("setpriv", &["--version"]) {
        eprintln!("note: ambient capabilities test skipped: `setpriv` not found");
        return;
    }
    let Some((uid, gid)) = account("nobody", "nogroup") else {
        eprintln!("note: ambient capabilities test skipped: no nobody user or nogroup group");
        return;
    };
    let want = normalised(&replay_events(&sample()));
    let net = Netns::create("c");
    let dir = temp("capdir");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
    let eve = dir.join("eve.json");
    let (u, g) = (format!("--reuid={uid}"), format!("--regid={gid}"));
    let caps = "+net_raw,+net_admin";
    let wrapper = [
        "setpriv",
        &u,
        &g,
        "--clear-groups",
        &format!("--inh-caps={caps}"),
        &format!("--ambient-caps={caps}"),
    ];
    let sensor = Sensor::start_under(
        &net,
        &wrapper.iter().map(|s| s.as_ref()).collect::<Vec<&str>>(),
        &["--log-all", "-o", eve.to_str().unwrap()],
    );
    let started = sensor
        .log
        .iter()
        .find(|l| l.contains("capturing on"))
        .unwrap();
    assert!(
        started.contains(&format!(
            "running as uid {uid}, capabilities dropped: CAP_NET_ADMIN, CAP_NET_RAW"
        )),
        "{started}"
    );
    let pid = sensor.child.id();
    assert_eq!(
        status_line(pid, "Uid:"),
        format!("{uid}\t{uid}\t{uid}\t{uid}")
    );
    assert_eq!(capabilities_held(pid), Vec::<String>::new());
    net.replay_from_a(&sample(), &["--pps", "2000"]);
    std::thread::sleep(Duration::from_millis(500));
    // Still none after the packets (no thread regained any).
    assert_eq!(capabilities_held(pid), Vec::<String>::new());
    let (code, log) = sensor.terminate();
    assert_eq!(code, Some(0), "{log:#?}");
    assert_eq!(normalised(&events(&eve)), want);
    let _ = std::fs::remove_dir_all(&dir);
}
