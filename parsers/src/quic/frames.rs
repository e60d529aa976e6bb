//! The frames allowed in an Initial packet (RFC 9000 §12.4, §19): PADDING,
//! PING, ACK (with or without ECN counts), CRYPTO and CONNECTION_CLOSE
//! (transport variant). Anything else ends the walk with an error.

use super::{invalid, read_varint, take, MAX_VARINT};
use crate::ParseError;

/// One frame of a decrypted Initial payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A run of PADDING (0x00) bytes, merged into one item.
    Padding {
        /// Number of padding bytes in the run.
        len: usize,
    },
    /// PING (0x01).
    Ping,
    /// ACK (0x02) or ACK with ECN counts (0x03); the ranges are skipped.
    Ack {
        /// Largest Acknowledged.
        largest: u64,
        /// ACK Delay (encoded, not scaled).
        delay: u64,
        /// ACK Range Count (ranges after the first).
        range_count: u64,
        /// ECT(0), ECT(1), ECN-CE counts, for type 0x03.
        ecn: Option<[u64; 3]>,
    },
    /// CRYPTO (0x06): a piece of the TLS handshake stream.
    Crypto {
        /// Offset of `data` in the handshake stream.
        offset: u64,
        /// The bytes.
        data: &'a [u8],
    },
    /// CONNECTION_CLOSE of the transport variant (0x1c).
    ConnectionClose {
        /// Transport error code.
        error_code: u64,
        /// Type of the frame that caused the error (0 if unknown).
        frame_type: u64,
        /// Reason phrase (UTF-8 by the RFC, not checked).
        reason: &'a [u8],
    },
}

/// Iterator over the frames of a decrypted Initial payload; see [`frames`].
#[derive(Debug, Clone)]
pub struct Frames<'a> {
    buf: &'a [u8],
    pos: usize,
    done: bool,
}

/// Walks the frames of a decrypted Initial payload.
///
/// Yields `Err(Invalid { what: "frame_type_not_allowed_in_initial" })` for a
/// frame type not allowed in Initial packets, `Err(Invalid { what:
/// "frame_truncated" })` for a frame that runs past the payload, and
/// `Err(Invalid { what: "crypto_offset" })` for a CRYPTO frame that ends past
/// 2^62 - 1; the walk ends after any error. Every item consumes at least
/// one byte, so the walk is bounded by the payload length.
pub fn frames(payload: &[u8]) -> Frames<'_> {
    Frames {
        buf: payload,
        pos: 0,
        done: false,
    }
}

impl<'a> Frames<'a> {
    fn parse(&mut self) -> Result<Frame<'a>, ParseError> {
        let trunc = invalid("frame_truncated");
        let buf = self.buf;
        let pos = &mut self.pos;
        let ty = read_varint(buf, pos).ok_or(trunc)?;
        let v = |pos: &mut usize| read_varint(buf, pos).ok_or(trunc);
        match ty {
            0x00 => {
                let start = *pos - 1;
                let run = buf
                    .get(*pos..)
                    .unwrap_or(&[])
                    .iter()
                    .take_while(|&&b| b == 0)
                    .count();
                *pos += run;
                Ok(Frame::Padding { len: *pos - start })
            }
            0x01 => Ok(Frame::Ping),
            0x02 | 0x03 => {
                let largest = v(pos)?;
                let delay = v(pos)?;
                let range_count = v(pos)?;
                let _first_range = v(pos)?;
                // Each range is two varints (>= 2 bytes): the loop ends by
                // error once the payload runs out, whatever the count says.
                let mut i = 0;
                while i < range_count {
                    let _gap = v(pos)?;
                    let _len = v(pos)?;
                    i += 1;
                }
                let ecn = if ty == 0x03 {
                    Some([v(pos)?, v(pos)?, v(pos)?])
                } else {
                    None
                };
                Ok(Frame::Ack {
                    largest,
                    delay,
                    range_count,
                    ecn,
                })
            }
            0x06 => {
                let offset = v(pos)?;
                let len = v(pos)?;
                if offset.saturating_add(len) > MAX_VARINT {
                    return Err(invalid("crypto_offset"));
                }
                let len = usize::try_from(len).map_err(|_| trunc)?;
                let data = take(buf, pos, len).ok_or(trunc)?;
                Ok(Frame::Crypto { offset, data })
            }
            0x1c => {
                let error_code = v(pos)?;
                let frame_type = v(pos)?;
                let len = usize::try_from(v(pos)?).map_err(|_| trunc)?;
                let reason = take(buf, pos, len).ok_or(trunc)?;
                Ok(Frame::ConnectionClose {
                    error_code,
                    frame_type,
                    reason,
                })
            }
            _ => Err(invalid("frame_type_not_allowed_in_initial")),
        }
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Frame<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.buf.len() {
            return None;
        }
        let r = self.parse();
        if r.is_err() {
            self.done = true;
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Layer, ParseError};

    fn all(b: &[u8]) -> Vec<Result<Frame<'_>, ParseError>> {
        frames(b).collect()
    }

    #[test]
    fn rfc9001_a2_payload_frames() {
        // CRYPTO frame header of RFC 9001 A.2, then 241 data bytes, then padding.
        let mut p = vec![0x06, 0x00, 0x40, 0xf1];
        p.extend((0..241).map(|i| i as u8));
        p.extend_from_slice(&[0; 917]);
        let f = all(&p);
        assert_eq!(f.len(), 2);
        match f[0] {
            Ok(Frame::Crypto { offset, data }) => {
                assert_eq!(offset, 0);
                assert_eq!(data.len(), 241);
                assert_eq!(data[240], 240);
            }
            ref other => panic!("{other:?}"),
        }
        assert_eq!(f[1], Ok(Frame::Padding { len: 917 }));
    }

    #[test]
    fn rfc9001_a3_server_payload_ack_then_crypto() {
        // Start of the RFC 9001 A.3 server payload: ACK, then CRYPTO.
        let p = hex::decode("02000000000600405a020000560303").unwrap();
        let f = all(&p);
        assert_eq!(
            f[0],
            Ok(Frame::Ack {
                largest: 0,
                delay: 0,
                range_count: 0,
                ecn: None
            })
        );
        // The CRYPTO frame claims 90 bytes but only 9 follow.
        assert_eq!(
            f[1],
            Err(ParseError::Invalid {
                layer: Layer::Quic,
                what: "frame_truncated"
            })
        );
        assert_eq!(f.len(), 2);
    }

    #[test]
    fn ack_ecn_ranges_ping_close() {
        let p = [
            0x03, 0x0a, 0x01, 0x02, 0x00, 0x01, 0x01, 0x00, 0x01, 0x01, 0x02, 0x03, // ACK-ECN
            0x01, // PING
            0x1c, 0x0a, 0x06, 0x02, b'n', b'o', // CONNECTION_CLOSE
            0x00, 0x00,
        ];
        let f = all(&p);
        assert_eq!(
            f[0],
            Ok(Frame::Ack {
                largest: 10,
                delay: 1,
                range_count: 2,
                ecn: Some([1, 2, 3])
            })
        );
        assert_eq!(f[1], Ok(Frame::Ping));
        assert_eq!(
            f[2],
            Ok(Frame::ConnectionClose {
                error_code: 10,
                frame_type: 6,
                reason: b"no"
            })
        );
        assert_eq!(f[3], Ok(Frame::Padding { len: 2 }));
        assert_eq!(f.len(), 4);
    }

    #[test]
    fn disallowed_and_huge_counts() {
        // STREAM frame (0x08) is not allowed in an Initial.
        let f = all(&[0x01, 0x08, 0x00]);
        assert_eq!(f.len(), 2);
        assert_eq!(
            f[1],
            Err(ParseError::Invalid {
                layer: Layer::Quic,
                what: "frame_type_not_allowed_in_initial"
            })
        );
        // ACK with a range count of 2^62-1: ends by error, quickly.
        let f = all(&[
            0x02, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 1, 1,
        ]);
        assert_eq!(f.len(), 1);
        assert!(f[0].is_err());
        // CRYPTO ending past 2^62-1.
        let f = all(&[
            0x06, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00,
        ]);
        assert_eq!(
            f[0],
            Err(ParseError::Invalid {
                layer: Layer::Quic,
                what: "crypto_offset"
            })
        );
        assert!(all(&[]).is_empty());
        // Every prefix of a valid sequence ends cleanly.
        let p = [0x06, 0x40, 0x10, 0x03, 1, 2, 3, 0x1c, 0, 0, 1, b'x'];
        for n in 0..p.len() {
            let _ = all(&p[..n]);
        }
    }
}
