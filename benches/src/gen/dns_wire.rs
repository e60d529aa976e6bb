//! DNS messages in wire format, for the generator.
//!
//! Hand-written: the generator needs a handful of exact message shapes (one
//! question, answers with CNAME chains, HTTPS records with hints) and the
//! `domain` crate's builder would pull in its `std`/`bytes` features for the
//! workspace only to write these few bytes.

/// Record types the generator writes.
pub mod rtype {
    /// IPv4 address.
    pub const A: u16 = 1;
    /// Canonical name.
    pub const CNAME: u16 = 5;
    /// IPv6 address.
    pub const AAAA: u16 = 28;
    /// HTTPS service binding (RFC 9460).
    pub const HTTPS: u16 = 65;
}

/// The data of one answer record.
pub enum Rdata<'a> {
    /// An A record.
    A([u8; 4]),
    /// An AAAA record.
    Aaaa([u8; 16]),
    /// A CNAME to this name.
    Cname(&'a str),
    /// An HTTPS record (priority 1, target ".") with ALPN h2,h3 and an IPv4 hint.
    Https([u8; 4]),
}

fn put_name(out: &mut Vec<u8>, name: &str) {
    for label in name.trim_end_matches('.').split('.') {
        let l = &label.as_bytes()[..label.len().min(63)];
        out.push(l.len() as u8);
        out.extend_from_slice(l);
    }
    out.push(0);
}

fn header(out: &mut Vec<u8>, id: u16, flags: u16, an: u16) {
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&an.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
}

/// A recursive query for `name`/`qtype`.
pub fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(18 + name.len());
    header(&mut out, id, 0x0100, 0);
    put_name(&mut out, name);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    out
}

/// A response to `query(id, name, qtype)`: `rcode` 0 (NOERROR) or 3
/// (NXDOMAIN), with `answers` as (owner, ttl, data).
pub fn response(
    id: u16,
    name: &str,
    qtype: u16,
    rcode: u8,
    answers: &[(&str, u32, Rdata<'_>)],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + answers.len() * 48);
    header(
        &mut out,
        id,
        0x8180 | u16::from(rcode & 0xf),
        answers.len() as u16,
    );
    put_name(&mut out, name);
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    for (owner, ttl, data) in answers {
        put_name(&mut out, owner);
        let t = match data {
            Rdata::A(_) => rtype::A,
            Rdata::Aaaa(_) => rtype::AAAA,
            Rdata::Cname(_) => rtype::CNAME,
            Rdata::Https(_) => rtype::HTTPS,
        };
        out.extend_from_slice(&t.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&ttl.to_be_bytes());
        let len_at = out.len();
        out.extend_from_slice(&[0, 0]);
        match data {
            Rdata::A(a) => out.extend_from_slice(a),
            Rdata::Aaaa(a) => out.extend_from_slice(a),
            Rdata::Cname(n) => put_name(&mut out, n),
            Rdata::Https(v4) => {
                out.extend_from_slice(&1u16.to_be_bytes()); // SvcPriority
                out.push(0); // TargetName "."
                out.extend_from_slice(&1u16.to_be_bytes()); // alpn
                out.extend_from_slice(&6u16.to_be_bytes());
                out.extend_from_slice(b"\x02h2\x02h3");
                out.extend_from_slice(&4u16.to_be_bytes()); // ipv4hint
                out.extend_from_slice(&4u16.to_be_bytes());
                out.extend_from_slice(v4);
            }
        }
        let rdlen = (out.len() - len_at - 2) as u16;
        out[len_at..len_at + 2].copy_from_slice(&rdlen.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use virga_parsers::dns;

    #[test]
    fn the_sensors_parser_reads_what_is_written() {
        let q = query(7, "www.example.com", rtype::AAAA);
        let m = dns::parse(&q).unwrap();
        assert_eq!(m.questions().count(), 1);
        let r = response(
            7,
            "www.example.com",
            rtype::HTTPS,
            0,
            &[
                ("www.example.com", 300, Rdata::Cname("edge.cdn.example.net")),
                ("edge.cdn.example.net", 60, Rdata::Https([198, 18, 0, 1])),
                ("edge.cdn.example.net", 60, Rdata::A([198, 18, 0, 1])),
            ],
        );
        let m = dns::parse(&r).unwrap();
        let mut name = [0u8; dns::MAX_NAME_TEXT_LEN];
        let answers: Vec<_> = m.answers().collect::<Result<_, _>>().unwrap();
        assert_eq!(answers.len(), 3);
        match answers[0].data().unwrap() {
            dns::Rdata::Cname(n) => {
                let s = n.write_text_into(&mut name).unwrap();
                assert_eq!(s, "edge.cdn.example.net");
            }
            other => panic!("{other:?}"),
        }
    }
}
