//! A serde `Deserializer` over a parsed document that reports *every* structural problem.
//!
//! Serde stops at the first error. To report them all, [`deserialize_all`] runs the derived
//! `Deserialize` impls of the raw structs repeatedly:
//! - unknown keys are recorded and skipped right away (the derive tells the field names through
//!   `deserialize_struct`), so they never stop a pass;
//! - a value of the wrong type stops the pass; its key path is then "poisoned" (treated as absent,
//!   so the default applies) and the pass is run again, until a pass succeeds.
//!
//! Elements of arrays are never removed on their own (that would shift the indexes that later
//! messages name); a bad element poisons the whole array instead.

use std::cell::RefCell;
use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess,
    Unexpected, Visitor,
};
use toml_edit::Value;

use crate::error::Problem;
use crate::path::KeyPath;
use crate::source::{LineIndex, Node};

/// Stop after this many problems; later ones would be noise.
pub(crate) const MAX_PROBLEMS: usize = 200;

/// Result of [`deserialize_all`].
pub(crate) struct Outcome<T> {
    /// The value built with every poisoned key treated as absent; `None` only if the root itself
    /// could not be deserialized or the problem limit was hit.
    pub(crate) value: Option<T>,
    /// Structural problems: unknown keys and wrong types, each with line.
    pub(crate) problems: Vec<Problem>,
    /// Paths treated as absent; semantic checks on or under them are suppressed by the caller.
    pub(crate) poisoned: Vec<KeyPath>,
}

/// Deserializes `T` from `root`, collecting every unknown key and type error (see module doc).
pub(crate) fn deserialize_all<T: DeserializeOwned>(
    root: Node<'_>,
    lines: &LineIndex,
) -> Outcome<T> {
    let mut problems: Vec<Problem> = Vec::new();
    let mut poisoned: Vec<KeyPath> = Vec::new();
    loop {
        let ctx = Ctx {
            lines,
            poisoned: &poisoned,
            unknown: RefCell::new(Vec::new()),
        };
        let result = T::deserialize(NodeDe {
            node: root,
            path: KeyPath::root(),
            line: None,
            ctx: &ctx,
        });
        for p in ctx.unknown.into_inner() {
            if !problems.contains(&p) {
                problems.push(p);
            }
        }
        let err = match result {
            Ok(value) => {
                return Outcome {
                    value: Some(value),
                    problems,
                    poisoned,
                }
            }
            Err(err) => err,
        };
        let path = err.path.clone().unwrap_or_default();
        problems.push(Problem {
            path: path.clone(),
            line: err.line,
            reason: friendly(err.reason),
        });
        // A bad array element poisons its array, so indexes stay those of the file.
        let mut target = path;
        while target.ends_with_index() {
            target = target.parent();
        }
        // No progress possible (root-level failure, or the same place again): give up.
        if target.is_root() || poisoned.contains(&target) || problems.len() >= MAX_PROBLEMS {
            return Outcome {
                value: None,
                problems,
                poisoned,
            };
        }
        poisoned.push(target);
    }
}

/// Serde names Rust types in its messages; say what the TOML should hold instead.
fn friendly(reason: String) -> String {
    const SWAPS: [(&str, &str); 4] = [
        ("expected u64", "expected a non-negative integer"),
        ("expected f64", "expected a number"),
        ("expected a sequence", "expected an array"),
        ("expected a borrowed string", "expected a string"),
    ];
    if let Some(at) = reason.find("expected struct ") {
        let mut out = reason.get(..at).unwrap_or_default().to_owned();
        out.push_str("expected a table");
        return out;
    }
    for (from, to) in SWAPS {
        if let Some(head) = reason.strip_suffix(from) {
            return format!("{head}{to}");
        }
    }
    reason
}

/// Shared state of one pass.
struct Ctx<'c> {
    lines: &'c LineIndex,
    poisoned: &'c [KeyPath],
    unknown: RefCell<Vec<Problem>>,
}

impl Ctx<'_> {
    fn is_poisoned(&self, path: &KeyPath) -> bool {
        self.poisoned.iter().any(|p| p == path)
    }
}

/// Deserialization error with the place it happened (innermost place wins).
#[derive(Debug)]
pub(crate) struct DeError {
    reason: String,
    path: Option<KeyPath>,
    line: Option<u32>,
}

impl DeError {
    fn at(mut self, path: &KeyPath, line: Option<u32>) -> Self {
        if self.path.is_none() {
            self.path = Some(path.clone());
            self.line = line;
        }
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self {
            reason: msg.to_string(),
            path: None,
            line: None,
        }
    }
}

struct NodeDe<'a, 'c> {
    node: Node<'a>,
    path: KeyPath,
    line: Option<u32>,
    ctx: &'c Ctx<'c>,
}

impl<'a, 'c> NodeDe<'a, 'c> {
    fn map(self, fields: Option<&'static [&'static str]>) -> Result<MapDe<'a, 'c>, DeError> {
        let Node::Table(table) = self.node else {
            return Err(de::Error::custom("internal: not a table"));
        };
        let mut entries = Vec::new();
        for (key, _) in table.iter() {
            let Some((child, span)) = self.node.child(key) else {
                continue;
            };
            let path = self.path.key(key);
            let line = self.ctx.lines.line_of_span(span).or(self.line);
            if self.ctx.is_poisoned(&path) {
                continue;
            }
            if let Some(fields) = fields {
                if !fields.contains(&key) {
                    self.ctx.unknown.borrow_mut().push(Problem {
                        path,
                        line,
                        reason: unknown_key_reason(fields),
                    });
                    continue;
                }
            }
            entries.push((key, child, path, line));
        }
        entries.reverse();
        Ok(MapDe {
            entries,
            value: None,
            ctx: self.ctx,
        })
    }

    fn seq(self) -> SeqDe<'a, 'c> {
        let mut items = Vec::new();
        let mut i = 0;
        while let Some((child, span)) = self.node.element(i) {
            let line = self.ctx.lines.line_of_span(span).or(self.line);
            items.push((child, self.path.index(i), line));
            i += 1;
        }
        items.reverse();
        SeqDe {
            items,
            ctx: self.ctx,
        }
    }
}

fn unknown_key_reason(fields: &[&str]) -> String {
    if fields.is_empty() {
        return "unknown key; this table takes no keys".to_owned();
    }
    format!("unknown key; expected one of: {}", fields.join(", "))
}

impl<'de, 'a, 'c> Deserializer<'de> for NodeDe<'a, 'c> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        match self.node {
            Node::Scalar(v) => match v {
                Value::String(s) => visitor.visit_str(s.value()),
                Value::Integer(i) => visitor.visit_i64(*i.value()),
                Value::Float(f) => visitor.visit_f64(*f.value()),
                Value::Boolean(b) => visitor.visit_bool(*b.value()),
                Value::Datetime(_) => Err(de::Error::invalid_type(
                    Unexpected::Other("datetime"),
                    &visitor,
                )),
                // Arrays and inline tables are never `Scalar` (see `Node::of_value`).
                Value::Array(_) | Value::InlineTable(_) => {
                    Err(de::Error::custom("internal: unexpected compound value"))
                }
            },
            Node::Table(_) => visitor.visit_map(self.map(None)?),
            Node::Array(_) | Node::Tables(_) => visitor.visit_seq(self.seq()),
            Node::Empty => visitor.visit_unit(),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        // A key that is present is `Some`; absence is handled by `#[serde(default)]`.
        visitor.visit_some(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.node {
            Node::Table(_) => visitor.visit_map(self.map(Some(fields))?),
            // serde's derived structs also accept a sequence of their fields in order; a
            // configuration table is never written as an array (`capture = []` must not
            // stand for the defaults).
            Node::Array(_) | Node::Tables(_) => {
                Err(de::Error::invalid_type(Unexpected::Seq, &"a table"))
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match self.node {
            Node::Scalar(Value::String(s)) => {
                let de: de::value::StrDeserializer<'_, DeError> =
                    s.value().as_str().into_deserializer();
                visitor.visit_enum(de)
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier
    }
}

struct MapDe<'a, 'c> {
    /// Remaining entries, last first (popped from the end).
    entries: Vec<(&'a str, Node<'a>, KeyPath, Option<u32>)>,
    value: Option<(Node<'a>, KeyPath, Option<u32>)>,
    ctx: &'c Ctx<'c>,
}

impl<'de, 'a, 'c> MapAccess<'de> for MapDe<'a, 'c> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some((key, node, path, line)) = self.entries.pop() else {
            return Ok(None);
        };
        let k = seed
            .deserialize(IntoDeserializer::<DeError>::into_deserializer(key))
            .map_err(|e| e.at(&path, line))?;
        self.value = Some((node, path, line));
        Ok(Some(k))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let Some((node, path, line)) = self.value.take() else {
            return Err(de::Error::custom("internal: value without key"));
        };
        let de = NodeDe {
            node,
            path: path.clone(),
            line,
            ctx: self.ctx,
        };
        seed.deserialize(de).map_err(|e| e.at(&path, line))
    }
}

struct SeqDe<'a, 'c> {
    /// Remaining elements, last first (popped from the end).
    items: Vec<(Node<'a>, KeyPath, Option<u32>)>,
    ctx: &'c Ctx<'c>,
}

impl<'de, 'a, 'c> SeqAccess<'de> for SeqDe<'a, 'c> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some((node, path, line)) = self.items.pop() else {
            return Ok(None);
        };
        let de = NodeDe {
            node,
            path: path.clone(),
            line,
            ctx: self.ctx,
        };
        seed.deserialize(de)
            .map(Some)
            .map_err(|e| e.at(&path, line))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Source;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, Default, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Inner {
        n: u32,
        s: String,
        mode: Option<Mode>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        Drop,
        Block,
    }

    #[derive(Debug, Deserialize, Default, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Top {
        a: Inner,
        b: Inner,
        list: Vec<Inner>,
        words: Vec<String>,
        f: f64,
    }

    /// (key path, line, reason) of each problem.
    type Found = Vec<(String, Option<u32>, String)>;

    fn run(text: &str) -> (Option<Top>, Found) {
        let src = Source::parse(text).map_err(|e| e.message).unwrap();
        let out = deserialize_all::<Top>(src.root(), src.lines());
        let probs = out
            .problems
            .into_iter()
            .map(|p| (p.path.to_string(), p.line, p.reason))
            .collect();
        (out.value, probs)
    }

    #[test]
    fn clean_document() {
        let (v, p) = run("f = 1\n[a]\nn = 3\nmode = 'block'\n[[list]]\ns = 'x'\n[[list]]\nn = 2\n");
        assert!(p.is_empty(), "{p:?}");
        let v = v.unwrap();
        assert_eq!(v.a.n, 3);
        assert_eq!(v.a.mode, Some(Mode::Block));
        assert_eq!(v.f, 1.0);
        assert_eq!(v.list.len(), 2);
        assert_eq!(v.list[1].n, 2);
    }

    #[test]
    fn collects_every_problem_with_lines() {
        let text = "zzz = 1\n[a]\nn = 'three'\nbogus = 2\ns = 5\n[b]\nmode = 'sometimes'\nn = -1\n\
                    [[list]]\nn = 1\n[[list]]\nn = 'x'\nwhen = 1979-05-27\n";
        let (v, p) = run(text);
        let got: Vec<(&str, Option<u32>)> = p.iter().map(|(k, l, _)| (k.as_str(), *l)).collect();
        for want in [
            ("zzz", Some(1)),
            ("a.n", Some(3)),
            ("a.bogus", Some(4)),
            ("a.s", Some(5)),
            ("b.mode", Some(7)),
            ("b.n", Some(8)),
            ("list[1].n", Some(12)),
            ("list[1].when", Some(13)),
        ] {
            assert!(got.contains(&want), "missing {want:?} in {p:?}");
        }
        assert_eq!(got.len(), 8, "{p:?}");
        // Poisoned keys fall back to defaults; the rest is kept.
        let v = v.unwrap();
        assert_eq!(v.a.n, 0);
        assert_eq!(v.list.len(), 2);
        assert_eq!(v.list[0].n, 1);
        let unknown = p.iter().find(|(k, _, _)| k == "a.bogus").unwrap();
        assert!(
            unknown.2.contains("expected one of: n, s, mode"),
            "{}",
            unknown.2
        );
    }

    #[test]
    fn bad_array_element_poisons_array() {
        let (v, p) = run("words = ['a', 3, 'c']\n[[list]]\nn = 1\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, "words[1]");
        assert_eq!(p[0].1, Some(1));
        let v = v.unwrap();
        assert!(v.words.is_empty());
        assert_eq!(v.list.len(), 1);
    }

    #[test]
    fn wrong_kind_of_section() {
        let (v, p) = run("a = 5\nlist = 'x'\n");
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0].2, "invalid type: integer `5`, expected a table");
        assert_eq!(p[1].2, "invalid type: string \"x\", expected an array");
        assert!(v.is_some());
    }

    #[test]
    fn datetime_is_a_type_error() {
        let (_, p) = run("[a]\ns = 2024-01-01T00:00:00Z\n");
        assert_eq!(p.len(), 1);
        assert!(p[0].2.contains("datetime"), "{p:?}");
    }
}
