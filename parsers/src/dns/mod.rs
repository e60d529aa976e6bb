//! DNS messages over UDP and TCP (RFC 1035 and successors), as zero-copy
//! views.
//!
//! # Why `domain`
//! The wire work is done by NLnet Labs' `domain` crate (0.12): message
//! header, name validation and decompression (`ParsedName`), and the typed
//! RDATA parsers. It parses in place over `&[u8]`, knows SVCB/HTTPS, OPT and
//! every IANA type name, and lets each record's data be decoded or fail on
//! its own. `dns-parser` 0.8 is not used: it rejects the whole message when
//! a question has type HTTPS (65) or SVCB (64), which every current browser
//! sends beside A and AAAA.
//!
//! # Contract
//! - [`parse`] takes one DNS message (a UDP payload, or one message from
//!   [`tcp_messages`]) and fails only when the 12-byte header is missing
//!   (`Truncated`). Everything else is lazy: [`DnsMessage::questions`],
//!   [`DnsMessage::answers`], [`DnsMessage::authorities`] and
//!   [`DnsMessage::additionals`] re-walk the message bytes on each call and
//!   yield `Result` items; [`Record::data`] decodes the RDATA on demand.
//!   Nothing is copied or allocated.
//! - Errors are per item. A record whose owner name is invalid but can be
//!   stepped over (bad compression pointer, name over 255 bytes) is one
//!   `Err` item and the iteration goes on with the next record. A record
//!   whose RDATA is malformed is an `Ok` record whose [`Record::data`] is
//!   `Err`; the next records are not affected. When the walk cannot go on
//!   (a name with label type 0x40/0x80, or a record running past the end
//!   of the message) the section yields that error once and ends, and the
//!   later sections each yield it once (if their count is not zero).
//!   [`parse`] walks the sections once to find their starts and records the
//!   outcome in [`DnsMessage::anomalies`], so a caller learns about a broken
//!   message without iterating.
//! - Names: see [`Name`] and the limits in [`name`] (255-byte names, 63-byte
//!   labels, 128 labels, backward-only compression pointers, at most 255
//!   pointer hops; a pointer loop is impossible). Presentation form has no
//!   trailing dot, the root is "", case is preserved, and bytes outside
//!   printable ASCII and `.`/`\` inside labels are escaped as `\DDD`.
//! - Header counts are trusted only as far as the bytes go: every loop is
//!   bounded by the counts (at most 65535 each) and each item consumes at
//!   least one byte, so a walk is linear in the message size.
//!
//! # Example
//! ```
//! use virga_parsers::dns::{self, DnsType, Rdata};
//! // A response: www.example.com A 192.0.2.1, TTL 300.
//! let msg = b"\x12\x34\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\
//!             \x03www\x07example\x03com\x00\x00\x01\x00\x01\
//!             \xc0\x0c\x00\x01\x00\x01\x00\x00\x01\x2c\x00\x04\xc0\x00\x02\x01";
//! let m = dns::parse(msg).unwrap();
//! assert_eq!(m.header().id, 0x1234);
//! assert_eq!(dns::rcode_name(m.header().rcode().into()), Some("NOERROR"));
//! let q = m.questions().next().unwrap().unwrap();
//! assert_eq!((q.name.to_string(), q.qtype), ("www.example.com".into(), DnsType::A));
//! for rr in m.answers().flatten() {
//!     assert_eq!(rr.ttl, 300);
//!     if let Ok(Rdata::A(ip)) = rr.data() {
//!         assert_eq!(ip.to_string(), "192.0.2.1");
//!     }
//! }
//! ```

pub mod name;
mod rdata;
mod tcp;
mod types;

pub use name::{Name, MAX_NAME_TEXT_LEN};
pub use rdata::{
    CharStrings, Edns, EdnsOption, EdnsOptions, Ipv4Addrs, Ipv6Addrs, Rdata, Soa, SvcParam,
    SvcParamValue, SvcParams, Svcb, U16s,
};
pub use tcp::{tcp_message, tcp_messages, TcpMessages, TCP_LEN_PREFIX};
pub use types::{opcode_name, rcode_name, DnsClass, DnsType, SvcParamKey};

use crate::error::{Layer, ParseError};
use name::skip_name;
use rdata::{parse_rdata, RdataCtx};

/// Length of the fixed message header.
pub const HEADER_LEN: usize = 12;

const TRUNCATED: ParseError = ParseError::Truncated { layer: Layer::Dns };

/// Parses the header of one DNS message and walks its sections once.
///
/// `payload` is the whole message: a UDP payload, or one message returned by
/// [`tcp_messages`] (without the length prefix).
///
/// # Errors
/// `Truncated` when `payload` is shorter than the 12-byte header. Every
/// other problem is reported per item by the section iterators and
/// summarised in [`DnsMessage::anomalies`].
pub fn parse(payload: &[u8]) -> Result<DnsMessage<'_>, ParseError> {
    let m = domain::base::Message::from_octets(payload).map_err(|_| TRUNCATED)?;
    let h = m.header();
    let c = m.header_counts();
    let flags = payload
        .get(2..4)
        .map_or(0, |f| u16::from_be_bytes([f[0], f[1]]));
    let header = Header {
        id: h.id(),
        flags,
        qdcount: c.qdcount(),
        ancount: c.ancount(),
        nscount: c.nscount(),
        arcount: c.arcount(),
    };
    let counts = [
        header.qdcount,
        header.ancount,
        header.nscount,
        header.arcount,
    ];
    let mut starts = [0usize; 3];
    let mut pos = HEADER_LEN;
    let mut stop = None;
    'walk: for (section, &count) in counts.iter().enumerate() {
        if let Some(start) = section.checked_sub(1).and_then(|i| starts.get_mut(i)) {
            *start = pos;
        }
        for _ in 0..count {
            let step = if section == 0 {
                skip_question(payload, pos)
            } else {
                skip_record(payload, pos).map(|(_, end)| end)
            };
            match step {
                Ok(end) => pos = end,
                Err(e) => {
                    stop = Some(e);
                    break 'walk;
                }
            }
        }
    }
    let mut anomalies = Anomalies::default();
    match stop {
        None if pos < payload.len() => anomalies.0 |= Anomalies::TRAILING_BYTES.0,
        None => {}
        Some(ParseError::Truncated { .. }) => anomalies.0 |= Anomalies::TRUNCATED.0,
        Some(_) => anomalies.0 |= Anomalies::MALFORMED.0,
    }
    Ok(DnsMessage {
        bytes: payload,
        header,
        starts,
        stop,
        end: pos,
        anomalies,
    })
}

/// Cheap plausibility check that `payload` is a DNS message, for traffic on
/// ports other than 53/5353/5355: a header, a known opcode, no RCODE in a
/// query, header counts that fit in the payload (5 bytes per question and 11
/// per record at least), and a first question name that can be stepped over.
pub fn probe(payload: &[u8]) -> bool {
    let Some((h, _)) = payload.split_first_chunk::<HEADER_LEN>() else {
        return false;
    };
    let word = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
    let header = Header {
        id: word(0),
        flags: word(2),
        qdcount: word(4),
        ancount: word(6),
        nscount: word(8),
        arcount: word(10),
    };
    if opcode_name(header.opcode()).is_none() || (!header.qr() && header.rcode() != 0) {
        return false;
    }
    let records = u64::from(header.ancount) + u64::from(header.nscount) + u64::from(header.arcount);
    let min = u64::from(header.qdcount) * 5 + records * 11;
    if min > (payload.len() - HEADER_LEN) as u64 {
        return false;
    }
    header.qdcount == 0 || skip_question(payload, HEADER_LEN).is_ok()
}

/// Steps over a question: name, QTYPE, QCLASS.
fn skip_question(msg: &[u8], pos: usize) -> Result<usize, ParseError> {
    let end = skip_name(msg, pos)? + 4;
    if end > msg.len() {
        return Err(TRUNCATED);
    }
    Ok(end)
}

/// The fixed part of a record after its owner name.
struct RecordHead {
    rtype: u16,
    class: u16,
    ttl: u32,
    rdata_start: usize,
    rdata_len: usize,
}

/// Steps over a record; returns its fixed fields and the offset after it.
fn skip_record(msg: &[u8], pos: usize) -> Result<(RecordHead, usize), ParseError> {
    let name_end = skip_name(msg, pos)?;
    let fixed = msg
        .get(name_end..)
        .and_then(|rest| rest.first_chunk::<10>())
        .ok_or(TRUNCATED)?;
    let head = RecordHead {
        rtype: u16::from_be_bytes([fixed[0], fixed[1]]),
        class: u16::from_be_bytes([fixed[2], fixed[3]]),
        ttl: u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]),
        rdata_start: name_end + 10,
        rdata_len: usize::from(u16::from_be_bytes([fixed[8], fixed[9]])),
    };
    let end = head.rdata_start + head.rdata_len;
    if end > msg.len() {
        return Err(TRUNCATED);
    }
    Ok((head, end))
}

/// The fixed 12-byte message header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Transaction ID.
    pub id: u16,
    /// The 16-bit flags word (QR, OPCODE, AA, TC, RD, RA, Z, AD, CD, RCODE).
    pub flags: u16,
    /// Number of questions, as sent.
    pub qdcount: u16,
    /// Number of answer records, as sent.
    pub ancount: u16,
    /// Number of authority records, as sent.
    pub nscount: u16,
    /// Number of additional records, as sent.
    pub arcount: u16,
}

impl Header {
    /// QR: true for a response.
    pub const fn qr(&self) -> bool {
        self.flags & 0x8000 != 0
    }
    /// OPCODE (4 bits): 0 QUERY, 4 NOTIFY, 5 UPDATE, ... see [`opcode_name`].
    pub const fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0x0f) as u8
    }
    /// AA: authoritative answer.
    pub const fn aa(&self) -> bool {
        self.flags & 0x0400 != 0
    }
    /// TC: truncated (the answer did not fit; retry over TCP).
    pub const fn tc(&self) -> bool {
        self.flags & 0x0200 != 0
    }
    /// RD: recursion desired.
    pub const fn rd(&self) -> bool {
        self.flags & 0x0100 != 0
    }
    /// RA: recursion available.
    pub const fn ra(&self) -> bool {
        self.flags & 0x0080 != 0
    }
    /// Z: the reserved bit.
    pub const fn z(&self) -> bool {
        self.flags & 0x0040 != 0
    }
    /// AD: authentic data (DNSSEC).
    pub const fn ad(&self) -> bool {
        self.flags & 0x0020 != 0
    }
    /// CD: checking disabled (DNSSEC).
    pub const fn cd(&self) -> bool {
        self.flags & 0x0010 != 0
    }
    /// RCODE, the low 4 bits (see [`rcode_name`]; the EDNS extension is in
    /// [`Edns::full_rcode`]).
    pub const fn rcode(&self) -> u8 {
        (self.flags & 0x000f) as u8
    }
}

/// Message-level oddities found by [`parse`]'s walk over the sections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Anomalies(u8);

impl Anomalies {
    /// Bytes follow the last record the header counts announce.
    pub const TRAILING_BYTES: Anomalies = Anomalies(1);
    /// The message ends before the records the header counts announce.
    pub const TRUNCATED: Anomalies = Anomalies(2);
    /// A name that cannot be stepped over (label type 0x40/0x80) stopped
    /// the walk.
    pub const MALFORMED: Anomalies = Anomalies(4);

    const NAMES: [(Anomalies, &'static str); 3] = [
        (Anomalies::TRAILING_BYTES, "trailing_bytes"),
        (Anomalies::TRUNCATED, "truncated"),
        (Anomalies::MALFORMED, "malformed"),
    ];

    /// No anomaly.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// True when every flag of `other` is set.
    pub const fn contains(self, other: Anomalies) -> bool {
        self.0 & other.0 == other.0
    }
    /// The raw bits.
    pub const fn bits(self) -> u8 {
        self.0
    }
    /// Stable snake_case names of the flags set, for counters and events.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .into_iter()
            .filter(move |(f, _)| self.contains(*f))
            .map(|(_, n)| n)
    }
}

/// A parsed DNS message: the header plus lazy section iterators.
#[derive(Clone, Copy, Debug)]
pub struct DnsMessage<'a> {
    bytes: &'a [u8],
    header: Header,
    /// Offsets of the answer, authority and additional sections; 0 when the
    /// walk stopped before the section.
    starts: [usize; 3],
    /// The error that stopped the walk.
    stop: Option<ParseError>,
    /// Offset after the last record walked.
    end: usize,
    anomalies: Anomalies,
}

impl<'a> DnsMessage<'a> {
    /// The message bytes.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The header.
    pub fn header(&self) -> Header {
        self.header
    }

    /// Oddities found while walking the sections.
    pub fn anomalies(&self) -> Anomalies {
        self.anomalies
    }

    /// The error that stopped the walk over the sections, if any.
    pub fn stop_error(&self) -> Option<ParseError> {
        self.stop
    }

    /// Bytes used by the header and the records that could be walked.
    pub fn walked_len(&self) -> usize {
        self.end
    }

    /// The questions.
    pub fn questions(&self) -> Questions<'a> {
        Questions {
            msg: self.bytes,
            pos: HEADER_LEN,
            left: self.header.qdcount,
        }
    }

    /// The first question, if it can be read (the usual single question).
    pub fn first_question(&self) -> Option<Question<'a>> {
        self.questions().next().and_then(Result::ok)
    }

    /// The answer section.
    pub fn answers(&self) -> Records<'a> {
        self.records(0, self.header.ancount)
    }

    /// The authority section.
    pub fn authorities(&self) -> Records<'a> {
        self.records(1, self.header.nscount)
    }

    /// The additional section (including the OPT pseudo-record).
    pub fn additionals(&self) -> Records<'a> {
        self.records(2, self.header.arcount)
    }

    /// The EDNS data of the first OPT record in the additional section whose
    /// data decodes, or `None`.
    pub fn edns(&self) -> Option<Edns<'a>> {
        self.additionals()
            .flatten()
            .filter(|r| r.rtype == DnsType::OPT)
            .find_map(|r| match r.data() {
                Ok(Rdata::Opt(e)) => Some(e),
                _ => None,
            })
    }

    /// The response code: the header's 4 bits, extended by the EDNS
    /// `ext_rcode` when an OPT record is present.
    pub fn full_rcode(&self) -> u16 {
        let rcode = self.header.rcode();
        self.edns()
            .map_or(u16::from(rcode), |e| e.full_rcode(rcode))
    }

    fn records(&self, index: usize, count: u16) -> Records<'a> {
        let start = self.starts.get(index).copied().unwrap_or(0);
        Records {
            msg: self.bytes,
            pos: start,
            left: count,
            pending: if start == 0 {
                Some(self.stop.unwrap_or(TRUNCATED))
            } else {
                None
            },
        }
    }
}

/// One question.
#[derive(Clone, Copy, Debug)]
pub struct Question<'a> {
    /// QNAME.
    pub name: Name<'a>,
    /// QTYPE.
    pub qtype: DnsType,
    /// QCLASS (mDNS: top bit is the unicast-response flag).
    pub qclass: DnsClass,
}

/// Iterator over the questions; see [`DnsMessage::questions`].
#[derive(Clone, Debug)]
pub struct Questions<'a> {
    msg: &'a [u8],
    pos: usize,
    left: u16,
}

impl<'a> Iterator for Questions<'a> {
    type Item = Result<Question<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let start = self.pos;
        let end = match skip_question(self.msg, start) {
            Ok(end) => end,
            Err(e) => {
                self.left = 0;
                return Some(Err(e));
            }
        };
        self.pos = end;
        self.left -= 1;
        let fixed = self.msg.get(end - 4..end).unwrap_or_default();
        let (qtype, qclass) = match fixed {
            [a, b, c, d] => (u16::from_be_bytes([*a, *b]), u16::from_be_bytes([*c, *d])),
            _ => return Some(Err(TRUNCATED)),
        };
        Some(Name::parse(self.msg, start).map(|(name, _)| Question {
            name,
            qtype: DnsType(qtype),
            qclass: DnsClass(qclass),
        }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(usize::from(self.left)))
    }
}

/// One resource record; its data is decoded by [`Record::data`].
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// Owner name.
    pub name: Name<'a>,
    /// TYPE.
    pub rtype: DnsType,
    /// CLASS (OPT: the UDP payload size; mDNS: top bit is cache-flush).
    pub class: DnsClass,
    /// TTL in seconds, raw (OPT: extended RCODE, version and flags).
    pub ttl: u32,
    msg: &'a [u8],
    rdata_start: usize,
    rdata_len: usize,
}

impl<'a> Record<'a> {
    /// The raw RDATA (names inside may be compressed against the message).
    pub fn rdata(&self) -> &'a [u8] {
        self.msg
            .get(self.rdata_start..self.rdata_start + self.rdata_len)
            .unwrap_or_default()
    }

    /// Decodes the RDATA. Types without a typed variant give
    /// [`Rdata::Other`] with the raw bytes.
    ///
    /// # Errors
    /// `Invalid` with `what` naming the type (`a_rdata`, `cname_rdata`,
    /// `https_rdata`, ...) when `domain` rejects the data, or
    /// `rdata_trailing_bytes` when bytes follow the decoded data.
    pub fn data(&self) -> Result<Rdata<'a>, ParseError> {
        parse_rdata(
            self.msg,
            RdataCtx {
                rtype: self.rtype,
                class: self.class,
                ttl: self.ttl,
                start: self.rdata_start,
                len: self.rdata_len,
            },
        )
    }
}

/// Iterator over the records of one section; see [`DnsMessage::answers`].
#[derive(Clone, Debug)]
pub struct Records<'a> {
    msg: &'a [u8],
    pos: usize,
    left: u16,
    /// Error to yield once because the section cannot be reached.
    pending: Option<ParseError>,
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        if let Some(e) = self.pending.take() {
            self.left = 0;
            return Some(Err(e));
        }
        let start = self.pos;
        let (head, end) = match skip_record(self.msg, start) {
            Ok(r) => r,
            Err(e) => {
                self.left = 0;
                return Some(Err(e));
            }
        };
        self.pos = end;
        self.left -= 1;
        Some(Name::parse(self.msg, start).map(|(name, _)| Record {
            name,
            rtype: DnsType(head.rtype),
            class: DnsClass(head.class),
            ttl: head.ttl,
            msg: self.msg,
            rdata_start: head.rdata_start,
            rdata_len: head.rdata_len,
        }))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(usize::from(self.left)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a message from a header (id, flags, counts) and raw sections.
    fn msg(flags: u16, counts: [u16; 4], body: &[u8]) -> Vec<u8> {
        let mut m = vec![0xab, 0xcd];
        m.extend_from_slice(&flags.to_be_bytes());
        for c in counts {
            m.extend_from_slice(&c.to_be_bytes());
        }
        m.extend_from_slice(body);
        m
    }

    /// A record: owner name bytes, type, class, ttl, rdata.
    fn rr(name: &[u8], rtype: u16, class: u16, ttl: u32, rdata: &[u8]) -> Vec<u8> {
        let mut r = name.to_vec();
        r.extend_from_slice(&rtype.to_be_bytes());
        r.extend_from_slice(&class.to_be_bytes());
        r.extend_from_slice(&ttl.to_be_bytes());
        r.extend_from_slice(&u16::try_from(rdata.len()).unwrap().to_be_bytes());
        r.extend_from_slice(rdata);
        r
    }

    const Q_EXAMPLE: &[u8] = b"\x07example\x03com\x00\x00\x41\x00\x01"; // HTTPS IN

    #[test]
    fn header_bits_agree_with_domain() {
        for flags in [0u16, 0xffff, 0x8180, 0x0120, 0x8583, 0x7a5a, 0x85a0] {
            let m = msg(flags, [0; 4], &[]);
            let ours = parse(&m).unwrap().header();
            let d = *domain::base::Header::for_message_slice(&m);
            assert_eq!(ours.id, 0xabcd);
            assert_eq!(ours.flags, flags);
            assert_eq!(ours.qr(), d.qr());
            assert_eq!(ours.opcode(), d.opcode().to_int());
            assert_eq!(
                [
                    ours.aa(),
                    ours.tc(),
                    ours.rd(),
                    ours.ra(),
                    ours.z(),
                    ours.ad(),
                    ours.cd()
                ],
                [d.aa(), d.tc(), d.rd(), d.ra(), d.z(), d.ad(), d.cd()]
            );
            assert_eq!(ours.rcode(), d.rcode().to_int());
        }
    }

    #[test]
    fn short_header_is_truncated() {
        assert_eq!(parse(&[0; 11]).unwrap_err(), TRUNCATED);
        assert_eq!(parse(&[]).unwrap_err(), TRUNCATED);
        let m = parse(&[0; 12]).unwrap();
        assert!(m.anomalies().is_empty());
        assert_eq!(m.questions().count(), 0);
        assert_eq!(m.answers().count(), 0);
        assert!(m.edns().is_none());
    }

    #[test]
    fn bad_owner_name_is_one_error_and_iteration_goes_on() {
        let mut body = Q_EXAMPLE.to_vec();
        // 1: forward pointer in the owner name (skippable).
        body.extend(rr(b"\xc0\xff", 1, 1, 60, &[10, 0, 0, 1]));
        // 2: good A record pointing at the question name.
        body.extend(rr(b"\xc0\x0c", 1, 1, 61, &[10, 0, 0, 2]));
        // 3: A record with 3-byte RDATA: record fine, data() fails.
        body.extend(rr(b"\xc0\x0c", 1, 1, 62, &[10, 0, 0]));
        // 4: CNAME with trailing bytes after the name.
        body.extend(rr(b"\xc0\x0c", 5, 1, 63, b"\x01a\x00\xff"));
        // 5: good AAAA.
        body.extend(rr(
            b"\x00",
            28,
            1,
            64,
            &[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        ));
        let m = msg(0x8180, [1, 5, 0, 0], &body);
        let p = parse(&m).unwrap();
        assert!(p.anomalies().is_empty());
        let items: Vec<_> = p.answers().collect();
        assert_eq!(items.len(), 5);
        assert_eq!(
            items[0].as_ref().unwrap_err(),
            &ParseError::Invalid {
                layer: Layer::Dns,
                what: "name_bad_pointer"
            }
        );
        let r2 = items[1].as_ref().unwrap();
        assert_eq!((r2.name.to_string().as_str(), r2.ttl), ("example.com", 61));
        assert!(matches!(r2.data(), Ok(Rdata::A(ip)) if ip.octets() == [10, 0, 0, 2]));
        let r3 = items[2].as_ref().unwrap();
        assert_eq!(r3.rdata(), &[10, 0, 0]);
        assert_eq!(
            r3.data().unwrap_err(),
            ParseError::Invalid {
                layer: Layer::Dns,
                what: "a_rdata"
            }
        );
        assert_eq!(
            items[3].as_ref().unwrap().data().unwrap_err(),
            ParseError::Invalid {
                layer: Layer::Dns,
                what: "rdata_trailing_bytes"
            }
        );
        let r5 = items[4].as_ref().unwrap();
        assert!(r5.name.is_root());
        assert!(matches!(r5.data(), Ok(Rdata::Aaaa(ip)) if ip.to_string() == "2001:db8::1"));
    }

    #[test]
    fn unskippable_name_stops_walk_and_later_sections_report_it() {
        let mut body = Q_EXAMPLE.to_vec();
        body.extend(rr(b"\xc0\x0c", 1, 1, 60, &[10, 0, 0, 1]));
        body.extend(rr(b"\x41x\x00", 1, 1, 60, &[10, 0, 0, 2])); // label type 0x40
        body.extend(rr(b"\x00", 1, 1, 60, &[10, 0, 0, 3]));
        let m = msg(0x8180, [1, 3, 1, 1], &body);
        let p = parse(&m).unwrap();
        assert_eq!(p.anomalies(), Anomalies::MALFORMED);
        assert_eq!(p.anomalies().names().collect::<Vec<_>>(), ["malformed"]);
        let bad = ParseError::Invalid {
            layer: Layer::Dns,
            what: "name_label_type",
        };
        assert_eq!(p.stop_error(), Some(bad));
        let items: Vec<_> = p.answers().collect();
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok());
        assert_eq!(items[1].as_ref().unwrap_err(), &bad);
        let ns: Vec<_> = p.authorities().collect();
        assert_eq!(ns.len(), 1);
        assert_eq!(ns[0].as_ref().unwrap_err(), &bad);
        assert_eq!(p.additionals().count(), 1);
    }

    #[test]
    fn counts_beyond_the_bytes_and_trailing_bytes() {
        let mut body = Q_EXAMPLE.to_vec();
        body.extend(rr(b"\xc0\x0c", 1, 1, 60, &[10, 0, 0, 1]));
        // Claims 3 answers, has 1.
        let m = msg(0x8180, [1, 3, 0, 0], &body);
        let p = parse(&m).unwrap();
        assert_eq!(p.anomalies(), Anomalies::TRUNCATED);
        let items: Vec<_> = p.answers().collect();
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok());
        assert_eq!(items[1].as_ref().unwrap_err(), &TRUNCATED);
        assert_eq!(p.walked_len(), m.len());
        // 65535 questions claimed, zero present: one error, then the end.
        let m = msg(0, [0xffff; 4], &[]);
        let p = parse(&m).unwrap();
        assert_eq!(p.questions().count(), 1);
        assert_eq!(p.answers().count(), 1);
        // Bytes after the last record.
        body.extend_from_slice(b"junk");
        let m = msg(0x8180, [1, 1, 0, 0], &body);
        let p = parse(&m).unwrap();
        assert_eq!(p.anomalies(), Anomalies::TRAILING_BYTES);
        assert_eq!(p.walked_len(), m.len() - 4);
        assert_eq!(p.answers().flatten().count(), 1);
    }

    #[test]
    fn opt_record_and_extended_rcode() {
        let mut body = Q_EXAMPLE.to_vec();
        // OPT: payload 1232, ext rcode 1 (BADVERS with header rcode 0), version 0, DO set.
        let opts = b"\x00\x0a\x00\x02\xbe\xef\x00\x0c\x00\x00";
        body.extend(rr(b"\x00", 41, 1232, 0x0100_8000, opts));
        let m = msg(0x8180, [1, 0, 0, 1], &body);
        let p = parse(&m).unwrap();
        let e = p.edns().unwrap();
        assert_eq!(e.udp_payload_size, 1232);
        assert_eq!((e.ext_rcode, e.version, e.dnssec_ok, e.z), (1, 0, true, 0));
        let o: Vec<_> = e.options.collect();
        assert_eq!(
            o,
            [
                EdnsOption {
                    code: 10,
                    data: &[0xbe, 0xef]
                },
                EdnsOption {
                    code: 12,
                    data: &[]
                }
            ]
        );
        assert_eq!(p.full_rcode(), 16);
        assert_eq!(rcode_name(p.full_rcode()), Some("BADVERS"));
        // A broken option list makes the OPT data invalid.
        let mut body = Q_EXAMPLE.to_vec();
        body.extend(rr(b"\x00", 41, 512, 0, b"\x00\x0a\x00\x09\xbe"));
        let m = msg(0x8180, [1, 0, 0, 1], &body);
        let p = parse(&m).unwrap();
        assert!(p.edns().is_none());
        assert_eq!(p.full_rcode(), 0);
    }

    #[test]
    fn typed_rdata_with_compressed_names() {
        let mut body = Q_EXAMPLE.to_vec(); // name at 12
        body.extend(rr(b"\xc0\x0c", 15, 1, 1, b"\x00\x0a\x04mail\xc0\x0c"));
        body.extend(rr(
            b"\xc0\x0c",
            33,
            1,
            1,
            b"\x00\x01\x00\x02\x01\xbb\x03sip\xc0\x0c",
        ));
        body.extend(rr(b"\xc0\x0c", 16, 1, 1, b"\x03v=1\x00\x02\xff\x01"));
        body.extend(rr(b"\xc0\x0c", 12, 1, 1, b"\xc0\x0c"));
        body.extend(rr(b"\xc0\x0c", 2, 1, 1, b"\x02ns\xc0\x0c"));
        body.extend(rr(b"\xc0\x0c", 99, 1, 1, b"\x01\x02"));
        body.extend(rr(
            b"\xc0\x0c",
            64,
            1,
            1,
            b"\x00\x00\x03svc\xc0\x0c\x00\x00\x00\x02\x00\x01\x00\x03\x00\x02\x01\xbb\x00\x09\x00\x01\x07",
        ));
        let m = msg(0x8180, [1, 7, 0, 0], &body);
        let p = parse(&m).unwrap();
        assert!(p.anomalies().is_empty());
        let d: Vec<_> = p.answers().map(|r| r.unwrap().data().unwrap()).collect();
        assert!(
            matches!(&d[0], Rdata::Mx { preference: 10, exchange } if exchange.to_string() == "mail.example.com")
        );
        assert!(
            matches!(&d[1], Rdata::Srv { priority: 1, weight: 2, port: 443, target } if target.to_string() == "sip.example.com")
        );
        let Rdata::Txt(t) = &d[2] else { panic!() };
        assert_eq!(
            t.clone().collect::<Vec<_>>(),
            [&b"v=1"[..], b"", b"\xff\x01"]
        );
        assert!(matches!(&d[3], Rdata::Ptr(n) if n.to_string() == "example.com"));
        assert!(matches!(&d[4], Rdata::Ns(n) if n.to_string() == "ns.example.com"));
        assert!(matches!(
            &d[5],
            Rdata::Other {
                rtype: DnsType(99),
                data: [1, 2]
            }
        ));
        let Rdata::Svcb(s) = &d[6] else { panic!() };
        assert_eq!(
            (s.priority, s.target.to_string().as_str()),
            (0, "svc.example.com")
        );
        let params: Vec<_> = s.params.clone().collect();
        assert_eq!(params.len(), 3);
        assert!(
            matches!(params[0].decode(), Ok(SvcParamValue::Mandatory(k)) if k.clone().collect::<Vec<_>>() == [1])
        );
        assert!(matches!(params[1].decode(), Ok(SvcParamValue::Port(443))));
        assert!(matches!(params[2].decode(), Ok(SvcParamValue::Other([7]))));
        assert_eq!(params[2].key.name(), Some("tls-supported-groups"));
    }

    #[test]
    fn svcb_bad_values_and_unordered_keys() {
        let svcb = |params: &[u8]| {
            let mut rdata = b"\x00\x01\x00".to_vec();
            rdata.extend_from_slice(params);
            let mut body = Q_EXAMPLE.to_vec();
            body.extend(rr(b"\xc0\x0c", 65, 1, 1, &rdata));
            msg(0x8180, [1, 1, 0, 0], &body)
        };
        // ipv4hint of 5 bytes, port of 1 byte, alpn with a bad length.
        for (params, key) in [
            (&b"\x00\x04\x00\x05\x01\x02\x03\x04\x05"[..], 4),
            (b"\x00\x03\x00\x01\x01", 3),
            (b"\x00\x01\x00\x04\x05h2x", 1),
            (b"\x00\x02\x00\x01\x00", 2),
        ] {
            let m = svcb(params);
            let p = parse(&m).unwrap();
            let d = p.answers().next().unwrap().unwrap().data();
            let Ok(Rdata::Https(s)) = d else {
                panic!("{key}: {d:?}")
            };
            let param = s.params.clone().next().unwrap();
            assert_eq!(param.key, SvcParamKey(key));
            assert_eq!(
                param.decode().unwrap_err(),
                ParseError::Invalid {
                    layer: Layer::Dns,
                    what: "svcb_param_value"
                }
            );
        }
        // Keys out of order: domain rejects the record data.
        let m = svcb(b"\x00\x04\x00\x04\x01\x02\x03\x04\x00\x01\x00\x03\x02h2");
        let p = parse(&m).unwrap();
        assert_eq!(
            p.answers().next().unwrap().unwrap().data().unwrap_err(),
            ParseError::Invalid {
                layer: Layer::Dns,
                what: "https_rdata"
            }
        );
    }

    #[test]
    fn mdns_class_bits_kept() {
        let body = b"\x05local\x00\x00\x0c\x80\x01";
        let m = msg(0, [1, 0, 0, 0], body);
        let q = parse(&m).unwrap().first_question().unwrap();
        assert_eq!(q.qclass, DnsClass(0x8001));
        assert!(q.qclass.mdns_flag());
        assert_eq!(q.qclass.without_mdns_flag(), DnsClass::IN);
    }

    #[test]
    fn probe_rules() {
        let mut body = Q_EXAMPLE.to_vec();
        body.extend(rr(b"\xc0\x0c", 1, 1, 60, &[10, 0, 0, 1]));
        assert!(probe(&msg(0x8180, [1, 1, 0, 0], &body)));
        assert!(probe(&msg(0x0100, [1, 0, 0, 0], Q_EXAMPLE)));
        // Query with an RCODE, unknown opcode, counts that cannot fit.
        assert!(!probe(&msg(0x0103, [1, 0, 0, 0], Q_EXAMPLE)));
        assert!(!probe(&msg(0x1900, [1, 0, 0, 0], Q_EXAMPLE)));
        assert!(!probe(&msg(0x8180, [1, 9, 0, 0], &body)));
        assert!(!probe(&msg(
            0x0100,
            [1, 0, 0, 0],
            b"\x41abc\x00\x00\x01\x00\x01"
        )));
        assert!(!probe(&[0; 11]));
    }
}
