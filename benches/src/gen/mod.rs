//! `virga-gen`: deterministic, seeded workloads written as pcap files.
//!
//! Every TLS ClientHello and QUIC Initial comes from a real client capture
//! of the corpus ([`corpus`]); addresses, ports, timing and everything else
//! are generated from the seed ([`rng`]).

pub mod corpus;
pub mod dns_wire;
pub mod flood;
pub mod frames;
pub mod in_connection;
pub mod mix;
pub mod replicate;
pub mod rng;
pub mod sink;
pub mod world;
