//! QUIC long headers and passive decryption of client Initial packets, up to
//! the TLS ClientHello: QUIC v1 (RFC 9000/9001), v2 (RFC 9369) and the
//! drafts 23 to 34 still seen in old captures.
//!
//! A client Initial is protected with keys derived only from public values (a
//! salt fixed per version and the Destination Connection ID of the client's
//! first Initial), so a passive sensor can remove the protection and read the
//! CRYPTO frames that carry the ClientHello.
//!
//! # Pipeline, per UDP datagram from the client
//! 1. [`packets`] walks the coalesced long-header packets of a datagram
//!    ([`parse_long_header`] parses one), stopping at padding or a short header.
//! 2. [`client_initial_keys`] derives the keys from the version and the
//!    client's original DCID (the expensive step: five HMAC-SHA256 runs and two
//!    AES key schedules; do it once per connection).
//! 3. [`decrypt_initial`] removes header protection and AES-128-GCM protection,
//!    in a buffer the caller owns, and returns the plaintext frames.
//! 4. [`frames`] iterates the frames allowed in an Initial; a
//!    [`CryptoAssembler`] joins CRYPTO data that arrives split, shuffled,
//!    duplicated or spread over several packets, and
//!    [`CryptoAssembler::client_hello`] returns the handshake message
//!    (`01 | len24 | body`, no TLS record header) once complete.
//!
//! [`ClientInitials`] does steps 1 to 4 for one connection, including the
//! re-keying after a Retry; [`client_hello_from_initial`] is the one-datagram
//! shortcut.
//!
//! # Contract and limits
//! - Never panics, no `unsafe`; every loop is bounded by the input length or by
//!   a documented constant.
//! - No allocation per packet: decryption writes into the caller's buffer; a
//!   [`CryptoAssembler`] allocates its buffer once, at construction, at most
//!   [`CryptoAssembler::MAX_CAPACITY`] bytes.
//! - A datagram is complete by nature: header fields that point past its end
//!   give [`ParseError::Truncated`] (snaplen cut), not `Incomplete`.
//!   `Incomplete` is used only by the assembler (more CRYPTO data may come).
//! - A failed AEAD tag check gives `Invalid { what: DECRYPTION_FAILED }`: the
//!   packet is a server Initial, uses other keys, or is garbage. It is routine,
//!   not an anomaly worth logging per packet.
//! - This module does not parse the ClientHello itself (see `tls`).
//!
//! [`ParseError::Truncated`]: crate::ParseError::Truncated

mod assembler;
mod crypto;
mod frames;
mod header;
mod initial;

pub use assembler::CryptoAssembler;
pub use crypto::{
    client_initial_keys, decrypt_initial, decrypt_initial_with_largest_pn, server_initial_keys,
    DecryptedInitial, InitialKeys,
};
pub use frames::{frames, Frame, Frames};
pub use header::{
    packets, parse_invariant_header, parse_long_header, InvariantHeader, LongHeader, LongPacket,
    PacketType, Packets, QuicVersion, MAX_CID_LEN,
};
pub use initial::{client_hello_from_initial, ClientInitials, DatagramReport};

/// `what` of the [`crate::ParseError::Invalid`] returned when the AEAD tag of
/// an Initial does not verify with the given keys.
pub const DECRYPTION_FAILED: &str = "initial_decryption_failed";

/// Largest value a QUIC variable-length integer can hold (2^62 - 1).
pub const MAX_VARINT: u64 = (1 << 62) - 1;

use crate::{Layer, ParseError};

const TRUNCATED: ParseError = ParseError::Truncated { layer: Layer::Quic };

const fn invalid(what: &'static str) -> ParseError {
    ParseError::Invalid {
        layer: Layer::Quic,
        what,
    }
}

const fn unsupported(what: &'static str) -> ParseError {
    ParseError::Unsupported {
        layer: Layer::Quic,
        what,
    }
}

/// Reads one QUIC variable-length integer (RFC 9000 §16) at `*pos`, advancing
/// it. `None` when the bytes run out.
fn read_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let first = *buf.get(*pos)?;
    let len = 1usize << (first >> 6);
    let bytes = buf.get(*pos..pos.checked_add(len)?)?;
    let mut v = u64::from(first & 0x3f);
    for b in bytes.iter().skip(1) {
        v = (v << 8) | u64::from(*b);
    }
    *pos += len;
    Some(v)
}

/// Takes one byte at `*pos`, advancing it.
fn take_u8(buf: &[u8], pos: &mut usize) -> Option<u8> {
    let b = *buf.get(*pos)?;
    *pos += 1;
    Some(b)
}

/// Takes `n` bytes at `*pos`, advancing it. `None` when the bytes run out.
fn take<'a>(buf: &'a [u8], pos: &mut usize, n: usize) -> Option<&'a [u8]> {
    let s = buf.get(*pos..pos.checked_add(n)?)?;
    *pos += n;
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_rfc9000_a1_examples() {
        // RFC 9000 Appendix A.1 sample encodings.
        let cases: [(&[u8], u64); 4] = [
            (
                &[0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c],
                151_288_809_941_952_652,
            ),
            (&[0x9d, 0x7f, 0x3e, 0x7d], 494_878_333),
            (&[0x7b, 0xbd], 15_293),
            (&[0x25], 37),
        ];
        for (bytes, want) in cases {
            let mut pos = 0;
            assert_eq!(read_varint(bytes, &mut pos), Some(want));
            assert_eq!(pos, bytes.len());
        }
        // Two-byte encoding of 37 (RFC 9000 A.1).
        let mut pos = 0;
        assert_eq!(read_varint(&[0x40, 0x25], &mut pos), Some(37));
        // Cut short.
        let mut pos = 0;
        assert_eq!(read_varint(&[0x9d, 0x7f, 0x3e], &mut pos), None);
        assert_eq!(pos, 0);
        assert_eq!(read_varint(&[], &mut pos), None);
        let mut pos = usize::MAX;
        assert_eq!(read_varint(&[0], &mut pos), None);
    }

    #[test]
    fn take_bounds() {
        let mut pos = 1;
        assert_eq!(take(&[1, 2, 3], &mut pos, 2), Some(&[2u8, 3][..]));
        assert_eq!(take(&[1, 2, 3], &mut pos, 1), None);
        let mut pos = 1;
        assert_eq!(take(&[1, 2, 3], &mut pos, usize::MAX), None);
    }
}
