//! The enterprise mix: short TLS connections with real ClientHellos, TCP
//! bulk downloads (HTTP and TLS), QUIC with real Initials, browser-style DNS
//! with CNAME chains and NXDOMAINs, and a few serverless beacons.

use super::corpus::Template;
use super::dns_wire::rtype;
use super::frames::{Endpoint, TcpConn};
use super::rng::Rng;
use super::sink::Sink;
use super::world::{self, START_US};
use anyhow::{bail, Result};

/// Options of the mix.
pub struct MixOptions {
    /// Packets to write (at least).
    pub packets: u64,
    /// Packet-time span, seconds.
    pub seconds: u64,
    /// Internal client hosts.
    pub clients: u32,
    /// Serverless beacons (one host and one name each).
    pub beacons: usize,
}

/// What was written besides the packets.
#[derive(Debug, Default)]
pub struct MixSummary {
    /// Sessions per kind: tls, bulk, quic, dns.
    pub sessions: [u64; 4],
    /// (client, name, period s, beats) per beacon.
    pub beacons: Vec<(String, String, f64, usize)>,
}

fn client_ip(i: u32) -> [u8; 4] {
    [10, 1, (i >> 8) as u8, (i as u8).max(1)]
}

/// Writes the mix into `sink`.
pub fn generate(
    sink: &mut Sink,
    rng: &mut Rng,
    tpls: &[Template],
    o: &MixOptions,
) -> Result<MixSummary> {
    let benign: Vec<&Template> = tpls.iter().filter(|t| !t.quic && !t.serverless).collect();
    // Browser QUIC only: a non-browser QUIC client would be alerted on every connection.
    let quic: Vec<&Template> = tpls.iter().filter(|t| t.quic && t.browser).collect();
    let quic_names: Vec<&str> = quic.iter().map(|t| t.sni.as_str()).collect();
    let mut beacon_tpls: Vec<&Template> = tpls
        .iter()
        .filter(|t| !t.quic && t.serverless && !t.browser && !quic_names.contains(&t.sni.as_str()))
        .collect();
    if benign.is_empty() || quic.is_empty() || beacon_tpls.len() < o.beacons {
        bail!("the corpus lacks benign TLS, QUIC or serverless connections");
    }
    // One beacon per name, from different client programs where possible.
    let mut chosen: Vec<&Template> = Vec::new();
    while chosen.len() < o.beacons && !beacon_tpls.is_empty() {
        let i = rng.below(beacon_tpls.len() as u64) as usize;
        let t = beacon_tpls.swap_remove(i);
        if !chosen
            .iter()
            .any(|c| c.sni == t.sni || c.client == t.client)
        {
            chosen.push(t);
        }
    }
    let end = START_US + o.seconds * 1_000_000;
    let periods = [60.0, 90.0, 120.0, 150.0, 45.0, 75.0];
    let mut beats: Vec<(u64, usize)> = Vec::new();
    let mut summary = MixSummary::default();
    for (i, t) in chosen.iter().enumerate() {
        let p = periods[i % periods.len()];
        let times = world::beacon_times(rng, START_US, end, p, 0.1 + 0.1 * (i % 3) as f64);
        summary
            .beacons
            .push((format!("10.2.0.{}", i + 1), t.sni.clone(), p, 0));
        beats.extend(times.into_iter().map(|x| (x, i)));
    }
    beats.sort_unstable();
    let mut beats = beats.into_iter().peekable();
    // Background names: some behind CDN CNAMEs, some that do not exist.
    let names: Vec<String> = (0..4000)
        .map(|i| format!("www{}.site{}.example", i % 7, i))
        .collect();
    let mut t = START_US;
    while sink.pushed < o.packets {
        // Sessions start in proportion to the packets written, so the span
        // is `seconds` whatever the mix of sizes.
        let next =
            START_US + (o.seconds as f64 * 1e6 * sink.pushed as f64 / o.packets as f64) as u64;
        t = t.max(next) + rng.below(200);
        while let Some(&(bt, i)) = beats.peek() {
            if bt > t {
                break;
            }
            beats.next();
            sink.release_before(bt)?;
            let tpl = chosen[i];
            summary.beacons[i].3 += 1;
            let host = [10, 2, 0, i as u8 + 1];
            let at = world::resolve(sink, rng, host, bt, &tpl.sni, false, None);
            world::replay(sink, rng, tpl, host, at + 500, 0);
        }
        sink.release_before(t)?;
        let client = client_ip(rng.below(u64::from(o.clients)) as u32);
        let kind = rng.below(100);
        if kind < 50 {
            // A short TLS connection with a real hello (a page load, an update check).
            let tpl = *rng.pick(&benign);
            let at = world::resolve(sink, rng, client, t, &tpl.sni, tpl.browser, None);
            world::replay(sink, rng, tpl, client, at + 300, 0);
            summary.sessions[0] += 1;
        } else if kind < 53 {
            // A bulk download: HTTP/1.1 on port 80 or over TLS.
            let size = rng.range(64, 1_000) as usize * 1460;
            if rng.chance(0.5) {
                let tpl = *rng.pick(&benign);
                let at = world::resolve(sink, rng, client, t, &tpl.sni, tpl.browser, None);
                world::replay(sink, rng, tpl, client, at + 300, size);
            } else {
                let name = rng.pick(&names).clone();
                let at = world::resolve(sink, rng, client, t, &name, false, None);
                let c = Endpoint {
                    ip: client,
                    port: world::eph_port(rng),
                };
                let s = Endpoint {
                    ip: world::server_ip(&name),
                    port: 80,
                };
                let rtt = rng.range(1_000, 30_000);
                let mut conn = TcpConn::open(sink, rng, c, s, at + 300, rtt);
                let req = format!(
                    "GET /files/{}.bin HTTP/1.1\r\nHost: {name}\r\nUser-Agent: Wget/1.21.3\r\nAccept: */*\r\nConnection: close\r\n\r\n",
                    rng.below(1 << 20)
                );
                conn.send(sink, true, req.as_bytes(), 20);
                let mut body = format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nContent-Type: application/octet-stream\r\n\r\n").into_bytes();
                let head = body.len();
                body.resize(head + size, 0);
                rng.fill(&mut body[head..]);
                conn.send(sink, false, &body, 12);
                conn.close(sink);
            }
            summary.sessions[1] += 1;
        } else if kind < 63 {
            // QUIC: real Initials, then a short-header download.
            let tpl = *rng.pick(&quic);
            let at = world::resolve(sink, rng, client, t, &tpl.sni, true, None);
            let size = rng.range(4, 80) as usize * 1200;
            world::replay(sink, rng, tpl, client, at + 300, size);
            summary.sessions[2] += 1;
        } else {
            // DNS only: a browser's lookups (A/AAAA/HTTPS) of a name, often
            // behind a CDN CNAME; some names do not exist.
            let i = rng.below(names.len() as u64) as usize;
            let name = &names[i];
            if rng.chance(0.05) {
                let nx = format!("x{}.{name}", rng.below(1000));
                world::lookup(sink, rng, client, t, &nx, rtype::A, None, true, 0);
            } else if i.is_multiple_of(3) {
                let cname = format!("e{}.cdn{}.edge.example.net", i, i % 11);
                world::resolve(sink, rng, client, t, name, true, Some(&cname));
            } else {
                let browser = rng.chance(0.7);
                world::resolve(sink, rng, client, t, name, browser, None);
            }
            summary.sessions[3] += 1;
        }
    }
    Ok(summary)
}
