//! The TLS record layer at the start of a stream: find the first handshake
//! message, joining records when it spans several.
//!
//! # Contract
//! - Input: the first bytes of one direction of a TCP connection, contiguous
//!   and in order (the caller reassembles TCP), possibly partial. The stream
//!   must start at a record boundary, i.e. at byte 0 of the connection.
//! - While the bytes are a valid prefix, the answer is
//!   `Incomplete { needed }`, where `needed` is a lower bound of the bytes
//!   still missing (exact when the message ends inside the current record).
//!   A caller may wait for that many more bytes before calling again.
//! - Bytes that are not a TLS handshake record are `Invalid` as soon as the
//!   first differing byte is present: content type other than 22, a version
//!   other than 3.0–3.4, an empty or oversized record, or a non-handshake
//!   record in the middle of a message.
//! - Zero-copy when the message sits in the first record; otherwise it is
//!   copied once into the caller's buffer, after every piece is present (an
//!   `Incomplete` answer copies nothing).
//!
//! # Limits
//! - [`MAX_HANDSHAKE_LEN`]: a longer handshake message is `Unsupported`.
//! - [`MAX_RECORD_LEN`]: a longer record is `Invalid`.
//! - Work per call is linear in the bytes inspected, which are at most
//!   `MAX_HANDSHAKE_LEN` plus 5 bytes of header per record.

use super::{HandshakeType, HANDSHAKE_HEADER_LEN};
use crate::error::{Layer, ParseError};

/// Length of a TLS record header: type, version (2), length (2).
pub const RECORD_HEADER_LEN: usize = 5;

/// The largest record accepted: 2^14 bytes of plaintext plus 256, as
/// tls-parser's `MAX_RECORD_LEN` (RFC 8446 §5.2 allows 2^14 for plaintext).
pub const MAX_RECORD_LEN: usize = tls_parser::MAX_RECORD_LEN as usize;

/// The largest handshake message joined or accepted, 4-byte header included:
/// 64 KiB. Real ClientHellos are 0.2–2 KB, rarely up to ~12 KB.
pub const MAX_HANDSHAKE_LEN: usize = 64 * 1024;

/// TLS record content type `handshake`.
pub const CONTENT_TYPE_HANDSHAKE: u8 = 22;

/// True when `stream` starts like a TLS handshake record: `16 03 00..=04`.
/// Needs 3 bytes; fewer gives `false`.
pub fn probe(stream: &[u8]) -> bool {
    matches!(stream, [CONTENT_TYPE_HANDSHAKE, 3, 0..=4, ..])
}

/// True when `stream` starts with an SSLv2-format ClientHello (the 2-byte
/// header form, as sent by old clients for SSLv2/SSLv3/TLS compatibility):
/// high bit set, message type 1, version 0x0002 or 0x0300–0x0304. Needs 5
/// bytes. Such hellos are detected only; see [`first_handshake_message`].
pub fn is_sslv2_client_hello(stream: &[u8]) -> bool {
    match stream {
        [b0, b1, 1, major, minor, ..] if b0 & 0x80 != 0 => {
            let len = usize::from(b0 & 0x7f) << 8 | usize::from(*b1);
            // type(1) + version(2) + three 2-byte lengths.
            len >= 9 && matches!((major, minor), (0, 2) | (3, 0..=4))
        }
        _ => false,
    }
}

/// The first handshake message of a stream and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeMessage<'a> {
    /// The message: type, 3-byte length, body. Exactly `4 + length` bytes.
    pub message: &'a [u8],
    /// Number of TLS records the message spans (1 in the common case).
    pub records: usize,
    /// Stream offset just past the last record holding bytes of the message.
    /// It may exceed the bytes given when that record is not complete yet,
    /// and other handshake messages may follow the message in that record.
    pub records_end: usize,
    /// True when the bytes were copied into the caller's buffer.
    pub copied: bool,
}

impl HandshakeMessage<'_> {
    /// The handshake type (first byte of the message).
    pub fn handshake_type(&self) -> HandshakeType {
        HandshakeType(self.message.first().copied().unwrap_or_default())
    }
}

fn incomplete(needed: usize) -> ParseError {
    ParseError::Incomplete {
        layer: Layer::Tls,
        needed,
    }
}

fn invalid(what: &'static str) -> ParseError {
    super::invalid(what)
}

/// Checks a (possibly partial) record header; `first` tells whether it is
/// the first record of the message.
fn check_header(hdr: &[u8], first: bool) -> Result<(), ParseError> {
    if let Some(&t) = hdr.first() {
        if t != CONTENT_TYPE_HANDSHAKE {
            return Err(invalid(if first {
                "not_handshake_record"
            } else {
                "interleaved_record"
            }));
        }
    }
    if hdr.get(1).is_some_and(|&major| major != 3) || hdr.get(2).is_some_and(|&minor| minor > 4) {
        return Err(invalid("record_version"));
    }
    Ok(())
}

/// Finds the first handshake message in the first bytes of a stream.
///
/// `scratch` is used only when the message spans several records: it is
/// cleared and receives the joined message (at most [`MAX_HANDSHAKE_LEN`]
/// bytes, reserved once). Reuse one buffer per connection or per worker.
///
/// # Errors
/// - `Incomplete { needed }`: a valid prefix; `needed` is a lower bound.
/// - `Invalid`: not a TLS handshake stream (see the module docs).
/// - `Unsupported { what: "sslv2_client_hello" }` for an SSLv2-format hello;
///   `Unsupported { what: "handshake_too_long" }` past [`MAX_HANDSHAKE_LEN`].
pub fn first_handshake_message<'a>(
    stream: &'a [u8],
    scratch: &'a mut Vec<u8>,
) -> Result<HandshakeMessage<'a>, ParseError> {
    if is_sslv2_client_hello(stream) {
        return Err(ParseError::Unsupported {
            layer: Layer::Tls,
            what: "sslv2_client_hello",
        });
    }
    let span = locate(stream)?;
    let first_body = stream.get(RECORD_HEADER_LEN..).unwrap_or_default();
    if span.records == 1 {
        // The whole message sits in the first record.
        let message = first_body.get(..span.total).ok_or(invalid("record_walk"))?;
        return Ok(HandshakeMessage {
            message,
            records: 1,
            records_end: span.records_end,
            copied: false,
        });
    }
    scratch.clear();
    scratch.reserve_exact(span.total);
    let mut off = 0usize;
    // Bounded by span.records, which locate() counted on these same bytes.
    for _ in 0..span.records {
        let Some((hdr, _)) = stream
            .get(off..)
            .and_then(<[u8]>::split_first_chunk::<RECORD_HEADER_LEN>)
        else {
            return Err(invalid("record_walk"));
        };
        let len = usize::from(u16::from_be_bytes([hdr[3], hdr[4]]));
        let want = (span.total - scratch.len()).min(len);
        let body_start = off + RECORD_HEADER_LEN;
        let piece = stream
            .get(body_start..body_start + want)
            .ok_or(invalid("record_walk"))?;
        scratch.extend_from_slice(piece);
        off = body_start + len;
    }
    if scratch.len() != span.total {
        return Err(invalid("record_walk"));
    }
    Ok(HandshakeMessage {
        message: scratch.as_slice(),
        records: span.records,
        records_end: span.records_end,
        copied: true,
    })
}

/// Where the first message lies: its total length and the records holding it.
struct Span {
    total: usize,
    records: usize,
    records_end: usize,
}

/// Message bytes still missing: exact once the handshake header is known,
/// else what completes the header.
fn missing_bytes(total: Option<usize>, have: usize) -> usize {
    match total {
        Some(t) => t.saturating_sub(have),
        None => HANDSHAKE_HEADER_LEN.saturating_sub(have),
    }
}

/// First pass: walks record headers without copying, until the message is
/// complete (Ok) or the bytes run out (Incomplete) or break the rules.
/// Bounded: each iteration consumes a header and at least one body byte.
fn locate(stream: &[u8]) -> Result<Span, ParseError> {
    let mut off = 0usize;
    let mut records = 0usize;
    let mut hs_header = [0u8; HANDSHAKE_HEADER_LEN];
    // Message bytes seen so far (handshake header included).
    let mut have = 0usize;
    let mut total: Option<usize> = None;
    loop {
        let rest = stream.get(off..).unwrap_or_default();
        let missing = missing_bytes(total, have);
        let Some((hdr, after)) = rest.split_first_chunk::<RECORD_HEADER_LEN>() else {
            check_header(rest, records == 0)?;
            return Err(incomplete(RECORD_HEADER_LEN - rest.len() + missing));
        };
        check_header(hdr, records == 0)?;
        let len = usize::from(u16::from_be_bytes([hdr[3], hdr[4]]));
        if len == 0 {
            return Err(invalid("empty_record"));
        }
        if len > MAX_RECORD_LEN {
            return Err(invalid("record_length"));
        }
        records += 1;
        let body = after.get(..len).unwrap_or(after);
        let mut used = 0usize;
        if total.is_none() {
            for &b in body.iter().take(HANDSHAKE_HEADER_LEN - have) {
                if let Some(slot) = hs_header.get_mut(have) {
                    *slot = b;
                }
                have += 1;
                used += 1;
            }
            if have == HANDSHAKE_HEADER_LEN {
                let body_len = usize::from(hs_header[1]) << 16
                    | usize::from(hs_header[2]) << 8
                    | usize::from(hs_header[3]);
                let t = HANDSHAKE_HEADER_LEN + body_len;
                if t > MAX_HANDSHAKE_LEN {
                    return Err(ParseError::Unsupported {
                        layer: Layer::Tls,
                        what: "handshake_too_long",
                    });
                }
                total = Some(t);
            }
        }
        if let Some(t) = total {
            let take = t.saturating_sub(have).min(body.len().saturating_sub(used));
            have += take;
            if have == t {
                return Ok(Span {
                    total: t,
                    records,
                    records_end: off + RECORD_HEADER_LEN + len,
                });
            }
        }
        if body.len() < len {
            // The record is cut short: wait for its rest, and for the next
            // record's header too if the message goes on past this record.
            let missing = missing_bytes(total, have);
            let in_record = len - body.len();
            let needed = if missing <= in_record {
                missing
            } else {
                missing + RECORD_HEADER_LEN
            };
            return Err(incomplete(needed));
        }
        off += RECORD_HEADER_LEN + len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// curl's ClientHello record (header + 512-byte handshake message), from
    /// the `curl_sni` vector.
    fn curl_record() -> Vec<u8> {
        let msg = include_bytes!("../../tests/fixtures/tls/tls_curl_client_hello.bin");
        let mut rec = vec![0x16, 3, 1, (msg.len() >> 8) as u8, msg.len() as u8];
        rec.extend_from_slice(msg);
        rec
    }

    /// Re-frames `msg` into records of at most `size` bytes.
    fn reframe(msg: &[u8], size: usize) -> Vec<u8> {
        let mut out = vec![];
        for chunk in msg.chunks(size) {
            out.extend_from_slice(&[0x16, 3, 3, (chunk.len() >> 8) as u8, chunk.len() as u8]);
            out.extend_from_slice(chunk);
        }
        out
    }

    #[test]
    fn probes() {
        assert!(probe(&[0x16, 3, 1, 2, 0]));
        assert!(probe(&[0x16, 3, 4]));
        assert!(!probe(&[0x16, 3]));
        assert!(!probe(&[0x16, 3, 5]));
        assert!(!probe(&[0x17, 3, 3]));
        assert!(!probe(b"GET / HTTP/1.1\r\n"));
        // SSLv2-compatible hello as sent by old OpenSSL: len 0x2e, type 1, v3.1.
        let v2 = [0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15];
        assert!(is_sslv2_client_hello(&v2));
        assert!(!probe(&v2));
        assert!(!is_sslv2_client_hello(&[0x80, 0x2e, 0x02, 0x03, 0x01]));
        assert!(!is_sslv2_client_hello(&[0x16, 0x03, 0x01, 0x02, 0x00]));
        let mut s = vec![];
        assert_eq!(
            first_handshake_message(&v2, &mut s).unwrap_err(),
            ParseError::Unsupported {
                layer: Layer::Tls,
                what: "sslv2_client_hello"
            }
        );
    }

    #[test]
    fn single_record_is_zero_copy_and_every_prefix_is_incomplete() {
        let rec = curl_record();
        let mut scratch = Vec::new();
        let m = first_handshake_message(&rec, &mut scratch).unwrap();
        assert_eq!(m.message, &rec[5..]);
        assert_eq!((m.records, m.records_end, m.copied), (1, rec.len(), false));
        assert_eq!(m.handshake_type(), HandshakeType::CLIENT_HELLO);
        assert!(scratch.capacity() == 0);
        for n in 0..rec.len() {
            match first_handshake_message(&rec[..n], &mut scratch) {
                Err(ParseError::Incomplete { needed, .. }) => {
                    if n >= 9 {
                        assert_eq!(needed, rec.len() - n, "prefix {n}");
                    } else {
                        assert!(needed >= 1 && needed <= rec.len() - n, "prefix {n}");
                    }
                }
                other => panic!("prefix {n}: {other:?}"),
            }
        }
    }

    #[test]
    fn multi_record_join_equals_message() {
        let msg = include_bytes!("../../tests/fixtures/tls/tls_curl_client_hello.bin");
        for size in [1usize, 2, 3, 4, 5, 100, 511] {
            let stream = reframe(msg, size);
            let mut scratch = Vec::new();
            let m = first_handshake_message(&stream, &mut scratch).unwrap();
            assert_eq!(m.message, &msg[..], "size {size}");
            assert!(m.copied);
            assert_eq!(m.records, msg.len().div_ceil(size));
            assert_eq!(m.records_end, stream.len());
            // Every prefix is Incomplete, with a lower bound that never
            // overshoots the real remainder.
            for n in 0..stream.len() {
                match first_handshake_message(&stream[..n], &mut scratch) {
                    Err(ParseError::Incomplete { needed, .. }) => {
                        assert!(
                            needed >= 1 && needed <= stream.len() - n,
                            "size {size} n {n}"
                        );
                    }
                    other => panic!("size {size} prefix {n}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn message_followed_by_more_records() {
        let mut stream = curl_record();
        stream.extend_from_slice(&[0x14, 3, 3, 0, 1, 1]);
        let mut scratch = Vec::new();
        let m = first_handshake_message(&stream, &mut scratch).unwrap();
        assert_eq!(m.records_end, stream.len() - 6);
        // A complete message inside a record whose tail is not here yet.
        let mut rec = curl_record();
        let extra = [0x0b, 0, 0, 10];
        let len = rec.len() - 5 + 14;
        rec[3] = (len >> 8) as u8;
        rec[4] = len as u8;
        rec.extend_from_slice(&extra);
        let m = first_handshake_message(&rec, &mut scratch).unwrap();
        assert_eq!(m.message.len(), 512);
        assert_eq!(m.records_end, 5 + len);
    }

    #[test]
    fn not_tls_is_invalid_early() {
        let mut s = vec![];
        let e = |b: &[u8], s: &mut Vec<u8>| first_handshake_message(b, s).unwrap_err();
        assert_eq!(e(b"G", &mut s), invalid("not_handshake_record"));
        assert_eq!(
            e(b"GET / HTTP/1.1", &mut s),
            invalid("not_handshake_record")
        );
        assert_eq!(e(&[0x16, 2], &mut s), invalid("record_version"));
        assert_eq!(e(&[0x16, 3, 9, 0, 1], &mut s), invalid("record_version"));
        assert_eq!(e(&[0x16, 3, 1, 0, 0], &mut s), invalid("empty_record"));
        assert_eq!(e(&[0x16, 3, 1, 0x48, 1], &mut s), invalid("record_length"));
        // Alert record after the first fragment of a message.
        let msg = include_bytes!("../../tests/fixtures/tls/tls_curl_client_hello.bin");
        let mut stream = reframe(&msg[..100], 100);
        stream.extend_from_slice(&[0x15, 3, 3, 0, 2, 2, 40]);
        assert_eq!(e(&stream, &mut s), invalid("interleaved_record"));
        assert_eq!(
            first_handshake_message(&[], &mut s).unwrap_err(),
            incomplete(RECORD_HEADER_LEN + HANDSHAKE_HEADER_LEN)
        );
    }

    #[test]
    fn oversized_message_is_unsupported() {
        // Handshake length 0x010000 (+4 header) exceeds 64 KiB.
        let stream = [0x16, 3, 1, 0, 4, 1, 1, 0, 0];
        let mut s = vec![];
        assert_eq!(
            first_handshake_message(&stream, &mut s).unwrap_err(),
            ParseError::Unsupported {
                layer: Layer::Tls,
                what: "handshake_too_long"
            }
        );
    }
}
