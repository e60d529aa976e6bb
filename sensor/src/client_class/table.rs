//! The table of known JA4 fingerprints: the shipped list (`virga_config::shipped_ja4`)
//! plus the configuration's `[detect.client] browser_ja4` / `non_browser_ja4`.

use std::collections::HashMap;

use virga_config::{ClientDetect, ConfigErrors, KnownClass, KnownJa4};
use virga_parsers::fingerprint::Ja4;

use super::ClientClass;

/// Client name given to fingerprints that come from the configuration.
pub const CONFIGURED: &str = "configured in [detect.client]";

/// Length of a JA4 in bytes.
const JA4_LEN: usize = 36;

/// One known fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableEntry {
    /// Browser or non-browser.
    pub class: ClientClass,
    /// What sends it, e.g. `Firefox 147`, `curl 7.88 / OpenSSL 3.0`.
    pub client: Box<str>,
}

/// Known JA4 fingerprints, browser and non-browser. A non-browser entry wins over a browser
/// entry for the same JA4, whichever list either comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrowserTable {
    entries: HashMap<[u8; JA4_LEN], TableEntry>,
}

impl BrowserTable {
    /// A table with no entries: classification from traits alone.
    pub fn empty() -> Self {
        Self::default()
    }

    /// The shipped table (`virga_config::shipped_ja4`).
    ///
    /// # Errors
    /// The table's problems, reported like configuration errors.
    pub fn shipped() -> Result<Self, ConfigErrors> {
        Ok(Self::from_known(&virga_config::shipped_ja4()?))
    }

    /// A table of the known fingerprints `known`.
    pub fn from_known(known: &[KnownJa4]) -> Self {
        let mut table = Self::default();
        for e in known {
            let class = match e.class {
                KnownClass::Browser => ClientClass::Browser,
                KnownClass::NonBrowser => ClientClass::NonBrowser,
            };
            table.insert(&e.ja4, class, &e.client);
        }
        table
    }

    /// The known fingerprints `known` extended by the configuration's
    /// `browser_ja4` and `non_browser_ja4` (checked when it was loaded).
    pub fn from_config(known: &[KnownJa4], cfg: &ClientDetect) -> Self {
        let mut table = Self::from_known(known);
        for j in &cfg.browser_ja4 {
            table.insert(j, ClientClass::Browser, CONFIGURED);
        }
        for j in &cfg.non_browser_ja4 {
            table.insert(j, ClientClass::NonBrowser, CONFIGURED);
        }
        table
    }

    /// Adds `ja4` as `class`; returns false (and adds nothing) when `ja4` is not 36 bytes. A
    /// browser entry never replaces a non-browser one.
    pub fn insert(&mut self, ja4: &str, class: ClientClass, client: &str) -> bool {
        let Ok(key) = <[u8; JA4_LEN]>::try_from(ja4.as_bytes()) else {
            return false;
        };
        let keep_existing = class == ClientClass::Browser
            && self
                .entries
                .get(&key)
                .is_some_and(|e| e.class == ClientClass::NonBrowser);
        if !keep_existing {
            self.entries.insert(
                key,
                TableEntry {
                    class,
                    client: client.into(),
                },
            );
        }
        true
    }

    /// The entry for `ja4`, if known.
    pub fn lookup(&self, ja4: &Ja4) -> Option<&TableEntry> {
        let key = <[u8; JA4_LEN]>::try_from(ja4.as_str().as_bytes()).ok()?;
        self.entries.get(&key)
    }

    /// The entry for a JA4 given as text, if known.
    pub fn lookup_str(&self, ja4: &str) -> Option<&TableEntry> {
        let key = <[u8; JA4_LEN]>::try_from(ja4.as_bytes()).ok()?;
        self.entries.get(&key)
    }

    /// Number of fingerprints.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the table is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_table_holds_every_entry() {
        let known = virga_config::shipped_ja4().expect("shipped table is valid");
        assert!(known.len() >= 15);
        let table = BrowserTable::shipped().unwrap();
        assert_eq!(table.len(), known.len());
        let ff = table
            .lookup_str("t13d1717h2_5b57614c22b0_3cbfd9057e0d")
            .unwrap();
        assert_eq!(ff.class, ClientClass::Browser);
        assert_eq!(&*ff.client, "Firefox 147");
        let sliver = table
            .lookup_str("t13d190900_9dc949149365_97f8aa674fd9")
            .unwrap();
        assert_eq!(sliver.class, ClientClass::NonBrowser);
    }

    #[test]
    fn configuration_extends_and_non_browser_wins() {
        let cfg = ClientDetect {
            enabled: true,
            browser_ja4: vec![
                "t13d1111h2_000000000000_111111111111".into(),
                "t13d1910h2_9dc949149365_97f8aa674fd9".into(),
            ],
            non_browser_ja4: vec!["t13d1516h2_8daaf6152771_02713d6af862".into()],
            ..ClientDetect::default()
        };
        let t = BrowserTable::from_config(&virga_config::shipped_ja4().unwrap(), &cfg);
        let added = t
            .lookup_str("t13d1111h2_000000000000_111111111111")
            .unwrap();
        assert_eq!(
            (added.class, &*added.client),
            (ClientClass::Browser, CONFIGURED)
        );
        // A configured browser entry does not override a shipped non-browser one...
        assert_eq!(
            t.lookup_str("t13d1910h2_9dc949149365_97f8aa674fd9")
                .unwrap()
                .class,
            ClientClass::NonBrowser
        );
        // ...and a configured non-browser entry overrides a shipped browser one.
        assert_eq!(
            t.lookup_str("t13d1516h2_8daaf6152771_02713d6af862")
                .unwrap()
                .class,
            ClientClass::NonBrowser
        );
        let mut e = BrowserTable::empty();
        assert!(!e.insert("short", ClientClass::Browser, "x"));
        assert!(e.is_empty() && e.lookup_str("").is_none());
    }
}
