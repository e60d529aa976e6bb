//! Alerts as the detectors raise them: typed values that name the rule and
//! borrow the record they are about. `eve::alert` writes them as EVE `alert`
//! events.
//!
//! Signature ids are in virga's range 9 400 000–9 400 099 (see
//! docs/detection.md for the table).

use super::beacon::BeaconAlert;
use super::dns_anomaly::DnsAnomalyAlert;
use crate::records::{ConnStart, DnsLookup};
use std::sync::Arc;
use virga_config::Platform;

/// Base of virga's signature ids.
pub const SID_BASE: u32 = 9_400_000;
/// Beaconing to a serverless name.
pub const SID_BEACON: u32 = SID_BASE + 1;
/// Beaconing to a serverless name from a non-browser client.
pub const SID_BEACON_NON_BROWSER: u32 = SID_BASE + 2;
/// Non-browser client to a serverless endpoint.
pub const SID_NON_BROWSER_CLIENT: u32 = SID_BASE + 10;
/// First id of the DNS anomaly signatures (one per kind).
pub const SID_DNS_BASE: u32 = SID_BASE + 20;

/// One alert's rule part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Signature id.
    pub sid: u32,
    /// Signature text (names the platform).
    pub signature: String,
    /// Category (classtype description).
    pub category: &'static str,
    /// Severity, 1 (highest) to 3.
    pub severity: u8,
}

/// The detector that raised an alert about a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnDetector {
    /// Periodic check-ins of a (client, name) pair.
    Beacon,
    /// A non-browser client to a serverless endpoint.
    Client,
}

impl ConnDetector {
    /// `alert.context.virga.detector`.
    pub const fn name(self) -> &'static str {
        match self {
            ConnDetector::Beacon => "beacon",
            ConnDetector::Client => "client",
        }
    }
}

/// An alert about a connection start.
#[derive(Debug, Clone, Copy)]
pub struct ConnAlert<'a> {
    /// The rule.
    pub rule: &'a Rule,
    /// Which detector raised it.
    pub detector: ConnDetector,
    /// The connection (the latest one of a beaconing pair).
    pub conn: &'a ConnStart,
    /// The name's platform, `None` for a non-serverless name scored with
    /// `[detect.beacon] scope`-wide beaconing.
    pub platform: Option<&'a Platform>,
    /// Score, 0 to 1.
    pub score: f64,
    /// Distinct clients of the same class seen for the name.
    pub prevalence: u32,
    /// The beacon detector's evidence, for beacon alerts.
    pub beacon: Option<&'a BeaconAlert>,
    /// The Zeek uids of the latest evidence (`virga hunt`; empty on the wire).
    pub zeek_uids: &'a [Arc<str>],
    /// For beacon alerts, the program images host events named on the pair's connections
    /// (sorted, at most 8); empty without attribution.
    pub images: &'a [std::sync::Arc<str>],
}

/// An alert about a client's DNS towards a serverless domain.
#[derive(Debug, Clone, Copy)]
pub struct DnsAlert<'a> {
    /// The rule.
    pub rule: &'a Rule,
    /// The DNS message that raised it.
    pub lookup: &'a DnsLookup,
    /// The detector's finding.
    pub anomaly: &'a DnsAnomalyAlert,
}

/// Any alert.
#[derive(Debug, Clone, Copy)]
pub enum Alert<'a> {
    /// About a connection.
    Conn(ConnAlert<'a>),
    /// About DNS.
    Dns(DnsAlert<'a>),
}

/// The rule of a beacon alert.
pub fn beacon_rule(platform: Option<&Platform>, non_browser: bool) -> Rule {
    Rule {
        sid: if non_browser {
            SID_BEACON_NON_BROWSER
        } else {
            SID_BEACON
        },
        signature: format!(
            "VIRGA beaconing to {} from a {} client",
            platform.map_or("a non-serverless name", |p| p.name()),
            if non_browser {
                "non-browser"
            } else {
                "browser or unknown"
            }
        ),
        category: "A Network Trojan was detected",
        severity: if non_browser { 1 } else { 2 },
    }
}

/// The rule of a non-browser client alert.
pub fn client_rule(platform: &Platform) -> Rule {
    Rule {
        sid: SID_NON_BROWSER_CLIENT,
        signature: format!("VIRGA non-browser client to {} endpoint", platform.name()),
        category: "Potentially Bad Traffic",
        severity: 3,
    }
}

/// The rule of a DNS anomaly alert.
pub fn dns_rule(a: &DnsAnomalyAlert) -> Rule {
    Rule {
        sid: SID_DNS_BASE + a.kind as u32,
        signature: format!(
            "VIRGA DNS {} towards {}",
            a.kind.name().replace('_', " "),
            a.platform_name
        ),
        category: "Potentially Bad Traffic",
        severity: a.kind.severity().clamp(1, 3),
    }
}
