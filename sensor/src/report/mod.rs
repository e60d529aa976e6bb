//! `virga report`: an analyst's view of virga's alerts, as one
//! self-contained HTML file (no network, nothing external, a strict
//! Content-Security-Policy) built from the EVE files of one or several
//! sensors.
//!
//! The EVE files are streamed through [`crate::eve::read`] (one line in
//! memory at a time); [`model`] gathers the summary and one entry per alerted
//! (client, server name) pair, bounded whatever the input; [`svg`] draws a
//! pair's timeline and intervals; [`html`] lays out the page. Every string
//! that comes from the input is escaped.

pub mod html;
pub mod model;
pub mod svg;

use crate::eve::read::read_alerts;
use model::Model;
use std::borrow::Cow;
use std::fs::File;
use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};

/// The output file when none is given.
pub const DEFAULT_OUTPUT: &str = "virga-report.html";

/// Escapes text for HTML text and double- or single-quoted attributes
/// (`& < > " ' /`), with the `html-escape` crate.
pub fn escape(s: &str) -> Cow<'_, str> {
    html_escape::encode_safe(s)
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// An EVE file cannot be opened (nothing was written).
    #[error("{}: cannot open EVE file: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An EVE file failed while being read (the output is not written).
    #[error("{}: read error: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The report would overwrite one of its EVE files.
    #[error("{}: the report would overwrite an EVE file it reads", path.display())]
    OverwritesInput {
        /// The file.
        path: PathBuf,
    },
    /// The report cannot be written.
    #[error("{}: cannot write the report: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl ReportError {
    /// Whether nothing was done because of the invocation (a missing input,
    /// an output that cannot be created): exit status 2 rather than 1.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            ReportError::Open { .. }
                | ReportError::OverwritesInput { .. }
                | ReportError::Write { .. }
        )
    }
}

/// Reads the EVE files (in order) into a [`Model`]. Every file is opened
/// before any is read, so a missing one fails first.
pub fn read_model(inputs: &[PathBuf]) -> Result<Model, ReportError> {
    let files = inputs
        .iter()
        .map(|p| {
            File::open(p).map_err(|source| ReportError::Open {
                path: p.clone(),
                source,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut m = Model::default();
    for (path, file) in inputs.iter().zip(files) {
        let sensor = path
            .file_name()
            .map_or_else(|| path.to_string_lossy(), |n| n.to_string_lossy());
        let st = read_alerts(BufReader::with_capacity(256 * 1024, file), |a| {
            m.add(a, &sensor)
        })
        .map_err(|source| ReportError::Read {
            path: path.clone(),
            source,
        })?;
        m.add_file(st);
    }
    Ok(m)
}

/// Makes the report of `inputs` into `output` (`-`: standard output). The
/// output is created before reading (so an unwritable path fails at once)
/// and removed again when reading fails. Returns the model it shows.
pub fn write_report(inputs: &[PathBuf], output: &Path) -> Result<Model, ReportError> {
    let to_stdout = output.as_os_str() == "-";
    let werr = |source| ReportError::Write {
        path: output.to_path_buf(),
        source,
    };
    if !to_stdout {
        if let Ok(out) = std::fs::canonicalize(output) {
            if inputs
                .iter()
                .any(|i| std::fs::canonicalize(i).is_ok_and(|i| i == out))
            {
                return Err(ReportError::OverwritesInput {
                    path: output.to_path_buf(),
                });
            }
        }
    }
    let mut file = if to_stdout {
        None
    } else {
        Some(File::create(output).map_err(werr)?)
    };
    let model = match read_model(inputs) {
        Ok(m) => m,
        Err(e) => {
            if file.take().is_some() {
                let _ = std::fs::remove_file(output);
            }
            return Err(e);
        }
    };
    let page = html::render(&model);
    let written = match &mut file {
        Some(f) => f.write_all(page.as_bytes()).and_then(|()| f.sync_all()),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(page.as_bytes()).and_then(|()| out.flush())
        }
    };
    written.map_err(werr)?;
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hostile strings come out escaped everywhere (as text, never markup).
    #[test]
    fn hostile_strings_are_escaped_and_nothing_is_external() {
        let dir = std::env::temp_dir().join(format!("virga-report-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let eve = dir.join("eve.json");
        let evil = r#"<img src=https://evil.example/x onerror=alert(1)>"'</script>"#;
        let line = format!(
            r#"{{"timestamp":"2026-03-02T00:00:00.000000+0000","event_type":"alert","src_ip":"{e}","community_id":"{e}","alert":{{"signature":"{e}","severity":1,"context":{{"virga":{{"detector":"{e}","server_name":"{e}","platform":"{e}","ja4":"{e}","client_reasons":["{e}"],"beat_times":[0,30,60]}}}}}}}}"#,
            e = evil.replace('"', "\\\"")
        );
        std::fs::write(&eve, format!("{line}\n")).unwrap();
        let out = dir.join("r.html");
        let m = write_report(std::slice::from_ref(&eve), &out).unwrap();
        assert_eq!(m.read.alerts, 1);
        let page = std::fs::read_to_string(&out).unwrap();
        assert!(!page.contains("<img"), "unescaped tag");
        assert_eq!(page.matches("<script").count(), 1);
        assert!(page.contains("&lt;img src=https:&#x2F;&#x2F;evil.example"));
        // A missing input is a usage error and leaves no output behind.
        let e = write_report(&[dir.join("missing.json")], &out).unwrap_err();
        assert!(e.is_usage() && !out.exists(), "{e}");
        let e = write_report(&[eve], &dir.join("no/such/dir/r.html")).unwrap_err();
        assert!(e.is_usage(), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
