//! DNS parsing on real payloads of public captures, read from the shared
//! folder (zeek `dns-https.pcap` frames 1 and 2, PcapPlusPlus
//! `DnsPackets.pcap` frame 199): a browser's HTTPS-type query, its answer
//! with alpn/ipv4hint/ipv6hint, and a response with a CNAME chain. "parse" is `dns::parse` alone (header and
//! one skip pass over the sections); "walk" also decodes every question and
//! record and writes every name into a stack buffer, as the sensor does for
//! an EVE `dns` event.
#![forbid(unsafe_code)]
// criterion_group! generates an undocumented `pub fn benches`.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use virga_parsers::dns::{self, Rdata, SvcParamValue, MAX_NAME_TEXT_LEN};

use virga_benches::public::payload;

/// Everything the sensor reads for one message; returns a checksum.
fn walk(payload: &[u8]) -> usize {
    let Ok(m) = dns::parse(payload) else { return 0 };
    let mut buf = [0u8; MAX_NAME_TEXT_LEN];
    let mut sum = usize::from(m.header().id);
    for q in m.questions().flatten() {
        sum += q.name.write_text_into(&mut buf).map_or(0, str::len) + usize::from(q.qtype.0);
    }
    for rr in m
        .answers()
        .chain(m.authorities())
        .chain(m.additionals())
        .flatten()
    {
        sum += rr.name.write_text_into(&mut buf).map_or(0, str::len) + rr.ttl as usize;
        match rr.data() {
            Ok(Rdata::A(ip)) => sum += ip.octets()[3] as usize,
            Ok(Rdata::Aaaa(ip)) => sum += ip.octets()[15] as usize,
            Ok(Rdata::Cname(n)) => sum += n.write_text_into(&mut buf).map_or(0, str::len),
            Ok(Rdata::Https(s)) | Ok(Rdata::Svcb(s)) => {
                for p in s.params {
                    sum += match p.decode() {
                        Ok(SvcParamValue::Alpn(a)) => a.count(),
                        Ok(SvcParamValue::Ipv4Hint(a)) => a.count(),
                        Ok(SvcParamValue::Ipv6Hint(a)) => a.count(),
                        _ => 1,
                    };
                }
            }
            Ok(Rdata::Opt(e)) => sum += e.options.count(),
            _ => {}
        }
    }
    sum
}

fn bench(c: &mut Criterion) {
    let (Some(query), Some(response), Some(cnames)) = (
        payload("zeek/dns-https.pcap", 1),
        payload("zeek/dns-https.pcap", 2),
        payload("pcapplusplus/DnsPackets.pcap", 199),
    ) else {
        return;
    };
    let mut g = c.benchmark_group("dns");
    for (name, payload) in [
        ("https_query", query.as_slice()),
        ("https_response", response.as_slice()),
        ("cname_chain", cnames.as_slice()),
    ] {
        g.throughput(Throughput::Bytes(payload.len() as u64));
        g.bench_function(format!("parse/{name}"), |b| {
            b.iter(|| dns::parse(black_box(payload)).map(|m| m.walked_len()))
        });
        g.bench_function(format!("walk/{name}"), |b| {
            b.iter(|| walk(black_box(payload)))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
