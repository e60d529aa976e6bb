//! First-flight TCP reassembly: joins the first bytes one side sends (a
//! ClientHello across segments, a ServerHello, an HTTP request head) in
//! sequence order, with fixed bounds.
//!
//! Retransmissions and overlaps keep the bytes already held (first copy
//! wins, as most IDSs do for the first flight); segments that arrive ahead of
//! a gap wait in a small pending list until the gap fills. The buffer is
//! created only when a message does not fit in one segment.
//!
//! Memory: each stream holds at most `max_bytes` joined plus parked segments
//! ending below `max_bytes`, and all streams of one thread (one worker)
//! together at most a memcap, counted in a thread-local: a flood of
//! half-sent handshakes cannot grow memory past it. A thread-local rather
//! than a shared handle keeps `FlightLimits` a plain copyable value and costs
//! no atomic operation; flows never move between workers, so every buffer is
//! released on the thread that charged it. Segments refused for the memcap
//! are counted ([`memcap_drops`]).

use std::cell::Cell;

thread_local! {
    /// Bytes held by this thread's first-flight buffers.
    static HELD: Cell<usize> = const { Cell::new(0) };
    /// Segments this thread refused because the memcap was reached.
    static MEMCAP_DROPS: Cell<u64> = const { Cell::new(0) };
}

/// Bytes held now by the first-flight buffers of the calling thread.
pub fn held_bytes() -> usize {
    HELD.with(Cell::get)
}

/// Segments the calling thread refused so far because its buffers were at
/// the memcap.
pub fn memcap_drops() -> u64 {
    MEMCAP_DROPS.with(Cell::get)
}

/// Charges `n` bytes against `memcap`; false (and counted) if they do not fit.
fn charge(n: usize, memcap: usize) -> bool {
    HELD.with(|h| {
        let now = h.get();
        if now.saturating_add(n) > memcap {
            MEMCAP_DROPS.with(|d| d.set(d.get() + 1));
            false
        } else {
            h.set(now + n);
            true
        }
    })
}

fn release(n: usize) {
    HELD.with(|h| h.set(h.get().saturating_sub(n)));
}

/// A share of this thread's memcap, given back when dropped: for buffers
/// other than first flights that per-flow state holds (a QUIC connection's
/// CRYPTO buffer, a ClientHello kept until its event is written).
#[derive(Debug)]
pub struct Charge(usize);

impl Charge {
    /// Takes `n` bytes of `memcap`, or None (counted in [`memcap_drops`])
    /// when they do not fit.
    pub fn try_new(n: usize, memcap: usize) -> Option<Charge> {
        // `then`, not `then_some`: a Charge built and dropped would give back
        // bytes it never took.
        charge(n, memcap).then(|| Charge(n))
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        release(self.0);
    }
}

/// A copy of some bytes, charged to this thread's memcap while it lives.
#[derive(Debug)]
pub struct HeldBytes {
    bytes: Box<[u8]>,
    _charge: Charge,
}

impl HeldBytes {
    /// Copies `bytes` if they fit in `memcap`.
    pub fn try_copy(bytes: &[u8], memcap: usize) -> Option<HeldBytes> {
        let charge = Charge::try_new(bytes.len(), memcap)?;
        Some(HeldBytes {
            bytes: bytes.into(),
            _charge: charge,
        })
    }
}

impl std::ops::Deref for HeldBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

/// Outcome of adding a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// The contiguous prefix grew.
    Grew,
    /// Nothing new (retransmission, or a segment waiting behind a gap).
    Unchanged,
    /// A bound was hit; the stream stays as it is.
    Full,
}

/// Bytes of one direction of a TCP connection from its first data byte.
#[derive(Debug)]
pub struct FirstFlight {
    /// Sequence number of `data[0]`.
    base_seq: u32,
    data: Vec<u8>,
    /// Out-of-order segments: (relative offset, bytes).
    pending: Vec<(u32, Vec<u8>)>,
    segments: u16,
    max_bytes: usize,
    max_segments: u16,
    /// Bytes charged to the thread's memcap (data and parked segments).
    charged: usize,
    memcap: usize,
}

impl Drop for FirstFlight {
    fn drop(&mut self) {
        release(self.charged);
    }
}

impl FirstFlight {
    /// Starts a stream whose first byte has sequence number `base_seq`;
    /// `memcap` bounds the bytes all streams of this thread hold together.
    pub fn new(base_seq: u32, max_bytes: usize, max_segments: u16, memcap: usize) -> Self {
        FirstFlight {
            base_seq,
            data: Vec::new(),
            pending: Vec::new(),
            segments: 0,
            max_bytes,
            max_segments,
            charged: 0,
            memcap,
        }
    }

    /// The contiguous bytes from the first byte on.
    pub fn contiguous(&self) -> &[u8] {
        &self.data
    }

    /// Number of segments accepted so far (pending included).
    pub fn segments(&self) -> u16 {
        self.segments
    }

    /// Adds a segment with sequence number `seq`.
    pub fn push(&mut self, seq: u32, payload: &[u8]) -> Push {
        if payload.is_empty() {
            return Push::Unchanged;
        }
        // Offset relative to the first byte, with sequence wrap-around.
        let rel = seq.wrapping_sub(self.base_seq);
        let end_rel = u64::from(rel) + payload.len() as u64;
        if rel > u32::MAX / 2 {
            // Before the first byte: keep only the part from base_seq on.
            let skip = self.base_seq.wrapping_sub(seq) as usize;
            return match payload.get(skip..) {
                Some(rest) if !rest.is_empty() => self.push(self.base_seq, rest),
                _ => Push::Unchanged,
            };
        }
        let have = self.data.len() as u64;
        if end_rel <= have {
            return Push::Unchanged; // pure retransmission
        }
        if self.segments >= self.max_segments {
            return Push::Full;
        }
        if u64::from(rel) > have {
            // Ahead of a gap: park it (bounded by max_segments and max_bytes).
            if end_rel > self.max_bytes as u64 {
                return Push::Full;
            }
            if self.pending.iter().any(|(o, _)| *o == rel) {
                return Push::Unchanged;
            }
            if !charge(payload.len(), self.memcap) {
                return Push::Full;
            }
            self.charged += payload.len();
            self.segments += 1;
            self.pending.push((rel, payload.to_vec()));
            return Push::Unchanged;
        }
        self.segments += 1;
        let grew = self.append_from(rel as usize, payload);
        self.drain_pending();
        grew
    }

    /// Appends the part of `payload` (starting at offset `rel`) beyond what is held.
    fn append_from(&mut self, rel: usize, payload: &[u8]) -> Push {
        let skip = self.data.len().saturating_sub(rel);
        let Some(new) = payload.get(skip..) else {
            return Push::Unchanged;
        };
        let room = self.max_bytes.saturating_sub(self.data.len());
        if room == 0 {
            return Push::Full;
        }
        let take = new.len().min(room);
        // Charged by capacity: what the allocation really holds.
        let want = if self.data.capacity() == 0 {
            self.max_bytes.min(4096).max(take)
        } else if self.data.len() + take > self.data.capacity() {
            (self.data.capacity() * 2)
                .max(self.data.len() + take)
                .min(self.max_bytes)
        } else {
            self.data.capacity()
        };
        let grow = want.saturating_sub(self.data.capacity());
        if grow > 0 {
            if !charge(grow, self.memcap) {
                return Push::Full;
            }
            self.charged += grow;
            self.data.reserve_exact(want - self.data.len());
        }
        self.data.extend_from_slice(&new[..take]);
        if take < new.len() {
            Push::Full
        } else {
            Push::Grew
        }
    }

    /// Moves parked segments that now touch the contiguous prefix.
    fn drain_pending(&mut self) {
        loop {
            let have = self.data.len() as u64;
            let Some(i) = self.pending.iter().position(|(o, _)| u64::from(*o) <= have) else {
                return;
            };
            let (o, seg) = self.pending.swap_remove(i);
            release(seg.len());
            self.charged -= seg.len();
            let _ = self.append_from(o as usize, &seg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_and_retransmitted_segments() {
        let mut s = FirstFlight::new(1000, 64, 8, usize::MAX);
        assert_eq!(s.push(1000, b"hello "), Push::Grew);
        assert_eq!(s.push(1000, b"hello "), Push::Unchanged);
        assert_eq!(s.push(1003, b"lo wor"), Push::Grew); // overlap extends
        assert_eq!(s.contiguous(), b"hello wor");
        assert_eq!(s.push(1009, b"ld"), Push::Grew);
        assert_eq!(s.contiguous(), b"hello world");
    }

    #[test]
    fn out_of_order_waits_for_the_gap() {
        let mut s = FirstFlight::new(u32::MAX - 2, 64, 8, usize::MAX); // wraps around 0
        assert_eq!(s.push(1, b"CD"), Push::Unchanged);
        assert_eq!(s.contiguous(), b"");
        assert_eq!(s.push(u32::MAX - 2, b"AB"), Push::Grew);
        assert_eq!(s.contiguous(), b"AB");
        assert_eq!(s.push(u32::MAX, b"xy"), Push::Grew); // offsets 2..4 fill the gap
        assert_eq!(s.contiguous(), b"ABxyCD");
    }

    #[test]
    fn bounds_hold() {
        let mut s = FirstFlight::new(0, 8, 3, usize::MAX);
        assert_eq!(s.push(0, b"0123"), Push::Grew);
        assert_eq!(s.push(4, b"456789"), Push::Full);
        assert_eq!(s.contiguous(), b"01234567");
        let mut t = FirstFlight::new(0, 100, 2, usize::MAX);
        t.push(0, b"a");
        t.push(1, b"b");
        assert_eq!(t.push(2, b"c"), Push::Full);
        // A far-away segment beyond max_bytes is refused, not stored.
        let mut u = FirstFlight::new(0, 16, 8, usize::MAX);
        assert_eq!(u.push(1_000_000, b"zz"), Push::Full);
    }

    #[test]
    fn the_thread_memcap_bounds_all_streams_together() {
        // Runs on its own test thread: the thread-local starts at zero.
        let memcap = 3 * 4096;
        let mut streams: Vec<FirstFlight> = (0..10)
            .map(|i| FirstFlight::new(i * 100_000, 16_384, 16, memcap))
            .collect();
        let mut grew = 0;
        for (i, s) in streams.iter_mut().enumerate() {
            if s.push(i as u32 * 100_000, &[7u8; 100]) == Push::Grew {
                grew += 1;
            }
        }
        assert_eq!(grew, 3, "three 4 KiB buffers fit in 12 KiB");
        assert_eq!(held_bytes(), memcap);
        assert_eq!(memcap_drops(), 7);
        // Parked segments are charged too, and refused at the cap.
        assert_eq!(streams[0].push(5000, &[1u8; 10]), Push::Full);
        streams.truncate(1);
        assert_eq!(held_bytes(), 4096, "dropped streams give their bytes back");
        assert_eq!(streams[0].push(5000, &[1u8; 10]), Push::Unchanged);
        assert_eq!(held_bytes(), 4106);
        drop(streams);
        assert_eq!(held_bytes(), 0);
    }

    #[test]
    fn charges_and_held_bytes_are_given_back() {
        let c = Charge::try_new(1000, 1500).unwrap();
        assert!(HeldBytes::try_copy(&[1u8; 600], 1500).is_none());
        let h = HeldBytes::try_copy(&[1u8; 500], 1500).unwrap();
        assert_eq!(&h[..3], &[1, 1, 1]);
        assert_eq!(held_bytes(), 1500);
        drop((c, h));
        assert_eq!(held_bytes(), 0);
        assert_eq!(memcap_drops(), 1);
    }

    #[test]
    fn bytes_before_the_base_are_trimmed() {
        let mut s = FirstFlight::new(100, 64, 8, usize::MAX);
        assert_eq!(s.push(98, b"xxAB"), Push::Grew);
        assert_eq!(s.contiguous(), b"AB");
        assert_eq!(s.push(90, b"old"), Push::Unchanged);
    }
}
