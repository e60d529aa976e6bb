//! A parsed TOML document that remembers where every key is, so problems get line numbers.
//!
//! `toml_edit` keeps byte spans of keys and values when a document is parsed read-only
//! ([`toml_edit::ImDocument`]). `toml::Spanned` cannot describe implicit tables such as the
//! `detect` in `[detect.beacon]`, which is why this crate parses with `toml_edit` directly.

use std::ops::Range;

use toml_edit::{Array, ArrayOfTables, ImDocument, Item, TableLike, Value};

use crate::path::{KeyPath, Segment};

/// Byte offset → 1-based line number.
#[derive(Debug)]
pub(crate) struct LineIndex {
    /// Byte offsets at which lines 2, 3, ... start.
    starts: Vec<usize>,
}

impl LineIndex {
    pub(crate) fn new(text: &str) -> Self {
        let starts = text
            .bytes()
            .enumerate()
            .filter(|&(_, b)| b == b'\n')
            .map(|(i, _)| i + 1)
            .collect();
        Self { starts }
    }

    /// The 1-based line holding byte `offset`.
    pub(crate) fn line(&self, offset: usize) -> u32 {
        let n = self.starts.partition_point(|&s| s <= offset) + 1;
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// The line of the start of `span`, if there is a span.
    pub(crate) fn line_of_span(&self, span: Option<Range<usize>>) -> Option<u32> {
        span.map(|s| self.line(s.start))
    }
}

/// One node of the document, with arrays and tables told apart however they were written
/// (`[t]` header or inline `{}`; `[[t]]` or inline `[]`).
#[derive(Clone, Copy)]
pub(crate) enum Node<'a> {
    /// A table, standard or inline.
    Table(&'a dyn TableLike),
    /// An array of tables (`[[name]]`).
    Tables(&'a ArrayOfTables),
    /// An inline array.
    Array(&'a Array),
    /// A scalar: string, integer, float, boolean or datetime.
    Scalar(&'a Value),
    /// Nothing (an empty item; does not occur in parsed documents).
    Empty,
}

impl<'a> Node<'a> {
    /// The node of an item.
    pub(crate) fn of_item(item: &'a Item) -> Self {
        match item {
            Item::None => Node::Empty,
            Item::Value(v) => Node::of_value(v),
            Item::Table(t) => Node::Table(t),
            Item::ArrayOfTables(a) => Node::Tables(a),
        }
    }

    /// The node of a value.
    pub(crate) fn of_value(value: &'a Value) -> Self {
        match value {
            Value::Array(a) => Node::Array(a),
            Value::InlineTable(t) => Node::Table(t),
            scalar => Node::Scalar(scalar),
        }
    }

    /// Entry `key` of a table: the child and the span of its key (or of its value).
    pub(crate) fn child(self, key: &str) -> Option<(Node<'a>, Option<Range<usize>>)> {
        match self {
            Node::Table(t) => t
                .get_key_value(key)
                .map(|(k, item)| (Node::of_item(item), k.span().or_else(|| item.span()))),
            _ => None,
        }
    }

    /// Element `index` of an array: the child and its own span.
    pub(crate) fn element(self, index: usize) -> Option<(Node<'a>, Option<Range<usize>>)> {
        match self {
            Node::Tables(a) => a.get(index).map(|t| (Node::Table(t), t.span())),
            Node::Array(a) => a.get(index).map(|v| (Node::of_value(v), v.span())),
            _ => None,
        }
    }
}

/// A parsed document plus its line index.
pub(crate) struct Source<'t> {
    doc: ImDocument<&'t str>,
    lines: LineIndex,
}

/// A TOML syntax error: message and line.
#[derive(Debug)]
pub(crate) struct SyntaxError {
    pub(crate) line: Option<u32>,
    pub(crate) message: String,
}

impl<'t> Source<'t> {
    /// Parses `text`; a syntax error carries the line it was found on.
    pub(crate) fn parse(text: &'t str) -> Result<Self, SyntaxError> {
        let lines = LineIndex::new(text);
        match ImDocument::parse(text) {
            Ok(doc) => Ok(Self { doc, lines }),
            Err(e) => Err(SyntaxError {
                line: lines.line_of_span(e.span()),
                message: format!("TOML syntax error: {}", e.message()),
            }),
        }
    }

    /// The root table.
    pub(crate) fn root(&self) -> Node<'_> {
        Node::of_item(self.doc.as_item())
    }

    /// The line index of the text.
    pub(crate) fn lines(&self) -> &LineIndex {
        &self.lines
    }

    /// The line of the deepest node on `path` that exists in the document: the key's own line
    /// for table entries, the element's line for array elements (or the array's line when the
    /// element has no span). `None` when not even the first step exists, i.e. the problem is
    /// about a default value.
    pub(crate) fn line_of(&self, path: &KeyPath) -> Option<u32> {
        let mut node = self.root();
        let mut line = None;
        for seg in path.segments() {
            let step = match seg {
                Segment::Key(k) => node.child(k),
                Segment::Index(i) => node.element(*i),
            };
            let Some((next, span)) = step else { break };
            if let Some(l) = self.lines.line_of_span(span) {
                line = Some(l);
            }
            node = next;
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_index() {
        let li = LineIndex::new("a\nbc\n\nd");
        assert_eq!(li.line(0), 1);
        assert_eq!(li.line(1), 1);
        assert_eq!(li.line(2), 2);
        assert_eq!(li.line(5), 3);
        assert_eq!(li.line(6), 4);
        assert_eq!(li.line(999), 4);
    }

    #[test]
    fn lines_of_paths() {
        let text = "top = 1\n[capture]\n\nsnaplen_bytes = 5\n[[allowlist]]\nclient = \"x\"\n\
                    [[allowlist]]\nreason = 'r'\n[detect.beacon]\nmin_beats = 3\n\
                    [catalogue]\nremove = [\n 'a',\n 'b',\n]\nadd = [{ id = 'x' }]\n";
        let src = Source::parse(text).map_err(|e| e.message).unwrap();
        let at = |p: KeyPath| src.line_of(&p);
        assert_eq!(at(KeyPath::keys("top")), Some(1));
        assert_eq!(at(KeyPath::keys("capture")), Some(2));
        assert_eq!(at(KeyPath::keys("capture.snaplen_bytes")), Some(4));
        assert_eq!(at(KeyPath::keys("allowlist").index(0)), Some(5));
        assert_eq!(
            at(KeyPath::keys("allowlist").index(0).key("client")),
            Some(6)
        );
        assert_eq!(at(KeyPath::keys("allowlist").index(1)), Some(7));
        assert_eq!(
            at(KeyPath::keys("allowlist").index(1).key("reason")),
            Some(8)
        );
        assert_eq!(at(KeyPath::keys("detect.beacon.min_beats")), Some(10));
        assert_eq!(at(KeyPath::keys("detect.beacon")), Some(9));
        // A missing key resolves to its deepest existing ancestor.
        assert_eq!(at(KeyPath::keys("capture.bpf_filter")), Some(2));
        assert_eq!(at(KeyPath::keys("output.eve_path")), None);
        assert_eq!(at(KeyPath::keys("catalogue.remove").index(1)), Some(14));
        assert_eq!(
            at(KeyPath::keys("catalogue.add").index(0).key("id")),
            Some(16)
        );
    }

    #[test]
    fn syntax_error_has_line() {
        let Err(e) = Source::parse("a = 1\nb = = 2\n") else {
            panic!("must fail")
        };
        assert_eq!(e.line, Some(2));
        assert!(e.message.starts_with("TOML syntax error"), "{}", e.message);
        let Err(e) = Source::parse("a = 1\n\na = 2\n") else {
            panic!("must fail")
        };
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("duplicate key"), "{}", e.message);
    }
}
