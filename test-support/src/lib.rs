//! Test-only helpers of the virga workspace: where the shared test data is
//! ([`shared`]), and Suricata's EVE schema with virga's extension
//! ([`eve_schema`]).
//!
//! # The shared folder
//! The tests read real captures, references and schemas from a folder beside the workspace,
//! `../shared` (or the folder `VIRGA_SHARED_DIR` names). [`shared`] is the one place that finds
//! it. On a bare clone the folder may be missing: a test that needs it then passes with a note
//! on stderr. When `VIRGA_REQUIRE_SHARED` is set (to anything but `0` or an empty value) or
//! `CI` is (`.ci/run` sets both), a missing folder, or a missing file in it, is a panic: in CI
//! a test cannot pass without having checked anything.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

pub mod eve_schema;

/// The variable that names the shared folder when it is not `../shared`.
pub const SHARED_DIR_VAR: &str = "VIRGA_SHARED_DIR";
/// The variable that turns a missing shared folder into a failure.
pub const REQUIRE_SHARED_VAR: &str = "VIRGA_REQUIRE_SHARED";

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// Whether a missing shared folder fails the run (`VIRGA_REQUIRE_SHARED`, or `CI`).
pub fn shared_required() -> bool {
    let set = |var: &str| {
        std::env::var_os(var).is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
    };
    set(REQUIRE_SHARED_VAR) || set("CI")
}

/// Where the shared folder would be: `VIRGA_SHARED_DIR`, else `../shared` beside the
/// workspace.
pub fn shared_location() -> PathBuf {
    match std::env::var_os(SHARED_DIR_VAR) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => workspace_root().join("../shared"),
    }
}

/// The shared folder; `None`, with a note on stderr, when it is missing and not required.
///
/// # Panics
/// When it is missing and [`shared_required`].
pub fn shared() -> Option<PathBuf> {
    let dir = shared_location();
    if dir.is_dir() {
        return Some(dir);
    }
    missing(&dir)
}

/// `rel` inside the shared folder (`pcaps/public/zeek/hrr.pcap`); `None`, with a note, when it
/// is missing and not required.
///
/// # Panics
/// When it is missing and [`shared_required`].
pub fn shared_path(rel: &str) -> Option<PathBuf> {
    let p = shared()?.join(rel);
    if p.exists() {
        return Some(p);
    }
    missing(&p)
}

/// Records that `what` of the shared folder is missing: a panic when required, else a note.
///
/// # Panics
/// When [`shared_required`].
pub fn missing<T>(what: &Path) -> Option<T> {
    assert!(
        !shared_required(),
        "{} is missing, and {REQUIRE_SHARED_VAR} or CI is set: the tests that need the shared \
         folder must run here (set {SHARED_DIR_VAR} if it lives elsewhere)",
        what.display()
    );
    eprintln!(
        "note: {} is missing: the part of this test that needs it is skipped",
        what.display()
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_folder_or_says_why_not() {
        let dir = shared_location();
        match shared() {
            Some(p) => assert!(p.is_dir() && p == dir),
            None => assert!(!dir.is_dir() && !shared_required()),
        }
        // A path that is never there: None on a bare clone, a panic where it is required.
        let absent = std::panic::catch_unwind(|| shared_path("no/such/file.pcap"));
        match absent {
            Ok(found) => assert!(found.is_none() && !shared_required()),
            Err(_) => assert!(shared_required()),
        }
    }
}
