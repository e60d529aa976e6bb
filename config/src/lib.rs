//! Configuration of the virga sensor: TOML model, loader with complete error reports, and the
//! serverless-platform catalogue.
//!
//! # Loading
//! [`load`] reads a file, [`from_str`] parses text, [`Config::default`] gives every default.
//! A file may hold any subset of the keys; the rest take their documented defaults (see
//! `deploy/virga.toml`, the annotated example, and the docs of [`raw`]). Unknown keys are errors.
//!
//! Loading reports *every* problem at once, not only the first: unknown keys, values of the
//! wrong type, out-of-range values, bad addresses and patterns, cross-field conflicts. Each
//! [`ConfigError`] has file, line, key path (`allowlist[2].client`, 0-based indexes) and reason,
//! and [`ConfigErrors`] displays one per line as `FILE:LINE: KEY: REASON`.
//!
//! ```
//! let config = virga_config::from_str("[capture]\ninterface = \"eth0\"\n", "virga.toml")?;
//! assert_eq!(config.capture.snaplen_bytes, 65535); // default
//!
//! let m = config.catalogue.lookup("relay.ACME.workers.dev.").expect("catalogued");
//! assert_eq!(m.platform.name(), "Cloudflare Workers");
//! assert_eq!(m.account, Some("ACME"));
//!
//! let errors = virga_config::from_str("[flow]\nmax_flows = 0\nidle = 5\n", "virga.toml")
//!     .unwrap_err();
//! assert_eq!(errors.len(), 2);
//! assert!(errors.to_string().starts_with("virga.toml:2: flow.max_flows: 0 is out of range"));
//! # Ok::<(), virga_config::ConfigErrors>(())
//! ```
//!
//! # Layers
//! - [`raw`]: serde structs mirroring the file (`deny_unknown_fields`, defaults, units in key
//!   names: `_secs`, `_ms`, `_bytes`, `_packets`);
//! - [`Config`] and its sections: the validated model, built only through
//!   `TryFrom<RawConfig>` or the loaders;
//! - [`Catalogue`]: serverless name patterns, [`Allowlist`]: never-alert rules;
//! - [`shipped_ja4`]: the shipped table of known client fingerprints ([`KnownJa4`]), read and
//!   checked like a configuration file, its problems reported in the same form.
//!
//! # Limits
//! Files larger than [`MAX_FILE_BYTES`] are refused; at most 200 problems are reported.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod allowlist;
mod catalogue;
mod client;
mod de;
mod error;
mod model;
mod path;
pub mod raw;
mod source;

use std::io::Read;
use std::path::Path;

pub use allowlist::{AllowEntry, Allowlist, ImagePattern, ServerNamePattern};
pub use catalogue::{
    Catalogue, Entry as CatalogueEntry, Match, Pattern, PatternError, Platform, TenantRule, Tier,
};
pub use client::{is_browser_image, shipped_ja4, KnownClass, KnownJa4};
pub use error::{ConfigError, ConfigErrors};
pub use ipnet::IpNet;
pub use model::{
    Attribution, BeaconDetect, BeaconScope, Capture, CaptureMethod, ClientDetect, Config, Detect,
    DnsDetect, EveTarget, Flow, Metrics, Names, Output, Pipeline, Prevalence, QueueFullPolicy,
    RedisMode, RedisOutput, Run,
};

use error::Problem;
use raw::RawConfig;
use source::Source;

/// Largest configuration file accepted, in bytes (1 MiB).
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// Reads and validates the configuration file at `path`.
///
/// # Errors
/// Every problem found (see the crate documentation); an unreadable or oversized file is a
/// single error without line.
pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigErrors> {
    let path = path.as_ref();
    let read = || -> std::io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        std::fs::File::open(path)?
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)?;
        Ok(bytes)
    };
    let bytes =
        read().map_err(|e| ConfigErrors::whole_file(path, None, format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(ConfigErrors::whole_file(
            path,
            None,
            format!("file is larger than {MAX_FILE_BYTES} bytes"),
        ));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let line = e
            .as_bytes()
            .iter()
            .take(offset)
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        ConfigErrors::whole_file(
            path,
            u32::try_from(line).ok(),
            "file is not valid UTF-8".to_owned(),
        )
    })?;
    from_str(&text, path)
}

/// Parses and validates configuration `text`; `path` only names the file in messages.
///
/// # Errors
/// Every problem found (see the crate documentation). A TOML syntax error is reported alone,
/// with its line.
pub fn from_str(text: &str, path: impl AsRef<Path>) -> Result<Config, ConfigErrors> {
    let path = path.as_ref();
    let source =
        Source::parse(text).map_err(|e| ConfigErrors::whole_file(path, e.line, e.message))?;
    let outcome = de::deserialize_all::<RawConfig>(source.root(), source.lines());
    let mut problems = outcome.problems;
    let config = match outcome.value {
        Some(raw) => {
            let (config, semantic) = Config::validate(&raw);
            // A poisoned key fell back to its default; problems about it or its table would
            // only echo the type error already reported.
            let echoes = |p: &Problem| {
                outcome
                    .poisoned
                    .iter()
                    .any(|q| p.path.starts_with(q) || q.starts_with(&p.path))
            };
            problems.extend(semantic.into_iter().filter(|p| !echoes(p)));
            Some(config)
        }
        None => None,
    };
    match config {
        Some(config) if problems.is_empty() => Ok(config),
        _ => Err(errors(path, &source, problems)),
    }
}

/// Attaches file and line to problems.
fn errors(file: &Path, source: &Source<'_>, problems: Vec<Problem>) -> ConfigErrors {
    let list = problems
        .into_iter()
        .map(|p| {
            let line = p.line.or_else(|| source.line_of(&p.path));
            ConfigError::new(file, line, p.path.to_string(), p.reason)
        })
        .collect::<Vec<_>>();
    if list.is_empty() {
        // Unreachable in practice: a failed root deserialization always records a problem.
        return ConfigErrors::whole_file(file, None, "invalid configuration".to_owned());
    }
    ConfigErrors::new(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_text_is_the_default() {
        assert_eq!(from_str("", "x.toml").unwrap(), Config::default());
        assert_eq!(
            from_str("# only a comment\n", "x.toml").unwrap(),
            Config::default()
        );
    }

    #[test]
    fn partial_file_gets_defaults() {
        let c = from_str(
            "[capture]\ninterface = 'eth1'\n[detect.beacon]\nmin_beats = 8\n",
            "p.toml",
        )
        .unwrap();
        assert_eq!(c.capture.interface.as_deref(), Some("eth1"));
        assert_eq!(c.capture.snaplen_bytes, 65_535);
        assert_eq!(c.detect.beacon.min_beats, 8);
        assert_eq!(c.detect.beacon.score_threshold, 0.7);
        assert_eq!(c.flow, Flow::default());
    }

    #[test]
    fn every_problem_with_file_line_key() {
        let text = "\
[capture]
snaplen_bytes = 'big'
typo = 1

[pipeline]
batch_packets = 0

[[allowlist]]
client = '10.0.0.1/8'
reason = 'x'

[[allowlist]]
client = 5
reason = ''

[metrics]
listen = 'nowhere'
";
        let err = from_str(text, "/etc/virga.toml").unwrap_err();
        let shown = err.to_string();
        let want = "\
/etc/virga.toml:2: capture.snaplen_bytes: invalid type: string \"big\", expected a non-negative integer
/etc/virga.toml:3: capture.typo: unknown key; expected one of: interface, snaplen_bytes, buffer_size_bytes, bpf_filter, promiscuous, immediate_mode, live_queue_full, method
/etc/virga.toml:6: pipeline.batch_packets: 0 is out of range; expected 1 to 4096
/etc/virga.toml:9: allowlist[0].client: `10.0.0.1/8` has host bits set; did you mean `10.0.0.0/8`?
/etc/virga.toml:13: allowlist[1].client: invalid type: integer `5`, expected a string
/etc/virga.toml:14: allowlist[1].reason: must not be empty
/etc/virga.toml:17: metrics.listen: `nowhere` is not an address:port (`127.0.0.1:9911`, `[::1]:9911`)";
        assert_eq!(shown, want);
    }

    #[test]
    fn capture_method_names_and_errors() {
        let c = from_str("[capture]\nmethod = 'pcap'\n", "m.toml").unwrap();
        assert_eq!(c.capture.method, CaptureMethod::Pcap);
        assert_eq!(Config::default().capture.method, CaptureMethod::Pcap);
        let af = from_str("[capture]\nmethod = \"af_packet\"\n", "m.toml");
        if cfg!(target_os = "linux") {
            assert_eq!(af.unwrap().capture.method, CaptureMethod::AfPacket);
        } else {
            let err = af.unwrap_err();
            assert_eq!(err.len(), 1);
            assert!(err
                .to_string()
                .starts_with("m.toml:2: capture.method: \"af_packet\" needs Linux"));
        }
        let err = from_str("[capture]\nmethod = 'afpacket'\n", "m.toml").unwrap_err();
        assert_eq!(err.len(), 1, "{err}");
        let shown = err.to_string();
        assert!(shown.starts_with("m.toml:2: capture.method: "), "{shown}");
        assert!(
            shown.contains("afpacket") && shown.contains("af_packet"),
            "{shown}"
        );
    }

    #[test]
    fn type_error_does_not_echo_as_semantic_error() {
        // `client = 5` is poisoned; the entry must not also be reported as matching everything.
        let err = from_str("[[allowlist]]\nclient = 5\nreason = 'r'\n", "a.toml").unwrap_err();
        assert_eq!(err.len(), 1, "{err}");
        assert_eq!(err.errors()[0].key(), "allowlist[0].client");
        assert_eq!(err.errors()[0].line(), Some(2));
    }

    #[test]
    fn syntax_error_has_file_and_line() {
        let err = from_str("[capture]\nsnaplen_bytes = = 1\n", "s.toml").unwrap_err();
        assert_eq!(err.len(), 1);
        let e = &err.errors()[0];
        assert_eq!(e.line(), Some(2));
        assert_eq!(e.key(), "");
        assert!(
            e.to_string().starts_with("s.toml:2: TOML syntax error"),
            "{e}"
        );
        assert!(!e.to_string().contains('\n'));
    }

    /// The `[flow]`, `[detect.client]` and `[detect.prevalence]` keys that
    /// hold the sensor's timeouts and windows, with the given values (and
    /// one extra line in `[detect.prevalence]`).
    fn timeout_keys(tcp_new: u64, quiet: u64, window: u64, names: u64, extra: &str) -> String {
        format!(
            "[flow]\ntcp_new_timeout_secs = {tcp_new}\n\n[detect.client]\nquiet_secs = {quiet}\n\n\
             [detect.prevalence]\nwindow_secs = {window}\nmax_names = {names}\n{extra}"
        )
    }

    #[test]
    fn new_timeout_quiet_and_prevalence_keys() {
        let c = from_str(&timeout_keys(5, 600, 3600, 1000, ""), "k.toml").unwrap();
        assert_eq!(c.flow.tcp_new_timeout, std::time::Duration::from_secs(5));
        assert_eq!(c.detect.client.quiet, std::time::Duration::from_secs(600));
        assert_eq!(
            c.detect.prevalence.window,
            std::time::Duration::from_secs(3600)
        );
        assert_eq!(c.detect.prevalence.max_names.get(), 1000);
        assert_eq!(c.flow.tcp_idle_timeout, Flow::default().tcp_idle_timeout);
        // Out of range at both ends, and an unknown key, each named with
        // file, line and key.
        let text = timeout_keys(0, 2_592_001, 59, 0, "redis = 'x'\n");
        let err = from_str(&text, "/etc/virga.toml").unwrap_err();
        let want = "\
/etc/virga.toml:2: flow.tcp_new_timeout_secs: 0 is out of range; expected 1 to 86400
/etc/virga.toml:5: detect.client.quiet_secs: 2592001 is out of range; expected 0 to 2592000
/etc/virga.toml:8: detect.prevalence.window_secs: 59 is out of range; expected 60 to 2592000
/etc/virga.toml:9: detect.prevalence.max_names: 0 is out of range; expected 1 to 16777216
/etc/virga.toml:10: detect.prevalence.redis: unknown key; expected one of: window_secs, max_names, redis_url";
        assert_eq!(err.to_string(), want);
    }

    #[test]
    fn attribution_keys() {
        let ok = "[attribution]\nsysmon_paths = ['/var/log/sysmon', 'x.json']\nskew_secs = 2\n";
        let c = from_str(ok, "a.toml").unwrap();
        assert_eq!(c.attribution.sysmon_paths.len(), 2);
        assert_eq!(c.attribution.skew, std::time::Duration::from_secs(2));
        assert_eq!(c.attribution.max_events.get(), 262_144);
        let bad = "[attribution]\nsysmon_paths = ['']\nskew_secs = 301\nmax_events = 5\n\
                   [[allowlist]]\nimage = ''\nreason = 'x'\n";
        let err = from_str(bad, "a.toml").unwrap_err();
        let want = "\
a.toml:2: attribution.sysmon_paths[0]: must not be empty
a.toml:3: attribution.skew_secs: 301 is out of range; expected 0 to 300
a.toml:4: attribution.max_events: 5 is out of range; expected 1024 to 16777216
a.toml:6: allowlist[0].image: empty image pattern";
        assert_eq!(err.to_string(), want);
    }

    #[test]
    fn semantic_error_on_default_key_uses_section_line() {
        let err = from_str("\n[names]\nmax_ttl_secs = 10\n", "n.toml").unwrap_err();
        assert_eq!(err.len(), 1);
        assert_eq!(err.errors()[0].key(), "names.min_ttl_secs");
        assert_eq!(err.errors()[0].line(), Some(2));
    }

    #[test]
    fn load_reports_unreadable_file() {
        let err = load("/nonexistent/virga.toml").unwrap_err();
        assert_eq!(err.len(), 1);
        assert!(
            err.to_string()
                .starts_with("/nonexistent/virga.toml: cannot read"),
            "{err}"
        );
        assert_eq!(err.errors()[0].line(), None);
    }

    #[test]
    fn load_refuses_oversized_file() {
        let dir = std::env::temp_dir().join(format!("virga-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("big.toml");
        let body = "# padding\n".repeat(usize::try_from(MAX_FILE_BYTES).unwrap() / 10 + 1);
        std::fs::write(&file, body).unwrap();
        let err = load(&file).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(err.len(), 1);
        assert!(err.to_string().contains("larger than"), "{err}");
    }

    #[test]
    fn load_reports_invalid_utf8_line() {
        let dir = std::env::temp_dir().join(format!("virga-config-utf8-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bad.toml");
        std::fs::write(&file, b"[capture]\ninterface = \"\xff\"\n").unwrap();
        let err = load(&file).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(err.errors()[0].line(), Some(2));
        assert!(err.to_string().contains("UTF-8"), "{err}");
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        let long = "a".repeat(10_000);
        for text in [
            "\u{0}",
            "[[capture]]\n",
            "capture = []\n",
            "capture = [1, 'x', {}]\n",
            "allowlist = 3\n",
            "allowlist = [1, 2]\n",
            "[[allowlist]]\n[[allowlist]]\n",
            "[detect]\nbeacon = 1\nclient = { enabled = 'no' }\n",
            "[detect.beacon]\nscore_threshold = nan\nmin_beats = 1e3\n",
            "[output]\ncommunity_id_seed = -1\n",
            "[capture]\nsnaplen_bytes = 99999999999999999999\n",
            "[catalogue]\nadd = [{}, 1]\nremove = [[]]\n",
            "[catalogue]\nadd = [{ pattern = '**' }]\n",
            &format!("[{long}]\n"),
            &format!("[catalogue]\nremove = ['{long}']\n"),
        ] {
            // Every one is invalid: each is refused with at least one problem, each naming
            // the file, and the report stays bounded.
            let shown: String = text.chars().take(60).collect();
            let errors =
                from_str(text, "h.toml").expect_err(&format!("{shown:?} should be refused"));
            assert!(
                (1..=200).contains(&errors.len()),
                "{shown:?}: {} problems",
                errors.len()
            );
            assert!(
                errors.to_string().lines().all(|l| l.starts_with("h.toml")),
                "{errors}"
            );
        }
    }
}

#[cfg(test)]
mod redis_tests {
    use super::*;

    #[test]
    fn redis_output_and_shared_prevalence() {
        let c = from_str(
            "[output.redis]\nurl = 'redis://u:pw@10.0.0.5:6379/3'\nmode = 'channel'\n\n\
             [detect.prevalence]\nredis_url = 'redis+unix:///run/redis.sock?db=1'\n",
            "r.toml",
        )
        .unwrap();
        let r = c.output.redis.unwrap();
        assert_eq!(r.url, "redis://u:pw@10.0.0.5:6379/3");
        assert_eq!(r.mode, RedisMode::Channel);
        assert_eq!(r.key, "virga");
        assert_eq!(r.stream_maxlen, 100_000);
        assert_eq!(r.batch_lines.get(), 256);
        assert_eq!(
            c.detect.prevalence.redis_url.as_deref(),
            Some("redis+unix:///run/redis.sock?db=1")
        );
        assert!(Config::default().output.redis.is_none());
        assert!(Config::default().detect.prevalence.redis_url.is_none());
    }

    #[test]
    fn bad_redis_urls_are_named_without_their_password() {
        for (url, reason) in [
            (
                "http://pw@h:1",
                "scheme `http` is not one of redis, rediss, redis+unix",
            ),
            ("redis://u:pw@h:1/x", "the path must be a database number"),
            ("redis+unix://", "has no socket path"),
            ("rediss://u:pw@:1", "not a URL"),
            ("nothing", "not a URL"),
        ] {
            let text = format!("[output.redis]\nurl = '{url}'\n");
            let err = from_str(&text, "r.toml").unwrap_err().to_string();
            assert!(err.starts_with("r.toml:2: output.redis.url: "), "{err}");
            assert!(err.contains(reason), "{url}: {err}");
            assert!(!err.contains("pw"), "{err}");
        }
    }
}
