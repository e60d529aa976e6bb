//! A flow's server name: the SNI or HTTP Host the client sent, what its own
//! DNS answers said about the server address, and the serverless platform
//! either belongs to (the catalogue is consulted once, when a name becomes
//! known).

use crate::name_cache::Learned;
use std::sync::Arc;
use virga_config::{Catalogue, Platform};

/// Where a flow's server name came from (`name_source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameSource {
    /// TLS or QUIC Server Name Indication.
    Sni,
    /// HTTP Host header.
    HttpHost,
    /// The client's own DNS answer for the server address.
    Dns,
    /// No name: the server's address, written as text (`[detect.beacon] scope = "all"`).
    Address,
}

impl NameSource {
    /// Stable lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            NameSource::Sni => "sni",
            NameSource::HttpHost => "http_host",
            NameSource::Dns => "dns",
            NameSource::Address => "address",
        }
    }
}

/// The names known for a flow, boxed in the flow record only once it has
/// one.
#[derive(Debug, Clone, Default)]
pub struct FlowName {
    /// The SNI or HTTP Host the client sent, and which of the two.
    pub sent: Option<(Arc<str>, NameSource)>,
    /// What the client's own DNS answers said about the server address.
    pub dns: Option<Learned>,
    /// The platform of the flow's name, or of a name of its DNS chain (a
    /// custom domain CNAMEd to a platform).
    pub platform: Option<Platform>,
}

impl FlowName {
    /// The flow's name and its source: what the client sent, else its DNS
    /// name.
    pub fn name(&self) -> Option<(&Arc<str>, NameSource)> {
        match (&self.sent, &self.dns) {
            (Some((n, src)), _) => Some((n, *src)),
            (None, Some(l)) => Some((&l.name, NameSource::Dns)),
            (None, None) => None,
        }
    }

    /// A serverless name of the client's DNS chain for the server address.
    pub fn dns_serverless(&self) -> Option<&Arc<str>> {
        self.dns.as_ref().and_then(|l| l.serverless_name.as_ref())
    }

    /// Sets the name the client sent; returns true when it is catalogued.
    pub fn set_sent(&mut self, name: Arc<str>, source: NameSource, catalogue: &Catalogue) -> bool {
        let serverless = catalogue.lookup(&name).is_some();
        self.sent = Some((name, source));
        self.update_platform(catalogue);
        serverless
    }

    /// Sets what the client's DNS said; returns true when a name of the
    /// chain is catalogued.
    pub fn set_dns(&mut self, learned: Learned, catalogue: &Catalogue) -> bool {
        let serverless =
            learned.serverless_name.is_some() || catalogue.lookup(&learned.name).is_some();
        self.dns = Some(learned);
        self.update_platform(catalogue);
        serverless
    }

    fn update_platform(&mut self, catalogue: &Catalogue) {
        let by_name = self
            .name()
            .and_then(|(n, _)| catalogue.lookup(n))
            .map(|m| m.platform.clone());
        self.platform = by_name.or_else(|| {
            self.dns_serverless()
                .and_then(|n| catalogue.lookup(n))
                .map(|m| m.platform.clone())
        });
    }
}
