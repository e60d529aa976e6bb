//! L2–L4 decoding of one captured frame into a borrowed [`PacketView`].
//!
//! # Contract
//! - [`decode`] takes a pcap link type and the captured bytes of one frame and
//!   returns a [`PacketView`] borrowing them; it never allocates, copies
//!   packet bytes or panics. [`decode_ip`] does the same from an IP header
//!   (for raw-IP captures and for datagrams rebuilt by
//!   [`crate::defrag::Defragmenter`]).
//! - Decoding is lax, on top of `etherparse`'s lax slicers: a frame cut by
//!   the snap length still yields every header that was captured. Where and
//!   why decoding stopped is in [`PacketView::stop`] (layer + reason), so the
//!   caller can count truncated and invalid packets per layer.
//! - `Err` is returned only when not even the link header could be read
//!   (unknown link type, frame shorter than the fixed link header). Every
//!   other problem gives `Ok` with a partial view and `stop` set.
//! - Non-IP frames (ARP, LLDP, 802.3/LLC, ...) are `Ok` with
//!   [`PacketView::ip`] `None`, `stop` `None` and the EtherType in
//!   [`PacketView::ether_type`]: they are not errors, only not for us.
//! - TCP/UDP payloads are cut to the IP length (Ethernet padding never leaks
//!   into a payload) and to the UDP length, and then to what was captured;
//!   `payload_truncated` says when the capture ended first.
//! - IP fragments (any fragment, the first one included) get
//!   [`Transport::None`]: their payload is in [`IpView::payload`] and the
//!   whole datagram slice in [`IpView::datagram`], for the defragmenter.
//!   An IPv6 atomic fragment (offset 0, no more fragments) is not a fragment.
//!
//! # Supported
//! Link types: Ethernet II (any number of 802.1Q `0x8100`, 802.1ad `0x88a8`
//! and `0x9100` tags; the first [`MAX_VLAN_IDS`] ids are kept), Linux cooked
//! v1 and v2, BSD loopback (`NULL` and `LOOP`, family in either byte order),
//! raw IP (101, 12, 14, 228, 229). Network: IPv4 (with options and AH) and
//! IPv6 with Hop-by-Hop, Routing, Fragment, Destination Options and AH
//! extension headers. Transport: TCP, UDP; other protocols are reported as
//! [`Transport::Other`]. Tunnels (GRE, IP-in-IP, MPLS, PPPoE) are not
//! followed. Checksums are not verified.
//!
//! # Truncated vs. invalid
//! A header that runs past the captured bytes is [`ParseError::Truncated`]
//! when the IP length says more bytes existed (snap length), and
//! [`ParseError::Invalid`] when the IP datagram was complete (the header
//! lengths disagree). `decode` does not know the original frame length, so a
//! frame whose IP length exceeds the capture is always taken as truncated.

mod ip;
mod link;
mod types;

use std::net::IpAddr;

pub use types::{EtherType, IpProto, LinkType, TcpFlags, VlanTags, MAX_VLAN_IDS};

use crate::error::ParseError;

/// Decoded headers of one frame, borrowing the frame bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PacketView<'a> {
    /// The link type the frame was decoded as.
    pub link: LinkType,
    /// VLAN tags, outer to inner (empty for link types without tags).
    pub vlan: VlanTags,
    /// Innermost EtherType (for loopback and raw IP: the one matching the
    /// family / IP version); `None` when the link layer has no such value
    /// (unknown loopback family, netlink cooked capture, raw IP with a bad
    /// version nibble).
    pub ether_type: Option<EtherType>,
    /// The IP header, when the frame carries IPv4/IPv6 and its fixed header
    /// was captured.
    pub ip: Option<IpView<'a>>,
    /// The transport header and payload.
    pub transport: Transport<'a>,
    /// Why decoding stopped before the end, if it did: the first truncated,
    /// invalid or unsupported header (see the module docs). `None` also for
    /// non-IP frames and for fragments.
    pub stop: Option<ParseError>,
}

impl<'a> PacketView<'a> {
    /// The IP datagram bytes from the IP header on (cut to the IP length and
    /// the capture), for the defragmenter.
    pub fn ip_datagram(&self) -> Option<&'a [u8]> {
        self.ip.map(|ip| ip.datagram)
    }

    /// TCP or UDP payload (empty for other transports).
    pub fn payload(&self) -> &'a [u8] {
        match self.transport {
            Transport::Tcp(t) => t.payload,
            Transport::Udp(u) => u.payload,
            Transport::Other { .. } | Transport::None => &[],
        }
    }

    /// Source and destination ports of a TCP or UDP packet.
    pub fn ports(&self) -> Option<(u16, u16)> {
        match self.transport {
            Transport::Tcp(t) => Some((t.src_port, t.dst_port)),
            Transport::Udp(u) => Some((u.src_port, u.dst_port)),
            Transport::Other { .. } | Transport::None => None,
        }
    }
}

/// An IPv4 or IPv6 header (with its extension headers) and its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct IpView<'a> {
    /// 4 or 6.
    pub version: u8,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Upper-layer protocol: IPv4 Protocol (after an AH header, if any), or
    /// for IPv6 the Next Header after the extension headers that were walked.
    pub protocol: IpProto,
    /// IPv4 TTL or IPv6 Hop Limit.
    pub ttl: u8,
    /// Bytes before the upper-layer payload: IPv4 header with options (+ AH),
    /// or the 40-byte IPv6 header plus the extension headers walked.
    pub header_len: u32,
    /// Datagram length per the header: IPv4 Total Length, IPv6 40 + Payload
    /// Length. When that field is unusable (IPv4 Total Length below the
    /// header length, IPv6 jumbogram with Payload Length 0), the captured
    /// length.
    pub total_len: u32,
    /// IPv4 identification (0 for IPv6; see [`Fragment::id`]).
    pub ipv4_id: u16,
    /// IPv4 Don't Fragment flag (false for IPv6).
    pub dont_fragment: bool,
    /// Set when this datagram is a fragment (offset > 0 or more fragments).
    pub fragment: Option<Fragment>,
    /// True when fewer bytes were captured than `total_len`.
    pub truncated: bool,
    /// The datagram from the IP header on, cut to `total_len` and to the capture.
    pub datagram: &'a [u8],
    /// The upper-layer bytes (after `header_len`), cut the same way; for a
    /// fragment, the fragment's part of the payload.
    pub payload: &'a [u8],
}

impl IpView<'_> {
    /// True when the datagram is a fragment (see [`IpView::fragment`]).
    pub const fn is_fragment(&self) -> bool {
        self.fragment.is_some()
    }

    /// Upper-layer payload length per the headers (`total_len - header_len`).
    pub const fn wire_payload_len(&self) -> u32 {
        self.total_len.saturating_sub(self.header_len)
    }
}

/// Fragmentation fields of an IPv4 fragment or an IPv6 Fragment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fragment {
    /// Offset of this fragment's data in the original payload, in bytes
    /// (the header field times 8).
    pub offset: u16,
    /// More Fragments flag.
    pub more: bool,
    /// Identification (16-bit for IPv4, 32-bit for IPv6).
    pub id: u32,
    /// Protocol of the reassembled payload (IPv4 Protocol or the Fragment
    /// header's Next Header).
    pub protocol: IpProto,
    /// Offset of the fragment data in [`IpView::datagram`].
    pub(crate) data_offset: u32,
    /// Offset in [`IpView::datagram`] of the Next Header byte that names the
    /// Fragment header (IPv6), or 0 (IPv4).
    pub(crate) next_header_pos: u32,
}

/// The transport layer of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport<'a> {
    /// A TCP segment.
    Tcp(TcpSegment<'a>),
    /// A UDP datagram.
    Udp(UdpDatagram<'a>),
    /// Another protocol (ICMP, ESP, ...): its bytes are [`IpView::payload`].
    Other {
        /// The upper-layer protocol number.
        protocol: IpProto,
    },
    /// No transport: not IP, an IP fragment, or decoding stopped before it
    /// (see [`PacketView::stop`]).
    None,
}

/// A TCP header and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct TcpSegment<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number (absolute).
    pub seq: u32,
    /// Acknowledgment number (absolute).
    pub ack: u32,
    /// Flags.
    pub flags: TcpFlags,
    /// Receive window (unscaled).
    pub window: u16,
    /// Header length in bytes (data offset × 4).
    pub header_len: u8,
    /// Payload bytes present in the capture, cut to the IP length.
    pub payload: &'a [u8],
    /// Payload length per the IP header (what tshark calls `tcp.len`); larger
    /// than `payload.len()` when the capture was cut.
    pub wire_payload_len: u32,
    /// True when the capture holds less payload than `wire_payload_len`
    /// (also when the options were cut; `stop` then says `Truncated(Tcp)`).
    pub payload_truncated: bool,
}

/// A UDP header and payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct UdpDatagram<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// The Length field (header + payload), as sent.
    pub length: u16,
    /// Payload bytes present in the capture, cut to the UDP length (when it is
    /// consistent) and the IP length.
    pub payload: &'a [u8],
    /// True when the capture holds less payload than the UDP length says.
    pub payload_truncated: bool,
}

/// Decodes one captured frame of link type `link`.
///
/// # Errors
/// - [`ParseError::Unsupported`] (`Link`, `link_type`) for a link type this
///   module does not handle (see [`LinkType::is_supported`]);
/// - [`ParseError::Truncated`] (`Link`) when the frame is shorter than the
///   fixed link header (14 bytes Ethernet, 16/20 cooked, 4 loopback).
///
/// Everything after the link header is reported through the returned view.
pub fn decode(link: LinkType, frame: &[u8]) -> Result<PacketView<'_>, ParseError> {
    let l = link::parse(link, frame)?;
    let mut view = PacketView {
        link,
        vlan: l.vlan,
        ether_type: l.ether_type,
        ip: None,
        transport: Transport::None,
        stop: l.stop,
    };
    if l.is_ip {
        ip::decode_into(l.payload, &mut view);
    }
    Ok(view)
}

/// Decodes a datagram that starts with an IPv4 or IPv6 header (raw IP, or
/// the output of [`crate::defrag::Defragmenter`]). Same as
/// `decode(LinkType::RAW, datagram)`, which cannot fail.
pub fn decode_ip(datagram: &[u8]) -> PacketView<'_> {
    let mut view = PacketView {
        link: LinkType::RAW,
        vlan: VlanTags::default(),
        ether_type: match datagram.first().map(|b| b >> 4) {
            Some(4) => Some(EtherType::IPV4),
            Some(6) => Some(EtherType::IPV6),
            _ => None,
        },
        ip: None,
        transport: Transport::None,
        stop: None,
    };
    ip::decode_into(datagram, &mut view);
    view
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Layer;

    /// The real frames these tests read from the shared folder (public
    /// captures are never copied into the repository); None, with a note,
    /// without it on a bare clone, and the tests then pass without checking
    /// (in CI, a failure).
    struct Frames {
        padded_synack: Vec<u8>,
        null_v6_ack: Vec<u8>,
        qinqinq_get: Vec<u8>,
        qinq_arp: Vec<u8>,
        null_v6_udp_cut: Vec<u8>,
        v6_later_fragment: Vec<u8>,
    }

    fn frames() -> Option<Frames> {
        use crate::public_payloads::record;
        Some(Frames {
            padded_synack: record("tcpdump/dns_tcp.pcap", 2)?,
            null_v6_ack: record("ja4/tls-alpn-h2.pcap", 3)?,
            qinqinq_get: record("zeek/vlan-qinqinq.pcap", 4)?,
            qinq_arp: record("tcpdump/802.1ad_QinQ.pcap", 1)?,
            null_v6_udp_cut: record("tcpdump/quic_handshake_truncated.pcap", 1)?,
            v6_later_fragment: record("pcapplusplus/ip6_fragments.pcap", 2)?,
        })
    }

    fn tcp<'a>(v: &PacketView<'a>) -> TcpSegment<'a> {
        match v.transport {
            Transport::Tcp(t) => t,
            other => panic!("expected TCP, got {other:?} (stop {:?})", v.stop),
        }
    }

    #[test]
    fn ethernet_padding_never_reaches_the_payload() {
        let Some(f) = frames() else {
            return;
        };
        let padded_synack = f.padded_synack.as_slice();
        // tcpdump dns_tcp.pcap pkt 2: 60-byte frame, IPv4 total length 44.
        assert_eq!(padded_synack.len(), 60);
        let v = decode(LinkType::ETHERNET, padded_synack).unwrap();
        assert_eq!(v.stop, None);
        assert_eq!(v.ether_type, Some(EtherType::IPV4));
        let ip = v.ip.unwrap();
        assert_eq!(
            (ip.total_len, ip.datagram.len(), ip.header_len),
            (44, 44, 20)
        );
        assert!(!ip.truncated && !ip.is_fragment());
        let t = tcp(&v);
        assert_eq!((t.src_port, t.dst_port), (53, 33779));
        assert_eq!((t.seq, t.ack), (2_043_824_403, 603_899_917));
        assert!(t.flags.syn() && t.flags.ack() && !t.flags.fin() && !t.flags.rst());
        assert_eq!(t.header_len, 24);
        assert!(t.payload.is_empty(), "padding leaked: {:?}", t.payload);
        assert_eq!(t.wire_payload_len, 0);
        assert!(!t.payload_truncated);
    }

    #[test]
    fn bsd_loopback_family_in_either_byte_order() {
        let Some(f) = frames() else {
            return;
        };
        let null_v6_ack = f.null_v6_ack.as_slice();
        // ja4 tls-alpn-h2.pcap pkt 3: family 30 (Darwin AF_INET6), little-endian.
        let le = decode(LinkType::NULL, null_v6_ack).unwrap();
        let ip = le.ip.unwrap();
        assert_eq!(ip.version, 6);
        assert_eq!(
            ip.src,
            "2001:4998:ef83:14:8000::100d".parse::<IpAddr>().unwrap()
        );
        assert_eq!(ip.dst, "2606:4700::6811:d209".parse::<IpAddr>().unwrap());
        assert_eq!((ip.ttl, ip.total_len, ip.protocol), (64, 60, IpProto::TCP));
        let t = tcp(&le);
        assert_eq!((t.src_port, t.dst_port, t.seq), (64034, 443, 857_026_347));

        let mut be = null_v6_ack.to_vec();
        be[..4].copy_from_slice(&30u32.to_be_bytes());
        assert_eq!(decode(LinkType::NULL, &be).unwrap().ip, le.ip);
        assert_eq!(decode(LinkType::LOOP, &be).unwrap().ip, le.ip);
        for family in [10u32, 24, 28] {
            be[..4].copy_from_slice(&family.to_le_bytes());
            assert_eq!(
                decode(LinkType::NULL, &be).unwrap().ip,
                le.ip,
                "AF {family}"
            );
        }

        be[..4].copy_from_slice(&99u32.to_le_bytes());
        let v = decode(LinkType::NULL, &be).unwrap();
        assert_eq!(v.ip, None);
        assert_eq!(v.ether_type, None);
        assert_eq!(
            v.stop,
            Some(ParseError::Unsupported {
                layer: Layer::Link,
                what: "loopback_family"
            })
        );
    }

    #[test]
    fn vlan_tags_beyond_three_are_walked_and_counted() {
        let Some(f) = frames() else {
            return;
        };
        let qinqinq_get = f.qinqinq_get.as_slice();
        // Zeek vlan-qinqinq.pcap pkt 4: three 802.1Q tags 30/20/10, HTTP GET.
        let v = decode(LinkType::ETHERNET, qinqinq_get).unwrap();
        assert_eq!(v.vlan.ids(), &[30, 20, 10]);
        assert_eq!(v.vlan.count(), 3);
        let t = tcp(&v);
        assert_eq!((t.src_port, t.dst_port, t.payload.len()), (59856, 80, 136));
        assert!(t
            .payload
            .starts_with(b"GET /download/CHANGES.bro-aux.txt HTTP/1.1\r\n"));

        // Two more outer tags (802.1ad vid 7, 0x9100 vid 8) in front: five in all.
        let mut five = qinqinq_get[..12].to_vec();
        five.extend_from_slice(&[0x88, 0xa8, 0x00, 0x07, 0x91, 0x00, 0x00, 0x08]);
        five.extend_from_slice(&qinqinq_get[12..]);
        let v5 = decode(LinkType::ETHERNET, &five).unwrap();
        assert_eq!(v5.vlan.ids(), &[7, 8, 30]);
        assert_eq!(v5.vlan.count(), 5);
        assert_eq!(v5.vlan.outer(), Some(7));
        assert_eq!(v5.stop, None);
        assert_eq!(v5.transport, v.transport);

        // A tag cut in the middle stops at the link layer.
        let v = decode(LinkType::ETHERNET, &qinqinq_get[..24]).unwrap();
        assert_eq!(v.stop, Some(ParseError::Truncated { layer: Layer::Link }));
        assert_eq!(v.vlan.ids(), &[30, 20]);
        assert_eq!(v.ip, None);
    }

    #[test]
    fn non_ip_frames_are_ok_without_ip() {
        let Some(f) = frames() else {
            return;
        };
        let qinq_arp = f.qinq_arp.as_slice();
        // tcpdump 802.1ad_QinQ.pcap pkt 1: 802.1ad 200 / 802.1Q 2001 / ARP.
        let v = decode(LinkType::ETHERNET, qinq_arp).unwrap();
        assert_eq!(v.vlan.ids(), &[200, 2001]);
        assert_eq!(v.ether_type, Some(EtherType::ARP));
        assert_eq!(v.ether_type.and_then(EtherType::name), Some("arp"));
        assert_eq!((v.ip, v.transport, v.stop), (None, Transport::None, None));
    }

    #[test]
    fn snaplen_cut_udp_keeps_header_and_flags_payload() {
        let Some(f) = frames() else {
            return;
        };
        let null_v6_udp_cut = f.null_v6_udp_cut.as_slice();
        // tcpdump quic_handshake_truncated.pcap pkt 1: 256 of 1252 bytes.
        let v = decode(LinkType::NULL, null_v6_udp_cut).unwrap();
        let ip = v.ip.unwrap();
        assert!(ip.truncated);
        assert_eq!((ip.total_len, ip.datagram.len()), (1248, 252));
        assert_eq!(v.stop, None);
        let Transport::Udp(u) = v.transport else {
            panic!("expected UDP: {:?}", v.transport)
        };
        assert_eq!((u.src_port, u.dst_port, u.length), (65165, 443, 1208));
        assert_eq!(u.payload.len(), 256 - 4 - 40 - 8);
        assert!(u.payload_truncated);
        assert_eq!(v.payload(), u.payload);
        assert_eq!(v.ports(), Some((65165, 443)));
    }

    #[test]
    fn later_ipv6_fragment_is_payload_only() {
        let Some(f) = frames() else {
            return;
        };
        let v6_later_fragment = f.v6_later_fragment.as_slice();
        // PcapPlusPlus ip6_fragments.pcap record 2: offset 120, more, id 2904867.
        let v = decode(LinkType::ETHERNET, v6_later_fragment).unwrap();
        let ip = v.ip.unwrap();
        let f = ip.fragment.unwrap();
        assert_eq!(
            (f.offset, f.more, f.id, f.protocol),
            (120, true, 2_904_867, IpProto::UDP)
        );
        assert_eq!((v.transport, v.stop), (Transport::None, None));
        assert_eq!(ip.total_len, 168);
        assert_eq!((ip.header_len, ip.payload.len()), (48, 120));
        assert_eq!(ip.payload, &v6_later_fragment[14 + 48..]);

        // Fragment header naming Destination Options: the fragment's bytes
        // must not be read as an extension header.
        let mut opts = v6_later_fragment.to_vec();
        opts[14 + 40] = 60;
        let w = decode(LinkType::ETHERNET, &opts).unwrap();
        let wip = w.ip.unwrap();
        assert_eq!(w.stop, None);
        assert_eq!(wip.fragment.map(|f| f.protocol), Some(IpProto::IPV6_OPTS));
        assert_eq!((wip.header_len, wip.payload), (48, &opts[14 + 48..]));
    }

    #[test]
    fn link_layer_errors() {
        let Some(f) = frames() else {
            return;
        };
        let (padded_synack, null_v6_ack, qinq_arp) = (
            f.padded_synack.as_slice(),
            f.null_v6_ack.as_slice(),
            f.qinq_arp.as_slice(),
        );
        assert_eq!(
            decode(LinkType(147), qinq_arp),
            Err(ParseError::Unsupported {
                layer: Layer::Link,
                what: "link_type"
            })
        );
        assert!(!LinkType(147).is_supported());
        let trunc = Err(ParseError::Truncated { layer: Layer::Link });
        assert_eq!(decode(LinkType::ETHERNET, &padded_synack[..13]), trunc);
        assert_eq!(decode(LinkType::LINUX_SLL, &padded_synack[..15]), trunc);
        assert_eq!(decode(LinkType::LINUX_SLL2, &padded_synack[..19]), trunc);
        assert_eq!(decode(LinkType::NULL, &null_v6_ack[..3]), trunc);
        let raw = decode(LinkType::RAW, &[]).unwrap();
        assert_eq!(raw.stop, Some(ParseError::Truncated { layer: Layer::Ip }));
        let bad = decode(LinkType::IPV4, &[0x50; 24]).unwrap();
        assert_eq!(
            bad.stop,
            Some(ParseError::Invalid {
                layer: Layer::Ip,
                what: "ip_version"
            })
        );
    }

    #[test]
    fn raw_ip_entry_points_agree() {
        let Some(f) = frames() else {
            return;
        };
        let (padded_synack, null_v6_ack) = (f.padded_synack.as_slice(), f.null_v6_ack.as_slice());
        let datagram = &padded_synack[14..58];
        let a = decode_ip(datagram);
        for link in [
            LinkType::RAW,
            LinkType::IPV4,
            LinkType::DLT_RAW_12,
            LinkType::DLT_RAW_14,
        ] {
            let b = decode(link, datagram).unwrap();
            assert_eq!((a.ip, a.transport, a.stop), (b.ip, b.transport, b.stop));
        }
        assert_eq!(a.ip, decode(LinkType::ETHERNET, padded_synack).unwrap().ip);
        let v6 = decode(LinkType::IPV6, &null_v6_ack[4..]).unwrap();
        assert_eq!(v6.ip, decode(LinkType::NULL, null_v6_ack).unwrap().ip);
    }

    #[test]
    fn every_prefix_of_a_valid_frame_is_truncated_never_invalid() {
        let Some(f) = frames() else {
            return;
        };
        let (padded_synack, null_v6_ack, qinqinq_get, qinq_arp, null_v6_udp_cut) = (
            f.padded_synack.as_slice(),
            f.null_v6_ack.as_slice(),
            f.qinqinq_get.as_slice(),
            f.qinq_arp.as_slice(),
            f.null_v6_udp_cut.as_slice(),
        );
        let cases: [(LinkType, &[u8]); 5] = [
            (LinkType::ETHERNET, padded_synack),
            (LinkType::NULL, null_v6_ack),
            (LinkType::ETHERNET, qinqinq_get),
            (LinkType::ETHERNET, qinq_arp),
            (LinkType::NULL, null_v6_udp_cut),
        ];
        for (link, frame) in cases {
            for n in 0..=frame.len() {
                match decode(link, &frame[..n]) {
                    Err(e) => {
                        assert_eq!(e, ParseError::Truncated { layer: Layer::Link }, "len {n}")
                    }
                    Ok(v) => {
                        if let Some(e) = v.stop {
                            assert!(matches!(e, ParseError::Truncated { .. }), "len {n}: {e:?}");
                        }
                        if let Some(ip) = v.ip {
                            assert!(
                                ip.datagram.len() <= n && ip.payload.len() <= ip.datagram.len()
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn names_of_registry_values() {
        assert_eq!(LinkType::LINUX_SLL2.name(), Some("linux_sll2"));
        assert_eq!(LinkType(12).name(), Some("raw"));
        assert_eq!(IpProto::UDP.name(), Some("udp"));
        assert_eq!(IpProto(253).name(), None);
        assert!(EtherType(0x05dc).is_length());
        assert!(EtherType::QINQ_LEGACY.is_vlan());
        assert!(TcpFlags(TcpFlags::PSH | TcpFlags::ACK).psh());
    }
}
