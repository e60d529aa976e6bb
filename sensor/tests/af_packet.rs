//! AF_PACKET capture end to end, in the kernel: a fanout group of sockets
//! opened with `virga::capture::af_packet::open_group` on one end of a veth
//! pair between two fresh network namespaces, `tcpreplay` sending captures
//! into the other end, one reader thread per socket.
//!
//! Checked: every packet of the files arrives exactly once over the group
//! (bytes compared), each on the socket `shard::shard` names (so both
//! directions of a flow, and a client's DNS and its TCP connections, share
//! a socket, which is also checked on its own); the BPF filter keeps exactly
//! what libpcap's offline filter keeps of the files; 802.1Q tags the kernel
//! takes out of frames are put back; a ring that is not read drops, and the
//! drops are counted.
//!
//! Needs root, `ip` and `tcpreplay`: without them each test prints a note
//! and passes, except under CI, where it fails.
#![cfg(target_os = "linux")]

#[path = "common/netns.rs"]
mod netns;

use netns::{prerequisites_met, Netns};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use virga::capture::af_packet::{open_group, AfPacketSource};
use virga::capture::pcap_file::PcapFile;
use virga::capture::{CaptureStats, Next, PacketSource, RawPacket};

/// One test at a time: each floods a link, and they share the CPUs'
/// receive queues.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn data(name: &str) -> String {
    format!("{}/tests/data/pcaps/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The sample capture and, when the shared folder is there, corpus captures
/// with many clients resolving names and then connecting.
fn inputs() -> Vec<String> {
    let mut files = vec![data("sample.pcap")];
    for name in ["chromium.pcap", "curl.pcap", "dns_anomalies.pcap"] {
        if let Some(p) = virga_test_support::shared_path(&format!("corpus/clients/{name}")) {
            files.push(p.to_string_lossy().into_owned());
        }
    }
    files
}

/// Every frame of `files`, in order.
fn frames(files: &[String]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for f in files {
        let mut r = PcapFile::open(f).unwrap_or_else(|e| panic!("{f}: {e}"));
        while let Some(p) = r.next_packet().unwrap() {
            assert_eq!(p.linktype, 1, "{f}");
            out.push(p.data.to_vec());
        }
    }
    out
}

fn settings(interface: &str, filter: &str) -> virga_config::Capture {
    virga_config::Capture {
        interface: Some(interface.to_string()),
        bpf_filter: filter.to_string(),
        ..virga_config::Capture::default()
    }
}

/// What one socket read: frames with their timestamps, and its counters.
struct Read {
    frames: Vec<(Vec<u8>, u64)>,
    stats: CaptureStats,
}

/// Opens a group of `workers` sockets in namespace B, reads each on its own
/// thread while `send` runs, and until each has been idle once afterwards.
fn capture_while(
    net: &Netns,
    s: virga_config::Capture,
    workers: usize,
    send: impl FnOnce(),
) -> Vec<Read> {
    let sources = net.in_b(move || open_group(&s, workers).expect("open_group"));
    assert_eq!(sources.len(), workers);
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = sources
        .into_iter()
        .enumerate()
        .map(|(i, mut src)| {
            assert_eq!(src.worker(), i);
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let mut frames = Vec::new();
                loop {
                    match src.next_packet().expect("next_packet") {
                        Next::Packet(p) => {
                            assert_eq!(p.linktype, 1);
                            assert_eq!(p.pcap_cnt, frames.len() as u64 + 1);
                            assert!(p.wire_len as usize >= p.data.len());
                            frames.push((p.data.to_vec(), p.ts.0));
                        }
                        Next::Idle if done.load(Ordering::SeqCst) => break,
                        Next::Idle => {}
                        Next::End => panic!("a live source ended"),
                    }
                }
                assert_eq!(src.malformed_frames(), 0);
                let stats = src.stats();
                Read { frames, stats }
            })
        })
        .collect();
    send();
    std::thread::sleep(Duration::from_millis(300));
    done.store(true, Ordering::SeqCst);
    readers
        .into_iter()
        .map(|h| h.join().expect("reader"))
        .collect()
}

fn sorted(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    v.sort();
    v
}

/// The addresses, ports and protocol of a TCP or UDP frame.
fn tuple(frame: &[u8]) -> Option<(std::net::IpAddr, u16, std::net::IpAddr, u16, u8)> {
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    let p = SlicedPacket::from_ethernet(frame).ok()?;
    let (s, d) = match p.net? {
        NetSlice::Ipv4(v4) => (
            v4.header().source_addr().into(),
            v4.header().destination_addr().into(),
        ),
        NetSlice::Ipv6(v6) => (
            v6.header().source_addr().into(),
            v6.header().destination_addr().into(),
        ),
        _ => return None,
    };
    match p.transport? {
        TransportSlice::Tcp(t) => Some((s, t.source_port(), d, t.destination_port(), 6)),
        TransportSlice::Udp(u) => Some((s, u.source_port(), d, u.destination_port(), 17)),
        _ => None,
    }
}

/// Asserts that each flow and each client's DNS and TCP traffic stayed on
/// one socket, with the client found independently of the sensor: the side
/// that is not port 53 of a DNS packet, the side not on a well-known port of
/// a TCP packet. Returns how many clients had both DNS and TCP.
fn assert_grouped(reads: &[Read]) -> usize {
    const SERVICES: &[u16] = &[80, 443, 853, 8080, 8443, 22, 25];
    let mut flows: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    let mut clients: BTreeMap<std::net::IpAddr, (BTreeSet<usize>, bool, bool)> = BTreeMap::new();
    for (i, r) in reads.iter().enumerate() {
        for (f, _) in &r.frames {
            let Some((s, sp, d, dp, proto)) = tuple(f) else {
                continue;
            };
            let key = if (s, sp) <= (d, dp) {
                format!("{proto} {s}:{sp} {d}:{dp}")
            } else {
                format!("{proto} {d}:{dp} {s}:{sp}")
            };
            flows.entry(key).or_default().insert(i);
            let client = match proto {
                17 if dp == 53 => Some((s, true)),
                17 if sp == 53 => Some((d, true)),
                6 if SERVICES.contains(&dp) => Some((s, false)),
                6 if SERVICES.contains(&sp) => Some((d, false)),
                _ => None,
            };
            if let Some((c, dns)) = client {
                let e = clients.entry(c).or_default();
                e.0.insert(i);
                if dns {
                    e.1 = true;
                } else {
                    e.2 = true;
                }
            }
        }
    }
    for (k, socks) in &flows {
        assert_eq!(socks.len(), 1, "flow {k} on sockets {socks:?}");
    }
    for (c, (socks, _, _)) in &clients {
        assert_eq!(socks.len(), 1, "client {c} on sockets {socks:?}");
    }
    clients
        .values()
        .filter(|(_, dns, tcp)| *dns && *tcp)
        .count()
}

#[test]
fn a_group_receives_every_packet_once_each_on_its_clients_socket() {
    if !prerequisites_met("af_packet group capture") {
        return;
    }
    let _one = serial();
    let files = inputs();
    let want = sorted(frames(&files));
    let net = Netns::create("f");
    for workers in [1usize, 2, 3] {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        let reads = capture_while(&net, settings(&net.veth_b, ""), workers, || {
            let args: Vec<&str> = files.iter().map(String::as_str).collect();
            let mut all = vec!["--pps", "4000"];
            all.extend(args);
            let pcap = all.pop().unwrap();
            net.replay_from_a(pcap, &all);
        });
        let got = sorted(
            reads
                .iter()
                .flat_map(|r| r.frames.iter().map(|(f, _)| f.clone()))
                .collect(),
        );
        assert_eq!(got.len(), want.len(), "{workers} workers: packet count");
        assert!(got == want, "{workers} workers: the bytes differ");
        // Each packet is on the socket shard() gives its worker.
        let mut off_shard = 0;
        for (i, r) in reads.iter().enumerate() {
            for (f, ts) in &r.frames {
                let p = RawPacket {
                    ts: virga::time::Timestamp(*ts),
                    linktype: 1,
                    data: f,
                    wire_len: f.len() as u32,
                    pcap_cnt: 0,
                };
                off_shard += usize::from(virga::shard::shard(&p, workers) != i);
                assert!(*ts >= started, "timestamp {ts} before the test began");
            }
        }
        assert_eq!(
            off_shard, 0,
            "{workers} workers: packets not on shard()'s worker"
        );
        let both = assert_grouped(&reads);
        assert!(both > 0, "no client with both DNS and TCP in the captures");
        for (i, r) in reads.iter().enumerate() {
            assert!(
                !r.frames.is_empty(),
                "{workers} workers: socket {i} got nothing"
            );
            assert_eq!(r.stats.received, r.frames.len() as u64, "socket {i}");
            assert_eq!(r.stats.kernel_drops, 0, "socket {i}");
        }
        // Nanosecond timestamps: not all on whole microseconds.
        assert!(reads
            .iter()
            .flat_map(|r| &r.frames)
            .any(|(_, ts)| ts % 1000 != 0));
        eprintln!(
            "{workers} workers: {} packets, per socket {:?}, {both} clients with DNS and TCP",
            got.len(),
            reads.iter().map(|r| r.frames.len()).collect::<Vec<_>>()
        );
    }
}

#[test]
fn the_bpf_filter_keeps_what_libpcap_keeps() {
    if !prerequisites_met("af_packet filter") {
        return;
    }
    let _one = serial();
    let filter = "udp port 53 or tcp port 443";
    let file = data("sample.pcap");
    let prog = pcap::Capture::dead(pcap::Linktype::ETHERNET)
        .unwrap()
        .compile(filter, true)
        .unwrap();
    let all = frames(std::slice::from_ref(&file));
    let want = sorted(all.iter().filter(|f| prog.filter(f)).cloned().collect());
    assert!(!want.is_empty() && want.len() < all.len());
    let net = Netns::create("g");
    let reads = capture_while(&net, settings(&net.veth_b, filter), 2, || {
        net.replay_from_a(&file, &["--pps", "4000"]);
    });
    let got = sorted(
        reads
            .iter()
            .flat_map(|r| r.frames.iter().map(|(f, _)| f.clone()))
            .collect(),
    );
    assert_eq!(got.len(), want.len());
    assert!(got == want, "the filtered bytes differ");
    // A snap length cuts every frame.
    let mut s = settings(&net.veth_b, filter);
    s.snaplen_bytes = 100;
    let reads = capture_while(&net, s, 2, || {
        net.replay_from_a(&file, &["--pps", "4000"]);
    });
    let mut got: Vec<Vec<u8>> = reads
        .iter()
        .flat_map(|r| r.frames.iter().map(|(f, _)| f.clone()))
        .collect();
    got.sort();
    let cut = sorted(
        want.iter()
            .map(|f| f[..f.len().min(100)].to_vec())
            .collect(),
    );
    assert!(got == cut, "snap length 100 not applied");
}

/// Writes `frames` as a pcap file at `path`.
fn write_pcap(path: &std::path::Path, frames: &[Vec<u8>]) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (i, f) in frames.iter().enumerate() {
        out.extend_from_slice(&1_700_000_000u32.to_le_bytes());
        out.extend_from_slice(&(i as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    std::fs::write(path, out).unwrap();
}

#[test]
fn vlan_tags_taken_out_by_the_kernel_are_put_back() {
    if !prerequisites_met("af_packet vlan") {
        return;
    }
    let _one = serial();
    let tagged: Vec<Vec<u8>> = frames(&[data("sample.pcap")])
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let mut t = f[..12].to_vec();
            // 802.1Q, priority 0, VLAN 100 + i % 3.
            t.extend_from_slice(&[0x81, 0x00]);
            t.extend_from_slice(&(100 + (i % 3) as u16).to_be_bytes());
            t.extend_from_slice(&f[12..]);
            t
        })
        .collect();
    let path = std::env::temp_dir().join(format!("virga-afp-vlan-{}.pcap", std::process::id()));
    write_pcap(&path, &tagged);
    let net = Netns::create("v");
    let file = path.to_string_lossy().into_owned();
    let reads = capture_while(&net, settings(&net.veth_b, ""), 2, || {
        net.replay_from_a(&file, &["--pps", "4000"]);
    });
    let _ = std::fs::remove_file(&path);
    let got = sorted(
        reads
            .iter()
            .flat_map(|r| r.frames.iter().map(|(f, _)| f.clone()))
            .collect(),
    );
    assert_eq!(got.len(), tagged.len());
    assert!(got == sorted(tagged), "tagged frames differ");
    assert_grouped(&reads);
}

#[test]
fn a_ring_that_is_not_read_drops_and_counts_the_drops() {
    if !prerequisites_met("af_packet drops") {
        return;
    }
    let _one = serial();
    let net = Netns::create("d");
    let mut s = settings(&net.veth_b, "");
    s.buffer_size_bytes = 65_536;
    s.snaplen_bytes = 64;
    let iface = net.veth_b.clone();
    let mut sources: Vec<AfPacketSource> = net.in_b(move || open_group(&s, 1).unwrap());
    let src = &mut sources[0];
    assert_eq!(src.origin(), iface);
    assert!(src.is_live());
    let g = src.geometry();
    assert!(g.bytes() <= 65_536, "{g:?}");
    let loops = 8u64;
    net.replay_from_a(
        &data("sample.pcap"),
        &["--topspeed", "--loop", &loops.to_string()],
    );
    std::thread::sleep(Duration::from_millis(200));
    let sent = 255 * loops;
    let first = src.stats();
    assert_eq!(first.received, sent, "{first:?}");
    assert!(first.kernel_drops > 0, "{first:?}");
    assert!(src.ring_full_events() > 0);
    let mut read = 0u64;
    while let Next::Packet(p) = src.next_packet().unwrap() {
        assert!(p.data.len() <= 64);
        read += 1;
    }
    // Counters are cumulative: a second read keeps the first's numbers.
    let second = src.stats();
    assert_eq!(second, first);
    assert_eq!(read + second.kernel_drops, sent);
    eprintln!("sent {sent}, read {read}, dropped {}", second.kernel_drops);
}

/// The sample's frames 24 times over, the clients (10.66.0.x) renumbered
/// to 10.66.k.x in copy k: about a hundred clients, each resolving names
/// and then connecting.
fn many_clients() -> Vec<Vec<u8>> {
    let sample = frames(&[data("sample.pcap")]);
    let mut out = Vec::new();
    for k in 1..=24u8 {
        for f in &sample {
            let mut f = f.clone();
            if f.len() >= 34 && f[12..14] == [0x08, 0x00] {
                for at in [26, 30] {
                    if f[at..at + 2] == [10, 66] {
                        f[at + 2] = k;
                    }
                }
            }
            out.push(f);
        }
    }
    out
}

#[test]
fn many_clients_each_keep_their_dns_and_connections_on_one_socket() {
    if !prerequisites_met("af_packet many clients") {
        return;
    }
    let _one = serial();
    let all = many_clients();
    let path = std::env::temp_dir().join(format!("virga-afp-clients-{}.pcap", std::process::id()));
    write_pcap(&path, &all);
    let file = path.to_string_lossy().into_owned();
    let net = Netns::create("c");
    let reads = capture_while(&net, settings(&net.veth_b, ""), 3, || {
        net.replay_from_a(&file, &["--pps", "10000"]);
    });
    let _ = std::fs::remove_file(&path);
    let got = sorted(
        reads
            .iter()
            .flat_map(|r| r.frames.iter().map(|(f, _)| f.clone()))
            .collect(),
    );
    assert!(got == sorted(all), "the bytes differ");
    let both = assert_grouped(&reads);
    assert!(both >= 48, "only {both} clients with DNS and TCP");
    for (i, r) in reads.iter().enumerate() {
        assert!(
            r.frames.len() > 255,
            "socket {i}: {} packets",
            r.frames.len()
        );
        for (f, _) in &r.frames {
            let p = RawPacket {
                ts: virga::time::Timestamp(0),
                linktype: 1,
                data: f,
                wire_len: f.len() as u32,
                pcap_cnt: 0,
            };
            assert_eq!(virga::shard::shard(&p, 3), i);
        }
    }
    eprintln!(
        "{both} clients with DNS and TCP; packets per socket {:?}",
        reads.iter().map(|r| r.frames.len()).collect::<Vec<_>>()
    );
}

#[test]
fn an_interface_that_goes_away_ends_the_read_with_an_error() {
    if !prerequisites_met("af_packet interface gone") {
        return;
    }
    let _one = serial();
    let net = Netns::create("x");
    let s = settings(&net.veth_b, "");
    let mut sources = net.in_b(move || open_group(&s, 2).unwrap());
    netns::must("ip", &["-n", &net.ns_b, "link", "del", &net.veth_b]);
    for src in &mut sources {
        let start = std::time::Instant::now();
        let err = loop {
            match src.next_packet() {
                Err(e) => break e,
                Ok(Next::Idle) => assert!(start.elapsed() < Duration::from_secs(2), "no error"),
                Ok(other) => panic!("{other:?}"),
            }
        };
        let shown = err.to_string();
        assert!(
            shown.starts_with(&format!("{}: read error", net.veth_b)),
            "{shown}"
        );
    }
}

/// The interface's promiscuity count (`ip -d link show`).
fn promiscuity(net: &Netns) -> u32 {
    let out = std::process::Command::new("ip")
        .args(["-n", &net.ns_b, "-d", "link", "show", &net.veth_b])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut words = text.split_whitespace();
    while let Some(w) = words.next() {
        if w == "promiscuity" {
            return words.next().and_then(|n| n.parse().ok()).expect("a count");
        }
    }
    panic!("no promiscuity in {text}");
}

#[test]
fn each_socket_puts_the_interface_in_promiscuous_mode_while_open() {
    if !prerequisites_met("af_packet promiscuous") {
        return;
    }
    let _one = serial();
    let net = Netns::create("p");
    assert_eq!(promiscuity(&net), 0);
    let s = settings(&net.veth_b, "");
    let sources = net.in_b(move || open_group(&s, 3).unwrap());
    assert_eq!(promiscuity(&net), 3);
    drop(sources);
    assert_eq!(promiscuity(&net), 0);
    let mut s = settings(&net.veth_b, "");
    s.promiscuous = false;
    let sources = net.in_b(move || open_group(&s, 2).unwrap());
    assert_eq!(promiscuity(&net), 0);
    drop(sources);
}
