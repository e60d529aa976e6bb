//! TLS: the record layer of a client's (or server's) first bytes, and the
//! ClientHello / ServerHello handshake messages.
//!
//! # Contract
//! - [`record::first_handshake_message`] takes the first bytes of one
//!   direction of a TCP stream (contiguous, possibly partial) and returns the
//!   first handshake message (type, 3-byte length, body), joining TLS records
//!   when the message spans several. It answers
//!   [`ParseError::Incomplete`] while the bytes
//!   are a valid prefix, and `Invalid` when they are not TLS. It borrows the
//!   stream when the message sits in one record (the usual case) and copies
//!   into a caller-owned buffer, capped at [`record::MAX_HANDSHAKE_LEN`],
//!   only when it spans records.
//! - [`parse_client_hello`] and [`parse_server_hello`] take one handshake
//!   message (no record header), the same bytes whether they came from TLS
//!   records or from QUIC CRYPTO frames, and return zero-copy views:
//!   [`ClientHello`] and [`ServerHello`] keep slices of the input and walk
//!   them lazily; nothing is allocated.
//! - Every length is checked once at parse time, so the iterators of a view
//!   never fail. Values are kept raw: GREASE ([`is_grease`]) and unknown code
//!   points are never dropped, so fingerprints can be computed from the view.
//! - Bytes after the end of the extension block (inside the handshake
//!   message) and bytes after the end of an extension's inner list are
//!   ignored, as OpenSSL and tls-parser do; lengths that overrun are `Invalid`.
//!
//! # Why the record layer and the hello bodies are read here and not with `tls-parser`
//! The 5-byte record header is checked by hand in [`record`], and only
//! tls-parser's `MAX_RECORD_LEN` is used: the contract answers `Invalid` from
//! the first byte that is not TLS, even in a partial header (a first segment
//! of 1–4 bytes), so a non-TLS stream is dropped at once, while
//! `tls_parser::parse_tls_record_header` (nom, streaming) answers `Incomplete`
//! until all 5 bytes are there and checks neither the content type nor the
//! version, which would leave both checks to do here anyway.
//! The hello bodies are walked by hand: tls-parser 0.12's
//! `parse_tls_handshake_client_hello` and `parse_tls_extensions` allocate a
//! `Vec` for the cipher list, the compression list, the extension list and
//! for most extensions (SNI, ALPN, groups, signature algorithms, versions),
//! which this crate does not do per packet; and they silently drop data on
//! malformed input (`opt(complete(..))` turns an overrunning extension block
//! into "no extensions", `many0(complete(..))` stops at the first malformed
//! extension), which would yield a wrong fingerprint instead of an error. The
//! tests cross-check this parser against tls-parser on every real hello.
//!
//! # Limits
//! - A handshake message longer than [`record::MAX_HANDSHAKE_LEN`] (64 KiB,
//!   header included) is `Unsupported`; real ClientHellos are 0.2–12 KB.
//! - SSLv2-format ClientHellos are detected ([`record::is_sslv2_client_hello`])
//!   and reported `Unsupported`, not parsed.

mod client_hello;
mod extensions;
pub mod record;
mod server_hello;

pub use client_hello::{parse_client_hello, AlpnProtocols, ClientHello, KeyShareGroups};
pub use extensions::{Extension, ExtensionTypes, Extensions, U16List};
pub use server_hello::{parse_server_hello, ServerHello, HELLO_RETRY_REQUEST_RANDOM};

use crate::error::{Layer, ParseError};

/// True for the 16 GREASE values of RFC 8701 (`0x0a0a`, `0x1a1a`, … `0xfafa`):
/// both bytes equal and each of the form `0x?a`.
#[inline]
pub const fn is_grease(v: u16) -> bool {
    (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff)
}

/// A TLS protocol version as it appears on the wire (open: any `u16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TlsVersion(pub u16);

impl TlsVersion {
    /// SSL 2.0 (`0x0002`), as JA4 writes it.
    pub const SSL_2_0: TlsVersion = TlsVersion(0x0002);
    /// SSL 3.0.
    pub const SSL_3_0: TlsVersion = TlsVersion(0x0300);
    /// TLS 1.0.
    pub const TLS_1_0: TlsVersion = TlsVersion(0x0301);
    /// TLS 1.1.
    pub const TLS_1_1: TlsVersion = TlsVersion(0x0302);
    /// TLS 1.2.
    pub const TLS_1_2: TlsVersion = TlsVersion(0x0303);
    /// TLS 1.3.
    pub const TLS_1_3: TlsVersion = TlsVersion(0x0304);
    /// DTLS 1.0.
    pub const DTLS_1_0: TlsVersion = TlsVersion(0xfeff);
    /// DTLS 1.2.
    pub const DTLS_1_2: TlsVersion = TlsVersion(0xfefd);
    /// DTLS 1.3.
    pub const DTLS_1_3: TlsVersion = TlsVersion(0xfefc);

    /// Suricata's name for the version, as logged in EVE `tls.version`
    /// (Suricata `SSLVersionToString`): `"TLS 1.3"`, `"TLS 1.2"`,
    /// `"TLS 1.1"`, `"TLSv1"` (Suricata's spelling of TLS 1.0), `"SSLv3"`,
    /// `"SSLv2"`, `"TLS 1.3 draft-NN"` for the 0x7fNN drafts, and
    /// `"UNDETERMINED"` for 0 and every other value (Suricata prints those as
    /// `0x%04x`; [`Display`](core::fmt::Display) does the same).
    pub const fn name(self) -> &'static str {
        match self.0 {
            0x0304 => "TLS 1.3",
            0x0303 => "TLS 1.2",
            0x0302 => "TLS 1.1",
            0x0301 => "TLSv1",
            0x0300 => "SSLv3",
            0x0002 | 0x0200 => "SSLv2",
            0x7f1c => "TLS 1.3 draft-28",
            0x7f1b => "TLS 1.3 draft-27",
            0x7f1a => "TLS 1.3 draft-26",
            0x7f19 => "TLS 1.3 draft-25",
            0x7f18 => "TLS 1.3 draft-24",
            0x7f17 => "TLS 1.3 draft-23",
            0x7f16 => "TLS 1.3 draft-22",
            0x7f15 => "TLS 1.3 draft-21",
            0x7f14 => "TLS 1.3 draft-20",
            0x7f13 => "TLS 1.3 draft-19",
            0x7f12 => "TLS 1.3 draft-18",
            0x7f11 => "TLS 1.3 draft-17",
            0x7f10 => "TLS 1.3 draft-16",
            _ => "UNDETERMINED",
        }
    }

    /// True when [`name`](Self::name) knows this value.
    pub const fn is_known(self) -> bool {
        !matches!(self.name().as_bytes(), b"UNDETERMINED")
    }
}

impl core::fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.0 != 0 && !self.is_known() {
            write!(f, "0x{:04x}", self.0)
        } else {
            f.write_str(self.name())
        }
    }
}

/// A TLS extension type (IANA "TLS ExtensionType Values"; open: any `u16`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExtensionType(pub u16);

impl ExtensionType {
    /// server_name (SNI), RFC 6066.
    pub const SERVER_NAME: ExtensionType = ExtensionType(0);
    /// max_fragment_length, RFC 6066.
    pub const MAX_FRAGMENT_LENGTH: ExtensionType = ExtensionType(1);
    /// status_request (OCSP stapling), RFC 6066.
    pub const STATUS_REQUEST: ExtensionType = ExtensionType(5);
    /// supported_groups (formerly elliptic_curves), RFC 8422 / 8446.
    pub const SUPPORTED_GROUPS: ExtensionType = ExtensionType(10);
    /// ec_point_formats, RFC 8422.
    pub const EC_POINT_FORMATS: ExtensionType = ExtensionType(11);
    /// signature_algorithms, RFC 8446.
    pub const SIGNATURE_ALGORITHMS: ExtensionType = ExtensionType(13);
    /// use_srtp, RFC 5764.
    pub const USE_SRTP: ExtensionType = ExtensionType(14);
    /// heartbeat, RFC 6520.
    pub const HEARTBEAT: ExtensionType = ExtensionType(15);
    /// application_layer_protocol_negotiation (ALPN), RFC 7301.
    pub const ALPN: ExtensionType = ExtensionType(16);
    /// signed_certificate_timestamp, RFC 6962.
    pub const SIGNED_CERTIFICATE_TIMESTAMP: ExtensionType = ExtensionType(18);
    /// padding, RFC 7685.
    pub const PADDING: ExtensionType = ExtensionType(21);
    /// encrypt_then_mac, RFC 7366.
    pub const ENCRYPT_THEN_MAC: ExtensionType = ExtensionType(22);
    /// extended_master_secret, RFC 7627.
    pub const EXTENDED_MASTER_SECRET: ExtensionType = ExtensionType(23);
    /// compress_certificate, RFC 8879.
    pub const COMPRESS_CERTIFICATE: ExtensionType = ExtensionType(27);
    /// record_size_limit, RFC 8449.
    pub const RECORD_SIZE_LIMIT: ExtensionType = ExtensionType(28);
    /// delegated_credential, RFC 9345.
    pub const DELEGATED_CREDENTIAL: ExtensionType = ExtensionType(34);
    /// session_ticket, RFC 5077.
    pub const SESSION_TICKET: ExtensionType = ExtensionType(35);
    /// pre_shared_key, RFC 8446.
    pub const PRE_SHARED_KEY: ExtensionType = ExtensionType(41);
    /// early_data, RFC 8446.
    pub const EARLY_DATA: ExtensionType = ExtensionType(42);
    /// supported_versions, RFC 8446.
    pub const SUPPORTED_VERSIONS: ExtensionType = ExtensionType(43);
    /// cookie, RFC 8446.
    pub const COOKIE: ExtensionType = ExtensionType(44);
    /// psk_key_exchange_modes, RFC 8446.
    pub const PSK_KEY_EXCHANGE_MODES: ExtensionType = ExtensionType(45);
    /// certificate_authorities, RFC 8446.
    pub const CERTIFICATE_AUTHORITIES: ExtensionType = ExtensionType(47);
    /// post_handshake_auth, RFC 8446.
    pub const POST_HANDSHAKE_AUTH: ExtensionType = ExtensionType(49);
    /// signature_algorithms_cert, RFC 8446.
    pub const SIGNATURE_ALGORITHMS_CERT: ExtensionType = ExtensionType(50);
    /// key_share, RFC 8446.
    pub const KEY_SHARE: ExtensionType = ExtensionType(51);
    /// quic_transport_parameters, RFC 9001.
    pub const QUIC_TRANSPORT_PARAMETERS: ExtensionType = ExtensionType(57);
    /// next_protocol_negotiation (NPN, draft, Chrome before ALPN).
    pub const NEXT_PROTOCOL_NEGOTIATION: ExtensionType = ExtensionType(13172);
    /// application_settings (ALPS), old code point used by Chrome until ~v132.
    pub const APPLICATION_SETTINGS_OLD: ExtensionType = ExtensionType(0x4469);
    /// application_settings (ALPS), new code point (Chrome ≥ ~133).
    pub const APPLICATION_SETTINGS: ExtensionType = ExtensionType(0x44cd);
    /// encrypted_client_hello (ECH; browsers send a GREASE ECH too).
    pub const ENCRYPTED_CLIENT_HELLO: ExtensionType = ExtensionType(0xfe0d);
    /// renegotiation_info, RFC 5746.
    pub const RENEGOTIATION_INFO: ExtensionType = ExtensionType(0xff01);

    /// The IANA name, `"grease"` for GREASE values, `"unknown"` otherwise.
    pub const fn name(self) -> &'static str {
        match self.0 {
            0 => "server_name",
            1 => "max_fragment_length",
            5 => "status_request",
            10 => "supported_groups",
            11 => "ec_point_formats",
            13 => "signature_algorithms",
            14 => "use_srtp",
            15 => "heartbeat",
            16 => "application_layer_protocol_negotiation",
            18 => "signed_certificate_timestamp",
            21 => "padding",
            22 => "encrypt_then_mac",
            23 => "extended_master_secret",
            27 => "compress_certificate",
            28 => "record_size_limit",
            34 => "delegated_credential",
            35 => "session_ticket",
            41 => "pre_shared_key",
            42 => "early_data",
            43 => "supported_versions",
            44 => "cookie",
            45 => "psk_key_exchange_modes",
            47 => "certificate_authorities",
            49 => "post_handshake_auth",
            50 => "signature_algorithms_cert",
            51 => "key_share",
            57 => "quic_transport_parameters",
            13172 => "next_protocol_negotiation",
            0x4469 | 0x44cd => "application_settings",
            0xfe0d => "encrypted_client_hello",
            0xff01 => "renegotiation_info",
            v if is_grease(v) => "grease",
            _ => "unknown",
        }
    }
}

/// A TLS handshake message type (open: any `u8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HandshakeType(pub u8);

impl HandshakeType {
    /// hello_request (TLS ≤ 1.2).
    pub const HELLO_REQUEST: HandshakeType = HandshakeType(0);
    /// client_hello.
    pub const CLIENT_HELLO: HandshakeType = HandshakeType(1);
    /// server_hello (also HelloRetryRequest in TLS 1.3).
    pub const SERVER_HELLO: HandshakeType = HandshakeType(2);
    /// new_session_ticket.
    pub const NEW_SESSION_TICKET: HandshakeType = HandshakeType(4);
    /// encrypted_extensions (TLS 1.3, never in clear over TCP).
    pub const ENCRYPTED_EXTENSIONS: HandshakeType = HandshakeType(8);
    /// certificate.
    pub const CERTIFICATE: HandshakeType = HandshakeType(11);
    /// server_key_exchange (TLS ≤ 1.2).
    pub const SERVER_KEY_EXCHANGE: HandshakeType = HandshakeType(12);
    /// certificate_request.
    pub const CERTIFICATE_REQUEST: HandshakeType = HandshakeType(13);
    /// server_hello_done (TLS ≤ 1.2).
    pub const SERVER_HELLO_DONE: HandshakeType = HandshakeType(14);
    /// certificate_verify.
    pub const CERTIFICATE_VERIFY: HandshakeType = HandshakeType(15);
    /// client_key_exchange (TLS ≤ 1.2).
    pub const CLIENT_KEY_EXCHANGE: HandshakeType = HandshakeType(16);
    /// finished.
    pub const FINISHED: HandshakeType = HandshakeType(20);
}

/// Length of the handshake message header: type (1) + length (3).
pub const HANDSHAKE_HEADER_LEN: usize = 4;

/// Splits a handshake message into (type, body), checking the 3-byte length.
///
/// Incomplete when `msg` is shorter than its header says; bytes after the
/// message are ignored. Messages over [`record::MAX_HANDSHAKE_LEN`] are
/// `Unsupported`.
pub(crate) fn split_handshake(msg: &[u8]) -> Result<(HandshakeType, &[u8]), ParseError> {
    let Some((hdr, rest)) = msg.split_first_chunk::<HANDSHAKE_HEADER_LEN>() else {
        return Err(ParseError::Incomplete {
            layer: Layer::Tls,
            needed: HANDSHAKE_HEADER_LEN - msg.len(),
        });
    };
    let len = usize::from(hdr[1]) << 16 | usize::from(hdr[2]) << 8 | usize::from(hdr[3]);
    if len + HANDSHAKE_HEADER_LEN > record::MAX_HANDSHAKE_LEN {
        return Err(ParseError::Unsupported {
            layer: Layer::Tls,
            what: "handshake_too_long",
        });
    }
    match rest.get(..len) {
        Some(body) => Ok((HandshakeType(hdr[0]), body)),
        None => Err(ParseError::Incomplete {
            layer: Layer::Tls,
            needed: len - rest.len(),
        }),
    }
}

/// A bounds-checked big-endian cursor over a complete message: running out of
/// bytes is `Invalid { what }` (the message length said the bytes were there).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) const fn new(b: &'a [u8]) -> Self {
        Reader { rest: b }
    }

    pub(crate) const fn rest(&self) -> &'a [u8] {
        self.rest
    }

    pub(crate) const fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ParseError> {
        match self.rest.split_at_checked(n) {
            Some((head, tail)) => {
                self.rest = tail;
                Ok(head)
            }
            None => Err(invalid(what)),
        }
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, ParseError> {
        match self.rest.split_first() {
            Some((&b, tail)) => {
                self.rest = tail;
                Ok(b)
            }
            None => Err(invalid(what)),
        }
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, ParseError> {
        match self.rest.split_first_chunk::<2>() {
            Some((b, tail)) => {
                self.rest = tail;
                Ok(u16::from_be_bytes(*b))
            }
            None => Err(invalid(what)),
        }
    }

    /// A vector with a 1-byte length prefix.
    pub(crate) fn vec8(&mut self, what: &'static str) -> Result<&'a [u8], ParseError> {
        let n = self.u8(what)?;
        self.take(usize::from(n), what)
    }

    /// A vector with a 2-byte length prefix.
    pub(crate) fn vec16(&mut self, what: &'static str) -> Result<&'a [u8], ParseError> {
        let n = self.u16(what)?;
        self.take(usize::from(n), what)
    }
}

pub(crate) const fn invalid(what: &'static str) -> ParseError {
    ParseError::Invalid {
        layer: Layer::Tls,
        what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grease_values_are_exactly_the_sixteen() {
        let all: Vec<u16> = (0..=u16::MAX).filter(|&v| is_grease(v)).collect();
        let expected: Vec<u16> = (0..16u16)
            .map(|i| (i << 12) | 0x0a00 | (i << 4) | 0x0a)
            .collect();
        assert_eq!(all, expected);
        assert!(is_grease(0x0a0a) && is_grease(0xfafa));
        // tls-parser's test (`& 0x0f0f == 0x0a0a`) would also accept these:
        assert!(!is_grease(0x1a2a) && !is_grease(0x0a1a));
    }

    #[test]
    fn version_names_follow_suricata() {
        assert_eq!(TlsVersion::TLS_1_3.name(), "TLS 1.3");
        assert_eq!(TlsVersion::TLS_1_2.name(), "TLS 1.2");
        assert_eq!(TlsVersion::TLS_1_1.name(), "TLS 1.1");
        assert_eq!(TlsVersion::TLS_1_0.name(), "TLSv1");
        assert_eq!(TlsVersion::SSL_3_0.name(), "SSLv3");
        assert_eq!(TlsVersion(0).name(), "UNDETERMINED");
        assert_eq!(TlsVersion(0x7f17).name(), "TLS 1.3 draft-23");
        assert_eq!(TlsVersion(0x0305).to_string(), "0x0305");
        assert_eq!(TlsVersion(0).to_string(), "UNDETERMINED");
        assert_eq!(TlsVersion::TLS_1_2.to_string(), "TLS 1.2");
        assert!(!TlsVersion(0x0a0a).is_known());
    }

    #[test]
    fn extension_names() {
        assert_eq!(
            ExtensionType::ALPN.name(),
            "application_layer_protocol_negotiation"
        );
        assert_eq!(ExtensionType(0x4469).name(), "application_settings");
        assert_eq!(ExtensionType(0x2a2a).name(), "grease");
        assert_eq!(ExtensionType(0x1234).name(), "unknown");
    }

    #[test]
    fn split_handshake_lengths() {
        assert_eq!(
            split_handshake(&[1, 0]),
            Err(ParseError::Incomplete {
                layer: Layer::Tls,
                needed: 2
            })
        );
        assert_eq!(
            split_handshake(&[1, 0, 0, 3, 9]),
            Err(ParseError::Incomplete {
                layer: Layer::Tls,
                needed: 2
            })
        );
        let (t, body) = split_handshake(&[2, 0, 0, 1, 9, 8]).unwrap();
        assert_eq!((t, body), (HandshakeType::SERVER_HELLO, &[9u8][..]));
        assert_eq!(
            split_handshake(&[1, 1, 0, 0]),
            Err(ParseError::Unsupported {
                layer: Layer::Tls,
                what: "handshake_too_long"
            })
        );
    }

    #[test]
    fn reader_never_reads_past_the_end() {
        let mut r = Reader::new(&[0, 3, 1, 2]);
        assert_eq!(r.vec16("x"), Err(invalid("x")));
        let mut r = Reader::new(&[2, 7, 8, 1]);
        assert_eq!(r.vec8("x").unwrap(), &[7, 8]);
        assert_eq!(r.u16("y"), Err(invalid("y")));
        assert_eq!(r.u8("z").unwrap(), 1);
        assert!(r.is_empty());
    }
}
