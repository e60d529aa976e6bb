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
}

/// Whether a file name in a folder looks like a log worth reading.
fn is_log_name(name: &str) -> bool {
    let base = name.strip_suffix(".gz").unwrap_or(name);
    base.ends_with(".log") || base.ends_with(".json") || base.ends_with(".ndjson")
}

fn log_file(path: PathBuf) -> LogFile {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    LogFile {
        kind: LogKind::from_file_name(&name),
        path,
    }
}

/// Expands the paths into the log files to read (in path order; the merge
/// orders them by their first row's time). Files given by name are always read; in folders, files whose
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
    out.sort_by(|a, b| a.path.cmp(&b.path));
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
/// (`flate2`; concatenated gzip members are read through). A gzip file is
/// inflated by a thread of its own, a few chunks ahead of the reader, so
/// inflating and parsing use two cores.
///
/// # Errors
/// The file cannot be opened or read.
pub fn open(path: &Path) -> std::io::Result<Box<dyn BufRead + Send>> {
    let mut f = BufReader::with_capacity(1 << 16, File::open(path)?);
    let gz = f.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    if gz {
        let inflate = flate2::bufread::MultiGzDecoder::new(f);
        Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            Inflated::start(inflate)?,
        )))
    } else {
        Ok(Box::new(f))
    }
}

/// Bytes of one chunk handed from the inflating thread.
const CHUNK: usize = 1 << 18;
/// Chunks the inflating thread may run ahead.
const AHEAD: usize = 4;

/// The reading end of an inflating thread.
struct Inflated {
    rx: crossbeam_channel::Receiver<std::io::Result<Vec<u8>>>,
    cur: Vec<u8>,
    pos: usize,
}

impl Inflated {
    fn start<R: Read + Send + 'static>(mut input: R) -> std::io::Result<Inflated> {
        let (tx, rx) = crossbeam_channel::bounded(AHEAD);
        std::thread::Builder::new()
            .name("virga-inflate".into())
            .spawn(move || loop {
                let mut buf = vec![0u8; CHUNK];
                let mut n = 0;
                let res = loop {
                    match input.read(&mut buf[n..]) {
                        Ok(0) => break Ok(()),
                        Ok(k) => {
                            n += k;
                            if n == CHUNK {
                                break Ok(());
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                buf.truncate(n);
                let last = n < CHUNK;
                if n > 0 && tx.send(Ok(buf)).is_err() {
                    return;
                }
                if let Err(e) = res {
                    let _ = tx.send(Err(e));
                    return;
                }
                if last {
                    return;
                }
            })?;
        Ok(Inflated {
            rx,
            cur: Vec::new(),
            pos: 0,
        })
    }
}

impl Read for Inflated {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(Ok(c)) => {
                    self.cur = c;
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                // The thread ended: end of input.
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
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
}
