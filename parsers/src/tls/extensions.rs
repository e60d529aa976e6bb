//! Lazy iterators over a hello's extension block and over lists of `u16`.
//!
//! The parsers validate every length once ([`validate_block`]), so these
//! iterators only re-walk bytes already known to be well formed; on bytes
//! that are not (which the parsers never hand them) they simply stop.

use super::{ExtensionType, Reader};
use crate::error::ParseError;

/// A list of big-endian `u16` values (cipher suites, groups, signature
/// schemes, versions), in wire order, GREASE kept.
#[derive(Debug, Clone, Default)]
pub struct U16List<'a> {
    rest: &'a [u8],
}

impl<'a> U16List<'a> {
    /// A list over `bytes`; a trailing odd byte is ignored (the parsers
    /// reject odd lengths before building one).
    pub const fn new(bytes: &'a [u8]) -> Self {
        U16List { rest: bytes }
    }

    /// The raw bytes not yet iterated.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.rest
    }
}

impl Iterator for U16List<'_> {
    type Item = u16;

    #[inline]
    fn next(&mut self) -> Option<u16> {
        let (v, tail) = self.rest.split_first_chunk::<2>()?;
        self.rest = tail;
        Some(u16::from_be_bytes(*v))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.rest.len() / 2;
        (n, Some(n))
    }
}

impl ExactSizeIterator for U16List<'_> {}

/// One extension of a hello: its type and its raw data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension<'a> {
    /// The extension type, GREASE kept.
    pub ext_type: ExtensionType,
    /// The extension data (after the 2-byte length).
    pub data: &'a [u8],
}

/// The extensions of a hello, in wire order.
#[derive(Debug, Clone, Default)]
pub struct Extensions<'a> {
    rest: &'a [u8],
}

impl<'a> Extensions<'a> {
    /// Iterates a validated extension block (without its 2-byte length).
    pub(crate) const fn new(block: &'a [u8]) -> Self {
        Extensions { rest: block }
    }

    /// The data of the first extension of type `t`, if any.
    pub fn get(mut self, t: ExtensionType) -> Option<&'a [u8]> {
        self.find(|e| e.ext_type == t).map(|e| e.data)
    }
}

impl<'a> Iterator for Extensions<'a> {
    type Item = Extension<'a>;

    fn next(&mut self) -> Option<Extension<'a>> {
        let mut r = Reader::new(self.rest);
        let t = r.u16("extension").ok()?;
        let data = r.vec16("extension").ok()?;
        self.rest = r.rest();
        Some(Extension {
            ext_type: ExtensionType(t),
            data,
        })
    }
}

/// The extension types of a hello as `u16`, in wire order, GREASE kept.
#[derive(Debug, Clone, Default)]
pub struct ExtensionTypes<'a> {
    inner: Extensions<'a>,
}

impl<'a> ExtensionTypes<'a> {
    pub(crate) const fn new(block: &'a [u8]) -> Self {
        ExtensionTypes {
            inner: Extensions::new(block),
        }
    }
}

impl Iterator for ExtensionTypes<'_> {
    type Item = u16;

    #[inline]
    fn next(&mut self) -> Option<u16> {
        self.inner.next().map(|e| e.ext_type.0)
    }
}

/// Checks that `block` is a sequence of whole extensions and calls `f` on
/// each, in wire order. Loop bounded: each step consumes at least 4 bytes.
pub(crate) fn validate_block<'a>(
    block: &'a [u8],
    mut f: impl FnMut(ExtensionType, &'a [u8]) -> Result<(), ParseError>,
) -> Result<(), ParseError> {
    let mut r = Reader::new(block);
    while !r.is_empty() {
        let t = r.u16("extension_header")?;
        let data = r.vec16("extension_length")?;
        f(ExtensionType(t), data)?;
    }
    Ok(())
}

/// A list with a 2-byte length prefix of `u16` values (even length).
pub(crate) fn u16_list16<'a>(data: &'a [u8], what: &'static str) -> Result<&'a [u8], ParseError> {
    let list = Reader::new(data).vec16(what)?;
    if list.len() % 2 != 0 {
        return Err(super::invalid(what));
    }
    Ok(list)
}

/// A list with a 1-byte length prefix of `u16` values (even length).
pub(crate) fn u16_list8<'a>(data: &'a [u8], what: &'static str) -> Result<&'a [u8], ParseError> {
    let list = Reader::new(data).vec8(what)?;
    if list.len() % 2 != 0 {
        return Err(super::invalid(what));
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u16_list_iterates_pairs() {
        let l = U16List::new(&[0x13, 0x01, 0x0a, 0x0a, 0xc0]);
        assert_eq!(l.len(), 2);
        assert_eq!(l.collect::<Vec<_>>(), vec![0x1301, 0x0a0a]);
    }

    #[test]
    fn block_validation() {
        // ext 0x0017 empty, ext 0x002b with 3 bytes.
        let block = [0x00, 0x17, 0, 0, 0x00, 0x2b, 0, 3, 2, 3, 4];
        let mut seen = vec![];
        validate_block(&block, |t, d| {
            seen.push((t.0, d.len()));
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, vec![(0x17, 0), (0x2b, 3)]);
        let types: Vec<u16> = ExtensionTypes::new(&block).collect();
        assert_eq!(types, vec![0x17, 0x2b]);
        assert_eq!(
            Extensions::new(&block).get(ExtensionType::SUPPORTED_VERSIONS),
            Some(&[2u8, 3, 4][..])
        );
        // Overrunning length and a dangling byte are both invalid.
        assert!(validate_block(&block[..10], |_, _| Ok(())).is_err());
        assert!(validate_block(&[0, 0, 0, 0, 1], |_, _| Ok(())).is_err());
    }

    #[test]
    fn prefixed_lists() {
        assert_eq!(u16_list16(&[0, 2, 0, 29, 9], "g").unwrap(), &[0, 29]);
        assert!(u16_list16(&[0, 3, 0, 29, 9], "g").is_err());
        assert!(u16_list16(&[0, 4, 0, 29], "g").is_err());
        assert_eq!(u16_list8(&[2, 3, 4], "v").unwrap(), &[3, 4]);
        assert!(u16_list8(&[1, 3], "v").is_err());
    }
}
