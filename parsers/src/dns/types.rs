//! DNS protocol numbers as open newtypes: record types, classes, opcodes,
//! response codes and SVCB parameter keys. Unknown values are kept as is.

use core::fmt;

use domain::base::iana::{Opcode, Rtype, SvcParamKey as DomainSvcParamKey};

/// A resource record TYPE (also a question QTYPE). Names come from
/// `domain`'s IANA table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DnsType(pub u16);

impl DnsType {
    /// IPv4 address.
    pub const A: DnsType = DnsType(1);
    /// Authoritative name server.
    pub const NS: DnsType = DnsType(2);
    /// Canonical name.
    pub const CNAME: DnsType = DnsType(5);
    /// Start of a zone of authority.
    pub const SOA: DnsType = DnsType(6);
    /// Null record.
    pub const NULL: DnsType = DnsType(10);
    /// Domain name pointer.
    pub const PTR: DnsType = DnsType(12);
    /// Host information.
    pub const HINFO: DnsType = DnsType(13);
    /// Mail exchange.
    pub const MX: DnsType = DnsType(15);
    /// Text strings.
    pub const TXT: DnsType = DnsType(16);
    /// IPv6 address.
    pub const AAAA: DnsType = DnsType(28);
    /// Server selection.
    pub const SRV: DnsType = DnsType(33);
    /// Naming authority pointer.
    pub const NAPTR: DnsType = DnsType(35);
    /// Delegation name.
    pub const DNAME: DnsType = DnsType(39);
    /// EDNS(0) pseudo-record.
    pub const OPT: DnsType = DnsType(41);
    /// Delegation signer.
    pub const DS: DnsType = DnsType(43);
    /// DNSSEC signature.
    pub const RRSIG: DnsType = DnsType(46);
    /// Next secure record.
    pub const NSEC: DnsType = DnsType(47);
    /// DNS public key.
    pub const DNSKEY: DnsType = DnsType(48);
    /// Hashed next secure record.
    pub const NSEC3: DnsType = DnsType(50);
    /// TLSA certificate association.
    pub const TLSA: DnsType = DnsType(52);
    /// General service binding (RFC 9460).
    pub const SVCB: DnsType = DnsType(64);
    /// HTTPS service binding (RFC 9460); browsers ask for it beside A/AAAA.
    pub const HTTPS: DnsType = DnsType(65);
    /// Sender policy framework (obsolete).
    pub const SPF: DnsType = DnsType(99);
    /// Transaction signature.
    pub const TSIG: DnsType = DnsType(250);
    /// Incremental zone transfer (QTYPE).
    pub const IXFR: DnsType = DnsType(251);
    /// Zone transfer (QTYPE).
    pub const AXFR: DnsType = DnsType(252);
    /// Any type (QTYPE).
    pub const ANY: DnsType = DnsType(255);
    /// Certification authority authorization.
    pub const CAA: DnsType = DnsType(257);

    /// Mnemonic ("A", "AAAA", "HTTPS", "OPT", ...) or `None` when unknown.
    /// [`Display`](fmt::Display) writes `TYPE<n>` (RFC 3597) for unknown types.
    pub const fn name(self) -> Option<&'static str> {
        Rtype::from_int(self.0).to_mnemonic_str()
    }
}

impl fmt::Display for DnsType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "TYPE{}", self.0),
        }
    }
}

/// A resource record CLASS (also a question QCLASS), as on the wire.
///
/// In mDNS the top bit is a flag (unicast-response in questions, cache-flush
/// in records): see [`DnsClass::mdns_flag`] and [`DnsClass::without_mdns_flag`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DnsClass(pub u16);

impl DnsClass {
    /// Internet.
    pub const IN: DnsClass = DnsClass(1);
    /// Chaos.
    pub const CH: DnsClass = DnsClass(3);
    /// Hesiod.
    pub const HS: DnsClass = DnsClass(4);
    /// NONE (dynamic update).
    pub const NONE: DnsClass = DnsClass(254);
    /// ANY (QCLASS).
    pub const ANY: DnsClass = DnsClass(255);

    /// Mnemonic or `None` when unknown; looks at all 16 bits.
    pub const fn name(self) -> Option<&'static str> {
        // Five entries: shorter than going through `domain`'s `Class`, which
        // has no mnemonic for NONE and ANY.
        match self.0 {
            1 => Some("IN"),
            3 => Some("CH"),
            4 => Some("HS"),
            254 => Some("NONE"),
            255 => Some("ANY"),
            _ => None,
        }
    }

    /// The top bit: mDNS QU (question) or cache-flush (record) flag.
    pub const fn mdns_flag(self) -> bool {
        self.0 & 0x8000 != 0
    }

    /// The class without the mDNS top bit (what tshark shows for mDNS).
    pub const fn without_mdns_flag(self) -> DnsClass {
        DnsClass(self.0 & 0x7fff)
    }
}

impl fmt::Display for DnsClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "CLASS{}", self.0),
        }
    }
}

/// Mnemonic of a header OPCODE ("QUERY", "IQUERY", "STATUS", "NOTIFY",
/// "UPDATE", "DSO"), or `None`.
pub fn opcode_name(opcode: u8) -> Option<&'static str> {
    Opcode::from_int(opcode).to_mnemonic_str()
}

/// Mnemonic of a response code: 0..=10 are the 4-bit header codes
/// ("NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
/// "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE"), 16..=23 the
/// EDNS/TSIG extended ones ("BADVERS", "BADKEY", "BADTIME", "BADMODE",
/// "BADNAME", "BADALG", "BADTRUNC", "BADCOOKIE"). `None` otherwise: the
/// caller writes the number.
///
/// Hand-written rather than `domain`'s `Rcode`/`OptRcode` mnemonics because
/// those spell 4 as "NOTIMPL", and Suricata's EVE (our output format) writes
/// "NOTIMP".
pub const fn rcode_name(rcode: u16) -> Option<&'static str> {
    Some(match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        16 => "BADVERS",
        17 => "BADKEY",
        18 => "BADTIME",
        19 => "BADMODE",
        20 => "BADNAME",
        21 => "BADALG",
        22 => "BADTRUNC",
        23 => "BADCOOKIE",
        _ => return None,
    })
}

/// An SVCB/HTTPS SvcParamKey (RFC 9460).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SvcParamKey(pub u16);

impl SvcParamKey {
    /// Keys the client must understand.
    pub const MANDATORY: SvcParamKey = SvcParamKey(0);
    /// ALPN protocol identifiers.
    pub const ALPN: SvcParamKey = SvcParamKey(1);
    /// No default ALPN.
    pub const NO_DEFAULT_ALPN: SvcParamKey = SvcParamKey(2);
    /// Alternative port.
    pub const PORT: SvcParamKey = SvcParamKey(3);
    /// IPv4 address hints.
    pub const IPV4HINT: SvcParamKey = SvcParamKey(4);
    /// Encrypted ClientHello configuration list.
    pub const ECH: SvcParamKey = SvcParamKey(5);
    /// IPv6 address hints.
    pub const IPV6HINT: SvcParamKey = SvcParamKey(6);

    /// Presentation name ("alpn", "ipv4hint", "ech", ...) or `None`;
    /// unknown keys are written `key<n>` in presentation format.
    pub const fn name(self) -> Option<&'static str> {
        DomainSvcParamKey::from_int(self.0).to_mnemonic_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names() {
        assert_eq!(DnsType::A.name(), Some("A"));
        assert_eq!(DnsType::AAAA.name(), Some("AAAA"));
        assert_eq!(DnsType::CNAME.name(), Some("CNAME"));
        assert_eq!(DnsType::HTTPS.name(), Some("HTTPS"));
        assert_eq!(DnsType::SVCB.name(), Some("SVCB"));
        assert_eq!(DnsType::TXT.name(), Some("TXT"));
        assert_eq!(DnsType::OPT.name(), Some("OPT"));
        assert_eq!(DnsType::ANY.name(), Some("ANY"));
        assert_eq!(DnsType(65280).name(), None);
        assert_eq!(DnsType(65280).to_string(), "TYPE65280");
        assert_eq!(DnsType::HTTPS.to_string(), "HTTPS");
    }

    #[test]
    fn class_and_codes() {
        assert_eq!(DnsClass(0x8001).without_mdns_flag(), DnsClass::IN);
        assert!(DnsClass(0x8001).mdns_flag());
        assert!(!DnsClass::IN.mdns_flag());
        assert_eq!(DnsClass(0x8001).name(), None);
        assert_eq!(DnsClass(0x8001).to_string(), "CLASS32769");
        assert_eq!(DnsClass::IN.to_string(), "IN");
        assert_eq!(rcode_name(0), Some("NOERROR"));
        assert_eq!(rcode_name(3), Some("NXDOMAIN"));
        assert_eq!(rcode_name(4), Some("NOTIMP"));
        assert_eq!(rcode_name(10), Some("NOTZONE"));
        assert_eq!(rcode_name(11), None);
        assert_eq!(rcode_name(16), Some("BADVERS"));
        assert_eq!(opcode_name(0), Some("QUERY"));
        assert_eq!(opcode_name(5), Some("UPDATE"));
        assert_eq!(opcode_name(3), None);
        assert_eq!(SvcParamKey::ALPN.name(), Some("alpn"));
        assert_eq!(SvcParamKey::IPV6HINT.name(), Some("ipv6hint"));
        assert_eq!(SvcParamKey(999).name(), None);
    }
}
