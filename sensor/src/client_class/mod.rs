//! Client classification: was a TLS or QUIC connection opened by a browser or by something else
//! (a script, a library, an implant)? Decided from the ClientHello alone, with the reasons, so
//! an analyst sees why.
//!
//! # Method
//! 1. The JA4 is looked up in a [`BrowserTable`] (shipped list plus configuration). A known
//!    non-browser JA4 gives [`ClientClass::NonBrowser`], a known browser JA4
//!    [`ClientClass::Browser`].
//! 2. Otherwise the hello's traits decide. Browser traits, each sent by current browsers and by
//!    none of the usual non-browser TLS stacks (OpenSSL, GnuTLS, Go, Java, Schannel, rustls,
//!    Node): GREASE values (Chromium/BoringSSL and Apple stacks), compress_certificate,
//!    ALPS (Chromium), ECH (Chrome, Firefox, also as GREASE ECH), delegated_credentials and
//!    record_size_limit (Firefox/NSS). Strong non-browser traits: 25 or more cipher suites,
//!    encrypt_then_mac or post_handshake_auth (OpenSSL/GnuTLS defaults), no TLS 1.3 offered.
//!    Weak non-browser traits (real browsers show them now and then, e.g. Chrome's WebSocket
//!    connections offer only `http/1.1`): no ALPN, ALPN without `h2`/`h3`, fewer than 12
//!    cipher suites over TCP.
//!
//!    | browser traits (B) | strong non-browser | weak non-browser | class |
//!    |---|---|---|---|
//!    | ≥ 2 | yes | – | Unknown (`conflicting_traits`) |
//!    | < 2 | yes | – | NonBrowser |
//!    | ≥ 2 | no | – | Browser |
//!    | 1 | no | yes | NonBrowser |
//!    | 1 | no | no | Unknown |
//!    | 0 | no | – | NonBrowser (`no_browser_traits`) |
//!
//!    Firefox has no GREASE but has compress_certificate, ECH, delegated_credentials and
//!    record_size_limit; Chrome over QUIC has no GREASE but has compress_certificate and ALPS;
//!    Safari has GREASE and compress_certificate. GREASE alone (B = 1) is not enough: BoringSSL
//!    embedders other than browsers may turn it on.
//!
//! # Hard limits
//! See [`IMPERSONATION_CAVEAT`]: a client that reproduces a browser's ClientHello byte for byte
//! (curl_cffi / curl-impersonate, uTLS, tls-client, rnet/wreq, primp) is classified as that
//! browser, and so are Chromium-embedding applications (Electron, CEF, WebView). A browser
//! verdict therefore never clears a connection; pair it with other signals.

mod table;

pub use table::{BrowserTable, TableEntry, CONFIGURED};

use virga_parsers::fingerprint::{ja4, Ja4, Transport};
use virga_parsers::tls::{is_grease, ClientHello, ExtensionType, TlsVersion};

/// The caveat to attach to browser verdicts (the documented hard limit).
pub const IMPERSONATION_CAVEAT: &str = "ClientHello-only verdict: impersonation libraries \
(curl_cffi, uTLS, tls-client) send browser-identical hellos, and Chromium-embedding apps \
(Electron, CEF, WebView) look like Chrome";

/// Cipher suites from which a hello is a non-browser one (browsers send 15 to 20).
const MANY_CIPHERS: usize = 25;
/// Fewer cipher suites than this over TCP is unusual for a browser (rustls sends 10).
const FEW_CIPHERS: usize = 12;

/// The verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ClientClass {
    /// A browser, or something that looks exactly like one (see the module docs).
    Browser,
    /// Not a browser: a library, a tool, an implant.
    NonBrowser,
    /// The traits disagree or are too few to tell (or there was no ClientHello).
    #[default]
    Unknown,
}

impl ClientClass {
    /// `browser`, `non_browser` or `unknown`.
    pub const fn name(self) -> &'static str {
        match self {
            ClientClass::Browser => "browser",
            ClientClass::NonBrowser => "non_browser",
            ClientClass::Unknown => "unknown",
        }
    }

    /// Whether the client is not a browser: `None` when unknown.
    pub const fn non_browser(self) -> Option<bool> {
        match self {
            ClientClass::Browser => Some(false),
            ClientClass::NonBrowser => Some(true),
            ClientClass::Unknown => None,
        }
    }
}

/// Which way a [`Reason`] points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaning {
    /// Towards a browser.
    Browser,
    /// Towards a non-browser.
    NonBrowser,
    /// Context only.
    Neutral,
}

/// One observation behind a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Reason {
    /// The JA4 is a known browser's.
    Ja4InBrowserTable,
    /// The JA4 is a known non-browser's.
    Ja4InNonBrowserTable,
    /// GREASE values (RFC 8701) in ciphers, extensions, groups or versions.
    Grease,
    /// compress_certificate (RFC 8879).
    CompressCertificate,
    /// application_settings (ALPS), either code point.
    Alps,
    /// encrypted_client_hello (real or GREASE ECH).
    Ech,
    /// delegated_credentials (RFC 9345).
    DelegatedCredentials,
    /// record_size_limit (RFC 8449).
    RecordSizeLimit,
    /// No GREASE anywhere (context: Firefox has none either).
    NoGrease,
    /// 25 or more cipher suites.
    ManyCiphers,
    /// encrypt_then_mac (RFC 7366).
    EncryptThenMac,
    /// post_handshake_auth.
    PostHandshakeAuth,
    /// TLS 1.3 not offered.
    NoTls13,
    /// No ALPN extension (or an empty list).
    NoAlpn,
    /// ALPN offers only `http/1.1`.
    AlpnHttp11Only,
    /// ALPN offers none of `h2`, `h3`, `http/1.1`.
    AlpnUnusual,
    /// Fewer than 12 cipher suites over TCP.
    FewCiphers,
    /// No browser trait at all.
    NoBrowserTraits,
    /// Browser and strong non-browser traits together.
    ConflictingTraits,
    /// ALPN `h2` then `http/1.1`, as browsers over TCP (context).
    AlpnH2Http11,
    /// ALPN `h3` (context).
    AlpnH3,
    /// 15 to 20 cipher suites, the browser range (context: proves nothing alone).
    CipherCount15To20,
    /// A post-quantum hybrid key share (context: Go, rustls and OpenSSL 3.5 send one too).
    PostQuantumKeyShare,
    /// The HTTP User-Agent of a well-known non-browser tool (curl, python-requests, ...):
    /// the only evidence `virga hunt` has when a log holds no JA4.
    ToolUserAgent,
    /// Host events name the process, and the class comes from its program (a shipped list of
    /// browser programs), overriding the ClientHello's traits.
    Process,
}

impl Reason {
    /// Every reason, in bit order.
    pub const ALL: [Reason; 25] = [
        Reason::Ja4InBrowserTable,
        Reason::Ja4InNonBrowserTable,
        Reason::Grease,
        Reason::CompressCertificate,
        Reason::Alps,
        Reason::Ech,
        Reason::DelegatedCredentials,
        Reason::RecordSizeLimit,
        Reason::NoGrease,
        Reason::ManyCiphers,
        Reason::EncryptThenMac,
        Reason::PostHandshakeAuth,
        Reason::NoTls13,
        Reason::NoAlpn,
        Reason::AlpnHttp11Only,
        Reason::AlpnUnusual,
        Reason::FewCiphers,
        Reason::NoBrowserTraits,
        Reason::ConflictingTraits,
        Reason::AlpnH2Http11,
        Reason::AlpnH3,
        Reason::CipherCount15To20,
        Reason::PostQuantumKeyShare,
        Reason::ToolUserAgent,
        Reason::Process,
    ];

    /// Stable snake_case name for output, e.g. `compress_certificate`.
    pub const fn name(self) -> &'static str {
        match self {
            Reason::Ja4InBrowserTable => "ja4_in_browser_table",
            Reason::Ja4InNonBrowserTable => "ja4_in_non_browser_table",
            Reason::Grease => "grease",
            Reason::CompressCertificate => "compress_certificate",
            Reason::Alps => "alps",
            Reason::Ech => "ech",
            Reason::DelegatedCredentials => "delegated_credentials",
            Reason::RecordSizeLimit => "record_size_limit",
            Reason::NoGrease => "no_grease",
            Reason::ManyCiphers => "cipher_count_ge_25",
            Reason::EncryptThenMac => "encrypt_then_mac",
            Reason::PostHandshakeAuth => "post_handshake_auth",
            Reason::NoTls13 => "no_tls13",
            Reason::NoAlpn => "no_alpn",
            Reason::AlpnHttp11Only => "alpn_http11_only",
            Reason::AlpnUnusual => "alpn_unusual",
            Reason::FewCiphers => "few_ciphers",
            Reason::NoBrowserTraits => "no_browser_traits",
            Reason::ConflictingTraits => "conflicting_traits",
            Reason::AlpnH2Http11 => "alpn_h2_http11",
            Reason::AlpnH3 => "alpn_h3",
            Reason::CipherCount15To20 => "cipher_count_15_20",
            Reason::PostQuantumKeyShare => "pq_key_share",
            Reason::ToolUserAgent => "tool_user_agent",
            Reason::Process => "process",
        }
    }

    /// Which way the reason points.
    pub const fn leaning(self) -> Leaning {
        match self {
            Reason::Ja4InBrowserTable
            | Reason::Grease
            | Reason::CompressCertificate
            | Reason::Alps
            | Reason::Ech
            | Reason::DelegatedCredentials
            | Reason::RecordSizeLimit => Leaning::Browser,
            Reason::Ja4InNonBrowserTable
            | Reason::ManyCiphers
            | Reason::EncryptThenMac
            | Reason::PostHandshakeAuth
            | Reason::NoTls13
            | Reason::NoAlpn
            | Reason::AlpnHttp11Only
            | Reason::AlpnUnusual
            | Reason::FewCiphers
            | Reason::NoBrowserTraits
            | Reason::ToolUserAgent => Leaning::NonBrowser,
            Reason::NoGrease
            | Reason::ConflictingTraits
            | Reason::AlpnH2Http11
            | Reason::AlpnH3
            | Reason::CipherCount15To20
            | Reason::PostQuantumKeyShare
            | Reason::Process => Leaning::Neutral,
        }
    }

    const fn bit(self) -> u32 {
        1 << (self as u8)
    }
}

/// A set of [`Reason`]s (a bit set; `Copy`, no heap).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Reasons(u32);

impl Reasons {
    /// Adds `r`.
    pub fn insert(&mut self, r: Reason) {
        self.0 |= r.bit();
    }

    /// Whether `r` is in the set.
    pub const fn contains(self, r: Reason) -> bool {
        self.0 & r.bit() != 0
    }

    /// Number of reasons.
    pub const fn len(self) -> u32 {
        self.0.count_ones()
    }

    /// True when empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The reasons, in [`Reason::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Reason> {
        Reason::ALL.into_iter().filter(move |r| self.contains(*r))
    }

    /// The reasons' names, in [`Reason::ALL`] order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        self.iter().map(Reason::name)
    }
}

/// The result of [`classify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification<'t> {
    /// The verdict.
    pub class: ClientClass,
    /// Why: the table hit (if any), then every notable trait, whichever way it points.
    pub reasons: Reasons,
    /// The table entry's client name when the JA4 is known (`Firefox 147`, `curl 7.88 / ...`).
    pub known_as: Option<&'t str>,
}

impl Classification<'_> {
    /// The hard-limit caveat to report with a browser verdict, `None` for the others.
    pub fn caveat(&self) -> Option<&'static str> {
        (self.class == ClientClass::Browser).then_some(IMPERSONATION_CAVEAT)
    }
}

/// Classifies the client that sent `ch` over `transport` (computes the JA4 itself).
pub fn classify<'t>(
    ch: &ClientHello<'_>,
    transport: Transport,
    table: &'t BrowserTable,
) -> Classification<'t> {
    classify_with_ja4(ch, transport, &ja4(ch, transport), table)
}

/// [`classify`] for a caller that already has the hello's JA4 (the pipeline computes it for
/// the EVE event); `ja4` must be `fingerprint::ja4(ch, transport)`.
pub fn classify_with_ja4<'t>(
    ch: &ClientHello<'_>,
    transport: Transport,
    ja4: &Ja4,
    table: &'t BrowserTable,
) -> Classification<'t> {
    let mut reasons = traits(ch, transport);
    let hit = table.lookup(ja4);
    let class = match hit {
        Some(e) if e.class == ClientClass::NonBrowser => {
            reasons.insert(Reason::Ja4InNonBrowserTable);
            ClientClass::NonBrowser
        }
        Some(_) => {
            reasons.insert(Reason::Ja4InBrowserTable);
            ClientClass::Browser
        }
        None => decide(&mut reasons),
    };
    Classification {
        class,
        reasons,
        known_as: hit.map(|e| &*e.client),
    }
}

/// The verdict from traits alone (the table of the module docs); adds the deciding reason.
fn decide(reasons: &mut Reasons) -> ClientClass {
    let browser = [
        Reason::Grease,
        Reason::CompressCertificate,
        Reason::Alps,
        Reason::Ech,
        Reason::DelegatedCredentials,
        Reason::RecordSizeLimit,
    ]
    .into_iter()
    .filter(|r| reasons.contains(*r))
    .count();
    let any = |list: &[Reason]| list.iter().any(|r| reasons.contains(*r));
    let strong = any(&[
        Reason::ManyCiphers,
        Reason::EncryptThenMac,
        Reason::PostHandshakeAuth,
        Reason::NoTls13,
    ]);
    let weak = any(&[
        Reason::NoAlpn,
        Reason::AlpnHttp11Only,
        Reason::AlpnUnusual,
        Reason::FewCiphers,
    ]);
    match (browser, strong, weak) {
        (2.., true, _) => {
            reasons.insert(Reason::ConflictingTraits);
            ClientClass::Unknown
        }
        (_, true, _) => ClientClass::NonBrowser,
        (2.., false, _) => ClientClass::Browser,
        (1, false, true) => ClientClass::NonBrowser,
        (1, false, false) => ClientClass::Unknown,
        (_, false, _) => {
            reasons.insert(Reason::NoBrowserTraits);
            ClientClass::NonBrowser
        }
    }
}

/// Post-quantum hybrid key-share groups: X25519MLKEM768, SecP256r1MLKEM768,
/// SecP384r1MLKEM1024, X25519Kyber768Draft00.
const PQ_GROUPS: [u16; 4] = [0x11ec, 0x11eb, 0x11ed, 0x6399];

/// The notable traits of a hello.
fn traits(ch: &ClientHello<'_>, transport: Transport) -> Reasons {
    let mut r = Reasons::default();
    let grease = ch.cipher_suites().any(is_grease)
        || ch.extension_types().any(is_grease)
        || ch.supported_groups().any(is_grease)
        || ch.supported_versions().any(is_grease);
    r.insert(if grease {
        Reason::Grease
    } else {
        Reason::NoGrease
    });
    for e in ch.extension_types() {
        let reason = match ExtensionType(e) {
            ExtensionType::COMPRESS_CERTIFICATE => Reason::CompressCertificate,
            ExtensionType::APPLICATION_SETTINGS | ExtensionType::APPLICATION_SETTINGS_OLD => {
                Reason::Alps
            }
            ExtensionType::ENCRYPTED_CLIENT_HELLO => Reason::Ech,
            ExtensionType::DELEGATED_CREDENTIAL => Reason::DelegatedCredentials,
            ExtensionType::RECORD_SIZE_LIMIT => Reason::RecordSizeLimit,
            ExtensionType::ENCRYPT_THEN_MAC => Reason::EncryptThenMac,
            ExtensionType::POST_HANDSHAKE_AUTH => Reason::PostHandshakeAuth,
            _ => continue,
        };
        r.insert(reason);
    }
    let ciphers = ch.cipher_suites().filter(|&c| !is_grease(c)).count();
    if ciphers >= MANY_CIPHERS {
        r.insert(Reason::ManyCiphers);
    } else if (15..=20).contains(&ciphers) {
        r.insert(Reason::CipherCount15To20);
    } else if ciphers < FEW_CIPHERS && transport == Transport::Tcp {
        r.insert(Reason::FewCiphers);
    }
    if ch.max_version() < TlsVersion::TLS_1_3 {
        r.insert(Reason::NoTls13);
    }
    if ch.key_share_groups().any(|g| PQ_GROUPS.contains(&g)) {
        r.insert(Reason::PostQuantumKeyShare);
    }
    alpn_traits(ch, &mut r);
    r
}

/// ALPN reasons: what the offered list looks like.
fn alpn_traits(ch: &ClientHello<'_>, r: &mut Reasons) {
    let (mut h2, mut h3, mut h11, mut n) = (false, false, false, 0usize);
    let mut first_h2_then_h11 = false;
    for (i, p) in ch.alpn_protocols().enumerate() {
        n += 1;
        match p {
            b"h2" => {
                h2 = true;
                first_h2_then_h11 = i == 0;
            }
            b"http/1.1" => {
                h11 = true;
                first_h2_then_h11 &= i == 1;
            }
            // h3 and its drafts (h3-29, ...).
            _ if p.starts_with(b"h3") => h3 = true,
            _ => {}
        }
    }
    if n == 0 {
        r.insert(Reason::NoAlpn);
    } else if h2 && h11 && first_h2_then_h11 && n == 2 {
        r.insert(Reason::AlpnH2Http11);
    } else if h3 {
        r.insert(Reason::AlpnH3);
    } else if h11 && !h2 {
        r.insert(Reason::AlpnHttp11Only);
    } else if !h2 {
        r.insert(Reason::AlpnUnusual);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use virga_parsers::tls::parse_client_hello;

    /// A ClientHello handshake message with the given ciphers, extensions (type, data) and
    /// legacy version.
    fn hello(ciphers: &[u16], exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut body = vec![3, 3];
        body.extend_from_slice(&[7; 32]);
        body.push(0);
        body.extend_from_slice(&((ciphers.len() * 2) as u16).to_be_bytes());
        for c in ciphers {
            body.extend_from_slice(&c.to_be_bytes());
        }
        body.extend_from_slice(&[1, 0]);
        let mut block = Vec::new();
        for (t, d) in exts {
            block.extend_from_slice(&t.to_be_bytes());
            block.extend_from_slice(&(d.len() as u16).to_be_bytes());
            block.extend_from_slice(d);
        }
        body.extend_from_slice(&(block.len() as u16).to_be_bytes());
        body.extend_from_slice(&block);
        let mut m = vec![1, 0];
        m.extend_from_slice(&(body.len() as u16).to_be_bytes());
        m.extend_from_slice(&body);
        m
    }

    fn alpn(names: &[&str]) -> (u16, Vec<u8>) {
        let mut list = Vec::new();
        for n in names {
            list.push(n.len() as u8);
            list.extend_from_slice(n.as_bytes());
        }
        let mut d = (list.len() as u16).to_be_bytes().to_vec();
        d.extend_from_slice(&list);
        (16, d)
    }

    fn versions13() -> (u16, Vec<u8>) {
        (43, vec![4, 0x03, 0x04, 0x03, 0x03])
    }

    fn verdict(msg: &[u8], t: Transport) -> Classification<'static> {
        static EMPTY: std::sync::OnceLock<BrowserTable> = std::sync::OnceLock::new();
        let ch = parse_client_hello(msg).unwrap();
        classify(&ch, t, EMPTY.get_or_init(BrowserTable::empty))
    }

    const CHROME_CIPHERS: [u16; 16] = [
        0x5a5a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
        0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
    ];

    #[test]
    fn chromium_like_hello_is_a_browser_and_names_its_traits() {
        let m = hello(
            &CHROME_CIPHERS,
            &[
                (0x1a1a, vec![]),
                alpn(&["h2", "http/1.1"]),
                (27, vec![2, 0, 2]),
                (0x44cd, vec![0, 3, 2, b'h', b'2']),
                (0xfe0d, vec![0; 8]),
                versions13(),
            ],
        );
        let c = verdict(&m, Transport::Tcp);
        assert_eq!(c.class, ClientClass::Browser);
        let names: Vec<_> = c.reasons.names().collect();
        assert_eq!(
            names,
            [
                "grease",
                "compress_certificate",
                "alps",
                "ech",
                "alpn_h2_http11",
                "cipher_count_15_20"
            ]
        );
        assert_eq!(c.caveat(), Some(IMPERSONATION_CAVEAT));
        assert_eq!(c.known_as, None);
    }

    #[test]
    fn chromium_websocket_hello_with_http11_only_is_still_a_browser() {
        let m = hello(
            &CHROME_CIPHERS,
            &[
                (0x2a2a, vec![]),
                alpn(&["http/1.1"]),
                (27, vec![2, 0, 2]),
                versions13(),
            ],
        );
        let c = verdict(&m, Transport::Tcp);
        assert_eq!(c.class, ClientClass::Browser);
        assert!(c.reasons.contains(Reason::AlpnHttp11Only));
    }

    #[test]
    fn openssl_like_hellos_are_non_browsers() {
        let many: Vec<u16> = (0x0030..0x0030 + 31).collect();
        let m = hello(&many, &[alpn(&["h2", "http/1.1"]), versions13()]);
        let c = verdict(&m, Transport::Tcp);
        assert_eq!(c.class, ClientClass::NonBrowser);
        assert!(c.reasons.contains(Reason::ManyCiphers));
        assert_eq!(c.caveat(), None);

        let m = hello(&CHROME_CIPHERS[1..], &[(22, vec![]), versions13()]);
        let c = verdict(&m, Transport::Tcp);
        assert_eq!(c.class, ClientClass::NonBrowser);
        assert!(c.reasons.contains(Reason::EncryptThenMac) && c.reasons.contains(Reason::NoAlpn));
    }

    #[test]
    fn go_like_hello_without_browser_traits_is_a_non_browser() {
        let m = hello(
            &CHROME_CIPHERS[1..],
            &[alpn(&["h2", "http/1.1"]), versions13()],
        );
        let c = verdict(&m, Transport::Tcp);
        assert_eq!(c.class, ClientClass::NonBrowser);
        assert!(c.reasons.contains(Reason::NoBrowserTraits));
        assert!(c.reasons.contains(Reason::NoGrease));
    }

    #[test]
    fn firefox_like_hello_without_grease_is_a_browser() {
        let m = hello(
            &CHROME_CIPHERS[1..],
            &[
                alpn(&["h2", "http/1.1"]),
                (34, vec![0, 2, 4, 3]),
                (28, vec![0x40, 1]),
                versions13(),
            ],
        );
        let c = verdict(&m, Transport::Tcp);
        assert_eq!(c.class, ClientClass::Browser);
        assert!(c.reasons.contains(Reason::NoGrease));
    }

    #[test]
    fn single_browser_trait_is_unknown_unless_something_points_away() {
        let m = hello(&CHROME_CIPHERS, &[alpn(&["h2", "http/1.1"]), versions13()]);
        assert_eq!(verdict(&m, Transport::Tcp).class, ClientClass::Unknown);
        let m = hello(&CHROME_CIPHERS, &[versions13()]);
        assert_eq!(verdict(&m, Transport::Tcp).class, ClientClass::NonBrowser);
    }

    #[test]
    fn conflicting_traits_are_unknown() {
        let m = hello(
            &CHROME_CIPHERS,
            &[(27, vec![2, 0, 2]), (49, vec![]), versions13()],
        );
        let c = verdict(&m, Transport::Tcp);
        assert_eq!(c.class, ClientClass::Unknown);
        assert!(c.reasons.contains(Reason::ConflictingTraits));
    }

    #[test]
    fn quic_rules_ignore_the_small_cipher_list() {
        let m = hello(
            &[0x1301, 0x1302, 0x1303],
            &[
                alpn(&["h3"]),
                (27, vec![2, 0, 2]),
                (0x44cd, vec![]),
                (57, vec![]),
                versions13(),
            ],
        );
        let c = verdict(&m, Transport::Quic);
        assert_eq!(c.class, ClientClass::Browser);
        assert!(c.reasons.contains(Reason::AlpnH3) && !c.reasons.contains(Reason::FewCiphers));
        let m = hello(&[0x1301, 0x1302, 0x1303], &[alpn(&["h3"]), versions13()]);
        assert_eq!(verdict(&m, Transport::Quic).class, ClientClass::NonBrowser);
    }

    #[test]
    fn tls12_only_hello_is_a_non_browser() {
        let m = hello(&CHROME_CIPHERS[1..], &[alpn(&["h2", "http/1.1"])]);
        let c = verdict(&m, Transport::Tcp);
        assert_eq!(c.class, ClientClass::NonBrowser);
        assert!(c.reasons.contains(Reason::NoTls13));
    }

    #[test]
    fn table_hits_decide_and_are_named() {
        let table = BrowserTable::shipped().unwrap();
        let m = hello(&CHROME_CIPHERS, &[(27, vec![2, 0, 2]), versions13()]);
        let ch = parse_client_hello(&m).unwrap();
        let j = ja4(&ch, Transport::Tcp);
        let mut t = table.clone();
        t.insert(j.as_str(), ClientClass::NonBrowser, "test tool");
        let c = classify(&ch, Transport::Tcp, &t);
        assert_eq!(c, classify_with_ja4(&ch, Transport::Tcp, &j, &t));
        assert_eq!(c.class, ClientClass::NonBrowser);
        assert_eq!(c.known_as, Some("test tool"));
        assert!(c.reasons.contains(Reason::Ja4InNonBrowserTable));
        // Traits are still reported for the analyst.
        assert!(c.reasons.contains(Reason::Grease));
    }

    #[test]
    fn reasons_set_and_names() {
        let mut r = Reasons::default();
        assert!(r.is_empty());
        r.insert(Reason::PostQuantumKeyShare);
        r.insert(Reason::Ja4InBrowserTable);
        r.insert(Reason::PostQuantumKeyShare);
        assert_eq!(r.len(), 2);
        assert_eq!(
            r.names().collect::<Vec<_>>(),
            ["ja4_in_browser_table", "pq_key_share"]
        );
        let mut seen = std::collections::HashSet::new();
        for (i, x) in Reason::ALL.iter().enumerate() {
            assert_eq!(*x as usize, i);
            assert!(seen.insert(x.name()));
        }
        assert_eq!(Reason::Grease.leaning(), Leaning::Browser);
        assert_eq!(Reason::NoAlpn.leaning(), Leaning::NonBrowser);
        assert_eq!(Reason::NoGrease.leaning(), Leaning::Neutral);
        assert_eq!(ClientClass::NonBrowser.name(), "non_browser");
    }
}
