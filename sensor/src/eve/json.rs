//! A streaming JSON line writer: EVE events are written straight into a byte
//! buffer, without building an intermediate JSON tree.
//!
//! Strings are escaped by `serde_json` (so quotes, backslashes and control
//! characters are always escaped correctly); byte strings that are not UTF-8
//! (attacker-controlled SNI, DNS names, User-Agent) are first made valid with
//! U+FFFD replacements, so every line stays valid JSON.

use std::borrow::Cow;

/// Maximum nesting depth of objects and arrays in one event.
const MAX_DEPTH: usize = 16;

/// Writes one JSON value (normally an object) into a caller-owned buffer.
pub struct JsonWriter<'b> {
    buf: &'b mut Vec<u8>,
    /// For each open container: has it got at least one element yet?
    has_elem: [bool; MAX_DEPTH],
    depth: usize,
}

impl<'b> JsonWriter<'b> {
    /// Starts writing at the end of `buf`.
    pub fn new(buf: &'b mut Vec<u8>) -> Self {
        JsonWriter {
            buf,
            has_elem: [false; MAX_DEPTH],
            depth: 0,
        }
    }

    fn sep(&mut self) {
        if self.depth > 0 {
            let slot = &mut self.has_elem[self.depth - 1];
            if *slot {
                self.buf.push(b',');
            }
            *slot = true;
        }
    }

    fn open(&mut self, c: u8) {
        self.buf.push(c);
        if self.depth < MAX_DEPTH {
            self.has_elem[self.depth] = false;
        }
        self.depth = (self.depth + 1).min(MAX_DEPTH);
    }

    fn close(&mut self, c: u8) {
        self.buf.push(c);
        self.depth = self.depth.saturating_sub(1);
    }

    /// Opens an object as a value (array element or top level).
    pub fn begin_object(&mut self) -> &mut Self {
        self.sep();
        self.open(b'{');
        self
    }

    /// Closes the innermost object.
    pub fn end_object(&mut self) -> &mut Self {
        self.close(b'}');
        self
    }

    /// Closes the innermost array.
    pub fn end_array(&mut self) -> &mut Self {
        self.close(b']');
        self
    }

    /// Writes `"key":` inside an object. Keys are constants of this crate
    /// that need no escape (debug builds, and so every test, check each key
    /// written), so they are copied as they are.
    fn key(&mut self, key: &'static str) {
        self.sep();
        debug_assert!(!needs_escape(key), "{key}");
        self.buf.reserve(key.len() + 3);
        self.buf.push(b'"');
        self.buf.extend_from_slice(key.as_bytes());
        self.buf.extend_from_slice(b"\":");
    }

    /// Opens `"key":[` for a key made at run time (escaped as any string).
    pub fn array_named(&mut self, key: &str) -> &mut Self {
        self.sep();
        write_str(self.buf, key);
        self.buf.push(b':');
        self.open(b'[');
        self
    }

    /// Opens `"key":{`.
    pub fn object(&mut self, key: &'static str) -> &mut Self {
        self.key(key);
        self.open(b'{');
        self
    }

    /// Opens `"key":[`.
    pub fn array(&mut self, key: &'static str) -> &mut Self {
        self.key(key);
        self.open(b'[');
        self
    }

    /// Writes `"key":"value"`.
    pub fn str(&mut self, key: &'static str, value: &str) -> &mut Self {
        self.key(key);
        write_str(self.buf, value);
        self
    }

    /// Writes `"key":"value"` for bytes that may not be UTF-8.
    pub fn bytes(&mut self, key: &'static str, value: &[u8]) -> &mut Self {
        self.key(key);
        write_bytes(self.buf, value);
        self
    }

    /// Writes `"key":<unsigned integer>`.
    pub fn u64(&mut self, key: &'static str, value: u64) -> &mut Self {
        self.key(key);
        let mut b = itoa_buf(value);
        self.buf.extend_from_slice(b.as_bytes_mut());
        self
    }

    /// Writes `"key":<signed integer>`.
    pub fn i64(&mut self, key: &'static str, value: i64) -> &mut Self {
        self.key(key);
        if value < 0 {
            self.buf.push(b'-');
        }
        let mut b = itoa_buf(value.unsigned_abs());
        self.buf.extend_from_slice(b.as_bytes_mut());
        self
    }

    /// Writes `"key":<float>` (non-finite values become `null`).
    pub fn f64(&mut self, key: &'static str, value: f64) -> &mut Self {
        self.key(key);
        write_f64(self.buf, value);
        self
    }

    /// Writes `"key":true|false`.
    pub fn bool(&mut self, key: &'static str, value: bool) -> &mut Self {
        self.key(key);
        self.buf
            .extend_from_slice(if value { b"true" } else { b"false" });
        self
    }

    /// Appends an already rendered `"key":value` member to the open object.
    /// The caller guarantees it is valid JSON (it was written by a
    /// `JsonWriter`).
    pub fn raw_member(&mut self, member: &str) -> &mut Self {
        self.sep();
        self.buf.extend_from_slice(member.as_bytes());
        self
    }

    /// Appends a string element to the open array.
    pub fn elem_str(&mut self, value: &str) -> &mut Self {
        self.sep();
        write_str(self.buf, value);
        self
    }

    /// Appends a byte-string element (lossy UTF-8) to the open array.
    pub fn elem_bytes(&mut self, value: &[u8]) -> &mut Self {
        self.sep();
        write_bytes(self.buf, value);
        self
    }

    /// Appends an unsigned integer element to the open array.
    pub fn elem_u64(&mut self, value: u64) -> &mut Self {
        self.sep();
        let mut b = itoa_buf(value);
        self.buf.extend_from_slice(b.as_bytes_mut());
        self
    }

    /// Appends a float element to the open array.
    pub fn elem_f64(&mut self, value: f64) -> &mut Self {
        self.sep();
        write_f64(self.buf, value);
        self
    }
}

/// Writes a JSON string literal for `s`, escaped.
pub fn write_str(buf: &mut Vec<u8>, s: &str) {
    // Most strings (every key, names, fingerprints) hold nothing to escape:
    // they are copied whole. The check has no early exit, so it compiles to
    // a vector loop; serde_json's escaper walks them byte by byte through
    // its writer. Anything else goes to serde_json, which never fails when
    // writing into a Vec. Both give the same bytes for a clean string.
    if needs_escape(s) {
        let _ = serde_json::to_writer(&mut *buf, s);
    } else {
        buf.reserve(s.len() + 2);
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
    }
}

/// True when `s` holds a byte JSON escapes (a control character, `"` or
/// `\\`). No early exit, so it compiles to a vector loop.
fn needs_escape(s: &str) -> bool {
    s.bytes()
        .fold(false, |d, b| d | (b < 0x20) | (b == b'"') | (b == b'\\'))
}

/// Writes a JSON string literal for bytes that may not be UTF-8.
pub fn write_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    let s: Cow<'_, str> = String::from_utf8_lossy(b);
    write_str(buf, &s);
}

fn write_f64(buf: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        let _ = serde_json::to_writer(&mut *buf, &v);
    } else {
        buf.extend_from_slice(b"null");
    }
}

/// Decimal digits of a u64 on the stack.
struct Digits {
    bytes: [u8; 20],
    start: usize,
}

impl Digits {
    fn as_bytes_mut(&mut self) -> &[u8] {
        &self.bytes[self.start..]
    }
}

fn itoa_buf(mut v: u64) -> Digits {
    let mut d = Digits {
        bytes: [0; 20],
        start: 20,
    };
    loop {
        d.start -= 1;
        d.bytes[d.start] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(f: impl FnOnce(&mut JsonWriter<'_>)) -> String {
        let mut buf = Vec::new();
        let mut w = JsonWriter::new(&mut buf);
        f(&mut w);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn nested_objects_and_arrays() {
        let s = render(|w| {
            w.begin_object()
                .str("a", "x")
                .u64("n", 0)
                .i64("neg", -42)
                .object("o")
                .bool("t", true)
                .array("l")
                .elem_u64(1)
                .elem_str("two")
                .end_array()
                .end_object()
                .array("empty")
                .end_array()
                .end_object();
        });
        assert_eq!(
            s,
            r#"{"a":"x","n":0,"neg":-42,"o":{"t":true,"l":[1,"two"]},"empty":[]}"#
        );
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["o"]["l"][1], "two");
    }

    /// The copy-whole path and serde_json's escaper give the same bytes:
    /// every single character up to U+00FF and some longer strings.
    #[test]
    fn strings_written_as_serde_json_writes_them() {
        let mut cases: Vec<String> = (0u32..=0xff)
            .filter_map(char::from_u32)
            .map(|c| format!("a{c}b"))
            .collect();
        cases.extend(
            [
                "",
                "timestamp",
                "relay.acme.workers.dev",
                "é ü 中文 \u{1F600}",
                "tab\there",
                "quote\" and back\\slash",
                "\u{7f}\u{80}\u{2028}\u{2029}",
            ]
            .map(String::from),
        );
        for c in &cases {
            let mut buf = Vec::new();
            write_str(&mut buf, c);
            assert_eq!(buf, serde_json::to_vec(c).unwrap(), "{c:?}");
        }
    }

    #[test]
    fn hostile_strings_stay_valid_json() {
        let hostile: &[&[u8]] = &[
            b"a\"b\\c",
            b"\x00nul\x01\x1f\x7f",
            b"\xff\xfe invalid utf8 \xc3",
            b"line\nbreak\r\ttab",
            &[b'x'; 255],
        ];
        for h in hostile {
            let s = render(|w| {
                w.begin_object().bytes("sni", h).end_object();
            });
            let v: serde_json::Value = serde_json::from_str(&s).expect(&s);
            let got = v["sni"].as_str().unwrap();
            assert_eq!(got, String::from_utf8_lossy(h));
        }
    }

    #[test]
    fn numbers() {
        let s = render(|w| {
            w.begin_object()
                .u64("max", u64::MAX)
                .f64("f", 0.25)
                .f64("nan", f64::NAN)
                .end_object();
        });
        assert_eq!(s, r#"{"max":18446744073709551615,"f":0.25,"nan":null}"#);
    }
}
