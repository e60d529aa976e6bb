//! A labelled timeline of beacons that poll inside one long-lived
//! connection to serverless names, with benign long-lived connections
//! beside them, and its ground truth in the timeline format `virga-eval`
//! scores (`pairs`, `actors`, `allowlist`).
//!
//! Every connection opens with a real client's first flight from the corpus
//! (its ClientHello and the server's answer); what follows inside it is
//! TLS application-data records whose sizes and times come from the seed:
//!
//! - beacons: curl polling a Worker over one TLS connection (60 s ± 25 %);
//!   curl with ALPN h2 polling a Lambda function URL over one HTTP/2
//!   connection (45 s ± 10 %, a PING frame between polls); node polling
//!   another Lambda URL (120 s ± 50 %, one beat in ten missed), its
//!   connection dropped and reopened every hour;
//! - benign: Chromium users keeping a connection to a Worker open while
//!   they work (requests at log-normal think times, a new connection after
//!   five idle minutes, as Chromium closes idle sockets); a WebSocket-style
//!   chat session (messages at exponential gaps); a monitoring probe polling its
//!   status Worker every 30 s over one connection, listed in the timeline's
//!   allowlist as an operator would.

use super::corpus::Template;
use super::frames::{Endpoint, TcpConn};
use super::rng::Rng;
use super::sink::Sink;
use super::world::{self, beacon_times, eph_port, lookup, server_ip};
use anyhow::{Context, Result};
use serde_json::{json, Value};

/// Microseconds in a second.
const SEC: u64 = 1_000_000;

/// Idle time after which a browser closes its connection (Chromium: 5
/// minutes for an idle socket), microseconds.
const IDLE_CLOSE: u64 = 300 * SEC;

/// What one actor does inside its connection.
enum Pattern {
    /// Polls at `period` s ± `jitter`, skipping a beat with probability
    /// `miss`; the connection is reopened every `reopen` polls (0: never).
    Beacon {
        period: f64,
        jitter: f64,
        miss: f64,
        reopen: usize,
        h2_ping: bool,
    },
    /// Bursts of requests at random times: sessions of activity separated
    /// by breaks of 1–40 minutes.
    Browsing,
    /// Messages at exponential gaps (mean `mean_s` seconds).
    Chat { mean_s: f64 },
}

/// One actor of the timeline.
struct Actor {
    host: [u8; 4],
    client: &'static str,
    sni: &'static str,
    label: &'static str,
    pattern: Pattern,
    allowlisted: bool,
    description: &'static str,
}

fn actors() -> Vec<Actor> {
    vec![
        Actor {
            host: [10, 66, 1, 11],
            client: "curl",
            sni: "a1b2c3.someacct.workers.dev",
            label: "beacon",
            pattern: Pattern::Beacon {
                period: 60.0,
                jitter: 0.25,
                miss: 0.0,
                reopen: 0,
                h2_ping: false,
            },
            allowlisted: false,
            description: "curl keeps one TLS connection to a Worker and polls inside it",
        },
        Actor {
            host: [10, 66, 1, 12],
            client: "curl",
            sni: "api-7f3k.lambda-url.us-east-1.on.aws",
            label: "beacon",
            pattern: Pattern::Beacon {
                period: 45.0,
                jitter: 0.10,
                miss: 0.0,
                reopen: 0,
                h2_ping: true,
            },
            allowlisted: false,
            description: "HTTP/2 client polling a Lambda function URL over one connection",
        },
        Actor {
            host: [10, 66, 1, 13],
            client: "node-https",
            sni: "4kq2v8zt6nmw3ryx5pbl7hcd9jsf1ega.lambda-url.eu-west-1.on.aws",
            label: "beacon",
            pattern: Pattern::Beacon {
                period: 120.0,
                jitter: 0.5,
                miss: 0.1,
                reopen: 30,
                h2_ping: false,
            },
            allowlisted: false,
            description: "node polling with 50 % jitter and missed beats, reconnecting hourly",
        },
        Actor {
            host: [10, 66, 1, 21],
            client: "chromium",
            sni: "a1b2c3.someacct.workers.dev",
            label: "benign",
            pattern: Pattern::Browsing,
            allowlisted: false,
            description: "a browser user working with a Worker-backed app",
        },
        Actor {
            host: [10, 66, 1, 22],
            client: "chromium",
            sni: "us-central1-proj.cloudfunctions.net",
            label: "benign",
            pattern: Pattern::Chat { mean_s: 90.0 },
            allowlisted: false,
            description: "a chat session over one long-lived connection",
        },
        Actor {
            host: [10, 66, 1, 31],
            client: "curl",
            sni: "status-probe.ops-team.workers.dev",
            label: "benign",
            pattern: Pattern::Beacon {
                period: 30.0,
                jitter: 0.0,
                miss: 0.0,
                reopen: 0,
                h2_ping: false,
            },
            allowlisted: true,
            description: "a monitoring heartbeat, allowlisted by the operator",
        },
    ]
}

/// A user's think time between two requests, microseconds: log-normal
/// with a median of 6 s and σ = 1, at most two minutes.
fn think_time(rng: &mut Rng) -> u64 {
    // Box–Muller: a standard normal from two uniforms.
    let (u1, u2) = (rng.unit().max(1e-12), rng.unit());
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    let secs = (6f64.ln() + z).exp().min(120.0);
    (secs * 1e6) as u64
}

/// A TLS application-data record of `len` bytes of body.
fn app_data(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut r = vec![0x17, 0x03, 0x03, (len >> 8) as u8, len as u8];
    let start = r.len();
    r.resize(start + len, 0);
    rng.fill(&mut r[start..]);
    r
}

/// Opens a connection from `host` to `tpl`'s server at `t` after the
/// client's DNS lookup, replaying the template's first flight.
fn open(sink: &mut Sink, rng: &mut Rng, tpl: &Template, host: [u8; 4], t: u64) -> TcpConn {
    let t = lookup(sink, rng, host, t, &tpl.sni, 1, None, false, 300) + 2_000;
    let client = Endpoint {
        ip: host,
        port: eph_port(rng),
    };
    let server = Endpoint {
        ip: server_ip(&tpl.sni),
        port: tpl.server_port,
    };
    let rtt = rng.range(10_000, 60_000);
    let mut c = TcpConn::open(sink, rng, client, server, t, rtt);
    for (from_client, p) in &tpl.payloads {
        c.send(sink, *from_client, p, 20);
    }
    c
}

/// One request inside the connection at `t` (or when the connection's
/// previous packet is out, if later): a record from the client, the
/// server's answer.
fn exchange(sink: &mut Sink, rng: &mut Rng, c: &mut TcpConn, t: u64, req: usize, resp: usize) {
    c.t = c.t.max(t);
    let q = app_data(rng, req);
    c.send(sink, true, &q, 100);
    let a = app_data(rng, resp);
    c.send(sink, false, &a, 100);
}

/// Writes the actor's traffic between `from` and `to` (µs); returns the
/// times of its beats or requests, in seconds after `from`.
fn play(sink: &mut Sink, rng: &mut Rng, tpl: &Template, a: &Actor, from: u64, to: u64) -> Vec<f64> {
    let mut times = Vec::new();
    let first = from + rng.below(60 * SEC);
    let mut c = open(sink, rng, tpl, a.host, first);
    match a.pattern {
        Pattern::Beacon {
            period,
            jitter,
            miss,
            reopen,
            h2_ping,
        } => {
            let start = c.t + SEC;
            for (i, t) in beacon_times(rng, start, to, period, jitter)
                .into_iter()
                .enumerate()
            {
                if reopen > 0 && i > 0 && i % reopen == 0 {
                    c.close(sink);
                    c = open(sink, rng, tpl, a.host, t.saturating_sub(2 * SEC).max(c.t));
                }
                if rng.unit() < miss {
                    continue;
                }
                let t = t.max(c.t);
                let req = 180 + rng.below(80) as usize;
                let resp = 300 + rng.below(900) as usize;
                exchange(sink, rng, &mut c, t, req, resp);
                times.push((t - from) as f64 / 1e6);
                if h2_ping {
                    // An HTTP/2 PING and its ACK halfway to the next poll.
                    let p = t + (period * 0.5 * 1e6) as u64;
                    if p < to {
                        exchange(sink, rng, &mut c, p, 17 + 9, 17 + 9);
                    }
                }
            }
        }
        Pattern::Browsing => {
            let mut t = c.t + 5 * SEC;
            while t < to {
                // A working session: 3–30 requests apart by a user's think
                // time, heavy-tailed as web workload models have it
                // (log-normal, median 6 s, capped at two minutes).
                for _ in 0..rng.range(3, 30) {
                    t += think_time(rng);
                    if t >= to {
                        break;
                    }
                    let req = 400 + rng.below(1200) as usize;
                    exchange(sink, rng, &mut c, t, req, 2_000);
                    times.push((t - from) as f64 / 1e6);
                }
                // A break of 1–40 minutes; a browser closes a connection
                // idle for 5 minutes and opens a new one when needed.
                let pause = rng.range(60 * SEC, 40 * 60 * SEC);
                t += pause;
                if pause > IDLE_CLOSE && t < to {
                    c.close(sink);
                    c = open(sink, rng, tpl, a.host, t.max(c.t));
                    t = c.t;
                }
            }
        }
        Pattern::Chat { mean_s } => {
            let mut t = c.t + SEC;
            loop {
                // Exponential gap with mean `mean_s`.
                let gap = -mean_s * (1.0 - rng.unit()).max(1e-9).ln();
                t += (gap * 1e6) as u64 + SEC / 10;
                if t >= to {
                    break;
                }
                if (gap * 1e6) as u64 > IDLE_CLOSE {
                    c.close(sink);
                    c = open(sink, rng, tpl, a.host, t.max(c.t));
                }
                let req = 60 + rng.below(400) as usize;
                exchange(sink, rng, &mut c, t, req, 80);
                times.push((t - from) as f64 / 1e6);
            }
        }
    }
    c.close(sink);
    times
}

/// Writes the timeline (`hours` of packet time from [`world::START_US`])
/// and returns its truth file as JSON.
pub fn generate(
    sink: &mut Sink,
    rng: &mut Rng,
    tpls: &[Template],
    hours: u64,
    scenario: &str,
    pcap_name: &str,
) -> Result<Value> {
    let from = world::START_US;
    let to = from + hours * 3600 * SEC;
    let mut pairs = Vec::new();
    let mut actor_truth = Vec::new();
    let mut allowlist = Vec::new();
    for (i, a) in actors().iter().enumerate() {
        let tpl = tpls
            .iter()
            .find(|t| !t.quic && t.client == a.client && t.sni == a.sni)
            .with_context(|| format!("no {} connection to {} in the corpus", a.client, a.sni))?;
        let times = play(sink, rng, tpl, a, from, to);
        let host = format!("{}.{}.{}.{}", a.host[0], a.host[1], a.host[2], a.host[3]);
        let (period, jitter) = match a.pattern {
            Pattern::Beacon { period, jitter, .. } => (Some(period), jitter),
            _ => (None, 0.0),
        };
        let ip = server_ip(a.sni);
        let server = format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3]);
        pairs.push(json!({
            "client_ip": host,
            "server_name": a.sni,
            "server_ip": server,
            "dns_names": [a.sni],
            "client": a.client,
            "is_browser": tpl.browser,
            "transport": "tcp",
            "labels": [a.label],
            "categories": [a.label],
            "actors": [i],
            "n_connections": 1,
            "label": a.label,
            "description": a.description,
        }));
        actor_truth.push(json!({
            "type": a.label,
            "host": host,
            "client": a.client,
            "sni": a.sni,
            "period_s": period,
            "jitter": jitter,
            "actor": i,
            "label": a.label,
            "n_events": times.len(),
            "event_times_s": times,
        }));
        if a.allowlisted {
            allowlist.push(json!({
                "client_ip": host,
                "server_name": a.sni,
                "reason": a.description,
            }));
        }
    }
    let beacons = pairs.iter().filter(|p| p["label"] == "beacon").count();
    Ok(json!({
        "set": "dev",
        "scenario": scenario,
        "pcap": pcap_name,
        "description": "Beacons polling inside one long-lived connection to serverless names (TLS, HTTP/2, reconnecting hourly with missed beats) beside benign long-lived connections (browsing, chat) and an allowlisted monitoring heartbeat.",
        "generator": "virga-gen in-connection",
        "start_epoch": from as f64 / 1e6,
        "duration_s": (hours * 3600) as f64,
        "counts": {
            "pairs": pairs.len(),
            "beacon_pairs": beacons,
            "benign_pairs": pairs.len() - beacons,
        },
        "allowlist": allowlist,
        "pairs": pairs,
        "actors": actor_truth,
    }))
}
