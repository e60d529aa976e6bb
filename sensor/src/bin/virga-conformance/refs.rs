//! tshark reference records (`refs/<source>/<file>.{tls,dns}.jsonl`).

use anyhow::Context as _;
use serde_json::Value;
use std::path::Path;

/// The reference records of one capture.
pub struct Refs {
    /// Lines of `<file>.tls.jsonl`.
    pub tls: Vec<Value>,
    /// Lines of `<file>.dns.jsonl`.
    pub dns: Vec<Value>,
}

impl Refs {
    /// Loads the refs of `file` (relative to the public folder).
    pub fn load(refs_dir: &Path, file: &str) -> anyhow::Result<Refs> {
        Ok(Refs {
            tls: read_jsonl(&refs_dir.join(format!("{file}.tls.jsonl")))?,
            dns: read_jsonl(&refs_dir.join(format!("{file}.dns.jsonl")))?,
        })
    }
}

/// Reads a JSON-lines file; a missing file is an error.
pub fn read_jsonl(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| format!("{}:{}", path.display(), i + 1))
        })
        .collect()
}
