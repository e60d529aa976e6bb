//! Community ID v1 (corelight/community-id-spec), so a virga event pivots to
//! Zeek's `conn.log` and Suricata's EVE by the same flow identifier.
//!
//! Hand-written: the only crate on crates.io (`communityid`) is GPL-3.0, and
//! the algorithm is a SHA-1 over a few fixed fields.

use base64::Engine as _;
use sha1::{Digest, Sha1};
use std::net::IpAddr;

/// IP protocol numbers whose Community ID includes ports.
const PROTO_ICMP: u8 = 1;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_ICMPV6: u8 = 58;
const PROTO_SCTP: u8 = 132;

/// Computes the Community ID v1 string (`1:` + base64 SHA-1) of a flow.
///
/// `src`/`dst` are as seen in one packet; the function orders the endpoints
/// itself, so both directions give the same value. For ICMP/ICMPv6 pass the
/// type as `sport` and the code as `dport`. Returns `None` when the two
/// addresses are of different families.
pub fn community_id_v1(
    seed: u16,
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    sport: u16,
    dport: u16,
) -> Option<String> {
    let (mut sport, mut dport) = (sport, dport);
    let mut one_way = false;
    match proto {
        PROTO_ICMP => {
            (sport, dport, one_way) = icmp_ports(sport, dport, false);
        }
        PROTO_ICMPV6 => {
            (sport, dport, one_way) = icmp_ports(sport, dport, true);
        }
        _ => {}
    }
    let mut hasher = Sha1::new();
    hasher.update(seed.to_be_bytes());
    let (pa, pb) = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let (s, d) = (s.octets(), d.octets());
            order(&s, &d, sport, dport, one_way, &mut hasher)
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let (s, d) = (s.octets(), d.octets());
            order(&s, &d, sport, dport, one_way, &mut hasher)
        }
        _ => return None,
    };
    hasher.update([proto, 0]);
    if matches!(
        proto,
        PROTO_TCP | PROTO_UDP | PROTO_SCTP | PROTO_ICMP | PROTO_ICMPV6
    ) {
        hasher.update(pa.to_be_bytes());
        hasher.update(pb.to_be_bytes());
    }
    let digest = hasher.finalize();
    let mut out = String::with_capacity(30);
    out.push_str("1:");
    base64::engine::general_purpose::STANDARD.encode_string(digest, &mut out);
    Some(out)
}

/// Feeds the ordered addresses into the hash and returns the ordered ports.
fn order(
    s: &[u8],
    d: &[u8],
    sport: u16,
    dport: u16,
    one_way: bool,
    hasher: &mut Sha1,
) -> (u16, u16) {
    let ordered = s < d || (s == d && sport <= dport);
    if ordered || one_way {
        hasher.update(s);
        hasher.update(d);
        (sport, dport)
    } else {
        hasher.update(d);
        hasher.update(s);
        (dport, sport)
    }
}

/// Maps ICMP type/code to Community ID "ports" (Zeek's table); returns
/// (sport, dport, one_way).
fn icmp_ports(icmp_type: u16, code: u16, v6: bool) -> (u16, u16, bool) {
    let pairs: &[(u16, u16)] = if v6 {
        &[
            (128, 129),
            (129, 128),
            (130, 131),
            (131, 130),
            (133, 134),
            (134, 133),
            (135, 136),
            (136, 135),
            (139, 140),
            (140, 139),
            (144, 145),
            (145, 144),
        ]
    } else {
        &[
            (8, 0),
            (0, 8),
            (13, 14),
            (14, 13),
            (15, 16),
            (16, 15),
            (10, 9),
            (9, 10),
            (17, 18),
            (18, 17),
        ]
    };
    match pairs.iter().find(|(t, _)| *t == icmp_type) {
        Some((t, peer)) => (*t, *peer, false),
        None => (icmp_type, code, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 18 vectors of shared/specs/vectors/community-id-vectors.json
    /// (seed 0 and seed 1), copied from the spec's table.
    const VECTORS: &[(u8, &str, u16, &str, u16, &str, &str)] = &[
        (
            6,
            "1.2.3.4",
            1122,
            "5.6.7.8",
            3344,
            "1:wCb3OG7yAFWelaUydu0D+125CLM=",
            "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=",
        ),
        (
            6,
            "5.6.7.8",
            3344,
            "1.2.3.4",
            1122,
            "1:wCb3OG7yAFWelaUydu0D+125CLM=",
            "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=",
        ),
        (
            17,
            "1.2.3.4",
            1122,
            "5.6.7.8",
            3344,
            "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=",
            "1:OShq+iKDAMVouh/4bMxB9Sz4amw=",
        ),
        (
            6,
            "192.168.1.10",
            51515,
            "104.16.132.229",
            443,
            "1:v94W64lGkJ1URxQTw2TxjPvWJQQ=",
            "1:QdPDPaVgy48htaQWx/IzjsWecJY=",
        ),
        (
            17,
            "192.168.1.10",
            51515,
            "104.16.132.229",
            443,
            "1:GPDqTdZqQKayjs9dnU21AnaWu0U=",
            "1:UR8s2ANZIJJp8T1jPAaKyUT/CVc=",
        ),
        (
            17,
            "10.0.0.5",
            40000,
            "8.8.8.8",
            53,
            "1:k18PXxQjdSERrJvQUQTMW2N+3UY=",
            "1:h2uELf2vljdPXE/p8FyEbx/MPk0=",
        ),
        (
            6,
            "127.0.0.1",
            4433,
            "127.0.0.1",
            51986,
            "1:ljXLTT8Rn2gTl1KCXY2LJ4MpGAM=",
            "1:zjzw9No6NrUJH+DTJJf5CIwtkGw=",
        ),
        (
            6,
            "127.0.0.1",
            51986,
            "127.0.0.1",
            4433,
            "1:ljXLTT8Rn2gTl1KCXY2LJ4MpGAM=",
            "1:zjzw9No6NrUJH+DTJJf5CIwtkGw=",
        ),
        (
            6,
            "2001:db8::1",
            51515,
            "2606:4700::6810:84e5",
            443,
            "1:j1bpHgBv4fzUrnNg/cfINVAtMXY=",
            "1:zGPxgfnMQVxaKB3iWlcGAy3A1Kw=",
        ),
        (
            17,
            "2001:db8::1",
            51515,
            "2606:4700::6810:84e5",
            443,
            "1:vj1OMUzEmowd0/spgL3vywt5aAw=",
            "1:58U1nMnc3dhN6dhsMubHoQVxhoU=",
        ),
        (
            6,
            "::1",
            38222,
            "::1",
            4434,
            "1:ijO4R7ovtpcptpWG2YTLqDvIrzg=",
            "1:I7j7pTyqO1SRwcqI/sFlKRJm4bo=",
        ),
        (
            132,
            "1.2.3.4",
            1122,
            "5.6.7.8",
            3344,
            "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=",
            "1:uitchpn5MMGAQKBJh7bIr/bAr7s=",
        ),
        (
            1,
            "1.2.3.4",
            8,
            "5.6.7.8",
            0,
            "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=",
            "1:9pr4ZGTICiuZoIh90RRYE2RyXpU=",
        ),
        (
            1,
            "5.6.7.8",
            0,
            "1.2.3.4",
            0,
            "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=",
            "1:9pr4ZGTICiuZoIh90RRYE2RyXpU=",
        ),
        (
            1,
            "1.2.3.4",
            11,
            "5.6.7.8",
            0,
            "1:f/YiSyWqczrTgfUCZlBUnvHRcPk=",
            "1:1DD7cWGC/Yg91YGsQeni8du3pIA=",
        ),
        (
            58,
            "fe80::1",
            128,
            "fe80::2",
            0,
            "1:3H+V/JVcqh/phPel5utt4dOKqOU=",
            "1:HHzHBM+PXiE1xxTuksszVZfBoNw=",
        ),
        (
            58,
            "fe80::2",
            129,
            "fe80::1",
            0,
            "1:3H+V/JVcqh/phPel5utt4dOKqOU=",
            "1:HHzHBM+PXiE1xxTuksszVZfBoNw=",
        ),
        (
            47,
            "1.2.3.4",
            0,
            "5.6.7.8",
            0,
            "1:+mluqz76jObh6dJLwnhX08n5St4=",
            "1:w8U1AWo7CWHatH8eaH5MFrZTYqs=",
        ),
    ];

    #[test]
    fn spec_vectors_seed0_and_seed1() {
        for (proto, s, sp, d, dp, want0, want1) in VECTORS {
            let (s, d): (IpAddr, IpAddr) = (s.parse().unwrap(), d.parse().unwrap());
            assert_eq!(
                community_id_v1(0, s, d, *proto, *sp, *dp).as_deref(),
                Some(*want0),
                "{s} {d} {proto}"
            );
            assert_eq!(
                community_id_v1(1, s, d, *proto, *sp, *dp).as_deref(),
                Some(*want1),
                "{s} {d} {proto}"
            );
        }
    }

    #[test]
    fn matches_the_json_vector_file_when_present() {
        let Some(path) = virga_test_support::shared_path("specs/vectors/community-id-vectors.json")
        else {
            return;
        };
        let text = std::fs::read_to_string(&path).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let list = v
            .get("vectors")
            .and_then(|x| x.as_array())
            .cloned()
            .unwrap_or_default();
        assert!(!list.is_empty(), "vector file has no `vectors` list");
        let mut checked = 0;
        for item in list {
            let get = |k: &str| item.get(k).cloned().unwrap_or(serde_json::Value::Null);
            let proto = get("proto").as_u64().unwrap() as u8;
            let s: IpAddr = get("src_ip").as_str().unwrap().parse().unwrap();
            let d: IpAddr = get("dest_ip").as_str().unwrap().parse().unwrap();
            let sp = get("src_port").as_u64().unwrap_or(0) as u16;
            let dp = get("dest_port").as_u64().unwrap_or(0) as u16;
            for (seed, key) in [(0u16, "community_id"), (1, "community_id_seed1")] {
                if let Some(want) = get(key).as_str() {
                    assert_eq!(
                        community_id_v1(seed, s, d, proto, sp, dp).as_deref(),
                        Some(want)
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked >= 18, "only {checked} vectors checked");
    }

    #[test]
    fn mixed_families_give_none() {
        let s: IpAddr = "1.2.3.4".parse().unwrap();
        let d: IpAddr = "::1".parse().unwrap();
        assert_eq!(community_id_v1(0, s, d, 6, 1, 2), None);
    }
}
