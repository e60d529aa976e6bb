//! The fields virga reads from Zeek logs and the typed row made of them.
//! Both formats hand their line to [`build`] through [`Fields`], so the
//! meaning of a field is decided once.

use super::files::LogKind;
use crate::flow::key::Endpoint;
use crate::records::AppProto;
use crate::time::Timestamp;
use std::borrow::Cow;
use std::net::IpAddr;

/// A field virga reads. Names are Zeek's (`id.orig_h`); log shippers'
/// renames (`id_orig_h`) are accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Field {
    /// `ts`.
    Ts,
    /// `uid`.
    Uid,
    /// `id.orig_h`.
    OrigH,
    /// `id.orig_p`.
    OrigP,
    /// `id.resp_h`.
    RespH,
    /// `id.resp_p`.
    RespP,
    /// `proto` (conn).
    Proto,
    /// `service` (conn).
    Service,
    /// `duration` (conn).
    Duration,
    /// `orig_bytes` (conn).
    OrigBytes,
    /// `resp_bytes` (conn).
    RespBytes,
    /// `conn_state` (conn).
    ConnState,
    /// `history` (conn).
    History,
    /// `community_id` (conn, with the community-id package or Zeek ≥ 6).
    CommunityId,
    /// `server_name` (ssl).
    ServerName,
    /// `version` (ssl).
    Version,
    /// `ja3` (ssl, ja3 package).
    Ja3,
    /// `ja4` (ssl, FoxIO's JA4 package).
    Ja4,
    /// `established` (ssl).
    Established,
    /// `query` (dns).
    Query,
    /// `qtype` (dns).
    Qtype,
    /// `rcode` (dns).
    Rcode,
    /// `answers` (dns, a vector).
    Answers,
    /// `TTLs` (dns, a vector).
    Ttls,
    /// `rtt` (dns).
    Rtt,
    /// `host` (http).
    Host,
    /// `uri` (http).
    Uri,
    /// `method` (http).
    Method,
    /// `user_agent` (http).
    UserAgent,
}

impl Field {
    /// Number of fields.
    pub const COUNT: usize = 29;

    /// Every field.
    pub const ALL: [Field; Field::COUNT] = [
        Field::Ts,
        Field::Uid,
        Field::OrigH,
        Field::OrigP,
        Field::RespH,
        Field::RespP,
        Field::Proto,
        Field::Service,
        Field::Duration,
        Field::OrigBytes,
        Field::RespBytes,
        Field::ConnState,
        Field::History,
        Field::CommunityId,
        Field::ServerName,
        Field::Version,
        Field::Ja3,
        Field::Ja4,
        Field::Established,
        Field::Query,
        Field::Qtype,
        Field::Rcode,
        Field::Answers,
        Field::Ttls,
        Field::Rtt,
        Field::Host,
        Field::Uri,
        Field::Method,
        Field::UserAgent,
    ];

    /// Zeek's name and the shippers' rename (the same when it has no dot).
    pub const fn names(self) -> (&'static str, &'static str) {
        match self {
            Field::Ts => ("ts", "ts"),
            Field::Uid => ("uid", "uid"),
            Field::OrigH => ("id.orig_h", "id_orig_h"),
            Field::OrigP => ("id.orig_p", "id_orig_p"),
            Field::RespH => ("id.resp_h", "id_resp_h"),
            Field::RespP => ("id.resp_p", "id_resp_p"),
            Field::Proto => ("proto", "proto"),
            Field::Service => ("service", "service"),
            Field::Duration => ("duration", "duration"),
            Field::OrigBytes => ("orig_bytes", "orig_bytes"),
            Field::RespBytes => ("resp_bytes", "resp_bytes"),
            Field::ConnState => ("conn_state", "conn_state"),
            Field::History => ("history", "history"),
            Field::CommunityId => ("community_id", "community_id"),
            Field::ServerName => ("server_name", "server_name"),
            Field::Version => ("version", "version"),
            Field::Ja3 => ("ja3", "ja3"),
            Field::Ja4 => ("ja4", "ja4"),
            Field::Established => ("established", "established"),
            Field::Query => ("query", "query"),
            Field::Qtype => ("qtype", "qtype"),
            Field::Rcode => ("rcode", "rcode"),
            Field::Answers => ("answers", "answers"),
            Field::Ttls => ("TTLs", "ttls"),
            Field::Rtt => ("rtt", "rtt"),
            Field::Host => ("host", "host"),
            Field::Uri => ("uri", "uri"),
            Field::Method => ("method", "method"),
            Field::UserAgent => ("user_agent", "user_agent"),
        }
    }

    /// The field a column name stands for.
    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| {
            let (a, b) = f.names();
            name == a || name == b || (f == &Field::Ttls && name.eq_ignore_ascii_case("ttls"))
        })
    }
}

/// A line's fields, whatever the format.
pub trait Fields {
    /// The field's value; `None` when absent or unset, `Some("")` when empty.
    fn get(&self, f: Field) -> Option<Cow<'_, str>>;
    /// A vector or set field's items (appended to `out`).
    fn list(&self, f: Field, out: &mut Vec<String>);
}

/// One log line, typed.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRow {
    /// Its log.
    pub kind: LogKind,
    /// `ts`.
    pub ts: Timestamp,
    /// `uid` (Zeek's connection id), when present.
    pub uid: Option<Box<str>>,
    /// The originator (client).
    pub orig: Endpoint,
    /// The responder (server).
    pub resp: Endpoint,
    /// What the log adds.
    pub detail: Detail,
}

/// What each log adds to the connection's identity.
#[derive(Debug, Clone, PartialEq)]
pub enum Detail {
    /// conn.log or conn_long.log.
    Conn {
        /// IP protocol number (6, 17, 1; 0 unknown).
        proto: u8,
        /// The application protocol from `service`.
        app_proto: AppProto,
        /// Whether `service` named a protocol (any, known to virga or not).
        service_seen: bool,
        /// Bytes the client sent (`orig_bytes`).
        orig_bytes: Option<u64>,
        /// Duration, seconds.
        duration: Option<f64>,
    },
    /// ssl.log.
    Ssl {
        /// SNI.
        server_name: Option<Box<str>>,
        /// JA4, when the JA4 package wrote it.
        ja4: Option<Box<str>>,
        /// Whether the handshake completed.
        established: bool,
    },
    /// dns.log.
    Dns {
        /// The query.
        query: Option<Box<str>>,
        /// Query type number.
        qtype: u16,
        /// Response code (`None`: no response seen).
        rcode: Option<u16>,
        /// Answers (addresses and names), with their TTLs (seconds).
        answers: Vec<(Box<str>, u32)>,
        /// Query to response, seconds.
        rtt: Option<f64>,
    },
    /// http.log.
    Http {
        /// Host header.
        host: Option<Box<str>>,
        /// Request URI.
        uri: Option<Box<str>>,
        /// Method.
        method: Option<Box<str>>,
        /// User-Agent.
        user_agent: Option<Box<str>>,
    },
}

/// Most DNS answers kept from one line.
const MAX_ANSWERS: usize = 32;
/// Longest text field kept (longer values are cut at a char boundary).
const MAX_TEXT: usize = 1024;

fn text(v: Option<Cow<'_, str>>) -> Option<Box<str>> {
    let v = v?;
    if v.is_empty() {
        return None;
    }
    let mut end = v.len().min(MAX_TEXT);
    while !v.is_char_boundary(end) {
        end -= 1;
    }
    Some(Box::from(&v[..end]))
}

/// Parses a Zeek time: epoch seconds with a fraction (`1258531221.486539`;
/// whole milliseconds, microseconds or nanoseconds since the epoch, as some
/// shippers write them, by their size) or ISO 8601 / RFC 3339
/// (`2009-11-18T08:00:21.486539Z`; without an offset, or with a space for
/// the `T`, read as UTC), with `jiff`.
pub fn parse_ts(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    if s.contains('T') || s.bytes().filter(|&b| b == b'-').count() >= 2 {
        return parse_iso(s);
    }
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = int.parse().ok()?;
    if frac.is_empty() && n > MAX_EPOCH_SECS {
        // Whole milliseconds, microseconds or nanoseconds.
        let (secs, sub) = if n < 100_000_000_000_000 {
            (n / 1_000, (n % 1_000) * 1_000_000)
        } else if n < 100_000_000_000_000_000 {
            (n / 1_000_000, (n % 1_000_000) * 1_000)
        } else {
            (n / 1_000_000_000, n % 1_000_000_000)
        };
        if secs > MAX_EPOCH_SECS {
            return None;
        }
        return Some(Timestamp::from_secs_nanos(secs, u32::try_from(sub).ok()?));
    }
    // Seconds beyond year 9999 are not a log's time.
    if n > MAX_EPOCH_SECS {
        return None;
    }
    let mut nanos: u32 = 0;
    let mut scale = 100_000_000;
    for b in frac.bytes() {
        if !b.is_ascii_digit() {
            // Exponent notation from a JSON writer.
            return s
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite() && *f >= 0.0 && *f < MAX_EPOCH_SECS as f64)
                .map(|f| Timestamp::from_secs_nanos(f as i64, (f.fract() * 1e9) as u32));
        }
        nanos += u32::from(b - b'0') * scale;
        scale /= 10;
    }
    Some(Timestamp::from_secs_nanos(n, nanos))
}

/// The last second of year 9999.
const MAX_EPOCH_SECS: i64 = 253_402_300_799;

fn parse_iso(s: &str) -> Option<Timestamp> {
    let t: jiff::Timestamp = match s.parse() {
        Ok(t) => t,
        Err(_) => {
            let s = s.replacen(' ', "T", 1);
            let s = s.trim_end_matches('Z');
            let dt: jiff::civil::DateTime = s.parse().ok()?;
            dt.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp()
        }
    };
    let secs = t.as_second();
    if secs < 0 {
        return None;
    }
    Some(Timestamp::from_secs_nanos(
        secs,
        u32::try_from(t.subsec_nanosecond()).ok()?,
    ))
}

fn endpoint(l: &dyn Fields, h: Field, p: Field) -> Result<Endpoint, &'static str> {
    let ip: IpAddr = l
        .get(h)
        .ok_or("no address")?
        .trim()
        .parse()
        .map_err(|_| "bad address")?;
    let port = match l.get(p) {
        Some(v) => {
            let v = v.trim();
            // Zeek JSON writes ports as numbers; some shippers as floats.
            match v.parse::<u16>() {
                Ok(p) => p,
                Err(_) => v
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.fract() == 0.0 && (0.0..=65535.0).contains(f))
                    .map(|f| f as u16)
                    .ok_or("bad port")?,
            }
        }
        None => 0,
    };
    Ok(Endpoint { ip, port })
}

fn proto_number(p: Option<Cow<'_, str>>) -> u8 {
    match p.as_deref() {
        Some("tcp") => 6,
        Some("udp") => 17,
        Some("icmp") => 1,
        Some("icmp6") | Some("ipv6-icmp") => 58,
        _ => 0,
    }
}

fn app_proto(service: Option<Cow<'_, str>>) -> AppProto {
    let Some(s) = service else {
        return AppProto::Unknown;
    };
    let s = s.to_ascii_lowercase();
    if s.contains("quic") {
        AppProto::Quic
    } else if s.contains("ssl") || s.contains("tls") {
        AppProto::Tls
    } else if s.contains("http") {
        AppProto::Http
    } else if s.contains("dns") {
        AppProto::Dns
    } else {
        AppProto::Unknown
    }
}

fn number<T: std::str::FromStr>(v: Option<Cow<'_, str>>) -> Option<T> {
    v.and_then(|v| v.trim().parse().ok())
}

fn float(v: Option<Cow<'_, str>>) -> Option<f64> {
    number::<f64>(v).filter(|f| f.is_finite() && *f >= 0.0)
}

/// Builds the row of a line of log `kind`; the reason when it is not one.
pub fn build(kind: LogKind, l: &dyn Fields) -> Result<LogRow, &'static str> {
    let ts = parse_ts(&l.get(Field::Ts).ok_or("no ts")?).ok_or("bad ts")?;
    let uid = text(l.get(Field::Uid));
    let orig = endpoint(l, Field::OrigH, Field::OrigP)?;
    let resp = endpoint(l, Field::RespH, Field::RespP)?;
    let detail = match kind {
        LogKind::Conn | LogKind::ConnLong => Detail::Conn {
            proto: proto_number(l.get(Field::Proto)),
            app_proto: app_proto(l.get(Field::Service)),
            service_seen: l.get(Field::Service).is_some_and(|s| !s.is_empty()),
            orig_bytes: number(l.get(Field::OrigBytes)),
            duration: float(l.get(Field::Duration)),
        },
        LogKind::Ssl => Detail::Ssl {
            server_name: text(l.get(Field::ServerName)),
            ja4: text(l.get(Field::Ja4)),
            established: matches!(
                l.get(Field::Established).as_deref(),
                Some("T") | Some("true")
            ),
        },
        LogKind::Dns => {
            let mut items = Vec::new();
            l.list(Field::Answers, &mut items);
            let mut ttls = Vec::new();
            l.list(Field::Ttls, &mut ttls);
            let answers = items
                .into_iter()
                .take(MAX_ANSWERS)
                .enumerate()
                .map(|(i, a)| {
                    let ttl = ttls
                        .get(i)
                        .and_then(|t| t.trim().parse::<f64>().ok())
                        .filter(|t| t.is_finite() && *t >= 0.0)
                        .map_or(0, |t| t.min(f64::from(u32::MAX)) as u32);
                    (text(Some(Cow::Owned(a))).unwrap_or_default(), ttl)
                })
                .collect();
            Detail::Dns {
                query: text(l.get(Field::Query)),
                qtype: number(l.get(Field::Qtype)).unwrap_or(0),
                rcode: number(l.get(Field::Rcode)),
                answers,
                rtt: float(l.get(Field::Rtt)),
            }
        }
        LogKind::Http => Detail::Http {
            host: text(l.get(Field::Host)),
            uri: text(l.get(Field::Uri)),
            method: text(l.get(Field::Method)),
            user_agent: text(l.get(Field::UserAgent)),
        },
    };
    Ok(LogRow {
        kind,
        ts,
        uid,
        orig,
        resp,
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_epoch_and_iso() {
        let t = parse_ts("1258531221.486539").unwrap();
        assert_eq!(t.secs(), 1_258_531_221);
        assert_eq!(t.subsec_micros(), 486_539);
        let i = parse_ts("2009-11-18T08:00:21.486539Z").unwrap();
        assert_eq!(i, t);
        assert_eq!(parse_ts("1258531221").unwrap().secs(), 1_258_531_221);
        assert_eq!(
            parse_ts("1.258531221486539e9").unwrap().secs(),
            1_258_531_221
        );
        assert_eq!(parse_ts("2009-11-18T08:00:21.486539").unwrap(), t);
        assert_eq!(parse_ts("2009-11-18 08:00:21.486539").unwrap(), t);
        let ms = parse_ts("1258531221486").unwrap();
        assert_eq!((ms.secs(), ms.subsec_micros()), (1_258_531_221, 486_000));
        assert_eq!(parse_ts("1258531221486539").unwrap(), t);
        assert_eq!(parse_ts("1258531221486539000").unwrap(), t);
        for bad in [
            "T",
            "",
            "-",
            "abc",
            "-5",
            "99999999999999999999",
            "1e400",
            "2009-13-45T00:00:00Z",
        ] {
            assert_eq!(parse_ts(bad), None, "{bad}");
        }
    }
}
