//! Configuration errors: every problem found in a file, each with file, line, key path and reason.
//!
//! Loading never stops at the first problem: [`ConfigErrors`] holds all of them, sorted by line,
//! and displays one per line as `FILE:LINE: KEY: REASON`. The `LINE: ` part is left out when no
//! line is known (a file that cannot be read) and the `KEY: ` part when the problem is not tied
//! to a key (a TOML syntax error).

use std::fmt;
use std::path::{Path, PathBuf};

use crate::path::KeyPath;

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    file: PathBuf,
    line: Option<u32>,
    key: String,
    reason: String,
}

impl ConfigError {
    /// The file named in messages (as given to [`crate::load`] or [`crate::from_str`]).
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The 1-based line of the offending key or value, when known.
    pub fn line(&self) -> Option<u32> {
        self.line
    }

    /// The key path, such as `allowlist[2].client` (0-based indexes); empty when the problem
    /// concerns the whole file (unreadable file, TOML syntax error).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// What is wrong, in one line.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    pub(crate) fn new(file: &Path, line: Option<u32>, key: String, reason: String) -> Self {
        Self {
            file: file.to_path_buf(),
            line,
            key,
            // Keep the one-problem-per-line promise even for multi-line upstream messages.
            reason: reason.trim().replace('\n', "; "),
        }
    }

    fn render(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// Every problem found while loading a configuration; never empty.
///
/// `Display` writes one problem per line (`FILE:LINE: KEY: REASON`), without a trailing newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors {
    errors: Vec<ConfigError>,
}

impl ConfigErrors {
    /// Wraps a non-empty list, sorted by line (problems without a line first).
    pub(crate) fn new(mut errors: Vec<ConfigError>) -> Self {
        errors.sort_by_key(|e| e.line);
        Self { errors }
    }

    /// A single problem that concerns the whole file.
    pub(crate) fn whole_file(file: &Path, line: Option<u32>, reason: String) -> Self {
        Self::new(vec![ConfigError::new(file, line, String::new(), reason)])
    }

    /// The problems, sorted by line.
    pub fn errors(&self) -> &[ConfigError] {
        &self.errors
    }

    /// Iterates over the problems.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.errors.iter()
    }

    /// Number of problems (at least 1).
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Always false: a `ConfigErrors` holds at least one problem.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    fn render(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.render(f)
    }
}

impl std::error::Error for ConfigError {}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.render(f)
    }
}

impl std::error::Error for ConfigErrors {}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

/// A problem before file name and line are attached: where (key path) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// Where the problem is.
    pub(crate) path: KeyPath,
    /// Line, when the finder knows it already (deserialization); otherwise looked up by path.
    pub(crate) line: Option<u32>,
    /// What is wrong.
    pub(crate) reason: String,
}

impl Problem {
    pub(crate) fn new(path: KeyPath, reason: impl Into<String>) -> Self {
        Self {
            path,
            line: None,
            reason: reason.into(),
        }
    }
}

/// Collects [`Problem`]s during validation.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    list: Vec<Problem>,
}

impl Problems {
    /// Records a problem at `path`.
    pub(crate) fn push(&mut self, path: KeyPath, reason: impl Into<String>) {
        self.list.push(Problem::new(path, reason));
    }

    /// Checks `lo <= value <= hi` and records a problem otherwise; returns whether it holds.
    pub(crate) fn range<T>(&mut self, path: &KeyPath, value: T, lo: T, hi: T) -> bool
    where
        T: PartialOrd + fmt::Display + Copy,
    {
        let ok = value >= lo && value <= hi;
        if !ok {
            self.push(
                path.clone(),
                format!("{value} is out of range; expected {lo} to {hi}"),
            );
        }
        ok
    }

    /// True when nothing was recorded.
    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The recorded problems.
    pub(crate) fn into_vec(self) -> Vec<Problem> {
        self.list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_formats() {
        let f = Path::new("/etc/virga.toml");
        let e = ConfigError::new(f, Some(7), "allowlist[2].client".into(), "bad CIDR".into());
        assert_eq!(
            e.to_string(),
            "/etc/virga.toml:7: allowlist[2].client: bad CIDR"
        );
        let e = ConfigError::new(f, None, String::new(), "cannot read\nfile".into());
        assert_eq!(e.to_string(), "/etc/virga.toml: cannot read; file");
        let e = ConfigError::new(f, Some(3), String::new(), "syntax".into());
        assert_eq!(e.to_string(), "/etc/virga.toml:3: syntax");
    }

    #[test]
    fn errors_sorted_one_per_line() {
        let f = Path::new("v.toml");
        let all = ConfigErrors::new(vec![
            ConfigError::new(f, Some(9), "b".into(), "y".into()),
            ConfigError::new(f, Some(2), "a".into(), "x".into()),
        ]);
        assert_eq!(all.to_string(), "v.toml:2: a: x\nv.toml:9: b: y");
        assert_eq!(all.len(), 2);
        assert!(!all.is_empty());
        assert_eq!(all.iter().next().map(|e| e.key()), Some("a"));
    }

    #[test]
    fn range_check_records() {
        let mut p = Problems::default();
        assert!(p.range(&KeyPath::keys("a"), 5u64, 1, 10));
        assert!(p.is_empty());
        assert!(!p.range(&KeyPath::keys("a"), 0u64, 1, 10));
        let v = p.into_vec();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].reason, "0 is out of range; expected 1 to 10");
    }
}
