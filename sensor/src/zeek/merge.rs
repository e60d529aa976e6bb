//! Rows of many log files in time order. Zeek writes each log in time order
//! (conn.log by connection end, with `ts` its start, so nearly), but not the
//! logs across each other, and rotated names do not line up across log
//! types. Each file's first row time is read first (a probe that reads up to
//! its first row); files are then opened in that order, each as the merge
//! reaches its first time, and the earliest head row goes first (a k-way
//! merge on a binary heap, one row of look-ahead per open file). Only the
//! files that overlap the current time are open at once.

use super::files::LogFile;
use super::reader::{BadLine, Item, LogReader, ReadStats};
use super::row::LogRow;
use crate::time::Timestamp;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;

struct Open {
    reader: LogReader,
    origin: Arc<str>,
    head: Option<LogRow>,
}

/// Files merged by time.
pub struct Merge {
    /// Files not opened yet with their first row time, latest first.
    waiting: Vec<(Timestamp, LogFile)>,
    probed: bool,
    files: Vec<LogFile>,
    open: Vec<Option<Open>>,
    heap: BinaryHeap<Reverse<(Timestamp, usize)>>,
    bad: VecDeque<BadLine>,
    last_origin: Arc<str>,
    /// Counts of the files finished so far.
    pub stats: ReadStats,
    /// Files opened.
    pub files_read: u64,
}

impl Merge {
    /// Merges `files`.
    pub fn new(files: Vec<LogFile>) -> Merge {
        Merge {
            waiting: Vec::new(),
            probed: false,
            files,
            open: Vec::new(),
            heap: BinaryHeap::new(),
            bad: VecDeque::new(),
            last_origin: Arc::from(""),
            stats: ReadStats::default(),
            files_read: 0,
        }
    }

    fn add_stats(&mut self, s: ReadStats) {
        self.stats.lines += s.lines;
        self.stats.rows += s.rows;
        self.stats.bad += s.bad;
        self.stats.other += s.other;
        self.stats.bytes += s.bytes;
    }

    /// Reads each file up to its first row; a file without rows is done.
    fn probe(&mut self) {
        self.probed = true;
        for f in std::mem::take(&mut self.files) {
            let mut r = match LogReader::open(&f) {
                Ok(r) => r,
                Err(e) => {
                    self.stats.bad += 1;
                    self.bad.push_back(BadLine {
                        file: f.path.clone(),
                        line: 0,
                        reason: format!("cannot open: {e}"),
                    });
                    continue;
                }
            };
            let mut first = None;
            let mut bad = Vec::new();
            while let Some(item) = r.next_item() {
                match item {
                    Item::Row(row) => {
                        first = Some(row.ts);
                        break;
                    }
                    Item::Bad(b) => bad.push(b),
                }
            }
            match first {
                Some(ts) => self.waiting.push((ts, f)),
                None => {
                    // Read through: its counts and bad lines stand.
                    self.files_read += 1;
                    self.add_stats(r.stats);
                    self.bad.extend(bad);
                }
            }
        }
        self.waiting
            .sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.path.cmp(&a.1.path)));
    }

    /// Opens the next waiting file.
    fn open_next(&mut self) {
        let Some((_, f)) = self.waiting.pop() else {
            return;
        };
        match LogReader::open(&f) {
            Ok(reader) => {
                self.files_read += 1;
                let o = Some(Open {
                    reader,
                    origin: Arc::from(f.path.display().to_string()),
                    head: None,
                });
                // A finished file's slot is reused.
                let i = match self.open.iter().position(Option::is_none) {
                    Some(i) => {
                        self.open[i] = o;
                        i
                    }
                    None => {
                        self.open.push(o);
                        self.open.len() - 1
                    }
                };
                self.advance(i);
            }
            Err(e) => {
                self.stats.bad += 1;
                self.bad.push_back(BadLine {
                    file: f.path.clone(),
                    line: 0,
                    reason: format!("cannot open: {e}"),
                });
            }
        }
    }

    /// Reads file `i`'s next row into its head (bad lines set aside); a
    /// finished file is closed.
    fn advance(&mut self, i: usize) {
        let Some(o) = self.open.get_mut(i).and_then(Option::as_mut) else {
            return;
        };
        loop {
            match o.reader.next_item() {
                Some(Item::Row(r)) => {
                    self.heap.push(Reverse((r.ts, i)));
                    o.head = Some(r);
                    return;
                }
                Some(Item::Bad(b)) => self.bad.push_back(b),
                None => break,
            }
        }
        if let Some(done) = self.open[i].take() {
            self.add_stats(done.reader.stats);
        }
    }

    /// The file of the row [`Merge::next`] returned last.
    pub fn last_origin(&self) -> &Arc<str> {
        &self.last_origin
    }

    /// The next row in time order, or a bad line; `None` at the end.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Item> {
        if !self.probed {
            self.probe();
        }
        loop {
            if let Some(b) = self.bad.pop_front() {
                return Some(Item::Bad(b));
            }
            // Open every file whose first row is due.
            let head_ts = self.heap.peek().map(|Reverse((ts, _))| *ts);
            if let Some((first, _)) = self.waiting.last() {
                if head_ts.is_none_or(|t| *first <= t) {
                    self.open_next();
                    continue;
                }
            }
            let Reverse((_, i)) = self.heap.pop()?;
            let row = self.open[i].as_mut().and_then(|o| o.head.take());
            if let Some(o) = &self.open[i] {
                self.last_origin = Arc::clone(&o.origin);
            }
            self.advance(i);
            if let Some(r) = row {
                return Some(Item::Row(r));
            }
        }
    }
}
