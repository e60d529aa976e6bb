//! Name patterns of the serverless catalogue, and the zero-allocation name splitter used to
//! match them.
//!
//! # Syntax
//!
//! A pattern is a dot-separated list of labels, matched label by label, ASCII case-insensitively:
//! - a literal label (`workers`, `lambda-url`, `xn--bcher-kva`) matches exactly that label;
//! - `*` matches exactly one label, whatever it is;
//! - `**` matches one or more labels, and may only be the leftmost label.
//!
//! Wildcards stand for whole labels (`faas-*` is refused). A pattern must end in at least two
//! literal labels (`example.com`) and is at most 253 bytes of ASCII: internationalised names are
//! written in punycode (`xn--…`), as they appear on the wire. A pattern without wildcards
//! matches one name exactly (`script.google.com`). One trailing dot is ignored.
//!
//! Examples: `*.*.workers.dev` matches `relay.acme.workers.dev` but neither `acme.workers.dev`
//! nor `a.relay.acme.workers.dev`; `*.lambda-url.*.on.aws` matches
//! `abc.lambda-url.us-east-1.on.aws`; `**.fcapp.run` matches `x.fcapp.run` and
//! `a.b.cn-hangzhou.fcapp.run`.

use std::fmt;

/// Longest DNS name in text form, without the trailing dot.
const MAX_NAME_BYTES: usize = 253;
/// Longest DNS label.
const MAX_LABEL_BYTES: usize = 63;
/// Most labels a name of [`MAX_NAME_BYTES`] can have.
const MAX_LABELS: usize = MAX_NAME_BYTES.div_ceil(2);

/// One label of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Label {
    /// This label exactly (stored lowercase).
    Literal(Box<str>),
    /// Exactly one label (`*`).
    One,
    /// One or more labels (`**`, leftmost only).
    AnyDepth,
}

/// A parsed catalogue name pattern; see the module documentation for the syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// Normalised text: lowercase, no trailing dot.
    text: Box<str>,
    /// Labels, rightmost (top-level) first.
    labels: Vec<Label>,
    /// The rightmost run of literal labels, e.g. `workers.dev` for `*.*.workers.dev`.
    fixed_suffix: Box<str>,
    /// Number of labels in `fixed_suffix`.
    fixed_labels: usize,
}

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PatternError(String);

impl Pattern {
    /// Parses and normalises a pattern.
    ///
    /// # Errors
    /// When the text breaks a rule of the syntax (see the module documentation); the message
    /// says which.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let err = |m: String| Err(PatternError(m));
        let body = text.strip_suffix('.').unwrap_or(text);
        if body.is_empty() {
            return err("empty pattern".into());
        }
        if !body.is_ascii() {
            return err(
                "non-ASCII pattern; write internationalised labels in punycode (xn--...)".into(),
            );
        }
        if body.len() > MAX_NAME_BYTES {
            return err(format!("pattern longer than {MAX_NAME_BYTES} bytes"));
        }
        let lower = body.to_ascii_lowercase();
        let parts: Vec<&str> = lower.split('.').collect();
        let mut labels = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate().rev() {
            let label = match *part {
                "" => return err("empty label (two dots in a row, or a leading dot)".into()),
                "*" => Label::One,
                "**" if i == 0 => Label::AnyDepth,
                "**" => return err("`**` is only allowed as the leftmost label".into()),
                p if p.contains('*') => {
                    return err(format!("label `{p}`: `*` must stand for a whole label"))
                }
                p if p.len() > MAX_LABEL_BYTES => {
                    return err(format!(
                        "label `{p}` is longer than {MAX_LABEL_BYTES} bytes"
                    ))
                }
                p if !p
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
                {
                    return err(format!(
                        "label `{p}` may only hold letters, digits, `-` and `_`"
                    ))
                }
                p => Label::Literal(p.into()),
            };
            labels.push(label);
        }
        let fixed_labels = labels
            .iter()
            .take_while(|l| matches!(l, Label::Literal(_)))
            .count();
        if fixed_labels < 2 {
            return err(
                "a pattern must end in at least two literal labels, such as `example.com`".into(),
            );
        }
        let fixed_suffix = parts
            .get(parts.len() - fixed_labels..)
            .unwrap_or_default()
            .join(".");
        Ok(Self {
            text: lower.into(),
            labels,
            fixed_suffix: fixed_suffix.into(),
            fixed_labels,
        })
    }

    /// The normalised pattern text (lowercase, no trailing dot).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The rightmost run of literal labels (`workers.dev` for `*.*.workers.dev`): the index key.
    pub fn fixed_suffix(&self) -> &str {
        &self.fixed_suffix
    }

    /// True when the pattern has no wildcard and so matches a single name.
    pub fn is_exact(&self) -> bool {
        self.fixed_labels == self.labels.len()
    }

    /// Fewest labels a matching name has.
    pub fn min_labels(&self) -> usize {
        self.labels.len()
    }

    /// Whether `name` matches (same rules as [`crate::Catalogue::lookup`]).
    pub fn matches(&self, name: &str) -> bool {
        Name::parse(name).is_some_and(|n| self.matches_name(&n))
    }

    /// Number of labels in the fixed suffix.
    pub(crate) fn fixed_labels(&self) -> usize {
        self.fixed_labels
    }

    /// The label at `index` counted from the right (0 = top-level label).
    pub(crate) fn label_from_right(&self, index: usize) -> Option<&Label> {
        self.labels.get(index)
    }

    /// Ordering key among patterns sharing a fixed suffix: the most specific sorts first.
    pub(crate) fn specificity(&self) -> impl Ord {
        let literals = self
            .labels
            .iter()
            .filter(|l| matches!(l, Label::Literal(_)))
            .count();
        let bounded = !matches!(self.labels.last(), Some(Label::AnyDepth));
        (
            std::cmp::Reverse(literals),
            std::cmp::Reverse(bounded),
            std::cmp::Reverse(self.labels.len()),
        )
    }

    /// Whether an already split name matches.
    pub(crate) fn matches_name(&self, name: &Name<'_>) -> bool {
        for (i, label) in self.labels.iter().enumerate() {
            let Some(have) = name.label(i) else {
                return false;
            };
            match label {
                Label::Literal(want) => {
                    if have != want.as_bytes() {
                        return false;
                    }
                }
                Label::One => {}
                Label::AnyDepth => return true,
            }
        }
        name.count() == self.labels.len()
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A DNS name split into labels on the stack: lowercase copy plus label boundaries.
///
/// Built without heap allocation. Refuses (returns `None` for) names that cannot be a DNS name
/// of the platforms: empty, longer than 253 bytes, with an empty label or a label longer than 63
/// bytes, or with any non-ASCII byte (names travel as punycode A-labels; a raw UTF-8 name must
/// not match an ASCII suffix by accident).
pub(crate) struct Name<'n> {
    original: &'n str,
    lower: [u8; MAX_NAME_BYTES],
    len: usize,
    /// `(start, end)` byte offsets of each label, leftmost first.
    bounds: [(u8, u8); MAX_LABELS],
    count: usize,
}

impl<'n> Name<'n> {
    /// Splits `name`, ignoring one trailing dot.
    pub(crate) fn parse(name: &'n str) -> Option<Self> {
        let body = name.strip_suffix('.').unwrap_or(name);
        let bytes = body.as_bytes();
        if bytes.is_empty() || bytes.len() > MAX_NAME_BYTES || !body.is_ascii() {
            return None;
        }
        let mut out = Name {
            original: body,
            lower: [0; MAX_NAME_BYTES],
            len: bytes.len(),
            bounds: [(0, 0); MAX_LABELS],
            count: 0,
        };
        let mut start = 0usize;
        for i in 0..=bytes.len() {
            let at_end = i == bytes.len();
            let b = bytes.get(i).copied().unwrap_or(b'.');
            if let Some(slot) = out.lower.get_mut(i) {
                *slot = b.to_ascii_lowercase();
            }
            if b == b'.' || at_end {
                let len = i - start;
                if len == 0 || len > MAX_LABEL_BYTES {
                    return None;
                }
                // Offsets fit in u8: the name is at most 253 bytes.
                let bound = (u8::try_from(start).ok()?, u8::try_from(i).ok()?);
                *out.bounds.get_mut(out.count)? = bound;
                out.count += 1;
                start = i + 1;
            }
        }
        Some(out)
    }

    /// Number of labels.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    fn bounds_from_right(&self, index: usize) -> Option<(usize, usize)> {
        let i = self.count.checked_sub(index + 1)?;
        self.bounds
            .get(i)
            .map(|&(s, e)| (usize::from(s), usize::from(e)))
    }

    /// The lowercase label at `index` counted from the right (0 = top-level label).
    pub(crate) fn label(&self, index: usize) -> Option<&[u8]> {
        let (s, e) = self.bounds_from_right(index)?;
        self.lower.get(s..e)
    }

    /// The label at `index` from the right, as written in the input (a slice of it).
    pub(crate) fn original_label(&self, index: usize) -> Option<&'n str> {
        let (s, e) = self.bounds_from_right(index)?;
        self.original.get(s..e)
    }

    /// The whole name, lowercase (checked as text once; slice it with
    /// [`Name::suffix_start`]).
    pub(crate) fn lower_str(&self) -> Option<&str> {
        std::str::from_utf8(self.lower.get(..self.len)?).ok()
    }

    /// Where the last `labels` labels start in [`Name::lower_str`]
    /// (`workers.dev` for 2).
    pub(crate) fn suffix_start(&self, labels: usize) -> Option<usize> {
        self.bounds_from_right(labels.checked_sub(1)?)
            .map(|(s, _)| s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(s: &str) -> Pattern {
        Pattern::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parse_normalises() {
        let p = pat("*.*.Workers.DEV.");
        assert_eq!(p.as_str(), "*.*.workers.dev");
        assert_eq!(p.fixed_suffix(), "workers.dev");
        assert_eq!(p.fixed_labels(), 2);
        assert_eq!(p.min_labels(), 4);
        assert!(!p.is_exact());
        let p = pat("*.lambda-url.*.on.aws");
        assert_eq!(p.fixed_suffix(), "on.aws");
        let p = pat("script.google.com");
        assert!(p.is_exact());
        assert_eq!(p.fixed_suffix(), "script.google.com");
        assert_eq!(pat("**.fcapp.run").min_labels(), 3);
    }

    #[test]
    fn parse_refusals() {
        for bad in [
            "",
            ".",
            "*.com",
            "*.*",
            "workers.*",
            "a.**.b.com",
            "faas-*.doserverless.co",
            "a..b.com",
            ".a.com",
            "*.bücher.de",
            "*.ex ample.com",
            "*.exa/mple.com",
            "com",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad:?} should be refused");
        }
        let long = format!("*.{}.com", "a".repeat(64));
        assert!(Pattern::parse(&long).is_err());
        let too_long = format!("{}com", "a.".repeat(130));
        assert!(Pattern::parse(&too_long).is_err());
        assert!(Pattern::parse("*.xn--bcher-kva.de").is_ok());
    }

    #[test]
    fn one_label_wildcard() {
        let p = pat("*.*.workers.dev");
        assert!(p.matches("relay.acme.workers.dev"));
        assert!(p.matches("RELAY.Acme.Workers.Dev."));
        assert!(!p.matches("acme.workers.dev"));
        assert!(!p.matches("a.relay.acme.workers.dev"));
        assert!(!p.matches("relay.acme.workers.dev.evil.com"));
        assert!(!p.matches("relay.evilworkers.dev"));
        assert!(!p.matches("a..workers.dev"));
        assert!(!p.matches("relay.acme.workers.dev.."));
    }

    #[test]
    fn any_depth_wildcard() {
        let p = pat("**.fcapp.run");
        assert!(p.matches("x.fcapp.run"));
        assert!(p.matches("a.b.cn-hangzhou.fcapp.run"));
        assert!(!p.matches("fcapp.run"));
        assert!(!p.matches("xfcapp.run"));
        let p = pat("**.*.*.azurecontainerapps.io");
        assert!(p.matches("app.env.eastus.azurecontainerapps.io"));
        assert!(p.matches("app.internal.env.eastus.azurecontainerapps.io"));
        assert!(!p.matches("env.eastus.azurecontainerapps.io"));
    }

    #[test]
    fn exact_pattern() {
        let p = pat("script.google.com");
        assert!(p.matches("Script.Google.Com."));
        assert!(!p.matches("x.script.google.com"));
        assert!(!p.matches("google.com"));
    }

    #[test]
    fn name_split() {
        let n = Name::parse("Relay.ACME.workers.dev.").unwrap();
        assert_eq!(n.count(), 4);
        assert_eq!(n.label(0), Some(&b"dev"[..]));
        assert_eq!(n.label(3), Some(&b"relay"[..]));
        assert_eq!(n.label(4), None);
        assert_eq!(n.original_label(2), Some("ACME"));
        let suffix = |k| n.suffix_start(k).and_then(|s| n.lower_str()?.get(s..));
        assert_eq!(suffix(2), Some("workers.dev"));
        assert_eq!(suffix(4), Some("relay.acme.workers.dev"));
        assert_eq!(suffix(5), None);
        assert_eq!(suffix(0), None);
        for bad in [
            "",
            ".",
            "..",
            "a..b",
            ".a",
            "a.b..",
            "é.workers.dev",
            "a.workers.dеv",
        ] {
            assert!(Name::parse(bad).is_none(), "{bad:?}");
        }
        assert!(Name::parse(&"a".repeat(64)).is_none());
        assert!(Name::parse(&"a".repeat(63)).is_some());
        let max = format!("{}a", "a.".repeat(126));
        assert_eq!(max.len(), 253);
        assert_eq!(Name::parse(&max).map(|n| n.count()), Some(127));
        assert!(Name::parse(&format!("a{max}")).is_none());
    }
}
