//! The raw views of a host event's JSON: every field optional and of any
//! type, so no shape of a collector's output makes a whole event unreadable.
//! `sysmon` turns them into typed events.

use serde::de::IgnoredAny;
use serde::Deserialize;
use std::borrow::Cow;

/// Longest image, user, host or query name kept (bytes); longer ones are cut.
pub(super) const MAX_STR: usize = 1024;

/// A scalar of any JSON type (anything else read and dropped).
///
/// Deserialized by hand rather than `#[serde(untagged)]`, which buffers every
/// value before trying each variant: this visitor takes the value as it comes.
/// A string borrows the input where it can (no escape in it); only strings
/// with escapes (Windows paths, `DOMAIN\\user`) are copied.
#[derive(Debug)]
pub(super) enum Flex<'a> {
    Str(Cow<'a, str>),
    UInt(u64),
    Int(i64),
    Bool(bool),
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Flex<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Flex<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Flex<'a>, E> {
                Ok(Flex::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Flex<'a>, E> {
                Ok(Flex::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Flex<'a>, E> {
                Ok(Flex::Str(Cow::Owned(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Flex<'a>, E> {
                Ok(Flex::UInt(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Flex<'a>, E> {
                Ok(Flex::Int(v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Flex<'a>, E> {
                Ok(Flex::Bool(v))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Flex<'a>, E> {
                Ok(Flex::Other)
            }
            fn visit_unit<E>(self) -> Result<Flex<'a>, E> {
                Ok(Flex::Other)
            }
            fn visit_none<E>(self) -> Result<Flex<'a>, E> {
                Ok(Flex::Other)
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Flex<'a>, D::Error> {
                Flex::deserialize(d)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Flex<'a>, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Flex::Other)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Flex<'a>, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Flex::Other)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl Flex<'_> {
    /// The value as text, HTML entities decoded, capped at [`MAX_STR`] bytes.
    pub(super) fn text(&self) -> Option<Cow<'_, str>> {
        let s = match self {
            Flex::Str(s) => {
                let t = s.trim();
                if t.contains('&') {
                    html_escape::decode_html_entities(t)
                } else {
                    Cow::Borrowed(t)
                }
            }
            Flex::UInt(n) => Cow::Owned(n.to_string()),
            Flex::Int(n) => Cow::Owned(n.to_string()),
            _ => return None,
        };
        Some(cap(s))
    }

    pub(super) fn number(&self) -> Option<u64> {
        match self {
            Flex::UInt(n) => Some(*n),
            Flex::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub(super) fn boolean(&self) -> Option<bool> {
        match self {
            Flex::Bool(b) => Some(*b),
            Flex::Str(s) => {
                let s = s.trim();
                if s.eq_ignore_ascii_case("true") || s == "1" {
                    Some(true)
                } else if s.eq_ignore_ascii_case("false") || s == "0" {
                    Some(false)
                } else {
                    None
                }
            }
            Flex::UInt(n) => Some(*n != 0),
            _ => None,
        }
    }
}

/// `s` cut to at most [`MAX_STR`] bytes at a character boundary.
fn cap(s: Cow<'_, str>) -> Cow<'_, str> {
    if s.len() <= MAX_STR {
        return s;
    }
    let mut end = MAX_STR;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    match s {
        Cow::Borrowed(b) => Cow::Borrowed(&b[..end]),
        Cow::Owned(mut o) => {
            o.truncate(end);
            Cow::Owned(o)
        }
    }
}

/// A nested object, or anything else in its place (read and dropped).
///
/// By hand for the same reason as [`Flex`]: a map is handed to `T` as it
/// comes, anything else is skipped, nothing is buffered.
#[derive(Debug)]
pub(super) enum Lenient<T> {
    Value(T),
    Other,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for V<T> {
            type Value = Lenient<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, a: A) -> Result<Lenient<T>, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(a)).map(Lenient::Value)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Lenient<T>, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Lenient::Other)
            }
            fn visit_str<E>(self, _: &str) -> Result<Lenient<T>, E> {
                Ok(Lenient::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Lenient<T>, E> {
                Ok(Lenient::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Lenient<T>, E> {
                Ok(Lenient::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Lenient<T>, E> {
                Ok(Lenient::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Lenient<T>, E> {
                Ok(Lenient::Other)
            }
            fn visit_unit<E>(self) -> Result<Lenient<T>, E> {
                Ok(Lenient::Other)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl<T> Lenient<T> {
    pub(super) fn value(&self) -> Option<&T> {
        match self {
            Lenient::Value(v) => Some(v),
            Lenient::Other => None,
        }
    }
}

/// Sysmon's event data keys.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawData<'a> {
    #[serde(rename = "UtcTime", borrow)]
    pub(super) utc_time: Option<Flex<'a>>,
    #[serde(rename = "Image", borrow)]
    pub(super) image: Option<Flex<'a>>,
    #[serde(rename = "ProcessId", borrow)]
    pub(super) process_id: Option<Flex<'a>>,
    #[serde(rename = "User", borrow)]
    pub(super) user_name: Option<Flex<'a>>,
    #[serde(rename = "Protocol", borrow)]
    pub(super) protocol: Option<Flex<'a>>,
    #[serde(rename = "Initiated", borrow)]
    pub(super) initiated: Option<Flex<'a>>,
    #[serde(rename = "SourceIp", borrow)]
    pub(super) source_ip: Option<Flex<'a>>,
    #[serde(rename = "SourcePort", borrow)]
    pub(super) source_port: Option<Flex<'a>>,
    #[serde(rename = "DestinationIp", borrow)]
    pub(super) destination_ip: Option<Flex<'a>>,
    #[serde(rename = "DestinationPort", borrow)]
    pub(super) destination_port: Option<Flex<'a>>,
    #[serde(rename = "QueryName", borrow)]
    pub(super) query_name: Option<Flex<'a>>,
}

/// One event, any of the shapes.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawEvent<'a> {
    #[serde(rename = "EventID", alias = "EventId", alias = "event_id", borrow)]
    pub(super) event_id: Option<Flex<'a>>,
    #[serde(rename = "SourceName", borrow)]
    pub(super) source_name: Option<Flex<'a>>,
    #[serde(rename = "ProviderName", borrow)]
    pub(super) provider_name: Option<Flex<'a>>,
    #[serde(rename = "Channel", borrow)]
    pub(super) channel: Option<Flex<'a>>,
    #[serde(rename = "Hostname", borrow)]
    pub(super) hostname: Option<Flex<'a>>,
    #[serde(rename = "Computer", borrow)]
    pub(super) computer: Option<Flex<'a>>,
    #[serde(rename = "@timestamp", borrow)]
    pub(super) timestamp: Option<Flex<'a>>,
    #[serde(rename = "EventData", borrow)]
    pub(super) event_data: Option<Box<Lenient<RawData<'a>>>>,
    #[serde(rename = "UtcTime", borrow)]
    pub(super) utc_time: Option<Flex<'a>>,
    #[serde(rename = "Image", borrow)]
    pub(super) image: Option<Flex<'a>>,
    #[serde(rename = "ProcessId", borrow)]
    pub(super) process_id: Option<Flex<'a>>,
    #[serde(rename = "User", borrow)]
    pub(super) user_name: Option<Flex<'a>>,
    #[serde(rename = "Protocol", borrow)]
    pub(super) protocol: Option<Flex<'a>>,
    #[serde(rename = "Initiated", borrow)]
    pub(super) initiated: Option<Flex<'a>>,
    #[serde(rename = "SourceIp", borrow)]
    pub(super) source_ip: Option<Flex<'a>>,
    #[serde(rename = "SourcePort", borrow)]
    pub(super) source_port: Option<Flex<'a>>,
    #[serde(rename = "DestinationIp", borrow)]
    pub(super) destination_ip: Option<Flex<'a>>,
    #[serde(rename = "DestinationPort", borrow)]
    pub(super) destination_port: Option<Flex<'a>>,
    #[serde(rename = "QueryName", borrow)]
    pub(super) query_name: Option<Flex<'a>>,
    /// `evtx_dump`'s wrapper (`Event`), holding `System` and `EventData`.
    #[serde(rename = "Event", borrow)]
    pub(super) evtx: Option<Box<Lenient<RawEvent<'a>>>>,
    #[serde(rename = "System", borrow)]
    pub(super) system: Option<Box<Lenient<RawSystem<'a>>>>,
    #[serde(borrow)]
    pub(super) winlog: Option<Box<Lenient<RawWinlog<'a>>>>,
    #[serde(borrow)]
    pub(super) event: Option<Lenient<RawEcsEvent<'a>>>,
    #[serde(borrow)]
    pub(super) process: Option<Lenient<RawEcsProcess<'a>>>,
    #[serde(borrow)]
    pub(super) user: Option<Lenient<RawEcsName<'a>>>,
    #[serde(borrow)]
    pub(super) host: Option<Lenient<RawEcsName<'a>>>,
    #[serde(borrow)]
    pub(super) source: Option<Lenient<RawEcsEndpoint<'a>>>,
    #[serde(borrow)]
    pub(super) destination: Option<Lenient<RawEcsEndpoint<'a>>>,
    #[serde(borrow)]
    pub(super) network: Option<Lenient<RawEcsNetwork<'a>>>,
    #[serde(borrow)]
    pub(super) dns: Option<Lenient<RawEcsDns<'a>>>,
}

/// The `System` part of an event as `evtx_dump` writes it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawSystem<'a> {
    #[serde(rename = "EventID", borrow)]
    pub(super) event_id: Option<Flex<'a>>,
    #[serde(rename = "Channel", borrow)]
    pub(super) channel: Option<Flex<'a>>,
    #[serde(rename = "Computer", borrow)]
    pub(super) computer: Option<Flex<'a>>,
    #[serde(rename = "Provider", borrow)]
    pub(super) provider: Option<Lenient<RawProvider<'a>>>,
}

impl<'a> RawSystem<'a> {
    /// `Provider.#attributes.Name`.
    pub(super) fn provider_name(&self) -> Option<&Flex<'a>> {
        self.provider
            .as_ref()
            .and_then(Lenient::value)
            .and_then(|p| p.attributes.as_ref())
            .and_then(Lenient::value)
            .and_then(|a| a.name.as_ref())
    }
}

/// `System.Provider`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawProvider<'a> {
    #[serde(rename = "#attributes", borrow)]
    pub(super) attributes: Option<Lenient<RawAttributes<'a>>>,
}

/// `System.Provider.#attributes`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawAttributes<'a> {
    #[serde(rename = "Name", borrow)]
    pub(super) name: Option<Flex<'a>>,
}

/// Winlogbeat's `winlog` object.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawWinlog<'a> {
    #[serde(borrow)]
    pub(super) event_id: Option<Flex<'a>>,
    #[serde(borrow)]
    pub(super) provider_name: Option<Flex<'a>>,
    #[serde(borrow)]
    pub(super) channel: Option<Flex<'a>>,
    #[serde(borrow)]
    pub(super) computer_name: Option<Flex<'a>>,
    #[serde(borrow)]
    pub(super) event_data: Option<Lenient<RawData<'a>>>,
}

/// ECS `event`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawEcsEvent<'a> {
    #[serde(borrow)]
    pub(super) code: Option<Flex<'a>>,
}

/// ECS `process`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawEcsProcess<'a> {
    #[serde(borrow)]
    pub(super) executable: Option<Flex<'a>>,
    #[serde(borrow)]
    pub(super) pid: Option<Flex<'a>>,
}

/// An ECS object read for its `name` (`user`, `host`, `dns.question`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawEcsName<'a> {
    #[serde(borrow)]
    pub(super) name: Option<Flex<'a>>,
}

/// ECS `source` or `destination`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawEcsEndpoint<'a> {
    #[serde(borrow)]
    pub(super) ip: Option<Flex<'a>>,
    #[serde(borrow)]
    pub(super) port: Option<Flex<'a>>,
}

/// ECS `network`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawEcsNetwork<'a> {
    #[serde(borrow)]
    pub(super) transport: Option<Flex<'a>>,
}

/// ECS `dns`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawEcsDns<'a> {
    #[serde(borrow)]
    pub(super) question: Option<Lenient<RawEcsName<'a>>>,
}

/// Where a top-level key of the flat shape goes.
enum FlatKey {
    /// A scalar field of [`RawEvent`] (its index, for duplicate keys).
    Field(usize),
    /// A key whose value is an object in some shape: left to serde.
    Nested,
    /// Not read.
    Ignored,
}

impl<'a> RawEvent<'a> {
    /// The scalar field named `key` (serde's names and aliases).
    fn flat_field(&mut self, key: &str) -> (FlatKey, Option<&mut Option<Flex<'a>>>) {
        let (i, f) = match key {
            "EventID" | "EventId" | "event_id" => (0, &mut self.event_id),
            "SourceName" => (1, &mut self.source_name),
            "ProviderName" => (2, &mut self.provider_name),
            "Channel" => (3, &mut self.channel),
            "Hostname" => (4, &mut self.hostname),
            "Computer" => (5, &mut self.computer),
            "@timestamp" => (6, &mut self.timestamp),
            "UtcTime" => (7, &mut self.utc_time),
            "Image" => (8, &mut self.image),
            "ProcessId" => (9, &mut self.process_id),
            "User" => (10, &mut self.user_name),
            "Protocol" => (11, &mut self.protocol),
            "Initiated" => (12, &mut self.initiated),
            "SourceIp" => (13, &mut self.source_ip),
            "SourcePort" => (14, &mut self.source_port),
            "DestinationIp" => (15, &mut self.destination_ip),
            "DestinationPort" => (16, &mut self.destination_port),
            "QueryName" => (17, &mut self.query_name),
            "EventData" | "Event" | "System" | "winlog" | "event" | "process" | "user" | "host"
            | "source" | "destination" | "network" | "dns" => return (FlatKey::Nested, None),
            _ => return (FlatKey::Ignored, None),
        };
        (FlatKey::Field(i), Some(f))
    }
}

/// The flat shape (one object whose values are all strings, unsigned
/// integers, booleans or null, as NXLog and most exports write event 3 and
/// 22) read without serde: strings borrowed from `text` unless escaped,
/// unread keys' values checked and skipped.
///
/// Gives exactly what `serde_json::from_str::<RawEvent>` gives, or `None`
/// for anything it does not read itself (a nested value, a `\u` escape, a
/// number other than a plain unsigned integer, an escaped key, a field
/// twice, anything that is not JSON), which serde then reads (and rejects
/// where it is not JSON). A single pass over the bytes; no recursion.
pub(super) fn flat(text: &str) -> Option<RawEvent<'_>> {
    let b = text.as_bytes();
    let mut e = RawEvent::default();
    let mut seen: u32 = 0;
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            let (key, next) = string(text, i)?;
            let Cow::Borrowed(key) = key else {
                return None;
            };
            i = skip_ws(b, next);
            if b.get(i) != Some(&b':') {
                return None;
            }
            i = skip_ws(b, i + 1);
            match e.flat_field(key) {
                (FlatKey::Field(n), Some(slot)) => {
                    if seen & (1 << n) != 0 {
                        return None;
                    }
                    seen |= 1 << n;
                    let (value, next) = scalar(text, i)?;
                    *slot = value;
                    i = next;
                }
                // Checked as serde checks what it skips, never copied.
                (FlatKey::Ignored, _) => i = skip_scalar(b, i)?,
                _ => return None,
            }
            i = skip_ws(b, i);
            match b.get(i) {
                Some(b',') => i = skip_ws(b, i + 1),
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    (skip_ws(b, i) == b.len()).then_some(e)
}

/// The first index from `i` that is not JSON whitespace.
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = b.get(i) {
        i += 1;
    }
    i
}

/// The bytes that end a run of plain string content: a quote, a backslash,
/// a control character.
static STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = true;
        c += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// The end of the run of plain string content from `j`: the index of the
/// first quote, backslash or control character, or `b.len()`. Eight bytes
/// at a time (values are short: this beats a vector search's setup).
fn plain_run(b: &[u8], mut j: usize) -> usize {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    // Nonzero when a byte of `x` is zero.
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    while let Some(chunk) = b.get(j..j + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let v = u64::from_le_bytes(w);
        let stop = zero(v ^ (ONES * u64::from(b'"')))
            | zero(v ^ (ONES * u64::from(b'\\')))
            // A byte below 0x20.
            | (v.wrapping_sub(ONES * 0x20) & !v & HIGH);
        if stop != 0 {
            break;
        }
        j += 8;
    }
    while b.get(j).is_some_and(|c| !STOP[usize::from(*c)]) {
        j += 1;
    }
    j
}

/// The string starting with the quote at `i`, and the index after its
/// closing quote; `None` for a `\u` escape or anything that is not a JSON
/// string.
fn string(text: &str, i: usize) -> Option<(Cow<'_, str>, usize)> {
    let b = text.as_bytes();
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let start = i + 1;
    // Most strings hold no escape: borrowed at once.
    let end = plain_run(b, start);
    if b.get(end) == Some(&b'"') {
        return Some((Cow::Borrowed(&text[start..end]), end + 1));
    }
    escaped(text, start, end)
}

/// The rest of a string from `start` whose plain run ends at `at` with
/// something other than its closing quote: unescaped into a copy.
#[cold]
fn escaped(text: &str, start: usize, mut at: usize) -> Option<(Cow<'_, str>, usize)> {
    let b = text.as_bytes();
    let mut o = String::with_capacity(2 * (at - start) + 32);
    let mut from = start;
    loop {
        match b.get(at)? {
            b'"' => {
                o.push_str(&text[from..at]);
                return Some((Cow::Owned(o), at + 1));
            }
            b'\\' => {}
            // JSON forbids control characters inside strings.
            _ => return None,
        }
        o.push_str(&text[from..at]);
        o.push(match b.get(at + 1)? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            _ => return None,
        });
        from = at + 2;
        at = plain_run(b, from);
    }
}

/// The index after the scalar at `i` of a key that is not read, checked as
/// serde checks a value it skips (escapes valid, `\u` with four hex digits,
/// no control character, a JSON number); `None` for a nested value or
/// anything that is not JSON.
fn skip_scalar(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => {
            let mut j = i + 1;
            loop {
                j = plain_run(b, j);
                match b.get(j)? {
                    b'"' => return Some(j + 1),
                    b'\\' => match b.get(j + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => j += 2,
                        b'u' if b.get(j + 2..j + 6)?.iter().all(u8::is_ascii_hexdigit) => j += 6,
                        _ => return None,
                    },
                    _ => return None,
                }
            }
        }
        b'-' | b'0'..=b'9' => {
            let digits = |mut j: usize| {
                while b.get(j).is_some_and(u8::is_ascii_digit) {
                    j += 1;
                }
                j
            };
            let mut j = i + usize::from(b[i] == b'-');
            j = match b.get(j)? {
                b'0' => j + 1,
                b'1'..=b'9' => digits(j),
                _ => return None,
            };
            if b.get(j) == Some(&b'.') {
                let end = digits(j + 1);
                if end == j + 1 {
                    return None;
                }
                j = end;
            }
            if let Some(b'e' | b'E') = b.get(j) {
                j += 1;
                if let Some(b'+' | b'-') = b.get(j) {
                    j += 1;
                }
                let end = digits(j);
                if end == j {
                    return None;
                }
                j = end;
            }
            Some(j)
        }
        _ if b[i..].starts_with(b"true") || b[i..].starts_with(b"null") => Some(i + 4),
        _ if b[i..].starts_with(b"false") => Some(i + 5),
        _ => None,
    }
}

/// The scalar value at `i` (`None` inside for null), and the index after
/// it; `None` for anything [`flat`] leaves to serde.
fn scalar(text: &str, i: usize) -> Option<(Option<Flex<'_>>, usize)> {
    let b = text.as_bytes();
    match b.get(i)? {
        b'"' => string(text, i).map(|(s, next)| (Some(Flex::Str(s)), next)),
        b'0'..=b'9' => {
            let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            let end = i + digits;
            // A leading zero, a fraction or exponent, or possibly over u64.
            if (digits > 1 && b[i] == b'0')
                || digits > 19
                || matches!(b.get(end), Some(b'.' | b'e' | b'E'))
            {
                return None;
            }
            let n = b[i..end]
                .iter()
                .fold(0u64, |n, c| n * 10 + u64::from(c - b'0'));
            Some((Some(Flex::UInt(n)), end))
        }
        _ if b[i..].starts_with(b"true") => Some((Some(Flex::Bool(true)), i + 4)),
        _ if b[i..].starts_with(b"false") => Some((Some(Flex::Bool(false)), i + 5)),
        _ if b[i..].starts_with(b"null") => Some((None, i + 4)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event 3 in the flat shape, with escapes, numbers, a boolean, a
    /// null and keys the join does not read.
    const LINE: &str = r#"{"EventTime":"2026-03-02 10:00:05", "Hostname":"WS-LAB-07","EventID":3,"SourceName":"Microsoft-Windows-Sysmon","Message":"Network \"connection\" detected:\r\nRuleName: -\/","UtcTime":"2026-03-02 10:00:04.652","ProcessId":4312,"Image":"C:\\Users\\lab\\upd.exe","User":"WS-LAB-07\\lab","Protocol":"tcp","Initiated":true,"SourceIsIpv6":false,"SourceIp":"10.66.0.101","SourcePort":"50402","DestinationIp":"10.77.0.21","DestinationPort":443,"DestinationHostname":null,"Computer":null}"#;

    /// Whether the flat reader took `t`; when it did, its view must be
    /// serde's.
    fn same_as_serde(t: &str) -> bool {
        let Some(e) = flat(t) else {
            return false;
        };
        let serde = serde_json::from_str::<RawEvent>(t).ok();
        assert_eq!(format!("{:?}", Some(e)), format!("{serde:?}"), "{t}");
        true
    }

    #[test]
    fn flat_reads_what_serde_reads() {
        assert!(same_as_serde(LINE));
        let e = flat(LINE).unwrap();
        assert!(matches!(e.image, Some(Flex::Str(Cow::Owned(_)))));
        assert!(matches!(e.protocol, Some(Flex::Str(Cow::Borrowed("tcp")))));
        assert!(matches!(e.destination_port, Some(Flex::UInt(443))));
        assert!(e.computer.is_none());
        for (t, taken) in [
            ("{}", true),
            (" { } ", true),
            (r#"{"EventID":18446744073709551615}"#, false),
            (r#"{"EventID":1844674407370955161}"#, true),
            (r#"{"EventID":03}"#, false),
            (r#"{"EventID":-3}"#, false),
            (r#"{"EventID":3.0}"#, false),
            (r#"{"EventID":3e0}"#, false),
            (r#"{"EventID":3,}"#, false),
            (r#"{"EventID":3}x"#, false),
            (r#"{"EventID":3 "Image":"a"}"#, false),
            (r#"{"EventID":3,"EventId":4}"#, false),
            (r#"{"Image":null,"Image":"a"}"#, false),
            (r#"{"Other":1,"Other":2}"#, true),
            (r#"{"Image":"\u0041"}"#, false),
            (r#"{"Im\u0061ge":"a"}"#, false),
            (r#"{"Image":"a\qb"}"#, false),
            ("{\"Image\":\"a\tb\"}", false),
            (r#"{"Image":"a\tb\"\\\/\b\f\n\r"}"#, true),
            (r#"{"Image":"ä→😀"}"#, true),
            (r#"{"EventData":{"Image":"a"}}"#, false),
            (r#"{"host":"a"}"#, false),
            (r#"{"Other":[1]}"#, false),
            (r#"{"Initiated":tru}"#, false),
            (r#"{"Initiated":truex}"#, false),
            (r#"{"Initiated":false,"Protocol":null}"#, true),
            (r#"{"Image":"a"#, false),
            (r#"{"Image":"a\"#, false),
            (r#"{"Image""a"}"#, false),
            (r#"["Image"]"#, false),
            (r#"{"Other":-1.5e+3,"Image":"a"}"#, true),
            (r#"{"Other":0.25E7,"X":-0,"Y":"\u00e9\ud800\n\"\\"}"#, true),
            (r#"{"Other":"\x"}"#, false),
            (r#"{"Other":"a\u12"}"#, false),
            (r#"{"Other":01}"#, false),
            (r#"{"Other":1.}"#, false),
            (r#"{"Other":1e}"#, false),
            (r#"{"Other":-}"#, false),
            (r#"{"Other":-a}"#, false),
            (r#"{"Other":.5}"#, false),
            (r#"{"Other":nul}"#, false),
            ("{\"Other\":\"a\u{1}\"}", false),
        ] {
            assert_eq!(same_as_serde(t), taken, "{t}");
        }
    }

    /// The word-at-a-time scan stops where a byte-by-byte one does, with
    /// neighbours of the stop bytes around.
    #[test]
    fn plain_run_finds_the_first_stop() {
        let filler = [
            b'a', 0x20, 0x7f, 0xc3, 0xa4, b'!', b'#', b'[', b']', 0xff, 0x80,
        ];
        for len in 0..40 {
            let base: Vec<u8> = (0..len).map(|k| filler[k % filler.len()]).collect();
            assert_eq!(plain_run(&base, 0), len);
            for at in 0..len {
                for stop in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
                    let mut v = base.clone();
                    v[at] = stop;
                    for from in 0..=at {
                        assert_eq!(plain_run(&v, from), at, "{v:?} {from}");
                    }
                }
            }
        }
    }

    /// Every cut and many single-byte changes of a line: the flat reader
    /// either leaves the text to serde or reads exactly what serde reads.
    #[test]
    fn flat_agrees_with_serde_on_damaged_lines() {
        let mut taken = 0;
        for end in 0..=LINE.len() {
            if let Some(t) = LINE.get(..end) {
                taken += usize::from(same_as_serde(t));
            }
        }
        let mut bytes = LINE.as_bytes().to_vec();
        for at in 0..bytes.len() {
            let was = bytes[at];
            for c in *b"\"\\{}[],: \t0-9.eEnulltf\x01\x7fx" {
                bytes[at] = c;
                if let Ok(t) = std::str::from_utf8(&bytes) {
                    taken += usize::from(same_as_serde(t));
                }
            }
            bytes[at] = was;
        }
        // Changes inside strings mostly keep a line the flat reader takes.
        assert!(taken > 5_000, "{taken}");
    }
}
