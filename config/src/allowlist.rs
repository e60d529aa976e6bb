//! `[[allowlist]]`: traffic that is never alerted on.
//!
//! An entry matches when every field it gives matches: `client` (CIDR), `server_name` (exact or
//! `*.suffix`), `ja4` and `image` (the program that made the connection, known from host events;
//! a case-insensitive glob). Entries are tried in file order and the first match wins; the list is
//! meant to be short (a linear scan, no allocation per call).

use std::net::IpAddr;

use ipnet::IpNet;

use crate::error::Problems;
use crate::path::KeyPath;
use crate::raw::RawAllowEntry;

/// A server name pattern of the allowlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerNamePattern {
    /// This name only (stored lowercase, without trailing dot).
    Exact(String),
    /// Every name strictly below this suffix, at any depth: `*.example.com` matches
    /// `a.example.com` and `a.b.example.com` but not `example.com` (stored lowercase, without the
    /// `*.` and trailing dot).
    Below(String),
}

impl ServerNamePattern {
    /// Parses `name` or `*.suffix`.
    ///
    /// # Errors
    /// A message when the text is empty, non-ASCII, has an empty label, or holds a `*` other than
    /// a leading `*.`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let body = text.strip_suffix('.').unwrap_or(text);
        let (below, name) = match body.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, body),
        };
        if name.is_empty() {
            return Err("empty server name".into());
        }
        if !name.is_ascii() {
            return Err(
                "non-ASCII name; write internationalised labels in punycode (xn--...)".into(),
            );
        }
        if name.contains('*') {
            return Err("only a leading `*.` is allowed (`*.example.com`)".into());
        }
        if name.split('.').any(str::is_empty) {
            return Err("empty label (two dots in a row, or a leading dot)".into());
        }
        if name
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err("whitespace or control character in server name".into());
        }
        let name = name.to_ascii_lowercase();
        Ok(if below {
            Self::Below(name)
        } else {
            Self::Exact(name)
        })
    }

    /// Whether `name` matches: ASCII case-insensitive, one trailing dot ignored.
    pub fn matches(&self, name: &str) -> bool {
        let name = name.strip_suffix('.').unwrap_or(name);
        match self {
            Self::Exact(want) => name.eq_ignore_ascii_case(want),
            Self::Below(suffix) => {
                let Some(cut) = name.len().checked_sub(suffix.len() + 1) else {
                    return false;
                };
                match (name.get(..cut), name.get(cut..cut + 1), name.get(cut + 1..)) {
                    (Some(head), Some("."), Some(tail)) => {
                        !head.is_empty()
                            && !head.ends_with('.')
                            && tail.eq_ignore_ascii_case(suffix)
                    }
                    _ => false,
                }
            }
        }
    }
}

/// A program image pattern of the allowlist: a glob over the whole path, `*` any run of
/// characters (path separators included), `?` one character, compared case-insensitively
/// (Windows paths are), e.g. `*\\jenkins\\*` or `C:\\Program Files\\Zabbix Agent\\*`.
#[derive(Debug, Clone)]
pub struct ImagePattern {
    text: String,
    glob: wildmatch::WildMatch,
}

impl PartialEq for ImagePattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for ImagePattern {}

/// Longest image pattern accepted (Windows paths are at most 32 767 characters; real programs
/// are far shorter).
const MAX_IMAGE_PATTERN: usize = 1024;

impl ImagePattern {
    /// Parses a glob (`wildmatch`: a maintained matcher whose `*` crosses `\\`, as Windows
    /// paths need, where path-aware glob crates stop at separators or read `\\` as an escape).
    ///
    /// # Errors
    /// A message when the text is empty, too long or holds control characters.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Err("empty image pattern".into());
        }
        if text.len() > MAX_IMAGE_PATTERN {
            return Err(format!(
                "image pattern longer than {MAX_IMAGE_PATTERN} bytes"
            ));
        }
        if text.chars().any(char::is_control) {
            return Err("control character in image pattern".into());
        }
        Ok(ImagePattern {
            text: text.to_owned(),
            glob: wildmatch::WildMatch::new_case_insensitive(text),
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `image` (a full program path) matches, case-insensitively.
    pub fn matches(&self, image: &str) -> bool {
        self.glob.matches(image)
    }
}

/// One allowlist entry; at least one of `client`, `server_name`, `ja4`, `image` is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowEntry {
    client: Option<IpNet>,
    server_name: Option<ServerNamePattern>,
    ja4: Option<String>,
    image: Option<ImagePattern>,
    reason: String,
}

impl AllowEntry {
    /// The client network, if the entry restricts clients.
    pub fn client(&self) -> Option<&IpNet> {
        self.client.as_ref()
    }

    /// The server name pattern, if the entry restricts names.
    pub fn server_name(&self) -> Option<&ServerNamePattern> {
        self.server_name.as_ref()
    }

    /// The JA4 fingerprint, if the entry restricts fingerprints.
    pub fn ja4(&self) -> Option<&str> {
        self.ja4.as_deref()
    }

    /// The program image pattern, if the entry restricts programs.
    pub fn image(&self) -> Option<&ImagePattern> {
        self.image.as_ref()
    }

    /// Why this traffic is allowed.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// Whether every field the entry gives matches. A missing `server_name`/`ja4` argument does
    /// not match an entry that requires one; an entry with `image` never matches here (see
    /// [`AllowEntry::matches_process`]).
    pub fn matches(&self, client: IpAddr, server_name: Option<&str>, ja4: Option<&str>) -> bool {
        self.matches_process(client, server_name, ja4, None)
    }

    /// As [`AllowEntry::matches`], with the image of the process that made the connection when
    /// it is known: an entry with `image` matches only a known image that matches its pattern.
    pub fn matches_process(
        &self,
        client: IpAddr,
        server_name: Option<&str>,
        ja4: Option<&str>,
        image: Option<&str>,
    ) -> bool {
        let image_ok = match &self.image {
            None => true,
            Some(p) => image.is_some_and(|i| p.matches(i)),
        };
        let client_ok = self
            .client
            .is_none_or(|net| net.contains(&client.to_canonical()));
        let name_ok = match &self.server_name {
            None => true,
            Some(p) => server_name.is_some_and(|n| p.matches(n)),
        };
        let ja4_ok = match &self.ja4 {
            None => true,
            Some(want) => ja4.is_some_and(|got| got.eq_ignore_ascii_case(want)),
        };
        client_ok && name_ok && ja4_ok && image_ok
    }
}

/// The validated allowlist.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    entries: Vec<AllowEntry>,
}

impl Allowlist {
    /// The reason of the first entry that matches, if any.
    pub fn matches(
        &self,
        client: IpAddr,
        server_name: Option<&str>,
        ja4: Option<&str>,
    ) -> Option<&str> {
        self.find(client, server_name, ja4).map(AllowEntry::reason)
    }

    /// The first entry that matches, if any.
    pub fn find(
        &self,
        client: IpAddr,
        server_name: Option<&str>,
        ja4: Option<&str>,
    ) -> Option<&AllowEntry> {
        self.entries
            .iter()
            .find(|e| e.matches(client, server_name, ja4))
    }

    /// The reason of the first entry that matches a connection made by a process with image
    /// `image` (`None`: unknown process), if any.
    pub fn matches_process(
        &self,
        client: IpAddr,
        server_name: Option<&str>,
        ja4: Option<&str>,
        image: Option<&str>,
    ) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.matches_process(client, server_name, ja4, image))
            .map(AllowEntry::reason)
    }

    /// The entries, in file order.
    pub fn entries(&self) -> &[AllowEntry] {
        &self.entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Validates `[[allowlist]]` entries; problems go under `path` (`allowlist`), bad entries are
    /// left out.
    pub(crate) fn from_raw(raw: &[RawAllowEntry], path: &KeyPath, problems: &mut Problems) -> Self {
        let entries = raw
            .iter()
            .enumerate()
            .filter_map(|(i, e)| entry_from_raw(e, &path.index(i), problems))
            .collect();
        Self { entries }
    }
}

fn entry_from_raw(
    raw: &RawAllowEntry,
    path: &KeyPath,
    problems: &mut Problems,
) -> Option<AllowEntry> {
    let mut ok = true;
    let client = raw
        .client
        .as_deref()
        .and_then(|text| match parse_client(text) {
            Ok(net) => Some(net),
            Err(reason) => {
                problems.push(path.key("client"), reason);
                ok = false;
                None
            }
        });
    let server_name =
        raw.server_name
            .as_deref()
            .and_then(|text| match ServerNamePattern::parse(text) {
                Ok(p) => Some(p),
                Err(reason) => {
                    problems.push(path.key("server_name"), reason);
                    ok = false;
                    None
                }
            });
    let ja4 = raw.ja4.as_deref().and_then(|text| match check_ja4(text) {
        Ok(()) => Some(text.to_owned()),
        Err(reason) => {
            problems.push(path.key("ja4"), reason);
            ok = false;
            None
        }
    });
    let image = raw
        .image
        .as_deref()
        .and_then(|text| match ImagePattern::parse(text) {
            Ok(p) => Some(p),
            Err(reason) => {
                problems.push(path.key("image"), reason);
                ok = false;
                None
            }
        });
    let reason = raw.reason.as_deref().map(str::trim).unwrap_or_default();
    if reason.is_empty() {
        let why = if raw.reason.is_some() {
            "must not be empty"
        } else {
            "missing; every allowlist entry needs a reason"
        };
        problems.push(path.key("reason"), why);
        ok = false;
    }
    if raw.client.is_none() && raw.server_name.is_none() && raw.ja4.is_none() && raw.image.is_none()
    {
        problems.push(
            path.clone(),
            "entry would match everything; give at least one of client, server_name, ja4, image",
        );
        ok = false;
    }
    ok.then(|| AllowEntry {
        client,
        server_name,
        ja4,
        image,
        reason: reason.to_owned(),
    })
}

/// `a.b.c.d`, `a.b.c.d/n`, IPv6 likewise; host bits must be zero.
fn parse_client(text: &str) -> Result<IpNet, String> {
    let net = match text.parse::<IpNet>() {
        Ok(net) => net,
        Err(_) => match text.parse::<IpAddr>() {
            Ok(ip) => IpNet::from(ip),
            Err(_) => {
                return Err(format!(
                    "`{text}` is not an IP address or CIDR network (`10.0.0.0/8`, `2001:db8::/32`)"
                ))
            }
        },
    };
    if net.trunc() != net {
        return Err(format!(
            "`{text}` has host bits set; did you mean `{}`?",
            net.trunc()
        ));
    }
    Ok(net)
}

/// JA4 (not JA4_r): `a_b_c`, 10 ASCII alphanumerics, then two 12-digit lowercase hex hashes.
pub(crate) fn check_ja4(text: &str) -> Result<(), String> {
    let mut parts = text.split('_');
    let shape_ok = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(b), Some(c), None) => {
            let hex12 = |s: &str| s.len() == 12 && s.bytes().all(|x| x.is_ascii_hexdigit());
            a.len() == 10 && a.bytes().all(|x| x.is_ascii_alphanumeric()) && hex12(b) && hex12(c)
        }
        _ => false,
    };
    if shape_ok {
        Ok(())
    } else {
        Err(format!(
            "`{text}` is not a JA4 fingerprint (like `t13d1516h2_8daaf6152771_02713d6af862`)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JA4: &str = "t13d1516h2_8daaf6152771_02713d6af862";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn raw(
        client: Option<&str>,
        name: Option<&str>,
        ja4: Option<&str>,
        reason: Option<&str>,
    ) -> RawAllowEntry {
        RawAllowEntry {
            client: client.map(Into::into),
            server_name: name.map(Into::into),
            ja4: ja4.map(Into::into),
            image: None,
            reason: reason.map(Into::into),
        }
    }

    fn build(entries: &[RawAllowEntry]) -> (Allowlist, Vec<String>) {
        let mut p = Problems::default();
        let a = Allowlist::from_raw(entries, &KeyPath::keys("allowlist"), &mut p);
        let paths = p
            .into_vec()
            .into_iter()
            .map(|p| p.path.to_string())
            .collect();
        (a, paths)
    }

    #[test]
    fn server_name_patterns() {
        let exact = ServerNamePattern::parse("API.example.com.").unwrap();
        assert_eq!(exact, ServerNamePattern::Exact("api.example.com".into()));
        assert!(exact.matches("api.EXAMPLE.com"));
        assert!(exact.matches("api.example.com."));
        assert!(!exact.matches("x.api.example.com"));
        let below = ServerNamePattern::parse("*.Example.com").unwrap();
        assert!(below.matches("a.example.com"));
        assert!(below.matches("a.b.EXAMPLE.com."));
        assert!(!below.matches("example.com"));
        assert!(!below.matches("badexample.com"));
        assert!(!below.matches(".example.com"));
        assert!(!below.matches("a..example.com"));
        assert!(!below.matches("a.example.com.evil"));
        for bad in [
            "",
            "*.",
            "*",
            "a.*.com",
            "**.a.com",
            "a..b",
            "bücher.de",
            "a b.com",
        ] {
            assert!(ServerNamePattern::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn client_parsing() {
        assert_eq!(
            parse_client("10.0.0.0/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(parse_client("10.1.2.3").unwrap().to_string(), "10.1.2.3/32");
        assert_eq!(
            parse_client("2001:db8::/32").unwrap().to_string(),
            "2001:db8::/32"
        );
        assert_eq!(parse_client("::1").unwrap().to_string(), "::1/128");
        let e = parse_client("10.1.2.3/8").unwrap_err();
        assert!(e.contains("10.0.0.0/8"), "{e}");
        for bad in ["", "10.0.0.0/33", "10.0.0", "host", "10.0.0.0/8 ", "::/129"] {
            assert!(parse_client(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ja4_shape() {
        assert!(check_ja4(JA4).is_ok());
        assert!(check_ja4("q13d0312h3_55b375c5d22e_06cda9e17597").is_ok());
        for bad in [
            "",
            "t13d1516h2",
            "t13d1516h2_8daaf6152771",
            "t13d1516h2_8daaf6152771_02713d6af86",
            "t13d1516h2_8daaf6152771_02713d6af862_x",
            "t13d1516h2_8daaf615277z_02713d6af862",
        ] {
            assert!(check_ja4(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn all_given_fields_must_match() {
        let (a, p) = build(&[
            raw(
                Some("10.0.0.0/8"),
                Some("*.corp.example"),
                None,
                Some("corp apps"),
            ),
            raw(None, None, Some(JA4), Some("monitoring agent")),
            raw(Some("192.0.2.7"), None, None, Some("scanner")),
        ]);
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(a.len(), 3);
        assert_eq!(
            a.matches(ip("10.1.2.3"), Some("x.corp.example"), None),
            Some("corp apps")
        );
        assert_eq!(a.matches(ip("10.1.2.3"), Some("corp.example"), None), None);
        assert_eq!(
            a.matches(ip("11.1.2.3"), Some("x.corp.example"), None),
            None
        );
        assert_eq!(a.matches(ip("10.1.2.3"), None, None), None);
        assert_eq!(
            a.matches(ip("203.0.113.1"), None, Some(JA4)),
            Some("monitoring agent")
        );
        assert_eq!(
            a.matches(ip("203.0.113.1"), None, Some(&JA4.to_uppercase())),
            Some("monitoring agent")
        );
        assert_eq!(a.matches(ip("203.0.113.1"), Some("a.b"), None), None);
        assert_eq!(
            a.matches(ip("192.0.2.7"), Some("anything.at.all"), Some(JA4)),
            Some("monitoring agent")
        );
        assert_eq!(a.matches(ip("192.0.2.7"), None, None), Some("scanner"));
        // IPv4-mapped IPv6 clients match IPv4 networks.
        assert_eq!(
            a.matches(ip("::ffff:192.0.2.7"), None, None),
            Some("scanner")
        );
        assert_eq!(a.find(ip("192.0.2.8"), None, None), None);
    }

    #[test]
    fn entry_problems() {
        let (a, p) = build(&[
            raw(None, None, None, Some("nothing to match on")),
            raw(Some("10.0.0.1/8"), Some("a..b"), Some("nope"), Some("  ")),
            raw(Some("10.0.0.0/8"), None, None, None),
            raw(Some("10.0.0.0/8"), None, None, Some("fine")),
        ]);
        assert_eq!(
            p,
            [
                "allowlist[0]",
                "allowlist[1].client",
                "allowlist[1].server_name",
                "allowlist[1].ja4",
                "allowlist[1].reason",
                "allowlist[2].reason",
            ]
        );
        assert_eq!(a.len(), 1);
        assert_eq!(a.entries()[0].reason(), "fine");
    }

    #[test]
    fn image_entries_match_known_processes_only() {
        let jenkins = RawAllowEntry {
            image: Some(r"*\jenkins\*".into()),
            reason: Some("CI agent".into()),
            ..RawAllowEntry::default()
        };
        let (a, p) = build(&[jenkins]);
        assert!(p.is_empty(), "{p:?}");
        let client = ip("10.0.0.5");
        let node = r"C:\Jenkins\workspace\build\node.exe";
        assert_eq!(
            a.matches_process(client, None, None, Some(node)),
            Some("CI agent")
        );
        // Case-insensitive; `*` crosses separators.
        assert!(a
            .matches_process(client, None, None, Some(r"d:\ci\JENKINS\tools\git.exe"))
            .is_some());
        assert!(a
            .matches_process(client, None, None, Some(r"C:\Users\a\upd.exe"))
            .is_none());
        // An unknown process never matches an image entry.
        assert!(a.matches_process(client, None, None, None).is_none());
        assert!(a.matches(client, None, None).is_none());
        let (_, p) = build(&[RawAllowEntry {
            image: Some(String::new()),
            reason: Some("x".into()),
            ..RawAllowEntry::default()
        }]);
        assert_eq!(p, ["allowlist[0].image"]);
    }
}
