//! IPv4/IPv6 (via `etherparse::LaxIpSlice`) and TCP/UDP (via `TcpSlice` /
//! `UdpSlice::from_slice_lax`).
//!
//! Two small hand-written parts, each with its reason:
//! - the walk over the IPv6 extension headers to find the Fragment header:
//!   etherparse's `Ipv6ExtensionSliceIter` reads unchecked past the end of the
//!   slice after a lax parse that stopped inside the chain, so it must not be
//!   used on untrusted input;
//! - the fixed 20 bytes of a TCP header whose options were cut by the snap
//!   length: `TcpSlice` then fails, but ports and sequence numbers were
//!   captured and the flow tracker needs them.

use etherparse::err::{ip as ip_err, ipv6_exts, tcp as tcp_err};
use etherparse::{Ipv6FragmentHeaderSlice, LaxIpSlice, TcpSlice, UdpSlice};

use super::types::{IpProto, TcpFlags};
use super::{Fragment, IpView, PacketView, TcpSegment, Transport, UdpDatagram};
use crate::error::{Layer, ParseError};

const IPV6_HEADER_LEN: usize = 40;
const TCP_MIN_HEADER_LEN: usize = 20;
const UDP_HEADER_LEN: usize = 8;

fn be16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at.saturating_add(2)) {
        Some(&[x, y]) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at.saturating_add(4)) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A header that does not fit in what is left: truncated when the capture
/// ended before the IP length, invalid when the datagram was complete.
fn short(layer: Layer, ip_truncated: bool, what: &'static str) -> ParseError {
    if ip_truncated {
        ParseError::Truncated { layer }
    } else {
        ParseError::Invalid { layer, what }
    }
}

fn ip_header_error(e: &ip_err::LaxHeaderSliceError) -> ParseError {
    match e {
        ip_err::LaxHeaderSliceError::Len(_) => ParseError::Truncated { layer: Layer::Ip },
        ip_err::LaxHeaderSliceError::Content(ip_err::HeaderError::UnsupportedIpVersion {
            ..
        }) => ParseError::Invalid {
            layer: Layer::Ip,
            what: "ip_version",
        },
        ip_err::LaxHeaderSliceError::Content(_) => ParseError::Invalid {
            layer: Layer::Ip,
            what: "ipv4_ihl",
        },
    }
}

fn ext_error(e: &ipv6_exts::HeaderSliceError, ip_truncated: bool) -> ParseError {
    match e {
        ipv6_exts::HeaderSliceError::Len(_) => short(Layer::Ip, ip_truncated, "ext_header_length"),
        ipv6_exts::HeaderSliceError::Content(ipv6_exts::HeaderError::HopByHopNotAtStart) => {
            ParseError::Invalid {
                layer: Layer::Ip,
                what: "hop_by_hop_not_first",
            }
        }
        ipv6_exts::HeaderSliceError::Content(_) => ParseError::Invalid {
            layer: Layer::Ip,
            what: "auth_header",
        },
    }
}

/// Finds the first IPv6 Fragment header that fragments the payload.
///
/// `exts` are the extension headers etherparse already validated, starting
/// with type `first`. Returns (offset of the Fragment header in `exts`,
/// offset in the datagram of the Next Header byte naming it). Bounded: every
/// step advances by at least 8 bytes.
fn find_v6_fragment(first: u8, exts: &[u8]) -> Option<(usize, usize, Ipv6FragmentHeaderSlice<'_>)> {
    let mut next = first;
    let mut pos = 0usize;
    let mut next_header_pos = 6usize;
    while pos < exts.len() {
        let here = exts.get(pos..)?;
        let len = match next {
            0 | 43 | 60 => (usize::from(*here.get(1)?) + 1) * 8,
            44 => {
                let frag = Ipv6FragmentHeaderSlice::from_slice(here).ok()?;
                if frag.is_fragmenting_payload() {
                    return Some((pos, next_header_pos, frag));
                }
                8
            }
            51 => (usize::from(*here.get(1)?) + 2) * 4,
            _ => return None,
        };
        next_header_pos = IPV6_HEADER_LEN + pos;
        next = *here.first()?;
        pos = pos.checked_add(len)?;
    }
    None
}

/// Decodes the IP datagram at the start of `bytes` into `view`.
pub(super) fn decode_into<'a>(bytes: &'a [u8], view: &mut PacketView<'a>) {
    let (ip, ext_err) = match LaxIpSlice::from_slice(bytes) {
        Ok(x) => x,
        Err(e) => {
            view.stop = Some(ip_header_error(&e));
            return;
        }
    };
    let lax_payload = ip.payload();
    let mut stop = None;
    let v = match &ip {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            let ihl_len = h.slice().len();
            let auth_len = v4.extensions().auth.map_or(0, |a| a.slice().len());
            let total_field = usize::from(h.total_len());
            let total_len = if total_field < ihl_len {
                stop = Some(ParseError::Invalid {
                    layer: Layer::Ip,
                    what: "ipv4_total_len",
                });
                bytes.len()
            } else {
                total_field
            };
            let offset = h.fragments_offset();
            let fragment = (h.more_fragments() || offset.value() != 0).then(|| Fragment {
                offset: offset.byte_offset(),
                more: h.more_fragments(),
                id: u32::from(h.identification()),
                protocol: IpProto(h.protocol().0),
                data_offset: to_u32(ihl_len),
                next_header_pos: 0,
            });
            IpView {
                version: 4,
                src: h.source_addr().into(),
                dst: h.destination_addr().into(),
                protocol: IpProto(lax_payload.ip_number.0),
                ttl: h.ttl(),
                header_len: to_u32(ihl_len + auth_len),
                total_len: to_u32(total_len),
                ipv4_id: h.identification(),
                dont_fragment: h.dont_fragment(),
                fragment,
                truncated: bytes.len() < total_len,
                datagram: bytes.get(..total_len).unwrap_or(bytes),
                payload: lax_payload.payload,
            }
        }
        LaxIpSlice::Ipv6(v6) => {
            let h = v6.header();
            let exts = v6.extensions().slice();
            let plen = usize::from(h.payload_length());
            let total_len = if plen == 0 {
                bytes.len()
            } else {
                IPV6_HEADER_LEN + plen
            };
            let fragment = if lax_payload.fragmented {
                find_v6_fragment(h.next_header().0, exts).map(|(pos, nh_pos, frag)| Fragment {
                    offset: frag.fragment_offset().byte_offset(),
                    more: frag.more_fragments(),
                    id: frag.identification(),
                    protocol: IpProto(frag.next_header().0),
                    data_offset: to_u32(IPV6_HEADER_LEN + pos + 8),
                    next_header_pos: to_u32(nh_pos),
                })
            } else {
                None
            };
            IpView {
                version: 6,
                src: h.source_addr().into(),
                dst: h.destination_addr().into(),
                protocol: IpProto(lax_payload.ip_number.0),
                ttl: h.hop_limit(),
                header_len: to_u32(IPV6_HEADER_LEN + exts.len()),
                total_len: to_u32(total_len),
                ipv4_id: 0,
                dont_fragment: false,
                fragment,
                truncated: bytes.len() < total_len,
                datagram: bytes.get(..total_len).unwrap_or(bytes),
                payload: lax_payload.payload,
            }
        }
    };
    let mut v = v;
    let mut ext_err = ext_err;
    if let Some(f) = v.fragment.filter(|f| v.version == 6 && f.offset != 0) {
        // A later IPv6 fragment holds payload only: etherparse may have taken
        // its first bytes for extension headers when the Fragment header's
        // Next Header names one. Its data starts right after the Fragment header.
        ext_err = None;
        v.protocol = f.protocol;
        v.header_len = f.data_offset;
        v.payload = v.datagram.get(f.data_offset as usize..).unwrap_or(&[]);
    }
    if let Some((e, _)) = &ext_err {
        stop = Some(ext_error(e, v.truncated));
    }
    view.ip = Some(v);
    if stop.is_some() {
        view.stop = stop;
        return;
    }
    if v.fragment.is_some() {
        return;
    }
    let (transport, stop) = match v.protocol {
        IpProto::TCP => tcp(&v),
        IpProto::UDP => udp(&v),
        protocol => (Transport::Other { protocol }, None),
    };
    view.transport = transport;
    view.stop = stop;
}

fn tcp<'a>(ip: &IpView<'a>) -> (Transport<'a>, Option<ParseError>) {
    let p = ip.payload;
    match TcpSlice::from_slice(p) {
        Ok(t) => {
            let header_len = t.header_len();
            let wire_payload_len = ip.wire_payload_len().saturating_sub(to_u32(header_len));
            let payload = t.payload();
            (
                Transport::Tcp(TcpSegment {
                    src_port: t.source_port(),
                    dst_port: t.destination_port(),
                    seq: t.sequence_number(),
                    ack: t.acknowledgment_number(),
                    flags: TcpFlags(be16(t.header_slice(), 12) & 0x0fff),
                    window: t.window_size(),
                    header_len: u8::try_from(header_len).unwrap_or(u8::MAX),
                    payload,
                    wire_payload_len,
                    payload_truncated: to_u32(payload.len()) < wire_payload_len,
                }),
                None,
            )
        }
        Err(tcp_err::HeaderSliceError::Content(_)) => (
            Transport::None,
            Some(ParseError::Invalid {
                layer: Layer::Tcp,
                what: "tcp_data_offset",
            }),
        ),
        Err(tcp_err::HeaderSliceError::Len(_)) => {
            let stop = Some(short(Layer::Tcp, ip.truncated, "tcp_header_length"));
            if p.len() < TCP_MIN_HEADER_LEN {
                return (Transport::None, stop);
            }
            // Fixed header captured, options cut: keep what is there.
            let header_len = u32::from(p.get(12).map_or(0, |b| b >> 4)) * 4;
            let wire_payload_len = ip.wire_payload_len().saturating_sub(header_len);
            (
                Transport::Tcp(TcpSegment {
                    src_port: be16(p, 0),
                    dst_port: be16(p, 2),
                    seq: be32(p, 4),
                    ack: be32(p, 8),
                    flags: TcpFlags(be16(p, 12) & 0x0fff),
                    window: be16(p, 14),
                    header_len: u8::try_from(header_len).unwrap_or(u8::MAX),
                    payload: &[],
                    wire_payload_len,
                    payload_truncated: ip.truncated,
                }),
                stop,
            )
        }
    }
}

fn udp<'a>(ip: &IpView<'a>) -> (Transport<'a>, Option<ParseError>) {
    let p = ip.payload;
    let Ok(u) = UdpSlice::from_slice_lax(p) else {
        return (
            Transport::None,
            Some(short(Layer::Udp, ip.truncated, "udp_header_length")),
        );
    };
    let length = u.length();
    let claimed = usize::from(length);
    let (payload_truncated, stop) = if claimed < UDP_HEADER_LEN {
        // 0 is legal only in an IPv6 jumbogram; the payload is then the rest.
        if claimed == 0 && ip.version == 6 {
            (false, None)
        } else {
            (
                false,
                Some(ParseError::Invalid {
                    layer: Layer::Udp,
                    what: "udp_length",
                }),
            )
        }
    } else if claimed > p.len() {
        if ip.truncated {
            (true, None)
        } else {
            (
                false,
                Some(ParseError::Invalid {
                    layer: Layer::Udp,
                    what: "udp_length",
                }),
            )
        }
    } else {
        (false, None)
    };
    (
        Transport::Udp(UdpDatagram {
            src_port: u.source_port(),
            dst_port: u.destination_port(),
            length,
            payload: u.payload(),
            payload_truncated,
        }),
        stop,
    )
}
