//! Key paths such as `allowlist[2].client`, used to name the place of a problem.
//!
//! Array indexes are 0-based, in file order: the first `[[allowlist]]` table is `allowlist[0]`.

use std::fmt;

/// One step of a [`KeyPath`]: a table key or an array index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Segment {
    /// A table key, such as `capture`.
    Key(String),
    /// A 0-based array index.
    Index(usize),
}

/// A path from the document root to a key or array element.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct KeyPath {
    segments: Vec<Segment>,
}

impl KeyPath {
    /// The document root (displays as an empty string).
    pub(crate) fn root() -> Self {
        Self::default()
    }

    /// A path made of dotted keys only, such as `"capture.snaplen_bytes"`.
    pub(crate) fn keys(dotted: &str) -> Self {
        Self {
            segments: dotted
                .split('.')
                .filter(|k| !k.is_empty())
                .map(|k| Segment::Key(k.to_owned()))
                .collect(),
        }
    }

    /// This path extended by a table key.
    pub(crate) fn key(&self, key: &str) -> Self {
        let mut out = self.clone();
        out.segments.push(Segment::Key(key.to_owned()));
        out
    }

    /// This path extended by an array index.
    pub(crate) fn index(&self, index: usize) -> Self {
        let mut out = self.clone();
        out.segments.push(Segment::Index(index));
        out
    }

    /// The steps of the path, root first.
    pub(crate) fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// True for the document root.
    pub(crate) fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// The path without its last step (the root stays the root).
    pub(crate) fn parent(&self) -> Self {
        let mut out = self.clone();
        out.segments.pop();
        out
    }

    /// True if `self` is `other` or lies under it (`a.b[1].c` starts with `a.b`).
    pub(crate) fn starts_with(&self, other: &KeyPath) -> bool {
        self.segments.starts_with(&other.segments)
    }

    /// True if the last step is an array index.
    pub(crate) fn ends_with_index(&self) -> bool {
        matches!(self.segments.last(), Some(Segment::Index(_)))
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.segments.iter().enumerate() {
            match seg {
                Segment::Key(k) if i == 0 => f.write_str(k)?,
                Segment::Key(k) => write!(f, ".{k}")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_mixes_keys_and_indexes() {
        let p = KeyPath::root().key("allowlist").index(2).key("client");
        assert_eq!(p.to_string(), "allowlist[2].client");
        assert_eq!(
            KeyPath::keys("detect.beacon.min_beats").to_string(),
            "detect.beacon.min_beats"
        );
        assert_eq!(KeyPath::root().to_string(), "");
    }

    #[test]
    fn prefix_and_parent() {
        let p = KeyPath::keys("a.b").index(1).key("c");
        assert!(p.starts_with(&KeyPath::keys("a.b")));
        assert!(p.starts_with(&p));
        assert!(!KeyPath::keys("a.b").starts_with(&p));
        assert!(!KeyPath::keys("a.bc").starts_with(&KeyPath::keys("a.b")));
        assert_eq!(p.parent().to_string(), "a.b[1]");
        assert!(p.parent().ends_with_index());
        assert!(KeyPath::root().parent().is_root());
    }
}
