//! Link layer: Ethernet II + VLAN tags, Linux cooked v1/v2, BSD loopback, raw IP.
//!
//! Ethernet and VLAN headers are sliced with `etherparse`. The tag walk itself
//! is ours, because `LaxSlicedPacket` keeps at most three link extensions and
//! then silently stops before the IP layer (Zeek's `vlan-qinqinq` trace
//! already has three). Linux cooked v2 and BSD loopback are not in etherparse
//! at all, and its Linux cooked v1 slicer rejects ARPHRD values it does not
//! know; those fixed-size headers are read here with checked `get`s.

use etherparse::{Ethernet2Slice, SingleVlanSlice};

use super::types::{EtherType, LinkType, VlanTags};
use crate::error::{Layer, ParseError};

/// Length of a Linux cooked v1 header.
const SLL_LEN: usize = 16;
/// Length of a Linux cooked v2 header.
const SLL2_LEN: usize = 20;
/// ARPHRD_NETLINK: the SLL protocol field is then a netlink family, not an EtherType.
const ARPHRD_NETLINK: u16 = 824;

/// What the link layer yielded: the network-layer bytes and how to read them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Link<'a> {
    pub vlan: VlanTags,
    /// Innermost EtherType (or the equivalent of a loopback family / raw IP version).
    pub ether_type: Option<EtherType>,
    /// True when `payload` should be decoded as IPv4/IPv6.
    pub is_ip: bool,
    /// The bytes after the last link header.
    pub payload: &'a [u8],
    /// Why the link walk stopped early, if it did.
    pub stop: Option<ParseError>,
}

const TRUNC_LINK: ParseError = ParseError::Truncated { layer: Layer::Link };

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
}

/// Reads the link header of `frame` according to `link`.
///
/// # Errors
/// [`ParseError::Unsupported`] for an unknown link type, [`ParseError::Truncated`]
/// when the fixed link header itself is cut.
pub(crate) fn parse(link: LinkType, frame: &[u8]) -> Result<Link<'_>, ParseError> {
    match link {
        LinkType::ETHERNET => {
            let eth = Ethernet2Slice::from_slice_without_fcs(frame).map_err(|_| TRUNC_LINK)?;
            Ok(ether(EtherType(eth.ether_type().0), eth.payload_slice()))
        }
        LinkType::LINUX_SLL => {
            let (hdr, rest) = frame.split_at_checked(SLL_LEN).ok_or(TRUNC_LINK)?;
            let arphrd = be16(hdr, 2).ok_or(TRUNC_LINK)?;
            let proto = be16(hdr, 14).ok_or(TRUNC_LINK)?;
            Ok(cooked(arphrd, proto, rest))
        }
        LinkType::LINUX_SLL2 => {
            let (hdr, rest) = frame.split_at_checked(SLL2_LEN).ok_or(TRUNC_LINK)?;
            let proto = be16(hdr, 0).ok_or(TRUNC_LINK)?;
            let arphrd = be16(hdr, 8).ok_or(TRUNC_LINK)?;
            Ok(cooked(arphrd, proto, rest))
        }
        LinkType::NULL | LinkType::LOOP => {
            let (hdr, rest) = frame.split_at_checked(4).ok_or(TRUNC_LINK)?;
            let raw: [u8; 4] = hdr.try_into().map_err(|_| TRUNC_LINK)?;
            // Host byte order of the writer is unknown: a family value never
            // exceeds 16 bits, so a set high half means the other byte order.
            let mut family = u32::from_le_bytes(raw);
            if family & 0xffff_0000 != 0 {
                family = family.swap_bytes();
            }
            let ether_type = match family {
                2 => Some(EtherType::IPV4),
                // AF_INET6: Linux 10, NetBSD/OpenBSD 24, FreeBSD 28, Darwin 30.
                10 | 24 | 28 | 30 => Some(EtherType::IPV6),
                _ => None,
            };
            Ok(Link {
                vlan: VlanTags::default(),
                ether_type,
                is_ip: ether_type.is_some(),
                payload: rest,
                stop: match ether_type {
                    Some(_) => None,
                    None => Some(ParseError::Unsupported {
                        layer: Layer::Link,
                        what: "loopback_family",
                    }),
                },
            })
        }
        LinkType::RAW
        | LinkType::DLT_RAW_12
        | LinkType::DLT_RAW_14
        | LinkType::IPV4
        | LinkType::IPV6 => {
            let ether_type = match frame.first().map(|b| b >> 4) {
                Some(4) => Some(EtherType::IPV4),
                Some(6) => Some(EtherType::IPV6),
                _ => None,
            };
            // Always handed to the IP decoder, which reports a bad version.
            Ok(Link {
                vlan: VlanTags::default(),
                ether_type,
                is_ip: true,
                payload: frame,
                stop: None,
            })
        }
        _ => Err(ParseError::Unsupported {
            layer: Layer::Link,
            what: "link_type",
        }),
    }
}

/// Linux cooked v1/v2: the protocol field is an EtherType except on netlink.
fn cooked(arphrd: u16, proto: u16, rest: &[u8]) -> Link<'_> {
    if arphrd == ARPHRD_NETLINK {
        return Link {
            vlan: VlanTags::default(),
            ether_type: None,
            is_ip: false,
            payload: rest,
            stop: Some(ParseError::Unsupported {
                layer: Layer::Link,
                what: "sll_protocol",
            }),
        };
    }
    ether(EtherType(proto), rest)
}

/// Walks any number of VLAN tags (bounded: each consumes 4 bytes).
fn ether(mut ether_type: EtherType, mut payload: &[u8]) -> Link<'_> {
    let mut vlan = VlanTags::default();
    let mut stop = None;
    while ether_type.is_vlan() {
        match SingleVlanSlice::from_slice(payload) {
            Ok(tag) => {
                vlan.push(tag.vlan_identifier().value());
                ether_type = EtherType(tag.ether_type().0);
                payload = tag.payload_slice();
            }
            Err(_) => {
                stop = Some(TRUNC_LINK);
                break;
            }
        }
    }
    Link {
        vlan,
        ether_type: Some(ether_type),
        is_ip: stop.is_none() && (ether_type == EtherType::IPV4 || ether_type == EtherType::IPV6),
        payload,
        stop,
    }
}
