//! Fuzz `dns::parse`: walk every question and record of every section,
//! decode every RDATA (SvcParams, EDNS options, character-strings included)
//! and write every name, into a `fmt::Write` and into a fixed buffer.
#![no_main]

use core::fmt::Write as _;

use libfuzzer_sys::fuzz_target;
use virga_parsers::dns::{self, Name, Rdata, MAX_NAME_TEXT_LEN};

/// A `fmt::Write` that only counts bytes (no allocation).
struct Count(usize);

impl core::fmt::Write for Count {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

fn name(n: &Name<'_>) {
    let mut c = Count(0);
    let _ = n.write_text(&mut c);
    assert!(c.0 <= MAX_NAME_TEXT_LEN);
    let mut buf = [0u8; MAX_NAME_TEXT_LEN];
    let s = n
        .write_text_into(&mut buf)
        .expect("MAX_NAME_TEXT_LEN is enough");
    assert_eq!(s.len(), c.0);
    assert!(n.wire_len() <= 255 && n.label_count() < 128);
    assert!(n.labels().all(|l| !l.is_empty() && l.len() <= 63));
}

fn rdata(d: &Rdata<'_>) {
    let mut c = Count(0);
    match d {
        Rdata::Cname(n) | Rdata::Ns(n) | Rdata::Ptr(n) => name(n),
        Rdata::Mx { exchange, .. } => name(exchange),
        Rdata::Srv { target, .. } => name(target),
        Rdata::Soa(s) => {
            name(&s.mname);
            name(&s.rname);
        }
        Rdata::Txt(t) => c.0 += t.clone().map(<[u8]>::len).sum::<usize>(),
        Rdata::Svcb(s) | Rdata::Https(s) => {
            name(&s.target);
            for p in s.params.clone() {
                let _ = write!(c, "{:?}", p.decode());
            }
        }
        Rdata::Opt(e) => c.0 += e.options.clone().count(),
        _ => {
            let _ = write!(c, "{d:?}");
        }
    }
    core::hint::black_box(c.0);
}

fuzz_target!(|data: &[u8]| {
    let _ = dns::probe(data);
    let Ok(m) = dns::parse(data) else { return };
    let h = m.header();
    let _ = (h.qr(), h.opcode(), h.rcode(), m.anomalies().names().count());
    for q in m.questions().flatten() {
        name(&q.name);
        let _ = (q.qtype.name(), q.qclass.name());
    }
    for rr in m
        .answers()
        .chain(m.authorities())
        .chain(m.additionals())
        .flatten()
    {
        name(&rr.name);
        let _ = rr.rdata();
        if let Ok(d) = rr.data() {
            rdata(&d);
        }
    }
    let _ = (m.edns(), m.full_rcode());
});
