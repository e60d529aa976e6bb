//! DNS: the DNS-over-TCP framing state, and names in presentation form.

use virga_parsers::dns::{self, Name};

/// Writes a name in presentation form (no trailing dot, root as "") into `out`.
pub fn name_text(n: &Name<'_>, out: &mut String) {
    out.clear();
    if n.write_text(out).is_err() {
        out.clear();
    }
}

/// DNS over TCP: per-direction buffer of the bytes after the last whole
/// message (the 2-byte length framing lets one segment carry several
/// messages, and one message span several segments).
#[derive(Debug, Default)]
pub struct TcpDnsState {
    buf: [Vec<u8>; 2],
    next_seq: [Option<u32>; 2],
    broken: [bool; 2],
}

/// Largest buffered DNS-over-TCP remainder per direction (one full message
/// and its length prefix).
pub const MAX_TCP_DNS_BUFFER: usize = 65_537;

impl TcpDnsState {
    /// Adds a segment of direction `dir` (0 = to server) and calls `each`
    /// for every whole message now available. Out-of-order data stops the
    /// direction (counted by the caller through the return value `false`).
    pub fn push(
        &mut self,
        dir: usize,
        seq: u32,
        payload: &[u8],
        mut each: impl FnMut(&[u8]),
    ) -> bool {
        let d = dir.min(1);
        if self.broken[d] || payload.is_empty() {
            return !self.broken[d];
        }
        match self.next_seq[d] {
            Some(n) if n != seq => {
                // Retransmission of data already consumed: ignore it.
                if seq.wrapping_sub(n) > u32::MAX / 2 {
                    return true;
                }
                self.broken[d] = true;
                self.buf[d] = Vec::new();
                return false;
            }
            _ => {}
        }
        self.next_seq[d] = Some(seq.wrapping_add(payload.len() as u32));
        let buf = &mut self.buf[d];
        let stream: &[u8] = if buf.is_empty() {
            payload
        } else {
            if buf.len() + payload.len() > MAX_TCP_DNS_BUFFER {
                self.broken[d] = true;
                *buf = Vec::new();
                return false;
            }
            buf.extend_from_slice(payload);
            buf
        };
        let mut it = dns::tcp_messages(stream);
        for m in it.by_ref() {
            each(m);
        }
        let rest = it.remainder().to_vec();
        self.buf[d] = rest;
        true
    }
}
