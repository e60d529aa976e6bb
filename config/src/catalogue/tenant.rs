//! Tenants hidden inside one label.
//!
//! Some platforms pack several identities into the account label: Netlify deploy previews
//! (`<deploy-id>--<site>`), Vercel deployments (`<project>-<hash>-<team-scope>`), Cloud Run
//! (`<service>-<project-hash>-<region-code>`), Tencent SCF (`<appid>-<id>`). Grouping by the
//! whole label would split one tenant into as many groups as it has deployments; a
//! [`TenantRule`] cuts the tenant out. A label that does not have the rule's shape keeps the
//! whole label as its tenant, so an unexpected name is never split at a guess.
//!
//! Written by hand: each rule is a few byte comparisons on one label of at most 63 bytes, and a
//! regex would allocate a matcher per rule for no gain in clarity.

use std::fmt;
use std::str::FromStr;

/// How the tenant is cut out of an entry's account label.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum TenantRule {
    /// The whole label is the tenant (the default).
    #[default]
    Label,
    /// `<anything>--<tenant>`: the part after the first `--` (Netlify `<deploy-id>--<site>`).
    AfterDoubleDash,
    /// `<tenant>--<anything>`: the part before the first `--` (Val Town `<user>--<id>`,
    /// Firebase preview channels `<site>--<channel>-<hash>`).
    BeforeDoubleDash,
    /// `<project>-<hash>-<scope>` with a 9-character lowercase alphanumeric hash holding a
    /// digit: the scope (Vercel deployment URLs; the team or personal scope, which may itself
    /// hold dashes).
    VercelScope,
    /// `<service>-<hash>-<region>` with an 8 to 12 character lowercase alphanumeric hash and a
    /// 2 or 3 letter region code: the hash, which is per project (Cloud Run `*.a.run.app`).
    CloudRunHash,
    /// `<digits>-<anything>`: the leading number (Tencent SCF `<appid>-<id>`).
    LeadingNumber,
    /// `<anything>-<digits>`: the trailing number (Tencent API Gateway
    /// `service-<id>-<appid>`, Cloud Run `<service>-<project-number>`).
    TrailingNumber,
    /// `<tenant>-<digits>`: the part before a trailing number, a port
    /// (Microsoft Dev Tunnels `<tunnel>-<port>`, Codespaces
    /// `<codespace>-<port>`), so the ports of one tunnel count together.
    BeforePort,
}

impl TenantRule {
    /// Every rule with its configuration name.
    pub const ALL: [(TenantRule, &'static str); 8] = [
        (TenantRule::Label, "label"),
        (TenantRule::AfterDoubleDash, "after_double_dash"),
        (TenantRule::BeforeDoubleDash, "before_double_dash"),
        (TenantRule::VercelScope, "vercel_scope"),
        (TenantRule::CloudRunHash, "cloud_run_hash"),
        (TenantRule::LeadingNumber, "leading_number"),
        (TenantRule::TrailingNumber, "trailing_number"),
        (TenantRule::BeforePort, "before_port"),
    ];

    /// The configuration name, e.g. `after_double_dash`.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(r, _)| *r == self)
            .map_or("label", |(_, n)| n)
    }

    /// The tenant inside `label` (a slice of it): the whole label when it does not have the
    /// rule's shape or the cut would be empty.
    pub fn tenant(self, label: &str) -> &str {
        let cut = match self {
            TenantRule::Label => None,
            TenantRule::AfterDoubleDash => label.split_once("--").map(|(_, t)| t),
            TenantRule::BeforeDoubleDash => label.split_once("--").map(|(t, _)| t),
            TenantRule::VercelScope => vercel_scope(label),
            TenantRule::CloudRunHash => cloud_run_hash(label),
            TenantRule::LeadingNumber => label
                .split_once('-')
                .map(|(t, _)| t)
                .filter(|t| is_number(t)),
            TenantRule::TrailingNumber => label
                .rsplit_once('-')
                .map(|(_, t)| t)
                .filter(|t| is_number(t)),
            TenantRule::BeforePort => label
                .rsplit_once('-')
                .filter(|(_, port)| is_number(port) && port.len() <= 5)
                .map(|(t, _)| t),
        };
        cut.filter(|t| !t.is_empty() && !t.starts_with('-') && !t.ends_with('-'))
            .unwrap_or(label)
    }
}

impl fmt::Display for TenantRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TenantRule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .find(|(_, n)| *n == s)
            .map(|(r, _)| *r)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|(_, n)| *n).collect();
                format!(
                    "`{s}` is not a tenant rule; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// ASCII letters and digits only (names are matched case-insensitively).
fn is_alnum(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// `<project>-<hash>-<scope>`: the first dash-separated part after the first that looks like a
/// Vercel deployment hash (9 letters and digits, at least one of each), with something after
/// it; the scope is everything after the hash.
fn vercel_scope(label: &str) -> Option<&str> {
    let (_, mut rest) = label.split_once('-')?;
    // Bounded: each turn drops one part of a label of at most 63 bytes.
    loop {
        let (part, after) = rest.split_once('-')?;
        let hash = part.len() == 9
            && is_alnum(part)
            && part.bytes().any(|b| b.is_ascii_digit())
            && part.bytes().any(|b| b.is_ascii_alphabetic());
        if hash {
            return Some(after);
        }
        rest = after;
    }
}

/// `<service>-<hash>-<region>`: the hash, when the last part is a 2 or 3 letter region code and
/// the one before it an 8 to 12 character alphanumeric hash after a non-empty service name.
fn cloud_run_hash(label: &str) -> Option<&str> {
    let (rest, region) = label.rsplit_once('-')?;
    let (service, hash) = rest.rsplit_once('-')?;
    let region_ok =
        (2..=3).contains(&region.len()) && region.bytes().all(|b| b.is_ascii_alphabetic());
    let hash_ok = (8..=12).contains(&hash.len()) && is_alnum(hash);
    (region_ok && hash_ok && !service.is_empty()).then_some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (rule, name) in TenantRule::ALL {
            assert_eq!(rule.name(), name);
            assert_eq!(name.parse::<TenantRule>(), Ok(rule));
        }
        assert!("whole".parse::<TenantRule>().is_err());
    }

    #[test]
    fn cuts_and_refusals() {
        let cases = [
            (TenantRule::Label, "a--b", "a--b"),
            (TenantRule::AfterDoubleDash, "a1b2--site", "site"),
            (TenantRule::AfterDoubleDash, "site", "site"),
            (TenantRule::AfterDoubleDash, "a--", "a--"),
            (TenantRule::AfterDoubleDash, "a---b", "a---b"),
            (TenantRule::BeforeDoubleDash, "user--0f4b", "user"),
            (TenantRule::BeforeDoubleDash, "--0f4b", "--0f4b"),
            (TenantRule::VercelScope, "api-7f3k2j9xq-acme", "acme"),
            (TenantRule::VercelScope, "a-b-7f3k2j9xq-c-d", "c-d"),
            (TenantRule::VercelScope, "7f3k2j9xq-acme", "7f3k2j9xq-acme"),
            (TenantRule::VercelScope, "api-7f3k2j9xq", "api-7f3k2j9xq"),
            (
                TenantRule::VercelScope,
                "api-123456789-acme",
                "api-123456789-acme",
            ),
            (TenantRule::VercelScope, "api-7f3k2j9xq-", "api-7f3k2j9xq-"),
            (TenantRule::CloudRunHash, "svc-3nyzgy7bjq-uc", "3nyzgy7bjq"),
            (TenantRule::CloudRunHash, "svc-3nyzgy7-uc", "svc-3nyzgy7-uc"),
            (
                TenantRule::CloudRunHash,
                "svc-3nyzgy7bjq-u1",
                "svc-3nyzgy7bjq-u1",
            ),
            (TenantRule::LeadingNumber, "1250000000-abc", "1250000000"),
            (TenantRule::LeadingNumber, "12a-abc", "12a-abc"),
            (
                TenantRule::TrailingNumber,
                "service-ab-1250000000",
                "1250000000",
            ),
            (TenantRule::TrailingNumber, "service-ab", "service-ab"),
            (TenantRule::TrailingNumber, "service-", "service-"),
            (TenantRule::BeforePort, "x4k9m2p7-8080", "x4k9m2p7"),
            (
                TenantRule::BeforePort,
                "fluffy-space-goggles-5g4xj7-443",
                "fluffy-space-goggles-5g4xj7",
            ),
            (TenantRule::BeforePort, "x4k9m2p7", "x4k9m2p7"),
            (TenantRule::BeforePort, "x4k9m2p7-123456", "x4k9m2p7-123456"),
            (TenantRule::BeforePort, "-8080", "-8080"),
        ];
        for (rule, label, want) in cases {
            assert_eq!(rule.tenant(label), want, "{rule} {label}");
        }
    }

    #[test]
    fn hostile_labels_are_cut_in_linear_time() {
        // 63 bytes of dashes and parts: every rule answers with a slice of the label.
        let label = "a-".repeat(31) + "a";
        let dashes = "-".repeat(63);
        for (rule, _) in TenantRule::ALL {
            for l in [label.as_str(), dashes.as_str(), "", "-", "--"] {
                let t = rule.tenant(l);
                assert!(l.contains(t), "{rule} {l:?} -> {t:?}");
            }
        }
    }
}
