//! Fuzz `packet::decode`: the first byte picks the link type, the rest is the frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use virga_parsers::packet::{decode, LinkType, Transport};

const LINKS: [LinkType; 11] = [
    LinkType::NULL,
    LinkType::ETHERNET,
    LinkType::DLT_RAW_12,
    LinkType::DLT_RAW_14,
    LinkType::RAW,
    LinkType::LOOP,
    LinkType::LINUX_SLL,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::LINUX_SLL2,
    LinkType(147),
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, frame)) = data.split_first() else {
        return;
    };
    let link = LINKS[usize::from(sel) % LINKS.len()];
    if let Ok(view) = decode(link, frame) {
        if let Some(ip) = view.ip {
            assert!(ip.datagram.len() <= frame.len());
            assert!(ip.payload.len() <= ip.datagram.len());
        }
        match view.transport {
            Transport::Tcp(t) => assert!(t.payload.len() <= frame.len()),
            Transport::Udp(u) => assert!(u.payload.len() <= frame.len()),
            _ => {}
        }
    }
});
