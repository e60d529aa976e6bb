//! Long-header parsing (RFC 9000 §17.2, RFC 8999 invariants, RFC 9369 §3.2)
//! and the walk over the coalesced packets of one UDP datagram.

use super::{invalid, read_varint, take, take_u8, unsupported, TRUNCATED};
use crate::ParseError;

/// Longest connection ID QUIC v1/v2 allow (RFC 9000 §17.2).
pub const MAX_CID_LEN: usize = 20;

/// A QUIC version number: open newtype, unknown values are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QuicVersion(pub u32);

/// The key schedule and type-bit layout of a version we can decrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Family {
    /// RFC 9001 (and drafts 33-34, which used the same salt).
    V1,
    /// RFC 9369.
    V2,
    /// Drafts 29-32: v1 labels and type bits, their own salt.
    Draft29,
    /// Drafts 23-28: v1 labels and type bits, their own salt.
    Draft23,
}

impl QuicVersion {
    /// Version 0: a Version Negotiation packet (RFC 9000 §17.2.1).
    pub const NEGOTIATION: Self = Self(0);
    /// QUIC version 1 (RFC 9000).
    pub const V1: Self = Self(1);
    /// QUIC version 2 (RFC 9369).
    pub const V2: Self = Self(0x6b33_43cf);
    /// IETF draft 29, still in public captures (`h3-29`).
    pub const DRAFT_29: Self = Self(0xff00_001d);

    /// The version's name (`"v1"`, `"v2"`, `"draft-29"`, ...), or `None` for a
    /// version this module does not know.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "version_negotiation",
            1 => "v1",
            0x6b33_43cf => "v2",
            0xff00_0017 => "draft-23",
            0xff00_0018 => "draft-24",
            0xff00_0019 => "draft-25",
            0xff00_001a => "draft-26",
            0xff00_001b => "draft-27",
            0xff00_001c => "draft-28",
            0xff00_001d => "draft-29",
            0xff00_001e => "draft-30",
            0xff00_001f => "draft-31",
            0xff00_0020 => "draft-32",
            0xff00_0021 => "draft-33",
            0xff00_0022 => "draft-34",
            _ => return None,
        })
    }

    /// True for the versions reserved for greasing version negotiation,
    /// `0x?a?a?a?a` (RFC 9000 §15).
    pub const fn is_reserved(self) -> bool {
        self.0 & 0x0f0f_0f0f == 0x0a0a_0a0a
    }

    /// True when this module can parse the version's long headers and derive
    /// its Initial keys (v1, v2, drafts 23-34).
    pub const fn is_supported(self) -> bool {
        self.family().is_some()
    }

    pub(super) const fn family(self) -> Option<Family> {
        match self.0 {
            1 | 0xff00_0021 | 0xff00_0022 => Some(Family::V1),
            0x6b33_43cf => Some(Family::V2),
            0xff00_001d..=0xff00_0020 => Some(Family::Draft29),
            0xff00_0017..=0xff00_001c => Some(Family::Draft23),
            _ => None,
        }
    }
}

impl core::fmt::Display for QuicVersion {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

/// Long-header packet type, with v1 and v2 type codes mapped to the same
/// names (v1: Initial 0, 0-RTT 1, Handshake 2, Retry 3; v2: Retry 0,
/// Initial 1, 0-RTT 2, Handshake 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// Initial: carries the ClientHello / ServerHello.
    Initial,
    /// 0-RTT early data.
    ZeroRtt,
    /// Handshake.
    Handshake,
    /// Retry: token plus integrity tag, no packet number.
    Retry,
    /// Version Negotiation (version 0).
    VersionNegotiation,
}

impl PacketType {
    /// Stable lower-case name, as tshark prints it.
    pub const fn name(self) -> &'static str {
        match self {
            PacketType::Initial => "initial",
            PacketType::ZeroRtt => "0rtt",
            PacketType::Handshake => "handshake",
            PacketType::Retry => "retry",
            PacketType::VersionNegotiation => "version_negotiation",
        }
    }

    const fn from_bits(family: Family, bits: u8) -> Self {
        match (family, bits & 0x03) {
            (Family::V2, 0) => PacketType::Retry,
            (Family::V2, 1) => PacketType::Initial,
            (Family::V2, 2) => PacketType::ZeroRtt,
            (Family::V2, _) => PacketType::Handshake,
            (_, 0) => PacketType::Initial,
            (_, 1) => PacketType::ZeroRtt,
            (_, 2) => PacketType::Handshake,
            (_, _) => PacketType::Retry,
        }
    }
}

/// The version-independent part of a long header (RFC 8999 §5.1): enough to
/// report unknown or greased versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvariantHeader<'a> {
    /// First byte as on the wire (its low bits are header-protected).
    pub first_byte: u8,
    /// Version field.
    pub version: QuicVersion,
    /// Destination Connection ID (up to 255 bytes under the invariants).
    pub dcid: &'a [u8],
    /// Source Connection ID (up to 255 bytes under the invariants).
    pub scid: &'a [u8],
    /// Offset of the first version-specific byte, just after the SCID.
    pub rest_offset: usize,
}

/// Parses the version-independent part of a long header.
///
/// # Errors
/// `Invalid { what: "not_long_header" }` when the first bit is 0 or the
/// input is empty; `Truncated` when the bytes end inside the header.
pub fn parse_invariant_header(datagram: &[u8]) -> Result<InvariantHeader<'_>, ParseError> {
    let mut pos = 0;
    let first_byte = match datagram.first() {
        Some(&b) if b & 0x80 != 0 => b,
        _ => return Err(invalid("not_long_header")),
    };
    pos += 1;
    let v = take(datagram, &mut pos, 4).ok_or(TRUNCATED)?;
    let version = QuicVersion(u32::from_be_bytes([v[0], v[1], v[2], v[3]]));
    let dlen = usize::from(take_u8(datagram, &mut pos).ok_or(TRUNCATED)?);
    let dcid = take(datagram, &mut pos, dlen).ok_or(TRUNCATED)?;
    let slen = usize::from(take_u8(datagram, &mut pos).ok_or(TRUNCATED)?);
    let scid = take(datagram, &mut pos, slen).ok_or(TRUNCATED)?;
    Ok(InvariantHeader {
        first_byte,
        version,
        dcid,
        scid,
        rest_offset: pos,
    })
}

/// A parsed long header of a version this module supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongHeader<'a> {
    /// First byte as on the wire. For Initial, 0-RTT and Handshake packets the
    /// low 4 bits (reserved bits and packet-number length) are still
    /// header-protected.
    pub first_byte: u8,
    /// Version field.
    pub version: QuicVersion,
    /// Packet type, decoded with the version's type codes.
    pub packet_type: PacketType,
    /// Destination Connection ID (at most [`MAX_CID_LEN`] bytes).
    pub dcid: &'a [u8],
    /// Source Connection ID (at most [`MAX_CID_LEN`] bytes).
    pub scid: &'a [u8],
    /// Initial: the token (often empty). Retry: the retry token. Else empty.
    pub token: &'a [u8],
    /// Value of the Length field (packet number plus protected payload);
    /// 0 for Retry and Version Negotiation, which have none.
    pub length: usize,
    /// Offset of the (protected) packet number, just after the Length field;
    /// for Retry and Version Negotiation, the end of the fixed header fields.
    pub pn_offset: usize,
    /// Version Negotiation only: the raw list of 4-byte supported versions
    /// (see [`LongHeader::supported_versions`]). Empty otherwise.
    pub versions: &'a [u8],
}

impl<'a> LongHeader<'a> {
    /// The versions listed by a Version Negotiation packet.
    pub fn supported_versions(&self) -> impl Iterator<Item = QuicVersion> + 'a {
        self.versions
            .chunks_exact(4)
            .map(|c| QuicVersion(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
    }

    /// True for a Retry packet; its retry token is in [`LongHeader::token`]
    /// and its last 16 bytes are the Retry Integrity Tag.
    pub fn is_retry(&self) -> bool {
        self.packet_type == PacketType::Retry
    }
}

/// Parses the long-header packet at the start of `datagram`.
///
/// Returns the header and the packet's length in bytes within the datagram
/// (`pn_offset + length`; the whole rest for Retry and Version Negotiation),
/// so that the next coalesced packet starts there.
///
/// # Errors
/// - `Invalid { what: "not_long_header" }`: first bit 0 or empty input.
/// - `Unsupported { what: "quic_version" }`: a version other than v1, v2 and
///   drafts 23-34 (use [`parse_invariant_header`] to read its CIDs).
/// - `Invalid { what: "connection_id_too_long" }`: a CID over 20 bytes.
/// - `Invalid { what: "version_negotiation_list" }`: not a multiple of 4.
/// - `Truncated`: a field, or the Length, runs past the datagram (snaplen).
pub fn parse_long_header(datagram: &[u8]) -> Result<(LongHeader<'_>, usize), ParseError> {
    let inv = parse_invariant_header(datagram)?;
    let mut pos = inv.rest_offset;
    let rest = datagram.get(pos..).unwrap_or(&[]);
    if inv.version == QuicVersion::NEGOTIATION {
        if rest.len() % 4 != 0 {
            return Err(invalid("version_negotiation_list"));
        }
        let header = LongHeader {
            first_byte: inv.first_byte,
            version: inv.version,
            packet_type: PacketType::VersionNegotiation,
            dcid: inv.dcid,
            scid: inv.scid,
            token: &[],
            length: 0,
            pn_offset: pos,
            versions: rest,
        };
        return Ok((header, datagram.len()));
    }
    let family = inv.version.family().ok_or(unsupported("quic_version"))?;
    if inv.dcid.len() > MAX_CID_LEN || inv.scid.len() > MAX_CID_LEN {
        return Err(invalid("connection_id_too_long"));
    }
    let packet_type = PacketType::from_bits(family, inv.first_byte >> 4);
    let mut header = LongHeader {
        first_byte: inv.first_byte,
        version: inv.version,
        packet_type,
        dcid: inv.dcid,
        scid: inv.scid,
        token: &[],
        length: 0,
        pn_offset: pos,
        versions: &[],
    };
    match packet_type {
        PacketType::Retry => {
            // Retry Token, then a 16-byte Retry Integrity Tag (RFC 9001 §5.8).
            let token_len = rest.len().checked_sub(16).ok_or(TRUNCATED)?;
            header.token = rest.get(..token_len).unwrap_or(&[]);
            Ok((header, datagram.len()))
        }
        PacketType::Initial | PacketType::ZeroRtt | PacketType::Handshake => {
            if packet_type == PacketType::Initial {
                let token_len = read_varint(datagram, &mut pos).ok_or(TRUNCATED)?;
                let token_len = usize::try_from(token_len).map_err(|_| TRUNCATED)?;
                header.token = take(datagram, &mut pos, token_len).ok_or(TRUNCATED)?;
            }
            let length = read_varint(datagram, &mut pos).ok_or(TRUNCATED)?;
            let length = usize::try_from(length).map_err(|_| TRUNCATED)?;
            let end = pos.checked_add(length).ok_or(TRUNCATED)?;
            if end > datagram.len() {
                return Err(TRUNCATED);
            }
            header.length = length;
            header.pn_offset = pos;
            Ok((header, end))
        }
        PacketType::VersionNegotiation => Err(invalid("packet_type")),
    }
}

/// One packet of a datagram, as yielded by [`packets`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongPacket<'a> {
    /// The parsed header.
    pub header: LongHeader<'a>,
    /// The packet's bytes (header through the end of its Length).
    pub bytes: &'a [u8],
    /// Offset of the packet within the datagram.
    pub offset: usize,
}

/// Iterator over the coalesced long-header packets of a datagram; see
/// [`packets`].
#[derive(Debug, Clone)]
pub struct Packets<'a> {
    datagram: &'a [u8],
    offset: usize,
    done: bool,
}

/// Walks the coalesced long-header packets of one UDP datagram (RFC 9000
/// §12.2).
///
/// Stops at the end of the datagram, or where the next byte does not start a
/// long header (zero padding after the last packet, or a short-header
/// packet). A parse error is yielded once and ends the walk. Each packet is at
/// least 7 bytes, so the walk is bounded by the datagram length.
pub fn packets(datagram: &[u8]) -> Packets<'_> {
    Packets {
        datagram,
        offset: 0,
        done: false,
    }
}

impl<'a> Iterator for Packets<'a> {
    type Item = Result<LongPacket<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = self.datagram.get(self.offset..).unwrap_or(&[]);
        match rest.first() {
            Some(b) if b & 0x80 != 0 => {}
            _ => {
                self.done = true;
                return None;
            }
        }
        match parse_long_header(rest) {
            Ok((header, len)) => {
                let offset = self.offset;
                self.offset = offset.saturating_add(len.max(1));
                Some(Ok(LongPacket {
                    header,
                    bytes: rest.get(..len).unwrap_or(rest),
                    offset,
                }))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Layer, ParseError};

    fn hex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    // RFC 9001 A.2 protected header (first 22 bytes) followed by 1178 bytes.
    const V1_HDR: &str = "c000000001088394c8f03e5157080000449e7b9aec34";
    const V2_HDR: &str = "d76b3343cf088394c8f03e5157080000449ea0c95e82";

    fn padded(h: &str) -> Vec<u8> {
        let mut v = hex(h);
        v.resize(1200, 0xaa);
        v
    }

    #[test]
    fn rfc9001_a2_header() {
        let d = padded(V1_HDR);
        let (h, len) = parse_long_header(&d).unwrap();
        assert_eq!(h.version, QuicVersion::V1);
        assert_eq!(h.packet_type, PacketType::Initial);
        assert_eq!(h.dcid, hex("8394c8f03e515708"));
        assert!(h.scid.is_empty());
        assert!(h.token.is_empty());
        assert_eq!(h.length, 0x049e);
        assert_eq!(h.pn_offset, 18);
        assert_eq!(len, 1200);
    }

    #[test]
    fn rfc9369_a2_header_v2_type_bits() {
        let d = padded(V2_HDR);
        let (h, len) = parse_long_header(&d).unwrap();
        assert_eq!(h.version, QuicVersion::V2);
        assert_eq!(h.version.name(), Some("v2"));
        // 0xd7: type bits 01, which is Initial in v2 (0-RTT in v1).
        assert_eq!(h.packet_type, PacketType::Initial);
        assert_eq!(len, 1200);
    }

    #[test]
    fn v1_v2_type_codes_differ() {
        for (bits, v1, v2) in [
            (0u8, PacketType::Initial, PacketType::Retry),
            (1, PacketType::ZeroRtt, PacketType::Initial),
            (2, PacketType::Handshake, PacketType::ZeroRtt),
            (3, PacketType::Retry, PacketType::Handshake),
        ] {
            assert_eq!(PacketType::from_bits(Family::V1, bits), v1);
            assert_eq!(PacketType::from_bits(Family::V2, bits), v2);
            assert_eq!(PacketType::from_bits(Family::Draft29, bits), v1);
        }
    }

    #[test]
    fn rfc9001_a3_server_initial_and_coalesced_walk() {
        // Server Initial from RFC 9001 A.3 (135 bytes), then padding.
        let server = hex(concat!(
            "cf000000010008f067a5502a4262b5004075c0d95a482cd0991cd25b0aac406a",
            "5816b6394100f37a1c69797554780bb38cc5a99f5ede4cf73c3ec2493a1839b3",
            "dbcba3f6ea46c5b7684df3548e7ddeb9c3bf9c73cc3f3bded74b562bfb19fb84",
            "022f8ef4cdd93795d77d06edbb7aaf2f58891850abbdca3d20398c276456cbc4",
            "2158407dd074ee"
        ));
        let mut d = server.clone();
        d.extend_from_slice(&server);
        d.extend_from_slice(&[0; 20]);
        let pk: Vec<_> = packets(&d).collect::<Result<_, _>>().unwrap();
        assert_eq!(pk.len(), 2);
        assert_eq!(pk[0].header.dcid, b"");
        assert_eq!(pk[0].header.scid, hex("f067a5502a4262b5"));
        assert_eq!(pk[0].header.length, 0x75);
        assert_eq!(pk[0].bytes.len(), server.len());
        assert_eq!(pk[1].offset, server.len());
        assert_eq!(pk[1].bytes, &server[..]);
    }

    #[test]
    fn version_negotiation() {
        let d = hex("80000000000401020304040a0b0c0d000000011a2a3a4a6b3343cf");
        let (h, len) = parse_long_header(&d).unwrap();
        assert_eq!(h.packet_type, PacketType::VersionNegotiation);
        assert_eq!(len, d.len());
        let v: Vec<_> = h.supported_versions().collect();
        assert_eq!(
            v,
            [QuicVersion::V1, QuicVersion(0x1a2a_3a4a), QuicVersion::V2]
        );
        assert!(v[1].is_reserved());
        assert!(!QuicVersion::V1.is_reserved());
        let bad = &d[..d.len() - 1];
        assert_eq!(
            parse_long_header(bad).unwrap_err(),
            ParseError::Invalid {
                layer: Layer::Quic,
                what: "version_negotiation_list"
            }
        );
    }

    #[test]
    fn retry_token_and_tag() {
        // RFC 9001 A.4 Retry packet.
        let d = hex(concat!(
            "ff000000010008f067a5502a4262b5746f6b656e04a265ba2eff4d829058fb3f",
            "0f2496ba"
        ));
        let (h, len) = parse_long_header(&d).unwrap();
        assert!(h.is_retry());
        assert_eq!(h.token, b"token");
        assert_eq!(h.scid, hex("f067a5502a4262b5"));
        assert_eq!(len, d.len());
        assert_eq!(parse_long_header(&d[..20]).unwrap_err(), TRUNCATED);
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse_long_header(&[]).unwrap_err(),
            ParseError::Invalid {
                layer: Layer::Quic,
                what: "not_long_header"
            }
        );
        assert!(parse_long_header(&[0x40, 1, 2]).is_err());
        // Unknown version: unsupported, but the invariant header still parses.
        let d = hex("c01a2a3a4a0401020304020506");
        assert_eq!(
            parse_long_header(&d).unwrap_err(),
            ParseError::Unsupported {
                layer: Layer::Quic,
                what: "quic_version"
            }
        );
        let inv = parse_invariant_header(&d).unwrap();
        assert_eq!(inv.version, QuicVersion(0x1a2a_3a4a));
        assert_eq!(inv.dcid, [1, 2, 3, 4]);
        assert_eq!(inv.scid, [5, 6]);
        assert_eq!(inv.rest_offset, d.len());
        // CID over 20 bytes in v1.
        let mut d = hex("c00000000115");
        d.extend_from_slice(&[0; 30]);
        assert_eq!(
            parse_long_header(&d).unwrap_err(),
            ParseError::Invalid {
                layer: Layer::Quic,
                what: "connection_id_too_long"
            }
        );
        // Every strict prefix of a valid packet is Truncated, never a panic.
        let full = padded(V1_HDR);
        for n in 1..full.len() {
            assert_eq!(parse_long_header(&full[..n]).unwrap_err(), TRUNCATED, "{n}");
        }
        // Huge varint length.
        let d = hex("c000000001000000ffffffffffffffff00");
        assert_eq!(parse_long_header(&d).unwrap_err(), TRUNCATED);
    }

    #[test]
    fn walk_stops_at_padding_and_short_header_and_errors() {
        let mut d = padded(V1_HDR);
        d.truncate(1200);
        assert_eq!(packets(&d).count(), 1);
        let mut d2 = d.clone();
        d2.extend_from_slice(&[0x40, 1, 2, 3]); // short header after
        assert_eq!(packets(&d2).count(), 1);
        let mut d3 = d.clone();
        d3.extend_from_slice(&[0xc0, 0, 0]); // cut long header after
        let items: Vec<_> = packets(&d3).collect();
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok());
        assert_eq!(items[1], Err(TRUNCATED));
        assert_eq!(packets(&[]).count(), 0);
    }

    #[test]
    fn version_names() {
        assert_eq!(QuicVersion::V1.name(), Some("v1"));
        assert_eq!(QuicVersion::DRAFT_29.name(), Some("draft-29"));
        assert_eq!(QuicVersion(0xff00_0017).name(), Some("draft-23"));
        assert_eq!(QuicVersion(0x1234_5678).name(), None);
        assert!(QuicVersion(0xff00_0022).is_supported());
        assert!(!QuicVersion(0xff00_0016).is_supported());
        assert!(!QuicVersion::NEGOTIATION.is_supported());
        assert_eq!(QuicVersion::V2.to_string(), "0x6b3343cf");
        assert_eq!(PacketType::ZeroRtt.name(), "0rtt");
    }
}
