//! HTTP/1.x request heads, via `httparse`.
//!
//! # Contract
//! - [`parse_request`] reads the request line and header block at the start
//!   of a client's TCP payload and returns an [`HttpRequest`] borrowing it.
//!   No allocation: headers are parsed into a fixed array of
//!   [`MAX_HEADERS`] entries on the stack, and only the fields below are kept.
//! - A head that is not finished yet (no empty line) is
//!   [`ParseError::Incomplete`]: the caller may retry with more bytes of the
//!   same stream. More than [`MAX_HEADERS`] headers is
//!   [`ParseError::Unsupported`] (`too_many_headers`); any syntax error is
//!   [`ParseError::Invalid`].
//! - Header values are bytes (`&[u8]`): they may hold obs-text (non-UTF-8).
//!   [`HttpRequest::host_str`] and [`HttpRequest::user_agent_str`] give a
//!   `&str` only when the bytes are valid UTF-8. The method and target are
//!   `&str`: httparse accepts only token / URI bytes there and rejects a
//!   target that is not UTF-8 (`Invalid`, `token`).
//! - HTTP/2 (the `PRI * HTTP/2.0` preface) and HTTP/0.9 are `Invalid`
//!   (`version`).
//! - [`probe_request`] is a cheap check for "starts like an HTTP/1.x request".

use crate::error::{Layer, ParseError};

/// Headers parsed at most; a request with more is refused.
pub const MAX_HEADERS: usize = 64;

/// Methods recognised by [`probe_request`].
pub const METHODS: [&[u8]; 9] = [
    b"GET", b"POST", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"CONNECT", b"TRACE",
];

/// HTTP/1.x minor version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HttpVersion {
    /// HTTP/1.0.
    Http10,
    /// HTTP/1.1.
    Http11,
}

impl HttpVersion {
    /// The version as written on the request line, e.g. `"HTTP/1.1"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            HttpVersion::Http10 => "HTTP/1.0",
            HttpVersion::Http11 => "HTTP/1.1",
        }
    }
}

/// A parsed HTTP/1.x request head, borrowing the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpRequest<'a> {
    /// Method token, e.g. `GET` (any token is accepted, not only [`METHODS`]).
    pub method: &'a str,
    /// Request target as sent (origin form `/path?q`, absolute form, `*`, or
    /// `host:port` for CONNECT).
    pub target: &'a str,
    /// Protocol version.
    pub version: HttpVersion,
    /// Value of the first `Host` header, if any.
    pub host: Option<&'a [u8]>,
    /// Value of the first `User-Agent` header, if any.
    pub user_agent: Option<&'a [u8]>,
    /// Number of header fields.
    pub header_count: usize,
    /// Length of the head in bytes, up to and including the empty line; the
    /// body (if any) starts there.
    pub head_len: usize,
}

impl<'a> HttpRequest<'a> {
    /// `Host` as text, when present and valid UTF-8.
    pub fn host_str(&self) -> Option<&'a str> {
        self.host.and_then(|h| core::str::from_utf8(h).ok())
    }

    /// `User-Agent` as text, when present and valid UTF-8.
    pub fn user_agent_str(&self) -> Option<&'a str> {
        self.user_agent.and_then(|h| core::str::from_utf8(h).ok())
    }
}

/// True when `payload` starts with one of [`METHODS`] followed by a space.
/// Cheap: compares at most 8 bytes.
pub fn probe_request(payload: &[u8]) -> bool {
    METHODS
        .iter()
        .any(|m| payload.starts_with(m) && payload.get(m.len()) == Some(&b' '))
}

fn invalid(what: &'static str) -> ParseError {
    ParseError::Invalid {
        layer: Layer::Http,
        what,
    }
}

/// Parses the request head at the start of `payload`.
///
/// # Errors
/// [`ParseError::Incomplete`] (`needed` 0) when the head is not finished,
/// [`ParseError::Unsupported`] (`too_many_headers`) beyond [`MAX_HEADERS`],
/// [`ParseError::Invalid`] for syntax errors (`what` is httparse's error
/// kind: `method`, `token`, `version`, `header_name`, `header_value`,
/// `new_line`).
pub fn parse_request(payload: &[u8]) -> Result<HttpRequest<'_>, ParseError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(payload) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return Err(ParseError::Incomplete {
                layer: Layer::Http,
                needed: 0,
            })
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ParseError::Unsupported {
                layer: Layer::Http,
                what: "too_many_headers",
            })
        }
        Err(httparse::Error::HeaderName) => return Err(invalid("header_name")),
        Err(httparse::Error::HeaderValue) => return Err(invalid("header_value")),
        Err(httparse::Error::NewLine) => return Err(invalid("new_line")),
        Err(httparse::Error::Version) => return Err(invalid("version")),
        Err(httparse::Error::Token) => return Err(invalid("token")),
        Err(_) => return Err(invalid("request_line")),
    };
    // A complete parse always sets these; treat absence as invalid anyway.
    let (Some(method), Some(target), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(invalid("request_line"));
    };
    let version = match minor {
        0 => HttpVersion::Http10,
        1 => HttpVersion::Http11,
        _ => return Err(invalid("version")),
    };
    let mut host = None;
    let mut user_agent = None;
    for h in req.headers.iter() {
        if host.is_none() && h.name.eq_ignore_ascii_case("host") {
            host = Some(h.value);
        } else if user_agent.is_none() && h.name.eq_ignore_ascii_case("user-agent") {
            user_agent = Some(h.value);
        }
    }
    Ok(HttpRequest {
        method,
        target,
        version,
        host,
        user_agent,
        header_count: req.headers.len(),
        head_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real frames these tests read from the shared folder (public
    /// captures are never copied into the repository); None, with a note,
    /// without it on a bare clone, and the tests then pass without checking
    /// (in CI, a failure).
    struct Frames {
        wget: Vec<u8>,
        konqueror: Vec<u8>,
        cryptoapi: Vec<u8>,
    }

    fn frames() -> Option<Frames> {
        use crate::public_payloads::payload;
        Some(Frames {
            wget: payload("zeek/vlan-qinqinq.pcap", 4)?,
            konqueror: payload("pcapplusplus/raw_ip.pcap", 4)?,
            cryptoapi: payload("pcapplusplus/raw_ip.pcap", 55)?,
        })
    }

    #[test]
    fn real_requests() {
        let Some(f) = frames() else {
            return;
        };
        let (wget, konqueror, cryptoapi) = (
            f.wget.as_slice(),
            f.konqueror.as_slice(),
            f.cryptoapi.as_slice(),
        );
        let r = parse_request(wget).unwrap();
        assert_eq!(
            (r.method, r.target),
            ("GET", "/download/CHANGES.bro-aux.txt")
        );
        assert_eq!(r.version, HttpVersion::Http11);
        assert_eq!(r.version.as_str(), "HTTP/1.1");
        assert_eq!(r.host, Some(&b"bro.org"[..]));
        assert_eq!(r.user_agent_str(), Some("Wget/1.14 (darwin12.2.0)"));
        assert_eq!((r.header_count, r.head_len), (4, wget.len()));

        let r = parse_request(konqueror).unwrap();
        assert_eq!(r.target, "/");
        assert_eq!(r.host_str(), Some("www.uk6x.com"));
        assert!(r
            .user_agent_str()
            .unwrap()
            .starts_with("Mozilla/5.0 (compatible; Konqueror/3.5"));
        assert_eq!(r.header_count, 7);

        // Host is the last header here, after User-Agent.
        let r = parse_request(cryptoapi).unwrap();
        assert_eq!(r.target, "/pki/crl/products/MicCodSigPCA_08-31-2010.crl");
        assert_eq!(r.host_str(), Some("crl.microsoft.com"));
        assert_eq!(r.user_agent_str(), Some("Microsoft-CryptoAPI/10.0"));
    }

    #[test]
    fn every_proper_prefix_is_incomplete() {
        let Some(f) = frames() else {
            return;
        };
        let (wget, konqueror, cryptoapi) = (
            f.wget.as_slice(),
            f.konqueror.as_slice(),
            f.cryptoapi.as_slice(),
        );
        for payload in [wget, konqueror, cryptoapi] {
            for n in 0..payload.len() {
                assert_eq!(
                    parse_request(&payload[..n]),
                    Err(ParseError::Incomplete {
                        layer: Layer::Http,
                        needed: 0
                    }),
                    "prefix {n}"
                );
            }
        }
    }

    #[test]
    fn body_after_the_head_is_not_consumed() {
        let mut post = b"POST /x HTTP/1.0\r\nHost: a\r\nContent-Length: 4\r\n\r\n".to_vec();
        let head = post.len();
        post.extend_from_slice(b"abcd");
        let r = parse_request(&post).unwrap();
        assert_eq!(
            (r.method, r.version, r.head_len),
            ("POST", HttpVersion::Http10, head)
        );
        assert_eq!(r.user_agent, None);
    }

    #[test]
    fn too_many_headers_is_an_error_not_a_panic() {
        let mut req = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            req.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
        }
        req.extend_from_slice(b"\r\n");
        assert_eq!(
            parse_request(&req),
            Err(ParseError::Unsupported {
                layer: Layer::Http,
                what: "too_many_headers"
            })
        );
    }

    #[test]
    fn non_utf8_header_values_are_kept_as_bytes() {
        let req = b"GET / HTTP/1.1\r\nHost: \xe9x.example\r\nUser-Agent: caf\xe9\r\n\r\n";
        let r = parse_request(req).unwrap();
        assert_eq!(r.host, Some(&b"\xe9x.example"[..]));
        assert_eq!(r.host_str(), None);
        assert_eq!(r.user_agent, Some(&b"caf\xe9"[..]));
        assert_eq!(r.user_agent_str(), None);
    }

    #[test]
    fn invalid_heads() {
        let inv = |what| {
            Err(ParseError::Invalid {
                layer: Layer::Http,
                what,
            })
        };
        assert_eq!(parse_request(b"GET /\xff HTTP/1.1\r\n\r\n"), inv("token"));
        assert_eq!(
            parse_request(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
            inv("version")
        );
        assert_eq!(
            parse_request(b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"),
            inv("header_name")
        );
        assert_eq!(
            parse_request(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
            inv("token")
        );
    }

    #[test]
    fn probe() {
        let Some(f) = frames() else {
            return;
        };
        let wget = f.wget.as_slice();
        assert!(probe_request(wget));
        assert!(probe_request(b"CONNECT example.com:443 HTTP/1.1\r\n"));
        assert!(probe_request(b"OPTIONS "));
        assert!(!probe_request(b"GET"));
        assert!(!probe_request(b"GETX / HTTP/1.1"));
        assert!(!probe_request(b"get / HTTP/1.1"));
        assert!(!probe_request(b"\x16\x03\x01"));
        assert!(!probe_request(b""));
    }
}
