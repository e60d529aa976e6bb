//! JA3 (client) and JA3S (server), per `specs/ja3.md`.
//!
//! `JA3 = md5("Version,Ciphers,Extensions,Groups,PointFormats")`: decimal
//! values in wire order joined by `-`, GREASE removed (never SCSVs), from
//! the legacy version of the handshake (not the record layer). Missing lists
//! are empty fields; the four commas are always there.
//! `JA3S = md5("Version,Cipher,Extensions")` from the ServerHello.

use core::fmt::{self, Write};

use md5::{Digest, Md5};

use super::{DigestWriter, Discard, Md5Hex, Tee};
use crate::tls::{is_grease, ClientHello, ServerHello};

/// Writes `values` in decimal joined by `-`, GREASE removed. Formats into a
/// stack buffer flushed every [`CHUNK`] values (one hash update per chunk
/// instead of two per value).
fn dash_list<W: Write>(out: &mut W, values: impl Iterator<Item = u16>) -> fmt::Result {
    const CHUNK: usize = 40;
    // Up to 5 digits and a separator per value.
    let mut buf = [0u8; CHUNK * 6];
    let mut n = 0;
    let mut count = 0usize;
    for v in values.filter(|&v| !is_grease(v)) {
        if count > 0 {
            buf[n] = b'-';
            n += 1;
        }
        n += write_decimal(&mut buf[n..n + 5], v);
        count += 1;
        if count.is_multiple_of(CHUNK) {
            flush(out, &buf[..n])?;
            n = 0;
        }
    }
    flush(out, &buf[..n])
}

fn flush<W: Write>(out: &mut W, ascii: &[u8]) -> fmt::Result {
    // Only ASCII digits and '-' are written; the error arm cannot happen.
    out.write_str(core::str::from_utf8(ascii).map_err(|_| fmt::Error)?)
}

/// Writes `v` in decimal at the start of `out` (5 bytes); returns the length.
fn write_decimal(out: &mut [u8], v: u16) -> usize {
    let mut digits = [0u8; 5];
    let mut i = digits.len();
    let mut v = v;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    let len = digits.len() - i;
    out[..len].copy_from_slice(&digits[i..]);
    len
}

fn ja3_string<W: Write>(ch: &ClientHello<'_>, out: &mut W) -> fmt::Result {
    write!(out, "{},", ch.legacy_version().0)?;
    dash_list(out, ch.cipher_suites())?;
    out.write_char(',')?;
    dash_list(out, ch.extension_types())?;
    out.write_char(',')?;
    dash_list(out, ch.supported_groups())?;
    out.write_char(',')?;
    // Point formats are single bytes and never GREASE.
    dash_list(out, ch.ec_point_formats().iter().map(|&b| u16::from(b)))
}

/// Writes the JA3 string of `ch` into `out` and returns its MD5 (the JA3
/// hash). Pass a reused `String` to keep the string for EVE `tls.ja3.string`.
///
/// # Errors
/// Only the errors of `out`.
pub fn ja3<W: Write>(ch: &ClientHello<'_>, out: &mut W) -> Result<Md5Hex, fmt::Error> {
    let mut hasher = DigestWriter(Md5::new());
    ja3_string(ch, &mut Tee(out, &mut hasher))?;
    Ok(Md5Hex::from_digest(&hasher.0.finalize()))
}

/// The JA3 hash alone (the string is streamed into MD5, never stored).
pub fn ja3_hash(ch: &ClientHello<'_>) -> Md5Hex {
    let mut hasher = DigestWriter(Md5::new());
    // Writing into a digest and Discard cannot fail.
    let _ = ja3_string(ch, &mut Tee(&mut Discard, &mut hasher));
    Md5Hex::from_digest(&hasher.0.finalize())
}

/// Writes the JA3S string of `sh` (`Version,Cipher,Extensions`, GREASE
/// removed from the extensions) into `out` and returns its MD5.
///
/// # Errors
/// Only the errors of `out`.
pub fn ja3s<W: Write>(sh: &ServerHello<'_>, out: &mut W) -> Result<Md5Hex, fmt::Error> {
    let mut hasher = DigestWriter(Md5::new());
    {
        let mut w = Tee(out, &mut hasher);
        write!(w, "{},{},", sh.legacy_version().0, sh.cipher_suite())?;
        dash_list(&mut w, sh.extension_types())?;
    }
    Ok(Md5Hex::from_digest(&hasher.0.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::{parse_client_hello, parse_server_hello};

    const CURL: &[u8] = include_bytes!("../../tests/fixtures/tls/tls_curl_client_hello.bin");

    #[test]
    fn decimal_lists() {
        let mut s = String::new();
        dash_list(&mut s, [0u16, 9, 10, 65535, 0x0a0a, 4588].into_iter()).unwrap();
        assert_eq!(s, "0-9-10-65535-4588");
        let mut s = String::new();
        dash_list(&mut s, 0..100u16).unwrap();
        let expected: Vec<String> = (0..100).map(|v| v.to_string()).collect();
        assert_eq!(s, expected.join("-"));
    }

    #[test]
    fn curl_ja3_matches_the_spec_example() {
        let ch = parse_client_hello(CURL).unwrap();
        let mut s = String::new();
        let h = ja3(&ch, &mut s).unwrap();
        assert_eq!(
            s,
            "771,4866-4867-4865-49196-49200-159-52393-52392-52394-49195-49199-158-49188-49192-107-49187-49191-103-49162-49172-57-49161-49171-51-157-156-61-60-53-47-255,0-11-10-16-22-23-49-13-43-45-51-21,29-23-30-25-24-256-257-258-259-260,0-1-2"
        );
        assert_eq!(h.as_str(), "0149f47eabf9a20d0893e2a44e5a6323");
        assert_eq!(ja3_hash(&ch), h);
    }

    #[test]
    fn hello_without_extensions_keeps_all_commas() {
        // The JA3 spec's no-extension example: TLS 1.0, 12 ciphers.
        let ciphers: [u16; 12] = [47, 53, 5, 10, 49161, 49162, 49171, 49172, 50, 56, 19, 4];
        let mut body = vec![3, 1];
        body.extend_from_slice(&[0; 32]);
        body.push(0);
        body.extend_from_slice(&24u16.to_be_bytes());
        for c in ciphers {
            body.extend_from_slice(&c.to_be_bytes());
        }
        body.extend_from_slice(&[1, 0]);
        let mut m = vec![1, 0, 0, body.len() as u8];
        m.extend_from_slice(&body);
        let ch = parse_client_hello(&m).unwrap();
        let mut s = String::new();
        let h = ja3(&ch, &mut s).unwrap();
        assert_eq!(s, "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,,,");
        assert_eq!(h.as_str(), "cd6a88daab3bd9ba3e136ed0620bed85");
    }

    #[test]
    fn ja3s_of_a_hello_retry_request() {
        let Some(hrr) = crate::public_payloads::handshake_message("zeek/hrr.pcap", 6) else {
            return;
        };
        let hrr = hrr.as_slice();
        // Same values as tshark's ja3s for Zeek's hrr.pcap frame 6.
        let sh = parse_server_hello(hrr).unwrap();
        let mut s = String::new();
        let h = ja3s(&sh, &mut s).unwrap();
        assert_eq!(s, "771,4866,43-51");
        assert_eq!(h.as_str(), "15af977ce25de452b96affa2addb1036");
    }
}
