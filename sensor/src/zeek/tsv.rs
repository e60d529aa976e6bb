//! Zeek's TSV logs: the header lines (`#separator`, `#set_separator`,
//! `#empty_field`, `#unset_field`, `#path`, `#fields`, `#types`) and the data
//! lines they describe, with `-` (unset), `(empty)` and `\xNN` escapes.
//!
//! Lines are split with `memchr` on the declared one-byte separator rather
//! than with the `csv` crate: Zeek's format has no quoting (a separator in a
//! value is written `\x09`), so a quote-aware CSV reader would misread
//! values that start with `"`; splitting on the byte is exact and fast.

use super::files::LogKind;
use super::row::{Field, Fields};
use std::borrow::Cow;

/// What a file's header declared.
#[derive(Debug, Clone)]
pub struct Header {
    sep: u8,
    set_sep: u8,
    empty: Vec<u8>,
    unset: Vec<u8>,
    /// The log's type from `#path`.
    pub path: Option<LogKind>,
    /// Whether `#path` named a log virga does not read.
    pub other_path: bool,
    index: [Option<usize>; Field::COUNT],
    /// Whether `#fields` was seen.
    pub has_fields: bool,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            sep: b'\t',
            set_sep: b',',
            empty: b"(empty)".to_vec(),
            unset: b"-".to_vec(),
            path: None,
            other_path: false,
            index: [None; Field::COUNT],
            has_fields: false,
        }
    }
}

/// Unescapes Zeek's `\xNN` (and keeps any other backslash as written).
pub fn unescape(v: &[u8]) -> Cow<'_, [u8]> {
    if memchr::memchr(b'\\', v).is_none() {
        return Cow::Borrowed(v);
    }
    let mut out = Vec::with_capacity(v.len());
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'\\' && v.get(i + 1) == Some(&b'x') {
            if let Some(b) = v
                .get(i + 2..i + 4)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(v[i]);
        i += 1;
    }
    Cow::Owned(out)
}

fn to_text(b: Cow<'_, [u8]>) -> Cow<'_, str> {
    match b {
        Cow::Borrowed(b) => String::from_utf8_lossy(b),
        Cow::Owned(v) => Cow::Owned(String::from_utf8_lossy(&v).into_owned()),
    }
}

impl Header {
    /// Reads a header line (starting with `#`); returns the reason when it
    /// is malformed.
    pub fn directive(&mut self, line: &[u8]) -> Result<(), &'static str> {
        if let Some(v) = line.strip_prefix(b"#separator ") {
            let v = unescape(v.trim_ascii());
            match v.as_ref() {
                [b] => self.sep = *b,
                _ => return Err("separator must be one byte"),
            }
            return Ok(());
        }
        let mut parts = line.split(|&b| b == self.sep);
        let key = parts.next().unwrap_or_default();
        let value = parts.next();
        match key {
            b"#set_separator" => {
                let v = unescape(value.unwrap_or_default());
                match v.as_ref() {
                    [b] => self.set_sep = *b,
                    _ => return Err("set separator must be one byte"),
                }
            }
            b"#empty_field" => self.empty = value.unwrap_or_default().to_vec(),
            b"#unset_field" => self.unset = value.unwrap_or_default().to_vec(),
            b"#path" => {
                let p = String::from_utf8_lossy(value.unwrap_or_default());
                self.path = LogKind::from_path_name(&p);
                self.other_path = self.path.is_none();
            }
            b"#fields" => {
                self.index = [None; Field::COUNT];
                let names = line.split(|&b| b == self.sep).skip(1);
                for (i, name) in names.enumerate() {
                    let name = String::from_utf8_lossy(name);
                    if let Some(f) = Field::from_name(&name) {
                        self.index[f as usize].get_or_insert(i);
                    }
                }
                self.has_fields = true;
            }
            _ => {}
        }
        Ok(())
    }

    /// A data line's columns, split into `cols` (byte ranges).
    pub fn split<'a>(&'a self, line: &'a [u8], cols: &'a mut Vec<(u32, u32)>) -> TsvLine<'a> {
        cols.clear();
        let mut start = 0usize;
        for i in memchr::memchr_iter(self.sep, line) {
            cols.push((start as u32, i as u32));
            start = i + 1;
        }
        cols.push((start as u32, line.len() as u32));
        TsvLine {
            header: self,
            line,
            cols,
        }
    }
}

/// One data line of a TSV log.
pub struct TsvLine<'a> {
    header: &'a Header,
    line: &'a [u8],
    cols: &'a [(u32, u32)],
}

impl TsvLine<'_> {
    fn raw(&self, f: Field) -> Option<&[u8]> {
        let i = self.header.index[f as usize]?;
        let (a, b) = *self.cols.get(i)?;
        let v = self.line.get(a as usize..b as usize)?;
        if v == self.header.unset.as_slice() {
            return None;
        }
        Some(v)
    }
}

impl Fields for TsvLine<'_> {
    fn get(&self, f: Field) -> Option<Cow<'_, str>> {
        let v = self.raw(f)?;
        if v == self.header.empty.as_slice() {
            return Some(Cow::Borrowed(""));
        }
        Some(to_text(unescape(v)))
    }

    fn list(&self, f: Field, out: &mut Vec<String>) {
        let Some(v) = self.raw(f) else {
            return;
        };
        if v == self.header.empty.as_slice() {
            return;
        }
        for item in v.split(|&b| b == self.header.set_sep) {
            out.push(to_text(unescape(item)).into_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(unescape(b"a\\x09b").as_ref(), b"a\tb");
        assert_eq!(unescape(b"a\\x2cb\\").as_ref(), b"a,b\\");
        assert_eq!(unescape(b"\\xZZ").as_ref(), b"\\xZZ");
        assert_eq!(unescape(b"\\x4").as_ref(), b"\\x4");
    }
}
