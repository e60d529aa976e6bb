//! Reassembly of the CRYPTO stream of one direction of one connection's
//! Initial packets, up to the first handshake message (the ClientHello).
//!
//! Chrome splits its ClientHello into many CRYPTO frames, shuffles them
//! inside the packet and spreads them over two packets; clients retransmit
//! Initials whole. So the assembler accepts pieces at any offset, in any
//! order, duplicated or overlapping, and exposes the contiguous prefix from
//! offset 0.

use super::frames::{frames, Frame};
use super::{invalid, unsupported};
use crate::{Layer, ParseError};

/// Joins CRYPTO frame data by offset, in one buffer allocated once at
/// construction and reused after [`CryptoAssembler::reset`].
///
/// Limits: the buffer holds the first `capacity()` bytes of the stream
/// (at most [`CryptoAssembler::MAX_CAPACITY`]); received data is tracked as at
/// most [`CryptoAssembler::MAX_RANGES`] disjoint byte ranges. Overlapping data
/// is assumed identical (QUIC requires it) and simply overwrites.
#[derive(Debug, Clone)]
pub struct CryptoAssembler {
    buf: Box<[u8]>,
    /// Sorted, disjoint, non-adjacent `[start, end)` ranges of received data.
    ranges: [(usize, usize); Self::MAX_RANGES],
    nranges: usize,
}

impl Default for CryptoAssembler {
    fn default() -> Self {
        Self::new()
    }
}

impl CryptoAssembler {
    /// Buffer size of [`CryptoAssembler::new`]: ClientHellos seen in the wild
    /// are up to about 2 KB (post-quantum key shares, ECH).
    pub const DEFAULT_CAPACITY: usize = 16 * 1024;
    /// Largest buffer [`CryptoAssembler::with_capacity`] allocates.
    pub const MAX_CAPACITY: usize = 64 * 1024;
    /// Most disjoint received ranges tracked at once; a piece that would need
    /// one more is dropped (a retransmission can bring it again).
    pub const MAX_RANGES: usize = 32;

    /// An empty assembler with a [`Self::DEFAULT_CAPACITY`] buffer.
    pub fn new() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }

    /// An empty assembler holding the first `capacity` bytes of the stream,
    /// clamped to [`Self::MAX_CAPACITY`]. Allocates once, here.
    pub fn with_capacity(capacity: usize) -> Self {
        CryptoAssembler {
            buf: vec![0u8; capacity.min(Self::MAX_CAPACITY)].into_boxed_slice(),
            ranges: [(0, 0); Self::MAX_RANGES],
            nranges: 0,
        }
    }

    /// Forgets all data, keeping the buffer (after a Retry, or for reuse by
    /// another connection).
    pub fn reset(&mut self) {
        self.nranges = 0;
    }

    /// Number of stream bytes the buffer can hold.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// True when no data has been received.
    pub fn is_empty(&self) -> bool {
        self.nranges == 0
    }

    /// Number of disjoint received ranges (1 when all data is contiguous).
    pub fn range_count(&self) -> usize {
        self.nranges
    }

    /// Adds the data of one CRYPTO frame at stream offset `offset`.
    ///
    /// # Errors
    /// - `Unsupported { what: "crypto_beyond_capacity" }`: some of the data lies
    ///   past `capacity()`; the part that fits is kept.
    /// - `Unsupported { what: "crypto_too_many_gaps" }`: the piece would be
    ///   the `MAX_RANGES + 1`-th disjoint range; nothing is kept.
    pub fn add(&mut self, offset: u64, data: &[u8]) -> Result<(), ParseError> {
        let beyond = unsupported("crypto_beyond_capacity");
        if data.is_empty() {
            return Ok(());
        }
        let cap = self.buf.len();
        let start = match usize::try_from(offset) {
            Ok(s) if s < cap => s,
            _ => return Err(beyond),
        };
        let end = start.saturating_add(data.len()).min(cap);
        let clipped = end - start < data.len();
        self.insert_range(start, end)?;
        if let (Some(dst), Some(src)) = (self.buf.get_mut(start..end), data.get(..end - start)) {
            dst.copy_from_slice(src);
        }
        if clipped {
            Err(beyond)
        } else {
            Ok(())
        }
    }

    /// Records `[start, end)` as received, merging with overlapping or
    /// adjacent ranges. O(MAX_RANGES).
    fn insert_range(&mut self, start: usize, end: usize) -> Result<(), ParseError> {
        let n = self.nranges;
        let live = self.ranges.get(..n).unwrap_or(&[]);
        // First range that ends at or after `start`: the first that can merge.
        let i = live.iter().position(|r| r.1 >= start).unwrap_or(n);
        // Ranges i..j start at or before `end`: they all merge with the new one.
        let j = i + live
            .get(i..)
            .unwrap_or(&[])
            .iter()
            .take_while(|r| r.0 <= end)
            .count();
        if i == j {
            if n >= Self::MAX_RANGES {
                return Err(unsupported("crypto_too_many_gaps"));
            }
            self.ranges.copy_within(i..n, i + 1);
            if let Some(r) = self.ranges.get_mut(i) {
                *r = (start, end);
            }
            self.nranges = n + 1;
        } else {
            let (first, last) = match (self.ranges.get(i), self.ranges.get(j - 1)) {
                (Some(a), Some(b)) => (*a, *b),
                _ => return Err(invalid("crypto_ranges")),
            };
            if let Some(r) = self.ranges.get_mut(i) {
                *r = (first.0.min(start), last.1.max(end));
            }
            self.ranges.copy_within(j..n, i + 1);
            self.nranges = n - (j - i - 1);
        }
        Ok(())
    }

    /// Walks the frames of a decrypted Initial payload and adds every CRYPTO
    /// frame. Returns the number of CRYPTO frames seen.
    ///
    /// # Errors
    /// The first error of [`super::frames`] (which ends the walk) or of
    /// [`CryptoAssembler::add`] (the walk goes on). Data of the frames before
    /// and around an error is kept.
    pub fn add_frames(&mut self, payload: &[u8]) -> Result<usize, ParseError> {
        let mut count = 0;
        let mut first_err = None;
        for f in frames(payload) {
            match f {
                Ok(Frame::Crypto { offset, data }) => {
                    count += 1;
                    if let Err(e) = self.add(offset, data) {
                        first_err.get_or_insert(e);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(count),
        }
    }

    /// The received bytes that are contiguous from stream offset 0.
    pub fn contiguous(&self) -> &[u8] {
        match self.ranges.first() {
            Some(&(0, end)) if self.nranges > 0 => self.buf.get(..end).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// The first handshake message of the stream (`type | len24 | body`),
    /// once it is complete.
    ///
    /// # Errors
    /// - `Incomplete { layer: Quic, needed }`: `needed` more contiguous bytes
    ///   are missing (0 while the 4-byte message header itself is incomplete).
    /// - `Unsupported { what: "handshake_message_too_large" }`: the message
    ///   does not fit in `capacity()`; it can never complete.
    pub fn handshake_message(&self) -> Result<&[u8], ParseError> {
        let c = self.contiguous();
        let Some(&[_, a, b, d]) = c.get(..4) else {
            return Err(ParseError::Incomplete {
                layer: Layer::Quic,
                needed: 0,
            });
        };
        let total = 4 + (usize::from(a) << 16 | usize::from(b) << 8 | usize::from(d));
        if total > self.buf.len() {
            return Err(unsupported("handshake_message_too_large"));
        }
        c.get(..total).ok_or(ParseError::Incomplete {
            layer: Layer::Quic,
            needed: total.saturating_sub(c.len()),
        })
    }

    /// The ClientHello handshake message (`01 | len24 | body`, no record
    /// header), ready for the TLS ClientHello parser, once complete.
    ///
    /// # Errors
    /// As [`CryptoAssembler::handshake_message`], plus `Invalid { what:
    /// "not_client_hello" }` when the stream starts with another message
    /// type (e.g. a server's ServerHello).
    pub fn client_hello(&self) -> Result<&[u8], ParseError> {
        match self.contiguous().first() {
            Some(1) | None => self.handshake_message(),
            Some(_) => Err(invalid("not_client_hello")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(len: usize) -> Vec<u8> {
        let body = len - 4;
        let mut v = vec![1, (body >> 16) as u8, (body >> 8) as u8, body as u8];
        v.extend((0..body).map(|i| (i * 7 + 3) as u8));
        v
    }

    fn incomplete(needed: usize) -> ParseError {
        ParseError::Incomplete {
            layer: Layer::Quic,
            needed,
        }
    }

    #[test]
    fn in_order_and_incomplete_counts() {
        let h = hello(300);
        let mut a = CryptoAssembler::new();
        assert!(a.is_empty());
        assert_eq!(a.client_hello(), Err(incomplete(0)));
        a.add(0, &h[..3]).unwrap();
        assert_eq!(a.client_hello(), Err(incomplete(0)));
        a.add(3, &h[3..100]).unwrap();
        assert_eq!(a.client_hello(), Err(incomplete(200)));
        a.add(100, &h[100..]).unwrap();
        assert_eq!(a.client_hello().unwrap(), &h[..]);
        assert_eq!(a.range_count(), 1);
    }

    #[test]
    fn chrome_chaos_order_from_spec() {
        // The (offset, len) order of Chrome 146's first packet (spec §5),
        // then the second packet's five 1-byte frames and tail.
        let h = hello(1728);
        let mut a = CryptoAssembler::new();
        let first = [
            (33, 8),
            (57, 9),
            (71, 519),
            (45, 4),
            (41, 4),
            (8, 8),
            (849, 260),
            (16, 17),
            (0, 8),
            (49, 8),
            (590, 259),
        ];
        for (o, l) in first {
            a.add(o as u64, &h[o..o + l]).unwrap();
        }
        assert_eq!(a.contiguous().len(), 66);
        assert_eq!(a.range_count(), 2);
        assert_eq!(a.client_hello(), Err(incomplete(1728 - 66)));
        for o in [68, 66, 70, 67, 69] {
            a.add(o as u64, &h[o..o + 1]).unwrap();
        }
        assert_eq!(a.contiguous().len(), 1109);
        let mut o = 1109;
        let mut pieces = Vec::new();
        while o < 1728 {
            let l = if pieces.len() % 2 == 0 { 39 } else { 78 }.min(1728 - o);
            pieces.push((o, l));
            o += l;
        }
        pieces.reverse();
        for (o, l) in pieces {
            a.add(o as u64, &h[o..o + l]).unwrap();
        }
        assert_eq!(a.client_hello().unwrap(), &h[..]);
        // A full retransmission changes nothing.
        a.add(0, &h).unwrap();
        assert_eq!(a.client_hello().unwrap(), &h[..]);
        assert_eq!(a.range_count(), 1);
    }

    #[test]
    fn overlaps_and_merges() {
        let h = hello(100);
        let mut a = CryptoAssembler::new();
        a.add(50, &h[50..60]).unwrap();
        a.add(20, &h[20..30]).unwrap();
        a.add(80, &h[80..90]).unwrap();
        assert_eq!(a.range_count(), 3);
        // Spans and swallows two ranges.
        a.add(25, &h[25..85]).unwrap();
        assert_eq!(a.range_count(), 1);
        a.add(0, &h[0..20]).unwrap();
        assert_eq!(a.contiguous(), &h[..90]);
        a.add(89, &h[89..100]).unwrap();
        assert_eq!(a.client_hello().unwrap(), &h[..]);
        a.reset();
        assert!(a.is_empty());
        assert_eq!(a.contiguous(), b"");
    }

    #[test]
    fn gap_limit_and_capacity() {
        let mut a = CryptoAssembler::with_capacity(1000);
        for k in 0..CryptoAssembler::MAX_RANGES {
            a.add((10 + 3 * k) as u64, &[1]).unwrap();
        }
        assert_eq!(a.range_count(), CryptoAssembler::MAX_RANGES);
        assert_eq!(
            a.add(500, &[1]),
            Err(ParseError::Unsupported {
                layer: Layer::Quic,
                what: "crypto_too_many_gaps"
            })
        );
        // Filling a gap still works when ranges are full: it merges.
        a.add(11, &[1, 1]).unwrap();
        assert_eq!(a.range_count(), CryptoAssembler::MAX_RANGES - 1);
        let beyond = Err(ParseError::Unsupported {
            layer: Layer::Quic,
            what: "crypto_beyond_capacity",
        });
        assert_eq!(a.add(1000, &[1]), beyond);
        assert_eq!(a.add(u64::MAX, &[1]), beyond);
        assert_eq!(a.add(999, &[1, 2]), beyond);
        assert_eq!(a.add(5, &[]), Ok(()));
        // A message longer than the capacity can never complete.
        let mut a = CryptoAssembler::with_capacity(100);
        a.add(0, &[1, 0, 1, 0]).unwrap();
        assert_eq!(
            a.client_hello(),
            Err(ParseError::Unsupported {
                layer: Layer::Quic,
                what: "handshake_message_too_large"
            })
        );
        assert_eq!(
            CryptoAssembler::with_capacity(1 << 30).capacity(),
            CryptoAssembler::MAX_CAPACITY
        );
    }

    #[test]
    fn server_hello_is_not_client_hello() {
        let mut a = CryptoAssembler::default();
        a.add(0, &[2, 0, 0, 1, 0]).unwrap();
        assert_eq!(
            a.client_hello(),
            Err(ParseError::Invalid {
                layer: Layer::Quic,
                what: "not_client_hello"
            })
        );
        assert_eq!(a.handshake_message().unwrap(), &[2, 0, 0, 1, 0]);
    }

    #[test]
    fn add_frames_from_payload() {
        let h = hello(20);
        let mut p = vec![0x06, 10, 10];
        p.extend_from_slice(&h[10..]);
        p.push(0x01);
        p.extend_from_slice(&[0x06, 0, 10]);
        p.extend_from_slice(&h[..10]);
        p.extend_from_slice(&[0; 30]);
        let mut a = CryptoAssembler::new();
        assert_eq!(a.add_frames(&p), Ok(2));
        assert_eq!(a.client_hello().unwrap(), &h[..]);
        // A bad frame after a good one: the good data stays.
        let mut a = CryptoAssembler::new();
        let mut p = vec![0x06, 0, 20];
        p.extend_from_slice(&h);
        p.push(0x08);
        assert!(a.add_frames(&p).is_err());
        assert_eq!(a.client_hello().unwrap(), &h[..]);
    }

    #[test]
    fn exhaustive_small_orders() {
        // Every piece order of a message cut into 5 pieces completes it.
        let h = hello(50);
        let cuts = [0, 7, 8, 20, 33, 50];
        let idx = [0usize, 1, 2, 3, 4];
        let mut perm = idx;
        let mut count = 0;
        // Heap's algorithm, iterative.
        let mut c = [0usize; 5];
        let mut run = |p: &[usize; 5]| {
            let mut a = CryptoAssembler::with_capacity(64);
            for (n, &k) in p.iter().enumerate() {
                assert!(a.client_hello().is_err());
                a.add(cuts[k] as u64, &h[cuts[k]..cuts[k + 1]]).unwrap();
                assert!(a.range_count() <= n + 1);
            }
            assert_eq!(a.client_hello().unwrap(), &h[..]);
            count += 1;
        };
        run(&perm);
        let mut i = 0;
        while i < 5 {
            if c[i] < i {
                if i % 2 == 0 {
                    perm.swap(0, i);
                } else {
                    perm.swap(c[i], i);
                }
                run(&perm);
                c[i] += 1;
                i = 0;
            } else {
                c[i] = 0;
                i += 1;
            }
        }
        assert_eq!(count, 120);
    }
}
