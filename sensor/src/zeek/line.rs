//! Bounded line reading: `BufRead::read_until` keeps a whole line however
//! long it is; a hostile log with one endless line must not take the
//! memory, so lines are read through the buffer with `memchr` and a line
//! over the limit is skipped to its end and reported.

use std::io::{self, BufRead};

/// Longest line kept (Zeek lines are a few hundred bytes; JSON lines with
/// long certificate chains a few KiB).
pub const MAX_LINE: usize = 1 << 20;

/// What the next line was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line {
    /// A line is in the buffer (without its line break).
    Ok,
    /// A line longer than the limit was skipped.
    TooLong,
    /// End of input.
    End,
}

/// Reads the next line of `r` into `buf` (cleared first), at most `max`
/// bytes; a trailing `\r` is removed.
pub fn read_line(r: &mut dyn BufRead, buf: &mut Vec<u8>, max: usize) -> io::Result<Line> {
    buf.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let avail = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if avail.is_empty() {
            break;
        }
        any = true;
        let (chunk, done) = match memchr::memchr(b'\n', avail) {
            Some(i) => (&avail[..i], Some(i + 1)),
            None => (avail, None),
        };
        if !too_long {
            if buf.len() + chunk.len() > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let used = done.unwrap_or(avail.len());
        r.consume(used);
        if done.is_some() {
            break;
        }
    }
    if too_long {
        return Ok(Line::TooLong);
    }
    if !any {
        return Ok(Line::End);
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    Ok(Line::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_split_and_long_ones_skipped() {
        let data = b"ab\r\ncdefgh\nij".to_vec();
        let mut r = io::BufReader::with_capacity(2, &data[..]);
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut r, &mut buf, 4).unwrap(), Line::Ok);
        assert_eq!(buf, b"ab");
        assert_eq!(read_line(&mut r, &mut buf, 4).unwrap(), Line::TooLong);
        assert_eq!(read_line(&mut r, &mut buf, 4).unwrap(), Line::Ok);
        assert_eq!(buf, b"ij");
        assert_eq!(read_line(&mut r, &mut buf, 4).unwrap(), Line::End);
    }
}
