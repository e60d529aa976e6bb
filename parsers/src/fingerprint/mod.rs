//! TLS client fingerprints: JA3 (and JA3S) and JA4 (with `ja4_r`, `ja4_o`,
//! `ja4_ro`), computed from a parsed [`ClientHello`](crate::tls::ClientHello)
//! / [`ServerHello`](crate::tls::ServerHello).
//!
//! # Contract
//! - The input is the protocol-neutral hello view: TLS over TCP and QUIC
//!   both produce it with [`tls::parse_client_hello`](crate::tls::parse_client_hello);
//!   only the [`Transport`] character of JA4 differs.
//! - JA3 follows `specs/ja3.md` (Salesforce JA3, as Suricata and tshark
//!   compute it); JA4 follows `specs/ja4.md` (FoxIO JA4, BSD-3-Clause), with
//!   the project's ALPN rule (ja4plus 1.4.0) for non-alphanumeric ALPN bytes.
//! - Fixed-size results are inline values ([`Ja4`], [`Md5Hex`]); the long
//!   strings (JA3 string, `ja4_r`, `ja4_ro`) are written into a caller's
//!   [`core::fmt::Write`] (a reused `String`, or a hash sink). Hashes are
//!   streamed: nothing is joined in memory first.
//!
//! # Limits
//! Sorting for JA4 uses an inline buffer of [`SORT_INLINE_CAP`] values per
//! list. A hello with more cipher suites or extensions than that (none seen
//! in practice) makes one heap allocation, bounded by the hello size
//! (at most 32 K values under the 64 KiB message cap).
//!
//! JA4S and the rest of "JA4+" are under the FoxIO License 1.1
//! (non-commercial) and are deliberately not implemented; JA3S is the
//! Salesforce (BSD-3) method.

mod ja3;
mod ja4;

pub use ja3::{ja3, ja3_hash, ja3s};
pub use ja4::{ja4, ja4_o, ja4_r, ja4_ro, Ja4, Transport, SORT_INLINE_CAP};

use core::fmt;

/// An MD5 digest as 32 lower-case hex characters (JA3, JA3S), inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Md5Hex([u8; 32]);

impl Md5Hex {
    fn from_digest(d: &[u8]) -> Self {
        let mut out = [b'0'; 32];
        for (pair, byte) in out.chunks_exact_mut(2).zip(d) {
            pair.copy_from_slice(&hex_byte(*byte));
        }
        Md5Hex(out)
    }

    /// The 32 hex characters.
    pub fn as_str(&self) -> &str {
        // Always ASCII hex: built from HEX_DIGITS only.
        core::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for Md5Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Md5Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Md5Hex({})", self.as_str())
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

fn hex_byte(b: u8) -> [u8; 2] {
    [
        HEX_DIGITS[usize::from(b >> 4)],
        HEX_DIGITS[usize::from(b & 0x0f)],
    ]
}

/// A `fmt::Write` that feeds a digest (the strings are ASCII).
struct DigestWriter<D>(D);

impl<D: sha2::Digest> fmt::Write for DigestWriter<D> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.update(s.as_bytes());
        Ok(())
    }
}

/// A `fmt::Write` that writes to two writers.
struct Tee<'a, A, B>(&'a mut A, &'a mut B);

impl<A: fmt::Write, B: fmt::Write> fmt::Write for Tee<'_, A, B> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.write_str(s)?;
        self.1.write_str(s)
    }
}

/// A `fmt::Write` that drops everything.
struct Discard;

impl fmt::Write for Discard {
    fn write_str(&mut self, _: &str) -> fmt::Result {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md5::Digest;

    #[test]
    fn md5_hex_of_the_ja3_readme_example() {
        let s = "769,47-53-5-10-49161-49162-49171-49172-50-56-19-4,0-10-11,23-24-25,0";
        let h = Md5Hex::from_digest(&md5::Md5::digest(s.as_bytes()));
        assert_eq!(h.as_str(), "ada70206e40642a3e4461f35503241d5");
        assert_eq!(h.to_string(), h.as_str());
    }

    #[test]
    fn tee_writes_both() {
        use fmt::Write;
        let (mut a, mut b) = (String::new(), String::new());
        write!(Tee(&mut a, &mut b), "x{}", 1).unwrap();
        assert_eq!((a.as_str(), b.as_str()), ("x1", "x1"));
        assert!(write!(Discard, "y").is_ok());
    }
}
