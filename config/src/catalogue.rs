//! The serverless catalogue: which DNS names belong to which function/edge platform.
//!
//! An embedded default list (`catalogue/builtin.toml`, built from the project's serverless
//! domain notes) is changed at load by `[catalogue]` `remove` and `add`. Each entry is a name
//! [`Pattern`] (syntax in [`pattern`](crate::Pattern)) belonging to a [`Platform`], with an
//! optional account/tenant label position used to group sibling functions, and a
//! [`TenantRule`] for platforms that pack the tenant into that label with other parts
//! (`<deploy-id>--<site>.netlify.app`).
//!
//! # Matching
//! [`Catalogue::lookup`] copies the name to a stack buffer (ASCII-lowercased) and splits it into
//! labels, then looks up its last 2, 3, ... labels (longest first) in a hash map keyed by each
//! pattern's fixed suffix, and checks the wildcard labels of the few patterns found. No regex,
//! no heap allocation per lookup. Among patterns that match, the one with the longest fixed
//! suffix wins, then the one with more literal labels, then a bounded one over a `**` one.

mod pattern;
mod tenant;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

pub use pattern::{Pattern, PatternError};
pub use tenant::TenantRule;

use crate::de::deserialize_all;
use crate::error::Problems;
use crate::path::KeyPath;
use crate::raw::{RawCatalogue, RawCatalogueEntry};
use crate::source::Source;
use pattern::{Label, Name};

/// The embedded default catalogue.
const BUILTIN: &str = include_str!("catalogue/builtin.toml");

/// How strongly a platform is associated with C2 fronting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// Tier 1: function/edge platforms seen fronting C2.
    One,
    /// Tier 2: edge/PaaS hosts usable as redirectors or relays.
    Two,
    /// Tier 3: lower prevalence.
    Three,
}

impl Tier {
    /// The tier number, 1 to 3.
    pub fn number(self) -> u8 {
        match self {
            Tier::One => 1,
            Tier::Two => 2,
            Tier::Three => 3,
        }
    }

    /// The tier with number `n`, if 1 to 3.
    pub fn from_number(n: u64) -> Option<Self> {
        match n {
            1 => Some(Tier::One),
            2 => Some(Tier::Two),
            3 => Some(Tier::Three),
            _ => None,
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.number())
    }
}

/// A serverless or edge platform. Cheap to clone (shared strings): a sensor
/// attaches it to every record of a flow to a catalogued name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    id: Arc<str>,
    name: Arc<str>,
    tier: Tier,
}

impl Platform {
    /// Stable snake_case id, e.g. `cloudflare_workers` (for EVE fields and `[catalogue]`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Human-readable name for alert signatures, e.g. `Cloudflare Workers`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The platform's tier.
    pub fn tier(&self) -> Tier {
        self.tier
    }
}

/// One catalogue entry: a pattern of a platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    platform: usize,
    pattern: Pattern,
    account_label: Option<u8>,
    tenant: TenantRule,
}

impl Entry {
    /// The name pattern.
    pub fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    /// Position of the account label counted from the right of the name (1 = top-level label).
    pub fn account_label(&self) -> Option<u8> {
        self.account_label
    }

    /// How the tenant is cut out of the account label.
    pub fn tenant_rule(&self) -> TenantRule {
        self.tenant
    }
}

/// Result of a successful [`Catalogue::lookup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match<'c, 'n> {
    /// The platform the name belongs to.
    pub platform: &'c Platform,
    /// The account (tenant) as written in the looked-up name (a slice of it): the account
    /// label, e.g. `acme` for `relay.acme.workers.dev`, or the part of it the entry's
    /// [`TenantRule`] cuts out, e.g. `mysite` for `5f8e1a--mysite.netlify.app`; `None` when
    /// the entry has no account label.
    pub account: Option<&'n str>,
    /// The whole label that holds the account (a slice of the looked-up name); equal to
    /// `account` unless a tenant rule cut it.
    pub account_label: Option<&'n str>,
    /// The platform's tier (same as `platform.tier()`).
    pub tier: Tier,
    /// The pattern that matched.
    pub pattern: &'c Pattern,
}

/// Fixed suffix → entry indexes. Every DNS name, SNI and Host a sensor sees
/// is looked up here, a few suffixes each: foldhash instead of the default
/// SipHash (no key here is chosen by the traffic: the keys are the
/// catalogue's own suffixes, the traffic only probes them).
type SuffixIndex = HashMap<Box<str>, Vec<usize>, foldhash::fast::RandomState>;

/// The validated, indexed serverless catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalogue {
    platforms: Vec<Platform>,
    entries: Vec<Entry>,
    /// Fixed suffix → entry indexes, most specific first.
    index: SuffixIndex,
    /// Most labels in any fixed suffix.
    max_fixed_labels: usize,
}

impl Default for Catalogue {
    /// The built-in catalogue.
    fn default() -> Self {
        Self::builtin()
    }
}

impl Catalogue {
    /// The embedded default catalogue, unchanged.
    pub fn builtin() -> Self {
        let mut problems = Problems::default();
        let builder = Builder::builtin(&mut problems);
        // The embedded list is checked by a unit test; should it ever hold a bad entry, that
        // entry is skipped rather than taking the sensor down.
        debug_assert!(
            problems.is_empty(),
            "built-in catalogue: {:?}",
            problems.into_vec()
        );
        builder.build()
    }

    /// The catalogue with no entries (matches nothing).
    pub fn empty() -> Self {
        Builder::default().build()
    }

    /// The platform and account a DNS name (SNI, QNAME, Host) belongs to, if any.
    ///
    /// ASCII case-insensitive; one trailing dot is ignored. Names that are empty, longer than 253
    /// bytes, hold an empty label (`a..workers.dev`) or a label over 63 bytes, or hold any
    /// non-ASCII byte (IDNs travel as `xn--` A-labels) never match. Does not allocate.
    pub fn lookup<'c, 'n>(&'c self, name: &'n str) -> Option<Match<'c, 'n>> {
        let name = Name::parse(name)?;
        let lower = name.lower_str()?;
        let longest = self.max_fixed_labels.min(name.count());
        for k in (2..=longest).rev() {
            let Some(bucket) = name
                .suffix_start(k)
                .and_then(|s| lower.get(s..))
                .and_then(|s| self.index.get(s))
            else {
                continue;
            };
            for &i in bucket {
                let Some(entry) = self.entries.get(i) else {
                    continue;
                };
                if !entry.pattern.matches_name(&name) {
                    continue;
                }
                let platform = self.platforms.get(entry.platform)?;
                let account_label = entry
                    .account_label
                    .and_then(|pos| name.original_label(usize::from(pos).checked_sub(1)?));
                return Some(Match {
                    platform,
                    account: account_label.map(|l| entry.tenant.tenant(l)),
                    account_label,
                    tier: platform.tier,
                    pattern: &entry.pattern,
                });
            }
        }
        None
    }

    /// The platform and account of a CNAME target met in a DNS answer, when
    /// it makes the queried name serverless: as [`Catalogue::lookup`], but
    /// only platforms of tier 1 or 2.
    ///
    /// Tier 3 holds generic hosting (VM DNS labels, CDNs, PaaS default
    /// names) where vendors put their own services behind their own names:
    /// every Windows host resolves `settings-win.data.microsoft.com` through
    /// a Traffic Manager name to `*.cloudapp.azure.com`. A name a client
    /// asks for is on a tier-3 platform only when it is the platform's own
    /// name ([`Catalogue::lookup`] of the name itself).
    pub fn lookup_cname_target<'c, 'n>(&'c self, name: &'n str) -> Option<Match<'c, 'n>> {
        self.lookup(name).filter(|m| m.tier != Tier::Three)
    }

    /// The platforms, in catalogue order.
    pub fn platforms(&self) -> &[Platform] {
        &self.platforms
    }

    /// The platform with this id.
    pub fn platform(&self, id: &str) -> Option<&Platform> {
        self.platforms.iter().find(|p| &*p.id == id)
    }

    /// The entries, in catalogue order, each with its platform.
    pub fn entries(&self) -> impl Iterator<Item = (&Platform, &Entry)> {
        self.entries
            .iter()
            .filter_map(|e| self.platforms.get(e.platform).map(|p| (p, e)))
    }

    /// Number of entries (patterns).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The built-in catalogue changed by a `[catalogue]` section: `remove` first, then `add`.
    /// Problems are recorded under `path` (`catalogue`); bad entries are left out.
    pub(crate) fn from_raw(raw: &RawCatalogue, path: &KeyPath, problems: &mut Problems) -> Self {
        let mut builtin_problems = Problems::default();
        let mut builder = Builder::builtin(&mut builtin_problems);
        debug_assert!(builtin_problems.is_empty());
        let remove_path = path.key("remove");
        for (i, what) in raw.remove.iter().enumerate() {
            if !builder.remove(what) {
                problems.push(
                    remove_path.index(i),
                    format!("`{what}` is neither a platform id nor a pattern of the catalogue"),
                );
            }
        }
        let add_path = path.key("add");
        for (i, entry) in raw.add.iter().enumerate() {
            builder.add(entry, &add_path.index(i), problems);
        }
        builder.build()
    }
}

/// A platform and pattern before indexing.
#[derive(Debug, Default)]
struct Builder {
    platforms: Vec<Platform>,
    entries: Vec<Entry>,
}

/// The shape of `catalogue/builtin.toml`.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
struct BuiltinFile {
    entry: Vec<RawCatalogueEntry>,
}

impl Builder {
    fn builtin(problems: &mut Problems) -> Self {
        let mut builder = Builder::default();
        let Ok(source) = Source::parse(BUILTIN) else {
            problems.push(KeyPath::root(), "built-in catalogue: TOML syntax error");
            return builder;
        };
        let outcome = deserialize_all::<BuiltinFile>(source.root(), source.lines());
        for p in outcome.problems {
            problems.push(p.path, p.reason);
        }
        let entries = outcome.value.unwrap_or_default().entry;
        let path = KeyPath::keys("entry");
        for (i, entry) in entries.iter().enumerate() {
            builder.add(entry, &path.index(i), problems);
        }
        builder
    }

    /// Removes every entry of platform id `what`, or the entry with pattern `what`; returns
    /// whether anything was removed. Platforms left without entries are dropped at build.
    fn remove(&mut self, what: &str) -> bool {
        let before = self.entries.len();
        let wanted = what.strip_suffix('.').unwrap_or(what).to_ascii_lowercase();
        let platforms = &self.platforms;
        self.entries.retain(|e| {
            let id = platforms.get(e.platform).map(|p| &*p.id);
            id != Some(wanted.as_str()) && e.pattern.as_str() != wanted
        });
        self.entries.len() != before
    }

    /// Validates `raw` and adds it; records problems under `path` and skips a bad entry.
    fn add(&mut self, raw: &RawCatalogueEntry, path: &KeyPath, problems: &mut Problems) {
        let mut ok = true;
        let mut required = |key: &str, present: bool, problems: &mut Problems| {
            if !present {
                problems.push(path.key(key), "missing; this key is required");
                ok = false;
            }
        };
        required("id", raw.id.is_some(), problems);
        required("name", raw.name.is_some(), problems);
        required("tier", raw.tier.is_some(), problems);
        required("pattern", raw.pattern.is_some(), problems);

        let id = raw.id.as_deref().unwrap_or_default();
        if raw.id.is_some() && !is_snake_case_id(id) {
            problems.push(
                path.key("id"),
                "must be snake_case: lowercase ASCII letters, digits and `_`, starting with a letter",
            );
            ok = false;
        }
        let name = raw.name.as_deref().unwrap_or_default().trim();
        if raw.name.is_some() && name.is_empty() {
            problems.push(path.key("name"), "must not be empty");
            ok = false;
        }
        let tier = raw.tier.and_then(Tier::from_number);
        if let (Some(n), None) = (raw.tier, tier) {
            problems.push(
                path.key("tier"),
                format!("{n} is not a tier; expected 1, 2 or 3"),
            );
            ok = false;
        }
        let pattern = match raw.pattern.as_deref().map(Pattern::parse) {
            Some(Ok(p)) => Some(p),
            Some(Err(e)) => {
                problems.push(path.key("pattern"), e.to_string());
                ok = false;
                None
            }
            None => None,
        };
        let account_label = match (&pattern, raw.account_label) {
            (Some(p), Some(pos)) => match check_account_label(p, pos) {
                Ok(pos) => Some(pos),
                Err(reason) => {
                    problems.push(path.key("account_label"), reason);
                    ok = false;
                    None
                }
            },
            _ => None,
        };
        let tenant = match raw.tenant.as_deref().map(str::parse::<TenantRule>) {
            None => TenantRule::Label,
            Some(Ok(rule)) if raw.account_label.is_some() => rule,
            Some(Ok(_)) => {
                problems.push(
                    path.key("tenant"),
                    "a tenant rule needs `account_label`, the label it cuts the tenant from",
                );
                ok = false;
                TenantRule::Label
            }
            Some(Err(reason)) => {
                problems.push(path.key("tenant"), reason);
                ok = false;
                TenantRule::Label
            }
        };
        let (Some(pattern), Some(tier), true) = (pattern, tier, ok) else {
            return;
        };

        if let Some(e) = self.entries.iter().find(|e| e.pattern == pattern) {
            let owner = self
                .platforms
                .get(e.platform)
                .map(|p| p.id())
                .unwrap_or_default();
            problems.push(
                path.key("pattern"),
                format!(
                    "`{pattern}` is already in the catalogue (platform `{owner}`); remove it first"
                ),
            );
            return;
        }
        let platform = match self.platforms.iter().position(|p| &*p.id == id) {
            // A platform whose entries were all removed is redefined by the new entry.
            Some(i) if !self.entries.iter().any(|e| e.platform == i) => {
                if let Some(existing) = self.platforms.get_mut(i) {
                    existing.name = name.into();
                    existing.tier = tier;
                }
                i
            }
            Some(i) => {
                let Some(existing) = self.platforms.get(i) else {
                    return;
                };
                if &*existing.name != name {
                    problems.push(
                        path.key("name"),
                        format!(
                            "platform `{id}` is already named `{}`; repeat that name to add a \
                             pattern to it, or pick another id",
                            existing.name
                        ),
                    );
                    return;
                }
                if existing.tier != tier {
                    problems.push(
                        path.key("tier"),
                        format!(
                            "platform `{id}` is already tier {}; repeat that tier to add a \
                             pattern to it, or pick another id",
                            existing.tier
                        ),
                    );
                    return;
                }
                i
            }
            None => {
                self.platforms.push(Platform {
                    id: id.into(),
                    name: name.into(),
                    tier,
                });
                self.platforms.len() - 1
            }
        };
        self.entries.push(Entry {
            platform,
            pattern,
            account_label,
            tenant,
        });
    }

    /// Drops platforms without entries and builds the suffix index.
    fn build(self) -> Catalogue {
        let mut platforms = Vec::new();
        let mut remap: Vec<Option<usize>> = vec![None; self.platforms.len()];
        let mut entries = Vec::with_capacity(self.entries.len());
        for mut entry in self.entries {
            let Some(slot) = remap.get_mut(entry.platform) else {
                continue;
            };
            let new = match *slot {
                Some(n) => n,
                None => {
                    let Some(p) = self.platforms.get(entry.platform) else {
                        continue;
                    };
                    platforms.push(p.clone());
                    *slot = Some(platforms.len() - 1);
                    platforms.len() - 1
                }
            };
            entry.platform = new;
            entries.push(entry);
        }
        let mut index = SuffixIndex::default();
        for (i, e) in entries.iter().enumerate() {
            index
                .entry(e.pattern.fixed_suffix().into())
                .or_default()
                .push(i);
        }
        for bucket in index.values_mut() {
            // Stable: equally specific patterns keep catalogue order.
            bucket.sort_by_key(|&i| entries.get(i).map(|e| e.pattern.specificity()));
        }
        let max_fixed_labels = entries
            .iter()
            .map(|e| e.pattern.fixed_labels())
            .max()
            .unwrap_or(0);
        Catalogue {
            platforms,
            entries,
            index,
            max_fixed_labels,
        }
    }
}

/// `[a-z][a-z0-9_]*`.
fn is_snake_case_id(id: &str) -> bool {
    let mut bytes = id.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// The account label must exist in every matching name and be a wildcard.
fn check_account_label(pattern: &Pattern, pos: u64) -> Result<u8, String> {
    let index = usize::try_from(pos)
        .ok()
        .and_then(|p| p.checked_sub(1))
        .filter(|&i| i < pattern.min_labels());
    let Some(index) = index else {
        return Err(format!(
            "{pos} is out of range; expected 1 to {} (positions count from the right, 1 = \
             top-level label)",
            pattern.min_labels()
        ));
    };
    match pattern.label_from_right(index) {
        Some(Label::One | Label::AnyDepth) => u8::try_from(pos).map_err(|e| e.to_string()),
        _ => Err(format!(
            "position {pos} (counted from the right) is a fixed label of `{pattern}`; it must \
             point at a `*` or `**` label"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'c, 'n>(c: &'c Catalogue, name: &'n str) -> Option<(&'c str, Option<&'n str>)> {
        c.lookup(name).map(|m| (m.platform.id(), m.account))
    }

    #[test]
    fn builtin_is_clean() {
        let mut problems = Problems::default();
        let b = Builder::builtin(&mut problems);
        assert!(problems.is_empty(), "{:?}", problems.into_vec());
        let c = b.build();
        assert!(c.len() >= 50, "{}", c.len());
        for id in [
            "cloudflare_workers",
            "cloudflare_pages",
            "cloudflare_tunnel",
            "aws_lambda_url",
            "aws_api_gateway",
            "gcp_cloud_functions",
            "gcp_cloud_run",
            "google_apps_script",
            "azure_functions",
            "azure_api_management",
            "azure_container_apps",
            "azure_static_web_apps",
            "aws_cloudfront",
            "netlify",
            "ngrok",
            "tencent_api_gateway",
            "ibm_code_engine",
        ] {
            assert!(c.platform(id).is_some(), "{id} missing");
        }
        assert_eq!(
            c.platform("cloudflare_workers").map(|p| p.name()),
            Some("Cloudflare Workers")
        );
        assert_eq!(
            c.platform("aws_lambda_url").map(|p| p.name()),
            Some("AWS Lambda function URL")
        );
        assert_eq!(c.platform("vercel").map(|p| p.tier()), Some(Tier::Two));
        assert_eq!(c.platform("koyeb").map(|p| p.tier()), Some(Tier::Three));
        assert_eq!(Catalogue::default(), c);
    }

    #[test]
    fn examples_of_the_first_catalogue() {
        let c = Catalogue::builtin();
        let cases = [
            (
                "relay.acme-dev.workers.dev",
                "cloudflare_workers",
                Some("acme-dev"),
            ),
            (
                "3f2a9c1d.myproj.pages.dev",
                "cloudflare_pages",
                Some("myproj"),
            ),
            ("myproj.pages.dev", "cloudflare_pages", Some("myproj")),
            (
                "oklahoma-solo-younger-truck.trycloudflare.com",
                "cloudflare_tunnel",
                None,
            ),
            (
                "abcd1234efgh5678ijkl9012mnop3456.lambda-url.us-east-1.on.aws",
                "aws_lambda_url",
                Some("abcd1234efgh5678ijkl9012mnop3456"),
            ),
            (
                "fc01np5u7i.execute-api.us-east-1.amazonaws.com",
                "aws_api_gateway",
                Some("fc01np5u7i"),
            ),
            (
                "us-central1-myproj-123.cloudfunctions.net",
                "gcp_cloud_functions",
                Some("us-central1-myproj-123"),
            ),
            (
                "api-123456789012.us-central1.run.app",
                "gcp_cloud_run",
                Some("123456789012"),
            ),
            (
                "api-abc123xyz9-uc.a.run.app",
                "gcp_cloud_run",
                Some("abc123xyz9"),
            ),
            ("script.google.com", "google_apps_script", None),
            ("script.googleusercontent.com", "google_apps_script", None),
            ("myapp.azurewebsites.net", "azure_functions", Some("myapp")),
            (
                "myapp-ds27dh7271aah175.westus-01.azurewebsites.net",
                "azure_functions",
                Some("myapp-ds27dh7271aah175"),
            ),
            (
                "myapp.scm.azurewebsites.net",
                "azure_functions",
                Some("myapp"),
            ),
            (
                "contoso-apim.azure-api.net",
                "azure_api_management",
                Some("contoso-apim"),
            ),
            (
                "relay.kindwave-1a2b3c4d.eastus.azurecontainerapps.io",
                "azure_container_apps",
                Some("kindwave-1a2b3c4d"),
            ),
            (
                "gentle-river-0a1b2c3d4.5.azurestaticapps.net",
                "azure_static_web_apps",
                Some("gentle-river-0a1b2c3d4"),
            ),
        ];
        for (name, id, account) in cases {
            assert_eq!(lookup(&c, name), Some((id, account)), "{name}");
        }
        let m = c.lookup("relay.acme.workers.dev").unwrap();
        assert_eq!(m.tier, Tier::One);
        assert_eq!(m.pattern.as_str(), "*.*.workers.dev");
    }

    #[test]
    fn cname_targets_count_through_tiers_one_and_two_only() {
        let c = Catalogue::builtin();
        let vm = "settings-prod-neu-2.northeurope.cloudapp.azure.com";
        assert_eq!(c.lookup(vm).unwrap().platform.id(), "azure_vm_dns");
        assert!(c.lookup_cname_target(vm).is_none());
        for name in ["relay.acme.workers.dev", "fn-x.azurewebsites.net"] {
            let direct = c.lookup(name).unwrap();
            let target = c.lookup_cname_target(name).unwrap();
            assert!(direct.tier != Tier::Three, "{name}");
            assert_eq!(direct.platform.id(), target.platform.id(), "{name}");
        }
    }

    #[test]
    fn tier_two_three_examples() {
        let c = Catalogue::builtin();
        let cases = [
            ("d111111abcdef8.cloudfront.net", "aws_cloudfront"),
            ("abcd1234ef.us-east-1.awsapprunner.com", "aws_app_runner"),
            ("gw1-abcd1234.uc.gateway.dev", "gcp_api_gateway"),
            ("myproj.uc.r.appspot.com", "gcp_app_engine"),
            ("myproj.appspot.com", "gcp_app_engine"),
            ("myproj.web.app", "firebase_hosting"),
            ("relay-abcdefgh12345678.z01.azurefd.net", "azure_front_door"),
            ("api-7f3k2j9xq-acme.vercel.app", "vercel"),
            ("deploy-preview-3--mysite.netlify.app", "netlify"),
            ("relay-x7k2m9.deno.dev", "deno_deploy"),
            ("abcdefghijklmnopqrst.supabase.co", "supabase"),
            ("relay-nrt.fly.dev", "fly_io"),
            ("relay-x1y2.onrender.com", "render"),
            ("relay-1a2b3c4d5e6f.herokuapp.com", "heroku"),
            ("1a2b-203-0-113-5.ngrok-free.app", "ngrok"),
            ("abc.ngrok.io", "ngrok"),
            ("x.up.railway.app", "railway"),
            (
                "faas-fra1-afec6ce7.doserverless.co",
                "digitalocean_functions",
            ),
            ("abc-00-xyz.kirk.replit.dev", "replit"),
            ("x.web.val.run", "val_town"),
            (
                "relay-abcde12345.cn-hangzhou.fcapp.run",
                "alibaba_function_compute",
            ),
            (
                "service-abc-1250000000.gz.apigw.tencentcs.com",
                "tencent_api_gateway",
            ),
            (
                "gw.apigateway.us-ashburn-1.oci.customer-oci.com",
                "oracle_api_gateway",
            ),
            (
                "app.proj.us-south.codeengine.appdomain.cloud",
                "ibm_code_engine",
            ),
        ];
        for (name, id) in cases {
            assert_eq!(c.lookup(name).map(|m| m.platform.id()), Some(id), "{name}");
        }
    }

    #[test]
    fn case_trailing_dot_and_account_slice_of_input() {
        let c = Catalogue::builtin();
        let input = "Relay.ACME-Dev.Workers.DEV.";
        let m = c.lookup(input).unwrap();
        assert_eq!(m.platform.id(), "cloudflare_workers");
        assert_eq!(m.account, Some("ACME-Dev"));
        // The account borrows from the input, not from a copy.
        let acct = m.account.unwrap();
        let base = input.as_ptr() as usize;
        assert_eq!(acct.as_ptr() as usize - base, 6);
    }

    #[test]
    fn look_alikes_and_malformed_names_do_not_match() {
        let c = Catalogue::builtin();
        for name in [
            "workers.dev",
            "acme.workers.dev",
            "relay.acme.workers.dev.evil.com",
            "relay.evilworkers.dev",
            "evilworkers.dev",
            "relay.acme.workers.dev.",
            "a..workers.dev",
            "relay.acme.workers.dev..",
            ".relay.acme.workers.dev",
            "",
            ".",
            "script.google.com.evil.com",
            "x.script.google.com",
            "myproj.cloudfunctions.net.attacker.org",
            "abc.lambda-url.us-east-1.amazonaws.com",
            "abc.execute-api.us-east-1.on.aws",
            // Non-ASCII look-alikes of ASCII suffixes (Cyrillic `е`, fullwidth letters).
            "relay.acme.workers.dеv",
            "relay.acme.ｗｏｒｋｅｒｓ.dev",
            // Raw UTF-8 in a wildcard label: names travel as punycode.
            "relay.ａcme.workers.dev",
        ] {
            let found = c.lookup(name).filter(|_| name != "relay.acme.workers.dev.");
            assert!(found.is_none(), "{name:?} matched {found:?}");
        }
        assert!(c.lookup("relay.acme.workers.dev.").is_some());
        // Punycode labels are ordinary labels.
        assert_eq!(
            lookup(&c, "xn--80ak6aa92e.xn--bcher-kva.workers.dev"),
            Some(("cloudflare_workers", Some("xn--bcher-kva")))
        );
        let long = format!("{}.acme.workers.dev", "a".repeat(64));
        assert!(c.lookup(&long).is_none());
    }

    #[test]
    fn most_specific_wins() {
        let raw = RawCatalogue {
            add: vec![
                entry("deep", "Deep", 3, "**.example.com", None),
                entry("two", "Two", 2, "*.*.example.com", Some(3)),
                entry("api", "Api", 1, "*.api.example.com", Some(4)),
            ],
            remove: vec![],
        };
        let mut p = Problems::default();
        let c = Catalogue::from_raw(&raw, &KeyPath::keys("catalogue"), &mut p);
        assert!(p.is_empty(), "{:?}", p.into_vec());
        assert_eq!(lookup(&c, "x.api.example.com"), Some(("api", Some("x"))));
        assert_eq!(lookup(&c, "x.y.example.com"), Some(("two", Some("y"))));
        assert_eq!(lookup(&c, "x.example.com"), Some(("deep", None)));
        assert_eq!(lookup(&c, "a.b.c.example.com"), Some(("deep", None)));
        assert_eq!(lookup(&c, "example.com"), None);
    }

    fn entry(
        id: &str,
        name: &str,
        tier: u64,
        pattern: &str,
        acct: Option<u64>,
    ) -> RawCatalogueEntry {
        RawCatalogueEntry {
            id: Some(id.into()),
            name: Some(name.into()),
            tier: Some(tier),
            pattern: Some(pattern.into()),
            account_label: acct,
            tenant: None,
        }
    }

    #[test]
    fn add_and_remove() {
        let raw = RawCatalogue {
            add: vec![
                entry("example_edge", "Example Edge", 2, "*.edge.example", Some(3)),
                entry("ngrok", "ngrok", 2, "*.ngrok.pizza", Some(3)),
            ],
            remove: vec!["google_apps_script".into(), "*.NGROK.io.".into()],
        };
        let mut p = Problems::default();
        let c = Catalogue::from_raw(&raw, &KeyPath::keys("catalogue"), &mut p);
        assert!(p.is_empty(), "{:?}", p.into_vec());
        assert!(c.lookup("script.google.com").is_none());
        assert!(c.platform("google_apps_script").is_none());
        assert!(c.lookup("abc.ngrok.io").is_none());
        assert_eq!(lookup(&c, "abc.ngrok.app"), Some(("ngrok", Some("abc"))));
        assert_eq!(lookup(&c, "abc.ngrok.pizza"), Some(("ngrok", Some("abc"))));
        assert_eq!(
            lookup(&c, "a.edge.example"),
            Some(("example_edge", Some("a")))
        );
        assert_eq!(c.len(), Catalogue::builtin().len() - 3 + 2);
    }

    #[test]
    fn add_and_remove_problems() {
        let raw = RawCatalogue {
            add: vec![
                RawCatalogueEntry::default(),
                entry("Bad-Id", "", 4, "*.com", Some(1)),
                entry("x", "X", 1, "*.*.workers.dev", None),
                entry("ngrok", "NGROK", 1, "*.ngrok.pizza", None),
                entry("y", "Y", 1, "*.y.example", Some(2)),
                entry("z", "Z", 1, "*.z.example", Some(9)),
            ],
            remove: vec!["no_such_platform".into(), "*.workers.dev".into()],
        };
        let mut p = Problems::default();
        let c = Catalogue::from_raw(&raw, &KeyPath::keys("catalogue"), &mut p);
        let got: Vec<String> = p
            .into_vec()
            .into_iter()
            .map(|p| p.path.to_string())
            .collect();
        let want = [
            "catalogue.remove[0]",
            "catalogue.remove[1]",
            "catalogue.add[0].id",
            "catalogue.add[0].name",
            "catalogue.add[0].tier",
            "catalogue.add[0].pattern",
            "catalogue.add[1].id",
            "catalogue.add[1].name",
            "catalogue.add[1].tier",
            "catalogue.add[1].pattern",
            "catalogue.add[2].pattern",
            "catalogue.add[3].name",
            "catalogue.add[4].account_label",
            "catalogue.add[5].account_label",
        ];
        assert_eq!(got, want);
        assert_eq!(c.len(), Catalogue::builtin().len());
    }

    #[test]
    fn removed_platform_can_be_redefined() {
        let raw = RawCatalogue {
            add: vec![entry("ngrok", "ngrok tunnels", 1, "*.ngrok.io", Some(3))],
            remove: vec!["ngrok".into()],
        };
        let mut p = Problems::default();
        let c = Catalogue::from_raw(&raw, &KeyPath::keys("catalogue"), &mut p);
        assert!(p.is_empty(), "{:?}", p.into_vec());
        let m = c.lookup("abc.ngrok.io").unwrap();
        assert_eq!((m.platform.name(), m.tier), ("ngrok tunnels", Tier::One));
        assert!(c.lookup("abc.ngrok.app").is_none());
        assert_eq!(
            c.platforms().iter().filter(|p| p.id() == "ngrok").count(),
            1
        );
    }

    #[test]
    fn empty_catalogue_matches_nothing() {
        let c = Catalogue::empty();
        assert!(c.is_empty());
        assert!(c.lookup("relay.acme.workers.dev").is_none());
    }
}
