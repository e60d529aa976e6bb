//! Sysmon events as collectors write them in JSON, read into typed
//! [`HostEvent`]s: network connections (event 3) and DNS queries (event 22).
//!
//! Shapes read (see docs/attribution.md):
//!
//! - flat event data, as NXLog and most exports write it: `EventID`,
//!   `UtcTime`, `Image`, `ProcessId`, `User`, `Protocol`, `Initiated`,
//!   `SourceIp`, `SourcePort`, `DestinationIp`, `DestinationPort`,
//!   `QueryName`, and `Hostname` or `Computer`; the same keys nested under
//!   `EventData`;
//! - Winlogbeat / ECS: `winlog.event_id`, `winlog.event_data.*`,
//!   `winlog.computer_name`, with ECS `event.code`, `process.executable`,
//!   `process.pid`, `user.name`, `source.ip`/`port`, `destination.ip`/`port`,
//!   `network.transport`, `dns.question.name`, `host.name`, `@timestamp` where
//!   the event data lacks a key;
//! - `evtx_dump`'s `Event` wrapper (`System` with `EventID`, `Channel`,
//!   `Computer`, `Provider`; `EventData`);
//! - one object per line, pretty-printed objects one after another, or one
//!   JSON array; any of them gzip-compressed;
//! - values HTML-escaped as some exports write them (`&lt;unknown process&gt;`).
//!
//! Events of other ids or other providers are skipped and counted; a line
//! that is not JSON, or an event 3/22 without the keys the join needs, is
//! counted as bad and never stops the reading. Lines and array items are
//! read through a bounded buffer (longer ones skipped), strings are capped, and every field
//! is optional in the typed views, so a hostile file costs linear time and
//! bounded memory per event.

use super::raw::{Flex, Lenient, RawEvent, RawSystem};
use crate::time::{days_from_civil, Timestamp};
use std::collections::HashSet;
use std::io::{BufRead, Read};
use std::net::IpAddr;
use std::sync::Arc;

/// Longest event line read; longer lines are skipped and counted as bad.
pub const MAX_LINE: usize = 1 << 20;

/// What a host event says happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostEventKind {
    /// Sysmon event 3: a network connection, as the host saw it.
    Connection {
        /// 6 (TCP) or 17 (UDP).
        proto: u8,
        /// The host's end (`SourceIp`, `SourcePort`).
        source: (IpAddr, u16),
        /// The peer (`DestinationIp`, `DestinationPort`).
        destination: (IpAddr, u16),
        /// `Initiated`: the process opened the connection (true when absent).
        initiated: bool,
    },
    /// Sysmon event 22: a DNS query (`QueryName`, lowercased, no trailing dot).
    Dns {
        /// The name queried.
        name: Box<str>,
    },
}

/// The process an event names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessRef {
    /// `Image`: the program's full path.
    pub image: Arc<str>,
    /// `ProcessId`.
    pub pid: Option<u32>,
    /// `User`.
    pub user: Option<Arc<str>>,
}

/// One Sysmon event 3 or 22.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEvent {
    /// `UtcTime` (else `@timestamp`).
    pub ts: Timestamp,
    /// The host's name (`Hostname`, `Computer`, `winlog.computer_name`,
    /// `host.name`), lowercased.
    pub host: Option<Arc<str>>,
    /// The process.
    pub process: ProcessRef,
    /// What happened.
    pub kind: HostEventKind,
}

/// Counts of one reading.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReadStats {
    /// Event 3 read.
    pub connections: u64,
    /// Event 22 read.
    pub dns: u64,
    /// Events of other ids or providers, skipped.
    pub skipped: u64,
    /// Lines or array items that are not JSON objects, lines or items over
    /// [`MAX_LINE`], and events 3/22 missing a key the join needs.
    pub bad: u64,
}

impl ReadStats {
    /// Adds `o`.
    pub fn add(&mut self, o: &ReadStats) {
        self.connections += o.connections;
        self.dns += o.dns;
        self.skipped += o.skipped;
        self.bad += o.bad;
    }
}

/// Shares repeated strings (images, users, hosts) between events.
#[derive(Default)]
pub struct Interner(HashSet<Arc<str>, foldhash::fast::RandomState>);

impl Interner {
    fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(a) = self.0.get(s) {
            return Arc::clone(a);
        }
        let a: Arc<str> = Arc::from(s);
        // Bounded: past this many distinct strings, stop sharing.
        if self.0.len() < 1 << 20 {
            self.0.insert(Arc::clone(&a));
        }
        a
    }
}

/// Reads every event of `r` (gzip or not, lines or an array) into `out`.
///
/// # Errors
/// Only I/O errors of the reader; bad content is counted in the result.
pub fn read_all(
    r: impl Read,
    intern: &mut Interner,
    out: &mut Vec<HostEvent>,
) -> std::io::Result<ReadStats> {
    let mut r = std::io::BufReader::with_capacity(64 * 1024, r);
    let gzip = r.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    if gzip {
        let broken = std::cell::Cell::new(false);
        let d = CutAtCorruption {
            inner: flate2::read::MultiGzDecoder::new(r),
            broken: &broken,
        };
        let mut stats = read_plain(std::io::BufReader::with_capacity(64 * 1024, d), intern, out)?;
        // A compressed file cut short (still being written, or damaged):
        // the events before the damage stay, the rest counts as one bad line.
        stats.bad += u64::from(broken.get());
        Ok(stats)
    } else {
        read_plain(r, intern, out)
    }
}

/// A gzip stream that ends where its compressed data is damaged or cut
/// short (noting it), instead of failing the whole file.
struct CutAtCorruption<'a, R> {
    inner: R,
    broken: &'a std::cell::Cell<bool>,
}

impl<R: Read> Read for CutAtCorruption<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.broken.get() {
            return Ok(0);
        }
        match self.inner.read(buf) {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::InvalidInput
                        | std::io::ErrorKind::InvalidData
                        | std::io::ErrorKind::UnexpectedEof
                ) =>
            {
                self.broken.set(true);
                Ok(0)
            }
            other => other,
        }
    }
}

fn read_plain(
    mut r: impl BufRead,
    intern: &mut Interner,
    out: &mut Vec<HostEvent>,
) -> std::io::Result<ReadStats> {
    let mut stats = ReadStats::default();
    let first = loop {
        let buf = r.fill_buf()?;
        match buf.iter().position(|b| !b.is_ascii_whitespace()) {
            Some(i) => {
                let b = buf[i];
                r.consume(i);
                break Some(b);
            }
            None if buf.is_empty() => break None,
            None => {
                let n = buf.len();
                r.consume(n);
            }
        }
    };
    match first {
        None => {}
        Some(b'[') => read_array(r, true, intern, out, &mut stats)?,
        // A lone `{` on the first line: pretty-printed objects.
        Some(b'{') if pretty(r.fill_buf()?) => read_array(r, false, intern, out, &mut stats)?,
        Some(_) => read_lines_parallel(r, BLOCK, intern, out, &mut stats)?,
    }
    Ok(stats)
}

/// Whether a file's first line (as buffered) is a lone `{`: objects
/// written over several lines.
fn pretty(head: &[u8]) -> bool {
    let line = head.split(|b| *b == b'\n').next().unwrap_or(head);
    line.trim_ascii() == b"{"
}

/// Bytes of lines parsed together, split between threads: enough that a
/// thread's start is nothing beside its share, small enough that the buffer's
/// pages (faulted in once per file) are few.
const BLOCK: usize = 4 << 20;

/// Reads JSON lines in blocks of [`BLOCK`] bytes, each block's lines parsed
/// by the available cores (a replay reads its host events before the
/// capture, so parsing is the whole of their cost and the cores are idle);
/// events keep their file order. Extra memory: one block.
fn read_lines_parallel(
    mut r: impl Read,
    block_size: usize,
    intern: &mut Interner,
    out: &mut Vec<HostEvent>,
    stats: &mut ReadStats,
) -> std::io::Result<()> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, 8);
    let mut block: Vec<u8> = Vec::with_capacity(block_size);
    // The tail of the last block is over MAX_LINE: skip to its end.
    let mut skipping = false;
    loop {
        // Appended to what is left of the last block, without zeroing the
        // buffer first; short reads are retried until the input ends.
        let n = (&mut r).take(block_size as u64).read_to_end(&mut block)?;
        let end_of_input = n < block_size;
        // Whole lines only; the rest waits for the next block.
        let cut = if end_of_input {
            block.len()
        } else {
            memchr::memrchr(b'\n', &block).map_or(0, |i| i + 1)
        };
        let mut body = &block[..cut];
        if skipping {
            match memchr::memchr(b'\n', body) {
                Some(i) => {
                    body = &body[i + 1..];
                    skipping = false;
                    stats.bad += 1;
                }
                None => body = &[],
            }
        }
        parse_block(body, threads, intern, out, stats);
        let rest = block.len() - cut;
        block.copy_within(cut.., 0);
        block.truncate(rest);
        if !skipping && block.len() > MAX_LINE {
            skipping = true;
        }
        if skipping {
            block.clear();
        }
        if end_of_input {
            if skipping {
                stats.bad += 1;
            }
            return Ok(());
        }
    }
}

/// Parses the lines of `body` on up to `threads` threads, in order.
fn parse_block(
    body: &[u8],
    threads: usize,
    intern: &mut Interner,
    out: &mut Vec<HostEvent>,
    stats: &mut ReadStats,
) {
    let lines = |part: &[u8], intern: &mut Interner, out: &mut Vec<HostEvent>| {
        let mut stats = ReadStats::default();
        let mut from = 0;
        // Line ends found by memchr, not byte by byte.
        let ends = memchr::memchr_iter(b'\n', part).chain(std::iter::once(part.len()));
        for end in ends {
            let line = &part[from..end];
            from = end + 1;
            if line.len() > MAX_LINE {
                stats.bad += 1;
            } else {
                accept_line(line, intern, out, &mut stats);
            }
        }
        stats
    };
    if threads < 2 || body.len() < 1 << 20 {
        let s = lines(body, intern, out);
        stats.add(&s);
        return;
    }
    // Split at line ends near equal shares.
    let mut parts = Vec::with_capacity(threads);
    let mut from = 0;
    for k in 1..threads {
        let target = (body.len() * k / threads).max(from);
        let at = memchr::memchr(b'\n', &body[target..]).map_or(body.len(), |i| target + i + 1);
        parts.push(&body[from..at]);
        from = at;
    }
    parts.push(&body[from..]);
    let results: Vec<(Vec<HostEvent>, ReadStats)> = std::thread::scope(|sc| {
        let handles: Vec<_> = parts
            .iter()
            .skip(1)
            .map(|part| {
                sc.spawn(move || {
                    let mut local = Interner::default();
                    let mut v = Vec::new();
                    let s = lines(part, &mut local, &mut v);
                    (v, s)
                })
            })
            .collect();
        let mut first = Vec::new();
        let s = lines(parts[0], intern, &mut first);
        let mut all = vec![(first, s)];
        all.extend(handles.into_iter().map(|h| h.join().unwrap_or_default()));
        all
    });
    out.reserve(results.iter().map(|(v, _)| v.len()).sum());
    for (v, s) in results {
        out.extend(v);
        stats.add(&s);
    }
}

/// Reads a JSON array of events item by item: a small scanner finds where
/// each top-level item ends (commas and brackets outside strings), and each
/// item is parsed like a line. Hand-written because serde's streaming array
/// reader holds an item whole however large it is and stops at the first bad
/// one; here an item over [`MAX_LINE`] is skipped and counted, and a bad item
/// costs only itself.
///
/// With `array` false it reads a stream of objects instead (pretty-printed
/// events one after another, as `evtx_dump` writes them): an object ends
/// where its braces close.
fn read_array(
    mut r: impl BufRead,
    array: bool,
    intern: &mut Interner,
    out: &mut Vec<HostEvent>,
    stats: &mut ReadStats,
) -> std::io::Result<()> {
    if array {
        // The opening bracket.
        r.consume(1);
    }
    let mut item: Vec<u8> = Vec::new();
    let mut too_long = false;
    let (mut depth, mut in_str, mut escaped) = (0usize, false, false);
    let mut finish = |item: &mut Vec<u8>, too_long: &mut bool, stats: &mut ReadStats| {
        let t = item.trim_ascii();
        let t = t.strip_prefix(b",").unwrap_or(t).trim_ascii();
        if *too_long {
            stats.bad += 1;
        } else if !t.is_empty() {
            accept_line(t, intern, out, stats);
        }
        item.clear();
        *too_long = false;
    };
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            // The array broke off: what was read before stays.
            if too_long || !item.trim_ascii().is_empty() {
                stats.bad += 1;
            }
            return Ok(());
        }
        let mut used = buf.len();
        let mut start = 0;
        let mut ended = false;
        for (i, &b) in buf.iter().enumerate() {
            if in_str {
                match (escaped, b) {
                    (true, _) => escaped = false,
                    (false, b'\\') => escaped = true,
                    (false, b'"') => in_str = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => in_str = true,
                b'{' | b'[' => depth += 1,
                b'}' if depth == 1 && !array => {
                    // The end of one object of a stream.
                    depth = 0;
                    let piece = &buf[start..=i];
                    if !too_long && item.len() + piece.len() <= MAX_LINE {
                        item.extend_from_slice(piece);
                    } else {
                        too_long = true;
                    }
                    finish(&mut item, &mut too_long, stats);
                    start = i + 1;
                }
                b'}' | b']' if depth > 0 => depth -= 1,
                b',' | b']' if depth == 0 && array => {
                    let piece = &buf[start..i];
                    if !too_long && item.len() + piece.len() <= MAX_LINE {
                        item.extend_from_slice(piece);
                    } else {
                        too_long = true;
                    }
                    finish(&mut item, &mut too_long, stats);
                    start = i + 1;
                    if b == b']' {
                        used = i + 1;
                        ended = true;
                        break;
                    }
                }
                _ => {}
            }
        }
        if !ended {
            let piece = &buf[start..];
            if !too_long && item.len() + piece.len() <= MAX_LINE {
                item.extend_from_slice(piece);
            } else {
                too_long = true;
                item.clear();
            }
        }
        r.consume(used);
        if ended {
            return Ok(());
        }
    }
}

fn accept_line(
    line: &[u8],
    intern: &mut Interner,
    out: &mut Vec<HostEvent>,
    stats: &mut ReadStats,
) {
    let line = line.trim_ascii();
    if line.is_empty() {
        return;
    }
    // A line of an exported array (`[`, `]`, trailing commas) is tolerated.
    let line = line.strip_suffix(b",").unwrap_or(line);
    if line == b"[" || line == b"]" {
        return;
    }
    if !may_be_joinable(line) {
        stats.skipped += 1;
        return;
    }
    match raw_event(line) {
        Ok(e) => accept(&e, intern, out, stats),
        Err(_) => stats.bad += 1,
    }
}

/// The raw view of one JSON object, its strings borrowed from `line` where
/// they hold no escape. Valid UTF-8 (nearly every line) is checked once and
/// parsed as text: the flat shape by a single-pass reader of its own, any
/// other by serde, neither checking every string again; other lines are
/// parsed by serde as bytes (invalid UTF-8 is then an error only where it is
/// inside a string that is read).
fn raw_event(line: &[u8]) -> serde_json::Result<RawEvent<'_>> {
    match std::str::from_utf8(line) {
        Ok(text) => match super::raw::flat(text) {
            Some(e) => Ok(e),
            None => serde_json::from_str(text),
        },
        Err(_) => serde_json::from_slice(line),
    }
}

/// False for an object that cannot be an event 3 or 22 the join can use:
/// every shape of those names a destination (`DestinationIp`,
/// `destination`) or a query (`QueryName`, `dns.question`). Host logs are
/// mostly other events (process, image, registry, file); they are skipped
/// unparsed. Anything not starting as an object is left to the parser (and
/// counted as bad when it is not JSON).
fn may_be_joinable(line: &[u8]) -> bool {
    if !line.starts_with(b"{") {
        return true;
    }
    static KEYS: std::sync::LazyLock<[memchr::memmem::Finder<'static>; 3]> =
        std::sync::LazyLock::new(|| {
            ["estination", "uery", "question"].map(memchr::memmem::Finder::new)
        });
    KEYS.iter().any(|k| k.find(line).is_some())
}

/// Parses one line: an event 3 or 22, another event (skipped), or a bad
/// line (not a JSON object, or an event 3/22 without a key the join needs).
pub fn parse_line(line: &[u8], intern: &mut Interner) -> Parsed {
    let line = line.trim_ascii();
    if !may_be_joinable(line) {
        return Parsed::Skip;
    }
    match raw_event(line) {
        Ok(e) => event_of(&e, intern),
        Err(_) => Parsed::Bad,
    }
}

fn accept(e: &RawEvent, intern: &mut Interner, out: &mut Vec<HostEvent>, stats: &mut ReadStats) {
    match event_of(e, intern) {
        Parsed::Event(h) => {
            match h.kind {
                HostEventKind::Connection { .. } => stats.connections += 1,
                HostEventKind::Dns { .. } => stats.dns += 1,
            }
            out.push(h);
        }
        Parsed::Skip => stats.skipped += 1,
        Parsed::Bad => stats.bad += 1,
    }
}

/// What one event (a line, or an item of an array) is.
pub enum Parsed {
    /// An event 3 or 22.
    Event(HostEvent),
    /// Another event, skipped.
    Skip,
    /// Not a JSON object, or an event 3/22 without a key the join needs.
    Bad,
}

/// The typed event of a raw one.
fn event_of(e: &RawEvent, intern: &mut Interner) -> Parsed {
    // `evtx_dump` and python-evtx: {"Event": {"System": {..}, "EventData": {..}}}.
    if let Some(inner) = e.evtx.as_deref().and_then(Lenient::value) {
        return event_of(inner, intern);
    }
    let system = e.system.as_deref().and_then(Lenient::value);
    let winlog = e.winlog.as_deref().and_then(Lenient::value);
    let nested = e.event_data.as_deref().and_then(Lenient::value);
    let wdata = winlog
        .and_then(|w| w.event_data.as_ref())
        .and_then(Lenient::value);
    // Event data: flat keys first, then `EventData`, then `winlog.event_data`.
    macro_rules! pick {
        ($key:ident) => {
            e.$key
                .as_ref()
                .or_else(|| nested.and_then(|d| d.$key.as_ref()))
                .or_else(|| wdata.and_then(|d| d.$key.as_ref()))
        };
    }
    let provider = e
        .source_name
        .as_ref()
        .or(e.provider_name.as_ref())
        .or(e.channel.as_ref())
        .or(winlog.and_then(|w| w.provider_name.as_ref()))
        .or(winlog.and_then(|w| w.channel.as_ref()))
        .or(system.and_then(RawSystem::provider_name))
        .or(system.and_then(|s| s.channel.as_ref()))
        .and_then(Flex::text);
    if provider.is_some_and(|p| !contains_ignore_ascii_case(&p, b"sysmon")) {
        return Parsed::Skip;
    }
    let ecs_event = e.event.as_ref().and_then(Lenient::value);
    let id = e
        .event_id
        .as_ref()
        .or(winlog.and_then(|w| w.event_id.as_ref()))
        .or(system.and_then(|s| s.event_id.as_ref()))
        .or(ecs_event.and_then(|v| v.code.as_ref()))
        .and_then(Flex::number);
    if !matches!(id, Some(3 | 22)) {
        return Parsed::Skip;
    }
    let ecs_process = e.process.as_ref().and_then(Lenient::value);
    let ts = pick!(utc_time)
        .or(e.timestamp.as_ref())
        .and_then(Flex::text)
        .and_then(|t| parse_time(&t));
    let image = pick!(image)
        .or(ecs_process.and_then(|p| p.executable.as_ref()))
        .and_then(Flex::text);
    let (Some(ts), Some(image)) = (ts, image) else {
        return Parsed::Bad;
    };
    let pid = pick!(process_id)
        .or(ecs_process.and_then(|p| p.pid.as_ref()))
        .and_then(Flex::number)
        .and_then(|n| u32::try_from(n).ok());
    let user = pick!(user_name)
        .or(e
            .user
            .as_ref()
            .and_then(Lenient::value)
            .and_then(|u| u.name.as_ref()))
        .and_then(Flex::text)
        .filter(|u| !u.is_empty() && u != "-");
    let host = e
        .hostname
        .as_ref()
        .or(e.computer.as_ref())
        .or(winlog.and_then(|w| w.computer_name.as_ref()))
        .or(system.and_then(|s| s.computer.as_ref()))
        .or(e
            .host
            .as_ref()
            .and_then(Lenient::value)
            .and_then(|h| h.name.as_ref()))
        .and_then(Flex::text)
        .filter(|h| !h.is_empty())
        .map(|h| {
            if !h.is_ascii() || h.bytes().any(|c| c.is_ascii_uppercase()) {
                intern.get(&h.to_lowercase())
            } else {
                intern.get(&h)
            }
        });
    let process = ProcessRef {
        image: intern.get(&image),
        pid,
        user: user.map(|u| intern.get(&u)),
    };
    let kind = if id == Some(22) {
        let name = pick!(query_name)
            .or(e
                .dns
                .as_ref()
                .and_then(Lenient::value)
                .and_then(|d| d.question.as_ref())
                .and_then(Lenient::value)
                .and_then(|q| q.name.as_ref()))
            .and_then(Flex::text)
            .map(|n| normalize_name(&n));
        match name {
            Some(n) if !n.is_empty() => HostEventKind::Dns { name: n.into() },
            _ => return Parsed::Bad,
        }
    } else {
        let src = e.source.as_ref().and_then(Lenient::value);
        let dst = e.destination.as_ref().and_then(Lenient::value);
        let addr = |f: Option<&Flex>| f.and_then(Flex::text).and_then(|t| parse_ip(&t));
        let port = |f: Option<&Flex>| f.and_then(Flex::number).and_then(|n| u16::try_from(n).ok());
        let source = (
            addr(pick!(source_ip).or(src.and_then(|s| s.ip.as_ref()))),
            port(pick!(source_port).or(src.and_then(|s| s.port.as_ref()))),
        );
        let destination = (
            addr(pick!(destination_ip).or(dst.and_then(|s| s.ip.as_ref()))),
            port(pick!(destination_port).or(dst.and_then(|s| s.port.as_ref()))),
        );
        let proto = pick!(protocol)
            .or(e
                .network
                .as_ref()
                .and_then(Lenient::value)
                .and_then(|n| n.transport.as_ref()))
            .and_then(Flex::text)
            .and_then(|p| {
                if p.eq_ignore_ascii_case("tcp") || p == "6" {
                    Some(6)
                } else if p.eq_ignore_ascii_case("udp") || p == "17" {
                    Some(17)
                } else {
                    None
                }
            });
        let initiated = pick!(initiated).and_then(Flex::boolean).unwrap_or(true);
        match (proto, source, destination) {
            (Some(proto), (Some(sa), Some(sp)), (Some(da), Some(dp))) => {
                HostEventKind::Connection {
                    proto,
                    source: (sa, sp),
                    destination: (da, dp),
                    initiated,
                }
            }
            _ => return Parsed::Bad,
        }
    };
    Parsed::Event(HostEvent {
        ts,
        host,
        process,
        kind,
    })
}

/// Whether `hay` holds `needle` (ASCII, any case), without a lowercased copy.
fn contains_ignore_ascii_case(hay: &str, needle: &[u8]) -> bool {
    let Some(&first) = needle.first() else {
        return true;
    };
    // Candidates start where the first letter does, in either case.
    memchr::memchr2_iter(
        first.to_ascii_lowercase(),
        first.to_ascii_uppercase(),
        hay.as_bytes(),
    )
    .any(|i| {
        hay.as_bytes()
            .get(i..i + needle.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(needle))
    })
}

/// A DNS name as the join compares it: lowercased, without a trailing dot.
pub fn normalize_name(n: &str) -> String {
    n.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// An address as Sysmon writes it (IPv4-mapped IPv6 made IPv4; a zone id
/// after `%` dropped).
fn parse_ip(t: &str) -> Option<IpAddr> {
    let t = t.split('%').next().unwrap_or(t).trim();
    if let Some(a) = parse_ipv4(t.as_bytes()) {
        return Some(IpAddr::V4(a));
    }
    t.parse::<IpAddr>().ok().map(|a| a.to_canonical())
}

/// A dotted quad as the standard parser reads it (four decimal octets, no
/// leading zeros), without its general machinery; `None` for anything
/// else, which the standard parser then reads.
fn parse_ipv4(t: &[u8]) -> Option<std::net::Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = t.split(|c| *c == b'.');
    for o in &mut octets {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || (p.len() > 1 && p[0] == b'0') {
            return None;
        }
        let mut n: u16 = 0;
        for c in p {
            if !c.is_ascii_digit() {
                return None;
            }
            n = n * 10 + u16::from(c - b'0');
        }
        *o = u8::try_from(n).ok()?;
    }
    parts
        .next()
        .is_none()
        .then_some(std::net::Ipv4Addr::from(octets))
}

/// `YYYY-MM-DD HH:MM:SS[.fraction]` (Sysmon's `UtcTime`, UTC) or RFC 3339
/// (`T` separator, `Z` or a `±HH:MM` offset).
pub fn parse_time(t: &str) -> Option<Timestamp> {
    let b = t.trim().as_bytes();
    // At most four digits each, so no overflow.
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = b.get(r)?;
        if s.is_empty() {
            return None;
        }
        s.iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b' ' | b'T') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: u64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                nanos = nanos * 10 + u64::from(b[i] - b'0');
            }
            i += 1;
        }
        let digits = (i - start).min(9);
        if digits == 0 {
            return None;
        }
        nanos *= 10u64.pow(9 - digits as u32);
    }
    let offset: i64 = match b.get(i..) {
        None | Some([]) | Some(b"Z") | Some(b"z") => 0,
        Some([sign @ (b'+' | b'-'), rest @ ..]) if rest.len() == 5 && rest[2] == b':' => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let v = i64::from(oh * 3600 + om * 60);
            if *sign == b'+' {
                v
            } else {
                -v
            }
        }
        _ => return None,
    };
    let days = days_from_civil(i64::from(y), mo, d)?;
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + s) - offset;
    let nanos = u32::try_from(nanos).ok()?;
    (secs >= 0).then(|| Timestamp::from_secs_nanos(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    /// Event 3 as NXLog's `im_msvistalog` writes it: event data flat,
    /// numbers as strings, with the formatted `Message` beside.
    const NXLOG_3: &str = r#"{"EventTime":"2026-03-02 10:00:05","Hostname":"WS-LAB-07","EventID":3,"SourceName":"Microsoft-Windows-Sysmon","Channel":"Microsoft-Windows-Sysmon/Operational","Message":"Network connection detected:\r\nRuleName: -","UtcTime":"2026-03-02 10:00:04.652","ProcessGuid":"{5770385F-0000-0000-0000-000000000000}","ProcessId":"4312","Image":"C:\\Users\\lab\\AppData\\Local\\Temp\\upd.exe","User":"WS-LAB-07\\lab","Protocol":"tcp","Initiated":"true","SourceIsIpv6":"false","SourceIp":"10.66.0.101","SourceHostname":"WS-LAB-07.lab","SourcePort":"50402","DestinationIsIpv6":"false","DestinationIp":"10.77.0.21","DestinationPort":"443","DestinationPortName":"https"}"#;

    /// Event 22 as Winlogbeat writes it (ECS beside `winlog.event_data`).
    const WINLOGBEAT_22: &str = r#"{"@timestamp":"2026-03-02T10:00:04.600Z","event":{"code":"22","provider":"Microsoft-Windows-Sysmon","kind":"event"},"host":{"name":"ws-lab-07.lab.local"},"process":{"executable":"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe","pid":5120},"dns":{"question":{"name":"A1B2C3.someacct.workers.dev."}},"winlog":{"channel":"Microsoft-Windows-Sysmon/Operational","provider_name":"Microsoft-Windows-Sysmon","computer_name":"WS-LAB-07.lab.local","event_id":"22","event_data":{"UtcTime":"2026-03-02 10:00:04.598","ProcessId":"5120","QueryName":"a1b2c3.someacct.workers.dev","QueryStatus":"0","QueryResults":"::ffff:10.77.0.21;","Image":"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe","User":"LAB\\svc"}}}"#;

    /// Event 3 as Winlogbeat 8 writes it: ECS fields only where the event
    /// data is reduced.
    const ECS_3: &str = r#"{"@timestamp":"2026-03-02T10:00:09.100Z","event":{"code":"3"},"host":{"name":"build-01"},"process":{"executable":"C:\\Jenkins\\tools\\node.exe","pid":77},"user":{"name":"jenkins"},"source":{"ip":"10.66.0.102","port":49999},"destination":{"ip":"10.77.0.31","port":443},"network":{"transport":"tcp"},"winlog":{"event_id":3,"provider_name":"Microsoft-Windows-Sysmon"}}"#;

    fn read(text: &[u8]) -> (Vec<HostEvent>, ReadStats) {
        let mut out = Vec::new();
        let s = read_all(text, &mut Interner::default(), &mut out).unwrap();
        (out, s)
    }

    #[test]
    fn flat_event_3() {
        let (ev, s) = read(NXLOG_3.as_bytes());
        assert_eq!(s.connections, 1);
        let e = &ev[0];
        assert_eq!(
            &*e.process.image,
            r"C:\Users\lab\AppData\Local\Temp\upd.exe"
        );
        assert_eq!(e.process.pid, Some(4312));
        assert_eq!(e.process.user.as_deref(), Some(r"WS-LAB-07\lab"));
        assert_eq!(e.host.as_deref(), Some("ws-lab-07"));
        assert_eq!(
            e.ts,
            parse_time("2026-03-02T10:00:04.652Z").unwrap(),
            "UtcTime, not the collector's local EventTime"
        );
        assert_eq!(
            e.kind,
            HostEventKind::Connection {
                proto: 6,
                source: ("10.66.0.101".parse().unwrap(), 50402),
                destination: ("10.77.0.21".parse().unwrap(), 443),
                initiated: true,
            }
        );
    }

    #[test]
    fn winlogbeat_shapes() {
        let text = format!("{WINLOGBEAT_22}\n{ECS_3}\n");
        let (ev, s) = read(text.as_bytes());
        assert_eq!((s.dns, s.connections, s.bad), (1, 1, 0));
        assert_eq!(
            ev[0].kind,
            HostEventKind::Dns {
                name: "a1b2c3.someacct.workers.dev".into()
            }
        );
        assert_eq!(ev[0].host.as_deref(), Some("ws-lab-07.lab.local"));
        assert_eq!(ev[0].process.pid, Some(5120));
        assert_eq!(ev[0].process.user.as_deref(), Some(r"LAB\svc"));
        assert_eq!(ev[0].ts, parse_time("2026-03-02 10:00:04.598").unwrap());
        assert_eq!(&*ev[1].process.image, r"C:\Jenkins\tools\node.exe");
        assert_eq!(ev[1].process.user.as_deref(), Some("jenkins"));
        assert_eq!(ev[1].ts, parse_time("2026-03-02T10:00:09.1Z").unwrap());
        assert!(matches!(
            ev[1].kind,
            HostEventKind::Connection {
                source: (_, 49999),
                ..
            }
        ));
    }

    #[test]
    fn array_gzip_and_html_escapes() {
        let escaped = NXLOG_3.replace(
            r"C:\\Users\\lab\\AppData\\Local\\Temp\\upd.exe",
            "&lt;unknown process&gt;",
        );
        let array = format!("[\n{escaped},\n{ECS_3}, 17, {{\"EventID\":1}}\n]");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(array.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        for bytes in [array.as_bytes(), &gz[..]] {
            let (ev, s) = read(bytes);
            assert_eq!(
                (s.connections, s.dns, s.skipped, s.bad),
                (2, 0, 1, 1),
                "{s:?}"
            );
            assert_eq!(&*ev[0].process.image, "<unknown process>");
        }
        // An item over MAX_LINE, or not an event, costs only itself; brackets
        // and commas inside strings are not item ends.
        let long = format!("{{\"Message\":\"{}\"}}", "],[".repeat(MAX_LINE / 3 + 10));
        let text = format!("[{long}, nope, {NXLOG_3}, \"a, b]\", {ECS_3}]");
        let (ev, s) = read(text.as_bytes());
        assert_eq!((ev.len(), s.bad), (2, 3), "{s:?}");
        // A gzip file cut short keeps the events before the cut (here: only
        // its trailer is missing).
        let lines = format!("{NXLOG_3}\n").repeat(200);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(lines.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        let (ev, s) = read(&gz[..gz.len() - 8]);
        assert_eq!(ev.len(), 200, "{s:?}");
        assert_eq!(s.bad, 1, "{s:?}");
        let (ev, s) = read(&gz[..gz.len() / 2]);
        assert!(!ev.is_empty() && ev.len() < 200 && s.bad >= 1, "{s:?}");
        // A broken array keeps what came before it.
        let (ev, s) = read(format!("[{NXLOG_3}, {{\"EventID\": 3, ").as_bytes());
        assert_eq!((ev.len(), s.bad), (1, 1));
    }

    /// Two events as `evtx_dump` prints them: pretty, one after another,
    /// each wrapped in `Event` with `System` and `EventData`.
    #[test]
    fn evtx_dump_objects() {
        let sysmon = r##"{
  "Event": {
    "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
    "System": {
      "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
      "EventID": 3,
      "Channel": "Microsoft-Windows-Sysmon/Operational",
      "Computer": "WS-LAB-07",
      "TimeCreated": {"#attributes": {"SystemTime": "2026-03-02T10:00:09.100000Z"}}
    },
    "EventData": {
      "UtcTime": "2026-03-02 10:00:04.652",
      "ProcessId": 4312,
      "Image": "C:\\Windows\\System32\\regsvr32.exe",
      "User": "WS-LAB-07\\lab",
      "Protocol": "tcp",
      "Initiated": "true",
      "SourceIp": "10.66.0.101",
      "SourcePort": 50402,
      "DestinationIp": "10.77.0.21",
      "DestinationPort": 443
    }
  }
}"##;
        let other = r##"{
  "Event": {
    "System": {
      "Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing"}},
      "EventID": 3, "Computer": "WS-LAB-07"
    },
    "EventData": {"DestinationIp": "10.77.0.21"}
  }
}"##;
        let (ev, s) = read(format!("{sysmon}\n{other}\n{sysmon}").as_bytes());
        assert_eq!((s.connections, s.skipped, s.bad), (2, 1, 0), "{s:?}");
        assert_eq!(&*ev[0].process.image, r"C:\Windows\System32\regsvr32.exe");
        assert_eq!(ev[0].host.as_deref(), Some("ws-lab-07"));
        assert_eq!(ev[0].process.pid, Some(4312));
    }

    #[test]
    fn bad_and_other_lines_are_counted_never_fatal() {
        let long = "x".repeat(MAX_LINE + 10);
        let other_provider = r#"{"EventID":3,"SourceName":"Microsoft-Windows-Kernel-Network","UtcTime":"2026-03-02 10:00:00.000","Image":"x"}"#;
        let text = [
            "not json",
            r#"{"EventID":1,"Image":"C:\\x.exe"}"#,
            other_provider,
            &long,
            r#"{"EventID":3,"UtcTime":"2026-03-02 10:00:00.000","Image":"C:\\a.exe"}"#,
            r#"{"EventID":22,"UtcTime":"yesterday","Image":"C:\\a.exe","QueryName":"x.y"}"#,
            r#"{"EventID":"3","host":"a string, not an object","UtcTime":"2026-03-02 10:00:00.000","Image":"C:\\a.exe","Protocol":"udp","SourceIp":"::ffff:10.0.0.1","SourcePort":53000,"DestinationIp":"fe80::1%12","DestinationPort":53}"#,
            "",
            NXLOG_3,
        ]
        .join("\n");
        let (ev, s) = read(text.as_bytes());
        assert_eq!(s.connections, 2);
        // Event 1, another provider, and an event 3 naming no destination
        // (skipped unparsed).
        assert_eq!(s.skipped, 3);
        // Not JSON, too long, an event 22 with an unreadable time.
        assert_eq!(s.bad, 3);
        assert_eq!(
            ev[0].kind,
            HostEventKind::Connection {
                proto: 17,
                source: ("10.0.0.1".parse().unwrap(), 53000),
                destination: ("fe80::1".parse().unwrap(), 53),
                initiated: true,
            }
        );
    }

    /// Strings without escapes are borrowed from the line, those with
    /// escapes copied; both read the same. A line that is not UTF-8 is still
    /// read when the bad bytes are in a field the join ignores.
    #[test]
    fn escaped_borrowed_and_non_utf8_strings() {
        let plain = NXLOG_3.replace(
            r"C:\\Users\\lab\\AppData\\Local\\Temp\\upd.exe",
            "/usr/bin/curl",
        );
        let unicode = NXLOG_3.replace(
            r#""User":"WS-LAB-07\\lab""#,
            r#""User":"WS-LAB-07\\l\u00e4b""#,
        );
        let mut latin1 = NXLOG_3.as_bytes().to_vec();
        let at = NXLOG_3.find("RuleName").unwrap();
        latin1[at] = 0xe4;
        let mut text = format!("{plain}\n{unicode}\n").into_bytes();
        text.extend_from_slice(&latin1);
        let (ev, s) = read(&text);
        assert_eq!((s.connections, s.bad), (3, 0), "{s:?}");
        assert_eq!(&*ev[0].process.image, "/usr/bin/curl");
        assert_eq!(ev[1].process.user.as_deref(), Some("WS-LAB-07\\läb"));
        assert_eq!(ev[2], read(NXLOG_3.as_bytes()).0[0]);
        // Invalid UTF-8 inside a field that is read: a bad line.
        let mut bad = NXLOG_3.as_bytes().to_vec();
        let at = NXLOG_3.find("upd.exe").unwrap();
        bad[at] = 0xff;
        assert_eq!(read(&bad).1.bad, 1);
    }

    #[test]
    fn lines_in_blocks_on_several_threads_keep_their_order() {
        let mut text = String::new();
        for port in 1..=20_000u32 {
            text.push_str(&NXLOG_3.replace("50402", &port.to_string()));
            text.push('\n');
            if port == 7_000 {
                // Over MAX_LINE, across block ends.
                text.push_str(&"y".repeat(MAX_LINE + 5000));
                text.push('\n');
            }
        }
        for block in [64 * 1024, BLOCK] {
            let mut out = Vec::new();
            let mut stats = ReadStats::default();
            read_lines_parallel(
                text.as_bytes(),
                block,
                &mut Interner::default(),
                &mut out,
                &mut stats,
            )
            .unwrap();
            assert_eq!((stats.connections, stats.bad), (20_000, 1), "{block}");
            let ports: Vec<u16> = out
                .iter()
                .map(|e| match e.kind {
                    HostEventKind::Connection { source, .. } => source.1,
                    HostEventKind::Dns { .. } => 0,
                })
                .collect();
            assert!(ports.iter().zip(1..).all(|(p, want)| *p == want), "{block}");
        }
    }

    /// The dotted-quad shortcut reads what the standard parser reads, and
    /// nothing it rejects.
    #[test]
    fn ipv4_shortcut_agrees_with_std() {
        let mut cases: Vec<String> = [
            "10.66.0.101",
            "0.0.0.0",
            "255.255.255.255",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..3.4",
            "1.2.3.4 ",
            "+1.2.3.4",
            "1.2.3.04",
            "1.2.3.1000",
            "",
            "::ffff:10.0.0.1",
            "fe80::1",
            "1.2.3.a",
        ]
        .map(String::from)
        .to_vec();
        for a in 0..=300u32 {
            cases.push(format!("{a}.{}.0.{a:03}", 300 - a));
        }
        for c in &cases {
            let std = c.parse::<std::net::Ipv4Addr>().ok();
            let fast = parse_ipv4(c.as_bytes());
            assert!(fast.is_none() || fast == std, "{c}");
            assert_eq!(
                parse_ip(c),
                c.trim().parse::<IpAddr>().ok().map(|a| a.to_canonical()),
                "{c}"
            );
        }
        assert_eq!(parse_ipv4(b"10.66.0.101"), "10.66.0.101".parse().ok());
        assert!(contains_ignore_ascii_case(
            "Microsoft-Windows-SYSMON/Operational",
            b"sysmon"
        ));
        assert!(contains_ignore_ascii_case("ssysmon", b"sysmon"));
        assert!(!contains_ignore_ascii_case(
            "Microsoft-Windows-Sysmo",
            b"sysmon"
        ));
    }

    #[test]
    fn times() {
        let t = |s: &str| parse_time(s).map(|t| t.0);
        let base = t("2026-03-02 10:00:04").unwrap();
        assert_eq!(base, 1_772_445_604_000_000_000);
        assert_eq!(t("2026-03-02 10:00:04.5"), Some(base + 500_000_000));
        assert_eq!(
            t("2026-03-02T10:00:04.123456789Z"),
            Some(base + 123_456_789)
        );
        assert_eq!(t("2026-03-02T12:00:04+02:00"), Some(base));
        for bad in [
            "",
            "2026-03-02",
            "2026-13-02 10:00:04",
            "2026-03-02 25:00:04",
            "2026-03-02 10:00:04.",
            "2026-03-02 10:00:04 junk",
            "２０２６-03-02 10:00:04",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }
}
