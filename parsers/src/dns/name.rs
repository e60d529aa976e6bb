//! Domain names inside a DNS message: validation, lazy decompression and
//! presentation-format output.
//!
//! A [`Name`] is a view into the message bytes: it wraps `domain`'s
//! [`ParsedName`], which walks the name once when it is created (checking
//! every label and every compression pointer) and re-walks the message
//! bytes each time the labels are read. Nothing is copied or allocated.
//!
//! # Limits
//! - [`MAX_NAME_WIRE_LEN`]: 255 bytes of uncompressed wire form, root
//!   label included; longer names are `Invalid` (`name_too_long`).
//! - [`MAX_LABEL_LEN`]: 63 bytes per label; label types 0x40 and 0x80
//!   (extended and reserved label types) are `Invalid` (`name_label_type`).
//! - [`MAX_LABELS`]: 128 labels including the root; it follows from the
//!   255-byte limit.
//! - Compression pointers must point strictly backwards, before the pointer
//!   itself, and a name may follow at most [`MAX_POINTER_HOPS`] pointers
//!   (both rules are `domain`'s). A pointer loop is therefore impossible; a
//!   forward or self pointer, or too many hops, is `Invalid`
//!   (`name_bad_pointer`), where tshark prints
//!   `<Name contains a pointer that loops>`.
//! - [`MAX_NAME_TEXT_LEN`]: longest presentation form (1003 bytes: four
//!   63-byte labels, every byte escaped as `\DDD`).

use core::fmt;

use domain::base::name::ParsedName;
use domain::dep::octseq::parse::Parser;

use crate::error::{Layer, ParseError};

/// Longest name in uncompressed wire form, root label included (RFC 1035).
pub const MAX_NAME_WIRE_LEN: usize = 255;
/// Longest label (RFC 1035).
pub const MAX_LABEL_LEN: usize = 63;
/// Most labels in a name, root included (a consequence of the 255-byte
/// limit: every non-root label takes at least two bytes).
pub const MAX_LABELS: usize = 128;
/// Most compression pointers followed for one name (`domain`'s bound).
pub const MAX_POINTER_HOPS: usize = 255;
/// Longest presentation form written by [`Name::write_text`]: 1003 bytes
/// (labels of 63, 63, 63 and 61 bytes, every byte escaped, three dots).
pub const MAX_NAME_TEXT_LEN: usize = 1003;

/// A validated domain name inside a DNS message, decompressed lazily.
///
/// Cheap to copy (a slice, an offset and a length). Case is preserved.
#[derive(Clone, Copy)]
pub struct Name<'a> {
    inner: ParsedName<&'a [u8]>,
}

impl<'a> Name<'a> {
    /// Validates the name that starts at `pos` in `msg` (the whole DNS
    /// message, so that compression pointers resolve).
    ///
    /// Returns the name and the offset just after it in `msg` (after its
    /// first compression pointer, if any).
    ///
    /// # Errors
    /// `Invalid` with `what` one of `name_label_type`, `name_too_long`,
    /// `name_bad_pointer`, or `Truncated` when the name runs past the end of
    /// `msg`. See [`skip_name`] for which of these still let a caller step
    /// over the name.
    pub fn parse(msg: &'a [u8], pos: usize) -> Result<(Name<'a>, usize), ParseError> {
        let mut parser = Parser::from_ref(msg);
        if parser.seek(pos).is_err() {
            return Err(TRUNCATED);
        }
        match ParsedName::parse(&mut parser) {
            Ok(inner) => Ok((Name { inner }, parser.pos())),
            Err(_) => Err(diagnose(msg, pos)),
        }
    }

    /// Wraps a name that a `domain` rdata parser has already validated.
    pub(crate) fn from_parsed(inner: ParsedName<&'a [u8]>) -> Name<'a> {
        Name { inner }
    }

    /// True for the root name (presentation form "").
    pub fn is_root(&self) -> bool {
        self.inner.is_root()
    }

    /// Length of the uncompressed wire form, root label included (1..=255).
    pub fn wire_len(&self) -> usize {
        use domain::base::name::ToLabelIter;
        usize::from(self.inner.compose_len())
    }

    /// The labels from left to right as raw bytes, without the root label.
    pub fn labels(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.inner
            .iter()
            .take(MAX_LABELS)
            .filter(|l| !l.is_root())
            .map(|l| l.as_slice())
    }

    /// Number of labels, root excluded (0 for the root name).
    pub fn label_count(&self) -> usize {
        self.labels().count()
    }

    /// Writes the name in presentation form into `w`: labels joined by
    /// `.`, no trailing dot, the root as the empty string, case preserved.
    /// Bytes outside printable ASCII (0x20..=0x7e), and `.` and `\` inside a
    /// label, are written as `\DDD` (three decimal digits, RFC 1035 §5.1).
    /// The output is ASCII and at most [`MAX_NAME_TEXT_LEN`] bytes.
    ///
    /// `domain`'s own `Display` is not used: it writes `\.`, `\\` and `\ `
    /// (backslash + character), and escapes the space, which tshark and
    /// Suricata print as is (mDNS service names contain spaces).
    ///
    /// # Errors
    /// Only the errors of `w`.
    pub fn write_text<W: fmt::Write + ?Sized>(&self, w: &mut W) -> fmt::Result {
        for (i, label) in self.labels().enumerate() {
            if i > 0 {
                w.write_char('.')?;
            }
            write_label(label, w)?;
        }
        Ok(())
    }

    /// Writes the presentation form (see [`Name::write_text`]) into `buf`
    /// and returns it as a `&str`, or `None` when `buf` is too short. A
    /// buffer of [`MAX_NAME_TEXT_LEN`] bytes is always long enough.
    pub fn write_text_into<'b>(&self, buf: &'b mut [u8]) -> Option<&'b str> {
        // Direct byte copy rather than `write_text` through `fmt::Write`:
        // about three times faster on typical names.
        let mut len = 0;
        for (i, label) in self.labels().enumerate() {
            if i > 0 {
                *buf.get_mut(len)? = b'.';
                len += 1;
            }
            if label.iter().all(|&b| is_plain(b)) {
                let end = len + label.len();
                buf.get_mut(len..end)?.copy_from_slice(label);
                len = end;
                continue;
            }
            for &b in label {
                if is_plain(b) {
                    *buf.get_mut(len)? = b;
                    len += 1;
                } else {
                    buf.get_mut(len..len + 4)?.copy_from_slice(&escape(b));
                    len += 4;
                }
            }
        }
        // Only printable ASCII was written.
        core::str::from_utf8(buf.get(..len)?).ok()
    }

    /// Case-insensitive (ASCII) comparison with another name.
    pub fn eq_ignore_case(&self, other: &Name<'_>) -> bool {
        self.labels()
            .map(Some)
            .chain(core::iter::once(None))
            .zip(other.labels().map(Some).chain(core::iter::once(None)))
            .all(|(a, b)| match (a, b) {
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                (None, None) => true,
                _ => false,
            })
    }
}

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_text(f)
    }
}

impl fmt::Debug for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

const TRUNCATED: ParseError = ParseError::Truncated { layer: Layer::Dns };

const fn invalid(what: &'static str) -> ParseError {
    ParseError::Invalid {
        layer: Layer::Dns,
        what,
    }
}

/// True for bytes written as themselves in presentation form.
fn is_plain(b: u8) -> bool {
    (0x20..=0x7e).contains(&b) && b != b'.' && b != b'\\'
}

/// `\DDD` for byte `b`.
fn escape(b: u8) -> [u8; 4] {
    [b'\\', b'0' + b / 100, b'0' + (b / 10) % 10, b'0' + b % 10]
}

fn write_label<W: fmt::Write + ?Sized>(label: &[u8], w: &mut W) -> fmt::Result {
    let mut rest = label;
    // Bounded: every round consumes at least one byte of `rest`.
    while !rest.is_empty() {
        let plain = rest.iter().take_while(|&&b| is_plain(b)).count();
        let (run, tail) = rest.split_at_checked(plain).unwrap_or((rest, &[]));
        if !run.is_empty() {
            // `run` is printable ASCII, hence valid UTF-8.
            w.write_str(core::str::from_utf8(run).map_err(|_| fmt::Error)?)?;
        }
        if let Some((&b, after)) = tail.split_first() {
            let e = escape(b);
            w.write_str(core::str::from_utf8(&e).map_err(|_| fmt::Error)?)?;
            rest = after;
        } else {
            rest = tail;
        }
    }
    Ok(())
}

/// Steps over the name at `pos` without following compression pointers and
/// returns the offset just after it.
///
/// Hand-written because `domain`'s `ParsedName::skip` also rejects names
/// longer than 255 bytes; skipping such a name (and a name whose pointer is
/// bad) lets the caller go on with the next record, as tshark does. The loop
/// is bounded by `msg.len()`: each step consumes at least one byte.
///
/// # Errors
/// `Invalid` (`name_label_type`) for label types 0x40/0x80, `Truncated` when
/// the name runs past the end of `msg`. After either, the rest of the section
/// cannot be found.
pub fn skip_name(msg: &[u8], pos: usize) -> Result<usize, ParseError> {
    skip_name_len(msg, pos).map(|(end, _)| end)
}

/// [`skip_name`], also returning the length of the uncompressed prefix.
fn skip_name_len(msg: &[u8], mut pos: usize) -> Result<(usize, usize), ParseError> {
    let mut len = 0usize;
    loop {
        let b = *msg.get(pos).ok_or(TRUNCATED)?;
        match b {
            0 => return Ok((pos + 1, len + 1)),
            1..=0x3f => {
                let next = pos + 1 + usize::from(b);
                if next > msg.len() {
                    return Err(TRUNCATED);
                }
                len += 1 + usize::from(b);
                pos = next;
            }
            0xc0..=0xff => {
                if pos + 2 > msg.len() {
                    return Err(TRUNCATED);
                }
                return Ok((pos + 2, len));
            }
            _ => return Err(invalid("name_label_type")),
        }
    }
}

/// Explains why `domain` rejected the name at `pos` (error path only).
fn diagnose(msg: &[u8], pos: usize) -> ParseError {
    match skip_name_len(msg, pos) {
        Err(e) => e,
        Ok((_, prefix)) if prefix > MAX_NAME_WIRE_LEN - 1 => invalid("name_too_long"),
        // The uncompressed prefix is fine, so the fault is behind a pointer:
        // forward or self pointer, too many hops, or a bad or too long name
        // where it points.
        Ok(_) => invalid("name_bad_pointer"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(msg: &[u8], pos: usize) -> Result<String, ParseError> {
        Name::parse(msg, pos).map(|(n, _)| n.to_string())
    }

    #[test]
    fn plain_and_root() {
        let msg = b"\x03www\x07Example\x03com\x00\x00";
        let (n, end) = Name::parse(msg, 0).unwrap();
        assert_eq!(n.to_string(), "www.Example.com");
        assert_eq!(end, 17);
        assert_eq!(n.wire_len(), 17);
        assert_eq!(n.label_count(), 3);
        assert!(!n.is_root());
        let (root, end) = Name::parse(msg, 16).unwrap();
        assert!(root.is_root());
        assert_eq!(root.to_string(), "");
        assert_eq!(end, 17);
        assert_eq!(root.labels().count(), 0);
    }

    #[test]
    fn compression_backward_only() {
        // "example.com" at 0, then "www" + pointer to 0 at 13.
        let mut msg = b"\x07example\x03com\x00".to_vec();
        msg.extend_from_slice(b"\x03www\xc0\x00");
        let (n, end) = Name::parse(&msg, 13).unwrap();
        assert_eq!(n.to_string(), "www.example.com");
        assert_eq!(end, 19);
        // A pointer to itself.
        let msg = b"\x03www\xc0\x04";
        assert_eq!(text(msg, 0), Err(invalid("name_bad_pointer")));
        // A forward pointer (to a valid name further on).
        let msg = b"\xc0\x02\x01a\x00";
        assert_eq!(text(msg, 0), Err(invalid("name_bad_pointer")));
        assert_eq!(skip_name(msg, 0), Ok(2));
        // Two pointers pointing at each other.
        let msg = b"\xc0\x02\xc0\x00";
        assert_eq!(text(msg, 2), Err(invalid("name_bad_pointer")));
        assert_eq!(text(msg, 0), Err(invalid("name_bad_pointer")));
    }

    #[test]
    fn errors_and_skip() {
        assert_eq!(text(b"\x03ww", 0), Err(TRUNCATED));
        assert_eq!(skip_name(b"\x03ww", 0), Err(TRUNCATED));
        assert_eq!(text(b"\x03www", 0), Err(TRUNCATED));
        assert_eq!(text(b"\xc0", 0), Err(TRUNCATED));
        assert_eq!(text(b"\x41abc\x00", 0), Err(invalid("name_label_type")));
        assert_eq!(text(b"\x81abc\x00", 0), Err(invalid("name_label_type")));
        assert_eq!(text(b"", 0), Err(TRUNCATED));
        assert_eq!(text(b"\x00", 5), Err(TRUNCATED));
        // 5 labels of 63 bytes: 320 bytes, too long, but skippable.
        let mut long = Vec::new();
        for _ in 0..5 {
            long.push(63);
            long.extend_from_slice(&[b'a'; 63]);
        }
        long.push(0);
        assert_eq!(text(&long, 0), Err(invalid("name_too_long")));
        assert_eq!(skip_name(&long, 0), Ok(long.len()));
    }

    #[test]
    fn escapes_and_max_text_len() {
        let msg = b"\x05a.b\\\x7f\x04sp c\x03\xff\x00A\x00";
        assert_eq!(text(msg, 0).unwrap(), "a\\046b\\092\\127.sp c.\\255\\000A");
        // Longest possible presentation form: labels of 63,63,63,61 bytes
        // of 0xff (255 wire bytes).
        let mut max = Vec::new();
        for len in [63u8, 63, 63, 61] {
            max.push(len);
            max.extend(core::iter::repeat_n(0xffu8, usize::from(len)));
        }
        max.push(0);
        assert_eq!(max.len(), MAX_NAME_WIRE_LEN);
        let (n, _) = Name::parse(&max, 0).unwrap();
        let s = n.to_string();
        assert_eq!(s.len(), MAX_NAME_TEXT_LEN);
        let mut buf = [0u8; MAX_NAME_TEXT_LEN];
        assert_eq!(n.write_text_into(&mut buf), Some(s.as_str()));
        let mut short = [0u8; MAX_NAME_TEXT_LEN - 1];
        assert_eq!(n.write_text_into(&mut short), None);
        // One more byte is too long.
        max.insert(0, 0xff);
        max.insert(0, 1);
        assert_eq!(text(&max, 0), Err(invalid("name_too_long")));
    }

    #[test]
    fn max_labels() {
        // 127 one-byte labels + root = 255 bytes, the most labels possible.
        let mut msg = Vec::new();
        for _ in 0..127 {
            msg.extend_from_slice(b"\x01x");
        }
        msg.push(0);
        let (n, _) = Name::parse(&msg, 0).unwrap();
        assert_eq!(n.label_count(), MAX_LABELS - 1);
        assert_eq!(n.wire_len(), MAX_NAME_WIRE_LEN);
    }

    #[test]
    fn case_insensitive_eq() {
        let msg = b"\x03WWW\x01a\x00\x03www\x01A\x00\x03www\x00";
        let (a, _) = Name::parse(msg, 0).unwrap();
        let (b, _) = Name::parse(msg, 7).unwrap();
        let (c, _) = Name::parse(msg, 14).unwrap();
        assert!(a.eq_ignore_case(&b));
        assert!(!a.eq_ignore_case(&c));
        assert!(!c.eq_ignore_case(&a));
    }
}
