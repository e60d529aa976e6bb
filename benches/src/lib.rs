//! Shared helpers for virga benchmarks and measurement harnesses.

pub mod gen;
pub mod measure;
pub mod mutate;
