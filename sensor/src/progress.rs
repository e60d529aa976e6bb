//! A one-line progress display for `virga replay` on a terminal: packets,
//! packets per second and the share of the input read.
//!
//! Hand-rolled rather than `indicatif`: one line of text redrawn at most
//! [`REDRAWS_PER_SEC`] times a second is all that is needed, and `indicatif`
//! would bring several crates (console, unicode-width, portable-atomic...) for
//! bars and multi-line layouts we do not use. The wall clock is read here for
//! display only; no result depends on it.

use std::io::{IsTerminal as _, Write};
use std::time::{Duration, Instant};

/// Most redraws per second.
pub const REDRAWS_PER_SEC: u32 = 4;

/// Bytes of a pcap record header, added per packet to estimate the file
/// position (pcapng blocks are a little larger; the share is an estimate).
pub const RECORD_HEADER_BYTES: u64 = 16;

/// The clock is read once per this many packets (and on the first).
const CLOCK_EVERY: u64 = 256;

/// Progress of a replay, drawn on stderr (or any writer in tests).
pub struct Progress {
    out: Option<Box<dyn Write + Send>>,
    total_bytes: u64,
    done_bytes: u64,
    packets: u64,
    start: Instant,
    last_draw: Option<Instant>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("enabled", &self.out.is_some())
            .field("total_bytes", &self.total_bytes)
            .field("done_bytes", &self.done_bytes)
            .field("packets", &self.packets)
            .finish()
    }
}

impl Progress {
    /// A display for `total_bytes` of input (sum of the file sizes) on
    /// stderr; draws nothing unless `enabled`.
    pub fn new(total_bytes: u64, enabled: bool) -> Progress {
        let out: Option<Box<dyn Write + Send>> = if enabled {
            Some(Box::new(std::io::stderr()))
        } else {
            None
        };
        Progress::with_writer(total_bytes, out)
    }

    /// [`Progress::new`], enabled when stderr is a terminal.
    pub fn on_stderr_terminal(total_bytes: u64) -> Progress {
        Progress::new(total_bytes, std::io::stderr().is_terminal())
    }

    /// A display writing to `out` (`None`: disabled).
    pub fn with_writer(total_bytes: u64, out: Option<Box<dyn Write + Send>>) -> Progress {
        Progress {
            out,
            total_bytes,
            done_bytes: 0,
            packets: 0,
            start: Instant::now(),
            last_draw: None,
        }
    }

    /// Counts one packet of `bytes` captured bytes (its record header is
    /// added here) and redraws if the last redraw is old enough.
    pub fn tick(&mut self, bytes: u64) {
        self.packets += 1;
        self.done_bytes = self
            .done_bytes
            .saturating_add(bytes)
            .saturating_add(RECORD_HEADER_BYTES);
        if self.out.is_none() || self.packets % CLOCK_EVERY != 1 {
            return;
        }
        let now = Instant::now();
        let due = self
            .last_draw
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1) / REDRAWS_PER_SEC);
        if due {
            self.last_draw = Some(now);
            self.draw(now, false);
        }
    }

    /// Draws the final figures and ends the line (when enabled).
    pub fn finish(&mut self) {
        if self.out.is_some() {
            self.draw(Instant::now(), true);
        }
    }

    /// Packets counted so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// The line as drawn at `elapsed` since the start.
    pub fn line(&self, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64();
        let rate = if secs > 0.0 {
            (self.packets as f64 / secs) as u64
        } else {
            0
        };
        let mut s = format!(
            "{} packets  {} pkts/s",
            grouped(self.packets),
            grouped(rate)
        );
        if self.total_bytes > 0 {
            let pct = (self.done_bytes.min(self.total_bytes) as f64 * 100.0
                / self.total_bytes as f64) as u64;
            s.push_str(&format!("  {pct}%"));
        }
        s
    }

    fn draw(&mut self, now: Instant, last: bool) {
        let line = self.line(now.duration_since(self.start));
        if let Some(out) = self.out.as_mut() {
            // \r and "erase line": redraw in place.
            let end = if last { "\n" } else { "" };
            let _ = write!(out, "\r\x1b[2K{line}{end}");
            let _ = out.flush();
        }
    }
}

/// `1234567` as `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// A writer tests can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn line_shows_packets_rate_and_share() {
        let mut p = Progress::with_writer(10_000, None);
        for _ in 0..3000 {
            p.tick(0);
        }
        // 3000 packets × 16 header bytes = 48,000 > 10,000: capped at 100%.
        assert_eq!(
            p.line(Duration::from_secs(2)),
            "3,000 packets  1,500 pkts/s  100%"
        );
        let mut q = Progress::with_writer(1_000_000, None);
        q.tick(234);
        assert_eq!(q.line(Duration::ZERO), "1 packets  0 pkts/s  0%");
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(12_345_678), "12,345,678");
    }

    #[test]
    fn redraws_are_rate_limited_and_finish_ends_the_line() {
        let buf = Shared::default();
        let mut p = Progress::with_writer(1 << 30, Some(Box::new(buf.clone())));
        for _ in 0..100_000 {
            p.tick(1500);
        }
        let draws = |b: &Shared| {
            String::from_utf8(b.0.lock().unwrap().clone())
                .unwrap()
                .matches('\r')
                .count()
        };
        // 100k ticks run in far less than a second: one or two redraws, not
        // one per packet or per clock read.
        let n = draws(&buf);
        assert!((1..=3).contains(&n), "{n} redraws");
        p.finish();
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert!(text.ends_with("\n"));
        assert!(text.contains("100,000 packets"), "{text}");
        assert_eq!(p.packets(), 100_000);
    }

    #[test]
    fn disabled_draws_nothing() {
        let mut p = Progress::new(100, false);
        p.tick(10);
        p.finish();
        assert_eq!(p.packets(), 1);
    }
}
