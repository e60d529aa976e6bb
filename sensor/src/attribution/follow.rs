//! Follows Sysmon event files as collectors write them (`virga run`): new
//! lines are read as they are appended. Files are known by inode, so a file
//! renamed by rotation (`sysmon.json` → `sysmon.json.1`, in a followed
//! folder) is read on from where it was, and the new file at the old path is
//! read from its start; a file cut shorter than what was read (rotation by
//! truncation) is read again from its start. Folders are listed again on
//! every poll, so files that appear in them are picked up. Files present at
//! the first poll are read from their last [`MAX_BYTES_PER_POLL`] bytes
//! (older events are too old to join anything). Lines appended to
//! a file after the last poll and before it is renamed out of a followed
//! path (a single file given, not its folder) are not read.
//!
//! Only JSON lines are followed (an array or a gzip file is a finished file:
//! give it to `replay`). Each poll reads at most [`MAX_BYTES_PER_POLL`] per file and keeps a
//! partial last line for the next poll (bounded by the longest line).

use super::sysmon::{self, HostEvent, Interner, ReadStats, MAX_LINE};
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;

/// Bytes read from one file per poll.
pub const MAX_BYTES_PER_POLL: u64 = 16 << 20;
/// Files followed at once.
const MAX_FILES: usize = 1024;

struct Followed {
    offset: u64,
    partial: Vec<u8>,
    /// The partial line is over [`MAX_LINE`]: skip to its end.
    skipping: bool,
}

/// Files being followed.
pub struct Follower {
    paths: Vec<PathBuf>,
    files: HashMap<u64, Followed>,
    intern: Interner,
    stats: ReadStats,
    started: bool,
}

impl Follower {
    /// Follows `paths` (files, or folders of files).
    pub fn new(paths: Vec<PathBuf>) -> Self {
        Follower {
            paths,
            files: HashMap::new(),
            intern: Interner::default(),
            stats: ReadStats::default(),
            started: false,
        }
    }

    /// What was read so far.
    pub fn stats(&self) -> ReadStats {
        self.stats
    }

    /// The events appended since the last poll.
    pub fn poll(&mut self) -> Vec<HostEvent> {
        let mut out = Vec::new();
        let mut current = Vec::new();
        for p in &self.paths {
            match std::fs::metadata(p) {
                Ok(m) if m.is_dir() => {
                    current.extend(super::dir_files(p).unwrap_or_default());
                }
                Ok(_) => current.push(p.clone()),
                Err(_) => {}
            }
        }
        current.truncate(MAX_FILES);
        let first = !self.started;
        self.started = true;
        let mut seen = Vec::with_capacity(current.len());
        for path in &current {
            if let Some(inode) = self.read_new(path, first, &mut out) {
                seen.push(inode);
            }
        }
        self.files.retain(|i, _| seen.contains(i));
        out
    }

    /// Reads what `path` gained; its inode.
    fn read_new(&mut self, path: &PathBuf, first: bool, out: &mut Vec<HostEvent>) -> Option<u64> {
        let mut f = File::open(path).ok()?;
        let meta = f.metadata().ok()?;
        let (inode, len) = (meta.ino(), meta.len());
        let state = self.files.entry(inode).or_insert_with(|| {
            // Present at start: only its last part can hold events recent
            // enough to join; its first (partial) line there is dropped.
            let offset = if first {
                len.saturating_sub(MAX_BYTES_PER_POLL)
            } else {
                0
            };
            Followed {
                offset,
                partial: Vec::new(),
                skipping: offset > 0,
            }
        });
        if len < state.offset {
            // Truncated: from the start.
            *state = Followed {
                offset: 0,
                partial: Vec::new(),
                skipping: false,
            };
        }
        if len == state.offset || f.seek(SeekFrom::Start(state.offset)).is_err() {
            return Some(inode);
        }
        let mut chunk = Vec::new();
        let want = (len - state.offset).min(MAX_BYTES_PER_POLL);
        if f.by_ref().take(want).read_to_end(&mut chunk).is_err() {
            return Some(inode);
        }
        state.offset += chunk.len() as u64;
        let mut rest = &chunk[..];
        while let Some(i) = memchr::memchr(b'\n', rest) {
            let (piece, tail) = rest.split_at(i);
            rest = &tail[1..];
            if state.skipping {
                state.skipping = false;
                state.partial.clear();
                self.stats.bad += 1;
                continue;
            }
            let line: &[u8] = if state.partial.is_empty() {
                piece
            } else {
                state.partial.extend_from_slice(piece);
                &state.partial
            };
            take_line(line, &mut self.intern, &mut self.stats, out);
            state.partial.clear();
        }
        if !state.skipping {
            if state.partial.len() + rest.len() > MAX_LINE {
                state.skipping = true;
                state.partial.clear();
            } else {
                state.partial.extend_from_slice(rest);
            }
        }
        Some(inode)
    }
}

fn take_line(line: &[u8], intern: &mut Interner, stats: &mut ReadStats, out: &mut Vec<HostEvent>) {
    if line.trim_ascii().is_empty() {
        return;
    }
    match sysmon::parse_line(line, intern) {
        sysmon::Parsed::Event(e) => {
            match e.kind {
                super::HostEventKind::Connection { .. } => stats.connections += 1,
                super::HostEventKind::Dns { .. } => stats.dns += 1,
            }
            out.push(e);
        }
        sysmon::Parsed::Skip => stats.skipped += 1,
        sysmon::Parsed::Bad => stats.bad += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn event(port: u16) -> String {
        format!(
            concat!(
                r#"{{"EventID":3,"UtcTime":"2026-03-02 10:00:00.000","Image":"C:\\a\\b.exe","#,
                r#""ProcessId":"7","Protocol":"tcp","Initiated":"true","SourceIp":"10.0.0.5","#,
                r#""SourcePort":"{}","DestinationIp":"104.21.0.1","DestinationPort":"443","#,
                r#""Computer":"WS1"}}"#,
                "\n"
            ),
            port
        )
    }

    #[test]
    fn follows_appends_partial_lines_and_rotation() {
        let dir = std::env::temp_dir().join(format!("virga-follow-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sysmon.json");
        std::fs::write(&path, event(1)).unwrap();
        let mut f = Follower::new(vec![dir.clone()]);
        // What is there at start is read (its last 16 MiB).
        assert_eq!(f.poll().len(), 1);
        let mut w = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        let e2 = event(2);
        let (head, tail) = e2.split_at(40);
        w.write_all(head.as_bytes()).unwrap();
        assert!(f.poll().is_empty(), "half a line waits");
        w.write_all(tail.as_bytes()).unwrap();
        w.write_all(b"not json\n").unwrap();
        let got = f.poll();
        assert_eq!(got.len(), 1);
        assert!(matches!(
            got[0].kind,
            super::super::HostEventKind::Connection { source: (_, 2), .. }
        ));
        assert_eq!(f.stats().bad, 1);
        // Rotation by rename: a new file at the path is read from its start.
        std::fs::rename(&path, dir.join("sysmon.json.1")).unwrap();
        std::fs::write(&path, event(3)).unwrap();
        let got = f.poll();
        let ports: Vec<u16> = got
            .iter()
            .filter_map(|e| match e.kind {
                super::super::HostEventKind::Connection { source, .. } => Some(source.1),
                _ => None,
            })
            .collect();
        // The renamed file is read on from where it was: nothing twice.
        assert_eq!(ports, [3]);
        // Truncation: shorter than the offset, read again from the start.
        std::fs::write(&path, "").unwrap();
        assert!(f.poll().is_empty());
        std::fs::write(&path, event(4)).unwrap();
        let got = f.poll();
        assert!(got.iter().any(|e| matches!(
            e.kind,
            super::super::HostEventKind::Connection { source: (_, 4), .. }
        )));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
