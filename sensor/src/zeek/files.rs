//! Which files to read: a path is a log file or a folder (a flat folder of
//! logs, or Zeek's archive with daily folders `YYYY-MM-DD/` of rotated logs
//! such as `conn.00:00:00-01:00:00.log.gz`). The log type comes from the
//! file name (`conn.log`, `HOST_conn.log`, rotated names); a TSV `#path`
//! header or a JSON line's `_path` (or a shipper's stream field) overrides
//! it. Gzip is recognised by its magic bytes, whatever the name.

use anyhow::Context as _;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// The Zeek logs virga reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogKind {
    /// `conn.log`: one line per connection, written when it ends.
    Conn,
    /// `conn_long.log`: interim lines of long connections.
    ConnLong,
    /// `ssl.log`: TLS handshakes.
    Ssl,
    /// `dns.log`: DNS transactions.
    Dns,
    /// `http.log`: HTTP requests.
    Http,
}

impl LogKind {
    /// The kinds, longest name first (so `conn_long` wins over `conn`).
    const BY_NAME: [(&'static str, LogKind); 5] = [
        ("conn_long", LogKind::ConnLong),
        ("conn", LogKind::Conn),
        ("ssl", LogKind::Ssl),
        ("dns", LogKind::Dns),
        ("http", LogKind::Http),
    ];

    /// The kind a log path (`_path`, `#path`, a stream name) names:
    /// `conn`, or with a shipper's prefix or suffix (`zeek.conn`,
    /// `zeek_conn`, `conn_log`).
    pub fn from_path_name(s: &str) -> Option<LogKind> {
        let s = s.trim();
        for (name, kind) in Self::BY_NAME {
            if s.eq_ignore_ascii_case(name) {
                return Some(kind);
            }
        }
        for part in s.split(['.', '_', '-', ':', '/']).rev() {
            for (name, kind) in Self::BY_NAME {
                if part.eq_ignore_ascii_case(name) {
                    // `conn_long` split into `conn` and `long`.
                    if kind == LogKind::Conn && s.to_ascii_lowercase().contains("conn_long") {
                        return Some(LogKind::ConnLong);
                    }
                    return Some(kind);
                }
            }
        }
        None
    }

    /// The kind of a log file from its name: `conn.log`, `conn.log.gz`,
    /// `conn.00:00:00-01:00:00.log.gz`, `conn.2024-01-01-00-00-00.log`,
    /// `HOST_conn.log`, `conn.json`; `None` for other names.
    pub fn from_file_name(name: &str) -> Option<LogKind> {
        let stem = name.split('.').next().unwrap_or(name);
        for (n, kind) in Self::BY_NAME {
            if stem.eq_ignore_ascii_case(n) {
                return Some(kind);
            }
        }
        let lower = stem.to_ascii_lowercase();
        Self::BY_NAME
            .into_iter()
            .find(|(n, _)| lower.ends_with(&format!("_{n}")) || lower.ends_with(&format!("-{n}")))
            .map(|(_, k)| k)
    }
}

/// One log file to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFile {
    /// Its path.
    pub path: PathBuf,
    /// Its kind by name (`None`: taken from each line or its header).
    pub kind: Option<LogKind>,
    /// Files read together, merged by time: same folder and the same
    /// rotation stamp (`00:00:00-01:00:00`; empty for unrotated names).
    pub group: (PathBuf, String),
}

/// Whether a file name in a folder looks like a log worth reading.
fn is_log_name(name: &str) -> bool {
    let base = name.strip_suffix(".gz").unwrap_or(name);
    base.ends_with(".log") || base.ends_with(".json") || base.ends_with(".ndjson")
}

/// The rotation stamp of a name: what lies between the kind and `.log`
/// (`conn.00:00:00-01:00:00.log.gz` → `00:00:00-01:00:00`).
fn rotation_stamp(name: &str) -> String {
    let base = name.strip_suffix(".gz").unwrap_or(name);
    let base = base
        .strip_suffix(".log")
        .or_else(|| base.strip_suffix(".json"))
        .or_else(|| base.strip_suffix(".ndjson"))
        .unwrap_or(base);
    match base.split_once('.') {
        Some((_, stamp)) => stamp.to_owned(),
        None => String::new(),
    }
}

fn log_file(path: PathBuf) -> LogFile {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    LogFile {
        kind: LogKind::from_file_name(&name),
        group: (dir, rotation_stamp(&name)),
        path,
    }
}

/// Expands the paths into the log files to read, in reading order: groups
/// (folder, rotation stamp) in name order, which is time order for Zeek's
/// archive. Files given by name are always read; in folders, files whose
/// name ends `.log`, `.json` or `.ndjson` (optionally `.gz`) are read when
/// their name gives a kind virga reads, or no kind at all (a mixed log).
///
/// # Errors
/// A path that does not exist or cannot be listed.
pub fn expand_paths(paths: &[String]) -> anyhow::Result<Vec<LogFile>> {
    let mut out = Vec::new();
    for p in paths {
        let path = PathBuf::from(p);
        let meta = std::fs::metadata(&path).with_context(|| format!("{p}: cannot read"))?;
        if meta.is_dir() {
            walk(&path, 0, &mut out).with_context(|| format!("{p}: cannot list"))?;
        } else {
            out.push(log_file(path));
        }
    }
    out.sort_by(|a, b| a.group.cmp(&b.group).then_with(|| a.path.cmp(&b.path)));
    out.dedup_by(|a, b| a.path == b.path);
    Ok(out)
}

/// Folder depth followed (the archive's daily folders, one more level).
const MAX_DEPTH: usize = 3;

fn walk(dir: &Path, depth: usize, out: &mut Vec<LogFile>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            if depth < MAX_DEPTH {
                walk(&path, depth + 1, out)?;
            }
            continue;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !is_log_name(&name) {
            continue;
        }
        let f = log_file(path);
        // A named log of another type (`weird.log`, `x509.log`) is skipped;
        // a name with no type may hold several (`_path` per line).
        let other_type = f.kind.is_none()
            && name
                .split('.')
                .next()
                .is_some_and(|s| ZEEK_OTHER_LOGS.contains(&s));
        if !other_type {
            out.push(f);
        }
    }
    Ok(())
}

/// Zeek logs of types virga does not read, skipped in folders.
const ZEEK_OTHER_LOGS: &[&str] = &[
    "weird",
    "x509",
    "files",
    "notice",
    "ocsp",
    "pe",
    "smtp",
    "ssh",
    "dhcp",
    "ntp",
    "software",
    "known_hosts",
    "known_services",
    "known_certs",
    "stats",
    "capture_loss",
    "loaded_scripts",
    "packet_filter",
    "reporter",
    "dpd",
    "analyzer",
    "kerberos",
    "dce_rpc",
    "ntlm",
    "rdp",
    "sip",
    "snmp",
    "tunnel",
    "syslog",
    "mysql",
    "radius",
    "irc",
    "ftp",
    "modbus",
    "dnp3",
    "socks",
    "ldap",
    "ldap_search",
    "quic",
    "smb_files",
    "smb_mapping",
    "telemetry",
    "cluster",
    "broker",
    "print",
    "signatures",
    "intel",
    "traceroute",
    "websocket",
    "conn-summary",
];

/// Opens a log, gunzipping it when it starts with gzip's magic bytes
/// (`flate2`; concatenated gzip members are read through).
///
/// # Errors
/// The file cannot be opened or read.
pub fn open(path: &Path) -> std::io::Result<Box<dyn BufRead + Send>> {
    let mut f = BufReader::with_capacity(1 << 16, File::open(path)?);
    let gz = f.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    if gz {
        Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::bufread::MultiGzDecoder::new(f),
        )))
    } else {
        Ok(Box::new(f))
    }
}

/// Reads a whole (small) log into memory; for tests and tools.
///
/// # Errors
/// The file cannot be opened or read.
pub fn read_all(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut v = Vec::new();
    open(path)?.read_to_end(&mut v)?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_file_names() {
        let k = LogKind::from_file_name;
        assert_eq!(k("conn.log"), Some(LogKind::Conn));
        assert_eq!(k("conn.00:00:00-01:00:00.log.gz"), Some(LogKind::Conn));
        assert_eq!(k("conn.2024-01-01-00-00-00.log"), Some(LogKind::Conn));
        assert_eq!(k("sensor1_ssl.log"), Some(LogKind::Ssl));
        assert_eq!(k("conn_long.log"), Some(LogKind::ConnLong));
        assert_eq!(k("dns.json.gz"), Some(LogKind::Dns));
        assert_eq!(k("weird.log"), None);
        assert_eq!(k("eve.json"), None);
        assert_eq!(LogKind::from_path_name("zeek.http"), Some(LogKind::Http));
        assert_eq!(
            LogKind::from_path_name("conn_long"),
            Some(LogKind::ConnLong)
        );
        assert_eq!(LogKind::from_path_name("x509"), None);
    }

    #[test]
    fn rotation_stamps_group_files() {
        assert_eq!(
            rotation_stamp("conn.00:00:00-01:00:00.log.gz"),
            "00:00:00-01:00:00"
        );
        assert_eq!(rotation_stamp("conn.log"), "");
        assert_eq!(rotation_stamp("HOST_conn.log"), "");
    }
}
