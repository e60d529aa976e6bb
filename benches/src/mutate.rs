//! Seeded mutants of real capture files, and the check that `virga replay`
//! survives them: no panic, no hang, every output line JSON, and a corrupt
//! file ends with one error line naming the file (and, for a break after the
//! header, the byte offset) with the documented exit status.
//!
//! Used by the `virga-mutate` tool (the full run) and by the sensor's
//! `mutated_captures` test (a small seeded subset), which includes this file.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A small deterministic generator (SplitMix64). Hand-written: the mutants
/// must be reproducible from a seed across versions, and the workspace has
/// no random-number crate.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`0` when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// The record/block layout of a capture file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// Classic pcap: byte order, record header length, record starts.
    Pcap {
        /// Big-endian fields.
        big_endian: bool,
        /// Record header bytes (16, or 24 for the "modified" format).
        header_len: usize,
        /// Offsets of the records.
        records: Vec<usize>,
    },
    /// pcapng: blocks as (offset, type, big-endian section).
    Ng {
        /// Offset, block type and byte order of each block walked.
        blocks: Vec<(usize, u32, bool)>,
    },
    /// Neither (or unreadable from the start).
    Unknown,
}

fn u32_at(b: &[u8], at: usize, be: bool) -> Option<u32> {
    let w: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(if be {
        u32::from_be_bytes(w)
    } else {
        u32::from_le_bytes(w)
    })
}

fn put_u32(b: &mut [u8], at: usize, be: bool, v: u32) {
    if let Some(w) = b.get_mut(at..at + 4) {
        w.copy_from_slice(&if be { v.to_be_bytes() } else { v.to_le_bytes() });
    }
}

/// Walks the records or blocks of `b` as far as they are well formed.
pub fn layout(b: &[u8]) -> Layout {
    let Some(magic) = u32_at(b, 0, false) else {
        return Layout::Unknown;
    };
    let classic = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => Some((false, 16)),
        0xd4c3_b2a1 | 0x4d3c_b2a1 => Some((true, 16)),
        0xa1b2_cd34 => Some((false, 24)),
        0x34cd_b2a1 => Some((true, 24)),
        _ => None,
    };
    if let Some((be, header_len)) = classic {
        let mut records = Vec::new();
        let mut at = 24;
        while at + header_len <= b.len() {
            records.push(at);
            let caplen = u32_at(b, at + 8, be).unwrap_or(0) as usize;
            at = at.saturating_add(header_len).saturating_add(caplen);
        }
        return Layout::Pcap {
            big_endian: be,
            header_len,
            records,
        };
    }
    if magic != 0x0a0d_0d0a {
        return Layout::Unknown;
    }
    let mut blocks = Vec::new();
    let mut at = 0;
    let mut be = false;
    while at + 12 <= b.len() {
        let ty = u32_at(b, at, false).unwrap_or(0);
        if ty == 0x0a0d_0d0a {
            be = u32_at(b, at + 8, false) != Some(0x1a2b_3c4d);
        }
        let len = u32_at(b, at + 4, be).unwrap_or(0) as usize;
        blocks.push((at, u32_at(b, at, be).unwrap_or(0), be));
        if len < 12 || !len.is_multiple_of(4) {
            break;
        }
        at = at.saturating_add(len);
    }
    Layout::Ng { blocks }
}

/// The kinds of damage a mutant carries.
pub const KINDS: [&str; 8] = [
    "truncate",
    "flip_header",
    "flip_payload",
    "absurd_length",
    "unknown_linktype",
    "time_backwards",
    "unknown_block",
    "flip_anywhere",
];

/// Packet block types of pcapng (Enhanced, Simple, obsolete Packet).
fn is_packet_block(ty: u32) -> bool {
    matches!(ty, 2 | 3 | 6)
}

/// One mutant of `orig`: returns its kind and bytes.
pub fn mutate(orig: &[u8], rng: &mut Rng) -> (&'static str, Vec<u8>) {
    let mut b = orig.to_vec();
    let lay = layout(orig);
    let kind = KINDS[rng.below(KINDS.len())];
    let flip = |b: &mut Vec<u8>, at: usize, rng: &mut Rng| {
        if let Some(x) = b.get_mut(at) {
            *x ^= 1 << rng.below(8);
        }
    };
    match (kind, &lay) {
        ("truncate", _) => b.truncate(rng.below(orig.len())),
        (
            "flip_header",
            Layout::Pcap {
                records,
                header_len,
                ..
            },
        ) => {
            // The file header or a record header.
            let (start, len) = match rng.below(3) {
                0 => (0, 24),
                _ if !records.is_empty() => (records[rng.below(records.len())], *header_len),
                _ => (0, 24),
            };
            for _ in 0..=rng.below(3) {
                flip(&mut b, start + rng.below(len), rng);
            }
        }
        ("flip_header", Layout::Ng { blocks }) => {
            let (at, _, _) = blocks[rng.below(blocks.len())];
            for _ in 0..=rng.below(3) {
                flip(&mut b, at + rng.below(32), rng);
            }
        }
        (
            "flip_payload",
            Layout::Pcap {
                records,
                header_len,
                ..
            },
        ) if !records.is_empty() => {
            for _ in 0..=rng.below(8) {
                let r = records[rng.below(records.len())] + header_len;
                flip(&mut b, r + rng.below(256), rng);
            }
        }
        ("flip_payload", Layout::Ng { blocks }) => {
            for _ in 0..=rng.below(8) {
                let (at, _, _) = blocks[rng.below(blocks.len())];
                flip(&mut b, at + 28 + rng.below(256), rng);
            }
        }
        (
            "absurd_length",
            Layout::Pcap {
                big_endian,
                records,
                ..
            },
        ) if !records.is_empty() => {
            let r = records[rng.below(records.len())];
            let caplen = u32_at(&b, r + 8, *big_endian).unwrap_or(0);
            let v = [u32::MAX, 0x7fff_ffff, 0x0100_0000, 262_145, caplen + 1, 0][rng.below(6)];
            // caplen, or the wire length.
            let field = if rng.below(4) == 0 { r + 12 } else { r + 8 };
            put_u32(&mut b, field, *big_endian, v);
        }
        ("absurd_length", Layout::Ng { blocks }) => {
            let (at, ty, be) = blocks[rng.below(blocks.len())];
            let v = [u32::MAX, 0x7fff_fff0, 0x0100_0000, 8, 13, 0][rng.below(6)];
            // Block total length (leading), or the packet's captured length.
            let field = if is_packet_block(ty) && rng.below(2) == 0 {
                if ty == 3 {
                    at + 8
                } else {
                    at + 20
                }
            } else {
                at + 4
            };
            put_u32(&mut b, field, be, v);
        }
        ("unknown_linktype", Layout::Pcap { big_endian, .. }) => {
            let v = [147, 0xffff, 0xdead_beef, 2, 9, 105][rng.below(6)];
            put_u32(&mut b, 20, *big_endian, v);
        }
        ("unknown_linktype", Layout::Ng { blocks }) => {
            let idbs: Vec<_> = blocks.iter().filter(|x| x.1 == 1).collect();
            if let Some(&&(at, _, be)) = idbs.get(rng.below(idbs.len())) {
                let v = [147u16, 0xffff, 2, 9, 105][rng.below(5)];
                let w = if be { v.to_be_bytes() } else { v.to_le_bytes() };
                if let Some(s) = b.get_mut(at + 8..at + 10) {
                    s.copy_from_slice(&w);
                }
            }
        }
        (
            "time_backwards",
            Layout::Pcap {
                big_endian,
                records,
                ..
            },
        ) if records.len() > 1 => {
            // Every record from a random one on goes back in time.
            let from = 1 + rng.below(records.len() - 1);
            let back = [1u32, 60, 3600, 86_400 * 365, u32::MAX / 2][rng.below(5)];
            for &r in &records[from..] {
                let s = u32_at(&b, r, *big_endian).unwrap_or(0);
                put_u32(&mut b, r, *big_endian, s.wrapping_sub(back));
            }
        }
        ("time_backwards", Layout::Ng { blocks }) => {
            let epbs: Vec<_> = blocks.iter().filter(|x| x.1 == 6).collect();
            if epbs.len() > 1 {
                let from = 1 + rng.below(epbs.len() - 1);
                for &&(at, _, be) in &epbs[from..] {
                    let hi = u32_at(&b, at + 12, be).unwrap_or(0);
                    put_u32(
                        &mut b,
                        at + 12,
                        be,
                        hi.wrapping_sub(1 + rng.below(1000) as u32),
                    );
                }
            }
        }
        ("unknown_block", Layout::Ng { blocks }) => {
            // A block of an unknown type at a block boundary (after the
            // first section header), well formed or with a bad length.
            let at = blocks
                .get(1 + rng.below(blocks.len()))
                .map_or(orig.len(), |x| x.0);
            let be = blocks.first().is_some_and(|x| x.2);
            let body = 4 * rng.below(16);
            let total = (12 + body) as u32;
            let mut blk = Vec::new();
            let ty = [0x0bad_0000 | rng.below(0xffff) as u32, 7, 0x4000_0bad][rng.below(3)];
            for v in [ty, total] {
                blk.extend_from_slice(&if be { v.to_be_bytes() } else { v.to_le_bytes() });
            }
            for _ in 0..body {
                blk.push(rng.next_u64() as u8);
            }
            let trailer = if rng.below(4) == 0 { total + 4 } else { total };
            blk.extend_from_slice(&if be {
                trailer.to_be_bytes()
            } else {
                trailer.to_le_bytes()
            });
            b.splice(at..at, blk);
        }
        _ => {
            // "flip_anywhere", and kinds that do not apply to this layout.
            for _ in 0..=rng.below(16) {
                let at = rng.below(b.len());
                flip(&mut b, at, rng);
            }
            return ("flip_anywhere", b);
        }
    }
    (kind, b)
}

/// What one replay did.
#[derive(Debug)]
pub struct Outcome {
    /// Exit status (`None`: killed by a signal or by the timeout).
    pub code: Option<i32>,
    /// True when the timeout killed it.
    pub timed_out: bool,
    /// Standard output (the EVE lines).
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Wall time.
    pub elapsed: Duration,
}

/// Runs `virga replay --log-all -o - FILE`, killing it after `timeout`.
pub fn replay(virga: &Path, file: &Path, scratch: &Path, timeout: Duration) -> Outcome {
    let out_path = scratch.join("stdout");
    let err_path = scratch.join("stderr");
    let start = Instant::now();
    let spawn = || -> std::io::Result<std::process::Child> {
        Command::new(virga)
            .args(["replay", "--log-all", "-o", "-"])
            .arg(file)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path)?)
            .stderr(std::fs::File::create(&err_path)?)
            .spawn()
    };
    let mut child = match spawn() {
        Ok(c) => c,
        Err(e) => panic!("cannot run {}: {e}", virga.display()),
    };
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                timed_out = true;
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => break None,
        }
    };
    Outcome {
        code: status.and_then(|s| s.code()),
        timed_out,
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
        elapsed: start.elapsed(),
    }
}

/// A further check of each EVE line (the EVE schema, say): `Err` names what
/// is wrong with it.
pub type LineCheck<'a> = &'a dyn Fn(&serde_json::Value) -> Result<(), String>;

/// Checks an outcome of replaying `file`. Exit 0: clean. Exit 1: one error
/// line `virga: FILE: corrupt capture at byte N after packet K: REASON`.
/// Exit 2: one line `virga: FILE: cannot open capture: REASON` (the header is
/// unreadable) and no events. Always: no panic, no timeout, every stdout line
/// a JSON object with an `event_type` that passes `line_check` when one is
/// given, and a final `stats` event whenever a packet was read.
pub fn check(o: &Outcome, file: &Path, line_check: Option<LineCheck>) -> Result<(), String> {
    if o.timed_out {
        return Err(format!("hang: killed after {:?}", o.elapsed));
    }
    if o.stderr.contains("panicked") {
        return Err(format!("panic: {}", o.stderr.trim_end()));
    }
    let mut last = String::new();
    for (i, line) in o.stdout.lines().enumerate() {
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| format!("stdout line {} is not JSON ({e}): {line}", i + 1))?;
        match v.get("event_type").and_then(|t| t.as_str()) {
            Some(t) => last = t.to_string(),
            None => return Err(format!("stdout line {} has no event_type", i + 1)),
        }
        if let Some(c) = line_check {
            c(&v).map_err(|e| format!("stdout line {}: {e}: {line}", i + 1))?;
        }
    }
    if !o.stdout.is_empty() && !o.stdout.ends_with('\n') {
        return Err("stdout ends in the middle of a line".into());
    }
    let name = file.to_string_lossy();
    let err_lines: Vec<&str> = o.stderr.lines().collect();
    match o.code {
        Some(0) => {
            if !err_lines.is_empty() {
                return Err(format!("exit 0 with stderr: {}", o.stderr.trim_end()));
            }
        }
        Some(1) => {
            let want = format!("virga: {name}: corrupt capture at byte ");
            match err_lines.as_slice() {
                [l] if l.starts_with(&want) && l.contains(" after packet ") => {}
                _ => {
                    return Err(format!(
                        "exit 1, stderr not one located error: {:?}",
                        o.stderr
                    ))
                }
            }
            let packets_before = err_lines[0]
                .split(" after packet ")
                .nth(1)
                .and_then(|r| r.split(':').next())
                .and_then(|n| n.parse::<u64>().ok())
                .ok_or_else(|| format!("no packet count in {:?}", err_lines[0]))?;
            if packets_before > 0 && last != "stats" {
                return Err(format!(
                    "exit 1 after {packets_before} packets without the final stats (last {last:?})"
                ));
            }
        }
        Some(2) => {
            let want = format!("virga: {name}: cannot open capture: ");
            match err_lines.as_slice() {
                [l] if l.starts_with(&want) => {}
                _ => return Err(format!("exit 2, stderr not one open error: {:?}", o.stderr)),
            }
            if !o.stdout.is_empty() {
                return Err("exit 2 but events were written".into());
            }
        }
        c => {
            return Err(format!(
                "exit status {c:?} (signal?), stderr {:?}",
                o.stderr
            ))
        }
    }
    Ok(())
}

/// Every pcap/pcapng/cap file under `p` (a file or a directory, recursive),
/// sorted.
pub fn captures(p: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    walk(p, &mut out);
    out.sort();
    out
}

fn walk(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        if let Ok(rd) = std::fs::read_dir(p) {
            for e in rd.flatten() {
                walk(&e.path(), out);
            }
        }
    } else if matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("pcap" | "pcapng" | "cap")
    ) {
        out.push(p.to_path_buf());
    }
}

/// For a copy of a well-formed file `orig` cut to `cut` bytes: the exit
/// status and error line prefix a correct reader gives (`None` when the cut
/// falls inside the file header, where only [`check`] applies).
pub fn truncation_expectation(orig: &[u8], cut: usize) -> Option<(i32, String)> {
    // (start, is a packet) of every record/block after the file header.
    let (units, header_end): (Vec<(usize, bool)>, usize) = match layout(orig) {
        Layout::Pcap { records, .. } => (records.iter().map(|&r| (r, true)).collect(), 24),
        Layout::Ng { blocks } => {
            let first_end = blocks.get(1).map_or(orig.len(), |b| b.0);
            let units = blocks
                .iter()
                .skip(1)
                .map(|&(at, ty, _)| (at, is_packet_block(ty)))
                .collect();
            (units, first_end)
        }
        Layout::Unknown => return None,
    };
    // Only for files whose walk covers them exactly.
    let complete = match layout(orig) {
        Layout::Pcap { .. } => {
            let mut end = 24;
            if let Layout::Pcap {
                records,
                header_len,
                big_endian,
            } = layout(orig)
            {
                if let Some(&last) = records.last() {
                    end = last
                        + header_len
                        + u32_at(orig, last + 8, big_endian).unwrap_or(0) as usize;
                }
            }
            end == orig.len()
        }
        Layout::Ng { ref blocks } => blocks.last().is_some_and(|&(at, _, be)| {
            at + u32_at(orig, at + 4, be).unwrap_or(0) as usize == orig.len()
        }),
        Layout::Unknown => false,
    };
    if !complete || cut <= header_end || cut >= orig.len() {
        return None;
    }
    let mut packets = 0u64;
    for (i, &(at, is_packet)) in units.iter().enumerate() {
        let end = units.get(i + 1).map_or(orig.len(), |u| u.0);
        if cut == at {
            return Some((0, String::new()));
        }
        if cut < end {
            return Some((
                1,
                format!("corrupt capture at byte {at} after packet {packets}:"),
            ));
        }
        packets += u64::from(is_packet);
    }
    None
}

/// Checks the replay of one mutant of the well-formed file `orig` made by
/// [`mutate`] (`kind`, `cut_len` bytes long): [`check`], and for a
/// truncation that [`truncation_expectation`] can place, the exact exit
/// status and error offset. `Ok(true)` when a located break was confirmed.
pub fn check_mutant(
    orig: &[u8],
    kind: &str,
    cut_len: usize,
    o: &Outcome,
    file: &Path,
    line_check: Option<LineCheck>,
) -> Result<bool, String> {
    check(o, file, line_check)?;
    if kind != "truncate" {
        return Ok(false);
    }
    let Some((want, prefix)) = truncation_expectation(orig, cut_len) else {
        return Ok(false);
    };
    let line = o.stderr.lines().next().unwrap_or("");
    if o.code != Some(want) || !line.contains(&prefix) {
        return Err(format!(
            "truncated at {cut_len}: want exit {want} {prefix:?}, got {:?} {line:?}",
            o.code
        ));
    }
    Ok(want == 1)
}
