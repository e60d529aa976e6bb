//! DNS messages of a flow: each becomes a [`DnsTransaction`] record (and a
//! [`DnsLookup`] for the detectors when it is about a serverless name), and
//! a client's answers teach the name cache which names its addresses stand
//! for.

use super::Parts;
use crate::app::dns::name_text;
use crate::app::FlowApp;
use crate::flow::key::Tuple;
use crate::name_cache::{Learned, NameCache};
use crate::records::{DnsLookup, DnsTransaction, FlowRef, PacketRef, RecordSink};
use crate::time::Timestamp;
use std::sync::Arc;
use virga_config::Catalogue;

/// Reusable buffers of the DNS path, so a message allocates nothing: the
/// names formatted to match against the catalogue and to learn.
#[derive(Default)]
pub(super) struct DnsBuffers {
    qname: String,
    target: String,
}

/// The parts of a flow's state a DNS message updates (borrowed apart from
/// the TCP stream state that yields the messages).
pub(super) struct DnsFlow<'a> {
    /// Messages of the flow so far.
    pub(super) tx_count: &'a mut u32,
    /// Set when a message touches a catalogued name.
    pub(super) serverless: &'a mut bool,
}

impl<'a> DnsFlow<'a> {
    pub(super) fn of(app: &'a mut FlowApp) -> Self {
        DnsFlow {
            tx_count: &mut app.tx_count,
            serverless: &mut app.serverless,
        }
    }
}

/// Questions of one message matched against the catalogue.
const MAX_QUESTIONS_MATCHED: usize = 8;

/// Parses one DNS message of the flow `flow_id`, going as `tuple`, and hands
/// its records on.
pub(super) fn on_message(
    app: DnsFlow<'_>,
    tuple: &Tuple,
    flow_id: u64,
    payload: &[u8],
    at: PacketRef,
    p: &mut Parts,
) {
    let h = &mut p.handler;
    let msg = match virga_parsers::dns::parse(payload) {
        Ok(m) => m,
        Err(_) => {
            h.counters.dns_errors += 1;
            return;
        }
    };
    h.counters.dns_messages += 1;
    let tx_id = u64::from(*app.tx_count);
    *app.tx_count = app.tx_count.saturating_add(1);
    let catalogue = &*h.settings.catalogue;
    let s = &mut p.bufs.dns;
    let mut serverless = false;
    for q in msg
        .questions()
        .map_while(Result::ok)
        .take(MAX_QUESTIONS_MATCHED)
    {
        name_text(&q.name, &mut s.qname);
        serverless |= catalogue.lookup(&s.qname).is_some();
    }
    let response = msg.header().qr();
    if response {
        serverless |= learn_names(&msg, tuple.dst.ip, at.ts, catalogue, &mut p.names, s);
    }
    if serverless {
        if let Some(q) = msg.first_question() {
            name_text(&q.name, &mut s.qname);
            let (client, server) = if response {
                (tuple.dst, tuple.src)
            } else {
                (tuple.src, tuple.dst)
            };
            h.out.dns_lookup(DnsLookup {
                packet: at,
                origin: h.out.lines.origin().clone(),
                flow_id,
                client: client.ip,
                client_port: client.port,
                server,
                qname: Arc::from(s.qname.as_str()),
                qtype: q.qtype.0,
                rcode: response.then(|| msg.full_rcode()),
                answers: msg.header().ancount,
                process: None,
            });
        }
        *app.serverless = true;
    }
    h.out.dns(&DnsTransaction {
        flow: FlowRef {
            flow_id,
            tuple: *tuple,
        },
        packet: at,
        tx_id,
        message: &msg,
        serverless,
    });
}

/// Most answers of one response fed to the name cache.
const MAX_LEARNED_PER_RESPONSE: usize = 32;

/// Learns, from a DNS response to `client`, which names its addresses stand
/// for: the queried name, reached through the CNAME chain. Returns true when a
/// name of the chain is serverless.
fn learn_names(
    msg: &virga_parsers::dns::DnsMessage<'_>,
    client: std::net::IpAddr,
    now: Timestamp,
    catalogue: &Catalogue,
    names: &mut NameCache,
    s: &mut DnsBuffers,
) -> bool {
    use virga_parsers::dns::{Rdata, SvcParamValue};
    let Some(q) = msg.first_question() else {
        return false;
    };
    let (qname, target) = (&mut s.qname, &mut s.target);
    name_text(&q.name, qname);
    if qname.is_empty() {
        return false;
    }
    // The first serverless name of the chain: the query, or a CNAME target.
    let serverless_name: Option<&str> = if catalogue.lookup(qname).is_some() {
        Some(qname)
    } else {
        let mut found = false;
        for r in msg
            .answers()
            .map_while(Result::ok)
            .take(MAX_LEARNED_PER_RESPONSE)
        {
            if let Ok(Rdata::Cname(t)) = r.data() {
                name_text(&t, target);
                if catalogue.lookup_cname_target(target).is_some() {
                    found = true;
                    break;
                }
            }
        }
        found.then_some(target.as_str())
    };
    // Made at the first address, from the cache's own copy when it already
    // holds this answer for it (allocated only for a new name).
    let mut learned: Option<Learned> = None;
    let mut learn = |names: &mut NameCache, server: std::net::IpAddr, ttl: u32| {
        let l = learned.get_or_insert_with(|| {
            names
                .held(client, server, qname, serverless_name)
                .unwrap_or_else(|| {
                    let name: Arc<str> = Arc::from(qname.as_str());
                    let serverless_name = serverless_name.map(|n| {
                        if n == qname.as_str() {
                            name.clone()
                        } else {
                            Arc::from(n)
                        }
                    });
                    Learned {
                        name,
                        serverless_name,
                    }
                })
        });
        names.learn(client, server, l, ttl, now);
    };
    for r in msg
        .answers()
        .map_while(Result::ok)
        .take(MAX_LEARNED_PER_RESPONSE)
    {
        match r.data() {
            Ok(Rdata::A(a)) => learn(names, a.into(), r.ttl),
            Ok(Rdata::Aaaa(a)) => learn(names, a.into(), r.ttl),
            Ok(Rdata::Https(svcb)) | Ok(Rdata::Svcb(svcb)) => {
                for p in svcb.params.clone().take(MAX_LEARNED_PER_RESPONSE) {
                    match p.decode() {
                        Ok(SvcParamValue::Ipv4Hint(a)) => {
                            for ip in a.take(MAX_LEARNED_PER_RESPONSE) {
                                learn(names, ip.into(), r.ttl);
                            }
                        }
                        Ok(SvcParamValue::Ipv6Hint(a)) => {
                            for ip in a.take(MAX_LEARNED_PER_RESPONSE) {
                                learn(names, ip.into(), r.ttl);
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    serverless_name.is_some()
}
