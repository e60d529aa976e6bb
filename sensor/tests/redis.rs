//! EVE to Redis and prevalence shared through Redis, against a real
//! `redis-server` each test starts on a loopback port or a Unix socket of
//! its own (and kills or restarts).
//!
//! Without a `redis-server` binary the tests say so and pass, except when
//! the environment variable `CI` is set: then they fail (CI installs it).

mod common;

use common::{pcap, shared, temp};
use redis::Commands as _;
use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use virga::output::{Output, RedisMode, RedisTarget, Target};
use virga::replay::{self, ReplayOptions};

/// A `redis-server` of the test's own, killed when dropped.
struct Server {
    child: Child,
    /// `--port N` or `--unixsocket PATH`.
    listen: Listen,
    dir: PathBuf,
}

#[derive(Clone)]
enum Listen {
    Port(u16),
    Unix(PathBuf),
}

impl Server {
    /// `None` (after a note) when `redis-server` is missing outside CI.
    fn available() -> bool {
        let ok = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            assert!(
                std::env::var_os("CI").is_none(),
                "redis-server not found; CI must install it (scripts/dev.sh setup)"
            );
            eprintln!("note: redis-server not found; Redis tests not run");
        }
        ok
    }

    fn on_port() -> Server {
        Server::start(Listen::Port(free_port()))
    }

    fn on_socket() -> Server {
        let dir = temp("redis-sock");
        std::fs::create_dir_all(&dir).unwrap();
        Server::start(Listen::Unix(dir.join("redis.sock")))
    }

    fn start(listen: Listen) -> Server {
        let dir = temp("redis-dir");
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = Command::new("redis-server");
        cmd.args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match &listen {
            Listen::Port(p) => cmd.args(["--port", &p.to_string()]),
            Listen::Unix(s) => cmd.args(["--port", "0", "--unixsocket"]).arg(s),
        };
        let child = cmd.spawn().expect("start redis-server");
        let s = Server { child, listen, dir };
        let end = Instant::now() + Duration::from_secs(10);
        while s.conn().is_none() {
            assert!(Instant::now() < end, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    fn url(&self) -> String {
        match &self.listen {
            Listen::Port(p) => format!("redis://127.0.0.1:{p}"),
            Listen::Unix(s) => format!("redis+unix://{}", s.display()),
        }
    }

    fn conn(&self) -> Option<redis::Connection> {
        let mut c = redis::Client::open(self.url())
            .ok()?
            .get_connection()
            .ok()?;
        redis::cmd("PING").query::<String>(&mut c).ok()?;
        Some(c)
    }

    /// Kills the server (SIGKILL: no goodbye to clients) and starts a new
    /// one, empty, on the same port or socket after `down`.
    fn restart_after(&mut self, down: Duration) {
        self.kill();
        std::thread::sleep(down);
        // The old one is dead already: dropping it only removes its folder.
        drop(std::mem::replace(self, Server::start(self.listen.clone())));
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn target(url: &str, mode: RedisMode, batch_lines: usize) -> RedisTarget {
    RedisTarget {
        url: url.to_string(),
        mode,
        key: "eve".into(),
        stream_maxlen: 1_000_000,
        batch_lines,
        wait_when_full: false,
    }
}

/// Replays `inputs` to a file and to Redis; returns the file's lines and the
/// writer's counters.
fn replay_to(inputs: &[String], redis: &RedisTarget, cfg_text: &str) -> (Vec<String>, u64) {
    let out = temp("eve.json");
    let mut config = virga_config::from_str(cfg_text, "test.toml").unwrap();
    config.output.redis = Some(virga_config::RedisOutput {
        url: redis.url.clone(),
        mode: redis.mode,
        key: redis.key.clone(),
        stream_maxlen: redis.stream_maxlen,
        batch_lines: std::num::NonZeroUsize::new(redis.batch_lines).unwrap(),
    });
    let opts = ReplayOptions {
        inputs: inputs.to_vec(),
        output: Target::File(out.to_string_lossy().into_owned()),
        log_all: true,
        config,
        ..Default::default()
    };
    let summary = replay::run(&opts).expect("replay");
    let text = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    (
        text.lines().map(str::to_string).collect(),
        summary.output.redis_lost_lines,
    )
}

/// What Redis holds under `key` in `mode`, oldest first.
fn stored(c: &mut redis::Connection, mode: RedisMode, key: &str) -> Vec<String> {
    match mode {
        RedisMode::List => {
            let mut v: Vec<String> = c.lrange(key, 0, -1).unwrap();
            v.reverse();
            v
        }
        RedisMode::Rpush => c.lrange(key, 0, -1).unwrap(),
        RedisMode::Stream => {
            let r: redis::Value = redis::cmd("XRANGE")
                .arg(key)
                .arg("-")
                .arg("+")
                .query(c)
                .unwrap();
            let redis::Value::Array(entries) = r else {
                panic!("XRANGE: {r:?}")
            };
            entries
                .into_iter()
                .map(|e| {
                    let (_id, fields): (String, Vec<String>) = redis::from_redis_value(&e).unwrap();
                    assert_eq!(fields.len(), 2, "{fields:?}");
                    assert_eq!(fields[0], "eve");
                    fields[1].clone()
                })
                .collect()
        }
        RedisMode::Channel => unreachable!("a channel stores nothing"),
    }
}

/// `got` equals `want`, line by line (the first difference is shown, not
/// every line).
fn same_lines(got: &[String], want: &[String], what: &str) {
    if let Some(i) = (0..got.len().min(want.len())).find(|&i| got[i] != want[i]) {
        panic!(
            "{what}: line {i} differs:\n got {}\nwant {}",
            got[i], want[i]
        );
    }
    assert_eq!(got.len(), want.len(), "{what}: line counts");
}

#[test]
fn every_mode_delivers_the_file_lines_in_order() {
    if !Server::available() {
        return;
    }
    let inputs = vec![pcap("sample.pcap")];
    for (mode, unix) in [
        (RedisMode::List, false),
        (RedisMode::Rpush, true),
        (RedisMode::Stream, false),
        (RedisMode::Stream, true),
    ] {
        let server = if unix {
            Server::on_socket()
        } else {
            Server::on_port()
        };
        let t = target(&server.url(), mode, 7);
        let (file, lost) = replay_to(&inputs, &t, "");
        assert!(file.len() > 100, "{}", file.len());
        assert_eq!(lost, 0, "{mode:?}");
        let got = stored(&mut server.conn().unwrap(), mode, "eve");
        same_lines(&got, &file, &format!("{mode:?} over {}", server.url()));
        let last: serde_json::Value = serde_json::from_str(file.last().unwrap()).unwrap();
        assert_eq!(last["stats"]["virga"]["output"]["redis_lost_lines"], 0);
    }
}

#[test]
fn channel_subscribers_get_the_file_lines_in_order() {
    if !Server::available() {
        return;
    }
    let server = Server::on_port();
    let mut sub = server.conn().unwrap();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut ps = sub.as_pubsub();
        ps.subscribe("eve").unwrap();
        // Quiet for 3 s: the replay is over.
        ps.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        ready_tx.send(()).unwrap();
        let mut got = Vec::new();
        while let Ok(m) = ps.get_message() {
            got.push(m.get_payload::<String>().unwrap());
        }
        got
    });
    ready_rx.recv().unwrap();
    let t = target(&server.url(), RedisMode::Channel, 64);
    let (file, lost) = replay_to(&[pcap("sample.pcap")], &t, "");
    assert_eq!(lost, 0);
    same_lines(&reader.join().unwrap(), &file, "channel");
}

/// Sends numbered lines to a file and Redis through the writer; returns the
/// file's lines.
fn send_lines(s: &virga::output::LineSender, from: usize, to: usize, pause: Duration) {
    for i in from..to {
        s.send(format!("{{\"n\":{i}}}\n").into_bytes());
        if !pause.is_zero() {
            std::thread::sleep(pause);
        }
    }
}

/// Sends lines one at a time until Redis holds at least one more than
/// `had`; returns the next line number.
fn send_until_delivered(
    s: &virga::output::LineSender,
    server: &Server,
    mut n: usize,
    had: usize,
) -> usize {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        send_lines(s, n, n + 1, Duration::from_millis(20));
        n += 1;
        let len: usize = server
            .conn()
            .map(|mut c| c.llen("eve").unwrap())
            .unwrap_or(0);
        if len > had {
            return n;
        }
        assert!(Instant::now() < end, "Redis output did not resume");
    }
}

fn check_suffix(file: &[String], redis: &[String]) {
    assert!(!redis.is_empty());
    let at = file.len() - redis.len();
    same_lines(
        redis,
        &file[at..],
        "Redis holds the file's last lines, in order",
    );
}

#[test]
fn redis_absent_at_start_then_started() {
    if !Server::available() {
        return;
    }
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let file = temp("absent.json");
    let targets = [
        Target::File(file.to_string_lossy().into_owned()),
        Target::Redis(target(&url, RedisMode::Rpush, 16)),
    ];
    let out = Output::start_all(&targets, Duration::from_millis(20)).unwrap();
    let s = out.sender();
    send_lines(&s, 0, 500, Duration::ZERO);
    let server = Server::start(Listen::Port(port));
    let n = send_until_delivered(&s, &server, 500, 0);
    send_lines(&s, n, n + 1000, Duration::ZERO);
    drop(s);
    let stats = out.finish();
    let lines: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), n + 1000);
    assert_eq!(stats.lines, lines.len() as u64);
    let got = stored(&mut server.conn().unwrap(), RedisMode::Rpush, "eve");
    check_suffix(&lines, &got);
    assert!(stats.redis_lost_lines >= 500, "{}", stats.redis_lost_lines);
    assert_eq!(stats.redis_lost_lines + got.len() as u64, stats.lines);
    assert_eq!(stats.lost_lines, 0);
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn redis_killed_mid_run_then_restarted() {
    if !Server::available() {
        return;
    }
    let mut server = Server::on_port();
    let file = temp("killed.json");
    let targets = [
        Target::File(file.to_string_lossy().into_owned()),
        Target::Redis(target(&server.url(), RedisMode::Rpush, 32)),
    ];
    let out = Output::start_all(&targets, Duration::from_millis(20)).unwrap();
    let s = out.sender();
    send_lines(&s, 0, 2000, Duration::ZERO);
    // Everything sent so far reaches Redis before it goes down.
    let end = Instant::now() + Duration::from_secs(10);
    while server.conn().unwrap().llen::<_, usize>("eve").unwrap() < 2000 {
        assert!(Instant::now() < end, "first lines not delivered");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Down for 2 s while lines keep coming: the writer never waits for it.
    let sender = s.clone();
    let during = std::thread::spawn(move || {
        let start = Instant::now();
        send_lines(&sender, 2000, 2100, Duration::from_millis(20));
        start.elapsed()
    });
    server.restart_after(Duration::from_secs(2));
    let took = during.join().unwrap();
    assert!(took < Duration::from_secs(5), "{took:?}");
    let n = send_until_delivered(&s, &server, 2100, 0);
    send_lines(&s, n, n + 500, Duration::ZERO);
    drop(s);
    let stats = out.finish();
    let lines: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), n + 500, "the file has every line");
    // The new server holds what came after the restart, in order.
    let got = stored(&mut server.conn().unwrap(), RedisMode::Rpush, "eve");
    check_suffix(&lines, &got);
    // Lost: at least the lines sent while it was down; at most everything
    // the new server did not get beyond the 2000 the old one had.
    assert!(stats.redis_lost_lines > 0);
    assert_eq!(
        stats.redis_lost_lines,
        lines.len() as u64 - 2000 - got.len() as u64,
        "every line is either delivered (to the old or new server) or counted"
    );
    std::fs::remove_file(&file).unwrap();
}

/// Splits a classic pcap file: packets that touch one of `hosts` (IPv4,
/// Ethernet) go to `with`, the others to `without`.
fn split_pcap(src: &Path, hosts: &BTreeSet<[u8; 4]>, with: &Path, without: &Path) {
    let data = std::fs::read(src).unwrap();
    assert_eq!(&data[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    let (mut a, mut b) = (data[..24].to_vec(), data[..24].to_vec());
    let mut at = 24;
    while at + 16 <= data.len() {
        let incl = u32::from_le_bytes(data[at + 8..at + 12].try_into().unwrap()) as usize;
        let rec = &data[at..at + 16 + incl];
        let frame = &rec[16..];
        let touches = frame.len() >= 34
            && frame[12..14] == [0x08, 0x00]
            && [&frame[26..30], &frame[30..34]]
                .iter()
                .any(|ip| hosts.contains(&<[u8; 4]>::try_from(*ip).unwrap()));
        if touches { &mut a } else { &mut b }.extend_from_slice(rec);
        at += 16 + incl;
    }
    std::fs::write(with, a).unwrap();
    std::fs::write(without, b).unwrap();
}

/// (client, name) of every beacon alert in `lines`.
fn beacon_pairs(lines: &[String]) -> BTreeSet<(String, String)> {
    lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| {
            e["event_type"] == "alert" && e["alert"]["context"]["virga"]["detector"] == "beacon"
        })
        .map(|e| {
            (
                e["src_ip"].as_str().unwrap().to_string(),
                e["alert"]["context"]["virga"]["server_name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect()
}

fn replay_alerts(input: &Path, cfg_text: &str) -> (BTreeSet<(String, String)>, serde_json::Value) {
    let out = temp("fleet.json");
    let opts = ReplayOptions {
        inputs: vec![input.to_string_lossy().into_owned()],
        output: Target::File(out.to_string_lossy().into_owned()),
        config: virga_config::from_str(cfg_text, "fleet.toml").unwrap(),
        ..Default::default()
    };
    replay::run(&opts).expect("replay");
    let lines: Vec<String> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let _ = std::fs::remove_file(&out);
    let last = serde_json::from_str(lines.last().unwrap()).unwrap();
    (beacon_pairs(&lines), last)
}

/// The fleet of `dev_hard_48h` (42 hosts running one agent against one
/// Worker) split between two sensors. `prevalence_free_clients = 10`: a
/// half (21 hosts) alone is few enough to alert on, the whole fleet is not.
/// Sharing prevalence through Redis, the two halves replayed side by side
/// give the alerts one sensor gives on all the traffic.
#[test]
fn two_sensors_sharing_prevalence_alert_as_one() {
    let Some(shared) = shared() else {
        eprintln!("note: ../shared absent; shared prevalence test not run");
        return;
    };
    if !Server::available() {
        return;
    }
    let full = shared.join("corpus/timelines/dev_hard_48h.pcap");
    let fleet = "agent-config.tailspin-it.workers.dev";
    let second_half: BTreeSet<[u8; 4]> = (121..=141).map(|h| [10, 66, 1, h]).collect();
    let (a, b) = (temp("half-a.pcap"), temp("half-b.pcap"));
    split_pcap(&full, &second_half, &b, &a);
    let alone = "[detect.beacon]\nprevalence_free_clients = 10\n";
    let (one_sensor, _) = replay_alerts(&full, alone);
    assert!(!one_sensor.is_empty());
    assert!(
        one_sensor.iter().all(|(_, n)| n != fleet),
        "one sensor alerts on the fleet: {one_sensor:?}"
    );
    // Each half alone alerts on its part of the fleet.
    for half in [&a, &b] {
        let (alerts, _) = replay_alerts(half, alone);
        assert!(
            alerts.iter().any(|(_, n)| n == fleet),
            "{}: no fleet alert alone",
            half.display()
        );
    }
    // Shared: the two replays run side by side, as two live sensors would,
    // and keep in step by packet time through Redis.
    let server = Server::on_port();
    // A replay that died long ago without leaving is not waited for.
    let _: () = redis::cmd("HSET")
        .arg("virga:prevalence:clock")
        .arg("ghost")
        .arg(0)
        .query(&mut server.conn().unwrap())
        .unwrap();
    let shared_cfg = format!(
        "{alone}\n[detect.prevalence]\nredis_url = \"{}\"\n",
        server.url()
    );
    let together = std::thread::scope(|sc| {
        let runs: Vec<_> = [&a, &b]
            .into_iter()
            .map(|half| sc.spawn(|| replay_alerts(half, &shared_cfg)))
            .collect();
        let mut together = BTreeSet::new();
        for r in runs {
            let (alerts, last) = r.join().unwrap();
            assert_eq!(
                last["stats"]["virga"]["prevalence_local"], 0,
                "Redis was reachable"
            );
            together.extend(alerts);
        }
        together
    });
    assert_eq!(together, one_sensor);
    let clock: Vec<String> = server
        .conn()
        .unwrap()
        .hkeys("virga:prevalence:clock")
        .unwrap();
    assert!(clock.is_empty(), "replays left their clocks: {clock:?}");
    // Redis gone: each sensor counts alone again, says so and counts it.
    drop(server);
    let (alerts, last) = replay_alerts(&b, &shared_cfg);
    assert!(alerts.iter().any(|(_, n)| n == fleet));
    assert!(last["stats"]["virga"]["prevalence_local"].as_u64().unwrap() > 0);
    let _ = std::fs::remove_file(&a);
    let _ = std::fs::remove_file(&b);
}

/// Redis paused (`CLIENT PAUSE`) while 24 MiB of lines arrive: live, the
/// writer never waits and what does not fit the 16 MiB queue is counted;
/// in replay the writer waits for Redis and nothing is lost.
#[test]
fn a_stalled_redis_never_blocks_live_and_loses_nothing_in_replay() {
    if !Server::available() {
        return;
    }
    let server = Server::on_port();
    let line = format!("{{\"pad\":\"{}\"}}\n", "x".repeat(1000));
    let batch = line.repeat(64);
    let batches = 24 * 1024 * 1024 / batch.len();
    for replay in [false, true] {
        let mut admin = server.conn().unwrap();
        let _: () = redis::cmd("DEL").arg("eve").query(&mut admin).unwrap();
        let file = temp("stalled.json");
        let mut t = target(&server.url(), RedisMode::Rpush, 256);
        t.wait_when_full = replay;
        let targets = [
            Target::File(file.to_string_lossy().into_owned()),
            Target::Redis(t),
        ];
        let out = Output::start_all(&targets, Duration::from_millis(20)).unwrap();
        let s = out.sender();
        s.send(line.clone().into_bytes()); // connected before the pause
        std::thread::sleep(Duration::from_millis(100));
        let _: () = redis::cmd("CLIENT")
            .arg("PAUSE")
            .arg(1500)
            .query(&mut admin)
            .unwrap();
        let start = Instant::now();
        for _ in 0..batches {
            s.send(batch.clone().into_bytes());
        }
        let took = start.elapsed();
        drop(s);
        let stats = out.finish();
        let total = 1 + 64 * batches as u64;
        assert_eq!(stats.lines, total);
        let held: u64 = server.conn().unwrap().llen("eve").unwrap();
        assert_eq!(stats.redis_lost_lines + held, total, "replay {replay}");
        if replay {
            assert_eq!(stats.redis_lost_lines, 0);
        } else {
            assert!(
                took < Duration::from_millis(1000),
                "the writer waited: {took:?}"
            );
            assert!(stats.redis_lost_lines > 0);
        }
        assert_eq!(
            std::fs::read_to_string(&file).unwrap().lines().count() as u64,
            total
        );
        std::fs::remove_file(&file).unwrap();
    }
}
