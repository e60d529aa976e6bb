//! First-flight TCP reassembly: joins the first bytes one side sends (a
//! ClientHello across segments, a ServerHello, an HTTP request head) in
//! sequence order, with fixed bounds.
//!
//! Retransmissions and overlaps keep the bytes already held (first copy
//! wins, as most IDSs do for the first flight); segments that arrive ahead of
//! a gap wait in a small pending list until the gap fills. The buffer is
//! created only when a message does not fit in one segment.

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
}

impl FirstFlight {
    /// Starts a stream whose first byte has sequence number `base_seq`.
    pub fn new(base_seq: u32, max_bytes: usize, max_segments: u16) -> Self {
        FirstFlight {
            base_seq,
            data: Vec::new(),
            pending: Vec::new(),
            segments: 0,
            max_bytes,
            max_segments,
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
        if self.data.capacity() == 0 {
            self.data.reserve_exact(self.max_bytes.min(4096).max(take));
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
            let _ = self.append_from(o as usize, &seg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_and_retransmitted_segments() {
        let mut s = FirstFlight::new(1000, 64, 8);
        assert_eq!(s.push(1000, b"hello "), Push::Grew);
        assert_eq!(s.push(1000, b"hello "), Push::Unchanged);
        assert_eq!(s.push(1003, b"lo wor"), Push::Grew); // overlap extends
        assert_eq!(s.contiguous(), b"hello wor");
        assert_eq!(s.push(1009, b"ld"), Push::Grew);
        assert_eq!(s.contiguous(), b"hello world");
    }

    #[test]
    fn out_of_order_waits_for_the_gap() {
        let mut s = FirstFlight::new(u32::MAX - 2, 64, 8); // wraps around 0
        assert_eq!(s.push(1, b"CD"), Push::Unchanged);
        assert_eq!(s.contiguous(), b"");
        assert_eq!(s.push(u32::MAX - 2, b"AB"), Push::Grew);
        assert_eq!(s.contiguous(), b"AB");
        assert_eq!(s.push(u32::MAX, b"xy"), Push::Grew); // offsets 2..4 fill the gap
        assert_eq!(s.contiguous(), b"ABxyCD");
    }

    #[test]
    fn bounds_hold() {
        let mut s = FirstFlight::new(0, 8, 3);
        assert_eq!(s.push(0, b"0123"), Push::Grew);
        assert_eq!(s.push(4, b"456789"), Push::Full);
        assert_eq!(s.contiguous(), b"01234567");
        let mut t = FirstFlight::new(0, 100, 2);
        t.push(0, b"a");
        t.push(1, b"b");
        assert_eq!(t.push(2, b"c"), Push::Full);
        // A far-away segment beyond max_bytes is refused, not stored.
        let mut u = FirstFlight::new(0, 16, 8);
        assert_eq!(u.push(1_000_000, b"zz"), Push::Full);
    }

    #[test]
    fn bytes_before_the_base_are_trimmed() {
        let mut s = FirstFlight::new(100, 64, 8);
        assert_eq!(s.push(98, b"xxAB"), Push::Grew);
        assert_eq!(s.contiguous(), b"AB");
        assert_eq!(s.push(90, b"old"), Push::Unchanged);
    }
}
