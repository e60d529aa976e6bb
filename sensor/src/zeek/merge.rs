//! Rows of many log files in time order. Zeek writes each log in time order
//! (conn.log by connection end, with `ts` its start, so nearly), but not the
//! logs across each other: the files of one group (same folder and rotation
//! stamp, see [`super::files`]) are read together, one row of look-ahead per
//! file, and the earliest row goes first (a k-way merge on a binary heap).
//! Groups follow each other in name order, so only one group's files are
//! open at a time.

use super::files::LogFile;
use super::reader::{BadLine, Item, LogReader, ReadStats};
use super::row::LogRow;
use crate::time::Timestamp;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;

/// Files merged by time, group after group.
pub struct Merge {
    files: Vec<LogFile>,
    next_file: usize,
    readers: Vec<LogReader>,
    origins: Vec<Arc<str>>,
    last_origin: Arc<str>,
    heads: Vec<Option<LogRow>>,
    heap: BinaryHeap<Reverse<(Timestamp, usize)>>,
    bad: VecDeque<BadLine>,
    /// Counts of the files finished so far.
    pub stats: ReadStats,
    /// Files opened.
    pub files_read: u64,
    /// Bytes of the files started so far, as stored (compressed or not).
    pub stored_bytes_started: u64,
}

impl Merge {
    /// Merges `files` (in the order [`super::expand_paths`] gives).
    pub fn new(files: Vec<LogFile>) -> Merge {
        Merge {
            files,
            next_file: 0,
            readers: Vec::new(),
            origins: Vec::new(),
            last_origin: Arc::from(""),
            heads: Vec::new(),
            heap: BinaryHeap::new(),
            bad: VecDeque::new(),
            stats: ReadStats::default(),
            files_read: 0,
            stored_bytes_started: 0,
        }
    }

    /// Opens the next group's files; false when none is left.
    fn open_group(&mut self) -> bool {
        self.readers.clear();
        self.origins.clear();
        self.heads.clear();
        self.heap.clear();
        let Some(first) = self.files.get(self.next_file) else {
            return false;
        };
        let group = first.group.clone();
        while let Some(f) = self.files.get(self.next_file) {
            if f.group != group {
                break;
            }
            self.next_file += 1;
            self.stored_bytes_started += std::fs::metadata(&f.path).map_or(0, |m| m.len());
            match LogReader::open(f) {
                Ok(r) => {
                    self.files_read += 1;
                    self.readers.push(r);
                    self.origins.push(Arc::from(f.path.display().to_string()));
                    self.heads.push(None);
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
        for i in 0..self.readers.len() {
            self.advance(i);
        }
        true
    }

    /// Reads file `i`'s next row into its head (bad lines set aside).
    fn advance(&mut self, i: usize) {
        loop {
            match self.readers[i].next_item() {
                Some(Item::Row(r)) => {
                    self.heap.push(Reverse((r.ts, i)));
                    self.heads[i] = Some(r);
                    return;
                }
                Some(Item::Bad(b)) => self.bad.push_back(b),
                None => {
                    let s = self.readers[i].stats;
                    self.stats.lines += s.lines;
                    self.stats.rows += s.rows;
                    self.stats.bad += s.bad;
                    self.stats.other += s.other;
                    self.stats.bytes += s.bytes;
                    return;
                }
            }
        }
    }

    /// The file of the row [`Merge::next`] returned last.
    pub fn last_origin(&self) -> &Arc<str> {
        &self.last_origin
    }

    /// The next row in time order, or a bad line; `None` at the end.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(b) = self.bad.pop_front() {
                return Some(Item::Bad(b));
            }
            if let Some(Reverse((_, i))) = self.heap.pop() {
                let row = self.heads[i].take();
                self.advance(i);
                if let Some(r) = row {
                    self.last_origin = Arc::clone(&self.origins[i]);
                    return Some(Item::Row(r));
                }
                continue;
            }
            if !self.open_group() {
                return None;
            }
        }
    }
}
