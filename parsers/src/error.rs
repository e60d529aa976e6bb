//! The one error type of every parser: small, `Copy`, no heap.
//!
//! "Need more bytes" ([`ParseError::Incomplete`]) is its own variant, apart from
//! "the bytes are wrong" ([`ParseError::Invalid`]), so that a caller holding a
//! stream (TCP segments, QUIC CRYPTO frames) knows whether to wait for more data
//! or to give up on the message.

/// The protocol layer a [`ParseError`] is about; also used as a counter label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Layer {
    /// Link layer: Ethernet, VLAN tags, Linux cooked, BSD loopback.
    Link,
    /// IPv4 or IPv6, extension headers and fragments included.
    Ip,
    /// TCP header.
    Tcp,
    /// UDP header.
    Udp,
    /// DNS message.
    Dns,
    /// TLS record or handshake message.
    Tls,
    /// QUIC packet, its protection or its frames.
    Quic,
    /// HTTP/1.x request head.
    Http,
}

impl Layer {
    /// Stable lower-case name, for counters and logs.
    pub const fn name(self) -> &'static str {
        match self {
            Layer::Link => "link",
            Layer::Ip => "ip",
            Layer::Tcp => "tcp",
            Layer::Udp => "udp",
            Layer::Dns => "dns",
            Layer::Tls => "tls",
            Layer::Quic => "quic",
            Layer::Http => "http",
        }
    }
}

impl core::fmt::Display for Layer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a parser did not return a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// The bytes so far are a valid prefix; `needed` more bytes are required
    /// (0 when the amount is not known yet).
    #[error("{layer}: incomplete, need {needed} more bytes")]
    Incomplete {
        /// Layer that needs more bytes.
        layer: Layer,
        /// Number of missing bytes, or 0 when unknown.
        needed: usize,
    },
    /// The capture holds fewer bytes than the headers say (snaplen cut); more
    /// bytes will never come for this packet.
    #[error("{layer}: truncated")]
    Truncated {
        /// Layer whose bytes were cut short.
        layer: Layer,
    },
    /// The bytes break the protocol's rules.
    #[error("{layer}: invalid {what}")]
    Invalid {
        /// Layer that is malformed.
        layer: Layer,
        /// Short, stable description of what is wrong (snake_case).
        what: &'static str,
    },
    /// Well-formed, but a variant this parser does not handle (a link type,
    /// a QUIC version, ...).
    #[error("{layer}: unsupported {what}")]
    Unsupported {
        /// Layer of the unsupported feature.
        layer: Layer,
        /// Short, stable description of what is unsupported (snake_case).
        what: &'static str,
    },
}

impl ParseError {
    /// The layer the error is about.
    pub const fn layer(self) -> Layer {
        match self {
            ParseError::Incomplete { layer, .. }
            | ParseError::Truncated { layer }
            | ParseError::Invalid { layer, .. }
            | ParseError::Unsupported { layer, .. } => layer,
        }
    }

    /// True when more bytes of the same stream could complete the message.
    pub const fn is_incomplete(self) -> bool {
        matches!(self, ParseError::Incomplete { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_layer_and_reason() {
        let e = ParseError::Invalid {
            layer: Layer::Dns,
            what: "label_too_long",
        };
        assert_eq!(e.to_string(), "dns: invalid label_too_long");
        assert_eq!(e.layer(), Layer::Dns);
        assert!(!e.is_incomplete());
        let i = ParseError::Incomplete {
            layer: Layer::Tls,
            needed: 12,
        };
        assert!(i.is_incomplete());
        assert_eq!(i.to_string(), "tls: incomplete, need 12 more bytes");
    }
}
