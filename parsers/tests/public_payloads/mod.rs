//! Test-only: application payloads of records of the public captures in the
//! shared folder, as the crate's own decoder delivers them (the captures are
//! read where they are, never copied into the repository). Each function
//! returns None, with a note, when the shared folder is absent.
#![allow(dead_code)]

/// The capture reader and record access these payloads come from.
#[path = "../packet_support/mod.rs"]
pub mod packet_support;

use virga_parsers::packet::{self, LinkType, Transport};

/// (LINKTYPE, bytes) of every record of `rel`.
pub fn records(rel: &str) -> Option<Vec<(u32, Vec<u8>)>> {
    let all = packet_support::public_records(rel)?;
    Some(all.into_iter().map(|f| (f.link, f.data)).collect())
}

/// The bytes of record `n` (1-based, tshark's frame number) of `rel`.
pub fn record(rel: &str, n: usize) -> Option<Vec<u8>> {
    packet_support::public_record(rel, n).map(|f| f.data)
}

/// The TCP or UDP payload (as captured) of record `n` of `rel`.
pub fn payload(rel: &str, n: usize) -> Option<Vec<u8>> {
    let f = packet_support::public_record(rel, n)?;
    let v = packet::decode(LinkType(f.link), &f.data)
        .unwrap_or_else(|e| panic!("{rel} record {n}: {e:?}"));
    Some(match v.transport {
        Transport::Tcp(t) => t.payload.to_vec(),
        Transport::Udp(u) => u.payload.to_vec(),
        other => panic!("{rel} record {n}: no TCP/UDP payload: {other:?}"),
    })
}

/// The first TLS handshake message (header included) of the TCP payload of
/// record `n` of `rel`.
pub fn handshake_message(rel: &str, n: usize) -> Option<Vec<u8>> {
    let p = payload(rel, n)?;
    let mut joined = Vec::new();
    let m = virga_parsers::tls::record::first_handshake_message(&p, &mut joined)
        .unwrap_or_else(|e| panic!("{rel} record {n}: {e:?}"));
    Some(m.message.to_vec())
}
