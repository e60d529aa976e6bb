//! Guards the module structure of the sensor library (`sensor/src`).
//!
//! The sensor is built in one-way layers: sources → workers → records →
//! detectors → EVE serialization (`src/eve/`) → sinks (`src/output/`), with
//! telemetry (counters, stats aggregation, metrics) at the bottom. These tests
//! read the source tree when they run and check the two rules that keep it so:
//!
//! 1. the top-level modules (`src/X.rs`, `src/X/`) refer to one another
//!    without a circle, so they can be ordered in layers;
//! 2. EVE JSON is written only by the `eve` module (`src/eve/`).
//!
//! Modules are discovered from the directory, so the checks need no change
//! when modules are added, split, moved or renamed.
//!
//! # The scanner
//!
//! A small hand-written lexer, not `syn`: the checks need only path prefixes
//! (`crate::x`, `super::x`), identifiers, string literals and brace matching,
//! which a few hundred lines do without making a full Rust parser a
//! dependency of the sensor's tests. It
//!
//! - blanks comments (line, nested block, doc) and string, byte-string, raw
//!   string and char literals (telling `'a'` from the lifetime `'a`), keeping
//!   byte offsets and line numbers, and keeps the text of string literals
//!   aside for the JSON check;
//! - blanks every item marked `#[cfg(test)]` (a `mod tests { .. }` up to its
//!   matching brace, or any other item up to its `;` or closing brace), drops
//!   the files of an out-of-line `#[cfg(test)] mod x;`, and skips a file
//!   whose inner attribute is `#![cfg(test)]`;
//! - splits the rest into identifiers and punctuation, and reads the first
//!   segment after `crate::` / `$crate::` (or of each item of a
//!   `crate::{..}` group, nested and spread over lines), and after a chain
//!   of `super::` that climbs exactly to the crate root, counted from the
//!   file's place in the tree (`src/x.rs` and `src/x/mod.rs` are one level
//!   deep, `src/x/y.rs` two, ...) plus any inline `mod m { .. }` around it.
//!
//! Known limits: `#[path = ".."]` attributes and `include!` are not followed
//! (a file's module is its place in the tree); only the exact attribute
//! `#[cfg(test)]` marks test code (`cfg(all(test, ..))` is scanned as
//! ordinary code); a glob `use crate::*` and names brought in by it are not
//! resolved; a path inside a `macro_rules!` body counts where the macro is
//! written, not where it expands; top-level modules written inline in
//! `lib.rs` are not seen; the JSON literal test is a heuristic
//! ([`looks_like_json`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::fs;
use std::path::{Path, PathBuf};

/// The top-level module that alone may write EVE JSON (`src/eve/`, or
/// `src/eve.rs` with its folder).
const EVE_MODULE: &str = "eve";

/// Identifiers only EVE serialization has reason to name: the JSON writer,
/// the JSON library and the EVE timestamp formatter. Matched as whole
/// identifiers, so `write_event` is not `write_eve`.
const JSON_WRITING_NAMES: &[&str] = &["JsonWriter", "serde_json", "write_eve"];

/// Modules that read JSON (and so may name `serde_json`) but never write
/// it: `zeek` reads Zeek's JSON-lines logs. The JSON writer, the EVE
/// timestamp writer and JSON-looking literals stay forbidden there.
const JSON_READERS: &[&str] = &["zeek"];
/// The JSON library's reading entry points and the error types they
/// return: `serde_json` followed by one of these (`serde_json::from_slice`,
/// `serde_json::Result`) reads JSON (host event files, for one) and is not
/// writing. Anything else it names (`to_string`, `Value`, whose `Display`
/// writes JSON, a `use` of it) still counts as writing.
const JSON_READING_PATHS: &[&str] = &[
    "serde_json :: Result",
    "serde_json :: Error",
    "serde_json :: from_slice",
    "serde_json :: from_str",
    "serde_json :: from_reader",
    "serde_json :: Deserializer :: from_reader",
    "serde_json :: Deserializer :: from_slice",
];

/// At most this many circles are listed when modules are tangled.
const MAX_LISTED_CYCLES: usize = 500;

// ---------------------------------------------------------------------------
// Lexer: comments and literals out, string literals kept aside.

/// A string literal found by the lexer.
#[derive(Debug)]
struct StrLit {
    /// Byte offset of the literal (its prefix or opening quote) in the file.
    at: usize,
    /// The text between the quotes; in a non-raw literal `\"` and `\\` are
    /// unescaped, other escapes are kept as written.
    text: String,
}

/// A source file with comments and literals blanked out.
struct Lexed {
    /// The file with every comment and every string and char literal
    /// replaced by spaces (line breaks kept), so byte offsets and line numbers
    /// are those of the file.
    code: Vec<u8>,
    /// The string literals, in file order.
    strings: Vec<StrLit>,
}

/// Whether `b` can be part of an identifier (non-ASCII bytes count, so a
/// non-ASCII identifier stays one token).
fn is_ident_byte(b: u8) -> bool {
    b == b'_' || b.is_ascii_alphanumeric() || b >= 0x80
}

/// Replaces `code[from..to]` by spaces, keeping line breaks.
fn blank(code: &mut [u8], from: usize, to: usize) {
    for b in &mut code[from..to] {
        if *b != b'\n' {
            *b = b' ';
        }
    }
}

/// The string literal starting at `i` (`"`, `b"`, `c"`, `r#"`, `br"`,
/// `cr#"`, ...): where it ends and its text.
fn string_at(s: &[u8], i: usize) -> Option<(usize, String)> {
    let mut j = i;
    if matches!(s[j], b'b' | b'c') {
        j += 1;
    }
    let raw = s.get(j) == Some(&b'r');
    if raw {
        j += 1;
    }
    let hashes = if raw {
        s[j..].iter().take_while(|&&b| b == b'#').count()
    } else {
        0
    };
    j += hashes;
    if s.get(j) != Some(&b'"') {
        return None;
    }
    let start = j + 1;
    if raw {
        let mut close = vec![b'"'];
        close.extend(std::iter::repeat_n(b'#', hashes));
        let body_end = s[start..]
            .windows(close.len())
            .position(|w| w == close.as_slice())
            .map_or(s.len(), |n| start + n);
        let end = (body_end + close.len()).min(s.len());
        Some((
            end,
            String::from_utf8_lossy(&s[start..body_end]).into_owned(),
        ))
    } else {
        let mut k = start;
        while k < s.len() && s[k] != b'"' {
            k += if s[k] == b'\\' { 2 } else { 1 };
        }
        let body_end = k.min(s.len());
        let body = String::from_utf8_lossy(&s[start..body_end]);
        let mut text = String::with_capacity(body.len());
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(e @ ('"' | '\\')) => text.push(e),
                    Some(e) => {
                        text.push('\\');
                        text.push(e);
                    }
                    None => text.push('\\'),
                },
                c => text.push(c),
            }
        }
        Some(((body_end + 1).min(s.len()), text))
    }
}

/// Blanks comments and literals of `src`; see [`Lexed`].
fn lex(src: &str) -> Lexed {
    let s = src.as_bytes();
    let mut code = s.to_vec();
    let mut strings = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let after_ident = i > 0 && is_ident_byte(s[i - 1]);
        match s[i] {
            b'/' if s.get(i + 1) == Some(&b'/') => {
                let end = s[i..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(s.len(), |n| i + n);
                blank(&mut code, i, end);
                i = end;
            }
            b'/' if s.get(i + 1) == Some(&b'*') => {
                // Block comments nest.
                let mut depth = 0usize;
                let mut j = i;
                while j < s.len() {
                    if s[j..].starts_with(b"/*") {
                        depth += 1;
                        j += 2;
                    } else if s[j..].starts_with(b"*/") {
                        depth -= 1;
                        j += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        j += 1;
                    }
                }
                let end = j.min(s.len());
                blank(&mut code, i, end);
                i = end;
            }
            b'\'' => {
                // A char literal ('x', '\n', '\'', '\u{..}', 'é'), or else a
                // lifetime or label ('a, 'static), which stays code.
                let end = if s.get(i + 1) == Some(&b'\\') {
                    let mut j = i + 3;
                    while j < s.len() && s[j] != b'\'' {
                        j += 1;
                    }
                    Some((j + 1).min(s.len()))
                } else {
                    src[i + 1..].chars().next().and_then(|c| {
                        let close = i + 1 + c.len_utf8();
                        (s.get(close) == Some(&b'\'')).then_some(close + 1)
                    })
                };
                match end {
                    Some(end) => {
                        blank(&mut code, i, end);
                        i = end;
                    }
                    None => i += 1,
                }
            }
            b'"' | b'b' | b'c' | b'r' if s[i] == b'"' || !after_ident => match string_at(s, i) {
                Some((end, text)) => {
                    strings.push(StrLit { at: i, text });
                    blank(&mut code, i, end);
                    i = end;
                }
                None => i += 1,
            },
            _ => i += 1,
        }
    }
    Lexed { code, strings }
}

// ---------------------------------------------------------------------------
// Tokens of the blanked code.

/// An identifier, `::`, or one punctuation byte, with its byte offset.
#[derive(Debug)]
struct Tok<'a> {
    /// The token's text.
    text: &'a [u8],
    /// Byte offset in the file.
    at: usize,
}

impl Tok<'_> {
    /// Whether the token is exactly `s`.
    fn is(&self, s: &str) -> bool {
        self.text == s.as_bytes()
    }

    /// Whether the token is an identifier (or a number, which never matters).
    fn is_ident(&self) -> bool {
        is_ident_byte(self.text[0])
    }

    /// The token as text.
    fn as_str(&self) -> String {
        String::from_utf8_lossy(self.text).into_owned()
    }
}

/// Splits blanked code into tokens.
fn tokens(code: &[u8]) -> Vec<Tok<'_>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < code.len() {
        let b = code[i];
        if b.is_ascii_whitespace() {
            i += 1;
        } else if is_ident_byte(b) {
            let len = code[i..].iter().take_while(|&&b| is_ident_byte(b)).count();
            out.push(Tok {
                text: &code[i..i + len],
                at: i,
            });
            i += len;
        } else {
            let len = if code[i..].starts_with(b"::") { 2 } else { 1 };
            out.push(Tok {
                text: &code[i..i + len],
                at: i,
            });
            i += len;
        }
    }
    out
}

/// Whether the tokens from `i` spell `pattern` (tokens separated by spaces).
fn spells(toks: &[Tok<'_>], i: usize, pattern: &str) -> bool {
    let words: Vec<&str> = pattern.split(' ').collect();
    toks.len() >= i + words.len() && words.iter().enumerate().all(|(n, w)| toks[i + n].is(w))
}

/// Index of the bracket closing the one at `open` (any of `( [ {`, counted
/// together), or the last token when it is never closed. Literals and
/// comments are already blanked, so braces inside them do not count.
fn matching(toks: &[Tok<'_>], open: usize) -> usize {
    let mut depth = 0usize;
    for (k, t) in toks.iter().enumerate().skip(open) {
        match t.text {
            b"(" | b"[" | b"{" => depth += 1,
            b")" | b"]" | b"}" => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return k;
                }
            }
            _ => {}
        }
    }
    toks.len().saturating_sub(1)
}

// ---------------------------------------------------------------------------
// Test-only code.

/// Blanks the items marked `#[cfg(test)]` in `lexed` (and their string
/// literals), or the whole file under `#![cfg(test)]`. Returns the names of
/// out-of-line test modules (`#[cfg(test)] mod x;`), whose files are test
/// code too.
fn strip_test_code(lexed: &mut Lexed) -> Vec<String> {
    let mut cut: Vec<(usize, usize)> = Vec::new();
    let mut test_children = Vec::new();
    {
        let toks = tokens(&lexed.code);
        let mut i = 0;
        while i < toks.len() {
            if spells(&toks, i, "# ! [ cfg ( test ) ]") {
                cut = vec![(0, lexed.code.len())];
                break;
            }
            if !spells(&toks, i, "# [ cfg ( test ) ]") {
                i += 1;
                continue;
            }
            // Further attributes of the same item.
            let mut j = i + 7;
            while j + 1 < toks.len() && toks[j].is("#") && toks[j + 1].is("[") {
                j = matching(&toks, j + 1) + 1;
            }
            // The item: up to a `;` outside brackets, or up to the brace
            // closing its body.
            let mut depth = 0usize;
            let mut end = toks.len().saturating_sub(1);
            for (k, t) in toks.iter().enumerate().skip(j) {
                match t.text {
                    b"(" | b"[" | b"{" => depth += 1,
                    b")" | b"]" => depth = depth.saturating_sub(1),
                    b"}" => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            end = k;
                            break;
                        }
                    }
                    b";" if depth == 0 => {
                        end = k;
                        break;
                    }
                    _ => {}
                }
            }
            // `[pub[(..)]] mod name;`
            let mut m = j;
            if m < end && toks[m].is("pub") {
                m += 1;
                if m < end && toks[m].is("(") {
                    m = matching(&toks, m) + 1;
                }
            }
            if m + 2 == end && toks[m].is("mod") && toks[m + 1].is_ident() && toks[end].is(";") {
                test_children.push(toks[m + 1].as_str());
            }
            if let Some(last) = toks.get(end) {
                cut.push((toks[i].at, last.at + last.text.len()));
            }
            i = end + 1;
        }
    }
    for &(from, to) in &cut {
        blank(&mut lexed.code, from, to);
        lexed.strings.retain(|s| s.at < from || s.at >= to);
    }
    test_children
}

// ---------------------------------------------------------------------------
// References to top-level modules.

/// Pushes the first segment of the path starting at token `k` (an
/// identifier, or each item of a `{..}` group, nested groups included).
fn first_segments(toks: &[Tok<'_>], k: usize, out: &mut Vec<(String, usize)>) {
    let Some(t) = toks.get(k) else { return };
    if t.is("{") {
        let close = matching(toks, k);
        let mut item_start = true;
        let mut depth = 0usize;
        for m in k + 1..close {
            if item_start {
                first_segments(toks, m, out);
                item_start = false;
            }
            match toks[m].text {
                b"(" | b"[" | b"{" => depth += 1,
                b")" | b"]" | b"}" => depth = depth.saturating_sub(1),
                b"," if depth == 0 => item_start = true,
                _ => {}
            }
        }
    } else if t.is_ident() && !t.is("self") && !t.is("super") && !t.is("crate") {
        out.push((t.as_str(), t.at));
    }
}

/// The crate-root names a file refers to, with byte offsets: the segment
/// after `crate::` / `$crate::`, and after a `super::` chain that climbs to
/// the crate root. `file_depth` is how deep the file's module is (`src/x.rs`
/// and `src/x/mod.rs`: 1, `src/x/y.rs`: 2, ...). Expects blanked code
/// without test items.
fn root_refs(code: &[u8], file_depth: usize) -> Vec<(String, usize)> {
    let toks = tokens(code);
    // Inline modules (`mod m { .. }`) deepen `super::` by one inside them.
    let mut inline_mods: Vec<(usize, usize)> = Vec::new();
    for i in 0..toks.len() {
        if spells(&toks, i, "mod")
            && toks.get(i + 1).is_some_and(Tok::is_ident)
            && toks.get(i + 2).is_some_and(|t| t.is("{"))
        {
            inline_mods.push((i + 2, matching(&toks, i + 2)));
        }
    }
    let mut out = Vec::new();
    for i in 0..toks.len() {
        let after_path_sep = i > 0 && toks[i - 1].is("::");
        let next_is_sep = toks.get(i + 1).is_some_and(|t| t.is("::"));
        if toks[i].is("crate") && next_is_sep && !after_path_sep {
            first_segments(&toks, i + 2, &mut out);
        } else if toks[i].is("super") && next_is_sep {
            // A chain starts at a `super` that is not itself preceded by
            // `super::` (or starts after a leading `self::`).
            let starts_chain = !after_path_sep
                || (i >= 2 && toks[i - 2].is("self") && !(i >= 3 && toks[i - 3].is("::")));
            if !starts_chain {
                continue;
            }
            let mut k = i;
            let mut ups = 0;
            while toks.get(k).is_some_and(|t| t.is("super"))
                && toks.get(k + 1).is_some_and(|t| t.is("::"))
            {
                ups += 1;
                k += 2;
            }
            let inline = inline_mods.iter().filter(|&&(a, b)| a < i && i < b).count();
            if ups == file_depth + inline {
                first_segments(&toks, k, &mut out);
            }
        }
    }
    out
}

/// How deep the module of a file under `src` is: `x.rs`, `x/mod.rs`: 1;
/// `x/y.rs`, `x/y/mod.rs`: 2; ...
fn module_depth(rel: &Path) -> usize {
    let n = rel.components().count();
    if rel.file_name().is_some_and(|f| f == "mod.rs") {
        n - 1
    } else {
        n
    }
}

// ---------------------------------------------------------------------------
// Hand-written JSON.

/// Whether a string literal looks like hand-written JSON.
///
/// Kept deliberately simple: JSON built by hand shows either an object
/// opening on a key (`{"`, or `{{"` in a format string, where `{{` is an
/// escaped brace) or a quoted key followed by a colon (`"key":`, written
/// `\"key\":` in an ordinary literal; `text` has `\"` unescaped). Format
/// strings such as `"{}"`, `"{x:?}"` or `"{:>8}"` hold no quote and do not
/// match; prose that quotes a word just before a colon would, and is better
/// reworded anyway.
fn looks_like_json(text: &str) -> bool {
    let t = text.trim_start();
    t.starts_with("{\"") || t.starts_with("{{\"") || text.contains("\":")
}

/// What in a file (blanked, test items removed) looks like JSON writing:
/// byte offset and a description.
fn json_writing(lexed: &Lexed) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let toks = tokens(&lexed.code);
    for (i, t) in toks.iter().enumerate() {
        if JSON_READING_PATHS.iter().any(|p| spells(&toks, i, p)) {
            continue;
        }
        if JSON_WRITING_NAMES.iter().any(|n| t.is(n)) {
            out.push((t.at, format!("names `{}`", t.as_str())));
        }
    }
    for s in &lexed.strings {
        if looks_like_json(&s.text) {
            let mut shown: String = s.text.chars().take(60).collect();
            if shown.len() < s.text.len() {
                shown.push('…');
            }
            out.push((s.at, format!("string literal looks like JSON: {shown:?}")));
        }
    }
    out.sort();
    out
}

// ---------------------------------------------------------------------------
// The source tree.

/// A place in the source tree.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Place {
    /// The file, as shown to developers (`sensor/src/app/mod.rs`).
    file: String,
    /// 1-based line.
    line: usize,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// What the scanner found in a source tree.
struct Tree {
    /// The source folder as shown in messages (`sensor/src`).
    root: String,
    /// The top-level modules.
    modules: BTreeSet<String>,
    /// For each edge `(from, to)` between two top-level modules, the places
    /// where `from` refers to `to`, in file and line order.
    edges: BTreeMap<(String, String), Vec<Place>>,
    /// Places outside the `eve` module that look like JSON writing.
    json: Vec<(Place, String)>,
    /// Whether the `eve` module exists.
    has_eve: bool,
    /// How many source files were read.
    files: usize,
}

/// Every `.rs` file under `dir`, relative to `base`, sorted.
fn rust_files(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| {
            e.unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
                .path()
        });
    let mut entries: Vec<PathBuf> = entries.collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(base, &p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p.strip_prefix(base).expect("under base").to_path_buf());
        }
    }
}

/// The top-level module a file under `src` belongs to: `None` for the crate
/// roots (`lib.rs`, `main.rs`) and for `bin/`, which the checks leave out.
fn top_module(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
    if rel.components().count() > 1 {
        (first != "bin").then_some(first)
    } else {
        let stem = first.strip_suffix(".rs")?;
        (stem != "lib" && stem != "main").then(|| stem.to_owned())
    }
}

/// Scans the crate source folder `src`, shown as `root` in messages.
fn scan_tree(src: &Path, root: &str) -> Tree {
    assert!(
        src.is_dir(),
        "{} is not a folder: the module checks read the sensor's source tree and cannot run without it",
        src.display()
    );
    let mut rels = Vec::new();
    rust_files(src, src, &mut rels);
    rels.retain(|r| !r.starts_with("bin"));

    /// A file read and blanked.
    struct Read {
        /// Path under `src`.
        rel: PathBuf,
        /// Its top-level module (`None` for `lib.rs`, `main.rs`).
        module: Option<String>,
        /// Its code, blanked, test items removed.
        lexed: Lexed,
        /// Byte offset of each line's start.
        line_starts: Vec<usize>,
    }
    let mut read = Vec::new();
    let mut test_only: Vec<PathBuf> = Vec::new();
    for rel in rels {
        let path = src.join(&rel);
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let mut lexed = lex(&text);
        // Children of a file live in its folder: `x/mod.rs`, `lib.rs` → the
        // same folder; `x.rs` → `x/`.
        let parent = rel.parent().unwrap_or(Path::new("")).to_path_buf();
        let child_dir = match rel.file_name().and_then(|f| f.to_str()) {
            Some("mod.rs" | "lib.rs" | "main.rs") => parent,
            _ => parent.join(rel.file_stem().expect("file name")),
        };
        for child in strip_test_code(&mut lexed) {
            test_only.push(child_dir.join(child));
        }
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(n, _)| n + 1))
            .collect();
        read.push(Read {
            module: top_module(&rel),
            rel,
            lexed,
            line_starts,
        });
    }
    read.retain(|r| {
        !test_only
            .iter()
            .any(|t| r.rel.starts_with(t) || r.rel == t.with_extension("rs"))
    });

    let modules: BTreeSet<String> = read.iter().filter_map(|r| r.module.clone()).collect();
    let mut tree = Tree {
        root: root.to_owned(),
        has_eve: modules.contains(EVE_MODULE),
        modules,
        edges: BTreeMap::new(),
        json: Vec::new(),
        files: read.len(),
    };
    for r in &read {
        let place = |at: usize| Place {
            file: format!("{root}/{}", r.rel.display()),
            line: r.line_starts.partition_point(|&s| s <= at),
        };
        if let Some(m) = &r.module {
            for (name, at) in root_refs(&r.lexed.code, module_depth(&r.rel)) {
                if &name != m && tree.modules.contains(&name) {
                    tree.edges
                        .entry((m.clone(), name))
                        .or_default()
                        .push(place(at));
                }
            }
        }
        if r.module.as_deref() != Some(EVE_MODULE) {
            let reader = r
                .module
                .as_deref()
                .is_some_and(|m| JSON_READERS.contains(&m));
            for (at, what) in json_writing(&r.lexed) {
                if reader && what == "names `serde_json`" {
                    continue;
                }
                tree.json.push((place(at), what));
            }
        }
    }
    tree
}

/// The sensor's own source tree.
fn sensor_tree() -> Tree {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let crate_dir = manifest
        .file_name()
        .and_then(|f| f.to_str())
        .unwrap_or("sensor");
    let tree = scan_tree(&manifest.join("src"), &format!("{crate_dir}/src"));
    assert!(
        tree.modules.len() >= 2,
        "found {} top-level module(s) in {}: the scanner no longer recognises the source layout",
        tree.modules.len(),
        tree.root
    );
    tree
}

// ---------------------------------------------------------------------------
// Graph.

/// The module graph: nodes by index, sorted by name, and their successors.
struct Graph {
    /// Module names.
    names: Vec<String>,
    /// Successors of each node, sorted.
    succ: Vec<Vec<usize>>,
}

impl Graph {
    /// Builds the graph of `modules` with the given edges.
    fn new<'a>(
        modules: impl IntoIterator<Item = &'a String>,
        edges: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Graph {
        let names: Vec<String> = modules.into_iter().cloned().collect();
        let index = |n: &String| names.binary_search(n).expect("edge between known modules");
        let mut succ = vec![BTreeSet::new(); names.len()];
        for (a, b) in edges {
            succ[index(a)].insert(index(b));
        }
        Graph {
            succ: succ.into_iter().map(|s| s.into_iter().collect()).collect(),
            names,
        }
    }

    /// Strongly connected components (Tarjan), each sorted, in reverse
    /// topological order (a component comes before those that use it).
    fn components(&self) -> Vec<Vec<usize>> {
        /// Tarjan's state.
        struct T<'g> {
            succ: &'g [Vec<usize>],
            index: Vec<Option<usize>>,
            low: Vec<usize>,
            on_stack: Vec<bool>,
            stack: Vec<usize>,
            next: usize,
            out: Vec<Vec<usize>>,
        }
        impl T<'_> {
            /// Visits `v` and what it reaches, emitting finished components.
            fn visit(&mut self, v: usize) {
                self.index[v] = Some(self.next);
                self.low[v] = self.next;
                self.next += 1;
                self.stack.push(v);
                self.on_stack[v] = true;
                for &w in self.succ[v].iter() {
                    match self.index[w] {
                        None => {
                            self.visit(w);
                            self.low[v] = self.low[v].min(self.low[w]);
                        }
                        Some(iw) if self.on_stack[w] => self.low[v] = self.low[v].min(iw),
                        Some(_) => {}
                    }
                }
                if Some(self.low[v]) == self.index[v] {
                    let mut comp = Vec::new();
                    loop {
                        let w = self.stack.pop().expect("on stack");
                        self.on_stack[w] = false;
                        comp.push(w);
                        if w == v {
                            break;
                        }
                    }
                    comp.sort();
                    self.out.push(comp);
                }
            }
        }
        let n = self.names.len();
        let mut t = T {
            succ: &self.succ,
            index: vec![None; n],
            low: vec![0; n],
            on_stack: vec![false; n],
            stack: Vec::new(),
            next: 0,
            out: Vec::new(),
        };
        for v in 0..n {
            if t.index[v].is_none() {
                t.visit(v);
            }
        }
        t.out
    }

    /// The elementary circles inside the component `comp`, each starting at
    /// its smallest node, shortest first; at most `limit` of them (the flag
    /// tells whether some were left out).
    fn cycles(&self, comp: &[usize], limit: usize) -> (Vec<Vec<usize>>, bool) {
        /// Depth-first search for paths from `start` back to it through
        /// larger nodes of the component.
        #[allow(clippy::too_many_arguments)]
        fn walk(
            g: &Graph,
            v: usize,
            start: usize,
            inside: &[bool],
            path: &mut Vec<usize>,
            on_path: &mut [bool],
            out: &mut Vec<Vec<usize>>,
            budget: &mut usize,
        ) {
            for &w in &g.succ[v] {
                if *budget == 0 {
                    return;
                }
                *budget -= 1;
                if w == start {
                    out.push(path.clone());
                } else if w > start && inside[w] && !on_path[w] {
                    path.push(w);
                    on_path[w] = true;
                    walk(g, w, start, inside, path, on_path, out, budget);
                    on_path[w] = false;
                    path.pop();
                }
            }
        }
        let mut inside = vec![false; self.names.len()];
        for &v in comp {
            inside[v] = true;
        }
        let mut out = Vec::new();
        // Bounds the search in a dense tangle; the listing says when it was cut.
        let mut budget = 2_000_000usize;
        for &s in comp {
            let mut on_path = vec![false; self.names.len()];
            on_path[s] = true;
            walk(
                self,
                s,
                s,
                &inside,
                &mut vec![s],
                &mut on_path,
                &mut out,
                &mut budget,
            );
        }
        let cut = budget == 0 || out.len() > limit;
        out.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
        out.truncate(limit);
        (out, cut)
    }

    /// Layers of components, bottom first: a component's layer is one above
    /// the highest layer it uses (0 when it uses none).
    fn layers(&self, comps: &[Vec<usize>]) -> Vec<Vec<usize>> {
        let mut comp_of = vec![0; self.names.len()];
        for (c, comp) in comps.iter().enumerate() {
            for &v in comp {
                comp_of[v] = c;
            }
        }
        // `comps` is in reverse topological order: used components first.
        let mut layer = vec![0usize; comps.len()];
        for (c, comp) in comps.iter().enumerate() {
            layer[c] = comp
                .iter()
                .flat_map(|&v| &self.succ[v])
                .map(|&w| comp_of[w])
                .filter(|&d| d != c)
                .map(|d| layer[d] + 1)
                .max()
                .unwrap_or(0);
        }
        let mut out = vec![Vec::new(); layer.iter().max().map_or(0, |m| m + 1)];
        for (c, &l) in layer.iter().enumerate() {
            out[l].push(c);
        }
        for l in &mut out {
            l.sort_by_key(|&c| comps[c][0]);
        }
        out
    }

    /// The layering as text: one line per layer, each module with the
    /// modules it uses; a circle shows as `{a, b}`.
    fn layering_text(&self, comps: &[Vec<usize>]) -> String {
        let mut s = String::new();
        for (n, layer) in self.layers(comps).iter().enumerate() {
            let entries: Vec<String> = layer
                .iter()
                .map(|&c| {
                    let comp = &comps[c];
                    let names: Vec<&str> = comp.iter().map(|&v| self.names[v].as_str()).collect();
                    let uses: BTreeSet<&str> = comp
                        .iter()
                        .flat_map(|&v| &self.succ[v])
                        .filter(|w| !comp.contains(w))
                        .map(|&w| self.names[w].as_str())
                        .collect();
                    let head = if comp.len() == 1 {
                        names[0].to_owned()
                    } else {
                        format!("{{{}}} (circle)", names.join(", "))
                    };
                    if uses.is_empty() {
                        head
                    } else {
                        format!(
                            "{head} [uses {}]",
                            uses.into_iter().collect::<Vec<_>>().join(", ")
                        )
                    }
                })
                .collect();
            let _ = writeln!(s, "  layer {n}: {}", entries.join("; "));
        }
        s
    }
}

/// The report of the import-circle check: `Err` with the message when the
/// top-level modules refer to each other in circles, `Ok` with the layering.
fn check_cycles(tree: &Tree) -> Result<String, String> {
    let g = Graph::new(&tree.modules, tree.edges.keys().map(|(a, b)| (a, b)));
    let comps = g.components();
    let layering = g.layering_text(&comps);
    let tangles: Vec<&Vec<usize>> = comps.iter().filter(|c| c.len() > 1).collect();
    if tangles.is_empty() {
        return Ok(format!(
            "{} top-level modules in {}, no import circle; layers, bottom first:\n{layering}",
            tree.modules.len(),
            tree.root
        ));
    }
    let mut msg = format!(
        "the top-level modules of {} refer to one another in circles, so they cannot be layered.\n\
         Each module may refer only to modules below it (sources → workers → records → detectors \
         → eve → output, telemetry at the bottom). For every circle below, one place is shown per \
         step (with the number of references that step has); break the circle at the step that \
         points upward: move what it needs down into a lower module, or hand it in from above.\n",
        tree.root
    );
    let mut total = 0;
    for comp in &tangles {
        let names: Vec<&str> = comp.iter().map(|&v| g.names[v].as_str()).collect();
        let (cycles, cut) = g.cycles(comp, MAX_LISTED_CYCLES);
        total += cycles.len();
        let _ = writeln!(
            msg,
            "\ntangled modules: {} ({} circle(s){})",
            names.join(", "),
            cycles.len(),
            if cut { ", listing cut short" } else { "" }
        );
        for cycle in &cycles {
            let mut ring: Vec<&str> = cycle.iter().map(|&v| g.names[v].as_str()).collect();
            ring.push(ring[0]);
            let _ = writeln!(msg, "  {}", ring.join(" -> "));
            for step in ring.windows(2) {
                let places = &tree.edges[&(step[0].to_owned(), step[1].to_owned())];
                let more = if places.len() > 1 {
                    format!("  ({} references)", places.len())
                } else {
                    String::new()
                };
                let _ = writeln!(msg, "      {} -> {}: {}{more}", step[0], step[1], places[0]);
            }
        }
    }
    let _ = writeln!(
        msg,
        "\nevery place of every step inside the tangled modules:"
    );
    for comp in &tangles {
        for &v in comp.iter() {
            for &w in g.succ[v].iter().filter(|w| comp.contains(w)) {
                let (a, b) = (&g.names[v], &g.names[w]);
                let places: Vec<String> = tree.edges[&(a.clone(), b.clone())]
                    .iter()
                    .map(Place::to_string)
                    .collect();
                let _ = writeln!(msg, "  {a} -> {b}: {}", places.join(", "));
            }
        }
    }
    let _ = write!(
        msg,
        "\n{total} circle(s) in all. Layers as they stand, bottom first (a circle is one node):\n{layering}"
    );
    Err(msg)
}

/// The report of the EVE check: `Err` with the message when JSON is written
/// outside the `eve` module.
fn check_json(tree: &Tree) -> Result<String, String> {
    if tree.json.is_empty() {
        return Ok(format!(
            "{} files in {}: EVE JSON is written only in the `{EVE_MODULE}` module",
            tree.files, tree.root
        ));
    }
    let mut msg = format!(
        "EVE JSON must be written only in the `{EVE_MODULE}` module ({root}/{EVE_MODULE}/), but {n} \
         place(s) outside it name the JSON writer, serde_json or the EVE timestamp writer, or hold \
         a string literal that looks like hand-written JSON. Move that serialization into \
         {root}/{EVE_MODULE}/ and have the code here hand over plain values (a record) instead; \
         a string that only looks like JSON can be reworded.\n",
        root = tree.root,
        n = tree.json.len()
    );
    if !tree.has_eve {
        let _ = writeln!(msg, "note: {}/{EVE_MODULE}/ does not exist yet.", tree.root);
    }
    let mut files: BTreeMap<&str, usize> = BTreeMap::new();
    for (place, _) in &tree.json {
        *files.entry(&place.file).or_default() += 1;
    }
    let _ = writeln!(msg, "by file:");
    for (file, n) in &files {
        let _ = writeln!(msg, "  {file}: {n}");
    }
    let _ = writeln!(msg, "every place:");
    for (place, what) in &tree.json {
        let _ = writeln!(msg, "  {place}: {what}");
    }
    Err(msg)
}

// ---------------------------------------------------------------------------
// The checks.

/// Check 1: the top-level modules can be ordered in layers.
#[test]
fn no_import_circle_between_top_level_modules() {
    let tree = sensor_tree();
    match check_cycles(&tree) {
        Ok(layering) => eprintln!("{layering}"),
        Err(msg) => panic!("{msg}"),
    }
}

/// Check 2: EVE JSON is written only under `src/eve/`.
#[test]
fn eve_json_is_written_only_in_the_eve_module() {
    let tree = sensor_tree();
    match check_json(&tree) {
        Ok(note) => eprintln!("{note}"),
        Err(msg) => panic!("{msg}"),
    }
}

// ---------------------------------------------------------------------------
// Self-tests: the scanner sees what it must and nothing else, so the checks
// above are able to fail.

/// Names (sorted, deduplicated) a snippet at `depth` refers to at the crate
/// root, after test code is removed.
fn refs_of(src: &str, depth: usize) -> Vec<String> {
    let mut lexed = lex(src);
    strip_test_code(&mut lexed);
    let names: BTreeSet<String> = root_refs(&lexed.code, depth)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    names.into_iter().collect()
}

/// The descriptions of what looks like JSON writing in a snippet.
fn json_of(src: &str) -> Vec<String> {
    let mut lexed = lex(src);
    strip_test_code(&mut lexed);
    json_writing(&lexed).into_iter().map(|(_, w)| w).collect()
}

/// `use crate::{..}` groups, nested and over several lines, yield their
/// first segments only; `$crate::`, `pub(in crate::x)` count, `pub(crate)`
/// does not.
#[test]
fn scanner_reads_nested_and_multiline_use_groups() {
    let src = "use crate::{\n    alpha::{beta, gamma::{Delta, self}},\n    epsilon,\n    \
               zeta::Eta as Theta, self,\n    {iota, kappa::{Lambda}},\n};\n\
               use crate :: mu\n    ::Nu;\n\
               pub(crate) fn f() -> crate::xi::Xi { $crate::omicron!(); crate::pi::g() }\n\
               pub(in crate::rho) struct S;\n";
    assert_eq!(
        refs_of(src, 1),
        ["alpha", "epsilon", "iota", "kappa", "mu", "omicron", "pi", "rho", "xi", "zeta"]
    );
}

/// Paths in comments, doc comments and literals do not count; lifetimes are
/// not taken for char literals; line numbers survive.
#[test]
fn scanner_ignores_comments_and_string_literals() {
    let src = r####"
//! Uses crate::doc_inner.
/// See [`crate::doc_outer`].
// crate::line_comment
/* crate::block /* crate::nested */ crate::still_block */
fn f<'a>(x: &'a str) -> &'a str {
    let _ = "crate::string \" crate::escaped_quote";
    let _ = r#"crate::raw "quoted" crate::raw_tail"#;
    let _ = b"crate::bytes";
    let _ = br##"crate::raw_bytes"##;
    let _ = '"'; let _ = '\''; let _ = b'{';
    let _ = "multi
        line crate::in_string";
    crate::real::g(x)
}
"####;
    assert_eq!(refs_of(src, 1), ["real"]);
    // Line numbers survive blanking: `crate::real` is on line 14.
    let lexed = lex(src);
    let (_, at) = root_refs(&lexed.code, 1)[0].clone();
    assert_eq!(src[..at].matches('\n').count() + 1, 14);
}

/// `#[cfg(test)]` items are cut at their matching brace (braces in
/// literals and comments skipped) or `;`; other cfgs stay.
#[test]
fn scanner_ignores_test_only_code() {
    let src = r#"
use crate::before;
#[cfg(test)]
mod tests {
    use crate::in_tests;
    fn f() { let _ = "}"; let _ = '}'; /* } */ }
    // }
    mod nested { use crate::in_nested_tests; }
}
#[cfg(test)]
#[allow(dead_code)]
fn helper() -> [u8; 2] { crate::in_test_fn::g() }
#[cfg(test)]
use crate::test_import;
#[cfg(test)]
mod out_of_line;
use crate::after;
"#;
    assert_eq!(refs_of(src, 1), ["after", "before"]);
    let mut lexed = lex(src);
    assert_eq!(strip_test_code(&mut lexed), ["out_of_line"]);
    // A whole file can be test-only.
    assert!(refs_of("#![cfg(test)]\nuse crate::x;\n", 1).is_empty());
    // Other cfgs are ordinary code.
    assert_eq!(
        refs_of("#[cfg(unix)]\nuse crate::unix_only;\n", 1),
        ["unix_only"]
    );
}

/// `super::` reaches the crate root from `x/mod.rs` but not from `x/leaf.rs`.
#[test]
fn scanner_resolves_super_by_file_position() {
    let src = "use super::{sibling, Item};\nuse super::super::grand;\n";
    // In src/x/mod.rs (depth 1) `super` is the crate root.
    assert_eq!(refs_of(src, 1), ["Item", "sibling"]);
    // In src/x/leaf.rs (depth 2) `super` is `x`; `super::super` the root.
    assert_eq!(refs_of(src, 2), ["grand"]);
    assert_eq!(module_depth(Path::new("x.rs")), 1);
    assert_eq!(module_depth(Path::new("x/mod.rs")), 1);
    assert_eq!(module_depth(Path::new("x/leaf.rs")), 2);
    assert_eq!(module_depth(Path::new("x/y/mod.rs")), 2);
    assert_eq!(module_depth(Path::new("x/y/z.rs")), 3);
    // An inline module deepens `super` by one; `self::super` is `super`;
    // `pub(super)` is no path.
    let inline = "mod inner { use super::not_root; use super::super::root_a; }\n\
                  use self::super::root_b;\npub(super) fn f() {}\n";
    assert_eq!(refs_of(inline, 1), ["root_a", "root_b"]);
}

/// The JSON check flags the writer names and JSON-looking literals, and
/// nothing in format strings, prose, similar names, comments or tests.
#[test]
fn json_heuristic_flags_hand_written_json_only() {
    let src = r###"
//! Writes JSON with serde_json.
use crate::eve::JsonWriter;
fn f(out: &mut String, ts: Time) {
    ts.write_eve(out);
    let _ = serde_json::to_string(&1);
    out.push_str("{\"event_type\":\"flow\"");
    out.push_str(",\"flow_id\":");
    let _ = format!("{{\"n\":{}}}", 1);
    let _ = r#"{"a":1}"#;
    // Not JSON: format strings, prose, a similar name.
    let _ = format!("{} {x:?} {:>8} {{}}", 1, 2);
    let _ = "key: value, \"quoted\" word";
    write_event(out);
    let _ = "JsonWriter serde_json write_eve";
}
#[cfg(test)]
mod tests { fn t() { let _ = serde_json::json!({}); let _ = "{\"a\":1}"; } }
"###;
    assert_eq!(
        json_of(src),
        [
            "names `JsonWriter`",
            "names `write_eve`",
            "names `serde_json`",
            r#"string literal looks like JSON: "{\"event_type\":\"flow\"""#,
            r#"string literal looks like JSON: ",\"flow_id\":""#,
            r#"string literal looks like JSON: "{{\"n\":{}}}""#,
            r#"string literal looks like JSON: "{\"a\":1}""#,
        ]
    );
}

/// Circles are reported with a place per step; a graph without them layers.
#[test]
fn reading_json_is_not_writing_it() {
    let found = |code: &str| json_writing(&lex(code)).len();
    assert_eq!(found("let e: E = serde_json::from_slice(b)?;"), 0);
    assert_eq!(
        found("let mut de = serde_json::Deserializer::from_reader(r);"),
        0
    );
    assert_eq!(found("let s = serde_json::to_string(&v)?;"), 1);
    assert_eq!(found("use serde_json::from_slice;"), 0);
    assert_eq!(
        found("fn f(b: &[u8]) -> serde_json::Result<E> { parse(b) }"),
        0
    );
    assert_eq!(found("use serde_json::Value;"), 1);
    assert_eq!(found("fn f(v: serde_json::Value) {}"), 1);
}

#[test]
fn cycle_check_reports_circles_and_layers() {
    let names: Vec<String> = ["a", "b", "c", "d", "e"].map(String::from).into();
    let place = |file: &str| {
        vec![Place {
            file: file.into(),
            line: 7,
        }]
    };
    let tree_with = |edges: &[(&str, &str)]| Tree {
        root: "src".into(),
        modules: names.iter().cloned().collect(),
        edges: edges
            .iter()
            .map(|&(a, b)| ((a.to_owned(), b.to_owned()), place(&format!("src/{a}.rs"))))
            .collect(),
        json: Vec::new(),
        has_eve: false,
        files: 5,
    };
    // a -> b -> c -> a and c <-> d, e on top.
    let tangled = tree_with(&[
        ("a", "b"),
        ("b", "c"),
        ("c", "a"),
        ("c", "d"),
        ("d", "c"),
        ("e", "a"),
    ]);
    let msg = check_cycles(&tangled).expect_err("circles found");
    assert!(
        msg.contains("tangled modules: a, b, c, d (2 circle(s))"),
        "{msg}"
    );
    assert!(msg.contains("  c -> d -> c\n"), "{msg}");
    assert!(msg.contains("  a -> b -> c -> a\n"), "{msg}");
    assert!(msg.contains("      b -> c: src/b.rs:7\n"), "{msg}");
    assert!(msg.contains("layer 1: e [uses a]"), "{msg}");
    // Without the back edges the graph layers.
    let layered = tree_with(&[("a", "b"), ("b", "c"), ("c", "d"), ("e", "a")]);
    let text = check_cycles(&layered).expect("no circle");
    assert!(
        text.contains("layer 0: d\n  layer 1: c [uses d]\n  layer 2: b [uses c]\n  layer 3: a [uses b]\n  layer 4: e [uses a]\n"),
        "{text}"
    );
}

/// End to end on a small tree on disk: module discovery, `bin/` and
/// out-of-line test modules left out, JSON allowed in `eve/`, and a missing
/// source folder is an error.
#[test]
fn tree_scan_finds_modules_edges_and_json_on_disk() {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "virga-module-graph-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let files: &[(&str, &str)] = &[
        (
            "lib.rs",
            "pub mod a;\npub mod b;\npub mod eve;\npub mod t;\npub fn f() -> String { serde_json::to_string(&1).unwrap() }\n",
        ),
        ("main.rs", "use virga::a;\nfn main() {}\n"),
        ("a.rs", "use crate::b::Thing;\n"),
        (
            "b/mod.rs",
            "mod leaf;\npub struct Thing;\nfn f() { super::a::g() }\n",
        ),
        ("b/leaf.rs", "use super::Thing;\n"),
        (
            "eve/mod.rs",
            "pub struct JsonWriter;\nfn f() { let _ = \"{\\\"a\\\":1}\"; }\n",
        ),
        ("t.rs", "#[cfg(test)]\nmod tests;\n"),
        (
            "t/tests.rs",
            "use crate::a;\nfn f() { let _ = serde_json::json!({}); }\n",
        ),
        (
            "bin/tool/main.rs",
            "use virga::b;\nfn main() { let _ = serde_json::json!({}); }\n",
        ),
        ("b/data.toml", "not = \"rust\"\n"),
    ];
    for (rel, text) in files {
        let p = dir.join("src").join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
    }
    let tree = scan_tree(&dir.join("src"), "src");
    fs::remove_dir_all(&dir).unwrap();

    assert_eq!(
        tree.modules.iter().collect::<Vec<_>>(),
        ["a", "b", "eve", "t"]
    );
    let edges: Vec<String> = tree
        .edges
        .iter()
        .map(|((a, b), p)| format!("{a}->{b} {}", p[0]))
        .collect();
    assert_eq!(edges, ["a->b src/a.rs:1", "b->a src/b/mod.rs:3"]);
    let msg = check_cycles(&tree).expect_err("a <-> b");
    assert!(
        msg.contains("  a -> b -> a\n      a -> b: src/a.rs:1\n      b -> a: src/b/mod.rs:3\n"),
        "{msg}"
    );
    // JSON in eve/ is allowed, in bin/ and test files left out; the crate
    // root is checked like any other file.
    let json: Vec<String> = tree.json.iter().map(|(p, w)| format!("{p}: {w}")).collect();
    assert_eq!(json, ["src/lib.rs:5: names `serde_json`"]);
    let msg = check_json(&tree).expect_err("serde_json in lib.rs");
    assert!(
        msg.contains("\n  src/lib.rs:5: names `serde_json`\n"),
        "{msg}"
    );
    assert!(!msg.contains("does not exist"), "{msg}");
    assert_eq!(tree.files, 7);

    // A missing source folder is an error, not a pass.
    let missing = std::panic::catch_unwind(|| scan_tree(&dir.join("src"), "src"));
    assert!(missing.is_err());
}
