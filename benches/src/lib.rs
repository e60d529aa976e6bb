//! Shared helpers for virga benchmarks and measurement harnesses.
#![forbid(unsafe_code)]

pub mod gen;
pub mod measure;
pub mod mutate;

// The parsers' test helper, shared by path: benchmarks measure the same real
// messages of the public captures, read where they are in the shared folder.
#[path = "../../parsers/tests/public_payloads/mod.rs"]
pub mod public;
