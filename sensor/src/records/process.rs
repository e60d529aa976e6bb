//! The process behind a connection or a DNS query, when host events name it
//! (`attribution` joins them; the detection stage fills it in before the
//! detectors see the record).

use std::sync::Arc;

/// Which host event named the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostEventSource {
    /// Sysmon event 3 (network connection).
    SysmonConnection,
    /// Sysmon event 22 (DNS query).
    SysmonDns,
}

impl HostEventSource {
    /// `sysmon:3` or `sysmon:22`, as alerts name it.
    pub const fn name(self) -> &'static str {
        match self {
            HostEventSource::SysmonConnection => "sysmon:3",
            HostEventSource::SysmonDns => "sysmon:22",
        }
    }
}

/// One process, as the matching host event names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    /// The program's full path (`Image`).
    pub image: Arc<str>,
    /// Process id.
    pub pid: Option<u32>,
    /// The account (`User`).
    pub user: Option<Arc<str>>,
    /// The host's name, lowercased.
    pub host: Option<Arc<str>>,
    /// The event that named it.
    pub event: HostEventSource,
    /// Event time minus packet time, milliseconds.
    pub skew_ms: i64,
}

/// What the host events say about a record's process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Process {
    /// One process.
    Known(ProcessInfo),
    /// Events of different programs match equally well: none is chosen.
    Ambiguous {
        /// The candidates' images, sorted, without repeats (at most 8).
        images: Box<[Arc<str>]>,
        /// The kind of event that matched.
        event: HostEventSource,
    },
}

impl Process {
    /// The image, when one process is known.
    pub fn image(&self) -> Option<&str> {
        match self {
            Process::Known(p) => Some(&p.image),
            Process::Ambiguous { .. } => None,
        }
    }
}
