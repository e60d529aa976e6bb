//! DNS over TCP framing (RFC 1035 §4.2.2, RFC 7766): each message is
//! preceded by a two-byte big-endian length, and a segment may carry several
//! messages or a part of one.
//!
//! Hand-written: the framing is a two-byte length and `domain` only frames
//! messages inside its async networking code (feature `net`, tokio).
//!
//! The splitter never copies; the caller (the flow layer) keeps the bytes
//! after [`TcpMessages::consumed`] and prepends them to the next segment.
//! A message is at most 65535 bytes by construction (the length prefix).

use crate::error::{Layer, ParseError};

/// Size of the length prefix in front of each message.
pub const TCP_LEN_PREFIX: usize = 2;

/// Takes one length-prefixed message off the front of `stream`.
///
/// Returns the message (without its prefix) and the number of bytes it
/// used, prefix included.
///
/// # Errors
/// `Incomplete` with `needed` set to the number of missing bytes (for a
/// stream shorter than the prefix: the bytes missing to read the prefix;
/// more may follow). A zero length prefix is returned as an empty message,
/// which [`parse`](super::parse) rejects.
pub fn tcp_message(stream: &[u8]) -> Result<(&[u8], usize), ParseError> {
    let Some((prefix, rest)) = stream.split_first_chunk::<TCP_LEN_PREFIX>() else {
        return Err(ParseError::Incomplete {
            layer: Layer::Dns,
            needed: TCP_LEN_PREFIX - stream.len(),
        });
    };
    let len = usize::from(u16::from_be_bytes(*prefix));
    match rest.get(..len) {
        Some(msg) => Ok((msg, TCP_LEN_PREFIX + len)),
        None => Err(ParseError::Incomplete {
            layer: Layer::Dns,
            needed: len - rest.len(),
        }),
    }
}

/// Splits a TCP byte stream into its complete DNS messages.
///
/// ```
/// use virga_parsers::dns::tcp_messages;
/// // One complete 2-byte message, then 2 of the 3 bytes of the next one.
/// let stream = [0, 2, 0xab, 0xcd, 0, 3, 0xef, 0x01];
/// let mut it = tcp_messages(&stream);
/// assert_eq!(it.next(), Some(&[0xab, 0xcd][..]));
/// assert_eq!(it.next(), None);
/// assert_eq!(it.consumed(), 4); // keep stream[4..] for the next segment
/// assert_eq!(it.remainder(), &[0, 3, 0xef, 0x01]);
/// assert_eq!(it.needed(), 1);
/// ```
pub fn tcp_messages(stream: &[u8]) -> TcpMessages<'_> {
    TcpMessages {
        stream,
        consumed: 0,
    }
}

/// Iterator over the complete length-prefixed messages of a TCP stream; see
/// [`tcp_messages`]. After it returns `None`, [`TcpMessages::remainder`]
/// holds the bytes of an incomplete message (possibly empty).
#[derive(Clone, Debug)]
pub struct TcpMessages<'a> {
    stream: &'a [u8],
    consumed: usize,
}

impl<'a> TcpMessages<'a> {
    /// Bytes used by the messages returned so far, prefixes included.
    pub fn consumed(&self) -> usize {
        self.consumed
    }

    /// The bytes after the messages returned so far.
    pub fn remainder(&self) -> &'a [u8] {
        self.stream.get(self.consumed..).unwrap_or_default()
    }

    /// Bytes missing to complete the next message: 0 when the remainder is
    /// empty or holds a complete message; for a remainder of one byte, 1
    /// (the rest of the prefix; the message length is not known yet).
    pub fn needed(&self) -> usize {
        match tcp_message(self.remainder()) {
            Err(ParseError::Incomplete { needed, .. }) if !self.remainder().is_empty() => needed,
            _ => 0,
        }
    }
}

impl<'a> Iterator for TcpMessages<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (msg, used) = tcp_message(self.remainder()).ok()?;
        self.consumed += used;
        Some(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_reports_remainder() {
        let stream = [0, 2, 0xab, 0xcd, 0, 0, 0, 3, 0xef, 0x01, 0x02, 0, 5, 1, 2];
        let mut it = tcp_messages(&stream);
        assert_eq!(it.next(), Some(&[0xab, 0xcd][..]));
        assert_eq!(it.consumed(), 4);
        assert_eq!(it.next(), Some(&[][..]));
        assert_eq!(it.next(), Some(&[0xef, 0x01, 0x02][..]));
        assert_eq!(it.next(), None);
        assert_eq!(it.consumed(), 11);
        assert_eq!(it.remainder(), &[0, 5, 1, 2]);
        assert_eq!(it.needed(), 3);
        assert_eq!(it.next(), None);
    }

    #[test]
    fn short_prefix_and_empty() {
        let mut it = tcp_messages(&[0x01]);
        assert_eq!(it.next(), None);
        assert_eq!(it.needed(), 1);
        assert_eq!(it.remainder(), &[1]);
        let mut it = tcp_messages(&[]);
        assert_eq!(it.next(), None);
        assert_eq!(it.needed(), 0);
        assert_eq!(
            tcp_message(&[]),
            Err(ParseError::Incomplete {
                layer: Layer::Dns,
                needed: 2
            })
        );
        assert_eq!(
            tcp_message(&[0xff, 0xff, 0]),
            Err(ParseError::Incomplete {
                layer: Layer::Dns,
                needed: 65534
            })
        );
    }
}
