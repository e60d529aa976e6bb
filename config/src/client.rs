//! The shipped table of known client fingerprints (`client/browser_ja4.toml`, embedded): JA4s of
//! browsers and of known non-browser clients, read through the same TOML path as the
//! configuration, so a problem in it is reported like a configuration error
//! (`browser_ja4.toml:LINE: browser[3].ja4: REASON`).
//!
//! The file holds `[[browser]]` and `[[non_browser]]` tables, each with `ja4` (checked like the
//! `[detect.client] browser_ja4` entries), `client` (what sends it) and `source` (where the value
//! was published or captured). Every key is required; unknown keys are errors.

use std::path::Path;

use serde::Deserialize;

use crate::allowlist::check_ja4;
use crate::de::deserialize_all;
use crate::error::{ConfigErrors, Problem, Problems};
use crate::path::KeyPath;
use crate::source::Source;

/// The embedded table.
const SHIPPED: &str = include_str!("client/browser_ja4.toml");

/// The embedded list of browser program names (see [`is_browser_image`]).
const BROWSER_IMAGES: &str = include_str!("client/browser_images.txt");

/// Whether a process image (a full path as host events give it, `\\` or `/` separated) is a web
/// browser's: its last path component is in the shipped list `client/browser_images.txt`,
/// compared case-insensitively.
pub fn is_browser_image(image: &str) -> bool {
    /// The list's names, read once.
    static NAMES: std::sync::LazyLock<Box<[&'static str]>> = std::sync::LazyLock::new(|| {
        BROWSER_IMAGES
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect()
    });
    let base = image.rsplit(['\\', '/']).next().unwrap_or(image).trim();
    !base.is_empty() && NAMES.iter().any(|l| l.eq_ignore_ascii_case(base))
}

/// Name of the embedded table in error messages.
const SHIPPED_NAME: &str = "browser_ja4.toml";

/// What kind of software a known fingerprint belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KnownClass {
    /// A web browser (a `[[browser]]` entry).
    Browser,
    /// Anything else: tools, libraries, implants (a `[[non_browser]]` entry).
    NonBrowser,
}

/// One fingerprint of the shipped table of known clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownJa4 {
    /// The JA4 fingerprint, e.g. `t13d1516h2_8daaf6152771_02713d6af862`, as written.
    pub ja4: Box<str>,
    /// Browser or not.
    pub class: KnownClass,
    /// What sends it, e.g. `Firefox 147` or `curl 7.88 / OpenSSL 3.0`.
    pub client: Box<str>,
    /// Where the value was published or captured (documentation only).
    pub source: Box<str>,
}

/// The shipped table, parsed and checked: the `[[browser]]` entries in file order, then the
/// `[[non_browser]]` ones. A JA4 may be in both lists (the non-browser entry is meant to win);
/// that is for the user of the table to decide.
///
/// Parses the embedded text on every call; call it once and keep the result.
///
/// # Errors
/// Every problem in the embedded file, named `browser_ja4.toml` (a unit test checks that there
/// are none).
pub fn shipped_ja4() -> Result<Vec<KnownJa4>, ConfigErrors> {
    parse_ja4_table(SHIPPED, Path::new(SHIPPED_NAME))
}

/// The shape of the table file.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawJa4Table {
    browser: Vec<RawKnownJa4>,
    non_browser: Vec<RawKnownJa4>,
}

/// One `[[browser]]` or `[[non_browser]]` table; every key is required.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawKnownJa4 {
    ja4: Option<String>,
    client: Option<String>,
    source: Option<String>,
}

/// Parses and checks a table of known fingerprints; `path` only names the file in messages.
///
/// # Errors
/// Every problem found, as `FILE:LINE: KEY: REASON`. A TOML syntax error is reported alone, with
/// its line.
pub(crate) fn parse_ja4_table(text: &str, path: &Path) -> Result<Vec<KnownJa4>, ConfigErrors> {
    let source =
        Source::parse(text).map_err(|e| ConfigErrors::whole_file(path, e.line, e.message))?;
    let outcome = deserialize_all::<RawJa4Table>(source.root(), source.lines());
    let mut problems = outcome.problems;
    let table = match outcome.value {
        Some(raw) => {
            let mut semantic = Problems::default();
            let mut table = Vec::with_capacity(raw.browser.len() + raw.non_browser.len());
            for (key, class, entries) in [
                ("browser", KnownClass::Browser, &raw.browser),
                ("non_browser", KnownClass::NonBrowser, &raw.non_browser),
            ] {
                let at = KeyPath::keys(key);
                for (i, entry) in entries.iter().enumerate() {
                    if let Some(known) = check_entry(entry, class, &at.index(i), &mut semantic) {
                        table.push(known);
                    }
                }
            }
            // A poisoned key was treated as absent; "missing" about it would only echo the type
            // error already reported.
            let echoes = |p: &Problem| {
                outcome
                    .poisoned
                    .iter()
                    .any(|q| p.path.starts_with(q) || q.starts_with(&p.path))
            };
            problems.extend(semantic.into_vec().into_iter().filter(|p| !echoes(p)));
            Some(table)
        }
        None => None,
    };
    match table {
        Some(table) if problems.is_empty() => Ok(table),
        _ => Err(crate::errors(path, &source, problems)),
    }
}

/// Checks one entry; records problems under `path` and returns `None` for a bad entry.
fn check_entry(
    raw: &RawKnownJa4,
    class: KnownClass,
    path: &KeyPath,
    p: &mut Problems,
) -> Option<KnownJa4> {
    let ja4 = match raw.ja4.as_deref() {
        None => {
            p.push(path.key("ja4"), "missing; this key is required");
            None
        }
        Some(text) => match check_ja4(text) {
            Ok(()) => Some(text),
            Err(reason) => {
                p.push(path.key("ja4"), reason);
                None
            }
        },
    };
    let client = required_text(p, &path.key("client"), raw.client.as_deref());
    let source = required_text(p, &path.key("source"), raw.source.as_deref());
    Some(KnownJa4 {
        ja4: ja4?.into(),
        class,
        client: client?.into(),
        source: source?.into(),
    })
}

/// `value` trimmed, if present, not empty and free of control characters; otherwise a problem is
/// recorded at `path`.
fn required_text<'a>(p: &mut Problems, path: &KeyPath, value: Option<&'a str>) -> Option<&'a str> {
    match value.map(str::trim) {
        None => {
            p.push(path.clone(), "missing; this key is required");
            None
        }
        Some("") => {
            p.push(path.clone(), "must not be empty");
            None
        }
        Some(v) if v.chars().any(char::is_control) => {
            p.push(path.clone(), "must not contain control characters");
            None
        }
        Some(v) => Some(v),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JA4: &str = "t13d1516h2_8daaf6152771_02713d6af862";

    fn parse(text: &str) -> Result<Vec<KnownJa4>, ConfigErrors> {
        parse_ja4_table(text, Path::new("browser_ja4.toml"))
    }

    /// The one problem of `text`, displayed.
    fn one_error(text: &str) -> String {
        let err = parse(text).unwrap_err();
        assert_eq!(err.len(), 1, "{err}");
        err.to_string()
    }

    /// `n` well-formed `[[browser]]` tables, 5 lines each (blank line included).
    fn browsers(n: usize) -> String {
        (0..n)
            .map(|i| format!("[[browser]]\nja4 = \"{JA4}\"\nclient = \"B{i}\"\nsource = \"s\"\n\n"))
            .collect()
    }

    #[test]
    fn shipped_table_is_clean_and_complete() {
        let table = shipped_ja4().unwrap_or_else(|e| panic!("{e}"));
        // Every `[[browser]]` and `[[non_browser]]` table of the file is an entry.
        let headers = |h: &str| SHIPPED.lines().filter(|l| l.trim() == h).count();
        let browsers = headers("[[browser]]");
        let others = headers("[[non_browser]]");
        assert_eq!((browsers, others), (14, 15));
        assert_eq!(table.len(), browsers + others);
        let count = |c: KnownClass| table.iter().filter(|k| k.class == c).count();
        assert_eq!(count(KnownClass::Browser), browsers);
        assert_eq!(count(KnownClass::NonBrowser), others);
        // Browser entries first, in file order.
        assert_eq!(&*table[0].ja4, JA4);
        assert_eq!(table[0].class, KnownClass::Browser);
        let firefox = table
            .iter()
            .find(|k| &*k.ja4 == "t13d1717h2_5b57614c22b0_3cbfd9057e0d")
            .unwrap();
        assert_eq!(
            (firefox.class, &*firefox.client),
            (KnownClass::Browser, "Firefox 147")
        );
        let sliver = table
            .iter()
            .find(|k| &*k.ja4 == "t13d190900_9dc949149365_97f8aa674fd9")
            .unwrap();
        assert_eq!(sliver.class, KnownClass::NonBrowser);
        assert!(table.iter().all(|k| !k.source.is_empty()));
    }

    #[test]
    fn both_lists_parse_in_order() {
        let text = format!(
            "# comment\n[[non_browser]]\nja4 = \"t13d190900_9dc949149365_97f8aa674fd9\"\n\
             client = \"Sliver\"\nsource = \"lab\"\n\n{}",
            browsers(2)
        );
        let table = parse(&text).unwrap();
        let got: Vec<(KnownClass, &str)> = table.iter().map(|k| (k.class, &*k.client)).collect();
        assert_eq!(
            got,
            [
                (KnownClass::Browser, "B0"),
                (KnownClass::Browser, "B1"),
                (KnownClass::NonBrowser, "Sliver"),
            ]
        );
        assert_eq!(&*table[2].source, "lab");
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn bad_ja4_names_file_line_key() {
        let text = format!(
            "{}[[browser]]\nja4 = \"t13d1516h2_8daaf6152771\"\nclient = \"x\"\nsource = \"y\"\n",
            browsers(3)
        );
        assert_eq!(
            one_error(&text),
            "browser_ja4.toml:17: browser[3].ja4: `t13d1516h2_8daaf6152771` is not a JA4 \
             fingerprint (like `t13d1516h2_8daaf6152771_02713d6af862`)"
        );
    }

    #[test]
    fn unknown_key_names_file_line_key() {
        let text = format!(
            "{}[[non_browser]]\nja4 = \"{JA4}\"\nclient = \"x\"\nsource = \"y\"\nnote = \"z\"\n",
            browsers(1)
        );
        assert_eq!(
            one_error(&text),
            "browser_ja4.toml:10: non_browser[0].note: unknown key; expected one of: ja4, client, \
             source"
        );
        assert_eq!(
            one_error("[[browsers]]\nja4 = 'x'\n"),
            "browser_ja4.toml:1: browsers: unknown key; expected one of: browser, non_browser"
        );
    }

    #[test]
    fn syntax_error_names_file_and_line() {
        let text = format!("{}[[browser]]\nja4 = = \"{JA4}\"\n", browsers(2));
        let shown = one_error(&text);
        assert!(
            shown.starts_with("browser_ja4.toml:12: TOML syntax error"),
            "{shown}"
        );
        assert!(!shown.contains('\n'));
    }

    #[test]
    fn missing_empty_and_mistyped_values() {
        let text = "[[browser]]\nja4 = 5\nclient = 'c'\nsource = 's'\n\
                    [[browser]]\nclient = ''\nsource = 's'\n";
        let err = parse(text).unwrap_err();
        let got: Vec<(Option<u32>, &str)> = err.iter().map(|e| (e.line(), e.key())).collect();
        assert_eq!(
            got,
            [
                (Some(2), "browser[0].ja4"),
                (Some(5), "browser[1].ja4"),
                (Some(6), "browser[1].client"),
            ],
            "{err}"
        );
        assert!(
            err.errors()[0].reason().contains("expected a string"),
            "{err}"
        );
        assert_eq!(err.errors()[1].reason(), "missing; this key is required");
        assert_eq!(err.errors()[2].reason(), "must not be empty");
    }

    #[test]
    fn browser_images_by_program_name() {
        for b in [
            r"C:\Program Files\Google\Chrome\Application\chrome.exe",
            r"C:\Program Files (x86)\Microsoft\Edge\Application\MSEDGE.EXE",
            "/usr/lib/firefox/firefox",
            "/Applications/Safari.app/Contents/MacOS/Safari",
        ] {
            assert!(is_browser_image(b), "{b}");
        }
        for n in [
            r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
            r"C:\Users\a\AppData\Local\Temp\upd.exe",
            r"C:\Jenkins\tools\node.exe",
            r"C:\Program Files (x86)\Microsoft\EdgeWebView\Application\msedgewebview2.exe",
            "/usr/bin/curl",
            "",
            r"C:\chrome.exe\",
        ] {
            assert!(!is_browser_image(n), "{n}");
        }
    }
}
