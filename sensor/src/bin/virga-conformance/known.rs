//! The known-differences file: differences from tshark that were read,
//! understood and accepted, each with its reason.

use serde::Deserialize;
use std::path::Path;

/// One accepted difference.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Known {
    /// Capture path relative to `pcaps/public` (or `corpus/clients`).
    pub file: String,
    /// `tls`, `quic`, `dns` or `ja4`.
    pub kind: String,
    /// Connection or message key as printed by the runner, or `*`.
    pub key: String,
    /// Field name as printed by the runner; absent = any field.
    pub field: Option<String>,
    /// Why the difference is accepted.
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    difference: Vec<Known>,
}

/// All accepted differences.
pub struct KnownDifferences(Vec<Known>);

impl KnownDifferences {
    /// Loads and checks the file: every entry needs a non-empty reason.
    pub fn load(path: &Path) -> Result<KnownDifferences, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let f: File = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        for (i, k) in f.difference.iter().enumerate() {
            if k.reason.trim().is_empty() {
                return Err(format!(
                    "{}: difference[{i}]: reason: must not be empty",
                    path.display()
                ));
            }
        }
        Ok(KnownDifferences(f.difference))
    }

    /// Index of the entry that covers `d` in `file`, if any.
    pub fn find(&self, file: &str, d: &crate::compare::Diff) -> Option<usize> {
        self.0.iter().position(|k| {
            k.file == file
                && k.kind == d.kind
                && (k.key == "*" || k.key == d.key)
                && k.field.as_deref().is_none_or(|f| f == d.field)
        })
    }

    /// Every entry.
    pub fn entries(&self) -> &[Known] {
        &self.0
    }
}
