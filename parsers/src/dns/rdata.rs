//! Typed record data, decoded on demand from the message bytes.
//!
//! `domain` parses and validates each typed RDATA (A, AAAA, CNAME, NS, PTR,
//! MX, TXT, SOA, SRV, SVCB/HTTPS, OPT); the views here then hand out the
//! pieces as borrowed slices with the message's lifetime `'a`. The small
//! iterators over those validated slices (character-strings, SvcParams,
//! EDNS options, address lists) are hand-written because `domain`'s own
//! iterators borrow from its value types, not from the message, so their
//! items could not outlive a temporary. Each of them stops at the end of its
//! slice and at the first malformed item.

use core::net::{Ipv4Addr, Ipv6Addr};

use domain::base::name::ParsedName;
use domain::dep::octseq::parse::Parser;
use domain::rdata::aaaa::Aaaa;
use domain::rdata::rfc1035::{Cname, Mx, Ns, Ptr, Soa as DomainSoa, Txt, A};
use domain::rdata::srv::Srv;
use domain::rdata::svcb::value::{Alpn, Ipv4Hint, Ipv6Hint, Mandatory};
use domain::rdata::svcb::Svcb as DomainSvcb;

use super::name::Name;
use super::types::{DnsClass, DnsType, SvcParamKey};
use crate::error::{Layer, ParseError};

/// Record data of one resource record.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Rdata<'a> {
    /// A: an IPv4 address.
    A(Ipv4Addr),
    /// AAAA: an IPv6 address.
    Aaaa(Ipv6Addr),
    /// CNAME: the canonical name.
    Cname(Name<'a>),
    /// NS: a name server.
    Ns(Name<'a>),
    /// PTR: the pointed-to name.
    Ptr(Name<'a>),
    /// MX: a mail exchange.
    Mx {
        /// Preference (lower is preferred).
        preference: u16,
        /// Host name of the exchange.
        exchange: Name<'a>,
    },
    /// TXT: one or more character-strings, raw bytes each.
    Txt(CharStrings<'a>),
    /// SOA: start of authority.
    Soa(Soa<'a>),
    /// SRV: a service location (RFC 2782).
    Srv {
        /// Priority (lower is preferred).
        priority: u16,
        /// Weight among equal priorities.
        weight: u16,
        /// Port of the service.
        port: u16,
        /// Host name of the service.
        target: Name<'a>,
    },
    /// SVCB (type 64).
    Svcb(Svcb<'a>),
    /// HTTPS (type 65), same layout as SVCB.
    Https(Svcb<'a>),
    /// OPT (type 41): the EDNS(0) pseudo-record, its CLASS and TTL decoded.
    Opt(Edns<'a>),
    /// Any other type: the raw RDATA.
    Other {
        /// The record type.
        rtype: DnsType,
        /// The RDATA bytes (names inside may be compressed).
        data: &'a [u8],
    },
}

/// SOA record data.
#[derive(Clone, Copy, Debug)]
pub struct Soa<'a> {
    /// Primary name server.
    pub mname: Name<'a>,
    /// Mailbox of the responsible person.
    pub rname: Name<'a>,
    /// Zone serial number.
    pub serial: u32,
    /// Refresh interval, seconds.
    pub refresh: u32,
    /// Retry interval, seconds.
    pub retry: u32,
    /// Expire limit, seconds.
    pub expire: u32,
    /// Minimum TTL / negative caching TTL, seconds.
    pub minimum: u32,
}

/// SVCB or HTTPS record data (RFC 9460).
#[derive(Clone, Debug)]
pub struct Svcb<'a> {
    /// SvcPriority; 0 means alias mode.
    pub priority: u16,
    /// TargetName; the root ("") means the owner name itself.
    pub target: Name<'a>,
    /// The SvcParams in wire order (strictly increasing keys; `domain`
    /// rejects the record otherwise).
    pub params: SvcParams<'a>,
}

/// EDNS(0) data of an OPT record (RFC 6891).
#[derive(Clone, Debug)]
pub struct Edns<'a> {
    /// Requestor's UDP payload size (the record's CLASS).
    pub udp_payload_size: u16,
    /// Upper 8 bits of the extended RCODE (TTL bits 24..32).
    pub ext_rcode: u8,
    /// EDNS version (TTL bits 16..24).
    pub version: u8,
    /// DNSSEC OK bit.
    pub dnssec_ok: bool,
    /// The 15 remaining flag bits (Z), normally 0.
    pub z: u16,
    /// The options in wire order.
    pub options: EdnsOptions<'a>,
}

impl Edns<'_> {
    /// The full 12-bit RCODE: `ext_rcode << 4 | header_rcode`.
    pub fn full_rcode(&self, header_rcode: u8) -> u16 {
        u16::from(self.ext_rcode) << 4 | u16::from(header_rcode & 0x0f)
    }
}

/// Iterator over the character-strings of TXT data or an ALPN list (each
/// item without its length byte).
#[derive(Clone, Debug)]
pub struct CharStrings<'a> {
    rest: &'a [u8],
}

impl<'a> CharStrings<'a> {
    /// The underlying bytes (length-prefixed strings).
    pub fn raw(&self) -> &'a [u8] {
        self.rest
    }
}

impl<'a> Iterator for CharStrings<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (&len, tail) = self.rest.split_first()?;
        match tail.split_at_checked(usize::from(len)) {
            Some((s, after)) => {
                self.rest = after;
                Some(s)
            }
            None => {
                self.rest = &[];
                None
            }
        }
    }
}

/// Iterator over SvcParams (key and raw value).
#[derive(Clone, Debug)]
pub struct SvcParams<'a> {
    rest: &'a [u8],
}

impl<'a> SvcParams<'a> {
    /// The underlying bytes.
    pub fn raw(&self) -> &'a [u8] {
        self.rest
    }
}

impl<'a> Iterator for SvcParams<'a> {
    type Item = SvcParam<'a>;

    fn next(&mut self) -> Option<SvcParam<'a>> {
        let (code, value) = next_tlv(&mut self.rest)?;
        Some(SvcParam {
            key: SvcParamKey(code),
            value,
        })
    }
}

/// One SvcParam: its key and raw value.
#[derive(Clone, Copy, Debug)]
pub struct SvcParam<'a> {
    /// The SvcParamKey.
    pub key: SvcParamKey,
    /// The raw SvcParamValue.
    pub value: &'a [u8],
}

impl<'a> SvcParam<'a> {
    /// Decodes the value according to the key.
    ///
    /// # Errors
    /// `Invalid` (`svcb_param_value`) when the value does not fit its key
    /// (checked by `domain`'s value types: e.g. an ipv4hint whose length is
    /// not a multiple of 4, a port that is not 2 bytes).
    pub fn decode(&self) -> Result<SvcParamValue<'a>, ParseError> {
        let bad = invalid("svcb_param_value");
        let v = self.value;
        Ok(match self.key {
            SvcParamKey::MANDATORY => {
                Mandatory::from_octets(v).map_err(|_| bad)?;
                SvcParamValue::Mandatory(U16s { rest: v })
            }
            SvcParamKey::ALPN => {
                Alpn::from_octets(v).map_err(|_| bad)?;
                SvcParamValue::Alpn(CharStrings { rest: v })
            }
            SvcParamKey::NO_DEFAULT_ALPN if v.is_empty() => SvcParamValue::NoDefaultAlpn,
            SvcParamKey::PORT => match v {
                [a, b] => SvcParamValue::Port(u16::from_be_bytes([*a, *b])),
                _ => return Err(bad),
            },
            SvcParamKey::IPV4HINT => {
                Ipv4Hint::from_octets(v).map_err(|_| bad)?;
                SvcParamValue::Ipv4Hint(Ipv4Addrs { rest: v })
            }
            SvcParamKey::ECH => SvcParamValue::Ech(v),
            SvcParamKey::IPV6HINT => {
                Ipv6Hint::from_octets(v).map_err(|_| bad)?;
                SvcParamValue::Ipv6Hint(Ipv6Addrs { rest: v })
            }
            SvcParamKey::NO_DEFAULT_ALPN => return Err(bad),
            _ => SvcParamValue::Other(v),
        })
    }
}

/// A decoded SvcParamValue.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum SvcParamValue<'a> {
    /// mandatory (key 0): the keys a client must understand.
    Mandatory(U16s<'a>),
    /// alpn (key 1): protocol identifiers.
    Alpn(CharStrings<'a>),
    /// no-default-alpn (key 2).
    NoDefaultAlpn,
    /// port (key 3).
    Port(u16),
    /// ipv4hint (key 4).
    Ipv4Hint(Ipv4Addrs<'a>),
    /// ech (key 5): the raw ECHConfigList (presentation form is base64).
    Ech(&'a [u8]),
    /// ipv6hint (key 6).
    Ipv6Hint(Ipv6Addrs<'a>),
    /// Any other key: the raw value.
    Other(&'a [u8]),
}

/// Iterator over big-endian `u16`s (the keys of a `mandatory` SvcParam).
#[derive(Clone, Debug)]
pub struct U16s<'a> {
    rest: &'a [u8],
}

impl Iterator for U16s<'_> {
    type Item = u16;

    fn next(&mut self) -> Option<u16> {
        let (v, rest) = self.rest.split_first_chunk::<2>()?;
        self.rest = rest;
        Some(u16::from_be_bytes(*v))
    }
}

/// Iterator over IPv4 addresses (ipv4hint).
#[derive(Clone, Debug)]
pub struct Ipv4Addrs<'a> {
    rest: &'a [u8],
}

impl Iterator for Ipv4Addrs<'_> {
    type Item = Ipv4Addr;

    fn next(&mut self) -> Option<Ipv4Addr> {
        let (v, rest) = self.rest.split_first_chunk::<4>()?;
        self.rest = rest;
        Some(Ipv4Addr::from(*v))
    }
}

/// Iterator over IPv6 addresses (ipv6hint).
#[derive(Clone, Debug)]
pub struct Ipv6Addrs<'a> {
    rest: &'a [u8],
}

impl Iterator for Ipv6Addrs<'_> {
    type Item = Ipv6Addr;

    fn next(&mut self) -> Option<Ipv6Addr> {
        let (v, rest) = self.rest.split_first_chunk::<16>()?;
        self.rest = rest;
        Some(Ipv6Addr::from(*v))
    }
}

/// Iterator over EDNS options.
#[derive(Clone, Debug)]
pub struct EdnsOptions<'a> {
    rest: &'a [u8],
}

impl<'a> EdnsOptions<'a> {
    /// The underlying bytes.
    pub fn raw(&self) -> &'a [u8] {
        self.rest
    }
}

impl<'a> Iterator for EdnsOptions<'a> {
    type Item = EdnsOption<'a>;

    fn next(&mut self) -> Option<EdnsOption<'a>> {
        let (code, data) = next_tlv(&mut self.rest)?;
        Some(EdnsOption { code, data })
    }
}

/// One EDNS option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EdnsOption<'a> {
    /// OPTION-CODE (8 = client subnet, 10 = cookie, 12 = padding, ...).
    pub code: u16,
    /// OPTION-DATA.
    pub data: &'a [u8],
}

/// Takes one `u16 code, u16 length, value` item off `rest`; empties `rest`
/// on a malformed item.
fn next_tlv<'a>(rest: &mut &'a [u8]) -> Option<(u16, &'a [u8])> {
    let Some((head, tail)) = rest.split_first_chunk::<4>() else {
        *rest = &[];
        return None;
    };
    let code = u16::from_be_bytes([head[0], head[1]]);
    let len = usize::from(u16::from_be_bytes([head[2], head[3]]));
    match tail.split_at_checked(len) {
        Some((value, after)) => {
            *rest = after;
            Some((code, value))
        }
        None => {
            *rest = &[];
            None
        }
    }
}

const fn invalid(what: &'static str) -> ParseError {
    ParseError::Invalid {
        layer: Layer::Dns,
        what,
    }
}

/// The header fields of a record that some RDATA decoding needs.
#[derive(Clone, Copy)]
pub(crate) struct RdataCtx {
    pub rtype: DnsType,
    pub class: DnsClass,
    pub ttl: u32,
    /// Offset of the RDATA in the message.
    pub start: usize,
    /// RDLENGTH.
    pub len: usize,
}

/// Decodes the RDATA at `ctx.start..ctx.start + ctx.len` of `msg`.
pub(crate) fn parse_rdata<'a>(msg: &'a [u8], ctx: RdataCtx) -> Result<Rdata<'a>, ParseError> {
    let mut outer = Parser::from_ref(msg);
    outer
        .seek(ctx.start)
        .map_err(|_| ParseError::Truncated { layer: Layer::Dns })?;
    let mut p = outer
        .parse_parser(ctx.len)
        .map_err(|_| ParseError::Truncated { layer: Layer::Dns })?;
    let whole = ctx
        .start
        .checked_add(ctx.len)
        .and_then(|end| msg.get(ctx.start..end))
        .unwrap_or_default();
    let data = match ctx.rtype {
        DnsType::A => Rdata::A(A::parse(&mut p).map_err(|_| invalid("a_rdata"))?.addr()),
        DnsType::AAAA => Rdata::Aaaa(
            Aaaa::parse(&mut p)
                .map_err(|_| invalid("aaaa_rdata"))?
                .addr(),
        ),
        DnsType::CNAME => {
            let v =
                Cname::<ParsedName<&'a [u8]>>::parse(&mut p).map_err(|_| invalid("cname_rdata"))?;
            Rdata::Cname(Name::from_parsed(v.into_cname()))
        }
        DnsType::NS => {
            let v = Ns::<ParsedName<&'a [u8]>>::parse(&mut p).map_err(|_| invalid("ns_rdata"))?;
            Rdata::Ns(Name::from_parsed(v.into_nsdname()))
        }
        DnsType::PTR => {
            let v = Ptr::<ParsedName<&'a [u8]>>::parse(&mut p).map_err(|_| invalid("ptr_rdata"))?;
            Rdata::Ptr(Name::from_parsed(v.into_ptrdname()))
        }
        DnsType::MX => {
            let v = Mx::<ParsedName<&'a [u8]>>::parse(&mut p).map_err(|_| invalid("mx_rdata"))?;
            Rdata::Mx {
                preference: v.preference(),
                exchange: Name::from_parsed(*v.exchange()),
            }
        }
        DnsType::TXT => {
            // Validates every character-string; takes the whole RDATA.
            Txt::<&'a [u8]>::parse(&mut p).map_err(|_| invalid("txt_rdata"))?;
            Rdata::Txt(CharStrings { rest: whole })
        }
        DnsType::SOA => {
            let v = DomainSoa::<ParsedName<&'a [u8]>>::parse(&mut p)
                .map_err(|_| invalid("soa_rdata"))?;
            Rdata::Soa(Soa {
                mname: Name::from_parsed(*v.mname()),
                rname: Name::from_parsed(*v.rname()),
                serial: v.serial().into_int(),
                refresh: v.refresh().as_secs(),
                retry: v.retry().as_secs(),
                expire: v.expire().as_secs(),
                minimum: v.minimum().as_secs(),
            })
        }
        DnsType::SRV => {
            let v = Srv::<ParsedName<&'a [u8]>>::parse(&mut p).map_err(|_| invalid("srv_rdata"))?;
            Rdata::Srv {
                priority: v.priority(),
                weight: v.weight(),
                port: v.port(),
                target: Name::from_parsed(*v.target()),
            }
        }
        DnsType::SVCB | DnsType::HTTPS => {
            let what = if ctx.rtype == DnsType::SVCB {
                "svcb_rdata"
            } else {
                "https_rdata"
            };
            let v = DomainSvcb::<&'a [u8], ParsedName<&'a [u8]>>::parse(&mut p)
                .map_err(|_| invalid(what))?;
            let svcb = Svcb {
                priority: v.priority(),
                target: Name::from_parsed(*v.target()),
                params: SvcParams {
                    rest: v.params().as_octets(),
                },
            };
            if ctx.rtype == DnsType::SVCB {
                Rdata::Svcb(svcb)
            } else {
                Rdata::Https(svcb)
            }
        }
        DnsType::OPT => {
            // Validates the option TLVs; takes the whole RDATA.
            domain::base::opt::Opt::<&'a [u8]>::parse(&mut p).map_err(|_| invalid("opt_rdata"))?;
            Rdata::Opt(Edns {
                udp_payload_size: ctx.class.0,
                ext_rcode: (ctx.ttl >> 24) as u8,
                version: (ctx.ttl >> 16) as u8,
                dnssec_ok: ctx.ttl & 0x8000 != 0,
                z: (ctx.ttl & 0x7fff) as u16,
                options: EdnsOptions { rest: whole },
            })
        }
        rtype => return Ok(Rdata::Other { rtype, data: whole }),
    };
    if p.remaining() != 0 {
        return Err(invalid("rdata_trailing_bytes"));
    }
    Ok(data)
}
