//! JA4 (FoxIO, BSD-3-Clause) per `specs/ja4.md`: `a_b_c`, 36 characters.
//!
//! - `a` (10 chars): transport (`t`/`q`/`d`), version (highest non-GREASE
//!   supported_versions entry, else legacy_version), `d`/`i` (SNI extension
//!   present or not), 2-digit counts of non-GREASE cipher suites and
//!   extensions (capped at 99), 2 ALPN characters.
//! - `b`: first 12 hex chars of sha256 of the sorted cipher suites as 4-hex
//!   joined by `,`; `000000000000` when there are none.
//! - `c`: same over the sorted extension types without SNI (0) and ALPN (16),
//!   then `_` and the signature algorithms (extension 13, wire order) if
//!   any; `000000000000` when the sorted extension list is empty.
//! - `ja4_r` is the same with the lists in clear; `ja4_o`/`ja4_ro` keep wire
//!   order and keep SNI and ALPN in the extension list.

use core::fmt::{self, Write};

use sha2::{Digest, Sha256};

use super::DigestWriter;
use crate::tls::{is_grease, ClientHello, ExtensionType};

/// Values per list sorted inline, without allocating (see the module docs).
pub const SORT_INLINE_CAP: usize = 128;

/// The transport a ClientHello was carried on: the first JA4 character.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// TLS over TCP: `t`.
    Tcp,
    /// QUIC: `q`.
    Quic,
    /// DTLS: `d`.
    Dtls,
}

impl Transport {
    /// The JA4 character.
    pub const fn ja4_char(self) -> u8 {
        match self {
            Transport::Tcp => b't',
            Transport::Quic => b'q',
            Transport::Dtls => b'd',
        }
    }
}

/// A JA4 fingerprint (or `ja4_o`): 36 ASCII characters, inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ja4([u8; 36]);

impl Ja4 {
    /// The fingerprint, e.g. `t13d1516h2_8daaf6152771_d8a2da3f94cd`.
    pub fn as_str(&self) -> &str {
        // Always ASCII: built from digits, hex, '_' and printable ALPN bytes.
        core::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// Part `a` (10 characters).
    pub fn a(&self) -> &str {
        self.as_str().get(..10).unwrap_or_default()
    }

    /// Part `b` (12 hex characters).
    pub fn b(&self) -> &str {
        self.as_str().get(11..23).unwrap_or_default()
    }

    /// Part `c` (12 hex characters).
    pub fn c(&self) -> &str {
        self.as_str().get(24..).unwrap_or_default()
    }
}

impl fmt::Display for Ja4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Ja4 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ja4({})", self.as_str())
    }
}

/// A list of `u16` kept inline up to [`SORT_INLINE_CAP`] values.
// The large inline variant is the point: no heap for ordinary hellos; a
// `List` only lives on the stack for the duration of one fingerprint call.
#[allow(clippy::large_enum_variant)]
enum List {
    Inline([u16; SORT_INLINE_CAP], usize),
    Heap(Vec<u16>),
}

impl List {
    fn collect(mut iter: impl Iterator<Item = u16>) -> List {
        let mut buf = [0u16; SORT_INLINE_CAP];
        let mut n = 0;
        while let Some(v) = iter.next() {
            match buf.get_mut(n) {
                Some(slot) => *slot = v,
                None => {
                    // Rare: more than SORT_INLINE_CAP values. Bounded by the
                    // hello's size.
                    let mut heap = buf.to_vec();
                    heap.push(v);
                    heap.extend(iter);
                    return List::Heap(heap);
                }
            }
            n += 1;
        }
        List::Inline(buf, n)
    }

    fn as_slice(&self) -> &[u16] {
        match self {
            List::Inline(buf, n) => buf.get(..*n).unwrap_or_default(),
            List::Heap(v) => v,
        }
    }

    fn sorted(mut self) -> List {
        match &mut self {
            List::Inline(buf, n) => {
                if let Some(s) = buf.get_mut(..*n) {
                    s.sort_unstable();
                }
            }
            List::Heap(v) => v.sort_unstable(),
        }
        self
    }
}

/// Writes `values` as 4 lower-case hex digits joined by `,`. Formats into a
/// stack buffer and writes it in chunks: one `write_str` (one hash update)
/// per 50 values instead of two per value.
fn hex_list<W: Write>(out: &mut W, values: &[u16]) -> fmt::Result {
    const PER_CHUNK: usize = 50;
    let mut buf = [0u8; PER_CHUNK * 5];
    for (chunk_no, chunk) in values.chunks(PER_CHUNK).enumerate() {
        let mut n = 0;
        for (i, &v) in chunk.iter().enumerate() {
            if chunk_no > 0 || i > 0 {
                buf[n] = b',';
                n += 1;
            }
            let [hi, lo] = v.to_be_bytes();
            buf[n..n + 2].copy_from_slice(&super::hex_byte(hi));
            buf[n + 2..n + 4].copy_from_slice(&super::hex_byte(lo));
            n += 4;
        }
        // Only ASCII was written; the error arm cannot happen.
        out.write_str(core::str::from_utf8(&buf[..n]).map_err(|_| fmt::Error)?)?;
    }
    Ok(())
}

/// The lists JA4 is built from, GREASE removed.
struct Parts {
    a: [u8; 10],
    ciphers: List,
    exts: List,
    sigalgs: List,
}

fn is_sni_or_alpn(t: u16) -> bool {
    t == ExtensionType::SERVER_NAME.0 || t == ExtensionType::ALPN.0
}

impl Parts {
    /// `original`: wire order with SNI/ALPN kept (`ja4_o`); otherwise sorted
    /// without SNI/ALPN (`ja4`).
    fn new(ch: &ClientHello<'_>, transport: Transport, original: bool) -> Parts {
        let ciphers = List::collect(ch.cipher_suites().filter(|&v| !is_grease(v)));
        let exts = ch.extension_types().filter(|&v| !is_grease(v));
        let exts = if original {
            List::collect(exts)
        } else {
            List::collect(exts.filter(|&t| !is_sni_or_alpn(t))).sorted()
        };
        let ciphers = if original { ciphers } else { ciphers.sorted() };
        let sigalgs = List::collect(ch.signature_algorithms().filter(|&v| !is_grease(v)));
        Parts {
            a: part_a(ch, transport),
            ciphers,
            exts,
            sigalgs,
        }
    }

    /// True when the extension list without SNI/ALPN is empty (c = zeros).
    fn no_hashed_exts(&self) -> bool {
        self.exts.as_slice().iter().all(|&t| is_sni_or_alpn(t))
    }

    fn write_c_input<W: Write>(&self, out: &mut W) -> fmt::Result {
        hex_list(out, self.exts.as_slice())?;
        if !self.sigalgs.as_slice().is_empty() {
            out.write_char('_')?;
            hex_list(out, self.sigalgs.as_slice())?;
        }
        Ok(())
    }

    fn hashed(&self) -> Ja4 {
        let mut out = [b'_'; 36];
        out[..10].copy_from_slice(&self.a);
        let b = if self.ciphers.as_slice().is_empty() {
            *b"000000000000"
        } else {
            let mut h = DigestWriter(Sha256::new());
            // Writing into a digest cannot fail.
            let _ = hex_list(&mut h, self.ciphers.as_slice());
            truncated_sha256(h.0)
        };
        let c = if self.no_hashed_exts() {
            *b"000000000000"
        } else {
            let mut h = DigestWriter(Sha256::new());
            let _ = self.write_c_input(&mut h);
            truncated_sha256(h.0)
        };
        out[11..23].copy_from_slice(&b);
        out[24..36].copy_from_slice(&c);
        Ja4(out)
    }

    fn raw<W: Write>(&self, out: &mut W) -> fmt::Result {
        for &ch in &self.a {
            out.write_char(char::from(ch))?;
        }
        out.write_char('_')?;
        hex_list(out, self.ciphers.as_slice())?;
        out.write_char('_')?;
        self.write_c_input(out)
    }
}

fn truncated_sha256(h: Sha256) -> [u8; 12] {
    let digest = h.finalize();
    let mut out = [b'0'; 12];
    for (pair, byte) in out.chunks_exact_mut(2).zip(digest.iter()) {
        pair.copy_from_slice(&super::hex_byte(*byte));
    }
    out
}

/// The two version characters.
fn version_chars(v: u16) -> [u8; 2] {
    match v {
        0x0304 => *b"13",
        0x0303 => *b"12",
        0x0302 => *b"11",
        0x0301 => *b"10",
        0x0300 => *b"s3",
        0x0002 => *b"s2",
        0xfeff => *b"d1",
        0xfefd => *b"d2",
        0xfefc => *b"d3",
        _ => *b"00",
    }
}

/// The two ALPN characters from the first ALPN protocol (project rule =
/// ja4plus 1.4.0): `00` when absent or empty; `99` when the first or last
/// byte is a control byte; otherwise first and last byte, each written as
/// itself when printable ASCII and as `9` when `>= 0x80`.
fn alpn_chars(first: Option<&[u8]>) -> [u8; 2] {
    let is_ctrl = |b: u8| b < 0x20 || b == 0x7f;
    let map = |b: u8| if b < 0x80 { b } else { b'9' };
    match (first.and_then(<[u8]>::first), first.and_then(<[u8]>::last)) {
        (Some(&f), Some(&l)) if is_ctrl(f) || is_ctrl(l) => *b"99",
        (Some(&f), Some(&l)) => [map(f), map(l)],
        _ => *b"00",
    }
}

fn two_digits(n: usize) -> [u8; 2] {
    let n = n.min(99);
    // n <= 99, so both digits are 0..=9.
    [b'0' + (n / 10) as u8, b'0' + (n % 10) as u8]
}

fn part_a(ch: &ClientHello<'_>, transport: Transport) -> [u8; 10] {
    let version = version_chars(ch.max_version().0);
    let sni = if ch.has_extension(ExtensionType::SERVER_NAME) {
        b'd'
    } else {
        b'i'
    };
    let ciphers = two_digits(ch.cipher_suites().filter(|&v| !is_grease(v)).count());
    let exts = two_digits(ch.extension_types().filter(|&v| !is_grease(v)).count());
    let alpn = alpn_chars(ch.alpn_protocols().next());
    [
        transport.ja4_char(),
        version[0],
        version[1],
        sni,
        ciphers[0],
        ciphers[1],
        exts[0],
        exts[1],
        alpn[0],
        alpn[1],
    ]
}

/// The JA4 fingerprint of `ch` carried on `transport`.
pub fn ja4(ch: &ClientHello<'_>, transport: Transport) -> Ja4 {
    Parts::new(ch, transport, false).hashed()
}

/// `ja4_o`: JA4 with cipher suites and extensions in wire order and SNI and
/// ALPN kept in the extension list.
pub fn ja4_o(ch: &ClientHello<'_>, transport: Transport) -> Ja4 {
    Parts::new(ch, transport, true).hashed()
}

/// Writes `ja4_r` (JA4 with the sorted lists in clear) into `out`.
///
/// # Errors
/// Only the errors of `out`.
pub fn ja4_r<W: Write>(ch: &ClientHello<'_>, transport: Transport, out: &mut W) -> fmt::Result {
    Parts::new(ch, transport, false).raw(out)
}

/// Writes `ja4_ro` (wire order, SNI and ALPN kept, in clear) into `out`.
///
/// # Errors
/// Only the errors of `out`.
pub fn ja4_ro<W: Write>(ch: &ClientHello<'_>, transport: Transport, out: &mut W) -> fmt::Result {
    Parts::new(ch, transport, true).raw(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::parse_client_hello;

    const CURL: &[u8] = include_bytes!("../../tests/fixtures/tls/tls_curl_client_hello.bin");

    /// Builds a ClientHello from lists (spec worked examples).
    fn hello(ciphers: &[u16], exts: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut b = vec![3, 3];
        b.extend_from_slice(&[0; 32]);
        b.push(0);
        b.extend_from_slice(&((ciphers.len() * 2) as u16).to_be_bytes());
        for c in ciphers {
            b.extend_from_slice(&c.to_be_bytes());
        }
        b.extend_from_slice(&[1, 0]);
        let mut block = vec![];
        for (t, d) in exts {
            block.extend_from_slice(&t.to_be_bytes());
            block.extend_from_slice(&(d.len() as u16).to_be_bytes());
            block.extend_from_slice(d);
        }
        b.extend_from_slice(&(block.len() as u16).to_be_bytes());
        b.extend_from_slice(&block);
        let mut m = vec![1, 0, (b.len() >> 8) as u8, b.len() as u8];
        m.extend_from_slice(&b);
        m
    }

    fn u16_vec16(values: &[u16]) -> Vec<u8> {
        let mut d = ((values.len() * 2) as u16).to_be_bytes().to_vec();
        for v in values {
            d.extend_from_slice(&v.to_be_bytes());
        }
        d
    }

    fn alpn_ext(names: &[&[u8]]) -> Vec<u8> {
        let mut list = vec![];
        for n in names {
            list.push(n.len() as u8);
            list.extend_from_slice(n);
        }
        let mut d = (list.len() as u16).to_be_bytes().to_vec();
        d.extend_from_slice(&list);
        d
    }

    /// §5.1: the FoxIO document's example (Chrome, 15 ciphers, 16 extensions).
    fn foxio_example(sigalgs: bool) -> Vec<u8> {
        let ciphers = [
            0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014,
            0x009c, 0x009d, 0x002f, 0x0035,
        ];
        let types = [
            0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012,
            0x002b, 0xff01, 0x000b, 0x000a, 0x0015,
        ];
        let sig = [
            0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
        ];
        let exts: Vec<(u16, Vec<u8>)> = types
            .iter()
            .map(|&t| {
                let data = match t {
                    0x000d if sigalgs => u16_vec16(&sig),
                    0x000d => u16_vec16(&[]),
                    0x0010 => alpn_ext(&[b"h2", b"http/1.1"]),
                    0x002b => vec![2, 3, 4],
                    0x000a => u16_vec16(&[29]),
                    0x000b => vec![1, 0],
                    0x0033 => vec![0, 0],
                    _ => vec![],
                };
                (t, data)
            })
            .collect();
        hello(&ciphers, &exts)
    }

    #[test]
    fn foxio_document_example() {
        let m = foxio_example(true);
        let ch = parse_client_hello(&m).unwrap();
        let j = ja4(&ch, Transport::Tcp);
        assert_eq!(j.as_str(), "t13d1516h2_8daaf6152771_e5627efa2ab1");
        assert_eq!(
            (j.a(), j.b(), j.c()),
            ("t13d1516h2", "8daaf6152771", "e5627efa2ab1")
        );
        assert_eq!(
            ja4_o(&ch, Transport::Tcp).as_str(),
            "t13d1516h2_acb858a92679_18f69afefd3d"
        );
        let mut r = String::new();
        ja4_r(&ch, Transport::Tcp, &mut r).unwrap();
        assert_eq!(
            r,
            "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601"
        );
        // Same extensions without signature algorithms: no trailing '_'.
        let m = foxio_example(false);
        let ch = parse_client_hello(&m).unwrap();
        assert_eq!(ja4(&ch, Transport::Tcp).c(), "6d807ffa2a79");
    }

    #[test]
    fn curl_spec_example_and_transport_char() {
        let ch = parse_client_hello(CURL).unwrap();
        assert_eq!(
            ja4(&ch, Transport::Tcp).as_str(),
            "t13d3112h2_e8f1e7e78f70_b26ce05bbdd6"
        );
        assert_eq!(
            ja4_o(&ch, Transport::Tcp).to_string(),
            "t13d3112h2_d7c3e2abb617_cad92ccb4254"
        );
        assert_eq!(ja4(&ch, Transport::Quic).a(), "q13d3112h2");
        assert_eq!(ja4(&ch, Transport::Dtls).a(), "d13d3112h2");
    }

    #[test]
    fn empty_lists_give_zero_hashes() {
        // No ciphers, only SNI + ALPN: b and c are zeros; ja4_ro still prints
        // the SNI/ALPN types.
        let m = hello(&[], &[(0, vec![]), (16, alpn_ext(&[b"h2"]))]);
        let ch = parse_client_hello(&m).unwrap();
        assert_eq!(
            ja4(&ch, Transport::Tcp).as_str(),
            "t12d0002h2_000000000000_000000000000"
        );
        assert_eq!(
            ja4_o(&ch, Transport::Tcp).as_str(),
            "t12d0002h2_000000000000_000000000000"
        );
        let mut ro = String::new();
        ja4_ro(&ch, Transport::Tcp, &mut ro).unwrap();
        assert_eq!(ro, "t12d0002h2__0000,0010");
        let mut r = String::new();
        ja4_r(&ch, Transport::Tcp, &mut r).unwrap();
        assert_eq!(r, "t12d0002h2__");
    }

    #[test]
    fn grease_is_ignored_and_counts_cap_at_99() {
        let ciphers: Vec<u16> = (1..=120).chain([0x0a0a, 0xfafa]).collect();
        let exts = vec![(0x1a1a, vec![]), (0x0017, vec![]), (0x2a2a, vec![0])];
        let m = hello(&ciphers, &exts);
        let ch = parse_client_hello(&m).unwrap();
        let j = ja4(&ch, Transport::Tcp);
        assert_eq!(j.a(), "t12i990100");
        // 120 ciphers fit the inline buffer; 200 take the heap path and give
        // the same result as sorting by hand.
        let many: Vec<u16> = (1..=200).rev().collect();
        let m = hello(&many, &[]);
        let ch = parse_client_hello(&m).unwrap();
        let mut r = String::new();
        ja4_r(&ch, Transport::Tcp, &mut r).unwrap();
        let expected: Vec<String> = (1..=200u16).map(|v| format!("{v:04x}")).collect();
        assert_eq!(r, format!("t12i990000_{}_", expected.join(",")));
    }

    #[test]
    fn alpn_character_rules() {
        assert_eq!(alpn_chars(None), *b"00");
        assert_eq!(alpn_chars(Some(b"")), *b"00");
        assert_eq!(alpn_chars(Some(b"h2")), *b"h2");
        assert_eq!(alpn_chars(Some(b"http/1.1")), *b"h1");
        assert_eq!(alpn_chars(Some(b"dot")), *b"dt");
        assert_eq!(alpn_chars(Some(b"x")), *b"xx");
        assert_eq!(alpn_chars(Some(&[0xba, 0xad])), *b"99");
        assert_eq!(alpn_chars(Some(b"http/1.1 ")), *b"h ");
        assert_eq!(alpn_chars(Some(&[b'h', 0x7f])), *b"99");
        assert_eq!(alpn_chars(Some(&[0x01])), *b"99");
        assert_eq!(alpn_chars(Some(&[b'a', 0xff])), *b"a9");
    }

    #[test]
    fn version_characters() {
        assert_eq!(version_chars(0x0300), *b"s3");
        assert_eq!(version_chars(0x0002), *b"s2");
        assert_eq!(version_chars(0xfefd), *b"d2");
        assert_eq!(version_chars(0x7f1c), *b"00");
        assert_eq!(two_digits(7), *b"07");
        assert_eq!(two_digits(1000), *b"99");
    }
}
