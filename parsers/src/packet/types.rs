//! Open protocol-number newtypes and the small value types of a [`PacketView`].
//!
//! [`PacketView`]: super::PacketView

/// A pcap/pcapng link-layer header type (`LINKTYPE_*` value, as stored in a
/// pcap file header or a pcapng Interface Description Block).
///
/// Open newtype: any `u32` is representable; [`LinkType::is_supported`] tells
/// whether [`decode`](super::decode) understands it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkType(pub u32);

impl LinkType {
    /// BSD loopback (`LINKTYPE_NULL`): 4-byte address family in host byte order.
    pub const NULL: LinkType = LinkType(0);
    /// Ethernet II, optionally with 802.1Q/802.1ad tags.
    pub const ETHERNET: LinkType = LinkType(1);
    /// `DLT_RAW` as written by some old libpcap versions (most BSDs and Linux).
    pub const DLT_RAW_12: LinkType = LinkType(12);
    /// `DLT_RAW` as written by old OpenBSD libpcap.
    pub const DLT_RAW_14: LinkType = LinkType(14);
    /// Raw IPv4 or IPv6, version taken from the first nibble.
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback (`LINKTYPE_LOOP`): like [`LinkType::NULL`] but the
    /// family is in network byte order (both orders are accepted anyway).
    pub const LOOP: LinkType = LinkType(108);
    /// Linux cooked capture v1 (16-byte header, protocol at offset 14).
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// Raw IPv4.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux cooked capture v2 (20-byte header, protocol at offset 0).
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// Stable lower-case name of a known link type, `None` for others.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "null",
            1 => "ethernet",
            12 | 14 | 101 => "raw",
            108 => "loop",
            113 => "linux_sll",
            228 => "ipv4",
            229 => "ipv6",
            276 => "linux_sll2",
            _ => return None,
        })
    }

    /// True when [`decode`](super::decode) handles this link type.
    pub const fn is_supported(self) -> bool {
        self.name().is_some()
    }
}

/// An EtherType (IEEE 802 protocol number), as found in Ethernet II, VLAN
/// tags and Linux cooked headers. Open newtype: unknown values are kept.
///
/// Values below `0x0600` in an Ethernet frame are an 802.3 length, not a
/// type; [`EtherType::is_length`] tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EtherType(pub u16);

impl EtherType {
    /// Internet Protocol version 4.
    pub const IPV4: EtherType = EtherType(0x0800);
    /// Address Resolution Protocol.
    pub const ARP: EtherType = EtherType(0x0806);
    /// Internet Protocol version 6.
    pub const IPV6: EtherType = EtherType(0x86dd);
    /// IEEE 802.1Q customer VLAN tag.
    pub const VLAN: EtherType = EtherType(0x8100);
    /// IEEE 802.1ad service VLAN tag (Q-in-Q).
    pub const QINQ: EtherType = EtherType(0x88a8);
    /// Pre-standard Q-in-Q VLAN tag, still used by some switches.
    pub const QINQ_LEGACY: EtherType = EtherType(0x9100);
    /// MPLS unicast (not decoded).
    pub const MPLS: EtherType = EtherType(0x8847);
    /// Link Layer Discovery Protocol (not decoded).
    pub const LLDP: EtherType = EtherType(0x88cc);

    /// True for the three VLAN tag types this crate walks through.
    pub const fn is_vlan(self) -> bool {
        matches!(self.0, 0x8100 | 0x88a8 | 0x9100)
    }

    /// True when the value is an IEEE 802.3 length field (below `0x0600`).
    pub const fn is_length(self) -> bool {
        self.0 < 0x0600
    }

    /// Stable lower-case name of a known EtherType, `None` for others.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x0800 => "ipv4",
            0x0806 => "arp",
            0x86dd => "ipv6",
            0x8100 => "vlan",
            0x88a8 => "qinq",
            0x9100 => "qinq_legacy",
            0x8847 => "mpls",
            0x88cc => "lldp",
            _ => return None,
        })
    }
}

/// An IP protocol number (IPv4 Protocol / IPv6 Next Header). Open newtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpProto(pub u8);

impl IpProto {
    /// IPv6 Hop-by-Hop Options extension header.
    pub const HOPOPT: IpProto = IpProto(0);
    /// ICMP for IPv4.
    pub const ICMP: IpProto = IpProto(1);
    /// IGMP.
    pub const IGMP: IpProto = IpProto(2);
    /// IPv4 encapsulated in IP.
    pub const IPIP: IpProto = IpProto(4);
    /// TCP.
    pub const TCP: IpProto = IpProto(6);
    /// UDP.
    pub const UDP: IpProto = IpProto(17);
    /// IPv6 encapsulated in IP.
    pub const IPV6: IpProto = IpProto(41);
    /// IPv6 Routing extension header.
    pub const IPV6_ROUTE: IpProto = IpProto(43);
    /// IPv6 Fragment extension header.
    pub const IPV6_FRAG: IpProto = IpProto(44);
    /// Generic Routing Encapsulation.
    pub const GRE: IpProto = IpProto(47);
    /// Encapsulating Security Payload.
    pub const ESP: IpProto = IpProto(50);
    /// Authentication Header.
    pub const AH: IpProto = IpProto(51);
    /// ICMP for IPv6.
    pub const ICMPV6: IpProto = IpProto(58);
    /// IPv6 "no next header".
    pub const IPV6_NONXT: IpProto = IpProto(59);
    /// IPv6 Destination Options extension header.
    pub const IPV6_OPTS: IpProto = IpProto(60);
    /// SCTP.
    pub const SCTP: IpProto = IpProto(132);

    /// Stable lower-case name of a known protocol, `None` for others.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "hopopt",
            1 => "icmp",
            2 => "igmp",
            4 => "ipip",
            6 => "tcp",
            17 => "udp",
            41 => "ipv6",
            43 => "ipv6_route",
            44 => "ipv6_frag",
            47 => "gre",
            50 => "esp",
            51 => "ah",
            58 => "ipv6_icmp",
            59 => "ipv6_nonxt",
            60 => "ipv6_opts",
            132 => "sctp",
            _ => return None,
        })
    }
}

/// Number of VLAN ids kept in a [`VlanTags`]; further tags are counted only.
pub const MAX_VLAN_IDS: usize = 3;

/// The VLAN tags of a frame, outer to inner: the first [`MAX_VLAN_IDS`] ids
/// are kept, every tag is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VlanTags {
    ids: [u16; MAX_VLAN_IDS],
    count: u16,
}

impl VlanTags {
    /// Records one more tag (the id is kept only while there is room).
    pub(crate) fn push(&mut self, id: u16) {
        if let Some(slot) = self.ids.get_mut(usize::from(self.count)) {
            *slot = id;
        }
        self.count = self.count.saturating_add(1);
    }

    /// The kept VLAN ids (12-bit VID), outer first; at most [`MAX_VLAN_IDS`].
    pub fn ids(&self) -> &[u16] {
        let kept = usize::from(self.count).min(MAX_VLAN_IDS);
        self.ids.get(..kept).unwrap_or(&[])
    }

    /// Number of VLAN tags in the frame, including those not kept.
    pub const fn count(&self) -> usize {
        self.count as usize
    }

    /// True when the frame had no VLAN tag.
    pub const fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The outermost VLAN id, if any.
    pub fn outer(&self) -> Option<u16> {
        self.ids().first().copied()
    }
}

/// TCP flag bits (the 12-bit field after the data offset; the same value
/// tshark shows as `tcp.flags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: u16 = 0x001;
    /// Synchronize sequence numbers.
    pub const SYN: u16 = 0x002;
    /// Reset the connection.
    pub const RST: u16 = 0x004;
    /// Push function.
    pub const PSH: u16 = 0x008;
    /// Acknowledgment field significant.
    pub const ACK: u16 = 0x010;
    /// Urgent pointer field significant.
    pub const URG: u16 = 0x020;
    /// ECN echo.
    pub const ECE: u16 = 0x040;
    /// Congestion window reduced.
    pub const CWR: u16 = 0x080;
    /// Accurate ECN (formerly the ECN nonce sum, "NS").
    pub const AE: u16 = 0x100;

    /// True when all bits of `mask` are set.
    pub const fn contains(self, mask: u16) -> bool {
        self.0 & mask == mask
    }
    /// SYN bit.
    pub const fn syn(self) -> bool {
        self.contains(Self::SYN)
    }
    /// ACK bit.
    pub const fn ack(self) -> bool {
        self.contains(Self::ACK)
    }
    /// FIN bit.
    pub const fn fin(self) -> bool {
        self.contains(Self::FIN)
    }
    /// RST bit.
    pub const fn rst(self) -> bool {
        self.contains(Self::RST)
    }
    /// PSH bit.
    pub const fn psh(self) -> bool {
        self.contains(Self::PSH)
    }
}
