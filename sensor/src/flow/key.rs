//! Flow identity: a direction-free key, and which side is the client.

use std::net::IpAddr;

/// One endpoint of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    /// Address.
    pub ip: IpAddr,
    /// TCP/UDP port (0 for other protocols).
    pub port: u16,
}

/// A packet's addresses in its own direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tuple {
    /// Sender.
    pub src: Endpoint,
    /// Receiver.
    pub dst: Endpoint,
    /// IP protocol number (innermost).
    pub proto: u8,
}

impl Tuple {
    /// The same flow seen from the other side.
    pub fn reversed(self) -> Tuple {
        Tuple {
            src: self.dst,
            dst: self.src,
            proto: self.proto,
        }
    }
}

/// Direction-free flow key: the endpoints in a fixed order, so both
/// directions of a connection find the same flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    lo: Endpoint,
    hi: Endpoint,
    proto: u8,
}

impl FlowKey {
    /// Key of the flow a packet with this tuple belongs to.
    pub fn of(t: &Tuple) -> FlowKey {
        if t.src <= t.dst {
            FlowKey {
                lo: t.src,
                hi: t.dst,
                proto: t.proto,
            }
        } else {
            FlowKey {
                lo: t.dst,
                hi: t.src,
                proto: t.proto,
            }
        }
    }

    /// A 64-bit hash of the key that does not depend on direction or on the
    /// process (FNV-1a over the ordered fields), for `flow_id` and sharding.
    pub fn stable_hash(&self) -> u64 {
        let mut h = Fnv1a::new();
        for e in [&self.lo, &self.hi] {
            h.ip(e.ip);
            h.bytes(&e.port.to_be_bytes());
        }
        h.bytes(&[self.proto]);
        h.finish()
    }
}

/// FNV-1a, 64 bit: a fixed, process-independent hash for flow ids and
/// sharding (std's `DefaultHasher` is randomly keyed per process). Written
/// out because it is five lines and needs no crate.
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a(u64);

impl Fnv1a {
    /// The FNV offset basis.
    pub fn new() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }

    /// Feeds bytes.
    pub fn bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// Feeds an address in network byte order.
    pub fn ip(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(a) => self.bytes(&a.octets()),
            IpAddr::V6(a) => self.bytes(&a.octets()),
        }
    }

    /// The hash.
    pub fn finish(self) -> u64 {
        self.0
    }
}

impl Default for Fnv1a {
    fn default() -> Self {
        Self::new()
    }
}

/// Well-known server ports that decide the client side when no SYN was seen.
pub(crate) const SERVER_PORTS: &[u16] = &[
    53, 80, 443, 853, 5353, 5355, 8080, 8443, 123, 22, 25, 110, 143, 993, 995, 3128,
];

/// Guesses which side of a packet is the server when the flow's first packet
/// is not a SYN: the side on a well-known service port, else the lower port
/// when one side is privileged (< 1024) and the other ephemeral. Returns true
/// when the packet's *source* is the server.
pub fn source_looks_like_server(t: &Tuple) -> bool {
    let (s, d) = (t.src.port, t.dst.port);
    let s_srv = SERVER_PORTS.contains(&s);
    let d_srv = SERVER_PORTS.contains(&d);
    if s_srv != d_srv {
        return s_srv;
    }
    if (s < 1024) != (d < 1024) {
        return s < 1024;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str, sp: u16, d: &str, dp: u16) -> Tuple {
        Tuple {
            src: Endpoint {
                ip: s.parse().unwrap(),
                port: sp,
            },
            dst: Endpoint {
                ip: d.parse().unwrap(),
                port: dp,
            },
            proto: 6,
        }
    }

    #[test]
    fn both_directions_share_key_and_hash() {
        let a = t("10.0.0.1", 40000, "10.0.0.2", 443);
        assert_eq!(FlowKey::of(&a), FlowKey::of(&a.reversed()));
        assert_eq!(
            FlowKey::of(&a).stable_hash(),
            FlowKey::of(&a.reversed()).stable_hash()
        );
        let b = t("10.0.0.1", 40001, "10.0.0.2", 443);
        assert_ne!(FlowKey::of(&a), FlowKey::of(&b));
        assert_ne!(FlowKey::of(&a).stable_hash(), FlowKey::of(&b).stable_hash());
    }

    #[test]
    fn server_side_guess() {
        assert!(source_looks_like_server(&t(
            "8.8.8.8", 53, "10.0.0.1", 40000
        )));
        assert!(!source_looks_like_server(&t(
            "10.0.0.1", 40000, "1.1.1.1", 443
        )));
        assert!(source_looks_like_server(&t(
            "1.1.1.1", 22, "10.0.0.1", 50000
        )));
        assert!(!source_looks_like_server(&t(
            "10.0.0.1", 50000, "10.0.0.2", 50001
        )));
    }
}
