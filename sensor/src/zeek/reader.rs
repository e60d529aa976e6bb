//! One log file as a stream of typed rows: the format is decided by the
//! file's first line (`#` header: TSV; `{`: JSON lines), gzip is read
//! transparently, and a line that is not a row is counted and described
//! (file, line number, reason), never fatal.

use super::files::{self, LogFile, LogKind};
use super::json::JsonLine;
use super::line::{read_line, Line, MAX_LINE};
use super::row::{build, LogRow};
use super::tsv::Header;
use std::io::BufRead;
use std::path::PathBuf;

/// A line that is not a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// The file.
    pub file: PathBuf,
    /// 1-based line number.
    pub line: u64,
    /// Why.
    pub reason: String,
}

impl std::fmt::Display for BadLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.reason)
    }
}

/// Counts of one file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Lines read (headers included).
    pub lines: u64,
    /// Rows made.
    pub rows: u64,
    /// Bad lines.
    pub bad: u64,
    /// Lines of logs virga does not read.
    pub other: u64,
    /// Bytes read (after gunzip).
    pub bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Unknown,
    Tsv,
    Json,
}

/// What the next line gave.
#[derive(Debug)]
pub enum Item {
    /// A row.
    Row(LogRow),
    /// A bad line.
    Bad(BadLine),
}

/// A log file being read.
pub struct LogReader {
    file: PathBuf,
    input: Box<dyn BufRead + Send>,
    name_kind: Option<LogKind>,
    format: Format,
    header: Header,
    buf: Vec<u8>,
    cols: Vec<(u32, u32)>,
    line_no: u64,
    /// Counts so far.
    pub stats: ReadStats,
}

impl LogReader {
    /// Opens a log file.
    ///
    /// # Errors
    /// The file cannot be opened.
    pub fn open(f: &LogFile) -> std::io::Result<LogReader> {
        Ok(LogReader::from_reader(
            f.path.clone(),
            f.kind,
            files::open(&f.path)?,
        ))
    }

    /// Reads `input` as the log `file` (its kind by name `kind`).
    pub fn from_reader(
        file: PathBuf,
        kind: Option<LogKind>,
        input: Box<dyn BufRead + Send>,
    ) -> LogReader {
        LogReader {
            file,
            input,
            name_kind: kind,
            format: Format::Unknown,
            header: Header::default(),
            buf: Vec::new(),
            cols: Vec::new(),
            line_no: 0,
            stats: ReadStats::default(),
        }
    }

    /// The file.
    pub fn path(&self) -> &std::path::Path {
        &self.file
    }

    fn bad(&mut self, reason: impl Into<String>) -> Item {
        self.stats.bad += 1;
        Item::Bad(BadLine {
            file: self.file.clone(),
            line: self.line_no,
            reason: reason.into(),
        })
    }

    /// The next row or bad line; `None` at the end. A read error (a broken
    /// gzip stream) ends the file with one bad line naming it.
    pub fn next_item(&mut self) -> Option<Item> {
        loop {
            let got = read_line(&mut *self.input, &mut self.buf, MAX_LINE);
            self.line_no += 1;
            match got {
                Ok(Line::End) => return None,
                Err(e) => {
                    // Nothing more can be read from a broken stream.
                    self.input = Box::new(std::io::empty());
                    return Some(self.bad(format!("read error: {e}")));
                }
                Ok(Line::TooLong) => {
                    self.stats.lines += 1;
                    return Some(self.bad(format!("line longer than {MAX_LINE} bytes")));
                }
                Ok(Line::Ok) => {}
            }
            self.stats.lines += 1;
            self.stats.bytes += self.buf.len() as u64 + 1;
            let first = self.buf.iter().position(|b| !b.is_ascii_whitespace());
            let Some(first) = first else {
                continue;
            };
            if self.format == Format::Unknown {
                self.format = match self.buf[first] {
                    b'#' => Format::Tsv,
                    b'{' => Format::Json,
                    _ => {
                        return Some(self.bad("neither a Zeek TSV header nor a JSON object"));
                    }
                };
            }
            match self.format {
                Format::Tsv => {
                    if self.buf.first() == Some(&b'#') {
                        let line = std::mem::take(&mut self.buf);
                        let r = self.header.directive(&line);
                        self.buf = line;
                        if let Err(why) = r {
                            return Some(self.bad(why));
                        }
                        continue;
                    }
                    if let Some(item) = self.tsv_row() {
                        return Some(item);
                    }
                }
                Format::Json => {
                    if let Some(item) = self.json_row() {
                        return Some(item);
                    }
                }
                Format::Unknown => {}
            }
        }
    }

    fn tsv_row(&mut self) -> Option<Item> {
        if self.header.other_path {
            self.stats.other += 1;
            return None;
        }
        let Some(kind) = self.header.path.or(self.name_kind) else {
            self.stats.other += 1;
            return None;
        };
        if !self.header.has_fields {
            return Some(self.bad("data line before the #fields header"));
        }
        let line = self.header.split(&self.buf, &mut self.cols);
        match build(kind, &line) {
            Ok(r) => {
                self.stats.rows += 1;
                Some(Item::Row(r))
            }
            Err(why) => Some(self.bad(why)),
        }
    }

    fn json_row(&mut self) -> Option<Item> {
        let line = match JsonLine::parse(&self.buf) {
            Ok(l) => l,
            Err(why) => return Some(self.bad(why)),
        };
        let kind = match line.kind() {
            Some(Some(k)) => k,
            Some(None) => {
                self.stats.other += 1;
                return None;
            }
            None => match self.name_kind {
                Some(k) => k,
                None => {
                    self.stats.other += 1;
                    return None;
                }
            },
        };
        match build(kind, &line) {
            Ok(r) => {
                self.stats.rows += 1;
                Some(Item::Row(r))
            }
            Err(why) => Some(self.bad(why)),
        }
    }
}
