//! `deploy/virga.toml` documents every `[detect.client]` and `[detect.dns]` key, and its
//! switchable examples of those sections load.

use std::path::PathBuf;

fn deploy_text() -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/virga.toml");
    std::fs::read_to_string(p).expect("deploy/virga.toml")
}

#[test]
fn deploy_example_documents_client_and_dns_keys() {
    let text = deploy_text();
    for key in [
        "#browser_ja4 = [",
        "#non_browser_ja4 = [",
        "window_secs = 300",
        "randomness_threshold = 0.35",
        "random_names_min = 10",
        "nxdomain_names_min = 10",
        "txt_queries_min = 5",
        "rate_bucket_secs = 10",
        "rate_queries_min = 50",
        "rate_factor = 10.0",
        "new_account_max_tier = 1",
        "max_tracks_per_worker = 16384",
        "max_accounts_per_worker = 65536",
    ] {
        assert!(text.contains(key), "deploy/virga.toml does not set `{key}`");
    }
    // realert_quiet_secs appears in [detect.beacon] too; [detect.dns] must have its own.
    let dns = text
        .split("[detect.dns]")
        .nth(1)
        .expect("a [detect.dns] section");
    assert!(dns.contains("realert_quiet_secs = 3600"));
}

#[test]
fn client_ja4_examples_load() {
    let text = deploy_text();
    let on = text.replacen("#browser_ja4", "browser_ja4", 1).replacen(
        "#non_browser_ja4",
        "non_browser_ja4",
        1,
    );
    let c = virga_config::from_str(&on, "virga.toml (ja4 examples on)")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.detect.client.browser_ja4.len(), 1);
    assert_eq!(
        c.detect.client.non_browser_ja4,
        ["t13d190900_9dc949149365_97f8aa674fd9"]
    );
}
