//! Zeek logs as a source of detection records (`virga hunt`): readers for
//! Zeek's TSV and JSON-lines logs (plain or gzip), a merge of many files by
//! time, and the join of conn, ssl, dns and http rows into the same
//! [`crate::records::DetectionRecord`]s the wire gives.
//!
//! - [`files`]: path expansion (files, flat folders, Zeek's daily folders
//!   with rotated logs), the log type from a file name, gzip;
//! - [`line`]: bounded line reading (a line over the limit is reported, not
//!   kept);
//! - [`row`]: the fields virga reads and the typed row made of them;
//! - [`tsv`] and [`json`]: the two formats, each turning a line into a row;
//! - [`reader`]: one file, whatever its format, as a stream of rows;
//! - [`merge`]: rows of several files in time order;
//! - [`records`]: rows joined by uid into connection starts, beats and DNS
//!   lookups, with the client's DNS names.

pub mod files;
pub mod json;
pub mod line;
pub mod merge;
pub mod reader;
pub mod records;
pub mod row;
pub mod tsv;

pub use files::{expand_paths, LogFile, LogKind};
pub use reader::{BadLine, LogReader};
pub use row::{Detail, LogRow};
