//! EVE lines to a Unix stream socket, as a client (like Suricata's
//! `unix_stream` output): a log shipper or SIEM agent listens on the path.
//!
//! The socket never holds up the writer thread, and so never the capture:
//! writes are non-blocking, unsent bytes wait in a bounded buffer
//! ([`PENDING_MAX_BYTES`]), and what does not fit is dropped as whole lines
//! and counted. When the peer is gone (not listening yet, restarted), lines are
//! counted as lost, stderr says so once per outage, and the connection is
//! retried every retry interval (the output flush interval, at least
//! [`MIN_RETRY`]).

use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// Unsent bytes kept for a slow peer; past this new batches are dropped.
pub const PENDING_MAX_BYTES: usize = 4 * 1024 * 1024;

/// Shortest interval between connection attempts.
pub const MIN_RETRY: Duration = Duration::from_millis(100);

/// How soon to try again to write pending bytes to a peer that was not
/// ready.
const DRAIN_POLL: Duration = Duration::from_millis(10);

/// A Unix stream socket sink.
pub(super) struct SocketSink {
    path: String,
    stream: Option<UnixStream>,
    pending: Vec<u8>,
    /// Bytes of `pending` already written.
    sent: usize,
    retry: Duration,
    next_attempt: Instant,
    /// Lines never delivered.
    lost_lines: u64,
    /// Lines lost in the current outage or overload (reported once).
    lost_now: u64,
    reported: bool,
}

impl SocketSink {
    /// A sink for `path`; connects now if the peer is there, else later.
    pub(super) fn new(path: &str, retry: Duration) -> SocketSink {
        let mut s = SocketSink {
            path: path.to_string(),
            stream: None,
            pending: Vec::new(),
            sent: 0,
            retry: retry.max(MIN_RETRY),
            next_attempt: Instant::now(),
            lost_lines: 0,
            lost_now: 0,
            reported: false,
        };
        s.connect_if_due();
        s
    }

    /// Queues a batch of complete lines and writes what the peer takes.
    pub(super) fn push(&mut self, batch: &[u8]) {
        self.connect_if_due();
        let unsent = self.pending.len() - self.sent;
        if self.stream.is_none() {
            self.lose(lines(batch), "cannot deliver");
            return;
        }
        if unsent + batch.len() > PENDING_MAX_BYTES {
            self.lose(lines(batch), "peer is not keeping up");
            return;
        }
        self.pending.extend_from_slice(batch);
        self.drain();
    }

    /// Retries the connection when due and writes pending bytes.
    pub(super) fn poll(&mut self) {
        self.connect_if_due();
        self.drain();
    }

    /// How soon [`SocketSink::poll`] should run again, if at all.
    pub(super) fn wake_in(&self) -> Option<Duration> {
        // Disconnected: the next batch triggers the reconnection attempt.
        self.stream.as_ref()?;
        (self.sent < self.pending.len()).then_some(DRAIN_POLL)
    }

    /// Tries for at most `limit` to deliver what is pending (at shutdown);
    /// the rest is counted as lost.
    pub(super) fn finish(&mut self, limit: Duration) {
        let end = Instant::now() + limit;
        while self.stream.is_some() && self.sent < self.pending.len() && Instant::now() < end {
            self.drain();
            if self.sent < self.pending.len() {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let rest = lines(&self.pending[self.sent..]);
        if rest > 0 {
            self.lose(rest, "shutting down before the peer read");
        }
        self.pending.clear();
        self.sent = 0;
    }

    /// Lines never delivered so far.
    pub(super) fn lost_lines(&self) -> u64 {
        self.lost_lines
    }

    fn connect_if_due(&mut self) {
        if self.stream.is_some() || Instant::now() < self.next_attempt {
            return;
        }
        self.next_attempt = Instant::now() + self.retry;
        match UnixStream::connect(&self.path).and_then(|s| {
            s.set_nonblocking(true)?;
            Ok(s)
        }) {
            Ok(s) => {
                self.stream = Some(s);
                if self.reported {
                    eprintln!(
                        "virga: EVE socket {}: connected again ({} events lost in all)",
                        self.path, self.lost_lines
                    );
                    self.reported = false;
                }
                self.lost_now = 0;
            }
            Err(e) => {
                if !self.reported {
                    eprintln!(
                        "virga: EVE socket {}: cannot connect ({e}); counting lost events, \
                         retrying every {} ms",
                        self.path,
                        self.retry.as_millis()
                    );
                    self.reported = true;
                }
            }
        }
    }

    fn drain(&mut self) {
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        while self.sent < self.pending.len() {
            match stream.write(&self.pending[self.sent..]) {
                Ok(0) => return self.disconnect(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return self.disconnect(e),
            }
        }
        if self.sent == self.pending.len() {
            self.pending.clear();
            self.sent = 0;
            if self.lost_now > 0 && self.reported {
                eprintln!(
                    "virga: EVE socket {}: delivering again ({} events lost in all)",
                    self.path, self.lost_lines
                );
                self.reported = false;
                self.lost_now = 0;
            }
        } else if self.sent > self.pending.len() / 2 && self.sent >= 64 * 1024 {
            // Compact now and then, not on every write (keeps it linear).
            self.pending.drain(..self.sent);
            self.sent = 0;
        }
    }

    /// The peer went away: what it did not get is lost (a partly written
    /// line too, so a new peer starts on a line boundary).
    fn disconnect(&mut self, e: io::Error) {
        self.stream = None;
        let n = lines(&self.pending[self.sent..]);
        self.pending.clear();
        self.sent = 0;
        self.next_attempt = Instant::now() + self.retry;
        self.lost_lines += n;
        self.lost_now += n;
        if !self.reported {
            eprintln!(
                "virga: EVE socket {}: peer gone ({e}); counting lost events, retrying every {} ms",
                self.path,
                self.retry.as_millis()
            );
            self.reported = true;
        }
    }

    fn lose(&mut self, n: u64, why: &str) {
        self.lost_lines += n;
        self.lost_now += n;
        if !self.reported {
            eprintln!(
                "virga: EVE socket {}: {why}; counting lost events",
                self.path
            );
            self.reported = true;
        }
    }
}

fn lines(b: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', b).count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::os::unix::net::UnixListener;

    fn sock_path(name: &str) -> String {
        let p = std::env::temp_dir().join(format!("vg-{}-{name}.sock", std::process::id()));
        let _ = std::fs::remove_file(&p);
        p.to_string_lossy().into_owned()
    }

    #[test]
    fn delivers_lines_to_a_listening_peer() {
        let path = sock_path("ok");
        let listener = UnixListener::bind(&path).unwrap();
        let mut s = SocketSink::new(&path, Duration::from_millis(100));
        let (peer, _) = listener.accept().unwrap();
        s.push(b"{\"a\":1}\n{\"b\":2}\n");
        s.push(b"{\"c\":3}\n");
        s.finish(Duration::from_secs(1));
        drop(s);
        let got: Vec<String> = BufReader::new(peer).lines().map(Result::unwrap).collect();
        assert_eq!(got, ["{\"a\":1}", "{\"b\":2}", "{\"c\":3}"]);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn absent_peer_is_counted_then_reconnected() {
        let path = sock_path("late");
        let mut s = SocketSink::new(&path, Duration::from_millis(100));
        s.push(b"1\n2\n");
        assert_eq!(s.lost_lines(), 2);
        let listener = UnixListener::bind(&path).unwrap();
        // Not retried before the interval.
        s.push(b"3\n");
        assert_eq!(s.lost_lines(), 3);
        std::thread::sleep(Duration::from_millis(150));
        s.push(b"4\n");
        s.finish(Duration::from_secs(1));
        let (peer, _) = listener.accept().unwrap();
        drop(s);
        let got: Vec<String> = BufReader::new(peer).lines().map(Result::unwrap).collect();
        assert_eq!(got, ["4"]);
        std::fs::remove_file(&path).unwrap();
    }

    /// A peer that accepts and never reads: the sink never blocks, keeps at
    /// most `PENDING_MAX_BYTES` plus the kernel's buffer, and counts the rest.
    #[test]
    fn a_stalled_peer_never_blocks_the_writer() {
        let path = sock_path("stall");
        let listener = UnixListener::bind(&path).unwrap();
        let mut s = SocketSink::new(&path, Duration::from_millis(100));
        let (_peer, _) = listener.accept().unwrap();
        let line = [b'x'; 1023]
            .iter()
            .copied()
            .chain([b'\n'])
            .collect::<Vec<u8>>();
        let batch: Vec<u8> = line.iter().copied().cycle().take(64 * 1024).collect();
        let start = Instant::now();
        for _ in 0..200 {
            s.push(&batch); // 200 × 64 lines = 12,800 lines, 12.5 MiB
        }
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(s.pending.len() - s.sent <= PENDING_MAX_BYTES);
        let lost = s.lost_lines();
        assert!(lost > 0 && lost < 12_800, "{lost}");
        // Whole batches are dropped: the count is a multiple of 64 lines.
        assert_eq!(lost % 64, 0);
        s.finish(Duration::from_millis(50));
        assert!(s.lost_lines() >= lost);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_peer_that_goes_away_is_detected() {
        let path = sock_path("gone");
        let listener = UnixListener::bind(&path).unwrap();
        let mut s = SocketSink::new(&path, Duration::from_millis(100));
        let (peer, _) = listener.accept().unwrap();
        drop(peer);
        // The first write may still succeed into the kernel buffer; the
        // next ones see the broken pipe.
        for _ in 0..3 {
            s.push(b"lost\n");
        }
        assert!(s.stream.is_none());
        assert!(s.lost_lines() >= 2);
        std::fs::remove_file(&path).unwrap();
    }
}
