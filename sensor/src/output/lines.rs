//! A file or stdout sink that keeps every EVE line whole when writes fail.
//!
//! EVE readers (Filebeat, Vector, `jq`) take the file line by line, so a line
//! must never be cut short or spliced with another. This sink holds whole
//! lines in a bounded buffer ([`BUF_BYTES`]) and writes them with plain
//! `write` calls, remembering how much of the buffer reached the file:
//!
//! - a short write or an error (disk full, `EPIPE` on a closed stdout, a
//!   file system gone read-only) keeps the unwritten tail, so the line cut by
//!   the error is completed first when writing works again;
//! - while the output is failing, new batches are dropped as whole lines and
//!   counted ([`LineSink::lost_lines`]); stderr says so once per outage, and
//!   once more when writing works again, with the number of lines lost;
//! - a failing output is retried at each batch and each flush interval, so
//!   writing resumes by itself (space freed, file system remounted) and never
//!   holds up the workers or the capture.
//!
//! `std::io::BufWriter` is not used because after an error it cannot say how
//! much of a caller's write reached the file, and it writes large batches
//! straight through, so a failing write could leave half a line behind.

use std::fs::File;
use std::io::{self, Write};

/// Bytes of whole lines held before they are written.
pub const BUF_BYTES: usize = 256 * 1024;

/// A file (or stdout, through a duplicate of its descriptor) written in
/// whole lines.
pub(super) struct LineSink {
    file: File,
    /// Shown in messages: the path, or `stdout`.
    name: String,
    /// Whole lines not yet (completely) written; `buf[..written]` is in the
    /// file already.
    buf: Vec<u8>,
    written: usize,
    /// The error of the current outage, if the output is failing now.
    failing: Option<io::ErrorKind>,
    lost_lines: u64,
    lost_now: u64,
    errors: u64,
}

impl LineSink {
    /// A sink over `file`, called `name` in messages.
    pub(super) fn new(file: File, name: &str) -> LineSink {
        LineSink {
            file,
            name: name.to_string(),
            buf: Vec::with_capacity(BUF_BYTES),
            written: 0,
            failing: None,
            lost_lines: 0,
            lost_now: 0,
            errors: 0,
        }
    }

    /// Standard output, written through a duplicate of descriptor 1 (Rust's
    /// `Stdout` adds a line buffer of its own with the same problem as
    /// `BufWriter`).
    pub(super) fn stdout() -> io::Result<LineSink> {
        use std::os::fd::AsFd;
        let fd = io::stdout().as_fd().try_clone_to_owned()?;
        Ok(LineSink::new(File::from(fd), "stdout"))
    }

    /// Adds a batch of complete lines. Returns false when the batch was
    /// dropped because the output is failing.
    pub(super) fn push(&mut self, batch: &[u8]) -> bool {
        if self.failing.is_some() && !self.drain() {
            self.lose(batch);
            return false;
        }
        if self.buf.len() + batch.len() > BUF_BYTES && !self.drain() {
            self.lose(batch);
            return false;
        }
        self.buf.extend_from_slice(batch);
        if self.buf.len() >= BUF_BYTES {
            // An error here keeps the lines held; they are not lost yet.
            self.drain();
        }
        true
    }

    /// Writes everything held. Returns true when nothing is left.
    pub(super) fn drain(&mut self) -> bool {
        while self.written < self.buf.len() {
            match self.file.write(&self.buf[self.written..]) {
                Ok(0) => {
                    self.fail(io::ErrorKind::WriteZero.into());
                    return false;
                }
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.fail(e);
                    return false;
                }
            }
        }
        self.buf.clear();
        self.written = 0;
        if self.failing.take().is_some() {
            eprintln!(
                "virga: EVE output {} is writable again; {} lines were lost",
                self.name, self.lost_now
            );
            self.lost_now = 0;
        }
        true
    }

    /// Writes what is held at shutdown; lines that cannot be written are
    /// counted as lost. Returns true when everything reached the output.
    pub(super) fn close(&mut self) -> bool {
        if self.drain() {
            return true;
        }
        let held = &self.buf[self.written..];
        let n = held.iter().filter(|b| **b == b'\n').count() as u64;
        self.lost_lines += n;
        self.buf.clear();
        self.written = 0;
        false
    }

    /// True while lines are held (a flush is due) or the output is failing
    /// (a retry is due).
    pub(super) fn has_pending(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Lines dropped because the output failed.
    pub(super) fn lost_lines(&self) -> u64 {
        self.lost_lines
    }

    /// Failed write attempts.
    pub(super) fn errors(&self) -> u64 {
        self.errors
    }

    /// Switches to `file` (the path reopened after rotation). A line cut by
    /// an error is completed in the old file first if it can be; if not, the
    /// rest of it is dropped (counted), and the whole lines held go to the
    /// new file.
    pub(super) fn switch_to(&mut self, file: File) {
        self.drain();
        if self.written > 0 {
            match self.buf[self.written..].iter().position(|b| *b == b'\n') {
                Some(i) => {
                    self.lost_lines += 1;
                    self.buf.drain(..self.written + i + 1);
                }
                None => self.buf.clear(),
            }
            self.written = 0;
        }
        self.file = file;
    }

    fn fail(&mut self, e: io::Error) {
        self.errors += 1;
        if self.failing.is_none() {
            eprintln!(
                "virga: cannot write EVE output {}: {e}; dropping and counting events until it \
                 can be written again",
                self.name
            );
            self.failing = Some(e.kind());
        }
    }

    fn lose(&mut self, batch: &[u8]) {
        let n = batch.iter().filter(|b| **b == b'\n').count() as u64;
        self.lost_lines += n;
        self.lost_now += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(n: usize, tag: &str) -> Vec<u8> {
        (0..n)
            .map(|i| format!("{{\"{tag}\":{i},\"pad\":\"{}\"}}\n", "x".repeat(100)))
            .collect::<String>()
            .into_bytes()
    }

    #[test]
    fn a_full_device_loses_whole_lines_and_counts_them() {
        // /dev/full: every write fails with ENOSPC, as on a full disk.
        let f = std::fs::OpenOptions::new()
            .append(true)
            .open("/dev/full")
            .unwrap();
        let mut s = LineSink::new(f, "/dev/full");
        let batch = lines(1000, "a"); // ≈ 120 KB
        assert!(s.push(&batch), "first batch is held, not yet lost");
        assert!(s.push(&batch));
        // The third batch overflows the buffer: the write fails, it is lost.
        assert!(!s.push(&batch));
        assert_eq!(s.lost_lines(), 1000);
        assert!(!s.drain());
        assert!(s.errors() >= 2);
        assert!(s.has_pending());
        assert!(!s.push(&lines(10, "b")));
        assert_eq!(s.lost_lines(), 1010);
    }

    #[test]
    fn reopened_file_gets_the_held_lines_whole() {
        let dir = std::env::temp_dir().join(format!("virga-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("eve.json");
        let full = std::fs::OpenOptions::new()
            .append(true)
            .open("/dev/full")
            .unwrap();
        let mut s = LineSink::new(full, "/dev/full");
        s.push(&lines(5, "held"));
        assert!(!s.drain());
        s.switch_to(std::fs::File::create(&p).unwrap());
        assert!(s.push(&lines(3, "new")));
        assert!(s.drain());
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().count(), 8);
        for l in text.lines() {
            serde_json::from_str::<serde_json::Value>(l).unwrap();
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
