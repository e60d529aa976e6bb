//! ClientHello (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2) as a zero-copy view.

use super::extensions::{u16_list16, u16_list8, validate_block};
use super::{
    invalid, is_grease, split_handshake, ExtensionType, ExtensionTypes, Extensions, HandshakeType,
    Reader, TlsVersion, U16List,
};
use crate::error::{Layer, ParseError};

/// A parsed ClientHello: borrowed slices of the handshake message, walked
/// lazily by the accessors. `Copy`, no heap.
///
/// Lists keep wire order and GREASE values. When an extension appears more
/// than once (a protocol violation), the accessors use the first one, while
/// [`extension_types`](Self::extension_types) lists all.
#[derive(Debug, Clone, Copy)]
pub struct ClientHello<'a> {
    handshake_len: u32,
    legacy_version: TlsVersion,
    random: &'a [u8],
    session_id: &'a [u8],
    cipher_suites: &'a [u8],
    compression_methods: &'a [u8],
    extensions: Option<&'a [u8]>,
    sni: Option<&'a [u8]>,
    alpn: Option<&'a [u8]>,
    supported_versions: Option<&'a [u8]>,
    signature_algorithms: Option<&'a [u8]>,
    supported_groups: Option<&'a [u8]>,
    ec_point_formats: Option<&'a [u8]>,
    key_shares: Option<&'a [u8]>,
}

/// Parses a ClientHello handshake message: type `0x01`, 3-byte length, body;
/// no record header. This is the input both for TLS over TCP (from
/// [`first_handshake_message`](super::record::first_handshake_message)) and
/// for QUIC (the CRYPTO stream of the client Initials from offset 0).
///
/// Bytes after the message (as given by its length) are ignored.
///
/// # Errors
/// - `Incomplete { needed }` when `msg` is shorter than its length field says.
/// - `Invalid` when the type is not ClientHello, or a length inside the body
///   or inside a decoded extension (SNI, ALPN, supported_versions,
///   signature_algorithms, supported_groups, ec_point_formats, key_share)
///   overruns, or a `u16` list has an odd length.
/// - `Unsupported` for a DTLS ClientHello (it has an extra cookie field) or a
///   message over [`MAX_HANDSHAKE_LEN`](super::record::MAX_HANDSHAKE_LEN).
pub fn parse_client_hello(msg: &[u8]) -> Result<ClientHello<'_>, ParseError> {
    let (t, body) = split_handshake(msg)?;
    if t != HandshakeType::CLIENT_HELLO {
        return Err(invalid("not_client_hello"));
    }
    let mut r = Reader::new(body);
    let legacy_version = TlsVersion(r.u16("client_hello_version")?);
    if legacy_version.0 >> 8 == 0xfe {
        return Err(ParseError::Unsupported {
            layer: Layer::Tls,
            what: "dtls_client_hello",
        });
    }
    let random = r.take(32, "client_hello_random")?;
    let session_id = r.vec8("session_id")?;
    if session_id.len() > 32 {
        return Err(invalid("session_id_length"));
    }
    let cipher_suites = r.vec16("cipher_suites")?;
    if cipher_suites.len() % 2 != 0 {
        return Err(invalid("cipher_suites_length"));
    }
    let compression_methods = r.vec8("compression_methods")?;
    // An SSLv3-era hello may end here; anything after the block is ignored.
    let extensions = if r.is_empty() {
        None
    } else {
        Some(r.vec16("extensions_length")?)
    };
    let mut ch = ClientHello {
        // split_handshake caps the length at MAX_HANDSHAKE_LEN, so this fits.
        handshake_len: u32::try_from(body.len()).unwrap_or(u32::MAX),
        legacy_version,
        random,
        session_id,
        cipher_suites,
        compression_methods,
        extensions,
        sni: None,
        alpn: None,
        supported_versions: None,
        signature_algorithms: None,
        supported_groups: None,
        ec_point_formats: None,
        key_shares: None,
    };
    let mut sni_seen = false;
    validate_block(extensions.unwrap_or_default(), |t, data| {
        match t {
            ExtensionType::SERVER_NAME if !sni_seen => {
                sni_seen = true;
                ch.sni = first_host_name(data)?;
            }
            ExtensionType::ALPN if ch.alpn.is_none() => ch.alpn = Some(alpn_list(data)?),
            ExtensionType::SUPPORTED_VERSIONS if ch.supported_versions.is_none() => {
                ch.supported_versions = Some(u16_list8(data, "supported_versions_extension")?);
            }
            ExtensionType::SIGNATURE_ALGORITHMS if ch.signature_algorithms.is_none() => {
                ch.signature_algorithms = Some(u16_list16(data, "signature_algorithms_extension")?);
            }
            ExtensionType::SUPPORTED_GROUPS if ch.supported_groups.is_none() => {
                ch.supported_groups = Some(u16_list16(data, "supported_groups_extension")?);
            }
            ExtensionType::EC_POINT_FORMATS if ch.ec_point_formats.is_none() => {
                ch.ec_point_formats = Some(Reader::new(data).vec8("ec_point_formats_extension")?);
            }
            ExtensionType::KEY_SHARE if ch.key_shares.is_none() => {
                ch.key_shares = Some(key_share_list(data)?);
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(ch)
}

/// The first `host_name` entry of a server_name extension. An empty
/// extension (legal only in a ServerHello) gives `None`.
fn first_host_name(data: &[u8]) -> Result<Option<&[u8]>, ParseError> {
    const WHAT: &str = "server_name_extension";
    if data.is_empty() {
        return Ok(None);
    }
    let mut list = Reader::new(Reader::new(data).vec16(WHAT)?);
    let mut first = None;
    // Bounded: each entry consumes at least 3 bytes.
    while !list.is_empty() {
        let name_type = list.u8(WHAT)?;
        let name = list.vec16(WHAT)?;
        if name_type == 0 && first.is_none() {
            first = Some(name);
        }
    }
    Ok(first)
}

/// The protocol_name_list of an ALPN extension, every entry checked.
pub(super) fn alpn_list(data: &[u8]) -> Result<&[u8], ParseError> {
    const WHAT: &str = "alpn_extension";
    let list = Reader::new(data).vec16(WHAT)?;
    let mut r = Reader::new(list);
    // Bounded: each entry consumes at least 1 byte.
    while !r.is_empty() {
        r.vec8(WHAT)?;
    }
    Ok(list)
}

/// The client_shares list of a ClientHello key_share extension, every entry
/// checked.
fn key_share_list(data: &[u8]) -> Result<&[u8], ParseError> {
    const WHAT: &str = "key_share_extension";
    let list = Reader::new(data).vec16(WHAT)?;
    let mut r = Reader::new(list);
    // Bounded: each entry consumes at least 4 bytes.
    while !r.is_empty() {
        r.u16(WHAT)?;
        r.vec16(WHAT)?;
    }
    Ok(list)
}

impl<'a> ClientHello<'a> {
    /// The handshake body length (the 3-byte length field), without the
    /// 4-byte handshake header.
    pub const fn handshake_len(&self) -> usize {
        self.handshake_len as usize
    }

    /// ClientHello.legacy_version (`client_version` before TLS 1.3); what
    /// JA3 uses. Not the record-layer version.
    pub const fn legacy_version(&self) -> TlsVersion {
        self.legacy_version
    }

    /// The 32-byte random.
    pub const fn random(&self) -> &'a [u8] {
        self.random
    }

    /// The legacy session id (0–32 bytes).
    pub const fn session_id(&self) -> &'a [u8] {
        self.session_id
    }

    /// Cipher suites in wire order, GREASE and SCSVs kept.
    pub const fn cipher_suites(&self) -> U16List<'a> {
        U16List::new(self.cipher_suites)
    }

    /// Compression methods (one byte each; `[0]` for every modern client).
    pub const fn compression_methods(&self) -> &'a [u8] {
        self.compression_methods
    }

    /// False for a hello that ends after the compression methods (no
    /// extension block at all, as SSLv3 allowed).
    pub const fn has_extensions_block(&self) -> bool {
        self.extensions.is_some()
    }

    /// The extensions in wire order (type and data).
    pub fn extensions(&self) -> Extensions<'a> {
        Extensions::new(self.extensions.unwrap_or_default())
    }

    /// The extension types in wire order, GREASE kept.
    pub fn extension_types(&self) -> ExtensionTypes<'a> {
        ExtensionTypes::new(self.extensions.unwrap_or_default())
    }

    /// True when an extension of type `t` is present (e.g.
    /// [`ExtensionType::ENCRYPTED_CLIENT_HELLO`], `APPLICATION_SETTINGS`,
    /// `COMPRESS_CERTIFICATE`, `PADDING`, `SESSION_TICKET`, …).
    pub fn has_extension(&self, t: ExtensionType) -> bool {
        self.extensions().any(|e| e.ext_type == t)
    }

    /// The data of the first extension of type `t`.
    pub fn extension(&self, t: ExtensionType) -> Option<&'a [u8]> {
        self.extensions().get(t)
    }

    /// The first `host_name` of the server_name extension, raw bytes (not
    /// checked to be a valid name; may even be empty).
    pub const fn sni(&self) -> Option<&'a [u8]> {
        self.sni
    }

    /// [`sni`](Self::sni) when it is valid UTF-8.
    pub fn sni_str(&self) -> Option<&'a str> {
        self.sni.and_then(|s| core::str::from_utf8(s).ok())
    }

    /// ALPN protocol names in wire order (empty when there is no ALPN
    /// extension; check `has_extension(ExtensionType::ALPN)` to tell an
    /// empty list from an absent one).
    pub fn alpn_protocols(&self) -> AlpnProtocols<'a> {
        AlpnProtocols {
            rest: self.alpn.unwrap_or_default(),
        }
    }

    /// supported_versions (extension 43) entries, wire order, GREASE kept;
    /// empty when the extension is absent.
    pub fn supported_versions(&self) -> U16List<'a> {
        U16List::new(self.supported_versions.unwrap_or_default())
    }

    /// signature_algorithms (extension 13 only, not 50), wire order.
    pub fn signature_algorithms(&self) -> U16List<'a> {
        U16List::new(self.signature_algorithms.unwrap_or_default())
    }

    /// supported_groups (extension 10), wire order, GREASE kept.
    pub fn supported_groups(&self) -> U16List<'a> {
        U16List::new(self.supported_groups.unwrap_or_default())
    }

    /// ec_point_formats (extension 11), one byte each.
    pub fn ec_point_formats(&self) -> &'a [u8] {
        self.ec_point_formats.unwrap_or_default()
    }

    /// The groups of the key_share entries (extension 51), wire order,
    /// GREASE kept.
    pub fn key_share_groups(&self) -> KeyShareGroups<'a> {
        KeyShareGroups {
            rest: self.key_shares.unwrap_or_default(),
        }
    }

    /// The highest version the client offers: the largest non-GREASE
    /// supported_versions entry when that extension is present and has one,
    /// else the legacy version. This is the JA4 version rule, and the value
    /// to log as EVE `tls.version` when no ServerHello was seen (Suricata
    /// logs the server's selected version, see
    /// [`ServerHello::selected_version`](super::ServerHello::selected_version)).
    pub fn max_version(&self) -> TlsVersion {
        self.supported_versions()
            .filter(|&v| !is_grease(v))
            .max()
            .map_or(self.legacy_version, TlsVersion)
    }
}

/// Iterator over ALPN protocol names (raw bytes, wire order).
#[derive(Debug, Clone, Default)]
pub struct AlpnProtocols<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for AlpnProtocols<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let mut r = Reader::new(self.rest);
        let name = r.vec8("alpn").ok()?;
        self.rest = r.rest();
        Some(name)
    }
}

/// Iterator over the groups of ClientHello key_share entries.
#[derive(Debug, Clone, Default)]
pub struct KeyShareGroups<'a> {
    rest: &'a [u8],
}

impl Iterator for KeyShareGroups<'_> {
    type Item = u16;

    fn next(&mut self) -> Option<u16> {
        let mut r = Reader::new(self.rest);
        let group = r.u16("key_share").ok()?;
        r.vec16("key_share").ok()?;
        self.rest = r.rest();
        Some(group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// curl 7.88.1 / OpenSSL 3.0 ClientHello to `x.workers.dev` (vector
    /// `curl_sni`), handshake message only.
    const CURL: &[u8] = include_bytes!("../../tests/fixtures/tls/tls_curl_client_hello.bin");

    fn hs(body: &[u8]) -> Vec<u8> {
        let mut m = vec![1, 0, (body.len() >> 8) as u8, body.len() as u8];
        m.extend_from_slice(body);
        m
    }

    /// A minimal hello body: version, random, no session, given ciphers,
    /// null compression, then `tail` (extension block or nothing).
    fn body(ciphers: &[u8], tail: &[u8]) -> Vec<u8> {
        let mut b = vec![3, 3];
        b.extend_from_slice(&[0x11; 32]);
        b.push(0);
        b.extend_from_slice(&(ciphers.len() as u16).to_be_bytes());
        b.extend_from_slice(ciphers);
        b.extend_from_slice(&[1, 0]);
        b.extend_from_slice(tail);
        b
    }

    #[test]
    fn curl_hello_fields() {
        let ch = parse_client_hello(CURL).unwrap();
        assert_eq!(ch.handshake_len(), 508);
        assert_eq!(ch.legacy_version(), TlsVersion::TLS_1_2);
        assert_eq!(ch.max_version(), TlsVersion::TLS_1_3);
        assert_eq!(ch.session_id().len(), 32);
        assert_eq!(ch.cipher_suites().len(), 31);
        assert_eq!(ch.cipher_suites().next(), Some(0x1302));
        assert_eq!(ch.cipher_suites().last(), Some(0x00ff));
        assert_eq!(ch.compression_methods(), &[0]);
        assert_eq!(ch.sni(), Some(&b"x.workers.dev"[..]));
        assert_eq!(ch.sni_str(), Some("x.workers.dev"));
        let alpn: Vec<&[u8]> = ch.alpn_protocols().collect();
        assert_eq!(alpn, vec![&b"h2"[..], b"http/1.1"]);
        assert_eq!(
            ch.extension_types().collect::<Vec<_>>(),
            vec![0, 11, 10, 16, 22, 23, 49, 13, 43, 45, 51, 21]
        );
        assert_eq!(
            ch.supported_versions().collect::<Vec<_>>(),
            vec![0x0304, 0x0303, 0x0302, 0x0301]
        );
        assert_eq!(
            ch.supported_groups().collect::<Vec<_>>(),
            vec![29, 23, 30, 25, 24, 256, 257, 258, 259, 260]
        );
        assert_eq!(ch.ec_point_formats(), &[0, 1, 2]);
        assert_eq!(ch.key_share_groups().collect::<Vec<_>>(), vec![29]);
        assert_eq!(ch.signature_algorithms().len(), 20);
        assert!(ch.has_extension(ExtensionType::PADDING));
        assert!(!ch.has_extension(ExtensionType::ENCRYPTED_CLIENT_HELLO));
        assert_eq!(
            ch.extension(ExtensionType::EXTENDED_MASTER_SECRET),
            Some(&[][..])
        );
    }

    #[test]
    fn every_truncation_of_a_real_hello_is_incomplete() {
        for n in 0..CURL.len() {
            match parse_client_hello(&CURL[..n]) {
                Err(ParseError::Incomplete { needed, .. }) => {
                    let header = 4usize.saturating_sub(n);
                    assert!(needed >= 1);
                    if n >= 4 {
                        assert_eq!(needed, CURL.len() - n);
                    } else {
                        assert_eq!(needed, header);
                    }
                }
                other => panic!("prefix {n}: {other:?}"),
            }
        }
        // Trailing bytes after the message are ignored.
        let mut longer = CURL.to_vec();
        longer.extend_from_slice(&[0x16, 3, 1]);
        assert_eq!(parse_client_hello(&longer).unwrap().handshake_len(), 508);
    }

    #[test]
    fn wrong_type_and_bad_lengths_are_invalid() {
        let mut sh = CURL.to_vec();
        sh[0] = 2;
        assert_eq!(
            parse_client_hello(&sh).unwrap_err(),
            invalid("not_client_hello")
        );
        // Odd cipher list.
        let m = hs(&body(&[0x13], &[]));
        assert_eq!(
            parse_client_hello(&m).unwrap_err(),
            invalid("cipher_suites_length")
        );
        // Extension block longer than the message.
        let m = hs(&body(&[0x13, 0x01], &[0, 9, 0, 0]));
        assert_eq!(
            parse_client_hello(&m).unwrap_err(),
            invalid("extensions_length")
        );
        // Bad inner SNI length.
        let m = hs(&body(&[0x13, 0x01], &[0, 9, 0, 0, 0, 5, 0, 9, 0, 0, 1]));
        assert_eq!(
            parse_client_hello(&m).unwrap_err(),
            invalid("server_name_extension")
        );
        // ALPN entry overruns its list.
        let m = hs(&body(&[0x13, 0x01], &[0, 7, 0, 16, 0, 3, 0, 1, 5]));
        assert_eq!(
            parse_client_hello(&m).unwrap_err(),
            invalid("alpn_extension")
        );
        // Session id longer than 32.
        let mut b = body(&[0x13, 0x01], &[]);
        b[34] = 33;
        b.splice(35..35, [0u8; 33]);
        assert_eq!(
            parse_client_hello(&hs(&b)).unwrap_err(),
            invalid("session_id_length")
        );
        // DTLS.
        let mut b = body(&[0x13, 0x01], &[]);
        b[0] = 0xfe;
        b[1] = 0xfd;
        assert!(matches!(
            parse_client_hello(&hs(&b)),
            Err(ParseError::Unsupported { .. })
        ));
    }

    #[test]
    fn hello_without_extension_block() {
        let m = hs(&body(&[0x00, 0x2f, 0x0a, 0x0a], &[]));
        let ch = parse_client_hello(&m).unwrap();
        assert!(!ch.has_extensions_block());
        assert_eq!(ch.extension_types().count(), 0);
        assert_eq!(ch.max_version(), TlsVersion::TLS_1_2);
        assert_eq!(ch.cipher_suites().collect::<Vec<_>>(), vec![0x002f, 0x0a0a]);
        assert_eq!(ch.sni(), None);
        // One dangling byte where the block length should be is invalid.
        let m = hs(&body(&[0x00, 0x2f], &[0]));
        assert_eq!(
            parse_client_hello(&m).unwrap_err(),
            invalid("extensions_length")
        );
    }

    #[test]
    fn max_version_ignores_grease_and_falls_back() {
        // supported_versions = [GREASE, 0x0303] -> TLS 1.2.
        let ext = [0, 43, 0, 5, 4, 0x7a, 0x7a, 3, 3];
        let mut tail = vec![0, ext.len() as u8];
        tail.extend_from_slice(&ext);
        let m = hs(&body(&[0x13, 0x01], &tail));
        let ch = parse_client_hello(&m).unwrap();
        assert_eq!(ch.max_version(), TlsVersion::TLS_1_2);
        // Only GREASE -> the legacy version.
        let ext = [0, 43, 0, 3, 2, 0x7a, 0x7a];
        let mut tail = vec![0, ext.len() as u8];
        tail.extend_from_slice(&ext);
        let m = hs(&body(&[0x13, 0x01], &tail));
        assert_eq!(
            parse_client_hello(&m).unwrap().max_version(),
            TlsVersion::TLS_1_2
        );
    }

    #[test]
    fn sni_takes_first_host_name_and_empty_sni_is_none() {
        // Two entries: type 1 "a", type 0 "bc", type 0 "de".
        let list = [1, 0, 1, b'a', 0, 0, 2, b'b', b'c', 0, 0, 2, b'd', b'e'];
        let mut ext = vec![0, 0, 0, (list.len() + 2) as u8, 0, list.len() as u8];
        ext.extend_from_slice(&list);
        let mut tail = vec![0, ext.len() as u8];
        tail.extend_from_slice(&ext);
        let m = hs(&body(&[0x13, 0x01], &tail));
        assert_eq!(parse_client_hello(&m).unwrap().sni(), Some(&b"bc"[..]));
        let m = hs(&body(&[0x13, 0x01], &[0, 4, 0, 0, 0, 0]));
        let ch = parse_client_hello(&m).unwrap();
        assert_eq!(ch.sni(), None);
        assert!(ch.has_extension(ExtensionType::SERVER_NAME));
    }
}
