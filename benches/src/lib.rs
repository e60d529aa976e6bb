//! Shared helpers for virga benchmarks and measurement harnesses.

pub mod mutate;
