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
#[derive(Debug)]
pub(super) enum Flex {
    Str(String),
    UInt(u64),
    Int(i64),
    Bool(bool),
    Other,
}

impl<'de> Deserialize<'de> for Flex {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Flex;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_str<E>(self, v: &str) -> Result<Flex, E> {
                Ok(Flex::Str(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<Flex, E> {
                Ok(Flex::Str(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Flex, E> {
                Ok(Flex::UInt(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Flex, E> {
                Ok(Flex::Int(v))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Flex, E> {
                Ok(Flex::Bool(v))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Flex, E> {
                Ok(Flex::Other)
            }
            fn visit_unit<E>(self) -> Result<Flex, E> {
                Ok(Flex::Other)
            }
            fn visit_none<E>(self) -> Result<Flex, E> {
                Ok(Flex::Other)
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Flex, D::Error> {
                Flex::deserialize(d)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Flex, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Flex::Other)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Flex, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Flex::Other)
            }
        }
        d.deserialize_any(V)
    }
}

impl Flex {
    /// The value as text, HTML entities decoded, capped at [`MAX_STR`] bytes.
    pub(super) fn text(&self) -> Option<Cow<'_, str>> {
        let s = match self {
            Flex::Str(s) => html_escape::decode_html_entities(s.trim()),
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
            Flex::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                _ => None,
            },
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
pub(super) struct RawData {
    #[serde(rename = "UtcTime")]
    pub(super) utc_time: Option<Flex>,
    #[serde(rename = "Image")]
    pub(super) image: Option<Flex>,
    #[serde(rename = "ProcessId")]
    pub(super) process_id: Option<Flex>,
    #[serde(rename = "User")]
    pub(super) user_name: Option<Flex>,
    #[serde(rename = "Protocol")]
    pub(super) protocol: Option<Flex>,
    #[serde(rename = "Initiated")]
    pub(super) initiated: Option<Flex>,
    #[serde(rename = "SourceIp")]
    pub(super) source_ip: Option<Flex>,
    #[serde(rename = "SourcePort")]
    pub(super) source_port: Option<Flex>,
    #[serde(rename = "DestinationIp")]
    pub(super) destination_ip: Option<Flex>,
    #[serde(rename = "DestinationPort")]
    pub(super) destination_port: Option<Flex>,
    #[serde(rename = "QueryName")]
    pub(super) query_name: Option<Flex>,
}

/// One event, any of the shapes.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawEvent {
    #[serde(rename = "EventID", alias = "EventId", alias = "event_id")]
    pub(super) event_id: Option<Flex>,
    #[serde(rename = "SourceName")]
    pub(super) source_name: Option<Flex>,
    #[serde(rename = "ProviderName")]
    pub(super) provider_name: Option<Flex>,
    #[serde(rename = "Channel")]
    pub(super) channel: Option<Flex>,
    #[serde(rename = "Hostname")]
    pub(super) hostname: Option<Flex>,
    #[serde(rename = "Computer")]
    pub(super) computer: Option<Flex>,
    #[serde(rename = "@timestamp")]
    pub(super) timestamp: Option<Flex>,
    #[serde(rename = "EventData")]
    pub(super) event_data: Option<Lenient<RawData>>,
    #[serde(rename = "UtcTime")]
    pub(super) utc_time: Option<Flex>,
    #[serde(rename = "Image")]
    pub(super) image: Option<Flex>,
    #[serde(rename = "ProcessId")]
    pub(super) process_id: Option<Flex>,
    #[serde(rename = "User")]
    pub(super) user_name: Option<Flex>,
    #[serde(rename = "Protocol")]
    pub(super) protocol: Option<Flex>,
    #[serde(rename = "Initiated")]
    pub(super) initiated: Option<Flex>,
    #[serde(rename = "SourceIp")]
    pub(super) source_ip: Option<Flex>,
    #[serde(rename = "SourcePort")]
    pub(super) source_port: Option<Flex>,
    #[serde(rename = "DestinationIp")]
    pub(super) destination_ip: Option<Flex>,
    #[serde(rename = "DestinationPort")]
    pub(super) destination_port: Option<Flex>,
    #[serde(rename = "QueryName")]
    pub(super) query_name: Option<Flex>,
    /// `evtx_dump`'s wrapper (`Event`), holding `System` and `EventData`.
    #[serde(rename = "Event")]
    pub(super) evtx: Option<Box<Lenient<RawEvent>>>,
    #[serde(rename = "System")]
    pub(super) system: Option<Lenient<RawSystem>>,
    pub(super) winlog: Option<Lenient<RawWinlog>>,
    pub(super) event: Option<Lenient<RawEcsEvent>>,
    pub(super) process: Option<Lenient<RawEcsProcess>>,
    pub(super) user: Option<Lenient<RawEcsName>>,
    pub(super) host: Option<Lenient<RawEcsName>>,
    pub(super) source: Option<Lenient<RawEcsEndpoint>>,
    pub(super) destination: Option<Lenient<RawEcsEndpoint>>,
    pub(super) network: Option<Lenient<RawEcsNetwork>>,
    pub(super) dns: Option<Lenient<RawEcsDns>>,
}

/// The `System` part of an event as `evtx_dump` writes it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawSystem {
    #[serde(rename = "EventID")]
    pub(super) event_id: Option<Flex>,
    #[serde(rename = "Channel")]
    pub(super) channel: Option<Flex>,
    #[serde(rename = "Computer")]
    pub(super) computer: Option<Flex>,
    #[serde(rename = "Provider")]
    pub(super) provider: Option<Lenient<RawProvider>>,
}

impl RawSystem {
    /// `Provider.#attributes.Name`.
    pub(super) fn provider_name(&self) -> Option<&Flex> {
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
pub(super) struct RawProvider {
    #[serde(rename = "#attributes")]
    pub(super) attributes: Option<Lenient<RawAttributes>>,
}

/// `System.Provider.#attributes`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawAttributes {
    #[serde(rename = "Name")]
    pub(super) name: Option<Flex>,
}

/// Winlogbeat's `winlog` object.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawWinlog {
    pub(super) event_id: Option<Flex>,
    pub(super) provider_name: Option<Flex>,
    pub(super) channel: Option<Flex>,
    pub(super) computer_name: Option<Flex>,
    pub(super) event_data: Option<Lenient<RawData>>,
}

/// ECS `event`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawEcsEvent {
    pub(super) code: Option<Flex>,
}

/// ECS `process`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawEcsProcess {
    pub(super) executable: Option<Flex>,
    pub(super) pid: Option<Flex>,
}

/// An ECS object read for its `name` (`user`, `host`, `dns.question`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawEcsName {
    pub(super) name: Option<Flex>,
}

/// ECS `source` or `destination`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawEcsEndpoint {
    pub(super) ip: Option<Flex>,
    pub(super) port: Option<Flex>,
}

/// ECS `network`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawEcsNetwork {
    pub(super) transport: Option<Flex>,
}

/// ECS `dns`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawEcsDns {
    pub(super) question: Option<Lenient<RawEcsName>>,
}
