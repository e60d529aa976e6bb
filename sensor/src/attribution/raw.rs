//! The raw views of a host event's JSON: every field optional and of any
//! type, so no shape of a collector's output makes a whole event unreadable.
//! `sysmon` turns them into typed events.

use serde::de::IgnoredAny;
use serde::Deserialize;
use std::borrow::Cow;

/// Longest image, user, host or query name kept (bytes); longer ones are cut.
pub(super) const MAX_STR: usize = 1024;

/// A scalar of any JSON type (anything else read and dropped).
///
/// Deserialized by hand rather than `#[serde(untagged)]`, which buffers every
/// value before trying each variant: this visitor takes the value as it comes.
/// A string borrows the input where it can (no escape in it); only strings
/// with escapes (Windows paths, `DOMAIN\\user`) are copied.
#[derive(Debug)]
pub(super) enum Flex<'a> {
    Str(Cow<'a, str>),
    UInt(u64),
    Int(i64),
    Bool(bool),
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Flex<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Flex<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Flex<'a>, E> {
                Ok(Flex::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Flex<'a>, E> {
                Ok(Flex::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Flex<'a>, E> {
                Ok(Flex::Str(Cow::Owned(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Flex<'a>, E> {
                Ok(Flex::UInt(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Flex<'a>, E> {
                Ok(Flex::Int(v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Flex<'a>, E> {
                Ok(Flex::Bool(v))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Flex<'a>, E> {
                Ok(Flex::Other)
            }
            fn visit_unit<E>(self) -> Result<Flex<'a>, E> {
                Ok(Flex::Other)
            }
            fn visit_none<E>(self) -> Result<Flex<'a>, E> {
                Ok(Flex::Other)
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Flex<'a>, D::Error> {
                Flex::deserialize(d)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Flex<'a>, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Flex::Other)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Flex<'a>, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Flex::Other)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl Flex<'_> {
    /// The value as text, HTML entities decoded, capped at [`MAX_STR`] bytes.
    pub(super) fn text(&self) -> Option<Cow<'_, str>> {
        let s = match self {
            Flex::Str(s) => {
                let t = s.trim();
                if t.contains('&') {
                    html_escape::decode_html_entities(t)
                } else {
                    Cow::Borrowed(t)
                }
            }
            Flex::UInt(n) => Cow::Owned(n.to_string()),
            Flex::Int(n) => Cow::Owned(n.to_string()),
            _ => return None,
        };
        Some(cap(s))
    }

    pub(super) fn number(&self) -> Option<u64> {
        match self {
            Flex::UInt(n) => Some(*n),
            Flex::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    pub(super) fn boolean(&self) -> Option<bool> {
        match self {
            Flex::Bool(b) => Some(*b),
            Flex::Str(s) => {
                let s = s.trim();
                if s.eq_ignore_ascii_case("true") || s == "1" {
                    Some(true)
                } else if s.eq_ignore_ascii_case("false") || s == "0" {
                    Some(false)
                } else {
                    None
                }
            }
            Flex::UInt(n) => Some(*n != 0),
            _ => None,
        }
    }
}

/// `s` cut to at most [`MAX_STR`] bytes at a character boundary.
fn cap(s: Cow<'_, str>) -> Cow<'_, str> {
    if s.len() <= MAX_STR {
        return s;
    }
    let mut end = MAX_STR;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    match s {
        Cow::Borrowed(b) => Cow::Borrowed(&b[..end]),
        Cow::Owned(mut o) => {
            o.truncate(end);
            Cow::Owned(o)
        }
    }
}

/// A nested object, or anything else in its place (read and dropped).
///
/// By hand for the same reason as [`Flex`]: a map is handed to `T` as it
/// comes, anything else is skipped, nothing is buffered.
#[derive(Debug)]
pub(super) enum Lenient<T> {
    Value(T),
    Other,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for V<T> {
            type Value = Lenient<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, a: A) -> Result<Lenient<T>, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(a)).map(Lenient::Value)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Lenient<T>, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Lenient::Other)
            }
            fn visit_str<E>(self, _: &str) -> Result<Lenient<T>, E> {
                Ok(Lenient::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Lenient<T>, E> {
                Ok(Lenient::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Lenient<T>, E> {
                Ok(Lenient::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Lenient<T>, E> {
                Ok(Lenient::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Lenient<T>, E> {
                Ok(Lenient::Other)
            }
            fn visit_unit<E>(self) -> Result<Lenient<T>, E> {
                Ok(Lenient::Other)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl<T> Lenient<T> {
    pub(super) fn value(&self) -> Option<&T> {
        match self {
            Lenient::Value(v) => Some(v),
            Lenient::Other => None,
        }
    }
}

/// Sysmon's event data keys.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawData<'a> {
    #[serde(rename = "UtcTime", borrow)]
    pub(super) utc_time: Option<Flex<'a>>,
    #[serde(rename = "Image", borrow)]
    pub(super) image: Option<Flex<'a>>,
    #[serde(rename = "ProcessId", borrow)]
    pub(super) process_id: Option<Flex<'a>>,
    #[serde(rename = "User", borrow)]
    pub(super) user_name: Option<Flex<'a>>,
    #[serde(rename = "Protocol", borrow)]
    pub(super) protocol: Option<Flex<'a>>,
    #[serde(rename = "Initiated", borrow)]
    pub(super) initiated: Option<Flex<'a>>,
    #[serde(rename = "SourceIp", borrow)]
    pub(super) source_ip: Option<Flex<'a>>,
    #[serde(rename = "SourcePort", borrow)]
    pub(super) source_port: Option<Flex<'a>>,
    #[serde(rename = "DestinationIp", borrow)]
    pub(super) destination_ip: Option<Flex<'a>>,
    #[serde(rename = "DestinationPort", borrow)]
    pub(super) destination_port: Option<Flex<'a>>,
    #[serde(rename = "QueryName", borrow)]
    pub(super) query_name: Option<Flex<'a>>,
}

/// One event, any of the shapes.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawEvent<'a> {
    #[serde(rename = "EventID", alias = "EventId", alias = "event_id", borrow)]
    pub(super) event_id: Option<Flex<'a>>,
    #[serde(rename = "SourceName", borrow)]
    pub(super) source_name: Option<Flex<'a>>,
    #[serde(rename = "ProviderName", borrow)]
    pub(super) provider_name: Option<Flex<'a>>,
    #[serde(rename = "Channel", borrow)]
    pub(super) channel: Option<Flex<'a>>,
    #[serde(rename = "Hostname", borrow)]
    pub(super) hostname: Option<Flex<'a>>,
    #[serde(rename = "Computer", borrow)]
    pub(super) computer: Option<Flex<'a>>,
    #[serde(rename = "@timestamp", borrow)]
    pub(super) timestamp: Option<Flex<'a>>,
    #[serde(rename = "EventData", borrow)]
    pub(super) event_data: Option<Lenient<RawData<'a>>>,
    #[serde(rename = "UtcTime", borrow)]
    pub(super) utc_time: Option<Flex<'a>>,
    #[serde(rename = "Image", borrow)]
    pub(super) image: Option<Flex<'a>>,
    #[serde(rename = "ProcessId", borrow)]
    pub(super) process_id: Option<Flex<'a>>,
    #[serde(rename = "User", borrow)]
    pub(super) user_name: Option<Flex<'a>>,
    #[serde(rename = "Protocol", borrow)]
    pub(super) protocol: Option<Flex<'a>>,
    #[serde(rename = "Initiated", borrow)]
    pub(super) initiated: Option<Flex<'a>>,
    #[serde(rename = "SourceIp", borrow)]
    pub(super) source_ip: Option<Flex<'a>>,
    #[serde(rename = "SourcePort", borrow)]
    pub(super) source_port: Option<Flex<'a>>,
    #[serde(rename = "DestinationIp", borrow)]
    pub(super) destination_ip: Option<Flex<'a>>,
    #[serde(rename = "DestinationPort", borrow)]
    pub(super) destination_port: Option<Flex<'a>>,
    #[serde(rename = "QueryName", borrow)]
    pub(super) query_name: Option<Flex<'a>>,
    /// `evtx_dump`'s wrapper (`Event`), holding `System` and `EventData`.
    #[serde(rename = "Event", borrow)]
    pub(super) evtx: Option<Box<Lenient<RawEvent<'a>>>>,
    #[serde(rename = "System", borrow)]
    pub(super) system: Option<Lenient<RawSystem<'a>>>,
    #[serde(borrow)]
    pub(super) winlog: Option<Lenient<RawWinlog<'a>>>,
    #[serde(borrow)]
    pub(super) event: Option<Lenient<RawEcsEvent<'a>>>,
    #[serde(borrow)]
    pub(super) process: Option<Lenient<RawEcsProcess<'a>>>,
    #[serde(borrow)]
    pub(super) user: Option<Lenient<RawEcsName<'a>>>,
    #[serde(borrow)]
    pub(super) host: Option<Lenient<RawEcsName<'a>>>,
    #[serde(borrow)]
    pub(super) source: Option<Lenient<RawEcsEndpoint<'a>>>,
    #[serde(borrow)]
    pub(super) destination: Option<Lenient<RawEcsEndpoint<'a>>>,
    #[serde(borrow)]
    pub(super) network: Option<Lenient<RawEcsNetwork<'a>>>,
    #[serde(borrow)]
    pub(super) dns: Option<Lenient<RawEcsDns<'a>>>,
}

/// The `System` part of an event as `evtx_dump` writes it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawSystem<'a> {
    #[serde(rename = "EventID", borrow)]
    pub(super) event_id: Option<Flex<'a>>,
    #[serde(rename = "Channel", borrow)]
    pub(super) channel: Option<Flex<'a>>,
    #[serde(rename = "Computer", borrow)]
    pub(super) computer: Option<Flex<'a>>,
    #[serde(rename = "Provider", borrow)]
    pub(super) provider: Option<Lenient<RawProvider<'a>>>,
}

impl<'a> RawSystem<'a> {
    /// `Provider.#attributes.Name`.
    pub(super) fn provider_name(&self) -> Option<&Flex<'a>> {
        self.provider
            .as_ref()
            .and_then(Lenient::value)
            .and_then(|p| p.attributes.as_ref())
            .and_then(Lenient::value)
            .and_then(|a| a.name.as_ref())
    }
}

/// `System.Provider`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawProvider<'a> {
    #[serde(rename = "#attributes", borrow)]
    pub(super) attributes: Option<Lenient<RawAttributes<'a>>>,
}

/// `System.Provider.#attributes`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawAttributes<'a> {
    #[serde(rename = "Name", borrow)]
    pub(super) name: Option<Flex<'a>>,
}

/// Winlogbeat's `winlog` object.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawWinlog<'a> {
    #[serde(borrow)]
    pub(super) event_id: Option<Flex<'a>>,
    #[serde(borrow)]
    pub(super) provider_name: Option<Flex<'a>>,
    #[serde(borrow)]
    pub(super) channel: Option<Flex<'a>>,
    #[serde(borrow)]
    pub(super) computer_name: Option<Flex<'a>>,
    #[serde(borrow)]
    pub(super) event_data: Option<Lenient<RawData<'a>>>,
}

/// ECS `event`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawEcsEvent<'a> {
    #[serde(borrow)]
    pub(super) code: Option<Flex<'a>>,
}

/// ECS `process`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawEcsProcess<'a> {
    #[serde(borrow)]
    pub(super) executable: Option<Flex<'a>>,
    #[serde(borrow)]
    pub(super) pid: Option<Flex<'a>>,
}

/// An ECS object read for its `name` (`user`, `host`, `dns.question`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawEcsName<'a> {
    #[serde(borrow)]
    pub(super) name: Option<Flex<'a>>,
}

/// ECS `source` or `destination`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawEcsEndpoint<'a> {
    #[serde(borrow)]
    pub(super) ip: Option<Flex<'a>>,
    #[serde(borrow)]
    pub(super) port: Option<Flex<'a>>,
}

/// ECS `network`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawEcsNetwork<'a> {
    #[serde(borrow)]
    pub(super) transport: Option<Flex<'a>>,
}

/// ECS `dns`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawEcsDns<'a> {
    #[serde(borrow)]
    pub(super) question: Option<Lenient<RawEcsName<'a>>>,
}
