//! Zero-copy, panic-free parsers for the virga sensor.
//!
//! # Contract
//! - Every entry point takes borrowed packet bytes and returns borrowed views
//!   over them; nothing copies packet bytes on the normal path, and no parser
//!   allocates per packet except where a module's docs say so (IP fragment
//!   reassembly and multi-record TLS joins, both with fixed bounds).
//! - No parser panics, on any input: there is no `unwrap`, no unchecked
//!   indexing on attacker-controlled offsets, and every loop is bounded by the
//!   input length or by a documented constant. The crate forbids `unsafe`.
//! - Errors are the small `Copy` enum [`ParseError`]; "need more bytes"
//!   ([`ParseError::Incomplete`]) is distinct from "invalid".
//! - Parsers know nothing about flows, time or output; the sensor crate does.
//!
//! # Modules
//! - [`packet`]: link layer (Ethernet, 802.1Q/802.1ad, Linux cooked v1/v2,
//!   BSD loopback, raw IP), IPv4/IPv6, TCP, UDP, via `etherparse`; [`defrag`]:
//!   bounded IP fragment reassembly.
//! - [`dns`]: DNS messages over UDP and TCP, via NLnet Labs' `domain`.
//! - [`tls`]: TLS records, ClientHello and ServerHello, via `tls-parser`.
//! - [`fingerprint`]: JA3 and JA4 from a parsed ClientHello.
//! - [`quic`]: QUIC v1/v2 long headers and client Initial decryption.
//! - [`http`]: HTTP/1.x request heads, via `httparse`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod defrag;
pub mod dns;
pub mod error;
pub mod fingerprint;
pub mod http;
pub mod packet;
pub mod quic;
pub mod tls;

// The unit tests read real frames of the public captures in the shared
// folder (never copied into the repository) with the integration tests'
// helpers, which name this crate `virga_parsers`.
#[cfg(test)]
extern crate self as virga_parsers;
#[cfg(test)]
#[path = "../tests/public_payloads/mod.rs"]
pub(crate) mod public_payloads;

pub use error::{Layer, ParseError};
