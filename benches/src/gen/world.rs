//! Pieces shared by the workloads: addresses, DNS lookups, replaying a real
//! connection, and a beacon schedule.

use super::corpus::Template;
use super::dns_wire::{self, rtype, Rdata};
use super::frames::{self, Endpoint, TcpConn};
use super::rng::Rng;
use super::sink::Sink;

/// Packet time of the first generated packet: 2026-11-02 09:00:00 UTC, µs.
pub const START_US: u64 = 1_793_610_000 * 1_000_000;

/// The resolver every client asks.
pub const RESOLVER: [u8; 4] = [10, 0, 0, 53];

/// The server address of `name`: a stable hash into 198.18.0.0/15.
pub fn server_ip(name: &str) -> [u8; 4] {
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    [198, 18 + (h >> 63) as u8, (h >> 8) as u8, (h as u8).max(1)]
}

/// An ephemeral client port.
pub fn eph_port(rng: &mut Rng) -> u16 {
    rng.range(32_768, 60_999) as u16
}

/// Writes one DNS lookup by `client` at `t`: the query and, 1–20 ms later,
/// the answer (through `cname` when given, else NXDOMAIN when `nx`).
/// Returns the time of the answer.
#[allow(clippy::too_many_arguments)]
pub fn lookup(
    sink: &mut Sink,
    rng: &mut Rng,
    client: [u8; 4],
    t: u64,
    name: &str,
    qtype: u16,
    cname: Option<&str>,
    nx: bool,
    ttl: u32,
) -> u64 {
    let id = rng.next_u64() as u16;
    let c = Endpoint {
        ip: client,
        port: eph_port(rng),
    };
    let s = Endpoint {
        ip: RESOLVER,
        port: 53,
    };
    sink.push(t, frames::udp(c, s, &dns_wire::query(id, name, qtype)));
    let t2 = t + rng.range(1_000, 20_000);
    let target = cname.unwrap_or(name);
    let ip = server_ip(target);
    let mut answers: Vec<(&str, u32, Rdata<'_>)> = Vec::with_capacity(3);
    if !nx {
        if let Some(cn) = cname {
            answers.push((name, ttl, Rdata::Cname(cn)));
        }
        match qtype {
            rtype::A => answers.push((target, ttl, Rdata::A(ip))),
            rtype::AAAA => {
                let mut v6 = [0u8; 16];
                v6[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
                v6[12..].copy_from_slice(&ip);
                answers.push((target, ttl, Rdata::Aaaa(v6)));
            }
            _ => answers.push((target, ttl, Rdata::Https(ip))),
        }
    }
    sink.push(
        t2,
        frames::udp(
            s,
            c,
            &dns_wire::response(id, name, qtype, if nx { 3 } else { 0 }, &answers),
        ),
    );
    t2
}

/// A browser resolves a name as browsers do (A, AAAA and HTTPS at once);
/// other clients ask for A (and sometimes AAAA). Returns the last answer's time.
pub fn resolve(
    sink: &mut Sink,
    rng: &mut Rng,
    client: [u8; 4],
    t: u64,
    name: &str,
    browser: bool,
    cname: Option<&str>,
) -> u64 {
    let mut done = lookup(sink, rng, client, t, name, rtype::A, cname, false, 300);
    if browser || rng.chance(0.5) {
        done = done.max(lookup(
            sink,
            rng,
            client,
            t + 50,
            name,
            rtype::AAAA,
            cname,
            false,
            300,
        ));
    }
    if browser {
        done = done.max(lookup(
            sink,
            rng,
            client,
            t + 100,
            name,
            rtype::HTTPS,
            cname,
            false,
            300,
        ));
    }
    done
}

/// Replays a real connection from `client` to the server of its name
/// starting at `t`: TCP handshake, every payload in order, close (TLS); or
/// every datagram in order (QUIC). `extra_server` bytes of server data follow
/// the template (a download). Returns the time after the last packet.
pub fn replay(
    sink: &mut Sink,
    rng: &mut Rng,
    tpl: &Template,
    client: [u8; 4],
    t: u64,
    extra_server: usize,
) -> u64 {
    let c = Endpoint {
        ip: client,
        port: eph_port(rng),
    };
    let s = Endpoint {
        ip: server_ip(&tpl.sni),
        port: tpl.server_port,
    };
    let rtt = rng.range(2_000, 60_000);
    if tpl.quic {
        let mut t = t;
        let mut last = true;
        for (from_client, p) in &tpl.payloads {
            if *from_client != last {
                t += rtt / 2;
                last = *from_client;
            }
            let (a, b) = if *from_client { (c, s) } else { (s, c) };
            sink.push(t, frames::udp(a, b, p));
            t += 30;
        }
        // The rest of the connection: short-header datagrams.
        let mut buf = [0u8; 1200];
        for i in 0..extra_server.div_ceil(1200) {
            rng.fill(&mut buf);
            buf[0] = 0x40 | (buf[0] & 0x3f);
            sink.push(t, frames::udp(s, c, &buf));
            if i % 4 == 3 {
                sink.push(t + rtt / 2, frames::udp(c, s, &buf[..48]));
            }
            t += 40;
        }
        return t + rtt;
    }
    let mut conn = TcpConn::open(sink, rng, c, s, t, rtt);
    for (from_client, p) in &tpl.payloads {
        conn.send(sink, *from_client, p, 20);
    }
    if extra_server > 0 {
        let mut data = vec![0u8; extra_server];
        rng.fill(&mut data);
        conn.send(sink, false, &data, 12);
    }
    conn.close(sink);
    conn.t
}

/// Beat times of a beacon with `period_s` ± `jitter` (fraction) between
/// `from_us` and `to_us`.
pub fn beacon_times(
    rng: &mut Rng,
    from_us: u64,
    to_us: u64,
    period_s: f64,
    jitter: f64,
) -> Vec<u64> {
    let mut out = Vec::new();
    let mut t = from_us + rng.below((period_s * 1e6) as u64);
    while t < to_us {
        out.push(t);
        let f = 1.0 + jitter * (2.0 * rng.unit() - 1.0);
        t += (period_s * f * 1e6) as u64;
    }
    out
}
