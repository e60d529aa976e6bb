//! Zeek's JSON-lines logs (`LogAscii::use_json`, the json-streaming-logs
//! package, log shippers): one object per line, `ts` as epoch seconds or
//! ISO 8601, field names as Zeek writes them (`id.orig_h`), renamed by a
//! shipper (`id_orig_h`) or nested (`"id": {"orig_h": ..}`). A line names
//! its log in `_path` (json-streaming-logs) or a shipper's stream field;
//! otherwise the file name decides. JSON is only read here (`serde_json`);
//! EVE JSON is written only by `eve`.

use super::files::LogKind;
use super::row::{Field, Fields};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// Fields that name the log of a line, in the order they are tried.
const KIND_FIELDS: &[&str] = &[
    "_path",
    "_stream",
    "@stream",
    "stream",
    "log_type",
    "event_type",
    "type",
    "_log",
    "event.dataset",
];

/// One JSON line, parsed.
pub struct JsonLine {
    map: Map<String, Value>,
}

impl JsonLine {
    /// Parses a line; the reason when it is not a JSON object.
    pub fn parse(line: &[u8]) -> Result<JsonLine, &'static str> {
        match serde_json::from_slice::<Value>(line) {
            Ok(Value::Object(map)) => Ok(JsonLine { map }),
            Ok(_) => Err("not a JSON object"),
            Err(_) => Err("not valid JSON"),
        }
    }

    /// The log the line names, if any: `Some(None)` when its `_path` names a
    /// log virga does not read. A shipper's stream field counts only when it
    /// names a log virga reads (`"type": "zeek"` says nothing).
    pub fn kind(&self) -> Option<Option<LogKind>> {
        if let Some(Value::String(s)) = self.map.get("_path") {
            return Some(LogKind::from_path_name(s));
        }
        KIND_FIELDS[1..].iter().find_map(|k| match self.lookup(k) {
            Some(Value::String(s)) => LogKind::from_path_name(s).map(Some),
            _ => None,
        })
    }

    fn lookup(&self, name: &str) -> Option<&Value> {
        if let Some(v) = self.map.get(name) {
            return Some(v);
        }
        // Nested objects: `id.orig_h` as `{"id": {"orig_h": ..}}`.
        let (head, rest) = name.split_once('.')?;
        let mut v = self.map.get(head)?;
        for part in rest.split('.') {
            v = v.as_object()?.get(part)?;
        }
        Some(v)
    }

    fn value(&self, f: Field) -> Option<&Value> {
        let (zeek, renamed) = f.names();
        let v = self.lookup(zeek).or_else(|| self.lookup(renamed));
        // Shippers that drop `ts` keep the time in `@timestamp`.
        let v = match (v, f) {
            (None, Field::Ts) => self.map.get("@timestamp"),
            (v, _) => v,
        };
        v.filter(|v| !v.is_null())
    }
}

fn scalar(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(true) => Some(Cow::Borrowed("T")),
        Value::Bool(false) => Some(Cow::Borrowed("F")),
        // A one-item list where a scalar is expected (some shippers).
        Value::Array(a) if a.len() == 1 => scalar(&a[0]),
        _ => None,
    }
}

impl Fields for JsonLine {
    fn get(&self, f: Field) -> Option<Cow<'_, str>> {
        scalar(self.value(f)?)
    }

    fn list(&self, f: Field, out: &mut Vec<String>) {
        match self.value(f) {
            Some(Value::Array(items)) => {
                out.extend(items.iter().filter_map(scalar).map(Cow::into_owned));
            }
            Some(v) => {
                // A shipper's comma-joined string.
                if let Some(s) = scalar(v) {
                    out.extend(s.split(',').filter(|s| !s.is_empty()).map(str::to_owned));
                }
            }
            None => {}
        }
    }
}
