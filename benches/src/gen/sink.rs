//! Writes generated frames to a classic pcap file in timestamp order.
//!
//! Sessions are generated one after another, each with all of its packets;
//! their packets interleave in time, so frames wait in a heap until no later
//! session can produce an earlier one. The pcap format is written directly
//! (a 24-byte file header and a 16-byte record header per frame): libpcap's
//! dumper through the `pcap` crate needs a `libc::timeval` per packet and a
//! dead capture handle for no gain.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// A frame waiting to be written: ordered by time, then by arrival.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    ts_us: u64,
    seq: u64,
    frame: Vec<u8>,
}

/// Time-ordered pcap output (Ethernet, microsecond timestamps).
pub struct Sink {
    out: BufWriter<File>,
    heap: BinaryHeap<Reverse<Pending>>,
    seq: u64,
    /// Frames pushed so far (written or waiting).
    pub pushed: u64,
    /// Frames written so far.
    pub written: u64,
    /// Frame bytes written so far.
    pub bytes: u64,
    last_ts: u64,
}

impl Sink {
    /// Creates `path` and writes the pcap file header.
    pub fn create(path: &Path) -> io::Result<Self> {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
        out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&0i32.to_le_bytes())?;
        out.write_all(&0u32.to_le_bytes())?;
        out.write_all(&65_535u32.to_le_bytes())?;
        out.write_all(&1u32.to_le_bytes())?; // LINKTYPE_ETHERNET
        Ok(Sink {
            out,
            heap: BinaryHeap::new(),
            seq: 0,
            pushed: 0,
            written: 0,
            bytes: 0,
            last_ts: 0,
        })
    }

    /// Queues a frame sent at `ts_us` (microseconds since the epoch).
    pub fn push(&mut self, ts_us: u64, frame: Vec<u8>) {
        self.seq += 1;
        self.pushed += 1;
        self.heap.push(Reverse(Pending {
            ts_us,
            seq: self.seq,
            frame,
        }));
    }

    /// Writes every queued frame sent before `ts_us`: the caller promises
    /// that nothing earlier will be pushed afterwards.
    pub fn release_before(&mut self, ts_us: u64) -> io::Result<()> {
        while self.heap.peek().is_some_and(|p| p.0.ts_us < ts_us) {
            let Reverse(p) = self.heap.pop().expect("peeked");
            self.write(p.ts_us, &p.frame)?;
        }
        Ok(())
    }

    /// Writes every queued frame and flushes the file.
    pub fn finish(mut self) -> io::Result<(u64, u64)> {
        while let Some(Reverse(p)) = self.heap.pop() {
            self.write(p.ts_us, &p.frame)?;
        }
        self.out.flush()?;
        Ok((self.written, self.bytes))
    }

    fn write(&mut self, ts_us: u64, frame: &[u8]) -> io::Result<()> {
        debug_assert!(ts_us >= self.last_ts, "frames out of order");
        self.last_ts = ts_us;
        let len = frame.len() as u32;
        self.out
            .write_all(&((ts_us / 1_000_000) as u32).to_le_bytes())?;
        self.out
            .write_all(&((ts_us % 1_000_000) as u32).to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(frame)?;
        self.written += 1;
        self.bytes += frame.len() as u64;
        Ok(())
    }
}
